import cluster from 'node:cluster';
import { loadConfig, ConfigError, type Config } from './core/platform/config';
import type { ContextOptions } from './core/platform/context';
import { superviseApiProcesses } from './core/platform/api-processes';
import { createLogger } from './core/platform/logger';
import { preflight } from './core/platform/preflight';
import { listen, stopRunning, type Role, type Running } from './core/platform/roles';
import { serveMetrics } from './core/platform/metrics-server';

/**
 * One codebase, one image; the role is chosen at start:
 *   api | worker | scheduler | all (local use) | migrate
 */
export async function startRole(
  role: Role,
  config: Config,
  opts: ContextOptions & { port?: number } = {},
): Promise<Running> {
  const { createContext } = await import('./core/platform/context');
  const ctx = await createContext(config, opts);
  const running: Omit<Running, 'stop'> = { ctx, workers: [] };
  try {
    if (role === 'api' || role === 'all') {
      const { createApp } = await import('./api/app');
      const { server, port } = await listen(createApp(ctx), opts.port ?? config.PORT, {
        timeoutSeconds: config.HTTP_REQUEST_TIMEOUT_SECONDS,
      });
      running.server = server;
      running.url = `http://127.0.0.1:${port}`;
      if (config.NODE_ENV !== 'production' && new URL(config.PUBLIC_URL).port !== String(port))
        ctx.publicUrl = running.url;
      ctx.logger.info({ port, docs: `${ctx.publicUrl}/docs` }, 'api listening');
    }
    // Loaded only by the roles that run them: an API process never loads ONNX Runtime or the models,
    // and an API_PROCESSES primary, which only supervises, loads neither.
    if (role === 'worker' || role === 'all')
      running.workers.push(await (await import('./worker')).startPipelineWorkers(ctx));
    if (role === 'scheduler' || role === 'all')
      running.workers.push(await (await import('./scheduler')).startScheduler(ctx));
    // Roles without the API serve their own /metrics (job durations, inference times) when asked to.
    if ((role === 'worker' || role === 'scheduler') && config.METRICS_PORT)
      running.server = (await serveMetrics(ctx, config.METRICS_PORT)).server;
  } catch (err) {
    await stopRunning(running);
    throw err;
  }
  return { ...running, stop: () => stopRunning(running) };
}

async function main(): Promise<void> {
  const arg = process.argv[2] ?? 'all';
  if (!['api', 'worker', 'scheduler', 'all', 'migrate', 'healthcheck'].includes(arg)) {
    console.error(`Unknown role "${arg}". Use one of: api, worker, scheduler, all, migrate, healthcheck.`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(78);
    }
    throw err;
  }
  const problems = await preflight(config);
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(69);
  }
  // For container health checks of roles without an HTTP port: the services they need answer.
  if (arg === 'healthcheck') return;
  if (arg === 'migrate') {
    const { createContext } = await import('./core/platform/context');
    const ctx = await createContext(config, { migrate: true });
    await ctx.close();
    return;
  }
  if (arg === 'api' && config.API_PROCESSES > 1 && cluster.isPrimary)
    return superviseApiProcesses(config.API_PROCESSES, createLogger(config.LOG_LEVEL));
  const running = await startRole(arg as Role, config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.ctx.logger.info({ signal }, 'shutting down: finishing active jobs');
    running.stop().then(
      () => process.exit(0),
      (err) => {
        running.ctx.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
