/**
 * Presence: who coordinates the call, as a pure transition function.
 *
 * `next(state, event)` returns the next state and the effects the session must execute. It does
 * no I/O, reads no clock and draws no randomness: time arrives as `retry-tick` events (the answer
 * to a `schedule-retry` effect) and every broker or link answer arrives as an event. So the whole
 * protocol is tested as a table of `{from, event, to, effects}` rows (tests/unit/presence.test.ts)
 * and simulated with a fake clock and broker (tests/unit/presence-sim.test.ts).
 *
 * States (`phase`):
 *   idle         before start/join. Absorbs everything else.
 *   claiming     host start: the claim is in flight.
 *   locating     joiner: asking the broker who holds the room (`lookup-holder` or a retry pending).
 *   joining      joiner: dialing the holder, waiting for its `welcome` (join timeout pending).
 *   member       in the call, following `coordinator`.
 *   electing     the coordinator is gone: our claim is in flight.
 *   coordinator  we hold the room's claim.
 *   orphaned     no coordinator known and the last claim failed: a retry is always pending, so
 *                this is never a resting state.
 *   ended        left or failed. Absorbs everything.
 *
 * Rules it enforces (issue 5):
 *   - Epochs advance in bounded steps (finding 5): a roster from the current coordinator must be
 *     newer by at most MAX_EPOCH_STEP; a roster from a new, broker-confirmed coordinator must lie
 *     within MAX_EPOCH_STEP of ours either way; a new coordinator continues from the epoch it
 *     knows, +1; nothing exceeds MAX_EPOCH.
 *   - A lost coordinator link is never a silent eviction (finding 10): we claim, and if the claim
 *     fails because the same coordinator still holds it, we stay its member and dial it again
 *     (with backoff); if nobody holds it we are orphaned and retry until somebody does.
 *   - A broker that comes back triggers `redial-missing` in every in-call state (finding 11), and
 *     a coordinator re-claims and follows whoever took over meanwhile.
 *
 * One retry timer per machine: `schedule-retry` replaces any pending retry, `cancel-retry`
 * clears it, and `retry-tick` is its firing. `state.retryPending` mirrors that timer exactly.
 */

/** Largest step a roster epoch may advance (or, for a new coordinator, differ) by. */
export const MAX_EPOCH_STEP = 64;
/** No epoch ever exceeds this (well under Number.MAX_SAFE_INTEGER, so +1 stays exact on the wire). */
export const MAX_EPOCH = 2 ** 48;
/**
 * A joiner has no epoch of its own to compare a `welcome` with; it accepts one only up to this,
 * which leaves 2^47 steps of headroom should it later coordinate.
 */
export const MAX_WELCOME_EPOCH = MAX_EPOCH / 2;

/** Backoff of claim and re-dial retries: 250 ms doubling to 4 s. */
export const RETRY_BASE_MS = 250;
export const RETRY_MAX_MS = 4_000;
/** A joiner gives up if no welcome arrives within this of dialing. */
export const JOIN_TIMEOUT_MS = 20_000;
/** Holder look-ups while joining (the holder may be migrating): `HOLDER_LOOKUP_DELAY_MS * n` apart. */
export const MAX_HOLDER_LOOKUPS = 4;
export const HOLDER_LOOKUP_DELAY_MS = 400;
/** While waiting for the host, how often the broker is asked again (one small request). */
export const WAIT_FOR_HOST_POLL_MS = 2_000;
/** A first connection that fails in transit is dialed again, up to this many dials in all. */
export const MAX_JOIN_DIALS = 3;
export const JOIN_RETRY_DELAY_MS = 250;
/** Link close reasons after which a joiner dials again instead of failing. */
export const JOIN_RETRYABLE_REASONS: ReadonlySet<string> = new Set(['failed', 'fingerprint-unreadable', 'delivery-failed', 'timeout']);
/**
 * Advice to the session: a joiner's link to the holder that has not completed its handshake by
 * then is closed as `timeout` and dialed again. Node links can stall on a lost DTLS hello;
 * a loopback or LAN handshake takes well under 100 ms.
 */
export const FIRST_LINK_DEADLINE_MS = 3_000;

/**
 * How long the joiner's dial number `dial` (1-based) may take to handshake: 3, 6, then 12 s,
 * so a stalled first link is retried fast while a slow path (a TURN relay, a long round trip)
 * still gets the time it needs on the later tries.
 */
export function firstLinkDeadline(dial: number): number {
  return FIRST_LINK_DEADLINE_MS * 2 ** Math.min(Math.max(dial, 1) - 1, 2);
}
/**
 * How long a coordinator keeps a member whose link dropped without `bye` (a `grace` effect), so
 * a live member that re-dials (at most RETRY_MAX_MS apart) is never evicted (finding 10).
 */
export const MEMBER_GRACE_MS = 10_000;
/** Advice to the session: how long a `probe` may take before it reports `alive: false`. */
export const PROBE_TIMEOUT_MS = 1_500;
/** After this many failed re-dials of a live coordinator, tell the user once. */
export const UNREACHABLE_NOTICE_AFTER = 4;

