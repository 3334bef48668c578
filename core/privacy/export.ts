import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type { Archiver, ArchiverOptions, ZipEntryData } from 'archiver';
import { consentsOf } from './consent';
import type { AppContext } from '../platform/context';
import { decryptField } from '../platform/crypto';
import { isPrepared } from '../photos/images';

/**
 * The data export of access and portability (RG1): one ZIP holding data.json, a structured copy of
 * everything held about a person (personal fields decrypted), and every photo and headshot file.
 */

// The installed archiver (7) is a CommonJS factory while its @types describe version 8's classes;
// loading it through require and accepting either shape keeps both working.
const require = createRequire(import.meta.url);
export function zipArchive(options: ArchiverOptions): Archiver {
  const mod = require('archiver') as unknown;
  if (typeof mod === 'function') return (mod as (format: 'zip', o: ArchiverOptions) => Archiver)('zip', options);
  return new (mod as { ZipArchive: new (o: ArchiverOptions) => Archiver }).ZipArchive(options);
}

export const EXPORT_FORMAT = 'rasmi-export/1';
const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export interface ExportFile {
  name: string;
  blobId: string;
}

/** Everything held about one person, as plain JSON, and the files that go beside it. */
export async function collectPersonalData(
  ctx: AppContext,
  userId: string,
): Promise<{ data: Record<string, unknown>; files: ExportFile[] }> {
  const { db, pii } = ctx;
  const dec = (v: string | null) => (v ? decryptField(pii, v) : null);
  const u = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
  const [
    consents,
    cookieConsents,
    analytics,
    photos,
    orders,
    orderPhotos,
    headshots,
    payments,
    refunds,
    notifications,
    rights,
    inquiries,
    portfolio,
    sessions,
  ] = await Promise.all([
    db.selectFrom('consents').selectAll().where('user_id', '=', userId).orderBy('recorded_at').orderBy('id').execute(),
    db.selectFrom('cookie_consents').selectAll().where('user_id', '=', userId).orderBy('recorded_at').execute(),
    db.selectFrom('analytics_events').selectAll().where('user_id', '=', userId).orderBy('occurred_at').execute(),
    db.selectFrom('photos').selectAll().where('user_id', '=', userId).orderBy('uploaded_at').execute(),
    db.selectFrom('orders').selectAll().where('user_id', '=', userId).orderBy('created_at').execute(),
    db
      .selectFrom('order_photos')
      .innerJoin('orders', 'orders.id', 'order_photos.order_id')
      .select(['order_photos.order_id', 'order_photos.photo_id'])
      .where('orders.user_id', '=', userId)
      .execute(),
    db.selectFrom('headshots').selectAll().where('user_id', '=', userId).orderBy('created_at').execute(),
    db.selectFrom('payments').selectAll().where('user_id', '=', userId).orderBy('created_at').execute(),
    db
      .selectFrom('refunds')
      .innerJoin('payments', 'payments.id', 'refunds.payment_id')
      .selectAll('refunds')
      .where('payments.user_id', '=', userId)
      .orderBy('refunds.created_at')
      .execute(),
    db
      .selectFrom('notifications')
      .select(['channel', 'kind', 'status', 'created_at', 'sent_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute(),
    db.selectFrom('rights_requests').selectAll().where('user_id', '=', userId).orderBy('received_at').execute(),
    db.selectFrom('inquiries').selectAll().where('user_id', '=', userId).orderBy('received_at').execute(),
    db.selectFrom('portfolio_items').selectAll().where('user_id', '=', userId).orderBy('published_at').execute(),
    db
      .selectFrom('sessions')
      .select(['created_at', 'expires_at', 'revoked_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute(),
  ]);

  // Teams: the organisations the person belongs to, their consent to share with each, and what they share.
  const [memberships, organisationConsents, shared] = await Promise.all([
    db
      .selectFrom('organisation_members')
      .innerJoin('organisations', 'organisations.id', 'organisation_members.organisation_id')
      .select(['organisations.id', 'organisations.name', 'organisation_members.role', 'organisation_members.joined_at'])
      .where('organisation_members.user_id', '=', userId)
      .execute(),
    db
      .selectFrom('organisation_consents')
      .select(['organisation_id', 'granted', 'source', 'recorded_at'])
      .where('user_id', '=', userId)
      .orderBy('recorded_at')
      .orderBy('id')
      .execute(),
    db
      .selectFrom('shared_headshots')
      .select(['organisation_id', 'headshot_id', 'shared_at', 'review'])
      .where('user_id', '=', userId)
      .orderBy('shared_at')
      .execute(),
  ]);

  const files: ExportFile[] = [];
  const photoFile = (id: string) => `photos/${id}.jpg`;
  const headshotFile = (id: string) => `headshots/${id}.jpg`;
  // A photo still being prepared has no stored JPEG yet; its row is listed, its file follows once prepared.
  for (const p of photos) if (isPrepared(p)) files.push({ name: photoFile(p.id), blobId: p.blob_id });
  for (const h of headshots) if (h.blob_id) files.push({ name: headshotFile(h.id), blobId: h.blob_id });

  const data = {
    format: EXPORT_FORMAT,
    generated_at: ctx.clock.now().toISOString(),
    profile: {
      id: u.id,
      email: dec(u.email_enc),
      email_pending_verification: dec(u.email_pending_enc),
      name: dec(u.name_enc),
      phone: dec(u.phone_enc),
      role: u.role,
      status: u.status,
      adult_confirmed_at: iso(u.adult_confirmed_at),
      policy_version: u.policy_version_id,
      policy_accepted_at: iso(u.policy_accepted_at),
      created_at: iso(u.created_at),
      last_used_at: iso(u.last_used_at),
    },
    consents: {
      in_force: await consentsOf(ctx, userId),
      history: consents.map((c) => ({
        purpose: c.purpose,
        granted: c.granted,
        source: c.source,
        recorded_at: iso(c.recorded_at),
      })),
    },
    cookie_consents: cookieConsents.map((c) => ({
      visitor_id: c.visitor_id,
      preference: c.preference,
      analytics: c.analytics,
      marketing: c.marketing,
      recorded_at: iso(c.recorded_at),
    })),
    usage_events: analytics.map((e) => ({
      name: e.name,
      path: e.path,
      ip_truncated: e.ip_truncated,
      browser: e.browser,
      device: e.device,
      occurred_at: iso(e.occurred_at),
    })),
    photos: photos.map((p) => ({
      id: p.id,
      file: isPrepared(p) ? photoFile(p.id) : null,
      detected_type: p.detected_type,
      size_bytes: Number(p.size_bytes),
      width: p.width,
      height: p.height,
      uploaded_at: iso(p.uploaded_at),
      status: p.status,
      verdict: p.verdict ?? null,
      processed_at: iso(p.processed_at),
      subject: p.subject,
      parental_attestation_at: iso(p.parental_attestation_at),
    })),
    orders: orders.map((o) => ({
      id: o.id,
      package_id: o.package_id,
      styles: o.styles,
      status: o.status,
      amount_cents: o.amount_cents,
      currency: o.currency,
      photo_ids: orderPhotos.filter((op) => op.order_id === o.id).map((op) => op.photo_id),
      failure_code: o.failure_code,
      headshots_expected: o.headshots_expected,
      created_at: iso(o.created_at),
      paid_at: iso(o.paid_at),
      delivered_at: iso(o.delivered_at),
    })),
    headshots: headshots.map((h) => ({
      id: h.id,
      file: h.blob_id ? headshotFile(h.id) : null,
      order_id: h.order_id,
      photo_id: h.photo_id,
      style_id: h.style_id,
      status: h.status,
      width: h.width,
      height: h.height,
      created_at: iso(h.created_at),
      rendered_at: iso(h.rendered_at),
      delivered_at: iso(h.delivered_at),
    })),
    payments: payments.map((p) => ({
      id: p.id,
      order_id: p.order_id,
      processor: p.processor,
      processor_ref: p.processor_ref,
      amount_cents: p.amount_cents,
      currency: p.currency,
      status: p.status,
      created_at: iso(p.created_at),
      succeeded_at: iso(p.succeeded_at),
    })),
    refunds: refunds.map((r) => ({
      id: r.id,
      order_id: r.order_id,
      payment_id: r.payment_id,
      processor_ref: r.processor_ref,
      amount_cents: r.amount_cents,
      currency: r.currency,
      headshots_missing: r.headshots_missing,
      status: r.status,
      created_at: iso(r.created_at),
      succeeded_at: iso(r.succeeded_at),
    })),
    notifications: notifications.map((n) => ({
      channel: n.channel,
      kind: n.kind,
      status: n.status,
      created_at: iso(n.created_at),
      sent_at: iso(n.sent_at),
    })),
    rights_requests: rights.map((r) => ({
      id: r.id,
      kind: r.kind,
      status: r.status,
      details: r.details ?? null,
      result: r.result ?? null,
      received_at: iso(r.received_at),
      due_at: iso(r.due_at),
      completed_at: iso(r.completed_at),
    })),
    inquiries: inquiries.map((i) => ({
      id: i.id,
      kind: i.kind,
      subject: dec(i.subject_enc),
      body: dec(i.body_enc),
      status: i.status,
      received_at: iso(i.received_at),
      first_responded_at: iso(i.first_responded_at),
      resolved_at: iso(i.resolved_at),
    })),
    portfolio: portfolio.map((p) => ({
      headshot_id: p.headshot_id,
      style_id: p.style_id,
      published_at: iso(p.published_at),
    })),
    sessions: sessions.map((s) => ({
      created_at: iso(s.created_at),
      expires_at: iso(s.expires_at),
      revoked_at: iso(s.revoked_at),
    })),
    organisations: memberships.map((m) => ({
      id: m.id,
      name: m.name,
      role: m.role,
      joined_at: iso(m.joined_at),
      consent_history: organisationConsents
        .filter((c) => c.organisation_id === m.id)
        .map((c) => ({ granted: c.granted, source: c.source, recorded_at: iso(c.recorded_at) })),
      shared_headshots: shared
        .filter((x) => x.organisation_id === m.id)
        .map((x) => ({ headshot_id: x.headshot_id, shared_at: iso(x.shared_at), review: x.review })),
    })),
    organisation_consents: organisationConsents.map((c) => ({
      organisation_id: c.organisation_id,
      granted: c.granted,
      source: c.source,
      recorded_at: iso(c.recorded_at),
    })),
  };
  return { data, files };
}

/**
 * Streams the ZIP: data.json deflated, images stored as they are (JPEG does not shrink). Each file
 * is added as a decrypting stream and the next only once the archive has taken it, which happens as
 * the reader drains the archive: memory holds a few chunks whatever the number and size of files
 * (a whole Buffer would be taken at once, ignoring a slow reader). `files` resolves to the number of
 * entries once the ZIP is complete; if collecting or reading fails, the stream errors with the cause.
 */
export function exportZip(ctx: AppContext, userId: string): { zip: Readable; files: Promise<number> } {
  const archive = zipArchive({ zlib: { level: 9 } });
  // A reader that stops destroys the archive, often without an error: then neither 'entry' nor the
  // end of finalize() comes, so every wait also ends when the archive closes.
  const closed = once(archive, 'close').then(() =>
    Promise.reject(new Error('the export archive was closed before it was complete')),
  );
  closed.catch(() => {});
  const add = async (source: Readable | string, entry: ZipEntryData) => {
    const taken = once(archive, 'entry'); // rejects if the archive errors first
    archive.append(source, entry);
    await Promise.race([taken, closed]);
  };
  const files = (async () => {
    const { data, files } = await collectPersonalData(ctx, userId);
    const at = ctx.clock.now();
    await add(JSON.stringify(data, null, 2), { name: 'data.json', date: at });
    let added = 1;
    for (const f of files) {
      const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', f.blobId).executeTakeFirst();
      if (!blob) continue; // deleted meanwhile (retention); data.json still lists its metadata
      await add(await ctx.storage.stream(blob), { name: f.name, date: at, store: true });
      added++;
    }
    await Promise.race([archive.finalize(), closed]);
    return added;
  })();
  files.catch((err: Error) => archive.destroy(err));
  return { zip: archive, files };
}
