/**
 * Kibitz signaling broker: a stateless WebSocket relay (see DESIGN.md §3).
 *
 * It keeps only in-memory routing state — which ephemeral peer id is on which connection, who
 * holds the coordinator claim of which hashed room id (`sid`), who watches which sid — and
 * forgets all of it when a connection goes. Blobs are opaque sealed strings: never parsed,
 * never logged, never stored. Logs carry metadata only (counts, error codes, short prefixes).
 *
 * Every input is hostile until validated; every handler is wrapped so no frame can crash the
 * process. Abuse limits, in the order a connection meets them: per-address and global socket
 * caps at TCP accept (`SocketGate`), a deadline for the HTTP upgrade request (headers and
 * request timeouts), then frame size, a per-connection token bucket, a bad-frame budget, a
 * register deadline, keepalive and per-recipient backpressure.
 *
 * Peer ids are not chosen by clients: `register` carries a token and the broker derives the id
 * from it (`peerIdFromTokenText`), so an id can only be held by whoever holds its token.
 */

import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import {
  BROKER_PROTOCOL_VERSION,
  TokenBucket,
  helloLimitsOf,
  logPrefix,
  parseClientFrame,
  peerIdFromTokenText,
  resolveLimits,
  type BrokerLimits,
  type ClientFrame,
  type ErrorCode,
  type Limits,
  type ServerFrame,
} from '../engine/broker-protocol';
import type { Logger } from '../engine/platform';
import { EXTENSION_ID, isExtensionId } from '../invite/extension-identity';
import { joinPageHeaders, joinPageHtml } from './join-page';
import { SocketGate } from './socket-gate';

export { addressKey } from './socket-gate';

export interface TapEvent {
  dir: 'in' | 'out';
  connId: string;
  raw: string;
}

export interface BrokerOptions {
  /** TCP port; 0 picks an ephemeral port. Default 0. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  limits?: Partial<Limits>;
  /** Sees every frame in and out (tests use it to assert what the broker saw). */
  tap?: (event: TapEvent) => void;
  log?: Logger;
  /** The id of the Kibitz extension the invite page at /join opens. Default: the id of Kibitz's own key. */
  extensionId?: string;
}

export interface BrokerStats {
  /** TCP sockets open now, upgraded or not (what the per-address cap counts). */
  sockets: number;
  /** WebSocket connections past the upgrade. */
  connections: number;
  registered: number;
  rooms: number;
  claims: number;
  watches: number;
  framesIn: number;
  framesOut: number;
  relayed: number;
  /** Sockets destroyed at accept (address or global cap). */
  rejectedConnections: number;
  /** Connections terminated because they stopped answering pings. */
  keepaliveTimeouts: number;
  /** Exceptions caught in handlers (each is a bug, never a crash). */
  handlerErrors: number;
  /** Error frames sent, by code. */
  errors: Partial<Record<ErrorCode, number>>;
}

export interface RunningBroker {
  /** ws://host:port */
  url: string;
  port: number;
  /** http://host:port */
  httpUrl: string;
  stats(): BrokerStats;
  close(): Promise<void>;
}

const silentLog: Logger = { info: () => {}, warn: () => {} };

/** WebSocket close codes used here. */
const CLOSE_POLICY = 1008;
const CLOSE_TOO_BIG = 1009;
const CLOSE_GOING_AWAY = 1001;

/** Refusals at accept are logged at most this often (a flood must not become a log flood). */
const REJECT_LOG_INTERVAL_MS = 1000;

/** How long `close()` lets clients finish the close handshake before cutting them off. */
const SHUTDOWN_GRACE_MS = 1000;

interface Conn {
  readonly id: string;
  readonly ws: WebSocket;
  peerId: string | null;
  readonly claims: Set<string>;
  readonly watches: Set<string>;
  readonly bucket: TokenBucket;
  badFrames: number;
  lastPong: number;
  /** Set once the broker decided to close it: no more frames are processed, state is dropped. */
  gone: boolean;
  registerTimer: NodeJS.Timeout | null;
}

