/**
 * Kibitz content script: registered at runtime only (`registration: 'runtime'`), never injected
 * into every page by the manifest, and with no `matches`, so the build asks for no host
 * permissions. In this build nothing registers or injects it, and it does nothing.
 *
 * Later issues add, injected only into the tab a person chose to share (via `activeTab` and
 * `scripting`):
 * - the co-browse overlay (ink and pointers) in an extension-origin iframe, so call content
 *   never enters the page's DOM (DESIGN.md rule 6);
 * - the page-perception snapshot (redacted text of the page, sent only to peers with `see-page`);
 * - follow-navigation hooks for the shared tab.
 * Messages it sends will be trusted by the background only by `sender` (tab, frame, origin).
 */
import { defineContentScript } from 'wxt/utils/define-content-script';

export default defineContentScript({
  registration: 'runtime',
  main() {
    // Intentionally empty: see the comment above.
  },
});
