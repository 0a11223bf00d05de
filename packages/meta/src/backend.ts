import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { MetaError, MetaArgumentError } from './errors.js';
import { tf } from './tf.js';
import { trainingEngine, type TrainingEngineName } from './engine/index.js';

/**
 * Backends in the order auto-detection tries them: 'tensorflow' is tfjs-node(-gpu), native
 * libtensorflow; 'webgpu' is tfjs's WebGPU backend on Dawn (the `webgpu` npm package's
 * native binding; Node has no navigator.gpu of its own); then wasm and cpu.
 */
export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export type BackendPreference = BackendName | 'auto';

export interface BackendOptions {
  /** 'auto' (default) tries tensorflow, webgpu, wasm, cpu in that order. Env FEDMETA_BACKEND overrides. */
  prefer?: BackendPreference;
  /** When the preferred backend fails: fall back down the list (default) or throw. */
  strict?: boolean;
  /** Where to report the choice; default console.log. Pass null to stay silent. */
  log?: ((line: string) => void) | null;
}

export interface BackendChoice {
  /** The backend now active in tf. */
  name: BackendName;
  /** For 'tensorflow': which package provided it; for 'webgpu': the adapter. */
  provider?: string;
  /** Every backend tried before the chosen one, with why it was skipped. */
  skipped: { name: BackendName; reason: string }[];
  /**
   * What trains the first-order algorithms on this backend: the fused WebAssembly SIMD engine
   * on the wasm backend, tfjs ops otherwise (see `trainingEngine()`).
   */
  engine: { name: TrainingEngineName; reason: string };
}

const ORDER: BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];
const PREFERENCES: BackendPreference[] = ['tensorflow', 'webgpu', 'wasm', 'cpu', 'auto'];

/**
 * Loads the native TensorFlow binding if the user installed it. The specifier is a
 * variable so neither TypeScript nor npm treat it as a dependency: it is optional.
 */
async function tryTensorflow(): Promise<string> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      const spec: string = pkg;
      await import(spec);
      if (await tf.setBackend('tensorflow')) return pkg;
      errors.push(`${pkg}: loaded but backend 'tensorflow' did not initialise (a second tfjs-core copy?)`);
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(errors.join('; '));
}

/** The part of WebGPU's navigator.gpu this module uses. */
interface Gpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<{ info?: { vendor?: string; architecture?: string; device?: string; description?: string } } | null>;
}

/**
 * tfjs's WebGPU backend on Dawn. Node has no navigator.gpu: the optional `webgpu` package
 * (Dawn's node binding, prebuilt for linux/mac/windows, no build step) provides one, which is
 * installed as globalThis.navigator.gpu (with WebGPU's constants) before
 * @tensorflow/tfjs-backend-webgpu registers its backend. Both packages are optional, like
 * tfjs-node: `npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0`.
 */
async function tryWebgpu(): Promise<string> {
  const g = globalThis as { navigator?: { gpu?: Gpu } };
  let gpu = g.navigator?.gpu;
  if (!gpu) {
    let dawn: { create: (flags: string[]) => Gpu; globals: object };
    try {
      const spec: string = 'webgpu';
      dawn = (await import(spec)) as typeof dawn;
    } catch (e) {
      throw new Error(`package webgpu not installed (npm install webgpu @tensorflow/tfjs-backend-webgpu@${tf.version.tfjs}): ${(e as Error).message.split('\n')[0]}`);
    }
    Object.assign(globalThis, dawn.globals);
    // Dawn's own options, e.g. "backend=vulkan" or "adapter=<name>" (space separated).
    gpu = dawn.create((process.env['FEDMETA_DAWN_FLAGS'] ?? '').split(/\s+/).filter(Boolean));
    if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('Dawn found no GPU adapter (no Vulkan, Metal or D3D12 device)');
  try {
    const spec: string = '@tensorflow/tfjs-backend-webgpu';
    await import(spec);
  } catch (e) {
    throw new Error(`package @tensorflow/tfjs-backend-webgpu not installed (npm install @tensorflow/tfjs-backend-webgpu@${tf.version.tfjs}): ${(e as Error).message.split('\n')[0]}`);
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") returned false (a second tfjs-core copy, or the device request failed)');
  await tf.ready();
  const info = adapter.info ?? {};
  return `Dawn: ${[info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ') || 'adapter'}`;
}

let wasmPathsSet = false;

/** Points the wasm backend at the .wasm files inside node_modules (Node has no fetch base URL). */
async function tryWasm(): Promise<void> {
  if (!wasmPathsSet) {
    const require = createRequire(import.meta.url);
    const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
    setWasmPaths(dist);
    wasmPathsSet = true;
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
}

async function trySet(name: BackendName): Promise<string | undefined> {
  if (name === 'tensorflow') return tryTensorflow();
  if (name === 'webgpu') return tryWebgpu();
  if (name === 'wasm') {
    await tryWasm();
    return undefined;
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false');
  await tf.ready();
  return undefined;
}

/**
 * Activates the fastest available TensorFlow.js backend and says which one it chose, why
 * the faster ones were skipped, and what trains on it (the fused wasm engine on the CPU
 * backends). Order: tfjs-node-gpu, tfjs-node ('tensorflow'), webgpu, wasm, cpu. A preference
 * (option or env FEDMETA_BACKEND, the env winning) starts the search at that backend.
 * @throws MetaArgumentError for an unknown preference
 * @throws MetaError META_BACKEND_UNAVAILABLE when strict and the preferred backend fails
 */
export async function selectBackend(options: BackendOptions = {}): Promise<BackendChoice> {
  const env = process.env['FEDMETA_BACKEND'];
  const prefer = (env !== undefined && env !== '' ? env : options.prefer ?? 'auto') as BackendPreference;
  if (!PREFERENCES.includes(prefer)) {
    throw new MetaArgumentError(
      `${env ? 'FEDMETA_BACKEND' : 'prefer'}: unknown backend "${String(prefer)}" (expected one of ${PREFERENCES.join(', ')})`,
    );
  }
  const log = options.log === undefined ? (line: string) => console.log(line) : options.log;
  const start = prefer === 'auto' ? 0 : ORDER.indexOf(prefer);
  const skipped: BackendChoice['skipped'] = [];
  for (const name of ORDER.slice(start)) {
    try {
      const provider = await trySet(name);
      const engine = trainingEngine();
      const choice: BackendChoice = provider ? { name, provider, skipped, engine } : { name, skipped, engine };
      log?.(`fedmeta: tfjs backend ${name}${provider ? ` (${provider})` : ''}` +
        (skipped.length ? `; skipped ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}` : '') +
        `; training engine ${engine.name} (${engine.reason})`);
      return choice;
    } catch (e) {
      const reason = (e as Error).message;
      if (options.strict) {
        throw new MetaError('META_BACKEND_UNAVAILABLE', `backend ${name} unavailable: ${reason}`, { cause: e });
      }
      skipped.push({ name, reason });
    }
  }
  throw new MetaError('META_BACKEND_UNAVAILABLE', `no backend available: ${JSON.stringify(skipped)}`);
}

/** The name of the backend tf currently runs on. */
export function activeBackend(): string {
  return tf.getBackend();
}
