import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprintFromDigest, fromBase64Url, toBase64Url } from '../../src/engine/encoding';
import {
  SAS_NONCE_BYTES,
  SAS_SYMBOLS,
  SAS_WORDS,
  SasError,
  SasExchange,
  computeSasCode,
  sasCommitment,
  type SasErrorCode,
} from '../../src/engine/sas';

const rnd = (n: number) => new Uint8Array(randomBytes(n));
const fpOf = (label: string) => fingerprintFromDigest(createHash('sha256').update(label).digest());

// Golden inputs. FP_LOW sorts before FP_HIGH.
const FP_LOW = '10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f:20:21:22:23:24:25:26:27:28:29:2a:2b:2c:2d:2e:2f';
const FP_HIGH = 'e0:df:de:dd:dc:db:da:d9:d8:d7:d6:d5:d4:d3:d2:d1:d0:cf:ce:cd:cc:cb:ca:c9:c8:c7:c6:c5:c4:c3:c2:c1';
const NONCE_LOW = new Uint8Array(32).map((_, i) => i + 1); // 01..20
const NONCE_HIGH = new Uint8Array(32).map((_, i) => 0xff - i); // ff..e0

/** Independent reference: node:crypto HKDF, BigInt bit reading. */
function referenceCode(fpA: string, nA: Uint8Array, fpB: string, nB: Uint8Array): string[] {
  const [f1, m1, f2, m2] = fpA < fpB ? [fpA, nA, fpB, nB] : [fpB, nB, fpA, nA];
  const ikm = Buffer.concat([Buffer.from(f1, 'utf8'), Buffer.of(0), Buffer.from(f2, 'utf8'), Buffer.of(0), m1, m2]);
  const okm = Buffer.from(hkdfSync('sha256', ikm, 'kibitz/sas/v1', 'safety-code', 6));
  const n = BigInt(`0x${okm.toString('hex')}`); // 48 bits
  const words: string[] = [];
  for (let i = 0; i < 7; i++) words.push(SAS_WORDS[Number((n >> BigInt(48 - 6 * (i + 1))) & 63n)]!);
  return words;
}

function referenceCommitment(nonce: Uint8Array): string {
  return createHash('sha256').update('kibitz/sas-commit/v1|', 'utf8').update(nonce).digest('base64url');
}

function expectSasError(fn: () => unknown, code: SasErrorCode): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SasError);
  expect((err as SasError).code).toBe(code);
}

function pair(fpA = fpOf('alice'), fpB = fpOf('bob')) {
  const a = new SasExchange({ localFingerprint: fpA, remoteFingerprint: fpB, randomBytes: rnd });
  const b = new SasExchange({ localFingerprint: fpB, remoteFingerprint: fpA, randomBytes: rnd });
  return { a, b };
}

/** The honest protocol, both sides. */
function run(a: SasExchange, b: SasExchange): { wa: string[]; wb: string[] } {
  const ca = a.commit();
  const cb = b.commit();
  a.receiveCommit(cb);
  b.receiveCommit(ca);
  const ra = a.reveal()!;
  const rb = b.reveal()!;
  return { wa: a.receiveReveal(rb), wb: b.receiveReveal(ra) };
}

describe('SAS_WORDS', () => {
  it('has 64 distinct, short, lowercase words', () => {
    expect(SAS_WORDS).toHaveLength(64);
    expect(new Set(SAS_WORDS).size).toBe(64);
    for (const w of SAS_WORDS) {
      expect(w).toMatch(/^[a-z]{3,8}$/);
    }
  });

  it('no two words share their first three letters, and none is a prefix of another', () => {
    expect(new Set(SAS_WORDS.map((w) => w.slice(0, 3))).size).toBe(64);
    for (const a of SAS_WORDS) for (const b of SAS_WORDS) if (a !== b) expect(b.startsWith(a), `${a}/${b}`).toBe(false);
  });

  it('is frozen (the table is part of the protocol)', () => {
    expect(Object.isFrozen(SAS_WORDS)).toBe(true);
  });

  it('pins the table itself', () => {
    expect(createHash('sha256').update(SAS_WORDS.join(',')).digest('hex').slice(0, 16)).toBe('3b032964dd5f0e03');
  });
});

describe('sasCommitment', () => {
  it('matches node:crypto and a golden vector', () => {
    expect(sasCommitment(NONCE_LOW)).toBe(referenceCommitment(NONCE_LOW));
    expect(sasCommitment(NONCE_LOW)).toBe('MxjgmWjmZPV0cfu0XjJJ3hk-SLTpb0NrYc9a1wOKPZ8');
    const n = rnd(32);
    expect(sasCommitment(n)).toBe(referenceCommitment(n));
    expect(sasCommitment(n)).toHaveLength(43);
  });

  it('refuses nonces that are not 32 bytes', () => {
    for (const n of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33)]) expectSasError(() => sasCommitment(n), 'malformed');
  });
});

