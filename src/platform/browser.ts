/**
 * The engine's platform in a browser document (the extension's offscreen document), built on
 * plain web APIs only: no chrome.* here, because offscreen documents only get chrome.runtime.
 *
 * - Peers: real `RTCPeerConnection`s that all present this participant's ONE persisted ECDSA
 *   P-256 `RTCCertificate` (DESIGN.md rule 1). The remote fingerprint is read from the DTLS
 *   handshake (`RTCDtlsTransport.getRemoteCertificates()`), never from SDP (rule 2).
 * - Storage: IndexedDB (which structured-clones `RTCCertificate`).
 * - Media: getUserMedia (microphone with echo cancellation, camera at 640x360).
 * - WebSocket: the native one. Clock and randomness: the platform-neutral defaults.
 */

import {
  secureRandomBytes,
  systemClock,
  type KeyValueStore,
  type Logger,
  type MediaProvider,
  type MediaTrackLike,
  type PeerConnectionConfig,
  type PeerFactory,
  type Platform,
  type RtcPeerLike,
  type WebSocketLike,
} from '../engine/platform';
import { fingerprintFromDigest, isFingerprint } from '../engine/encoding';

export interface BrowserPlatformOptions {
  /** IndexedDB database name. Default "kibitz". */
  dbName?: string;
  /** Lifetime requested for a new certificate. Default 365 days. */
  certificateLifetimeMs?: number;
  /** Renew the stored certificate when it expires within this window. Default 14 days. */
  renewBeforeMs?: number;
  log?: Logger;
}

const DEFAULT_DB = 'kibitz';
const DB_VERSION = 1;
const KV_STORE = 'kv';
const IDENTITY_STORE = 'identity';
const CERT_KEY = 'certificate';
const DAY = 24 * 60 * 60 * 1000;
const DEFAULT_CERT_LIFETIME = 365 * DAY;
const DEFAULT_RENEW_BEFORE = 14 * DAY;
const CERT_LOCK = 'kibitz-certificate';

// ---------------------------------------------------------------------------------------------
// Fingerprints (pure)

/** Formats a SHA-256 digest as lowercase hex pairs joined by ':' (the engine-wide format). */
export const formatFingerprint = fingerprintFromDigest;
export { isFingerprint };

/**
 * Normalises a SHA-256 fingerprint as reported by `RTCCertificate.getFingerprints()` or
 * certificate stats (uppercase there) to the engine format; null unless it is exactly 32 bytes.
 */
export function normaliseFingerprint(value: string): string | null {
  const v = value.trim().toLowerCase();
  return isFingerprint(v) ? v : null;
}

export async function sha256Fingerprint(der: ArrayBuffer | Uint8Array): Promise<string> {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return formatFingerprint(new Uint8Array(digest));
}

/** The SHA-256 fingerprint of our own certificate, normalised; throws if there is none. */
export function certificateFingerprint(cert: RTCCertificate): string {
  for (const fp of cert.getFingerprints()) {
    if ((fp.algorithm ?? '').toLowerCase() === 'sha-256' && typeof fp.value === 'string') {
      const n = normaliseFingerprint(fp.value);
      if (n) return n;
    }
  }
  throw new Error('The call certificate has no SHA-256 fingerprint.');
}

// ---------------------------------------------------------------------------------------------
// IndexedDB

class Idb {
  private db: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly name: string,
    private readonly log: Logger,
  ) {}

  private open(): Promise<IDBDatabase> {
    if (this.db) return this.db;
    const opening = new Promise<IDBDatabase>((resolve, reject) => {
      let req: IDBOpenDBRequest;
      try {
        req = indexedDB.open(this.name, DB_VERSION);
      } catch (err) {
        reject(err instanceof Error ? err : new Error('IndexedDB is unavailable.'));
        return;
      }
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(KV_STORE)) db.createObjectStore(KV_STORE);
        if (!db.objectStoreNames.contains(IDENTITY_STORE)) db.createObjectStore(IDENTITY_STORE);
      };
      req.onblocked = () => this.log.warn('IndexedDB upgrade blocked by another Kibitz page');
      req.onerror = () => reject(req.error ?? new Error('Could not open IndexedDB.'));
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => {
          db.close();
          this.db = null;
        };
        db.onclose = () => {
          this.db = null;
        };
        resolve(db);
      };
    });
    this.db = opening;
    opening.catch(() => {
      if (this.db === opening) this.db = null;
    });
    return opening;
  }

  async request<T>(store: string, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(store, mode);
      let result: unknown;
      const req = fn(tx.objectStore(store));
      req.onsuccess = () => {
        result = req.result;
      };
      tx.oncomplete = () => resolve(result as T);
      tx.onerror = () => reject(tx.error ?? req.error ?? new Error('IndexedDB request failed.'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted.'));
    });
  }
}

class IndexedDbStore implements KeyValueStore {
  constructor(private readonly idb: Idb) {}

  get<T>(key: string): Promise<T | undefined> {
    return this.idb.request<T | undefined>(KV_STORE, 'readonly', (s) => s.get(key));
  }

