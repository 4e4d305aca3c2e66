/**
 * The invite page the broker serves at `/join`. An invite is `http(s)://<broker>/join#<room>`:
 * browsers never send the fragment, and this page must not either. It loads nothing from
 * anywhere (its CSP allows only its own inline script and style by hash, and one image from
 * the extension's origin), sends no referrer, and its script only reads the fragment to hand
 * it, with the page's own address, to Kibitz's join screen in this same browser.
 *
 * With Kibitz installed, the probe image (a web-accessible resource of the extension) loads
 * and the page moves on to `chrome-extension://<id>/join.html#invite=<this link>`. Without it,
 * the probe fails and the page says how to get Kibitz, and how to use the link once it is there.
 */
import { createHash } from 'node:crypto';
import { INSTALL_PROBE_PATH, JOIN_PAGE_PATH, isExtensionId } from '../invite/extension-identity';

/** Runs in the visitor's browser. Plain ES2017, no imports: it is inlined into the page. */
const SCRIPT = `(function () {
  'use strict';
  var root = document.documentElement;
  var id = root.getAttribute('data-extension-id') || '';
  var show = function (state) { root.setAttribute('data-state', state); };
  var hash = location.hash;
  // Only what could be a room link is handed on; anything else stays here, unsent.
  if (!/^#v=[0-9]{1,9}&[A-Za-z0-9=&_.~%+/:,-]{1,4000}$/.test(hash) || !/^[a-p]{32}$/.test(id) || location.href.length > 4096) {
    show('invalid');
    return;
  }
  var base = 'chrome-extension://' + id;
  var target = base + '${JOIN_PAGE_PATH}#invite=' + encodeURIComponent(location.href);
  var copy = document.getElementById('copy');
  var copied = document.getElementById('copied');
  copy.addEventListener('click', function () {
    navigator.clipboard.writeText(location.href).then(
      function () { copied.textContent = 'Copied. Paste it under \\u201cRoom link\\u201d in the Kibitz popup.'; },
      function () { copied.textContent = 'Could not copy: select the address bar and copy the link from there.'; }
    );
  });
  var probe = new Image();
  probe.onload = function () {
    show('opening');
    location.replace(target);
  };
  probe.onerror = function () { show('install'); };
  probe.src = base + '${INSTALL_PROBE_PATH}';
})();`;

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6475; --bg: #f6f7f9; --card: #fff; --line: #d8dce3; --accent: #1f5fbf; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8ebf1; --muted: #a7afbd; --bg: #161a21; --card: #1f242d; --line: #38404d; --accent: #8ab4ff; } }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 34rem; margin: 10vh auto; padding: 24px; background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
h1 { font-size: 1.4rem; margin: 0 0 8px; }
p { margin: 8px 0; }
.muted { color: var(--muted); }
button { font: inherit; padding: 6px 14px; border-radius: 8px; border: 1px solid var(--accent); background: transparent; color: var(--accent); cursor: pointer; }
button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
section { display: none; }
[data-state="checking"] #checking, [data-state="opening"] #opening, [data-state="install"] #install, [data-state="invalid"] #invalid { display: block; }
@media (scripting: none) { #checking { display: none; } #noscript { display: block; } }
`;

function sha256Base64(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

const SCRIPT_HASH = sha256Base64(SCRIPT);
const STYLE_HASH = sha256Base64(STYLE);

/** The page's policy: nothing but its own inline code, and the probe from the extension's origin. */
export function joinPageHeaders(extensionId: string, bodyBytes: number): Record<string, string> {
  if (!isExtensionId(extensionId)) throw new Error('joinPageHeaders: invalid extension id');
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(bodyBytes),
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'sha256-${SCRIPT_HASH}'`,
      `style-src 'sha256-${STYLE_HASH}'`,
      `img-src chrome-extension://${extensionId}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=()',
    'cache-control': 'no-cache',
  };
}

/** The page itself. `extensionId` is the only variable part, and it is checked to be 32 letters a–p. */
export function joinPageHtml(extensionId: string): string {
  if (!isExtensionId(extensionId)) throw new Error('joinPageHtml: invalid extension id');
  return `<!doctype html>
<html lang="en" data-extension-id="${extensionId}" data-state="checking">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Join a Kibitz call</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Join a Kibitz call</h1>
<p class="muted">Kibitz calls are end-to-end encrypted and peer to peer. This page never sends the room part of its address anywhere.</p>
<section id="checking" role="status"><p>Looking for Kibitz in this browser…</p></section>
<section id="opening" role="status"><p>Opening Kibitz…</p></section>
<section id="install" aria-labelledby="install-heading">
<h2 id="install-heading">Kibitz is not installed in this browser</h2>
<p>To join, install the Kibitz extension in Chrome or Chromium (from your organisation's extension store, or from the Kibitz project with “Load unpacked” on the chrome://extensions page), then open this link again.</p>
<p>Already have Kibitz, in another browser profile or through a different broker? Copy this link and paste it under “Room link” in the Kibitz popup.</p>
<p><button type="button" id="copy">Copy link</button></p>
<p id="copied" role="status"></p>
</section>
<section id="invalid" role="alert"><p>This link is incomplete: the room part after “#” is missing or damaged. Ask for a fresh invite.</p></section>
<section id="noscript"><p>Turn on JavaScript for this page, or paste this link under “Room link” in the Kibitz popup.</p></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
