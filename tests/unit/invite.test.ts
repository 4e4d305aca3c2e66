import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/broker/cli';
import { joinPageHeaders, joinPageHtml } from '../../src/broker/join-page';
import { newRoomId } from '../../src/engine/link';
import { readJoinScreenHash, readJoinScreenLocation } from '../../src/extension/invite';
import { EXTENSION_ID, EXTENSION_PUBLIC_KEY, isExtensionId } from '../../src/invite/extension-identity';

const rnd = (n: number) => new Uint8Array(randomBytes(n));

describe('extension identity', () => {
  it('the id is the one Chromium derives from the manifest key', () => {
    const hex = createHash('sha256').update(Buffer.from(EXTENSION_PUBLIC_KEY, 'base64')).digest('hex').slice(0, 32);
    expect([...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('')).toBe(EXTENSION_ID);
    expect(isExtensionId(EXTENSION_ID)).toBe(true);
    for (const bad of ['', 'A'.repeat(32), 'q'.repeat(32), 'a'.repeat(31), `${'a'.repeat(31)}"`, 42, null]) expect(isExtensionId(bad)).toBe(false);
  });

  it('the broker CLI takes another id only when it is one', () => {
    expect(parseArgs([])).toMatchObject({ ok: true, options: { extensionId: EXTENSION_ID } });
    expect(parseArgs(['--extension-id', 'b'.repeat(32)])).toMatchObject({ ok: true, options: { extensionId: 'b'.repeat(32) } });
    expect(parseArgs(['--extension-id', '"><script>'])).toMatchObject({ ok: false });
    expect(parseArgs(['--extension-id'])).toMatchObject({ ok: false });
  });
});

describe('the broker invite page', () => {
  const html = joinPageHtml(EXTENSION_ID);
  const headers = joinPageHeaders(EXTENSION_ID, Buffer.byteLength(html));
  const csp = headers['content-security-policy']!;

  it('loads nothing from anywhere: every fetch directive is none, except its own hashed code and the probe', () => {
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'none'");
    expect(csp).toMatch(new RegExp(`img-src chrome-extension://${EXTENSION_ID}(;|$)`));
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(headers['referrer-policy']).toBe('no-referrer');
    // The hashes are of exactly the inline code the page carries.
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const b64 = (t: string) => createHash('sha256').update(t, 'utf8').digest('base64');
    expect(csp).toContain(`'sha256-${b64(script)}'`);
    expect(csp).toContain(`'sha256-${b64(style)}'`);
    // No external resource references at all.
    expect(html).not.toMatch(/\s(src|href)=/);
  });

  it('its script sends nothing: no fetch, XHR, beacon, socket, form or storage', () => {
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(script).not.toMatch(/fetch\(|XMLHttpRequest|sendBeacon|WebSocket|EventSource|\.submit\(|localStorage|sessionStorage|document\.cookie|postMessage/);
    // The only places it goes are the extension's own origin.
    expect(script).toMatch(/'chrome-extension:\/\/' \+ id/);
  });

  it('refuses an id that could inject markup', () => {
    expect(() => joinPageHtml('"><img src=x>' as string)).toThrow();
    expect(() => joinPageHeaders('x', 1)).toThrow();
  });
});

describe('the join screen input', () => {
  const room = newRoomId(rnd);
  const invite = `http://127.0.0.1:8787/join#v=1&r=${room}&g=open`;

  it('reads the invite an invite page hands over, with its broker', () => {
    const res = readJoinScreenHash(`#invite=${encodeURIComponent(invite)}`);
    expect(res).toEqual({
      ok: true,
      linkText: invite,
      link: { version: 1, roomId: room, gate: 'open', broker: 'ws://127.0.0.1:8787/' },
      brokerHost: '127.0.0.1:8787',
    });
  });

  it('accepts an old kibitz:// link, which names no broker', () => {
    const res = readJoinScreenHash(`#invite=${encodeURIComponent(`kibitz://call#v=1&r=${room}&g=open`)}`);
    expect(res).toMatchObject({ ok: true, brokerHost: null });
  });

  it('refuses what is not an invite: missing, damaged, oversized, or a link the parser refuses', () => {
    for (const hash of ['', '#', '#invite=', '#room=x', '#invite=%E0%A4%A', `#invite=${'a'.repeat(20_000)}`, `#invite=${encodeURIComponent(`https://evil.example/page#v=1&r=${room}&g=open`)}`, `#invite=${encodeURIComponent(`http://127.0.0.1/join#v=1&r=${room}&g=admin`)}`, 42 as unknown as string]) {
      const res = readJoinScreenHash(hash);
      expect(res.ok, String(hash).slice(0, 80)).toBe(false);
      if (!res.ok) expect(res.error.length).toBeLessThan(200);
    }
  });
});

describe('the join screen input after the redirect rule took the click over', () => {
  const room = newRoomId(rnd);

  it('reads the invite page from the query and the room from its own fragment', () => {
    const res = readJoinScreenLocation('?via=http://127.0.0.1:8787/join', `#v=1&r=${room}&g=open`);
    expect(res).toMatchObject({ ok: true, linkText: `http://127.0.0.1:8787/join#v=1&r=${room}&g=open`, brokerHost: '127.0.0.1:8787' });
  });

  it('refuses a via that is not an invite page, carries its own query or fragment, or comes without a room', () => {
    for (const [search, hash] of [
      ['?via=http://127.0.0.1:8787/other', `#v=1&r=${room}&g=open`],
      ['?via=http://127.0.0.1:8787/join%23v=1', `#v=1&r=${room}&g=open`],
      ['?via=http://127.0.0.1:8787/join?x=1', `#v=1&r=${room}&g=open`],
      ['?via=', `#v=1&r=${room}&g=open`],
      ['?via=http://127.0.0.1:8787/join', ''],
      ['?via=http://127.0.0.1:8787/join', '#invite=x'],
      [`?via=${'a'.repeat(5000)}`, `#v=1&r=${room}&g=open`],
    ]) {
      expect(readJoinScreenLocation(search, hash).ok, `${search} ${hash}`).toBe(false);
    }
  });
});
