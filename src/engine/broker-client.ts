/**
 * The engine's connection to the signaling broker (DESIGN.md §3).
 *
 * One WebSocket, one ephemeral peer id, bound to a secret token: the client registers with the
 * token and the broker derives the id from it, so no one else can take the id. Requests (`claim`, `release`, `holder`, `watch`) are
 * correlated by a numeric tag `q` and time out; `send` is fire-and-forget with delivery errors
 * reported through `onDeliveryError`. After a drop the client reconnects on its own with capped,
 * jittered exponential backoff, registers with the same token (so it gets the same id back) and
 * restores its watches; the
 * session re-claims in `onReconnected` if it was coordinator.
 *
 * Everything the broker says is validated with `parseServerFrame`; the broker is untrusted, so a
 * bad frame is dropped and counted, never acted on. Outgoing frames are paced with a token bucket
 * under the limits the broker announced, so a burst of ICE candidates cannot get us disconnected.
 *
 * The token never appears in a log line or an error message.
 *
 * Platform-neutral: the socket, clock and logger are injected.
 */

import {
  PEER_TOKEN_BYTES,
  TokenBucket,
  encodePeerToken,
  isPeerId,
  isSid,
  parseServerFrame,
  peerIdFromTokenText,
  utf8Length,
  type ClientFrame,
  type HelloLimits,
  type ServerFrame,
} from './broker-protocol';
import type { Clock, Logger, WebSocketFactory, WebSocketLike } from './platform';

export type BrokerState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface BrokerClientOptions {
  url: string;
  /**
   * 32 random bytes (see `newPeerToken`): the secret behind this participant's peer id. Keep it
   * for the whole call so a reconnect resumes the same id; never share or log it.
   */
  token: Uint8Array;
  webSocket: WebSocketFactory;
  clock: Clock;
  log: Logger;
  /** Per request. Default 5000. */
  requestTimeoutMs?: number;
  /** Open + hello + register must finish within this. Default 10000. */
  connectTimeoutMs?: number;
  /** Client keepalive ping interval. Default 10000. */
  pingIntervalMs?: number;
  /** Reconnect backoff: first delay and cap. Defaults 250 ms and 30 s. */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Jitter source in [0, 1); not security-relevant. Default Math.random. */
  random?: () => number;
}

/** A request the broker refused with an error frame. */
export class BrokerRequestError extends Error {
  override readonly name = 'BrokerRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface BrokerClientStats {
  /** Server frames dropped because they failed validation or made no sense. */
  badFrames: number;
  reconnects: number;
  timeouts: number;
  /** Frames waiting for rate-limit tokens. */
  queued: number;
}

type RequestKind = 'claim' | 'release' | 'holder' | 'watch';
type Expected = { claim: 'claimed'; release: 'holder'; holder: 'holder'; watch: 'watching' };
type Reply<K extends RequestKind> = Extract<ServerFrame, { t: Expected[K] }>;

const EXPECTED: Expected = { claim: 'claimed', release: 'holder', holder: 'holder', watch: 'watching' };

interface Pending {
  kind: RequestKind;
  sid: string;
  timer: unknown;
  resolve(frame: ServerFrame): void;
  reject(err: Error): void;
}

interface Outgoing {
  raw: string;
  /** Called when the frame is dropped before reaching the socket. */
  onDrop?: (code: string) => void;
}

interface Handshake {
  ws: WebSocketLike;
  phase: 'open' | 'hello' | 'registered';
  timer: unknown;
  resolve(): void;
  reject(err: Error): void;
}

/** Pace below the broker's limits: its bucket and ours run on different clocks. */
const PACE_FACTOR = 0.8;
/** Outgoing frames held while paced; beyond this, sends fail with `queue-full`. */
const MAX_QUEUE = 1000;
const CLOSE_NORMAL = 1000;
const CLOSE_KEEPALIVE = 4000;

export class BrokerClient {
  /** `peerIdFromToken(token)`: the id the broker derives from our token. */
  readonly peerId: string;
  /** The token as sent in `register`; a #private field so no inspection or spread reveals it. */
  readonly #token: string;
  /** A relayed blob; `from` is the sender's id as stamped by the broker (the blob must still be unsealed and checked). */
  onMessage: ((from: string, blob: string) => void) | null = null;
  /**
   * A watched sid's claim was released. `former` is null when the release happened while we were
   * disconnected and was found only on reconnect (the sid then had no holder).
   */
  onReleased: ((sid: string, former: string | null) => void) | null = null;
  onDeliveryError: ((to: string, code: string) => void) | null = null;
  onStateChange: ((state: BrokerState, reason?: string) => void) | null = null;
  /** After an automatic reconnect re-registered and re-watched: re-claim here if we were coordinator. */
  onReconnected: (() => void) | null = null;

