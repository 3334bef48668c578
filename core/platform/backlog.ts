import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName, Queues } from './jobs';

/**
 * A queue's real demand, read from BullMQ's own keys (bullmq 6.7; its Lua scripts keep them so):
 * - `wait` (a list; the tail is taken next) and `prioritized` (a sorted set): ready to run;
 * - `delayed` (a sorted set scored dueAt * 0x1000 + a sequence number): a retry waiting out its
 *   backoff, or a scheduled sweep. Only a running worker moves a due one to `wait`, so with no
 *   worker a due job would wait for ever: due ones count;
 * - `active` (a list): a job being run holds `<queue key>:<jobId>:lock` (a key with an expiry the
 *   worker renews); a job whose worker was killed keeps its place in `active` with no lock, and
 *   only another worker's stalled-job check moves it back: an active job without a lock counts;
 * - `meta`'s `paused` field: a paused queue keeps its lists but no worker takes from it, so it is
 *   no demand at all (what it holds still shows in `waiting`).
 * One script, so the figures are one consistent reading; all keys share the queue's hash tag.
 */
const SCRIPT = `
local rcall = redis.call
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local oldest = nil
local function consider(t)
  if t and (oldest == nil or t < oldest) then oldest = t end
end
-- When a job became ready to run: added, plus the delay it was added with (a sweep's next run).
local function readyAt(id)
  local f = rcall('HMGET', prefix .. id, 'timestamp', 'opts')
  local ts = tonumber(f[1])
  if not ts then return nil end
  local ok, opts = pcall(cjson.decode, f[2] or '{}')
  local delay = (ok and type(opts) == 'table' and tonumber(opts['delay'])) or 0
  return ts + delay
end
local waiting = rcall('LLEN', KEYS[1])
if waiting > 0 then consider(readyAt(rcall('LINDEX', KEYS[1], -1))) end
local prioritized = rcall('ZCARD', KEYS[2])
if prioritized > 0 then consider(readyAt(rcall('ZRANGE', KEYS[2], 0, 0)[1])) end
local due = rcall('ZCOUNT', KEYS[3], 0, (now + 1) * 0x1000 - 1)
if due > 0 then consider(math.floor(tonumber(rcall('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]) / 0x1000)) end
local running, orphaned = 0, 0
for _, id in ipairs(rcall('LRANGE', KEYS[4], 0, -1)) do
  if rcall('EXISTS', prefix .. id .. ':lock') == 1 then
    running = running + 1
  else
    orphaned = orphaned + 1
    consider(tonumber(rcall('HGET', prefix .. id, 'processedOn')))
  end
end
return { rcall('HEXISTS', KEYS[5], 'paused'), waiting, prioritized, due, orphaned, running, oldest or -1 }
`;

export interface Backlog {
  /** Jobs that need a worker now: waiting + prioritized + delayedDue + orphaned; 0 while paused. */
  backlog: number;
  paused: boolean;
  waiting: number;
  prioritized: number;
  delayedDue: number;
  /** Active jobs whose lock has lapsed: their worker is gone. */
  orphaned: number;
  /** Active jobs with a live lock: a worker is on them (not backlog). */
  running: number;
  /** How long the longest-ready job of those above has been ready (seconds; 0 with none). */
  oldestSeconds: number;
}

export async function queueBacklog(redis: Redis, queue: Queue, now: Date): Promise<Backlog> {
  const k = queue.keys;
  const [paused, waiting, prioritized, delayedDue, orphaned, running, oldest] = (await redis.eval(
    SCRIPT,
    5,
    k.wait,
    k.prioritized,
    k.delayed,
    k.active,
    k.meta,
    queue.toKey(''),
    now.getTime(),
  )) as number[];
  const demand = waiting + prioritized + delayedDue + orphaned;
  return {
    backlog: paused ? 0 : demand,
    paused: paused === 1,
    waiting,
    prioritized,
    delayedDue,
    orphaned,
    running,
    oldestSeconds: oldest < 0 ? 0 : Math.max(0, now.getTime() - oldest) / 1000,
  };
}

/** Every queue's backlog, by queue name: what GET /backlog answers (KEDA's metrics-api trigger reads `<queue>.backlog`). */
export async function backlogs(redis: Redis, queues: Queues, now: Date): Promise<Record<QueueName, Backlog>> {
  const entries = await Promise.all(
    Object.entries(queues.byName).map(async ([name, q]) => [name, await queueBacklog(redis, q, now)] as const),
  );
  return Object.fromEntries(entries) as Record<QueueName, Backlog>;
}
