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
import { BrokerClient, type BrokerState } from './broker-client';
import { newPeerToken } from './broker-protocol';
import { CallMedia, type MediaEvent } from './call-media';
import { defaultGrants, type GrantPolicy, type GrantSubject } from './capabilities';
import { ChatStore } from './chat-store';
import { ContentRouter } from './content-router';
import { DropCounter, type DropStats } from './drops';
import { toBase64Url } from './encoding';
import { openGate, type Gate } from './gate';
import { DEFAULT_LINK_BASE, encodeLink, newRoomId, parseLink, type RoomLink } from './link';
import { Mesh } from './mesh';
import { cleanName } from './names';
import { NoticeList } from './notices';
import type { Pair } from './pair';
import type { LinkCloseReason } from './peer-link';
import type { IceServerConfig, MediaTrackLike, Platform } from './platform';
import { PresenceDriver, type PresenceHost } from './presence-driver';
import { PairPipeline, type PipelineHost } from './pipeline';
import { Roster } from './roster';
import type { ParticipantKind, SessionCommand, SessionView, TrustState } from './session-api';
import { MAX_CHAT_LENGTH } from './session-api';
import { buildSessionView } from './session-view';
import { deriveRoomKey } from './seal';
import { roomSid } from './sid';
import { SealedSignaling } from './signaling';
import { TrustStore } from './trust';
import { verifierFor, type Verifier } from './verifier';
import type { ContentMessage, ControlMessage, RosterEntry } from './wire';

export type { MediaEvent };

export interface SessionOptions {
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

export interface SessionStats {
  droppedSignals: number;
  droppedControl: number;
  droppedContent: number;
  /** Every drop by channel and reason, so a test asserts the reason it expects. */
  dropReasons: DropStats['reasons'];
  fingerprintMismatches: number;
  refusedJoiners: number;
}

const MAX_UNADMITTED_LINKS = 8;

export class Session implements PresenceHost, PipelineHost {
  readonly platform: Platform;
  private readonly opts: Required<Omit<SessionOptions, 'iceTransportPolicy' | 'maxMembers'>> & Pick<SessionOptions, 'iceTransportPolicy'>;
  private readonly trust: TrustStore;
  private readonly drops = new DropCounter();
  readonly counts = { fingerprintMismatches: 0, refusedJoiners: 0 };
  readonly chat: ChatStore;
  readonly notices: NoticeList;
  readonly roster: Roster;
  readonly router: ContentRouter;
  readonly media: CallMedia;
  readonly presence: PresenceDriver;
  private readonly pipeline: PairPipeline;
  private readonly listeners = new Set<(view: SessionView) => void>();
  private emitScheduled = false;

  // One call's state; replaced whole on the next start or join.
  selfId: string | null = null;
  sid: string | null = null;
  name = '';
  broker: BrokerClient | null = null;
  mesh: Mesh | null = null;
  private signaling: SealedSignaling | null = null;
  verifier: Verifier | null = null;
  roomId: string | null = null;
  private roomLink: string | null = null;
  private brokerState: BrokerState = 'closed';
  private ended: { phase: 'failed' | 'ended'; reason: string } | null = null;

  constructor(platform: Platform, options: SessionOptions = {}) {
    this.platform = platform;
    this.opts = {
      linkBase: options.linkBase ?? DEFAULT_LINK_BASE,
      gate: options.gate ?? openGate,
      grants: options.grants ?? defaultGrants,
      participant: options.participant ?? 'human',
      iceServers: options.iceServers ?? [],
      iceTransportPolicy: options.iceTransportPolicy,
    };
    this.roster = new Roster(options.maxMembers);
    this.trust = new TrustStore(platform.storage);
    const now = () => platform.clock.now();
    this.chat = new ChatStore({ now });
    this.notices = new NoticeList({ now, newId: () => toBase64Url(platform.randomBytes(9)) });
    this.router = new ContentRouter(this.opts.grants, platform.clock);
    this.media = new CallMedia(platform, this.router, (peerId) => this.subjectOf(peerId));
    this.presence = new PresenceDriver(this);
    this.pipeline = new PairPipeline(this);
  }

  // ---------------------------------------------------------------- public surface

