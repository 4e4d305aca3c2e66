/**
 * Wire protocol between the signaling broker (`src/broker`) and the engine's `BrokerClient`.
 *
 * JSON text frames, one object per WebSocket message, each tagged by `t`. The broker is an
 * untrusted relay: it sees a hashed room id (`sid`), ephemeral peer ids and opaque sealed blobs,
 * nothing else. Both directions are validated strictly (exact key sets, exact id formats) so a
 * malformed or hostile frame is dropped at the edge instead of reaching program logic.
 *
 * Platform-neutral: no Node or browser imports.
 */

import { toBase64Url } from './encoding';
export const BROKER_PROTOCOL_VERSION = 1 as const;

// ---------------------------------------------------------------------------------------------
// Limits

export interface BrokerLimits {
  /** Largest accepted inbound frame, in UTF-8 bytes. */
  maxFrameBytes: number;
  /** Token-bucket refill rate for inbound frames on one connection. */
  messagesPerSecond: number;
  /** Token-bucket capacity: how many frames a connection may send in a burst. */
  burst: number;
  /** Live WebSocket connections per client address (IPv6: per /64). */
  connectionsPerIp: number;
  /** Live WebSocket connections in total. */
  maxConnections: number;
  /** Rooms one connection may hold the claim of at once. */
  maxClaimsPerConnection: number;
  /** Rooms one connection may watch at once. */
  maxWatchesPerConnection: number;
  /** Malformed frames tolerated on one connection; the last one closes it. */
  maxBadFrames: number;
  /** A connection that has not registered within this time is closed. */
  registerTimeoutMs: number;
  /** Interval of the broker's WebSocket pings. */
  pingIntervalMs: number;
  /** A connection that has not answered a ping for this long is terminated. */
  pongTimeoutMs: number;
  /** A recipient whose socket buffers more than this is "busy": relays to it are refused. */
  maxBufferedBytes: number;
}

export type Limits = BrokerLimits;

export const DEFAULT_LIMITS: Readonly<BrokerLimits> = Object.freeze({
  maxFrameBytes: 65_536,
  messagesPerSecond: 50,
  burst: 100,
  connectionsPerIp: 20,
  maxConnections: 10_000,
  maxClaimsPerConnection: 16,
  maxWatchesPerConnection: 16,
  maxBadFrames: 5,
  registerTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
  pongTimeoutMs: 30_000,
  maxBufferedBytes: 1_048_576,
});

/** The limits a client needs to stay within; announced in `hello`. */
export interface HelloLimits {
  maxFrameBytes: number;
  messagesPerSecond: number;
  burst: number;
  maxClaimsPerConnection: number;
  maxWatchesPerConnection: number;
}

const HELLO_LIMIT_KEYS = [
  'maxFrameBytes',
  'messagesPerSecond',
  'burst',
  'maxClaimsPerConnection',
  'maxWatchesPerConnection',
] as const satisfies readonly (keyof HelloLimits)[];

export function helloLimitsOf(limits: BrokerLimits): HelloLimits {
  const out = {} as HelloLimits;
  for (const k of HELLO_LIMIT_KEYS) out[k] = limits[k];
  return out;
}

