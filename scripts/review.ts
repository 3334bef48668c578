/**
 * A review sheet for people: every style of each photo on one PNG, beside a thumbnail of the
 * photo with the chosen frame (yellow), its eye line (cyan) and the photo's edge drawn, and the
 * verdict, score, frame and face-true figures written out, so a change to the pixel pipeline can
 * be judged by eye in seconds. Runs the pipeline in-process (no API, queue or database):
 *
 *   npm run review -- photo1.jpg photo2.png      # your photos
 *   npm run review                               # the test's phone-style crops (test/support/selfie-crops.ts)
 *
 * Writes out/review-<time>/<photo>.png and prints one line a photo. The environment's settings
 * (ONNX_PROVIDERS, MATTING_MODEL, HEADSHOT_SIZE, ...) apply, as in a worker.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { decodeRgb, normaliseUpload } from '../core/photos/images';
import { selfieCrops } from '../test/support/selfie-crops';
import { createAnalyser, thresholdsFrom } from '../worker/analysis';
import { headCutOff, toSource, type Frame } from '../worker/framing';
import { loadRenderModels } from '../worker/pixel-work';
import { prepare, renderStyle } from '../worker/render';

const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const TILE = { width: 240, height: 300, label: 22 };
const SOURCE_BOX = 400;
const FONT = 'font-family="DejaVu Sans, sans-serif"';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const text = (lines: string[], width: number, lineHeight = 19, size = 14) =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${lines.length * lineHeight + 8}"><rect width="100%" height="100%" fill="#fff"/>` +
      lines
        .map(
          (l, i) => `<text x="6" y="${(i + 1) * lineHeight}" ${FONT} font-size="${size}" fill="#222">${esc(l)}</text>`,
        )
        .join('') +
      '</svg>',
  );

/** The photo scaled into a box with room around it for any part of the frame beyond it, frame drawn on. */
async function sourceWithFrame(
  original: Buffer,
  size: { width: number; height: number },
  frame?: Frame,
): Promise<Buffer> {
  const corners = frame
    ? [
        { x: 0, y: 0 },
        { x: frame.width, y: 0 },
        { x: frame.width, y: frame.height },
        { x: 0, y: frame.height },
      ].map((o) => toSource(frame, o))
    : [];
  const xs = [0, size.width, ...corners.map((p) => p.x)],
    ys = [0, size.height, ...corners.map((p) => p.y)];
  const minX = Math.min(...xs),
    minY = Math.min(...ys);
  const k = SOURCE_BOX / Math.max(Math.max(...xs) - minX, Math.max(...ys) - minY);
  const at = (p: { x: number; y: number }) => `${((p.x - minX) * k).toFixed(1)},${((p.y - minY) * k).toFixed(1)}`;
  const thumb = await sharp(original)
    .resize(Math.round(size.width * k), Math.round(size.height * k))
    .toBuffer();
  let overlay = `<rect x="${(-minX * k).toFixed(1)}" y="${(-minY * k).toFixed(1)}" width="${(size.width * k).toFixed(1)}" height="${(size.height * k).toFixed(1)}" fill="none" stroke="#fff" stroke-width="1" stroke-dasharray="4 3"/>`;
  if (frame) {
    const eyeL = toSource(frame, { x: 0, y: frame.eyeAt.y * frame.height }),
      eyeR = toSource(frame, { x: frame.width, y: frame.eyeAt.y * frame.height });
    overlay += `<polygon points="${corners.map(at).join(' ')}" fill="none" stroke="#ffd400" stroke-width="3"/>`;
    overlay += `<polyline points="${at(eyeL)} ${at(eyeR)}" stroke="#00e5ff" stroke-width="2"/>`;
  }
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SOURCE_BOX}" height="${SOURCE_BOX}">${overlay}</svg>`,
  );
  return sharp({ create: { width: SOURCE_BOX, height: SOURCE_BOX, channels: 3, background: '#555' } })
    .composite([
      { input: thumb, left: Math.round(-minX * k), top: Math.round(-minY * k) },
      { input: svg, left: 0, top: 0 },
    ])
    .png()
    .toBuffer();
}

