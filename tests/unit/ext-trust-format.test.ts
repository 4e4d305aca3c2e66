import { describe, expect, it } from 'vitest';
import type { MemberView } from '../../src/engine/session-api';
import {
  describeLink,
  describePhase,
  describeSafetyCode,
  describeSending,
  describeTrust,
  displayName,
  isInCall,
  shortFingerprint,
} from '../../src/extension/format';
import { FALLBACK_BROKER_URL, STORAGE_KEYS, defaultBrokerUrl, readSettings } from '../../src/extension/settings';
import { BADGE_PAGES, ENGINE_STARTER_PAGES, UI_PAGES, isExtensionPageSender } from '../../src/extension/trust';

const ID = 'abcdefghijklmnopabcdefghijklmnop';
const BASE = `chrome-extension://${ID}/`;

describe('isExtensionPageSender', () => {
  const popup = { id: ID, url: `${BASE}popup.html`, origin: `chrome-extension://${ID}` };

  it('accepts our own top-level popup and stage', () => {
    expect(isExtensionPageSender(popup, ID, BASE, UI_PAGES)).toBe(true);
    expect(isExtensionPageSender({ ...popup, url: `${BASE}stage.html` }, ID, BASE, UI_PAGES)).toBe(true);
    // The popup opened as a normal tab.
    expect(isExtensionPageSender({ ...popup, tab: { id: 3 }, frameId: 0 }, ID, BASE, UI_PAGES)).toBe(true);
    // Query strings and fragments do not change which page it is.
    expect(isExtensionPageSender({ ...popup, url: `${BASE}popup.html?x=1#y` }, ID, BASE, UI_PAGES)).toBe(true);
  });

  it('rejects content scripts, other extensions, other pages and frames', () => {
    const cases = [
      undefined,
      null,
      {},
      { ...popup, id: 'otherextensionidotherextensionid' },
      { ...popup, url: 'https://evil.example/popup.html', origin: 'https://evil.example', tab: { id: 1 } },
      { id: ID, url: 'https://example.org/', tab: { id: 1 }, frameId: 0 }, // our own content script
      { ...popup, url: `chrome-extension://${'z'.repeat(32)}/popup.html` },
      { ...popup, url: `${BASE}offscreen.html` },
      { ...popup, url: `${BASE}popup.html/../evil.html` },
      { ...popup, url: `${BASE}Popup.html` },
      { ...popup, origin: 'https://evil.example' },
      { ...popup, frameId: 2 },
      { ...popup, url: 'not a url' },
      { ...popup, url: undefined },
    ];
    for (const c of cases) expect(isExtensionPageSender(c, ID, BASE, UI_PAGES), JSON.stringify(c)).toBe(false);
    expect(isExtensionPageSender(popup, '', BASE, UI_PAGES)).toBe(false);
  });

  it('lets only the popup start the engine', () => {
    expect(isExtensionPageSender(popup, ID, BASE, ENGINE_STARTER_PAGES)).toBe(true);
    expect(isExtensionPageSender({ ...popup, url: `${BASE}stage.html` }, ID, BASE, ENGINE_STARTER_PAGES)).toBe(false);
  });

  it('lets only the offscreen document set the toolbar badge: not the popup, a web page or a content script', () => {
    const offscreen = { ...popup, url: `${BASE}offscreen.html` };
    expect(isExtensionPageSender(offscreen, ID, BASE, BADGE_PAGES)).toBe(true);
    expect(isExtensionPageSender(popup, ID, BASE, BADGE_PAGES)).toBe(false);
    expect(isExtensionPageSender({ ...offscreen, url: 'https://evil.example/offscreen.html' }, ID, BASE, BADGE_PAGES)).toBe(false);
    expect(isExtensionPageSender({ ...offscreen, id: 'someotherextensionidxxxxxxxxxxxx' }, ID, BASE, BADGE_PAGES)).toBe(false);
  });
});

describe('settings', () => {
  it('defaults the broker URL', () => {
    expect(defaultBrokerUrl()).toBe(FALLBACK_BROKER_URL);
  });

  it('reads stored settings defensively', () => {
    expect(readSettings(undefined)).toEqual({ brokerUrl: null, name: '', notifyPresence: true });
    expect(readSettings({ [STORAGE_KEYS.brokerUrl]: 'wss://b.example.org', [STORAGE_KEYS.name]: 'Ada' })).toEqual({
      brokerUrl: 'wss://b.example.org',
      name: 'Ada',
      notifyPresence: true,
    });
    expect(readSettings({ [STORAGE_KEYS.brokerUrl]: 'http://nope', [STORAGE_KEYS.name]: 42 })).toEqual({
      brokerUrl: null,
      name: '',
      notifyPresence: true,
    });
    expect(readSettings({ [STORAGE_KEYS.name]: 'x'.repeat(100) }).name).toHaveLength(64);
  });
});