describe('computeSasCode', () => {
  it('matches the golden vector (independently derived, and pinned)', () => {
    const words = computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH, NONCE_HIGH);
    expect(words).toEqual(referenceCode(FP_LOW, NONCE_LOW, FP_HIGH, NONCE_HIGH));
    // okm = 9eda02eb43f9 -> 6-bit indices 39 45 40 2 58 52 15
    expect(words).toEqual(['ocean', 'quilt', 'orange', 'anchor', 'volcano', 'tiger', 'forest']);
  });

  it('is symmetric in its two (fingerprint, nonce) pairs', () => {
    expect(computeSasCode(FP_HIGH, NONCE_HIGH, FP_LOW, NONCE_LOW)).toEqual(computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH, NONCE_HIGH));
  });

  it('agrees with the reference on random inputs and always yields 7 table words', () => {
    for (let i = 0; i < 200; i++) {
      const fa = fpOf(`a${i}`);
      const fb = fpOf(`b${i}`);
      const na = rnd(32);
      const nb = rnd(32);
      const w = computeSasCode(fa, na, fb, nb);
      expect(w).toHaveLength(SAS_SYMBOLS);
      for (const x of w) expect(SAS_WORDS).toContain(x);
      expect(w).toEqual(referenceCode(fa, na, fb, nb));
      expect(computeSasCode(fb, nb, fa, na)).toEqual(w);
    }
  });

  it('binds the fingerprints: a different certificate (MITM) gives a different code', () => {
    const base = computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH, NONCE_HIGH);
    const mitm = fpOf('mallory');
    expect(computeSasCode(mitm, NONCE_LOW, FP_HIGH, NONCE_HIGH)).not.toEqual(base);
    expect(computeSasCode(FP_LOW, NONCE_LOW, mitm, NONCE_HIGH)).not.toEqual(base);
    // One flipped bit in the last fingerprint byte.
    expect(computeSasCode(FP_LOW, NONCE_LOW, `${FP_HIGH.slice(0, -2)}c0`, NONCE_HIGH)).not.toEqual(base);
  });

  it('binds the nonces and their owners', () => {
    const base = computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH, NONCE_HIGH);
    const n2 = Uint8Array.from(NONCE_HIGH);
    n2[31]! ^= 1;
    expect(computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH, n2)).not.toEqual(base);
    // Swapping which nonce belongs to which fingerprint changes the code.
    expect(computeSasCode(FP_LOW, NONCE_HIGH, FP_HIGH, NONCE_LOW)).not.toEqual(base);
  });

  it('refuses malformed or equal fingerprints and wrong-size nonces', () => {
    expectSasError(() => computeSasCode(FP_LOW.toUpperCase(), NONCE_LOW, FP_HIGH, NONCE_HIGH), 'malformed');
    expectSasError(() => computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH.replace(/:/g, ''), NONCE_HIGH), 'malformed');
    expectSasError(() => computeSasCode(FP_LOW, NONCE_LOW, '', NONCE_HIGH), 'malformed');
    expectSasError(() => computeSasCode(FP_LOW, NONCE_LOW, FP_LOW, NONCE_HIGH), 'malformed');
    expectSasError(() => computeSasCode(FP_LOW, NONCE_LOW.subarray(1), FP_HIGH, NONCE_HIGH), 'malformed');
    expectSasError(() => computeSasCode(FP_LOW, NONCE_LOW, FP_HIGH, new Uint8Array(64)), 'malformed');
  });
});

