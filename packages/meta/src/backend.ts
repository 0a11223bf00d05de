import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { MetaError, MetaArgumentError } from './errors.js';
import { tf } from './tf.js';

/** Backends in order of speed; 'tensorflow' is tfjs-node(-gpu), native libtensorflow. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = BackendName | 'auto';

export interface BackendOptions {
  /** 'auto' (default) tries tensorflow, wasm, cpu in that order. Env FEDMETA_BACKEND overrides. */
  prefer?: BackendPreference;
  /** When the preferred backend fails: fall back down the list (default) or throw. */
  strict?: boolean;
  /** Where to report the choice; default console.log. Pass null to stay silent. */
  log?: ((line: string) => void) | null;
}

export interface BackendChoice {
  /** The backend now active in tf. */
  name: BackendName;
  /** For 'tensorflow': which package provided it. */
  provider?: string;
  /** Every backend tried before the chosen one, with why it was skipped. */
  skipped: { name: BackendName; reason: string }[];
}

const ORDER: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
const PREFERENCES: BackendPreference[] = ['tensorflow', 'wasm', 'cpu', 'auto'];

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
  if (name === 'wasm') {
    await tryWasm();
    return undefined;
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false');
  await tf.ready();
  return undefined;
}

/**
 * Activates the fastest available TensorFlow.js backend and says which one it chose.
 * Order: tfjs-node-gpu, tfjs-node ('tensorflow'), wasm, cpu. A preference (option or env
 * FEDMETA_BACKEND, the env winning) starts the search at that backend.
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
      const choice: BackendChoice = provider ? { name, provider, skipped } : { name, skipped };
      log?.(`fedmeta: tfjs backend ${name}${provider ? ` (${provider})` : ''}` +
        (skipped.length ? `; skipped ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}` : ''));
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
