import { defineConfig } from 'wxt';

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

// Chromium MV3 build ("chrome" is WXT's name for the Chromium family; output: .output/chrome-mv3).
//
// Permissions are the minimum the features of this build need:
// - offscreen: the engine lives in one offscreen document (WebRTC, getUserMedia, audio playback),
//   so the call survives the popup closing.
// - storage: the popup's settings (broker URL, display name) in storage.local. The engine
//   itself keeps its certificate and verification pins in the offscreen document's IndexedDB.
// No host permissions and no content scripts injected by the manifest: the content script is
// registered at runtime by later features (tab sharing via activeTab), never on every page.
// Camera and microphone are not manifest permissions in Chromium: they are granted to the
// extension origin by the person (the stage page's "Allow camera and microphone" button).
export default defineConfig({
  modules: ['@wxt-dev/module-svelte'],
  manifestVersion: 3,
  browser: 'chrome',
  manifest: {
    name: 'Kibitz',
    description: 'Secure peer-to-peer calls, co-browsing and least-privilege agents on any page.',
    permissions: ['offscreen', 'storage'],
    action: { default_title: 'Kibitz' },
    minimum_chrome_version: '116',
  },
  // Called at build time, after WXT has loaded its .env files into process.env.
  vite: () => ({
    define: {
      'import.meta.env.WXT_KIBITZ_BROKER_URL': JSON.stringify(buildBrokerUrl()),
    },
  }),
});
