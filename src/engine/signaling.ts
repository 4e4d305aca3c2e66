/**
 * Sealed signaling between this participant and the others, through the untrusted broker.
 * Outbound: stamp (link id + sequence number), seal under the room key with the pair bound in
 * the associated data, send. Inbound: open (a blob not sealed for this room and this pair is a
 * stranger's or a tampering broker's), validate, and hand the signal on; every refusal is
 * counted with its reason.
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
}

export class SealedSignaling {
  constructor(private readonly opts: SignalingOptions) {}

  async open(from: string, blob: string): Promise<SignalMessage | null> {
    const { sid, selfId, key, drops } = this.opts;
    if (!isPeerId(from) || from === selfId) {
      drops.drop('signal', 'bad-sender');
      return null;
    }
    let plaintext: string;
    try {
      plaintext = await openBlob(key, { sid, from, to: selfId }, blob);
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
    sealBlob(key, { sid, from: selfId, to }, plaintext, this.opts.randomBytes).then(
      (blob) => this.opts.send(to, blob),
      (err: unknown) => this.opts.log.warn('could not seal signaling', { error: String(err) }),
    );
  }
}