/** Merges overrides into the defaults; throws RangeError on a non-positive or non-integer value. */
export function resolveLimits(overrides: Partial<BrokerLimits> = {}): BrokerLimits {
  const out: BrokerLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof BrokerLimits)[]) {
    const v = overrides[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`broker limit ${key} must be a positive integer`);
    out[key] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Identifiers

/**
 * Peer id: base64url of 16 random bytes, 22 chars. The last char carries 2 data bits and 4 zero
 * bits, so only A/Q/g/w are canonical; accepting others would let two spellings alias one id.
 */
const PEER_ID_RE = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** sid: base64url (no padding) of a SHA-256, 43 chars; last char carries 4 data bits + 2 zero bits. */
const SID_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export function isPeerId(v: unknown): v is string {
  return typeof v === 'string' && PEER_ID_RE.test(v);
}

export function isSid(v: unknown): v is string {
  return typeof v === 'string' && SID_RE.test(v);
}

/** Request correlation tag: a non-negative safe integer chosen by the client. */
export function isRequestTag(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Short, non-identifying prefix for logs: ids and sids are never logged in full. */
export function logPrefix(id: string): string {
  return id.slice(0, 6);
}

/** A fresh ephemeral peer id from a CSPRNG. */
export function newPeerId(randomBytes: (n: number) => Uint8Array): string {
  const bytes = randomBytes(16);
  if (bytes.length !== 16) throw new Error('randomBytes returned the wrong length');
  return toBase64Url(bytes);
}

// ---------------------------------------------------------------------------------------------
// Frames

export type ClientFrame =
  | { t: 'register'; id: string }
  | { t: 'claim'; sid: string; q: number }
  | { t: 'release'; sid: string; q: number }
  | { t: 'holder'; sid: string; q: number }
  | { t: 'watch'; sid: string; q: number }
  | { t: 'unwatch'; sid: string }
  | { t: 'send'; to: string; blob: string }
  | { t: 'ping'; q?: number };

export const ERROR_CODES = [
  'bad-frame',
  'too-large',
  'rate-limited',
  'too-many-connections',
  'not-registered',
  'already-registered',
  'id-taken',
  'no-such-peer',
  'peer-busy',
  'unknown-type',
  'too-many-claims',
  'too-many-watches',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ServerFrame =
  | { t: 'hello'; v: typeof BROKER_PROTOCOL_VERSION; limits: HelloLimits }
  | { t: 'registered'; id: string }
  /** `holder` is the current holder after the claim: the claimant itself when `ok`. */
  | { t: 'claimed'; sid: string; q: number; ok: boolean; holder: string }
  /** Answer to `holder` and to `release` (the holder after the release). */
  | { t: 'holder'; sid: string; q: number; holder: string | null }
  /** Sent to watchers when the claim is released; `former` is null when not known. */
  | { t: 'released'; sid: string; former: string | null }
  | { t: 'watching'; sid: string; q: number }
  | { t: 'msg'; from: string; blob: string }
  | { t: 'pong'; q?: number }
  | { t: 'error'; code: ErrorCode; message: string; fatal: boolean; q?: number; to?: string };

export type ClientFrameType = ClientFrame['t'];
export type ServerFrameType = ServerFrame['t'];

export type ParseResult<F> =
  | { ok: true; frame: F }
  /** `q` is echoed when the rejected frame carried a well-formed one, so a request fails fast. */
  | { ok: false; code: 'bad-frame' | 'unknown-type'; message: string; q?: number };

export interface ParseOptions {
  /** Upper bound for a relayed blob, in UTF-16 code units (≤ its UTF-8 byte length). */
  maxBlobLength?: number;
}

type FieldKind = 'id' | 'sid' | 'q' | 'blob' | 'bool' | 'idOrNull' | 'code' | 'message' | 'version' | 'limits';
interface FieldSpec {
  kind: FieldKind;
  optional?: true;
}
/** One spec per field of a frame type (the type system checks every field is covered). */
type SchemaOf<F> = { [K in Exclude<keyof F, 't'>]-?: FieldSpec };
type Schemas<U extends { t: string }> = { [T in U['t']]: SchemaOf<Extract<U, { t: T }>> };

const req = (kind: FieldKind): FieldSpec => ({ kind });
const opt = (kind: FieldKind): FieldSpec => ({ kind, optional: true });

const CLIENT_SCHEMAS: Schemas<ClientFrame> = {
  register: { id: req('id') },
  claim: { sid: req('sid'), q: req('q') },
  release: { sid: req('sid'), q: req('q') },
  holder: { sid: req('sid'), q: req('q') },
  watch: { sid: req('sid'), q: req('q') },
  unwatch: { sid: req('sid') },
  send: { to: req('id'), blob: req('blob') },
  ping: { q: opt('q') },
};

const SERVER_SCHEMAS: Schemas<ServerFrame> = {
  hello: { v: req('version'), limits: req('limits') },
  registered: { id: req('id') },
  claimed: { sid: req('sid'), q: req('q'), ok: req('bool'), holder: req('id') },
  holder: { sid: req('sid'), q: req('q'), holder: req('idOrNull') },
  released: { sid: req('sid'), former: req('idOrNull') },
  watching: { sid: req('sid'), q: req('q') },
  msg: { from: req('id'), blob: req('blob') },
  pong: { q: opt('q') },
  error: { code: req('code'), message: req('message'), fatal: req('bool'), q: opt('q'), to: opt('id') },
};

const MAX_MESSAGE_LENGTH = 500;
const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && ERROR_CODE_SET.has(v);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/** Returns the validated field value (copied, never the attacker's object) or an error text. */
function checkField(kind: FieldKind, v: unknown, opts: Required<ParseOptions>): { ok: true; value: unknown } | { ok: false; why: string } {
  switch (kind) {
    case 'id':
      return isPeerId(v) ? { ok: true, value: v } : { ok: false, why: 'must be a 22-char base64url peer id' };
    case 'idOrNull':
      return v === null || isPeerId(v) ? { ok: true, value: v } : { ok: false, why: 'must be a peer id or null' };
    case 'sid':
      return isSid(v) ? { ok: true, value: v } : { ok: false, why: 'must be a 43-char base64url SHA-256' };
    case 'q':
      return isRequestTag(v) ? { ok: true, value: v } : { ok: false, why: 'must be a non-negative integer' };
    case 'blob':
      if (typeof v !== 'string') return { ok: false, why: 'must be a string' };
      if (v.length > opts.maxBlobLength) return { ok: false, why: 'is too long' };
      return { ok: true, value: v };
    case 'bool':
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, why: 'must be a boolean' };
    case 'code':
      return isErrorCode(v) ? { ok: true, value: v } : { ok: false, why: 'must be a known error code' };
    case 'message':
      return typeof v === 'string' && v.length <= MAX_MESSAGE_LENGTH ? { ok: true, value: v } : { ok: false, why: 'must be a short string' };
    case 'version':
      return v === BROKER_PROTOCOL_VERSION ? { ok: true, value: v } : { ok: false, why: `must be ${BROKER_PROTOCOL_VERSION}` };
    case 'limits': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, why: 'must be an object' };
      // Unknown limit keys are ignored (not copied) so a broker can announce new limits
      // without breaking v1 clients; the ones a v1 client relies on must all be present.
      const src = v as Record<string, unknown>;
      const out = {} as HelloLimits;
      for (const k of HELLO_LIMIT_KEYS) {
        const n = Object.hasOwn(src, k) ? src[k] : undefined;
        if (!isPositiveInt(n)) return { ok: false, why: `.${k} must be a positive integer` };
        out[k] = n;
      }
      return { ok: true, value: out };
    }
  }
}

