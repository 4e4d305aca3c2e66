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
}

/** Extension pages that may hold a `kibitz-ui` port to the engine. */
export const UI_PAGES: readonly string[] = ['/popup.html', '/stage.html'];
/** Extension pages that may ask the background to start the engine. */
export const ENGINE_STARTER_PAGES: readonly string[] = ['/popup.html'];
/** The one page that may tell the background what the toolbar badge says. */
export const BADGE_PAGES: readonly string[] = ['/offscreen.html'];

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
  if (!sender || typeof extensionId !== 'string' || extensionId.length === 0) return false;
  if (sender.id !== extensionId) return false;
  if (typeof sender.url !== 'string') return false;

  let base: URL;
  let url: URL;
  try {
    base = new URL(extensionBaseUrl);
    url = new URL(sender.url);
  } catch {
    return false;
  }
  // Compare scheme and host explicitly: `URL.origin` is "null" for non-special schemes in
  // some runtimes, which would make every extension URL look alike.
  if (url.protocol !== base.protocol || url.host !== base.host || url.host.length === 0) return false;
  if (url.username || url.password) return false;
  if (!allowedPaths.includes(url.pathname)) return false;
  if (sender.origin !== undefined && sender.origin !== `${base.protocol}//${base.host}`) return false;
  // Only top-level documents: a framed copy of a page is not the page a person opened.
  if (typeof sender.frameId === 'number' && sender.frameId !== 0) return false;
  return true;
}
