import { describe, expect, it } from 'vitest';
import { verifierFor } from '../../src/engine/verifier';

const FP1 = Array(32).fill('11').join(':');
const FP2 = Array(32).fill('22').join(':');
const verifier = verifierFor({ version: 1, roomId: 'r', gate: 'open' });
const entry = { peerId: 'AAAAAAAAAAAAAAAAAAAAAA', name: 'Ann', kind: 'human' as const, fingerprint: FP1 };

describe('Verifier (open rooms)', () => {
  it('accepts the roster certificate and says how the peer was identified', () => {
    expect(verifier.verify({ peerId: entry.peerId, fingerprint: FP1, expected: entry, credential: null, claimedKind: 'human' })).toEqual({
      ok: true,
      identity: { method: 'certificate', fingerprint: FP1, kind: 'human' },
    });
  });

  it('refuses a link whose handshaken certificate is not the roster one', () => {
    expect(verifier.verify({ peerId: entry.peerId, fingerprint: FP2, expected: entry, credential: null, claimedKind: 'human' })).toEqual({ ok: false, reason: 'fingerprint-mismatch' });
  });

  it('refuses a credential an open room cannot check rather than ignoring it', () => {
    expect(verifier.verify({ peerId: entry.peerId, fingerprint: FP1, expected: null, credential: 'x', claimedKind: 'human' })).toEqual({ ok: false, reason: 'credential-not-expected' });
  });
});
