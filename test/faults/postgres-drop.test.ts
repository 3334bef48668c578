import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emailLookupHash } from '../../core/platform/crypto';
import { jobId } from '../../core/platform/jobs';
import { countJobs } from '../support/jobs';
import { fixture, footprint, multipart, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';
import { allowConnections, dropConnections, orphans } from './support';

let stack: Stack;
beforeAll(async () => {
  // API only (no worker: every job a request enqueued stays countable) and the local processor does not
  // confirm payments by itself (its webhook would land at a random moment of an outage).
  stack = await startStack({ role: 'api', env: { LOCAL_PAYMENT_AUTO_CONFIRM: 'false' } });
});
afterAll(async () => {
  await allowConnections(stack.config.DATABASE_URL, true).catch(() => {});
  await stack?.stop();
});

describe('Postgres connections dropped while the API serves', () => {
  it('answers 503 database_unavailable while down, never 500, and recovers by itself', async () => {
    const me = await signUp(stack);
    const photo = await fixture('astronaut.png');
    const upload = () =>
      stack.api('POST', '/v1/photos', {
        token: me.token,
        body: multipart('photo', photo, 'astronaut.png', 'image/png'),
      });
    expect((await upload()).status).toBe(201);
    expect((await stack.api('GET', '/readyz')).body.checks.postgres).toBe('ok');

    // Drop every connection while requests are in flight, and refuse new ones for a while.
    const inFlight = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0 ? upload() : stack.api('GET', '/v1/photos', { token: me.token }),
    );
    await allowConnections(stack.config.DATABASE_URL, false);
    expect(await dropConnections(stack.config.DATABASE_URL)).toBeGreaterThan(0);
    const during = [
      ...(await Promise.all(inFlight)),
      await stack.api('GET', '/v1/photos', { token: me.token }),
      await upload(),
    ];
    const statuses = during.map((r) => r.status);
    expect(statuses.every((s) => [200, 201, 503].includes(s))).toBe(true);
    const refused = during.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.body.code).toBe('database_unavailable');
      expect(r.headers.get('retry-after')).toBe('5');
    }
    const down = await stack.api('GET', '/readyz');
    expect(down.status).toBe(503);
    expect(down.body.checks.postgres).toBe('down');

    await allowConnections(stack.config.DATABASE_URL, true);
    const up = await until(
      async () => {
        const r = await stack.api('GET', '/readyz');
        return r.status === 200 && r;
      },
      20_000,
      'readyz to recover',
    );
    expect(up.body.checks.postgres).toBe('ok');
    expect((await upload()).status).toBe(201);

    // No half-written upload: every photo has its blob and every blob its object, and back.
    const f = await footprint(stack);
    expect(f.photos).toBe(f.blobs);
    expect(f.objects).toBe(f.blobs);
    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });
  });
});

// Writes that touch several tables and S3 (registration, an order, a restriction request, an upload),
// each held inside Postgres at a chosen write by a table lock the test holds; then every connection
// of the stack's database is dropped (pg_terminate_backend) and new ones refused, so each request
// meets the outage at exactly that write, every run. A round cuts every flow at one of its writes
// (or lets it finish first); a 503 must leave nothing behind, and the same request sent again must
// do the whole work once.
describe('writes in flight when Postgres connections are dropped', () => {
  // Each round starts with Postgres reachable, whatever an earlier test left.
  beforeEach(async () => {
    await allowConnections(stack.config.DATABASE_URL, true);
    await until(async () => (await stack.api('GET', '/readyz')).status === 200, 20_000, 'readyz before the round');
  });

  it('cut at their first write: registration, order, rights request and upload answer 503 and leave nothing; the same requests succeed afterwards', async () => {
    const out = await cutRound({ registration: 'users', order: 'orders', rights: 'consents', upload: 'blobs' });
    expect(out.problems).toEqual([]);
  });

  it('cut part-way (after a first row or the S3 object is written): each answers 503 and leaves nothing; the same requests succeed afterwards', async () => {
    const out = await cutRound({
      registration: 'sign_in_codes',
      order: 'payments',
      rights: 'rights_requests',
      upload: 'photos',
    });
    expect(out.problems).toEqual([]);
  });

  it("cut at the Idempotency-Key (claimed in the same transaction as the work) and at the sign-in email claim (registration's last write): 503 leaves nothing and a retry with the same key does the work once; an upload that finished first is complete", async () => {
    const out = await cutRound({
      registration: 'notifications',
      order: 'idempotency_keys',
      rights: 'idempotency_keys',
      upload: undefined,
    });
    expect(out.problems).toEqual([]);
  });
});

