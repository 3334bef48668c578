import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logger';

/**
 * API_PROCESSES > 1 on one host: this primary process forks that many API processes, which share
 * the port (node:cluster hands out connections round-robin) and each run the whole API with its own
 * UPLOAD_CONCURRENCY slots. The API is stateless (rate limits live in Redis), so nothing else is
 * shared. A process that dies is started again; SIGTERM is passed on to every process, and the
 * primary exits once all have finished their requests.
 */
export function superviseApiProcesses(count: number, logger: Logger): void {
  let stopping = false;
  const start = (): Worker => {
    const w = cluster.fork();
    w.on('exit', (exitCode, signal) => {
      if (stopping) return;
      logger.error({ pid: w.process.pid, exitCode, signal }, 'api process exited; starting another');
      setTimeout(start, 1000).unref();
    });
    return w;
  };
  for (let i = 0; i < count; i++) start();
  logger.info({ processes: count }, 'api processes started');

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    logger.info({ signal, processes: running.length }, 'stopping api processes');
    let failed = false;
    void Promise.all(
      running.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', (exitCode, sig) => {
              // Killed by the signal itself: it was still starting (no handler yet), so nothing was in flight.
              const clean = exitCode === 0 || sig === signal;
              if (!clean)
                logger.error({ pid: w.process.pid, exitCode, signal: sig }, 'api process did not stop cleanly');
              failed ||= !clean;
              resolve();
            });
            w.process.kill(signal);
          }),
      ),
    ).then(() => process.exit(failed ? 1 : 0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
