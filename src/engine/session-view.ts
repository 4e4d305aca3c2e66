/**
 * Builds the session's view, the plain-data state every UI renders, from the modules that own
 * each part. Pure: it reads what it is given and keeps nothing.
 */
import type { ChatStore } from './chat-store';
import { duplicateNames } from './names';
import type { Pair } from './pair';
import type { CallPhase, LinkPhase, MediaLane, MemberView, Notice, SessionView, TrustState } from './session-api';
import type { RosterEntry } from './wire';

export interface ViewInputs {
  phase: CallPhase;
  reason: string | null;
  roomLink: string | null;
  selfId: string | null;
  name: string;
  fingerprint: string;
  coordinatorId: string | null;
  sending: MediaLane[];
  roster: readonly RosterEntry[];
  pairOf(peerId: string): Pair | undefined;
  redialing(peerId: string): boolean;
  trustOf(entry: RosterEntry): TrustState;
  chat: ChatStore;
  broker: SessionView['broker'];
  notices: Notice[];
}

export function buildSessionView(v: ViewInputs): SessionView {
  const self = v.selfId
    ? { peerId: v.selfId, name: v.name, fingerprint: v.fingerprint, isCoordinator: v.coordinatorId === v.selfId, sending: v.sending }
    : null;
  const lookAlikes = duplicateNames([
    ...(v.selfId ? [{ id: v.selfId, name: v.name }] : []),
    ...v.roster.filter((e) => e.peerId !== v.selfId).map((e) => ({ id: e.peerId, name: e.name })),
  ]);
  const members: MemberView[] = [];
  for (const entry of v.roster) {
    if (entry.peerId === v.selfId) continue;
    const pair = v.pairOf(entry.peerId);
    members.push({
      peerId: entry.peerId,
      name: entry.name,
      kind: entry.kind,
      fingerprint: entry.fingerprint,
      isCoordinator: entry.peerId === v.coordinatorId,
      link: linkPhaseOf(pair, v.redialing(entry.peerId)),
      sas: pair?.sas.words ? pair.sas.words.join(' ') : null,
      sasPhase: pair?.sas.phase ?? 'pending',
      trust: v.trustOf(entry),
      lookAlike: lookAlikes.has(entry.peerId),
      sending: pair?.sending ?? [],
    });
  }
  return {
    phase: v.phase,
    reason: v.reason,
    roomLink: v.roomLink,
    self,
    members,
    chat: v.chat.entries(),
    chatEpoch: v.chat.epoch,
    broker: v.broker,
    notices: v.notices,
  };
}

function linkPhaseOf(pair: Pair | undefined, redialing: boolean): LinkPhase {
  if (!pair) return redialing ? 'reconnecting' : 'connecting';
  if (!pair.admitted) return 'connecting';
  return pair.link.phase;
}
