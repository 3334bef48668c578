import type { AppContext } from '../platform/context';
import { decryptField, newId } from '../platform/crypto';
import type { Db } from '../platform/db';
import type { MailMessage } from '../platform/mail';

/**
 * Claims the sending of one email by its dedupe key, in the caller's database or transaction: a
 * notifications row in 'sending' (or one that failed before, taken again). Undefined when the key
 * was used already, so a retried job never mails twice.
 */
export async function claimEmail(
  db: Db,
  input: { userId: string | null; kind: string; dedupeKey: string; at: Date },
): Promise<string | undefined> {
  const claimed = await db
    .insertInto('notifications')
    .values({
      id: newId('ntf'),
      user_id: input.userId,
      channel: 'email',
      kind: input.kind,
      dedupe_key: input.dedupeKey,
      status: 'sending',
      created_at: input.at,
      sent_at: null,
      provider_message_id: null,
    })
    .onConflict((oc) =>
      oc.column('dedupe_key').doUpdateSet({ status: 'sending' }).where('notifications.status', '=', 'failed'),
    )
    .returning('id')
    .executeTakeFirst();
  return claimed?.id;
}

/** Sends a claimed email and records how it went (a failed one can be claimed again). */
export async function sendClaimed(ctx: AppContext, claimId: string, message: MailMessage): Promise<void> {
  try {
    const { messageId } = await ctx.mailer.send(message);
    await ctx.db
      .updateTable('notifications')
      .set({ status: 'sent', sent_at: ctx.clock.now(), provider_message_id: messageId })
      .where('id', '=', claimId)
      .execute();
  } catch (err) {
    await ctx.db.updateTable('notifications').set({ status: 'failed' }).where('id', '=', claimId).execute();
    throw err;
  }
}

type PersonalMail = {
  userId: string;
  kind: string;
  build: (to: { email: string; name: string }) => Omit<MailMessage, 'to' | 'tag'>;
};
type Recipient = { id: string; email_enc: string; name_enc: string };

const recipientOf = (ctx: AppContext, userId: string): Promise<Recipient | undefined> =>
  ctx.db.selectFrom('users').select(['id', 'email_enc', 'name_enc']).where('id', '=', userId).executeTakeFirst();

function sendClaimedTo(ctx: AppContext, claimId: string, user: Recipient, input: PersonalMail): Promise<void> {
  const to = { email: decryptField(ctx.pii, user.email_enc), name: decryptField(ctx.pii, user.name_enc) };
  return sendClaimed(ctx, claimId, { ...input.build(to), to: to.email, tag: input.kind });
}

/** Sends one email to a person at most once per dedupe key. Returns false when the key was already used. */
export async function sendEmailOnce(ctx: AppContext, input: PersonalMail & { dedupeKey: string }): Promise<boolean> {
  const user = await recipientOf(ctx, input.userId);
  if (!user) return false;
  const claimId = await claimEmail(ctx.db, {
    userId: user.id,
    kind: input.kind,
    dedupeKey: input.dedupeKey,
    at: ctx.clock.now(),
  });
  if (!claimId) return false;
  await sendClaimedTo(ctx, claimId, user, input);
  return true;
}

/** Sends to a person an email claimed earlier, in the transaction that made what it announces. */
export async function sendClaimedToUser(ctx: AppContext, claimId: string, input: PersonalMail): Promise<void> {
  const user = await recipientOf(ctx, input.userId);
  if (!user) throw new Error(`no account ${input.userId} for claimed email ${claimId}`);
  await sendClaimedTo(ctx, claimId, user, input);
}

/**
 * Sends one email to an address that belongs to no account (an anonymous inquirer, the privacy
 * team) at most once per dedupe key; the claim is a notifications row with user_id null.
 */
export async function sendToAddressOnce(
  ctx: AppContext,
  input: { to: string; kind: string; dedupeKey: string; message: Omit<MailMessage, 'to' | 'tag'> },
): Promise<boolean> {
  const claimId = await claimEmail(ctx.db, {
    userId: null,
    kind: input.kind,
    dedupeKey: input.dedupeKey,
    at: ctx.clock.now(),
  });
  if (!claimId) return false;
  await sendClaimed(ctx, claimId, { ...input.message, to: input.to, tag: input.kind });
  return true;
}

/** Alerts the privacy team (PRIVACY_TEAM_EMAIL) once per dedupe key: escalations of deadlines. */
export async function sendTeamEmailOnce(
  ctx: AppContext,
  input: { kind: string; dedupeKey: string; subject: string; text: string },
): Promise<boolean> {
  return sendToAddressOnce(ctx, {
    to: ctx.config.PRIVACY_TEAM_EMAIL,
    kind: input.kind,
    dedupeKey: input.dedupeKey,
    message: { subject: input.subject, text: input.text },
  });
}
