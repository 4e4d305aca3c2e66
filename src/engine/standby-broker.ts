/**
 * A broker connection opened before the call: while the start or join form is on screen the
 * next call's socket connects and registers (TCP, WebSocket upgrade, hello, register: 10–20 ms
 * in Chromium on loopback, measured by the bench's phase table), so "Start" or "Join" begins
 * with the room's watch instead.
 *
 * What the broker learns earlier: only that this browser is about to call (its IP address and
 * a fresh peer id that names no room). The token behind the id is new for every standby and
 * used by one call at most; a standby nobody took within STANDBY_IDLE_MS is closed.
 */
import type { BrokerClient } from './broker-client';
import type { Clock, Logger } from './platform';

/** An unused standby connection is closed after this. */
export const STANDBY_IDLE_MS = 60_000;

export class StandbyBroker {
  private client: BrokerClient | null = null;
  private url: string | null = null;
  private idleTimer: unknown = null;

  constructor(
    private readonly make: (url: string) => BrokerClient,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Connects a standby to `url` unless one to it is already up or on its way; restarts its idle timer. */
  warm(rawUrl: string): void {
    const url = brokerKey(rawUrl);
    if (!this.usable(url)) {
      this.discard();
      const client = this.make(rawUrl);
      this.client = client;
      this.url = url;
      client.connect().catch((err: unknown) => {
        // The call itself will connect afresh and say what went wrong; nothing to show here.
        this.log.info('standby broker connection failed', { error: err instanceof Error ? err.message : String(err) });
        if (this.client === client) this.discard();
      });
    }
    this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = this.clock.setTimeout(() => this.discard(), STANDBY_IDLE_MS);
  }

  /**
   * The standby for a call on `url`, once: connected or still connecting (the call awaits its
   * `connect()`, which is the same attempt). Null when there is none for that broker or it
   * dropped; a standby for another broker is closed.
   */
  take(rawUrl: string): BrokerClient | null {
    const url = brokerKey(rawUrl);
    const client = this.usable(url) ? this.client : null;
    if (client) {
      this.client = null;
      this.url = null;
      this.clock.clearTimeout(this.idleTimer);
      this.idleTimer = null;
    } else this.discard();
    return client;
  }

  /** Closes the standby, if any. Idempotent. */
  discard(): void {
    this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const client = this.client;
    this.client = null;
    this.url = null;
    client?.close();
  }

  /** `url` is a brokerKey. */
  private usable(url: string): boolean {
    // A standby that dropped would be mid-reconnect with its first connect() long settled: a
    // call would then watch on a socket that is not there. Such a one is replaced.
    return this.client !== null && this.url === url && (this.client.state === 'connecting' || this.client.state === 'open');
  }
}

/** Whether two broker URLs name one broker (spelled with or without the trailing slash). */
export function sameBroker(a: string, b: string): boolean {
  return brokerKey(a) === brokerKey(b);
}

/** One spelling per broker: a link's `ws://host:port/` and a setting's `ws://host:port` are one. */
function brokerKey(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}
