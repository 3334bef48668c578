import path from 'node:path';
import express, { type Express } from 'express';
import { HttpError, sendProblem } from './problem';

/**
 * The reference web client (web/, built by `npm run web:build` to web/dist) at /app/, in local mode
 * only; production serves those static files from a CDN. helmet's CSP applies: everything the page
 * loads comes from 'self' (its script, styles, the API, signed download links), previews of the
 * person's own files are data: URLs.
 */
export function mountWebClient(app: Express, dir = path.resolve('web/dist')): void {
  app.use('/app', express.static(dir, { index: 'index.html' }));
  app.use('/app', (_req, res) =>
    sendProblem(
      res,
      new HttpError(404, 'web_client_not_built', 'Web client not built', 'Run `npm run web:build` to build web/dist.'),
    ),
  );
}
