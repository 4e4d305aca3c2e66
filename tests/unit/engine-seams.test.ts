/**
 * The small modules Session wires: which offers are answered, where each control message
 * goes (and which are dropped, with what reason), how chat flows both ways, and how views are
 * coalesced. No WebRTC: pairs and links are the few fields each module reads.
 */
import { describe, expect, it, vi } from 'vitest';
import { MAX_UNADMITTED_LINKS, mayAnswerOffer, type OfferContext } from '../../src/engine/admission';
import { defaultGrants } from '../../src/engine/capabilities';
import { ChatFlow } from '../../src/engine/chat-flow';
import { ChatStore } from '../../src/engine/chat-store';
import { ContentRouter } from '../../src/engine/content-router';
import { dispatchControl, refusedText, type ControlHost } from '../../src/engine/control-dispatch';
import type { Mesh } from '../../src/engine/mesh';
import type { Pair } from '../../src/engine/pair';
import { systemClock } from '../../src/engine/platform';
import { Roster } from '../../src/engine/roster';
import { ViewEmitter } from '../../src/engine/view-emitter';
import type { ControlMessage, RosterEntry } from '../../src/engine/wire';

const id = (c: string) => c.repeat(22);
const fp = (c: string) => Array(32).fill(c.charCodeAt(0).toString(16).padStart(2, '0')).join(':');
const entry = (c: string, name: string): RosterEntry => ({ peerId: id(c), name, kind: 'human', fingerprint: fp(c) });
const silent = { info() {}, warn() {} };

function fakePair(peerId: string, admitted: boolean, sent: unknown[] = [], accepts = true): Pair {
  const link = { sendContent: (m: unknown) => (sent.push(m), accepts), close: vi.fn(), role: 'dialer' };
  return { peerId, admitted, link, sas: { receive: vi.fn() } } as unknown as Pair;
}

describe('mayAnswerOffer', () => {
  const ctx = (over: Partial<OfferContext> & { pairs?: Pair[]; evicts?: boolean } = {}): OfferContext => {
    const pairs = over.pairs ?? [];
    const mesh = { all: () => pairs, evictOldestUnhandshaken: () => over.evicts ?? false } as Pick<Mesh, 'all' | 'evictOldestUnhandshaken'>;
    return { inCall: true, isCoordinator: true, rosterHas: () => false, mesh, ...over };
  };

  it('answers roster members, and strangers only at the coordinator', () => {
    expect(mayAnswerOffer(ctx({ inCall: false, rosterHas: () => true }), id('B'))).toBe(false);
    expect(mayAnswerOffer(ctx({ isCoordinator: false, rosterHas: () => true }), id('B'))).toBe(true);
    expect(mayAnswerOffer(ctx({ isCoordinator: false }), id('B'))).toBe(false);
    expect(mayAnswerOffer(ctx(), id('B'))).toBe(true);
  });

  it('a flood of pending joiners cannot hold every slot: a full gate answers only by evicting one', () => {
    const pending = Array.from({ length: MAX_UNADMITTED_LINKS }, (_, i) => fakePair(id(String.fromCharCode(67 + i)), false));
    expect(mayAnswerOffer(ctx({ pairs: pending, evicts: false }), id('Z'))).toBe(false);
    expect(mayAnswerOffer(ctx({ pairs: pending, evicts: true }), id('Z'))).toBe(true);
    // Admitted members do not count against the joiners' slots.
    const admitted = pending.map((p) => fakePair(p.peerId, true));
    expect(mayAnswerOffer(ctx({ pairs: admitted }), id('Z'))).toBe(true);
  });
});

