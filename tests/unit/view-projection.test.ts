import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ChatStore } from '../../src/engine/chat-store';
import { NoticeList } from '../../src/engine/notices';
import { MAX_CHAT_HISTORY, MAX_CHAT_LENGTH, type MemberView, type SessionView } from '../../src/engine/session-api';
import { CHAT_DELTA_BUDGET_CHARS, OVERSIZED_ENTRY_TEXT, projectView, type PortCursor } from '../../src/engine/view-projection';
import { ChatHistory, MAX_ENGINE_MESSAGE_CHARS, parseEngineMessage } from '../../src/extension/messages';

const NOW = 1_750_000_000_000;
/** A view message, chat included, never comes near this (the UI refuses above MAX_ENGINE_MESSAGE_CHARS). */
const MAX_VIEW_MESSAGE_CHARS = 512 * 1024;
const WORST_TEXT = '"'.repeat(MAX_CHAT_LENGTH); // each " doubles when escaped as JSON

function peerId(i: number): string {
  return `P${String(i).padStart(20, '0')}A`;
}

function member(i: number): MemberView {
  return {
    peerId: peerId(i),
    name: `Member ${i} `.padEnd(64, 'm'),
    kind: 'human',
    fingerprint: Array.from({ length: 32 }, () => 'ab').join(':'),
    isCoordinator: i === 0,
    link: 'connected',
    sas: 'one two three four five six seven',
    sasPhase: 'ready',
    trust: i === 1 ? 'key-changed' : 'unverified',
    lookAlike: false,
    sending: ['mic', 'camera'],
  };
}

/** The biggest non-chat view the engine can produce: 64 members with long names and 20 long notices. */
function worldWith(store: ChatStore): () => SessionView {
  const notices = new NoticeList({ now: () => NOW, newId: (() => { let n = 0; return () => `n${++n}`; })() });
  for (let i = 0; i < 40; i++) notices.add('error', `Key change: ${'x'.repeat(480)} ${i}`);
  const members = Array.from({ length: 64 }, (_, i) => member(i));
  return () => ({
    phase: 'connected',
    reason: null,
    roomLink: `https://kibitz.example/join#${'r'.repeat(400)}`,
    self: { peerId: peerId(99), name: 'Victim', fingerprint: 'cd:ef', isCoordinator: false, sending: [] },
    members,
    chat: store.entries(),
    chatEpoch: store.epoch,
    broker: 'open',
    notices: notices.list(),
  });
}

function flood(store: ChatStore, n: number, prefix: string, text = WORST_TEXT): void {
  for (let i = 0; i < n; i++) store.add({ id: `${prefix}${i}`, fromPeerId: peerId(1), fromName: 'Rogue', text, at: 8.64e15, self: false });
}

const chars = (v: unknown) => JSON.stringify(v).length;

/** One port: projects, checks every message like the popup does, and assembles the history. */
class FakePort {
  cursor: PortCursor | null = null;
  readonly history = new ChatHistory();
  sizes: number[] = [];
  chat = this.history.entries();

  receive(view: SessionView): boolean {
    const p = projectView(view, this.cursor);
    this.cursor = p.cursor;
    const message = { type: 'view' as const, view: p.view };
    this.sizes.push(chars(message));
    expect(chars(p.view.chat.entries)).toBeLessThanOrEqual(CHAT_DELTA_BUDGET_CHARS);
    const parsed = parseEngineMessage(JSON.parse(JSON.stringify(message)));
    expect(parsed?.type).toBe('view');
    if (parsed?.type !== 'view') throw new Error('view refused');
    // Participants and notices always arrive, whatever the chat holds.
    expect(parsed.view.members).toHaveLength(view.members.length);
    expect(parsed.view.notices).toHaveLength(view.notices.length);
    this.chat = this.history.assemble(parsed.view).chat;
    return p.more;
  }

  drain(view: SessionView): number {
    let n = 1;
    while (this.receive(view)) n++;
    return n;
  }
}

