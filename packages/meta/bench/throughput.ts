/**
 * Bench: training throughput (samples/s of FedAvg's localUpdate, batch 20, SGD) of each model
 * on the fused wasm engine and on tfjs's wasm backend (the path every model took before the
 * engine), and, where python3 with torch is installed, the same architectures in PyTorch in
 * the same run, with the same thread count. Prints a markdown table.
 *
 *   npm run bench:throughput -w @fedmeta/meta      # also the first part of `npm run bench`
 *
 * Env: BENCH_THREADS (default 1: PyTorch's intra-op threads, OpenBLAS/OpenMP/MKL threads; the
 * fedmeta engine is single-threaded whatever this says), BENCH_SECONDS (per measurement, default
 * 3), BENCH_WARMUP (seconds before each, default 1), BENCH_REPEATS (interleaved fedmeta/PyTorch rounds per model, median reported, default 3),
 * BENCH_MODELS (comma list of mlp,cnn,resnet,resnet18; default the first three), BENCH_PYTHON
 * (interpreter; default /usr/bin/python3, then python3), BENCH_TFJS=0 (skip the slow tfjs column).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { selectBackend } from '../src/backend.js';
import { createAlgorithm } from '../src/algorithms/index.js';
import type { ClientSet, LabeledSet } from '../src/algorithms/types.js';
import { setTrainingEngine } from '../src/engine/index.js';
import { cnn, mlp, resnet, resnet18, type ModelSpec } from '../src/models/index.js';
import { createPrng } from '../src/rng.js';

const env = process.env;
const THREADS = Number(env['BENCH_THREADS'] ?? 1);
const SECONDS = Number(env['BENCH_SECONDS'] ?? 3);
const REPEATS = Number(env['BENCH_REPEATS'] ?? 3);
const BATCH = 20;
const MODELS = (env['BENCH_MODELS'] ?? 'mlp,cnn,resnet').split(',');
const WITH_TFJS = env['BENCH_TFJS'] !== '0';
/** seconds of warm-up before each measurement */
const WARMUP = Number(env['BENCH_WARMUP'] ?? 1);

interface Model {
  key: string;
  label: string;
  spec: ModelSpec;
  /** the same network in PyTorch (a Python expression building an nn.Module) */
  torch: string;
}

const ALL: Model[] = [
  {
    key: 'mlp', label: 'MLP 784-64-10, 28x28', spec: mlp({ inputShape: [28, 28, 1], hidden: [64], numClasses: 10 }),
    torch: 'MLP()',
  },
  {
    key: 'cnn', label: 'CNN [16,32] 3x3 stride-2 convs, embedding 64, 32x32x3', spec: cnn({ inputShape: [32, 32, 3], channels: [16, 32], embedding: 64, numClasses: 10 }),
    torch: 'CNN()',
  },
  {
    key: 'resnet', label: 'residual CNN [16,32,64], 32x32x3', spec: resnet({ inputShape: [32, 32, 3], stages: [16, 32, 64], numClasses: 10 }),
    torch: 'Res()',
  },
  {
    key: 'resnet18', label: 'ResNet-18 (group norm), 32x32x3', spec: resnet18({ inputShape: [32, 32, 3], numClasses: 10 }),
    torch: 'ResNet18()',
  },
];

/**
 * The PyTorch side: the same layers, He-initialised like fedmeta's (it does not matter for
 * speed), the same loop (a random batch of 20 from 400 examples, forward, cross-entropy,
 * backward, SGD step; the loss read every step as fedmeta does). TF 'same' padding of a 3x3
 * stride-2 conv on an even size pads (0, 1); PyTorch's padding=1 pads (1, 1): same output
 * shape and arithmetic, one more row and column of zeros read.
 */