export const NOTICE_TEXT = {
  becameCoordinator: 'You now coordinate this call.',
  takenOver: 'Another participant took over coordinating while you were disconnected.',
  orphaned: "Lost touch with the call's coordinator. Trying to reach the room again.",
  unreachable: "Cannot reach the call's coordinator. Still trying.",
  epochExhausted: 'This call has run out of roster versions. Start a new call.',
} as const;

/** Stable codes of the failures the machine decides itself; a `fail` event's reason passes through. */
export type PresenceFailReason = 'room-taken' | 'claim-failed' | 'join-timeout' | 'join-link-lost';

export const FAIL_TEXT: Record<PresenceFailReason, string> = {
  'room-taken': 'Someone has already opened this room: join it with its link, or start a new call.',
  'claim-failed': 'Could not set up the call with the signaling broker. Try again.',
  'join-timeout': 'Could not reach the call in time. Check your network and try again.',
  'join-link-lost': 'Lost the connection to the call before being let in. Try joining again.',
};

/** Stable reasons of `drop` effects, so a test can assert why an input was ignored. */
export type PresenceDropReason =
  | 'not-in-call' // idle: only start and join mean anything
  | 'ended' // ended absorbs everything
  | 'already-in-call' // start or join after the first
  | 'not-joining' // a welcome outside joining
  | 'not-member' // a roster or link event before we are in the call
  | 'not-coordinator' // from, or about, someone who is not our coordinator
  | 'is-coordinator' // a coordinator-link event at the coordinator itself
  | 'not-coordinating' // admitted / member-left when we are not coordinator
  | 'not-holder' // the broker says the roster's sender does not hold the claim
  | 'from-self' // an input that names ourselves where a peer is expected
  | 'stale-epoch' // a roster from the current coordinator that is not newer
  | 'epoch-out-of-range' // an epoch outside the bounded step or window (finding 5)
  | 'epoch-exhausted' // the coordinator cannot advance past MAX_EPOCH
  | 'no-request-pending' // an answer (claim, holder, probe) nobody is waiting for
  | 'no-retry-pending' // a retry tick with no retry scheduled
  | 'claim-pending' // a claim release while our re-claim is already in flight
  | 'probe-pending' // a second claim release while the first probe is out
  | 'relink-pending' // a coordinator link loss while a re-dial is already scheduled
  | 'already-electing'; // a coordinator-loss signal while already electing or orphaned

/**
 * Why the coordinator was lost. `left`: it said bye (never followed again, even if the broker
 * still names it for a moment). `unresponsive`: its claim was released and it did not answer a
 * probe (evicted at once if we win). `link-lost`: only our link to it dropped (it may be alive:
 * if we win anyway it gets MEMBER_GRACE_MS to link again before it is evicted).
 */
export type FormerCause = 'left' | 'unresponsive' | 'link-lost';

export type PresencePhase =
  | 'idle'
  | 'claiming'
  | 'locating'
  | 'joining'
  | 'member'
  | 'electing'
  | 'coordinator'
  | 'orphaned'
  | 'ended';

interface Base {
  /** Our own peer id. */
  readonly self: string;
  /** The roster epoch we hold (0 before any roster). Always within [0, MAX_EPOCH]. */
  readonly epoch: number;
  /** Whether our broker connection is open. */
  readonly brokerUp: boolean;
  /** Whether our one retry timer is scheduled. */
  readonly retryPending: boolean;
}

export interface IdleState extends Base {
  readonly phase: 'idle';
  readonly coordinator: null;
}
export interface ClaimingState extends Base {
  readonly phase: 'claiming';
  readonly coordinator: null;
}
export interface LocatingState extends Base {
  readonly phase: 'locating';
  readonly coordinator: null;
  /** Holder look-ups made in this round (a `lookup-holder` is in flight when no retry is pending). */
  readonly lookups: number;
  /** Dials of a holder made so far in this join. */
  readonly dials: number;
  /** Nobody holds the room yet: waiting (until the person cancels) for its host to open it. */
  readonly waiting: boolean;
}
export interface JoiningState extends Base {
  readonly phase: 'joining';
  /** The holder we dialed, waiting for its welcome. */
  readonly coordinator: string;
  readonly dials: number;
}
export interface MemberState extends Base {
  readonly phase: 'member';
  readonly coordinator: string;
  /** A `probe` of the coordinator is out (its claim was released). */
  readonly probing: boolean;
  /** Consecutive failed re-dials of a coordinator that still holds the claim (0: link fine). */
  readonly relink: number;
}
export interface ElectingState extends Base {
  readonly phase: 'electing';
  readonly coordinator: null;
  /** The coordinator we lost (null when unknown). */
  readonly former: string | null;
  /** Why we lost it: it said bye, it did not answer a probe, or only our link to it dropped. */
  readonly cause: FormerCause;
  /** Retries so far (drives the backoff). */
  readonly attempt: number;
}
export interface CoordinatorState extends Base {
  readonly phase: 'coordinator';
  /** Always `self`. */
  readonly coordinator: string;
  /** A re-claim (after the broker came back or released us) is in flight. */
  readonly reclaiming: boolean;
  readonly attempt: number;
}
export interface OrphanedState extends Base {
  readonly phase: 'orphaned';
  readonly coordinator: null;
  readonly former: string | null;
  readonly cause: FormerCause;
  readonly attempt: number;
  /** Orphaned always has a retry pending: it is never a resting state. */
  readonly retryPending: true;
}
export interface EndedState extends Base {
  readonly phase: 'ended';
  readonly coordinator: null;
  readonly outcome: 'left' | 'failed';
  readonly reason: string | null;
}

