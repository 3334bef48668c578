import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../core/platform/context';
import { objectKeyFor, type BucketRole } from '../../core/platform/storage';
import {
  emailLookupHash,
  encryptField,
  encryptObject,
  newDataKey,
  newId,
  parseKeyring,
} from '../../core/platform/crypto';

/** A customer row written directly, for tests that need many people or old dates. */
export async function seedUser(
  ctx: AppContext,
  at: Date,
  extra: { role?: 'customer' | 'support' | 'privacy_officer' | 'admin' } = {},
): Promise<{ id: string; email: string }> {
  const email = `seed-${randomBytes(5).toString('hex')}@example.com`;
  const id = newId('usr');
  await ctx.db
    .insertInto('users')
    .values({
      id,
      email_hash: emailLookupHash(ctx.config.PII_HASH_KEY, email),
      email_enc: encryptField(ctx.pii, email),
      name_enc: encryptField(ctx.pii, 'Seeded Person'),
      phone_enc: null,
      role: extra.role ?? 'customer',
      adult_confirmed_at: at,
      policy_version_id: NEWEST_SHIPPED_POLICY_VERSION,
      policy_accepted_at: at,
      created_at: at,
      last_used_at: at,
    })
    .execute();
  return { id, email };
}

/**
 * `count` blobs with real objects in the store, created at `at`, 500 a batch. The object bytes do
 * not matter to retention, so one sealed body is uploaded under every key, 64 uploads at a time,
 * and the rows are inserted in bulk. `owners` inserts the rows that own one batch of blobs and
 * returns their ids.
 */
async function seedBlobs(
  ctx: AppContext,
  userId: string,
  role: BucketRole,
  count: number,
  at: Date,
  owners: (blobIds: string[]) => Promise<string[]>,
): Promise<string[]> {
  const ids: string[] = [];
  const { dek, wrapped, kid } = newDataKey(parseKeyring(ctx.config.MASTER_KEYS));
  const body = encryptObject(dek, randomBytes(256));
  const bucket = ctx.storage.buckets[role];
  for (let i = 0; i < count; i += 500) {
    const rows = Array.from({ length: Math.min(500, count - i) }, () => {
      const blobId = newId('blob');
      return { blobId, key: objectKeyFor(role, blobId) };
    });
    for (let j = 0; j < rows.length; j += 64) {
      await Promise.all(
        rows.slice(j, j + 64).map((r) => ctx.storage.client.putObject(bucket, r.key, body, body.length)),
      );
    }
    await ctx.db
      .insertInto('blobs')
      .values(
        rows.map((r) => ({
          id: r.blobId,
          user_id: userId,
          bucket,
          object_key: r.key,
          dek: wrapped,
          kid,
          content_type: 'image/jpeg',
          size_bytes: 256,
          created_at: at,
        })),
      )
      .execute();
    ids.push(...(await owners(rows.map((r) => r.blobId))));
  }
  return ids;
}

/** Photos with real objects in the store (see seedBlobs), processed at a given time. */
export async function seedPhotos(ctx: AppContext, userId: string, count: number, processedAt: Date): Promise<string[]> {
  return seedBlobs(ctx, userId, 'originals', count, processedAt, async (blobIds) => {
    const rows = blobIds.map((blobId) => ({
      id: newId('pho'),
      user_id: userId,
      blob_id: blobId,
      detected_type: 'jpeg',
      size_bytes: 256,
      width: 10,
      height: 10,
      uploaded_at: processedAt,
      verdict: null,
      processed_at: processedAt,
      status: 'unusable' as const,
    }));
    await ctx.db.insertInto('photos').values(rows).execute();
    return rows.map((r) => r.id);
  });
}

/**
 * Rendered headshots with real objects in the store (see seedBlobs), delivered at a given time, in
 * one ready order per call; their originals are already gone (photo_id null), as after RT1.
 */
export async function seedHeadshots(
  ctx: AppContext,
  userId: string,
  count: number,
  deliveredAt: Date,
): Promise<string[]> {
  const orderId = newId('ord');
  await ctx.db
    .insertInto('orders')
    .values({
      id: orderId,
      user_id: userId,
      package_id: 'professional',
      styles: JSON.stringify(['studio-grey']),
      status: 'ready',
      amount_cents: 3900,
      currency: 'EUR',
      failure_code: null,
      failure_detail: null,
      created_at: deliveredAt,
      paid_at: deliveredAt,
      delivered_at: deliveredAt,
    })
    .execute();
  return seedBlobs(ctx, userId, 'headshots', count, deliveredAt, async (blobIds) => {
    const rows = blobIds.map((blobId) => ({
      id: newId('hs'),
      order_id: orderId,
      user_id: userId,
      photo_id: null,
      style_id: 'studio-grey',
      status: 'rendered' as const,
      blob_id: blobId,
      width: 10,
      height: 10,
      failure_code: null,
      created_at: deliveredAt,
      rendered_at: deliveredAt,
      delivered_at: deliveredAt,
    }));
    await ctx.db.insertInto('headshots').values(rows).execute();
    return rows.map((r) => r.id);
  });
}
