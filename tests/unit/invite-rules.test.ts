import { describe, expect, it } from 'vitest';
import { inviteRedirectRule, inviteUrlRegex } from '../../src/extension/invite-rules';
import { EXTENSION_ID } from '../../src/invite/extension-identity';

/** DNR's regexFilter is RE2; these patterns use only what RE2 and JS share. */
function matches(regex: string, url: string): RegExpExecArray | null {
  return new RegExp(regex).exec(url);
}

describe('the invite redirect rule', () => {
  const re = inviteUrlRegex('wss://broker.example.org');

  it('takes over exactly the invite pages of loopback brokers and the built-in one, with their fragment', () => {
    for (const url of ['http://127.0.0.1:8787/join#v=1&r=x&g=open', 'http://localhost:1/join', 'http://[::1]:9/join#v=1', 'https://broker.example.org/join#v=1&r=x']) {
      expect(matches(re, url), url).not.toBeNull();
    }
    const m = matches(re, 'http://127.0.0.1:8787/join#v=1&r=abc&g=open')!;
    expect(m[1]).toBe('http://127.0.0.1:8787/join');
    expect(m[2]).toBe('#v=1&r=abc&g=open');
  });

  it('leaves every other page alone: other paths, hosts, schemes, queries and look-alike hosts', () => {
    for (const url of [
      'http://127.0.0.1:8787/join/',
      'http://127.0.0.1:8787/joiner',
      'http://127.0.0.1:8787/x/join',
      'http://127.0.0.1:8787/join?x=1#v=1',
      'https://127.0.0.1/join',
      'http://127.0.0.2/join',
      'http://localhost.evil.example/join',
      'https://broker.example.org.evil.example/join',
      'https://evil.example/?https://broker.example.org/join',
      'http://broker.example.org/join',
      'https://brokerXexample.org/join',
    ]) {
      expect(matches(re, url), url).toBeNull();
    }
  });

  it('redirects to the join screen with the page in the query and the fragment kept', () => {
    const rule = inviteRedirectRule(EXTENSION_ID, 'ws://127.0.0.1:8787');
    expect(rule.condition.resourceTypes).toEqual(['main_frame']);
    expect(rule.action.redirect.regexSubstitution).toBe(`chrome-extension://${EXTENSION_ID}/join.html?via=\\1\\2`);
    expect(() => inviteRedirectRule('not-an-id', 'ws://127.0.0.1:8787')).toThrow();
  });
});