describe('view projection: chat as deltas, every message bounded', () => {
  it('the unprojected worst case would exceed the UI limit (what used to drop every later view)', () => {
    const store = new ChatStore({ now: () => NOW });
    flood(store, 300, 'q');
    expect(chars({ type: 'view', view: worldWith(store)() })).toBeGreaterThan(MAX_ENGINE_MESSAGE_CHARS);
  });

  it('worst case: 500 entries of 4,000 `"` — the first view fits the budget and carries the newest', () => {
    const store = new ChatStore({ now: () => NOW });
    flood(store, MAX_CHAT_HISTORY + 50, 'q');
    const view = worldWith(store)();
    const port = new FakePort();
    expect(port.receive(view)).toBe(false); // a first view never asks for more: older entries are not sent
    expect(port.sizes[0]).toBeLessThanOrEqual(MAX_VIEW_MESSAGE_CHARS);
    expect(port.sizes[0]).toBeLessThan(MAX_ENGINE_MESSAGE_CHARS / 4);
    expect(port.chat.length).toBeGreaterThan(0);
    expect(port.chat.at(-1)!.id).toBe(store.entries().at(-1)!.id);
    // Dates survive: the store replaced the absurd `at` with the arrival time.
    expect(port.chat.every((e) => e.at === NOW)).toBe(true);
  });

  it('later views carry only new entries, within the budget; the rest follow, in order, exactly once', () => {
    const store = new ChatStore({ now: () => NOW });
    const world = worldWith(store);
    const port = new FakePort();
    port.receive(world());
    flood(store, 300, 'q');
    const messages = port.drain(world());
    expect(messages).toBeGreaterThan(1);
    expect(Math.max(...port.sizes)).toBeLessThanOrEqual(MAX_VIEW_MESSAGE_CHARS);
    expect(port.chat.map((e) => e.id)).toEqual(store.entries().map((e) => e.id));
    // Nothing new: an empty delta, same history.
    expect(port.receive(world())).toBe(false);
    expect(port.chat).toHaveLength(300);
  });

  it('a new call (epoch change) resets the port', () => {
    const store = new ChatStore({ now: () => NOW });
    const world = worldWith(store);
    const port = new FakePort();
    flood(store, 3, 'a', 'old call');
    port.receive(world());
    expect(port.chat).toHaveLength(3);
    store.clear();
    flood(store, 1, 'b', 'new call');
    const p = projectView(world(), port.cursor);
    expect(p.view.chat.reset).toBe(true);
    port.receive(world());
    expect(port.chat.map((e) => e.text)).toEqual(['new call']);
  });

  it('an entry bigger than the budget alone is replaced by a stub, and the port moves on', () => {
    const store = new ChatStore({ now: () => NOW });
    flood(store, 2, 'z');
    const p = projectView(worldWith(store)(), null, 1000);
    expect(p.view.chat.entries.map((e) => e.text)).toEqual([OVERSIZED_ENTRY_TEXT, OVERSIZED_ENTRY_TEXT]);
    expect(chars(p.view.chat.entries)).toBeLessThanOrEqual(1000);
    expect(p.cursor.seq).toBe(store.lastSeq);
  });

  it('property: any mix of floods, calls and views keeps every message bounded and the page history a suffix of the store', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), n: fc.integer({ min: 1, max: 120 }), worst: fc.boolean() }),
      fc.record({ kind: fc.constant('view' as const) }),
      fc.record({ kind: fc.constant('clear' as const) }),
      fc.record({ kind: fc.constant('reconnect' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const store = new ChatStore({ now: () => NOW });
        const world = worldWith(store);
        let port = new FakePort();
        let k = 0;
        for (const o of ops) {
          if (o.kind === 'add') flood(store, o.n, `m${k++}-`, o.worst ? WORST_TEXT : 'hello');
          else if (o.kind === 'clear') store.clear();
          else if (o.kind === 'reconnect') port = new FakePort();
          else port.drain(world());
        }
        port.drain(world());
        expect(Math.max(...port.sizes)).toBeLessThanOrEqual(MAX_VIEW_MESSAGE_CHARS);
        const held = store.entries().map((e) => e.seq);
        const shown = port.chat.map((e) => e.seq);
        expect(held.slice(held.length - shown.length)).toEqual(shown);
        if (held.length > 0) expect(shown.length).toBeGreaterThan(0);
      }),
      { numRuns: 40 },
    );
  });
});
