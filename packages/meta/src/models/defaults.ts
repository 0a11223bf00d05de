/**
 * Tuned starting points for the CNN family on 28x28x1 images, from the FedAvg+FT lr grid on
 * non-IID Fashion-MNIST (`BENCH_GRID=1 npm run bench:cnn`, tuning seed 100; docs/experiments/meta-learning.md, "The CNN
 * family on Fashion-MNIST"): a model config, the local hyperparameters and the adaptation
 * (fine-tuning) lr. Use them as they are for similar small greyscale images, or as the centre
 * of your own grid.
 */
import type { LocalHyper } from '../algorithms/types.js';
import type { CnnConfig, ResNet18Config, ResNetConfig } from './spec.js';

export interface FamilyDefaults {
  model: CnnConfig | ResNetConfig | ResNet18Config;
  hyper: LocalHyper;
  /** adaptation lr (FedAvg+FT's fine-tuning, the MAML family's inner lr) */
  evalLr: number;
}

export const FASHION_MNIST_DEFAULTS = {
  /** two stride-2 convs and a dense embedding: the fastest (a few seconds per 25-round run here) */
  cnn: {
    model: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32], embedding: 64, numClasses: 10 },
    hyper: { localSteps: 5, batchSize: 20, lr: 0.3 },
    evalLr: 0.3,
  },
  /**
   * the residual CNN [16, 32, 64]: without normalisation it needs small steps (at lr 0.1 and
   * above it trained to 12-36%), and fine-tuning at its own training lr already overshoots
   */
  resnet: {
    model: { kind: 'resnet', inputShape: [28, 28, 1], stages: [16, 32, 64], numClasses: 10 },
    hyper: { localSteps: 5, batchSize: 20, lr: 0.03 },
    evalLr: 0.01,
  },
  /**
   * ResNet-18's layout (2 basic blocks per stage, group norm) at a quarter of its width; best at
   * the grid's largest lr, 0.3 (larger ones were not tried)
   */
  resnet18w16: {
    model: { kind: 'resnet18', inputShape: [28, 28, 1], widths: [16, 32, 64, 128], groups: 8, numClasses: 10 },
    hyper: { localSteps: 5, batchSize: 20, lr: 0.3 },
    evalLr: 0.1,
  },
} satisfies Record<string, FamilyDefaults>;
