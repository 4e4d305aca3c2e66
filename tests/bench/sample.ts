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
  /**
   * Where the time to rostered went (Node only): broker connect + watch + holder lookup until
   * the coordinator is dialled; offer/answer + ICE + DTLS until that peer connection is
   * 'connected'; data channels + hello/welcome until rostered.
   */
  breakdown?: { signalingMs: number; transportMs: number; admissionMs: number };
}

/** Thrown for anything that makes the benchmark's figures meaningless; run.ts exits non-zero. */
export class BenchError extends Error {
  override name = 'BenchError';
}
