/**
 * An in-memory driver that runs one SecAgg session with real client and server
 * machines and the real wire codec (every message is encoded, recorded and decoded),
 * with a scripted dropout point per client. Used by the property tests, the transcript
 * vectors and the bench; it is also a compact reference for how a runtime drives the
 * machines (the WebSocket runtime does the same with sockets and deadlines).
 */
import type { Rng } from '../rng.js';
import type { SecAggConfig } from './config.js';
import { decodeMessage, encodeMessage } from './codec/index.js';
import type { ClientMessage, ServerMessage } from './messages.js';
import { SecAggClient } from './client/client.js';
import { SecAggServer, type AggregationResult, type ServerSend } from './server/server.js';
import { SecAggAbortError, type AbortReasonCode } from './reasons.js';

/**
 * When a client goes silent and its connection closes:
 * - 'before-advertise': never sends anything (not in U1)
 * - 'after-advertise': sends its keys, then drops (U1 \ U2)
 * - 'after-share-keys': sends its shares, then drops (U2 \ U3: its s_sk is reconstructed)
 * - 'after-masked-input': sends its masked input, then drops (U3, silent later: b is reconstructed)
 * - 'during-unmasking': receives the unmask request, then drops without answering
 */
export type DropPoint = 'before-advertise' | 'after-advertise' | 'after-share-keys' | 'after-masked-input' | 'during-unmasking';

export const DROP_POINTS: readonly DropPoint[] = ['before-advertise', 'after-advertise', 'after-share-keys', 'after-masked-input', 'during-unmasking'];

/** One message on the wire: 0 is the server. */
export interface WireRecord {
  readonly from: number;
  readonly to: number;
  readonly bytes: Uint8Array;
}

export interface SimulationOptions {
  readonly config: SecAggConfig;
  readonly inputs: ReadonlyMap<number, Uint32Array>;
  /** Per-client randomness (seeded for vectors, systemRng otherwise). */
  readonly clientRng: (id: number) => Rng;
  readonly serverRng?: Rng;
  /** Active mode: Ed25519 identity secret keys and the roster of public keys. */
  readonly identities?: ReadonlyMap<number, Uint8Array>;
  readonly roster?: ReadonlyMap<number, Uint8Array>;
  /** Whether the server also gets the roster and checks signatures (default true; false models a server that skips its checks). */
  readonly serverChecksSignatures?: boolean;
  readonly dropouts?: ReadonlyMap<number, DropPoint>;
  /** Each client's local floor on |U3| (SecAggClientOptions.minSurvivors), by client id; absent: none. */
  readonly clientMinSurvivors?: ReadonlyMap<number, number>;
  /** The server's floor on |U3| (SecAggServerOptions.minSurvivors); absent: none. */
  readonly serverMinSurvivors?: number;
  /** Called with each message as it goes on the wire (may throw to stop the run early). */
  readonly onWire?: (record: WireRecord, index: number) => void;
  /** Adversarial hook: rewrite (or suppress with null) a server message before it is encoded. */
  readonly tamper?: (send: ServerSend) => ServerSend | null;
  /**
   * Faulty-member hook: rewrite (or suppress with null) a message client `from` sends, before
   * it is encoded (e.g. garbage share ciphertexts, a corrupted unmask share).
   */
  readonly clientTamper?: (from: number, message: ClientMessage) => ClientMessage | null;
}

export interface SimulationOutcome {
  readonly result: AggregationResult | null;
  readonly serverAbortReason: AbortReasonCode | null;
  /** Aborts of client machines (thrown, or returned after a share-report), by client id. */
  readonly clientAborts: ReadonlyMap<number, SecAggAbortError>;
  /** Every message in the order it was sent. */
  readonly transcript: readonly WireRecord[];
  readonly server: SecAggServer;
  readonly clients: ReadonlyMap<number, SecAggClient>;
}

const STAGE_OF_KIND: Record<ClientMessage['kind'], number> = {
  'advertise-keys': 1,
  'share-keys': 2,
  // sent just before the masked input, in the same reply
  'share-report': 2.5,
  'masked-input': 3,
  'consistency-signature': 4,
  'unmask-response': 5,
  abort: 9,
};
const LAST_STAGE: Record<DropPoint, number> = {
  'before-advertise': 0,
  'after-advertise': 1,
  'after-share-keys': 2,
  'after-masked-input': 3,
  'during-unmasking': 4,
};

