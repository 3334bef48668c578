import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../core/platform/payment-processor';
import { fixture, signUp, startStack, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
let token: string;
let photos: Record<'portrait' | 'copy' | 'other', string>;
beforeAll(async () => {
  // API only, and the local processor does not confirm by itself: the test pays when it is ready.
  stack = await startStack({ role: 'api', env: { LOCAL_PAYMENT_AUTO_CONFIRM: 'false' } });
  ({ token } = await signUp(stack));
  const a = await fixture('astronaut.png');
  photos = {
    portrait: (await uploadJudged(stack, token, a)).id,
    copy: (await uploadJudged(stack, token, await sharp(a).webp({ quality: 80 }).toBuffer(), 'copy.webp', 'image/webp'))
      .id,
    other: (await uploadJudged(stack, token, await sharp(a).flop().png().toBuffer())).id,
  };
});
afterAll(async () => {
  await stack?.stop();
});

const order = (id: string) => stack.api('GET', `/v1/orders/${id}`, { token });
const exclude = (id: string, photoId: string, excluded = true) =>
  stack.api('PATCH', `/v1/orders/${id}/photos/${photoId}`, { token, json: { excluded } });
const chosen = (o: { selection: { photo_id: string; chosen: boolean }[] }) =>
  o.selection
    .filter((c) => c.chosen)
    .map((c) => c.photo_id)
    .sort();

describe('SD2 the order shows which photos its headshots are made from, and why', () => {
  it('SD2 before paying: the selection with scores and parts, copies counted once, photos left out, never all of them', async () => {
    const created = await stack.api('POST', '/v1/orders', {
      token,
      json: { package_id: 'professional', style_ids: ['studio-grey'], photo_ids: Object.values(photos) },
    });
    expect(created.status).toBe(201);
    const o = created.body.order;
    expect(o.selection).toHaveLength(3);
    for (const c of o.selection) {
      expect(c.score).toBeGreaterThan(0);
      expect(Object.keys(c.parts)).toContain('face_pixels');
    }
    // Two per style: the portrait (or its copy, whichever scored higher) and the other shot.
    expect(chosen(o)).toHaveLength(2);
    expect(chosen(o)).toContain(photos.other);
    const copyRow = o.selection.find((c: { duplicate_of: string | null }) => c.duplicate_of);
    expect([photos.portrait, photos.copy]).toContain(copyRow.photo_id);

    const firstShot = chosen(o).find((id: string) => id !== photos.other)!;
    const left = await exclude(o.id, firstShot);
    expect(left.status).toBe(200);
    expect(left.body.selection.find((c: { photo_id: string }) => c.photo_id === firstShot)).toMatchObject({
      excluded: true,
      chosen: false,
    });
    // Its copy takes its place: leaving out one file does not leave out the shot.
    expect(chosen(left.body)).toEqual([copyRow.photo_id, photos.other].sort());

    // Two headshots were agreed with the price: leaving out a photo they need is refused.
    const short = await exclude(o.id, copyRow.photo_id);
    expect(short.status).toBe(422);
    expect(short.body.code).toBe('fewer_headshots');
    expect(short.body.detail).toMatch(/1 headshots instead of the 2 agreed/);
    expect(chosen((await order(o.id)).body)).toEqual([copyRow.photo_id, photos.other].sort());
    expect(
      (await stack.api('PATCH', `/v1/orders/${o.id}/photos/pho_x`, { token, json: { excluded: true } })).status,
    ).toBe(400);

    // One headshot a style (starter) from two shots: either may go, never both.
    const one = (
      await stack.api('POST', '/v1/orders', {
        token,
        json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photos.portrait, photos.other] },
      })
    ).body.order;
    expect((await exclude(one.id, photos.portrait)).status).toBe(200);
    const none = await exclude(one.id, photos.other);
    expect(none.status).toBe(422);
    expect(none.body.code).toBe('no_photo_left');

    // Paid: the headshots are made from the chosen photo only, and the choice is fixed.
    const payment = await stack.ctx.db
      .selectFrom('payments')
      .selectAll()
      .where('order_id', '=', o.id)
      .executeTakeFirstOrThrow();
    const body = JSON.stringify({
      id: 'evt_selection',
      type: 'payment_intent.succeeded',
      data: {
        object: { id: payment.processor_ref, object: 'payment_intent', amount: payment.amount_cents, currency: 'eur' },
      },
    });
    const paid = await stack.api('POST', '/v1/payments/webhook', {
      body,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()),
      },
    });
    expect(paid.status).toBe(200);
    const headshots = await stack.ctx.db
      .selectFrom('headshots')
      .select('photo_id')
      .where('order_id', '=', o.id)
      .execute();
    expect(headshots.map((h) => h.photo_id).sort()).toEqual([copyRow.photo_id, photos.other].sort());
    const late = await exclude(o.id, photos.portrait, false);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('order_already_paid');
  });
});
