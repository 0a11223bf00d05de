/**
 * The client's local pipeline for one round: train with the meta algorithm on the
 * institution's own data, then encode the update into Z_{2^b} - the secagg quantiser
 * (clip, weight as coordinate 0, stochastic rounding) or, with DP, the dp package's
 * distributed discrete Gaussian encoder (clip, rotate, noise). Masking follows in
 * client.ts (the secagg client machine). No training or encoding maths lives here.
 */
import { activeBackend, selectBackend, type BackendPreference, createAlgorithm, createModel, clippedGradientSum, dpSgdUpdate, poissonSample, type Algorithm, type AlgorithmName, type DpSgdSources, type LocalHyper, type ModelConfig, type ModelSpec, type LocalResult } from '@fedmeta/meta';
import { cryptoRandom } from '@fedmeta/dp';
import { encodeUpdate, quantizeParams, type Rng } from '@fedmeta/secagg';
import { TransportError, type RoundConfig } from '@fedmeta/transport';
import { ddgEncode, recordDdgEncode } from './dp.js';
import { recordDpSources } from './record-dp.js';
import type { ClientDataOptions, ClientOptions } from './options.js';

export type Trainer = NonNullable<ClientOptions['trainer']>;

let backendReady: Promise<string> | null = null;

/** Selects the tfjs backend once per process (many in-process clients share it). */
export function ensureBackend(prefer: BackendPreference): Promise<string> {
  backendReady ??= selectBackend({ prefer, log: null }).then(() => activeBackend());
  return backendReady;
}

/**
 * Builds the model the server announced and checks it against the received params.
 * @throws TransportError ERR_BAD_PAYLOAD for an unknown model/algorithm, ERR_VECTOR_LENGTH on a params mismatch
 */
const modelCache = new Map<string, { spec: ModelSpec; algorithm: Algorithm }>();

export function prepareModel(config: RoundConfig, params: Float32Array) {
  // Rounds repeat the same model and algorithm: build them once per distinct config.
  const key = JSON.stringify([config.model, config.algorithm.name]);
  let built = modelCache.get(key);
  if (!built) {
    try {
      const spec = createModel(config.model as unknown as ModelConfig);
      built = { spec, algorithm: createAlgorithm(config.algorithm.name as AlgorithmName, spec) };
    } catch (cause) {
      throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.config.model/algorithm: ${(cause as Error).message}`, { cause });
    }
    if (modelCache.size > 16) modelCache.clear();
    modelCache.set(key, built);
  }
  const { spec, algorithm } = built;
  if (spec.paramCount !== params.length) {
    throw new TransportError('ERR_VECTOR_LENGTH', `roundStart.params has ${params.length} entries, the announced model has ${spec.paramCount}`);
  }
  for (let i = 0; i < params.length; i++) {
    if (!Number.isFinite(params[i]!)) throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.params[${i}] is not finite`);
  }
  return { spec, algorithm };
}

/**
 * Local training with the announced algorithm (or the caller's own trainer) on
 * `data.support` only. Trains through the algorithm's asynchronous update, so that on a GPU
 * backend (webgpu) the steps run on the GPU; on the CPU backends it is the same computation
 * as the synchronous one.
 * @throws TransportError ERR_INTERNAL when training fails, ERR_VECTOR_LENGTH for a trainer's wrong-length update
 */