export type PresenceState =
  | IdleState
  | ClaimingState
  | LocatingState
  | JoiningState
  | MemberState
  | ElectingState
  | CoordinatorState
  | OrphanedState
  | EndedState;

export type PresenceEvent =
  /** Host: start a new room (the session has opened the broker). */
  | { type: 'start' }
  /** Joiner: the broker's first answer to "who holds this room?" (null: nobody yet). */
  | { type: 'join'; holder: string | null }
  /** Answer to `claim`. `holder` is whoever holds the claim afterwards (null: unknown or none). */
  | { type: 'claim-result'; ok: boolean; holder: string | null }
  /** Answer to `lookup-holder`. */
  | { type: 'holder-result'; holder: string | null }
  /** A welcome arrived over the link to `from` (already schema- and certificate-checked). */
  | { type: 'welcome'; from: string; epoch: number }
  /** A roster arrived over the link to `from`, who names itself coordinator. */
  | { type: 'roster'; from: string; epoch: number }
  /** Answer to `check-holder{peerId: from, epoch}`: the broker says `holder` holds the claim. */
  | { type: 'holder-confirmed'; from: string; holder: string | null; epoch: number }
  /** The link to `from` (our coordinator, or the holder we dialed) closed; `reason` is the link's. */
  | { type: 'coordinator-link-lost'; from: string; reason: string }
  /** The link to `from` (our coordinator) is up and admitted again. */
  | { type: 'coordinator-link-up'; from: string }
  /** The broker released the room's claim held by `former` (null: released while we were away). */
  | { type: 'claim-released'; former: string | null }
  /** Answer to `probe`. */
  | { type: 'probe-result'; alive: boolean }
  | { type: 'broker-down' }
  | { type: 'broker-up' }
  /** Coordinator: the gate admitted `peerId`. */
  | { type: 'admitted'; peerId: string }
  /** Coordinator: `peerId` is gone (bye, or still no link when its `grace` ran out). */
  | { type: 'member-left'; peerId: string }
  /** Coordinator: the link to roster member `peerId` closed (`reason` is the link's; 'left' is a bye). */
  | { type: 'member-link-lost'; peerId: string; reason: string }
  /** Coordinator: the link to roster member `peerId` is up and checked again. */
  | { type: 'member-link-up'; peerId: string }
  /** The retry timer fired. */
  | { type: 'retry-tick' }
  | { type: 'leave' }
  /** The session hit a fatal error (refused, intercepted, broker unreachable): end with it. */
  | { type: 'fail'; reason: string };

export type PresenceEffect =
  /** Ask the broker for the room's claim; answer with `claim-result`. */
  | { type: 'claim' }
  /** Release the room's claim at the broker (we leave as coordinator). */
  | { type: 'release' }
  /** Ask the broker who holds the room; answer with `holder-result`. */
  | { type: 'lookup-holder' }
  /** Hold the roster `peerId` sent at `epoch`, ask the broker who holds the room, answer with `holder-confirmed`. */
  | { type: 'check-holder'; peerId: string; epoch: number }
  /** Ask `peerId` over its link whether it is alive (within PROBE_TIMEOUT_MS); answer with `probe-result`. */
  | { type: 'probe'; peerId: string }
  /** Open a link to `peerId` (unless one is open); report `coordinator-link-up` / `-lost`. */
  | { type: 'dial'; peerId: string }
  /** Dial every roster member we should dial and have no link with. */
  | { type: 'redial-missing' }
  /** Apply the roster (or welcome) `from` sent at `epoch`, then dial missing members. */
  | { type: 'apply-roster'; from: string; epoch: number }
  /** Coordinator: send our roster at `epoch` to every admitted member. */
  | { type: 'broadcast-roster'; epoch: number }
  /** Coordinator: send `welcome` at `epoch` with our roster to the newly admitted `peerId`. */
  | { type: 'welcome'; peerId: string; epoch: number }
  /** Coordinator: remove `peerId` from the roster (and close its link if one is open). */
  | { type: 'evict'; peerId: string }
  /** Coordinator: after `ms`, if roster member `peerId` still has no open link, report `member-left`. */
  | { type: 'grace'; peerId: string; ms: number }
  /** Coordinator: send our current roster at `epoch` to `peerId` only (it linked again). */
  | { type: 'send-roster'; peerId: string; epoch: number }
  /** (Re)arm the one retry timer: `retry-tick` after `ms`. Replaces a pending one. */
  | { type: 'schedule-retry'; ms: number }
  /** Disarm the retry timer. */
  | { type: 'cancel-retry' }
  | { type: 'notify'; level: 'info' | 'warning' | 'error'; text: string }
  /** End the call as failed; `reason` is a PresenceFailReason or the `fail` event's reason. */
  | { type: 'fail'; reason: string }
  /** The event was ignored, for this reason: count it. */
  | { type: 'drop'; reason: PresenceDropReason };