function parseFrame<F extends { t: string }>(
  raw: unknown,
  schemas: Record<string, Record<string, FieldSpec>>,
  options: ParseOptions | undefined,
): ParseResult<F> {
  const opts: Required<ParseOptions> = { maxBlobLength: options?.maxBlobLength ?? DEFAULT_LIMITS.maxFrameBytes };
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, code: 'bad-frame', message: 'frame is not valid JSON' };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad-frame', message: 'frame must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const q = Object.hasOwn(obj, 'q') && isRequestTag(obj.q) ? obj.q : undefined;
  const fail = (code: 'bad-frame' | 'unknown-type', message: string): ParseResult<F> =>
    q === undefined ? { ok: false, code, message } : { ok: false, code, message, q };

  const t = Object.hasOwn(obj, 't') ? obj.t : undefined;
  if (typeof t !== 'string') return fail('bad-frame', 'frame has no string field t');
  // hasOwn: a `t` of "constructor" or "__proto__" must not find an inherited property.
  if (!Object.hasOwn(schemas, t)) return fail('unknown-type', 'unknown frame type');
  const schema = schemas[t]!;

  for (const key of Object.keys(obj)) {
    if (key !== 't' && !Object.hasOwn(schema, key)) return fail('bad-frame', `unexpected field in ${t} frame`);
  }
  const out: Record<string, unknown> = { t };
  for (const [key, spec] of Object.entries(schema)) {
    if (!Object.hasOwn(obj, key) || obj[key] === undefined) {
      if (spec.optional) continue;
      return fail('bad-frame', `${t} frame is missing field ${key}`);
    }
    const r = checkField(spec.kind, obj[key], opts);
    if (!r.ok) return fail('bad-frame', `${t}.${key} ${r.why}`);
    out[key] = r.value;
  }
  return { ok: true, frame: out as unknown as F };
}

/** Validates a frame a client sent (a JSON string or an already parsed value). */
export function parseClientFrame(raw: unknown, options?: ParseOptions): ParseResult<ClientFrame> {
  return parseFrame<ClientFrame>(raw, CLIENT_SCHEMAS, options);
}

/** Validates a frame the broker sent (a JSON string or an already parsed value). */
export function parseServerFrame(raw: unknown, options?: ParseOptions): ParseResult<ServerFrame> {
  return parseFrame<ServerFrame>(raw, SERVER_SCHEMAS, options);
}

/** UTF-8 byte length without allocating (frames are size-limited in bytes, JS strings are UTF-16). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3; // BMP char, or a lone surrogate (encoded as U+FFFD, 3 bytes)
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Rate limiting

/**
 * Token bucket shared by the broker (to police inbound frames), the client (to pace its own
 * frames so it never trips the broker's limit) and the offscreen engine host (to police UI
 * ports). Time is passed in so it works with any clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last); // a clock stepping backwards must not drain the bucket
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }

  /** Takes one token if available. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until one token will be available (0 when one is available now). */
  waitMs(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }
}
