import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRasmiClient, unwrap, uploadPhoto, type Order, type Photo } from '../../clients/typescript/src/index';
import { countJobs } from '../support/jobs';
import { fixture, footprint, multipart, signUp, startStack, until, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

// The whole path goes through the typed client generated from openapi.json, as a front end would.
const client = (token?: string) => createRasmiClient({ baseUrl: stack.url, token });

async function upload(token: string, name: string) {
  const res = await uploadPhoto(client(token), new Blob([new Uint8Array(await fixture(name))], { type: 'image/png' }), {
    filename: name,
  });
  expect(res.response.status).toBe(201);
  return judged(token, unwrap(res).id);
}

/** Polls the photo as a client does until its verdict is there (seconds after upload). */
async function judged(token: string, id: string): Promise<Photo> {
  return until(
    async () => {
      const p = unwrap(await client(token).GET('/v1/photos/{id}', { params: { path: { id } } }));
      return p.status !== 'preparing' && p.status !== 'analysing' && p;
    },
    60_000,
    `photo ${id} to be judged`,
  );
}

async function orderAndWait(token: string, photoIds: string[], styles = ['studio-grey']): Promise<Order> {
  const api = client(token);
  const created = await api.POST('/v1/orders', {
    body: { package_id: 'professional', style_ids: styles, photo_ids: photoIds, accept_shortfall: true },
  });
  expect(created.response.status).toBe(201);
  const id = unwrap(created).order.id;
  return until(
    async () => {
      const o = unwrap(await api.GET('/v1/orders/{id}', { params: { path: { id } } }));
      return ['ready', 'failed'].includes(o.status) && o;
    },
    60_000,
    `order ${id} to settle`,
  );
}

/** A headshot's JPEG bytes with the answer's content type, through the client. */
async function download(token: string, id: string, aspect?: '4:5' | '1:1') {
  const res = await client(token).GET('/v1/headshots/{id}/content', {
    params: { path: { id }, query: aspect ? { aspect } : {} },
    parseAs: 'arrayBuffer',
  });
  return { type: res.response.headers.get('content-type'), body: Buffer.from(unwrap(res)) };
}

describe('the order path over HTTP', () => {
  let delivered: { email: string; orderId: string };

  it('SD2 takes astronaut.png from upload to a delivered, downloadable headshot', async () => {
    const me = await signUp(stack);
    const sent = await uploadPhoto(
      client(me.token),
      new Blob([new Uint8Array(await fixture('astronaut.png'))], { type: 'image/png' }),
      { filename: 'astronaut.png' },
    );
    expect(sent.response.status).toBe(201);
    expect(unwrap(sent)).toMatchObject({ detected_type: 'png', width: 512, height: 512, status: 'preparing' });
    // Judged at upload, before any order or payment.
    const up = await judged(me.token, unwrap(sent).id);
    expect(up).toMatchObject({ status: 'usable', verdict: { usable: true, faces: 1, reasons: [] } });
    expect(up.verdict!.boxes).toHaveLength(1);
    expect(up.verdict).not.toHaveProperty('geometry');

    const order = await orderAndWait(me.token, [up.id], ['studio-grey', 'navy-gradient']);
    expect(order.status).toBe('ready');
    expect(order.photos[0].verdict).toMatchObject({ usable: true, faces: 1, reasons: [] });
    expect(order.headshots).toHaveLength(2);
    expect(order.headshots.map((h) => h.style_id).sort()).toEqual(['navy-gradient', 'studio-grey']);

    delivered = { email: me.email, orderId: order.id };

    const hs = order.headshots[0];
    expect(hs.content_url).toBe(`/v1/headshots/${hs.id}/content`);
    const file = await download(me.token, hs.id);
    expect(file.type).toBe('image/jpeg');
    const meta = await sharp(file.body).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([1024, 1280]);
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();

    const square = await download(me.token, hs.id, '1:1');
    const sq = await sharp(square.body).metadata();
    expect([sq.width, sq.height]).toEqual([1024, 1024]);
    expect(sq.exif).toBeUndefined();
    // The client's types refuse '3:2'; sent anyway, the API names the parameter.
    const wrong = await client(me.token).GET('/v1/headshots/{id}/content', {
      params: { path: { id: hs.id }, query: { aspect: '3:2' as '1:1' } },
    });
    expect([wrong.response.status, wrong.error?.code, wrong.error?.errors?.[0].path]).toEqual([
      400,
      'validation_failed',
      'query.aspect',
    ]);
  });

  it('SD2 lists at least three packages and eight styles, each with a preview', async () => {
    const packages = unwrap(await client().GET('/v1/packages')).items;
    expect(packages.length).toBeGreaterThanOrEqual(3);
    const styles = unwrap(await client().GET('/v1/styles')).items;
    expect(styles.length).toBeGreaterThanOrEqual(8);
    expect(styles[0].preview_url).toBe(`/v1/styles/${styles[0].id}/preview`);
    const preview = await client().GET('/v1/styles/{id}/preview', {
      params: { path: { id: styles[0].id } },
      parseAs: 'arrayBuffer',
    });
    expect(preview.response.headers.get('content-type')).toBe('image/png');
    expect((await sharp(Buffer.from(unwrap(preview))).metadata()).format).toBe('png');
  });

  it('SD3 delivers by email with a link to the order, never an attachment, and notifies each status change once', async () => {
    const mails = await until(
      async () => {
        const m = stack.postmark.to(delivered.email).filter((x) => x.Tag?.startsWith('order-'));
        return m.length >= 3 && m;
      },
      10_000,
      'status emails',
    );
    const ready = mails.find((m) => m.Tag === 'order-ready')!;
    // A link to the order's gallery in the web client (sign-in needed), with the counts.
    expect(ready.TextBody).toContain(`${stack.ctx.publicUrl}/app/#/order?id=${delivered.orderId}`);
    expect(ready.TextBody).toMatch(/Your headshot is ready|All \d+ headshots of your order are ready/);
    expect(ready.TextBody).not.toMatch(/downloads\//);
    expect(ready).not.toHaveProperty('Attachments');
    expect(mails.map((m) => m.Tag).sort()).toEqual(['order-processing', 'order-ready', 'order-received']);
  });

  it('SC5 a signed link works for its owner while valid and is refused once altered or expired', async () => {
    const me = await signUp(stack);
    const up = await upload(me.token, 'astronaut.png');
    const order = await orderAndWait(me.token, [up.id]);
    const created = await client(me.token).POST('/v1/headshots/{id}/link', {
      params: { path: { id: order.headshots[0].id } },
    });
    expect(created.response.status).toBe(201);
    const link = unwrap(created);
    const expiresIn = Date.parse(link.expires_at) - stack.clock.now().getTime();
    expect(expiresIn).toBeLessThanOrEqual(15 * 60_000);
    const token = /\/v1\/downloads\/([^/?]+)$/.exec(link.url)![1];
    // Whoever holds the link follows it without signing in.
    const follow = (t: string) =>
      client().GET('/v1/downloads/{token}', { params: { path: { token: t } }, parseAs: 'arrayBuffer' });

    const ok = await follow(token);
    expect(ok.response.status).toBe(200);
    expect((await sharp(Buffer.from(unwrap(ok))).metadata()).format).toBe('jpeg');

    const tampered = token.slice(0, -3) + (token.endsWith('AAA') ? 'BBB' : 'AAA');
    expect((await follow(tampered)).error?.code).toBe('link_invalid');

    stack.clock.advance(stack.config.DOWNLOAD_LINK_TTL_SECONDS * 1000 + 1000);
    const late = await follow(token);
    expect(late.response.status).toBe(410);
    expect(late.error?.code).toBe('link_expired');
  });

  it('SD1 chelsea.png and coffee.png are judged no_face at upload, and an order naming them is refused with each reason, leaving nothing behind', async () => {
    const me = await signUp(stack);
    const cat = await upload(me.token, 'chelsea.png');
    const cup = await upload(me.token, 'coffee.png');
    for (const p of [cat, cup]) {
      expect(p.status).toBe('unusable');
      expect(p.verdict!.reasons.map((r) => r.code)).toEqual(['no_face']);
      expect(p.verdict!.reasons[0].hint).toMatch(/camera/);
    }
    const astronaut = await upload(me.token, 'astronaut.png');
    const before = await footprint(stack);
    const refused = await stack.api('POST', '/v1/orders', {
      token: me.token,
      json: { package_id: 'professional', style_ids: ['studio-grey'], photo_ids: [astronaut.id, cat.id, cup.id] },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('photo_unusable');
    expect(refused.body.photos.map((p: { id: string }) => p.id).sort()).toEqual([cat.id, cup.id].sort());
    for (const p of refused.body.photos)
      expect(p.reasons[0]).toMatchObject({
        code: 'no_face',
        hint: expect.any(String),
        message: expect.stringMatching(/face/),
      });
    // No order, no payment intent, no job.
    expect(await footprint(stack)).toEqual(before);
  });

  it('SD1 an order naming a photo still being checked is refused with photo_not_ready', async () => {
    const me = await signUp(stack);
    const sent = await stack.api('POST', '/v1/photos', {
      token: me.token,
      body: multipart('photo', await fixture('astronaut.png'), 'a.png', 'image/png'),
    });
    // Held at 'analysing' as a slow worker would leave it, so the answer does not race the worker.
    await stack.ctx.db.updateTable('photos').set({ status: 'analysing' }).where('id', '=', sent.body.id).execute();
    const orders = await stack.ctx.db.selectFrom('orders').select('id').where('user_id', '=', me.userId).execute();
    const refused = await stack.api('POST', '/v1/orders', {
      token: me.token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [sent.body.id] },
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      code: 'photo_not_ready',
      photos: [{ id: sent.body.id, status: 'analysing' }],
    });
    expect(await stack.ctx.db.selectFrom('orders').select('id').where('user_id', '=', me.userId).execute()).toEqual(
      orders,
    );
  });

  it('SD1 a verdict is computed once per prepared photo: at upload, never again for its order', async () => {
    const me = await signUp(stack);
    const up = await upload(me.token, 'astronaut.png');
    const analyses = async () =>
      (await stack.ctx.queues.byName.analysis.getJobs(['completed', 'failed', 'active', 'wait', 'delayed'])).filter(
        // The analysis queue also makes a usable photo's render preparation: only verdicts count here.
        (j) => j?.name === 'photo.analyse' && j.data?.photoId === up.id,
      ).length;
    expect(await analyses()).toBe(1);
    const verdictBefore = (
      await stack.ctx.db.selectFrom('photos').select('verdict').where('id', '=', up.id).executeTakeFirstOrThrow()
    ).verdict;
    const order = await orderAndWait(me.token, [up.id]);
    expect(order.status).toBe('ready');
    expect(await analyses()).toBe(1);
    expect(
      (await stack.ctx.db.selectFrom('photos').select('verdict').where('id', '=', up.id).executeTakeFirstOrThrow())
        .verdict,
    ).toEqual(verdictBefore);
    expect(await countJobs(stack.ctx.queues)).toBeGreaterThan(0);
  });

  it('SD1 the photo event stream opens at once for a person with no photos: headers, a retry line, then ready', async () => {
    const me = await signUp(stack);
    const controller = new AbortController();
    const started = performance.now();
    const res = await fetch(`${stack.url}/v1/photos/events`, {
      headers: { authorization: `Bearer ${me.token}` },
      signal: controller.signal,
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('event: ready')) text += (await reader.read()).value ?? '';
    const elapsed = performance.now() - started;
    controller.abort();
    expect(res.status).toBe(200);
    expect(text).toBe('retry: 3000\n\nevent: ready\ndata: {}\n\n');
    // Unflushed, the headers waited for the first 15-s keep-alive; now they come with the first line,
    // well before it (the bound is the keep-alive, not how fast a loaded machine answers).
    expect(elapsed).toBeLessThan(10_000);
  });

  it("SD1 GET /v1/photos/events streams the owner's photo statuses as server-sent events, with ids and statuses only", async () => {
    const me = await signUp(stack);
    const other = await signUp(stack);
    const controller = new AbortController();
    const res = await fetch(`${stack.url}/v1/photos/events`, {
      headers: { authorization: `Bearer ${me.token}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: { id: string; status: string }[] = [];
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += value;
        for (const m of text.matchAll(/event: photo\ndata: (.*)\n\n/g)) events.push(JSON.parse(m[1]));
        text = text.slice(text.lastIndexOf('\n\n') + 2);
      }
    })();
    await stack.api('POST', '/v1/photos', {
      token: other.token,
      body: multipart('photo', await fixture('coffee.png'), 'c.png', 'image/png'),
    });
    const sent = await stack.api('POST', '/v1/photos', {
      token: me.token,
      body: multipart('photo', await fixture('astronaut.png'), 'a.png', 'image/png'),
    });
    await until(async () => events.some((e) => e.status === 'usable'), 30_000, 'the usable event');
    controller.abort();
    await reading;
    expect(events.every((e) => e.id === sent.body.id)).toBe(true);
    expect(events.map((e) => e.status)).toEqual(expect.arrayContaining(['analysing', 'usable']));
    for (const e of events) expect(Object.keys(e).sort()).toEqual(['id', 'status']);
    expect((await fetch(`${stack.url}/v1/photos/events`)).status).toBe(401);
  });
});
