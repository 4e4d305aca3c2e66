/**
 * `npm run bench`: join latency of Kibitz calls on loopback (issue 2; DESIGN.md section 8:
 * a separate command that writes a table, not a timed test).
 *
 * For rooms of 2, 4 and 6 Node peers and for 2 Chromium profiles with the built extension, all
 * against one real broker on 127.0.0.1, it measures per joiner:
 *   - join → rostered: from dispatching join / clicking "Join" until the joiner's phase is
 *     'connected' (the coordinator's welcome and roster applied);
 *   - join → all links open: until every other member shows link 'connected' to the joiner.
 * It prints median and p95 as a Markdown table and writes the same report to bench-results.md
 * in the repository root. Exit 0 on success; non-zero with a message on any failure.
 * After the Node join bench, rooms of 2, 4, 6 and 8 Node peers give join time and CPU per peer
 * as the room grows (tests/bench/scale.ts). Whenever an extension build exists, the report also
 * lists the JS each of its entry points loads, raw and gzipped (tests/bench/bundle-sizes.ts).
 *
 *   npm run bench -- [--rounds N] [--node-rounds N] [--chromium-rounds N] [--only node|chromium]
 *                    [--sizes 2,4,6] [--warmup N] [--timeout-ms MS] [--chromium-mode fresh|warm|both]
 *                    [--scale-sizes 2,4,6,8] [--scale-rounds N] [--chromium-scale-sizes 2,3,4]
 *                    [--chromium-scale-rounds N] [--out FILE]
 *                    [--max-failures N] [--deadline-s S]
 * Environment equivalents: BENCH_ROUNDS, BENCH_NODE_ROUNDS, BENCH_CHROMIUM_ROUNDS, BENCH_ONLY,
 * BENCH_SIZES, BENCH_WARMUP, BENCH_TIMEOUT_MS, BENCH_CHROMIUM_MODE, BENCH_SCALE_SIZES,
 * BENCH_SCALE_ROUNDS, BENCH_CHROMIUM_SCALE_SIZES, BENCH_CHROMIUM_SCALE_ROUNDS, BENCH_OUT, BENCH_MAX_FAILURES,
 * BENCH_DEADLINE_S.
 *
 * A round whose call does not come up (join failed, or a step timed out) is a finding about the
 * engine, not a harness error: it is listed in the report, discarded and run again, up to
 * --max-failures; beyond that the run fails.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { CHROMIUM_PATH, findExtensionDir, REPO_ROOT, type Profile } from '../../scripts/lib/browser';
import { startTestBroker } from '../integration/sessions';
import { BASELINES, openBaselines, type BaselineResult } from './baselines';
import { chromiumScenario, runChromiumBench } from './chromium-peers';
import { PHASE_LABELS } from './chromium-timeline';
import { leaveLiveSessions, runNodeBench } from './node-peers';
import { migrationTable, runMigrationBench } from './migration';
import { bundleSizesSection, measureBundles } from './bundle-sizes';
import { runScaleBench, scaleTable } from './scale';
import { chromiumScaleTable, runChromiumScale } from './chromium-scale';
import { BenchError, FailureBudget, type FailedRound, type JoinSample } from './sample';
import { markdownTable, median, ms, percentile } from './stats';

interface Config {
  nodeRounds: number;
  /** Coordinator-migration rounds per departure kind (0 skips them). */
  migrationRounds: number;
  chromiumRounds: number;
  only: 'node' | 'chromium' | null;
  sizes: number[];
  /** Room sizes of the scale bench (join time and CPU per peer). */
  scaleSizes: number[];
  /** Scale rounds per size (0 skips the scale bench). */
  scaleRounds: number;
  /** Chromium room sizes of the scale bench (browsers per room). */
  chromiumScaleSizes: number[];
  /** Chromium scale rounds per size (0 skips them). */
  chromiumScaleRounds: number;
  warmup: number;
  timeoutMs: number;
  chromiumModes: Array<'fresh' | 'warm'>;
  out: string;
  /** Failed rounds tolerated (each is recorded, discarded and run again) before giving up. */
  maxFailures: number;
  /** Whole-run watchdog. */
  deadlineMs: number;
}

