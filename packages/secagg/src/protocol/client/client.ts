/**
 * The SecAgg / SecAgg+ client machine (sans-IO). The host feeds it the server's
 * messages and sends what it returns; the machine never touches sockets or clocks.
 *
 *   const client = new SecAggClient({ id, config, rng, input });
 *   send(client.start());                       // advertise-keys
 *   on message m: for (const r of client.receive(m)) send(r);
 *
 * Any sign of a faithless or broken server (bad key list, misaddressed delivery, a
 * survivor set that contradicts an earlier round, missing signatures...) moves the
 * machine to 'aborted' and throws SecAggAbortError with a registered reason; after
 * that it releases nothing. So does a survivor set below the client's own floor
 * (`minSurvivors`, TOO_FEW_SURVIVORS). An `abort` message from the server ends it quietly.
 *
 * A neighbour's share ciphertext that does not open (or opens to garbage) is that
 * neighbour's fault, not a reason to abort: the client reports it in a share-report sent
 * before its masked input, holds nothing of that neighbour and does not mask with it. Only
 * when fewer than t - 1 usable neighbours remain does it leave: receive() then returns the
 * share-report followed by its abort message (SHARE_DECRYPTION_FAILED) and the machine
 * is 'aborted' without throwing.
 */
import { ed25519PublicKey, x25519Keypair, ED25519_PUBLIC_KEY_BYTES } from '../../crypto/index.js';
import { InvalidArgumentError, SecAggError } from '../../errors.js';
import { systemRng, type Rng } from '../../rng.js';
import { normalizeConfig, normalizeMinSurvivors, type SecAggConfig } from '../config.js';
import type { AbortMessage, AdvertiseKeysMessage, ClientMessage, ServerMessage } from '../messages.js';
import { ABORT_REASONS, SecAggAbortError, SecAggProtocolError, type AbortReasonCode } from '../reasons.js';
import { signAdvertise } from '../session.js';
import type { ClientContext, ClientIdentity, ClientRoundState, ClientStateName } from './context.js';
import { AdvertiseKeysState } from './r0-advertise-keys.js';

export type { ClientStateName, ClientIdentity } from './context.js';

export interface SecAggClientOptions {
  /** This client's id (1..65535), one of config.clientIds. */
  readonly id: number;
  readonly config: SecAggConfig;
  /** Randomness for keys, b_u, Shamir coefficients and AEAD nonces (default: OS CSPRNG). */
  readonly rng?: Rng;
  /** Ed25519 identity key; required in active mode. */
  readonly identity?: ClientIdentity;
  /** Identity public key of every expected client; required in active mode. */
  readonly roster?: ReadonlyMap<number, Uint8Array>;
  /**
   * The quantised input, m entries < 2^bits (coordinate 0 typically the weight). A
   * function is called once, when the shares arrive, so training may finish late.
   */
  readonly input: Uint32Array | (() => Uint32Array);
  /**
   * This client's floor on the sum it helps release: the fewest survivors (|U3|) it
   * accepts, an integer >= 2. Shown a smaller survivor set - in the consistency request
   * (active mode, before signing) or in the unmask request - the machine aborts with
   * TOO_FEW_SURVIVORS and reveals nothing. Local configuration: it is not sent and not
   * part of the session config. Default: no floor beyond the threshold t.
   */
  readonly minSurvivors?: number;
}

export class SecAggClient {
  readonly id: number;
  private readonly ctx: ClientContext;
  private current: ClientRoundState | null = null;
  private terminal: 'idle' | 'aborted' | null = 'idle';
  private reason: AbortReasonCode | null = null;
  private detail = '';
  private byServer = false;

  /**
   * @throws InvalidArgumentError for a bad config, id, identity, roster or minSurvivors.
   */
  constructor(options: SecAggClientOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object');
    const config = normalizeConfig(options.config);
    const { id } = options;
    if (!config.clientIds.includes(id)) throw new InvalidArgumentError(`options.id: ${String(id)} is not in config.clientIds`);
    if (typeof options.input !== 'function' && !(options.input instanceof Uint32Array)) {
      throw new InvalidArgumentError('options.input: expected a Uint32Array or a function returning one');
    }
    const minSurvivors = normalizeMinSurvivors(options.minSurvivors, 'options.minSurvivors');
    let identity: ClientIdentity | null = null;
    let roster: ReadonlyMap<number, Uint8Array> | null = null;
    if (config.mode === 'active') {
      const sk = options.identity?.secretKey;
      if (!(sk instanceof Uint8Array) || sk.length !== 32) throw new InvalidArgumentError('options.identity.secretKey: active mode needs a 32-byte Ed25519 secret key');
      if (!(options.roster instanceof Map)) throw new InvalidArgumentError('options.roster: active mode needs a Map of identity public keys');
      for (const cid of config.clientIds) {
        const pk = options.roster.get(cid);
        if (!(pk instanceof Uint8Array) || pk.length !== ED25519_PUBLIC_KEY_BYTES) {
          throw new InvalidArgumentError(`options.roster: missing or malformed identity key for client ${cid}`);
        }
      }
      const own = options.roster.get(id)!;
      if (!Buffer.from(ed25519PublicKey(sk)).equals(Buffer.from(own))) {
        throw new InvalidArgumentError('options.identity: secret key does not match the roster entry of this client');
      }
      identity = { secretKey: new Uint8Array(sk) };
      roster = new Map(options.roster);
    }
    this.id = id;
    this.ctx = { id, config, rng: options.rng ?? systemRng, identity, roster, input: options.input, minSurvivors };
  }

