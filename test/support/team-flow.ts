import sharp from 'sharp';
import type { AppContext } from '../../core/platform/context';
import { newId } from '../../core/platform/crypto';
import { unzip } from './unzip';

/**
 * A team through the whole path, as the test and the benchmark run it: the owner sets the brand
 * and a logo and buys seats, invites n people by email; each signs up, joins with consent, has a
 * usable photo, orders with a seat, waits for the real workers to make the headshot and shares
 * it; the owner approves them and downloads the ZIP. One person uploads through the API (prepared
 * and judged by the workers); the others get a copy of that prepared, judged photo (their own
 * object and row), which keeps the run to rendering and the team's own steps.
 */
export interface TeamHarness {
  ctx: AppContext;
  api(method: string, path: string, init?: { token?: string; json?: unknown }): Promise<{ status: number; body: any }>;
  signUp(): Promise<{ token: string; email: string; userId: string }>;
  /** The join token from the invitation emailed to this address. */
  invitationToken(email: string): Promise<string>;
  /** Uploads a photo and waits for its verdict; answers its id. */
  uploadJudged(token: string, photo: Buffer): Promise<string>;
  until<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T>;
}

/** A copy of a prepared, judged photo for another person: their own encrypted object and row. */
export async function copyPhoto(ctx: AppContext, photoId: string, toUserId: string): Promise<string> {
  const p = await ctx.db.selectFrom('photos').selectAll().where('id', '=', photoId).executeTakeFirstOrThrow();
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', p.blob_id).executeTakeFirstOrThrow();
  const copy = await ctx.storage.put(ctx.db, {
    userId: toUserId,
    role: 'originals',
    contentType: blob.content_type,
    data: await ctx.storage.read(blob),
    at: ctx.clock.now(),
  });
  const id = newId('pho');
  await ctx.db
    .insertInto('photos')
    .values({
      id,
      user_id: toUserId,
      blob_id: copy.id,
      detected_type: p.detected_type,
      size_bytes: p.size_bytes,
      width: p.width,
      height: p.height,
      uploaded_at: ctx.clock.now(),
      status: p.status,
      verdict: JSON.stringify(p.verdict),
      processed_at: p.processed_at,
      subject: p.subject,
    })
    .execute();
  return id;
}

export interface TeamRun {
  org: string;
  owner: { token: string; email: string; userId: string };
  members: { token: string; email: string; userId: string; orderId: string; headshotId: string }[];
  /** From the first invitation to the last byte of the admin's ZIP. */
  ms: number;
  zipBytes: number;
  entries: Map<string, Buffer>;
  backdrop: [number, number, number];
}

export async function runTeam(h: TeamHarness, n: number, photo: Buffer): Promise<TeamRun> {
  const owner = await h.signUp();
  const must = async (method: string, path: string, init: { token?: string; json?: unknown }, status: number) => {
    const r = await h.api(method, path, init);
    if (r.status !== status) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const org = (
    await must(
      'POST',
      '/v1/organisations',
      { token: owner.token, json: { name: 'Team Twenty', billing_email: 'billing@example.com' } },
      201,
    )
  ).id as string;
  const backdrop: [number, number, number] = [31, 58, 95];
  await must(
    'PUT',
    `/v1/organisations/${org}/brand`,
    {
      token: owner.token,
      json: { allowed_styles: ['studio-grey', 'navy-gradient'], backdrop: { kind: 'solid', colour: '#1f3a5f' } },
    },
    200,
  );
  const logo = await sharp({
    create: { width: 64, height: 64, channels: 4, background: { r: 230, g: 120, b: 20, alpha: 1 } },
  })
    .png()
    .toBuffer();
  await must(
    'PUT',
    `/v1/organisations/${org}/logo`,
    { token: owner.token, json: { image_base64: logo.toString('base64') } },
    200,
  );
  await must(
    'POST',
    `/v1/organisations/${org}/seats`,
    { token: owner.token, json: { package_id: 'starter', seats: n } },
    201,
  );
  await h.until(
    async () => {
      const s = await h.api('GET', `/v1/organisations/${org}/seats`, { token: owner.token });
      return s.body.summary.packages.find((p: { package_id: string }) => p.package_id === 'starter')?.available === n;
    },
    30_000,
    'the seats to be paid',
  );

  const people = await Promise.all(Array.from({ length: n }, () => h.signUp()));
  const started = performance.now();
  for (const p of people)
    await must('POST', `/v1/organisations/${org}/invitations`, { token: owner.token, json: { email: p.email } }, 201);
  for (const p of people)
    await must(
      'POST',
      `/v1/invitations/${await h.invitationToken(p.email)}/accept`,
      { token: p.token, json: { consent_to_share: true } },
      201,
    );
  const first = await h.uploadJudged(people[0].token, photo);
  const photos = [first, ...(await Promise.all(people.slice(1).map((p) => copyPhoto(h.ctx, first, p.userId))))];
  const orders = await Promise.all(
    people.map((p, i) =>
      must(
        'POST',
        `/v1/organisations/${org}/orders`,
        { token: p.token, json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photos[i]] } },
        201,
      ),
    ),
  );
  const members = [];
  for (const [i, p] of people.entries()) {
    const orderId = orders[i].order_id as string;
    const order = await h.until(
      async () => {
        const o = await h.api('GET', `/v1/orders/${orderId}`, { token: p.token });
        return ['ready', 'failed'].includes(o.body.status) && o.body;
      },
      600_000,
      `order ${i + 1} of ${n}`,
    );
    if (order.status !== 'ready') throw new Error(`order ${orderId} ${order.status}: ${JSON.stringify(order.missing)}`);
    const headshotId = order.headshots.find((x: { status: string }) => x.status === 'rendered').id as string;
    await must(
      'POST',
      `/v1/organisations/${org}/me/shared`,
      { token: p.token, json: { headshot_ids: [headshotId] } },
      200,
    );
    members.push({ ...p, orderId, headshotId });
  }
  const shared = (await must('GET', `/v1/organisations/${org}/headshots`, { token: owner.token }, 200)).items as {
    headshot_id: string;
  }[];
  for (const s of shared)
    await must('POST', `/v1/organisations/${org}/headshots/${s.headshot_id}/approve`, { token: owner.token }, 204);
  const zip = await h.api('GET', `/v1/organisations/${org}/export`, { token: owner.token });
  if (zip.status !== 200) throw new Error(`export: ${zip.status}`);
  const ms = performance.now() - started;
  return {
    org,
    owner,
    members,
    ms,
    zipBytes: (zip.body as Buffer).length,
    entries: unzip(zip.body as Buffer),
    backdrop,
  };
}
