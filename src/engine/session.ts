/**
 * A participant's call session: the orchestrator. It decides nothing itself; it wires the
 * modules that do, in the one-way flow of DESIGN section 2:
 *
 *   broker -> SealedSignaling -> Mesh (pairs) -> Verifier / admission -> Roster -> presence
 *   content in -> ContentRouter (may the sender act?) -> ChatStore
 *   content out -> ContentRouter.deliver (may this peer perceive it?)
 *   every change -> view (projected per UI port with chat deltas)
 *
 * Platform-neutral: everything it touches outside itself comes in through `Platform`.
 */
import type { BrokerClient, BrokerState } from './broker-client';
import { checkBrokerUrl } from './broker-url';
import { mayAnswerOffer } from './admission';
import { CallLine, newBrokerClient } from './call-line';
import { CallMedia, type MediaEvent } from './call-media';
import { ChatFlow } from './chat-flow';
import { ChatStore } from './chat-store';
import { ContentRouter } from './content-router';
import { dispatchControl, type ControlHost } from './control-dispatch';
import { DropCounter } from './drops';
import { toBase64Url } from './encoding';
import type { Gate } from './gate';
import { encodeLink, inviteBaseFor, parseLink, roomToOpen, type RoomLink } from './link';
import type { Mesh, MeshEvents } from './mesh';
import { cleanName, nameProblem } from './names';
import { NoticeList, noticeTopic } from './notices';
import { TrustAlarms } from './trust-alarms';
import type { Pair } from './pair';
import type { LinkCloseReason } from './peer-link';
import type { MediaTrackLike, Platform } from './platform';
import { PresenceDriver, type PresenceHost } from './presence-driver';
import { PairPipeline, type PipelineHost } from './pipeline';
import { Roster } from './roster';
import type { CallPhase, ParticipantKind, SessionCommand, SessionView, TrustState } from './session-api';
import { resolveOptions, sessionStats, type ResolvedOptions, type SessionOptions, type SessionStats } from './session-options';
import { buildSessionView } from './session-view';
import { sameBroker, StandbyBroker, STANDBY_IDLE_MS } from './standby-broker';
import { PreparedDial, SpareDial } from './prepared-dial';
import { TrustStore } from './trust';
import { verifierFor, type Verifier } from './verifier';
import { ViewEmitter } from './view-emitter';
import type { ContentMessage, RosterEntry } from './wire';

export type { MediaEvent, SessionOptions, SessionStats };

export class Session implements PresenceHost, PipelineHost, ControlHost {
  readonly platform: Platform;
  private readonly opts: ResolvedOptions;
  private readonly trust: TrustStore;
  private readonly drops = new DropCounter();
  readonly counts = { fingerprintMismatches: 0, refusedJoiners: 0 };
  readonly chat: ChatStore;
  readonly notices: NoticeList;
  private readonly trustAlarms: TrustAlarms;
  readonly roster: Roster;
  readonly router: ContentRouter;
  readonly media: CallMedia;
  readonly presence: PresenceDriver;
  readonly pipeline: PairPipeline;
  private readonly chatFlow: ChatFlow;
  private readonly views: ViewEmitter<SessionView>;
  private readonly standby: StandbyBroker;
  private readonly spareDial: SpareDial;

  // One call's state; replaced whole on the next start or join.
  private line: CallLine | null = null;
  selfId: string | null = null;
  name = '';
  verifier: Verifier | null = null;
  roomId: string | null = null;
  private roomLink: string | null = null;
  /** A start or join is between its checks and its line (open()). */
  private opening = false;
  private ended: { phase: 'failed' | 'ended'; reason: string } | null = null;

  constructor(platform: Platform, options: SessionOptions = {}) {
    this.platform = platform;
    this.opts = resolveOptions(options);
    this.roster = new Roster(options.maxMembers);
    this.trust = new TrustStore(platform.storage);
    const now = () => platform.clock.now();
    const randomBytes = (n: number) => platform.randomBytes(n);
    this.chat = new ChatStore({ now });
    this.notices = new NoticeList({ now, newId: () => toBase64Url(randomBytes(9)) });
    this.router = new ContentRouter(this.opts.grants, platform.clock);
    this.media = new CallMedia(platform, this.router, (peerId) => this.roster.subjectOf(peerId));
    this.presence = new PresenceDriver(this);
    this.pipeline = new PairPipeline(this);
    this.chatFlow = new ChatFlow({ roster: this.roster, router: this.router, chat: this.chat, clock: platform.clock, randomBytes });
    this.trustAlarms = new TrustAlarms(this.notices);
    this.views = new ViewEmitter(() => this.projectView(), platform.log);
    this.standby = new StandbyBroker((url) => newBrokerClient(platform, url), platform.clock, platform.log);
    this.spareDial = new SpareDial(() => new PreparedDial(platform.peers, this.opts.peerConfig, platform.log), platform.clock, STANDBY_IDLE_MS);
  }

