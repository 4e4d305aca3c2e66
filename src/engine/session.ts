/**
 * A participant's call session: broker signaling, the mesh of peer links, presence at the
 * coordinator, admission, roster, migration, chat, media lanes and per-pair safety codes.
 * Platform-neutral: everything it touches outside itself comes in through `Platform`.
 */
import { BrokerClient, type BrokerState } from './broker-client';
import { toBase64Url } from './encoding';
import { openGate, type Gate } from './gate';
import { DEFAULT_LINK_BASE, encodeLink, newRoomId, parseLink } from './link';
import { PeerLink, SignalSequencer, type LinkCloseReason, type SignalBody } from './peer-link';
import type { IceServerConfig, MediaTrackLike, Platform } from './platform';
import { allowAllPolicy, type ContentKind, type ContentPolicy } from './policy';
import { SasError, SasExchange } from './sas';
import { deriveRoomKey, openBlob, sealBlob } from './seal';
import { roomSid } from './sid';
import type {
  CallPhase,
  ChatEntry,
  LinkPhase,
  MediaLane,
  MemberView,
  Notice,
  ParticipantKind,
  SasPhase,
  SessionCommand,
  SessionView,
  TrustState,
} from './session-api';
import { MAX_CHAT_LENGTH } from './session-api';
import { cleanName } from './names';
import { TrustStore } from './trust';
import {

  isPeerId,
  parseSignal,
  type ContentMessage,
  type ControlMessage,
  type RosterEntry,
} from './wire';

export interface SessionOptions {
  linkBase?: string;
  gate?: Gate;
  policy?: ContentPolicy;
  participant?: ParticipantKind;
  iceServers?: IceServerConfig[];
}

export interface MediaEvent {
  peerId: string;
  lane: MediaLane;
  /** null: the lane stopped. */
  track: MediaTrackLike | null;
}

export interface SessionStats {
  droppedControl: number;
  droppedContent: number;
  droppedSignals: number;
  fingerprintMismatches: number;
  refusedJoiners: number;
}

const JOIN_TIMEOUT_MS = 20_000;
const MAX_JOIN_RETRIES = 2;
const JOIN_RETRY_DELAY_MS = 250;
const RETRYABLE_JOIN_FAILURES: ReadonlySet<LinkCloseReason> = new Set<LinkCloseReason>(['failed', 'fingerprint-unreadable', 'delivery-failed']);
const HELLO_TIMEOUT_MS = 10_000;
const MAX_UNADMITTED_LINKS = 8;
const MAX_CHAT_HISTORY = 500;
const MAX_NOTICES = 20;
const PENDING_SIGNAL_TTL_MS = 5_000;
const MAX_PENDING_SIGNALS = 64;
const REDIAL_DELAY_MS = 1_000;
const MAX_REDIALS = 5;
const HOLDER_LOOKUP_ATTEMPTS = 4;
/** How long a coordinator whose claim was released may take to answer before it is replaced. */
const COORDINATOR_PROBE_MS = 1_500;

const LINK_CLOSE_TEXT: Record<LinkCloseReason, string> = {
  left: 'the other side closed it',
  'closed-by-us': 'closed here',
  failed: 'the connection failed',
  timeout: 'no answer in time',
  silent: 'the other side went silent',
  'fingerprint-unreadable': 'its certificate could not be read',
  'fingerprint-mismatch': 'its certificate did not match',
  replaced: 'replaced by a newer connection',
  protocol: 'the other side broke the protocol',
  'delivery-failed': 'the broker could not deliver to it',
};

const SAS_FAILURE_TEXT: Partial<Record<string, string>> = {
  'commitment-mismatch': 'their revealed value does not match what they committed to',
  'reveal-before-commit': 'they revealed before committing',
  reflected: 'our own value came back to us',
  duplicate: 'they sent a step twice',
  malformed: 'a step was malformed',
};

interface LinkState {
  link: PeerLink;
  seq: SignalSequencer;
  /** Coordinator side: passed the gate. Joiner side: the coordinator link after welcome. Members: roster-checked. */
  admitted: boolean;
  sas: SasExchange | null;
  sasWords: string[] | null;
  sasPhase: SasPhase;
  pendingSas: ControlMessage[];
  sending: MediaLane[];
  tracks: Map<MediaLane, MediaTrackLike>;
}

interface PendingSignal {
  from: string;
  raw: ReturnType<typeof parseSignal> & { ok: true };
  at: number;
}

export class Session {
  private readonly platform: Platform;
  private readonly options: Required<Pick<SessionOptions, 'linkBase' | 'gate' | 'policy' | 'participant' | 'iceServers'>>;
  private readonly trust: TrustStore;

  private phase: CallPhase = 'idle';
  private reason: string | null = null;
  private roomId: string | null = null;
  private sid: string | null = null;
  private roomKey: CryptoKey | null = null;
  private roomLink: string | null = null;
  private selfId: string | null = null;
  private name = '';
  private broker: BrokerClient | null = null;
  private brokerState: BrokerState = 'closed';
  private coordinatorId: string | null = null;
  private epoch = 0;
  private roster = new Map<string, RosterEntry>();
  private links = new Map<string, LinkState>();
  private retiredLinkIds = new Set<string>();
  private pendingSignals: PendingSignal[] = [];
  private redials = new Map<string, number>();
  private chat: ChatEntry[] = [];
  private chatSeen = new Set<string>();
  private notices: Notice[] = [];
  private localTracks = new Map<MediaLane, MediaTrackLike>();
  private joinTimer: unknown = null;
  private joinRetries = 0;
  private migrating = false;
  private readonly listeners = new Set<(view: SessionView) => void>();
  private readonly mediaListeners = new Set<(event: MediaEvent) => void>();
  private emitScheduled = false;
  private readonly counters: SessionStats = {
    droppedControl: 0,
    droppedContent: 0,
    droppedSignals: 0,
    fingerprintMismatches: 0,
    refusedJoiners: 0,
  };

