// Sites for the coordinator tests that need whole rounds over real sockets: each speaks
// the real framing (transport's FrameWriter / FrameReader), authenticates with its key,
// and answers every roundStart of a plaintext round with a quantised zero update of
// weight 1 (or, `silent`, never answers; `leaveAfterRound`, disconnects once that round
// ended). No training, no DP of their own.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ed25519Sign, encodeUpdate, quantizeParams, systemRng, type QuantizeOptions } from '@fedmeta/secagg';
import { authTranscript, FrameReader, FrameWriter, resolveLimits, type RuntimeMessage } from '@fedmeta/transport';

export interface SiteOptions {
  /** The model's parameter count (the length of the zero update). */
  paramCount: number;
  /** Authenticate, then never answer a roundStart. */
  silent?: boolean;
  /** Close the connection once the roundEnd of this round arrived. */
  leaveAfterRound?: number;
}

/** Runs one site against `url`; resolves once the connection closes. */
export function site(url: string, identity: { publicKey: Uint8Array; secretKey: Uint8Array }, o: SiteOptions): Promise<void> {
  const limits = resolveLimits();
  const writer = new FrameWriter(limits);
  const reader = new FrameReader(limits);
  const socket = new WebSocket(url, { perMessageDeflate: false });
  const send = (msg: RuntimeMessage) => {
    for (const f of writer.frames(msg)) socket.send(f, { binary: true });
  };
  socket.on('message', (data: Buffer) => {
    const msg = reader.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (msg?.type === 'challenge') {
      const clientNonce = crypto.getRandomValues(new Uint8Array(32));
      send({ type: 'auth', publicKey: identity.publicKey, clientNonce, signature: ed25519Sign(identity.secretKey, authTranscript(msg.federationId, msg.serverNonce, clientNonce, identity.publicKey)) });
    } else if (msg?.type === 'roundStart' && !o.silent) {
      const encoding = (msg.config as { encoding: QuantizeOptions & { kind: string } }).encoding;
      assert.equal(encoding.kind, 'quantize', 'these sites answer plaintext quantised rounds only');
      send({ type: 'plainInput', round: msg.round, vector: encodeUpdate(new Float32Array(o.paramCount), 1, quantizeParams(encoding), systemRng) });
    } else if (msg?.type === 'roundEnd' && msg.round === o.leaveAfterRound) {
      socket.close(1000, 'leaving');
    }
  });
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.on('close', () => resolve()));
}
