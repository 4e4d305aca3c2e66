/**
 * The offscreen document: home of the one call `Session` (it outlives the popup), player of
 * remote audio, and holder of the MediaStreams the stage page renders.
 *
 * - UI pages connect a `kibitz-ui` port. Only our own top-level popup.html / stage.html may
 *   (checked on `port.sender`, never on message fields); anything else is disconnected.
 * - Each port receives `{type:'view'}` at once and on every change, with chat as a delta for
 *   that port (`projectView` and a per-port cursor: the first view carries the newest chat that
 *   fits the budget, later ones only what is new; leftovers follow in the next message), and sends
 *   `{type:'command', id, command}` answered by `{type:'result', id, ok, error?}`. Every
 *   incoming message is validated for shape and size; bad ones are dropped and counted, and a
 *   port that floods is cut off.
 * - Every remote audio track (mic, later tab audio) plays in an `<audio autoplay>` element that
 *   is removed when the track ends.
 * - `globalThis.__kibitzMedia` lists local and remote streams for the stage page (getViews),
 *   and who is speaking (`speaking()`, measured on each microphone track by SpeakingMeter).
 * - Keyboard shortcuts (from the background only) and join/leave notifications and sounds while
 *   no popup is open: outside-popup.ts.
 */
import { browser, type Browser } from 'wxt/browser';
import { TokenBucket } from '../../src/engine/broker-protocol';
import { Session, type MediaEvent } from '../../src/engine/session';
import type { MediaLane, SessionView } from '../../src/engine/session-api';
import { projectView, type PortCursor } from '../../src/engine/view-projection';
import { MEDIA_GLOBAL, MediaRegistry, entryKey } from '../../src/extension/media-registry';
import {
  UI_PORT_NAME,
  engineFailedView,
  errorText,
  parseUiMessage,
  resultMessage,
  type EngineToUiMessage,
} from '../../src/extension/messages';
import { POPUP_PAGES, UI_PAGES, isExtensionPageSender } from '../../src/extension/trust';
import { badgeFor, type BadgeUpdate } from '../../src/extension/badge';
import { isInCall } from '../../src/extension/format';
import { consoleLogger, createBrowserPlatform } from '../../src/platform/browser';
import { SpeakingMeter } from './speaking-meter';
import { OutsidePopup } from './outside-popup';

type Port = Browser.runtime.Port;

const log = consoleLogger;
const extensionId = browser.runtime.id;
const baseUrl = browser.runtime.getURL('/');

/** Per-port flood limits: a UI sends a handful of commands per second at most. */
const PORT_RATE_PER_SEC = 20;
const PORT_BURST = 40;
const PORT_MAX_IN_FLIGHT = 16;
/** Drop this many malformed messages from one port, then disconnect it. */
const PORT_MAX_MALFORMED = 10;

interface PortState {
  bucket: TokenBucket;
  inFlight: number;
  malformed: number;
  /** What chat this port has been sent (null: nothing yet, its next view resets). */
  cursor: PortCursor | null;
  /** The port is the popup's (not the stage's): joins and leaves are on screen. */
  popup: boolean;
  /** The last view sent, serialized: an identical one is not sent again. */
  lastView: string | null;
}

const ports = new Map<Port, PortState>();
let session: Session | null = null;
let startError: string | null = null;
let droppedMessages = 0;

// ---------------------------------------------------------------------------------------------
// Media: remote audio playback and the registry the stage reads

const registry = new MediaRegistry();
(globalThis as Record<string, unknown>)[MEDIA_GLOBAL] = registry;
// Who is speaking, measured on every microphone track in the registry (see speaking-meter.ts).
const speakingMeter = new SpeakingMeter(registry, log);
registry.subscribe(() => speakingMeter.sync());
const audioHost = document.getElementById('audio') ?? document.body;
const audioElements = new Map<string, HTMLAudioElement>();
const trackCleanup = new Map<string, () => void>();

function isMediaStreamTrack(t: unknown): t is MediaStreamTrack {
  return typeof MediaStreamTrack !== 'undefined' && t instanceof MediaStreamTrack;
}

