/**
 * The session's public face: the state snapshot UIs render and the commands they may send.
 * Plain data only, so it crosses the extension's message port unchanged.
 */

export type CallPhase = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'ended';

export type LinkPhase = 'connecting' | 'connected' | 'reconnecting' | 'failed';

export type SasPhase = 'pending' | 'ready' | 'failed';

/** How a member's key relates to what this browser pinned before. */
export type TrustState = 'unverified' | 'verified' | 'key-changed';

export type ParticipantKind = 'human' | 'agent';

export type MediaLane = 'mic' | 'camera' | 'tab-video' | 'tab-audio';

export interface MemberView {
  peerId: string;
  name: string;
  kind: ParticipantKind;
  /** Handshaken certificate fingerprint (lowercase hex pairs). */
  fingerprint: string;
  isCoordinator: boolean;
  link: LinkPhase;
  /** 7-word safety code for this pair, once both sides revealed. */
  sas: string | null;
  sasPhase: SasPhase;
  trust: TrustState;
  /** Lanes the member says it is sending. */
  sending: MediaLane[];
}

export interface ChatEntry {
  id: string;
  fromPeerId: string;
  fromName: string;
  text: string;
  at: number;
  self: boolean;
}

export interface SessionView {
  phase: CallPhase;
  /** Why the call failed or ended, in words a person can act on. */
  reason: string | null;
  roomLink: string | null;
  self: {
    peerId: string;
    name: string;
    fingerprint: string;
    isCoordinator: boolean;
    sending: MediaLane[];
  } | null;
  members: MemberView[];
  chat: ChatEntry[];
  /** Broker connection, shown so people know signaling is up. */
  broker: 'connecting' | 'open' | 'reconnecting' | 'closed';
  /** Notices a person should see (refused commands, dropped input counts, media errors). */
  notices: Notice[];
}

export interface Notice {
  id: string;
  level: 'info' | 'warning' | 'error';
  text: string;
  at: number;
}

export type SessionCommand =
  | { op: 'start'; name: string; brokerUrl: string }
  | { op: 'join'; name: string; link: string; brokerUrl: string }
  | { op: 'leave' }
  | { op: 'chat'; text: string }
  | { op: 'set-media'; lane: 'mic' | 'camera'; on: boolean }
  | { op: 'mark-verified'; peerId: string };

export const MAX_NAME_LENGTH = 64;
export const MAX_CHAT_LENGTH = 4000;
