import { describe, expect, it } from 'vitest';
import { MAX_NOTICES, NoticeList, noticeTopic } from '../../src/engine/notices';

function list(max?: number) {
  let t = 1000;
  let id = 0;
  const notices = new NoticeList({ now: () => t, newId: () => `n${++id}`, max });
  return { notices, tick: (ms: number) => (t += ms) };
}

describe('NoticeList', () => {
  it('folds an identical notice into the listed one: count and time go up, it becomes the newest', () => {
    const { notices, tick } = list();
    const first = notices.add('error', 'Key change: Bob shows a different certificate.');
    notices.add('info', 'You now coordinate this call.');
    tick(500);
    const again = notices.add('error', 'Key change: Bob shows a different certificate.');
    expect(again.id).toBe(first.id);
    expect(again.count).toBe(2);
    expect(again.at).toBe(1500);
    expect(notices.list().map((n) => n.text)).toEqual(['You now coordinate this call.', 'Key change: Bob shows a different certificate.']);
  });

  it('a repeating key-change alarm never pushes other notices out', () => {
    const { notices } = list();
    notices.add('warning', 'Could not reconnect to Carol.');
    for (let i = 0; i < 1000; i++) notices.add('error', 'Key change: Bob shows a different certificate.');
    expect(notices.list()).toHaveLength(2);
    expect(notices.list()[0]!.text).toBe('Could not reconnect to Carol.');
    expect(notices.list()[1]!.count).toBe(1000);
  });

  it('keeps the newest N distinct notices', () => {
    const { notices } = list();
    for (let i = 0; i < MAX_NOTICES + 5; i++) notices.add('info', `notice ${i}`);
    expect(notices.list()).toHaveLength(MAX_NOTICES);
    expect(notices.list()[0]!.text).toBe('notice 5');
  });

  it('same text at another level is another notice; clear() empties; text is bounded', () => {
    const { notices } = list();
    notices.add('info', 'x');
    notices.add('error', 'x');
    expect(notices.list()).toHaveLength(2);
    notices.clear();
    expect(notices.list()).toEqual([]);
    expect(notices.add('info', 'y'.repeat(5000)).text.length).toBe(500);
  });
});

describe('NoticeList topics', () => {
  it('withdraw removes exactly the notices raised with that topic', () => {
    const { notices } = list();
    notices.add('info', 'Bob is marked verified on this browser.', noticeTopic('verified', 'Bob'));
    notices.add('info', 'Carol is marked verified on this browser.', noticeTopic('verified', 'Carol'));
    notices.add('warning', 'Could not reconnect to Bob.');
    expect(notices.withdraw(noticeTopic('verified', 'Bob'))).toBe(1);
    expect(notices.list().map((n) => n.text)).toEqual(['Carol is marked verified on this browser.', 'Could not reconnect to Bob.']);
    expect(notices.withdraw(noticeTopic('verified', 'Bob'))).toBe(0);
    expect(notices.withdraw(noticeTopic('key-changed', 'Carol'))).toBe(0);
  });

  it('a folded notice keeps its topic, and forgotten or cleared notices take theirs with them', () => {
    const { notices } = list(2);
    notices.add('error', 'Key change: Bob.', noticeTopic('key-changed', 'Bob'));
    notices.add('error', 'Key change: Bob.', noticeTopic('key-changed', 'Bob'));
    expect(notices.withdraw(noticeTopic('key-changed', 'Bob'))).toBe(1);
    notices.add('info', 'a', 't');
    notices.add('info', 'b');
    notices.add('info', 'c'); // pushes "a" out
    expect(notices.withdraw('t')).toBe(0);
    expect(notices.list().map((n) => n.text)).toEqual(['b', 'c']);
    notices.add('info', 'd', 'u');
    notices.clear();
    notices.add('info', 'd');
    expect(notices.withdraw('u')).toBe(0);
    expect(notices.list()).toHaveLength(1);
  });
});