  get broker() { return this.line?.broker ?? null; }
  get mesh(): Mesh | null { return this.line?.mesh ?? null; }
  get sid(): string | null { return this.line?.sid ?? null; }
  get gate(): Gate { return this.opts.gate; }
  get participant(): ParticipantKind { return this.opts.participant; }
  private get brokerState(): BrokerState { return this.line?.brokerState ?? 'closed'; }

  // ---------------------------------------------------------------- public surface

  view(): SessionView {
    return buildSessionView({
      phase: this.ended?.phase ?? this.callPhase(),
      reason: this.ended?.reason ?? null,
      roomLink: this.roomLink,
      selfId: this.selfId,
      name: this.name,
      fingerprint: this.platform.peers.localFingerprint,
      coordinatorId: this.presence.coordinator,
      sending: this.media.localLanes(),
      roster: this.roster.values(),
      pairOf: (peerId) => this.mesh?.get(peerId),
      redialing: (peerId) => this.presence.redialing(peerId),
      trustOf: (entry) => this.trustOf(entry),
      chat: this.chat,
      broker: this.brokerState,
      notices: this.notices.list(),
    });
  }

  /** The view listeners get: the trust alarms it calls for are raised first, so they are in it. */
  private projectView(): SessionView {
    const view = this.view();
    return this.trustAlarms.review(view.members) ? this.view() : view;
  }

  subscribe = (listener: (view: SessionView) => void): (() => void) => this.views.subscribe(listener);

  onMedia(listener: (event: MediaEvent) => void): () => void {
    return this.media.onMedia(listener);
  }

  remoteTracks(): MediaEvent[] {
    return this.media.remoteTracks(this.mesh?.all() ?? []);
  }

  localTrack(lane: MediaEvent['lane']): MediaTrackLike | null {
    return this.media.localTrack(lane);
  }

  stats(): SessionStats {
    return sessionStats(this.drops.stats(), this.counts);
  }

  async dispatch(command: SessionCommand): Promise<void> {
    switch (command.op) {
      case 'start':
        return this.start(command.name, command.brokerUrl, command.link);
      case 'join':
        return this.join(command.name, command.link, command.brokerUrl);
      case 'warm-up':
        return this.warmUp(command.brokerUrl, command.link);
      case 'leave':
        return this.leave();
      case 'chat':
        return this.sendChat(command.text);
      case 'set-media':
        this.assertInCall();
        return this.media.set(command.lane, command.on, (this.mesh?.all() ?? []).filter((p) => p.admitted)).then(() => this.emit());
      case 'mark-verified':
        return this.markVerified(command.peerId);
      default:
        throw new Error('Unknown command.');
    }
  }

  // ---------------------------------------------------------------- commands

  private async start(name: string, brokerUrl: string, linkText?: string): Promise<void> {
    if (!(await this.open(name, roomToOpen(linkText, (n) => this.platform.randomBytes(n)), brokerUrl))) return;
    this.roster.admit({ peerId: this.selfId!, name: this.name, kind: this.opts.participant, fingerprint: this.platform.peers.localFingerprint });
    await this.presence.startAsHost();
  }

  private async join(name: string, linkText: string, brokerUrl: string): Promise<void> {
    const parsed = parseLink(linkText);
    if (!parsed.ok) throw new Error(parsed.error);
    // A joiner dials the holder next: its offer is made while the broker connects.
    const opened = await this.open(name, parsed.link, brokerUrl, { prepareDial: true, lookupHolder: true });
    if (opened) await this.presence.joinRoom(opened.holder);
  }

