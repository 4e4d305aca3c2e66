/**
 * The call outside the popup, on the engine's side (the offscreen document):
 *
 * - Shortcuts: the background's `kibitz/shortcut` message, accepted only from this extension's
 *   service worker as the browser reports the sender (trust.ts, isExtensionWorkerSender), so no
 *   page, frame or content script, not even our own popup, can switch a microphone on. Applied
 *   only while in a call, as the same `set-media` command the popup's buttons send; a lane that
 *   cannot be turned on raises the engine's notice (the popup shows it) and the answer carries
 *   the reason (the background shows it as a notification). The badge follows from the view.
 * - Presence: each view is diffed (PresenceTracker) and bursts are gathered (PresenceBatcher);
 *   while no popup is open, each batch goes to the background for a notification, and when the
 *   background answers that the person wants it, a short tone plays here (WebAudio).
 */
import { browser, type Browser } from 'wxt/browser';
import type { Logger } from '../../src/engine/platform';
import type { Session } from '../../src/engine/session';
import type { SessionView } from '../../src/engine/session-api';
import { chimeFor, playChime } from '../../src/extension/chime';
import { errorText } from '../../src/extension/messages';
import {
  PresenceBatcher,
  PresenceTracker,
  parsePresenceNoticeReply,
  presenceNotice,
  type PresenceEvent,
} from '../../src/extension/presence';
import { SHORTCUT_LANES, parseShortcutMessage, type ShortcutLane, type ShortcutReply } from '../../src/extension/shortcuts';
import { isExtensionWorkerSender } from '../../src/extension/trust';

export interface OutsidePopupDeps {
  extensionId: string;
  baseUrl: string;
  log: Logger;
  /** The engine, once it is up (null before, or when it failed to start). */
  session: () => Session | null;
  /** Resolves when the engine has started (or failed to). */
  ready: () => Promise<void>;
  /** True while a popup holds a `kibitz-ui` port: it shows and announces joins itself. */
  popupOpen: () => boolean;
}

const inCall = (view: Pick<SessionView, 'phase' | 'self'>): boolean =>
  (view.phase === 'connected' || view.phase === 'reconnecting') && view.self !== null;

export class OutsidePopup {
  private readonly tracker = new PresenceTracker();
  private readonly batcher = new PresenceBatcher();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly switching = new Set<ShortcutLane>();
  private audio: AudioContext | null = null;

  constructor(private readonly deps: OutsidePopupDeps) {
    browser.runtime.onMessage.addListener(this.onMessage);
  }

  /** Every view the engine publishes (after it went to the ports). */
  observe(view: SessionView): void {
    const now = Date.now();
    const events = this.tracker.observe(view, now);
    if (!inCall(view)) this.batcher.clear(); // we left: who else came and went is moot
    else if (events.length > 0 && !this.deps.popupOpen()) this.batcher.add(events, now);
    this.schedule();
  }

  /** A popup connected: it shows who is here, so what is pending is no longer news. */
  popupOpened(): void {
    this.batcher.clear();
    this.schedule();
  }

  // ------------------------------------------------------------------------- shortcuts

  private readonly onMessage = (raw: unknown, sender: Browser.runtime.MessageSender, sendResponse: (r: ShortcutReply) => void): boolean => {
    if (!isExtensionWorkerSender(sender, this.deps.extensionId, this.deps.baseUrl)) return false;
    const message = parseShortcutMessage(raw);
    if (!message) {
      this.deps.log.warn('dropped a malformed message from the background');
      return false;
    }
    void this.toggle(SHORTCUT_LANES[message.command]).then(sendResponse);
    return true; // respond asynchronously
  };

  private async toggle(lane: ShortcutLane): Promise<ShortcutReply> {
    await this.deps.ready();
    const session = this.deps.session();
    const view = session?.view();
    if (!session || !view || !inCall(view) || !view.self) return { outcome: 'not-in-call' };
    if (this.switching.has(lane)) return { outcome: 'busy', lane };
    const on = !view.self.sending.includes(lane);
    this.switching.add(lane);
    try {
      await session.dispatch({ op: 'set-media', lane, on });
      return { outcome: on ? 'on' : 'off', lane };
    } catch (err) {
      const error = errorText(err);
      session.notice('error', error);
      return { outcome: 'failed', lane, wanted: on ? 'on' : 'off', error };
    } finally {
      this.switching.delete(lane);
    }
  }

  // ------------------------------------------------------------------------- presence

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const due = this.batcher.dueAt();
    if (due === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, Math.max(0, due - Date.now()));
  }

  private flush(): void {
    const batch = this.batcher.take(Date.now());
    if (!batch) return this.schedule();
    if (this.deps.popupOpen() || batch.length === 0) return;
    const others = this.deps.session()?.view().members.length ?? 0;
    browser.runtime.sendMessage(presenceNotice(batch, others)).then(
      (raw: unknown) => {
        if (parsePresenceNoticeReply(raw)?.sound) void this.chime(batch);
      },
      (err: unknown) => this.deps.log.warn('could not ask for a notification', { error: String(err) }),
    );
  }

  private async chime(batch: readonly PresenceEvent[]): Promise<void> {
    const kind = chimeFor(batch.map((e) => e.kind));
    if (!kind) return;
    try {
      this.audio ??= new AudioContext();
      await playChime(this.audio, kind);
      this.deps.log.info(`played the ${kind} sound`);
    } catch (err) {
      this.deps.log.warn('could not play the presence sound', { error: String(err) });
    }
  }
}
