import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREPARED_TYPE, makeRenderReady, renderReadyJob } from '../../core/photos/render-ready';
import { Queues } from '../../core/platform/jobs';
import { registry } from '../../core/platform/metrics';
import { deletePhotos, deleteUser } from '../../core/privacy/deletion';
import { PREPARED_VERSION, staleReason } from '../../worker/prepared-form';
import { fixture, signUp, startStack, type Stack, until, uploadJudged } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** Render preparations counted so far, where they were done (rasmi_render_preparations_total). */
async function preparations(at: 'usable' | 'render'): Promise<number> {
  const metric = await registry.getSingleMetric('rasmi_render_preparations_total')!.get();
  return metric.values.find((v) => v.labels.at === at)?.value ?? 0;
}

const photoRow = (id: string) => stack.ctx.db.selectFrom('photos').selectAll().where('id', '=', id).executeTakeFirst();
const blobRow = (id: string) => stack.ctx.db.selectFrom('blobs').selectAll().where('id', '=', id).executeTakeFirst();

/** A usable photo once its render preparation is stored, with that object's blob row. */
async function readyPhoto(token: string) {
  const photo = await uploadJudged(stack, token, await fixture('astronaut.png'));
  expect(photo.status).toBe('usable');
  const row = await until(
    async () => {
      const p = await photoRow(photo.id);
      return p?.prepared_blob_id ? { ...p, prepared_blob_id: p.prepared_blob_id } : undefined;
    },
    120_000,
    'render preparation stored',
  );
  return { id: photo.id, row, blob: (await blobRow(row.prepared_blob_id))! };
}

async function orderOne(token: string, photoId: string) {
  const created = await stack.api('POST', '/v1/orders', {
    token,
    json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
  });
  expect(created.status).toBe(201);
  return until(
    async () => {
      const o = await stack.api('GET', `/v1/orders/${created.body.order.id}`, { token });
      return ['ready', 'failed'].includes(o.body.status) && o.body;
    },
    120_000,
    'order settled',
  );
}

