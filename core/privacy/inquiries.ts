import { sql } from 'kysely';
import { DAY_MS } from '../platform/config';
import type { AppContext } from '../platform/context';
import { notFound } from '../platform/errors';
import { decryptField, encryptField, newId } from '../platform/crypto';
import type { Selectable } from 'kysely';
import type { InquiriesTable } from '../platform/db';
import { sendEmailOnce, sendTeamEmailOnce, sendToAddressOnce } from '../notifications/email';

/**
 * Privacy and support inquiries (CT1, policy §6 and §13): a first answer within 24 business hours,
 * a resolution within 30 days. Subject and body are encrypted like any personal data (SC2); an
 * anonymous inquirer's email lives inside the encrypted body.
 */

const HOUR_MS = 3600_000;
export type Inquiry = Selectable<InquiriesTable>;

/**
 * start plus `hours` of business time, where business time is every hour of Monday to Friday in UTC
 * and weekends do not count: Friday 18:00 + 24 h is Monday 18:00; Saturday 10:00 + 24 h is
 * Tuesday 00:00 (counting starts Monday 00:00).
 */
export function addBusinessHours(start: Date, hours: number): Date {
  let t = start.getTime();
  let left = hours * HOUR_MS;
  for (;;) {
    const day = new Date(t).getUTCDay();
    const midnight = Math.floor(t / DAY_MS) * DAY_MS;
    if (day === 6 || day === 0) {
      t = midnight + (day === 6 ? 2 : 1) * DAY_MS; // to Monday 00:00
      continue;
    }
    const step = Math.min(left, midnight + DAY_MS - t);
    t += step;
    left -= step;
    if (left <= 0) return new Date(t);
  }
}

interface Body {
  message: string;
  /** Only for an inquiry filed without an account: where answers go. */
  email?: string;
  responses: { id: string; at: string; by: string; message: string }[];
}

const readBody = (ctx: AppContext, i: Pick<Inquiry, 'body_enc'>): Body =>
  JSON.parse(decryptField(ctx.pii, i.body_enc)) as Body;