function removeEntry(key: string): void {
  trackCleanup.get(key)?.();
  trackCleanup.delete(key);
  const audio = audioElements.get(key);
  if (audio) {
    audio.pause();
    audio.srcObject = null;
    audio.remove();
    audioElements.delete(key);
  }
  registry.delete(key);
}

function addEntry(peerId: string, lane: MediaLane, track: MediaStreamTrack, self: boolean): void {
  const key = entryKey({ peerId, lane, self });
  const existing = registry.get(key);
  if (existing && existing.stream.getTracks()[0] === track) return;
  removeEntry(key);
  if (track.readyState === 'ended') return;

  const stream = new MediaStream([track]);
  registry.set({ peerId, lane, stream, self });

  const onEnded = (): void => {
    if (registry.get(key)?.stream === stream) removeEntry(key);
  };
  track.addEventListener('ended', onEnded);
  trackCleanup.set(key, () => track.removeEventListener('ended', onEnded));

  // Play remote audio here; never our own (that would echo).
  if (!self && track.kind === 'audio') {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.dataset.peerId = peerId;
    audio.dataset.lane = lane;
    audio.srcObject = stream;
    audioHost.append(audio);
    audioElements.set(key, audio);
    audio.play().catch((err: unknown) => log.warn('remote audio did not start', { lane, error: String(err) }));
  }
}

function onMedia(event: MediaEvent): void {
  const key = entryKey({ peerId: event.peerId, lane: event.lane, self: false });
  if (event.track === null) {
    removeEntry(key);
    return;
  }
  if (!isMediaStreamTrack(event.track)) {
    log.warn('ignored a media event without a browser track', { lane: event.lane });
    return;
  }
  addEntry(event.peerId, event.lane, event.track, false);
}

const LOCAL_LANES: readonly MediaLane[] = ['mic', 'camera'];

