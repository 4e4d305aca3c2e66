import { describe, expect, it } from 'vitest';
import { defaultGrants } from '../../src/engine/capabilities';
import { CONTENT_BURST, CONTENT_RATE_PER_SECOND, ContentRouter, ROUTES } from '../../src/engine/content-router';
import type { Clock } from '../../src/engine/platform';
import { CONTENT_KINDS, MEDIA_LANES, type ContentMessage } from '../../src/engine/wire';

function clockAt(t: { now: number }): Clock {
  return { now: () => t.now, setTimeout: () => 0, clearTimeout: () => undefined, setInterval: () => 0, clearInterval: () => undefined };
}
const human = { peerId: 'AAAAAAAAAAAAAAAAAAAAAA', fingerprint: 'x', kind: 'human' as const };
const agent = { ...human, peerId: 'BBBBBBBBBBBBBBBBBBBBBA', kind: 'agent' as const };
const chat: ContentMessage = { kind: 'chat', id: 'AAAAAAAAAAAAAAAA', text: 'hi', at: 1 };

describe('ContentRouter', () => {
  it('has a capability row for every content kind and media lane', () => {
    for (const kind of CONTENT_KINDS) expect(ROUTES[kind]).toBeDefined();
    for (const lane of MEDIA_LANES) expect(ROUTES[`media:${lane}`]).toBeDefined();
  });

  it('rate-limits a flooding peer and recovers with time', () => {
    const t = { now: 0 };
    const router = new ContentRouter(defaultGrants, clockAt(t));
    const verdicts = Array.from({ length: CONTENT_BURST + 20 }, () => router.inbound(human, chat));
    expect(verdicts.filter((v) => v.accept)).toHaveLength(CONTENT_BURST);
    expect(verdicts.at(-1)).toEqual({ accept: false, reason: 'rate-limited' });
    t.now += 1000;
    expect(Array.from({ length: 20 }, () => router.inbound(human, chat)).filter((v) => v.accept)).toHaveLength(CONTENT_RATE_PER_SECOND);
  });

  it('keeps one bucket per peer, so one flood does not silence another', () => {
    const router = new ContentRouter({ mayPerceive: () => true, mayAct: () => true }, clockAt({ now: 0 }));
    for (let i = 0; i < 100; i++) router.inbound(human, chat);
    expect(router.inbound({ ...human, peerId: 'CCCCCCCCCCCCCCCCCCCCCA' }, chat)).toEqual({ accept: true });
  });

  it('drops what an agent sends and withholds from it what it may not perceive (defaults by kind)', () => {
    const router = new ContentRouter(defaultGrants, clockAt({ now: 0 }));
    expect(router.inbound(agent, chat)).toEqual({ accept: false, reason: 'not-permitted' });
    expect(router.mayPerceive(agent, 'chat')).toBe(true);
    expect(router.mayPerceive(agent, 'media:camera')).toBe(false);
    const sent: ContentMessage[] = [];
    expect(router.deliver({ ...agent }, { sendContent: (m) => (sent.push(m), true) }, chat)).toBe('sent');
    const noChat = new ContentRouter({ mayPerceive: () => false, mayAct: () => true }, clockAt({ now: 0 }));
    expect(noChat.deliver(human, { sendContent: (m) => (sent.push(m), true) }, chat)).toBe('withheld');
    expect(sent).toHaveLength(1);
  });
});
