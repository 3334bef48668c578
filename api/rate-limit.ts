import type { NextFunction, Request, Response } from 'express';
import type { Config } from '../core/platform/config';
import type { User } from '../core/platform/records';
import { ctxOf } from './auth';
import { HttpError } from './problem';

/** Each limited action and the settings that size it. Counters are per person when signed in, else per address. */
const RULES = {
  'sign-in': (c: Config) => [c.RATE_LIMIT_SIGN_IN, c.RATE_LIMIT_SIGN_IN_WINDOW_SECONDS],
  uploads: (c: Config) => [c.RATE_LIMIT_UPLOADS, c.RATE_LIMIT_UPLOADS_WINDOW_SECONDS],
  rights: (c: Config) => [c.RATE_LIMIT_RIGHTS, c.RATE_LIMIT_RIGHTS_WINDOW_SECONDS],
} satisfies Record<string, (c: Config) => [number, number]>;

/**
 * Fixed-window counters in Redis, keyed by the window number of the service clock, so every API
 * process shares them and tests move the clock instead of waiting (SC4). Answers carry the
 * RateLimit-* headers; a refusal is 429 rate_limited with Retry-After.
 */
export type RateLimitName = keyof typeof RULES;

export function rateLimit(name: RateLimitName) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const ctx = ctxOf(req);
      const [limit, windowSeconds] = RULES[name](ctx.config);
      // A signed-in person (also on a route with optional sign-in, inquiries) is counted as
      // themself, not with everyone behind their address.
      const user = res.locals.user as User | undefined;
      const who = user ? `u:${user.id}` : `ip:${req.ip}`;
      const nowSeconds = Math.floor(ctx.clock.now().getTime() / 1000);
      const window = Math.floor(nowSeconds / windowSeconds);
      const key = `${ctx.config.QUEUE_PREFIX}:rl:${name}:${who}:${window}`;
      const [[, count]] = (await ctx.redis
        .multi()
        .incr(key)
        .expire(key, windowSeconds * 2)
        .exec()) as [[Error | null, number]];
      const reset = (window + 1) * windowSeconds - nowSeconds;
      res.setHeader('RateLimit-Limit', String(limit));
      res.setHeader('RateLimit-Remaining', String(Math.max(0, limit - count)));
      res.setHeader('RateLimit-Reset', String(reset));
      if (count > limit) {
        res.setHeader('Retry-After', String(reset));
        return next(new HttpError(429, 'rate_limited', 'Too many requests', `Try again in ${reset} seconds.`));
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}