export interface Transition {
  state: PresenceState;
  effects: PresenceEffect[];
}

/** The machine before a call: `self` is this call's peer id. */
export function initialPresence(self: string, brokerUp = true): IdleState {
  return { phase: 'idle', self, coordinator: null, epoch: 0, brokerUp, retryPending: false };
}

/** In the call (admitted): member, electing, coordinator, orphaned. */
export function isInCall(state: PresenceState): boolean {
  return state.phase === 'member' || state.phase === 'electing' || state.phase === 'coordinator' || state.phase === 'orphaned';
}

/** Backoff of the n-th retry (n from 0): 250, 500, 1000, 2000, 4000, 4000, … ms. */
export function retryDelay(attempt: number): number {
  const n = Math.min(Math.max(Math.floor(attempt), 0), 8);
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** n);
}

export function next(state: PresenceState, event: PresenceEvent): Transition {
  switch (state.phase) {
    case 'idle':
      return fromIdle(state, event);
    case 'claiming':
      return fromClaiming(state, event);
    case 'locating':
      return fromLocating(state, event);
    case 'joining':
      return fromJoining(state, event);
    case 'member':
      return fromMember(state, event);
    case 'electing':
      return fromElecting(state, event);
    case 'coordinator':
      return fromCoordinator(state, event);
    case 'orphaned':
      return fromOrphaned(state, event);
    case 'ended':
      return drop(state, 'ended');
    default:
      return unreachable(state);
  }
}

// ------------------------------------------------------------------ per state

function fromIdle(s: IdleState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'start':
      return go({ ...base(s), phase: 'claiming', coordinator: null, retryPending: false }, [{ type: 'claim' }]);
    case 'join':
      if (e.holder !== null && e.holder !== s.self) return enterJoining(s, e.holder, 1);
      return go({ ...base(s), phase: 'locating', coordinator: null, lookups: 1, dials: 0, waiting: false, retryPending: true }, [retry(HOLDER_LOOKUP_DELAY_MS)]);
    case 'broker-down':
    case 'broker-up':
    case 'claim-result':
    case 'holder-result':
    case 'welcome':
    case 'roster':
    case 'holder-confirmed':
    case 'coordinator-link-lost':
    case 'coordinator-link-up':
    case 'claim-released':
    case 'probe-result':
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
    case 'retry-tick':
    case 'leave':
    case 'fail':
      return drop(s, 'not-in-call');
    default:
      return unreachable(e);
  }
}

function fromClaiming(s: ClaimingState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'claim-result':
      if (e.ok || e.holder === s.self) return becomeCoordinator(s, null, []);
      return end(s, 'failed', e.holder !== null ? 'room-taken' : 'claim-failed');
    case 'broker-down':
    case 'broker-up':
      return brokerFlag(s, e.type === 'broker-up');
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'holder-result':
    case 'probe-result':
      return drop(s, 'no-request-pending');
    case 'retry-tick':
      return drop(s, 'no-retry-pending');
    case 'welcome':
      return drop(s, 'not-joining');
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
      return drop(s, 'not-coordinating');
    case 'roster':
    case 'holder-confirmed':
    case 'coordinator-link-lost':
    case 'coordinator-link-up':
    case 'claim-released':
      return drop(s, 'not-member');
    default:
      return unreachable(e);
  }
}

function fromLocating(s: LocatingState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'retry-tick':
      if (!s.retryPending) return drop(s, 'no-retry-pending');
      return go({ ...s, lookups: s.lookups + 1, retryPending: false }, [{ type: 'lookup-holder' }]);
    case 'holder-result':
      if (s.retryPending) return drop(s, 'no-request-pending');
      if (e.holder !== null && e.holder !== s.self) return enterJoining(s, e.holder, s.dials + 1);
      // Nobody holds it: the host has not opened the room yet. Wait for them, asking the broker
      // again every WAIT_FOR_HOST_POLL_MS, until they do or the person cancels.
      if (s.waiting || s.lookups >= MAX_HOLDER_LOOKUPS) return go({ ...s, waiting: true, retryPending: true }, [retry(WAIT_FOR_HOST_POLL_MS)]);
      return go({ ...s, retryPending: true }, [retry(HOLDER_LOOKUP_DELAY_MS * s.lookups)]);
    case 'broker-down':
    case 'broker-up':
      return brokerFlag(s, e.type === 'broker-up');
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'claim-result':
    case 'probe-result':
      return drop(s, 'no-request-pending');
    case 'welcome':
      return drop(s, 'not-joining');
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
      return drop(s, 'not-coordinating');
    case 'roster':
    case 'holder-confirmed':
    case 'coordinator-link-lost':
    case 'coordinator-link-up':
    case 'claim-released':
      return drop(s, 'not-member');
    default:
      return unreachable(e);
  }
}

