import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';
import { ConfigError, type Config } from './config';

/**
 * The one place a Redis connection is described, for every connection a role opens (queues, workers,
 * rate limits, photo events, the scheduler): REDIS_URL's host and port, its user and password (Redis
 * ACL; percent-encoded in the URL), the database index in its path, and TLS for `rediss://`,
 * verified against REDIS_TLS_CA_FILE when set, else Node's public CAs (and NODE_EXTRA_CA_CERTS).
 */
export type RedisAddress = Pick<RedisOptions, 'host' | 'port' | 'username' | 'password' | 'db' | 'tls'>;

export function redisOptions(config: Pick<Config, 'REDIS_URL' | 'REDIS_TLS_CA_FILE'>): RedisAddress {
  const u = new URL(config.REDIS_URL);
  const options: RedisAddress = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port || 6379),
    username: decodeURIComponent(u.username) || undefined,
    password: decodeURIComponent(u.password) || undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
  };
  if (u.protocol === 'rediss:') options.tls = config.REDIS_TLS_CA_FILE ? { ca: readCa(config.REDIS_TLS_CA_FILE) } : {};
  return options;
}

const cas = new Map<string, Buffer>();
/** Read once a process: every connection of a role shares the file's contents. */
function readCa(file: string): Buffer {
  let ca = cas.get(file);
  if (!ca) {
    try {
      ca = readFileSync(file);
    } catch (err) {
      throw new ConfigError(
        `Invalid configuration:\n  REDIS_TLS_CA_FILE: cannot read ${file} (${(err as Error).message})`,
      );
    }
    cas.set(file, ca);
  }
  return ca;
}
