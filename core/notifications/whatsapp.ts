import type { AppContext } from '../platform/context';
import { decryptField, newId } from '../platform/crypto';
import { whatsappClient, type WhatsAppMessage } from '../platform/whatsapp';
import { consentInForce } from '../privacy/consent-sql';

/**
 * Sends one WhatsApp message at most once per dedupe key, and only when a phone number is on file
 * AND the person's whatsapp consent is in force at send time (SD4). The notifications row (channel
 * 'whatsapp') is claimed first, so a retried job never sends twice. Returns whether it sent.
 */
export async function sendWhatsAppOnce(
  ctx: AppContext,
  input: { userId: string; kind: string; dedupeKey: string; text: string },
): Promise<boolean> {
  const client = whatsappClient(ctx.config);
  if (!client) return false;
  const user = await ctx.db
    .selectFrom('users')
    .select(['id', 'phone_enc'])
    .where('id', '=', input.userId)
    .where('status', '=', 'active')
    .where('phone_enc', 'is not', null)
    .where(consentInForce('users.id', 'whatsapp'))
    .executeTakeFirst();
  if (!user?.phone_enc) return false;
  // Email and WhatsApp share the unique dedupe_key column: the prefix keeps their keys apart.
  const claimed = await ctx.db
    .insertInto('notifications')
    .values({
      id: newId('ntf'),
      user_id: user.id,
      channel: 'whatsapp',
      kind: input.kind,
      dedupe_key: `wa-${input.dedupeKey}`,
      status: 'sending',
      created_at: ctx.clock.now(),
      sent_at: null,
      provider_message_id: null,
    })
    .onConflict((oc) =>
      oc.column('dedupe_key').doUpdateSet({ status: 'sending' }).where('notifications.status', '=', 'failed'),
    )
    .returning('id')
    .executeTakeFirst();
  if (!claimed) return false;
  const c = ctx.config;
  const message: WhatsAppMessage = c.WHATSAPP_TEMPLATE_NAME
    ? {
        type: 'template',
        name: c.WHATSAPP_TEMPLATE_NAME,
        language: c.WHATSAPP_TEMPLATE_LANGUAGE,
        bodyParams: [input.text],
      }
    : { type: 'text', text: input.text };
  try {
    const { messageId } = await client.send(decryptField(ctx.pii, user.phone_enc), message);
    await ctx.db
      .updateTable('notifications')
      .set({ status: 'sent', sent_at: ctx.clock.now(), provider_message_id: messageId })
      .where('id', '=', claimed.id)
      .execute();
    return true;
  } catch (err) {
    await ctx.db.updateTable('notifications').set({ status: 'failed' }).where('id', '=', claimed.id).execute();
    throw err;
  }
}
