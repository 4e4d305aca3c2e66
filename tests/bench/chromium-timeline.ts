/**
 * Where a Chromium join's time goes (issue 10): the bench wraps the offscreen document's own
 * `WebSocket` and `RTCPeerConnection` (the engine looks both up on `globalThis` when it
 * connects and dials), so the marks come from the real broker socket and the real peer
 * connection, with no hook in the product. Each mark is the first time a thing happened since
 * the last reset, on the browser's absolute clock (`performance.timeOrigin + performance.now()`),
 * so the popup's click and the offscreen document's marks share one time line.
 */
import type { Profile } from '../../scripts/lib/browser';

/** First time (absolute ms) of each event since the last reset, e.g. `ws>register`, `pc:connected`. */
export type Marks = Record<string, number>;

/**
 * Installs the wrappers once per offscreen document (idempotent) and clears the marks.
 * Plain JavaScript in a string, like the popup's observer script.
 */
const INSTALL = `(() => {
  const g = globalThis;
  const now = () => performance.timeOrigin + performance.now();
  g.__kibitzMarks = {};
  const mark = (name) => { if (!(name in g.__kibitzMarks)) g.__kibitzMarks[name] = now(); };
  if (g.__kibitzTimelineInstalled) return 'reset';
  g.__kibitzTimelineInstalled = true;
  const tagOf = (data) => { try { return typeof data === 'string' ? String(JSON.parse(data).t) : 'binary'; } catch { return 'unparsed'; } };
  const NativeWebSocket = g.WebSocket;
  g.WebSocket = class extends NativeWebSocket {
    constructor(url, protocols) {
      mark('ws:new');
      super(url, protocols);
      this.addEventListener('open', () => mark('ws:open'));
      this.addEventListener('message', (e) => mark('ws<' + tagOf(e.data)));
    }
    send(data) { mark('ws>' + tagOf(data)); return super.send(data); }
  };
  const watchChannel = (ch) => {
    ch.addEventListener('open', () => mark('dc:open:' + ch.label));
    ch.addEventListener('message', () => mark('dc<' + ch.label));
    const send = ch.send.bind(ch);
    ch.send = (data) => { mark('dc>' + ch.label); return send(data); };
    return ch;
  };
  const NativePc = g.RTCPeerConnection;
  g.RTCPeerConnection = class extends NativePc {
    constructor(config) {
      mark('pc:new');
      super(config);
      this.addEventListener('connectionstatechange', () => mark('pc:' + this.connectionState));
      this.addEventListener('iceconnectionstatechange', () => mark('ice:' + this.iceConnectionState));
      this.addEventListener('icecandidate', (e) => mark(e.candidate ? 'ice:candidate' : 'ice:gathered'));
      this.addEventListener('negotiationneeded', () => mark('pc:negotiationneeded'));
      this.addEventListener('datachannel', (e) => watchChannel(e.channel));
    }
    async setLocalDescription(d) { mark('pc:local-in'); await super.setLocalDescription(d); mark('pc:local-' + (this.localDescription?.type ?? '?')); }
    async setRemoteDescription(d) { mark('pc:remote-' + (d?.type ?? '?') + '-in'); await super.setRemoteDescription(d); mark('pc:remote-' + (d?.type ?? '?')); }
    createDataChannel(label, init) { return watchChannel(super.createDataChannel(label, init)); }
  };
  return 'installed';
})()`;

export async function resetTimeline(profile: Profile): Promise<void> {
  await profile.evaluateInOffscreen(INSTALL);
}

export async function readTimeline(profile: Profile): Promise<Marks> {
  const marks = await profile.evaluateInOffscreen('globalThis.__kibitzMarks ?? {}');
  if (typeof marks !== 'object' || marks === null) throw new Error('the offscreen document has no join time line');
  return marks as Marks;
}