describe('SasExchange: honest peers', () => {
  it('both sides get the same 7 words', () => {
    const { a, b } = pair();
    const { wa, wb } = run(a, b);
    expect(wa).toHaveLength(SAS_SYMBOLS);
    expect(wa).toEqual(wb);
    expect(a.words).toEqual(wa);
    expect(b.words).toEqual(wb);
    expect(a.failed).toBe(false);
  });

  it('the code is the computeSasCode of the revealed nonces', () => {
    const fpA = fpOf('alice');
    const fpB = fpOf('bob');
    const { a, b } = pair(fpA, fpB);
    const ca = a.commit();
    const cb = b.commit();
    a.receiveCommit(cb);
    b.receiveCommit(ca);
    const na = a.reveal()!;
    const nb = b.reveal()!;
    expect(referenceCommitment(fromBase64Url(na))).toBe(ca);
    expect(fromBase64Url(na)).toHaveLength(SAS_NONCE_BYTES);
    expect(a.receiveReveal(nb)).toEqual(referenceCode(fpA, fromBase64Url(na), fpB, fromBase64Url(nb)));
  });

  it('works whichever side commits and reveals first', () => {
    const { a, b } = pair();
    const cb = b.commit();
    a.receiveCommit(cb); // theirs arrives before we committed
    expect(a.reveal()).toBeNull();
    const ca = a.commit();
    expect(b.reveal()).toBeNull();
    b.receiveCommit(ca);
    const wb = b.receiveReveal(a.reveal()!);
    const wa = a.receiveReveal(b.reveal()!);
    expect(wa).toEqual(wb);
  });

  it('reveal() withholds our nonce until we committed and hold their commitment', () => {
    const { a, b } = pair();
    expect(a.reveal()).toBeNull();
    a.commit();
    expect(a.reveal()).toBeNull(); // a MITM must not see it before committing
    a.receiveCommit(b.commit());
    const r = a.reveal();
    expect(r).not.toBeNull();
    expect(a.reveal()).toBe(r); // stable
  });

  it('new exchanges give fresh codes (nonces are random per connection)', () => {
    const codes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { a, b } = pair();
      codes.add(run(a, b).wa.join(' '));
    }
    expect(codes.size).toBeGreaterThan(15);
  });

  it('the words getter hands out copies', () => {
    const { a, b } = pair();
    run(a, b);
    const w = a.words!;
    w[0] = 'tampered';
    expect(a.words![0]).not.toBe('tampered');
  });
});

