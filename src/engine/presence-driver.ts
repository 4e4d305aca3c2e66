/**
 * Runs the pure presence machine (presence.ts) for a session: feeds it events, executes its
 * effects against the broker, the mesh and the roster, and turns the answers back into events.
 * It also keeps the per-member timers the machine leaves to the session: a member's grace
 * period at the coordinator, and re-dials between members.
 */
import type { BrokerClient } from './broker-client';
import type { Mesh } from './mesh';
import type { Pair } from './pair';
import type { PairPipeline } from './pipeline';
import type { LinkCloseReason } from './peer-link';
import type { Clock, Logger } from './platform';
import {
  FAIL_TEXT,
  firstLinkDeadline,
  PROBE_TIMEOUT_MS,
  initialPresence,
  isInCall,
  next,
  retryDelay,
  type PresenceEffect,
  type PresenceEvent,
  type PresenceFailReason,
  type PresenceState,
} from './presence';
import type { Roster } from './roster';
import type { CallPhase } from './session-api';
import type { RosterEntry } from './wire';

/** What the driver needs of the session it runs in. */
export interface PresenceHost {
  readonly platform: { clock: Clock; log: Logger };
  readonly roster: Roster;
  readonly broker: BrokerClient | null;
  readonly mesh: Mesh | null;
  readonly sid: string | null;
  readonly pipeline: Pick<PairPipeline, 'applyRoster' | 'ensureLinks'>;
  notice(level: 'info' | 'warning' | 'error', text: string): void;
  dropped(channel: 'control', reason: string): void;
  finish(phase: 'failed' | 'ended', reason: string): void;
  emit(): void;
}

/** Re-dials between members: at most this many, RETRY backoff apart. */
const MAX_MEMBER_REDIALS = 5;

export class PresenceDriver {
  private state: PresenceState = initialPresence('');
  private retryTimer: unknown = null;
  /** Rosters (or welcomes) waiting for the machine's verdict, by sender. */
  private readonly stashed = new Map<string, { epoch: number; members: readonly RosterEntry[] }>();
  private readonly graceTimers = new Map<string, unknown>();
  private readonly redials = new Map<string, number>();
  /** Resolves the start command once its claim has settled (see startAsHost). */
  private claimSettled: (() => void) | null = null;

  constructor(private readonly host: PresenceHost) {}

  begin(selfId: string): void {
    this.stop();
    this.state = initialPresence(selfId);
  }

  get coordinator(): string | null {
    return this.state.coordinator;
  }

  get isCoordinator(): boolean {
    return this.state.phase === 'coordinator';
  }

  get inCall(): boolean {
    return isInCall(this.state);
  }

  get phase(): PresenceState['phase'] {
    return this.state.phase;
  }

  isJoiningVia(peerId: string): boolean {
    return this.state.phase === 'joining' && this.state.coordinator === peerId;
  }

  redialing(peerId: string): boolean {
    return this.redials.has(peerId);
  }

  callPhase(broker: 'connecting' | 'open' | 'reconnecting' | 'closed'): CallPhase {
    switch (this.state.phase) {
      case 'idle':
        return 'idle';
      case 'locating':
        return this.waiting ? 'waiting' : 'connecting';
      case 'claiming':
      case 'joining':
        return 'connecting';
      case 'ended':
        return this.state.outcome === 'failed' ? 'failed' : 'ended';
      default:
        return broker === 'open' ? 'connected' : 'reconnecting';
    }
  }

  /** Claims the room; resolves once the claim is settled (coordinator, or the call ended). */
  startAsHost(): Promise<void> {
    const settled = new Promise<void>((resolve) => (this.claimSettled = resolve));
    this.event({ type: 'start' });
    return settled;
  }

  /** Joined a room nobody has opened yet, and waiting for its host. */
  get waiting(): boolean {
    return this.state.phase === 'locating' && this.state.waiting;
  }

  /** Joins via the room's holder: `known` when it was looked up already (CallLine.connect). */
  async joinRoom(known?: string | null): Promise<void> {
    const holder = known !== undefined ? known : await this.host.broker?.holder(this.host.sid!).catch(() => null);
    this.event({ type: 'join', holder: holder ?? null });
  }