describe('dispatchControl', () => {
  function host(joiningVia: string | null = null) {
    const drops: string[] = [];
    const calls: string[] = [];
    const h = {
      pipeline: {
        hello: () => calls.push('hello'),
        welcome: () => calls.push('welcome'),
        rosterConfirms: () => true,
        sasStep: () => calls.push('sas'),
      },
      presence: { isJoiningVia: (p: string) => p === joiningVia, event: () => calls.push('presence') },
      media: { remoteSending: () => calls.push('media') },
      dropped: (_c: 'control', reason: string) => drops.push(reason),
      finish: (_p: 'failed', reason: string) => calls.push(`finish:${reason}`),
      emit: () => undefined,
    } as unknown as ControlHost;
    return { h, drops, calls };
  }

  it('drops a roster that is not from the admitted coordinator of that link', () => {
    const { h, drops, calls } = host();
    const roster = { kind: 'roster', coordinator: id('C'), epoch: 2, members: [] } as unknown as ControlMessage;
    dispatchControl(h, fakePair(id('B'), true), roster);
    dispatchControl(h, fakePair(id('C'), false), roster);
    expect(drops).toEqual(['roster-not-from-coordinator', 'roster-not-from-coordinator']);
    dispatchControl(h, fakePair(id('C'), true), roster);
    expect(calls).toEqual(['presence']);
  });

  it('a refusal ends only the join it answers, quoting the sender as the sender', () => {
    const { h, drops, calls } = host(id('C'));
    const refused = { kind: 'refused', reason: 'locked' } as ControlMessage;
    dispatchControl(h, fakePair(id('B'), true), refused);
    expect(drops).toEqual(['unexpected-refused']);
    dispatchControl(h, fakePair(id('C'), true), refused);
    expect(calls).toEqual([`finish:${refusedText('locked')}`]);
    expect(refusedText('locked')).toMatch(/coordinator said: “locked”/);
  });

  it('media state from a link not yet admitted, and a kind it does not know, are dropped', () => {
    const { h, drops, calls } = host();
    dispatchControl(h, fakePair(id('B'), false), { kind: 'media', sending: ['mic'] } as ControlMessage);
    dispatchControl(h, fakePair(id('B'), true), { kind: 'teleport' } as unknown as ControlMessage);
    expect(drops).toEqual(['not-admitted', 'unexpected-kind']);
    expect(calls).toEqual([]);
  });
});

describe('ChatFlow', () => {
  function flow() {
    const roster = new Roster();
    for (const [c, n] of [['A', 'Ann'], ['B', 'Bea'], ['C', 'Cai']] as const) expect(roster.admit(entry(c, n)).ok).toBe(true);
    const chat = new ChatStore({ now: () => Date.now() });
    const router = new ContentRouter(defaultGrants, systemClock);
    return { roster, chat, flow: new ChatFlow({ roster, router, chat, clock: systemClock, randomBytes: (n) => new Uint8Array(n).fill(7) }) };
  }

  it('sends to every member with a link and names the ones without, never skipping them', () => {
    const { flow: f, chat } = flow();
    const sentToB: unknown[] = [];
    const pairs = new Map([[id('B'), fakePair(id('B'), true, sentToB)]]);
    const mesh = { get: (p: string) => pairs.get(p) } as unknown as Mesh;
    expect(f.send({ peerId: id('A'), name: 'Ann' }, mesh, '  hi  ')).toEqual(['Cai']);
    expect(sentToB).toMatchObject([{ kind: 'chat', text: 'hi' }]);
    expect(chat.entries().at(-1)).toMatchObject({ self: true, text: 'hi', undeliveredTo: ['Cai'] });
    expect(() => f.send({ peerId: id('A'), name: 'Ann' }, mesh, '   ')).toThrow(/empty/);
  });

  it('refuses chat from a link that is not admitted, and a member over its rate', () => {
    const { flow: f, chat } = flow();
    const msg = (i: number) => ({ kind: 'chat' as const, id: `msg${String(i).padStart(13, '0')}`, text: `m${i}`, at: Date.now() });
    expect(f.receive(fakePair(id('B'), false), msg(0))).toEqual({ ok: false, reason: 'not-admitted' });
    expect(f.receive(fakePair(id('Z'), true), msg(1))).toEqual({ ok: false, reason: 'not-admitted' });
    const results = Array.from({ length: 40 }, (_, i) => f.receive(fakePair(id('B'), true), msg(i + 2)));
    expect(results.filter((r) => r.ok)).toHaveLength(30);
    expect(results.at(-1)).toEqual({ ok: false, reason: 'rate-limited' });
    expect(chat.entries().filter((c) => c.fromName === 'Bea')).toHaveLength(30);
  });
});

describe('ViewEmitter', () => {
  it('coalesces a burst into one view, and a listener that throws does not silence the others', async () => {
    let n = 0;
    const views = new ViewEmitter(() => ++n, silent);
    const seen: number[] = [];
    views.subscribe(() => {
      throw new Error('broken listener');
    });
    const off = views.subscribe((v) => seen.push(v));
    views.emit();
    views.emit();
    views.emit();
    await Promise.resolve();
    expect(seen).toEqual([1]);
    off();
    views.emit();
    await Promise.resolve();
    expect(seen).toEqual([1]);
  });
});
