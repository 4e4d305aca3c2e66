import { describe, expect, it } from 'vitest';
import { ChatStore } from '../../src/engine/chat-store';
import { buildSessionView, type ViewInputs } from '../../src/engine/session-view';
import type { RosterEntry } from '../../src/engine/wire';

const FP = (b: string) => Array.from({ length: 32 }, () => b).join(':');
const SELF = 'S'.repeat(22);

function entry(peerId: string, name: string, fp = '01'): RosterEntry {
  return { peerId, name, kind: 'human', fingerprint: FP(fp) };
}

function inputs(roster: RosterEntry[], selfName = 'Ada'): ViewInputs {
  return {
    phase: 'connected',
    reason: null,
    roomLink: null,
    selfId: SELF,
    name: selfName,
    fingerprint: FP('ff'),
    coordinatorId: SELF,
    sending: [],
    roster: [entry(SELF, selfName, 'ff'), ...roster],
    pairOf: () => undefined,
    redialing: () => false,
    trustOf: () => 'unverified',
    chat: new ChatStore({ now: () => 1 }),
    broker: 'open',
    notices: [],
  };
}

describe('buildSessionView look-alike names', () => {
  it('flags both members whose names share a skeleton, and nobody else', () => {
    // Capital I and small l render alike in many fonts; the skeleton maps them together.
    const view = buildSessionView(inputs([entry('A'.repeat(22), 'Alice'), entry('B'.repeat(22), 'AIice', '02'), entry('C'.repeat(22), 'Bob', '03')]));
    const flags = Object.fromEntries(view.members.map((m) => [m.name, m.lookAlike]));
    expect(flags).toEqual({ Alice: true, AIice: true, Bob: false });
  });

  it('flags a member who looks like you', () => {
    const view = buildSessionView(inputs([entry('A'.repeat(22), 'Ada'), entry('B'.repeat(22), 'Bob', '02')], 'Ada'));
    expect(view.members.map((m) => [m.name, m.lookAlike])).toEqual([
      ['Ada', true],
      ['Bob', false],
    ]);
  });

  it('flags nobody when every name differs', () => {
    const view = buildSessionView(inputs([entry('A'.repeat(22), 'Alice'), entry('B'.repeat(22), 'Alicia', '02')]));
    expect(view.members.every((m) => !m.lookAlike)).toBe(true);
  });
});
