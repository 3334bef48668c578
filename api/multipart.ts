import { finished } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { sniffImageType, type ImageType } from '../core/photos/images';
import { HttpError } from './problem';

export interface UploadedFile {
  data: Buffer;
  type: ImageType;
  fields: Record<string, string>;
}

/** What a request may carry beyond the photo itself: multipart boundaries, part headers, small fields. */
export const MULTIPART_ENVELOPE_BYTES = 64 * 1024;

/**
 * Reads one file field from a multipart body as it streams in: the type is told from the first
 * bytes and the size is counted as they arrive, so a wrong type or an oversized body is refused
 * without reading the rest. Nothing is written anywhere until the whole file checks out.
 */
export function readSingleImage(req: Request, opts: { field: string; maxBytes: number }): Promise<UploadedFile> {
  return new Promise((resolve, reject) => {
    if (!req.headers['content-type']?.startsWith('multipart/form-data')) {
      return reject(
        new HttpError(
          415,
          'multipart_required',
          'Multipart body required',
          `Send the photo as multipart/form-data in the field "${opts.field}".`,
        ),
      );
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > opts.maxBytes + MULTIPART_ENVELOPE_BYTES) {
      return reject(
        new HttpError(413, 'upload_too_large', 'Upload too large', `Photos may be at most ${opts.maxBytes} bytes.`),
      );
    }
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { files: 1, fileSize: opts.maxBytes, fields: 10, fieldSize: 1024, parts: 12 },
      });
    } catch {
      return reject(new HttpError(400, 'malformed_multipart', 'Malformed multipart body'));
    }
    const fields: Record<string, string> = {};
    let file: { chunks: Buffer[]; type: ImageType | null; bytes: number } | undefined;
    let failed: HttpError | undefined;
    const fail = (err: HttpError) => {
      if (failed) return;
      failed = err;
      req.unpipe(bb);
      req.resume();
      reject(err);
    };
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (name, stream) => {
      // A body cut off mid-file errors the file stream too; unheard, that error would crash the process.
      stream.on('error', () =>
        fail(
          new HttpError(
            400,
            'malformed_multipart',
            'Malformed multipart body',
            'The multipart body could not be parsed.',
          ),
        ),
      );
      if (name !== opts.field || file) {
        stream.resume();
        return;
      }
      const f: { chunks: Buffer[]; type: ImageType | null; bytes: number } = { chunks: [], type: null, bytes: 0 };
      file = f;
      stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        f.bytes += chunk.length;
        f.chunks.push(chunk);
        if (f.type === null && f.bytes >= 12) {
          f.type = sniffImageType(Buffer.concat(f.chunks).subarray(0, 32));
          if (!f.type)
            fail(
              new HttpError(
                415,
                'unsupported_type',
                'Unsupported file type',
                'Upload a JPEG, PNG, WebP or HEIC photo; the type is read from the file content.',
              ),
            );
        }
      });
      stream.on('limit', () =>
        fail(
          new HttpError(413, 'upload_too_large', 'Upload too large', `Photos may be at most ${opts.maxBytes} bytes.`),
        ),
      );
    });
    bb.on('error', () =>
      fail(
        new HttpError(
          400,
          'malformed_multipart',
          'Malformed multipart body',
          'The multipart body could not be parsed.',
        ),
      ),
    );
    bb.on('close', () => {
      if (failed) return;
      // A part that arrived with no bytes was sent: saying "no photo" would send the person looking for the wrong mistake.
      if (file && file.bytes === 0)
        return fail(
          new HttpError(
            400,
            'empty_file',
            'The photo is empty',
            `The file in the field "${opts.field}" has 0 bytes. Choose the photo again; it may not have finished saving or copying.`,
          ),
        );
      if (!file)
        return fail(
          new HttpError(
            400,
            'missing_file',
            'No photo in the request',
            `Send the photo in the multipart field "${opts.field}".`,
          ),
        );
      const data = Buffer.concat(file.chunks);
      const type = file.type ?? sniffImageType(data);
      if (!type)
        return fail(
          new HttpError(
            415,
            'unsupported_type',
            'Unsupported file type',
            'Upload a JPEG, PNG, WebP or HEIC photo; the type is read from the file content.',
          ),
        );
      resolve({ data, type, fields });
    });
    // A client that goes away mid-body (or is cut off by the request timeout), also while it
    // waited for an upload slot, ends the read here, so the slot is given back; busboy alone would
    // wait for the rest for ever. finished() reports a request that closed before this began, too.
    finished(req, (err) => {
      if (err)
        fail(
          new HttpError(
            400,
            'malformed_multipart',
            'Incomplete multipart body',
            'The connection closed before the whole body arrived.',
          ),
        );
    });
    req.pipe(bb);
  });
}