type FlowName = 'registration' | 'order' | 'rights' | 'upload';
type Answer = Awaited<ReturnType<Stack['api']>>;
/** Rows, objects and jobs a request made, by kind. */
type Trace = Record<string, number>;

interface Flow {
  /** The request; sent again as is (same body, same Idempotency-Key) for the retry. */
  send: () => Promise<Answer>;
  /** What exists now that this request (or its retry) could have written. */
  trace: () => Promise<Trace>;
  /** Problems with a 2xx answer and the state after it; empty when it is complete. */
  complete: (answer: Answer) => Promise<string[]>;
}

const EMPTY: Record<FlowName, Trace> = {
  registration: { users: 0, sign_in_codes: 0, notifications: 0, emails: 0 },
  order: { orders: 0, order_photos: 0, payments: 0, idempotency_keys: 0 },
  rights: { rights_requests: 0, consents: 0, idempotency_keys: 0 },
  upload: { photos: 0, blobs: 0, objects: 0, jobs: 0 },
};

/** Fresh people for one round: a registration, and signed-in people who order, restrict and upload. */
async function flows(): Promise<Record<FlowName, Flow>> {
  const { db, config, storage } = stack.ctx;
  const count = async (q: { executeTakeFirstOrThrow: () => Promise<{ n: unknown }> }) =>
    Number((await q.executeTakeFirstOrThrow()).n);

  // Registration: users, sign_in_codes, notifications, then the email.
  const email = `pgdrop-${randomBytes(4).toString('hex')}@example.com`;
  const hash = emailLookupHash(config.PII_HASH_KEY, email);
  const userOf = async () =>
    (await db.selectFrom('users').select('id').where('email_hash', '=', hash).executeTakeFirst())?.id;
  const registration: Flow = {
    send: () =>
      stack.api('POST', '/v1/accounts', {
        json: {
          email,
          name: 'Dropped Person',
          confirms_adult: true,
          accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
        },
      }),
    trace: async () => {
      const id = await userOf();
      const rows = async (t: 'sign_in_codes' | 'notifications') =>
        id
          ? count(
              db
                .selectFrom(t)
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('user_id', '=', id),
            )
          : 0;
      return {
        users: id ? 1 : 0,
        sign_in_codes: await rows('sign_in_codes'),
        notifications: await rows('notifications'),
        emails: stack.postmark.to(email).length,
      };
    },
    complete: async (a) => {
      const p: string[] = [];
      if (a.status !== 202) p.push(`registration answered ${a.status}`);
      const id = await userOf();
      if (!id) return [...p, 'registration: no user row'];
      const open = await count(
        db
          .selectFrom('sign_in_codes')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', id)
          .where('consumed_at', 'is', null),
      );
      if (open !== 1) p.push(`registration: ${open} usable sign-in codes (1 expected)`);
      const sent = await count(
        db
          .selectFrom('notifications')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', id)
          .where('status', '=', 'sent'),
      );
      if (sent !== 1) p.push(`registration: ${sent} sent notifications (1 expected)`);
      const mails = stack.postmark.to(email);
      if (mails.length !== 1) p.push(`registration: ${mails.length} emails (1 expected)`);
      const code = /code is (\d{6})/.exec(mails.at(-1)?.TextBody ?? '')?.[1];
      const tok = code ? await stack.api('POST', '/v1/auth/token', { json: { email, code } }) : undefined;
      if (tok?.status !== 200) p.push(`registration: signing in with the emailed code answered ${tok?.status}`);
      return p;
    },
  };

  // Order: orders, order_photos and payments in one transaction, the processor, then the Idempotency-Key.
  const buyer = await signUp(stack);
  const photo = { body: await uploadJudged(stack, buyer.token, await fixture('astronaut.png')) };
  expect(photo.body.status).toBe('usable');
  const orderKey = `order-${randomBytes(6).toString('hex')}`;
  const sendOrder = () =>
    stack.api('POST', '/v1/orders', {
      token: buyer.token,
      headers: { 'idempotency-key': orderKey },
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photo.body.id] },
    });
  const keyRows = (userId: string) =>
    db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', userId).execute();
  const order: Flow = {
    send: sendOrder,
    trace: async () => {
      const orders = await db.selectFrom('orders').select('id').where('user_id', '=', buyer.userId).execute();
      const linked = orders.length
        ? await count(
            db
              .selectFrom('order_photos')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where(
                'order_id',
                'in',
                orders.map((o) => o.id),
              ),
          )
        : 0;
      const payments = await count(
        db
          .selectFrom('payments')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', buyer.userId),
      );
      return {
        orders: orders.length,
        order_photos: linked,
        payments,
        idempotency_keys: (await keyRows(buyer.userId)).length,
      };
    },
    complete: async (a) => {
      const p: string[] = [];
      if (a.status !== 201) return [`order answered ${a.status}`];
      const id = a.body.order.id as string;
      const orders = await db.selectFrom('orders').selectAll().where('user_id', '=', buyer.userId).execute();
      if (orders.length !== 1 || orders[0].id !== id)
        p.push(`order: ${orders.length} orders for one order placed (${orders.map((o) => o.id).join(', ')})`);
      if (orders.find((o) => o.id === id)?.status !== 'awaiting_payment') p.push('order: not awaiting payment');
      const linked = await db.selectFrom('order_photos').select('photo_id').where('order_id', '=', id).execute();
      if (linked.length !== 1 || linked[0].photo_id !== photo.body.id)
        p.push(`order: photos linked ${JSON.stringify(linked)}`);
      const payments = await db.selectFrom('payments').selectAll().where('order_id', '=', id).execute();
      if (
        payments.length !== 1 ||
        payments[0].status !== 'pending' ||
        !String(a.body.payment.client_secret).startsWith(`${payments[0].processor_ref}_secret`)
      ) {
        p.push(
          `order: payment rows ${JSON.stringify(payments.map((x) => [x.status, x.processor_ref]))} do not match the answer`,
        );
      }
      const keys = await keyRows(buyer.userId);
      if (keys.length !== 1 || keys[0].key !== orderKey || (keys[0].body as { order: { id: string } }).order.id !== id)
        p.push('order: the Idempotency-Key does not hold this answer');
      const replay = await sendOrder();
      if (replay.status !== 201 || replay.headers.get('idempotent-replayed') !== 'true' || replay.body.order?.id !== id)
        p.push(`order: replay answered ${replay.status} with order ${replay.body.order?.id}`);
      return p;
    },
  };

  // Rights request (restriction): a refusal per purpose in consents, the request row, then the Idempotency-Key.
  const restricter = await signUp(stack);
  const purposes = ['analytics', 'service_improvement'] as const;
  const rightsKey = `rights-${randomBytes(6).toString('hex')}`;
  const sendRights = () =>
    stack.api('POST', '/v1/rights-requests', {
      token: restricter.token,
      headers: { 'idempotency-key': rightsKey },
      json: { kind: 'restriction', purposes },
    });
  const rights: Flow = {
    send: sendRights,
    trace: async () => ({
      rights_requests: await count(
        db
          .selectFrom('rights_requests')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', restricter.userId),
      ),
      consents: await count(
        db
          .selectFrom('consents')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', restricter.userId),
      ),
      idempotency_keys: (await keyRows(restricter.userId)).length,
    }),
    complete: async (a) => {
      const p: string[] = [];
      if (a.status !== 201) return [`rights request answered ${a.status}`];
      const requests = await db
        .selectFrom('rights_requests')
        .selectAll()
        .where('user_id', '=', restricter.userId)
        .execute();
      if (
        requests.length !== 1 ||
        requests[0].id !== a.body.id ||
        requests[0].kind !== 'restriction' ||
        requests[0].status !== 'completed'
      ) {
        p.push(
          `rights: ${requests.length} rights requests for one made (${requests.map((r) => `${r.id} ${r.kind} ${r.status}`).join(', ')})`,
        );
      }
      const consents = await db
        .selectFrom('consents')
        .select(['purpose', 'granted', 'source'])
        .where('user_id', '=', restricter.userId)
        .orderBy('purpose')
        .execute();
      const expected = purposes.map((purpose) => ({ purpose, granted: false, source: 'restriction' }));
      if (JSON.stringify(consents) !== JSON.stringify(expected))
        p.push(`rights: consent rows ${JSON.stringify(consents)} (one refusal per purpose expected)`);
      const keys = await keyRows(restricter.userId);
      if (keys.length !== 1 || (keys[0].body as { id: string }).id !== a.body.id)
        p.push('rights: the Idempotency-Key does not hold this answer');
      const replay = await sendRights();
      if (replay.status !== 201 || replay.headers.get('idempotent-replayed') !== 'true' || replay.body.id !== a.body.id)
        p.push(`rights: replay answered ${replay.status} with request ${replay.body.id}`);
      return p;
    },
  };

  // Upload: the S3 object, blobs, photos, then the photo.prepare job (no worker runs: jobs stay countable).
  const uploader = await signUp(stack);
  const picture = await fixture('camera.png');
  const base = { objects: await objectCount(), jobs: await countJobs(stack.ctx.queues) };
  const upload: Flow = {
    send: () =>
      stack.api('POST', '/v1/photos', {
        token: uploader.token,
        body: multipart('photo', picture, 'camera.png', 'image/png'),
      }),
    trace: async () => ({
      photos: await count(
        db
          .selectFrom('photos')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', uploader.userId),
      ),
      blobs: await count(
        db
          .selectFrom('blobs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', uploader.userId),
      ),
      // Nothing else in a round writes objects or jobs (the order is not paid: no worker, no webhook).
      objects: (await objectCount()) - base.objects,
      jobs: (await countJobs(stack.ctx.queues)) - base.jobs,
    }),
    complete: async (a) => {
      const p: string[] = [];
      if (a.status !== 201) return [`upload answered ${a.status}`];
      const photos = await db.selectFrom('photos').selectAll().where('user_id', '=', uploader.userId).execute();
      if (photos.length !== 1 || photos[0].id !== a.body.id || photos[0].status !== 'preparing')
        p.push(`upload: ${photos.length} photo rows for one upload`);
      const blobs = await db.selectFrom('blobs').selectAll().where('user_id', '=', uploader.userId).execute();
      if (blobs.length !== 1 || blobs[0].id !== photos[0]?.blob_id)
        p.push(`upload: ${blobs.length} blob rows for one photo`);
      const keys = new Set(await storage.listKeys('originals'));
      const missing = blobs.filter((b) => !keys.has(b.object_key));
      if (missing.length) p.push(`upload: ${missing.length} blob rows without their S3 object`);
      if ((await objectCount()) - base.objects !== 1)
        p.push(`upload: ${(await objectCount()) - base.objects} new S3 objects for one upload`);
      const job = await stack.ctx.queues.byName.preparation.getJob(jobId('prepare', a.body.id));
      if (job?.name !== 'photo.prepare') p.push('upload: no photo.prepare job');
      if ((await countJobs(stack.ctx.queues)) - base.jobs !== 1)
        p.push(`upload: ${(await countJobs(stack.ctx.queues)) - base.jobs} new jobs for one upload`);
      return p;
    },
  };
  return { registration, order, rights, upload };
}

