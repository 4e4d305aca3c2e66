/**
 * Wire messages between peers, and the one way every inbound message is read: a size check
 * on the raw text (UTF-8 bytes) before JSON.parse, then the channel's declarative schema
 * (`./schemas/*`, valibot), which is also the single source of the message types. Anything that
 * is not exactly a known shape within its size limit is rejected with a short, stable reason
 * (`WireReason`) built only from the schema's own field names, never from the sender's text;
 * callers drop it and count the drop by that reason (DESIGN rule 4: fail closed).
 *
 * The parsed message is always a fresh object built by the schema (strict objects copy only
 * their declared keys), so nothing of the sender's object, `__proto__` included, reaches the
 * engine.
 */
import * as v from 'valibot';
import { isPeerId } from './broker-protocol';
import { cleanName, hasForbiddenNameCharacters } from './names';
import { CHECK_REASONS, MAX_CONTENT_BYTES, MAX_CONTROL_BYTES, MAX_SIGNAL_BYTES, utf8Length, type CheckReason } from './schemas/common';
import { ControlSchema, type ControlMessage } from './schemas/control';
import { ContentSchema, type ContentMessage } from './schemas/content';
import { SignalSchema, type SignalMessage } from './schemas/signal';

export {
  WIRE_VERSION,
  MAX_CONTROL_BYTES,
  MAX_CONTENT_BYTES,
  MAX_SIGNAL_BYTES,
  MAX_ROSTER_MEMBERS,
  MAX_FEATURES,
  MAX_WIRE_TIME,
  MAX_EPOCH,
  MAX_SIGNAL_SEQ,
  MAX_SDP_MLINE_INDEX,
  MEDIA_LANES,
  utf8Length,
} from './schemas/common';
export {
  ControlSchema,
  RosterEntrySchema,
  CONTROL_KINDS,
  MAX_ENCODED_ROSTER_ENTRY_BYTES,
  ROSTER_ENVELOPE_BYTES,
  rosterFits,
  rosterProblem,
  type ControlMessage,
  type RosterEntry,
} from './schemas/control';
export { ContentSchema, CONTENT_KINDS, CHAT_ID_LENGTH, type ContentKind, type ContentMessage, type ChatMessage } from './schemas/content';
export { SignalSchema, SIGNAL_KINDS, LINK_ID_LENGTH, type SignalMessage } from './schemas/signal';
export { isPeerId, cleanName, hasForbiddenNameCharacters };

/**
 * Why a message was rejected. A closed vocabulary (every value is in `WIRE_REASONS`):
 * - `not-text`: not a string (binary frame); `too-large`: over the channel's byte limit;
 *   `not-json`; `not-object`: JSON but not an object (array, null, number, string);
 * - `unknown-kind`: `kind` (`k` for signals) missing or not one the channel knows;
 * - `extra-field`, `extra-field:<path>`: a key the schema does not declare (at the top, or
 *   inside the object at `<path>`); the key itself is never echoed;
 * - `bad-field:<path>`: the field at `<path>` is missing or not exactly its format, e.g.
 *   `bad-field:at`, `bad-field:members.*.fingerprint`, `bad-field:cand.sdpMLineIndex`
 *   (array positions are written `*`, so the vocabulary stays finite);
 * - `too-many-members`, `duplicate-peer-id`, `duplicate-fingerprint`: roster rules;
 * - `invalid`: a defect in this module (never expected; kept so a parse can never throw).
 */
export type WireReason =
  | 'not-text'
  | 'too-large'
  | 'not-json'
  | 'not-object'
  | 'unknown-kind'
  | 'invalid'
  | CheckReason
  | 'extra-field'
  | `extra-field:${string}`
  | `bad-field:${string}`;

export type Parsed<T> = { ok: true; msg: T } | { ok: false; reason: WireReason };

export type WireChannel = 'control' | 'content' | 'signal';

// ---------------------------------------------------------------------------------------------
// Reasons

type AnySchema = v.GenericSchema;

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function extraField(path: string): WireReason {
  return path === '' ? 'extra-field' : `extra-field:${path}`;
}

