/**
 * Standard-format export: writes `model.json` (tfjs layers format, with weightsManifest) and
 * `weights.bin` that plain TensorFlow.js loads with tf.loadLayersModel. The functional model
 * is rebuilt as a tf.layers model with the same layout (our flat order already uses the
 * layers' kernel layouts), its weights set from the flat vector, and saved through tfjs's own
 * serialiser, so the files are exactly what tfjs writes. The exported model outputs logits.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MetaArgumentError } from './errors.js';
import { unflattenParams, type ModelSpec } from './models/spec.js';
import { tf, type Tensor } from './tf.js';

function buildLayers(spec: ModelSpec): tf.LayersModel {
  const c = spec.config;
  if (c.kind === 'mlp' || c.kind === 'linear') {
    const input = tf.input({ shape: c.inputShape });
    let h: tf.SymbolicTensor = c.inputShape.length > 1 ? (tf.layers.flatten().apply(input) as tf.SymbolicTensor) : input;
    (c.kind === 'mlp' ? c.hidden : []).forEach((units, i) => {
      h = tf.layers.dense({ units, activation: 'relu', name: `dense${i}` }).apply(h) as tf.SymbolicTensor;
    });
    const out = tf.layers.dense({ units: c.numClasses, name: 'head' }).apply(h) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }
  if (c.kind === 'cnn') {
    const input = tf.input({ shape: c.inputShape });
    let a = input;
    c.channels.forEach((filters, i) => {
      a = tf.layers.conv2d({ filters, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: `conv${i}` }).apply(a) as tf.SymbolicTensor;
    });
    a = tf.layers.flatten().apply(a) as tf.SymbolicTensor;
    a = tf.layers.dense({ units: c.embedding, activation: 'relu', name: 'embed' }).apply(a) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: c.numClasses, name: 'head' }).apply(a) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }
  if (c.kind === 'resnet18') {
    throw new MetaArgumentError('export: resnet18 uses group normalisation, for which tfjs layers has no layer; export supports linear, mlp, cnn and resnet');
  }
  const input = tf.input({ shape: c.inputShape });
  const conv = (name: string, filters: number, strides: number, x: tf.SymbolicTensor, relu: boolean) =>
    tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: 'same', name, ...(relu ? { activation: 'relu' as const } : {}) }).apply(x) as tf.SymbolicTensor;
  let a = conv('stem', c.stages[0]!, 1, input, true);
  c.stages.forEach((ch, s) => {
    a = conv(`s${s}_down`, ch, s === 0 ? 1 : 2, a, true);
    const inner = conv(`s${s}_block_conv0`, ch, 1, a, true);
    const outer = conv(`s${s}_block_conv1`, ch, 1, inner, false);
    a = tf.layers.reLU().apply(tf.layers.add().apply([a, outer])) as tf.SymbolicTensor;
  });
  a = tf.layers.globalAveragePooling2d({}).apply(a) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: c.numClasses, name: 'head' }).apply(a) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** The spec's parameters as a tf.layers model (the caller disposes it). */
export function toLayersModel(spec: ModelSpec, params: Float32Array): tf.LayersModel {
  const model = buildLayers(spec);
  const tensors = unflattenParams(spec, params);
  try {
    // Layers with weights appear in the same order as our (kernel, bias) pairs.
    const weighted = model.layers.filter((l) => l.getWeights().length > 0);
    if (weighted.length * 2 !== tensors.length) throw new MetaArgumentError(`export: ${weighted.length} weighted layers for ${tensors.length} tensors`);
    weighted.forEach((layer, i) => layer.setWeights([tensors[2 * i]!, tensors[2 * i + 1]!] as Tensor[]));
    return model;
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/**
 * Writes `<dir>/model.json` and `<dir>/weights.bin`.
 * @returns the two paths
 * @throws MetaError META_PARAM_LENGTH when params does not fit the spec
 */
export async function exportTfjsModel(spec: ModelSpec, params: Float32Array, dir: string): Promise<{ modelJson: string; weightsBin: string }> {
  if (typeof dir !== 'string' || dir === '') throw new MetaArgumentError('dir: expected a directory path');
  const model = toLayersModel(spec, params);
  const modelJson = join(dir, 'model.json');
  const weightsBin = join(dir, 'weights.bin');
  try {
    await mkdir(dir, { recursive: true });
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
        const json = {
          format: 'layers-model',
          generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs} via @fedmeta/meta`,
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        };
        await writeFile(modelJson, JSON.stringify(json));
        await writeFile(weightsBin, new Uint8Array(weightData));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    return { modelJson, weightsBin };
  } finally {
    model.dispose();
  }
}
