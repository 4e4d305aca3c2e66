/**
 * The forms' warm-up schedule: one warm-up after the delay, one per refresh while the form stays,
 * none once cancelled, and a refused one never throws (it is only a head start).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { scheduleWarmUp, WARM_UP_REFRESH_MS, type WarmUpCommand } from '../../src/extension/warm-up';

const COMMAND: WarmUpCommand = { op: 'warm-up', brokerUrl: 'ws://127.0.0.1:8787' };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('scheduleWarmUp', () => {
  it('sends after the delay, then every refresh, and stops when cancelled', async () => {
    const sent: WarmUpCommand[] = [];
    let announced = 0;
    const cancel = scheduleWarmUp(async (c) => void sent.push(c), COMMAND, 300, () => announced++);
    await vi.advanceTimersByTimeAsync(299);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([COMMAND]);
    await vi.advanceTimersByTimeAsync(WARM_UP_REFRESH_MS);
    expect(sent).toHaveLength(2);
    expect(announced).toBe(2);
    cancel();
    await vi.advanceTimersByTimeAsync(WARM_UP_REFRESH_MS * 3);
    expect(sent).toHaveLength(2);
  });

  it('cancelled before the delay, sends nothing', async () => {
    const send = vi.fn(async () => undefined);
    scheduleWarmUp(send, COMMAND, 300)();
    await vi.advanceTimersByTimeAsync(WARM_UP_REFRESH_MS * 2);
    expect(send).not.toHaveBeenCalled();
  });

  it('a refused warm-up is logged, not thrown, and the next one still goes out', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => undefined);
    const send = vi.fn(async () => {
      throw new Error('Too many commands at once. Wait a moment.');
    });
    const cancel = scheduleWarmUp(send, COMMAND, 0);
    await vi.advanceTimersByTimeAsync(WARM_UP_REFRESH_MS);
    expect(send).toHaveBeenCalledTimes(2);
    expect(info).toHaveBeenCalledWith('[kibitz] warm-up skipped', expect.any(Error));
    cancel();
    info.mockRestore();
  });
});
