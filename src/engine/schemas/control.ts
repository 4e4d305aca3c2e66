/**
 * The control channel: presence, admission, roster, safety code, liveness, media lanes. One
 * strict object per kind; the union is discriminated by `kind`.
 */
import * as v from 'valibot';
import {
  MAX_CONTROL_BYTES,
  MAX_CREDENTIAL_LENGTH,
  MAX_EPOCH,
  MAX_FEATURES,
  MAX_REFUSED_REASON_LENGTH,
  MAX_ROSTER_MEMBERS,
  MEDIA_LANES,
  b64url32,
  boundedInt,
  displayName,
  feature,
  fingerprint,
  mediaLane,
  participantKind,
  peerId,
  text,
  uniqueList,
  utf8Length,
  wireTime,
  type CheckReason,
} from './common';
import { hasForbiddenNameCharacters } from '../names';
import { MAX_NAME_LENGTH } from '../session-api';

export const RosterEntrySchema = v.strictObject({
  peerId,
  name: displayName,
  kind: participantKind,
  /** Fingerprint the coordinator read from its own handshake with this member. */
  fingerprint,
});
export type RosterEntry = v.InferOutput<typeof RosterEntrySchema>;

/** What is wrong with a list of roster members, or null when it may be sent as a roster. */
export function rosterProblem(members: readonly RosterEntry[]): CheckReason | null {
  if (members.length > MAX_ROSTER_MEMBERS) return 'too-many-members';
  const ids = new Set<string>();
  const fingerprints = new Set<string>();
  for (const m of members) {
    if (ids.has(m.peerId)) return 'duplicate-peer-id';
    // One certificate per participant (DESIGN rule 1): two members showing one certificate
    // means one of them is not who the roster says, so the roster is refused whole.
    if (fingerprints.has(m.fingerprint)) return 'duplicate-fingerprint';
    ids.add(m.peerId);
    fingerprints.add(m.fingerprint);
  }
  return null;
}

const rosterMembers = v.pipe(
  // The count is checked before any entry is read.
  v.array(v.unknown()),
  v.maxLength(MAX_ROSTER_MEMBERS, 'too-many-members' satisfies CheckReason),
  v.array(RosterEntrySchema),
  v.rawCheck<RosterEntry[]>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = rosterProblem(dataset.value);
    if (problem !== null) addIssue({ message: problem });
  }),
);

function rosterMessage<const K extends 'welcome' | 'roster'>(kind: K) {
  return v.strictObject({
    kind: v.literal(kind),
    coordinator: peerId,
    epoch: boundedInt(MAX_EPOCH),
    members: rosterMembers,
  });
}

function timeMessage<const K extends 'ping' | 'pong'>(kind: K) {
  return v.strictObject({ kind: v.literal(kind), at: wireTime });
}

export const HelloSchema = v.strictObject({
  kind: v.literal('hello'),
  name: displayName,
  participant: participantKind,
  credential: v.nullable(text(1, MAX_CREDENTIAL_LENGTH)),
  features: uniqueList(feature, MAX_FEATURES),
});
export const WelcomeSchema = rosterMessage('welcome');
export const RefusedSchema = v.strictObject({
  kind: v.literal('refused'),
  // Shown to the refused person: no controls, no bidi tricks.
  reason: v.pipe(text(1, MAX_REFUSED_REASON_LENGTH), v.check((s: string) => !hasForbiddenNameCharacters(s))),
});
export const RosterSchema = rosterMessage('roster');
export const PingSchema = timeMessage('ping');
export const PongSchema = timeMessage('pong');
export const ByeSchema = v.strictObject({ kind: v.literal('bye') });
export const SasCommitSchema = v.strictObject({ kind: v.literal('sas-commit'), commit: b64url32 });
export const SasRevealSchema = v.strictObject({ kind: v.literal('sas-reveal'), nonce: b64url32 });
export const MediaSchema = v.strictObject({
  kind: v.literal('media'),
  sending: uniqueList(mediaLane, MEDIA_LANES.length),
});

export const ControlSchema = v.variant('kind', [
  HelloSchema,
  WelcomeSchema,
  RefusedSchema,
  RosterSchema,
  PingSchema,
  PongSchema,
  ByeSchema,
  SasCommitSchema,
  SasRevealSchema,
  MediaSchema,
]);
export type ControlMessage = v.InferOutput<typeof ControlSchema>;

export const CONTROL_KINDS = [
  'hello',
  'welcome',
  'refused',
  'roster',
  'ping',
  'pong',
  'bye',
  'sas-commit',
  'sas-reveal',
  'media',
] as const satisfies readonly ControlMessage['kind'][];

// ---------------------------------------------------------------------------------------------
// Roster size: the coordinator refuses a joiner before its roster could outgrow a message.

/**
 * The widest a UTF-16 unit gets in `JSON.stringify` output is 6 bytes (`\u001f`, `\ud800`);
 * a 3-byte UTF-8 character stays 3. Counting 6 per unit bounds every name `cleanName` could
 * ever pass, whatever its character policy.
 */
const MAX_JSON_BYTES_PER_UNIT = 6;
const WORST_PEER_ID = 'A'.repeat(22);
const WORST_FINGERPRINT = Array.from({ length: 32 }, () => 'ff').join(':');

/** Bytes one roster entry can take inside `members`, its separating comma included. */
export const MAX_ENCODED_ROSTER_ENTRY_BYTES =
  Math.max(
    ...participantKind.options.map((kind) =>
      utf8Length(JSON.stringify({ peerId: WORST_PEER_ID, name: '', kind, fingerprint: WORST_FINGERPRINT } satisfies RosterEntry)),
    ),
  ) +
  MAX_NAME_LENGTH * MAX_JSON_BYTES_PER_UNIT +
  1;

/** Bytes of a welcome/roster message with no members, at the largest epoch. */
export const ROSTER_ENVELOPE_BYTES = Math.max(
  ...(['welcome', 'roster'] as const).map((kind) =>
    utf8Length(JSON.stringify({ kind, coordinator: WORST_PEER_ID, epoch: MAX_EPOCH, members: [] } satisfies ControlMessage)),
  ),
);

/**
 * True when a welcome or roster listing `members` (a count is all that matters) is sure to
 * encode within MAX_CONTROL_BYTES and to be accepted by every receiver's count limit, whatever
 * the members' names. With the current limits this holds for up to MAX_ROSTER_MEMBERS.
 */
export function rosterFits(members: readonly unknown[]): boolean {
  const count = members.length;
  return (
    count <= MAX_ROSTER_MEMBERS &&
    ROSTER_ENVELOPE_BYTES + count * MAX_ENCODED_ROSTER_ENTRY_BYTES <= MAX_CONTROL_BYTES
  );
}