describe('SasExchange: adversarial', () => {
  it('a relaying man in the middle passes the commitment checks but the codes differ', () => {
    const fpA = fpOf('alice');
    const fpB = fpOf('bob');
    // Mallory presents fpM1 to Alice and fpM2 to Bob and relays the SAS messages verbatim.
    const alice = new SasExchange({ localFingerprint: fpA, remoteFingerprint: fpOf('mallory-1'), randomBytes: rnd });
    const bob = new SasExchange({ localFingerprint: fpB, remoteFingerprint: fpOf('mallory-2'), randomBytes: rnd });
    const ca = alice.commit();
    const cb = bob.commit();
    alice.receiveCommit(cb);
    bob.receiveCommit(ca);
    const wa = alice.receiveReveal(bob.reveal()!);
    const wb = bob.receiveReveal(alice.reveal()!);
    expect(wa).not.toEqual(wb);
  });

  it('a man in the middle running its own honest exchanges gets different codes on each side', () => {
    const { a: alice, b: m1 } = pair(fpOf('alice'), fpOf('mallory-1'));
    const { a: m2, b: bob } = pair(fpOf('mallory-2'), fpOf('bob'));
    expect(run(alice, m1).wa).not.toEqual(run(m2, bob).wb);
  });

  it('a reveal before their commitment is rejected and fails the exchange', () => {
    const { a, b } = pair();
    const ca = a.commit();
    const cb = b.commit();
    b.receiveCommit(ca);
    // b's commitment never reached a (the attacker dropped it); b's nonce arrives first.
    expectSasError(() => a.receiveReveal(b.reveal()!), 'reveal-before-commit');
    expect(a.failed).toBe(true);
    expect(a.words).toBeNull();
    expect(a.reveal()).toBeNull();
    // A late commitment cannot revive it.
    expectSasError(() => a.receiveCommit(cb), 'failed');
  });

  it('a reveal before we committed is rejected (no honest peer could have sent it)', () => {
    const { a, b } = pair();
    b.receiveCommit(sasCommitment(rnd(32))); // b "holds a commitment" a never made
    a.receiveCommit(b.commit());
    expectSasError(() => a.receiveReveal(b.reveal()!), 'reveal-before-commit');
    expect(a.failed).toBe(true);
    expectSasError(() => a.commit(), 'failed');
  });

  it('a reveal that does not match the commitment is rejected', () => {
    const { a, b } = pair();
    a.receiveCommit(b.commit());
    b.receiveCommit(a.commit());
    const wrong = toBase64Url(rnd(32));
    expectSasError(() => a.receiveReveal(wrong), 'commitment-mismatch');
    expect(a.failed).toBe(true);
    expect(a.words).toBeNull();
    expect(a.reveal()).toBeNull();
    // The genuine reveal cannot rescue a failed exchange.
    expectSasError(() => a.receiveReveal(b.reveal()!), 'failed');
    expect(a.words).toBeNull();
  });

  it('a reveal with one flipped bit is rejected', () => {
    const { a, b } = pair();
    a.receiveCommit(b.commit());
    b.receiveCommit(a.commit());
    const nb = fromBase64Url(b.reveal()!);
    nb[0]! ^= 0x80;
    expectSasError(() => a.receiveReveal(toBase64Url(nb)), 'commitment-mismatch');
  });

  it('a second commitment is rejected, even if identical', () => {
    const { a, b } = pair();
    const cb = b.commit();
    a.receiveCommit(cb);
    expectSasError(() => a.receiveCommit(cb), 'duplicate');
    expect(a.failed).toBe(true);
  });

  it('a second commitment after the code was shown fails the exchange and withdraws the code', () => {
    const { a, b } = pair();
    run(a, b);
    expectSasError(() => a.receiveCommit(sasCommitment(rnd(32))), 'duplicate');
    expect(a.words).toBeNull();
  });

  it('a second reveal is rejected', () => {
    const { a, b } = pair();
    const ca = a.commit();
    a.receiveCommit(b.commit());
    b.receiveCommit(ca);
    const nb = b.reveal()!;
    a.receiveReveal(nb);
    expectSasError(() => a.receiveReveal(nb), 'duplicate');
    expect(a.failed).toBe(true);
    expect(a.words).toBeNull();
  });

  it('calling commit() twice is refused', () => {
    const { a } = pair();
    a.commit();
    expectSasError(() => a.commit(), 'duplicate');
  });

  it('malformed commitments are rejected', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const good = sasCommitment(rnd(32));
    // The last char of 32 bytes carries 2 unused bits; setting one gives a non-canonical spelling.
    const nonCanonical = good.slice(0, 42) + alphabet[alphabet.indexOf(good.at(-1)!) | 1];
    const bads: unknown[] = [
      '',
      good.slice(1),
      `${good}A`,
      `${good.slice(0, 42)}=`,
      `${good}=`,
      `${good.slice(0, 10)}+${good.slice(11)}`,
      ` ${good.slice(1)}`,
      nonCanonical,
      toBase64Url(rnd(31)),
      toBase64Url(rnd(33)),
      Buffer.from(rnd(32)).toString('hex'),
      null,
      42,
    ];
    for (const bad of bads) {
      const { a } = pair();
      a.commit();
      expectSasError(() => a.receiveCommit(bad as string), 'malformed');
      expect(a.failed).toBe(true);
    }
  });

  it('malformed reveals are rejected', () => {
    for (const bad of ['', 'AAAA', toBase64Url(rnd(31)), `${toBase64Url(rnd(32)).slice(0, 42)}B`, '!'.repeat(43)]) {
      const { a, b } = pair();
      a.receiveCommit(b.commit());
      a.commit();
      expectSasError(() => a.receiveReveal(bad), 'malformed');
      expect(a.failed).toBe(true);
    }
  });

  it('a reflected exchange (our own commitment and nonce echoed back) is rejected', () => {
    const { a } = pair();
    const ca = a.commit();
    a.receiveCommit(ca);
    const na = a.reveal()!;
    expectSasError(() => a.receiveReveal(na), 'reflected');
    expect(a.words).toBeNull();
  });

  it('refuses to start with malformed or identical fingerprints', () => {
    const fp = fpOf('alice');
    expectSasError(() => new SasExchange({ localFingerprint: fp, remoteFingerprint: fp, randomBytes: rnd }), 'malformed');
    expectSasError(() => new SasExchange({ localFingerprint: fp.toUpperCase(), remoteFingerprint: fpOf('b'), randomBytes: rnd }), 'malformed');
    expectSasError(() => new SasExchange({ localFingerprint: fp, remoteFingerprint: 'sha-256 AB:CD', randomBytes: rnd }), 'malformed');
  });

  it('refuses a random source that returns the wrong number of bytes', () => {
    const a = new SasExchange({ localFingerprint: fpOf('a'), remoteFingerprint: fpOf('b'), randomBytes: () => new Uint8Array(16) });
    expectSasError(() => a.commit(), 'malformed');
    expect(a.failed).toBe(true);
  });

  it('copies the nonce, so a random source that reuses its buffer cannot change it', () => {
    const buf = new Uint8Array(32).fill(7);
    const a = new SasExchange({ localFingerprint: fpOf('a'), remoteFingerprint: fpOf('b'), randomBytes: () => buf });
    const b = new SasExchange({ localFingerprint: fpOf('b'), remoteFingerprint: fpOf('a'), randomBytes: rnd });
    const ca = a.commit();
    buf.fill(9);
    a.receiveCommit(b.commit());
    b.receiveCommit(ca);
    expect(() => b.receiveReveal(a.reveal()!)).not.toThrow(); // still matches the commitment
  });
});
