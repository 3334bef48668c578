import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QUEUE_NAMES } from '../../core/platform/jobs';
import { freePort, startRedis } from '../faults/support';
import { fixture, orderSettled, signUp, startStack, until, uploadJudged, type Stack } from '../support/stack';

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key without one, mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * A private redis-server in cluster mode owning all 16384 slots: it refuses any command or script
 * whose declared keys span slots (CROSSSLOT), as every node of a real cluster does, and answers
 * CLUSTER KEYSLOT. Every key in it was made by this file's order.
 */
let redis: Awaited<ReturnType<typeof startRedis>>;
let dir: string;
let client: Redis;
let stack: Stack;
const prefix = `{t${Date.now().toString(36)}}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-cluster-'));
  redis = await startRedis(await freePort(), ['--cluster-enabled', 'yes', '--dir', dir]);
  client = new Redis(redis.url);
  await client.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await until(
    async () => String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok'),
    10_000,
    'cluster state ok',
  );
  stack = await startStack({
    role: 'all',
    env: { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, RATE_LIMIT_UPLOADS: '50' },
  });
});

afterAll(async () => {
  await stack?.stop();
  client?.disconnect();
  await redis?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('Redis Cluster: the queue prefix is a hash tag', () => {
  it('computes key slots as Redis does', async () => {
    for (const key of ['foo', '123456789', '{user1000}.following', 'a{}b', `${prefix}:analysis:wait`]) {
      expect(keySlot(key)).toBe(Number(await client.call('CLUSTER', 'KEYSLOT', key)));
    }
    expect(keySlot('foo')).toBe(12182); // the example in Redis' cluster specification
  });

  it('refuses BullMQ with a prefix that is not a hash tag (what the tag prevents)', async () => {
    const plain = new Queue('analysis', {
      connection: { host: '127.0.0.1', port: Number(new URL(redis.url).port), maxRetriesPerRequest: 1 },
      prefix: 'plain',
    });
    try {
      await expect(plain.add('photo.analyse', {})).rejects.toThrow(/CROSSSLOT/);
    } finally {
      await plain.close();
      const made = await client.keys('plain:*'); // the queue's meta key, written before the refused script
      if (made.length) await client.del(...made);
    }
  });

  it('runs one order end to end on a cluster node, and every key it made shares the prefix slot', async () => {
    const me = await signUp(stack);
    // Upload, verdict (preparation and analysis jobs), order, render and delivery: every queue's keys.
    const up = await uploadJudged(stack, me.token, await fixture('astronaut.png'), 'astronaut.png');
    expect(up.status).toBe('usable');
    const order = await orderSettled(stack, me.token, up.id);
    expect(order.status).toBe('ready');
    await until(
      async () => stack.postmark.to(me.email).some((m) => m.Tag === 'order-ready'),
      10_000,
      'the ready email',
    );

    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');

    // The run touched every pipeline queue, the sweeps' job schedulers and the upload rate limit.
    for (const q of [
      'preparation',
      'analysis',
      'rendering',
      'delivery',
      'sweeps',
    ] satisfies (typeof QUEUE_NAMES)[number][]) {
      expect(
        keys.some((k) => k.startsWith(`${prefix}:${q}:`)),
        `keys of queue ${q}`,
      ).toBe(true);
    }
    expect(keys.some((k) => k.startsWith(`${prefix}:rl:uploads:`))).toBe(true);
    expect(keys.length).toBeGreaterThan(20);

    const slot = keySlot(prefix);
    const strays = keys.filter((k) => !k.startsWith(`${prefix}:`) || keySlot(k) !== slot);
    expect(strays).toEqual([]);
    for (const k of keys.slice(0, 50)) expect(Number(await client.call('CLUSTER', 'KEYSLOT', k))).toBe(slot);
  });
});
