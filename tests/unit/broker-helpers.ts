/**
 * Shared helpers for the broker tests: real broker on 127.0.0.1:0, raw `ws` clients that record
 * every frame, and a `WebSocketFactory` over `ws` for BrokerClient.
 */

import { createHash, randomBytes } from 'node:crypto';
import { WebSocket, type ClientOptions } from 'ws';
import { encodePeerToken, peerIdFromToken, type ServerFrame } from '../../src/engine/broker-protocol';
import type { Logger, WebSocketFactory, WebSocketLike } from '../../src/engine/platform';
import { startBroker, type BrokerOptions, type RunningBroker, type TapEvent } from '../../src/broker/server';

/** A random peer id (for targets; a registrable id comes from `peerToken`). */
export function peerId(): string {
  return randomBytes(16).toString('base64url');
}

export interface PeerToken {
  bytes: Uint8Array;
  /** As sent in `register`. */
  text: string;
  /** The id the broker derives from it. */
  id: string;
}

export function peerToken(): PeerToken {
  const bytes = new Uint8Array(randomBytes(32));
  return { bytes, text: encodePeerToken(bytes), id: peerIdFromToken(bytes) };
}

export function sidOf(roomId: string): string {
  return createHash('sha256').update(`kibitz/sid|${roomId}`).digest('base64url');
}

export function randomSid(): string {
  return sidOf(randomBytes(16).toString('hex'));
}

export interface LogEntry {
  level: 'info' | 'warn';
  msg: string;
  meta?: Record<string, unknown>;
}

export function captureLog(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (msg, meta) => entries.push({ level: 'info', msg, meta }),
    warn: (msg, meta) => entries.push({ level: 'warn', msg, meta }),
  };
}

export const silentLog: Logger = { info: () => {}, warn: () => {} };

export interface TestBroker extends RunningBroker {
  taps: TapEvent[];
  log: ReturnType<typeof captureLog>;
}

export async function startTestBroker(opts: Omit<BrokerOptions, 'tap' | 'log'> = {}): Promise<TestBroker> {
  const taps: TapEvent[] = [];
  const log = captureLog();
  const broker = await startBroker({ host: '127.0.0.1', port: 0, ...opts, tap: (e) => taps.push(e), log });
  return Object.assign(broker, { taps, log });
}

/** Polls until `pred` holds; generous default so slow CI machines do not flake. */
export async function waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A raw `ws` client that records every frame it receives. */
export class RawClient {
  readonly frames: ServerFrame[] = [];
  readonly texts: string[] = [];
  closeCode: number | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(
    url: string,
    readonly ws: WebSocket = new WebSocket(url),
  ) {
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '<binary>' : data.toString('utf8');
      this.texts.push(text);
      try {
        this.frames.push(JSON.parse(text) as ServerFrame);
      } catch {
        // left in texts for inspection
      }
    });
  }

  static async open(url: string, options?: ClientOptions): Promise<RawClient> {
    const c = new RawClient(url, new WebSocket(url, options));
    await c.opened;
    await c.next('hello');
    return c;
  }

  /** Opens, then registers with `token` (fresh by default); `id` is what the broker derived. */
  static async registered(url: string, token: PeerToken = peerToken()): Promise<RawClient & { id: string; token: PeerToken }> {
    const c = await RawClient.open(url);
    c.send({ t: 'register', token: token.text });
    const r = await c.next('registered');
    if (r.t !== 'registered' || r.id !== token.id) throw new Error('register failed');
    return Object.assign(c, { id: token.id, token });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Next not-yet-consumed frame of type `t` (and matching `pred`), waiting if needed. */
  async next<T extends ServerFrame['t']>(
    t: T,
    pred: (f: Extract<ServerFrame, { t: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerFrame, { t: T }>> {
    let found: Extract<ServerFrame, { t: T }> | undefined;
    await waitFor(
      () => {
        for (let i = 0; i < this.frames.length; i++) {
          const f = this.frames[i]!;
          if (f.t === t && pred(f as Extract<ServerFrame, { t: T }>)) {
            found = f as Extract<ServerFrame, { t: T }>;
            this.frames.splice(i, 1);
            return true;
          }
        }
        return false;
      },
      `frame ${t}`,
      timeoutMs,
    );
    return found!;
  }

  framesOf<T extends ServerFrame['t']>(t: T): Extract<ServerFrame, { t: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { t: T }> => f.t === t);
  }

  /** Round-trips a ping so every frame sent before it has been handled by the broker. */
  async sync(): Promise<void> {
    const q = Math.floor(Math.random() * 1e9);
    this.send({ t: 'ping', q });
    await this.next('pong', (f) => f.q === q);
  }

  close(): void {
    this.ws.close();
  }
}

/** `WebSocketFactory` over the `ws` package, shaped like the browser API the engine expects. */
export const wsFactory: WebSocketFactory = (url) => {
  const ws = new WebSocket(url);
  const adapter: WebSocketLike = {
    get readyState() {
      return ws.readyState;
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    onopen: null,
    onclose: null,
    onerror: null,
    onmessage: null,
  };
  ws.on('open', () => adapter.onopen?.());
  ws.on('message', (data, isBinary) => adapter.onmessage?.({ data: isBinary ? data : data.toString('utf8') }));
  ws.on('close', (code, reason) => adapter.onclose?.({ code, reason: reason.toString('utf8') }));
  ws.on('error', (err) => adapter.onerror?.(err));
  return adapter;
};
