/**
 * The admission gate: the one place the coordinator decides whether a joiner may enter.
 * It sees the fingerprint the coordinator read from its own DTLS handshake with the joiner
 * (never a claimed one) and the credential that arrived over that same connection, so later
 * gate modes (invites, cert-bound OIDC, verified rosters) plug in here and bind to the link.
 */
import type { ParticipantKind } from './session-api';

export interface AdmissionRequest {
  roomId: string;
  peerId: string;
  /** Handshaken fingerprint of the joiner's connection to the coordinator. */
  fingerprint: string;
  name: string;
  participant: ParticipantKind;
  /** Credential carried in `hello`, bound (by later gates) to `fingerprint`. */
  credential: string | null;
}

export type AdmissionDecision = { admit: true } | { admit: false; reason: string };

export type Gate = (request: AdmissionRequest) => Promise<AdmissionDecision>;

/** Open rooms: anyone holding the link may enter. The link's 128-bit room id is the secret. */
export const openGate: Gate = async () => ({ admit: true });