/** Runs one session to completion or abort. */
export function simulateSession(options: SimulationOptions): SimulationOutcome {
  const { config } = options;
  const serverRoster = options.serverChecksSignatures === false ? undefined : options.roster;
  const server = new SecAggServer(config, options.serverRng, {
    ...(serverRoster ? { roster: serverRoster } : {}),
    ...(options.serverMinSurvivors !== undefined ? { minSurvivors: options.serverMinSurvivors } : {}),
  });
  const transcript: WireRecord[] = [];
  const clients = new Map<number, SecAggClient>();
  const clientAborts = new Map<number, SecAggAbortError>();
  const gone = new Set<number>();
  const dropouts = options.dropouts ?? new Map<number, DropPoint>();
  const limits = { maxVectorLength: config.vectorLength };

  for (const id of server.config.clientIds) {
    const secretKey = options.identities?.get(id);
    const minSurvivors = options.clientMinSurvivors?.get(id);
    clients.set(id, new SecAggClient({
      id,
      config,
      rng: options.clientRng(id),
      input: options.inputs.get(id) ?? new Uint32Array(config.vectorLength),
      ...(secretKey ? { identity: { secretKey } } : {}),
      ...(options.roster ? { roster: options.roster } : {}),
      ...(minSurvivors !== undefined ? { minSurvivors } : {}),
    }));
  }

  const record = (r: WireRecord): void => {
    transcript.push(r);
    options.onWire?.(r, transcript.length - 1);
  };

  const drop = (id: number): void => {
    if (gone.has(id)) return;
    gone.add(id);
    if (server.state !== 'completed' && server.state !== 'aborted') server.clientDropped(id);
  };

  const clientSend = (id: number, original: ClientMessage): void => {
    const point = dropouts.get(id);
    if (point !== undefined && STAGE_OF_KIND[original.kind] > LAST_STAGE[point]) {
      drop(id);
      return;
    }
    const message = options.clientTamper ? options.clientTamper(id, original) : original;
    if (message === null) return;
    const bytes = encodeMessage(message);
    record({ from: id, to: 0, bytes });
    try {
      server.receive(id, decodeMessage(bytes, limits) as ClientMessage);
    } catch {
      // A rejected message changes nothing on the server; the round goes on.
    }
    if (point !== undefined && STAGE_OF_KIND[original.kind] === LAST_STAGE[point] && point !== 'during-unmasking') drop(id);
  };

  const deliver = (sends: readonly ServerSend[]): void => {
    for (const original of sends) {
      const send = options.tamper ? options.tamper(original) : original;
      if (send === null || gone.has(send.to)) continue;
      const bytes = encodeMessage(send.message);
      record({ from: 0, to: send.to, bytes });
      const client = clients.get(send.to)!;
      if (client.state === 'aborted') continue;
      const message = decodeMessage(bytes, limits) as ServerMessage;
      if (message.kind === 'unmask-request' && dropouts.get(send.to) === 'during-unmasking') {
        drop(send.to);
        continue;
      }
      let replies: ClientMessage[];
      try {
        replies = client.receive(message);
      } catch (err) {
        if (!(err instanceof SecAggAbortError)) throw err;
        clientAborts.set(send.to, err);
        const abort = client.abortMessage();
        if (abort) clientSend(send.to, abort);
        drop(send.to);
        continue;
      }
      for (const reply of replies) clientSend(send.to, reply);
      if ((client.state as string) === 'aborted' && client.abortReason !== null && !client.abortedByServer) {
        // It left after reporting (its abort message was among the replies).
        clientAborts.set(send.to, new SecAggAbortError(client.abortReason, client.abortDetail));
        drop(send.to);
      }
    }
  };

  for (const [id, client] of clients) {
    if (dropouts.get(id) === 'before-advertise') {
      drop(id);
      continue;
    }
    clientSend(id, client.start());
  }
  while (server.state !== 'completed' && server.state !== 'aborted') {
    deliver(server.closeRound().sends);
  }
  return { result: server.result, serverAbortReason: server.abortReason, clientAborts, transcript, server, clients };
}