const TORCH = String.raw`
import json, os, sys, time
threads = int(sys.argv[1]); secs = float(sys.argv[2]); which = sys.argv[3]
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(threads)
torch.manual_seed(0)
class MLP(nn.Module):
    def __init__(s): super().__init__(); s.l1 = nn.Linear(784, 64); s.h = nn.Linear(64, 10)
    def forward(s, x): return s.h(F.relu(s.l1(x.reshape(x.shape[0], -1))))
class CNN(nn.Module):
    def __init__(s):
        super().__init__(); s.c0 = nn.Conv2d(3, 16, 3, 2, 1); s.c1 = nn.Conv2d(16, 32, 3, 2, 1); s.e = nn.Linear(8 * 8 * 32, 64); s.h = nn.Linear(64, 10)
    def forward(s, x):
        x = F.relu(s.c0(x)); x = F.relu(s.c1(x)); return s.h(F.relu(s.e(x.flatten(1))))
class Res(nn.Module):
    def __init__(s, stages=(16, 32, 64)):
        super().__init__(); s.stem = nn.Conv2d(3, stages[0], 3, 1, 1); c = stages[0]; L = []
        for i, o in enumerate(stages):
            L.append(nn.ModuleList([nn.Conv2d(c, o, 3, 1 if i == 0 else 2, 1), nn.Conv2d(o, o, 3, 1, 1), nn.Conv2d(o, o, 3, 1, 1)])); c = o
        s.stages = nn.ModuleList(L); s.h = nn.Linear(c, 10)
    def forward(s, x):
        a = F.relu(s.stem(x))
        for d, c0, c1 in s.stages:
            a = F.relu(d(a)); a = F.relu(a + c1(F.relu(c0(a))))
        return s.h(a.mean((2, 3)))
class Block(nn.Module):
    def __init__(s, i, o, stride):
        super().__init__()
        s.c0 = nn.Conv2d(i, o, 3, stride, 1, bias=False); s.n0 = nn.GroupNorm(32, o)
        s.c1 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.n1 = nn.GroupNorm(32, o)
        s.short = None
        if stride != 1 or i != o: s.short = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.GroupNorm(32, o))
    def forward(s, x):
        y = s.n1(s.c1(F.relu(s.n0(s.c0(x)))))
        return F.relu(y + (x if s.short is None else s.short(x)))
class ResNet18(nn.Module):
    def __init__(s):
        super().__init__(); s.stem = nn.Conv2d(3, 64, 3, 1, 1, bias=False); s.n = nn.GroupNorm(32, 64)
        L = []; c = 64
        for i, w in enumerate((64, 128, 256, 512)):
            for b in range(2): L.append(Block(c, w, 2 if b == 0 and i > 0 else 1)); c = w
        s.blocks = nn.Sequential(*L); s.h = nn.Linear(512, 10)
    def forward(s, x): return s.h(s.blocks(F.relu(s.n(s.stem(x)))).mean((2, 3)))
shapes = {'mlp': (1, 28, 28), 'cnn': (3, 32, 32), 'resnet': (3, 32, 32), 'resnet18': (3, 32, 32)}
model = {'mlp': MLP, 'cnn': CNN, 'resnet': Res, 'resnet18': ResNet18}[which]()
n = 400; X = torch.randn(n, *shapes[which]); Y = torch.randint(0, 10, (n,))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
def step():
    idx = torch.randint(0, n, (20,)); opt.zero_grad(); loss = F.cross_entropy(model(X[idx]), Y[idx]); loss.backward(); opt.step(); return loss.item()
for _ in range(3): step()
k = 0; t = time.perf_counter()
while time.perf_counter() - t < secs or k < 2: step(); k += 1
rate = k * 20 / (time.perf_counter() - t)
blas = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.split()[-1].lower()})
print(json.dumps({'rate': rate, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas[:2]}))
`;

function python(): string | undefined {
  const candidates = env['BENCH_PYTHON'] ? [env['BENCH_PYTHON']] : ['/usr/bin/python3', 'python3'];
  for (const p of candidates) {
    if (p.includes('/') && !existsSync(p)) continue;
    const probe = spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return p;
  }
  return undefined;
}

interface TorchRun {
  rate: number;
  torch: string;
  threads: number;
  blas: string[];
}

