/**
 * The bench's round loop: a round whose call did not come up is recorded and run again under
 * the same number, a harness error ends the bench, and the failure budget still holds.
 */
import { describe, expect, it } from 'vitest';
import { BenchError, FailureBudget, JoinFailure, runRounds } from '../../tests/bench/sample';

describe('runRounds', () => {
  it('runs every round once it succeeds, retrying failed ones under the same number', async () => {
    const failures = new FailureBudget(5);
    const lines: string[] = [];
    const ran: number[] = [];
    let failOnce = true;
    const attempts = await runRounds('S', 'label', 3, { failures, progress: (l) => lines.push(l) }, async (round) => {
      ran.push(round);
      if (round === 2 && failOnce) {
        failOnce = false;
        throw new JoinFailure('no answer');
      }
    });
    expect(ran).toEqual([1, 2, 2, 3]);
    expect(attempts).toBe(4);
    expect(failures.failures).toEqual([{ scenario: 'S', attempt: 2, reason: 'no answer' }]);
    expect(lines).toEqual(['label: attempt 2 FAILED (round discarded, run again): no answer']);
  });

  it('lets a harness error through at once', async () => {
    const failures = new FailureBudget(5);
    await expect(runRounds('S', 'label', 3, { failures, progress: () => undefined }, async () => {
      throw new Error('browser crashed');
    })).rejects.toThrow('browser crashed');
    expect(failures.failures).toEqual([]);
  });

  it('gives up once the failure budget is spent', async () => {
    const failures = new FailureBudget(1);
    await expect(runRounds('S', 'label', 1, { failures, progress: () => undefined }, async () => {
      throw new JoinFailure('never');
    })).rejects.toBeInstanceOf(BenchError);
  });
});
