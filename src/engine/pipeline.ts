/**
 * The per-pair pipeline: every link moves `transport-ready -> identity-checked -> admitted`
 * through here, judged by the one Verifier built from the room link, at the coordinator and
 * between members alike. The coordinator's gate (admission.ts) is one consumer of the verdict;
 * the roster a coordinator sends is believed only when it confirms this very link.
 */
import { decideAdmission } from './admission';
import type { CallMedia } from './call-media';
import type { Gate } from './gate';
import type { Mesh } from './mesh';
import type { Pair } from './pair';
import type { Platform } from './platform';
import type { PresenceDriver } from './presence-driver';
import { checkRosterAgainstLink, type Roster } from './roster';
import type { ParticipantKind, TrustState } from './session-api';
import type { Verifier } from './verifier';
import type { ControlMessage, RosterEntry } from './wire';

/**
 * How long after admission the dialer adds the media lanes: the renegotiation's SDP work then
 * follows the welcome, the roster and their rendering on the main thread the engine shares
 * with the popup, instead of delaying them.
 */
export const MEDIA_LANES_AFTER_ADMISSION_MS = 50;

/** A joiner must finish its handshake and say hello promptly, or its slot goes to the next. */
export const JOINER_HELLO_MS = 5_000;

export interface PipelineHost {
  readonly platform: Platform;
  readonly roster: Roster;
  readonly presence: PresenceDriver;
  readonly media: CallMedia;
  readonly mesh: Mesh | null;
  readonly selfId: string | null;
  readonly name: string;
  readonly participant: ParticipantKind;
  readonly verifier: Verifier | null;
  readonly gate: Gate;
  readonly roomId: string | null;
  readonly counts: { fingerprintMismatches: number; refusedJoiners: number };
  trustOf(entry: RosterEntry): TrustState;
  dropped(channel: 'control' | 'content', reason: string): void;
  notice(level: 'info' | 'warning' | 'error', text: string): void;
  finish(phase: 'failed' | 'ended', reason: string): void;
  emit(): void;
}

export class PairPipeline {
  constructor(private readonly host: PipelineHost) {}

  /** transport-ready -> identity-checked -> admitted, on every link, by the same Verifier. */
  ready(pair: Pair, candidate: boolean): void {
    const fingerprint = pair.link.remoteFingerprint!;
    if (this.host.presence.isJoiningVia(pair.peerId)) {
      pair.stage = 'identity-checked'; // the welcome's roster check binds it
      pair.link.sendControl({ kind: 'hello', name: this.host.name, participant: this.host.participant, credential: null, features: ['sas-v1', 'media-lanes-v1'] });
      return;
    }
    const entry = this.host.roster.get(pair.peerId);
    if (!entry) {
      if (!this.host.presence.isCoordinator) return pair.link.close('protocol');
      // A joiner at the coordinator: its hello decides, promptly or never.
      this.host.platform.clock.setTimeout(() => {
        if (!pair.admitted && !pair.link.closed) pair.link.close('timeout');
      }, JOINER_HELLO_MS);
      return;
    }
    pair.verdict = this.host.verifier!.verify({ peerId: pair.peerId, fingerprint, expected: entry, credential: null, claimedKind: entry.kind });
    if (!pair.verdict.ok) {
      this.host.counts.fingerprintMismatches++;
      if (candidate) this.host.mesh?.rejectCandidate(pair, 'fingerprint-mismatch');
      else this.rejectMismatch(pair, entry);
      return;
    }
    if (candidate) this.host.mesh?.promote(pair);
    this.admit(pair);
  }

  async hello(pair: Pair, msg: Extract<ControlMessage, { kind: 'hello' }>): Promise<void> {
    if (!this.host.presence.isCoordinator || pair.stage !== 'transport-ready' || this.host.roster.has(pair.peerId)) {
      return this.host.dropped('control', 'unexpected-hello');
    }
    pair.stage = 'identity-checked';
    this.releaseStaleSelf(pair);
    const decision = await decideAdmission({
      roster: this.host.roster,
      verifier: this.host.verifier!,
      gate: this.host.gate,
      roomId: this.host.roomId!,
      peerId: pair.peerId,
      fingerprint: pair.link.remoteFingerprint!,
      hello: msg,
    });
    if (pair.link.closed || !this.host.presence.isCoordinator) return;
    if (!decision.admit) {
      this.host.counts.refusedJoiners++;
      pair.link.sendControl({ kind: 'refused', reason: decision.reason });
      this.host.platform.clock.setTimeout(() => pair.link.close('closed-by-us'), 200);
      return;
    }
    this.host.roster.admit(decision.entry);
    pair.verdict = decision.verdict;
    this.host.presence.memberJoined(pair); // the welcome goes out first, then the safety code and media
    this.admit(pair);
  }

