/**
 * The presence machine as a transition table (after pion's signalingstate_test.go): each row is
 * {from, event, to, effects}. `to` lists the phase and the fields that matter; `effects` is exact.
 * Then properties over every (state, event) pair and over random event sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FAIL_TEXT,
  HOLDER_LOOKUP_DELAY_MS,
  JOIN_RETRY_DELAY_MS,
  JOIN_TIMEOUT_MS,
  MAX_EPOCH,
  MEMBER_GRACE_MS,
  MAX_EPOCH_STEP,
  MAX_HOLDER_LOOKUPS,
  MAX_JOIN_DIALS,
  MAX_WELCOME_EPOCH,
  NOTICE_TEXT,
  RETRY_MAX_MS,
  UNREACHABLE_NOTICE_AFTER,
  initialPresence,
  isInCall,
  next,
  firstLinkDeadline,
  retryDelay,
  WAIT_FOR_HOST_POLL_MS,
  type ClaimingState,
  type CoordinatorState,
  type ElectingState,
  type EndedState,
  type JoiningState,
  type LocatingState,
  type MemberState,
  type OrphanedState,
  type PresenceEffect,
  type PresenceEvent,
  type PresenceState,
} from '../../src/engine/presence';

const SELF = 'self-peer';
const A = 'peer-A'; // the coordinator in most rows
const B = 'peer-B';
const C = 'peer-C';
const E = 10; // the epoch we hold in most rows

const idle = initialPresence(SELF);
const claiming = (o: Partial<ClaimingState> = {}): ClaimingState => ({ phase: 'claiming', self: SELF, coordinator: null, epoch: 0, brokerUp: true, retryPending: false, ...o });
const locating = (o: Partial<LocatingState> = {}): LocatingState => ({ phase: 'locating', self: SELF, coordinator: null, epoch: 0, brokerUp: true, retryPending: true, lookups: 1, dials: 0, waiting: false, ...o });
const joining = (o: Partial<JoiningState> = {}): JoiningState => ({ phase: 'joining', self: SELF, coordinator: A, epoch: 0, brokerUp: true, retryPending: true, dials: 1, ...o });
const member = (o: Partial<MemberState> = {}): MemberState => ({ phase: 'member', self: SELF, coordinator: A, epoch: E, brokerUp: true, retryPending: false, probing: false, relink: 0, ...o });
const electing = (o: Partial<ElectingState> = {}): ElectingState => ({ phase: 'electing', self: SELF, coordinator: null, epoch: E, brokerUp: true, retryPending: false, former: A, cause: 'link-lost', attempt: 0, ...o });
const coordinator = (o: Partial<CoordinatorState> = {}): CoordinatorState => ({ phase: 'coordinator', self: SELF, coordinator: SELF, epoch: E, brokerUp: true, retryPending: false, reclaiming: false, attempt: 0, ...o });
const orphaned = (o: Partial<OrphanedState> = {}): OrphanedState => ({ phase: 'orphaned', self: SELF, coordinator: null, epoch: E, brokerUp: true, retryPending: true, former: A, cause: 'link-lost', attempt: 1, ...o });
const ended = (o: Partial<EndedState> = {}): EndedState => ({ phase: 'ended', self: SELF, coordinator: null, epoch: E, brokerUp: true, retryPending: false, outcome: 'left', reason: null, ...o });

const drop = (reason: string): PresenceEffect[] => [{ type: 'drop', reason } as PresenceEffect];
const retry = (ms: number): PresenceEffect => ({ type: 'schedule-retry', ms });
const cancel: PresenceEffect = { type: 'cancel-retry' };
const claim: PresenceEffect = { type: 'claim' };
const apply = (from: string, epoch: number): PresenceEffect => ({ type: 'apply-roster', from, epoch });
const notify = (level: 'info' | 'warning' | 'error', text: string): PresenceEffect => ({ type: 'notify', level, text });
const fail = (reason: string): PresenceEffect => ({ type: 'fail', reason });

interface Row {
  name: string;
  from: PresenceState;
  event: PresenceEvent;
  to: Partial<PresenceState> & { phase: PresenceState['phase'] };
  effects: PresenceEffect[];
}

const rows: Row[] = [
  // ---------------------------------------------------------------- idle
  { name: 'idle: start claims', from: idle, event: { type: 'start' }, to: { phase: 'claiming', coordinator: null }, effects: [claim] },
  { name: 'idle: join a holder dials it with the join timeout', from: idle, event: { type: 'join', holder: A }, to: { phase: 'joining', coordinator: A, dials: 1, retryPending: true }, effects: [{ type: 'dial', peerId: A }, retry(JOIN_TIMEOUT_MS)] },
  { name: 'idle: join with nobody holding looks again later', from: idle, event: { type: 'join', holder: null }, to: { phase: 'locating', lookups: 1, retryPending: true }, effects: [retry(HOLDER_LOOKUP_DELAY_MS)] },
  { name: 'idle: join where we "hold" it is not a holder to dial', from: idle, event: { type: 'join', holder: SELF }, to: { phase: 'locating' }, effects: [retry(HOLDER_LOOKUP_DELAY_MS)] },
  { name: 'idle: a roster before any call is dropped', from: idle, event: { type: 'roster', from: A, epoch: 1 }, to: { phase: 'idle' }, effects: drop('not-in-call') },
  { name: 'idle: leave is dropped', from: idle, event: { type: 'leave' }, to: { phase: 'idle' }, effects: drop('not-in-call') },

  // ---------------------------------------------------------------- claiming (host start)
  { name: 'claiming: claim won makes us coordinator at epoch 1', from: claiming(), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'coordinator', coordinator: SELF, epoch: 1 }, effects: [{ type: 'broadcast-roster', epoch: 1 }] },
  { name: 'claiming: claim held by another fails the start', from: claiming(), event: { type: 'claim-result', ok: false, holder: B }, to: { phase: 'ended', outcome: 'failed', reason: 'room-taken' }, effects: [fail('room-taken')] },
  { name: 'claiming: claim not made fails the start', from: claiming(), event: { type: 'claim-result', ok: false, holder: null }, to: { phase: 'ended', outcome: 'failed' }, effects: [fail('claim-failed')] },
  { name: 'claiming: leave ends without release', from: claiming(), event: { type: 'leave' }, to: { phase: 'ended', outcome: 'left' }, effects: [] },
  { name: 'claiming: fail passes its reason through', from: claiming(), event: { type: 'fail', reason: 'broker unreachable' }, to: { phase: 'ended', outcome: 'failed', reason: 'broker unreachable' }, effects: [fail('broker unreachable')] },
  { name: 'claiming: broker-down is recorded', from: claiming(), event: { type: 'broker-down' }, to: { phase: 'claiming', brokerUp: false }, effects: [] },
  { name: 'claiming: a roster is dropped', from: claiming(), event: { type: 'roster', from: A, epoch: 2 }, to: { phase: 'claiming' }, effects: drop('not-member') },
  { name: 'claiming: a second start is dropped', from: claiming(), event: { type: 'start' }, to: { phase: 'claiming' }, effects: drop('already-in-call') },

  // ---------------------------------------------------------------- locating (joiner, who holds it?)
  { name: 'locating: the retry tick looks the holder up', from: locating(), event: { type: 'retry-tick' }, to: { phase: 'locating', lookups: 2, retryPending: false }, effects: [{ type: 'lookup-holder' }] },
  { name: 'locating: a holder found is dialed', from: locating({ lookups: 2, retryPending: false }), event: { type: 'holder-result', holder: A }, to: { phase: 'joining', coordinator: A, dials: 1 }, effects: [{ type: 'dial', peerId: A }, retry(JOIN_TIMEOUT_MS)] },
  { name: 'locating: nobody yet waits longer', from: locating({ lookups: 2, retryPending: false }), event: { type: 'holder-result', holder: null }, to: { phase: 'locating', lookups: 2, retryPending: true }, effects: [retry(HOLDER_LOOKUP_DELAY_MS * 2)] },
  { name: 'locating: nobody after the last look-up waits for the host', from: locating({ lookups: MAX_HOLDER_LOOKUPS, retryPending: false }), event: { type: 'holder-result', holder: null }, to: { phase: 'locating', waiting: true, retryPending: true }, effects: [retry(WAIT_FOR_HOST_POLL_MS)] },
  { name: 'locating: while waiting, nobody yet keeps waiting', from: locating({ lookups: 40, waiting: true, retryPending: false }), event: { type: 'holder-result', holder: null }, to: { phase: 'locating', waiting: true, retryPending: true }, effects: [retry(WAIT_FOR_HOST_POLL_MS)] },
  { name: 'locating: the host arriving ends the wait: dial it', from: locating({ lookups: 40, waiting: true, retryPending: false }), event: { type: 'holder-result', holder: A }, to: { phase: 'joining', coordinator: A, dials: 1 }, effects: [{ type: 'dial', peerId: A }, retry(JOIN_TIMEOUT_MS)] },
  { name: 'locating: an answer nobody asked for is dropped', from: locating(), event: { type: 'holder-result', holder: A }, to: { phase: 'locating' }, effects: drop('no-request-pending') },
  { name: 'locating: leave cancels the retry', from: locating(), event: { type: 'leave' }, to: { phase: 'ended' }, effects: [cancel] },

  // ---------------------------------------------------------------- joining (dialed, waiting for welcome)
  { name: 'joining: welcome from the holder makes us its member', from: joining(), event: { type: 'welcome', from: A, epoch: 5 }, to: { phase: 'member', coordinator: A, epoch: 5, retryPending: false }, effects: [cancel, apply(A, 5)] },
  { name: 'joining: welcome from anyone else is dropped', from: joining(), event: { type: 'welcome', from: B, epoch: 5 }, to: { phase: 'joining', coordinator: A }, effects: drop('not-coordinator') },
  { name: 'joining: welcome from ourselves is dropped', from: joining(), event: { type: 'welcome', from: SELF, epoch: 5 }, to: { phase: 'joining' }, effects: drop('from-self') },
  { name: 'joining: welcome with an absurd epoch is dropped', from: joining(), event: { type: 'welcome', from: A, epoch: MAX_WELCOME_EPOCH + 1 }, to: { phase: 'joining' }, effects: drop('epoch-out-of-range') },
  { name: 'joining: welcome at epoch 0 is dropped', from: joining(), event: { type: 'welcome', from: A, epoch: 0 }, to: { phase: 'joining' }, effects: drop('epoch-out-of-range') },
  { name: 'joining: a failed first link looks the holder up again', from: joining({ dials: 1 }), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'locating', lookups: 0, dials: 1, retryPending: true }, effects: [retry(JOIN_RETRY_DELAY_MS)] },
  { name: 'joining: the last dial failing fails the join', from: joining({ dials: MAX_JOIN_DIALS }), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'ended', outcome: 'failed' }, effects: [cancel, fail('join-link-lost')] },
  { name: 'joining: a non-retryable close fails the join', from: joining(), event: { type: 'coordinator-link-lost', from: A, reason: 'fingerprint-mismatch' }, to: { phase: 'ended', outcome: 'failed' }, effects: [cancel, fail('join-link-lost')] },
  { name: 'joining: another link closing is not ours to handle', from: joining(), event: { type: 'coordinator-link-lost', from: B, reason: 'failed' }, to: { phase: 'joining' }, effects: drop('not-coordinator') },
  { name: 'joining: the join timeout fails the join', from: joining(), event: { type: 'retry-tick' }, to: { phase: 'ended', outcome: 'failed', reason: 'join-timeout' }, effects: [fail('join-timeout')] },
  { name: 'joining: refused (a fail event) ends it', from: joining(), event: { type: 'fail', reason: 'refused' }, to: { phase: 'ended', outcome: 'failed' }, effects: [cancel, fail('refused')] },
  { name: 'joining: a roster before welcome is dropped', from: joining(), event: { type: 'roster', from: A, epoch: 6 }, to: { phase: 'joining' }, effects: drop('not-member') },

  // ---------------------------------------------------------------- member: rosters and epochs (finding 5)
  { name: 'member: next roster from the coordinator is applied', from: member(), event: { type: 'roster', from: A, epoch: E + 1 }, to: { phase: 'member', epoch: E + 1 }, effects: [apply(A, E + 1)] },
  { name: 'member: a roster exactly MAX_EPOCH_STEP ahead is applied', from: member(), event: { type: 'roster', from: A, epoch: E + MAX_EPOCH_STEP }, to: { phase: 'member', epoch: E + MAX_EPOCH_STEP }, effects: [apply(A, E + MAX_EPOCH_STEP)] },
  { name: 'finding 5: a roster one past the step bound is dropped', from: member(), event: { type: 'roster', from: A, epoch: E + MAX_EPOCH_STEP + 1 }, to: { phase: 'member', epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'finding 5: a roster at MAX_EPOCH from the coordinator is dropped', from: member(), event: { type: 'roster', from: A, epoch: MAX_EPOCH }, to: { phase: 'member', epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'finding 5: a roster near 2^53 is dropped', from: member(), event: { type: 'roster', from: A, epoch: Number.MAX_SAFE_INTEGER }, to: { phase: 'member', epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'member: a fractional epoch is dropped', from: member(), event: { type: 'roster', from: A, epoch: E + 0.5 }, to: { phase: 'member', epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'member: a replayed roster is stale', from: member(), event: { type: 'roster', from: A, epoch: E }, to: { phase: 'member', epoch: E }, effects: drop('stale-epoch') },
  { name: 'member: an older roster is stale', from: member(), event: { type: 'roster', from: A, epoch: E - 3 }, to: { phase: 'member', epoch: E }, effects: drop('stale-epoch') },
  { name: 'member: a roster from a non-coordinator is checked with the broker first', from: member(), event: { type: 'roster', from: B, epoch: E + 1 }, to: { phase: 'member', coordinator: A, epoch: E }, effects: [{ type: 'check-holder', peerId: B, epoch: E + 1 }] },
  { name: 'finding 5: a wild roster from a non-coordinator is dropped before asking the broker', from: member(), event: { type: 'roster', from: B, epoch: MAX_EPOCH }, to: { phase: 'member', coordinator: A, epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'member: a non-coordinator roster just past the window is not checked', from: member(), event: { type: 'roster', from: B, epoch: E + MAX_EPOCH_STEP + 1 }, to: { phase: 'member' }, effects: drop('epoch-out-of-range') },
  { name: 'member: a roster "from" ourselves is dropped', from: member(), event: { type: 'roster', from: SELF, epoch: E + 1 }, to: { phase: 'member' }, effects: drop('from-self') },
  { name: 'member: a broker-confirmed new coordinator is followed', from: member(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: E + 1 }, to: { phase: 'member', coordinator: B, epoch: E + 1 }, effects: [apply(B, E + 1)] },
  { name: 'member: a new coordinator slightly behind us is followed', from: member(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: E - 5 }, to: { phase: 'member', coordinator: B, epoch: E - 5 }, effects: [apply(B, E - 5)] },
  { name: 'finding 5: a confirmed new coordinator past the window is dropped', from: member(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: E + MAX_EPOCH_STEP + 1 }, to: { phase: 'member', coordinator: A, epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'finding 5: a confirmed rogue coordinator at MAX_EPOCH is dropped', from: member(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: MAX_EPOCH }, to: { phase: 'member', coordinator: A, epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'member: a roster from someone the broker does not name is dropped', from: member(), event: { type: 'holder-confirmed', from: B, holder: A, epoch: E + 1 }, to: { phase: 'member', coordinator: A }, effects: drop('not-holder') },
  { name: 'member: no holder at all is not a confirmation', from: member(), event: { type: 'holder-confirmed', from: B, holder: null, epoch: E + 1 }, to: { phase: 'member', coordinator: A }, effects: drop('not-holder') },
  { name: 'member: a confirmation for the current coordinator uses the step rule', from: member(), event: { type: 'holder-confirmed', from: A, holder: A, epoch: E + MAX_EPOCH_STEP + 1 }, to: { phase: 'member', epoch: E }, effects: drop('epoch-out-of-range') },
  { name: 'member: a welcome is dropped', from: member(), event: { type: 'welcome', from: A, epoch: E + 1 }, to: { phase: 'member' }, effects: drop('not-joining') },

  // ---------------------------------------------------------------- member: coordinator loss (finding 10)
  { name: 'finding 10: losing the coordinator link claims', from: member(), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'electing', former: A, cause: 'link-lost', attempt: 0, coordinator: null }, effects: [claim] },
  { name: 'member: a coordinator that released its claim and then lost its link is gone, no grace', from: member({ probing: true }), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'electing', former: A, cause: 'unresponsive', attempt: 0 }, effects: [claim] },
  { name: 'member: a coordinator that said bye is replaced', from: member(), event: { type: 'coordinator-link-lost', from: A, reason: 'left' }, to: { phase: 'electing', former: A, cause: 'left' }, effects: [claim] },
  { name: 'member: another link closing is not presence', from: member(), event: { type: 'coordinator-link-lost', from: B, reason: 'failed' }, to: { phase: 'member', coordinator: A }, effects: drop('not-coordinator') },
  { name: 'finding 10: a failed re-dial of a live coordinator backs off', from: member({ relink: 1 }), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'member', coordinator: A, relink: 1, retryPending: true }, effects: [retry(retryDelay(0))] },
  { name: 'finding 10: repeated failed re-dials tell the user once', from: member({ relink: UNREACHABLE_NOTICE_AFTER }), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'member', coordinator: A, retryPending: true }, effects: [retry(retryDelay(UNREACHABLE_NOTICE_AFTER - 1)), notify('warning', NOTICE_TEXT.unreachable)] },
  { name: 'member: a loss while a re-dial is scheduled is dropped', from: member({ relink: 2, retryPending: true }), event: { type: 'coordinator-link-lost', from: A, reason: 'failed' }, to: { phase: 'member' }, effects: drop('relink-pending') },
  { name: 'member: the backoff tick asks the broker again', from: member({ relink: 2, retryPending: true }), event: { type: 'retry-tick' }, to: { phase: 'electing', former: A, attempt: 2, retryPending: false }, effects: [claim] },
  { name: 'member: the coordinator link back resets the backoff', from: member({ relink: 2 }), event: { type: 'coordinator-link-up', from: A }, to: { phase: 'member', relink: 0 }, effects: [] },
  { name: 'member: the coordinator link back cancels a scheduled re-dial', from: member({ relink: 2, retryPending: true }), event: { type: 'coordinator-link-up', from: A }, to: { phase: 'member', relink: 0, retryPending: false }, effects: [cancel] },
  { name: 'member: a tick with nothing scheduled is dropped', from: member(), event: { type: 'retry-tick' }, to: { phase: 'member' }, effects: drop('no-retry-pending') },

  // ---------------------------------------------------------------- member: claim released, probe
  { name: 'claim released: probe the coordinator first', from: member(), event: { type: 'claim-released', former: A }, to: { phase: 'member', coordinator: A, probing: true }, effects: [{ type: 'probe', peerId: A }] },
  { name: 'claim released while we were away (former unknown): probe', from: member(), event: { type: 'claim-released', former: null }, to: { phase: 'member', probing: true }, effects: [{ type: 'probe', peerId: A }] },
  { name: 'claim released by someone else: ignored', from: member(), event: { type: 'claim-released', former: B }, to: { phase: 'member', probing: false }, effects: drop('not-coordinator') },
  { name: 'claim released twice: one probe', from: member({ probing: true }), event: { type: 'claim-released', former: A }, to: { phase: 'member', probing: true }, effects: drop('probe-pending') },
  { name: 'probe alive: stay its member', from: member({ probing: true }), event: { type: 'probe-result', alive: true }, to: { phase: 'member', coordinator: A, probing: false }, effects: [] },
  { name: 'probe dead: elect', from: member({ probing: true }), event: { type: 'probe-result', alive: false }, to: { phase: 'electing', former: A, cause: 'unresponsive' }, effects: [claim] },
  { name: 'probe dead while a re-dial was scheduled: cancel it and elect', from: member({ probing: true, relink: 1, retryPending: true }), event: { type: 'probe-result', alive: false }, to: { phase: 'electing', retryPending: false }, effects: [cancel, claim] },
  { name: 'probe answer nobody asked for: dropped', from: member(), event: { type: 'probe-result', alive: false }, to: { phase: 'member' }, effects: drop('no-request-pending') },

  // ---------------------------------------------------------------- member: broker (finding 11)
  { name: 'member: broker-down is recorded', from: member(), event: { type: 'broker-down' }, to: { phase: 'member', brokerUp: false, coordinator: A }, effects: [] },
  { name: 'finding 11: member on broker-up re-dials missing links', from: member({ brokerUp: false }), event: { type: 'broker-up' }, to: { phase: 'member', brokerUp: true }, effects: [{ type: 'redial-missing' }] },
  { name: 'member: leave ends without release', from: member(), event: { type: 'leave' }, to: { phase: 'ended', outcome: 'left' }, effects: [] },
  { name: 'member: leave cancels a scheduled re-dial', from: member({ relink: 1, retryPending: true }), event: { type: 'leave' }, to: { phase: 'ended' }, effects: [cancel] },
  { name: 'member: admitted is for the coordinator', from: member(), event: { type: 'admitted', peerId: B }, to: { phase: 'member' }, effects: drop('not-coordinating') },
  { name: 'member: member-left is for the coordinator', from: member(), event: { type: 'member-left', peerId: B }, to: { phase: 'member' }, effects: drop('not-coordinating') },
  { name: 'member: start is dropped', from: member(), event: { type: 'start' }, to: { phase: 'member' }, effects: drop('already-in-call') },
  { name: 'member: a stray claim result is dropped', from: member(), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'member' }, effects: drop('no-request-pending') },

  // ---------------------------------------------------------------- electing
  { name: 'electing: won after a probe went unanswered: evict the former, broadcast at epoch + 1', from: electing({ cause: 'unresponsive' }), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'coordinator', coordinator: SELF, epoch: E + 1 }, effects: [{ type: 'evict', peerId: A }, { type: 'broadcast-roster', epoch: E + 1 }, notify('info', NOTICE_TEXT.becameCoordinator)] },
  { name: 'electing: won after a bye: evict the former', from: electing({ cause: 'left' }), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'coordinator', epoch: E + 1 }, effects: [{ type: 'evict', peerId: A }, { type: 'broadcast-roster', epoch: E + 1 }, notify('info', NOTICE_TEXT.becameCoordinator)] },
  { name: 'finding 10: won after only our link dropped: the former gets a grace period, not an eviction', from: electing(), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'coordinator', epoch: E + 1 }, effects: [{ type: 'grace', peerId: A, ms: MEMBER_GRACE_MS }, { type: 'broadcast-roster', epoch: E + 1 }, notify('info', NOTICE_TEXT.becameCoordinator)] },
  { name: 'electing: won with no former known: just broadcast', from: electing({ former: null }), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'coordinator', epoch: E + 1 }, effects: [{ type: 'broadcast-roster', epoch: E + 1 }, notify('info', NOTICE_TEXT.becameCoordinator)] },
  { name: 'finding 10: the same coordinator still holds the claim: stay its member and dial it', from: electing(), event: { type: 'claim-result', ok: false, holder: A }, to: { phase: 'member', coordinator: A, relink: 1 }, effects: [{ type: 'dial', peerId: A }] },
  { name: 'finding 10: re-dialing a live coordinator for long tells the user', from: electing({ attempt: UNREACHABLE_NOTICE_AFTER - 1 }), event: { type: 'claim-result', ok: false, holder: A }, to: { phase: 'member', coordinator: A, relink: UNREACHABLE_NOTICE_AFTER }, effects: [{ type: 'dial', peerId: A }, notify('warning', NOTICE_TEXT.unreachable)] },
  { name: 'electing: a coordinator that said bye but still holds: retry, do not follow', from: electing({ cause: 'left' }), event: { type: 'claim-result', ok: false, holder: A }, to: { phase: 'orphaned', attempt: 1, retryPending: true }, effects: [retry(retryDelay(0)), notify('warning', NOTICE_TEXT.orphaned)] },
  { name: 'electing: someone else won: follow it', from: electing(), event: { type: 'claim-result', ok: false, holder: B }, to: { phase: 'member', coordinator: B, epoch: E, relink: 0 }, effects: [] },
  { name: 'finding 10: nobody holds it and we could not claim: orphaned with a retry', from: electing(), event: { type: 'claim-result', ok: false, holder: null }, to: { phase: 'orphaned', former: A, attempt: 1, retryPending: true, coordinator: null }, effects: [retry(retryDelay(0)), notify('warning', NOTICE_TEXT.orphaned)] },
  { name: 'electing: a later failed attempt backs off further, quietly', from: electing({ attempt: 2 }), event: { type: 'claim-result', ok: false, holder: null }, to: { phase: 'orphaned', attempt: 3 }, effects: [retry(retryDelay(2))] },
  { name: 'electing: a roster from a peer is checked with the broker', from: electing(), event: { type: 'roster', from: B, epoch: E + 1 }, to: { phase: 'electing' }, effects: [{ type: 'check-holder', peerId: B, epoch: E + 1 }] },
  { name: 'electing: the broker-confirmed winner is followed', from: electing(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: E + 1 }, to: { phase: 'member', coordinator: B, epoch: E + 1 }, effects: [apply(B, E + 1)] },
  { name: 'finding 5: electing: a confirmed holder with a wild epoch is dropped', from: electing(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: MAX_EPOCH }, to: { phase: 'electing' }, effects: drop('epoch-out-of-range') },
  { name: 'finding 11: electing on broker-up re-dials missing links', from: electing({ brokerUp: false }), event: { type: 'broker-up' }, to: { phase: 'electing', brokerUp: true }, effects: [{ type: 'redial-missing' }] },
  { name: 'electing: the lost coordinator releasing its claim marks it gone (no grace)', from: electing(), event: { type: 'claim-released', former: A }, to: { phase: 'electing', cause: 'unresponsive' }, effects: [] },
  { name: 'electing: another loss signal is dropped', from: electing({ cause: 'unresponsive' }), event: { type: 'claim-released', former: A }, to: { phase: 'electing' }, effects: drop('already-electing') },
  { name: 'electing: a release by someone else is dropped', from: electing(), event: { type: 'claim-released', former: B }, to: { phase: 'electing', cause: 'link-lost' }, effects: drop('already-electing') },
  { name: 'electing: a tick is dropped (the claim is in flight)', from: electing(), event: { type: 'retry-tick' }, to: { phase: 'electing' }, effects: drop('no-retry-pending') },
  { name: 'electing: leave ends without release', from: electing(), event: { type: 'leave' }, to: { phase: 'ended' }, effects: [] },

  // ---------------------------------------------------------------- orphaned (never resting)
  { name: 'orphaned: the tick claims again', from: orphaned(), event: { type: 'retry-tick' }, to: { phase: 'electing', attempt: 1, retryPending: false }, effects: [claim] },
  { name: 'orphaned: without a broker the tick keeps retrying', from: orphaned({ brokerUp: false }), event: { type: 'retry-tick' }, to: { phase: 'orphaned', attempt: 2, retryPending: true }, effects: [retry(retryDelay(1))] },
  { name: 'orphaned: the backoff is bounded', from: orphaned({ brokerUp: false, attempt: 9 }), event: { type: 'retry-tick' }, to: { phase: 'orphaned', attempt: 10 }, effects: [retry(RETRY_MAX_MS)] },
  { name: 'finding 11: orphaned on broker-up re-dials and claims at once', from: orphaned({ brokerUp: false }), event: { type: 'broker-up' }, to: { phase: 'electing', brokerUp: true, retryPending: false }, effects: [cancel, { type: 'redial-missing' }, claim] },
  { name: 'orphaned: a claim release claims at once', from: orphaned(), event: { type: 'claim-released', former: null }, to: { phase: 'electing' }, effects: [cancel, claim] },
  { name: 'orphaned: a roster is checked with the broker', from: orphaned(), event: { type: 'roster', from: B, epoch: E + 1 }, to: { phase: 'orphaned' }, effects: [{ type: 'check-holder', peerId: B, epoch: E + 1 }] },
  { name: 'orphaned: a confirmed coordinator is followed', from: orphaned(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: E + 1 }, to: { phase: 'member', coordinator: B, retryPending: false }, effects: [cancel, apply(B, E + 1)] },
  { name: 'orphaned: broker-down keeps the retry', from: orphaned(), event: { type: 'broker-down' }, to: { phase: 'orphaned', brokerUp: false, retryPending: true }, effects: [] },
  { name: 'orphaned: leave cancels the retry', from: orphaned(), event: { type: 'leave' }, to: { phase: 'ended' }, effects: [cancel] },
  { name: 'orphaned: a stray claim result is dropped', from: orphaned(), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'orphaned' }, effects: drop('no-request-pending') },

  // ---------------------------------------------------------------- coordinator
  { name: 'coordinator: admitting welcomes and broadcasts at epoch + 1', from: coordinator(), event: { type: 'admitted', peerId: B }, to: { phase: 'coordinator', epoch: E + 1 }, effects: [{ type: 'welcome', peerId: B, epoch: E + 1 }, { type: 'broadcast-roster', epoch: E + 1 }] },
  { name: 'coordinator: a member gone is evicted and the roster re-sent', from: coordinator(), event: { type: 'member-left', peerId: B }, to: { phase: 'coordinator', epoch: E + 1 }, effects: [{ type: 'evict', peerId: B }, { type: 'broadcast-roster', epoch: E + 1 }] },
  { name: 'finding 10: coordinator: a member link dropped without bye gets a grace period', from: coordinator(), event: { type: 'member-link-lost', peerId: B, reason: 'failed' }, to: { phase: 'coordinator', epoch: E }, effects: [{ type: 'grace', peerId: B, ms: MEMBER_GRACE_MS }] },
  { name: 'coordinator: a member link closed with bye is a leave', from: coordinator(), event: { type: 'member-link-lost', peerId: B, reason: 'left' }, to: { phase: 'coordinator', epoch: E + 1 }, effects: [{ type: 'evict', peerId: B }, { type: 'broadcast-roster', epoch: E + 1 }] },
  { name: 'coordinator: a member linked again gets the current roster', from: coordinator(), event: { type: 'member-link-up', peerId: B }, to: { phase: 'coordinator', epoch: E }, effects: [{ type: 'send-roster', peerId: B, epoch: E }] },
  { name: 'member: member-link events are for the coordinator', from: member(), event: { type: 'member-link-lost', peerId: B, reason: 'failed' }, to: { phase: 'member' }, effects: drop('not-coordinating') },
  { name: 'coordinator: we do not leave ourselves', from: coordinator(), event: { type: 'member-left', peerId: SELF }, to: { phase: 'coordinator', epoch: E }, effects: drop('from-self') },
  { name: 'coordinator: epochs never pass MAX_EPOCH', from: coordinator({ epoch: MAX_EPOCH }), event: { type: 'admitted', peerId: B }, to: { phase: 'coordinator', epoch: MAX_EPOCH }, effects: [...drop('epoch-exhausted'), notify('error', NOTICE_TEXT.epochExhausted)] },
  { name: 'coordinator: a roster from a peer is checked with the broker', from: coordinator(), event: { type: 'roster', from: B, epoch: E + 1 }, to: { phase: 'coordinator' }, effects: [{ type: 'check-holder', peerId: B, epoch: E + 1 }] },
  { name: 'coordinator: a peer claiming to coordinate is checked whatever its epoch', from: coordinator(), event: { type: 'roster', from: B, epoch: MAX_EPOCH }, to: { phase: 'coordinator' }, effects: [{ type: 'check-holder', peerId: B, epoch: MAX_EPOCH }] },
  { name: 'coordinator: a roster at epoch 0 is malformed', from: coordinator(), event: { type: 'roster', from: B, epoch: 0 }, to: { phase: 'coordinator' }, effects: drop('epoch-out-of-range') },
  { name: 'coordinator: a peer the broker does not name is ignored', from: coordinator(), event: { type: 'holder-confirmed', from: B, holder: SELF, epoch: E + 1 }, to: { phase: 'coordinator' }, effects: drop('not-holder') },
  { name: 'coordinator: a peer that took over is followed, with a notice', from: coordinator(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: E + 1 }, to: { phase: 'member', coordinator: B, epoch: E + 1 }, effects: [notify('warning', NOTICE_TEXT.takenOver), apply(B, E + 1)] },
  { name: 'finding 5: a holder with a wild epoch is followed but its roster dropped', from: coordinator(), event: { type: 'holder-confirmed', from: B, holder: B, epoch: MAX_EPOCH }, to: { phase: 'member', coordinator: B, epoch: E }, effects: [notify('warning', NOTICE_TEXT.takenOver), ...drop('epoch-out-of-range')] },
  { name: 'finding 11: coordinator on broker-up re-dials and re-claims', from: coordinator({ brokerUp: false }), event: { type: 'broker-up' }, to: { phase: 'coordinator', brokerUp: true, reclaiming: true }, effects: [{ type: 'redial-missing' }, claim] },
  { name: 'coordinator: re-claim won: carry on', from: coordinator({ reclaiming: true }), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'coordinator', reclaiming: false }, effects: [] },
  { name: 'finding 11: re-claim lost to another: follow it, with a notice', from: coordinator({ reclaiming: true }), event: { type: 'claim-result', ok: false, holder: B }, to: { phase: 'member', coordinator: B, epoch: E }, effects: [notify('warning', NOTICE_TEXT.takenOver)] },
  { name: 'coordinator: re-claim not made: retry with backoff', from: coordinator({ reclaiming: true }), event: { type: 'claim-result', ok: false, holder: null }, to: { phase: 'coordinator', reclaiming: false, attempt: 1, retryPending: true }, effects: [retry(retryDelay(0))] },
  { name: 'coordinator: the re-claim tick claims', from: coordinator({ attempt: 1, retryPending: true }), event: { type: 'retry-tick' }, to: { phase: 'coordinator', reclaiming: true, retryPending: false }, effects: [claim] },
  { name: 'coordinator: a claim result nobody asked for is dropped', from: coordinator(), event: { type: 'claim-result', ok: false, holder: B }, to: { phase: 'coordinator' }, effects: drop('no-request-pending') },
  { name: 'coordinator: our claim released (broker restart): re-claim', from: coordinator(), event: { type: 'claim-released', former: SELF }, to: { phase: 'coordinator', reclaiming: true }, effects: [claim] },
  { name: 'coordinator: claim found released after a reconnect: re-claim', from: coordinator(), event: { type: 'claim-released', former: null }, to: { phase: 'coordinator', reclaiming: true }, effects: [claim] },
  { name: 'coordinator: a release already being re-claimed is dropped', from: coordinator({ reclaiming: true }), event: { type: 'claim-released', former: null }, to: { phase: 'coordinator' }, effects: drop('claim-pending') },
  { name: 'coordinator: another peer\'s release is not ours', from: coordinator(), event: { type: 'claim-released', former: B }, to: { phase: 'coordinator' }, effects: drop('not-coordinator') },
  { name: 'coordinator: leave releases the claim', from: coordinator(), event: { type: 'leave' }, to: { phase: 'ended', outcome: 'left' }, effects: [{ type: 'release' }] },
  { name: 'coordinator: a fatal error releases and fails', from: coordinator(), event: { type: 'fail', reason: 'x' }, to: { phase: 'ended', outcome: 'failed' }, effects: [{ type: 'release' }, fail('x')] },
  { name: 'coordinator: coordinator-link events are for members', from: coordinator(), event: { type: 'coordinator-link-lost', from: B, reason: 'failed' }, to: { phase: 'coordinator' }, effects: drop('is-coordinator') },
  { name: 'coordinator: a welcome is dropped', from: coordinator(), event: { type: 'welcome', from: B, epoch: 3 }, to: { phase: 'coordinator' }, effects: drop('not-joining') },

  // ---------------------------------------------------------------- ended
  { name: 'ended: a late claim result is absorbed', from: ended(), event: { type: 'claim-result', ok: true, holder: SELF }, to: { phase: 'ended' }, effects: drop('ended') },
  { name: 'ended: start is absorbed', from: ended(), event: { type: 'start' }, to: { phase: 'ended' }, effects: drop('ended') },
];

describe('presence transition table', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const out = next(row.from, row.event);
    expect(out.state).toMatchObject(row.to);
    expect(out.effects).toEqual(row.effects);
    checkStep(row.from, row.event, out.state, out.effects);
  });

  it('names every phase and has no duplicate row names', () => {
    const phases = new Set(rows.map((r) => r.from.phase));
    expect([...phases].sort()).toEqual(['claiming', 'coordinator', 'electing', 'ended', 'idle', 'joining', 'locating', 'member', 'orphaned']);
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
  });

  it('backs off 250 ms doubling to 4 s', () => {
    expect([0, 1, 2, 3, 4, 5, 50].map(retryDelay)).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000]);
  });

  it('has text for every failure it decides', () => {
    for (const reason of ['room-taken', 'claim-failed', 'join-timeout', 'join-link-lost'] as const) expect(FAIL_TEXT[reason]).toMatch(/\w/);
  });
});

// ---------------------------------------------------------------- invariants

const IN_CALL_WITH_COORDINATOR = new Set(['member', 'coordinator', 'joining']);

/** What must hold after any single step, whatever the input. */
function checkStep(prev: PresenceState, event: PresenceEvent, state: PresenceState, effects: PresenceEffect[]): void {
  expect(state.self).toBe(prev.self);
  expect(Number.isSafeInteger(state.epoch) && state.epoch >= 0 && state.epoch <= MAX_EPOCH).toBe(true);
  for (const eff of effects) {
    if ('epoch' in eff) expect(eff.epoch >= 1 && eff.epoch <= MAX_EPOCH, JSON.stringify(eff)).toBe(true);
    if (eff.type === 'schedule-retry') expect(eff.ms > 0 && eff.ms <= JOIN_TIMEOUT_MS).toBe(true);
    if (eff.type === 'grace' || eff.type === 'send-roster' || eff.type === 'evict' || eff.type === 'welcome') expect(eff.peerId).not.toBe(state.self);
  }
  // Coordinator field: set exactly where a coordinator is known.
  if (IN_CALL_WITH_COORDINATOR.has(state.phase)) expect(typeof state.coordinator).toBe('string');
  else expect(state.coordinator).toBeNull();
  if (state.phase === 'coordinator') expect(state.coordinator).toBe(state.self);
  if (state.phase === 'member') expect(state.coordinator).not.toBe(state.self);
  // Never a resting state without a coordinator: orphaned and joining always have a timer.
  if (state.phase === 'orphaned' || state.phase === 'joining') expect(state.retryPending).toBe(true);
  // The retry flag mirrors the timer the effects drive.
  let pending = event.type === 'retry-tick' ? false : prev.retryPending;
  for (const eff of effects) {
    if (eff.type === 'schedule-retry') pending = true;
    if (eff.type === 'cancel-retry') pending = false;
  }
  expect(state.retryPending, `${prev.phase} + ${event.type}`).toBe(pending);
  // An input that is only dropped changes nothing.
  if (effects.length === 1 && effects[0]!.type === 'drop') expect(state).toBe(prev);
  // Epochs move in bounded steps (a joiner takes its first from the welcome).
  if (prev.phase !== 'joining') expect(Math.abs(state.epoch - prev.epoch)).toBeLessThanOrEqual(MAX_EPOCH_STEP);
  // Leaving as coordinator releases; ending otherwise never does.
  const released = effects.some((e) => e.type === 'release');
  expect(released).toBe(state.phase === 'ended' && prev.phase === 'coordinator');
  if (prev.phase === 'ended' || prev.phase === 'idle') {
    if (!(prev.phase === 'idle' && (event.type === 'start' || event.type === 'join'))) expect(effects).toEqual([{ type: 'drop', reason: prev.phase === 'ended' ? 'ended' : 'not-in-call' }]);
  }
}

