import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, multipart, signUp, startStack, until, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function upload(token: string, name: string) {
  return stack.api('POST', '/v1/photos', { token, body: multipart('photo', await fixture(name), name, 'image/png') });
}

async function orderAndWait(token: string, photoIds: string[], styles = ['studio-grey']) {
  const created = await stack.api('POST', '/v1/orders', { token, json: { package_id: 'professional', style_ids: styles, photo_ids: photoIds } });
  expect(created.status).toBe(201);
  const id = created.body.order.id as string;
  return until(async () => {
    const o = await stack.api('GET', `/v1/orders/${id}`, { token });
    return ['ready', 'failed'].includes(o.body.status) && o.body;
  }, 60_000, `order ${id} to settle`);
}

describe('the order path over HTTP', () => {
let delivered: { email: string; orderId: string };

  it('SD2 takes astronaut.png from upload to a delivered, downloadable headshot', async () => {
    const me = await signUp(stack);
    const up = await upload(me.token, 'astronaut.png');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ detected_type: 'png', width: 512, height: 512, status: 'preparing' });

    const order = await orderAndWait(me.token, [up.body.id], ['studio-grey', 'navy-gradient']);
    expect(order.status).toBe('ready');
    expect(order.photos[0].verdict).toMatchObject({ usable: true, faces: 1, reasons: [] });
    expect(order.headshots).toHaveLength(2);
    expect(order.headshots.map((h: { style_id: string }) => h.style_id).sort()).toEqual(['navy-gradient', 'studio-grey']);

    delivered = { email: me.email, orderId: order.id };

    const hs = order.headshots[0];
    const file = await stack.api('GET', hs.content_url, { token: me.token });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(file.body).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([1024, 1280]);
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();

    const square = await stack.api('GET', `${hs.content_url}?aspect=1:1`, { token: me.token });
    const sq = await sharp(square.body).metadata();
    expect([sq.width, sq.height]).toEqual([1024, 1024]);
    expect(sq.exif).toBeUndefined();
    expect((await stack.api('GET', `${hs.content_url}?aspect=3:2`, { token: me.token })).body.code).toBe('validation_failed');
  });

  it('SD2 lists at least three packages and eight styles, each with a preview', async () => {
    const packages = (await stack.api('GET', '/v1/packages')).body.items;
    expect(packages.length).toBeGreaterThanOrEqual(3);
    const styles = (await stack.api('GET', '/v1/styles')).body.items;
    expect(styles.length).toBeGreaterThanOrEqual(8);
    const preview = await stack.api('GET', styles[0].preview_url);
    expect(preview.headers.get('content-type')).toBe('image/png');
    expect((await sharp(preview.body).metadata()).format).toBe('png');
  });

  it('SD3 delivers by email with a link to the order, never an attachment, and notifies each status change once', async () => {
    const mails = await until(async () => {
      const m = stack.postmark.to(delivered.email).filter((x) => x.Tag?.startsWith('order-'));
      return m.length >= 3 && m;
    }, 10_000, 'status emails');
    const ready = mails.find((m) => m.Tag === 'order-ready')!;
    expect(ready.TextBody).toContain(`/orders/${delivered.orderId}`);
    expect(ready.TextBody).not.toMatch(/downloads\//);
    expect(ready).not.toHaveProperty('Attachments');
    expect(mails.map((m) => m.Tag).sort()).toEqual(['order-processing', 'order-ready', 'order-received']);
  });

  it('SC5 a signed link works for its owner while valid and is refused once altered or expired', async () => {
    const me = await signUp(stack);
    const up = await upload(me.token, 'astronaut.png');
    const order = await orderAndWait(me.token, [up.body.id]);
    const link = await stack.api('POST', `/v1/headshots/${order.headshots[0].id}/link`, { token: me.token });
    expect(link.status).toBe(201);
    const expiresIn = Date.parse(link.body.expires_at) - stack.clock.now().getTime();
    expect(expiresIn).toBeLessThanOrEqual(15 * 60_000);
    const path = new URL(link.body.url).pathname;

    const ok = await stack.api('GET', path);
    expect(ok.status).toBe(200);
    expect((await sharp(ok.body).metadata()).format).toBe('jpeg');

    const tampered = path.slice(0, -3) + (path.endsWith('AAA') ? 'BBB' : 'AAA');
    expect((await stack.api('GET', tampered)).body.code).toBe('link_invalid');

    stack.clock.advance(stack.config.DOWNLOAD_LINK_TTL_SECONDS * 1000 + 1000);
    const late = await stack.api('GET', path);
    expect(late.status).toBe(410);
    expect(late.body.code).toBe('link_expired');
  });

  it('SD1 chelsea.png and coffee.png get a no-face verdict and the order fails with a reason', async () => {
    const me = await signUp(stack);
    const cat = await upload(me.token, 'chelsea.png');
    const cup = await upload(me.token, 'coffee.png');
    const order = await orderAndWait(me.token, [cat.body.id, cup.body.id]);
    expect(order.status).toBe('failed');
    expect(order.failure.code).toBe('no_usable_photo');
    for (const p of order.photos) {
      expect(p.status).toBe('rejected');
      expect(p.verdict.reasons.map((r: { code: string }) => r.code)).toContain('no_face');
      expect(p.verdict.reasons[0].message).toMatch(/face/);
    }
    const failed = await until(async () => stack.postmark.to(me.email).find((m) => m.Tag === 'order-failed'), 10_000, 'failure email');
    expect(failed.TextBody).toContain(order.id);
  });
});
