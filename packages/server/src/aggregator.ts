/**
 * The two ways a round's inputs become a sum, behind one interface the round driver
 * drives: the SecAgg / SecAgg+ server machine (masked inputs, dropout recovery), and
 * plaintext summation (the bench baseline: clients send their encoded inputs in the
 * clear). Both are sans-IO: they take decoded runtime messages and return what to send.
 */
import {
  addEncoded,
  abortReasonName,
  decodeMessage,
  encodeMessage,
  SecAggError,
  SecAggServer,
  type ClientMessage,
  type Rng,
  type SecAggConfig,
  type ServerMessage,
  type ServerStateName,
} from '@fedmeta/secagg';
import { TransportError, type RuntimeMessage } from '@fedmeta/transport';
import type { RoundDeadlines } from './round.js';
import type { ServerPhase } from './options.js';

/** One message for member `to` (a 1-based participant id). */
export interface AggregatorSend {
  to: number;
  message: RuntimeMessage;
}

export type AggregatorState = 'collecting' | 'completed' | 'aborted';

export interface Aggregator {
  /** The runtime phase now (shown in progress) and which deadline bounds it. */
  readonly phase: { name: ServerPhase; deadline: keyof RoundDeadlines } | null;
  readonly state: AggregatorState;
  /** The underlying machine's own state name (logged with drops), e.g. 'share-keys'. */
  readonly machineState: string;
  /** Members the current phase still waits for. */
  readonly pending: readonly number[];
  /** True when the current phase can close without waiting for its deadline. */
  readonly readyToAdvance: boolean;
  /**
   * Takes one input message of member `id`.
   * @throws TransportError with the code the member's connection is closed with
   */
  receive(id: number, msg: Extract<RuntimeMessage, { type: 'secagg' | 'plainInput' }>): AggregatorSend[];
  /** The member's connection closed, or it missed a deadline or was revoked. */
  dropped(id: number): AggregatorSend[];
  /** Closes the current phase (ready, or its deadline fired). */
  close(): AggregatorSend[];
  /** Ends the session from outside (shutdown). */
  abort(detail: string): AggregatorSend[];
  readonly result: { sum: Uint32Array; survivors: readonly number[]; dropped: readonly number[]; faulty?: readonly number[]; faults?: readonly unknown[] } | null;
  readonly abortInfo: { reason: string; detail: string } | null;
  /** Members whose input the sum would hold (their masked or plain input was taken). */
  hasInputFrom(id: number): boolean;
}

/** Every SecAgg server state, mapped to a runtime phase (terminal states have none). */
const PHASE_OF_STATE: Record<ServerStateName, Aggregator['phase']> = {
  'advertise-keys': { name: 'training', deadline: 'trainingMs' },
  'share-keys': { name: 'share-keys', deadline: 'shareKeysMs' },
  'masked-input': { name: 'masked-input', deadline: 'maskedInputMs' },
  'consistency-check': { name: 'consistency', deadline: 'consistencyMs' },
  unmasking: { name: 'unmasking', deadline: 'unmaskingMs' },
  completed: null,
  aborted: null,
};

/** A SecAggError from the machine or its codec, as the refusal the member sees. */
function refusal(err: SecAggError, what: string): TransportError {
  return new TransportError('ERR_PROTOCOL', `${what}: ${err.code}: ${err.message}`, { cause: err });
}

export class SecAggAggregator implements Aggregator {
  private readonly machine: SecAggServer;
  private readonly inputs = new Set<number>();
  private readonly encoded = new WeakMap<ServerMessage, Uint8Array>();

  constructor(
    config: SecAggConfig,
    rng: Rng,
    options: { roster?: ReadonlyMap<number, Uint8Array>; minSurvivors: number },
    private readonly round: number,
  ) {
    this.machine = new SecAggServer(config, rng, options);
  }

  get phase(): Aggregator['phase'] {
    return PHASE_OF_STATE[this.machine.state];
  }
  get state(): AggregatorState {
    const s = this.machine.state;
    return s === 'completed' || s === 'aborted' ? s : 'collecting';
  }
  get machineState(): string {
    return this.machine.state;
  }
  get pending(): readonly number[] {
    return this.machine.pendingClients;
  }
  get readyToAdvance(): boolean {
    return this.machine.readyToAdvance;
  }

  private wrap(sends: readonly { to: number; message: ServerMessage }[]): AggregatorSend[] {
    return sends.map(({ to, message }) => {
      let payload = this.encoded.get(message);
      if (!payload) {
        payload = encodeMessage(message);
        this.encoded.set(message, payload);
      }
      return { to, message: { type: 'secagg', round: this.round, payload } };
    });
  }

