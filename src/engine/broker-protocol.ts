/**
 * Wire protocol between the signaling broker (`src/broker`) and the engine's `BrokerClient`.
 *
 * JSON text frames, one object per WebSocket message, each tagged by `t`. The broker is an
 * untrusted relay: it sees a hashed room id (`sid`), ephemeral peer ids and opaque sealed blobs,
 * nothing else. Both directions are validated by the declarative valibot schemas below (strict
 * key sets, exact id formats, bounded lengths and numbers); they are the single source of the
 * frame types, so a malformed or hostile frame is dropped at the edge instead of reaching
 * program logic. Golden vectors: tests/unit/vectors/broker-vectors.json.
 *
 * Peer ids are bound to a secret: a client holds a 32-byte random token and registers with it;
 * the broker derives the id (`peerIdFromToken`), so nobody can register an id whose token it
 * lacks, and the owner gets the same id back after a reconnect.
 *
 * Platform-neutral: no Node or browser imports.
 */

import * as v from 'valibot';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64Url, utf8Encode } from './encoding';

/** 2: `register` carries a token instead of an id (v1 clients fail fast on `hello`). */
export const BROKER_PROTOCOL_VERSION = 2 as const;

// ---------------------------------------------------------------------------------------------
// Limits

export interface BrokerLimits {
  /** Largest accepted inbound frame, in UTF-8 bytes. */
  maxFrameBytes: number;
  /** Token-bucket refill rate for inbound frames on one connection. */
  messagesPerSecond: number;
  /** Token-bucket capacity: how many frames a connection may send in a burst. */
  burst: number;
  /**
   * TCP sockets per client address (IPv6: per /64), counted from accept: half-sent upgrades,
   * plain HTTP and WebSockets alike. Sockets over the cap are destroyed at accept.
   */
  connectionsPerIp: number;
  /** TCP sockets in total, counted the same way. */
  maxConnections: number;
  /** Rooms one connection may hold the claim of at once. */
  maxClaimsPerConnection: number;
  /** Rooms one connection may watch at once. */
  maxWatchesPerConnection: number;
  /** Malformed frames tolerated on one connection; the last one closes it. */
  maxBadFrames: number;
  /** An HTTP request (the WebSocket upgrade included) must be fully received within this. */
  handshakeTimeoutMs: number;
  /** A connection that has not registered within this time after the upgrade is closed. */
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
  handshakeTimeoutMs: 5_000,
  registerTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
  pongTimeoutMs: 30_000,
  maxBufferedBytes: 1_048_576,
});

const HOUR_MS = 3_600_000;

/** Upper bound of each limit (the lower bound is 1): a value beyond it is a typo, not a policy. */
export const LIMIT_MAX: Readonly<{ [K in keyof BrokerLimits]: number }> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  messagesPerSecond: 100_000,
  burst: 100_000,
  connectionsPerIp: 100_000,
  maxConnections: 1_000_000,
  maxClaimsPerConnection: 10_000,
  maxWatchesPerConnection: 10_000,
  maxBadFrames: 1_000,
  handshakeTimeoutMs: 10 * 60_000,
  registerTimeoutMs: HOUR_MS,
  pingIntervalMs: HOUR_MS,
  pongTimeoutMs: HOUR_MS,
  maxBufferedBytes: 1024 * 1024 * 1024,
});

/** Merges overrides into the defaults; throws RangeError on a value outside 1..LIMIT_MAX. */
export function resolveLimits(overrides: Partial<BrokerLimits> = {}): BrokerLimits {
  const out: BrokerLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof BrokerLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1 || value > LIMIT_MAX[key]) {
      throw new RangeError(`broker limit ${key} must be a positive integer up to ${LIMIT_MAX[key]}`);
    }
    out[key] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Identifiers

/**
 * Peer id: base64url of 16 bytes, 22 chars. The last char carries 2 data bits and 4 zero
 * bits, so only A/Q/g/w are canonical; accepting others would let two spellings alias one id.
 */