function fromJoining(s: JoiningState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'welcome': {
      if (e.from === s.self) return drop(s, 'from-self');
      if (e.from !== s.coordinator) return drop(s, 'not-coordinator');
      if (!validEpoch(e.epoch) || e.epoch < 1 || e.epoch > MAX_WELCOME_EPOCH) return drop(s, 'epoch-out-of-range');
      const state: MemberState = { ...base(s), phase: 'member', coordinator: s.coordinator, epoch: e.epoch, probing: false, relink: 0, retryPending: false };
      return go(state, [...cancelIf(s), { type: 'apply-roster', from: e.from, epoch: e.epoch }]);
    }
    case 'retry-tick':
      if (!s.retryPending) return drop(s, 'no-retry-pending');
      return end({ ...s, retryPending: false }, 'failed', 'join-timeout');
    case 'coordinator-link-lost':
      if (e.from !== s.coordinator) return drop(s, 'not-coordinator');
      if (JOIN_RETRYABLE_REASONS.has(e.reason) && s.dials < MAX_JOIN_DIALS) {
        const state: LocatingState = { ...base(s), phase: 'locating', coordinator: null, lookups: 0, dials: s.dials, waiting: false, retryPending: true };
        return go(state, [retry(JOIN_RETRY_DELAY_MS * s.dials)]);
      }
      return end(s, 'failed', 'join-link-lost');
    case 'broker-down':
    case 'broker-up':
      return brokerFlag(s, e.type === 'broker-up');
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'claim-result':
    case 'holder-result':
    case 'probe-result':
      return drop(s, 'no-request-pending');
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
      return drop(s, 'not-coordinating');
    case 'roster':
    case 'holder-confirmed':
    case 'coordinator-link-up':
    case 'claim-released':
      return drop(s, 'not-member');
    default:
      return unreachable(e);
  }
}

function fromMember(s: MemberState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'roster':
      if (e.from === s.self) return drop(s, 'from-self');
      if (e.from === s.coordinator) return rosterFromCurrent(s, e.from, e.epoch);
      return rosterFromOther(s, e.from, e.epoch);
    case 'holder-confirmed':
      return confirmedRoster(s, e, []);
    case 'coordinator-link-lost':
      if (e.from !== s.coordinator) return drop(s, 'not-coordinator');
      if (e.reason === 'left') return enterElecting(s, s.coordinator, 'left', 0);
      // It released its claim and then its link went: gone, as if the probe had failed. (A
      // leaving coordinator's bye can lose the race with its links closing; a grace period
      // here kept it in everyone's roster for 10 s.)
      if (s.probing) return enterElecting(s, s.coordinator, 'unresponsive', 0);
      if (s.retryPending) return drop(s, 'relink-pending');
      if (s.relink > 0) {
        // A re-dial of a coordinator that still holds the claim failed: wait, then ask the broker again.
        const notice: PresenceEffect[] = s.relink === UNREACHABLE_NOTICE_AFTER ? [{ type: 'notify', level: 'warning', text: NOTICE_TEXT.unreachable }] : [];
        return go({ ...s, probing: false, retryPending: true }, [retry(retryDelay(s.relink - 1)), ...notice]);
      }
      return enterElecting(s, s.coordinator, 'link-lost', 0);
    case 'coordinator-link-up':
      if (e.from !== s.coordinator) return drop(s, 'not-coordinator');
      return go({ ...s, relink: 0, retryPending: false }, cancelIf(s));
    case 'claim-released':
      if (e.former === s.self) return drop(s, 'from-self');
      if (e.former !== null && e.former !== s.coordinator) return drop(s, 'not-coordinator');
      if (s.probing) return drop(s, 'probe-pending');
      // Its broker socket may only have dropped: ask the coordinator itself first.
      return go({ ...s, probing: true }, [{ type: 'probe', peerId: s.coordinator }]);
    case 'probe-result':
      if (!s.probing) return drop(s, 'no-request-pending');
      if (e.alive) return go({ ...s, probing: false }, []);
      return enterElecting(s, s.coordinator, 'unresponsive', 0);
    case 'retry-tick':
      if (!s.retryPending) return drop(s, 'no-retry-pending');
      return enterElecting({ ...s, retryPending: false }, s.coordinator, 'link-lost', s.relink);
    case 'broker-down':
      return brokerFlag(s, false);
    case 'broker-up':
      return go({ ...s, brokerUp: true }, [{ type: 'redial-missing' }]);
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'claim-result':
    case 'holder-result':
      return drop(s, 'no-request-pending');
    case 'welcome':
      return drop(s, 'not-joining');
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
      return drop(s, 'not-coordinating');
    default:
      return unreachable(e);
  }
}

