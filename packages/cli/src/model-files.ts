/**
 * A model directory as fedmeta writes it: model.json + weights.bin (tfjs layers format, for
 * any tfjs runtime), params.f32 (the flat parameter vector, little-endian float32) and
 * fedmeta-model.json (the manifest: model config, feature order, class names, the
 * standardisation, the round, its metrics, the DP guarantee). `fedmeta predict` and
 * `fedmeta evaluate` read it back.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelManifest } from '@fedmeta/server';
import { CliError } from './errors.js';

export const MANIFEST_FILE = 'fedmeta-model.json';
export const PARAMS_FILE = 'params.f32';

export async function writeModelDir(dir: string, manifest: ModelManifest, params: Float32Array): Promise<void> {
  const meta = await import('@fedmeta/meta');
  const spec = meta.createModel(manifest.model as unknown as Parameters<typeof meta.createModel>[0]);
  if (spec.paramCount !== params.length) throw new CliError(`model: ${params.length} parameters for a model of ${spec.paramCount}`);
  await meta.exportTfjsModel(spec, params, dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, PARAMS_FILE), Buffer.from(params.buffer, params.byteOffset, params.byteLength));
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}

export function readModelDir(dir: string): { manifest: ModelManifest; params: Float32Array } {
  let manifest: ModelManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as ModelManifest;
  } catch (err) {
    throw new CliError(`--model: cannot read ${join(dir, MANIFEST_FILE)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point --model at a directory written by fedmeta server or client`);
  }
  if (manifest.format !== 'fedmeta-model/1') throw new CliError(`--model: ${join(dir, MANIFEST_FILE)} has format ${JSON.stringify(manifest.format)}, expected "fedmeta-model/1"`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, PARAMS_FILE));
  } catch (err) {
    throw new CliError(`--model: cannot read ${join(dir, PARAMS_FILE)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const params = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(params.buffer).set(bytes);
  return { manifest, params };
}