  view(): SessionView {
    return buildSessionView({
      phase: this.ended?.phase ?? this.presence.callPhase(this.brokerState),
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

  subscribe(listener: (view: SessionView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

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
    const d = this.drops.stats();
    return { droppedSignals: d.total.signal, droppedControl: d.total.control, droppedContent: d.total.content, dropReasons: d.reasons, ...this.counts };
  }

  async dispatch(command: SessionCommand): Promise<void> {
    switch (command.op) {
      case 'start':
        return this.start(command.name, command.brokerUrl);
      case 'join':
        return this.join(command.name, command.link, command.brokerUrl);
      case 'leave':
        return this.leave();
      case 'chat':
        return this.sendChat(command.text);
      case 'set-media':
        this.assertInCall();
        return this.media.set(command.lane, command.on, this.admittedPairs()).then(() => this.emit());
      case 'mark-verified':
        return this.markVerified(command.peerId);
      default:
        throw new Error('Unknown command.');
    }
  }

  // ---------------------------------------------------------------- commands

  private async start(name: string, brokerUrl: string): Promise<void> {
    const roomId = newRoomId((n) => this.platform.randomBytes(n));
    const link: RoomLink = { version: 1, roomId, gate: 'open' };
    await this.open(name, link, brokerUrl);
    this.roster.admit({ peerId: this.selfId!, name: this.name, kind: this.opts.participant, fingerprint: this.platform.peers.localFingerprint });
    await this.presence.startAsHost();
  }

  private async join(name: string, linkText: string, brokerUrl: string): Promise<void> {
    const parsed = parseLink(linkText);
    if (!parsed.ok) throw new Error(parsed.error);
    await this.open(name, parsed.link, brokerUrl);
    await this.presence.joinRoom();
  }

  private async leave(): Promise<void> {
    if (!this.inCall()) return;
    for (const pair of this.mesh?.all() ?? []) pair.link.sendControl({ kind: 'bye' });
    await this.presence.leave();
    this.finish('ended', 'You left the call.');
  }

  private async sendChat(text: string): Promise<void> {
    this.assertInCall();
    if (typeof text !== 'string') throw new Error('Message must be text.');
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new Error('Message is empty.');
    if (trimmed.length > MAX_CHAT_LENGTH) throw new Error(`Message is longer than ${MAX_CHAT_LENGTH} characters.`);
    const msg: ContentMessage = { kind: 'chat', id: toBase64Url(this.platform.randomBytes(12)), text: trimmed, at: this.platform.clock.now() };
    // Every roster member, not only those with a link: one without an open link is named, never skipped.
    const undelivered: string[] = [];
    for (const entry of this.roster.values()) {
      const subject = entry.peerId === this.selfId ? null : this.subjectOf(entry.peerId);
      const pair = this.mesh?.get(entry.peerId);
      if (!subject) continue;
      const sent = pair?.admitted ? this.router.deliver(subject, pair.link, msg) : 'unsent';
      if (sent === 'unsent') undelivered.push(entry.name);
    }
    this.chat.add({ ...msg, fromPeerId: this.selfId!, fromName: this.name, self: true, undeliveredTo: undelivered });
    if (undelivered.length) this.notice('warning', `Message not delivered to ${undelivered.join(', ')}: no open link to them yet.`);
    this.emit();
  }

  private async markVerified(peerId: string): Promise<void> {
    const entry = this.roster.get(peerId);
    const pair = this.mesh?.get(peerId);
    if (!entry || !pair || peerId === this.selfId) throw new Error('That participant is not in the call.');
    if (pair.sas.phase !== 'ready') throw new Error('Compare the safety code first: it is not ready yet.');
    await this.trust.pin(entry.name, entry.fingerprint);
    this.notice('info', `${entry.name} is marked verified on this browser.`);
  }

  // ---------------------------------------------------------------- call setup

  private async open(rawName: string, link: RoomLink, brokerUrl: string): Promise<void> {
    if (this.inCall()) throw new Error('You are already in a call. Leave it first.');
    const name = cleanName(rawName);
    if (!name) throw new Error('Enter your name (1 to 64 characters, no invisible or mixed-alphabet characters).');
    if (!isBrokerUrl(brokerUrl)) throw new Error('The broker URL must start with ws:// or wss://.');
    this.resetCall();
    this.name = name;
    this.roomId = link.roomId;
    this.roomLink = encodeLink(link, this.opts.linkBase);
    this.verifier = verifierFor(link);
    this.sid = roomSid(link.roomId);
    await this.trust.load();
    const broker = new BrokerClient({
      url: brokerUrl,
      token: newPeerToken((n) => this.platform.randomBytes(n)),
      webSocket: this.platform.webSocket,
      clock: this.platform.clock,
      log: this.platform.log,
    });
    this.selfId = broker.peerId;
    this.broker = broker;
    this.presence.begin(this.selfId);
    this.emit();
    try {
      const key = await deriveRoomKey(link.roomId);
      this.signaling = new SealedSignaling({
        sid: this.sid,
        selfId: this.selfId,
        key,
        send: (to, blob) => broker.send(to, blob),
        randomBytes: (n) => this.platform.randomBytes(n),
        log: this.platform.log,
        drops: this.drops,
      });
      this.mesh = this.makeMesh();
      broker.onMessage = (from, blob) => void this.onBrokerMessage(from, blob);
      broker.onReleased = (sid, former) => {
        if (sid === this.sid) this.presence.event({ type: 'claim-released', former });
      };
      broker.onDeliveryError = (to, code) => this.onDeliveryError(to, code);
      broker.onStateChange = (state) => {
        this.brokerState = state;
        if (state === 'reconnecting') this.presence.event({ type: 'broker-down' });
        this.emit();
      };
      broker.onReconnected = () => this.presence.event({ type: 'broker-up' });
      await broker.connect();
      this.brokerState = broker.state;
      await broker.watch(this.sid);
    } catch (err) {
      const reason = `Could not reach the signaling broker: ${errorText(err)}`;
      this.finish('failed', reason);
      throw new Error(reason);
    }
  }

  private makeMesh(): Mesh {
    return new Mesh({
      factory: this.platform.peers,
      config: () => ({ iceServers: this.opts.iceServers, ...(this.opts.iceTransportPolicy ? { iceTransportPolicy: this.opts.iceTransportPolicy } : {}) }),
      clock: this.platform.clock,
      log: this.platform.log,
      randomBytes: (n) => this.platform.randomBytes(n),
      sendSignal: (to, seq, body) => this.signaling?.send(to, seq, body),
      mayAnswer: (from) => this.mayAnswer(from),
      events: {
        onReady: (pair, candidate) => this.pipeline.ready(pair, candidate),
        onControl: (pair, msg) => this.onControl(pair, msg),
        onContent: (pair, msg) => this.onContent(pair, msg),
        onTrack: (pair, lane, track) => this.media.remoteTrack(pair, lane, track),
        onClosed: (pair, reason) => this.onPairClosed(pair, reason),
        onPhase: () => this.emit(),
        onDrop: (channel, reason) => this.drops.drop(channel, reason),
      },
    });
  }

  private resetCall(): void {
    this.ended = null;
    this.roster.clear();
    this.chat.clear();
    this.notices.clear();
  }

  /** Ends the call here: closes every link and the broker, keeps the reason for the view. */
  finish(phase: 'failed' | 'ended', reason: string): void {
    this.presence.stop();
    this.mesh?.closeAll();
    this.mesh = null;
    this.media.stopAll();
    this.broker?.close();
    this.broker = null;
    this.brokerState = 'closed';
    this.signaling = null;
    this.ended = { phase, reason };
    this.emit();
  }

  // ---------------------------------------------------------------- signaling

  private async onBrokerMessage(from: string, blob: string): Promise<void> {
    const msg = await this.signaling?.open(from, blob);
    if (msg && this.mesh) this.mesh.route(from, msg);
  }

  /** Offers are answered from roster members, or at the coordinator from joiners (who then face the gate). */
  private mayAnswer(from: string): boolean {
    if (!this.presence.inCall || !this.mesh) return false;
    if (this.roster.has(from)) return true;
    if (!this.presence.isCoordinator) return false;
    const pending = (p: Pair) => !p.admitted && !this.roster.has(p.peerId);
    if (this.mesh.all().filter(pending).length < MAX_UNADMITTED_LINKS) return true;
    // Full of joiners: a slot held by one that has not even finished its handshake is freed.
    return this.mesh.evictOldestUnhandshaken(pending);
  }

  private onDeliveryError(to: string, code: string): void {
    this.platform.log.warn('signaling not delivered', { peer: to.slice(0, 6), code });
    const pair = this.mesh?.get(to);
    if (pair && !pair.link.ready && pair.link.role === 'dialer') pair.link.close('delivery-failed');
  }

  private onPairClosed(pair: Pair, reason: LinkCloseReason): void {
    this.platform.log.info('link closed', { peer: pair.peerId.slice(0, 6), reason, role: pair.link.role });
    this.media.pairGone(pair);
    this.router.forget(pair.peerId);
    if (this.presence.inCall) this.presence.linkLost(pair.peerId, reason, this.roster.has(pair.peerId));
    this.emit();
  }

  // ---------------------------------------------------------------- control and content

  private onControl(pair: Pair, msg: ControlMessage): void {
    switch (msg.kind) {
      case 'hello':
        return void this.pipeline.hello(pair, msg);
      case 'welcome':
        return this.pipeline.welcome(pair, msg);
      case 'refused':
        if (this.presence.isJoiningVia(pair.peerId)) return this.finish('failed', `The call did not let you in: ${msg.reason}`);
        return this.drops.drop('control', 'unexpected-refused');
      case 'roster':
        if (!pair.admitted || msg.coordinator !== pair.peerId) return this.drops.drop('control', 'roster-not-from-coordinator');
        if (!this.pipeline.rosterConfirms(pair, msg.members)) return;
        return this.presence.event({ type: 'roster', from: pair.peerId, epoch: msg.epoch }, msg.members);
      case 'bye':
        return pair.link.close('left');
      case 'sas-commit':
      case 'sas-reveal':
        return this.pipeline.sasStep(pair, pair.sas.receive(msg));
      case 'media':
        if (!pair.admitted) return this.drops.drop('control', 'not-admitted');
        this.media.remoteSending(pair, msg.sending);
        return this.emit();
      default:
        return this.drops.drop('control', 'unexpected-kind');
    }
  }

  private onContent(pair: Pair, msg: ContentMessage): void {
    const subject = this.subjectOf(pair.peerId);
    if (!pair.admitted || !subject) return this.drops.drop('content', 'not-admitted');
    const verdict = this.router.inbound(subject, msg);
    if (!verdict.accept) return this.drops.drop('content', verdict.reason);
    const entry = this.roster.get(pair.peerId)!;
    const added = this.chat.add({ ...msg, fromPeerId: pair.peerId, fromName: entry.name, self: false });
    if (!added.ok) return this.drops.drop('content', added.reason);
    this.emit();
  }

  // ---------------------------------------------------------------- helpers

  private subjectOf(peerId: string): GrantSubject | null {
    const entry = this.roster.get(peerId);
    return entry ? { peerId, fingerprint: entry.fingerprint, kind: entry.kind } : null;
  }

  private admittedPairs(): Pair[] {
    return (this.mesh?.all() ?? []).filter((p) => p.admitted);
  }

  private inCall(): boolean {
    return this.ended === null && this.selfId !== null && this.broker !== null;
  }

  private assertInCall(): void {
    if (!this.inCall() || !this.presence.inCall) throw new Error('You are not in a call.');
  }

  drop(reason: string): void {
    this.drops.drop('control', reason);
  }

  dropped(channel: 'control' | 'content', reason: string): void {
    this.drops.drop(channel, reason);
  }

  get gate(): Gate {
    return this.opts.gate;
  }

  get participant(): ParticipantKind {
    return this.opts.participant;
  }

  trustOf(entry: RosterEntry): TrustState {
    return this.trust.stateOf(entry.name, entry.fingerprint);
  }

  applyRoster(members: readonly RosterEntry[]): void {
    this.pipeline.applyRoster(members);
  }

  ensureLinks(): void {
    this.pipeline.ensureLinks();
  }

  notice(level: 'info' | 'warning' | 'error', text: string): void {
    this.notices.add(level, text);
    this.emit();
  }

  emit(): void {
    if (this.emitScheduled) return;
    this.emitScheduled = true;
    queueMicrotask(() => {
      this.emitScheduled = false;
      const view = this.view();
      for (const l of this.listeners) {
        try {
          l(view);
        } catch (err) {
          this.platform.log.warn('view listener failed', { error: errorText(err) });
        }
      }
    });
  }
}

function isBrokerUrl(url: unknown): url is string {
  if (typeof url !== 'string' || url.length > 2048) return false;
  try {
    const u = new URL(url);
    return u.protocol === 'ws:' || u.protocol === 'wss:';
  } catch {
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