async function main() {
  const args = process.argv.slice(2);
  const photos = args.length
    ? await Promise.all(args.map(async (f) => ({ name: path.basename(f, path.extname(f)), data: await readFile(f) })))
    : await selfieCrops();
  const out = path.join('out', `review-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(out, { recursive: true });
  const settings = {
    providers: config.ONNX_PROVIDERS,
    matting: { model: config.MATTING_MODEL, isnetPath: config.ISNET_MODEL_PATH },
  };
  const models = await loadRenderModels(settings);
  const analyser = await createAnalyser({
    providers: config.ONNX_PROVIDERS,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });

  for (const photo of photos) {
    let stored;
    try {
      stored = await normaliseUpload(photo.data, config.UPLOAD_MAX_PIXELS);
    } catch (err) {
      console.log(`${photo.name}: not accepted as an upload (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    const size = { width: stored.width, height: stored.height };
    const { verdict, geometry } = await analyser.analyse(await decodeRgb(stored.data));
    const lines = [
      `${photo.name}  ${size.width}x${size.height}`,
      `verdict: ${verdict.usable ? 'usable' : 'not usable'}, score ${verdict.score?.toFixed(3) ?? '-'}`,
      ...verdict.reasons.map((r) => `  ${r.code}: ${r.message}`),
      ...(verdict.advice ?? []).map((r) => `  advice ${r.code}: ${r.message}`),
    ];
    const tiles: OverlayOptions[] = [];
    let frame: Frame | undefined;
    let summary = `${photo.name}: ${lines[1]}`;
    if (geometry) {
      const t = performance.now();
      const p = await prepare(models, stored.data, geometry, config.HEADSHOT_SIZE);
      frame = p.frame;
      const cut = headCutOff(geometry, size);
      const frameText = `frame: ${frame.faceWidths.toFixed(2)} face widths, eye line ${(frame.eyeAt.y * 100).toFixed(1)} % down, centre ${(frame.eyeAt.x * 100).toFixed(1)} %`;
      const more = `upscaled: ${p.upscaled ? `ESRGAN x${p.upscaled}` : 'no'} (${frame.scale.toFixed(2)} output px per photo px); beyond the photo: ${frame.beyond.join(', ') || 'none'} (${((100 * p.outside) / (frame.width * frame.height)).toFixed(1)} % of the frame)`;
      lines.push(frameText, more, `head cut by the photo (headCutOff): ${cut.join(', ') || 'no'}`);
      summary += `; ${frameText}; ${more}; head cut: ${cut.join(',') || 'no'}`;
      for (const [i, style] of STYLES.entries()) {
        const r = await renderStyle(models, p, style, config.FACE_TRUE_TOLERANCE);
        const x = SOURCE_BOX + 16 + (i % 4) * TILE.width,
          y = Math.floor(i / 4) * (TILE.height + TILE.label);
        tiles.push({ input: await sharp(r.jpeg).resize(TILE.width, TILE.height).toBuffer(), left: x, top: y });
        tiles.push({
          input: text(
            [`${style.id}  face-true ${r.faceTrue.error.toFixed(3)} ${r.faceTrue.ok ? 'ok' : 'FAILED'}`],
            TILE.width,
            16,
            12,
          ),
          left: x,
          top: y + TILE.height,
        });
      }
      lines.push(`rendered ${STYLES.length} styles in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const info = text(lines, SOURCE_BOX + 16 + 4 * TILE.width);
    const infoHeight = (await sharp(info).metadata()).height;
    const width = SOURCE_BOX + 16 + 4 * TILE.width;
    const top = Math.max(SOURCE_BOX, 2 * (TILE.height + TILE.label)) + 8;
    const sheet = await sharp({ create: { width, height: top + infoHeight, channels: 3, background: '#ffffff' } })
      .composite([
        { input: await sourceWithFrame(stored.data, size, frame), left: 0, top: 0 },
        ...tiles,
        { input: info, left: 0, top },
      ])
      .png()
      .toBuffer();
    const file = path.join(out, `${photo.name}.png`);
    await writeFile(file, sheet);
    console.log(summary);
  }
  console.log(`review sheets in ${out}/`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
