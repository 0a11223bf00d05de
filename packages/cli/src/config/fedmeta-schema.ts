/**
 * The fedmeta config file: one document (JSON or YAML) shared by `server`, `client` and
 * `simulate`. Each command reads the sections it needs; rules that tie fields together
 * (TLS or insecure, a roster for a real server, ...) live in ./rules.ts.
 */
import { bool, int, num, obj, oneOf, str, type Infer } from './schema.js';

const MAX = Number.MAX_SAFE_INTEGER;
const ms = (doc: string, dflt: number) => int({ doc: `${doc} (milliseconds)`, min: 100, max: 86_400_000, default: dflt });

export const SECAGG_MODES = ['secagg+', 'secagg', 'plaintext'] as const;
export const ALGORITHMS = ['reptile', 'fomaml', 'maml', 'perfedavg', 'fedavg', 'protonets'] as const;

export const fedmetaSchema = obj('fedmeta config', {
  server: obj('the coordinator', {
    host: str({ doc: 'address to listen on', default: '0.0.0.0' }),
    port: int({ doc: 'TCP port (the one port to open in the firewall)', min: 1, max: 65535, default: 8443 }),
    tls: obj('TLS: both files in PEM; required unless insecure is true', {
      cert: str({ doc: 'certificate chain file (PEM)' }),
      key: str({ doc: 'private key file (PEM)' }),
    }),
    insecure: bool({ doc: 'serve plain ws:// without TLS (loopback/testing only; must be explicit)', default: false }),
    roster: str({ doc: 'roster file of allowed client public keys (fedmeta keygen --roster)' }),
    checkpointDir: str({ doc: 'directory for the model, round number and DP ledger checkpoints', default: './fedmeta-checkpoint' }),
    rounds: int({ doc: 'federated rounds to run', min: 1, max: 1_000_000, default: 20 }),
    minClients: int({ doc: 'smallest cohort a round may start or finish with', min: 2, max: MAX, default: 3 }),
    clientsPerRound: int({ doc: 'clients invited per round (0 = every connected client)', min: 0, max: MAX, default: 0 }),
    heartbeatMs: ms('ping interval; a client silent for 3 intervals is dropped', 15_000),
    deadlines: obj('per-phase deadlines; a client that misses one drops out of the round', {
      train: ms('local training and masked upload', 600_000),
      advertise: ms('key advertisement', 30_000),
      share: ms('encrypted share exchange', 30_000),
      masked: ms('masked input collection', 600_000),
      unmask: ms('unmasking (share reveal)', 30_000),
    }),
  }),
  secagg: obj('secure aggregation', {
    mode: oneOf(SECAGG_MODES, { doc: 'secagg+ (sparse graph), secagg (complete graph) or plaintext (no masking, testing)', default: 'secagg+' }),
    bits: int({ doc: 'bits per quantised entry (modulus 2^bits)', min: 8, max: 52, default: 32 }),
    threshold: int({ doc: 'Shamir threshold t; default: derived from the fractions below', min: 2, max: MAX }),
    dropoutFraction: num({ doc: 'fraction of clients that may drop out in a round', min: 0, max: 0.5, default: 0.1 }),
    corruptFraction: num({ doc: 'fraction of clients assumed colluding with the server', min: 0, max: 0.5, default: 0.05 }),
    clip: num({ doc: 'quantisation range: each entry is clipped to [-clip, clip] before encoding', min: 0, max: Infinity, exclusiveMin: true, default: 1 }),
  }),
  dp: obj('differential privacy (distributed discrete Gaussian)', {
    enabled: bool({ doc: 'add noise and charge the privacy ledger', default: true }),
    epsilon: num({ doc: 'total privacy budget over the whole run', min: 0, max: 1000, exclusiveMin: true, default: 8 }),
    delta: num({ doc: 'DP delta', min: 0, max: 0.1, exclusiveMin: true, default: 1e-5 }),
    accountant: oneOf(['rdp', 'pld'] as const, { doc: 'privacy accountant', default: 'rdp' }),
    l2Clip: num({ doc: 'L2 norm each client update is clipped to', min: 0, max: Infinity, exclusiveMin: true, default: 1 }),
    sigma: num({ doc: 'noise multiplier; default: planned from epsilon, delta and rounds', min: 0, max: 1000, exclusiveMin: true }),
  }),
  meta: obj('meta-learning', {
    algorithm: oneOf(ALGORITHMS, { doc: 'meta-learning algorithm', default: 'reptile' }),
    model: oneOf(['mlp', 'cnn'] as const, { doc: 'model architecture', default: 'mlp' }),
    innerLr: num({ doc: 'inner-loop (client) learning rate', min: 0, max: 100, exclusiveMin: true, default: 0.05 }),
    innerSteps: int({ doc: 'inner-loop steps per round', min: 1, max: 10_000, default: 5 }),
    serverLr: num({ doc: 'meta (server) learning rate', min: 0, max: 100, exclusiveMin: true, default: 1 }),
    serverOptimizer: oneOf(['sgd', 'momentum', 'adam'] as const, { doc: 'meta-optimiser applied to the aggregate', default: 'sgd' }),
    batchSize: int({ doc: 'mini-batch size for inner steps', min: 1, max: 100_000, default: 32 }),
    evalSteps: int({ doc: 'fine-tuning steps before measuring personalised accuracy', min: 0, max: 10_000, default: 5 }),
    backend: oneOf(['auto', 'wasm', 'cpu'] as const, { doc: 'TensorFlow.js backend (auto: wasm if it loads, else cpu)', default: 'auto' }),
  }),
  data: obj('training data', {
    source: oneOf(['mnist', 'fashion-mnist', 'idx', 'csv', 'json'] as const, { doc: 'dataset', default: 'mnist' }),
    path: str({ doc: 'data file or directory (idx, csv, json; fashion-mnist: directory of the .gz IDX files)' }),
    partition: oneOf(['classes', 'dirichlet', 'iid'] as const, { doc: 'how the demo datasets are split into non-IID clients', default: 'classes' }),
    classesPerClient: int({ doc: 'labels per client when partition is classes', min: 1, max: 1000, default: 2 }),
    alpha: num({ doc: 'Dirichlet concentration when partition is dirichlet', min: 0, max: 1000, exclusiveMin: true, default: 0.3 }),
    supportPerClass: int({ doc: 'support (training) examples per class per client', min: 1, max: 100_000, default: 20 }),
    queryPerClass: int({ doc: 'query (evaluation) examples per class per client', min: 1, max: 100_000, default: 20 }),
    clientIndex: int({ doc: "which shard of a demo split this client uses (client only; real institutions set path)", min: 0, max: MAX }),
    seed: int({ doc: 'seed for the split and initial model', min: 0, max: 2 ** 32 - 1, default: 1 }),
  }),
  client: obj('one institution\'s client', {
    identity: str({ doc: 'identity file from fedmeta keygen (secret; mode 0600)' }),
    server: str({ doc: 'coordinator URL', pattern: /^wss?:\/\/[^\s]+$/, patternHint: 'must be a ws:// or wss:// URL, e.g. wss://coordinator.example.org:8443' }),
    ca: str({ doc: 'CA or self-signed certificate (PEM) to trust for the server' }),
    reconnectMinMs: ms('first reconnect delay', 500),
    reconnectMaxMs: ms('longest reconnect delay (exponential backoff with jitter)', 30_000),
  }),
  output: obj('what the run writes', {
    model: str({ doc: 'directory for the final model in tfjs format (model.json + weights.bin)', default: './fedmeta-out/model' }),
    log: str({ doc: 'file for structured JSON logs ("-" for stderr); default: no JSON log' }),
  }),
  simulate: obj('fedmeta simulate only', {
    clients: int({ doc: 'clients in the simulated federation', min: 2, max: 1000, default: 6 }),
    drop: str({
      doc: 'clients to kill: ROUND:PHASE[,ROUND:PHASE...] with PHASE one of train, share, masked, unmask; "none" for no drops',
      default: '2:masked',
      pattern: /^(none|\d+:(train|advertise|share|masked|unmask)(,\d+:(train|advertise|share|masked|unmask))*)$/,
      patternHint: 'must be "none" or ROUND:PHASE[,ROUND:PHASE...], e.g. "2:masked,3:share"',
    }),
  }),
});

export type FedmetaConfig = Infer<typeof fedmetaSchema>;
