import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatClock, isoTime, noticeText, undeliveredText } from '../../src/extension/format';
import { MAX_CHAT_LENGTH, MAX_NAME_LENGTH, type ChatEntry, type PortView } from '../../src/engine/session-api';
import {
  ChatHistory,
  ENSURE_ENGINE,
  MAX_ENGINE_MESSAGE_CHARS,
  checkPortView,
  checkBrokerUrl,
  checkCommand,
  checkName,
  checkRoomLink,
  engineFailedView,
  errorText,
  isSessionView,
  parseCommand,
  parseEngineMessage,
  parseEnsureEngineRequest,
  parseEnsureEngineResponse,
  parseUiMessage,
  resultMessage,
} from '../../src/extension/messages';
import { NAME_PROBLEMS } from '../../src/engine/names';

const LINK = 'kibitz://call#v=1&r=abcdefghijklmnopqrstuvwxyz&g=open';
const PEER = 'AbC_dEf-0123456789xyzw';

function chatEntry(overrides: Partial<ChatEntry> = {}): ChatEntry {
  return { seq: 1, id: 'c1', fromPeerId: 'peer2', fromName: 'Bob', text: 'hi', at: 1, self: false, ...overrides };
}

/** A view as a UI port receives it (chat as a delta). */
function view(overrides: Partial<PortView> = {}): PortView {
  return {
    phase: 'connected',
    reason: null,
    roomLink: LINK,
    self: { peerId: PEER, name: 'Ada', fingerprint: 'ab:cd', isCoordinator: true, sending: ['mic'] },
    members: [
      {
        peerId: 'QkJCQkJCQkJCQkJCQkJCQg',
        name: 'Bob',
        kind: 'human',
        fingerprint: 'ef:01',
        isCoordinator: false,
        link: 'connected',
        sas: 'one two three four five six seven',
        sasPhase: 'ready',
        trust: 'unverified',
        lookAlike: false,
        sending: ['camera'],
      },
    ],
    chat: { reset: true, entries: [chatEntry()], more: false },
    chatEpoch: 0,
    broker: 'open',
    notices: [{ id: 'n1', level: 'info', text: 'hello', at: 2 }],
    ...overrides,
  };
}