  /**
   * The start or join form is on screen (standby-broker.ts, prepared-dial.ts): connect the
   * configured broker's socket, and with a room link make the dial's offer, ahead of the click.
   * A link naming another broker is not contacted before "Join": pasting a link is not consent
   * to tell its broker this browser's address.
   */
  private async warmUp(brokerUrl: string, linkText?: string): Promise<void> {
    if (this.inCall()) return;
    const url = checkBrokerUrl(brokerUrl);
    if (!url.ok || !url.value) throw new Error(url.reason ?? 'Invalid broker address.');
    // A link that does not parse (yet) is no join: the join itself will say what is wrong.
    const parsed = linkText === undefined ? null : parseLink(linkText);
    const elsewhere = parsed?.ok && parsed.link.broker !== undefined && !sameBroker(parsed.link.broker, url.value);
    if (!elsewhere) this.standby.warm(url.value);
    // Only a joiner dials; a form with a link on it is about to join. Nothing leaves this machine.
    if (parsed?.ok) this.spareDial.keep();
    else this.spareDial.discard(); // the link was cleared (or is not one): no join is coming
  }

  private async leave(): Promise<void> {
    if (!this.inCall()) return;
    for (const pair of this.mesh?.all() ?? []) pair.link.sendControl({ kind: 'bye' });
    const waited = this.presence.waiting;
    await this.presence.leave();
    this.finish('ended', waited ? 'You stopped waiting for the host.' : 'You left the call.');
  }

  private async sendChat(text: string): Promise<void> {
    this.assertInCall();
    const undelivered = this.chatFlow.send({ peerId: this.selfId!, name: this.name }, this.line!.mesh, text);
    if (undelivered.length) this.notice('warning', `Message not delivered to ${undelivered.join(', ')}: no open link to them yet.`);
    this.emit();
  }

  private async markVerified(peerId: string): Promise<void> {
    const entry = this.roster.get(peerId);
    const pair = this.mesh?.get(peerId);
    if (!entry || !pair || peerId === this.selfId) throw new Error('That participant is not in the call.');
    if (pair.sas.phase !== 'ready') throw new Error('Compare the safety code first: it is not ready yet.');
    await this.trust.pin(entry.name, entry.fingerprint);
    // Verified again after a key change: the alarm about the old key is over.
    this.trustAlarms.resolved(entry.name);
    this.notices.add('info', `${entry.name} is marked verified on this browser.`, noticeTopic('verified', entry.name));
    this.emit();
  }

  // ---------------------------------------------------------------- call setup and teardown

  /**
   * Opens the call's line; null when the person left while it was connecting. With
   * `lookupHolder`, `holder` is the room's holder, looked up behind the watch (CallLine.connect).
   */
  private async open(
    rawName: string,
    link: RoomLink,
    brokerUrl: string,
    opts: { prepareDial?: boolean; lookupHolder?: boolean } = {},
  ): Promise<{ holder: string | null | undefined } | null> {
    if (this.inCall() || this.opening) throw new Error('You are already in a call. Leave it first.');
    const name = cleanName(rawName);
    if (!name) throw new Error(nameProblem(rawName) ?? 'Enter your name.');
    // A link made on a broker names it: the call is there, whatever broker is set here.
    const url = checkBrokerUrl(link.broker ?? brokerUrl);
    if (!url.ok || !url.value) throw new Error(url.reason ?? 'Invalid broker address.');
    this.ended = null;
    this.roster.clear();
    this.chat.clear();
    this.notices.clear();
    this.trustAlarms.clear();
    this.name = name;
    this.roomId = link.roomId;
    this.roomLink = encodeLink(link, this.opts.linkBase ?? inviteBaseFor(url.value));
    this.verifier = verifierFor(link);
    // Until the line exists inCall() cannot tell: a second start or join (the popup and the join
    // page at once) would otherwise open a second line and orphan the first.
    this.opening = true;
    try {
      await this.trust.load();
    } finally {
      this.opening = false;
    }
    let standby = this.standby.take(url.value);
    for (;;) {
      const line = this.startLine(link.roomId, url.value, opts.prepareDial === true, standby);
      try {
        const holder = await line.connect(opts.lookupHolder);
        return this.line === line ? { holder } : null;
      } catch (err) {
        if (this.line !== line) return null; // left meanwhile: "You left" stays the outcome
        // Close codes go to the log; the person gets what happened and what to do.
        this.platform.log.warn('broker connect failed', { error: err instanceof Error ? err.message : String(err), standby: standby !== null });
        if (standby) {
          // A standby can die unseen (half-open after a network change): one fresh try first.
          standby = null;
          line.close();
          this.line = null;
          continue;
        }
        // Only the host: a link's path and query are its author's words, not ours to show.
        const where = new URL(url.value).host;
        const reason = link.broker
          ? `Could not reach the signaling broker at ${where}, which this invite names. Check that it is running, or ask for a fresh invite, then try again.`
          : `Could not reach the signaling broker at ${where}. Check that it is running and that the Broker URL in Settings is right, then try again.`;
        this.finish('failed', reason);
        throw new Error(reason);
      }
    }
  }

