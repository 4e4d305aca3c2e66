/**
 * Drives one pair's safety-code exchange over its control channel: commit once the handshaken
 * fingerprint is known, reveal once both commitments are in, and report the words or why it
 * failed. Steps that arrive before we could start are held (a few at most).
 */
import { SasError, SasExchange } from './sas';
import type { SasPhase } from './session-api';
import type { ControlMessage } from './wire';

type SasMessage = Extract<ControlMessage, { kind: 'sas-commit' | 'sas-reveal' }>;

const MAX_EARLY_STEPS = 4;

const FAILURE_TEXT: Partial<Record<string, string>> = {
  'commitment-mismatch': 'their revealed value does not match what they committed to',
  'reveal-before-commit': 'they revealed before committing',
  reflected: 'our own value came back to us',
  duplicate: 'they sent a step twice',
  malformed: 'a step was malformed',
};

export interface SasOutput {
  send: SasMessage[];
  /** Set when the exchange failed just now: why, in words. */
  failure: string | null;
  /** A step was refused without failing the exchange (too many early steps). */
  dropped: boolean;
}

export class SasDriver {
  private exchange: SasExchange | null = null;
  private early: SasMessage[] = [];
  phase: SasPhase = 'pending';
  words: string[] | null = null;

  constructor(private readonly randomBytes: (n: number) => Uint8Array) {}

  start(localFingerprint: string, remoteFingerprint: string): SasOutput {
    const out: SasOutput = { send: [], failure: null, dropped: false };
    if (this.exchange || this.phase === 'failed') return out;
    try {
      this.exchange = new SasExchange({ localFingerprint, remoteFingerprint, randomBytes: this.randomBytes });
      out.send.push({ kind: 'sas-commit', commit: this.exchange.commit() });
    } catch (err) {
      return this.failed(out, err);
    }
    for (const msg of this.early.splice(0)) {
      const step = this.receive(msg);
      out.send.push(...step.send);
      if (step.failure) return { ...out, failure: step.failure };
    }
    return out;
  }

  receive(msg: SasMessage): SasOutput {
    const out: SasOutput = { send: [], failure: null, dropped: false };
    if (this.phase === 'failed') return { ...out, dropped: true };
    if (!this.exchange) {
      if (this.early.length < MAX_EARLY_STEPS) this.early.push(msg);
      else out.dropped = true;
      return out;
    }
    try {
      if (msg.kind === 'sas-commit') {
        this.exchange.receiveCommit(msg.commit);
        const nonce = this.exchange.reveal();
        if (nonce) out.send.push({ kind: 'sas-reveal', nonce });
      } else {
        this.words = this.exchange.receiveReveal(msg.nonce);
        this.phase = 'ready';
      }
    } catch (err) {
      return this.failed(out, err);
    }
    return out;
  }

  private failed(out: SasOutput, err: unknown): SasOutput {
    this.phase = 'failed';
    this.words = null;
    const failure = err instanceof SasError ? FAILURE_TEXT[err.code] ?? err.message : 'unexpected error';
    return { ...out, failure };
  }
}