describe('commands', () => {
  it('accepts every well-formed command and normalises fields', () => {
    expect(parseCommand({ op: 'start', name: '  Ada  ', brokerUrl: 'ws://127.0.0.1:8787' })).toEqual({
      op: 'start',
      name: 'Ada',
      brokerUrl: 'ws://127.0.0.1:8787',
    });
    expect(parseCommand({ op: 'join', name: 'Bob', link: ` ${LINK} `, brokerUrl: 'wss://b.example.org/x' })).toEqual({
      op: 'join',
      name: 'Bob',
      link: LINK,
      brokerUrl: 'wss://b.example.org/x',
    });
    // Opening a room whose link was shared before its call began.
    expect(parseCommand({ op: 'start', name: 'Ada', brokerUrl: 'ws://127.0.0.1:8787', link: ` ${LINK} ` })).toEqual({
      op: 'start',
      name: 'Ada',
      brokerUrl: 'ws://127.0.0.1:8787',
      link: LINK,
    });
    expect(parseCommand({ op: 'leave' })).toEqual({ op: 'leave' });
    expect(parseCommand({ op: 'chat', text: 'line one\nline two' })).toEqual({ op: 'chat', text: 'line one\nline two' });
    expect(parseCommand({ op: 'set-media', lane: 'camera', on: true })).toEqual({ op: 'set-media', lane: 'camera', on: true });
    expect(parseCommand({ op: 'mark-verified', peerId: PEER })).toEqual({ op: 'mark-verified', peerId: PEER });
    expect(parseCommand({ op: 'warm-up', brokerUrl: 'ws://127.0.0.1:8787' })).toEqual({ op: 'warm-up', brokerUrl: 'ws://127.0.0.1:8787' });
    expect(parseCommand({ op: 'warm-up', brokerUrl: 'ws://127.0.0.1:8787', link: LINK })).toEqual({ op: 'warm-up', brokerUrl: 'ws://127.0.0.1:8787', link: LINK });
  });

  it('rejects unknown ops, extra or missing fields and wrong types', () => {
    const bad: unknown[] = [
      null,
      undefined,
      'leave',
      [],
      { op: 'explode' },
      { op: 'leave', extra: 1 },
      { op: 'start', name: 'Ada' },
      { op: 'start', name: 'Ada', brokerUrl: 'ws://x', admin: true },
      { op: 'start', name: 7, brokerUrl: 'ws://x' },
      { op: 'start', name: 'Ada', brokerUrl: 'ws://x', link: 'no fragment here' },
      { op: 'start', name: 'Ada', brokerUrl: 'ws://x', link: 42 },
      { op: 'chat', text: 42 },
      { op: 'set-media', lane: 'tab-video', on: true },
      { op: 'set-media', lane: 'mic', on: 'yes' },
      { op: 'mark-verified', peerId: '' },
      { op: 'mark-verified', peerId: 'has space' },
      { op: 'mark-verified', peerId: 'x'.repeat(129) },
      { op: 'join', name: 'Bob', link: 'no fragment here', brokerUrl: 'ws://x' },
      { op: 'warm-up' },
      { op: 'warm-up', brokerUrl: 'https://broker.example' },
      { op: 'warm-up', brokerUrl: 'ws://x', name: 'Ada' },
      { op: 'warm-up', brokerUrl: 'ws://x', link: 'no fragment here' },
      Object.assign(Object.create({ inherited: true }), { op: 'leave' }),
    ];
    for (const b of bad) expect(parseCommand(b), JSON.stringify(b)).toBeNull();
  });

  it('explains why names, links and chat are refused', () => {
    expect(checkName('')).toEqual({ ok: false, reason: expect.stringMatching(/name/i) });
    expect(checkName('   ')).toMatchObject({ ok: false });
    expect(checkName('x'.repeat(MAX_NAME_LENGTH + 1))).toMatchObject({ ok: false, reason: expect.stringContaining(`${MAX_NAME_LENGTH}`) });
    expect(checkName('Ada\nLovelace')).toMatchObject({ ok: false });
    expect(checkName('evil\u202Eman')).toMatchObject({ ok: false });
    expect(checkName('Zoë 🎉')).toEqual({ ok: true, value: 'Zoë 🎉' });
    // The engine's one rule, with its reasons: what the popup accepts, the engine accepts.
    expect(checkName('Alice\u200B')).toEqual({ ok: false, reason: NAME_PROBLEMS.invisible });
    expect(checkName('\u0410lice')).toEqual({ ok: false, reason: NAME_PROBLEMS.mixedScripts });
    expect(checkName('  Ada   Lovelace ')).toEqual({ ok: true, value: 'Ada Lovelace' });

    expect(checkRoomLink('kibitz://call')).toMatchObject({ ok: false, reason: expect.stringContaining('#') });
    expect(checkRoomLink('kibitz://call#v=1 r=2')).toMatchObject({ ok: false });
    expect(checkRoomLink(`${LINK}${'a'.repeat(5000)}`)).toMatchObject({ ok: false });

    expect(checkCommand({ op: 'chat', text: '   ' })).toMatchObject({ ok: false });
    expect(checkCommand({ op: 'chat', text: 'x'.repeat(MAX_CHAT_LENGTH + 1) })).toMatchObject({ ok: false });
    expect(checkCommand({ op: 'chat', text: 'x'.repeat(MAX_CHAT_LENGTH) })).toMatchObject({ ok: true });
    expect(checkCommand({ op: 'chat', text: 'bell\u0007' })).toMatchObject({ ok: false });
  });
});

