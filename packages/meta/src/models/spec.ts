/**
 * Functional models: a model is a spec (parameter names and shapes, a forward function of
 * explicit parameter tensors) and its parameters live in ONE flat Float32Array, which is
 * what the federation averages, masks and ships.
 *
 * Flat order (fixed, documented in README.md): parameters in the order of `spec.params`,
 * each tensor's entries in row-major (C) order of its shape. Conv kernels are
 * [kh, kw, inC, outC], dense kernels [in, out], biases [out]: the tfjs layers layouts, so
 * export is a copy. The classifier head is always the last two parameters (kernel, bias).
 */
import { MetaError, MetaArgumentError, requireInt } from '../errors.js';
import { createPrng } from '../rng.js';
import { tf, type Tensor } from '../tf.js';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** fan-in for He initialisation; 0 for biases and norm parameters (initialised to `init`) */
  readonly fanIn: number;
  /** initial value when fanIn is 0 (default 0; group norm's gamma: 1) */
  readonly init?: number;
}

export interface MlpConfig {
  kind: 'mlp';
  /** per-example input shape, e.g. [784] or [28, 28, 1] (flattened) */
  inputShape: number[];
  hidden: number[];
  numClasses: number;
}
/**
 * Logistic (2 classes) / softmax regression: logits = x W + b on the flattened input. The
 * same function, parameters and flat layout as an MLP with `hidden: []`.
 */
export interface LinearConfig {
  kind: 'linear';
  /** per-example input shape, e.g. [784] or [28, 28, 1] (flattened) */
  inputShape: number[];
  numClasses: number;
}
export interface CnnConfig {
  kind: 'cnn';
  /** [height, width, channels], e.g. [28, 28, 1] */
  inputShape: [number, number, number];
  /** output channels of the stride-2 3x3 conv layers */
  channels: number[];
  /** width of the dense embedding layer before the head */
  embedding: number;
  numClasses: number;
}
export interface ResNetConfig {
  kind: 'resnet';
  /** [height, width, channels], e.g. [32, 32, 3] */
  inputShape: [number, number, number];
  /** channels per stage; each stage after the first starts with a stride-2 conv */
  stages: number[];
  numClasses: number;
}
/**
 * The ResNet-18 family (He et al. 2016, the CIFAR variant: a 3x3 stem, no max-pool) with
 * group normalisation (Wu & He 2018) in place of batch norm: GN has no running statistics and
 * no batch dependence, and its gradient is twice differentiable, so MAML works through it.
 * Defaults: widths [64, 128, 256, 512], blocks [2, 2, 2, 2] (ResNet-18), 32 groups.
 */
export interface ResNet18Config {
  kind: 'resnet18';
  /** [height, width, channels], e.g. [32, 32, 3] */
  inputShape: [number, number, number];
  numClasses: number;
  /** channels per stage (default [64, 128, 256, 512]); each stage after the first halves the resolution */
  widths?: number[];
  /** basic blocks per stage (default [2, 2, 2, 2]; [3, 4, 6, 3] is ResNet-34's layout) */
  blocks?: number[];
  /** group norm groups; must divide every width (default 32, or the smallest width when less) */
  groups?: number;
}
/** A ResNet18Config with every default filled in (what `spec.config` holds). */
export type ResNet18Full = Required<ResNet18Config>;
export type ModelConfig = LinearConfig | MlpConfig | CnnConfig | ResNetConfig | ResNet18Config;

export interface ModelSpec {
  readonly config: ModelConfig;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly params: readonly ParamSpec[];
  /** total number of scalars = length of the flat vector */
  readonly paramCount: number;
  /** Penultimate features [n, d] (what ProtoNets compare); x is [n, ...inputShape]. */
  embed(params: Tensor[], x: Tensor): Tensor;
  /** Logits [n, numClasses]. */
  forward(params: Tensor[], x: Tensor): Tensor;
  /** Deterministic He-normal initialisation (biases 0) as a flat vector. */
  initParams(seed: number): Float32Array;
}

/** Builds the shared parts of a spec from its parameter list and embedding function. */
export function makeSpec(
  config: ModelConfig,
  params: ParamSpec[],
  embed: (params: Tensor[], x: Tensor) => Tensor,
): ModelSpec {
  const paramCount = params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  const head = params.length - 2;
  const spec: ModelSpec = {
    config,
    inputShape: config.inputShape,
    numClasses: config.numClasses,
    params,
    paramCount,
    embed,
    forward: (ps, x) => tf.tidy(() => tf.add(tf.matMul(embed(ps, x), ps[head]!), ps[head + 1]!)),
    initParams: (seed) => initParams(spec, seed),
  };
  return spec;
}

/** He-normal weights (std sqrt(2 / fanIn)), constant biases and norm parameters (`init`, default 0), from a seeded PRNG. */
export function initParams(spec: ModelSpec, seed: number): Float32Array {
  if (!Number.isInteger(seed)) throw new MetaArgumentError(`initParams: seed must be an integer, got ${seed}`);
  const out = new Float32Array(spec.paramCount);
  const rng = createPrng(seed, 0x1417);
  let offset = 0;
  for (const p of spec.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (p.fanIn > 0) {
      const std = Math.sqrt(2 / p.fanIn);
      for (let i = 0; i < size; i++) out[offset + i] = rng.normal() * std;
    } else if (p.init) out.fill(p.init, offset, offset + size);
    offset += size;
  }
  return out;
}

/** Checks a flat vector's length against the spec. */
export function checkParamLength(spec: ModelSpec, flat: Float32Array, name = 'params'): void {
  if (!(flat instanceof Float32Array)) throw new MetaArgumentError(`${name}: expected a Float32Array`);
  if (flat.length !== spec.paramCount) {
    throw new MetaError('META_PARAM_LENGTH', `${name}: length ${flat.length} but the ${spec.config.kind} spec has ${spec.paramCount} parameters`);
  }
}

/**
 * Splits a flat vector into parameter tensors (in spec order). The caller owns them.
 * @throws MetaError META_PARAM_LENGTH on a length mismatch
 */
export function unflattenParams(spec: ModelSpec, flat: Float32Array): Tensor[] {
  checkParamLength(spec, flat);
  let offset = 0;
  return spec.params.map((p) => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(flat.subarray(offset, offset + size), p.shape as number[], 'float32');
    offset += size;
    return t;
  });
}

/** Concatenates parameter tensors (in spec order) into a new flat vector. */
export function flattenParams(spec: ModelSpec, tensors: Tensor[]): Float32Array {
  if (tensors.length !== spec.params.length) {
    throw new MetaError('META_PARAM_LENGTH', `flattenParams: got ${tensors.length} tensors, spec has ${spec.params.length}`);
  }
  const out = new Float32Array(spec.paramCount);
  let offset = 0;
  spec.params.forEach((p, i) => {
    const t = tensors[i]!;
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (t.size !== size) throw new MetaError('META_PARAM_LENGTH', `flattenParams: tensor ${p.name} has ${t.size} entries, expected ${size}`);
    out.set(t.dataSync() as Float32Array, offset);
    offset += size;
  });
  return out;
}

export function checkPositiveInts(field: string, values: number[]): void {
  values.forEach((v, i) => requireInt(`${field}[${i}]`, v, 1));
}