  async leave(): Promise<void> {
    const wasCoordinator = this.isCoordinator;
    this.event({ type: 'leave' });
    if (wasCoordinator && this.host.broker && this.host.sid) await this.host.broker.release(this.host.sid).catch(() => undefined);
  }

  /** Feed one event; a roster or welcome brings its members, applied only if the machine says so. */
  event(event: PresenceEvent, members?: readonly RosterEntry[]): void {
    if ((event.type === 'roster' || event.type === 'welcome') && members) {
      this.stashed.set(event.from, { epoch: event.epoch, members });
    }
    const { state, effects } = next(this.state, event);
    if (state.phase !== this.state.phase || effects.length) {
      this.host.platform.log.info('presence', { event: event.type, from: this.state.phase, to: state.phase, effects: effects.map((e) => e.type) });
    }
    this.state = state;
    for (const effect of effects) this.execute(effect);
    this.host.emit();
    this.settleClaim();
  }

  private settleClaim(): void {
    if (this.state.phase === 'claiming' || !this.claimSettled) return;
    this.claimSettled();
    this.claimSettled = null;
  }

  /** The coordinator admitted a joiner: the machine sends the welcome and the new roster. */
  memberJoined(pair: Pair): void {
    this.event({ type: 'admitted', peerId: pair.peerId });
  }

  linkUp(peerId: string): void {
    this.redials.delete(peerId);
    this.clearGrace(peerId);
    if (this.isCoordinator) {
      if (this.host.roster.has(peerId)) this.event({ type: 'member-link-up', peerId });
    } else if (peerId === this.state.coordinator && this.state.phase === 'member') {
      this.event({ type: 'coordinator-link-up', from: peerId });
    }
  }

  /** A peer's current link closed. Also while joining: a joiner's first link may be dialed again. */
  linkLost(peerId: string, reason: LinkCloseReason, rostered: boolean): void {
    if (this.state.phase === 'idle' || this.state.phase === 'ended') return;
    if (peerId === this.state.coordinator && !this.isCoordinator) {
      return this.event({ type: 'coordinator-link-lost', from: peerId, reason });
    }
    if (!rostered) return;
    if (this.isCoordinator) return this.event({ type: 'member-link-lost', peerId, reason });
    if (reason !== 'left' && reason !== 'fingerprint-mismatch') this.scheduleRedial(peerId);
  }