function fromElecting(s: ElectingState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'claim-result':
      if (e.ok || e.holder === s.self) return becomeCoordinator(s, s.former, [{ type: 'notify', level: 'info', text: NOTICE_TEXT.becameCoordinator }]);
      if (e.holder !== null && e.holder === s.former && s.cause !== 'left') {
        // The coordinator we lost still holds the claim: it is alive at the broker. Stay its
        // member and dial it again rather than forgetting it (finding 10).
        const relink = s.attempt + 1;
        const notice: PresenceEffect[] = relink === UNREACHABLE_NOTICE_AFTER ? [{ type: 'notify', level: 'warning', text: NOTICE_TEXT.unreachable }] : [];
        const state: MemberState = { ...base(s), phase: 'member', coordinator: e.holder, probing: false, relink, retryPending: false };
        return go(state, [{ type: 'dial', peerId: e.holder }, ...notice]);
      }
      if (e.holder !== null && e.holder !== s.former) {
        // Someone else won the race: follow it; its roster arrives over our link to it.
        const state: MemberState = { ...base(s), phase: 'member', coordinator: e.holder, probing: false, relink: 0, retryPending: false };
        return go(state, []);
      }
      // Nobody (or the coordinator that said bye) holds it and we could not claim: retry.
      return enterOrphaned(s, s.former, s.cause, s.attempt);
    case 'roster':
      return rosterFromOther(s, e.from, e.epoch);
    case 'holder-confirmed':
      return confirmedRoster(s, e, []);
    case 'broker-down':
      return brokerFlag(s, false);
    case 'broker-up':
      return go({ ...s, brokerUp: true }, [{ type: 'redial-missing' }]);
    case 'claim-released':
      // Our link to it went first, then its claim: it is gone, not merely unreachable from here.
      if (s.cause === 'link-lost' && e.former !== null && e.former === s.former) return go({ ...s, cause: 'unresponsive' }, []);
      return drop(s, 'already-electing');
    case 'coordinator-link-lost':
    case 'coordinator-link-up':
      return drop(s, 'already-electing');
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'holder-result':
    case 'probe-result':
      return drop(s, 'no-request-pending');
    case 'retry-tick':
      return drop(s, 'no-retry-pending');
    case 'welcome':
      return drop(s, 'not-joining');
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
      return drop(s, 'not-coordinating');
    default:
      return unreachable(e);
  }
}

function fromOrphaned(s: OrphanedState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'retry-tick':
      if (!s.brokerUp) {
        // No broker to claim at: keep the retry going (broker-up claims at once).
        return go({ ...s, attempt: s.attempt + 1, retryPending: true }, [retry(retryDelay(s.attempt))]);
      }
      return enterElecting({ ...s, retryPending: false }, s.former, s.cause, s.attempt);
    case 'broker-up':
      return enterElecting({ ...s, brokerUp: true }, s.former, s.cause, s.attempt, [{ type: 'redial-missing' }]);
    case 'claim-released':
      if (e.former === s.self) return drop(s, 'from-self');
      return enterElecting(s, s.former, s.cause, s.attempt);
    case 'roster':
      return rosterFromOther(s, e.from, e.epoch);
    case 'holder-confirmed':
      return confirmedRoster(s, e, []);
    case 'broker-down':
      return go({ ...s, brokerUp: false }, []);
    case 'coordinator-link-lost':
    case 'coordinator-link-up':
      return drop(s, 'already-electing');
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'claim-result':
    case 'holder-result':
    case 'probe-result':
      return drop(s, 'no-request-pending');
    case 'welcome':
      return drop(s, 'not-joining');
    case 'admitted':
    case 'member-left':
    case 'member-link-lost':
    case 'member-link-up':
      return drop(s, 'not-coordinating');
    default:
      return unreachable(e);
  }
}

