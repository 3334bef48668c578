import type { Job } from 'bullmq';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { recordConsent } from '../../core/privacy/consent';
import { newId } from '../../core/platform/crypto';
import { deleteHeadshots } from '../../core/privacy/deletion';
import { jobId } from '../../core/platform/jobs';
import { WhatsAppClient, WhatsAppError, whatsappClient } from '../../core/platform/whatsapp';
import { sweepHandlers } from '../../scheduler/sweeps';
import { startFakeWhatsApp } from '../support/fake-whatsapp';
import { fixture, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';

const WA_TOKEN = 'test-whatsapp-token';
const WA_PHONE_ID = '109876543210';
let wa: Awaited<ReturnType<typeof startFakeWhatsApp>>;
let stack: Stack;
beforeAll(async () => {
  wa = await startFakeWhatsApp(WA_TOKEN, WA_PHONE_ID);
  stack = await startStack({
    env: { WHATSAPP_API_URL: `${wa.url}/v21.0`, WHATSAPP_TOKEN: WA_TOKEN, WHATSAPP_PHONE_NUMBER_ID: WA_PHONE_ID },
  });
});
afterAll(async () => {
  await stack?.stop();
  await wa?.close();
});

const fakeJob = {} as Job;

/** An order with rendered headshots whose stored JPEGs carry the owner's name in EXIF and XMP. */
async function seedHeadshots(userId: string, name: string, count: number, status: 'ready' | 'received' = 'ready') {
  const { db, storage, clock } = stack.ctx;
  const now = clock.now();
  const orderId = newId('ord');
  await db
    .insertInto('orders')
    .values({
      id: orderId,
      user_id: userId,
      package_id: 'professional',
      styles: JSON.stringify(['studio-grey']),
      status,
      amount_cents: 2900,
      currency: 'usd',
      failure_code: null,
      failure_detail: null,
      created_at: now,
      paid_at: now,
      delivered_at: status === 'ready' ? now : null,
    })
    .execute();
  const headshotIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const jpeg = await sharp({
      create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 120 + i, b: 160 } },
    })
      .jpeg()
      .withExif({ IFD0: { Artist: name, ImageDescription: `Headshot of ${name}` } })
      .withXmp(
        `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>${name}</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>`,
      )
      .toBuffer();
    expect(jpeg.includes(name)).toBe(true);
    const blob = await storage.put(db, { userId, role: 'headshots', contentType: 'image/jpeg', data: jpeg, at: now });
    const id = newId('hs');
    await db
      .insertInto('headshots')
      .values({
        id,
        order_id: orderId,
        user_id: userId,
        photo_id: null,
        style_id: 'studio-grey',
        status: 'rendered',
        blob_id: blob.id,
        width: 64,
        height: 64,
        failure_code: null,
        created_at: now,
        rendered_at: now,
        delivered_at: now,
      })
      .execute();
    headshotIds.push(id);
  }
  return { orderId, headshotIds };
}

const listing = async () => {
  const r = await stack.api('GET', '/v1/portfolio?limit=100');
  expect(r.status).toBe(200);
  return r.body as { items: { id: string; style_id: string; image_url: string }[]; next_cursor: string | null };
};
const itemsOf = async (userId: string) =>
  (await stack.ctx.db.selectFrom('portfolio_items').select('id').where('user_id', '=', userId).execute()).map(
    (r) => r.id,
  );

/** Runs an order.notify job through the real worker and waits until it has finished. */
async function notify(orderId: string, status: 'received' | 'processing' | 'failed', attempt = 'a') {
  const id = jobId('test-notify', orderId, status, attempt);
  await stack.ctx.queues.enqueue('order.notify', { orderId, status }, { jobId: id });
  await until(async () => (await stack.ctx.queues.byName.delivery.getJob(id))?.finishedOn, 15_000, `notify ${status}`);
}