const PEERS = [SELF, A, B, C];
const EPOCHS = [0, 1, E - MAX_EPOCH_STEP - 1, E - 1, E, E + 1, E + MAX_EPOCH_STEP, E + MAX_EPOCH_STEP + 1, MAX_WELCOME_EPOCH, MAX_EPOCH - 1, MAX_EPOCH, MAX_EPOCH + 1, Number.MAX_SAFE_INTEGER, 2.5, -1, Number.NaN];

function sampleEvents(): PresenceEvent[] {
  const out: PresenceEvent[] = [{ type: 'start' }, { type: 'broker-down' }, { type: 'broker-up' }, { type: 'retry-tick' }, { type: 'leave' }, { type: 'fail', reason: 'boom' }];
  for (const p of [...PEERS, null]) {
    out.push({ type: 'join', holder: p }, { type: 'holder-result', holder: p }, { type: 'claim-released', former: p });
    out.push({ type: 'claim-result', ok: true, holder: p }, { type: 'claim-result', ok: false, holder: p });
  }
  for (const p of PEERS) {
    out.push({ type: 'coordinator-link-lost', from: p, reason: 'failed' }, { type: 'coordinator-link-lost', from: p, reason: 'left' });
    out.push({ type: 'coordinator-link-up', from: p }, { type: 'admitted', peerId: p }, { type: 'member-left', peerId: p });
    out.push({ type: 'member-link-lost', peerId: p, reason: 'failed' }, { type: 'member-link-lost', peerId: p, reason: 'left' }, { type: 'member-link-up', peerId: p });
    for (const epoch of EPOCHS) {
      out.push({ type: 'welcome', from: p, epoch }, { type: 'roster', from: p, epoch });
      for (const h of [...PEERS, null]) out.push({ type: 'holder-confirmed', from: p, holder: h, epoch });
    }
  }
  out.push({ type: 'probe-result', alive: true }, { type: 'probe-result', alive: false });
  return out;
}