function fromCoordinator(s: CoordinatorState, e: PresenceEvent): Transition {
  switch (e.type) {
    case 'admitted': {
      if (e.peerId === s.self) return drop(s, 'from-self');
      const epoch = advance(s.epoch);
      if (epoch === null) return exhausted(s);
      return go({ ...s, epoch }, [
        { type: 'welcome', peerId: e.peerId, epoch },
        { type: 'broadcast-roster', epoch },
      ]);
    }
    case 'member-left': {
      if (e.peerId === s.self) return drop(s, 'from-self');
      const epoch = advance(s.epoch);
      if (epoch === null) return exhausted(s);
      return go({ ...s, epoch }, [
        { type: 'evict', peerId: e.peerId },
        { type: 'broadcast-roster', epoch },
      ]);
    }
    case 'member-link-lost':
      if (e.peerId === s.self) return drop(s, 'from-self');
      if (e.reason === 'left') return next(s, { type: 'member-left', peerId: e.peerId });
      // No bye: it may be alive and re-dialing us. Evict it only if it stays away.
      return go(s, [{ type: 'grace', peerId: e.peerId, ms: MEMBER_GRACE_MS }]);
    case 'member-link-up':
      if (e.peerId === s.self) return drop(s, 'from-self');
      // It may have missed rosters while away: send it the current one (no epoch change).
      return go(s, [{ type: 'send-roster', peerId: e.peerId, epoch: s.epoch }]);
    case 'roster':
      // Another peer says it coordinates: only the broker can tell whether we lost the claim.
      return rosterFromOther(s, e.from, e.epoch);
    case 'holder-confirmed':
      return confirmedRoster(s, e, [{ type: 'notify', level: 'warning', text: NOTICE_TEXT.takenOver }]);
    case 'claim-released':
      if (e.former !== null && e.former !== s.self) return drop(s, 'not-coordinator');
      if (s.reclaiming) return drop(s, 'claim-pending');
      return go({ ...s, reclaiming: true, retryPending: false }, [...cancelIf(s), { type: 'claim' }]);
    case 'claim-result':
      if (!s.reclaiming) return drop(s, 'no-request-pending');
      if (e.ok || e.holder === s.self) return go({ ...s, reclaiming: false, attempt: 0 }, []);
      if (e.holder !== null) {
        // Someone else took over while our broker was away: follow them.
        const state: MemberState = { ...base(s), phase: 'member', coordinator: e.holder, probing: false, relink: 0, retryPending: false };
        return go(state, [...cancelIf(s), { type: 'notify', level: 'warning', text: NOTICE_TEXT.takenOver }]);
      }
      // The claim could not be made (broker down again): keep coordinating and retry.
      return go({ ...s, reclaiming: false, attempt: s.attempt + 1, retryPending: true }, [retry(retryDelay(s.attempt))]);
    case 'retry-tick':
      if (!s.retryPending) return drop(s, 'no-retry-pending');
      return go({ ...s, reclaiming: true, retryPending: false }, [{ type: 'claim' }]);
    case 'broker-down':
      return brokerFlag(s, false);
    case 'broker-up':
      return go({ ...s, brokerUp: true, reclaiming: true, retryPending: false }, [...cancelIf(s), { type: 'redial-missing' }, { type: 'claim' }]);
    case 'leave':
      return end(s, 'left', null);
    case 'fail':
      return end(s, 'failed', e.reason);
    case 'start':
    case 'join':
      return drop(s, 'already-in-call');
    case 'holder-result':
    case 'probe-result':
      return drop(s, 'no-request-pending');
    case 'welcome':
      return drop(s, 'not-joining');
    case 'coordinator-link-lost':
    case 'coordinator-link-up':
      return drop(s, 'is-coordinator');
    default:
      return unreachable(e);
  }
}

// ------------------------------------------------------------------ shared steps

type InCall = MemberState | ElectingState | CoordinatorState | OrphanedState;

/** A roster from our current coordinator: strictly newer, by at most MAX_EPOCH_STEP. */
function rosterFromCurrent(s: MemberState, from: string, epoch: number): Transition {
  if (!validEpoch(epoch)) return drop(s, 'epoch-out-of-range');
  if (epoch <= s.epoch) return drop(s, 'stale-epoch');
  if (epoch - s.epoch > MAX_EPOCH_STEP) return drop(s, 'epoch-out-of-range');
  return go({ ...s, epoch }, [{ type: 'apply-roster', from, epoch }]);
}

/**
 * A roster from a peer that is not our coordinator: ask the broker whether it holds the claim,
 * unless its epoch could never be applied (then the broker is not bothered). A coordinator asks
 * whatever the epoch: if the broker names that peer, we must stop coordinating either way.
 */
function rosterFromOther(s: InCall, from: string, epoch: number): Transition {
  if (from === s.self) return drop(s, 'from-self');
  if (!validEpoch(epoch) || epoch < 1) return drop(s, 'epoch-out-of-range');
  if (s.phase !== 'coordinator' && !inNewCoordinatorWindow(s.epoch, epoch)) return drop(s, 'epoch-out-of-range');
  return go(s, [{ type: 'check-holder', peerId: from, epoch }]);
}

/** A roster from a new coordinator the broker confirmed: within MAX_EPOCH_STEP of ours, either way. */
function inNewCoordinatorWindow(known: number, epoch: number): boolean {
  return validEpoch(epoch) && epoch >= 1 && Math.abs(epoch - known) <= MAX_EPOCH_STEP;
}

