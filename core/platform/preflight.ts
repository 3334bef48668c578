import net from 'node:net';
import type { Config } from './config';

/** Checks Postgres and Redis answer before anything else, so a missing service is named at once. */
export async function preflight(config: Config): Promise<string[]> {
  const problems: string[] = [];
  const probe = (url: string, defPort: number) =>
    new Promise<boolean>((resolve) => {
      const u = new URL(url);
      const socket = net.connect({ host: u.hostname, port: Number(u.port || defPort), timeout: 2000 });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  if (!(await probe(config.DATABASE_URL, 5432))) {
    problems.push(
      `PostgreSQL is not reachable at ${new URL(config.DATABASE_URL).host} (DATABASE_URL). Start it, e.g. \`docker compose up -d postgres\` or \`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\`.`,
    );
  }
  if (!(await probe(config.REDIS_URL, 6379))) {
    problems.push(
      `Redis is not reachable at ${new URL(config.REDIS_URL).host} (REDIS_URL). Start it, e.g. \`docker compose up -d redis\` or \`redis-server --daemonize yes\`.`,
    );
  }
  return problems;
}