export async function trainLocal(config: RoundConfig, params: Float32Array, data: ClientDataOptions, seed: number, trainer?: Trainer, sources?: DpSgdSources): Promise<LocalResult> {
  const { algorithm, spec } = prepareModel(config, params);
  if (config.federation.dp?.unit === 'record') return trainRecordLevel(config, spec, params, data, trainer, sources);
  try {
    if (trainer) {
      const r = trainer(params, config.round);
      if (!(r?.update instanceof Float32Array) || r.update.length !== params.length) {
        throw new TransportError('ERR_VECTOR_LENGTH', `trainer returned ${r?.update?.length} entries, the model has ${params.length}`);
      }
      return { update: r.update, weight: r.weight, metrics: { lossFirst: NaN, lossLast: NaN, examples: 0, steps: 0, millis: 0 } };
    }
    return await algorithm.localUpdateAsync(params, data, config.algorithm.hyper as unknown as LocalHyper, (config.trainSeed ^ seed) >>> 1);
  } catch (cause) {
    if (cause instanceof TransportError) throw cause;
    throw new TransportError('ERR_INTERNAL', `local training failed: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Record-level DP: DP-SGD on `data.support` with Poisson sampling and Gaussian noise from
 * `sources` (default: the OS CSPRNG). Local mode: `localSteps` steps of meta's dpSgdUpdate
 * with all of sigma * C added by this site (the update is then quantised as usual:
 * post-processing). Distributed mode: one step's clipped gradient sum only; the site's
 * discrete Gaussian noise share is added by the encoder (encodeLocal, 'record-ddg').
 * The weight is always 1: a record-level update does not reveal the batch size.
 * @throws TransportError ERR_BAD_PAYLOAD with a custom trainer (DP-SGD needs per-record gradients), ERR_INTERNAL when training fails
 */
function trainRecordLevel(config: RoundConfig, spec: ModelSpec, params: Float32Array, data: ClientDataOptions, trainer: Trainer | undefined, sources: DpSgdSources | undefined): LocalResult {
  const dp = config.federation.dp;
  if (dp?.unit !== 'record') throw new TransportError('ERR_INTERNAL', 'not a record-level round');
  if (trainer) throw new TransportError('ERR_BAD_PAYLOAD', 'record-level DP needs per-record gradients (DP-SGD): a custom trainer cannot take part');
  const lr = (config.algorithm.hyper as { lr?: unknown }).lr;
  if (typeof lr !== 'number' || !(lr > 0)) throw new TransportError('ERR_BAD_PAYLOAD', 'roundStart.config.algorithm.hyper.lr: expected a number > 0 (the DP-SGD step size)');
  const src = sources ?? recordDpSources(cryptoRandom());
  try {
    if (dp.mode === 'local') {
      return dpSgdUpdate(spec, params, data, { steps: dp.localSteps, sampleRate: dp.sampleRate, lr, l2Clip: dp.l2Clip, noiseStd: dp.noiseMultiplier * dp.l2Clip }, src);
    }
    const set = data.support;
    const indices = poissonSample(set.count, dp.sampleRate, src.uniform);
    const started = performance.now();
    const g = clippedGradientSum(spec, params, set, indices, dp.l2Clip);
    return { update: g.sum, weight: 1, metrics: { lossFirst: g.lossMean, lossLast: g.lossMean, examples: g.count, steps: 1, millis: performance.now() - started } };
  } catch (cause) {
    throw new TransportError('ERR_INTERNAL', `DP-SGD failed: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Encodes a local update for aggregation: the secagg quantiser (weight = example count,
 * capped) or the dp package's DDG encoder.
 * @throws TransportError ERR_BAD_PAYLOAD when the encoding is unusable, ERR_VECTOR_LENGTH
 *   when its length disagrees with the announced vector length
 */
export function encodeLocal(config: RoundConfig, local: LocalResult, rng: Rng): Uint32Array {
  let encoded: Uint32Array;
  const e = config.encoding;
  try {
    if (e.kind === 'quantize') {
      const qp = quantizeParams(e);
      const weight = Math.max(1, Math.min(qp.maxWeight, Math.round(local.weight)));
      encoded = encodeUpdate(local.update, weight, qp, rng);
    } else if (e.kind === 'ddg') {
      encoded = ddgEncode(e, local.update, rng);
    } else if (e.kind === 'record-ddg') {
      encoded = recordDdgEncode(e, local.update, rng);
    } else {
      throw new TransportError('ERR_BAD_PAYLOAD', 'a statistics round carries no model update to encode');
    }
  } catch (cause) {
    if (cause instanceof TransportError) throw cause;
    throw new TransportError('ERR_BAD_PAYLOAD', `encoding the update failed: ${(cause as Error).message}`, { cause });
  }
  if (encoded.length !== config.aggregation.vectorLength) {
    throw new TransportError('ERR_VECTOR_LENGTH', `encoded update has ${encoded.length} entries, the round expects ${config.aggregation.vectorLength}`);
  }
  return encoded;
}