const USAGE = `usage: npm run bench -- [options]
  --rounds N           rounds per scenario (default: 10 Node, 10 Chromium)
  --node-rounds N      rounds per Node room size (default 10)
  --chromium-rounds N  rounds per Chromium mode (default 10)
  --migration-rounds N coordinator-migration rounds per departure kind (default: the Node rounds; 0 skips)
  --only node|chromium run one side only
  --sizes 2,4,6        Node room sizes (default 2,4,6)
  --scale-sizes 2,4,6,8
                       room sizes of the Node scale bench: join time and CPU per peer (default 2,4,6,8)
  --scale-rounds N     scale rounds per size (default 3; 0 skips)
  --chromium-scale-sizes 2,3,4
                       browsers per room in the Chromium scale bench (default 2,3,4)
  --chromium-scale-rounds N
                       Chromium scale rounds per size (default 3; 0 skips)
  --warmup N           untimed 2-peer Node rounds first (default 1)
  --timeout-ms MS      limit per join or settle step (default 30000)
  --chromium-mode M    fresh (new profiles every round), warm (one pair, after a warm-up call) or
                       both (default)
  --out FILE           report file (default bench-results.md in the repository root)
  --max-failures N     failed rounds tolerated, each reported and run again (default 5)
  --deadline-s S       give up (and clean up) after S seconds (default 600)
Environment: BENCH_ROUNDS, BENCH_NODE_ROUNDS, BENCH_CHROMIUM_ROUNDS, BENCH_MIGRATION_ROUNDS, BENCH_ONLY, BENCH_SIZES,
BENCH_SCALE_SIZES, BENCH_SCALE_ROUNDS, BENCH_CHROMIUM_SCALE_SIZES, BENCH_CHROMIUM_SCALE_ROUNDS, BENCH_WARMUP, BENCH_TIMEOUT_MS, BENCH_CHROMIUM_MODE, BENCH_OUT,
BENCH_MAX_FAILURES, BENCH_DEADLINE_S;
BENCH_MARKS=1 prints every Chromium join's raw time line (ms after the click) to stderr.`;