  receive(id: number, msg: Extract<RuntimeMessage, { type: 'secagg' | 'plainInput' }>): AggregatorSend[] {
    if (msg.type !== 'secagg') throw new TransportError('ERR_UNEXPECTED_FRAME', 'plainInput in a masked round');
    let decoded: ClientMessage;
    try {
      decoded = decodeMessage(msg.payload) as ClientMessage;
    } catch (err) {
      throw err instanceof SecAggError ? refusal(err, 'secagg message') : err;
    }
    const want = this.machine.config.vectorLength;
    if (decoded.kind === 'masked-input' && decoded.vector.length !== want) {
      throw new TransportError('ERR_VECTOR_LENGTH', `masked input has ${decoded.vector.length} entries, expected ${want}`);
    }
    let out;
    try {
      out = this.machine.receive(id, decoded);
    } catch (err) {
      throw err instanceof SecAggError ? refusal(err, `secagg ${decoded.kind}`) : err;
    }
    if (decoded.kind === 'masked-input') this.inputs.add(id);
    return this.wrap(out.sends);
  }

  dropped(id: number): AggregatorSend[] {
    if (this.state !== 'collecting') return [];
    return this.wrap(this.machine.clientDropped(id).sends);
  }
  close(): AggregatorSend[] {
    return this.wrap(this.machine.closeRound().sends);
  }
  abort(detail: string): AggregatorSend[] {
    if (this.state !== 'collecting') return [];
    return this.wrap(this.machine.abort(detail).sends);
  }
  get result(): Aggregator['result'] {
    return this.machine.result;
  }
  get abortInfo(): Aggregator['abortInfo'] {
    const r = this.machine.abortReason;
    return r === null ? null : { reason: abortReasonName(r), detail: this.machine.abortDetail };
  }
  hasInputFrom(id: number): boolean {
    return this.inputs.has(id);
  }
}

/**
 * Plaintext: one collecting phase, the training phase (members train, then send their
 * input), bounded by the training deadline and, through the round driver, by the silence
 * limit; the sum of the inputs received is released when every member answered or
 * dropped, or at the deadline, if at least `minInputs` arrived.
 */
export class PlaintextAggregator implements Aggregator {
  private readonly inputs = new Map<number, Uint32Array>();
  private readonly gone = new Set<number>();
  private done: { result: Aggregator['result'] } | { abort: { reason: string; detail: string } } | null = null;

  constructor(
    private readonly ids: readonly number[],
    private readonly vectorLength: number,
    private readonly bits: number,
    private readonly minInputs: number,
  ) {}

  get phase(): Aggregator['phase'] {
    return this.done ? null : { name: 'training', deadline: 'trainingMs' };
  }
  get state(): AggregatorState {
    return !this.done ? 'collecting' : 'result' in this.done ? 'completed' : 'aborted';
  }
  get machineState(): string {
    return 'plaintext';
  }
  get pending(): readonly number[] {
    return this.done ? [] : this.ids.filter((id) => !this.inputs.has(id) && !this.gone.has(id));
  }
  get readyToAdvance(): boolean {
    return !this.done && this.pending.length === 0;
  }

  receive(id: number, msg: Extract<RuntimeMessage, { type: 'secagg' | 'plainInput' }>): AggregatorSend[] {
    if (msg.type !== 'plainInput') throw new TransportError('ERR_UNEXPECTED_FRAME', 'secagg message in a plaintext round');
    if (this.done || this.gone.has(id)) return [];
    if (this.inputs.has(id)) throw new TransportError('ERR_PROTOCOL', 'duplicate plainInput');
    const v = msg.vector;
    if (v.length !== this.vectorLength) throw new TransportError('ERR_VECTOR_LENGTH', `plainInput has ${v.length} entries, expected ${this.vectorLength}`);
    if (this.bits < 32) for (let i = 0; i < v.length; i++) if (v[i]! >>> this.bits !== 0) throw new TransportError('ERR_BAD_PAYLOAD', `plainInput[${i}] is not below 2^${this.bits}`);
    this.inputs.set(id, v);
    return [];
  }
  dropped(id: number): AggregatorSend[] {
    if (!this.done && !this.inputs.has(id)) this.gone.add(id);
    return [];
  }
  close(): AggregatorSend[] {
    if (this.done) return [];
    const survivors = this.ids.filter((id) => this.inputs.has(id));
    const dropped = this.ids.filter((id) => !this.inputs.has(id));
    const floor = Math.max(2, this.minInputs);
    if (survivors.length < floor) {
      this.done = { abort: { reason: 'TOO_FEW_SURVIVORS', detail: `${survivors.length} plaintext inputs, below the floor of ${floor}` } };
      return [];
    }
    const sum = new Uint32Array(this.vectorLength);
    for (const id of survivors) addEncoded(sum, this.inputs.get(id)!, this.bits);
    this.done = { result: { sum, survivors, dropped } };
    return [];
  }
  abort(detail: string): AggregatorSend[] {
    if (!this.done) this.done = { abort: { reason: 'CANCELLED', detail } };
    return [];
  }
  get result(): Aggregator['result'] {
    return this.done && 'result' in this.done ? this.done.result : null;
  }
  get abortInfo(): Aggregator['abortInfo'] {
    return this.done && 'abort' in this.done ? this.done.abort : null;
  }
  hasInputFrom(id: number): boolean {
    return this.inputs.has(id);
  }
}
