import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import type { IncomingMessage, Server } from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, footprint, signUp, startStack, until, type Stack } from '../support/stack';
import {
  bump,
  hostileCase,
  makeBases,
  multipartBody,
  pool,
  sendCase,
  uploadInvariants,
  type Bases,
  type Tally,
} from '../support/hostile-images';

// API only: no worker runs, so every job an upload enqueued is still there to count: one
// photo.prepare per accepted upload, and nothing for a refused one.
let stack: Stack;
let token: string;
let userId: string;
let bases: Bases;
const created: string[] = [];
beforeAll(async () => {
  stack = await startStack({
    role: 'api',
    env: { UPLOAD_MAX_FILES_PER_USER: '100000', HTTP_REQUEST_TIMEOUT_SECONDS: '7' },
  });
  ({ token, userId } = await signUp(stack));
  bases = await makeBases(await fixture('astronaut.png'));
});
afterAll(async () => {
  await stack?.stop();
});

const rawPost = (body: Buffer, contentType: string) =>
  sendCase(stack.url, token, { kind: 'manual', body, contentType, filename: '' });

describe('hostile uploads', () => {
  it('answers 300 generated hostile uploads with a 201 or a 4xx problem, leaving no orphan row, object or job', async () => {
    const tally: Tally = new Map();
    const failures: string[] = [];
    await pool(300, 6, async (i) => {
      const c = hostileCase(bases, 5, i);
      const out = await sendCase(stack.url, token, c);
      bump(tally, out.key);
      if (out.photoId) created.push(out.photoId);
      if (!out.ok) failures.push(`case ${i} (${c.kind}): ${out.key} ${out.why ?? ''}`);
    });
    expect(failures).toEqual([]);
    // The generator must actually reach both outcomes, or it is testing nothing.
    expect(tally.get('201 created')).toBeGreaterThan(10);
    expect([...tally.keys()].filter((k) => k.startsWith('4')).length).toBeGreaterThan(4);
    const inv = await uploadInvariants(stack.ctx, [userId], created);
    expect(inv.problems).toEqual([]);
    expect(inv.photos).toBe(created.length);
  });

  it('keeps traversal and header-injection filenames out of keys, rows and answers', async () => {
    const names = [
      '../../etc/passwd',
      '..\\..\\windows\\win.ini',
      'a.jpg\r\nX-Injected: yes',
      'a.jpg"; name="evil',
      '/etc/shadow',
    ];
    for (const filename of names) {
      const body = multipartBody(
        [{ name: 'photo', filename, type: 'image/jpeg\r\nX-Injected: yes', data: bases.jpeg }],
        'b0undary',
      );
      const res = await fetch(`${stack.url}/v1/photos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=b0undary' },
        body: new Uint8Array(body),
      });
      const text = await res.text();
      // A CRLF in the part header may make the part unreadable (4xx) but never a crash or an echo.
      expect(res.status === 201 || (res.status >= 400 && res.status < 500)).toBe(true);
      expect(res.headers.get('x-injected')).toBeNull();
      for (const needle of ['passwd', 'win.ini', 'shadow', 'X-Injected', 'evil']) expect(text).not.toContain(needle);
      if (res.status === 201) created.push(JSON.parse(text).id);
    }
    const inv = await uploadInvariants(stack.ctx, [userId], created);
    expect(inv.problems).toEqual([]);
  });

  it('refuses a multipart body cut off mid-file with 400 malformed_multipart, and keeps serving', async () => {
    // This crashed the process before: busboy's file stream errored with no listener.
    const whole = multipartBody([{ name: 'photo', filename: 'a.jpg', type: 'image/jpeg', data: bases.jpeg }], 'cut');
    const out = await rawPost(whole.subarray(0, 400), 'multipart/form-data; boundary=cut');
    expect(out.key).toBe('400 malformed_multipart');
    expect((await stack.api('GET', '/healthz')).status).toBe(200);
  });
});

describe('oversized and slow requests', () => {
  it('refuses a JSON body over 100 kB with 413 body_too_large', async () => {
    const res = await stack.api('POST', '/v1/accounts', {
      json: {
        email: 'big@example.com',
        name: 'x'.repeat(120_000),
        confirms_adult: true,
        accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
      },
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('body_too_large');
  });

  it('answers oversized headers with a 4xx (431 from Node) and keeps serving', async () => {
    const res = await fetch(`${stack.url}/healthz`, { headers: { 'x-big': 'a'.repeat(64 * 1024) } }).catch(
      (e: Error) => e,
    );
    if (!(res instanceof Error)) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    expect((await stack.api('GET', '/healthz')).status).toBe(200);
  });

  it('cuts off a client that stalls half-way through a photo within HTTP_REQUEST_TIMEOUT_SECONDS, serves others meanwhile, stores nothing for it and gives its upload slot back', async () => {
    const bound = stack.config.HTTP_REQUEST_TIMEOUT_SECONDS * 1000;
    const slots = stack.config.UPLOAD_CONCURRENCY;
    expect(stack.server!.requestTimeout).toBe(bound);
    expect(stack.server!.headersTimeout).toBe(bound);
    expect(slots).toBeGreaterThanOrEqual(2); // one slot for the staller, one for everybody else
    const requests = watchRequests(stack.server!);
    const stalls: Stall[] = [];
    try {
      const before = await footprint(stack);
      const ownBefore = created.length;
      const stalled = await stallUpload('stall-a', bases.jpeg);
      stalls.push(stalled);
      // Past authentication and the limits: the handler holds an upload slot and reads the body.
      await until(async () => requests.reading('stall-a'), 30_000, 'the stalled upload to be read by its handler');

      // Meanwhile: another upload, the health check and a listing are answered while it is still held.
      const other = await rawPost(
        multipartBody([{ name: 'photo', filename: 'b.jpg', type: 'image/jpeg', data: bases.jpeg }], 'ok'),
        'multipart/form-data; boundary=ok',
      );
      expect(other.key).toBe('201 created');
      created.push(other.photoId!);
      expect((await stack.api('GET', '/healthz')).status).toBe(200);
      const listed = await stack.api('GET', '/v1/photos?limit=100', { token });
      expect(listed.status).toBe(200);
      expect(listed.body.items.map((p: { id: string }) => p.id)).toContain(other.photoId);
      expect(stalled.closedAt()).toBeUndefined(); // still open, still unanswered
      expect(stalled.answer()).toBe('');

      // Cut off by the server within the bound (counted from its first byte), with a 408. Node checks
      // its timeouts every connectionsCheckingInterval (30 s unless set), so wait long enough to measure.
      const cutAfter = await until(
        async () => stalled.closedAt() !== undefined && stalled.closedAt()! - stalled.sentAt,
        bound + 40_000,
        'the server to cut off the stalled upload',
      );
      expect(stalled.answer()).toMatch(/^HTTP\/1\.1 408 /);
      expect(cutAfter).toBeGreaterThanOrEqual(bound - 100); // the timeout cut it, not something else
      // Soft: a late cut-off is reported, and the checks below still run.
      expect
        .soft(cutAfter, `cut off ${cutAfter} ms after its first byte (bound ${bound} ms)`)
        .toBeLessThanOrEqual(bound + CUT_OFF_GRACE_MS);

      // Nothing stored for it: the only new photo, blob, object and job are the other upload's.
      const after = await footprint(stack);
      expect(after).toEqual({
        ...before,
        photos: before.photos + 1,
        blobs: before.blobs + 1,
        objects: before.objects + 1,
        jobs: before.jobs + 1,
      });
      expect(created.length).toBe(ownBefore + 1);

      // Its upload slot came back: with every slot but one held by new stallers, an upload still goes through.
      for (let i = 1; i < slots; i++) {
        const s = await stallUpload(`stall-b${i}`, bases.jpeg);
        stalls.push(s);
        await until(async () => requests.reading(`stall-b${i}`), 30_000, `staller b${i} to be read by its handler`);
      }
      const probe = await sendCase(
        stack.url,
        token,
        {
          kind: 'manual',
          body: multipartBody([{ name: 'photo', filename: 'c.jpg', type: 'image/jpeg', data: bases.jpeg }], 'probe'),
          contentType: 'multipart/form-data; boundary=probe',
          filename: '',
        },
        30_000,
      );
      expect(probe.key).toBe('201 created');
      // Answered while every other slot is still held: the freed slot took it, not a staller's end.
      for (const s of stalls.slice(-(slots - 1))) expect(s.closedAt()).toBeUndefined();
      created.push(probe.photoId!);
    } finally {
      for (const s of stalls) s.destroy();
      requests.stop();
    }
    const inv = await uploadInvariants(stack.ctx, [userId], created);
    expect(inv.problems).toEqual([]);
  }, 180_000); // room to measure a late cut-off (Node's default check runs every 30 s)

  it('gives the upload slots back when their clients went away while waiting for them', async () => {
    const slots = stack.config.UPLOAD_CONCURRENCY;
    const requests = watchRequests(stack.server!);
    const stalls: Stall[] = [];
    try {
      // Every slot held by a staller whose body is being read...
      for (let i = 0; i < slots; i++) {
        stalls.push(await stallUpload(`stall-h${i}`, bases.jpeg));
        await until(async () => requests.reading(`stall-h${i}`), 30_000, `holder ${i} to be read`);
      }
      // ...so as many more wait for a slot, and go away while they wait.
      for (let i = 0; i < slots; i++) {
        const leaver = await stallUpload(`stall-q${i}`, bases.jpeg);
        await until(async () => requests.request(`stall-q${i}`) !== undefined, 30_000, `waiter ${i} to arrive`);
        expect(requests.reading(`stall-q${i}`)).toBe(false);
        leaver.destroy();
        await until(async () => requests.request(`stall-q${i}`)!.destroyed, 30_000, `waiter ${i} to be gone`);
      }
      // The holders go too: the waiters get the slots, find their clients gone and give them back.
      for (const s of stalls) s.destroy();
      const probe = await sendCase(
        stack.url,
        token,
        {
          kind: 'manual',
          body: multipartBody([{ name: 'photo', filename: 'd.jpg', type: 'image/jpeg', data: bases.jpeg }], 'probe2'),
          contentType: 'multipart/form-data; boundary=probe2',
          filename: '',
        },
        30_000,
      );
      expect(probe.key).toBe('201 created');
      created.push(probe.photoId!);
    } finally {
      for (const s of stalls) s.destroy();
      requests.stop();
    }
  });
});

/** How far past HTTP_REQUEST_TIMEOUT_SECONDS the server may cut off a stalled request. */
const CUT_OFF_GRACE_MS = 2000;

interface Stall {
  /** When the first byte went out. */
  sentAt: number;
  closedAt: () => number | undefined;
  /** What the server wrote back, as text. */
  answer: () => string;
  destroy: () => void;
}

/**
 * A raw socket that sends an upload's headers and the first half of its multipart body (the part
 * header and part of the photo), then nothing more. X-Request-Id names it for watchRequests.
 */
async function stallUpload(id: string, photo: Buffer): Promise<Stall> {
  const body = multipartBody([{ name: 'photo', filename: `${id}.jpg`, type: 'image/jpeg', data: photo }], id);
  const url = new URL(stack.url);
  const socket = net.connect(Number(url.port), url.hostname);
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  let answer = '';
  let closedAt: number | undefined;
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.on('close', () => (closedAt = Date.now()));
  const sentAt = Date.now();
  socket.write(
    `POST /v1/photos HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nX-Request-Id: ${id}\r\n` +
      `Content-Type: multipart/form-data; boundary=${id}\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.subarray(0, body.length >> 1));
  return { sentAt, closedAt: () => closedAt, answer: () => answer, destroy: () => socket.destroy() };
}

/**
 * The stack runs in this process: watch its server's requests by X-Request-Id. A multipart body is
 * read only once the upload handler holds an upload slot and pipes it into the parser (nothing
 * before it reads it), so a request in flowing mode is one being read by its handler.
 */
function watchRequests(server: Server) {
  const seen = new Map<string, IncomingMessage>();
  const onRequest = (req: IncomingMessage) => {
    const id = req.headers['x-request-id'];
    if (typeof id === 'string' && id.startsWith('stall-')) seen.set(id, req);
  };
  server.on('request', onRequest);
  return {
    reading: (id: string) => seen.get(id)?.readableFlowing === true,
    request: (id: string) => seen.get(id),
    stop: () => server.off('request', onRequest),
  };
}
