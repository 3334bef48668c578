import { Redis } from 'ioredis';
import type { AppContext } from '../platform/context';
import { redisOptions } from '../platform/redis';
import type { PhotoStatus } from '../platform/db';

/**
 * A photo's status changes, published by the workers on one Redis channel and followed by the
 * API's server-sent events stream (GET /v1/photos/events). An event holds ids and the status only,
 * never personal data; the API hands each one only to its owner's streams.
 */
export interface PhotoEvent {
  user: string;
  id: string;
  status: PhotoStatus;
}

const channelOf = (ctx: AppContext) => `${ctx.config.QUEUE_PREFIX}:photo-status`;

/** Best effort: a lost event costs a client one poll, never a wrong state (Postgres holds the truth). */
export async function publishPhotoStatus(ctx: AppContext, event: PhotoEvent): Promise<void> {
  await ctx.redis
    .publish(channelOf(ctx), JSON.stringify(event))
    .catch((err: Error) =>
      ctx.logger.warn({ err: err.message, photoId: event.id }, 'photo status event not published'),
    );
}

type Listener = (event: PhotoEvent) => void;

/** One subscriber connection per API process, opened at the first stream and shared by all. */
export class PhotoEventHub {
  private subscriber?: Redis;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly ctx: AppContext) {}

  /** Calls `listener` with each of `userId`'s photo events until the returned function is called. */
  async follow(userId: string, listener: Listener): Promise<() => void> {
    if (!this.subscriber) {
      const sub = new Redis({ ...redisOptions(this.ctx.config), lazyConnect: true, maxRetriesPerRequest: null });
      sub.on('error', (err) => this.ctx.logger.warn({ err: err.message }, 'photo events subscriber error'));
      sub.on('message', (_channel: string, message: string) => {
        let event: PhotoEvent;
        try {
          event = JSON.parse(message) as PhotoEvent;
        } catch {
          return;
        }
        for (const l of this.listeners.get(event.user) ?? []) l(event);
      });
      this.subscriber = sub;
      await sub.subscribe(channelOf(this.ctx));
    }
    let set = this.listeners.get(userId);
    if (!set) {
      set = new Set();
      this.listeners.set(userId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(userId);
    };
  }

  /** Streams of this user open in this process (each stream holds a listener). */
  streamsOf(userId: string): number {
    return this.listeners.get(userId)?.size ?? 0;
  }

  close(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.listeners.clear();
  }
}
