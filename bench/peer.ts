import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../models/registry';

/**
 * The background-removal peer in bench/peer (@imgly/background-removal-node, AGPL-3.0, benchmark
 * only), loaded by file URL when it is installed (`npm --prefix bench/peer install`): its models
 * are files in its own dist/, nothing is downloaded.
 */
export const PEER_PKG = '@imgly/background-removal-node';
const PEER_DIR = path.join(projectRoot, 'bench/peer/node_modules', PEER_PKG);

type RemoveBackground = (
  image: Blob,
  config: { model: 'small' | 'medium'; publicPath: string; output?: { format: 'image/png' } },
) => Promise<Blob>;

export interface Peer {
  version: string;
  /** The peer's cut-out of an encoded image (its 'medium' ISNet model), as PNG with the alpha. */
  removeBackground(image: Buffer, type: 'image/jpeg' | 'image/png'): Promise<Buffer>;
}

/** The peer, or undefined (with a line saying how to install it) when it is not installed. */
export async function loadPeer(): Promise<Peer | undefined> {
  if (!existsSync(path.join(PEER_DIR, 'package.json'))) {
    console.log(
      `\npeer ${PEER_PKG} is not installed: install it with \`npm --prefix bench/peer install\` (AGPL-3.0, benchmark only). Skipped.`,
    );
    return undefined;
  }
  const version = (JSON.parse(await readFile(path.join(PEER_DIR, 'package.json'), 'utf8')) as { version: string })
    .version;
  // Loaded by file URL: bench/peer/node_modules is not on this file's resolution path, by design.
  const mod = (await import(pathToFileURL(path.join(PEER_DIR, 'dist/index.mjs')).href)) as {
    removeBackground: RemoveBackground;
  };
  const opts = {
    model: 'medium' as const,
    publicPath: `${pathToFileURL(path.join(PEER_DIR, 'dist')).href}/`,
    output: { format: 'image/png' as const },
  };
  return {
    version,
    async removeBackground(image, type) {
      const blob = await mod.removeBackground(new Blob([new Uint8Array(image)], { type }), opts);
      return Buffer.from(await blob.arrayBuffer());
    },
  };
}