function positiveInt(what: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new BenchError(`${what} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function parseConfig(argv: string[]): Config {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      'node-rounds': { type: 'string' },
      'chromium-rounds': { type: 'string' },
      'migration-rounds': { type: 'string' },
      only: { type: 'string' },
      sizes: { type: 'string' },
      'scale-sizes': { type: 'string' },
      'scale-rounds': { type: 'string' },
      'chromium-scale-sizes': { type: 'string' },
      'chromium-scale-rounds': { type: 'string' },
      warmup: { type: 'string' },
      'timeout-ms': { type: 'string' },
      'chromium-mode': { type: 'string' },
      out: { type: 'string' },
      'max-failures': { type: 'string' },
      'deadline-s': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const env = process.env;
  const rounds = values.rounds ?? env.BENCH_ROUNDS;
  const only = values.only ?? env.BENCH_ONLY ?? null;
  if (only !== null && only !== '' && only !== 'node' && only !== 'chromium') {
    throw new BenchError(`--only must be "node" or "chromium", got "${only}"`);
  }
  const sizesRaw = values.sizes ?? env.BENCH_SIZES ?? '2,4,6';
  const sizes = sizesRaw.split(',').map((s) => positiveInt('--sizes entry', s.trim(), 0, 2));
  const scaleSizesRaw = values['scale-sizes'] ?? env.BENCH_SCALE_SIZES ?? '2,4,6,8';
  const scaleSizes = scaleSizesRaw.split(',').map((s) => positiveInt('--scale-sizes entry', s.trim(), 0, 2));
  const chromiumScaleRaw = values['chromium-scale-sizes'] ?? env.BENCH_CHROMIUM_SCALE_SIZES ?? '2,3,4';
  const chromiumScaleSizes = chromiumScaleRaw.split(',').map((s) => positiveInt('--chromium-scale-sizes entry', s.trim(), 0, 2));
  const out = values.out ?? env.BENCH_OUT ?? 'bench-results.md';
  const mode = values['chromium-mode'] ?? env.BENCH_CHROMIUM_MODE ?? 'both';
  if (mode !== 'fresh' && mode !== 'warm' && mode !== 'both') {
    throw new BenchError(`--chromium-mode must be fresh, warm or both, got "${mode}"`);
  }
  return {
    nodeRounds: positiveInt('--node-rounds', values['node-rounds'] ?? env.BENCH_NODE_ROUNDS ?? rounds, 10),
    migrationRounds: positiveInt(
      '--migration-rounds',
      values['migration-rounds'] ?? env.BENCH_MIGRATION_ROUNDS,
      positiveInt('--node-rounds', values['node-rounds'] ?? env.BENCH_NODE_ROUNDS ?? rounds, 10),
      0,
    ),
    chromiumRounds: positiveInt('--chromium-rounds', values['chromium-rounds'] ?? env.BENCH_CHROMIUM_ROUNDS ?? rounds, 10),
    only: only === '' ? null : (only as Config['only']),
    sizes,
    scaleSizes,
    // Not tied to --rounds: each scale round holds a 5 s idle window, so 3 per size is the budget.
    scaleRounds: positiveInt('--scale-rounds', values['scale-rounds'] ?? env.BENCH_SCALE_ROUNDS, 3, 0),
    chromiumScaleSizes,
    chromiumScaleRounds: positiveInt('--chromium-scale-rounds', values['chromium-scale-rounds'] ?? env.BENCH_CHROMIUM_SCALE_ROUNDS, 3, 0),
    warmup: positiveInt('--warmup', values.warmup ?? env.BENCH_WARMUP, 1, 0),
    timeoutMs: positiveInt('--timeout-ms', values['timeout-ms'] ?? env.BENCH_TIMEOUT_MS, 30_000, 1000),
    chromiumModes: mode === 'both' ? ['fresh', 'warm'] : [mode],
    out: out.startsWith('/') ? out : join(REPO_ROOT, out),
    maxFailures: positiveInt('--max-failures', values['max-failures'] ?? env.BENCH_MAX_FAILURES, 5, 0),
    deadlineMs: positiveInt('--deadline-s', values['deadline-s'] ?? env.BENCH_DEADLINE_S, 600) * 1000,
  };
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

/** Newest modification time (ms) of any file under `dir`, skipping dot-directories. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Which extension build the Chromium figures come from, and whether sources changed since. */
function describeBuild(): string {
  const dir = findExtensionDir();
  const built = statSync(join(dir, 'manifest.json')).mtimeMs;
  const sources = Math.max(...['src', 'entrypoints'].map((d) => newestMtime(join(REPO_ROOT, d))));
  const stale = sources > built ? ` — STALE: sources changed at ${new Date(sources).toISOString()}; run \`npm run build\` and bench again` : '';
  return `Extension: ${dir.replace(`${REPO_ROOT}/`, '')} built ${new Date(built).toISOString()}${stale}`;
}

// ---------------------------------------------------------------------------------------------
// Report

/** Joins at least this slow to rostered are counted separately: the distribution is often bimodal. */
const SLOW_MS = 500;

function summaryRows(samples: JoinSample[], scenarios: string[], failures: FailedRound[]): string[][] {
  return scenarios.map((scenario) => {
    const s = samples.filter((x) => x.scenario === scenario);
    const rounds = new Set(s.map((x) => x.round)).size;
    const r = s.map((x) => x.rosteredMs);
    const a = s.map((x) => x.allLinksOpenMs);
    const failed = failures.filter((f) => f.scenario === scenario).length;
    const slow = r.filter((x) => x >= SLOW_MS).length;
    return [scenario, `${s.length} (${rounds} rounds)`, ms(median(r)), ms(percentile(r, 95)), ms(median(a)), ms(percentile(a, 95)), `${slow}/${s.length}`, String(failed)];
  });
}

function detailRows(samples: JoinSample[], scenarios: string[]): string[][] {
  const rows: string[][] = [];
  for (const scenario of scenarios) {
    const s = samples.filter((x) => x.scenario === scenario);
    const positions = [...new Set(s.map((x) => x.position))].sort((x, y) => x - y);
    for (const position of positions) {
      const p = s.filter((x) => x.position === position);
      const b = p.flatMap((x) => (x.breakdown ? [x.breakdown] : []));
      const med = (f: (v: NonNullable<JoinSample['breakdown']>) => number) => (b.length ? ms(median(b.map(f))) : '—');
      rows.push([
        scenario,
        `#${position} (${p[0]!.others} already in)`,
        String(p.length),
        ms(median(p.map((x) => x.rosteredMs))),
        ms(Math.max(...p.map((x) => x.rosteredMs))),
        ms(median(p.map((x) => x.allLinksOpenMs))),
        ms(Math.max(...p.map((x) => x.allLinksOpenMs))),
        ms(median(p.flatMap((x) => (x.brokerOpenMs === undefined ? [] : [x.brokerOpenMs])))),
        med((v) => v.signalingMs),
        med((v) => v.transportMs),
        med((v) => v.admissionMs),
      ]);
    }
  }
  return rows;
}

/** Kibitz (warm profiles) beside the bare limits and PeerJS, measured in the same rounds. */
function sideBySideTable(base: BaselineResult, kibitz: JoinSample[]): string {
  const ui = kibitz.map((x) => x.rosteredMs);
  const channel = kibitz.flatMap((x) => (x.dataChannelMs === undefined ? [] : [x.dataChannelMs]));
  const ratio = (k: number[], v: number[]) => (v.length && k.length ? `${(median(k) / median(v)).toFixed(2)}×` : '—');
  const row = (name: string, v: number[]) => [name, String(v.length), ms(median(v)), ms(percentile(v, 95)), ratio(channel, v), ratio(ui, v)];
  const rows = [
    ...BASELINES.map((name) => row(name, base.samples[name])),
    row('Kibitz, warm profiles, "Join" click → data channel open', channel),
    row('Kibitz, warm profiles, "Join" click → "Connected" in the popup', ui),
  ];
  return [
    '',
    '## Side by side (Chromium, same run, interleaved round by round)',
    '',
    markdownTable(
      ['Path', 'Samples', 'Median ms', 'p95 ms', 'Kibitz data channel ÷ this', 'Kibitz UI ÷ this'],
      rows,
      [false, true, true, true, true, true],
    ),
    '',
    'Baselines are timed in the page from the start of the attempt to the data channel\'s `open`; PeerJS from',
    '`new Peer()` (server connect included) to the DataConnection\'s `open`, with its `peer` server on loopback and',
    '`iceServers: []`. Kibitz on the same definition runs from the "Join" click in the popup to the `open` of the',
    'joiner\'s control data channel in the offscreen document (one browser clock for both), so it also holds',
    'popup → offscreen messaging, the room key and the sealed signaling; at the UI it runs on to "Connected"',
    '(the holder\'s welcome, the roster and rendering).',
    ...(base.failures.length ? ['', 'Baseline failures (not counted):', ...base.failures.map((f) => `- ${oneLine(f, 300)}`)] : []),
    '',
  ].join('\n');
}

/** Where a Chromium join's time goes, phase by phase (medians over the scenario's joins). */
function phaseTable(samples: JoinSample[], scenarios: string[]): string {
  const chromium = scenarios.filter((sc) => samples.some((x) => x.scenario === sc && x.phases));
  if (!chromium.length) return '';
  const rows = PHASE_LABELS.map(([key, label]) => [
    label,
    ...chromium.flatMap((sc) => {
      const v = samples.flatMap((x) => (x.scenario === sc && x.phases && x.phases[key] !== null ? [x.phases[key]] : []));
      return [ms(median(v)), ms(percentile(v, 95))];
    }),
  ]);
  return [
    '',
    '## Chromium join, phase by phase (ms)',
    '',
    markdownTable(['Phase', ...chromium.flatMap((sc) => [`${sc} median`, `${sc} p95`])], rows, [false, ...chromium.flatMap(() => [true, true])]),
    '',
    'Marks from the joiner\'s and the holder\'s offscreen documents (the bench wraps their own `WebSocket` and',
    '`RTCPeerConnection`; tests/bench/chromium-timeline.ts) and from the joiner\'s popup, on one browser clock.',
    'Medians of phases do not add up exactly to the median total.',
    '',
  ].join('\n');
}

function report(header: string[], samples: JoinSample[], scenarios: string[], notes: string[], failures: FailedRound[]): string {
  const summary = markdownTable(
    ['Scenario', 'Samples (joins)', 'Join→rostered median ms', 'Join→rostered p95 ms', 'Join→all links open median ms', 'Join→all links open p95 ms', `Rostered ≥ ${SLOW_MS} ms`, 'Failed rounds'],
    summaryRows(samples, scenarios, failures),
    [false, true, true, true, true, true, true, true],
  );
  const failureList = failures.map((f) => `- ${f.scenario}, attempt ${f.attempt}: ${oneLine(f.reason, 400)}`);
  const detail = markdownTable(
    ['Scenario', 'Joiner', 'n', 'Rostered median', 'Rostered max', 'All open median', 'All open max', 'Broker open median', 'Broker+lookup median', 'ICE+DTLS+SCTP median', 'Hello→welcome median'],
    detailRows(samples, scenarios),
    [false, false, true, true, true, true, true, true, true, true, true],
  );
  const raw = scenarios
    .map((scenario) => {
      const s = samples.filter((x) => x.scenario === scenario);
      return `- ${scenario}: rostered [${s.map((x) => x.rosteredMs.toFixed(0)).join(', ')}]; all open [${s.map((x) => x.allLinksOpenMs.toFixed(0)).join(', ')}]`;
    })
    .join('\n');
  return [
    '# Kibitz join latency on loopback',
    '',
    ...header.map((h) => `- ${h}`),
    '',
    '## Summary',
    '',
    summary,
    '',
    'p95 is nearest-rank: with fewer than 20 samples it is the largest sample. Samples come from complete',
    'rounds only; a failed round (the call did not come up) is counted under "Failed rounds", discarded and run again.',
    '',
    ...(failureList.length ? ['## Failed rounds', '', ...failureList, ''] : []),
    '## Per joiner position (ms)',
    '',
    detail,
    '',
    '"Broker open" is when the joiner\'s view first shows its broker connection open (Chromium: the popup\'s',
    '"signaling: open" pill). The last three columns (Node only) split join→rostered: broker connect, watch',
    'and holder lookup until the coordinator is dialled; offer/answer, ICE, DTLS and SCTP until that peer',
    'connection is connected; data channels opening, hello and the coordinator\'s welcome until rostered.',
    '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    '## Raw samples (ms, in run order)',
    '',
    raw,
    '',
  ].join('\n');
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * The bundle-size section of the built extension, or '' when there is no build. A build that cannot
 * be measured (a referenced file missing) is reported in the section rather than failing the run:
 * the latency figures do not depend on it.
 */
function bundleSection(progress: (line: string) => void): string {
  let dir: string;
  try {
    dir = findExtensionDir();
  } catch {
    progress('no extension build: bundle sizes skipped (run `npm run build` to get them)');
    return '';
  }
  try {
    return bundleSizesSection(measureBundles(dir), describeBuild());
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    progress(`WARNING: bundle sizes: ${message}`);
    return `## Extension bundle sizes (JS per entry point)\n\nCould not be measured: ${message}\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const liveProfiles = new Set<Profile>();
let broker: RunningBroker | null = null;
let cleaning: Promise<void> | null = null;

/**
 * Closes every browser, leaves any Node sessions of an unfinished room, stops the broker and
 * releases node-datachannel; idempotent, never throws.
 */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...liveProfiles].map((p) => p.close()));
    liveProfiles.clear();
    await leaveLiveSessions().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    broker = null;
    try {
      shutdownNodeWebRtc();
    } catch {
      /* already released */
    }
  })();
  return cleaning;
}

async function main(cfg: Config): Promise<void> {
  const progress = (line: string) => console.error(`[bench] ${line}`);
  const runNode = cfg.only !== 'chromium';
  const runChromium = cfg.only !== 'node';
  if (runChromium) {
    // Fail early and clearly rather than after the Node part.
    if (!existsSync(CHROMIUM_PATH)) throw new BenchError(`Chromium not found at ${CHROMIUM_PATH} (set $CHROMIUM, or use --only node)`);
    findExtensionDir(); // throws "No built extension found … Run `npm run build` first."
    const build = describeBuild();
    if (build.includes('STALE')) progress(`WARNING: ${build}`);
  }

  // Cheap, so measured whenever a build exists, before the long part (a rebuild meanwhile does not mix in).
  const bundles = bundleSection(progress);
  const started = performance.now();
  broker = await startTestBroker();
  const brokerRef = broker;
  progress(`broker on ${broker.url}`);

  const failures = new FailureBudget(cfg.maxFailures);
  const samples: JoinSample[] = [];
  const scenarios: string[] = [];
  const notes: string[] = [];
  let chromiumVersion = 'not run';
  let migration: Awaited<ReturnType<typeof runMigrationBench>> | null = null;
  let scale: Awaited<ReturnType<typeof runScaleBench>> | null = null;
  let chromiumScale: Awaited<ReturnType<typeof runChromiumScale>> | null = null;

  if (runNode) {
    samples.push(
      ...(await runNodeBench({
        brokerUrl: broker.url,
        sizes: cfg.sizes,
        rounds: cfg.nodeRounds,
        warmupRounds: cfg.warmup,
        timeoutMs: cfg.timeoutMs,
        progress,
        brokerConnections: () => brokerRef.stats().connections,
        failures,
      })),
    );
    scenarios.push(...cfg.sizes.map((n) => `Node, ${n} peers`));
    if (cfg.migrationRounds > 0) {
      migration = await runMigrationBench({ brokerUrl: broker.url, rounds: cfg.migrationRounds, size: 4, timeoutMs: cfg.timeoutMs, progress });
    }
    if (cfg.scaleRounds > 0) {
      // After the join bench, so the process is warm (JIT, native library) without a warm-up of its own.
      scale = await runScaleBench({
        brokerUrl: broker.url,
        sizes: cfg.scaleSizes,
        rounds: cfg.scaleRounds,
        timeoutMs: cfg.timeoutMs,
        brokerConnections: () => brokerRef.stats().connections,
        progress,
        failures,
      });
    }
    notes.push(
      `Node: each round is a fresh room with fresh sessions; joiners join one at a time and the room settles (full mesh, safety codes ready) before the next joins. ${cfg.warmup} untimed warm-up round(s) first. Identities are made once per peer slot.`,
    );
  }
  let sideBySide = '';
  if (runChromium) {
    // The baselines run in the same Chromium, one round after each warm Kibitz round.
    const baselines = cfg.chromiumModes.includes('warm') ? await openBaselines() : null;
    let baselineResult: BaselineResult | null = null;
    try {
      for (const mode of cfg.chromiumModes) {
        const result = await runChromiumBench(
          {
            brokerUrl: broker.url,
            rounds: cfg.chromiumRounds,
            timeoutMs: cfg.timeoutMs,
            mode,
            progress,
            failures,
            ...(mode === 'warm' && baselines ? { afterRound: () => baselines.round(true) } : {}),
          },
          (p) => liveProfiles.add(p),
        );
        samples.push(...result.samples);
        chromiumVersion = result.version;
        scenarios.push(chromiumScenario(mode));
      }
      baselineResult = baselines?.result() ?? null;
    } finally {
      await baselines?.close();
    }
    if (cfg.chromiumScaleRounds > 0) {
      chromiumScale = await runChromiumScale(
        { brokerUrl: broker.url, sizes: cfg.chromiumScaleSizes, rounds: cfg.chromiumScaleRounds, timeoutMs: cfg.timeoutMs, progress, failures },
        (p) => liveProfiles.add(p),
      );
    }
    if (baselineResult) sideBySide = sideBySideTable(baselineResult, samples.filter((x) => x.scenario === chromiumScenario('warm')));
    notes.push(
      'Chromium: timed inside the joiner\'s popup (performance.now() from the "Join" click event to the DOM showing the state), so it includes popup → background/offscreen document → popup messaging and rendering. The invite link is pasted before the clock starts.',
      'Chromium warm-up: the joiner\'s popup is open from before the host starts the call, so its standby broker socket (opened when the popup shows the form) is up at the click, as for a person who opens the popup and then pastes a link; the link is pasted and "Join" clicked at once, so the offer made for the pasted link is at most a few ms ahead.',
      ...(cfg.chromiumModes.includes('fresh')
        ? ['"fresh profiles": two new Chromium profiles every round, so every timed join is the first call of a freshly installed extension (the offscreen document exists already: opening the popup creates it).']
        : []),
      ...(cfg.chromiumModes.includes('warm')
        ? ['"warm profiles": one pair of profiles for all rounds after one untimed warm-up call; every round is a new room (both leave in between).']
        : []),
    );
  }

  const stats = broker.stats();
  if (stats.rejectedConnections > 0 || stats.handlerErrors > 0 || Object.keys(stats.errors).length > 0) {
    notes.push(
      `Broker reported rejected connections ${stats.rejectedConnections}, handler errors ${stats.handlerErrors}, error frames ${JSON.stringify(stats.errors)}.`,
    );
  }
  notes.push(`Broker relayed ${stats.relayed} frames over the whole run. Total wall time ${((performance.now() - started) / 1000).toFixed(0)} s.`);

  const cpu = cpus();
  const header = [
    `Date: ${new Date().toISOString()}`,
    `Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}`,
    `Node ${process.version}; node-datachannel ${packageVersion('node-datachannel')}; Chromium ${chromiumVersion}; playwright-core ${packageVersion('playwright-core')}`,
    `Broker: real broker (src/broker/server.ts, default limits) in the bench process on 127.0.0.1; all peers on loopback, no STUN/TURN`,
    ...(runChromium ? [describeBuild()] : []),
    `Rounds: Node ${runNode ? `${cfg.nodeRounds} per size (sizes ${cfg.sizes.join(', ')})` : 'not run'}; scale ${scale ? `${cfg.scaleRounds} per size (sizes ${cfg.scaleSizes.join(', ')})` : 'not run'}; Chromium ${runChromium ? `${cfg.chromiumRounds} per mode (${cfg.chromiumModes.join(', ')})` : 'not run'}`,
  ];
  const text = [
    report(header, samples, scenarios, notes, failures.failures) + sideBySide + phaseTable(samples, scenarios),
    ...(migration ? [migrationTable(migration, 4)] : []),
    ...(scale ? [scaleTable(scale)] : []),
    ...(chromiumScale ? [chromiumScaleTable(chromiumScale, cpus().length)] : []),
    ...(bundles ? [bundles] : []),
  ].join('\n');
  console.log(text);
  await writeFile(cfg.out, text);
  progress(`wrote ${cfg.out}`);
  if (failures.failures.length > 0) {
    progress(
      `WARNING: ${failures.failures.length} round(s) failed and were run again (within --max-failures ${cfg.maxFailures}); see "Failed rounds" in the report`,
    );
  }
}

let exitCode = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`[bench] interrupted (${signal}); cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const cfg = parseConfig(process.argv.slice(2));
  setTimeout(() => {
    console.error(`[bench] FAILED: the run exceeded its ${cfg.deadlineMs / 1000} s deadline (--deadline-s); cleaning up`);
    void cleanup().finally(() => process.exit(2));
  }, cfg.deadlineMs).unref();
  await main(cfg);
} catch (err) {
  exitCode = 1;
  const message = err instanceof BenchError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`[bench] FAILED: ${message}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
