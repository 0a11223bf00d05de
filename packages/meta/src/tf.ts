/**
 * The single TensorFlow.js instance of this package. Every module imports tf from here
 * (never from '@tensorflow/tfjs-core' directly) so the backend registered by
 * selectBackend() is the one every op runs on. @tensorflow/tfjs and the wasm backend both
 * resolve the same hoisted @tensorflow/tfjs-core, which test/backend.test.ts checks.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
