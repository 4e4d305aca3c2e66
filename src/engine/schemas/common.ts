/**
 * Limits and primitive schemas shared by the peer-to-peer channels (control, content,
 * signaling). Every field is bounded to its meaning: a number is an integer in the range its
 * meaning allows, a string has the exact format or the length its meaning allows, and every
 * text field is well-formed UTF-16 (no lone surrogates, which would silently become U+FFFD on
 * the way out and compare unequal to themselves after a round trip).
 */
import * as v from 'valibot';
import type { MediaLane, ParticipantKind } from '../session-api';
import { isPeerId } from '../broker-protocol';
import { cleanName } from '../names';

export const WIRE_VERSION = 1;
/**
 * Control-channel messages: presence, roster, safety code, liveness. Sized so a welcome/roster
 * of MAX_ROSTER_MEMBERS worst-case entries always fits (see `rosterFits`); 16 KiB did not
 * (64 entries with 64-unit names need ~36 KB in the worst case).
 */
export const MAX_CONTROL_BYTES = 48 * 1024;
/** Content-channel messages (chat now; ink and snapshots later) are chunked above this size. */
export const MAX_CONTENT_BYTES = 64 * 1024;
/** Sealed signaling plaintext (SDP with four media lanes and data fits well under this). */
export const MAX_SIGNAL_BYTES = 32 * 1024;
export const MAX_ROSTER_MEMBERS = 64;
export const MAX_FEATURES = 16;

/** Largest time value a JS Date can hold (ms since the epoch): 100,000,000 days. */
export const MAX_WIRE_TIME = 8.64e15;
/** Roster epochs: far beyond any real call, far below 2^53 so `epoch + 1` stays exact forever. */
export const MAX_EPOCH = 2 ** 48;
/** Signal sequence numbers per link (a link sends a handful; the receiver caps what it keeps). */
export const MAX_SIGNAL_SEQ = 2 ** 20;
/** An SDP m-line index: four media lanes and one data section; 64 leaves room, bounds it. */
export const MAX_SDP_MLINE_INDEX = 64;
export const MAX_CREDENTIAL_LENGTH = 8192;
export const MAX_REFUSED_REASON_LENGTH = 200;
export const MAX_CANDIDATE_LENGTH = 1024;
export const MAX_SDP_MID_LENGTH = 32;

export const MEDIA_LANES = ['mic', 'camera', 'tab-video', 'tab-audio'] as const satisfies readonly MediaLane[];
export const PARTICIPANT_KINDS = ['human', 'agent'] as const satisfies readonly ParticipantKind[];

/** Reason codes carried by a check's message; the only messages `wire.ts` ever reports. */
export const CHECK_REASONS = ['too-many-members', 'duplicate-peer-id', 'duplicate-fingerprint'] as const;
export type CheckReason = (typeof CHECK_REASONS)[number];

const LONE_SURROGATE = /\p{Cs}/u;
const FINGERPRINT_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;
/** The last character of canonical base64url of 32 bytes: its low 2 bits are unused, so zero. */
const B64URL_32_LAST = /[AEIMQUYcgkosw048]$/;
const FEATURE_RE = /^[a-z0-9-]{1,32}$/;

export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** A string of `min..max` UTF-16 units with no lone surrogates. */
export function text(min: number, max: number) {
  return v.pipe(v.string(), v.minLength(min), v.maxLength(max), v.check(isWellFormed));
}

/** An integer in `[0, max]` (`-0` is read as `0`, so a round trip is exact). */
export function boundedInt(max: number) {
  return v.pipe(
    v.number(),
    v.integer(),
    v.minValue(0),
    v.maxValue(max),
    v.transform((n: number) => (n === 0 ? 0 : n)),
  );
}

/** A time in ms since the epoch that every `Date` can represent. */
export const wireTime = boundedInt(MAX_WIRE_TIME);

/** A broker peer id: canonical base64url of 16 bytes. */
export const peerId = v.pipe(v.string(), v.check((s: string) => isPeerId(s)));

/** A DTLS certificate fingerprint as the handshake reports it: 32 lowercase hex pairs. */
export const fingerprint = v.pipe(v.string(), v.length(95), v.regex(FINGERPRINT_RE));

/** base64url (no padding) of an exact length; not checked for canonical trailing bits. */
export function b64url(length: number) {
  return v.pipe(v.string(), v.length(length), v.regex(B64URL_RE));
}

/** Canonical base64url of exactly 32 bytes (a SAS commitment or nonce): 43 characters. */
export const b64url32 = v.pipe(b64url(43), v.regex(B64URL_32_LAST));

/** A display name as `cleanName` accepts it; the output is the cleaned name. */
export const displayName = v.pipe(
  v.string(),
  v.check(isWellFormed),
  v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
    const cleaned = cleanName(dataset.value);
    if (cleaned === null) {
      addIssue();
      return NEVER;
    }
    return cleaned;
  }),
);

export const participantKind = v.picklist(PARTICIPANT_KINDS);
export const mediaLane = v.picklist(MEDIA_LANES);
export const feature = v.pipe(v.string(), v.regex(FEATURE_RE));

/** A list of at most `max` items with no repeats (the wire carries sets as lists). */
export function uniqueList<TItem extends v.GenericSchema<unknown, string>>(item: TItem, max: number) {
  return v.pipe(
    v.array(item),
    v.maxLength(max),
    v.check((list: v.InferOutput<TItem>[]) => new Set(list).size === list.length),
  );
}

/** Exact UTF-8 length, shared with the broker protocol (one implementation). */
export { utf8Length } from '../broker-protocol';
