import { describe, expect, it } from 'vitest';
import { DropCounter } from '../../src/engine/drops';
import { SignalSequencer } from '../../src/engine/peer-link';
import { deriveRoomKey, openBlob, sealBlob } from '../../src/engine/seal';
import { SealedSignaling } from '../../src/engine/signaling';
import { secureRandomBytes } from '../../src/engine/platform';

const A = 'A'.repeat(22);
const B = 'B'.repeat(22);
const LINK = 'L'.repeat(22);
const ROOM = 'a'.repeat(26);
const silent = { info() {}, warn() {} };

/** Real crypto, but the first job is the slowest: without ordering, results come out reversed. */
function reversedCrypto(steps: number) {
  let pending = steps;
  const later = <T>(work: Promise<T>) => {
    const delay = 5 * pending--;
    return work.then((v) => new Promise<T>((r) => setTimeout(() => r(v), Math.max(delay, 0))));
  };
  return {
    seal: ((...args: Parameters<typeof sealBlob>) => later(sealBlob(...args))) as typeof sealBlob,
    open: ((...args: Parameters<typeof openBlob>) => later(openBlob(...args))) as typeof openBlob,
  };
}

async function pair(crypto?: ReturnType<typeof reversedCrypto>) {
  const key = await deriveRoomKey(ROOM);
  const wire: string[] = [];
  const make = (selfId: string) =>
    new SealedSignaling({ sid: 's'.repeat(43), selfId, key, send: (_to, blob) => wire.push(blob), randomBytes: secureRandomBytes, log: silent, drops: new DropCounter(), crypto });
  return { a: make(A), b: make(B), wire };
}

describe('SealedSignaling', () => {
  it('sends sealed signals in the order they were given, even when sealing finishes out of order', async () => {
    const { a, b, wire } = await pair(reversedCrypto(5));
    const seq = new SignalSequencer(LINK);
    for (let i = 0; i < 5; i++) a.send(B, seq, { k: 'cand', cand: { candidate: `candidate:${i}`, sdpMid: '0', sdpMLineIndex: 0 } });
    await expect.poll(() => wire.length).toBe(5);
    const plain = await Promise.all(wire.map((blob) => b.open(A, blob)));
    expect(plain.map((m) => m?.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it('hands opened signals on in arrival order, even when opening finishes out of order', async () => {
    const sender = await pair();
    const seq = new SignalSequencer(LINK);
    sender.a.send(B, seq, { k: 'desc', desc: { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n' } });
    for (let i = 0; i < 4; i++) sender.a.send(B, seq, { k: 'cand', cand: { candidate: `candidate:${i}`, sdpMid: '0', sdpMLineIndex: 0 } });
    await expect.poll(() => sender.wire.length).toBe(5);
    const receiver = await pair(reversedCrypto(5));
    const routed: string[] = [];
    await Promise.all(sender.wire.map((blob) => receiver.b.open(A, blob).then((m) => routed.push(m ? `${m.k}:${m.seq}` : 'dropped'))));
    expect(routed).toEqual(['desc:0', 'cand:1', 'cand:2', 'cand:3', 'cand:4']);
  });

  it('keeps order when a blob in the middle is refused', async () => {
    const { a, b, wire } = await pair();
    const seq = new SignalSequencer(LINK);
    for (let i = 0; i < 3; i++) a.send(B, seq, { k: 'cand', cand: null });
    await expect.poll(() => wire.length).toBe(3);
    const routed: string[] = [];
    const blobs = [wire[0]!, 'not-a-sealed-blob', wire[1]!, wire[2]!];
    await Promise.all(blobs.map((blob) => b.open(A, blob).then((m) => routed.push(m ? String(m.seq) : 'dropped'))));
    expect(routed).toEqual(['0', 'dropped', '1', '2']);
  });
});