function sampleStates(): PresenceState[] {
  const out: PresenceState[] = [idle, claiming(), claiming({ brokerUp: false }), ended(), ended({ outcome: 'failed', reason: 'x' })];
  for (const retryPending of [true, false]) {
    out.push(locating({ retryPending }), locating({ retryPending, lookups: MAX_HOLDER_LOOKUPS, dials: MAX_JOIN_DIALS }));
    for (const relink of [0, 1, UNREACHABLE_NOTICE_AFTER]) for (const probing of [false, true]) out.push(member({ retryPending, relink, probing }), member({ retryPending, relink, probing, epoch: MAX_EPOCH, brokerUp: false }));
    for (const reclaiming of [false, true]) out.push(coordinator({ retryPending, reclaiming }), coordinator({ retryPending, reclaiming, epoch: MAX_EPOCH }));
  }
  out.push(joining(), joining({ dials: MAX_JOIN_DIALS }), joining({ coordinator: B }));
  for (const cause of ['left', 'unresponsive', 'link-lost'] as const) for (const former of [A, null]) {
    out.push(electing({ former, cause }), electing({ former, cause, attempt: 5, brokerUp: false, epoch: 0 }));
    out.push(orphaned({ former, cause }), orphaned({ former, cause, brokerUp: false, epoch: MAX_EPOCH }));
  }
  return out;
}