describe('render preparation, made once a photo is judged usable (issue 20)', () => {
  it('a usable photo gets its stored preparation, and its order renders from it without preparing again', async () => {
    const me = await signUp(stack);
    const usableBefore = await preparations('usable');
    const ready = await readyPhoto(me.token);
    expect(await preparations('usable')).toBe(usableBefore + 1);
    // Owned by the person (their deletion removes it), encrypted like the original, of this version and size.
    expect(ready.blob).toMatchObject({ user_id: me.userId, content_type: PREPARED_TYPE });
    expect(await stack.ctx.storage.listKeys('originals')).toContain(ready.blob.object_key);
    const form = await stack.ctx.storage.read(ready.blob);
    expect(staleReason(form, stack.config.HEADSHOT_SIZE)).toBeUndefined();

    const atRender = await preparations('render');
    const order = await orderOne(me.token, ready.id);
    expect(order.status).toBe('ready');
    expect(order.headshots).toHaveLength(1);
    // Read from the store: the render did not prepare the photo on the spot.
    expect(await preparations('render')).toBe(atRender);
  });

  it('a stored preparation of another version is not used: the render prepares on the spot, and still delivers', async () => {
    const me = await signUp(stack);
    const ready = await readyPhoto(me.token);
    const form = Buffer.from(await stack.ctx.storage.read(ready.blob));
    form.writeUInt16LE(PREPARED_VERSION + 1, 4);
    await stack.ctx.storage.replace(ready.blob, form);

    const atRender = await preparations('render');
    const order = await orderOne(me.token, ready.id);
    expect(order.status).toBe('ready');
    expect(await preparations('render')).toBe(atRender + 1);
  });

  it('PH deleting the photo removes its stored preparation, counted in the deletion record', async () => {
    const me = await signUp(stack);
    const ready = await readyPhoto(me.token);
    const res = await stack.api('DELETE', `/v1/photos/${ready.id}`, { token: me.token });
    expect(res.status).toBe(204);
    expect(await blobRow(ready.blob.id)).toBeUndefined();
    expect(await stack.ctx.storage.listKeys('originals')).not.toContain(ready.blob.object_key);
    const record = await stack.ctx.db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_id', '=', ready.id)
      .executeTakeFirstOrThrow();
    // The photo's row and three objects with their rows: the original, its thumbnail, its preparation.
    expect(record).toMatchObject({ subject_kind: 'photo', rows_deleted: 4, objects_deleted: 3 });
    expect(record.details).toMatchObject({ blob: ready.row.blob_id, prepared: ready.blob.id });
  });

  it('RG deleting the account removes every stored preparation of its photos', async () => {
    const me = await signUp(stack);
    const ready = await readyPhoto(me.token);
    await deleteUser(stack.ctx, me.userId, 'test');
    expect(await blobRow(ready.blob.id)).toBeUndefined();
    expect(await stack.ctx.storage.listKeys('originals')).not.toContain(ready.blob.object_key);
  });

  it('a photo deleted while its preparation is being made leaves no object behind', async () => {
    const me = await signUp(stack);
    const ready = await readyPhoto(me.token);
    // A second preparation of a photo that has none stored, during which the photo is deleted.
    await stack.ctx.db.updateTable('photos').set({ prepared_blob_id: null }).where('id', '=', ready.id).execute();
    const keysBefore = new Set(await stack.ctx.storage.listKeys('originals'));
    const blobsBefore = (await stack.ctx.db.selectFrom('blobs').select('id').execute()).length;
    const form = await stack.ctx.storage.read(ready.blob);
    const made = await makeRenderReady(stack.ctx, ready.id, async () => {
      await deletePhotos(stack.ctx, [ready.id], 'test');
      return form;
    });
    expect(made).toBe(false);
    expect(await photoRow(ready.id)).toBeUndefined();
    // The photo's original and thumbnail went with it; the new preparation was removed: no object, no row added.
    const keysAfter = await stack.ctx.storage.listKeys('originals');
    expect(keysAfter.filter((k) => !keysBefore.has(k))).toEqual([]);
    expect((await stack.ctx.db.selectFrom('blobs').select('id').execute()).length).toBe(blobsBefore - 2);
  });

  it('an order placed while its photo is being prepared waits for that preparation, without holding up other orders: each photo is prepared once', async () => {
    const me = await signUp(stack);
    const other = await signUp(stack);
    const [ready, theirs] = [await readyPhoto(me.token), await readyPhoto(other.token)];
    // As just after the verdict: no preparation stored yet, its job still to run (in 2 s).
    await stack.ctx.db.updateTable('photos').set({ prepared_blob_id: null }).where('id', '=', ready.id).execute();
    await (await stack.ctx.queues.byName.analysis.getJob(renderReadyJob(ready.id)))?.remove();
    await stack.ctx.queues.enqueue(
      'photo.prepare-render',
      { photoId: ready.id },
      { jobId: renderReadyJob(ready.id), delay: 2000 },
    );
    const [usableBefore, renderBefore] = [await preparations('usable'), await preparations('render')];
    /** The order once settled, and when. */
    const settled = async (token: string, photoId: string) => ({
      order: await orderOne(token, photoId),
      at: Date.now(),
    });
    const [mine, others] = await Promise.all([
      settled(me.token, ready.id),
      // Ordered just after: its photo is ready, and the one render slot is not held by the wait.
      new Promise((r) => setTimeout(r, 300)).then(() => settled(other.token, theirs.id)),
    ]);
    expect([mine.order.status, others.order.status]).toEqual(['ready', 'ready']);
    expect(others.at).toBeLessThan(mine.at);
    expect(await preparations('usable')).toBe(usableBefore + 1);
    expect(await preparations('render')).toBe(renderBefore);
    expect((await photoRow(ready.id))?.prepared_blob_id).not.toBe(ready.row.prepared_blob_id);
  });

  it('a preparation someone waits for is moved to the front of its queue; a finished or unknown one is not waited for', async () => {
    // Queues of their own, with no worker taking from them.
    const queues = new Queues({ ...stack.config, QUEUE_PREFIX: `hurry-${Date.now()}` });
    try {
      const id = renderReadyJob('pho_hurry1');
      await queues.enqueue('photo.prepare-render', { photoId: 'pho_hurry1' }, { jobId: id });
      const job = (await queues.byName.analysis.getJob(id))!;
      expect([await job.getState(), job.priority]).toEqual(['prioritized', 10]);
      expect(await queues.hurry('photo.prepare-render', id)).toBe(true);
      expect((await queues.byName.analysis.getJob(id))!.priority).toBe(1);
      expect(await queues.hurry('photo.prepare-render', renderReadyJob('pho_hurry2'))).toBe(false);
    } finally {
      await queues.byName.analysis.obliterate({ force: true });
      await queues.close();
    }
  });
});
