/** What a Session is configured with, resolved once to defaults, and the counters it reports. */
import { defaultGrants, type GrantPolicy } from './capabilities';
import type { DropStats } from './drops';
import { openGate, type Gate } from './gate';
import type { IceServerConfig, PeerConnectionConfig } from './platform';
import type { ParticipantKind } from './session-api';

export interface SessionOptions {
  /** A fixed base for the links this session shows; default: the invite page of the call's broker. */
  linkBase?: string;
  gate?: Gate;
  grants?: GrantPolicy;
  participant?: ParticipantKind;
  iceServers?: IceServerConfig[];
  /** 'relay' hides this participant's IP addresses: only TURN candidates are offered. */
  iceTransportPolicy?: 'all' | 'relay';
  /** Most people a call this participant coordinates admits (at most MAX_ROSTER_MEMBERS). */
  maxMembers?: number;
}

export interface ResolvedOptions {
  linkBase: string | undefined;
  gate: Gate;
  grants: GrantPolicy;
  participant: ParticipantKind;
  /** The configuration every new peer connection gets. */
  peerConfig: PeerConnectionConfig;
}

export function resolveOptions(options: SessionOptions): ResolvedOptions {
  const { iceTransportPolicy } = options;
  return {
    linkBase: options.linkBase,
    gate: options.gate ?? openGate,
    grants: options.grants ?? defaultGrants,
    participant: options.participant ?? 'human',
    peerConfig: { iceServers: options.iceServers ?? [], ...(iceTransportPolicy ? { iceTransportPolicy } : {}) },
  };
}

export interface SessionStats {
  droppedSignals: number;
  droppedControl: number;
  droppedContent: number;
  /** Every drop by channel and reason, so a test asserts the reason it expects. */
  dropReasons: DropStats['reasons'];
  fingerprintMismatches: number;
  refusedJoiners: number;
}

export function sessionStats(drops: DropStats, counts: { fingerprintMismatches: number; refusedJoiners: number }): SessionStats {
  return { droppedSignals: drops.total.signal, droppedControl: drops.total.control, droppedContent: drops.total.content, dropReasons: drops.reasons, ...counts };
}
