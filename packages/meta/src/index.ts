// @fedmeta/meta: the only package that imports TensorFlow.js. No networking, no masking.
export * from './data/index.js';
