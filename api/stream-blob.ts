import type { Response } from 'express';
import type { AppContext } from '../core/platform/context';
import type { Blob } from '../core/platform/records';

/** Streams a decrypted object to the response; the store only ever holds ciphertext. */
export async function streamBlob(ctx: AppContext, blob: Blob, res: Response, filename?: string): Promise<void> {
  const stream = await ctx.storage.stream(blob);
  res.setHeader('Content-Type', blob.content_type);
  res.setHeader('Content-Length', String(blob.size_bytes));
  res.setHeader('Cache-Control', 'private, no-store');
  if (filename) res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  await new Promise<void>((resolve, reject) => {
    stream.on('error', (err) => {
      res.destroy(err);
      reject(err);
    });
    res.on('finish', resolve);
    res.on('close', resolve);
    stream.pipe(res);
  });
}
