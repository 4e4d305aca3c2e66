import { describe, expect, it } from 'vitest';
import { MAX_NOTICES, NoticeList } from '../../src/engine/notices';

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
