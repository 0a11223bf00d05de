/**
 * The fedmeta config file: one document (JSON or YAML) shared by `server`, `client` and
 * `simulate`. Each command reads the sections it needs; rules that tie fields together
 * (TLS or insecure, a roster for a real server, ...) live in ./rules.ts.
 */
import { bool, int, num, obj, oneOf, str, type Infer } from './schema.js';

const MAX = Number.MAX_SAFE_INTEGER;
const ms = (doc: string, dflt: number) => int({ doc: `${doc} (milliseconds)`, min: 100, max: 86_400_000, default: dflt });

const DROP_PHASE = '(advertise-keys|share-keys|masked-input|consistency|unmasking)';
const DROP_PATTERN = new RegExp(`^(none|\\d+:${DROP_PHASE}(,\\d+:${DROP_PHASE})*)$`);

export const SECAGG_MODES = ['secagg+', 'secagg', 'auto', 'plaintext'] as const;
/** The meta package's algorithm names. */
export const ALGORITHMS = ['reptile', 'fomaml', 'maml', 'perfedavg-fo', 'perfedavg-hf', 'fedavg', 'fedavg-ft', 'fedprox', 'protonets'] as const;

export const fedmetaSchema = obj('fedmeta config', {
  server: obj('the coordinator', {
    host: str({ doc: 'address to listen on', default: '0.0.0.0' }),
    port: int({ doc: 'TCP port (the one port to open in the firewall)', min: 1, max: 65535, default: 8443 }),
    tls: obj('TLS: both files in PEM; required unless insecure is true', {
      cert: str({ doc: 'certificate chain file (PEM)' }),
      key: str({ doc: 'private key file (PEM)' }),
    }),
    insecure: bool({ doc: 'serve plain ws:// without TLS (trusted networks and testing only; must be explicit)', default: false }),
    roster: str({ doc: 'roster file of allowed client public keys (fedmeta keygen --roster)' }),
    federationId: str({ doc: 'name bound into every client signature; clients may pin it', default: 'fedmeta', pattern: /^[\x21-\x7e]{1,128}$/, patternHint: 'must be 1-128 printable ASCII characters without spaces' }),
    checkpointDir: str({ doc: 'directory for the model, round number and DP ledger; a restarted server resumes from it', default: './fedmeta-checkpoint' }),
    rounds: int({ doc: 'federated rounds to run (a resumed run counts from its checkpoint)', min: 1, max: 1_000_000, default: 20 }),
    minClients: int({ doc: 'a round starts only with at least this many authenticated, non-revoked clients', min: 2, max: MAX, default: 3 }),
    minAggregate: int({
      doc: 'floor on every released sum: no round is unmasked or released with fewer surviving inputs (announced to clients, whose secagg refuses to unmask below it); default: minClients, at least 3 with secure aggregation; 2 means each member of a 2-input sum can learn the other\'s update by subtraction',
      min: 2,
      max: MAX,
    }),
    clientsPerRound: int({ doc: 'clients sampled per round (0 = every connected client)', min: 0, max: MAX, default: 0 }),
    bench: obj('members that miss a deadline or go silent are left out of the next cohorts', {
      rounds: int({ doc: 'rounds a member sits out after its first miss; doubles with each further miss in a row (0 = never bench)', min: 0, max: 1_000_000, default: 1 }),
      maxRounds: int({ doc: 'longest bench (rounds)', min: 0, max: 1_000_000, default: 8 }),
    }),
    connections: obj('limits before the WebSocket upgrade (strangers cannot hold sockets open)', {
      max: int({ doc: 'most simultaneous TCP connections in all', min: 1, max: 1_000_000, default: 1024 }),
      perAddress: int({ doc: 'most simultaneous connections from one remote address', min: 1, max: 1_000_000, default: 64 }),
      idleTimeout: ms('a connection that sends nothing before its upgrade is closed after', 10_000),
      headersTimeout: ms('the upgrade request\'s headers must arrive within', 10_000),
    }),
    dashboard: obj('the operator dashboard (https://HOST:PORT/dashboard) and Prometheus metrics (/metrics) on the server port, behind one operator token; both are off without a token', {
      token: str({ doc: 'the operator token (16-1024 characters without spaces, e.g. the output of `openssl rand -hex 24`); prefer tokenFile, which keeps it out of a shared config', pattern: /^\S{16,1024}$/, patternHint: 'must be 16-1024 characters without spaces (e.g. the output of `openssl rand -hex 24`)' }),
      tokenFile: str({ doc: 'file whose first line is the operator token (keep it mode 0600); the same file serves Prometheus as authorization.credentials_file' }),
    }),
    evaluation: obj("federated evaluation: after every k-th round (and the last) every site evaluates the new global model on its own held-out rows; the coordinator keeps the best round by the federation's accuracy as well as the last", {
      report: oneOf(['off', 'per-site', 'secure'] as const, { doc: "per-site: each site sends its own metrics (the coordinator sees every site's and their weighted mean); secure: only the sums, through secure aggregation (the coordinator sees the federation's metrics alone); off: no federated evaluation", default: 'per-site' }),
      everyRounds: int({ doc: 'evaluate every k-th round (and the last)', min: 1, max: 1_000_000, default: 1 }),
      bins: int({ doc: 'score-histogram bins from which the federated AUC of a binary task is computed', min: 2, max: 1024, default: 100 }),
      sendToSites: oneOf(['last', 'best'] as const, { doc: 'the model every site receives at the end: the last round\'s or the best round\'s (both are written on the coordinator)', default: 'last' }),
    }),
    heartbeat: obj('liveness', {
      intervalMs: ms('WebSocket ping interval', 5_000),
      timeoutMs: ms('a connection silent this long is dropped', 30_000),
    }),
    deadlines: obj('per-phase deadlines; a client that misses one drops out of the round, which goes on', {
      auth: ms('connect to authenticated', 10_000),
      waitForClients: ms('once minClients members are connected, how long a round waits for the rest of the roster before it starts; a member that has not connected by then is not waited for again until it connects', 60_000),
      training: ms('local training and key advertisement', 120_000),
      progress: ms('while training, the longest a member may go without a progress frame before it is dropped from the round (heartbeats do not count)', 30_000),
      shareKeys: ms('encrypted share exchange', 30_000),
      maskedInput: ms('masked input collection', 30_000),
      consistency: ms('consistency check (active security only)', 30_000),
      unmasking: ms('unmasking (share reveal)', 30_000),
    }),
  }),
  secagg: obj('secure aggregation', {
    mode: oneOf(SECAGG_MODES, {
      doc: 'auto (secagg below secagg.plusFromClients clients, secagg+ from there), secagg+ (sparse k-regular graph), secagg (complete graph) or plaintext (no masking: benchmarks only)',
      default: 'auto',
    }),
    security: oneOf(['semi-honest', 'active'] as const, { doc: 'active: clients sign key advertisements and run the consistency check', default: 'semi-honest' }),
    plusFromClients: int({ doc: "cohort size from which mode 'auto' uses secagg+", min: 2, max: MAX, default: 16 }),
    bits: int({ doc: 'ring size 2^bits of the encoded entries (the SecAgg modulus); default 32, with or without DP', min: 8, max: 32 }),
    threshold: int({ doc: 'Shamir threshold t; default: from the parameter finder (secagg+) or floor(2n/3)+1 (secagg)', min: 2, max: MAX }),
    dropoutFraction: num({ doc: 'fraction of clients that may drop out in a round (parameter finder input)', min: 0, max: 0.5, default: 0.1 }),
    corruptFraction: num({ doc: 'fraction of clients assumed to collude with the server (parameter finder input)', min: 0, max: 0.5, default: 0.05 }),
    clip: num({ doc: 'without DP: each update entry is clipped to [-clip, clip] before quantisation', min: 0, max: Infinity, exclusiveMin: true, default: 1 }),
  }),
  dp: obj('differential privacy (distributed discrete Gaussian noise added by the clients)', {
    enabled: bool({ doc: 'add noise and charge the privacy ledger every round', default: true }),
    epsilon: num({ doc: 'total privacy budget; the server stops before a round that would exceed it', min: 0, max: 1000, exclusiveMin: true, default: 8 }),
    delta: num({ doc: 'delta of the (epsilon, delta) guarantee', min: 0, max: 0.1, exclusiveMin: true, default: 1e-5 }),
    l2Clip: num({ doc: 'L2 norm every client update is clipped to', min: 0, max: Infinity, exclusiveMin: true, default: 1 }),
    noiseMultiplier: num({ doc: 'noise multiplier z (central noise std = z * l2Clip); default: planned so that server.rounds rounds spend epsilon', min: 0, max: 1000, exclusiveMin: true }),
    unit: oneOf(['client', 'record'] as const, {
      doc: "unit of privacy: client (each site's whole update; the coordinator's ledger) or record (each record of each site: DP-SGD at every site, dp.epsilon per site, every site charging its own ledger client.dp.ledger; dp.l2Clip is then the per-record gradient clip C)",
      default: 'client',
    }),
    mode: oneOf(['local', 'distributed'] as const, {
      doc: 'record unit: local (each site adds all the DP-SGD noise itself; meta.localSteps steps per round; no trust in anyone) or distributed (one DP-SGD step per round, each site adds a discrete Gaussian share under SecAgg; needs at least t honest sites, protocol-spec/08-dp.md)',
      default: 'local',
    }),
    sampleRate: num({ doc: 'record unit: Poisson sampling rate q of every site\'s records per DP-SGD step (epsilon depends on q, not on a site\'s size)', min: 0, max: 1, exclusiveMin: true, default: 0.1 }),
    expectedBatchSize: num({ doc: 'record unit, distributed: the released noisy gradient sum is divided by this public constant (e.g. sampleRate x the federation\'s expected records); the step is -meta.lr x sum / expectedBatchSize', min: 0, max: 1e9, exclusiveMin: true }),
  }),
  meta: obj('meta-learning', {
    algorithm: oneOf(ALGORITHMS, { doc: 'client algorithm', default: 'reptile' }),
    model: oneOf(['mlp', 'cnn', 'linear'] as const, { doc: 'model architecture (linear: softmax regression, logits = xW + b, no hidden layer)', default: 'mlp' }),
    hidden: int({ doc: 'mlp: width of the hidden layer; cnn: width of the embedding layer; linear: unused', min: 1, max: 100_000, default: 64 }),
    localSteps: int({ doc: 'local steps per round (SGD steps, meta-steps or episodes, per algorithm)', min: 1, max: 100_000, default: 10 }),
    batchSize: int({ doc: 'mini-batch size drawn from the support set', min: 1, max: 100_000, default: 32 }),
    lr: num({ doc: 'local step size (SGD lr; inner lr for reptile; outer lr for maml/perfedavg)', min: 0, max: 100, exclusiveMin: true, default: 0.05 }),
    innerLr: num({ doc: 'inner adaptation lr of the maml family and perfedavg; default: meta.lr', min: 0, max: 100, exclusiveMin: true }),
    innerSteps: int({ doc: 'inner steps of maml (default 1) and reptile (default meta.localSteps)', min: 1, max: 100_000 }),
    mu: num({ doc: 'fedprox: weight mu of the proximal term (mu/2)||w - w_global||^2 (default 0.01; 0 is fedavg)', min: 0, max: 1000 }),
    serverOptimizer: oneOf(['sgd', 'adam', 'adagrad', 'yogi'] as const, { doc: 'meta-optimiser applied to the aggregated update: sgd (with serverMomentum: FedAvgM), adam (FedAdam), adagrad (FedAdagrad), yogi (FedYogi)', default: 'sgd' }),
    serverMomentum: num({ doc: 'sgd: momentum of the server update (FedAvgM); adam/adagrad/yogi: beta1', min: 0, max: 0.999 }),
    serverLr: num({ doc: 'meta (server) learning rate; 1 with sgd is plain FedAvg averaging', min: 0, max: 100, exclusiveMin: true, default: 1 }),
    evalSteps: int({ doc: 'fine-tuning steps on each client\'s support set before measuring personalised accuracy', min: 0, max: 10_000, default: 5 }),
    backend: oneOf(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const, { doc: 'TensorFlow.js backend (auto: the first that loads of tensorflow (tfjs-node-gpu, tfjs-node), webgpu, wasm, cpu)', default: 'auto' }),
  }),
  data: obj('training data', {
    source: oneOf(['mnist', 'fashion-mnist', 'idx', 'csv', 'json'] as const, {
      doc: 'mnist / fashion-mnist: demo datasets split into non-IID shards; idx / csv / json: an institution\'s own file',
      default: 'mnist',
    }),
    path: str({ doc: 'idx: the images file; csv / json: the table; fashion-mnist: directory of the IDX files (default /usr/share/datasets/fashion-mnist)' }),
    labels: str({ doc: 'idx: the labels file' }),
    labelColumn: str({ doc: 'csv / json: the label column (key)', default: 'label' }),
    classNames: str({
      doc: 'csv / json: every label value, comma-separated (or a list), in the same order at every site (class id = position); default: numbered from the labels present, which differs between sites that lack a class',
      pattern: /^[^,]+(,[^,]+)+$/,
      patternHint: 'must list at least two label values separated by commas, e.g. "benign,malignant"',
    }),
    standardise: bool({ doc: 'csv / json: standardise every feature column (mean 0, std 1)', default: true }),
    shards: int({ doc: 'demo sources: number of clients the dataset is split into (every demo client must use the same value)', min: 2, max: 10_000, default: 3 }),
    clientIndex: int({ doc: 'demo sources, client only: which shard this client trains on (0 .. shards-1)', min: 0, max: 9_999 }),
    partition: oneOf(['classes', 'dirichlet'] as const, { doc: 'demo sources: k classes per client, or Dirichlet(alpha) label skew', default: 'classes' }),
    classesPerClient: int({ doc: 'labels per client when partition is classes', min: 1, max: 1000, default: 2 }),
    alpha: num({ doc: 'Dirichlet concentration when partition is dirichlet (smaller: more skew)', min: 0, max: 1000, exclusiveMin: true, default: 0.5 }),
    labelCodes: oneOf(['shared', 'local'] as const, {
      doc: 'demo sources: shared (every client uses the dataset\'s labels) or local (each client codes its classes 0..k-1 in its own order, like institutions with their own label vocabularies; no global test accuracy then; protonets suits it)',
      default: 'shared',
    }),
    supportPerClass: int({ doc: 'support (training) examples per class of each client; default: 80% of each class for a site\'s own file (csv, json, idx: the rest is held out for evaluation), 20% for the demo sources (their meta-learning split)', min: 1, max: 1_000_000 }),
    queryPerClass: int({ doc: 'cap on query (evaluation) examples per class of each client; default: all the rest', min: 1, max: 1_000_000 }),
    seed: int({ doc: 'seed of the split, the initial model and local batch sampling', min: 0, max: 2 ** 32 - 1, default: 1 }),
  }),
  client: obj('one institution\'s client', {
    identity: str({ doc: 'identity file from fedmeta keygen (secret; mode 0600)' }),
    server: str({ doc: 'coordinator URL', pattern: /^wss?:\/\/[^\s]+$/, patternHint: 'must be a ws:// or wss:// URL, e.g. wss://coordinator.example.org:8443' }),
    ca: str({ doc: 'CA or self-signed certificate (PEM) to trust for the server; default: the system store' }),
    federationId: str({ doc: 'refuse a server announcing another federation id (recommended)' }),
    roster: str({ doc: 'active security: the federation\'s public roster file, checked out of band; the client refuses a round listing an identity key not in it, so the server cannot swap keys; default: trust the server\'s identity list' }),
    policy: obj('this site\'s own conditions for taking part, checked against the settings the coordinator announces on connect and against every round; a violation ends the client (ERR_POLICY_REFUSED) before it trains or releases anything', {
      requireDp: bool({ doc: 'refuse a federation without differential privacy', default: false }),
      maxEpsilon: num({ doc: 'refuse a federation whose whole announced epsilon budget is larger (or that has no DP)', min: 0, max: 1000, exclusiveMin: true }),
      minCohort: int({ doc: 'refuse a federation that may run rounds with fewer members (server.minClients), and any such round', min: 2, max: MAX }),
      minAggregate: int({ doc: 'this site\'s floor on a released sum: in every round it refuses to reveal unmasking shares when fewer inputs survive (the round then aborts and releases nothing), whatever server.minAggregate says', min: 2, max: MAX }),
      requireSecurity: oneOf(['semi-honest', 'active'] as const, { doc: 'active: refuse semi-honest secure aggregation', default: 'semi-honest' }),
      requireSecAgg: bool({ doc: 'refuse plaintext aggregation (the coordinator would see this site\'s update)', default: true }),
      allowStatistics: bool({ doc: 'with requireDp or maxEpsilon: accept the statistics round of federated standardisation (feature count / sum / sum of squares, released only inside a secure sum but without DP noise); without it such a federation is refused when announced', default: false }),
      evaluation: oneOf(['per-site', 'secure'] as const, { doc: 'secure: this site\'s evaluation of the global model leaves it only inside a secure sum; it never sends a per-site report and refuses a federation that asks for one (server.evaluation.report per-site)', default: 'per-site' }),
    }),
    dp: obj('this site\'s record-level DP accounting (a federation with dp.unit record)', {
      ledger: str({ doc: 'this site\'s own privacy ledger (JSON lines, fsync\'d): every round\'s DP-SGD event is charged to it before the site trains; required to join a record-level federation; read it with fedmeta dp account --ledger FILE' }),
      budget: num({ doc: 'this site\'s epsilon budget over everything charged to its ledger; it refuses to train when the next charge would exceed it; default client.policy.maxEpsilon, else the announced dp.epsilon', min: 0, max: 1000, exclusiveMin: true }),
    }),
    reconnect: obj('reconnecting after a lost connection (exponential backoff with full jitter)', {
      maxAttempts: int({ doc: 'give up after this many consecutive failed attempts; 0 = never (keep retrying a coordinator that is down, for as long as it takes)', min: 0, max: 1_000_000, default: 0 }),
      baseDelayMs: ms('first delay; doubles per attempt', 250),
      maxDelayMs: ms('longest delay', 10_000),
    }),
  }),
  output: obj('what the run writes', {
    model: str({ doc: 'directory for the final model in tfjs format (model.json + weights.bin)', default: './fedmeta-out/model' }),
    best: str({ doc: "server: directory for the best round's model by the federated evaluation (with server.evaluation on); default: best/ beside output.model" }),
    log: str({ doc: 'file for structured JSON logs ("-" for stderr); default: no JSON log' }),
  }),
  simulate: obj('fedmeta simulate only', {
    clients: int({ doc: 'clients in the simulated federation', min: 2, max: 1000, default: 10 }),
    drop: str({
      doc: 'clients that crash (socket closed, no goodbye): ROUND:PHASE[,ROUND:PHASE...], the i-th entry kills client i after it reached PHASE (advertise-keys, share-keys, masked-input, unmasking) in ROUND; "none" for no crashes',
      default: '2:share-keys',
      pattern: DROP_PATTERN,
      patternHint: 'must be "none" or ROUND:PHASE[,ROUND:PHASE...] with PHASE one of advertise-keys, share-keys, masked-input, consistency, unmasking, e.g. "2:share-keys,3:masked-input"',
    }),
    reconnect: bool({ doc: 'crashed clients reconnect and rejoin a later round', default: true }),
    reference: bool({ doc: 'also train the reference runs on the same test set: the model on the pooled training data of all clients (as many examples as the federation processes) and each client alone (the steps it trains in the federation)', default: true }),
  }),
});

export type FedmetaConfig = Infer<typeof fedmetaSchema>;
