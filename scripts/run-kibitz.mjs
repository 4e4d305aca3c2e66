#!/usr/bin/env node
// `npm start` (and `npm run dev`): build the extension, run the local broker on 127.0.0.1:8787,
// and open Chromium with Kibitz loaded in its own profile (.kibitz/profile). The broker runs
// until Chromium exits or Ctrl-C. Without a display, runs a scripted two-profile demo instead.
//
//   node scripts/run-kibitz.mjs [--demo]    --demo: run the headless demo even with a display
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BROKER_HOST = '127.0.0.1';
const BROKER_PORT = 8787;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: npm start [-- --demo]\n  --demo  run the headless two-profile demo even when a display is available');
  process.exit(0);
}
const unknown = args.filter((a) => a !== '--demo');
if (unknown.length) {
  console.error(`unknown argument(s): ${unknown.join(' ')} (try --help)`);
  process.exit(2);
}
const forceDemo = args.includes('--demo');
const hasDisplay = Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);

const say = (line = '') => console.log(line);
const header = (title) => say(`\n== ${title}`);

/** Runs a command with inherited output; resolves with its exit code. */
function run(cmd, cmdArgs) {
  return new Promise((res) => {
    const child = spawn(cmd, cmdArgs, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err) => {
      console.error(`${cmd}: ${err.message}`);
      res(127);
    });
    child.on('exit', (code, signal) => res(signal ? 128 : (code ?? 1)));
  });
}

header('Building the extension (wxt build)');
const buildCode = await run('npx', ['wxt', 'build']);
if (buildCode !== 0) {
  console.error(`\nThe build failed (exit ${buildCode}).`);
  process.exit(buildCode);
}

const lib = await tsImport('./lib/browser.ts', import.meta.url);
const extensionDir = lib.findExtensionDir(ROOT);
const extensionId = lib.unpackedExtensionId(extensionDir);
say(`Extension: ${extensionDir} (id ${extensionId})`);

header(`Starting the broker on ${BROKER_HOST}:${BROKER_PORT}`);
const brokerHttp = `http://${BROKER_HOST}:${BROKER_PORT}`;
/** @type {{ url: string, stop(): Promise<void>, output(): string } | null} */
let broker = null;
let brokerUrl = `ws://${BROKER_HOST}:${BROKER_PORT}`;
if (await lib.brokerHealthy(brokerHttp)) {
  say(`A broker already answers ${brokerHttp}/healthz; using it (it is not ours to stop).`);
} else {
  try {
    broker = await lib.startBrokerProcess({
      host: BROKER_HOST,
      port: BROKER_PORT,
      onLine: hasDisplay && !forceDemo ? (line) => say(`[broker] ${line}`) : undefined,
    });
  } catch (err) {
    console.error(`The broker did not start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  brokerUrl = broker.url;
  say(`Broker up: ${brokerUrl}`);
}

let stopping = false;
/** @type {import('node:child_process').ChildProcess | null} */
let chromium = null;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  if (chromium && chromium.exitCode === null && chromium.signalCode === null) chromium.kill('SIGTERM');
  if (broker) await broker.stop().catch(() => undefined);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));

if (hasDisplay && !forceDemo) {
  header('Opening Chromium with Kibitz');
  const profileDir = join(ROOT, '.kibitz', 'profile');
  mkdirSync(profileDir, { recursive: true });
  const logFile = join(ROOT, '.kibitz', 'chromium.log');
  const chromiumArgs = [
    `--user-data-dir=${profileDir}`,
    `--load-extension=${extensionDir}`,
    // Branded Chrome 137+ ignores --load-extension unless this feature is off; Chromium accepts it.
    '--disable-features=DisableLoadExtensionCommandLineSwitch',
    '--no-first-run',
    '--no-default-browser-check',
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    `chrome-extension://${extensionId}/popup.html`,
  ];
  say(`${lib.CHROMIUM_PATH} with profile ${profileDir} (its log: ${logFile})`);
  say('Kibitz is in the toolbar (puzzle-piece menu; pin it). Its popup is open in the first tab.');
  say(`The extension's default broker is ${brokerUrl}; keep this terminal open. Ctrl-C stops everything.`);
  const log = openSync(logFile, 'a');
  const startedAt = Date.now();
  chromium = spawn(lib.CHROMIUM_PATH, chromiumArgs, { cwd: ROOT, stdio: ['ignore', log, log] });
  chromium.on('error', (err) => {
    console.error(`Could not start ${lib.CHROMIUM_PATH}: ${err.message}. Install Debian's chromium or set CHROMIUM.`);
    void shutdown(1);
  });
  chromium.on('exit', (code) => {
    if (stopping) return;
    if (code === 0 && Date.now() - startedAt < 3_000) {
      // Chromium handed the window to an instance already running on this profile.
      say('Chromium passed the window to an instance already running with this profile.');
      say('The broker keeps running for it; press Ctrl-C when you are done.');
      return;
    }
    say(`Chromium exited (${code ?? 'by a signal'}); stopping the broker.`);
    void shutdown(code === 0 ? 0 : 1);
  });
} else {
  if (!hasDisplay) {
    header('No display');
    say('Neither DISPLAY nor WAYLAND_DISPLAY is set, so Chromium cannot open a window on this machine.');
    say('To use Kibitz yourself, run `npm ci && npm start` in a desktop session (it opens Chromium with');
    say(`Kibitz loaded), or load ${extensionDir} with "Load unpacked" in chrome://extensions`);
    say('(Developer mode on) and run `npm run broker` next to it.');
    say('Meanwhile, here is a scripted demo: two headless browser profiles call each other.');
  }
  header('Demo: two headless Chromium profiles, driven through the popup');
  const { runDemo } = await tsImport('./lib/demo.ts', import.meta.url);
  try {
    await runDemo({ brokerUrl, log: say });
    header('Demo finished: call started, joined, verified, chatted and left');
    await shutdown(0);
  } catch (err) {
    console.error(`\n${err instanceof Error ? err.message : String(err)}`);
    if (broker) console.error(`\nbroker output (tail):\n${broker.output().split('\n').slice(-20).join('\n')}`);
    await shutdown(1);
  }
}
