/**
 * `RtcPeerLike` for Node over node-datachannel's native `PeerConnection` (libdatachannel).
 *
 * libdatachannel is close to, but not exactly, the W3C `RTCPeerConnection`. This adapter keeps
 * the semantics the engine's perfect negotiation relies on:
 *
 * - Negotiation is manual (`disableAutoNegotiation`). libdatachannel's `setLocalDescription`
 *   and `setRemoteDescription` are synchronous, so `localDescription` / `signalingState` are
 *   read from the native object and are current as soon as the call returns. Native *events*
 *   (state, candidates, tracks, gathering) arrive later on the JS thread, each kind on its own
 *   queue, so their relative order is not guaranteed; nothing here depends on it.
 * - `setLocalDescription({type: 'rollback'})` maps to native rollback. libdatachannel keeps the
 *   rolled-back offer as `localDescription()` when there was no earlier one; this adapter then
 *   reports `null` as W3C does. A remote offer in `have-local-offer` is rolled back here first.
 * - `onnegotiationneeded` is computed here (W3C "update the negotiation-needed flag"): queued
 *   as a task, fired only in `stable`, once, and fired again on return to `stable` while
 *   something (a data channel, a transceiver) is still not in the local description.
 * - Transceivers we add get mids `<3 random letters><n>` ("kqz0", "kqz1", ...) so a glare offer
 *   from the other side (browsers use "0", "1", ...) can never collide with ours: libdatachannel
 *   keys tracks by mid and would otherwise answer a remote m-line with our own description.
 *   A transceiver's `mid` is null until it is in a local or remote description, as in W3C.
 * - Remote audio/video m-lines are answered by libdatachannel's own reciprocation (same payload
 *   types as the offer, `sendrecv` for a `sendrecv` offer). The adapter lists one transceiver per
 *   remote media m-line, in m-line order, right after `setRemoteDescription`, and keeps the
 *   native track that `onTrack` later delivers (deduped by mid) so it is not garbage collected
 *   (libdatachannel holds tracks weakly; a collected track is answered as rejected next time).
 * - ICE: mDNS (`.local`) candidates are ignored in both directions (also stripped from remote
 *   SDP); remote candidates that arrive before the remote description, or while our offer is
 *   outstanding, are deferred and applied once the remote description (answer) is set.
 * - As offerer, our own candidates are withheld (from the offer's SDP and from trickle) until
 *   the answer is applied. libdatachannel 0.24 has two races when the answerer's DTLS
 *   ClientHello beats the answer here (libjuice answers checks before it has the remote
 *   description): the OpenSSL transport can drop the replayed hello and wait out the client's
 *   1 s retransmit, and a handshake that starts before the answer's fingerprint is stored fails
 *   with "certificate verify failed". An answerer that cannot reach us before we hold its answer
 *   avoids both; it costs one signaling trip (docs/decisions.md, "Node links").
 * - Every native callback is guarded: after `close()` nothing reaches user handlers, and a
 *   throwing user handler is logged, never thrown into the native layer.
 */

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import nodeDataChannel from 'node-datachannel';
import type {
  Audio as NativeAudio,
  DataChannel as NativeDataChannel,
  Direction as NativeDirection,
  IceServer as NativeIceServer,
  PeerConnection as NativePeerConnection,
  RtcConfig,
  Track as NativeTrack,
  Video as NativeVideo,
} from 'node-datachannel';
import type {
  DataChannelLike,
  IceCandidateLike,
  IceServerConfig,
  Logger,
  MediaTrackLike,
  PeerConnectionConfig,
  PeerConnectionState,
  RtcPeerLike,
  RtpReceiverLike,
  RtpSenderLike,
  SessionDescriptionLike,
  SignalingState,
  TrackEventLike,
  TransceiverLike,
} from '../../engine/platform';
import type { NodeIdentity } from './identity';
import { normalizeFingerprint } from './identity';

type TransceiverDirection = TransceiverLike['direction'];

export interface NodePeerConnectionOptions {
  /** The participant's one certificate; every connection presents it. */
  identity: NodeIdentity;
  /** Where adapter warnings go (throwing handlers, dropped candidates). Defaults to stderr. */
  log?: Logger;
  /** Optional ICE transport policy ('relay' hides host addresses; needs a TURN server). */
  iceTransportPolicy?: 'all' | 'relay';
  /** Restrict ICE to this local address (libjuice only); handy in tests. */
  bindAddress?: string;
  /**
   * Hold our candidates back while our offer waits for its answer (default true; see the
   * module comment). Off only in tests that need an offerer that trickles early, as browsers do.
   */
  withholdOfferCandidates?: boolean;
}

const stderrLogger: Logger = {
  info: (msg, meta) => console.error(`[kibitz:node-pc] ${msg}`, meta ?? ''),
  warn: (msg, meta) => console.error(`[kibitz:node-pc] WARN ${msg}`, meta ?? ''),
};

// ---------------------------------------------------------------------------------------------
// SDP helpers (only what the adapter needs)
// ---------------------------------------------------------------------------------------------