describe('broker URL', () => {
  it('accepts ws:// and wss:// and keeps the spelling', () => {
    expect(checkBrokerUrl('ws://127.0.0.1:8787')).toEqual({ ok: true, value: 'ws://127.0.0.1:8787' });
    expect(checkBrokerUrl(' wss://broker.example.org/kibitz ')).toEqual({ ok: true, value: 'wss://broker.example.org/kibitz' });
    expect(checkBrokerUrl('ws://localhost:9000')).toEqual({ ok: true, value: 'ws://localhost:9000' });
  });

  it('warns about plain ws:// to a remote host', () => {
    const c = checkBrokerUrl('ws://broker.example.org');
    expect(c.ok).toBe(true);
    expect(c.warning).toMatch(/wss:\/\//);
  });

  it('refuses other schemes, credentials, fragments and junk with a reason', () => {
    for (const bad of ['', 'http://x', 'https://x', 'broker.example.org', 'ws://user:pw@x', 'ws://x/#frag', 'ws://a b', 'javascript:alert(1)', 42, null]) {
      const c = checkBrokerUrl(bad);
      expect(c.ok, String(bad)).toBe(false);
      expect(c.reason, String(bad)).toBeTruthy();
    }
    expect(checkBrokerUrl(`wss://x/${'a'.repeat(3000)}`).ok).toBe(false);
  });
});

describe('UI -> engine envelope', () => {
  it('accepts a command envelope', () => {
    expect(parseUiMessage({ type: 'command', id: 1, command: { op: 'leave' } })).toEqual({
      type: 'command',
      id: 1,
      command: { op: 'leave' },
    });
  });

  it('drops malformed, oversized and unknown messages', () => {
    const bad: unknown[] = [
      { type: 'command', id: 0, command: { op: 'leave' } },
      { type: 'command', id: -1, command: { op: 'leave' } },
      { type: 'command', id: 1.5, command: { op: 'leave' } },
      { type: 'command', id: '1', command: { op: 'leave' } },
      { type: 'command', id: 2 ** 53, command: { op: 'leave' } },
      { type: 'command', id: 1, command: { op: 'nope' } },
      { type: 'command', id: 1, command: { op: 'leave' }, from: 'admin' },
      { type: 'command', id: 1 },
      { type: 'view', view: view() },
      { type: 'result', id: 1, ok: true },
      { type: 'command', id: 1, command: { op: 'chat', text: 'x'.repeat(40_000) } },
      { type: 'command', id: 1, command: { op: 'chat', text: '\u2028'.repeat(MAX_CHAT_LENGTH) }, pad: 'y'.repeat(40_000) },
      'command',
      42,
      null,
    ];
    for (const b of bad) expect(parseUiMessage(b)).toBeNull();
  });

  it('survives values JSON cannot measure', () => {
    const cyclic: Record<string, unknown> = { type: 'command', id: 1 };
    cyclic.command = cyclic;
    expect(parseUiMessage(cyclic)).toBeNull();
    expect(parseUiMessage({ type: 'command', id: 1, command: { op: 'leave', big: 10n } })).toBeNull();
  });
});

describe('engine -> UI envelope', () => {
  it('accepts views and results', () => {
    const v = view();
    expect(parseEngineMessage({ type: 'view', view: v })).toEqual({ type: 'view', view: v });
    expect(parseEngineMessage({ type: 'result', id: 3, ok: true })).toEqual({ type: 'result', id: 3, ok: true });
    expect(parseEngineMessage({ type: 'result', id: 3, ok: false, error: 'nope' })).toEqual({
      type: 'result',
      id: 3,
      ok: false,
      error: 'nope',
    });
  });

  it('tolerates extra view fields but not wrong types', () => {
    expect(parseEngineMessage({ type: 'view', view: { ...view(), future: 1 } })).not.toBeNull();
    const broken: unknown[] = [
      { ...view(), phase: 'dancing' },
      { ...view(), members: [{ ...view().members[0], sas: 5 }] },
      { ...view(), members: [{ ...view().members[0], trust: 'trusted' }] },
      { ...view(), members: [{ ...view().members[0], lookAlike: 'yes' }] },
      { ...view(), members: [{ ...view().members[0], lookAlike: undefined }] },
      { ...view(), members: [{ ...view().members[0], sending: ['mic', 'x'] }] },
      { ...view(), chat: [chatEntry()] },
      { ...view(), chat: { reset: true, entries: [] } },
      { ...view(), chat: { reset: 'yes', entries: [], more: false } },
      { ...view(), chatEpoch: 1.5 },
      { ...view(), self: { peerId: 'a b', name: 'x', fingerprint: '', isCoordinator: false, sending: [] } },
      { ...view(), notices: [{ id: 'n', level: 'fatal', text: 'x', at: 1 }] },
      { ...view(), broker: 'up' },
    ];
    for (const b of broken) expect(parseEngineMessage({ type: 'view', view: b })).toBeNull();
    expect(parseEngineMessage({ type: 'result', id: 1, ok: 'yes' })).toBeNull();
    expect(parseEngineMessage({ type: 'result', id: 1, ok: false, error: 'x'.repeat(501) })).toBeNull();
    expect(parseEngineMessage({ type: 'hello' })).toBeNull();
  });

  it('drops an oversized view', () => {
    const huge = view({ chat: { reset: true, entries: [chatEntry({ text: 'x'.repeat(MAX_ENGINE_MESSAGE_CHARS) })], more: false } });
    expect(parseEngineMessage({ type: 'view', view: huge })).toBeNull();
  });

  it('builds results with bounded error text', () => {
    expect(resultMessage(4)).toEqual({ type: 'result', id: 4, ok: true });
    expect(resultMessage(4, new Error('Refused.'))).toEqual({ type: 'result', id: 4, ok: false, error: 'Refused.' });
    expect(resultMessage(4, new Error('x'.repeat(2000))).error?.length).toBe(500);
    expect(errorText({ weird: true })).toMatch(/try again/i);
    expect(parseEngineMessage(resultMessage(9, new Error('x'.repeat(2000))))).not.toBeNull();
  });

  it('has a valid fallback view for a failed engine', () => {
    expect(isSessionView(engineFailedView('broken'))).toBe(true);
  });
});

describe('ensure-engine', () => {
  it('accepts only the exact request shape', () => {
    expect(parseEnsureEngineRequest({ type: ENSURE_ENGINE })).toEqual({ type: ENSURE_ENGINE });
    expect(parseEnsureEngineRequest({ type: ENSURE_ENGINE, trusted: true })).toBeNull();
    expect(parseEnsureEngineRequest({ type: 'kibitz/other' })).toBeNull();
    expect(parseEnsureEngineRequest(undefined)).toBeNull();
  });

  it('parses responses', () => {
    expect(parseEnsureEngineResponse({ ok: true })).toEqual({ ok: true });
    expect(parseEnsureEngineResponse({ ok: false, error: 'no' })).toEqual({ ok: false, error: 'no' });
    expect(parseEnsureEngineResponse({ ok: false })).toBeNull();
    expect(parseEnsureEngineResponse(undefined)).toBeNull();
  });
});

describe('hostile chat cannot take the popup down', () => {
  it('a chat entry with an `at` no Date can hold is dropped on its own; participants and notices stay', () => {
    for (const at of [8.64e15 + 1, 9e15, Number.MAX_SAFE_INTEGER, -8.64e15 - 1, Number.MAX_VALUE]) {
      const v = view({ chat: { reset: true, entries: [chatEntry({ seq: 1, at }), chatEntry({ seq: 2, id: 'c2', text: 'fine' })], more: false } });
      const msg = parseEngineMessage({ type: 'view', view: v });
      expect(msg?.type, String(at)).toBe('view');
      if (msg?.type !== 'view') continue;
      expect(msg.view.members.map((m) => m.name)).toEqual(['Bob']);
      expect(msg.view.notices).toHaveLength(1);
      expect(msg.view.chat.entries.map((e) => e.text)).toEqual(['fine']);
    }
  });

  it('other malformed entries are dropped one by one, never the view', () => {
    const bad = [
      { ...chatEntry(), seq: 0 },
      { ...chatEntry(), seq: 1.5 },
      { ...chatEntry(), at: NaN },
      { ...chatEntry(), undeliveredTo: 'Carol' },
      { ...chatEntry(), undeliveredTo: Array.from({ length: 65 }, () => 'x') },
      { id: 'c', text: 'hi' },
      null,
    ];
    const v = checkPortView({ ...view(), chat: { reset: false, entries: [...bad, chatEntry({ seq: 9, undeliveredTo: ['Carol'] })], more: true } });
    expect(v?.chat).toEqual({ reset: false, entries: [chatEntry({ seq: 9, undeliveredTo: ['Carol'] })], more: true });
  });

  it('chat formatting never throws, for any number', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.constantFrom(8.64e15, 8.64e15 + 1, -8.64e15, 9e15, NaN, Infinity, -Infinity)), (at) => {
        expect(() => formatClock(at)).not.toThrow();
        expect(() => isoTime(at)).not.toThrow();
        expect(() => formatClock(at, 'not a locale!!')).not.toThrow();
      }),
      { numRuns: 2000 },
    );
    expect(isoTime(8.64e15)).toBe('+275760-09-13T00:00:00.000Z');
    expect(isoTime(8.64e15 + 1)).toBeUndefined();
    expect(formatClock(9e15)).toBe('');
  });

  it('names who did not get a message, and folds repeated notices', () => {
    expect(undeliveredText(undefined)).toBeNull();
    expect(undeliveredText([])).toBeNull();
    expect(undeliveredText(['Carol'])).toBe('not delivered to Carol');
    expect(undeliveredText(['a', 'b', 'c', 'd', 'e', 'f', 'g'])).toBe('not delivered to a, b, c, d, e and 2 more');
    expect(noticeText({ text: 'Key change', count: 3 })).toBe('Key change (3×)');
    expect(noticeText({ text: 'Key change' })).toBe('Key change');
  });
});