describe('presence: every (state, event) pair', () => {
  it('returns without throwing and keeps every invariant', () => {
    const states = sampleStates();
    const events = sampleEvents();
    let pairs = 0;
    for (const s of states) {
      for (const e of events) {
        const out = next(s, e);
        checkStep(s, e, out.state, out.effects);
        pairs++;
      }
    }
    expect(pairs).toBeGreaterThan(10_000);
  });
});

// ---------------------------------------------------------------- random sequences

const peerArb = fc.constantFrom(SELF, A, B, C);
const holderArb = fc.option(peerArb, { nil: null });
const epochArb = fc.oneof(fc.nat(300), fc.constantFrom(...EPOCHS), fc.integer({ min: MAX_EPOCH - 200, max: MAX_EPOCH + 10 }));

const spontaneousArb: fc.Arbitrary<PresenceEvent> = fc.oneof(
  fc.constant<PresenceEvent>({ type: 'start' }),
  holderArb.map<PresenceEvent>((holder) => ({ type: 'join', holder })),
  fc.record({ from: peerArb, epoch: epochArb }).map<PresenceEvent>((r) => ({ type: 'welcome', ...r })),
  fc.record({ from: peerArb, epoch: epochArb }).map<PresenceEvent>((r) => ({ type: 'roster', ...r })),
  fc.record({ from: peerArb, reason: fc.constantFrom('failed', 'left', 'silent', 'timeout') }).map<PresenceEvent>((r) => ({ type: 'coordinator-link-lost', ...r })),
  peerArb.map<PresenceEvent>((from) => ({ type: 'coordinator-link-up', from })),
  holderArb.map<PresenceEvent>((former) => ({ type: 'claim-released', former })),
  fc.constant<PresenceEvent>({ type: 'broker-down' }),
  fc.constant<PresenceEvent>({ type: 'broker-up' }),
  peerArb.map<PresenceEvent>((peerId) => ({ type: 'admitted', peerId })),
  peerArb.map<PresenceEvent>((peerId) => ({ type: 'member-left', peerId })),
  fc.record({ peerId: peerArb, reason: fc.constantFrom('failed', 'left') }).map<PresenceEvent>((r) => ({ type: 'member-link-lost', ...r })),
  peerArb.map<PresenceEvent>((peerId) => ({ type: 'member-link-up', peerId })),
  fc.constant<PresenceEvent>({ type: 'leave' }),
  fc.constant<PresenceEvent>({ type: 'fail', reason: 'boom' }),
);