  stop(): void {
    const clock = this.host.platform.clock;
    if (this.retryTimer !== null) clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const t of this.graceTimers.values()) clock.clearTimeout(t);
    this.graceTimers.clear();
    this.redials.clear();
    this.stashed.clear();
    if (this.state.phase !== 'idle' && this.state.phase !== 'ended') this.state = { ...initialPresence(this.state.self), phase: 'ended', outcome: 'left', reason: null };
    this.settleClaim();
  }

  private execute(effect: PresenceEffect): void {
    const { broker, sid, mesh, roster } = this.host;
    const ask = <T>(what: Promise<T> | undefined, fallback: T, then: (v: T) => PresenceEvent): void => {
      void (what ?? Promise.resolve(fallback)).catch(() => fallback).then((v) => {
        if (this.state.phase !== 'ended') this.event(then(v));
      });
    };
    switch (effect.type) {
      case 'claim':
        return ask(broker?.claim(sid!), { ok: false, holder: null }, (r) => ({ type: 'claim-result', ok: r.ok, holder: r.holder }));
      case 'release':
        return; // leave() awaits the release itself, so the bye and the release go out before teardown
      case 'lookup-holder':
        return ask(broker?.holder(sid!), null, (holder) => ({ type: 'holder-result', holder }));
      case 'check-holder':
        return ask(broker?.holder(sid!), null, (holder) => ({ type: 'holder-confirmed', from: effect.peerId, holder, epoch: effect.epoch }));
      case 'probe': {
        const link = mesh?.get(effect.peerId)?.link;
        return ask(link?.probe(PROBE_TIMEOUT_MS), false, (alive) => ({ type: 'probe-result', alive }));
      }
      case 'dial': {
        if (!mesh || mesh.has(effect.peerId)) return;
        const pair = mesh.dial(effect.peerId);
        if (this.state.phase === 'joining') {
          this.host.platform.clock.setTimeout(() => {
            if (!pair.link.closed && pair.stage === 'transport') pair.link.close('timeout');
          }, firstLinkDeadline(this.state.dials));
        }
        return;
      }
      case 'redial-missing':
        return this.host.pipeline.ensureLinks();
      case 'apply-roster': {
        const stashed = this.stashed.get(effect.from);
        this.stashed.delete(effect.from);
        if (stashed && stashed.epoch === effect.epoch) this.host.pipeline.applyRoster(stashed.members);
        return;
      }
      case 'broadcast-roster':
        return this.sendRoster(effect.epoch, null);
      case 'welcome':
        return this.sendRoster(effect.epoch, effect.peerId);
      case 'evict':
        roster.delete(effect.peerId);
        mesh?.close(effect.peerId, 'closed-by-us');
        return;
      case 'schedule-retry':
        this.cancelRetry();
        this.retryTimer = this.host.platform.clock.setTimeout(() => {
          this.retryTimer = null;
          this.event({ type: 'retry-tick' });
        }, effect.ms);
        return;
      case 'cancel-retry':
        return this.cancelRetry();
      case 'notify':
        return this.host.notice(effect.level, effect.text);
      case 'fail':
        return this.host.finish('failed', FAIL_TEXT[effect.reason as PresenceFailReason] ?? effect.reason);
      case 'drop':
        return this.host.dropped('control', `presence:${effect.reason}`);
      case 'grace':
        // A member whose link dropped without a bye may be re-dialing: evict only if it stays away.
        this.clearGrace(effect.peerId);
        this.graceTimers.set(
          effect.peerId,
          this.host.platform.clock.setTimeout(() => {
            this.graceTimers.delete(effect.peerId);
            if (this.host.roster.has(effect.peerId) && !this.host.mesh?.get(effect.peerId)?.admitted) {
              this.event({ type: 'member-left', peerId: effect.peerId });
            }
          }, effect.ms),
        );
        return;
      case 'send-roster':
        return this.sendRoster(effect.epoch, null, effect.peerId);
      default:
        return assertNever(effect);
    }
  }

  private clearGrace(peerId: string): void {
    const t = this.graceTimers.get(peerId);
    if (t !== undefined) this.host.platform.clock.clearTimeout(t);
    this.graceTimers.delete(peerId);
  }

  /** The coordinator's roster: a welcome to one joiner (admitted right after), or a broadcast to every admitted member. */
  private sendRoster(epoch: number, welcomeTo: string | null, only?: string): void {
    const msg = { coordinator: this.state.self, epoch, members: this.host.roster.values() };
    if (welcomeTo !== null) {
      this.host.mesh?.get(welcomeTo)?.link.sendControl({ kind: 'welcome', ...msg });
      return;
    }
    for (const pair of this.host.mesh?.all() ?? []) {
      if (only !== undefined && pair.peerId !== only) continue;
      if (pair.admitted && this.host.roster.has(pair.peerId)) pair.link.sendControl({ kind: 'roster', ...msg });
    }
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) this.host.platform.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Members re-dial each other (the smaller id dials) with backoff, a few times. */
  private scheduleRedial(peerId: string): void {
    const self = this.state.self;
    if (!(self < peerId)) return;
    const count = (this.redials.get(peerId) ?? 0) + 1;
    if (count > MAX_MEMBER_REDIALS) {
      this.host.notice('warning', `Could not reconnect to ${this.host.roster.get(peerId)?.name ?? 'a participant'}.`);
      return;
    }
    this.redials.set(peerId, count);
    this.host.platform.clock.setTimeout(() => {
      const mesh = this.host.mesh;
      if (this.inCall && mesh && this.host.roster.has(peerId) && !mesh.has(peerId)) mesh.dial(peerId);
    }, retryDelay(count + 1));
  }
}

function assertNever(effect: never): never {
  throw new Error(`unhandled presence effect ${JSON.stringify(effect)}`);
}