export interface SdpSection {
  kind: string;
  port: number;
  mid: string | null;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

export function parseSdpSections(sdp: string | undefined | null): SdpSection[] {
  if (!sdp) return [];
  const out: SdpSection[] = [];
  let cur: SdpSection | null = null;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const [kind = '', port = '0'] = line.slice(2).split(/\s+/);
      cur = { kind, port: Number.parseInt(port, 10) || 0, mid: null, direction: 'sendrecv' };
      out.push(cur);
    } else if (cur && line.startsWith('a=mid:')) {
      cur.mid = line.slice('a=mid:'.length).trim();
    } else if (cur && /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) {
      cur.direction = line.slice(2) as SdpSection['direction'];
    }
  }
  return out;
}

/** True for an mDNS host candidate ("… <uuid>.local <port> typ host …"). */
export function isMdnsCandidate(candidate: string): boolean {
  const fields = candidate.trim().replace(/^a=/, '').split(/\s+/);
  const address = fields[4];
  return typeof address === 'string' && address.toLowerCase().endsWith('.local');
}

function stripMdnsCandidates(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp
    .split(/\r?\n/)
    .filter((line) => !(line.startsWith('a=candidate:') && isMdnsCandidate(line)))
    .join(eol);
}

/** `sdp` without its candidate and end-of-candidates lines. */
function withoutCandidates(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
    .join('\r\n');
}

function candidateLines(sdp: string | undefined | null): string[] {
  if (!sdp) return [];
  return sdp
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('a=candidate:'))
    .map((l) => l.slice(2));
}

function reciprocal(dir: SdpSection['direction']): TransceiverDirection {
  switch (dir) {
    case 'sendonly':
      return 'recvonly';
    case 'recvonly':
      return 'sendonly';
    default:
      return dir;
  }
}