interface Room {
  holder: Conn | null;
  readonly watchers: Set<Conn>;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

class Broker {
  private readonly conns = new Set<Conn>();
  private readonly peers = new Map<string, Conn>();
  private readonly rooms = new Map<string, Room>();
  private nextConnId = 1;
  private readonly counters = {
    framesIn: 0,
    framesOut: 0,
    relayed: 0,
    keepaliveTimeouts: 0,
    handlerErrors: 0,
  };
  private readonly errorCounts: Partial<Record<ErrorCode, number>> = {};

  constructor(
    private readonly limits: BrokerLimits,
    private readonly log: Logger,
    private readonly tap: BrokerOptions['tap'],
    private readonly gate: SocketGate,
  ) {}

  // --- connection lifecycle -------------------------------------------------------------------

  /** A socket that passed the gate and completed the upgrade (the gate still counts it). */
  accept(ws: WebSocket): void {
    const conn: Conn = {
      id: `c${this.nextConnId++}`,
      ws,
      peerId: null,
      claims: new Set(),
      watches: new Set(),
      bucket: new TokenBucket(this.limits.messagesPerSecond, this.limits.burst, Date.now()),
      badFrames: 0,
      lastPong: Date.now(),
      gone: false,
      registerTimer: null,
    };
    ws.on('error', (err) => {
      // ws closes the socket itself after an error (bad UTF-8, oversized payload...).
      this.log.warn('broker: socket error', { conn: conn.id, error: (err as NodeJS.ErrnoException).code ?? err.name });
    });

    // No cap check here: the socket was counted (and capped) at accept, and stays counted until
    // it closes, so a half-open upgrade and a WebSocket cost the same one slot.
    this.conns.add(conn);
    ws.on('close', () => {
      this.teardown(conn);
      this.log.info('broker: connection closed', { conn: conn.id, connections: this.conns.size });
    });
    ws.on('pong', () => {
      conn.lastPong = Date.now();
    });
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    conn.registerTimer = setTimeout(() => {
      conn.registerTimer = null;
      if (!conn.gone && conn.peerId === null) this.fail(conn, 'not-registered', 'register timeout', CLOSE_POLICY);
    }, this.limits.registerTimeoutMs);

    this.log.info('broker: connection opened', { conn: conn.id, connections: this.conns.size });
    this.send(conn, { t: 'hello', v: BROKER_PROTOCOL_VERSION, limits: helloLimitsOf(this.limits) });
  }

  /** Drops everything the connection held. Idempotent; runs at the decision to close, not at TCP close. */
  private teardown(conn: Conn): void {
    if (!this.conns.has(conn)) return;
    conn.gone = true;
    this.conns.delete(conn);
    if (conn.registerTimer) clearTimeout(conn.registerTimer);
    conn.registerTimer = null;
    // Watches first, so the connection is not told about releases it caused itself.
    for (const sid of conn.watches) {
      const room = this.rooms.get(sid);
      room?.watchers.delete(conn);
      this.collect(sid);
    }
    conn.watches.clear();
    for (const sid of [...conn.claims]) this.releaseClaim(sid, conn);
    if (conn.peerId !== null && this.peers.get(conn.peerId) === conn) this.peers.delete(conn.peerId);
  }

  /** Sends a fatal error, closes, and drops the connection's state right away. */
  private fail(conn: Conn, code: ErrorCode, message: string, closeCode: number, q?: number): void {
    this.sendError(conn, code, message, true, q);
    this.teardown(conn);
    try {
      conn.ws.close(closeCode, code);
    } catch {
      conn.ws.terminate();
    }
  }

  /** Called by the keepalive timer. */
  sweep(now: number): void {
    for (const conn of [...this.conns]) {
      if (now - conn.lastPong > this.limits.pongTimeoutMs) {
        this.counters.keepaliveTimeouts++;
        this.log.info('broker: keepalive timeout', { conn: conn.id });
        this.teardown(conn);
        conn.ws.terminate();
        continue;
      }
      try {
        conn.ws.ping();
      } catch {
        // Socket is already closing; its close event cleans up.
      }
    }
  }

