/**
 * The engine's `Platform` for Node (agents and tests): node-datachannel peers that all present
 * this participant's one certificate, `ws` WebSockets, the system clock, node:crypto randomness
 * and a memory or JSON-file key/value store.
 */

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanup as nodeDataChannelCleanup } from 'node-datachannel';
import WebSocket from 'ws';
import type {
  KeyValueStore,
  Logger,
  PeerConnectionConfig,
  PeerFactory,
  Platform,
  RtcPeerLike,
  WebSocketFactory,
  WebSocketLike,
} from '../../engine/platform';
import { systemClock } from '../../engine/platform';
import type { NodeIdentity } from './identity';
import { normalizeFingerprint } from './identity';
import { NodePeerConnection, releaseRetainedNativeWrappers } from './peer-connection';

/** Logs to stderr only: an agent's stdout may carry a protocol (MCP over stdio). */
export const stderrLogger: Logger = {
  info: (msg, meta) => console.error(`[kibitz] ${msg}`, ...(meta ? [meta] : [])),
  warn: (msg, meta) => console.error(`[kibitz] WARN ${msg}`, ...(meta ? [meta] : [])),
};

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

export interface NodePeerFactoryOptions {
  log?: Logger;
  /** 'relay' forces TURN (hides host addresses). */
  iceTransportPolicy?: 'all' | 'relay';
  /** Bind ICE to one local address (libjuice). */
  bindAddress?: string;
}

export function createNodePeerFactory(identity: NodeIdentity, options: NodePeerFactoryOptions = {}): PeerFactory {
  const localFingerprint = normalizeFingerprint(identity.fingerprint);
  if (!localFingerprint) throw new Error('identity has no valid SHA-256 fingerprint');
  return {
    localFingerprint,
    supportsMedia: false,
    create(config: PeerConnectionConfig): RtcPeerLike {
      return new NodePeerConnection(config, {
        identity,
        ...(options.log ? { log: options.log } : {}),
        ...(options.iceTransportPolicy ? { iceTransportPolicy: options.iceTransportPolicy } : {}),
        ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
      });
    },
    async remoteFingerprint(pc: RtcPeerLike): Promise<string | null> {
      // Only connections this factory kind made carry a handshake we can read; fail closed.
      if (!(pc instanceof NodePeerConnection)) return null;
      return pc.handshakeRemoteFingerprint();
    },
  };
}

/**
 * Releases node-datachannel's native threads and callbacks (all peer connections must be
 * closed first). Call once at process or test-suite end so Node can exit.
 */
export function shutdownNodeWebRtc(): void {
  nodeDataChannelCleanup();
  releaseRetainedNativeWrappers();
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/** Largest message accepted from the broker; larger frames close the socket (fail closed). */
export const MAX_WS_MESSAGE_BYTES = 1024 * 1024;

class NodeWebSocket implements WebSocketLike {
  onopen: ((ev?: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev?: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  private readonly ws: WebSocket;

  constructor(url: string) {
    this.ws = new WebSocket(url, { maxPayload: MAX_WS_MESSAGE_BYTES });
    this.ws.on('open', () => this.onopen?.());
    this.ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      this.onmessage?.({
        data: isBinary ? buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) : buf.toString('utf8'),
      });
    });
    // Always listen for 'error': an unhandled one would crash the process.
    this.ws.on('error', (err: Error) => this.onerror?.(err));
    this.ws.on('close', (code: number, reason: Buffer) => this.onclose?.({ code, reason: reason.toString('utf8') }));
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}

export const nodeWebSocketFactory: WebSocketFactory = (url: string) => new NodeWebSocket(url);

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** In-memory store; values are copied in and out (JSON semantics), like a real store. */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();

  async get<T>(key: string): Promise<T | undefined> {
    const raw = this.map.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  async set<T>(key: string, value: T): Promise<void> {
    if (value === undefined) {
      this.map.delete(key);
      return;
    }
    this.map.set(key, JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
}

/**
 * A JSON object in one file (mode 0600: it may hold the identity's private key). Writes are
 * serialised and atomic (temp file in the same directory, fsync, rename). A corrupt file is
 * an error, never silently replaced.
 */
export class FileStore implements KeyValueStore {
  private cache: Record<string, unknown> | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly filePath: string) {}

  async get<T>(key: string): Promise<T | undefined> {
    await this.chain.catch(() => undefined);
    const data = await this.load();
    return Object.prototype.hasOwnProperty.call(data, key) ? clone(data[key] as T) : undefined;
  }

  set<T>(key: string, value: T): Promise<void> {
    return this.enqueue(async () => {
      const data = { ...(await this.load()) };
      if (value === undefined) delete data[key];
      else data[key] = clone(value);
      await this.write(data);
    });
  }

  delete(key: string): Promise<void> {
    return this.enqueue(async () => {
      const data = { ...(await this.load()) };
      if (!Object.prototype.hasOwnProperty.call(data, key)) return;
      delete data[key];
      await this.write(data);
    });
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.chain.catch(() => undefined).then(op);
    this.chain = next;
    return next;
  }

  private async load(): Promise<Record<string, unknown>> {
    if (this.cache) return this.cache;
    let text: string;
    try {
      text = await fs.promises.readFile(this.filePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.cache = {};
        return this.cache;
      }
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`FileStore: ${this.filePath} is not valid JSON; refusing to overwrite it`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`FileStore: ${this.filePath} does not hold a JSON object; refusing to overwrite it`);
    }
    this.cache = parsed as Record<string, unknown>;
    return this.cache;
  }

  private async write(data: Record<string, unknown>): Promise<void> {
    const dir = path.dirname(this.filePath);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.${path.basename(this.filePath)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    const handle = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(data, null, 2) + '\n', 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.promises.rename(tmp, this.filePath);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    this.cache = data;
  }
}

// ---------------------------------------------------------------------------------------------
// Platform
// ---------------------------------------------------------------------------------------------

export interface NodePlatformOptions {
  identity: NodeIdentity;
  storage?: KeyValueStore;
  log?: Logger;
  randomBytes?: (n: number) => Uint8Array;
}

export function createNodePlatform(opts: NodePlatformOptions): Platform {
  const log = opts.log ?? stderrLogger;
  return {
    peers: createNodePeerFactory(opts.identity, { log }),
    webSocket: nodeWebSocketFactory,
    clock: systemClock,
    randomBytes: opts.randomBytes ?? ((n: number) => new Uint8Array(crypto.randomBytes(n))),
    storage: opts.storage ?? new MemoryStore(),
    log,
  };
}