  /**
   * A joiner whose handshaken certificate a member already holds, while that member has no live
   * link, is the same participant back (it left and its bye was lost with its closing link, or
   * it reloaded or crashed): only the holder of the certificate's key can complete that
   * handshake. The stale entry goes now, as a departure, instead of locking its owner out until
   * MEMBER_GRACE_MS runs out. A member whose link is live keeps its place, and a second holder of
   * the same key is refused by the roster as before.
   */
  private releaseStaleSelf(pair: Pair): void {
    const fingerprint = pair.link.remoteFingerprint;
    const stale = this.host.roster.values().find((m) => m.peerId !== pair.peerId && m.peerId !== this.host.selfId && m.fingerprint === fingerprint);
    if (!stale || this.host.mesh?.get(stale.peerId)?.admitted) return;
    this.host.platform.log.info('rejoined under a new peer id: the old entry leaves', { old: stale.peerId.slice(0, 6), peer: pair.peerId.slice(0, 6) });
    this.host.presence.event({ type: 'member-left', peerId: stale.peerId });
  }

  welcome(pair: Pair, msg: Extract<ControlMessage, { kind: 'welcome' }>): void {
    if (!this.host.presence.isJoiningVia(pair.peerId) || msg.coordinator !== pair.peerId) return this.host.dropped('control', 'unexpected-welcome');
    if (!this.rosterConfirms(pair, msg.members)) return;
    this.host.presence.event({ type: 'welcome', from: pair.peerId, epoch: msg.epoch }, msg.members);
    this.admit(pair);
  }

  /**
   * A roster must list us with our own certificate and the sender with the certificate we
   * handshook with. Otherwise someone sits between us and the coordinator.
   */
  rosterConfirms(pair: Pair, members: readonly RosterEntry[]): boolean {
    const check = checkRosterAgainstLink(
      members,
      { peerId: this.host.selfId!, fingerprint: this.host.platform.peers.localFingerprint },
      { peerId: pair.peerId, fingerprint: pair.link.remoteFingerprint ?? '' },
    );
    if (check === 'ok') return true;
    this.host.dropped('control', `roster-${check}`);
    const joining = this.host.presence.isJoiningVia(pair.peerId);
    if (check === 'intercepted') {
      this.host.counts.fingerprintMismatches++;
      const text = 'The coordinator saw a different certificate than ours: the connection is being intercepted.';
      if (joining) this.host.finish('failed', text);
      else {
        this.host.notice('error', text);
        pair.link.close('fingerprint-mismatch');
      }
    } else if (joining) this.host.finish('failed', 'The call sent a roster without us in it.');
    return false;
  }

  /** Apply a coordinator's roster: drop links to those gone, check and admit the rest, dial the new. */
  applyRoster(members: readonly RosterEntry[]): void {
    this.host.roster.replace(members);
    for (const pair of this.host.mesh?.all() ?? []) {
      const entry = this.host.roster.get(pair.peerId);
      if (!entry) {
        pair.link.sendControl({ kind: 'bye' });
        pair.link.close('closed-by-us');
      } else if (pair.link.remoteFingerprint && pair.link.remoteFingerprint !== entry.fingerprint) {
        this.rejectMismatch(pair, entry);
      } else if (pair.link.remoteFingerprint && !pair.admitted) {
        this.admit(pair);
      }
    }
    this.ensureLinks();
  }

  /** Members dial each other by id: the smaller id dials, so a pair never dials twice. */
  ensureLinks(): void {
    const mesh = this.host.mesh;
    if (!mesh || !this.host.selfId) return;
    for (const peerId of this.host.roster.ids()) {
      if (peerId !== this.host.selfId && !mesh.has(peerId) && this.host.selfId < peerId) mesh.dial(peerId);
    }
    mesh.replay();
  }

  /** The pair may now exchange content: start the safety code and share media. */
  admit(pair: Pair): void {
    if (pair.admitted) return;
    pair.stage = 'admitted';
    this.host.platform.clock.setTimeout(() => {
      if (pair.admitted) pair.link.openMediaLanes();
    }, MEDIA_LANES_AFTER_ADMISSION_MS);
    this.host.presence.linkUp(pair.peerId);
    this.sasStep(pair, pair.sas.start(this.host.platform.peers.localFingerprint, pair.link.remoteFingerprint!));
    void this.host.media.applyTo(pair);
    this.host.emit();
  }

  private rejectMismatch(pair: Pair, entry: RosterEntry): void {
    this.host.counts.fingerprintMismatches++;
    this.host.notice('error', `Dropped the link to ${entry.name}: its certificate differs from the one the room's coordinator saw. Someone may be intercepting.`);
    pair.link.close('fingerprint-mismatch');
  }

  sasStep(pair: Pair, out: ReturnType<Pair['sas']['receive']>): void {
    for (const m of out.send) pair.link.sendControl(m);
    if (out.dropped) this.host.dropped('control', 'sas-step-refused');
    if (out.failure) {
      const name = this.host.roster.get(pair.peerId)?.name ?? 'a participant';
      this.host.notice('error', `The safety code with ${name} failed: ${out.failure}. Do not trust this link.`);
    }
    this.host.emit();
  }
}
