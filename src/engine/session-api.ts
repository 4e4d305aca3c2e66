/**
 * The session's public face: the state snapshot UIs render and the commands they may send.
 * Plain data only, so it crosses the extension's message port unchanged.
 */

/** `waiting`: joined a room nobody has opened yet; the join completes when its host arrives. */
export type CallPhase = 'idle' | 'connecting' | 'waiting' | 'connected' | 'reconnecting' | 'failed' | 'ended';

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
  /**
   * True when this name looks like another participant's, yours included (the same skeleton,
   * see names.ts): the two can only be told apart by their safety codes.
   */
  lookAlike: boolean;
  /** Lanes the member says it is sending. */
  sending: MediaLane[];
}

export interface ChatEntry {
  /**
   * Local arrival order: strictly increasing for the life of the engine (never reused, not even
   * across calls). UI ports receive chat as deltas keyed by it (see view-projection.ts).
   */
  seq: number;
  id: string;
  fromPeerId: string;
  fromName: string;
  text: string;
  /**
   * When it was sent (ms since the epoch): the sender's clock when that is plausible (within
   * [arrival - 24 h, arrival + 5 min]), else the local arrival time. Always a valid Date.
   */
  at: number;
  self: boolean;
  /** Own messages only: names of roster members that did not get it (no open link). */
  undeliveredTo?: string[];
}

/** Chat as one UI port receives it: only what that port has not seen yet. */
export interface ChatDelta {
  /** Discard the chat you hold first (first view on this port, or a new call began). */
  reset: boolean;
  /** New entries, oldest first, each with a `seq` above every entry sent before on this port. */
  entries: ChatEntry[];
  /** More entries are waiting and follow in the next view message. */
  more: boolean;
}

/** What a UI port receives: the session view with chat sent as a delta (bounded in size). */
export type PortView = Omit<SessionView, 'chat'> & { chat: ChatDelta };

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
  /** The bounded chat history (oldest first, at most MAX_CHAT_HISTORY entries). */
  chat: ChatEntry[];
  /** Changes whenever the chat history restarts (a new call); UI ports then get `reset`. */
  chatEpoch: number;
  /** Broker connection, shown so people know signaling is up. */
  broker: 'connecting' | 'open' | 'reconnecting' | 'closed';
  /** Notices a person should see (refused commands, dropped input counts, media errors). */
  notices: Notice[];
}

export interface Notice {
  id: string;
  level: 'info' | 'warning' | 'error';
  text: string;
  /** When it was last raised. */
  at: number;
  /** How many times it was raised in this call (identical notices are folded into one). */
  count?: number;
}

export type SessionCommand =
  /** With `link`, opens that room (one whose link was shared before its call began). */
  | { op: 'start'; name: string; brokerUrl: string; link?: string }
  | { op: 'join'; name: string; link: string; brokerUrl: string }
  | { op: 'leave' }
  | { op: 'chat'; text: string }
  | { op: 'set-media'; lane: 'mic' | 'camera'; on: boolean }
  | { op: 'mark-verified'; peerId: string }
  /**
   * The start or join form is on screen: connect the next call's socket to `brokerUrl` (the
   * configured broker) now, and with a room `link` make the dial's offer. A link naming another
   * broker is never contacted before the join. Ignored during a call; nothing to show if it fails.
   */
  | { op: 'warm-up'; brokerUrl: string; link?: string };

export const MAX_NAME_LENGTH = 64;
export const MAX_CHAT_LENGTH = 4000;
/** Chat entries an engine (and a UI page) keeps; older ones are forgotten first. */
export const MAX_CHAT_HISTORY = 500;
/** The largest `at` a Date can hold (ECMAScript time value limit). */
export const MAX_TIME_VALUE = 8.64e15;
