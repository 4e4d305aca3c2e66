/**
 * Capabilities (DESIGN section 6): what a participant may perceive and what it may do. The
 * grant model itself (host-signed, versioned maps) builds on this seam; until then a
 * `GrantPolicy` answers from the participant's proven kind.
 */
import type { ParticipantKind } from './session-api';

export const PERCEIVE_CAPABILITIES = [
  'see-screen',
  'hear-audio',
  'see-camera',
  'see-page',
  'read-chat',
  'read-roster',
  'receive-directed',
] as const;
export const ACT_CAPABILITIES = ['send-chat', 'speak', 'share-screen', 'draw', 'act'] as const;

export type PerceiveCapability = (typeof PERCEIVE_CAPABILITIES)[number];
export type ActCapability = (typeof ACT_CAPABILITIES)[number];

export interface GrantSubject {
  peerId: string;
  /** Handshaken fingerprint of this participant's link to us. */
  fingerprint: string;
  kind: ParticipantKind;
}

export interface GrantPolicy {
  /** May this participant be sent content needing `cap`? (the sender withholds) */
  mayPerceive(peer: GrantSubject, cap: PerceiveCapability): boolean;
  /** May content needing `cap` from this participant be accepted? (the receiver drops) */
  mayAct(peer: GrantSubject, cap: ActCapability): boolean;
}

const AGENT_DEFAULT_PERCEIVE: ReadonlySet<PerceiveCapability> = new Set(['read-chat', 'read-roster', 'receive-directed']);

/**
 * Defaults by kind: humans may perceive and do everything; agents read the chat, the roster and
 * what is sent to them directly, and nothing they send is accepted.
 */
export const defaultGrants: GrantPolicy = {
  mayPerceive: (peer, cap) => peer.kind === 'human' || AGENT_DEFAULT_PERCEIVE.has(cap),
  mayAct: (peer) => peer.kind === 'human',
};
