/**
 * Content policy: every piece of content a peer sends passes `mayReceive` for each recipient,
 * and every piece a peer receives passes `maySend` for its sender (DESIGN rule 5: sender
 * withholds, receiver drops). Capabilities and grants plug in here; for now everyone in the
 * room may send and receive everything.
 */
export type ContentKind = 'chat' | 'media:mic' | 'media:camera' | 'media:tab-video' | 'media:tab-audio';

export interface PolicySubject {
  peerId: string;
  fingerprint: string;
}

export interface ContentPolicy {
  /** May `peer` be sent content of this kind? */
  mayReceive(peer: PolicySubject, kind: ContentKind): boolean;
  /** May content of this kind from `peer` be accepted? */
  maySend(peer: PolicySubject, kind: ContentKind): boolean;
}

export const allowAllPolicy: ContentPolicy = {
  mayReceive: () => true,
  maySend: () => true,
};
