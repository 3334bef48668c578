import type { AppContext } from './context';
import { decryptField, newId } from './crypto';
import type { MailMessage } from './mail';

/**
 * Sends one email at most once per dedupe key: the notifications row is claimed before sending,
 * so a retried job never mails twice. Returns false when the key was already used.
 */
export async function sendEmailOnce(
  ctx: AppContext,
  input: { userId: string; kind: string; dedupeKey: string; build: (to: { email: string; name: string }) => Omit<MailMessage, 'to' | 'tag'> },
): Promise<boolean> {
  const user = await ctx.db.selectFrom('users').select(['id', 'email_enc', 'name_enc']).where('id', '=', input.userId).executeTakeFirst();
  if (!user) return false;
  const now = ctx.clock.now();
  const claimed = await ctx.db
    .insertInto('notifications')
    .values({ id: newId('ntf'), user_id: user.id, channel: 'email', kind: input.kind, dedupe_key: input.dedupeKey, status: 'sending', created_at: now, sent_at: null, provider_message_id: null })
    .onConflict((oc) => oc.column('dedupe_key').doUpdateSet({ status: 'sending' }).where('notifications.status', '=', 'failed'))
    .returning('id')
    .executeTakeFirst();
  if (!claimed) return false;
  const to = { email: decryptField(ctx.pii, user.email_enc), name: decryptField(ctx.pii, user.name_enc) };
  try {
    const { messageId } = await ctx.mailer.send({ ...input.build(to), to: to.email, tag: input.kind });
    await ctx.db.updateTable('notifications').set({ status: 'sent', sent_at: ctx.clock.now(), provider_message_id: messageId }).where('id', '=', claimed.id).execute();
    return true;
  } catch (err) {
    await ctx.db.updateTable('notifications').set({ status: 'failed' }).where('id', '=', claimed.id).execute();
    throw err;
  }
}

/**
 * Sends one email to an address that belongs to no account (an anonymous inquirer, the privacy
 * team) at most once per dedupe key; the claim is a notifications row with user_id null.
 */
export async function sendToAddressOnce(ctx: AppContext, input: { to: string; kind: string; dedupeKey: string; message: Omit<MailMessage, 'to' | 'tag'> }): Promise<boolean> {
  const claimed = await ctx.db
    .insertInto('notifications')
    .values({ id: newId('ntf'), user_id: null, channel: 'email', kind: input.kind, dedupe_key: input.dedupeKey, status: 'sending', created_at: ctx.clock.now(), sent_at: null, provider_message_id: null })
    .onConflict((oc) => oc.column('dedupe_key').doUpdateSet({ status: 'sending' }).where('notifications.status', '=', 'failed'))
    .returning('id')
    .executeTakeFirst();
  if (!claimed) return false;
  try {
    const { messageId } = await ctx.mailer.send({ ...input.message, to: input.to, tag: input.kind });
    await ctx.db.updateTable('notifications').set({ status: 'sent', sent_at: ctx.clock.now(), provider_message_id: messageId }).where('id', '=', claimed.id).execute();
    return true;
  } catch (err) {
    await ctx.db.updateTable('notifications').set({ status: 'failed' }).where('id', '=', claimed.id).execute();
    throw err;
  }
}

/** Alerts the privacy team (PRIVACY_TEAM_EMAIL) once per dedupe key: escalations of deadlines. */
export async function sendTeamEmailOnce(ctx: AppContext, input: { kind: string; dedupeKey: string; subject: string; text: string }): Promise<boolean> {
  return sendToAddressOnce(ctx, { to: ctx.config.PRIVACY_TEAM_EMAIL, kind: input.kind, dedupeKey: input.dedupeKey, message: { subject: input.subject, text: input.text } });
}
