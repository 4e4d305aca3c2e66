/**
 * Sealed signaling between this participant and the others, through the untrusted broker.
 * Outbound: stamp (link id + sequence number), seal under the room key with the pair bound in
 * the associated data, send. Inbound: open (a blob not sealed for this room and this pair is a
 * stranger's or a tampering broker's), validate, and hand the signal on; every refusal is
 * counted with its reason.
 *
 * Order is kept both ways. WebCrypto runs each seal and open as its own job (in Node on a
 * thread pool), so they may finish out of order; a candidate that overtakes its description
 * is refused by the peer connection ("remote candidate without ICE transport") and the link
 * never comes up. So the crypto runs at once, but results leave in the order they came.
 */
import type { DropCounter } from './drops';
import type { SignalBody, SignalSequencer } from './peer-link';
import type { Logger } from './platform';
import { openBlob, sealBlob } from './seal';
import { isPeerId, parseSignal, type SignalMessage } from './wire';

export interface SignalingOptions {
  sid: string;
  selfId: string;
  key: CryptoKey;
  send(to: string, blob: string): void;
  randomBytes: (n: number) => Uint8Array;
  log: Logger;
  drops: DropCounter;
  /** The sealing primitives; tests pass slowed ones to show that order survives. */
  crypto?: { seal: typeof sealBlob; open: typeof openBlob };
}

export class SealedSignaling {
  private readonly crypto: { seal: typeof sealBlob; open: typeof openBlob };
  private readonly inbound = new OrderedOutput();
  private readonly outbound = new OrderedOutput();

  constructor(private readonly opts: SignalingOptions) {
    this.crypto = opts.crypto ?? { seal: sealBlob, open: openBlob };
  }

  /** Opens and validates a blob; results resolve in the order the blobs were given. */
  open(from: string, blob: string): Promise<SignalMessage | null> {
    return this.inbound.push(this.openNow(from, blob));
  }

  private async openNow(from: string, blob: string): Promise<SignalMessage | null> {
    const { sid, selfId, key, drops } = this.opts;
    if (!isPeerId(from) || from === selfId) {
      drops.drop('signal', 'bad-sender');
      return null;
    }
    let plaintext: string;
    try {
      plaintext = await this.crypto.open(key, { sid, from, to: selfId }, blob);
    } catch {
      drops.drop('signal', 'unsealed');
      return null;
    }
    const parsed = parseSignal(plaintext);
    if (!parsed.ok) {
      drops.drop('signal', `invalid:${parsed.reason}`);
      return null;
    }
    return parsed.msg;
  }

  send(to: string, seq: SignalSequencer, body: SignalBody): void {
    const { sid, selfId, key } = this.opts;
    const plaintext = JSON.stringify(seq.stamp(body));
    const sealed = this.crypto.seal(key, { sid, from: selfId, to }, plaintext, this.opts.randomBytes);
    this.outbound.push(sealed).then(
      (blob) => this.opts.send(to, blob),
      (err: unknown) => this.opts.log.warn('could not seal signaling', { error: String(err) }),
    );
  }
}

/**
 * Lets work run concurrently but settles it in the order it was pushed: each result waits for
 * the one before it. Holds nothing but the tail of the chain.
 */
export class OrderedOutput {
  private tail: Promise<unknown> = Promise.resolve();

  push<T>(work: Promise<T>): Promise<T> {
    const inOrder = this.tail.then(() => work);
    this.tail = inOrder.then(
      () => undefined,
      () => undefined,
    );
    return inOrder;
  }
}
