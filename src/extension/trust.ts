/**
 * Who may talk to the background and the engine. A message is trusted only by its `sender`
 * as the browser reports it (extension id, document URL, origin, frame), never by fields in
 * the message (DESIGN.md rule 6). Pure module: callers pass in their own extension id and
 * base URL, so it is unit-testable without an extension runtime.
 */

/** The subset of `runtime.MessageSender` these checks read. */
export interface SenderLike {
  id?: string;
  url?: string;
  origin?: string;
  frameId?: number;
  tab?: unknown;
  /** Set for documents (pages, frames), absent for the service worker. */
  documentId?: string;
}

/**
 * Extension pages that may hold a `kibitz-ui` port to the engine. The join screen is one: an
 * invite opens it in a tab (it is web-accessible, so a page may frame it, and the top-level
 * check below refuses a framed copy).
 */
export const UI_PAGES: readonly string[] = ['/popup.html', '/stage.html', '/join.html'];
/** Extension pages that may ask the background to start the engine. */
export const ENGINE_STARTER_PAGES: readonly string[] = ['/popup.html', '/join.html'];
/** The one page that may tell the background what the toolbar badge says. */
export const BADGE_PAGES: readonly string[] = ['/offscreen.html'];
/** The one page that may ask the background to notify about joins and leaves. */
export const NOTIFY_PAGES: readonly string[] = ['/offscreen.html'];
/** The popup itself (a port from it means the person can see the call). */
export const POPUP_PAGES: readonly string[] = ['/popup.html'];
/**
 * The background service worker's script as WXT builds it (`entrypoints/background` ->
 * `background.js`; the e2e test drives a real shortcut through it). The offscreen document
 * cannot read the manifest (its only extension API is `runtime` messaging), so it is named here.
 */
export const WORKER_PATH = '/background.js';

/**
 * The sender's URL when it is on this extension's origin (and claims no other origin), else
 * null. Scheme and host are compared explicitly: `URL.origin` is "null" for non-special
 * schemes in some runtimes, which would make every extension URL look alike.
 */
function ownExtensionUrl(sender: SenderLike, extensionId: string, extensionBaseUrl: string): URL | null {
  if (typeof extensionId !== 'string' || extensionId.length === 0) return null;
  if (sender.id !== extensionId || typeof sender.url !== 'string') return null;
  let base: URL;
  let url: URL;
  try {
    base = new URL(extensionBaseUrl);
    url = new URL(sender.url);
  } catch {
    return null;
  }
  if (url.protocol !== base.protocol || url.host !== base.host || url.host.length === 0) return null;
  if (url.username || url.password) return null;
  if (sender.origin !== undefined && sender.origin !== `${base.protocol}//${base.host}`) return null;
  return url;
}

/**
 * True when `sender` is a top-level document of this extension at one of `allowedPaths`.
 * `extensionBaseUrl` is `runtime.getURL('/')` (e.g. `chrome-extension://<id>/`).
 * Content scripts fail this check: their `url` is the web page's, not ours.
 */
export function isExtensionPageSender(
  sender: SenderLike | undefined | null,
  extensionId: string,
  extensionBaseUrl: string,
  allowedPaths: readonly string[],
): boolean {
  if (!sender) return false;
  const url = ownExtensionUrl(sender, extensionId, extensionBaseUrl);
  if (!url || !allowedPaths.includes(url.pathname)) return false;
  // Only top-level documents: a framed copy of a page is not the page a person opened.
  if (typeof sender.frameId === 'number' && sender.frameId !== 0) return false;
  return true;
}

/**
 * True when `sender` is this extension's own service worker at `workerPath`, as the browser
 * reports it (Chromium 156: `{ id, url: chrome-extension://<id>/background.js }`, no origin).
 * Every document fails: pages and frames carry a `documentId` (and usually a `frameId` or a
 * `tab`), content scripts carry the web page's `url` and a `tab`, so not even our own popup
 * can pass for the worker.
 */
export function isExtensionWorkerSender(
  sender: SenderLike | undefined | null,
  extensionId: string,
  extensionBaseUrl: string,
  workerPath: string = WORKER_PATH,
): boolean {
  if (!sender) return false;
  if (sender.tab !== undefined || sender.frameId !== undefined || sender.documentId !== undefined) return false;
  const url = ownExtensionUrl(sender, extensionId, extensionBaseUrl);
  return url !== null && !url.search && !url.hash && url.pathname === workerPath;
}
