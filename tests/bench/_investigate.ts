// Temporary experiment (deleted after).
import { initLogger } from 'node-datachannel';
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
const T0 = performance.now();
const lines: string[] = [];
const ts = () => (performance.now() - T0).toFixed(1);
initLogger('Warning', (level, msg) => lines.push(`${ts()} ndc ${level} ${msg}`));
const { NodePeerConnection } = await import('../../src/agent/node/peer-connection');
const ids = new WeakMap<object, number>(); let nextId = 1;
const idOf = (o: object) => { if (!ids.has(o)) ids.set(o, nextId++); return ids.get(o); };
for (const m of ['setLocalDescription', 'setRemoteDescription', 'addIceCandidate', 'close', 'createDataChannel', 'addTransceiver'] as const) {
  const orig = (NodePeerConnection.prototype as any)[m];
  (NodePeerConnection.prototype as any)[m] = function (this: any, ...args: any[]) {
    const d = args[0];
    const what = d && typeof d === 'object' ? (d.type ?? (d.candidate ? 'cand ' + String(d.candidate).slice(0, 40) : d.label ?? '')) : String(d ?? '');
    lines.push(`${ts()} pc${idOf(this)} ${m}(${what}) sig=${this.signalingState} conn=${this.connectionState}`);
    try {
      const r = orig.apply(this, args);
      if (r && typeof r.then === 'function') return r.then((v: unknown) => { lines.push(`${ts()} pc${idOf(this)} ${m} ok sig=${this.signalingState}`); return v; }, (e: unknown) => { lines.push(`${ts()} pc${idOf(this)} ${m} FAILED ${String(e)}`); throw e; });
      return r;
    } catch (e) { lines.push(`${ts()} pc${idOf(this)} ${m} THREW ${String(e)}`); throw e; }
  };
}
const origLog = console.log;
console.log = (...a: unknown[]) => lines.push(`${ts()} js ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}`);
const { startTestBroker } = await import('../integration/sessions');
const { runNodeBench } = await import('./node-peers');
const { shutdownNodeWebRtc } = await import('../../src/agent/node/platform');
const broker = await startTestBroker();
let err: unknown = null;
for (let i = 0; i < 5 && !err; i++) {
  try {
    await runNodeBench({ brokerUrl: broker.url, sizes: [4], rounds: 10, warmupRounds: 0, timeoutMs: 30000, progress: (l) => lines.push(`${ts()} BENCH ${l}`), brokerConnections: () => broker.stats().connections });
  } catch (e) { err = e; lines.push(`${ts()} ERROR ${String(e)}`); }
}
writeFileSync('/tmp/bx/fail.log', lines.join('\n'));
origLog('error:', String(err));
await broker.close(); shutdownNodeWebRtc();
process.exit(0);
