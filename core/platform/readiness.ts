import { sql } from 'kysely';
import type { AppContext } from './context';

export type Readiness = {
  ok: boolean;
  checks: { postgres: 'ok' | 'down'; redis: 'ok' | 'down'; storage: 'ok' | 'down' };
};

/** Whether the services a role needs answer, each within 2 s: Postgres, Redis and the object store. */
export async function readiness(ctx: AppContext): Promise<Readiness> {
  const within = <T>(p: Promise<T>) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
  const check = (f: () => Promise<unknown>) =>
    within(f()).then(
      () => 'ok' as const,
      () => 'down' as const,
    );
  const [postgres, redis, storage] = await Promise.all([
    check(() => sql`select 1`.execute(ctx.db)),
    check(() => ctx.queues.ping()),
    check(() => ctx.storage.ping()),
  ]);
  const checks = { postgres, redis, storage };
  return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
}
