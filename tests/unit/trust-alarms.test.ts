import { describe, expect, it } from 'vitest';
import { NoticeList, noticeTopic } from '../../src/engine/notices';
import { TrustAlarms } from '../../src/engine/trust-alarms';

function setup(max?: number) {
  let id = 0;
  const notices = new NoticeList({ now: () => 1, newId: () => `n${++id}`, max });
  return { notices, alarms: new TrustAlarms(notices) };
}
const texts = (n: NoticeList) => n.list().map((x) => x.text);

describe('TrustAlarms', () => {
  it('raises a key change once per change and withdraws that person\'s verified notice', () => {
    const { notices, alarms } = setup();
    notices.add('info', 'Bea is marked verified on this browser.', noticeTopic('verified', 'Bea'));
    notices.add('info', 'Cy is marked verified on this browser.', noticeTopic('verified', 'Cy'));
    expect(alarms.review([{ name: 'Bea', trust: 'key-changed' }, { name: 'Cy', trust: 'verified' }])).toBe(true);
    expect(alarms.review([{ name: 'Bea', trust: 'key-changed' }])).toBe(false); // once, not per view
    expect(texts(notices)).toEqual(['Cy is marked verified on this browser.', expect.stringMatching(/^Key change: Bea/)]);
    expect(notices.list().at(-1)!.count).toBe(1);
  });

  it('an alarm pushed out by newer notices comes back while the key change lasts', () => {
    const { notices, alarms } = setup(3);
    alarms.review([{ name: 'Bea', trust: 'key-changed' }]);
    for (const t of ['a', 'b', 'c']) notices.add('warning', t);
    expect(texts(notices).some((t) => t.startsWith('Key change'))).toBe(false);
    expect(alarms.review([{ name: 'Bea', trust: 'key-changed' }])).toBe(true);
    expect(texts(notices).some((t) => t.startsWith('Key change: Bea'))).toBe(true);
  });

  it('verified again: the alarm goes; a later change raises a new one', () => {
    const { notices, alarms } = setup();
    alarms.review([{ name: 'Bea', trust: 'key-changed' }]);
    alarms.resolved('Bea');
    expect(texts(notices)).toEqual([]);
    expect(alarms.review([{ name: 'Bea', trust: 'verified' }])).toBe(false);
    expect(alarms.review([{ name: 'Bea', trust: 'key-changed' }])).toBe(true);
  });
});