function nativeDirection(dir: TransceiverDirection): NativeDirection {
  switch (dir) {
    case 'sendonly':
      return 'SendOnly';
    case 'recvonly':
      return 'RecvOnly';
    case 'inactive':
    case 'stopped':
      return 'Inactive';
    default:
      return 'SendRecv';
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function stateError(message: string): Error {
  const err = new Error(message);
  err.name = 'InvalidStateError';
  return err;
}

// ---------------------------------------------------------------------------------------------
// Native wrapper lifetime
// ---------------------------------------------------------------------------------------------

/**
 * node-datachannel's DataChannel and Track wrappers unregister themselves from the addon's
 * instance list only when their native "closed" event has been delivered; a wrapper that is
 * garbage-collected earlier leaves a dangling pointer that crashes `cleanup()`. So every such
 * wrapper stays referenced here until its closed event has run (or until `cleanup()`).
 */
const retainedNative = new Set<object>();

type Closable = { onClosed(cb: () => void): void };

function retainNative<T extends Closable>(wrapper: T, onClosed?: () => void): T {
  retainedNative.add(wrapper);
  try {
    wrapper.onClosed(() => {
      // Release on a later turn: the addon still touches the wrapper right after this call.
      setImmediate(() => retainedNative.delete(wrapper));
      onClosed?.();
    });
  } catch {
    /* already destroyed natively; keep the reference until cleanup */
  }
  return wrapper;
}

/** Native DataChannel/Track wrappers still waiting for their closed event (leak diagnostics). */
export function retainedNativeWrapperCount(): number {
  return retainedNative.size;
}

/** A snapshot of those wrappers, so a check can count only the ones created after it. */
export function retainedNativeWrappers(): ReadonlySet<object> {
  return new Set(retainedNative);
}

/** For `shutdownNodeWebRtc()`: after the addon's cleanup() nothing refers to these any more. */
export function releaseRetainedNativeWrappers(): void {
  retainedNative.clear();
}

// ---------------------------------------------------------------------------------------------
// ICE server mapping
// ---------------------------------------------------------------------------------------------

/** Maps W3C-style ICE server entries to node-datachannel's structured form. */
export function toNativeIceServers(servers: IceServerConfig[], log: Logger = stderrLogger): NativeIceServer[] {
  const out: NativeIceServer[] = [];
  for (const server of servers ?? []) {
    const urls = Array.isArray(server.urls) ? server.urls : [server.urls];
    for (const url of urls) {
      const m = /^(stun|stuns|turn|turns):(\[[^\]]+\]|[^:?\s]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/i.exec(url.trim());
      if (!m) {
        log.warn('ignoring unsupported ICE server URL', { url });
        continue;
      }
      const scheme = (m[1] as string).toLowerCase();
      const hostname = (m[2] as string).replace(/^\[|\]$/g, '');
      const transport = (m[4] ?? '').toLowerCase();
      if (scheme === 'stun' || scheme === 'stuns') {
        out.push({ hostname, port: m[3] ? Number(m[3]) : scheme === 'stuns' ? 5349 : 3478 });
        continue;
      }
      if (typeof server.username !== 'string' || typeof server.credential !== 'string') {
        log.warn('ignoring TURN server without username/credential', { url });
        continue;
      }
      out.push({
        hostname,
        port: m[3] ? Number(m[3]) : scheme === 'turns' ? 5349 : 3478,
        username: server.username,
        password: server.credential,
        relayType: scheme === 'turns' ? 'TurnTls' : transport === 'tcp' ? 'TurnTcp' : 'TurnUdp',
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Data channels
// ---------------------------------------------------------------------------------------------

class NodeDataChannel implements DataChannelLike {
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: ((err: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onbufferedamountlow: (() => void) | null = null;

  private state: DataChannelLike['readyState'] = 'connecting';
  private lowThreshold = 0;
  private native: NativeDataChannel | null;

  constructor(
    readonly label: string,
    readonly id: number,
    readonly ordered: boolean,
    native: NativeDataChannel,
    private readonly owner: NodePeerConnection,
  ) {
    this.native = native;
    native.onOpen(owner.guard('datachannel open', () => this.markOpen()));
    retainNative(native, owner.guard('datachannel close', () => this.markClosed(true)));
    native.onError(
      owner.guard('datachannel error', (msg: string) => {
        if (this.state === 'closed') return;
        this.onerror?.(new Error(`data channel "${this.label}": ${msg}`));
      }),
    );
    native.onMessage(
      owner.guard('datachannel message', (msg: string | Buffer | ArrayBuffer) => {
        if (this.state !== 'open') return;
        let data: unknown = msg;
        if (Buffer.isBuffer(msg)) data = msg.buffer.slice(msg.byteOffset, msg.byteOffset + msg.byteLength);
        this.onmessage?.({ data });
      }),
    );
    native.onBufferedAmountLow(owner.guard('datachannel bufferedamountlow', () => this.onbufferedamountlow?.()));
    // A channel created after SCTP is up opens synchronously, before our callback existed.
    if (this.safeIsOpen()) setImmediate(owner.guard('datachannel late open', () => this.markOpen()));
  }

  get readyState(): DataChannelLike['readyState'] {
    return this.state;
  }

  get bufferedAmount(): number {
    if (!this.native || this.state === 'closed') return 0;
    try {
      return this.native.bufferedAmount();
    } catch {
      return 0;
    }
  }

  get bufferedAmountLowThreshold(): number {
    return this.lowThreshold;
  }

  set bufferedAmountLowThreshold(n: number) {
    this.lowThreshold = Math.max(0, Math.floor(n));
    try {
      this.native?.setBufferedAmountLowThreshold(this.lowThreshold);
    } catch {
      /* closed */
    }
  }

  /**
   * Sends a text message. Throws while still connecting (as a browser does); after the channel
   * or its connection closed, the message is dropped silently.
   */
  send(data: string): void {
    if (this.state === 'connecting') throw stateError(`data channel "${this.label}" is not open yet`);
    if (this.state !== 'open' || !this.native) return;
    try {
      this.native.sendMessage(data);
    } catch (err) {
      this.owner.warn('data channel send failed; message dropped', { label: this.label, error: errorMessage(err) });
    }
  }

  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    try {
      this.native?.close();
    } catch {
      this.markClosed(true);
    }
  }

  /** Connection closed locally: W3C sets 'closed' without firing events. */
  detach(): void {
    this.state = 'closed';
    const native = this.native;
    this.native = null;
    try {
      native?.close();
    } catch {
      /* already gone */
    }
  }

  private safeIsOpen(): boolean {
    try {
      return this.native?.isOpen() ?? false;
    } catch {
      return false;
    }
  }

  private markOpen(): void {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.onopen?.();
  }

  private markClosed(fire: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (fire) this.onclose?.();
  }
}

// ---------------------------------------------------------------------------------------------
// Transceivers
// ---------------------------------------------------------------------------------------------

const NO_MEDIA_MESSAGE =
  'Node peers have no media source: replaceTrack() accepts only null here (PeerFactory.supportsMedia is false)';

class NodeSender implements RtpSenderLike {
  readonly track: MediaTrackLike | null = null;
  async replaceTrack(track: MediaTrackLike | null): Promise<void> {
    if (track !== null) throw new Error(NO_MEDIA_MESSAGE);
  }
}

class NodeReceiver implements RtpReceiverLike {
  readonly track: MediaTrackLike | null = null;
}

class NodeTransceiver implements TransceiverLike {
  readonly sender = new NodeSender();
  readonly receiver = new NodeReceiver();
  /** The native track carrying this m-line; held so libdatachannel's weak reference stays alive. */
  native: NativeTrack | null = null;
  private dir: TransceiverDirection;

  constructor(
    private readonly owner: NodePeerConnection,
    readonly kind: 'audio' | 'video',
    /** The mid of this transceiver's m-line (assigned at creation for ours, from SDP for remote ones). */
    readonly nativeMid: string,
    direction: TransceiverDirection,
    /** True when we created it (addTransceiver), false when a remote offer did. */
    readonly local: boolean,
  ) {
    this.dir = direction;
  }

  /** W3C: null until the m-line is in a local or remote description. */
  get mid(): string | null {
    return this.owner.isNegotiatedMid(this.nativeMid) ? this.nativeMid : null;
  }

  get direction(): TransceiverDirection {
    return this.dir;
  }

  set direction(value: TransceiverDirection) {
    if (value === this.dir || this.dir === 'stopped') return;
    if (value === 'stopped') throw new TypeError('use stop(), not direction = "stopped"');
    this.dir = value;
    this.owner.transceiverDirectionChanged(this);
  }

  /** Marks the transceiver stopped (remote rejected its m-line, or the connection closed). */
  markStopped(): void {
    this.dir = 'stopped';
  }
}

// ---------------------------------------------------------------------------------------------
// Certificate files
// ---------------------------------------------------------------------------------------------

/**
 * Writes the identity's PEMs to a fresh private directory (0700, files 0600), runs `use` with
 * their paths and removes the directory afterwards. libdatachannel reads both files while the
 * native PeerConnection is constructed, so nothing needs to stay on disk.
 */
function withPemFiles<T>(identity: NodeIdentity, use: (certPath: string, keyPath: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kibitz-dtls-'));
  try {
    fs.chmodSync(dir, 0o700);
    const certPath = path.join(dir, 'cert.pem');
    const keyPath = path.join(dir, 'key.pem');
    fs.writeFileSync(certPath, identity.certPem, { mode: 0o600, flag: 'wx' });
    fs.writeFileSync(keyPath, identity.keyPem, { mode: 0o600, flag: 'wx' });
    return use(certPath, keyPath);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function randomMidPrefix(): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const bytes = crypto.randomBytes(3);
  return Array.from(bytes, (b) => letters[b % letters.length]).join('');
}

// ---------------------------------------------------------------------------------------------
// The peer connection
// ---------------------------------------------------------------------------------------------

export class NodePeerConnection implements RtcPeerLike {
  onnegotiationneeded: (() => void) | null = null;
  onicecandidate: ((ev: { candidate: IceCandidateLike | null }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  /** Never fires: Node peers receive no media. Kept for the interface. */
  ontrack: ((ev: TrackEventLike) => void) | null = null;

  private native: NativePeerConnection | null;
  private readonly log: Logger;
  private closed = false;
  private connState: PeerConnectionState = 'new';
  private readonly channels = new Map<number, NodeDataChannel>();
  private readonly transceivers: NodeTransceiver[] = [];
  private readonly midPrefix = randomMidPrefix();
  private midCounter = 0;
  /** Remote candidates waiting for a remote description (or, as offerer, for the answer). */
  private readonly deferredCandidates: IceCandidateLike[] = [];
  private readonly emittedCandidates = new Set<string>();
  private endOfCandidatesSent = false;
  private readonly withholdOfferCandidates: boolean;
  /** Our candidate events held back while our offer waits for its answer (null: end of candidates). */
  private readonly withheldLocal: Array<IceCandidateLike | null> = [];
  /** W3C: after rolling back our very first offer there is no local description. */
  private localRolledBackToNull = false;
  private hadStableLocalDescription = false;
  private negotiationNeeded = false;
  private negotiationTaskQueued = false;
  private lastLocal: SessionDescriptionLike | null = null;
  private lastRemote: SessionDescriptionLike | null = null;

  constructor(config: PeerConnectionConfig, options: NodePeerConnectionOptions) {
    this.log = options.log ?? stderrLogger;
    this.withholdOfferCandidates = options.withholdOfferCandidates ?? true;
    const rtcConfig: RtcConfig = {
      iceServers: toNativeIceServers(config.iceServers ?? [], this.log),
      disableAutoNegotiation: true,
    };
    const policy =
      options.iceTransportPolicy ?? (config as PeerConnectionConfig & { iceTransportPolicy?: 'all' | 'relay' }).iceTransportPolicy;
    if (policy) rtcConfig.iceTransportPolicy = policy;
    if (options.bindAddress) rtcConfig.bindAddress = options.bindAddress;
    this.native = withPemFiles(options.identity, (certificatePemFile, keyPemFile) => {
      return new nodeDataChannel.PeerConnection('kibitz', { ...rtcConfig, certificatePemFile, keyPemFile });
    });
    const pc = this.native;
    pc.onStateChange(this.guard('state change', (s: string) => this.onNativeState(s)));
    pc.onLocalCandidate(this.guard('local candidate', (c: string, mid: string) => this.onNativeCandidate(c, mid)));
    pc.onGatheringStateChange(this.guard('gathering state', (s: string) => this.onNativeGathering(s)));
    const onTrack = this.guard('track', (t: NativeTrack) => this.onNativeTrack(t));
    pc.onTrack((t: NativeTrack) => {
      retainNative(t);
      onTrack(t);
    });
    const onDataChannel = this.guard('incoming data channel', (dc: NativeDataChannel) => {
      // Kibitz negotiates every channel out of band; an in-band channel is unexpected: refuse it.
      this.log.warn('closing unexpected in-band data channel', { label: safe(() => dc.getLabel(), '?') });
    });
    pc.onDataChannel((dc: NativeDataChannel) => {
      retainNative(dc);
      onDataChannel(dc);
      safe(() => dc.close(), undefined);
    });
  }

  // ----- state -----------------------------------------------------------------------------

  get signalingState(): SignalingState {
    if (this.closed || !this.native) return 'closed';
    return safe(() => this.native!.signalingState() as SignalingState, 'closed');
  }

  get connectionState(): PeerConnectionState {
    return this.closed ? 'closed' : this.connState;
  }

  get localDescription(): SessionDescriptionLike | null {
    if (this.closed || !this.native) return this.lastLocal;
    if (this.localRolledBackToNull) return null;
    const d = safe(() => this.native!.localDescription(), null);
    if (!d) return null;
    // An outstanding offer goes out without candidates: they follow once the answer is here.
    const sdp = this.withholdingLocal() ? withoutCandidates(d.sdp) : d.sdp;
    return { type: d.type as SessionDescriptionLike['type'], sdp };
  }

  get remoteDescription(): SessionDescriptionLike | null {
    if (this.closed || !this.native) return this.lastRemote;
    const d = safe(() => this.native!.remoteDescription(), null);
    return d ? { type: d.type as SessionDescriptionLike['type'], sdp: d.sdp } : null;
  }

  /** Remote candidates currently held back (no remote description / answer yet). */
  get deferredCandidateCount(): number {
    return this.deferredCandidates.length;
  }

  // ----- negotiation -----------------------------------------------------------------------

  async setLocalDescription(description?: SessionDescriptionLike): Promise<void> {
    const pc = this.requireOpen('setLocalDescription');
    const state = this.signalingState;
    const type = description?.type;

    if (type === 'rollback') {
      if (state === 'have-local-offer') {
        this.rollbackLocalOffer();
        this.releaseLocalCandidates();
        this.afterStable();
        return;
      }
      if (state === 'have-remote-offer') {
        this.rollbackRemoteOffer();
        return;
      }
      throw stateError(`cannot roll back in signaling state ${state}`);
    }

    if (state === 'stable') {
      if (type && type !== 'offer') throw stateError(`cannot set a local ${type} in signaling state stable`);
      try {
        pc.setLocalDescription('offer');
      } catch (err) {
        throw new Error(`libdatachannel could not create an offer: ${errorMessage(err)}`);
      }
      if (this.signalingState !== 'have-local-offer') {
        throw new Error('libdatachannel did not create an offer (it considered no negotiation needed)');
      }
      this.localRolledBackToNull = false;
      return;
    }

    if (state === 'have-remote-offer') {
      if (type && type !== 'answer' && type !== 'pranswer') {
        throw stateError(`cannot set a local ${type} in signaling state have-remote-offer`);
      }
      try {
        pc.setLocalDescription(type === 'pranswer' ? 'pranswer' : 'answer');
      } catch (err) {
        throw new Error(`libdatachannel could not create an answer: ${errorMessage(err)}`);
      }
      this.localRolledBackToNull = false;
      if (this.signalingState === 'stable') {
        this.hadStableLocalDescription = true;
        this.afterStable();
      }
      return;
    }

    if (state === 'have-local-offer' && (!type || type === 'offer')) {
      // W3C would make a fresh, equivalent offer; libdatachannel ignores the call. The pending
      // offer (still `localDescription`) stays valid.
      return;
    }

    throw stateError(`cannot set a local description in signaling state ${state}`);
  }

  async setRemoteDescription(description: SessionDescriptionLike): Promise<void> {
    const pc = this.requireOpen('setRemoteDescription');
    const state = this.signalingState;

    if (description.type === 'rollback') {
      if (state === 'have-remote-offer') {
        this.rollbackRemoteOffer();
        return;
      }
      if (state === 'stable') return;
      throw stateError(`cannot roll back a remote description in signaling state ${state}`);
    }
    if (typeof description.sdp !== 'string' || description.sdp.length === 0) {
      throw new TypeError('remote description has no SDP');
    }
    const sdp = stripMdnsCandidates(description.sdp);
    const sections = parseSdpSections(sdp);

    if (description.type === 'offer') {
      if (state === 'have-local-offer') this.rollbackLocalOffer(); // implicit rollback (W3C)
      else if (state !== 'stable') throw stateError(`cannot apply a remote offer in signaling state ${state}`);
      this.checkMidCollisions(sections);
      try {
        pc.setRemoteDescription(sdp, 'offer');
      } catch (err) {
        throw new Error(`remote offer rejected: ${errorMessage(err)}`);
      }
      this.adoptRemoteMedia(sections);
      this.flushDeferredCandidates();
      this.releaseLocalCandidates(); // our offer (if any) was rolled back: we answer now
      return;
    }

    if (description.type === 'answer' || description.type === 'pranswer') {
      if (state !== 'have-local-offer' && state !== 'have-remote-pranswer') {
        throw stateError(`cannot apply a remote ${description.type} in signaling state ${state}`);
      }
      try {
        pc.setRemoteDescription(sdp, description.type);
      } catch (err) {
        throw new Error(`remote ${description.type} rejected: ${errorMessage(err)}`);
      }
      this.markRejectedMedia(sections);
      this.flushDeferredCandidates();
      this.releaseLocalCandidates();
      if (this.signalingState === 'stable') {
        this.hadStableLocalDescription = true;
        this.afterStable();
      }
      return;
    }
    throw new TypeError(`unknown description type ${String(description.type)}`);
  }

  async addIceCandidate(candidate: IceCandidateLike): Promise<void> {
    if (this.closed) return; // W3C would reject; a late candidate after close is harmless
    const text = (candidate?.candidate ?? '').trim().replace(/^a=/, '');
    if (text === '') return; // end-of-candidates
    if (isMdnsCandidate(text)) return; // libdatachannel cannot resolve mDNS; never try
    const c: IceCandidateLike = { candidate: text, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null };
    if (this.mustDeferCandidates()) {
      this.deferredCandidates.push(c);
      return;
    }
    this.applyRemoteCandidate(c, true);
  }

  // ----- channels and transceivers ---------------------------------------------------------

  createDataChannel(label: string, init: { negotiated: true; id: number; ordered?: boolean }): DataChannelLike {
    const pc = this.requireOpen('createDataChannel');
    if (!init || init.negotiated !== true) throw new TypeError('only negotiated data channels are supported');
    if (!Number.isInteger(init.id) || init.id < 0 || init.id > 65534) throw new RangeError(`bad data channel id ${init.id}`);
    if (this.channels.has(init.id)) throw new Error(`data channel id ${init.id} is already in use`);
    const native = pc.createDataChannel(label, { negotiated: true, id: init.id, unordered: init.ordered === false });
    const channel = new NodeDataChannel(label, init.id, init.ordered !== false, native, this);
    this.channels.set(init.id, channel);
    this.updateNegotiationNeeded();
    return channel;
  }

  addTransceiver(kind: 'audio' | 'video', init: { direction: 'sendrecv' }): TransceiverLike {
    this.requireOpen('addTransceiver');
    if (kind !== 'audio' && kind !== 'video') throw new TypeError(`unknown transceiver kind ${String(kind)}`);
    const mid = this.allocateMid();
    const t = new NodeTransceiver(this, kind, mid, init?.direction ?? 'sendrecv', true);
    t.native = this.addNativeTrack(kind, mid, t.direction);
    this.transceivers.push(t);
    this.updateNegotiationNeeded();
    return t;
  }

  getTransceivers(): TransceiverLike[] {
    return [...this.transceivers];
  }

  // ----- teardown --------------------------------------------------------------------------

  close(): void {
    if (this.closed) return;
    this.lastLocal = this.localDescription;
    this.lastRemote = this.remoteDescription;
    this.closed = true;
    this.connState = 'closed';
    this.deferredCandidates.length = 0;
    for (const ch of this.channels.values()) ch.detach();
    for (const t of this.transceivers) {
      t.markStopped();
      t.native = null;
    }
    const native = this.native;
    this.native = null;
    try {
      native?.close();
    } catch (err) {
      this.log.warn('native close failed', { error: errorMessage(err) });
    }
  }

  // ----- used by the factory and by channels/transceivers ----------------------------------

  /**
   * Fingerprint of the certificate the remote side presented in this connection's DTLS
   * handshake (libdatachannel records it while verifying), in the engine format; null before
   * the connection is up, after close, or when it is not a SHA-256 fingerprint.
   */
  handshakeRemoteFingerprint(): string | null {
    if (this.closed || !this.native) return null;
    const pc = this.native;
    if (safe(() => pc.state(), 'closed') !== 'connected') return null;
    const fp = safe(() => pc.remoteFingerprint() as unknown, null);
    if (!fp || typeof fp !== 'object') return null;
    const { value, algorithm } = fp as { value?: unknown; algorithm?: unknown };
    if (typeof algorithm === 'string' && algorithm.toLowerCase() !== 'sha-256') return null;
    return normalizeFingerprint(value);
  }

  /** Wraps a native callback: silent after close, never throws into the native layer. */
  guard<A extends unknown[]>(what: string, fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      if (this.closed) return;
      try {
        fn(...args);
      } catch (err) {
        this.log.warn(`handler for ${what} threw`, { error: errorMessage(err) });
      }
    };
  }

  warn(msg: string, meta?: Record<string, unknown>): void {
    this.log.warn(msg, meta);
  }

  isNegotiatedMid(mid: string): boolean {
    if (this.closed) return false;
    const local = this.localDescription?.sdp;
    const remote = this.remoteDescription?.sdp;
    return (
      parseSdpSections(local).some((s) => s.mid === mid) || parseSdpSections(remote).some((s) => s.mid === mid)
    );
  }

  transceiverDirectionChanged(t: NodeTransceiver): void {
    if (this.closed || !this.native) return;
    if (t.local) {
      // Re-emplace the native media description under the same mid with the new direction.
      t.native = this.addNativeTrack(t.kind, t.nativeMid, t.direction);
      this.updateNegotiationNeeded(true);
    }
    // Remote-created transceivers are already answered sendrecv by libdatachannel; other
    // directions are recorded but not renegotiated (Node sends no media either way).
  }

  // ----- internals -------------------------------------------------------------------------

  private requireOpen(op: string): NativePeerConnection {
    if (this.closed || !this.native) throw stateError(`${op}: the peer connection is closed`);
    return this.native;
  }

  private allocateMid(): string {
    const used = new Set<string>(this.transceivers.map((t) => t.nativeMid));
    for (const s of parseSdpSections(this.localDescription?.sdp)) if (s.mid) used.add(s.mid);
    for (const s of parseSdpSections(this.remoteDescription?.sdp)) if (s.mid) used.add(s.mid);
    let mid: string;
    do mid = `${this.midPrefix}${this.midCounter++}`;
    while (used.has(mid));
    return mid;
  }

  private addNativeTrack(kind: 'audio' | 'video', mid: string, direction: TransceiverDirection): NativeTrack {
    const pc = this.requireOpen('addTransceiver');
    let media: NativeAudio | NativeVideo;
    if (kind === 'audio') {
      const audio = new nodeDataChannel.Audio(mid, nativeDirection(direction));
      audio.addOpusCodec(111);
      media = audio;
    } else {
      const video = new nodeDataChannel.Video(mid, nativeDirection(direction));
      video.addVP8Codec(96);
      video.addH264Codec(102);
      media = video;
    }
    return retainNative(pc.addTrack(media));
  }

  /** Refuses a remote offer that reuses one of our not-yet-negotiated mids for another kind. */
  private checkMidCollisions(sections: SdpSection[]): void {
    for (const s of sections) {
      if (!s.mid) continue;
      const t = this.transceivers.find((x) => x.nativeMid === s.mid);
      if (t && (s.kind === 'audio' || s.kind === 'video') && t.kind !== s.kind) {
        throw new Error(`remote offer reuses mid "${s.mid}" for ${s.kind}, but it is our ${t.kind} transceiver`);
      }
      if (t && s.kind === 'application') {
        throw new Error(`remote offer reuses mid "${s.mid}" of our ${t.kind} transceiver for data`);
      }
    }
  }

  /** After a remote offer: one transceiver per new remote media m-line, in m-line order. */
  private adoptRemoteMedia(sections: SdpSection[]): void {
    for (const s of sections) {
      if ((s.kind !== 'audio' && s.kind !== 'video') || !s.mid) continue;
      const existing = this.transceivers.find((t) => t.nativeMid === s.mid);
      if (existing) {
        if (s.port === 0) existing.markStopped();
        continue;
      }
      if (s.port === 0) continue; // rejected/removed m-line: nothing to adopt
      this.transceivers.push(new NodeTransceiver(this, s.kind, s.mid, reciprocal(s.direction), false));
    }
  }

  private markRejectedMedia(sections: SdpSection[]): void {
    for (const s of sections) {
      if (s.port !== 0 || !s.mid) continue;
      this.transceivers.find((t) => t.nativeMid === s.mid)?.markStopped();
    }
  }

  private onNativeTrack(track: NativeTrack): void {
    const mid = safe(() => track.mid(), '');
    const kind = safe(() => track.type(), '');
    let t = this.transceivers.find((x) => x.nativeMid === mid);
    if (!t && (kind === 'audio' || kind === 'video') && mid) {
      // Not seen in the SDP we parsed (should not happen); adopt it anyway, deduped by mid.
      t = new NodeTransceiver(this, kind, mid, 'sendrecv', false);
      this.transceivers.push(t);
    }
    if (t && !t.native) t.native = track; // keep it alive: libdatachannel holds tracks weakly
  }

  private rollbackLocalOffer(): void {
    const pc = this.requireOpen('rollback');
    try {
      pc.setLocalDescription('rollback');
    } catch (err) {
      throw new Error(`libdatachannel rollback failed: ${errorMessage(err)}`);
    }
    // libdatachannel keeps the rolled-back first offer as localDescription(); W3C has none.
    if (!this.hadStableLocalDescription) this.localRolledBackToNull = true;
  }

  private rollbackRemoteOffer(): void {
    // libdatachannel only resets the signaling state (tracks it created stay, unused).
    const pc = this.requireOpen('rollback');
    try {
      pc.setRemoteDescription('', 'rollback');
    } catch (err) {
      throw new Error(`libdatachannel cannot roll back a remote offer: ${errorMessage(err)}`);
    }
    this.afterStable();
  }

  private mustDeferCandidates(): boolean {
    if (!this.native) return false;
    if (this.signalingState === 'have-local-offer') return true; // offerer: wait for the answer
    return safe(() => this.native!.remoteDescription(), null) === null;
  }

  private flushDeferredCandidates(): void {
    if (this.mustDeferCandidates()) return;
    const pending = this.deferredCandidates.splice(0);
    for (const c of pending) this.applyRemoteCandidate(c, false);
  }

  private applyRemoteCandidate(c: IceCandidateLike, throwOnError: boolean): void {
    const pc = this.native;
    if (!pc) return;
    const sections = parseSdpSections(safe(() => pc.remoteDescription()?.sdp, undefined));
    const mids = sections.map((s) => s.mid).filter((m): m is string => !!m);
    // libdatachannel runs one bundled ICE transport; a mid it does not know (e.g. from a
    // rolled-back offer) would only confuse it, so use the remote bundle mid instead.
    const mid = c.sdpMid && mids.includes(c.sdpMid) ? c.sdpMid : (mids[0] ?? c.sdpMid ?? '0');
    try {
      pc.addRemoteCandidate(c.candidate, mid);
    } catch (err) {
      const message = `remote ICE candidate rejected: ${errorMessage(err)}`;
      if (throwOnError) throw new Error(message);
      this.log.warn(message, { candidate: c.candidate });
    }
  }

  private onNativeState(s: string): void {
    // libdatachannel has no ICE recovery: on disconnect it closes the connection itself. A
    // 'closed' we did not ask for is a dead link, which W3C reports as 'failed'.
    const next: PeerConnectionState =
      s === 'new' || s === 'connecting' || s === 'connected' || s === 'disconnected' || s === 'failed'
        ? s
        : s === 'closed'
          ? 'failed'
          : this.connState;
    if (next === this.connState) return;
    this.connState = next;
    this.onconnectionstatechange?.();
  }

  private onNativeCandidate(candidate: string, mid: string): void {
    this.emitCandidate(candidate, mid);
  }

  private emitCandidate(raw: string, mid: string | null): void {
    if (this.endOfCandidatesSent) return;
    const candidate = raw.trim().replace(/^a=/, '');
    if (!candidate || isMdnsCandidate(candidate)) return;
    if (this.emittedCandidates.has(candidate)) return;
    this.emittedCandidates.add(candidate);
    const sections = parseSdpSections(this.localDescription?.sdp);
    const sdpMid = mid || sections[0]?.mid || null;
    const index = sections.findIndex((s) => s.mid === sdpMid);
    this.fireLocalCandidate({ candidate, sdpMid, sdpMLineIndex: index >= 0 ? index : 0 });
  }

  /** True while our offer is outstanding: our candidates wait for its answer. */
  private withholdingLocal(): boolean {
    return this.withholdOfferCandidates && this.signalingState === 'have-local-offer';
  }

  private fireLocalCandidate(candidate: IceCandidateLike | null): void {
    if (this.withholdingLocal()) this.withheldLocal.push(candidate);
    else this.onicecandidate?.({ candidate });
  }

  /** Sends the candidates withheld while our offer was outstanding, in the order they came. */
  private releaseLocalCandidates(): void {
    if (this.withholdingLocal() || this.withheldLocal.length === 0) return;
    const pending = this.withheldLocal.splice(0);
    // Queued as a task, as native candidate events are: never inside the caller's await. Each
    // is guarded alone, so a throwing handler cannot swallow the candidates after it.
    setTimeout(() => {
      for (const c of pending) this.guard('local candidate', () => this.onicecandidate?.({ candidate: c }))();
    }, 0);
  }

  private onNativeGathering(s: string): void {
    if (s !== 'complete' || this.endOfCandidatesSent) return;
    // Candidate and gathering events travel on separate queues; make sure every candidate in
    // the local description went out before end-of-candidates.
    const pc = this.native;
    const sdp = pc ? safe(() => pc.localDescription()?.sdp, undefined) : undefined;
    const bundleMid = parseSdpSections(sdp)[0]?.mid ?? null;
    for (const c of candidateLines(sdp)) this.emitCandidate(c, bundleMid);
    this.endOfCandidatesSent = true;
    this.fireLocalCandidate(null);
  }

  // ----- negotiation-needed (W3C §4.7.3, simplified: operations run synchronously) ---------

  private afterStable(): void {
    this.updateNegotiationNeeded(true);
  }

  /**
   * Queues a check; fires `onnegotiationneeded` when stable and needed and the flag was clear
   * (or, after returning to stable, whenever it is still needed).
   */
  private updateNegotiationNeeded(refire = false): void {
    if (this.closed) return;
    if (refire && this.negotiationNeeded) this.negotiationNeeded = false; // re-arm if still needed
    if (this.negotiationTaskQueued) return;
    this.negotiationTaskQueued = true;
    setTimeout(
      this.guardTask(() => {
        this.negotiationTaskQueued = false;
        if (this.signalingState !== 'stable') return; // re-checked when we return to stable
        if (!this.isNegotiationNeeded()) {
          this.negotiationNeeded = false;
          return;
        }
        if (this.negotiationNeeded) return;
        this.negotiationNeeded = true;
        this.onnegotiationneeded?.();
      }),
      0,
    );
  }

  private guardTask(fn: () => void): () => void {
    return () => {
      if (this.closed) {
        this.negotiationTaskQueued = false;
        return;
      }
      try {
        fn();
      } catch (err) {
        this.log.warn('negotiationneeded handler threw', { error: errorMessage(err) });
      }
    };
  }

  private isNegotiationNeeded(): boolean {
    const sections = parseSdpSections(this.localDescription?.sdp);
    if (this.channels.size > 0 && !sections.some((s) => s.kind === 'application' && s.port !== 0)) return true;
    for (const t of this.transceivers) {
      if (!t.local || t.direction === 'stopped') continue;
      const s = sections.find((x) => x.mid === t.nativeMid);
      if (!s) return true;
      if (s.port !== 0 && s.direction !== t.direction) return true;
    }
    return false;
  }
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