export async function createInquiry(
  ctx: AppContext,
  input: { userId: string | null; email?: string; kind: 'privacy' | 'support'; subject: string; message: string },
): Promise<Inquiry> {
  const now = ctx.clock.now();
  const body: Body = { message: input.message, ...(input.userId ? {} : { email: input.email }), responses: [] };
  return ctx.db
    .insertInto('inquiries')
    .values({
      id: newId('inq'),
      user_id: input.userId,
      kind: input.kind,
      subject_enc: encryptField(ctx.pii, input.subject),
      body_enc: encryptField(ctx.pii, JSON.stringify(body)),
      status: 'open',
      received_at: now,
      first_response_due: addBusinessHours(now, ctx.config.INQUIRY_FIRST_RESPONSE_BUSINESS_HOURS),
      resolution_due: new Date(now.getTime() + ctx.config.INQUIRY_RESOLUTION_DAYS * DAY_MS),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The inquiry as its owner or staff see it, decrypted; never the anonymous inquirer's email. */
export function inquiryView(ctx: AppContext, i: Inquiry) {
  const body = readBody(ctx, i);
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: i.id,
    kind: i.kind,
    status: i.status,
    subject: decryptField(ctx.pii, i.subject_enc),
    message: body.message,
    responses: body.responses.map((r) => ({ at: r.at, message: r.message })),
    received_at: iso(i.received_at)!,
    first_response_due: iso(i.first_response_due)!,
    resolution_due: iso(i.resolution_due)!,
    first_responded_at: iso(i.first_responded_at),
    resolved_at: iso(i.resolved_at),
  };
}

/**
 * A staff answer: emailed to the person first (dedupe key per response, so a retry cannot mail
 * twice), then recorded with the first-response and resolution times.
 */
export async function respondToInquiry(
  ctx: AppContext,
  inquiry: Inquiry,
  staffId: string,
  input: { message: string; resolve: boolean },
): Promise<Inquiry> {
  const body = readBody(ctx, inquiry);
  const responseId = newId('rsp');
  const subject = `Re: your ${inquiry.kind} inquiry (${inquiry.id})`;
  const text = (name?: string) =>
    `Hello${name ? ` ${name}` : ''},\n\n${input.message}\n\n${input.resolve ? 'We consider this inquiry resolved; reply if anything is still open.' : 'We will follow up on the rest.'}\n\nRasmi`;
  const kind = 'inquiry-response';
  const dedupeKey = `inquiry-response-${responseId}`;
  if (inquiry.user_id)
    await sendEmailOnce(ctx, {
      userId: inquiry.user_id,
      kind,
      dedupeKey,
      build: ({ name }) => ({ subject, text: text(name) }),
    });
  else if (body.email)
    await sendToAddressOnce(ctx, { to: body.email, kind, dedupeKey, message: { subject, text: text() } });
  const now = ctx.clock.now();
  body.responses.push({ id: responseId, at: now.toISOString(), by: staffId, message: input.message });
  return ctx.db
    .updateTable('inquiries')
    .set({
      body_enc: encryptField(ctx.pii, JSON.stringify(body)),
      status: input.resolve ? 'resolved' : 'answered',
      first_responded_at: inquiry.first_responded_at ?? now,
      resolved_at: input.resolve ? (inquiry.resolved_at ?? now) : inquiry.resolved_at,
    })
    .where('id', '=', inquiry.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The sweep: an inquiry whose first answer or resolution is due within INQUIRY_ESCALATE_BEFORE_HOURS
 * and still missing alerts the team, once per deadline (dedupe keys), marked in escalated_at.
 */
export async function sweepInquiryDeadlines(
  ctx: AppContext,
  batch = 500,
): Promise<{ firstResponse: number; resolution: number }> {
  const now = ctx.clock.now();
  const leadMs = ctx.config.INQUIRY_ESCALATE_BEFORE_HOURS * HOUR_MS;
  const horizon = new Date(now.getTime() + leadMs);
  const alert = async (i: Pick<Inquiry, 'id' | 'kind'>, which: 'first-response' | 'resolution', due: Date) => {
    await sendTeamEmailOnce(ctx, {
      kind: 'inquiry-escalation',
      dedupeKey: `inquiry-${which}-${i.id}`,
      subject: `Inquiry ${i.id}: ${which === 'first-response' ? 'first answer' : 'resolution'} due ${due.toISOString()}`,
      text: `The ${i.kind} inquiry ${i.id} still has no ${which === 'first-response' ? 'first answer' : 'resolution'}; it is due ${due.toISOString()}.\n\nAnswer it with the staff API's respondToInquiry (POST /v1/staff/inquiries/${i.id}/responses, with a staff token).`,
    });
    await ctx.db.updateTable('inquiries').set({ escalated_at: now }).where('id', '=', i.id).execute();
  };

  // The team's notifications rows say which deadline was already escalated: once per deadline.
  const notEscalated = (which: string) =>
    sql<boolean>`not exists (select 1 from notifications n where n.dedupe_key = ${`inquiry-${which}-`} || inquiries.id and n.status <> 'failed')`;
  const first = await ctx.db
    .selectFrom('inquiries')
    .select(['id', 'kind', 'first_response_due'])
    .where('first_responded_at', 'is', null)
    .where('resolved_at', 'is', null)
    .where('first_response_due', '<=', horizon)
    .where(notEscalated('first-response'))
    .orderBy('first_response_due')
    .limit(batch)
    .execute();
  for (const i of first) await alert(i, 'first-response', new Date(i.first_response_due));

  const resolution = await ctx.db
    .selectFrom('inquiries')
    .select(['id', 'kind', 'resolution_due'])
    .where('resolved_at', 'is', null)
    .where('resolution_due', '<=', horizon)
    .where(notEscalated('resolution'))
    .orderBy('resolution_due')
    .limit(batch)
    .execute();
  for (const i of resolution) await alert(i, 'resolution', new Date(i.resolution_due));
  return { firstResponse: first.length, resolution: resolution.length };
}

/** An inquiry by id, for staff; with ownerId, only that person's own (not_found otherwise). */
export async function findInquiry(ctx: AppContext, id: string, ownerId?: string): Promise<Inquiry> {
  let q = ctx.db.selectFrom('inquiries').selectAll().where('id', '=', id);
  if (ownerId !== undefined) q = q.where('user_id', '=', ownerId);
  const i = await q.executeTakeFirst();
  if (!i) throw notFound('Inquiry');
  return i;
}