const objectCount = async () =>
  (await stack.ctx.storage.listKeys('originals')).length + (await stack.ctx.storage.listKeys('headshots')).length;

/**
 * One round: locks the named tables (writes to them wait, reads go on), sends the four requests,
 * waits until each cut one waits on its table inside Postgres (and every uncut one has answered),
 * then drops every connection, refuses new ones, and lets Postgres back. Returns what went wrong,
 * after asserting what must hold for the suite to go on.
 */
async function cutRound(cuts: Record<FlowName, string | undefined>): Promise<{ problems: string[] }> {
  const all = await flows();
  const names = Object.keys(all) as FlowName[];
  const cut = names.filter((f) => cuts[f]);
  for (const f of names) expect(await all[f].trace(), `${f} before the round`).toEqual(EMPTY[f]);
  const orphansBefore = await orphans(stack);

  const dbUrl = stack.config.DATABASE_URL;
  const lock = await lockTables(dbUrl, [...new Set(cut.map((f) => cuts[f]!))]);
  let answers: Record<FlowName, Answer>;
  try {
    const inFlight = Object.fromEntries(names.map((f) => [f, all[f].send()])) as Record<FlowName, Promise<Answer>>;
    // The uncut requests finish before the outage; the cut ones wait inside Postgres, each at its table.
    for (const f of names.filter((x) => !cuts[x]))
      expect(
        (await within(inFlight[f], 10_000, `${f} to answer`)).status,
        `${f} answered before the outage`,
      ).toBeLessThan(300);
    const waiting = await until(
      async () => {
        const tables = (await lock.blocked())
          .map((q) => /^\s*(?:insert into|update|delete from) "(\w+)"/i.exec(q)?.[1] ?? q)
          .sort();
        return tables.length >= cut.length && tables;
      },
      10_000,
      `the ${cut.join(', ')} requests to wait on their locks`,
    );
    expect(waiting).toEqual(cut.map((f) => cuts[f]!).sort());

    await allowConnections(dbUrl, false);
    expect(await dropAllBut(dbUrl, lock.pid)).toBeGreaterThanOrEqual(cut.length);
    // Only once every other backend is gone does the lock go, so no waiting write can slip through.
    await until(async () => (await othersOn(dbUrl, lock.pid)) === 0, 10_000, 'the dropped backends to exit');
    await lock.release();
    answers = Object.fromEntries(
      await Promise.all(names.map(async (f) => [f, await within(inFlight[f], 15_000, `${f} to answer`)] as const)),
    ) as Record<FlowName, Answer>;
    const down = await stack.api('GET', '/readyz');
    expect(down.status).toBe(503);
    expect(down.body.checks.postgres).toBe('down');
  } finally {
    await lock.release();
    await allowConnections(dbUrl, true);
  }
  await until(async () => (await stack.api('GET', '/readyz')).status === 200, 20_000, 'readyz to recover');

  const problems: string[] = [];
  for (const f of names) {
    const a = answers[f];
    // Never a 500; a cut request is always a 503 database_unavailable, an uncut one always succeeds.
    if (cuts[f]) {
      expect({ flow: f, status: a.status, code: a.body.code, retryAfter: a.headers.get('retry-after') }).toEqual({
        flow: f,
        status: 503,
        code: 'database_unavailable',
        retryAfter: '5',
      });
      const left = await all[f].trace();
      if (JSON.stringify(left) !== JSON.stringify(EMPTY[f]))
        problems.push(`${f} cut at ${cuts[f]} answered 503 but left ${JSON.stringify(diff(left, EMPTY[f]))}`);
      const retry = await all[f].send();
      if (retry.status >= 300) problems.push(`${f}: the retry answered ${retry.status} ${retry.body.code ?? ''}`);
      else problems.push(...(await all[f].complete(retry)).map((p) => `${p} (after a retry of the 503)`));
    } else {
      expect(a.status, `${f} status`).toBeLessThan(300);
      problems.push(...(await all[f].complete(a)));
    }
  }
  // Anywhere in the buckets and blobs, not only this round's people (an earlier round's are not counted again).
  const o = await orphans(stack);
  const fresh = {
    objectsWithoutRow: o.objectsWithoutRow.filter((k) => !orphansBefore.objectsWithoutRow.includes(k)),
    rowsWithoutObject: o.rowsWithoutObject.filter((k) => !orphansBefore.rowsWithoutObject.includes(k)),
  };
  if (fresh.objectsWithoutRow.length || fresh.rowsWithoutObject.length)
    problems.push(`new orphans: ${JSON.stringify(fresh)}`);
  return { problems };
}

