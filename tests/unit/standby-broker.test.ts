/**
 * The standby broker connection: one per broker, used by one call at most, never handed over
 * once it dropped, and closed when nobody takes it in time.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock';
import type { BrokerClient, BrokerState } from '../../src/engine/broker-client';
import { StandbyBroker, STANDBY_IDLE_MS } from '../../src/engine/standby-broker';

class FakeClient {
  state: BrokerState = 'closed';
  closed = false;
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  private attempt: Promise<void> | null = null;
  constructor(readonly url: string) {}
  connect(): Promise<void> {
    this.attempt ??= new Promise<void>((resolve, reject) => {
      this.state = 'connecting';
      this.settle = { resolve, reject };
    });
    return this.attempt;
  }
  open(): void {
    this.state = 'open';
    this.settle.resolve();
  }
  fail(): void {
    this.state = 'closed';
    this.settle.reject(new Error('connection refused'));
  }
  close(): void {
    this.closed = true;
    this.state = 'closed';
  }
}


const A = 'ws://127.0.0.1:8787';
const B = 'wss://broker.example';

function standby() {
  const made: FakeClient[] = [];
  const clock = new ManualClock();
  const sb = new StandbyBroker(
    (url) => {
      const c = new FakeClient(url);
      made.push(c);
      return c as unknown as BrokerClient;
    },
    clock,
    { info: () => undefined, warn: () => undefined },
  );
  return { sb, made, clock };
}

const flush = async () => {
  for (let i = 0; i < 3; i++) await Promise.resolve();
};

describe('StandbyBroker', () => {
  it('connects once per broker however often it is warmed, and hands that connection to one call only', () => {
    const { sb, made } = standby();
    sb.warm(A);
    sb.warm(A);
    expect(made).toHaveLength(1);
    expect(made[0]!.state).toBe('connecting');
    made[0]!.open();
    expect(sb.take(A)).toBe(made[0]);
    expect(sb.take(A)).toBeNull(); // its token is the first call's; a second call gets its own
    expect(made[0]!.closed).toBe(false);
  });

  it('takes a broker URL spelled with or without the trailing slash as the same broker', () => {
    const { sb, made } = standby();
    sb.warm(A);
    expect(sb.take(`${A}/`)).toBe(made[0]);
  });

  it('hands over a connection still on its way (the call awaits the same attempt)', () => {
    const { sb, made } = standby();
    sb.warm(A);
    expect(sb.take(A)).toBe(made[0]);
  });

  it('never gives a call a connection to another broker, and closes it', () => {
    const { sb, made } = standby();
    sb.warm(A);
    expect(sb.take(B)).toBeNull();
    expect(made[0]!.closed).toBe(true);
    sb.warm(B);
    expect(made).toHaveLength(2);
    expect(made[1]!.url).toBe(B);
  });

  it('replaces the standby when warmed for another broker', () => {
    const { sb, made } = standby();
    sb.warm(A);
    sb.warm(B);
    expect(made[0]!.closed).toBe(true);
    expect(sb.take(B)).toBe(made[1]);
  });

  it('drops a standby whose connect failed, so the call connects afresh and reports the error itself', async () => {
    const { sb, made } = standby();
    sb.warm(A);
    made[0]!.fail();
    await flush();
    expect(sb.take(A)).toBeNull();
    sb.warm(A);
    expect(made).toHaveLength(2);
  });

  it('does not hand over a connection that dropped and is reconnecting', () => {
    const { sb, made } = standby();
    sb.warm(A);
    made[0]!.open();
    made[0]!.state = 'reconnecting';
    expect(sb.take(A)).toBeNull();
    expect(made[0]!.closed).toBe(true);
  });

  it('closes an unused standby after the idle limit; warming again restarts the limit', () => {
    const { sb, made, clock } = standby();
    sb.warm(A);
    clock.advance(STANDBY_IDLE_MS - 1);
    sb.warm(A);
    clock.advance(STANDBY_IDLE_MS - 1);
    expect(made[0]!.closed).toBe(false);
    clock.advance(1);
    expect(made[0]!.closed).toBe(true);
    expect(sb.take(A)).toBeNull();
  });

  it('a taken connection is the call\'s: the idle limit no longer closes it', () => {
    const { sb, made, clock } = standby();
    sb.warm(A);
    const taken = sb.take(A);
    clock.advance(STANDBY_IDLE_MS * 2);
    expect(taken).toBe(made[0]);
    expect(made[0]!.closed).toBe(false);
  });
});