/** Every reason a schema can produce, found by walking it (so the vocabulary is checkable). */
function reasonsOf(schema: AnySchema, path: string, out: Set<string>): void {
  const s = schema as AnySchema & {
    pipe?: readonly { kind: string }[];
    entries?: Record<string, AnySchema>;
    options?: readonly AnySchema[];
    item?: AnySchema;
    wrapped?: AnySchema;
  };
  if (s.pipe) for (const item of s.pipe) if (item !== s && item.kind === 'schema') reasonsOf(item as AnySchema, path, out);
  switch (s.type) {
    case 'strict_object':
      out.add(extraField(path));
      for (const [key, entry] of Object.entries(s.entries ?? {})) {
        out.add(`bad-field:${joinPath(path, key)}`);
        reasonsOf(entry, joinPath(path, key), out);
      }
      break;
    case 'variant': {
      for (const option of s.options ?? []) reasonsOf(option, path, out);
      // A bad discriminator is reported as `unknown-kind`, never as a field.
      const key = (s as { key?: string }).key;
      if (key !== undefined) out.delete(`bad-field:${joinPath(path, key)}`);
      break;
    }
    case 'array':
      if (path !== '') out.add(`bad-field:${path}`);
      if (s.item) reasonsOf(s.item, joinPath(path, '*'), out);
      break;
    case 'nullable':
      if (s.wrapped) reasonsOf(s.wrapped, path, out);
      break;
    default:
      if (path !== '') out.add(`bad-field:${path}`);
  }
}

const COMMON_REASONS: readonly WireReason[] = ['not-text', 'too-large', 'not-json', 'not-object', 'unknown-kind', 'invalid'];

function vocabulary(schema: AnySchema, checks: readonly CheckReason[]): ReadonlySet<WireReason> {
  const out = new Set<string>([...COMMON_REASONS, ...checks]);
  reasonsOf(schema, '', out);
  return out as ReadonlySet<WireReason>;
}

/** The reasons each channel can give, and all of them. */
export const CHANNEL_REASONS: Readonly<Record<WireChannel, ReadonlySet<WireReason>>> = {
  control: vocabulary(ControlSchema, CHECK_REASONS),
  content: vocabulary(ContentSchema, []),
  signal: vocabulary(SignalSchema, []),
};
export const WIRE_REASONS: ReadonlySet<WireReason> = new Set([
  ...CHANNEL_REASONS.control,
  ...CHANNEL_REASONS.content,
  ...CHANNEL_REASONS.signal,
]);

const CHECK_REASON_SET: ReadonlySet<string> = new Set(CHECK_REASONS);

function reasonFor(issue: v.BaseIssue<unknown>, vocab: ReadonlySet<WireReason>): WireReason {
  const path = issue.path ?? [];
  let reason: WireReason;
  if (issue.kind === 'validation' && CHECK_REASON_SET.has(issue.message)) {
    reason = issue.message as CheckReason;
  } else if (issue.type === 'variant') {
    reason = 'unknown-kind';
  } else {
    const last = path[path.length - 1];
    const unknownKey = issue.type === 'strict_object' && last?.origin === 'key' && issue.expected === 'never';
    // An unknown key is the sender's text: name only the object it was found in.
    const named = unknownKey ? path.slice(0, -1) : path;
    const dotted = named.map((item) => (typeof item.key === 'string' ? item.key : '*')).join('.');
    reason = unknownKey ? extraField(dotted) : `bad-field:${dotted}`;
  }
  // Belt and braces: a reason outside the channel's vocabulary would be a defect here, and
  // must not carry anything the sender chose.
  return vocab.has(reason) ? reason : 'invalid';
}

// ---------------------------------------------------------------------------------------------
// Parsing

const PARSE_CONFIG = { abortEarly: true } as const;

function parseWith<TSchema extends AnySchema>(
  schema: TSchema,
  channel: WireChannel,
  raw: unknown,
  maxBytes: number,
): Parsed<v.InferOutput<TSchema>> {
  try {
    if (typeof raw !== 'string') return { ok: false, reason: 'not-text' };
    // Bytes >= UTF-16 units >= bytes / 3: count only when the quick bounds cannot decide.
    if (raw.length > maxBytes || (raw.length * 3 > maxBytes && utf8Length(raw) > maxBytes)) {
      return { ok: false, reason: 'too-large' };
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, reason: 'not-json' };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not-object' };
    const result = v.safeParse(schema, value, PARSE_CONFIG);
    if (result.success) return { ok: true, msg: result.output };
    return { ok: false, reason: reasonFor(result.issues[0], CHANNEL_REASONS[channel]) };
  } catch {
    return { ok: false, reason: 'invalid' };
  }
}

export function parseControl(raw: unknown): Parsed<ControlMessage> {
  return parseWith(ControlSchema, 'control', raw, MAX_CONTROL_BYTES);
}

export function parseContent(raw: unknown): Parsed<ContentMessage> {
  return parseWith(ContentSchema, 'content', raw, MAX_CONTENT_BYTES);
}

export function parseSignal(raw: unknown): Parsed<SignalMessage> {
  return parseWith(SignalSchema, 'signal', raw, MAX_SIGNAL_BYTES);
}

export function encode(msg: ControlMessage | ContentMessage | SignalMessage): string {
  return JSON.stringify(msg);
}