  constructor(platform: Platform, options: SessionOptions = {}) {
    this.platform = platform;
    this.options = {
      linkBase: options.linkBase ?? DEFAULT_LINK_BASE,
      gate: options.gate ?? openGate,
      policy: options.policy ?? allowAllPolicy,
      participant: options.participant ?? 'human',
      iceServers: options.iceServers ?? [],
    };
    this.trust = new TrustStore(platform.storage);
  }

  // ---------------------------------------------------------------- public surface

  view(): SessionView {
    const self = this.selfId
      ? {
          peerId: this.selfId,
          name: this.name,
          fingerprint: this.platform.peers.localFingerprint,
          isCoordinator: this.coordinatorId === this.selfId,
          sending: [...this.localTracks.keys()],
        }
      : null;
    const members: MemberView[] = [];
    for (const entry of this.roster.values()) {
      if (entry.peerId === this.selfId) continue;
      const state = this.links.get(entry.peerId);
      members.push({
        peerId: entry.peerId,
        name: entry.name,
        kind: entry.kind,
        fingerprint: entry.fingerprint,
        isCoordinator: entry.peerId === this.coordinatorId,
        link: this.linkPhaseOf(entry.peerId, state),
        sas: state?.sasWords ? state.sasWords.join(' ') : null,
        sasPhase: state?.sasPhase ?? 'pending',
        trust: this.trust.stateOf(entry.name, entry.fingerprint),
        sending: state?.sending ?? [],
      });
    }
    return {
      phase: this.phase,
      reason: this.reason,
      roomLink: this.roomLink,
      self,
      members,
      chat: [...this.chat],
      broker: this.brokerState,
      notices: [...this.notices],
    };
  }