/** Keeps the registry's own-track entries and remote entries in step with the view. */
function syncMedia(s: Session, view: SessionView): void {
  const selfId = view.self?.peerId ?? null;
  const wanted = new Set<string>();
  if (selfId) {
    for (const lane of LOCAL_LANES) {
      const track = s.localTrack(lane);
      if (!isMediaStreamTrack(track)) continue;
      const key = entryKey({ peerId: selfId, lane, self: true });
      wanted.add(key);
      addEntry(selfId, lane, track, true);
    }
  }
  const inCall = view.phase === 'connecting' || view.phase === 'connected' || view.phase === 'reconnecting';
  const members = new Set(view.members.map((m) => m.peerId));
  for (const key of registry.keys()) {
    const entry = registry.get(key);
    if (!entry) continue;
    if (entry.self ? !wanted.has(key) : !inCall || !members.has(entry.peerId)) removeEntry(key);
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

function post(port: Port, message: EngineToUiMessage): void {
  try {
    port.postMessage(message);
  } catch {
    ports.delete(port);
  }
}

function currentView(): SessionView | null {
  if (session) return session.view();
  if (startError) return engineFailedView(startError);
  return null; // still starting; the view follows as soon as the engine is up
}

/** Sends one port its projection of `view` and advances its cursor; true when chat is left over. */
function sendView(port: Port, state: PortState, view: SessionView): boolean {
  const p = projectView(view, state.cursor);
  state.cursor = p.cursor;
  // Several engine events in a row often change nothing a page shows; posting (and the page's
  // re-render) would cost the main thread this document shares with the pages for nothing.
  const serialized = JSON.stringify(p.view);
  if (serialized === state.lastView) return p.more;
  state.lastView = serialized;
  post(port, { type: 'view', view: p.view });
  return p.more;
}

let broadcastScheduled = false;
let followUpTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleBroadcast(): void {
  if (broadcastScheduled) return;
  broadcastScheduled = true;
  queueMicrotask(() => {
    broadcastScheduled = false;
    const view = currentView();
    if (!view) return;
    if (session) syncMedia(session, view);
    updateBadge(view);
    outside.observe(view);
    let more = false;
    for (const [port, state] of [...ports]) if (sendView(port, state, view)) more = true;
    // Chat beyond one message's budget follows in the next task, so the port drains in steps.
    if (more && followUpTimer === null) {
      followUpTimer = setTimeout(() => {
        followUpTimer = null;
        scheduleBroadcast();
      }, 0);
    }
  });
}

/** Tells the background what the toolbar icon should say, when that changes. */
let lastBadge = '';
function updateBadge(view: SessionView): void {
  const badge: BadgeUpdate = badgeFor(view);
  const key = `${badge.text}|${badge.title}`;
  if (key === lastBadge) return;
  lastBadge = key;
  browser.runtime.sendMessage(badge).catch((err: unknown) => {
    lastBadge = ''; // try again with the next view
    log.warn('could not update the toolbar badge', { error: String(err) });
  });
}

function takeToken(state: PortState): boolean {
  return state.bucket.take(performance.now());
}

function cutOff(port: Port, why: string): void {
  log.warn('disconnected a UI port', { why });
  ports.delete(port);
  try {
    port.disconnect();
  } catch {
    /* already gone */
  }
}

async function onPortMessage(port: Port, raw: unknown): Promise<void> {
  const state = ports.get(port);
  if (!state) return;
  if (!takeToken(state)) return cutOff(port, 'too many messages');
  const msg = parseUiMessage(raw);
  if (!msg) {
    droppedMessages += 1;
    state.malformed += 1;
    log.warn('dropped a malformed UI message', { dropped: droppedMessages });
    if (state.malformed >= PORT_MAX_MALFORMED) cutOff(port, 'too many malformed messages');
    return;
  }
  if (state.inFlight >= PORT_MAX_IN_FLIGHT) {
    post(port, resultMessage(msg.id, new Error('Too many commands at once. Wait a moment.')));
    return;
  }
  state.inFlight += 1;
  try {
    await ready;
    if (!session) throw new Error(startError ?? 'The call engine is not running.');
    await session.dispatch(msg.command);
    if (ports.has(port)) post(port, resultMessage(msg.id));
  } catch (err) {
    if (ports.has(port)) post(port, resultMessage(msg.id, err));
  } finally {
    state.inFlight -= 1;
  }
}

function onConnect(port: Port): void {
  if (port.name !== UI_PORT_NAME || !isExtensionPageSender(port.sender, extensionId, baseUrl, UI_PAGES)) {
    log.warn('refused a port', { name: port.name.slice(0, 40) });
    try {
      port.disconnect();
    } catch {
      /* already gone */
    }
    return;
  }
  const popup = isExtensionPageSender(port.sender, extensionId, baseUrl, POPUP_PAGES);
  const state: PortState = { bucket: new TokenBucket(PORT_RATE_PER_SEC, PORT_BURST, performance.now()), inFlight: 0, malformed: 0, cursor: null, popup, lastView: null };
  ports.set(port, state);
  if (popup) outside.popupOpened();
  port.onMessage.addListener((raw: unknown) => void onPortMessage(port, raw));
  port.onDisconnect.addListener(() => {
    ports.delete(port);
  });
  const view = currentView();
  if (view && sendView(port, state, view)) scheduleBroadcast();
}

// Registered synchronously so a UI that connects while the engine boots is not turned away.
browser.runtime.onConnect.addListener(onConnect);

// Shortcuts from the background, and notifications of joins and leaves (outside-popup.ts).
const outside = new OutsidePopup({
  extensionId,
  baseUrl,
  log,
  session: () => session,
  ready: () => ready,
  popupOpen: () => [...ports.values()].some((p) => p.popup),
});

// ---------------------------------------------------------------------------------------------
// Boot

async function boot(): Promise<void> {
  try {
    const platform = await createBrowserPlatform({ log });
    const s = new Session(platform);
    session = s;
    s.subscribe(() => scheduleBroadcast());
    s.onMedia(onMedia);
    for (const event of s.remoteTracks()) onMedia(event);
    log.info('engine ready', { fingerprint: platform.peers.localFingerprint });
  } catch (err) {
    startError = `Kibitz could not start its call engine: ${errorText(err)}`;
    log.warn('engine failed to start', { error: String(err) });
  }
  scheduleBroadcast();
}

const ready = boot();

// A clean leave (bye to every peer) when the document goes away, so others migrate at once.
addEventListener('pagehide', () => {
  const s = session;
  if (!s) return;
  if (isInCall(s.view().phase)) {
    s.dispatch({ op: 'leave' }).catch(() => undefined);
  }
});