/** A step of a well-behaved environment: an answer to an outstanding request, the timer, or news. */
type Step =
  | { t: 'claim'; ok: boolean; holder: string | null }
  | { t: 'lookup'; holder: string | null }
  | { t: 'probe'; alive: boolean }
  | { t: 'check'; holder: string | null }
  | { t: 'tick' }
  | { t: 'news'; event: PresenceEvent };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ ok: fc.boolean(), holder: holderArb }).map<Step>((r) => ({ t: 'claim', ...r })), weight: 3 },
  { arbitrary: holderArb.map<Step>((holder) => ({ t: 'lookup', holder })), weight: 2 },
  { arbitrary: fc.boolean().map<Step>((alive) => ({ t: 'probe', alive })), weight: 2 },
  { arbitrary: holderArb.map<Step>((holder) => ({ t: 'check', holder })), weight: 2 },
  { arbitrary: fc.constant<Step>({ t: 'tick' }), weight: 3 },
  { arbitrary: spontaneousArb.map<Step>((event) => ({ t: 'news', event })), weight: 6 },
);

describe('presence: random event sequences', () => {
  it('in a well-behaved environment, never rests without a coordinator while in the call', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant<PresenceEvent>({ type: 'start' }), peerArb.map<PresenceEvent>((holder) => ({ type: 'join', holder }))), fc.array(stepArb, { maxLength: 80 }), (first, steps) => {
        const env = { claims: 0, lookups: 0, probes: 0, checks: [] as { peerId: string; epoch: number }[], timer: false };
        let state: PresenceState = initialPresence(SELF);
        const feed = (event: PresenceEvent): void => {
          const out = next(state, event);
          checkStep(state, event, out.state, out.effects);
          state = out.state;
          for (const eff of out.effects) {
            if (eff.type === 'claim') env.claims++;
            else if (eff.type === 'lookup-holder') env.lookups++;
            else if (eff.type === 'probe') env.probes++;
            else if (eff.type === 'check-holder') env.checks.push({ peerId: eff.peerId, epoch: eff.epoch });
            else if (eff.type === 'schedule-retry') env.timer = true;
            else if (eff.type === 'cancel-retry') env.timer = false;
          }
          // Progress: every state without a coordinator has something under way that will move it.
          if (state.phase === 'electing' || state.phase === 'claiming') expect(env.claims).toBeGreaterThan(0);
          if (state.phase === 'coordinator' && state.reclaiming) expect(env.claims).toBeGreaterThan(0);
          if (state.phase === 'orphaned' || state.phase === 'joining') expect(env.timer).toBe(true);
          if (state.phase === 'locating') expect(env.timer || env.lookups > 0).toBe(true);
          if (state.phase === 'member' && state.probing) expect(env.probes).toBeGreaterThan(0);
          expect(state.retryPending).toBe(env.timer);
          if (isInCall(state) && state.coordinator === null) expect(state.phase === 'electing' || state.phase === 'orphaned').toBe(true);
        };
        feed(first);
        for (const step of steps) {
          switch (step.t) {
            case 'claim':
              if (env.claims === 0) continue;
              env.claims--;
              feed({ type: 'claim-result', ok: step.ok, holder: step.ok ? SELF : step.holder });
              break;
            case 'lookup':
              if (env.lookups === 0) continue;
              env.lookups--;
              feed({ type: 'holder-result', holder: step.holder });
              break;
            case 'probe':
              if (env.probes === 0) continue;
              env.probes--;
              feed({ type: 'probe-result', alive: step.alive });
              break;
            case 'check': {
              const check = env.checks.shift();
              if (!check) continue;
              feed({ type: 'holder-confirmed', from: check.peerId, holder: step.holder, epoch: check.epoch });
              break;
            }
            case 'tick':
              if (!env.timer) continue;
              env.timer = false;
              feed({ type: 'retry-tick' });
              break;
            case 'news':
              feed(step.event);
              break;
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('with arbitrary, even nonsensical, input never throws and keeps its structural invariants', () => {
    const anyEventArb: fc.Arbitrary<PresenceEvent> = fc.oneof(
      spontaneousArb,
      fc.record({ ok: fc.boolean(), holder: holderArb }).map<PresenceEvent>((r) => ({ type: 'claim-result', ...r })),
      holderArb.map<PresenceEvent>((holder) => ({ type: 'holder-result', holder })),
      fc.record({ from: peerArb, holder: holderArb, epoch: epochArb }).map<PresenceEvent>((r) => ({ type: 'holder-confirmed', ...r })),
      fc.boolean().map<PresenceEvent>((alive) => ({ type: 'probe-result', alive })),
      fc.constant<PresenceEvent>({ type: 'retry-tick' }),
    );
    fc.assert(
      fc.property(fc.array(anyEventArb, { maxLength: 100 }), (events) => {
        let state: PresenceState = initialPresence(SELF);
        let timer = false;
        for (const event of events) {
          // A tick can only come from a timer that is armed (the session honours cancel-retry).
          if (event.type === 'retry-tick' && !timer) continue;
          if (event.type === 'retry-tick') timer = false;
          const out = next(state, event);
          checkStep(state, event, out.state, out.effects);
          for (const eff of out.effects) {
            if (eff.type === 'schedule-retry') timer = true;
            if (eff.type === 'cancel-retry') timer = false;
          }
          state = out.state;
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('firstLinkDeadline', () => {
  it('doubles per dial from 3 s and stops at 12 s, so slow paths get time on later tries', () => {
    expect([0, 1, 2, 3, 4, 9].map(firstLinkDeadline)).toEqual([3_000, 3_000, 6_000, 12_000, 12_000, 12_000]);
  });
});
