/**
 * The main job, end to end on real parts: starts api + worker + scheduler in this process (local
 * mode: Postgres and Redis from the machine, an in-process S3 server, the local payment processor,
 * mail to the outbox folder), registers a person, uploads selfies, orders every style, pays, follows
 * progress and writes the headshots and a contact sheet to a folder.
 *
 *   npm run demo -- [photos...] [--package executive] [--styles studio-grey,navy-gradient] [--out out/demo]
 *
 * Without --styles it orders as many styles as the package includes, in catalog order.
 */
import { NEWEST_SHIPPED_POLICY_VERSION } from '../policies';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { createRasmiClient, unwrap, uploadPhoto } from '../clients/typescript/src/index';
import { findPackage, STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { createLogger } from '../core/platform/logger';
import { OutboxMailer, type MailMessage, type Mailer } from '../core/platform/mail';
import { preflight } from '../core/platform/preflight';
import { startRole } from '../main';

/** "1 headshot", "3 headshots". */
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function args() {
  const photos: string[] = [];
  const opts: Record<string, string> = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) opts[argv[i].slice(2)] = argv[++i];
    else photos.push(argv[i]);
  }
  const pkg = opts.package ?? 'executive';
  return {
    photos: photos.length ? photos : ['test/fixtures/astronaut.png'],
    pkg,
    // Without --styles, as many of the catalog's styles as the package includes (an unknown package is the API's to refuse).
    styles: opts.styles?.split(',') ?? STYLES.slice(0, findPackage(pkg)?.maxStyles).map((s) => s.id),
    out: opts.out ?? path.join('out', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`),
  };
}

async function main() {
  const a = args();
  const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env });
  const problems = await preflight(config);
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(69);
  }
  // Mail still goes to the outbox folder; the demo also keeps it to read the sign-in code.
  const inbox: MailMessage[] = [];
  const outbox = new OutboxMailer(config.MAIL_OUTBOX_DIR, config.MAIL_FROM);
  const mailer: Mailer = {
    send: async (m) => {
      inbox.push(m);
      return outbox.send(m);
    },
  };
  const step = (s: string) => console.log(`• ${s}`);

  step('starting api, worker and scheduler (local mode)…');
  const running = await startRole('all', config, { port: 0, mailer, logger: createLogger(config.LOG_LEVEL) });
  // The demo is a client of the API like any other: the typed client generated from openapi.json.
  let token: string | undefined;
  const api = createRasmiClient({ baseUrl: running.url!, token: () => token });
  try {
    const email = `demo+${Date.now()}@rasmi.local`;
    step(`registering ${email}`);
    unwrap(
      await api.POST('/v1/accounts', {
        body: {
          email,
          name: 'Demo Person',
          confirms_adult: true,
          accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
        },
      }),
    );
    const code = /code is (\d{6})/.exec(inbox.find((m) => m.to === email)!.text)![1];
    token = unwrap(await api.POST('/v1/auth/token', { body: { email, code } })).token;

    const photoIds: string[] = [];
    for (const file of a.photos) {
      const photo = unwrap(
        await uploadPhoto(api, new Blob([new Uint8Array(await readFile(file))]), { filename: path.basename(file) }),
      );
      step(`uploaded ${file}: ${photo.detected_type} ${photo.width}x${photo.height}`);
      photoIds.push(photo.id);
    }
    // Every photo is judged at upload: say which are usable, and why not, before any payment.
    const usable: string[] = [];
    for (const [i, id] of photoIds.entries()) {
      const get = async () => unwrap(await api.GET('/v1/photos/{id}', { params: { path: { id } } }));
      let photo = await get();
      while (photo.status === 'preparing' || photo.status === 'analysing') {
        await new Promise((r) => setTimeout(r, 200));
        photo = await get();
      }
      if (photo.status === 'usable') usable.push(id);
      const why = photo.verdict?.reasons.map((r) => `${r.message} ${r.hint}`).join(' ') ?? '';
      step(`${a.photos[i]}: ${photo.status}${why ? ` — ${why}` : ''}`);
    }
    if (!usable.length) {
      console.error('None of the photos is usable; nothing was ordered or paid.');
      process.exitCode = 1;
      return;
    }
    photoIds.splice(0, photoIds.length, ...usable);
    // What the order will make and cost, as a person sees it before paying.
    const q = unwrap(
      await api.POST('/v1/orders/quote', { body: { package_id: a.pkg, style_ids: a.styles, photo_ids: photoIds } }),
    );
    step(
      `you'll get ${count(q.headshots_expected, 'headshot')} for ${(q.amount_cents / 100).toFixed(2)} ${q.currency}${q.shortfall ? ` — ${q.shortfall.message} ${q.shortfall.hint}` : ''}`,
    );
    const { order } = unwrap(
      await api.POST('/v1/orders', {
        body: { package_id: a.pkg, style_ids: a.styles, photo_ids: photoIds, accept_shortfall: q.shortfall !== null },
      }),
    );
    step(`order ${order.id}: package ${a.pkg}, ${count(a.styles.length, 'style')}; paying with the local processor`);

    const started = Date.now();
    let last = '';
    let current = order;
    while (!['ready', 'failed'].includes(current.status)) {
      await new Promise((r) => setTimeout(r, 250));
      current = unwrap(await api.GET('/v1/orders/{id}', { params: { path: { id: order.id } } }));
      const done = current.headshots.filter((h) => h.status !== 'pending').length;
      const line = `${current.status}${current.headshots.length ? `: ${done}/${current.headshots.length} headshots` : ''}`;
      if (line !== last) step(`${line} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      last = line;
      if (Date.now() - started > 600_000) throw new Error('gave up waiting after 10 minutes');
    }
    if (current.status === 'failed') {
      console.error(`order failed: ${current.failure?.code}: ${current.failure?.detail}`);
      process.exitCode = 1;
      return;
    }
    await mkdir(a.out, { recursive: true });
    const tiles: { input: Buffer; label: string }[] = [];
    for (const h of current.headshots.filter((x) => x.status === 'rendered')) {
      const jpeg = Buffer.from(
        unwrap(await api.GET('/v1/headshots/{id}/content', { params: { path: { id: h.id } }, parseAs: 'arrayBuffer' })),
      );
      const file = path.join(a.out, `${h.style_id}-${h.id}.jpg`);
      await writeFile(file, jpeg);
      tiles.push({ input: jpeg, label: h.style_id });
    }
    const sheet = path.join(a.out, 'contact-sheet.png');
    await writeFile(sheet, await contactSheet(tiles));
    step(`${count(tiles.length, 'headshot')} written to ${a.out}/ with ${path.basename(sheet)}`);
    step(`delivery email in the outbox folder ${config.MAIL_OUTBOX_DIR}/`);
  } finally {
    await running.stop();
  }
}

/** Every headshot of the order on one page, labelled with its style. */
async function contactSheet(tiles: { input: Buffer; label: string }[]): Promise<Buffer> {
  const size = 256;
  const tall = Math.round(size * 1.25);
  const label = 28;
  const cols = Math.min(4, tiles.length);
  const rows = Math.ceil(tiles.length / cols);
  const parts = await Promise.all(
    tiles.map(async (t, i) => {
      const img = await sharp(t.input).resize(size, tall, { fit: 'cover' }).toBuffer();
      const text = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${label}"><rect width="100%" height="100%" fill="#fff"/><text x="8" y="20" font-family="sans-serif" font-size="16" fill="#222">${t.label}</text></svg>`,
      );
      const x = (i % cols) * size;
      const y = Math.floor(i / cols) * (tall + label);
      return [
        { input: img, left: x, top: y },
        { input: text, left: x, top: y + tall },
      ];
    }),
  );
  return sharp({ create: { width: cols * size, height: rows * (tall + label), channels: 3, background: '#ffffff' } })
    .composite(parts.flat())
    .png()
    .toBuffer();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
