import type { AppContext } from '../core/platform/context';
import { loadConfig } from '../core/platform/config';
import { createLogger } from '../core/platform/logger';
import { createApp } from './app';
import { buildOpenApiDocument } from './openapi';

/** The server the committed document names: PUBLIC_URL's default. */
export const DOCUMENT_SERVER = 'http://localhost:3000';

/**
 * The OpenAPI document as the app serves it, built without a database, Redis, S3 or a listening
 * server: route registration needs only the configuration and (for Bull Board) the queues' names.
 * Call once per process (routes register into one module-level registry).
 */
export function offlineOpenApiDocument(): unknown {
  const ctx = {
    config: loadConfig({}),
    logger: createLogger('silent'),
    queues: { byName: {} },
    publicUrl: DOCUMENT_SERVER,
  } as unknown as AppContext;
  createApp(ctx);
  return buildOpenApiDocument(DOCUMENT_SERVER);
}