/** The broker answered a `check-holder` for a roster `from` sent at `epoch`. */
function confirmedRoster(s: InCall, e: { from: string; holder: string | null; epoch: number }, onFollow: PresenceEffect[]): Transition {
  if (e.from === s.self) return drop(s, 'from-self');
  if (s.phase === 'member' && e.from === s.coordinator) return rosterFromCurrent(s, e.from, e.epoch);
  if (e.holder !== e.from) return drop(s, 'not-holder');
  const fits = inNewCoordinatorWindow(s.epoch, e.epoch);
  if (!fits && s.phase !== 'coordinator') return drop(s, 'epoch-out-of-range');
  const epoch = fits ? e.epoch : s.epoch;
  const state: MemberState = { ...base(s), phase: 'member', coordinator: e.from, epoch, probing: false, relink: 0, retryPending: false };
  const apply: PresenceEffect[] = fits ? [{ type: 'apply-roster', from: e.from, epoch }] : [{ type: 'drop', reason: 'epoch-out-of-range' }];
  // A coordinator the broker no longer names must follow the holder even if the roster is unusable.
  return go(state, [...cancelIf(s), ...onFollow, ...apply]);
}

function becomeCoordinator(s: ClaimingState | ElectingState, former: string | null, extra: PresenceEffect[]): Transition {
  const epoch = advance(s.epoch);
  // A former that said bye or did not answer is gone; one we only lost our link to may be alive.
  const evict: PresenceEffect[] =
    former === null ? [] : s.phase === 'electing' && s.cause === 'link-lost' ? [{ type: 'grace', peerId: former, ms: MEMBER_GRACE_MS }] : [{ type: 'evict', peerId: former }];
  const state: CoordinatorState = { ...base(s), phase: 'coordinator', coordinator: s.self, epoch: epoch ?? s.epoch, reclaiming: false, attempt: 0, retryPending: false };
  if (epoch === null) return go(state, [...evict, { type: 'drop', reason: 'epoch-exhausted' }, { type: 'notify', level: 'error', text: NOTICE_TEXT.epochExhausted }]);
  return go(state, [...evict, { type: 'broadcast-roster', epoch }, ...extra]);
}

function enterJoining(s: IdleState | LocatingState, holder: string, dials: number): Transition {
  const state: JoiningState = { ...base(s), phase: 'joining', coordinator: holder, dials, retryPending: true };
  return go(state, [{ type: 'dial', peerId: holder }, retry(JOIN_TIMEOUT_MS)]);
}

function enterElecting(s: Base, former: string | null, cause: FormerCause, attempt: number, extra: PresenceEffect[] = []): Transition {
  const state: ElectingState = { ...base(s), phase: 'electing', coordinator: null, former, cause, attempt, retryPending: false };
  return go(state, [...cancelIf(s), ...extra, { type: 'claim' }]);
}

function enterOrphaned(s: ElectingState, former: string | null, cause: FormerCause, attempt: number): Transition {
  const state: OrphanedState = { ...base(s), phase: 'orphaned', coordinator: null, former, cause, attempt: attempt + 1, retryPending: true };
  const notice: PresenceEffect[] = attempt === 0 ? [{ type: 'notify', level: 'warning', text: NOTICE_TEXT.orphaned }] : [];
  return go(state, [retry(retryDelay(attempt)), ...notice]);
}

function exhausted(s: CoordinatorState): Transition {
  return go(s, [
    { type: 'drop', reason: 'epoch-exhausted' },
    { type: 'notify', level: 'error', text: NOTICE_TEXT.epochExhausted },
  ]);
}

function end(s: Exclude<PresenceState, IdleState | EndedState>, outcome: 'left' | 'failed', reason: string | null): Transition {
  const effects: PresenceEffect[] = [...cancelIf(s)];
  if (s.phase === 'coordinator') effects.push({ type: 'release' });
  if (outcome === 'failed') effects.push({ type: 'fail', reason: reason ?? 'failed' });
  const state: EndedState = { ...base(s), phase: 'ended', coordinator: null, outcome, reason, retryPending: false };
  return go(state, effects);
}

function brokerFlag(s: PresenceState, up: boolean): Transition {
  return go({ ...s, brokerUp: up }, []);
}

/** The epoch after `epoch`, or null once it would pass MAX_EPOCH. */
function advance(epoch: number): number | null {
  return epoch + 1 <= MAX_EPOCH ? epoch + 1 : null;
}

function validEpoch(epoch: number): boolean {
  return Number.isSafeInteger(epoch) && epoch >= 0 && epoch <= MAX_EPOCH;
}

function base(s: Base): { self: string; epoch: number; brokerUp: boolean } {
  return { self: s.self, epoch: s.epoch, brokerUp: s.brokerUp };
}

function retry(ms: number): PresenceEffect {
  return { type: 'schedule-retry', ms };
}

function cancelIf(s: Pick<Base, 'retryPending'>): PresenceEffect[] {
  return s.retryPending ? [{ type: 'cancel-retry' }] : [];
}

function go(state: PresenceState, effects: PresenceEffect[]): Transition {
  return { state, effects };
}

function drop(state: PresenceState, reason: PresenceDropReason): Transition {
  return { state, effects: [{ type: 'drop', reason }] };
}

function unreachable(x: never): never {
  throw new Error(`presence: unhandled ${JSON.stringify(x)}`);
}