  async set<T>(key: string, value: T): Promise<void> {
    await this.idb.request(KV_STORE, 'readwrite', (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.idb.request(KV_STORE, 'readwrite', (s) => s.delete(key));
  }
}

/** A `KeyValueStore` over IndexedDB (offscreen documents have no chrome.storage). */
export function createIndexedDbStore(dbName = DEFAULT_DB, log: Logger = consoleLogger): KeyValueStore {
  return new IndexedDbStore(new Idb(dbName, log));
}

// ---------------------------------------------------------------------------------------------
// The one certificate

interface StoredCertificate {
  certificate: RTCCertificate;
  createdAt: number;
}

function isStoredCertificate(v: unknown): v is StoredCertificate {
  if (typeof v !== 'object' || v === null) return false;
  const c = (v as { certificate?: unknown }).certificate;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof (c as RTCCertificate).getFingerprints === 'function' &&
    typeof (c as RTCCertificate).expires === 'number'
  );
}

async function generateCertificate(lifetimeMs: number): Promise<RTCCertificate> {
  // `expires` is a Chromium/WebRTC extension to the keygen algorithm (relative, in ms).
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', expires: lifetimeMs } as AlgorithmIdentifier;
  return RTCPeerConnection.generateCertificate(algorithm);
}

async function withCertificateLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks?.request) return locks.request(CERT_LOCK, fn) as Promise<T>;
  return fn();
}

async function loadOrCreateCertificate(
  idb: Idb,
  opts: Required<Pick<BrowserPlatformOptions, 'certificateLifetimeMs' | 'renewBeforeMs'>>,
  log: Logger,
  forceNew: boolean,
): Promise<RTCCertificate> {
  return withCertificateLock(async () => {
    if (!forceNew) {
      const stored = await idb.request<unknown>(IDENTITY_STORE, 'readonly', (s) => s.get(CERT_KEY));
      if (isStoredCertificate(stored)) {
        if (stored.certificate.expires - Date.now() > opts.renewBeforeMs) return stored.certificate;
        log.info('call certificate expires soon; renewing it (peers who verified you will see a new key)', {
          expires: new Date(stored.certificate.expires).toISOString(),
        });
      } else if (stored !== undefined) {
        log.warn('stored call certificate is unreadable; making a new one');
      }
    }
    const certificate = await generateCertificate(opts.certificateLifetimeMs);
    const record: StoredCertificate = { certificate, createdAt: Date.now() };
    await idb.request(IDENTITY_STORE, 'readwrite', (s) => s.put(record, CERT_KEY));
    log.info('created call certificate', {
      fingerprint: certificateFingerprint(certificate),
      expires: new Date(certificate.expires).toISOString(),
    });
    return certificate;
  });
}

/**
 * Replaces this profile's call certificate with a new one and returns its fingerprint.
 * Sessions already running keep the old one; the new one is used by platforms created
 * afterwards. Everyone who verified this participant will see a key change.
 */
export async function rotateCertificate(opts: BrowserPlatformOptions = {}): Promise<string> {
  const log = opts.log ?? consoleLogger;
  const idb = new Idb(opts.dbName ?? DEFAULT_DB, log);
  const cert = await loadOrCreateCertificate(idb, resolveCertOptions(opts), log, true);
  return certificateFingerprint(cert);
}

function resolveCertOptions(opts: BrowserPlatformOptions) {
  return {
    certificateLifetimeMs: opts.certificateLifetimeMs ?? DEFAULT_CERT_LIFETIME,
    renewBeforeMs: opts.renewBeforeMs ?? DEFAULT_RENEW_BEFORE,
  };
}

// ---------------------------------------------------------------------------------------------
// Peer connections

