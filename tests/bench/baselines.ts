/**
 * What Kibitz's Chromium join is compared with in `npm run bench`, in the same run and the same
 * Chromium, interleaved round by round so machine drift hits each alike:
 *
 * - "bare pair": two RTCPeerConnections in one page, trickle ICE (the physical limit);
 * - "bare relay": two Chromium instances and a minimal WebSocket relay, trickle (the limit
 *   through a server);
 * - "PeerJS": `peerjs` with its own `peer` server, from `new Peer()` to the DataConnection's
 *   `open`, on loopback (`iceServers: []`).
 *
 * Each time is taken in the page with `performance.now()`, from the start of the attempt to
 * the data channel's `open`. Pages get camera and microphone permission first: Chromium hides
 * host addresses (mDNS) from a page without it, which would leave loopback without candidates.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocketServer, WebSocket } from 'ws';
import { CHROMIUM_PATH, REPO_ROOT } from '../../scripts/lib/browser';

export type BaselineName = 'bare pair' | 'bare relay' | 'PeerJS';
export const BASELINES: readonly BaselineName[] = ['bare pair', 'bare relay', 'PeerJS'];

export interface BaselineResult {
  samples: Record<BaselineName, number[]>;
  failures: string[];
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title><script src="/peerjs.min.js"></script>
<script>
  const waitOpen = (dc) => new Promise((resolve, reject) => {
    dc.onopen = () => resolve();
    setTimeout(() => reject(new Error('data channel did not open in 10 s')), 10000);
  });
  // Permission first, so host candidates carry real (loopback) addresses.
  window.ready = navigator.mediaDevices.getUserMedia({ audio: true }).then((s) => s.getTracks().forEach((t) => t.stop()));

  window.barePair = async () => {
    const t0 = performance.now();
    const a = new RTCPeerConnection({ iceServers: [] });
    const b = new RTCPeerConnection({ iceServers: [] });
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    const dc = a.createDataChannel('x');
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription);
    await waitOpen(dc);
    const ms = performance.now() - t0;
    a.close(); b.close();
    return ms;
  };

  // The two-browser relay: one WebSocket each, every message forwarded to the other side.
  window.relayConnect = (url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    window.relay = ws;
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error('relay unreachable'));
    ws.onmessage = async (m) => {
      const msg = JSON.parse(m.data);
      if (msg.sdp && msg.sdp.type === 'offer') {
        const pc = new RTCPeerConnection({ iceServers: [] });
        window.answerer = pc;
        pc.onicecandidate = (e) => e.candidate && ws.send(JSON.stringify({ cand: e.candidate }));
        await pc.setRemoteDescription(msg.sdp);
        await pc.setLocalDescription();
        ws.send(JSON.stringify({ sdp: pc.localDescription }));
      } else if (msg.sdp) {
        await window.offerer.setRemoteDescription(msg.sdp);
      } else if (msg.cand) {
        const pc = window.offerer || window.answerer;
        await pc.addIceCandidate(msg.cand);
      }
    };
  });
  window.relayDial = async () => {
    const t0 = performance.now();
    const pc = new RTCPeerConnection({ iceServers: [] });
    window.offerer = pc;
    pc.onicecandidate = (e) => e.candidate && window.relay.send(JSON.stringify({ cand: e.candidate }));
    const dc = pc.createDataChannel('x');
    await pc.setLocalDescription();
    window.relay.send(JSON.stringify({ sdp: pc.localDescription }));
    await waitOpen(dc);
    return performance.now() - t0;
  };
  window.relayReset = () => {
    for (const k of ['offerer', 'answerer']) { if (window[k]) window[k].close(); window[k] = null; }
  };

  const peerOptions = (port) => ({ host: '127.0.0.1', port, path: '/peerjs', secure: false, debug: 0, config: { iceServers: [] } });
  window.peerListen = (port, id) => new Promise((resolve, reject) => {
    const p = new Peer(id, peerOptions(port));
    window.listener = p;
    p.on('open', () => resolve());
    p.on('error', (e) => reject(new Error(String(e && e.type))));
    p.on('connection', (c) => { window.accepted = c; });
  });
  window.peerDial = (port, id) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = new Peer(peerOptions(port));
    window.dialer = p;
    p.on('error', (e) => reject(new Error(String(e && e.type))));
    p.on('open', () => {
      const c = p.connect(id, { reliable: true });
      c.on('open', () => resolve(performance.now() - t0));
    });
    setTimeout(() => reject(new Error('PeerJS did not open in 10 s')), 10000);
  });
  window.peerReset = () => {
    for (const k of ['dialer', 'listener']) { if (window[k]) window[k].destroy(); window[k] = null; }
  };
</script>`;

interface Servers {
  httpUrl: string;
  relayUrl: string;
  peerPort: number;
  close(): Promise<void>;
}

async function startServers(): Promise<Servers> {
  const peerjsBundle = readFileSync(join(REPO_ROOT, 'node_modules', 'peerjs', 'dist', 'peerjs.min.js'));
  const web = http.createServer((req, res) => {
    if (req.url === '/peerjs.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(peerjsBundle);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => relay.once('listening', () => r()));
  relay.on('connection', (ws) => {
    ws.on('message', (data) => {
      for (const other of relay.clients) if (other !== ws && other.readyState === WebSocket.OPEN) other.send(data.toString());
    });
  });
  const { PeerServer } = await import('peer');
  const peerServer = await new Promise<{ close?: () => void; _server?: http.Server; port: number }>((resolve) => {
    const s = PeerServer({ port: 0, host: '127.0.0.1', path: '/peerjs' }, (server) => {
      resolve({ _server: server as unknown as http.Server, port: (server.address() as AddressInfo).port });
    });
    void s;
  });
  return {
    httpUrl: `http://127.0.0.1:${(web.address() as AddressInfo).port}/`,
    relayUrl: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    peerPort: peerServer.port,
    close: async () => {
      web.close();
      relay.close();
      peerServer._server?.close();
      (peerServer._server as unknown as { closeAllConnections?: () => void })?.closeAllConnections?.();
    },
  };
}

async function launch(): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--use-fake-device-for-media-stream'],
  });
  const context = await browser.newContext();
  await context.grantPermissions(['microphone', 'camera']);
  const page = await context.newPage();
  return { browser, page };
}

export interface Baselines {
  /** One round of every baseline; `timed: false` is a warm-up. */
  round(timed: boolean): Promise<string>;
  result(): BaselineResult;
  close(): Promise<void>;
}

