import { describe, expect, it } from 'vitest';
import {
  askFailureText,
  deviceFor,
  devicePermissionState,
  parseAsk,
  permissionCard,
  stageAskPath,
} from '../../src/extension/device-permission';

describe('stage.html?ask=', () => {
  it('accepts exactly "mic" and "camera"', () => {
    expect(parseAsk('?ask=mic')).toBe('mic');
    expect(parseAsk('?ask=camera&x=1')).toBe('camera');
    for (const s of ['', '?ask=', '?ask=MIC', '?ask=tab-video', '?ask=mic%00', '?ASK=mic', '?other=mic']) expect(parseAsk(s), s).toBeNull();
    expect(parseAsk(stageAskPath('mic').slice('/stage.html'.length))).toBe('mic');
    expect(deviceFor('mic')).toBe('microphone');
    expect(deviceFor('camera')).toBe('camera');
  });
});

describe('the permission card', () => {
  it('is hidden when both are granted, and asks for what is missing otherwise', () => {
    expect(permissionCard({ camera: 'granted', microphone: 'granted' }).show).toBe(false);
    const both = permissionCard({ camera: 'prompt', microphone: 'prompt' });
    expect(both).toMatchObject({ show: true, missing: ['camera', 'microphone'], denied: [], button: 'Allow camera and microphone' });
    expect(both.text).toMatch(/cannot ask by itself/);
    expect(permissionCard({ camera: 'granted', microphone: 'prompt' })).toMatchObject({ show: true, missing: ['microphone'], button: 'Allow microphone' });
    // A browser that cannot say: shown, so the person can still allow it.
    expect(permissionCard({ camera: 'unknown', microphone: 'granted' })).toMatchObject({ show: true, button: 'Allow camera' });
  });

  it('explains how to undo a block, naming what is blocked', () => {
    const c = permissionCard({ camera: 'granted', microphone: 'denied' });
    expect(c).toMatchObject({ show: true, denied: ['microphone'] });
    expect(c.text).toMatch(/blocks the microphone.*Site settings.*set Microphone to “Allow”/);
    expect(permissionCard({ camera: 'denied', microphone: 'denied' }).text).toMatch(/set Camera and microphone to “Allow”/);
  });

  it('failure texts say what happened', () => {
    expect(askFailureText('NotAllowedError', ['microphone'])).toBe('Kibitz was not allowed to use the microphone.');
    expect(askFailureText('NotFoundError', ['camera'])).toMatch(/No camera was found/);
    expect(askFailureText('NotReadableError', ['camera', 'microphone'])).toMatch(/camera and microphone is busy/);
    expect(askFailureText('Weird', ['camera'])).toBe('Could not reach the camera.');
  });

  it('reads the permission state and never throws', async () => {
    const perms = (state: unknown) => ({ query: async () => ({ state }) as PermissionStatus });
    expect(await devicePermissionState('camera', perms('granted'))).toBe('granted');
    expect(await devicePermissionState('camera', perms('denied'))).toBe('denied');
    expect(await devicePermissionState('camera', perms('bogus'))).toBe('unknown');
    expect(await devicePermissionState('camera', { query: async () => { throw new TypeError('no such name'); } })).toBe('unknown');
    expect(await devicePermissionState('camera', undefined)).toBe('unknown');
  });
});