  /** Current state name (one per round, plus idle / completed / aborted). */
  get state(): ClientStateName {
    return this.terminal ?? this.current!.name;
  }

  /** The registered reason once aborted (the server's own reason if the server aborted). */
  get abortReason(): AbortReasonCode | null {
    return this.reason;
  }

  /**
   * Why the machine aborted: its own SecAggAbortError detail, or the detail of the server's
   * abort message ('' before an abort).
   */
  get abortDetail(): string {
    return this.detail;
  }

  /** True when the abort came from the server's abort message. */
  get abortedByServer(): boolean {
    return this.byServer;
  }

  /**
   * Generates the two X25519 key pairs and returns the AdvertiseKeys message.
   * @throws SecAggProtocolError ERR_ALREADY_STARTED when called twice
   */
  start(): AdvertiseKeysMessage {
    if (this.terminal !== 'idle') throw new SecAggProtocolError('ERR_ALREADY_STARTED', 'SecAggClient.start: already started');
    const { ctx } = this;
    const c = x25519Keypair(ctx.rng);
    const s = x25519Keypair(ctx.rng);
    const keys = { cSk: c.secretKey, cPk: c.publicKey, sSk: s.secretKey, sPk: s.publicKey };
    const signature = ctx.identity ? signAdvertise(ctx.identity.secretKey, ctx.config, ctx.id, c.publicKey, s.publicKey) : null;
    this.current = new AdvertiseKeysState(ctx, keys);
    this.terminal = null;
    return { kind: 'advertise-keys', clientId: ctx.id, encryptionPublicKey: c.publicKey, maskingPublicKey: s.publicKey, signature };
  }

  /**
   * Hands one server message to the machine.
   * @returns the messages to send back (possibly none)
   * @throws SecAggAbortError (state becomes 'aborted') when the message breaks the protocol;
   *   SecAggProtocolError ERR_NOT_STARTED / ERR_SESSION_FINISHED outside a live session
   */
  receive(message: ServerMessage): ClientMessage[] {
    if (this.terminal === 'idle') throw new SecAggProtocolError('ERR_NOT_STARTED', 'SecAggClient.receive: call start() first');
    if (this.terminal === 'aborted') throw new SecAggProtocolError('ERR_SESSION_FINISHED', `SecAggClient.receive: session aborted; got ${message?.kind}`);
    if (message === null || typeof message !== 'object') {
      return this.fail(new SecAggAbortError(ABORT_REASONS.PROTOCOL_VIOLATION, 'message is not an object'));
    }
    if (message.kind === 'abort') {
      this.terminal = 'aborted';
      this.reason = message.reason;
      this.detail = message.detail;
      this.byServer = true;
      this.current = null;
      return [];
    }
    try {
      const t = this.current!.receive(message);
      if (t.abort !== undefined) {
        // The client leaves, but first tells the server what it found (a share-report).
        this.terminal = 'aborted';
        this.reason = t.abort.reason;
        this.detail = t.abort.detail;
        this.current = null;
        return [...t.sends, this.abortMessage()!];
      }
      this.current = t.next;
      return t.sends;
    } catch (err) {
      if (err instanceof SecAggAbortError) return this.fail(err);
      if (err instanceof SecAggError) {
        // A primitive rejected something the server sent (e.g. a malformed key): same as an abort.
        return this.fail(new SecAggAbortError(ABORT_REASONS.PROTOCOL_VIOLATION, `${err.code}: ${err.message}`));
      }
      throw err;
    }
  }

  /**
   * The abort message a host may send the server after this client aborted (null otherwise).
   * Its detail is always `client <id> aborted` (wire bytes; the reason travels as its code).
   * When receive() itself returned an abort message (after a share-report) it is this one.
   */
  abortMessage(): AbortMessage | null {
    if (this.reason === null || this.byServer) return null;
    return { kind: 'abort', reason: this.reason, detail: `client ${this.id} aborted` };
  }

  /** Local cancellation (e.g. the host shuts down): no further messages are produced. */
  cancel(): void {
    if (this.terminal === 'aborted') return;
    this.terminal = 'aborted';
    this.reason = ABORT_REASONS.CANCELLED;
    this.detail = 'cancelled by the host';
    this.current = null;
  }

  private fail(err: SecAggAbortError): never {
    this.terminal = 'aborted';
    this.reason = err.reason;
    this.detail = err.detail;
    this.current = null;
    throw err;
  }
}