  /** Closes every connection; resolves once all are closed or the grace period ran out. */
  async shutdown(): Promise<void> {
    const sockets = [...this.conns].map((c) => c.ws);
    for (const conn of [...this.conns]) this.teardown(conn);
    const closed = sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          try {
            ws.close(CLOSE_GOING_AWAY, 'broker shutting down');
          } catch {
            ws.terminate();
          }
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((r) => (timer = setTimeout(r, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
    for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }

  // --- frames in ------------------------------------------------------------------------------

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    try {
      if (conn.gone) return;
      const buf = rawToBuffer(data);
      this.counters.framesIn++;
      this.emitTap('in', conn, buf.toString('utf8'));

      // Rate first: every frame costs a token, including malformed and oversized ones.
      if (!conn.bucket.take(Date.now())) return this.fail(conn, 'rate-limited', 'too many frames', CLOSE_POLICY);
      if (buf.length > this.limits.maxFrameBytes) return this.fail(conn, 'too-large', 'frame too large', CLOSE_TOO_BIG);
      if (isBinary) return this.badFrame(conn, 'bad-frame', 'binary frames are not accepted');

      const parsed = parseClientFrame(buf.toString('utf8'), { maxBlobLength: this.limits.maxFrameBytes, maxFrameBytes: this.limits.maxFrameBytes });
      if (!parsed.ok) return this.badFrame(conn, parsed.code, parsed.message, parsed.q);
      this.dispatch(conn, parsed.frame);
    } catch (err) {
      this.counters.handlerErrors++;
      this.log.warn('broker: handler error', { conn: conn.id, error: err instanceof Error ? err.name : typeof err });
      if (!conn.gone) this.sendError(conn, 'internal', 'internal error', false);
    }
  }

  private badFrame(conn: Conn, code: ErrorCode, message: string, q?: number): void {
    conn.badFrames++;
    if (conn.badFrames >= this.limits.maxBadFrames) return this.fail(conn, code, message, CLOSE_POLICY, q);
    this.sendError(conn, code, message, false, q);
  }

  private dispatch(conn: Conn, frame: ClientFrame): void {
    if (frame.t === 'ping') return this.send(conn, frame.q === undefined ? { t: 'pong' } : { t: 'pong', q: frame.q });
    if (frame.t === 'register') return this.register(conn, frame.token);
    const peerId = conn.peerId;
    if (peerId === null) {
      return this.badFrame(conn, 'not-registered', 'register first', 'q' in frame ? frame.q : undefined);
    }
    switch (frame.t) {
      case 'claim':
        return this.claim(conn, peerId, frame.sid, frame.q);
      case 'release':
        return this.release(conn, frame.sid, frame.q);
      case 'holder':
        return this.send(conn, { t: 'holder', sid: frame.sid, q: frame.q, holder: this.rooms.get(frame.sid)?.holder?.peerId ?? null });
      case 'watch':
        return this.watch(conn, frame.sid, frame.q);
      case 'unwatch':
        return this.unwatch(conn, frame.sid);
      case 'send':
        return this.relay(conn, peerId, frame.to, frame.blob);
    }
  }

  /**
   * The id is derived from the token, never taken from the client, so holding an id proves
   * holding its token. A second live connection with the same token gets `id-taken` (first
   * live connection wins): the owner's reconnect retries until the broker has dropped the old
   * socket (close, or keepalive timeout), and a leaked token cannot evict a live owner.
   */
  private register(conn: Conn, token: string): void {
    const id = peerIdFromTokenText(token);
    if (conn.peerId !== null) {
      if (conn.peerId === id) return this.send(conn, { t: 'registered', id });
      return this.sendError(conn, 'already-registered', 'this connection is registered under another id', false);
    }
    if (this.peers.has(id)) return this.sendError(conn, 'id-taken', 'peer id is in use', false);
    conn.peerId = id;
    this.peers.set(id, conn);
    if (conn.registerTimer) clearTimeout(conn.registerTimer);
    conn.registerTimer = null;
    this.send(conn, { t: 'registered', id });
  }

  private claim(conn: Conn, peerId: string, sid: string, q: number): void {
    const current = this.rooms.get(sid)?.holder;
    if (current) return this.send(conn, { t: 'claimed', sid, q, ok: current === conn, holder: current.peerId! });
    if (conn.claims.size >= this.limits.maxClaimsPerConnection) {
      return this.sendError(conn, 'too-many-claims', 'claim limit reached', false, q);
    }
    this.room(sid).holder = conn;
    conn.claims.add(sid);
    this.send(conn, { t: 'claimed', sid, q, ok: true, holder: peerId });
    this.log.info('broker: claimed', { sid: logPrefix(sid) });
  }

  private release(conn: Conn, sid: string, q: number): void {
    if (this.rooms.get(sid)?.holder === conn) this.releaseClaim(sid, conn);
    this.send(conn, { t: 'holder', sid, q, holder: this.rooms.get(sid)?.holder?.peerId ?? null });
  }

  /** Frees the claim and tells every other watcher at once (this is what drives fast migration). */
  private releaseClaim(sid: string, conn: Conn): void {
    conn.claims.delete(sid);
    const room = this.rooms.get(sid);
    if (!room || room.holder !== conn) return;
    room.holder = null;
    for (const watcher of room.watchers) {
      if (watcher !== conn) this.send(watcher, { t: 'released', sid, former: conn.peerId });
    }
    this.collect(sid);
    this.log.info('broker: released', { sid: logPrefix(sid), watchers: room.watchers.size });
  }

  private watch(conn: Conn, sid: string, q: number): void {
    if (!conn.watches.has(sid)) {
      if (conn.watches.size >= this.limits.maxWatchesPerConnection) {
        return this.sendError(conn, 'too-many-watches', 'watch limit reached', false, q);
      }
      conn.watches.add(sid);
      this.room(sid).watchers.add(conn);
    }
    this.send(conn, { t: 'watching', sid, q });
  }

  private unwatch(conn: Conn, sid: string): void {
    if (!conn.watches.delete(sid)) return;
    this.rooms.get(sid)?.watchers.delete(conn);
    this.collect(sid);
  }

  private relay(conn: Conn, from: string, to: string, blob: string): void {
    const target = this.peers.get(to);
    if (!target || target.gone) return this.sendError(conn, 'no-such-peer', 'no such peer', false, undefined, to);
    // A recipient that does not read must not make the broker buffer without bound.
    if (target.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      return this.sendError(conn, 'peer-busy', 'peer is not keeping up', false, undefined, to);
    }
    this.counters.relayed++;
    this.send(target, { t: 'msg', from, blob });
  }

  private room(sid: string): Room {
    let room = this.rooms.get(sid);
    if (!room) {
      room = { holder: null, watchers: new Set() };
      this.rooms.set(sid, room);
    }
    return room;
  }

  /** Forgets a room nobody holds or watches. */
  private collect(sid: string): void {
    const room = this.rooms.get(sid);
    if (room && room.holder === null && room.watchers.size === 0) this.rooms.delete(sid);
  }

  // --- frames out -----------------------------------------------------------------------------

  private send(conn: Conn, frame: ServerFrame): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    const raw = JSON.stringify(frame);
    this.counters.framesOut++;
    this.emitTap('out', conn, raw);
    conn.ws.send(raw, (err) => {
      if (err) this.log.warn('broker: send failed', { conn: conn.id });
    });
  }

  private sendError(conn: Conn, code: ErrorCode, message: string, fatal: boolean, q?: number, to?: string): void {
    this.errorCounts[code] = (this.errorCounts[code] ?? 0) + 1;
    if (fatal) this.log.warn('broker: closing connection', { conn: conn.id, code });
    const frame: ServerFrame = { t: 'error', code, message, fatal };
    if (q !== undefined) frame.q = q;
    if (to !== undefined) frame.to = to;
    this.send(conn, frame);
  }

  private emitTap(dir: 'in' | 'out', conn: Conn, raw: string): void {
    if (!this.tap) return;
    try {
      this.tap({ dir, connId: conn.id, raw });
    } catch {
      // A faulty observer must not break the broker.
    }
  }

  // --- introspection --------------------------------------------------------------------------

  get connectionCount(): number {
    return this.conns.size;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  stats(): BrokerStats {
    let claims = 0;
    let watches = 0;
    for (const c of this.conns) {
      claims += c.claims.size;
      watches += c.watches.size;
    }
    return {
      sockets: this.gate.open(),
      connections: this.conns.size,
      registered: this.peers.size,
      rooms: this.rooms.size,
      claims,
      watches,
      ...this.counters,
      rejectedConnections: this.gate.rejected,
      errors: { ...this.errorCounts },
    };
  }
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function respondJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function rejectUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Starts a broker; resolves once it is listening. */
export async function startBroker(opts: BrokerOptions = {}): Promise<RunningBroker> {
  const limits = resolveLimits(opts.limits);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('port must be an integer in 0..65535');
  const log = opts.log ?? silentLog;
  const gate = new SocketGate(limits);
  const broker = new Broker(limits, log, opts.tap, gate);

  // A half-sent request (the upgrade included) is dropped with 408 once the handshake timeout
  // passes. Node checks these timeouts on an interval (default 30 s), so check often enough
  // that the deadline holds to within a quarter of it.
  const httpOptions: http.ServerOptions = {
    headersTimeout: limits.handshakeTimeoutMs,
    requestTimeout: limits.handshakeTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.handshakeTimeoutMs / 4))),
    keepAliveTimeout: Math.min(5000, limits.handshakeTimeoutMs),
    maxHeaderSize: 8192, // an upgrade needs a few hundred bytes; a half-open socket holds at most this
  };
  const extensionId = opts.extensionId ?? EXTENSION_ID;
  if (!isExtensionId(extensionId)) throw new Error('extensionId must be 32 letters a-p');
  const joinPage = Buffer.from(joinPageHtml(extensionId), 'utf8');
  const joinHeaders = joinPageHeaders(extensionId, joinPage.length);

