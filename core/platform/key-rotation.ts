import { sql } from 'kysely';
import type { Config } from './config';
import { decryptField, encryptField, parseKeyring, rewrapDataKey, type Keyring } from './crypto';
import type { Db } from './db';

/**
 * Key rotation (SC1, SC2). The operator puts a new key first in MASTER_KEYS or PII_KEYS and
 * deploys it everywhere (the old key stays after it, so everything still decrypts); then this:
 *  - re-wraps each blob's data key under the new master key (objects are not re-uploaded: the
 *    bytes in the bucket stay as they are, only the wrapped key in the blobs row changes);
 *  - re-encrypts every `*_enc` text column whose field names another key id.
 * Batches are keyset-paged by id and each update is a compare-and-set on the old value, so a run
 * can be interrupted, repeated or overlap with live writes. When `remaining` is 0 for both, the
 * old key can be removed from the keyring. PII_HASH_KEY (email look-up) is not a keyring and is
 * never rotated in place.
 */

export interface RotationDeps {
  db: Db;
  config: Pick<Config, 'MASTER_KEYS' | 'PII_KEYS'>;
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface RotationOptions {
  /** Rows per batch (one transaction each). */
  batch?: number;
  /** Count what would change, change nothing. */
  dryRun?: boolean;
  only?: 'master' | 'pii';
}

export interface RotationReport {
  dryRun: boolean;
  master?: { keyId: string; rewrapped: number; failed: number; remaining: number };
  pii?: { keyId: string; rows: number; fields: Record<string, number>; failed: number; remaining: number };
}

export async function rotateKeys(deps: RotationDeps, opts: RotationOptions = {}): Promise<RotationReport> {
  const batch = opts.batch ?? 500;
  const dryRun = opts.dryRun ?? false;
  const report: RotationReport = { dryRun };
  if (opts.only !== 'pii')
    report.master = await rewrapBlobs(deps, parseKeyring(deps.config.MASTER_KEYS), batch, dryRun);
  if (opts.only !== 'master')
    report.pii = await reencryptFields(deps, parseKeyring(deps.config.PII_KEYS), batch, dryRun);
  return report;
}

async function rewrapBlobs({ db, logger }: RotationDeps, ring: Keyring, batch: number, dryRun: boolean) {
  const keyId = ring.current.id;
  let rewrapped = 0;
  let failed = 0;
  for (let after = ''; ; ) {
    const rows = await db
      .selectFrom('blobs')
      .select(['id', 'kid', 'dek'])
      .where('kid', '!=', keyId)
      .where('id', '>', after)
      .orderBy('id')
      .limit(batch)
      .execute();
    if (!rows.length) break;
    after = rows[rows.length - 1].id;
    await db.transaction().execute(async (trx) => {
      for (const b of rows) {
        let next: { wrapped: Buffer; kid: string };
        try {
          next = rewrapDataKey(ring, b.kid, b.dek);
        } catch (err) {
          failed++;
          logger?.warn(
            { blobId: b.id, kid: b.kid, err: (err as Error).message },
            'key rotation: cannot unwrap a data key',
          );
          continue;
        }
        if (dryRun) {
          rewrapped++;
          continue;
        }
        const r = await trx
          .updateTable('blobs')
          .set({ dek: next.wrapped, kid: next.kid })
          .where('id', '=', b.id)
          .where('kid', '=', b.kid)
          .where('dek', '=', b.dek)
          .executeTakeFirst();
        rewrapped += Number(r.numUpdatedRows);
      }
    });
    logger?.info({ keyId, rewrapped, failed }, 'key rotation: blobs batch done');
  }
  const { n } = await db
    .selectFrom('blobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('kid', '!=', keyId)
    .executeTakeFirstOrThrow();
  return { keyId, rewrapped, failed, remaining: Number(n) };
}

/** Every text column named *_enc, per table: a column added later is rotated without a code change. */
async function encryptedColumns(db: Db): Promise<Map<string, string[]>> {
  const { rows } = await sql<{ table_name: string; column_name: string }>`
    select c.table_name, c.column_name from information_schema.columns c
    where c.table_schema = current_schema() and c.column_name like '%\\_enc' and c.data_type = 'text'
      and exists (select 1 from information_schema.columns i where i.table_schema = c.table_schema and i.table_name = c.table_name and i.column_name = 'id')
    order by c.table_name, c.ordinal_position`.execute(db);
  const byTable = new Map<string, string[]>();
  for (const r of rows) byTable.set(r.table_name, [...(byTable.get(r.table_name) ?? []), r.column_name]);
  return byTable;
}

/** A field is "v1.<kid>.<data>": stale when its key id is not the current one. */
const stale = (col: string, keyId: string) => sql<boolean>`split_part(${sql.ref(col)}, '.', 2) <> ${keyId}`;

async function reencryptFields({ db, logger }: RotationDeps, ring: Keyring, batch: number, dryRun: boolean) {
  const keyId = ring.current.id;
  const fields: Record<string, number> = {};
  let rows = 0;
  let failed = 0;
  let remaining = 0;
  for (const [table, cols] of await encryptedColumns(db)) {
    const anyStale = sql.join(
      cols.map((c) => stale(c, keyId)),
      sql` or `,
    );
    for (let after = ''; ; ) {
      const { rows: page } = await sql<Record<string, string | null>>`
        select id, ${sql.join(cols.map((c) => sql.ref(c)))} from ${sql.table(table)}
        where id > ${after} and (${anyStale}) order by id limit ${batch}`.execute(db);
      if (!page.length) break;
      after = page[page.length - 1].id!;
      await db.transaction().execute(async (trx) => {
        for (const row of page) {
          const changes: [string, string, string][] = [];
          try {
            for (const c of cols) {
              const old = row[c];
              if (old && old.split('.')[1] !== keyId)
                changes.push([c, old, encryptField(ring, decryptField(ring, old))]);
            }
          } catch (err) {
            failed++;
            logger?.warn({ table, id: row.id, err: (err as Error).message }, 'key rotation: cannot decrypt a field');
            continue;
          }
          if (!changes.length) continue;
          if (!dryRun) {
            // Compare-and-set: a value written meanwhile (already under the new key) is left alone.
            const r = await sql`
              update ${sql.table(table)} set ${sql.join(changes.map(([c, , v]) => sql`${sql.ref(c)} = ${v}`))}
              where id = ${row.id} and ${sql.join(
                changes.map(([c, old]) => sql`${sql.ref(c)} = ${old}`),
                sql` and `,
              )}`.execute(trx);
            if (!Number(r.numAffectedRows)) continue;
          }
          rows++;
          for (const [c] of changes) fields[`${table}.${c}`] = (fields[`${table}.${c}`] ?? 0) + 1;
        }
      });
      logger?.info({ keyId, table, rows, failed }, 'key rotation: fields batch done');
    }
    const { rows: left } = await sql<{
      n: string;
    }>`select count(*) as n from ${sql.table(table)} where ${anyStale}`.execute(db);
    remaining += Number(left[0].n);
  }
  return { keyId, rows, fields, failed, remaining };
}
