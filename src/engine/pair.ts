/**
 * One pair's pipeline: a peer link moves through `transport` (connecting) ->
 * `transport-ready` (channels open, handshaken fingerprint read) -> `identity-checked` (the
 * Verifier accepted it) -> `admitted` (rostered on both sides: content and media may flow).
 * Nothing but presence and the safety code is processed before `admitted`.
 */
import type { PeerLink } from './peer-link';
import type { SignalSequencer } from './peer-link';
import type { MediaTrackLike } from './platform';
import { SasDriver } from './sas-driver';
import type { MediaLane } from './session-api';
import type { Verdict } from './verifier';

export type PairStage = 'transport' | 'transport-ready' | 'identity-checked' | 'admitted';

export class Pair {
  stage: PairStage = 'transport';
  verdict: Verdict | null = null;
  /** Lanes the peer says it sends, filtered by what it may send. */
  sending: MediaLane[] = [];
  readonly tracks = new Map<MediaLane, MediaTrackLike>();
  readonly sas: SasDriver;

  constructor(
    readonly link: PeerLink,
    readonly seq: SignalSequencer,
    readonly createdAt: number,
    randomBytes: (n: number) => Uint8Array,
  ) {
    this.sas = new SasDriver(randomBytes);
  }

  get peerId(): string {
    return this.link.remotePeerId;
  }

  get admitted(): boolean {
    return this.stage === 'admitted' && !this.link.closed;
  }
}