function createPeerFactory(certificate: RTCCertificate, log: Logger): PeerFactory {
  const localFingerprint = certificateFingerprint(certificate);
  const ours = new WeakSet<object>();

  async function transportFingerprint(t: RTCDtlsTransport): Promise<string | null> {
    if (t.state !== 'connected') return null;
    const certs = t.getRemoteCertificates();
    const first = certs[0];
    if (!first || first.byteLength === 0) return null;
    return sha256Fingerprint(first);
  }

  /**
   * Fallback: the certificate the DTLS handshake delivered, as `getStats()` reports it (the
   * transport's `remoteCertificateId`). Chromium sometimes reports the transport connected
   * while `getRemoteCertificates()` is still empty.
   */
  async function statsFingerprint(pc: RTCPeerConnection): Promise<string | null> {
    const report = await pc.getStats();
    let found: string | null = null;
    report.forEach((stat: { type?: string; dtlsState?: string; remoteCertificateId?: string }) => {
      if (found !== null || stat.type !== 'transport' || stat.dtlsState !== 'connected' || !stat.remoteCertificateId) return;
      const cert = report.get(stat.remoteCertificateId) as { fingerprintAlgorithm?: string; fingerprint?: string } | undefined;
      if (cert?.fingerprintAlgorithm?.toLowerCase() === 'sha-256' && typeof cert.fingerprint === 'string') {
        found = normaliseFingerprint(cert.fingerprint);
      }
    });
    return found;
  }

  return {
    localFingerprint,
    supportsMedia: true,

    create(config: PeerConnectionConfig): RtcPeerLike {
      if (certificate.expires <= Date.now()) {
        throw new Error('Your call certificate has expired. Reload Kibitz to renew it.');
      }
      const pc = new RTCPeerConnection({
        iceServers: config.iceServers.map((s) => ({
          urls: s.urls,
          ...(s.username !== undefined ? { username: s.username } : {}),
          ...(s.credential !== undefined ? { credential: s.credential } : {}),
        })),
        certificates: [certificate],
        iceTransportPolicy: config.iceTransportPolicy ?? 'all',
        // One DTLS transport per pair, so every lane and channel shows the same certificate.
        bundlePolicy: 'max-bundle',
        rtcpMuxPolicy: 'require',
      });
      ours.add(pc);
      // The real RTCPeerConnection implements RtcPeerLike's semantics; only its event-handler
      // parameter types are richer than the engine's structural ones.
      return pc as unknown as RtcPeerLike;
    },

    async remoteFingerprint(peer: RtcPeerLike): Promise<string | null> {
      if (!ours.has(peer)) return null;
      const pc = peer as unknown as RTCPeerConnection;
      try {
        const sctp = pc.sctp?.transport;
        if (!sctp) return null;
        const fingerprint = (await transportFingerprint(sctp)) ?? (await statsFingerprint(pc));
        if (!fingerprint) {
          log.warn('remote certificate not readable yet', {
            dtls: sctp.state,
            certificates: sctp.state === 'connected' ? sctp.getRemoteCertificates().length : 0,
          });
          return null;
        }
        // Every other DTLS transport on this connection (there should be none with
        // max-bundle) must show the same certificate, or we fail closed.
        for (const t of pc.getTransceivers()) {
          const tr = t.sender.transport;
          if (!tr || tr === sctp || tr.state !== 'connected') continue;
          const other = await transportFingerprint(tr);
          if (other !== fingerprint) {
            log.warn('DTLS transports of one connection disagree on the remote certificate');
            return null;
          }
        }
        return fingerprint;
      } catch (err) {
        log.warn('could not read the remote certificate', { error: String(err) });
        return null;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Media

function mediaErrorMessage(err: unknown, what: 'microphone' | 'camera'): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Kibitz is not allowed to use your ${what}. Open the stage page, press “Allow camera and microphone”, accept the prompt, then try again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found.`;
    case 'NotReadableError':
    case 'AbortError':
      return `Your ${what} is busy or could not be started. Close other apps using it and try again.`;
    default:
      return `Could not start your ${what}.`;
  }
}

export const MICROPHONE_CONSTRAINTS: MediaStreamConstraints = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  video: false,
};

export const CAMERA_CONSTRAINTS: MediaStreamConstraints = {
  audio: false,
  video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30, max: 30 } },
};

export function createUserMediaProvider(): MediaProvider {
  async function one(constraints: MediaStreamConstraints, what: 'microphone' | 'camera'): Promise<MediaTrackLike> {
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      throw new Error(mediaErrorMessage(err, what));
    }
    const track = what === 'microphone' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    for (const t of stream.getTracks()) if (t !== track) t.stop();
    if (!track) throw new Error(`No ${what} was found.`);
    return track;
  }
  return {
    getMicrophone: () => one(MICROPHONE_CONSTRAINTS, 'microphone'),
    getCamera: () => one(CAMERA_CONSTRAINTS, 'camera'),
    stop(track: MediaTrackLike) {
      const t = track as Partial<MediaStreamTrack>;
      if (typeof t.stop === 'function') t.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Logger, WebSocket, platform

export const consoleLogger: Logger = {
  info: (msg, meta) => (meta ? console.info('[kibitz]', msg, meta) : console.info('[kibitz]', msg)),
  warn: (msg, meta) => (meta ? console.warn('[kibitz]', msg, meta) : console.warn('[kibitz]', msg)),
};

export function nativeWebSocket(url: string): WebSocketLike {
  // The native WebSocket has the engine's surface; only its handler parameter types differ.
  return new WebSocket(url) as unknown as WebSocketLike;
}

export interface BrowserPlatform extends Platform {
  media: MediaProvider;
}

export async function createBrowserPlatform(opts: BrowserPlatformOptions = {}): Promise<BrowserPlatform> {
  const log = opts.log ?? consoleLogger;
  const idb = new Idb(opts.dbName ?? DEFAULT_DB, log);
  const certificate = await loadOrCreateCertificate(idb, resolveCertOptions(opts), log, false);
  return {
    peers: createPeerFactory(certificate, log),
    webSocket: nativeWebSocket,
    clock: systemClock,
    randomBytes: secureRandomBytes,
    storage: new IndexedDbStore(idb),
    media: createUserMediaProvider(),
    log,
  };
}