describe('view formatting', () => {
  const base = { reason: null, broker: 'open' as const, members: [] };

  it('describes every call phase, with advice on failure', () => {
    expect(describePhase({ ...base, phase: 'idle' }).label).toBe('Not in a call');
    expect(describePhase({ ...base, phase: 'connecting' })).toMatchObject({ label: 'Connecting', tone: 'progress' });
    expect(describePhase({ ...base, phase: 'connected' }).detail).toMatch(/only one/);
    expect(describePhase({ ...base, phase: 'waiting' })).toMatchObject({ label: 'Waiting for the host', tone: 'progress' });
    expect(isInCall('waiting')).toBe(true);
    // Broker down with no live link: a warning. With a live link the call goes on: calm words.
    expect(describePhase({ ...base, phase: 'reconnecting' })).toMatchObject({ label: 'Reconnecting', tone: 'warn' });
    const offline = describePhase({ ...base, phase: 'reconnecting', members: [{ link: 'reconnecting' }, { link: 'connected' }] });
    expect(offline).toMatchObject({ label: 'Signaling offline', tone: 'progress' });
    expect(offline.detail).toMatch(/your call continues; new people can't join/);
    // The engine's reason carries the advice that fits its cause; nothing generic is added.
    const reason = 'Nobody is in this call right now. Check the link, or start a new call.';
    const failed = describePhase({ ...base, phase: 'failed', reason });
    expect(failed).toMatchObject({ label: 'Call failed', tone: 'bad', detail: reason });
    expect(describePhase({ ...base, phase: 'failed' }).detail).toMatch(/Try again/);
    expect(describePhase({ ...base, phase: 'ended' }).label).toBe('Call ended');
    expect(isInCall('connecting') && isInCall('connected') && isInCall('reconnecting')).toBe(true);
    expect(isInCall('idle') || isInCall('failed') || isInCall('ended')).toBe(false);
  });

  it('labels link states with the words people (and tests) look for', () => {
    expect(describeLink('connecting').label).toMatch(/^Connecting/);
    expect(describeLink('connected').label).toBe('Connected');
    expect(describeLink('reconnecting').label).toMatch(/^Reconnecting/);
    expect(describeLink('failed').label).toMatch(/failed/);
  });

  it('says when the safety code is pending', () => {
    const m = (p: Partial<MemberView>) => ({ sas: null, sasPhase: 'pending' as const, ...p });
    expect(describeSafetyCode(m({}))).toMatchObject({ text: 'pending', ready: false });
    expect(describeSafetyCode(m({ sasPhase: 'ready', sas: 'a b c d e f g' }))).toMatchObject({ text: 'a b c d e f g', ready: true });
    // Why a verified person's code differs from last call's, so it does not read as an attack.
    expect(describeSafetyCode(m({ sasPhase: 'ready', sas: 'a b c d e f g' })).hint).toMatch(/new in every call, even for someone you verified/);
    expect(describeSafetyCode(m({ sasPhase: 'ready', sas: null })).ready).toBe(false);
    expect(describeSafetyCode(m({ sasPhase: 'failed' })).hint).toMatch(/Do not trust/);
  });

  it('badges trust, with a loud key change', () => {
    expect(describeTrust('unverified')).toBeNull();
    expect(describeTrust('verified')).toEqual({ label: 'Verified (by name)', tone: 'good' });
    expect(describeTrust('key-changed')).toEqual({ label: 'Key changed!', tone: 'bad' });
  });

  it('formats small things', () => {
    expect(describeSending([])).toBe('muted, camera off');
    expect(describeSending(['mic', 'camera', 'tab-video'])).toBe('microphone and camera on');
    expect(shortFingerprint('aa:bb:cc', 6)).toBe('aa:bb:cc');
    expect(shortFingerprint('aa:bb:cc:dd', 2)).toBe('aa:bb…');
    expect(displayName('  ')).toBe('Someone');
    expect(displayName(' Ada ')).toBe('Ada');
  });
});