  /** Builds the call's line (on `standby` when there is one) and makes it the current one. */
  private startLine(roomId: string, brokerUrl: string, prepareDial: boolean, standby: BrokerClient | null): CallLine {
    const line = new CallLine({
      platform: this.platform,
      roomId,
      brokerUrl,
      peerConfig: () => this.opts.peerConfig,
      drops: this.drops,
      events: this.lineEvents(),
      ...(standby ? { broker: standby } : {}),
    });
    this.line = line;
    this.selfId = line.selfId;
    this.presence.begin(line.selfId);
    this.emit();
    // A host dials nobody first: a spare offer made for the form goes unused.
    const spare = this.spareDial.take();
    if (!prepareDial) spare?.discard();
    else {
      // Only a head start: a connection that cannot be made now is made again at the dial.
      try {
        line.mesh.prepareDial(spare ?? undefined);
      } catch (err) {
        this.platform.log.warn('could not prepare the dial', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    return line;
  }

  private lineEvents() {
    const mesh: MeshEvents = {
      onReady: (pair, candidate) => this.pipeline.ready(pair, candidate),
      onControl: (pair, msg) => dispatchControl(this, pair, msg),
      onContent: (pair, msg) => this.onContent(pair, msg),
      onTrack: (pair, lane, track) => this.media.remoteTrack(pair, lane, track),
      onClosed: (pair, reason) => this.onPairClosed(pair, reason),
      onPhase: () => this.emit(),
      onDrop: (channel, reason) => this.drops.drop(channel, reason),
    };
    return {
      mesh,
      mayAnswer: (from: string) =>
        mayAnswerOffer({ inCall: this.presence.inCall, isCoordinator: this.presence.isCoordinator, rosterHas: (id) => this.roster.has(id), mesh: this.mesh }, from),
      onReleased: (former: string | null) => this.presence.event({ type: 'claim-released', former }),
      onBrokerState: (state: BrokerState) => {
        if (state === 'reconnecting') this.presence.event({ type: 'broker-down' });
        this.emit();
      },
      onReconnected: () => this.presence.event({ type: 'broker-up' }),
    };
  }

  /** Ends the call here: closes every link and the broker, keeps the reason for the view. */
  finish(phase: 'failed' | 'ended', reason: string): void {
    this.presence.stop();
    this.line?.close();
    this.line = null;
    this.media.stopAll();
    this.ended = { phase, reason };
    this.emit();
  }

  private onPairClosed(pair: Pair, reason: LinkCloseReason): void {
    this.platform.log.info('link closed', { peer: pair.peerId.slice(0, 6), reason, role: pair.link.role });
    this.media.pairGone(pair);
    this.router.forget(pair.peerId);
    this.presence.linkLost(pair.peerId, reason, this.roster.has(pair.peerId));
    this.emit();
  }

  private onContent(pair: Pair, msg: ContentMessage): void {
    const receipt = this.chatFlow.receive(pair, msg);
    if (!receipt.ok) return this.drops.drop('content', receipt.reason);
    this.emit();
  }

  // ---------------------------------------------------------------- for the modules it wires

  /**
   * A line being opened is a call connecting, before presence has its first event: the popup
   * then draws the call view at once, while the broker's first replies are on their way, rather
   * than after them, on the main thread the engine shares with it.
   */
  private callPhase(): CallPhase {
    const phase = this.presence.callPhase(this.brokerState);
    return phase === 'idle' && this.inCall() ? 'connecting' : phase;
  }

  /** A call is open here (it may still be joining); finish() ends it. */
  private inCall(): boolean {
    return this.ended === null && this.line !== null;
  }

  private assertInCall(): void {
    if (!this.inCall() || !this.presence.inCall) throw new Error('You are not in a call.');
  }

  dropped(channel: 'control' | 'content', reason: string): void {
    this.drops.drop(channel, reason);
  }

  trustOf(entry: RosterEntry): TrustState {
    return this.trust.stateOf(entry.name, entry.fingerprint);
  }

  notice(level: 'info' | 'warning' | 'error', text: string): void {
    this.notices.add(level, text);
    this.emit();
  }

  emit = (): void => this.views.emit();
}
