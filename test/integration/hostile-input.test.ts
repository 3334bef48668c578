import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, signUp, startStack, type Stack } from '../support/stack';
import { bump, hostileCase, makeBases, multipartBody, pool, sendCase, uploadInvariants, type Bases, type Tally } from '../support/hostile-images';

// API only: no worker runs, so every job an upload enqueued is still there to count: one
// photo.prepare per accepted upload, and nothing for a refused one.
let stack: Stack;
let token: string;
let userId: string;
let bases: Bases;
const created: string[] = [];
beforeAll(async () => {
  stack = await startStack({ role: 'api', env: { UPLOAD_MAX_FILES_PER_USER: '100000', HTTP_REQUEST_TIMEOUT_SECONDS: '7' } });
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
    const names = ['../../etc/passwd', '..\\..\\windows\\win.ini', 'a.jpg\r\nX-Injected: yes', 'a.jpg"; name="evil', '/etc/shadow'];
    for (const filename of names) {
      const body = multipartBody([{ name: 'photo', filename, type: 'image/jpeg\r\nX-Injected: yes', data: bases.jpeg }], 'b0undary');
      const res = await fetch(`${stack.url}/v1/photos`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=b0undary' }, body: new Uint8Array(body) });
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
    const res = await stack.api('POST', '/v1/accounts', { json: { email: 'big@example.com', name: 'x'.repeat(120_000), confirms_adult: true, accepted_policy_version: '2026-01' } });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('body_too_large');
  });

  it('answers oversized headers with a 4xx (431 from Node) and keeps serving', async () => {
    const res = await fetch(`${stack.url}/healthz`, { headers: { 'x-big': 'a'.repeat(64 * 1024) } }).catch((e: Error) => e);
    if (!(res instanceof Error)) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    expect((await stack.api('GET', '/healthz')).status).toBe(200);
  });

  it('lets other requests through while a client stalls half-way through an upload, and bounds how long it may take', async () => {
    expect(stack.server!.requestTimeout).toBe(7000);
    expect(stack.server!.headersTimeout).toBe(7000);
    const body = multipartBody([{ name: 'photo', filename: 'slow.jpg', type: 'image/jpeg', data: bases.jpeg }], 'slow');
    const url = new URL(stack.url);
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `POST /v1/photos HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: multipart/form-data; boundary=slow\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, body.length >> 1));
    let answered = false;
    socket.on('data', () => (answered = true));
    try {
      const t0 = Date.now();
      const other = await rawPost(multipartBody([{ name: 'photo', filename: 'b.jpg', type: 'image/jpeg', data: bases.jpeg }], 'ok'), 'multipart/form-data; boundary=ok');
      expect(other.key).toBe('201 created');
      created.push(other.photoId!);
      expect((await stack.api('GET', '/healthz')).status).toBe(200);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(answered).toBe(false); // still stalled, still open, and nothing stored for it
    } finally {
      socket.destroy();
    }
    const inv = await uploadInvariants(stack.ctx, [userId], created);
    expect(inv.problems).toEqual([]);
  });
});