describe('public portfolio', () => {
  it('CN4 headshots appear only with opt-in, without name or metadata, and withdrawal removes them at once', async () => {
    const name = 'Zelda Quintessa';
    const me = await signUp(stack, { name });
    const { orderId, headshotIds } = await seedHeadshots(me.userId, name, 2);

    expect((await listing()).items).toEqual([]);
    expect(await itemsOf(me.userId)).toEqual([]);

    const optIn = await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { portfolio: true } });
    expect(optIn.status).toBe(200);
    const page = await listing();
    expect(page.items).toHaveLength(2);
    for (const item of page.items) {
      expect(Object.keys(item).sort()).toEqual(['id', 'image_url', 'style_id']);
      expect(item.image_url).toBe(`/v1/portfolio/${item.id}/image`);
    }
    const publicJson = JSON.stringify(page);
    for (const secret of [name, me.email, me.userId, orderId, ...headshotIds]) expect(publicJson).not.toContain(secret);

    // Cursor pagination.
    const first = await stack.api('GET', '/v1/portfolio?limit=1');
    expect(first.body.items).toHaveLength(1);
    const second = await stack.api('GET', `/v1/portfolio?limit=1&cursor=${first.body.next_cursor}`);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);

    // The image: public, re-encoded, no EXIF/XMP/ICC, and the name nowhere in its bytes.
    const image = await stack.api('GET', page.items[0].image_url);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(image.body).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 64, height: 64 });
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    expect((image.body as Buffer).includes(name)).toBe(false);
    expect((image.body as Buffer).includes(me.email)).toBe(false);

    // Withdrawal: gone from the listing, the table and the image URL, at once.
    await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { portfolio: false } });
    expect((await listing()).items).toEqual([]);
    expect(await itemsOf(me.userId)).toEqual([]);
    const gone = await stack.api('GET', page.items[0].image_url);
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('not_found');
  });

  it('CN4 a headshot deleted by retention, or an objection recorded elsewhere, takes it out of the portfolio', async () => {
    const me = await signUp(stack, { name: 'Yusuf Obernkirchen' });
    const { headshotIds } = await seedHeadshots(me.userId, 'Yusuf Obernkirchen', 2);
    await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { portfolio: true } });
    const before = await listing();
    expect(before.items).toHaveLength(2);

    await deleteHeadshots(stack.ctx, [headshotIds[0]], 'retention:headshots');
    const after = await listing();
    expect(after.items).toHaveLength(1);
    const removed = before.items.find((i) => !after.items.some((a) => a.id === i.id))!;
    expect((await stack.api('GET', removed.image_url)).status).toBe(404);

    // An objection written straight to the consents table: hidden at once, rows removed by the sweep.
    stack.clock.advance(1000);
    await recordConsent(stack.ctx, me.userId, 'portfolio', false, 'objection');
    expect((await listing()).items).toEqual([]);
    expect((await stack.api('GET', after.items[0].image_url)).status).toBe(404);
    await sweepHandlers['sweep.consent-withdrawals'](stack.ctx, {}, fakeJob);
    await until(async () => (await itemsOf(me.userId)).length === 0, 10_000, 'portfolio rows removed');
  });
});