const diff = (t: Trace, base: Trace) => Object.fromEntries(Object.entries(t).filter(([k, v]) => v !== base[k]));

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function adminUrl(dbUrl: string): string {
  const u = new URL(dbUrl);
  u.pathname = '/postgres';
  return u.toString();
}

async function asAdmin<T>(dbUrl: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl(dbUrl) });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

/** Terminates every backend on the stack's database except one (the lock holder). */
const dropAllBut = (dbUrl: string, keep: number) =>
  asAdmin(
    dbUrl,
    async (c) =>
      (
        await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> $2', [
          new URL(dbUrl).pathname.slice(1),
          keep,
        ])
      ).rowCount ?? 0,
  );

const othersOn = (dbUrl: string, keep: number) =>
  asAdmin(dbUrl, async (c) =>
    Number(
      (
        await c.query('select count(*) as n from pg_stat_activity where datname = $1 and pid <> $2', [
          new URL(dbUrl).pathname.slice(1),
          keep,
        ])
      ).rows[0].n,
    ),
  );

/**
 * Locks tables in SHARE mode from a connection to the stack's database, in a transaction left open:
 * inserts, updates and deletes on them wait; reads and foreign-key checks (row share) do not. blocked() is the text of every
 * query waiting on this connection.
 */
async function lockTables(
  dbUrl: string,
  tables: string[],
): Promise<{ pid: number; blocked: () => Promise<string[]>; release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: dbUrl });
  client.on('error', () => {});
  await client.connect();
  await client.query('begin');
  await client.query(`lock table ${tables.map((t) => `"${t}"`).join(', ')} in share mode`);
  const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
  let released = false;
  return {
    pid,
    blocked: () =>
      asAdmin(dbUrl, async (c) =>
        (
          await c.query<{ query: string }>('select query from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [
            pid,
          ])
        ).rows.map((r) => r.query),
      ),
    release: async () => {
      if (released) return;
      released = true;
      await client.query('rollback').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}
