/**
 * Uploads and live status. fetch cannot report upload progress in every browser, so a selfie goes
 * up with XMLHttpRequest (the same multipart body the typed client's uploadPhoto sends); the photo
 * events stream needs a bearer token, which EventSource cannot send, so it is read with fetch.
 */
import type { Photo, Problem } from '../../clients/typescript/src/index';
import { API_BASE, ProblemError, session } from './api';

export function uploadWithProgress(file: File, onProgress: (fraction: number) => void): Promise<Photo> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('photo', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${API_BASE}/v1/photos`);
    if (session.token) xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = {};
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as Photo);
      else reject(new ProblemError(xhr.status, body as Partial<Problem>));
    };
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.send(form);
  });
}

export interface PhotoEvent {
  id: string;
  status: Photo['status'];
}

/** Follows GET /v1/photos/events until the signal aborts; reconnects after a dropped connection. */
export async function followPhotoEvents(onEvent: (e: PhotoEvent) => void, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await fetch(`${API_BASE}/v1/photos/events`, {
        headers: { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream' },
        signal,
      });
      if (!res.ok || !res.body)
        throw new ProblemError(res.status, (await res.json().catch(() => ({}))) as Partial<Problem>);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (/^event: photo$/m.test(block) && data) onEvent(JSON.parse(data.slice(6)) as PhotoEvent);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ProblemError && err.status < 500 && err.status !== 429) throw err;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