/**
 * Starts the servers and the two plain Chromium instances and warms every baseline up once;
 * the caller interleaves `round()` with its own (Kibitz) rounds.
 */
export async function openBaselines(): Promise<Baselines> {
  const servers = await startServers();
  const a = await launch();
  const b = await launch();
  const samples: Record<BaselineName, number[]> = { 'bare pair': [], 'bare relay': [], PeerJS: [] };
  const failures: string[] = [];
  let n = 0;
  const close = async (): Promise<void> => {
    await Promise.allSettled([a.browser.close(), b.browser.close()]);
    await servers.close();
  };
  const round = async (timed: boolean): Promise<string> => {
    n++;
    const record = async (name: BaselineName, run: () => Promise<number>): Promise<void> => {
      try {
        const ms = await run();
        if (timed) samples[name].push(ms);
      } catch (err) {
        failures.push(`${name} round ${n}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    await record('bare pair', () => b.page.evaluate('window.barePair()') as Promise<number>);
    await record('bare relay', async () => {
      const ms = (await b.page.evaluate('window.relayDial()')) as number;
      await Promise.all([a.page.evaluate('window.relayReset()'), b.page.evaluate('window.relayReset()')]);
      return ms;
    });
    await record('PeerJS', async () => {
      const id = `bench-${n}-${Date.now().toString(36)}`;
      await a.page.evaluate(`window.peerListen(${servers.peerPort}, ${JSON.stringify(id)})`);
      const ms = (await b.page.evaluate(`window.peerDial(${servers.peerPort}, ${JSON.stringify(id)})`)) as number;
      await Promise.all([a.page.evaluate('window.peerReset()'), b.page.evaluate('window.peerReset()')]);
      return ms;
    });
    const last = (k: BaselineName) => (timed ? samples[k].at(-1)?.toFixed(1) ?? 'failed' : '-');
    return `bare pair ${last('bare pair')} ms, bare relay ${last('bare relay')} ms, PeerJS ${last('PeerJS')} ms`;
  };
  try {
    for (const side of [a, b]) {
      await side.page.goto(servers.httpUrl);
      await side.page.evaluate('window.ready');
      await side.page.evaluate(`window.relayConnect(${JSON.stringify(servers.relayUrl)})`);
    }
    await round(false); // first-use costs stay out of the figures
  } catch (err) {
    await close();
    throw err;
  }
  return { round, result: () => ({ samples, failures }), close };
}