  const server = http.createServer(httpOptions, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/join') return respondJson(res, 404, { ok: false, error: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return respondJson(res, 405, { ok: false, error: 'method not allowed' });
    }
    if (path === '/join') {
      // The invite page: static, the same for every room (the room is in the fragment, which never arrives here).
      res.writeHead(200, joinHeaders);
      return res.end(req.method === 'HEAD' ? undefined : joinPage);
    }
    respondJson(res, 200, { ok: true, connections: broker.connectionCount, rooms: broker.roomCount });
  });

  // maxPayload is a backstop above maxFrameBytes: frames in between get a readable `too-large`
  // error; anything bigger is cut off by ws itself (close 1009) before it is buffered.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes * 2,
    perMessageDeflate: false, // no decompression bombs, no compression side channels
    clientTracking: false,
  });
  wss.on('error', (err) => log.warn('broker: server error', { error: err.name }));

  // Caps at accept, before the HTTP parser has buffered a byte of the request.
  let lastRejectLog = 0;
  server.on('connection', (socket: Socket) => {
    const verdict = gate.admit(socket);
    if (verdict === 'admitted') return;
    const now = Date.now();
    if (now - lastRejectLog >= REJECT_LOG_INTERVAL_MS) {
      lastRejectLog = now;
      log.warn('broker: connection refused at accept', { reason: verdict, refused: gate.rejected, sockets: gate.open() });
    }
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy()); // a reset mid-handshake must not crash the process
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/') return rejectUpgrade(socket, '404 Not Found');
    try {
      wss.handleUpgrade(req, socket, head, (ws) => broker.accept(ws));
    } catch {
      socket.destroy();
    }
  });
  server.on('error', (err) => log.warn('broker: http server error', { error: (err as NodeJS.ErrnoException).code ?? err.name }));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const hostPort = `${formatHost(host)}:${boundPort}`;
  const keepalive = setInterval(() => broker.sweep(Date.now()), limits.pingIntervalMs);
  log.info('broker: listening', { port: boundPort });

  let closing: Promise<void> | null = null;
  return {
    url: `ws://${hostPort}`,
    port: boundPort,
    httpUrl: `http://${hostPort}`,
    stats: () => broker.stats(),
    close: () => {
      closing ??= (async () => {
        clearInterval(keepalive);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections(); // idle HTTP keep-alive sockets
        await broker.shutdown();
        wss.close();
        await stopped;
        log.info('broker: stopped');
      })();
      return closing;
    },
  };
}
