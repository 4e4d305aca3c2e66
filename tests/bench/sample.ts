import type { JoinPhases } from './chromium-timeline';

/** One measured join, as both benchmark drivers (Node peers, Chromium profiles) report it. */
export interface JoinSample {
  /** e.g. "Node, 4 peers". */
  scenario: string;
  /** 1-based measured round. */
  round: number;
  /** 1-based order of this joiner in its room (1 = first joiner after the coordinator). */
  position: number;
  /** Members already in the room (including the coordinator) when this joiner joined. */
  others: number;
  /** ms from dispatching join / clicking Join until the joiner's phase is 'connected'. */
  rosteredMs: number;
  /** ms from the same start until every other member shows link 'connected' to the joiner. */
  allLinksOpenMs: number;
  /** ms from the same start until the joiner's view shows the broker connection open. */
  brokerOpenMs?: number;
  /**
   * Where the time to rostered went (Node only): broker connect + watch + holder lookup until
   * the coordinator is dialled; offer/answer + ICE + DTLS + SCTP until that peer connection is
   * 'connected'; data channels open + hello/welcome until rostered.
   */
  breakdown?: { signalingMs: number; transportMs: number; admissionMs: number };
  /** Chromium: ms from the click until the joiner's control data channel is open (the baselines' definition). */
  dataChannelMs?: number;
  /** Chromium: the join split phase by phase (tests/bench/chromium-timeline.ts). */
  phases?: JoinPhases;
}

/** Thrown for anything that makes the benchmark's figures meaningless; run.ts exits non-zero. */
export class BenchError extends Error {
  override name = 'BenchError';
}

/**
 * A join or a room that did not come up (the call failed, or a step timed out): a result about
 * the system under test, not a harness error. The round is discarded and run again, within the
 * failure budget.
 */
export class JoinFailure extends Error {
  override name = 'JoinFailure';
}

export interface FailedRound {
  scenario: string;
  /** Attempt number within the scenario (1-based). */
  attempt: number;
  reason: string;
}

/** Failed rounds so far; `record` throws a BenchError once more than `budget` have failed. */
export class FailureBudget {
  readonly failures: FailedRound[] = [];
  constructor(readonly budget: number) {}

  record(failure: FailedRound): void {
    this.failures.push(failure);
    if (this.failures.length > this.budget) {
      throw new BenchError(
        `${this.failures.length} rounds failed, more than the budget of ${this.budget} (--max-failures):\n` +
          this.failures.map((f) => `  - ${f.scenario}, attempt ${f.attempt}: ${f.reason}`).join('\n'),
      );
    }
  }
}

/**
 * Runs rounds 1..`rounds` of `scenario`. A round that throws a JoinFailure (the call did not
 * come up: a finding about the engine, not a harness error) is reported as `label`'s, recorded
 * against the budget and run again under the same number; any other error ends the bench.
 * Returns how many attempts the rounds took.
 */
export async function runRounds(
  scenario: string,
  label: string,
  rounds: number,
  opts: { failures: FailureBudget; progress: (line: string) => void },
  run: (round: number) => Promise<void>,
): Promise<number> {
  let attempt = 0;
  for (let round = 1; round <= rounds; ) {
    attempt++;
    try {
      await run(round);
      round++;
    } catch (err) {
      if (!(err instanceof JoinFailure)) throw err;
      opts.progress(`${label}: attempt ${attempt} FAILED (round discarded, run again): ${err.message}`);
      opts.failures.record({ scenario, attempt, reason: err.message });
    }
  }
  return attempt;
}
