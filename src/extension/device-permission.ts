/**
 * Camera and microphone permission for the extension's origin. The offscreen document (where
 * the call runs) cannot show Chromium's permission prompt, so an extension page asks: the
 * stage, by itself when the popup sends a person there with `stage.html?ask=mic` (or
 * `?ask=camera`), or from its "Allow …" button. The popup and the stage read the current state
 * with `navigator.permissions.query` and follow its `change` events.
 *
 * The pure parts (parsing `?ask=`, what the permission card says) are unit-tested; the query
 * takes the `Permissions` object as a parameter.
 */

export type DeviceName = 'camera' | 'microphone';
export type MediaToggleLane = 'mic' | 'camera';
/** 'unknown': the browser could not say (no Permissions API, or it threw). */
export type PermState = 'granted' | 'denied' | 'prompt' | 'unknown';

export const DEVICES: readonly DeviceName[] = ['camera', 'microphone'];

export function deviceFor(lane: MediaToggleLane): DeviceName {
  return lane === 'mic' ? 'microphone' : 'camera';
}

/** The lane a stage URL's `?ask=` names, or null. Only the two exact values are accepted. */
export function parseAsk(search: string): MediaToggleLane | null {
  let value: string | null;
  try {
    value = new URLSearchParams(search).get('ask');
  } catch {
    return null;
  }
  return value === 'mic' || value === 'camera' ? value : null;
}

/** The stage URL path that asks for `lane`'s permission. */
export function stageAskPath(lane: MediaToggleLane): `/stage.html?ask=${MediaToggleLane}` {
  return `/stage.html?ask=${lane}`;
}

/** A PermissionStatus.state as a PermState ('unknown' for anything else). */
export function permissionStateOf(s: unknown): PermState {
  return s === 'granted' || s === 'denied' || s === 'prompt' ? s : 'unknown';
}

/** The permission status for `name`, or null when the browser cannot tell. Never throws. */
export async function queryDevicePermission(
  name: DeviceName,
  permissions: Pick<Permissions, 'query'> | undefined = globalThis.navigator?.permissions,
): Promise<PermissionStatus | null> {
  if (!permissions || typeof permissions.query !== 'function') return null;
  try {
    return await permissions.query({ name: name as PermissionName });
  } catch {
    return null;
  }
}

/** The current state for `name` ('unknown' when the browser cannot tell). Never throws. */
export async function devicePermissionState(
  name: DeviceName,
  permissions?: Pick<Permissions, 'query'>,
): Promise<PermState> {
  const status = await queryDevicePermission(name, permissions);
  return status ? permissionStateOf(status.state) : 'unknown';
}

function listNames(names: readonly DeviceName[]): string {
  return names.length === 2 ? 'camera and microphone' : (names[0] ?? 'camera and microphone');
}

export interface PermissionCardText {
  /** False when both are granted: the card is not shown. */
  show: boolean;
  /** Which ones are not granted, camera first. */
  missing: DeviceName[];
  /** Which ones Chromium blocks (a prompt cannot be shown until the person changes the setting). */
  denied: DeviceName[];
  /** The button's text, e.g. "Allow microphone". */
  button: string;
  /** One or two sentences: why, and when blocked, how to fix it. */
  text: string;
}

/** What the stage's permission card says for the current states. */
export function permissionCard(states: Readonly<Record<DeviceName, PermState>>): PermissionCardText {
  const missing = DEVICES.filter((d) => states[d] !== 'granted');
  const denied = missing.filter((d) => states[d] === 'denied');
  const what = listNames(missing);
  const button = `Allow ${what}`;
  if (missing.length === 0) return { show: false, missing, denied, button, text: '' };
  if (denied.length > 0) {
    const blocked = listNames(denied);
    const Blocked = blocked.charAt(0).toUpperCase() + blocked.slice(1);
    return {
      show: true,
      missing,
      denied,
      button,
      text:
        `Chromium blocks the ${blocked} for Kibitz, so it cannot ask you again. To fix it: click the icon at the left ` +
        `of the address bar, choose “Site settings”, set ${Blocked} to “Allow”, then come back to this page.`,
    };
  }
  return {
    show: true,
    missing,
    denied,
    button,
    text:
      `Kibitz needs your permission to use the ${what}. The call runs in the background and cannot ask by itself, ` +
      `so this page asks once for Kibitz; Chromium remembers your answer.`,
  };
}

/** What to say when getUserMedia failed with an error of this `name`. */
export function askFailureText(errorName: string, names: readonly DeviceName[]): string {
  const what = listNames(names);
  switch (errorName) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Kibitz was not allowed to use the ${what}.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found. Plug one in and try again.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} is busy or could not be started. Close other apps using it and try again.`;
    default:
      return `Could not reach the ${what}.`;
  }
}