/** The phases of one timed join, in ms; each is null when a mark it needs is missing. */
export interface JoinPhases {
  /** Click in the popup → the engine's first step (peer connection, socket or watch): popup → offscreen messaging. */
  toEngineMs: number | null;
  /** Socket opened → the broker's `registered` (TCP, WebSocket upgrade, hello, register); 0 when a standby socket was ready before the click. */
  brokerMs: number | null;
  /** `registered` → the sealed offer sent (watch, holder lookup, sealing; the offer is made meanwhile). */
  lookupMs: number | null;
  /** Peer connection created → its local offer applied; prepared while the broker connects, so off the critical path unless it ends after `registered`. */
  offerMs: number | null;
  /** Offer sent → the holder's socket receives it (broker relay). */
  relayMs: number | null;
  /** The holder: offer received → sealed answer sent (unseal, accept, answer, seal). */
  holderMs: number | null;
  /** Answer sent by the holder → the joiner's socket receives it (broker relay back). */
  answerBackMs: number | null;
  /** Answer received → applied (unseal, setRemoteDescription). */
  answerApplyMs: number | null;
  /** Answer applied → the peer connection connected (ICE checks, DTLS). */
  transportMs: number | null;
  /** Connected → the control data channel open (SCTP). */
  sctpMs: number | null;
  /** Data channel open → the first control message from the holder (hello → welcome). */
  welcomeMs: number | null;
  /** Welcome → the popup shows "Connected" (roster, view, popup messaging, rendering). */
  uiMs: number | null;
  /** Click → the control data channel open: the definition the baselines are timed on. */
  dataChannelMs: number | null;
}

function span(from: number | undefined | null, to: number | undefined | null): number | null {
  return typeof from === 'number' && typeof to === 'number' && to >= from ? to - from : null;
}

/**
 * Splits B's join: `click` and `rostered` are absolute times from the popup; `joiner` and
 * `holder` the offscreen marks of B and of A (the room's holder, who answers).
 */
export function joinPhases(click: number, rostered: number, joiner: Marks, holder: Marks): JoinPhases {
  const offerSent = joiner['ws>send'];
  const welcome = joiner['dc<control'];
  // The engine's first step of this join after the click: its peer connection, its broker
  // socket, or its watch (a standby socket and a spare offer were made before the click).
  const after = (k: string) => (joiner[k] !== undefined && joiner[k]! >= click ? joiner[k]! : Number.POSITIVE_INFINITY);
  const firstStep = Math.min(...['pc:new', 'ws:new', 'ws>watch'].map(after));
  const standby = joiner['ws:new'] === undefined;
  return {
    toEngineMs: span(click, Number.isFinite(firstStep) ? firstStep : null),
    brokerMs: standby ? 0 : span(joiner['ws:new'], joiner['ws<registered']),
    lookupMs: span(standby ? joiner['ws>watch'] : joiner['ws<registered'], offerSent),
    offerMs: span(joiner['pc:new'], joiner['pc:local-offer']),
    relayMs: span(offerSent, holder['ws<msg']),
    holderMs: span(holder['ws<msg'], holder['ws>send']),
    answerBackMs: span(holder['ws>send'], joiner['ws<msg']),
    answerApplyMs: span(joiner['ws<msg'], joiner['pc:remote-answer']),
    transportMs: span(joiner['pc:remote-answer'], joiner['pc:connected']),
    sctpMs: span(joiner['pc:connected'], joiner['dc:open:control']),
    welcomeMs: span(joiner['dc:open:control'], welcome),
    uiMs: span(welcome, rostered),
    dataChannelMs: span(click, joiner['dc:open:control']),
  };
}

export const PHASE_LABELS: ReadonlyArray<[keyof JoinPhases, string]> = [
  ['toEngineMs', 'Click → engine starts (popup → offscreen, room key)'],
  ['brokerMs', 'Broker connect + register (0: standby socket)'],
  ['offerMs', 'Offer made (in parallel with the broker connect)'],
  ['lookupMs', 'Registered → watch, holder found, sealed offer sent'],
  ['relayMs', 'Offer relayed to the holder'],
  ['holderMs', 'Holder: offer in → sealed answer out'],
  ['answerBackMs', 'Answer relayed back to the joiner'],
  ['answerApplyMs', 'Answer unsealed + applied'],
  ['transportMs', 'Answer → ICE + DTLS connected'],
  ['sctpMs', 'Connected → data channel open'],
  ['welcomeMs', 'Channel open → welcome received'],
  ['uiMs', 'Welcome → popup shows "Connected"'],
];
