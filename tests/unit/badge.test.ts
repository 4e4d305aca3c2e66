import { describe, expect, it } from 'vitest';
import { BADGE_UPDATE, badgeFor } from '../../src/extension/badge';
import { parseBadgeUpdate } from '../../src/extension/messages';

const self = (sending: string[]) => ({ peerId: 'A'.repeat(22), name: 'Ada', fingerprint: '', isCoordinator: true, sending }) as never;

describe('toolbar badge', () => {
  it('says in words whether a call is on and whether the microphone is muted', () => {
    expect(badgeFor({ phase: 'idle', self: null, members: [] }).text).toBe('');
    expect(badgeFor({ phase: 'waiting', self: null, members: [] })).toMatchObject({ text: '…', title: /waiting for the host/ });
    expect(badgeFor({ phase: 'connected', self: self([]), members: [] })).toMatchObject({ text: 'MUTE', title: /nobody else yet; microphone muted/ });
    expect(badgeFor({ phase: 'reconnecting', self: self(['mic']), members: [{} as never, {} as never] })).toMatchObject({ text: 'ON', title: /2 others; microphone on/ });
    expect(badgeFor({ phase: 'ended', self: self(['mic']), members: [] }).text).toBe('');
  });

  it('the background takes only the closed set of texts, a bounded title and no extra keys', () => {
    const good = badgeFor({ phase: 'connected', self: self([]), members: [] });
    expect(parseBadgeUpdate(good)).toEqual(good);
    for (const bad of [
      null,
      'ON',
      { ...good, text: 'PWND' },
      { ...good, title: 'x'.repeat(201) },
      { ...good, title: 'a\u0007b' },
      { ...good, extra: 1 },
      { type: 'kibitz/other', text: 'ON', title: '' },
      { type: BADGE_UPDATE, text: 'ON' },
    ]) {
      expect(parseBadgeUpdate(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});