describe('WhatsApp notifications', () => {
  it('SD4 order status goes to WhatsApp only with a phone on file and the opt-in', async () => {
    const optedIn = await signUp(stack, { phone: '+41791234567' });
    const noOptIn = await signUp(stack, { phone: '+41791234568' });
    const noPhone = await signUp(stack);

    expect(
      (await stack.api('PUT', '/v1/me/consents', { token: optedIn.token, json: { whatsapp: true } })).body.consents
        .whatsapp,
    ).toBe(true);
    const refused = await stack.api('PUT', '/v1/me/consents', { token: noPhone.token, json: { whatsapp: true } });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('phone_required');
    expect((await stack.api('GET', '/v1/me/consents', { token: noPhone.token })).body.consents.whatsapp).toBe(false);
    // Even a consent recorded some other way sends nothing without a phone.
    await recordConsent(stack.ctx, noPhone.userId, 'whatsapp', true, 'test');

    const orders = {
      optedIn: (await seedHeadshots(optedIn.userId, 'Test Person', 0, 'received')).orderId,
      noOptIn: (await seedHeadshots(noOptIn.userId, 'Test Person', 0, 'received')).orderId,
      noPhone: (await seedHeadshots(noPhone.userId, 'Test Person', 0, 'received')).orderId,
    };
    for (const o of Object.values(orders)) await notify(o, 'received');

    expect(wa.sent).toHaveLength(1);
    const [msg] = wa.to('+41791234567');
    expect(msg).toMatchObject({ phoneNumberId: WA_PHONE_ID, to: '41791234567', type: 'text' });
    expect(msg.text!.body).toContain(`/app/#/order?id=${orders.optedIn}`);
    expect(msg.text!.body).not.toContain('Test Person');
    expect(wa.to('+41791234568')).toHaveLength(0);
    // Every one still got the email.
    for (const p of [optedIn, noOptIn, noPhone])
      expect(stack.postmark.to(p.email).some((m) => m.Tag === 'order-received')).toBe(true);
    const row = await stack.ctx.db
      .selectFrom('notifications')
      .selectAll()
      .where('user_id', '=', optedIn.userId)
      .where('channel', '=', 'whatsapp')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ kind: 'order-received', status: 'sent', provider_message_id: 'wamid.fake1' });

    // A retried job sends nothing twice; after withdrawal nothing more is sent.
    await notify(orders.optedIn, 'received', 'retry');
    expect(wa.sent).toHaveLength(1);
    await stack.api('PUT', '/v1/me/consents', { token: optedIn.token, json: { whatsapp: false } });
    await notify(orders.optedIn, 'failed');
    expect(wa.sent).toHaveLength(1);
    expect(stack.postmark.to(optedIn.email).some((m) => m.Tag === 'order-failed')).toBe(true);
  });

  it('SD4 a real order notifies each status over WhatsApp and publishes to an opted-in portfolio', async () => {
    const me = await signUp(stack, { phone: '+447700900123' });
    await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { whatsapp: true, portfolio: true } });
    const up = { body: await uploadJudged(stack, me.token, await fixture('astronaut.png')) };
    expect(up.body.status).toBe('usable');
    const created = await stack.api('POST', '/v1/orders', {
      token: me.token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [up.body.id] },
    });
    expect(created.status).toBe(201);
    const orderId = created.body.order.id as string;
    await until(
      async () => (await stack.api('GET', `/v1/orders/${orderId}`, { token: me.token })).body.status === 'ready',
      60_000,
      'order ready',
    );
    const msgs = await until(
      async () => {
        const m = wa.to('+447700900123');
        return m.length >= 3 && m;
      },
      15_000,
      'three WhatsApp messages',
    );
    const bodies = msgs.map((m) => m.text!.body);
    for (const said of ['We received your payment', 'being made', 'ready. Sign in to download them'])
      expect(bodies.some((b) => b.includes(said))).toBe(true);
    for (const b of bodies) expect(b).toContain(`/app/#/order?id=${orderId}`);
    // Publishing follows the ready message in the same delivery job.
    expect(
      await until(
        async () => (await itemsOf(me.userId)).length === 1 && (await itemsOf(me.userId)),
        10_000,
        'portfolio item',
      ),
    ).toHaveLength(1);
  });

  it('SD4 the client speaks the Cloud API: template messages, Bearer auth, off without a token', async () => {
    const client = new WhatsAppClient(`${wa.url}/v21.0`, WA_TOKEN, WA_PHONE_ID);
    const sent = await client.send('+15551234567', {
      type: 'template',
      name: 'order_update',
      language: 'en_US',
      bodyParams: ['Your headshots are ready.'],
    });
    expect(sent.messageId).toMatch(/^wamid\./);
    expect(wa.to('+15551234567')[0].template).toEqual({
      name: 'order_update',
      language: { code: 'en_US' },
      components: [{ type: 'body', parameters: [{ type: 'text', text: 'Your headshots are ready.' }] }],
    });
    const wrongToken = new WhatsAppClient(`${wa.url}/v21.0`, 'wrong', WA_PHONE_ID);
    await expect(wrongToken.send('+15551234567', { type: 'text', text: 'hi' })).rejects.toBeInstanceOf(WhatsAppError);
    expect(whatsappClient(loadConfig({}))).toBeNull();
  });
});
