/**
 * The content router: every piece of content in or out of a pair passes here. One exhaustive
 * table maps each content kind to the capability a recipient needs to perceive it and the one
 * a sender needs to have it accepted; adding a kind without a row fails to compile. Inbound
 * content is also rate-limited per peer, so one member cannot flood the others.
 */
import { TokenBucket } from './broker-protocol';
import type { ActCapability, GrantPolicy, GrantSubject, PerceiveCapability } from './capabilities';
import type { Clock } from './platform';
import type { MediaLane } from './session-api';
import type { ContentMessage } from './wire';

/** Content carried on the content channel, plus the media lanes. */
export type RoutedKind = ContentMessage['kind'] | `media:${MediaLane}`;

export interface RouteRule {
  perceive: PerceiveCapability;
  act: ActCapability;
}

/**
 * Cameras and microphones are both "taking the floor", so both need `speak`; the shared tab's
 * lanes need `share-screen`.
 */
export const ROUTES: { readonly [K in RoutedKind]: RouteRule } = {
  chat: { perceive: 'read-chat', act: 'send-chat' },
  'media:mic': { perceive: 'hear-audio', act: 'speak' },
  'media:camera': { perceive: 'see-camera', act: 'speak' },
  'media:tab-video': { perceive: 'see-screen', act: 'share-screen' },
  'media:tab-audio': { perceive: 'see-screen', act: 'share-screen' },
};

/** Inbound content per peer: a person typing fast stays far below; a flood does not. */
export const CONTENT_RATE_PER_SECOND = 10;
export const CONTENT_BURST = 30;

export type InboundVerdict = { accept: true } | { accept: false; reason: 'not-permitted' | 'rate-limited' };

export interface ContentSink {
  /** Sends on this pair's content channel; false when the channel is not open or is stuck. */
  sendContent(msg: ContentMessage): boolean;
}

export class ContentRouter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly grants: GrantPolicy,
    private readonly clock: Clock,
  ) {}

  /** Sender side: may this peer be sent this kind at all? */
  mayPerceive(peer: GrantSubject, kind: RoutedKind): boolean {
    return this.grants.mayPerceive(peer, ROUTES[kind].perceive);
  }

  /** Receiver side: is content of this kind from this peer accepted? */
  mayAct(peer: GrantSubject, kind: RoutedKind): boolean {
    return this.grants.mayAct(peer, ROUTES[kind].act);
  }

  /** Every inbound content message: capability first, then the peer's rate. */
  inbound(peer: GrantSubject, msg: ContentMessage): InboundVerdict {
    if (!this.mayAct(peer, msg.kind)) return { accept: false, reason: 'not-permitted' };
    let bucket = this.buckets.get(peer.peerId);
    if (!bucket) {
      bucket = new TokenBucket(CONTENT_RATE_PER_SECOND, CONTENT_BURST, this.clock.now());
      this.buckets.set(peer.peerId, bucket);
    }
    if (!bucket.take(this.clock.now())) return { accept: false, reason: 'rate-limited' };
    return { accept: true };
  }

  /**
   * The one send path: withholds from a peer that may not perceive the kind (`withheld`),
   * otherwise sends (`sent`, or `unsent` when the channel would not take it).
   */
  deliver(peer: GrantSubject, sink: ContentSink, msg: ContentMessage): 'sent' | 'withheld' | 'unsent' {
    if (!this.mayPerceive(peer, msg.kind)) return 'withheld';
    return sink.sendContent(msg) ? 'sent' : 'unsent';
  }

  forget(peerId: string): void {
    this.buckets.delete(peerId);
  }
}