const PEER_ID_RE = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** base64url (no padding) of 32 bytes, 43 chars; the last char carries 4 data bits + 2 zero bits. */
const B64_32_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** sid: base64url of a SHA-256. */
const SID_RE = B64_32_RE;
/** Peer token on the wire: base64url of 32 random bytes (canonical, so one token has one spelling). */
const TOKEN_RE = B64_32_RE;

export const PEER_TOKEN_BYTES = 32;
const PEER_ID_BYTES = 16;
const PEER_ID_CONTEXT = 'kibitz/peer|';

export function isPeerId(v: unknown): v is string {
  return typeof v === 'string' && PEER_ID_RE.test(v);
}

export function isSid(v: unknown): v is string {
  return typeof v === 'string' && SID_RE.test(v);
}

/** A peer token as it is spelled in a `register` frame. */
export function isPeerTokenText(v: unknown): v is string {
  return typeof v === 'string' && TOKEN_RE.test(v);
}

/** Request correlation tag: a non-negative safe integer chosen by the client. */
export function isRequestTag(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Short, non-identifying prefix for logs: ids and sids are never logged in full, tokens never. */
export function logPrefix(id: string): string {
  return id.slice(0, 6);
}

/** A fresh peer token (the secret behind a peer id) from a CSPRNG. */
export function newPeerToken(randomBytes: (n: number) => Uint8Array): Uint8Array {
  const bytes = randomBytes(PEER_TOKEN_BYTES);
  if (!(bytes instanceof Uint8Array) || bytes.length !== PEER_TOKEN_BYTES) throw new Error('randomBytes returned the wrong length');
  return Uint8Array.from(bytes);
}

/** The `register` spelling of a token. */
export function encodePeerToken(token: Uint8Array): string {
  if (!(token instanceof Uint8Array) || token.length !== PEER_TOKEN_BYTES) throw new TypeError(`a peer token is ${PEER_TOKEN_BYTES} bytes`);
  return toBase64Url(token);
}

/**
 * The peer id a token proves: base64url of the first 16 bytes of
 * SHA-256("kibitz/peer|" + base64url(token)). The broker computes this from the token in
 * `register`, so an id cannot be claimed without its token.
 */
export function peerIdFromToken(token: Uint8Array): string {
  return peerIdFromTokenText(encodePeerToken(token));
}

/** `peerIdFromToken` for the token as spelled on the wire (what the broker holds). */
export function peerIdFromTokenText(token: string): string {
  if (!isPeerTokenText(token)) throw new TypeError('not a canonical base64url peer token');
  return toBase64Url(sha256(utf8Encode(PEER_ID_CONTEXT + token)).subarray(0, PEER_ID_BYTES));
}

// ---------------------------------------------------------------------------------------------
// Schemas (the single source of the frame types)

export const ERROR_CODES = [
  'bad-frame',
  'too-large',
  'rate-limited',
  /** v1 brokers sent it after the upgrade; v2 destroys over-cap sockets at accept instead. */
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

const MAX_MESSAGE_LENGTH = 500;
/**
 * Room for the rest of a frame around its largest blob. A relayed `msg` is the sender's `send`
 * re-serialized (JSON.stringify never spells a string longer than the sender had to), so it
 * fits the sender's frame limit plus this.
 */
const FRAME_ENVELOPE_BYTES = 1024;

// Every schema carries its own rule text, so a rejection message never echoes hostile input.
const formatted = (re: RegExp, rule: string) => v.pipe(v.string(rule), v.regex(re, rule));
const PeerIdSchema = formatted(PEER_ID_RE, 'must be a 22-char base64url peer id');
const SidSchema = formatted(SID_RE, 'must be a 43-char base64url SHA-256');
const TokenSchema = formatted(TOKEN_RE, 'must be a 43-char base64url token of 32 bytes');
const QRule = 'must be a non-negative integer';
const RequestTagSchema = v.pipe(v.number(QRule), v.safeInteger(QRule), v.minValue(0, QRule));
const BoolSchema = v.boolean('must be a boolean');
const MessageSchema = v.pipe(v.string('must be a short string'), v.maxLength(MAX_MESSAGE_LENGTH, 'must be a short string'));
const CodeSchema = v.picklist(ERROR_CODES, 'must be a known error code');
const VersionSchema = v.literal(BROKER_PROTOCOL_VERSION, `must be ${BROKER_PROTOCOL_VERSION}`);
const blobSchema = (max: number) => v.pipe(v.string('must be a string'), v.maxLength(max, 'is too long'));

const limit = (key: keyof BrokerLimits) => {
  const rule = `must be an integer in 1..${LIMIT_MAX[key]}`;
  return v.pipe(v.number(rule), v.safeInteger(rule), v.minValue(1, rule), v.maxValue(LIMIT_MAX[key], rule));
};
/**
 * Not strict: unknown limit keys are dropped (not copied) so a broker can announce new limits
 * without breaking older clients; the ones a client relies on must all be present.
 */
const HelloLimitsSchema = v.object(
  {
    maxFrameBytes: limit('maxFrameBytes'),
    messagesPerSecond: limit('messagesPerSecond'),
    burst: limit('burst'),
    maxClaimsPerConnection: limit('maxClaimsPerConnection'),
    maxWatchesPerConnection: limit('maxWatchesPerConnection'),
  },
  'must be an object',
);

/** The limits a client needs to stay within; announced in `hello`. */
export type HelloLimits = v.InferOutput<typeof HelloLimitsSchema>;

export function helloLimitsOf(limits: BrokerLimits): HelloLimits {
  const { maxFrameBytes, messagesPerSecond, burst, maxClaimsPerConnection, maxWatchesPerConnection } = limits;
  return { maxFrameBytes, messagesPerSecond, burst, maxClaimsPerConnection, maxWatchesPerConnection };
}

/** A strict object tagged `t`: unknown keys (`__proto__` included) are rejected. */
function frame<const T extends string, const E extends v.ObjectEntries>(t: T, entries: E) {
  return v.strictObject({ t: v.literal(t), ...entries });
}

function clientSchemas(maxBlob: number) {
  return {
    register: frame('register', { token: TokenSchema }),
    claim: frame('claim', { sid: SidSchema, q: RequestTagSchema }),
    release: frame('release', { sid: SidSchema, q: RequestTagSchema }),
    holder: frame('holder', { sid: SidSchema, q: RequestTagSchema }),
    watch: frame('watch', { sid: SidSchema, q: RequestTagSchema }),
    unwatch: frame('unwatch', { sid: SidSchema }),
    send: frame('send', { to: PeerIdSchema, blob: blobSchema(maxBlob) }),
    ping: frame('ping', { q: v.exactOptional(RequestTagSchema) }),
  };
}

function serverSchemas(maxBlob: number) {
  return {
    hello: frame('hello', { v: VersionSchema, limits: HelloLimitsSchema }),
    /** The id the broker derived from the token; the client checks it is its own. */
    registered: frame('registered', { id: PeerIdSchema }),
    /** `holder` is the current holder after the claim: the claimant itself when `ok`. */
    claimed: frame('claimed', { sid: SidSchema, q: RequestTagSchema, ok: BoolSchema, holder: PeerIdSchema }),
    /** Answer to `holder` and to `release` (the holder after the release). */
    holder: frame('holder', { sid: SidSchema, q: RequestTagSchema, holder: v.nullable(PeerIdSchema) }),
    /** Sent to watchers when the claim is released; `former` is null when not known. */
    released: frame('released', { sid: SidSchema, former: v.nullable(PeerIdSchema) }),
    watching: frame('watching', { sid: SidSchema, q: RequestTagSchema }),
    msg: frame('msg', { from: PeerIdSchema, blob: blobSchema(maxBlob) }),
    pong: frame('pong', { q: v.exactOptional(RequestTagSchema) }),
    error: frame('error', {
      code: CodeSchema,
      message: MessageSchema,
      fatal: BoolSchema,
      q: v.exactOptional(RequestTagSchema),
      to: v.exactOptional(PeerIdSchema),
    }),
  };
}

type ClientSchemas = ReturnType<typeof clientSchemas>;
type ServerSchemas = ReturnType<typeof serverSchemas>;
type FramesOf<S> = { [K in keyof S]: S[K] extends v.GenericSchema ? v.InferOutput<S[K]> : never }[keyof S];

export type ClientFrame = FramesOf<ClientSchemas>;
export type ServerFrame = FramesOf<ServerSchemas>;
export type ClientFrameType = ClientFrame['t'];
export type ServerFrameType = ServerFrame['t'];

/** Every frame type, per direction (the vectors test checks each has valid and invalid cases). */
export const CLIENT_FRAME_TYPES = Object.keys(clientSchemas(1)) as ClientFrameType[];
export const SERVER_FRAME_TYPES = Object.keys(serverSchemas(1)) as ServerFrameType[];

/** Schemas depend on the blob bound only; a handful of bounds are ever in use, so cache a few. */
const schemaCache = new Map<number, { client: ClientSchemas; server: ServerSchemas }>();
const SCHEMA_CACHE_MAX = 8;

function schemasFor(maxBlob: number): { client: ClientSchemas; server: ServerSchemas } {
  let hit = schemaCache.get(maxBlob);
  if (!hit) {
    if (schemaCache.size >= SCHEMA_CACHE_MAX) schemaCache.clear();
    hit = { client: clientSchemas(maxBlob), server: serverSchemas(maxBlob) };
    schemaCache.set(maxBlob, hit);
  }
  return hit;
}

// ---------------------------------------------------------------------------------------------
// Parsing

export type ParseResult<F> =
  | { ok: true; frame: F }
  /** `q` is echoed when the rejected frame carried a well-formed one, so a request fails fast. */
  | { ok: false; code: 'bad-frame' | 'unknown-type' | 'too-large'; message: string; q?: number };

export interface ParseOptions {
  /** Upper bound for a relayed blob, in UTF-16 code units (≤ its UTF-8 byte length). Default 65536. */
  maxBlobLength?: number;
  /** Upper bound for the raw text, in UTF-8 bytes, checked before JSON.parse. Default: the blob bound plus 1 KiB. */
  maxFrameBytes?: number;
}

/** Turns the first issue into a short message built from schema keys and rule texts only. */
function describeIssue(t: string, issue: v.BaseIssue<unknown>): string {
  const path = issue.path ?? [];
  const last = path.at(-1);
  const parent = last?.input;
  const keys = path.map((p) => String(p.key));
  if (last && typeof parent === 'object' && parent !== null && !Object.hasOwn(parent, last.key as PropertyKey)) {
    return `${t} frame is missing field ${keys.join('.')}`;
  }
  // A strict object complaining about a key it holds: the key is not in the schema.
  if (issue.type === 'strict_object') return `unexpected field in ${t} frame`;
  return `${t}.${keys.join('.')} ${issue.message}`;
}

function parseWith<F>(
  raw: unknown,
  schemas: Record<string, v.GenericSchema>,
  maxFrameBytes: number,
): ParseResult<F> {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    // Size before parse: JSON.parse of a huge text is the cost an attacker wants us to pay.
    if (raw.length > maxFrameBytes || utf8Length(raw) > maxFrameBytes) {
      return { ok: false, code: 'too-large', message: 'frame too large' };
    }
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
  const result = v.safeParse(schemas[t]!, obj, { abortEarly: true });
  if (!result.success) return fail('bad-frame', describeIssue(t, result.issues[0]));
  return { ok: true, frame: result.output as F };
}

/** Validates a frame a client sent (a JSON string or an already parsed value). */
export function parseClientFrame(raw: unknown, options?: ParseOptions): ParseResult<ClientFrame> {
  const maxBlob = options?.maxBlobLength ?? DEFAULT_LIMITS.maxFrameBytes;
  return parseWith<ClientFrame>(raw, schemasFor(maxBlob).client, options?.maxFrameBytes ?? maxBlob + FRAME_ENVELOPE_BYTES);
}

/** Validates a frame the broker sent (a JSON string or an already parsed value). */
export function parseServerFrame(raw: unknown, options?: ParseOptions): ParseResult<ServerFrame> {
  const maxBlob = options?.maxBlobLength ?? DEFAULT_LIMITS.maxFrameBytes;
  return parseWith<ServerFrame>(raw, schemasFor(maxBlob).server, options?.maxFrameBytes ?? maxBlob + FRAME_ENVELOPE_BYTES);
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v);
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
