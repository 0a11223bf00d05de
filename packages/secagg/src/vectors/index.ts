// Test vectors: registry (the extension point), strict field readers, generation, verification.
export { registerVectorKind, registeredVectorKinds, vectorKind, type Vector, type VectorKind, type VectorValue } from './registry.js';
export * from './fields.js';
export { loadVectorKinds, OPTIONAL_KIND_MODULES } from './load.js';
export {
  generateVectorFiles, serializeVectorJson, vectorDigest, vectorKindRng, VECTOR_FORMAT, VECTOR_FORMAT_VERSION, VECTOR_MANIFEST_FILE, VECTOR_VERSION_DIR,
  type VectorFile, type VectorManifest,
} from './generate.js';
export { verifyVectorFiles, formatVectorFailure, type VectorFailure, type VectorVerifyReport } from './verify.js';