  private readonly url: string;
  private readonly makeSocket: WebSocketFactory;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly random: () => number;

  private _state: BrokerState = 'closed';
  private disposed = false;
  private connecting: Promise<void> | null = null;
  private socket: WebSocketLike | null = null;
  private handshakeInFlight: Handshake | null = null;
  private limits: HelloLimits | null = null;
  private bucket: TokenBucket | null = null;
  private queue: Outgoing[] = [];
  private drainTimer: unknown = null;
  private pingTimer: unknown = null;
  private lastHeard = 0;
  private reconnectTimer: unknown = null;
  private attempt = 0;
  private nextQ = 1;
  private readonly pending = new Map<number, Pending>();
  /** Sids to re-watch after a reconnect. */
  private readonly watched = new Set<string>();
  private readonly counters = { badFrames: 0, reconnects: 0, timeouts: 0 };

  constructor(opts: BrokerClientOptions) {
    if (!(opts.token instanceof Uint8Array) || opts.token.length !== PEER_TOKEN_BYTES) {
      throw new TypeError(`token must be ${PEER_TOKEN_BYTES} random bytes`);
    }
    this.#token = encodePeerToken(opts.token);
    this.peerId = peerIdFromTokenText(this.#token);
    this.url = opts.url;
    this.makeSocket = opts.webSocket;
    this.clock = opts.clock;
    this.log = opts.log;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.pingIntervalMs = opts.pingIntervalMs ?? 10_000;
    this.backoffInitialMs = opts.reconnectInitialDelayMs ?? 250;
    this.backoffMaxMs = opts.reconnectMaxDelayMs ?? 30_000;
    this.random = opts.random ?? Math.random;
  }

  /** 'closed' before `connect()` and after `close()` or a failed first connect. */
  get state(): BrokerState {
    return this._state;
  }

  stats(): BrokerClientStats {
    return { ...this.counters, queued: this.queue.length };
  }

  // --- lifecycle ------------------------------------------------------------------------------

  /** Opens the socket and registers. Rejects (state 'closed') if that fails; it does not retry. */
  connect(): Promise<void> {
    if (this.disposed) return Promise.reject(new Error('BrokerClient is closed'));
    if (this.connecting) return this.connecting;
    let parsed: URL;
    try {
      parsed = new URL(this.url);
    } catch {
      return Promise.reject(new Error(`invalid broker URL: ${this.url}`));
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      return Promise.reject(new Error(`invalid broker URL (must be ws: or wss:): ${this.url}`));
    }
    this.setState('connecting');
    const attempt = this.handshake().then(
      () => {
        this.setState('open');
        this.startPing();
      },
      (err: Error) => {
        this.connecting = null;
        if (!this.disposed) this.setState('closed', err.message);
        throw err;
      },
    );
    this.connecting = attempt;
    return attempt;
  }

  /** Stops for good: no reconnects, pending requests fail. */
  close(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const hs = this.handshakeInFlight;
    this.dropSocket(CLOSE_NORMAL, 'client closed');
    hs?.reject(new Error('BrokerClient closed before it connected'));
    this.failPending(new Error('BrokerClient closed'));
    this.queue = [];
    this.setState('closed', 'closed by client');
  }

  // --- requests -------------------------------------------------------------------------------

  /** Try to become the room's coordinator. `holder` is whoever holds the claim afterwards. */
  async claim(sid: string): Promise<{ ok: boolean; holder: string | null }> {
    const r = await this.request('claim', sid);
    return { ok: r.ok, holder: r.holder };
  }

  async release(sid: string): Promise<void> {
    await this.request('release', sid);
  }

  async holder(sid: string): Promise<string | null> {
    return (await this.request('holder', sid)).holder;
  }

  /** Be told (via `onReleased`) the moment the sid's claim is released. Kept across reconnects. */
  async watch(sid: string): Promise<void> {
    await this.request('watch', sid);
    this.watched.add(sid);
  }

  unwatch(sid: string): void {
    if (!isSid(sid) || !this.watched.delete(sid)) return;
    if (this._state === 'open') this.enqueue({ raw: JSON.stringify({ t: 'unwatch', sid } satisfies ClientFrame) });
  }

  /**
   * Relays an opaque (already sealed) blob to a peer. Failures are reported asynchronously via
   * `onDeliveryError` with a code: `not-connected`, `bad-request`, `too-large`, `queue-full`,
   * or the broker's `no-such-peer` / `peer-busy`.
   */
  send(to: string, blob: string): void {
    if (!isPeerId(to) || typeof blob !== 'string') return this.deliveryError(to, 'bad-request');
    if (this._state !== 'open' || !this.limits) return this.deliveryError(to, 'not-connected');
    const raw = JSON.stringify({ t: 'send', to, blob } satisfies ClientFrame);
    // An oversized frame would get the whole connection closed (1009), so refuse it here.
    if (utf8Length(raw) > this.limits.maxFrameBytes) return this.deliveryError(to, 'too-large');
    this.enqueue({ raw, onDrop: (code) => this.deliveryError(to, code) });
  }

  private request<K extends RequestKind>(kind: K, sid: string): Promise<Reply<K>> {
    if (!isSid(sid)) return Promise.reject(new TypeError(`${kind}: sid must be a 43-char base64url SHA-256`));
    if (this._state !== 'open') return Promise.reject(new Error(`${kind}: broker is not connected (${this._state})`));
    const q = this.nextQ++;
    return new Promise<Reply<K>>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        if (!this.pending.delete(q)) return;
        this.counters.timeouts++;
        reject(new Error(`broker request ${kind} timed out after ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.pending.set(q, { kind, sid, timer, resolve: resolve as (f: ServerFrame) => void, reject });
      const frame = { t: kind, sid, q } satisfies ClientFrame;
      this.enqueue({
        raw: JSON.stringify(frame),
        onDrop: (code) => this.settle(q, new Error(`broker request ${kind} could not be sent (${code})`)),
      });
    });
  }

  private settle(q: number, outcome: ServerFrame | Error): void {
    const p = this.pending.get(q);
    if (!p) return;
    this.pending.delete(q);
    this.clock.clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  private failPending(err: Error): void {
    for (const q of [...this.pending.keys()]) this.settle(q, err);
  }

  // --- socket ---------------------------------------------------------------------------------

  /** Opens a socket, waits for `hello`, registers. Resolves when registered. */
  private handshake(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = this.makeSocket(this.url);
      } catch (err) {
        reject(new Error(`cannot open broker connection to ${this.url}: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      const finish = (err?: Error): void => {
        if (this.handshakeInFlight !== hs) return;
        this.handshakeInFlight = null;
        this.clock.clearTimeout(hs.timer);
        if (err) {
          this.dropSocket(CLOSE_NORMAL, 'handshake failed');
          reject(err);
        } else resolve();
      };
      const hs: Handshake = {
        ws,
        phase: 'open',
        timer: this.clock.setTimeout(
          () => finish(new Error(`broker at ${this.url} did not answer within ${this.connectTimeoutMs} ms`)),
          this.connectTimeoutMs,
        ),
        resolve: () => finish(),
        reject: (err) => finish(err),
      };
      this.handshakeInFlight = hs;
      this.socket = ws;
      this.queue = [];
      this.limits = null;
      this.bucket = null;
      ws.onopen = () => {
        if (this.socket === ws && hs.phase === 'open') hs.phase = 'hello';
      };
      ws.onerror = () => {
        // Browsers give no detail here; the close event that follows carries the code.
      };
      ws.onmessage = (ev) => {
        if (this.socket === ws) this.onFrame(ev.data);
      };
      ws.onclose = (ev) => {
        if (this.socket === ws) this.onSocketClosed(ev.code, ev.reason);
      };
    });
  }

  private onSocketClosed(code: number, reason: string): void {
    this.detach();
    const hs = this.handshakeInFlight;
    if (hs) {
      hs.reject(new Error(`could not connect to broker at ${this.url} (connection closed, code ${code})`));
      return;
    }
    this.onDrop(`connection closed (code ${code}${reason ? `: ${reason}` : ''})`);
  }

  /** The open connection is gone: fail what was in flight and start reconnecting. */
  private onDrop(reason: string): void {
    this.stopPing();
    this.failPending(new Error(`broker connection lost: ${reason}`));
    this.flushQueue('not-connected');
    if (this.disposed) return;
    this.log.warn('broker: connection lost', { reason });
    this.setState('reconnecting', reason);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const ceiling = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(this.attempt, 20));
    // Jitter in [ceiling/2, ceiling): spreads a room's peers after a broker restart.
    const delay = Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
    this.attempt++;
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = null;
      void this.reconnect();
    }, delay);
  }

  private async reconnect(): Promise<void> {
    if (this.disposed) return;
    try {
      await this.handshake();
    } catch (err) {
      if (this.disposed) return;
      // id-taken is expected here: the broker may not have noticed our old socket died yet.
      this.log.info('broker: reconnect attempt failed', { attempt: this.attempt, error: err instanceof Error ? err.message : 'error' });
      this.scheduleReconnect();
      return;
    }
    this.attempt = 0;
    this.counters.reconnects++;
    this.setState('open');
    this.startPing();
    try {
      await this.restoreWatches();
    } catch (err) {
      // The connection dropped again (a new reconnect is under way) or a watch failed.
      this.log.warn('broker: could not restore watches', { error: err instanceof Error ? err.message : 'error' });
      if (this._state !== 'open') return;
    }
    this.call(() => this.onReconnected?.());
  }

  /**
   * Re-watches every sid. A release that happened while we were away was never delivered, so a
   * sid found without a holder is reported through `onReleased(sid, null)`.
   */
  private async restoreWatches(): Promise<void> {
    const sids = [...this.watched];
    await Promise.all(sids.map((sid) => this.request('watch', sid)));
    const holders = await Promise.all(sids.map((sid) => this.request('holder', sid)));
    for (const h of holders) {
      if (h.holder === null && this.watched.has(h.sid)) this.call(() => this.onReleased?.(h.sid, null));
    }
  }

  /** Detaches the current socket's handlers and closes it; its late events are ignored. */
  private dropSocket(code: number, reason: string): void {
    const ws = this.socket;
    this.detach();
    if (!ws) return;
    try {
      ws.close(code, reason);
    } catch {
      // Already closing or closed.
    }
  }

  private detach(): void {
    const ws = this.socket;
    if (!ws) return;
    this.socket = null;
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    this.clock.clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  // --- frames in ------------------------------------------------------------------------------

  private onFrame(data: unknown): void {
    this.lastHeard = this.clock.now();
    const hs = this.handshakeInFlight;
    const parsed = typeof data === 'string' ? parseServerFrame(data, { maxBlobLength: this.limits?.maxFrameBytes }) : null;
    if (!parsed?.ok) {
      this.bad(parsed ? parsed.message : 'non-text frame');
      // Fail closed and fast: a broker that cannot even say hello properly is not one we speak to.
      hs?.reject(new Error(`broker at ${this.url} sent an invalid frame during the handshake (unsupported protocol version?)`));
      return;
    }
    const frame = parsed.frame;
    if (hs) return this.onHandshakeFrame(hs, frame);

    switch (frame.t) {
      case 'msg':
        return this.call(() => this.onMessage?.(frame.from, frame.blob));
      case 'released':
        if (this.watched.has(frame.sid)) this.call(() => this.onReleased?.(frame.sid, frame.former));
        return;
      case 'claimed':
      case 'holder':
      case 'watching':
        return this.onReply(frame);
      case 'error':
        return this.onError(frame);
      case 'pong':
        return;
      case 'hello':
      case 'registered':
        return this.bad(`unexpected ${frame.t}`);
    }
  }

  private onHandshakeFrame(hs: Handshake, frame: ServerFrame): void {
    if (frame.t === 'hello' && hs.phase !== 'registered') {
      this.limits = frame.limits;
      this.bucket = new TokenBucket(
        frame.limits.messagesPerSecond * PACE_FACTOR,
        Math.max(1, Math.floor(frame.limits.burst * PACE_FACTOR)),
        this.clock.now(),
      );
      hs.phase = 'registered';
      this.enqueue({ raw: JSON.stringify({ t: 'register', token: this.#token } satisfies ClientFrame) });
      return;
    }
    // The broker must name the id our token derives to; any other id is a broker lying to us.
    if (frame.t === 'registered' && hs.phase === 'registered' && frame.id === this.peerId) return hs.resolve();
    if (frame.t === 'error') {
      const why = frame.code === 'id-taken' ? 'peer id is already taken (by an earlier connection with our token)' : frame.message;
      return hs.reject(new BrokerRequestError(frame.code, `broker refused the connection: ${why} (${frame.code})`));
    }
    this.bad(`unexpected ${frame.t} during handshake`);
    hs.reject(new Error(`broker at ${this.url} sent an unexpected ${frame.t} frame during the handshake`));
  }

  private onReply(frame: Extract<ServerFrame, { q: number }>): void {
    const p = this.pending.get(frame.q);
    if (!p) return; // late reply to a request that timed out
    if (EXPECTED[p.kind] !== frame.t || !('sid' in frame) || frame.sid !== p.sid) {
      this.bad('reply does not match its request');
      return this.settle(frame.q, new Error(`broker answered ${p.kind} with a mismatched reply`));
    }
    this.settle(frame.q, frame);
  }

  private onError(frame: Extract<ServerFrame, { t: 'error' }>): void {
    if (frame.q !== undefined && this.pending.has(frame.q)) {
      return this.settle(frame.q, new BrokerRequestError(frame.code, `broker refused the request: ${frame.message} (${frame.code})`));
    }
    if (frame.to !== undefined) return this.deliveryError(frame.to, frame.code);
    // Fatal errors are followed by the broker closing the socket; the reconnect logic takes over.
    this.log.warn('broker: error from broker', { code: frame.code, fatal: frame.fatal });
  }

  private bad(what: string): void {
    this.counters.badFrames++;
    this.log.warn('broker: dropped a bad frame', { what, count: this.counters.badFrames });
  }

  // --- frames out -----------------------------------------------------------------------------

  /** Sends now if the pacing bucket allows, else queues; keeps order. */
  private enqueue(out: Outgoing): void {
    if (!this.socket || !this.bucket) return out.onDrop?.('not-connected');
    if (this.queue.length >= MAX_QUEUE) return out.onDrop?.('queue-full');
    this.queue.push(out);
    this.drain();
  }

  private drain(): void {
    const ws = this.socket;
    const bucket = this.bucket;
    if (!ws || !bucket) return;
    while (this.queue.length > 0 && bucket.take(this.clock.now())) {
      const out = this.queue.shift()!;
      try {
        ws.send(out.raw);
      } catch {
        out.onDrop?.('not-connected');
      }
    }
    if (this.queue.length > 0 && this.drainTimer === null) {
      this.drainTimer = this.clock.setTimeout(() => {
        this.drainTimer = null;
        this.drain();
      }, Math.max(1, bucket.waitMs(this.clock.now())));
    }
  }

  private flushQueue(code: string): void {
    const dropped = this.queue;
    this.queue = [];
    for (const out of dropped) out.onDrop?.(code);
  }

  // --- keepalive ------------------------------------------------------------------------------

  /** App-level pings: browsers cannot send WebSocket pings, and a dead path must be noticed. */
  private startPing(): void {
    this.stopPing();
    this.lastHeard = this.clock.now();
    this.pingTimer = this.clock.setInterval(() => {
      const ws = this.socket;
      if (!ws || this._state !== 'open') return;
      if (this.clock.now() - this.lastHeard > this.pingIntervalMs + this.requestTimeoutMs) {
        this.log.warn('broker: keepalive timeout');
        this.dropSocket(CLOSE_KEEPALIVE, 'keepalive timeout');
        this.onDrop('keepalive timeout');
        return;
      }
      this.enqueue({ raw: JSON.stringify({ t: 'ping' } satisfies ClientFrame) });
    }, this.pingIntervalMs);
  }

  private stopPing(): void {
    this.clock.clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  // --- helpers --------------------------------------------------------------------------------

  private setState(state: BrokerState, reason?: string): void {
    if (this._state === state) return;
    this._state = state;
    this.call(() => this.onStateChange?.(state, reason));
  }

  private deliveryError(to: string, code: string): void {
    queueMicrotask(() => this.call(() => this.onDeliveryError?.(to, code)));
  }

  /** Runs an application callback; its exceptions must not break the connection logic. */
  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn('broker: callback threw', { error: err instanceof Error ? err.name : typeof err });
    }
  }
}
