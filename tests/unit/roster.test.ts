import { describe, expect, it } from 'vitest';
import { checkRosterAgainstLink, Roster } from '../../src/engine/roster';
import { MAX_ROSTER_MEMBERS, type RosterEntry } from '../../src/engine/wire';

const fp = (n: number) => Array.from({ length: 32 }, (_, i) => (i === 0 ? n % 256 : Math.floor(n / 256)).toString(16).padStart(2, '0')).join(':');
const id = (n: number) => `${n.toString(36).padStart(21, 'A')}A`;
const entry = (n: number, name = `P${n}`): RosterEntry => ({ peerId: id(n), name, kind: 'human', fingerprint: fp(n) });

describe('Roster', () => {
  it(`refuses the ${MAX_ROSTER_MEMBERS + 1}th member with a reason (a roster must fit one control message)`, () => {
    const r = new Roster();
    for (let i = 0; i < MAX_ROSTER_MEMBERS; i++) expect(r.admit(entry(i, 'Ж'.repeat(64))).ok).toBe(true);
    const refused = r.admit(entry(999));
    expect(refused).toEqual({ ok: false, reason: `this call is full (${MAX_ROSTER_MEMBERS} people)` });
    expect(r.size).toBe(MAX_ROSTER_MEMBERS);
  });

  it('caps a configured capacity at the wire limit', () => {
    expect(new Roster(10_000).capacity).toBe(MAX_ROSTER_MEMBERS);
    expect(new Roster(2).capacity).toBe(2);
  });

  it('refuses a second member with a certificate already in the call', () => {
    const r = new Roster();
    r.admit(entry(1));
    expect(r.admit({ ...entry(2), fingerprint: fp(1) })).toEqual({ ok: false, reason: 'this certificate is already in the call' });
  });

  it('checks a roster against the link it came over', () => {
    const self = { peerId: id(1), fingerprint: fp(1) };
    const sender = { peerId: id(2), fingerprint: fp(2) };
    expect(checkRosterAgainstLink([entry(1), entry(2)], self, sender)).toBe('ok');
    expect(checkRosterAgainstLink([entry(2)], self, sender)).toBe('missing-self');
    expect(checkRosterAgainstLink([entry(1)], self, sender)).toBe('missing-sender');
    expect(checkRosterAgainstLink([entry(1), { ...entry(2), fingerprint: fp(3) }], self, sender)).toBe('intercepted');
  });
});