  subscribe(listener: (view: SessionView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onMedia(listener: (event: MediaEvent) => void): () => void {
    this.mediaListeners.add(listener);
    return () => this.mediaListeners.delete(listener);
  }

  remoteTracks(): MediaEvent[] {
    const out: MediaEvent[] = [];
    for (const [peerId, state] of this.links) {
      if (!state.admitted) continue;
      for (const lane of state.sending) {
        const track = state.tracks.get(lane);
        if (track) out.push({ peerId, lane, track });
      }
    }
    return out;
  }

  localTrack(lane: MediaLane): MediaTrackLike | null {
    return this.localTracks.get(lane) ?? null;
  }

  stats(): SessionStats {
    return { ...this.counters };
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
        return this.setMedia(command.lane, command.on);
      case 'mark-verified':
        return this.markVerified(command.peerId);
      default:
        throw new Error('Unknown command.');
    }
  }

  // ---------------------------------------------------------------- commands

  private async start(name: string, brokerUrl: string): Promise<void> {
    this.assertIdle();
    const roomId = newRoomId((n) => this.platform.randomBytes(n));
    await this.open(name, roomId, brokerUrl);
    const broker = this.requireBroker();
    const claim = await broker.claim(this.sid!);
    if (!claim.ok) return this.fail('This room is already taken. Start a new call.');
    this.becomeCoordinator();
    this.roomLink = encodeLink({ version: 1, roomId, gate: 'open' }, this.options.linkBase);
    this.setPhase('connected');
  }

  private async join(name: string, linkText: string, brokerUrl: string): Promise<void> {
    this.assertIdle();
    const parsed = parseLink(linkText);
    if (!parsed.ok) throw new Error(parsed.error);
    await this.open(name, parsed.link.roomId, brokerUrl);
    this.roomLink = encodeLink(parsed.link, this.options.linkBase);
    const holder = await this.findHolder();
    if (this.phase !== 'connecting') return;
    if (!holder) return this.fail('Nobody is in this call right now. Check the link, or start a new call.');
    this.coordinatorId = holder;
    this.dial(holder);
    this.joinTimer = this.platform.clock.setTimeout(() => {
      if (this.phase === 'connecting') this.fail('Could not reach the call in time. Check your network and try again.');
    }, JOIN_TIMEOUT_MS);
  }

  private async leave(): Promise<void> {
    if (this.phase === 'idle' || this.phase === 'ended') return;
    for (const state of this.links.values()) state.link.sendControl({ kind: 'bye' });
    if (this.coordinatorId === this.selfId && this.broker && this.sid) {
      await this.broker.release(this.sid).catch(() => undefined);
    }
    this.teardown();
    this.reason = 'You left the call.';
    this.setPhase('ended');
  }

  private async sendChat(text: string): Promise<void> {
    if (this.phase !== 'connected' && this.phase !== 'reconnecting') throw new Error('You are not in a call.');
    if (typeof text !== 'string') throw new Error('Message must be text.');
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new Error('Message is empty.');
    if (trimmed.length > MAX_CHAT_LENGTH) throw new Error(`Message is longer than ${MAX_CHAT_LENGTH} characters.`);
    const msg: ContentMessage = {
      kind: 'chat',
      id: toBase64Url(this.platform.randomBytes(12)),
      text: trimmed,
      at: this.platform.clock.now(),
    };
    const undelivered: string[] = [];
    for (const [peerId, state] of this.links) {
      if (!state.admitted || !this.roster.has(peerId)) continue;
      if (!this.mayReceive(peerId, 'chat')) continue;
      if (!state.link.sendContent(msg)) undelivered.push(this.roster.get(peerId)?.name ?? 'a participant');
    }
    this.chatSeen.add(`${this.selfId}/${msg.id}`);
    this.pushChat({ id: msg.id, fromPeerId: this.selfId!, fromName: this.name, text: msg.text, at: msg.at, self: true });
    if (undelivered.length) this.notice('warning', `Message not delivered to ${undelivered.join(', ')}: their link is not open.`);
    this.emit();
  }

  private async setMedia(lane: 'mic' | 'camera', on: boolean): Promise<void> {
    if (this.phase !== 'connected' && this.phase !== 'reconnecting') throw new Error('You are not in a call.');
    const media = this.platform.media;
    if (!media) throw new Error('This device has no camera or microphone support.');
    const current = this.localTracks.get(lane);
    if (on && current) return;
    if (!on && !current) return;
    if (on) {
      let track: MediaTrackLike;
      try {
        track = lane === 'mic' ? await media.getMicrophone() : await media.getCamera();
      } catch (err) {
        const what = lane === 'mic' ? 'microphone' : 'camera';
        throw new Error(`Could not turn on the ${what}: ${describeMediaError(err)}`);
      }
      this.localTracks.set(lane, track);
    } else {
      this.localTracks.delete(lane);
    }
    await Promise.all([...this.links.entries()].map(([peerId, state]) => this.applyLocalMedia(peerId, state)));
    if (!on && current) media.stop(current);
    this.emit();
  }

  private async markVerified(peerId: string): Promise<void> {
    const entry = this.roster.get(peerId);
    const state = this.links.get(peerId);
    if (!entry || !state) throw new Error('That participant is not in the call.');
    if (state.sasPhase !== 'ready') throw new Error('Compare the safety code first: it is not ready yet.');
    await this.trust.pin(entry.name, entry.fingerprint);
    this.notice('info', `${entry.name} is marked verified on this browser.`);
    this.emit();
  }

  // ---------------------------------------------------------------- call setup

  private assertIdle(): void {
    if (this.phase === 'connecting' || this.phase === 'connected' || this.phase === 'reconnecting') {
      throw new Error('You are already in a call. Leave it first.');
    }
  }

  private async open(rawName: string, roomId: string, brokerUrl: string): Promise<void> {
    const name = cleanName(rawName);
    if (!name) throw new Error('Enter your name (1 to 64 characters).');
    if (!isBrokerUrl(brokerUrl)) throw new Error('The broker URL must start with ws:// or wss://.');
    this.resetCallState();
    this.name = name;
    this.roomId = roomId;
    this.selfId = toBase64Url(this.platform.randomBytes(16));
    await this.trust.load();
    this.setPhase('connecting');
    try {
      this.sid = roomSid(roomId);
      this.roomKey = await deriveRoomKey(roomId);
      const broker = new BrokerClient({
        url: brokerUrl,
        peerId: this.selfId,
        webSocket: this.platform.webSocket,
        clock: this.platform.clock,
        log: this.platform.log,
      });
      this.broker = broker;
      broker.onMessage = (from, blob) => void this.onBrokerMessage(from, blob);
      broker.onReleased = (sid, former) => {
        if (sid === this.sid && former !== this.selfId) void this.onClaimReleased(former);
      };
      broker.onDeliveryError = (to, code) => this.onDeliveryError(to, code);
      broker.onStateChange = (state) => this.onBrokerState(state);
      broker.onReconnected = () => void this.onBrokerReconnected();
      await broker.connect();
      this.brokerState = broker.state;
      await broker.watch(this.sid);
    } catch (err) {
      this.fail(`Could not reach the signaling broker: ${errorText(err)}`);
      throw new Error(this.reason ?? 'Could not reach the signaling broker.');
    }
  }

  private resetCallState(): void {
    this.reason = null;
    this.roster.clear();
    this.links.clear();
    this.retiredLinkIds.clear();
    this.pendingSignals = [];
    this.redials.clear();
    this.chat = [];
    this.chatSeen.clear();
    this.coordinatorId = null;
    this.epoch = 0;
    this.roomLink = null;
    this.joinRetries = 0;
  }

  private async findHolder(): Promise<string | null> {
    const broker = this.requireBroker();
    for (let attempt = 0; attempt < HOLDER_LOOKUP_ATTEMPTS; attempt++) {
      const holder = await broker.holder(this.sid!);
      if (holder && holder !== this.selfId) return holder;
      // The coordinator may be migrating right now; give the race a moment to settle.
      await sleep(this.platform, 400 * (attempt + 1));
    }
    return null;
  }

  private becomeCoordinator(): void {
    this.coordinatorId = this.selfId;
    this.epoch += 1;
    this.roster.set(this.selfId!, {
      peerId: this.selfId!,
      name: this.name,
      kind: this.options.participant,
      fingerprint: this.platform.peers.localFingerprint,
    });
  }

  private teardown(): void {
    if (this.joinTimer !== null) this.platform.clock.clearTimeout(this.joinTimer);
    this.joinTimer = null;
    for (const state of [...this.links.values()]) state.link.close('closed-by-us');
    this.links.clear();
    for (const track of this.localTracks.values()) this.platform.media?.stop(track);
    this.localTracks.clear();
    this.broker?.close();
    this.broker = null;
    this.brokerState = 'closed';
    this.roomKey = null;
  }

  private fail(reason: string): void {
    this.teardown();
    this.reason = reason;
    this.setPhase('failed');
  }

  // ---------------------------------------------------------------- signaling

  private async onBrokerMessage(from: string, blob: string): Promise<void> {
    if (!this.roomKey || !this.sid || !this.selfId || !isPeerId(from) || from === this.selfId) {
      this.counters.droppedSignals++;
      return;
    }
    let plaintext: string;
    try {
      plaintext = await openBlob(this.roomKey, { sid: this.sid, from, to: this.selfId }, blob);
    } catch {
      // Not sealed for this room and this pair: a stranger or a tampering broker.
      this.counters.droppedSignals++;
      return;
    }
    const parsed = parseSignal(plaintext);
    if (!parsed.ok) {
      this.counters.droppedSignals++;
      return;
    }
    this.routeSignal(from, parsed);
  }

  private routeSignal(from: string, parsed: PendingSignal['raw']): void {
    const msg = parsed.msg;
    if (this.retiredLinkIds.has(msg.link)) {
      this.counters.droppedSignals++;
      return;
    }
    const existing = this.links.get(from);
    if (existing && existing.link.linkId === msg.link) {
      if (!existing.seq.accept(msg)) {
        this.counters.droppedSignals++;
        return;
      }
      existing.link.handleSignal(toBody(msg));
      return;
    }
    const isFreshOffer = msg.k === 'desc' && msg.desc.type === 'offer';
    if (!isFreshOffer) {
      this.holdSignal(from, parsed);
      return;
    }
    if (!this.mayAnswer(from)) {
      this.holdSignal(from, parsed);
      return;
    }
    if (existing) {
      // The peer restarted its side of our link: the new attempt replaces the old one.
      this.retiredLinkIds.add(existing.link.linkId);
      existing.link.close('replaced');
    }
    const state = this.createLink(from, 'answerer', msg.link);
    state.seq.accept(msg);
    state.link.handleSignal(toBody(msg));
    this.replayHeldSignals(from);
  }

  /** Offers are answered from roster members, or at the coordinator from joiners (who then face the gate). */
  private mayAnswer(from: string): boolean {
    if (this.phase !== 'connected' && this.phase !== 'reconnecting') return false;
    if (this.roster.has(from)) return true;
    if (this.coordinatorId !== this.selfId) return false;
    let unadmitted = 0;
    for (const s of this.links.values()) if (!s.admitted) unadmitted++;
    return unadmitted < MAX_UNADMITTED_LINKS;
  }

  /** A signal can outrun the roster update that introduces its sender: hold it briefly. */
  private holdSignal(from: string, raw: PendingSignal['raw']): void {
    const now = this.platform.clock.now();
    this.pendingSignals = this.pendingSignals.filter((p) => now - p.at < PENDING_SIGNAL_TTL_MS);
    if (this.pendingSignals.length >= MAX_PENDING_SIGNALS) {
      this.counters.droppedSignals++;
      return;
    }
    this.pendingSignals.push({ from, raw, at: now });
  }

  private replayHeldSignals(from?: string): void {
    const now = this.platform.clock.now();
    const held = this.pendingSignals.filter((p) => now - p.at < PENDING_SIGNAL_TTL_MS);
    this.pendingSignals = [];
    for (const p of held) {
      if (from === undefined || p.from === from) this.routeSignal(p.from, p.raw);
      else this.pendingSignals.push(p);
    }
  }

  private sendSignal(to: string, seq: SignalSequencer, body: SignalBody): void {
    const broker = this.broker;
    const key = this.roomKey;
    if (!broker || !key || !this.sid || !this.selfId) return;
    const plaintext = JSON.stringify(seq.stamp(body));
    const ad = { sid: this.sid, from: this.selfId, to };
    sealBlob(key, ad, plaintext, (n) => this.platform.randomBytes(n)).then(
      (blob) => broker.send(to, blob),
      (err: unknown) => this.platform.log.warn('could not seal signaling', { error: errorText(err) }),
    );
  }

  private onDeliveryError(to: string, code: string): void {
    this.platform.log.warn('signaling not delivered', { peer: to.slice(0, 6), code });
    const state = this.links.get(to);
    if (state && !state.link.ready && state.link.role === 'dialer') {
      // The peer has left the broker before we could reach it.
      state.link.close('delivery-failed');
    }
  }

  // ---------------------------------------------------------------- links

  private dial(peerId: string): void {
    const linkId = toBase64Url(this.platform.randomBytes(16));
    this.createLink(peerId, 'dialer', linkId);
  }

  private createLink(peerId: string, role: 'dialer' | 'answerer', linkId: string): LinkState {
    const seq = new SignalSequencer(linkId);
    let state!: LinkState;
    const link = new PeerLink({
      remotePeerId: peerId,
      role,
      linkId,
      factory: this.platform.peers,
      config: { iceServers: this.options.iceServers },
      clock: this.platform.clock,
      log: this.platform.log,
      sendSignal: (body) => this.sendSignal(peerId, seq, body),
      events: {
        onReady: (fp) => this.onLinkReady(state, fp),
        onPhase: () => this.emit(),
        onControl: (msg) => this.onControl(state, msg),
        onContent: (msg) => this.onContent(state, msg),
        onDrop: (channel) => {
          if (channel === 'control') this.counters.droppedControl++;
          else this.counters.droppedContent++;
        },
        onTrack: (lane, track) => {
          state.tracks.set(lane, track);
          if (state.sending.includes(lane)) this.emitMedia({ peerId, lane, track });
        },
        onClose: (reason) => this.onLinkClosed(state, reason),
      },
    });
    state = {
      link,
      seq,
      admitted: false,
      sas: null,
      sasWords: null,
      sasPhase: 'pending',
      pendingSas: [],
      sending: [],
      tracks: new Map(),
    };
    this.links.set(peerId, state);
    if (role === 'answerer' && !this.roster.has(peerId)) {
      // A joiner must say hello promptly or be dropped before it can tie up a slot.
      this.platform.clock.setTimeout(() => {
        if (!state.admitted && !state.link.closed) state.link.close('timeout');
      }, HELLO_TIMEOUT_MS);
    }
    this.emit();
    return state;
  }

  private onLinkReady(state: LinkState, fingerprint: string): void {
    const peerId = state.link.remotePeerId;
    // Joining: the roster is still empty; the coordinator checks us and answers our hello.
    if (this.phase === 'connecting' && peerId === this.coordinatorId) {
      this.sendHello(state);
      return;
    }
    const entry = this.roster.get(peerId);
    if (!entry) return; // a joiner at the coordinator: it waits for its hello
    if (entry.fingerprint !== fingerprint) this.rejectMismatch(state, entry);
    else this.admit(state);
  }

  private sendHello(state: LinkState): void {
    state.link.sendControl({
      kind: 'hello',
      name: this.name,
      participant: this.options.participant,
      credential: null,
      features: ['sas-v1', 'media-lanes-v1'],
    });
  }

  /** The pair is trusted to exchange content: start the safety code and share media. */
  private admit(state: LinkState): void {
    if (state.admitted) return;
    state.admitted = true;
    this.redials.delete(state.link.remotePeerId);
    this.startSas(state);
    void this.applyLocalMedia(state.link.remotePeerId, state);
    this.emit();
  }

  private rejectMismatch(state: LinkState, entry: RosterEntry): void {
    this.counters.fingerprintMismatches++;
    this.retiredLinkIds.add(state.link.linkId);
    this.notice('error', `Dropped the link to ${entry.name}: its certificate differs from the one the room's coordinator saw. Someone may be intercepting.`);
    state.link.close('fingerprint-mismatch');
  }

  private onLinkClosed(state: LinkState, reason: LinkCloseReason): void {
    const peerId = state.link.remotePeerId;
    this.platform.log.info('link closed', { peer: peerId.slice(0, 6), reason, role: state.link.role });
    if (this.links.get(peerId) !== state) return; // a replaced link
    this.links.delete(peerId);
    this.retiredLinkIds.add(state.link.linkId);
    for (const lane of state.sending) this.emitMedia({ peerId, lane, track: null });
    if (this.phase === 'ended' || this.phase === 'failed' || this.phase === 'idle') return;

    if (this.phase === 'connecting' && peerId === this.coordinatorId) {
      // A first connection can fail in transit (a lost DTLS hello, a coordinator that just
      // changed): dial again a couple of times before giving up.
      if (RETRYABLE_JOIN_FAILURES.has(reason) && this.joinRetries < MAX_JOIN_RETRIES) {
        this.joinRetries++;
        this.platform.log.info('retrying the first connection', { reason, attempt: this.joinRetries });
        this.platform.clock.setTimeout(() => void this.redialCoordinator(), JOIN_RETRY_DELAY_MS * this.joinRetries);
        return;
      }
      this.fail(`Lost the connection to the call before being let in (${LINK_CLOSE_TEXT[reason]}). Try joining again.`);
      return;
    }
    if (this.coordinatorId === this.selfId) {
      if (this.roster.delete(peerId)) this.broadcastRoster();
    } else if (peerId === this.coordinatorId) {
      void this.onCoordinatorGone(peerId);
    } else if (this.roster.has(peerId) && reason !== 'left' && reason !== 'fingerprint-mismatch') {
      this.scheduleRedial(peerId);
    }
    this.emit();
  }

  private async redialCoordinator(): Promise<void> {
    if (this.phase !== 'connecting') return;
    const holder = await this.findHolder().catch(() => null);
    if (this.phase !== 'connecting') return;
    if (!holder) return this.fail('Nobody is in this call right now. Check the link, or start a new call.');
    this.coordinatorId = holder;
    if (!this.links.has(holder)) this.dial(holder);
  }

  private scheduleRedial(peerId: string): void {
    if (!this.shouldDial(peerId)) return;
    const count = (this.redials.get(peerId) ?? 0) + 1;
    if (count > MAX_REDIALS) {
      this.notice('warning', `Could not reconnect to ${this.roster.get(peerId)?.name ?? 'a participant'}.`);
      return;
    }
    this.redials.set(peerId, count);
    this.platform.clock.setTimeout(() => {
      if (this.roster.has(peerId) && !this.links.has(peerId) && this.phase === 'connected') this.dial(peerId);
    }, REDIAL_DELAY_MS * count);
  }

  /** Members dial each other by id: the smaller id dials, so a pair never dials twice. */
  private shouldDial(peerId: string): boolean {
    return this.selfId !== null && this.selfId < peerId;
  }

  private ensureLinks(): void {
    for (const peerId of this.roster.keys()) {
      if (peerId === this.selfId || this.links.has(peerId)) continue;
      if (this.shouldDial(peerId)) this.dial(peerId);
    }
    this.replayHeldSignals();
  }

  // ---------------------------------------------------------------- control messages

  private onControl(state: LinkState, msg: ControlMessage): void {
    const from = state.link.remotePeerId;
    switch (msg.kind) {
      case 'hello':
        void this.onHello(state, msg);
        return;
      case 'welcome':
        this.onWelcome(state, msg);
        return;
      case 'refused':
        if (this.phase === 'connecting' && from === this.coordinatorId) {
          this.fail(`The call did not let you in: ${msg.reason}`);
        } else this.counters.droppedControl++;
        return;
      case 'roster':
        void this.onRoster(state, msg);
        return;
      case 'bye':
        state.link.close('left');
        return;
      case 'sas-commit':
      case 'sas-reveal':
        this.onSasMessage(state, msg);
        return;
      case 'media':
        this.onRemoteMedia(state, msg.sending);
        return;
      default:
        this.counters.droppedControl++;
    }
  }

  private async onHello(state: LinkState, msg: Extract<ControlMessage, { kind: 'hello' }>): Promise<void> {
    const peerId = state.link.remotePeerId;
    if (this.coordinatorId !== this.selfId || state.admitted || this.roster.has(peerId) || !state.link.remoteFingerprint) {
      this.counters.droppedControl++;
      return;
    }
    const decision = await this.options.gate({
      roomId: this.roomId!,
      peerId,
      fingerprint: state.link.remoteFingerprint,
      name: msg.name,
      participant: msg.participant,
      credential: msg.credential,
    }).catch(() => ({ admit: false as const, reason: 'the room could not check your credential' }));
    if (state.link.closed) return;
    if (!decision.admit) {
      this.counters.refusedJoiners++;
      state.link.sendControl({ kind: 'refused', reason: decision.reason });
      this.platform.clock.setTimeout(() => state.link.close('closed-by-us'), 200);
      return;
    }
    this.roster.set(peerId, { peerId, name: msg.name, kind: msg.participant, fingerprint: state.link.remoteFingerprint });
    this.epoch += 1;
    state.link.sendControl({ kind: 'welcome', coordinator: this.selfId!, epoch: this.epoch, members: [...this.roster.values()] });
    this.broadcastRoster(peerId);
    this.admit(state);
  }

  private onWelcome(state: LinkState, msg: Extract<ControlMessage, { kind: 'welcome' }>): void {
    const from = state.link.remotePeerId;
    if (this.phase !== 'connecting' || from !== this.coordinatorId || msg.coordinator !== from) {
      this.counters.droppedControl++;
      return;
    }
    if (!this.rosterConfirmsLink(msg.members, from, state)) return;
    if (this.joinTimer !== null) this.platform.clock.clearTimeout(this.joinTimer);
    this.joinTimer = null;
    this.applyRosterMembers(msg.members, msg.epoch);
    this.setPhase('connected');
    this.admit(state);
    this.ensureLinks();
  }

  /**
   * The roster must list us with our own certificate and the sender with the certificate we
   * handshook with. Otherwise someone sits between us and the coordinator.
   */
  private rosterConfirmsLink(members: RosterEntry[], from: string, state: LinkState): boolean {
    const me = members.find((m) => m.peerId === this.selfId);
    const them = members.find((m) => m.peerId === from);
    if (!me || !them) {
      this.counters.droppedControl++;
      if (this.phase === 'connecting') this.fail('The call sent a roster without us in it.');
      return false;
    }
    if (me.fingerprint !== this.platform.peers.localFingerprint || them.fingerprint !== state.link.remoteFingerprint) {
      this.counters.fingerprintMismatches++;
      const text = 'The coordinator saw a different certificate than ours: the connection is being intercepted.';
      if (this.phase === 'connecting') this.fail(text);
      else {
        this.notice('error', text);
        state.link.close('fingerprint-mismatch');
      }
      return false;
    }
    return true;
  }

  private async onRoster(state: LinkState, msg: Extract<ControlMessage, { kind: 'roster' }>): Promise<void> {
    const from = state.link.remotePeerId;
    if (this.phase !== 'connected' && this.phase !== 'reconnecting') return;
    if (msg.coordinator !== from || from === this.selfId || !state.admitted) {
      this.counters.droppedControl++;
      return;
    }
    if (from !== this.coordinatorId) {
      // A new coordinator: believe it only if the broker says it holds the room's claim.
      const holder = await this.broker?.holder(this.sid!).catch(() => null);
      if (holder !== from) {
        this.counters.droppedControl++;
        return;
      }
      this.coordinatorId = from;
    } else if (msg.epoch <= this.epoch) {
      return;
    }
    if (!this.rosterConfirmsLink(msg.members, from, state)) return;
    this.applyRosterMembers(msg.members, msg.epoch);
    this.ensureLinks();
    this.emit();
  }

  private applyRosterMembers(members: RosterEntry[], epoch: number): void {
    this.epoch = epoch;
    const next = new Map(members.map((m) => [m.peerId, m]));
    for (const [peerId, state] of [...this.links]) {
      const entry = next.get(peerId);
      if (!entry) {
        state.link.sendControl({ kind: 'bye' });
        state.link.close('closed-by-us');
      } else if (state.link.remoteFingerprint && state.link.remoteFingerprint !== entry.fingerprint) {
        this.rejectMismatch(state, entry);
      } else if (state.link.remoteFingerprint && !state.admitted) {
        this.admit(state);
      }
    }
    this.roster = next;
    for (const m of members) {
      if (m.peerId !== this.selfId && this.trust.stateOf(m.name, m.fingerprint) === 'key-changed') {
        this.notice('error', `Key change: ${m.name} shows a different certificate than the one you verified. Compare the safety code again.`);
      }
    }
  }

  private broadcastRoster(except?: string): void {
    if (this.coordinatorId !== this.selfId) return;
    const msg: ControlMessage = { kind: 'roster', coordinator: this.selfId!, epoch: ++this.epoch, members: [...this.roster.values()] };
    for (const [peerId, state] of this.links) {
      if (peerId === except || !state.admitted || !this.roster.has(peerId)) continue;
      state.link.sendControl(msg);
    }
    this.emit();
  }

  // ---------------------------------------------------------------- migration

  /**
   * The broker says the room's claim was released. That happens when the coordinator leaves or
   * crashes, but also when only its broker connection dropped: ask the coordinator itself
   * before replacing it.
   */
  private async onClaimReleased(former: string | null): Promise<void> {
    const coordinator = this.coordinatorId;
    if (!coordinator || coordinator === this.selfId || (former !== null && former !== coordinator)) return;
    const state = this.links.get(coordinator);
    if (state && (await state.link.probe(COORDINATOR_PROBE_MS))) return; // alive; it re-claims when its broker is back
    await this.onCoordinatorGone(coordinator);
  }

  private async onCoordinatorGone(former: string | null): Promise<void> {
    if (this.migrating || this.phase !== 'connected' || this.coordinatorId === this.selfId) return;
    if (former !== null && former !== this.coordinatorId) return;
    this.migrating = true;
    try {
      const gone = this.coordinatorId;
      if (gone) {
        this.roster.delete(gone);
        const state = this.links.get(gone);
        if (state) state.link.close('left');
      }
      const broker = this.broker;
      if (!broker || !this.sid) return;
      const claim = await broker.claim(this.sid).catch(() => ({ ok: false, holder: null }));
      if (this.phase !== 'connected') return;
      if (claim.ok) {
        this.coordinatorId = this.selfId;
        this.broadcastRoster();
        this.notice('info', 'You now coordinate this call.');
      } else if (claim.holder && claim.holder !== gone) {
        // Another member won the race; its roster will arrive over our existing link.
        this.coordinatorId = claim.holder;
      } else {
        this.coordinatorId = null;
      }
      this.emit();
    } finally {
      this.migrating = false;
    }
  }

  /**
   * Without the broker, links already up keep working but nobody new can join and a lost
   * coordinator cannot be replaced: the call shows "reconnecting" until the broker is back.
   */
  private onBrokerState(state: BrokerState): void {
    this.brokerState = state;
    if (state === 'reconnecting' && this.phase === 'connected') this.setPhase('reconnecting');
    else if (state === 'open' && this.phase === 'reconnecting') this.setPhase('connected');
    else this.emit();
  }

  private async onBrokerReconnected(): Promise<void> {
    if (this.coordinatorId !== this.selfId || !this.broker || !this.sid) return;
    const claim = await this.broker.claim(this.sid).catch(() => ({ ok: false, holder: null }));
    if (!claim.ok && claim.holder) {
      // Someone else took over while we were away; follow them.
      this.coordinatorId = claim.holder;
      this.notice('warning', 'Another participant took over coordinating while you were disconnected.');
      this.emit();
    }
  }

  // ---------------------------------------------------------------- safety code

  private startSas(state: LinkState): void {
    if (state.sas || !state.link.remoteFingerprint) return;
    try {
      state.sas = new SasExchange({
        localFingerprint: this.platform.peers.localFingerprint,
        remoteFingerprint: state.link.remoteFingerprint,
        randomBytes: (n) => this.platform.randomBytes(n),
      });
    } catch (err) {
      // Our own certificate reflected back, or an unreadable one: there is no pair to verify.
      this.sasFailed(state, err);
      return;
    }
    state.link.sendControl({ kind: 'sas-commit', commit: state.sas.commit() });
    for (const msg of state.pendingSas.splice(0)) this.onSasMessage(state, msg);
  }

  private onSasMessage(state: LinkState, msg: ControlMessage): void {
    if (!state.sas) {
      if (state.pendingSas.length < 4) state.pendingSas.push(msg);
      else this.counters.droppedControl++;
      return;
    }
    try {
      if (msg.kind === 'sas-commit') {
        state.sas.receiveCommit(msg.commit);
        const nonce = state.sas.reveal();
        if (nonce) state.link.sendControl({ kind: 'sas-reveal', nonce });
      } else if (msg.kind === 'sas-reveal') {
        state.sasWords = state.sas.receiveReveal(msg.nonce);
        state.sasPhase = 'ready';
      }
    } catch (err) {
      this.sasFailed(state, err);
    }
    this.emit();
  }

  private sasFailed(state: LinkState, err: unknown): void {
    state.sasPhase = 'failed';
    state.sasWords = null;
    const name = this.roster.get(state.link.remotePeerId)?.name ?? 'a participant';
    const detail = err instanceof SasError ? SAS_FAILURE_TEXT[err.code] ?? err.message : 'unexpected error';
    this.notice('error', `The safety code with ${name} failed: ${detail}. Do not trust this link.`);
  }

  // ---------------------------------------------------------------- content and media

  private onContent(state: LinkState, msg: ContentMessage): void {
    const peerId = state.link.remotePeerId;
    const entry = this.roster.get(peerId);
    if (!state.admitted || !entry || !this.maySend(peerId, 'chat')) {
      this.counters.droppedContent++;
      return;
    }
    const key = `${peerId}/${msg.id}`;
    if (this.chatSeen.has(key)) return;
    this.chatSeen.add(key);
    this.pushChat({ id: msg.id, fromPeerId: peerId, fromName: entry.name, text: msg.text, at: msg.at, self: false });
    this.emit();
  }

  private pushChat(entry: ChatEntry): void {
    this.chat.push(entry);
    if (this.chat.length > MAX_CHAT_HISTORY) this.chat.splice(0, this.chat.length - MAX_CHAT_HISTORY);
  }

  private onRemoteMedia(state: LinkState, sending: MediaLane[]): void {
    const peerId = state.link.remotePeerId;
    if (!state.admitted) {
      this.counters.droppedControl++;
      return;
    }
    const allowed = sending.filter((lane) => this.maySend(peerId, `media:${lane}`));
    const before = new Set(state.sending);
    state.sending = allowed;
    for (const lane of allowed) {
      const track = state.tracks.get(lane);
      if (!before.has(lane) && track) this.emitMedia({ peerId, lane, track });
    }
    for (const lane of before) if (!allowed.includes(lane)) this.emitMedia({ peerId, lane, track: null });
    this.emit();
  }

  /** Put our current tracks on one pair's lanes, withholding whatever that peer may not receive. */
  private async applyLocalMedia(peerId: string, state: LinkState): Promise<void> {
    if (!state.admitted || state.link.closed) return;
    const sending: MediaLane[] = [];
    for (const lane of ['mic', 'camera'] as const) {
      const track = this.localTracks.get(lane) ?? null;
      const allowed = track !== null && this.mayReceive(peerId, `media:${lane}`);
      if (allowed) sending.push(lane);
      if (!this.platform.peers.supportsMedia) continue;
      try {
        await state.link.setTrack(lane, allowed ? track : null);
      } catch (err) {
        this.platform.log.warn('could not set media lane', { lane, error: errorText(err) });
      }
    }
    state.link.sendControl({ kind: 'media', sending });
  }

  private mayReceive(peerId: string, kind: ContentKind): boolean {
    const entry = this.roster.get(peerId);
    return !!entry && this.options.policy.mayReceive({ peerId, fingerprint: entry.fingerprint }, kind);
  }

  private maySend(peerId: string, kind: ContentKind): boolean {
    const entry = this.roster.get(peerId);
    return !!entry && this.options.policy.maySend({ peerId, fingerprint: entry.fingerprint }, kind);
  }

  // ---------------------------------------------------------------- view plumbing

  private linkPhaseOf(peerId: string, state: LinkState | undefined): LinkPhase {
    if (!state) return this.redials.has(peerId) ? 'reconnecting' : 'connecting';
    if (!state.admitted) return 'connecting';
    return state.link.phase;
  }

  private requireBroker(): BrokerClient {
    if (!this.broker) throw new Error('Not connected to the broker.');
    return this.broker;
  }

  private setPhase(phase: CallPhase): void {
    this.phase = phase;
    this.emit();
  }

  private notice(level: Notice['level'], text: string): void {
    this.notices.push({ id: toBase64Url(this.platform.randomBytes(9)), level, text, at: this.platform.clock.now() });
    if (this.notices.length > MAX_NOTICES) this.notices.splice(0, this.notices.length - MAX_NOTICES);
    this.emit();
  }

  private emit(): void {
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

  private emitMedia(event: MediaEvent): void {
    for (const l of this.mediaListeners) {
      try {
        l(event);
      } catch (err) {
        this.platform.log.warn('media listener failed', { error: errorText(err) });
      }
    }
  }
}

function toBody(msg: PendingSignal['raw']['msg']): SignalBody {
  return msg.k === 'desc' ? { k: 'desc', desc: msg.desc } : { k: 'cand', cand: msg.cand };
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

function describeMediaError(err: unknown): string {
  const name = (err as { name?: string } | null)?.name;
  if (name === 'NotAllowedError') return 'permission was denied. Open the stage and choose "Allow camera and microphone".';
  if (name === 'NotFoundError') return 'no such device was found.';
  if (name === 'NotReadableError') return 'the device is in use by another program.';
  return errorText(err);
}

function sleep(platform: Platform, ms: number): Promise<void> {
  return new Promise((resolve) => platform.clock.setTimeout(resolve, ms));
}

export type { TrustState };
