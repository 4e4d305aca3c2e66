/**
 * A UI page's connection to the engine in the offscreen document: optionally asks the
 * background to create the engine, then holds a `kibitz-ui` port, receives views, and sends
 * commands that resolve or reject with the engine's user-facing message. Reconnects when the
 * port drops (the offscreen document restarted, or is still loading).
 *
 * Views arrive with chat as deltas (see src/engine/view-projection.ts); the client assembles
 * the page's chat history from them (`ChatHistory`, bounded) and hands the page whole
 * SessionViews.
 */
import { browser, type Browser } from 'wxt/browser';
import type { SessionCommand, SessionView } from '../engine/session-api';
import {
  ChatHistory,
  ENSURE_ENGINE,
  UI_PORT_NAME,
  checkCommand,
  parseEngineMessage,
  parseEnsureEngineResponse,
  type CommandMessage,
} from './messages';

export type EngineLinkState =
  /** Not connected yet (first attempt in progress). */
  | 'starting'
  /** Port open and a view received. */
  | 'ready'
  /** Was connected, or tried, and is retrying. */
  | 'retrying'
  /** No engine and we were told not to start one (stage page). */
  | 'absent';

export interface EngineClientOptions {
  /** Ask the background to create the offscreen document first (the popup does; the stage does not). */
  ensureEngine: boolean;
  onView(view: SessionView): void;
  onState(state: EngineLinkState, detail?: string): void;
  /** How long a command may take before it is reported as unanswered. Default 45 s. */
  commandTimeoutMs?: number;
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const RETRY_MIN_MS = 150;
const RETRY_MAX_MS = 3_000;

export class EngineClient {
  private port: Browser.runtime.Port | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closed = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private gotView = false;
  /** The chat assembled from this port's deltas (reset by the first view on every port). */
  private readonly chat = new ChatHistory();
  /** Failed attempts since the last view; early ones are the offscreen document still loading. */
  private failures = 0;

  constructor(private readonly opts: EngineClientOptions) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.failPending('The page closed.');
    try {
      this.port?.disconnect();
    } catch {
      /* already gone */
    }
    this.port = null;
  }

  /** Sends a command; resolves when the engine accepted it, rejects with a user-facing Error. */
  send(command: SessionCommand): Promise<void> {
    const checked = checkCommand(command);
    if (!checked.ok) return Promise.reject(new Error(checked.reason));
    const port = this.port;
    if (!port || !this.gotView) return Promise.reject(new Error('Not connected to the Kibitz engine yet. Try again in a moment.'));
    const id = this.nextId++;
    const message: CommandMessage = { type: 'command', id, command: checked.value };
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('The call engine did not answer. Try again.'));
      }, this.opts.commandTimeoutMs ?? 45_000);
      this.pending.set(id, { resolve, reject, timer });
      try {
        port.postMessage(message);
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error('Lost the connection to the Kibitz engine. Try again.'));
      }
    });
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    if (this.opts.ensureEngine) {
      try {
        const raw: unknown = await browser.runtime.sendMessage({ type: ENSURE_ENGINE });
        const res = parseEnsureEngineResponse(raw);
        if (!res) throw new Error('The extension did not answer.');
        if (!res.ok) throw new Error(res.error);
      } catch (err) {
        this.scheduleRetry(err instanceof Error ? err.message : 'Could not start the call engine.');
        return;
      }
    }
    if (this.closed) return;

    let port: Browser.runtime.Port;
    try {
      port = browser.runtime.connect({ name: UI_PORT_NAME });
    } catch (err) {
      this.scheduleRetry(err instanceof Error ? err.message : 'Could not reach the call engine.');
      return;
    }
    this.port = port;
    this.gotView = false;
    this.chat.clear();

    port.onMessage.addListener((raw: unknown) => {
      if (port !== this.port) return;
      const msg = parseEngineMessage(raw);
      if (!msg) {
        console.warn('[kibitz] dropped a malformed message from the engine');
        return;
      }
      if (msg.type === 'view') {
        // A new port starts with a reset; a delta before it would be stitched onto old history.
        if (!this.gotView && !msg.view.chat.reset) return;
        const view = this.chat.assemble(msg.view);
        if (!this.gotView) {
          this.gotView = true;
          this.retryMs = RETRY_MIN_MS;
          this.failures = 0;
          this.opts.onState('ready');
        }
        this.opts.onView(view);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve();
      else p.reject(new Error(msg.error ?? 'The call engine refused that.'));
    });

    port.onDisconnect.addListener(() => {
      if (port !== this.port) return;
      // Reading lastError marks it handled (otherwise Chromium logs it as unchecked).
      const why = browser.runtime.lastError?.message;
      this.port = null;
      const hadView = this.gotView;
      this.gotView = false;
      this.failPending('Lost the connection to the Kibitz engine. Try again.');
      if (this.closed) return;
      if (!this.opts.ensureEngine && !hadView) {
        // Nothing is listening: there is no engine (stage page without a call).
        this.opts.onState('absent', why);
        this.scheduleRetry(why, true);
        return;
      }
      this.scheduleRetry(why ?? 'The call engine restarted.');
    });
  }

  private scheduleRetry(detail?: string, quiet = false): void {
    if (this.closed) return;
    this.failures += 1;
    // Stay quiet about the first misses: a freshly created offscreen document may still be loading.
    if (!quiet && this.failures > 2) this.opts.onState('retrying', detail);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
      this.pending.delete(id);
    }
  }
}