describe('ChatHistory (the page assembles chat from deltas)', () => {
  const e = (seq: number) => chatEntry({ seq, id: `c${seq}`, text: `m${seq}` });

  it('appends deltas, ignores replays and older seqs, and resets on `reset`', () => {
    const h = new ChatHistory();
    expect(h.apply({ reset: true, entries: [e(1), e(2)], more: false }).map((x) => x.seq)).toEqual([1, 2]);
    expect(h.apply({ reset: false, entries: [e(2), e(3)], more: false }).map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(h.apply({ reset: false, entries: [e(1)], more: false }).map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(h.apply({ reset: true, entries: [e(10)], more: false }).map((x) => x.seq)).toEqual([10]);
    expect(h.apply({ reset: true, entries: [], more: false })).toEqual([]);
  });

  it('is bounded, forgetting the oldest first', () => {
    const h = new ChatHistory(5);
    for (let i = 1; i <= 12; i++) h.apply({ reset: false, entries: [e(i)], more: false });
    expect(h.entries().map((x) => x.seq)).toEqual([8, 9, 10, 11, 12]);
  });

  it('assembles a whole SessionView from a port view', () => {
    const h = new ChatHistory();
    const v = h.assemble(view());
    expect(v.chat.map((x) => x.text)).toEqual(['hi']);
    expect(isSessionView(v)).toBe(true);
  });
});