function torchRate(py: string, key: string): TorchRun | string {
  const t = String(THREADS);
  const r = spawnSync(py, ['-c', TORCH, t, String(SECONDS), key], {
    encoding: 'utf8',
    env: { ...env, OMP_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, MKL_NUM_THREADS: t },
    timeout: (SECONDS * 20 + 120) * 1000,
  });
  if (r.status !== 0) return `failed: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TorchRun;
}

function randomClient(spec: ModelSpec, count: number): ClientSet {
  const rng = createPrng(1, 2);
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  const set: LabeledSet = {
    x: Float32Array.from({ length: count * per }, () => rng.normal()),
    y: Int32Array.from({ length: count }, () => rng.int(spec.numClasses)),
    count,
    shape: [...spec.inputShape],
    numClasses: spec.numClasses,
  };
  return { id: 0, support: set, query: set };
}

/**
 * Samples per second of FedAvg localUpdate (`steps` SGD steps of batch 20 per call) for about
 * `seconds` and at least `calls` calls, after a warm-up of WARMUP seconds and `calls` calls.
 */
function fedmetaRate(spec: ModelSpec, engine: 'wasm-simd' | 'tfjs', seconds: number, steps = 5, calls = 3): number {
  setTrainingEngine(engine);
  try {
    const client = randomClient(spec, 400);
    const algorithm = createAlgorithm('fedavg', spec);
    const g = spec.initParams(1);
    const hyper = { localSteps: steps, batchSize: BATCH, lr: 0.01 };
    // Warm-up: compiles the plan and lets V8 tier the generated code up from its baseline
    // compiler (Liftoff) to the optimising one, which takes a few calls of each function.
    let k = 0;
    const warm = performance.now();
    while (performance.now() - warm < WARMUP * 1000 || k < calls) algorithm.localUpdate(g, client, hyper, ++k);
    let examples = 0;
    let measured = 0;
    const started = performance.now();
    while (performance.now() - started < seconds * 1000 || measured < calls) {
      examples += algorithm.localUpdate(g, client, hyper, ++k).metrics.examples;
      measured++;
    }
    return (examples * 1000) / (performance.now() - started);
  } finally {
    setTrainingEngine('auto');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));

const started = performance.now();
const choice = await selectBackend({ prefer: 'wasm', log: (l) => process.stderr.write(`${l}\n`) });
const py = python();
const rows: string[] = [];
let torchInfo = '';
for (const m of ALL.filter((x) => MODELS.includes(x.key))) {
  const ours: number[] = [];
  const theirs: number[] = [];
  let torchNote = py ? '' : 'not installed';
  // ResNet-18 takes about a second per step here: fewer steps per call and calls per measurement.
  const big = m.key === 'resnet18';
  for (let r = 0; r < REPEATS; r++) {
    ours.push(big ? fedmetaRate(m.spec, 'wasm-simd', SECONDS, 1, 2) : fedmetaRate(m.spec, 'wasm-simd', SECONDS));
    if (py && !torchNote) {
      const t = torchRate(py, m.key);
      if (typeof t === 'string') torchNote = t;
      else {
        theirs.push(t.rate);
        torchInfo = `PyTorch ${t.torch} (${py}), ${t.threads} thread(s), BLAS ${t.blas.join(', ') || 'unknown'}`;
      }
    }
    process.stderr.write(`${m.key} round ${r + 1}: fedmeta ${fmt(ours.at(-1)!)}${theirs.length ? `, PyTorch ${fmt(theirs.at(-1)!)}` : ''}\n`);
  }
  // tfjs (the pre-engine path) once, shorter for the slow models: it is the "before" column.
  let tfjsCell = 'skipped';
  let speedup = '';
  const a = median(ours);
  if (WITH_TFJS) {
    try {
      const t = big ? fedmetaRate(m.spec, 'tfjs', 0, 1, 1) : fedmetaRate(m.spec, 'tfjs', SECONDS);
      tfjsCell = fmt(t);
      speedup = `${(a / t).toFixed(1)}x`;
    } catch (e) {
      // tfjs's wasm heap is limited; ResNet-18's tape at batch 20 can exhaust it.
      tfjsCell = `fails: ${(e as Error).message.split('\n')[0]!.slice(0, 60)}`;
    }
    process.stderr.write(`${m.key} tfjs: ${tfjsCell}\n`);
  }
  const b = theirs.length ? median(theirs) : NaN;
  rows.push(`| ${m.label} | ${fmt(a)} | ${tfjsCell} | ${speedup} | ${theirs.length ? fmt(b) : torchNote} | ${theirs.length ? (b / a).toFixed(2) : ''} |`);
}

console.log(`\n### Training throughput vs PyTorch (samples/s of one FedAvg local step, batch ${BATCH}, SGD; ${THREADS} thread(s) for PyTorch, 1 for fedmeta; median of ${REPEATS} interleaved ${SECONDS}-s runs)\n`);
console.log('| model | fedmeta, fused wasm engine | fedmeta, tfjs wasm ops (before) | engine speed-up | PyTorch CPU | PyTorch / fedmeta |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\nfedmeta: tfjs backend ${choice.name}, Node ${process.versions.node}, one thread; ${torchInfo || 'PyTorch: not measured (python3 with torch not found; apt-get install python3-torch)'}.`);
process.stderr.write(`throughput bench: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
