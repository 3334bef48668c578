import type { Redis } from 'ioredis';

/**
 * When each sweep last finished, in one Redis hash beside the queues (sweep name → epoch ms), so any
 * role can report it and a stopped scheduler is seen by the API's /metrics too. Not a queue key:
 * `ops:` is no queue name.
 */
const keyOf = (prefix: string) => `${prefix}:ops:sweep-success`;

export async function recordSweepSuccess(redis: Redis, prefix: string, sweep: string, at: Date): Promise<void> {
  await redis.hset(keyOf(prefix), sweep, String(at.getTime()));
}

export async function lastSweepSuccesses(redis: Redis, prefix: string): Promise<Record<string, number>> {
  const all = await redis.hgetall(keyOf(prefix));
  return Object.fromEntries(Object.entries(all).map(([sweep, ms]) => [sweep, Number(ms)]));
}
