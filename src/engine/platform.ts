/**
 * What the engine needs from its host platform. The same `Session` runs in the extension's
 * offscreen document (real `RTCPeerConnection`, IndexedDB), in Node agents and in Node tests
 * (node-datachannel), so every platform capability comes in through these small interfaces.
 * Nothing here may import extension or Node APIs.
 */

export type SignalingState =
  | 'stable'
  | 'have-local-offer'
  | 'have-remote-offer'
  | 'have-local-pranswer'
  | 'have-remote-pranswer'
  | 'closed';

export type PeerConnectionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface SessionDescriptionLike {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp?: string;
}

export interface IceCandidateLike {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex?: number | null;
}

/** The subset of `RTCDataChannel` the engine uses. Channels are always negotiated out of band. */
export interface DataChannelLike {
  readonly label: string;
  readonly readyState: 'connecting' | 'open' | 'closing' | 'closed';
  readonly bufferedAmount: number;
  send(data: string): void;
  close(): void;
  onopen: (() => void) | null;
  onclose: (() => void) | null;
  onerror: ((err: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

/** An opaque media track: a `MediaStreamTrack` in browsers; platforms without media never produce one. */
export type MediaTrackLike = { readonly kind: string; readonly id: string };

export interface RtpSenderLike {
  readonly track: MediaTrackLike | null;
  replaceTrack(track: MediaTrackLike | null): Promise<void>;
}

export interface RtpReceiverLike {
  readonly track: MediaTrackLike | null;
}

export interface TransceiverLike {
  readonly mid: string | null;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive' | 'stopped';
  readonly sender: RtpSenderLike;
  readonly receiver: RtpReceiverLike;
}

export interface TrackEventLike {
  readonly track: MediaTrackLike;
  readonly transceiver: TransceiverLike;
}

/**
 * The subset of the W3C `RTCPeerConnection` the engine drives (perfect negotiation, negotiated
 * data channels, media transceivers). A browser passes a real `RTCPeerConnection`; Node passes
 * an adapter over node-datachannel that keeps these semantics, including implicit
 * `setLocalDescription()` and `rollback`.
 */
export interface RtcPeerLike {
  readonly signalingState: SignalingState;
  readonly connectionState: PeerConnectionState;
  readonly localDescription: SessionDescriptionLike | null;
  readonly remoteDescription: SessionDescriptionLike | null;
  setLocalDescription(description?: SessionDescriptionLike): Promise<void>;
  setRemoteDescription(description: SessionDescriptionLike): Promise<void>;
  addIceCandidate(candidate: IceCandidateLike): Promise<void>;
  createDataChannel(label: string, init: { negotiated: true; id: number; ordered?: boolean }): DataChannelLike;
  addTransceiver(kind: 'audio' | 'video', init: { direction: 'sendrecv' }): TransceiverLike;
  getTransceivers(): TransceiverLike[];
  close(): void;
  onnegotiationneeded: (() => void) | null;
  onicecandidate: ((ev: { candidate: IceCandidateLike | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((ev: TrackEventLike) => void) | null;
}

export interface IceServerConfig {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface PeerConnectionConfig {
  iceServers: IceServerConfig[];
  /** 'relay' hides this participant's IP addresses from the others: only TURN candidates. */
  iceTransportPolicy?: 'all' | 'relay';
}

/**
 * Makes peer connections that all present this participant's one certificate, and reads the
 * remote certificate's fingerprint from the DTLS handshake (never from SDP).
 */
export interface PeerFactory {
  /** Fingerprint of our own certificate: lowercase hex pairs joined by ':' (SHA-256 of the DER). */
  readonly localFingerprint: string;
  create(config: PeerConnectionConfig): RtcPeerLike;
  /**
   * SHA-256 fingerprint of the certificate the remote side presented in the DTLS handshake of
   * this connection, in the same format as `localFingerprint`; null when it cannot be read
   * (the caller then fails closed).
   */
  remoteFingerprint(pc: RtcPeerLike): Promise<string | null>;
  /** Whether this platform can send and receive real media (Node peers cannot). */
  readonly supportsMedia: boolean;
}

/** Minimal WebSocket client surface (browser `WebSocket` or `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev?: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev?: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** Small persistent key/value store (chrome.storage / IndexedDB in the extension, a file or memory in Node). */
export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Local camera and microphone; absent on platforms without media. */
export interface MediaProvider {
  getMicrophone(): Promise<MediaTrackLike>;
  getCamera(): Promise<MediaTrackLike>;
  stop(track: MediaTrackLike): void;
}

export interface Logger {
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
}

export interface Platform {
  peers: PeerFactory;
  webSocket: WebSocketFactory;
  clock: Clock;
  /** Cryptographically secure random bytes. */
  randomBytes(n: number): Uint8Array;
  storage: KeyValueStore;
  media?: MediaProvider;
  log: Logger;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

export function secureRandomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}
