/**
 * The Verifier: one trust check that every link calls, at the coordinator and between members
 * alike (DESIGN section 2). It is built from the parsed room link, so every peer, and every
 * coordinator after a migration, judges a link by the same rules. It has no side effects: it
 * returns a verdict, and the caller keeps it per pair.
 *
 * Open rooms prove nothing beyond the certificate: the verdict says which certificate this link
 * handshook with and whether it is the one the roster lists. Cert-bound credentials (signed
 * invites, OIDC, manifests) add their checks here, against the fingerprint of this very link.
 */
import type { RoomLink } from './link';
import type { ParticipantKind } from './session-api';
import type { RosterEntry } from './wire';

export interface VerifyInput {
  peerId: string;
  /** Fingerprint read from this link's DTLS handshake. */
  fingerprint: string;
  /** What the roster says of this peer; null for a joiner that is not rostered yet. */
  expected: RosterEntry | null;
  /** Credential from the peer's hello on this link (never one relayed by another peer). */
  credential: string | null;
  claimedKind: ParticipantKind;
}

export type Identity = { method: 'certificate'; fingerprint: string; kind: ParticipantKind };

export type VerdictFailure = 'fingerprint-mismatch' | 'credential-not-expected';

export type Verdict = { ok: true; identity: Identity } | { ok: false; reason: VerdictFailure };

export interface Verifier {
  readonly mode: RoomLink['gate'];
  verify(input: VerifyInput): Verdict;
}

export function verifierFor(link: RoomLink): Verifier {
  switch (link.gate) {
    case 'open':
      return openVerifier;
  }
}

const openVerifier: Verifier = {
  mode: 'open',
  verify(input) {
    if (input.expected && input.expected.fingerprint !== input.fingerprint) return { ok: false, reason: 'fingerprint-mismatch' };
    // An open room has no credentials; one that arrives anyway proves nothing and is refused
    // rather than ignored, so a client that believes it is in a verified room finds out.
    if (input.credential !== null) return { ok: false, reason: 'credential-not-expected' };
    return { ok: true, identity: { method: 'certificate', fingerprint: input.fingerprint, kind: input.claimedKind } };
  },
};
