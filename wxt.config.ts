import { defineConfig } from 'wxt';
import { EXTENSION_PUBLIC_KEY, INSTALL_PROBE_PATH, JOIN_PAGE_PATH, LOOPBACK_INVITE_HOSTS } from './src/invite/extension-identity';

const FALLBACK_BROKER_URL = 'ws://127.0.0.1:8787';

/**
 * The broker URL baked into the build as the default of the popup's "Broker URL" setting:
 * `WXT_KIBITZ_BROKER_URL` from the environment (or a WXT .env file), else the local broker.
 * A malformed value fails the build rather than shipping an extension that cannot connect.
 */
function buildBrokerUrl(): string {
  const raw = (process.env.WXT_KIBITZ_BROKER_URL ?? '').trim();
  if (!raw) return FALLBACK_BROKER_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`WXT_KIBITZ_BROKER_URL is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`WXT_KIBITZ_BROKER_URL must be ws:// or wss://, got ${JSON.stringify(raw)}`);
  }
  if (url.username || url.password || url.hash) {
    throw new Error('WXT_KIBITZ_BROKER_URL must not contain credentials or a fragment');
  }
  return raw;
}

/**
 * Where an invite page may open Kibitz's join screen from: a broker on this machine (any port)
 * and the origin of the broker baked into the build. Only these origins can see that Kibitz is
 * installed (the probe image) or navigate to the join screen; every other site sees nothing.
 */
function invitePageOrigins(): string[] {
  const origins = LOOPBACK_INVITE_HOSTS.map((host) => `http://${host}/*`);
  const broker = new URL(buildBrokerUrl());
  const scheme = broker.protocol === 'wss:' ? 'https' : 'http';
  const pattern = `${scheme}://${broker.hostname}/*`;
  if (!origins.includes(pattern)) origins.push(pattern);
  return origins;
}

// Chromium MV3 build ("chrome" is WXT's name for the Chromium family; output: .output/chrome-mv3).
//
// Permissions are the minimum the features of this build need:
// - offscreen: the engine lives in one offscreen document (WebRTC, getUserMedia, audio playback),
//   so the call survives the popup closing.
// - storage: the popup's settings (broker URL, display name, join/leave notifications) in
//   storage.local. The engine itself keeps its certificate and verification pins in the
//   offscreen document's IndexedDB.
// - notifications: "Bob joined your call" while the popup is closed (the setting turns it off),
//   and why a shortcut could not turn the camera or microphone on. Created by the background only.
// - declarativeNetRequestWithHostAccess, with host access to the invite origins only (loopback
//   and the built-in broker): one redirect rule, so a clicked invite opens the join screen
//   before the broker's page can load and read the room from the fragment.
// No other host permissions and no content scripts injected by the manifest: the content script
// is registered at runtime by later features (tab sharing via activeTab), never on every page.
// Camera and microphone are not manifest permissions in Chromium: they are granted to the
// extension origin by the person (the stage page's "Allow camera and microphone" button).
export default defineConfig({
  modules: ['@wxt-dev/module-svelte'],
  manifestVersion: 3,
  browser: 'chrome',
  manifest: {
    name: 'Kibitz',
    description: 'Secure peer-to-peer calls, co-browsing and least-privilege agents on any page.',
    permissions: ['offscreen', 'storage', 'notifications', 'declarativeNetRequestWithHostAccess'],
    // Only the invite origins: so a click on an invite opens the join screen without the
    // broker's page ever loading (src/extension/invite-rules.ts). No access to any other site.
    host_permissions: invitePageOrigins(),
    action: { default_title: 'Kibitz', default_icon: { 128: 'notification-icon.png' } },
    icons: { 128: 'notification-icon.png' },
    // The public half of Kibitz's signing key: the same extension id in every install, so an
    // invite page on any broker can find the join screen (src/invite/extension-identity.ts).
    key: EXTENSION_PUBLIC_KEY,
    // The join screen and the probe image only, to invite pages only, at fixed URLs (an invite
    // page must know them). The join screen refuses to run inside a frame.
    web_accessible_resources: [
      {
        resources: [JOIN_PAGE_PATH.slice(1), INSTALL_PROBE_PATH.slice(1)],
        matches: invitePageOrigins(),
        use_dynamic_url: false,
      },
    ],
    // Keyboard shortcuts during a call (chrome://extensions/shortcuts changes them); names are
    // src/extension/shortcuts.ts's SHORTCUT_LANES. They do nothing outside a call.
    commands: {
      'toggle-microphone': {
        suggested_key: { default: 'Alt+Shift+M' },
        description: 'Mute or unmute your microphone in the call',
      },
      'toggle-camera': {
        suggested_key: { default: 'Alt+Shift+V' },
        description: 'Turn your camera on or off in the call',
      },
    },
    minimum_chrome_version: '116',
  },
  // Called at build time, after WXT has loaded its .env files into process.env.
  vite: () => ({
    define: {
      'import.meta.env.WXT_KIBITZ_BROKER_URL': JSON.stringify(buildBrokerUrl()),
    },
  }),
});
