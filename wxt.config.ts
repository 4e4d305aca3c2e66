import { defineConfig } from 'wxt';

// Chromium MV3 build. Permissions are the minimum the call features need:
// - offscreen: the engine lives in one offscreen document (WebRTC, media, audio playback)
// - storage: settings (broker URL, name) and verification pins
export default defineConfig({
  modules: ['@wxt-dev/module-svelte'],
  manifestVersion: 3,
  browser: 'chromium',
  manifest: {
    name: 'Kibitz',
    description: 'Secure peer-to-peer calls, co-browsing and least-privilege agents on any page.',
    permissions: ['offscreen', 'storage'],
    action: { default_title: 'Kibitz' },
  },
});
