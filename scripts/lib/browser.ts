/**
 * Launching Debian's Chromium with the built Kibitz extension, and running the real broker as
 * a child process. Shared by the end-to-end tests (tests/e2e/harness.ts) and `npm start`
 * (scripts/run-kibitz.mjs), so both drive the extension the same way.
 *
 * No test-runner imports here: this module must also run under plain `tsx`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Debian's Chromium, or the binary named by $CHROMIUM. */
export const CHROMIUM_PATH = process.env.CHROMIUM || '/usr/bin/chromium';

/** Where `wxt build` may put the MV3 build (`browser: 'chromium'` makes it `chromium-mv3`). */
const BUILD_DIRS = ['.output/chrome-mv3', '.output/chromium-mv3'];

/**
 * Absolute path of the built extension: $KIBITZ_EXTENSION_DIR, or whichever of
 * `.output/chrome-mv3` and `.output/chromium-mv3` was built last.
 */
export function findExtensionDir(root: string = REPO_ROOT): string {
  const fromEnv = process.env.KIBITZ_EXTENSION_DIR;
  const candidates = fromEnv ? [resolve(fromEnv)] : BUILD_DIRS.map((d) => join(root, d));
  const built = candidates
    .filter((dir) => existsSync(join(dir, 'manifest.json')))
    .sort((x, y) => statSync(join(y, 'manifest.json')).mtimeMs - statSync(join(x, 'manifest.json')).mtimeMs);
  if (built[0]) return realpathSync(built[0]);
  throw new Error(
    `No built extension found (looked in ${candidates.join(', ')}). Run \`npm run build\` first.`,
  );
}

/**
 * The id Chromium gives the unpacked extension: from the manifest's `key` when it has one
 * (SHA-256 of the key's DER), else from its absolute path; 32 nibbles as a–p either way.
 */
export function unpackedExtensionId(extensionDir: string): string {
  const manifest = JSON.parse(readFileSync(join(extensionDir, 'manifest.json'), 'utf8')) as { key?: unknown };
  const source = typeof manifest.key === 'string' ? Buffer.from(manifest.key, 'base64') : realpathSync(extensionDir);
  const hex = createHash('sha256').update(source).digest('hex').slice(0, 32);
  return [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
}

/**
 * Flags for a quiet, offline, reproducible Chromium. The background-networking flags matter:
 * this machine's network is closed, and without them Chromium keeps dialling Google's hosts.
 */
export function chromiumFlags(extensionDir: string): string[] {
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--disable-extensions-except=${extensionDir}`,
    `--load-extension=${extensionDir}`,
    // A fake camera (moving test pattern) and microphone (beeps) behind getUserMedia. Permission
    // is still asked for and granted over CDP; never add --use-fake-ui-for-media-stream (it
    // breaks tab capture, see DESIGN.md section 8).
    '--use-fake-device-for-media-stream',
  ];
}

export interface ConsoleEntry {
  profile: string;
  level: string;
  source: string;
  text: string;
  at: number;
}

interface ConsoleArg {
  value?: unknown;
  description?: string;
  preview?: { properties?: Array<{ name: string; value?: string }>; overflow?: boolean };
}

/** A console argument as text: an object as its preview ({event: welcome, …}), not "Object". */
function argText(a: ConsoleArg): string {
  if (a.value !== undefined) return String(a.value);
  const props = a.preview?.properties;
  if (props) return `{${props.map((p) => `${p.name}: ${p.value ?? '?'}`).join(', ')}${a.preview?.overflow ? ', …' : ''}}`;
  return a.description ?? '';
}

/** What one profile's extension pages, service worker and offscreen document said. */
export class ConsoleLog {
  readonly entries: ConsoleEntry[] = [];
  constructor(
    readonly profile: string,
    private readonly limit = 500,
  ) {}

  add(level: string, source: string, text: string): void {
    this.entries.push({ profile: this.profile, level, source, text, at: Date.now() });
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
  }

  /** Errors, warnings and uncaught exceptions, one per line. */
  format(levels: readonly string[] = ['error', 'warning', 'exception']): string {
    const lines = this.entries
      .filter((e) => levels.includes(e.level))
      .map((e) => `[${this.profile}] ${e.level} ${shortSource(e.source)}: ${e.text}`);
    return lines.length ? lines.join('\n') : `[${this.profile}] (no ${levels.join('/')} output)`;
  }
}

function shortSource(url: string): string {
  const m = /^chrome-extension:\/\/[a-p]{32}(\/[^?#]*)/.exec(url);
  return m?.[1] ?? (url || '?');
}

export interface Profile {
  label: string;
  context: BrowserContext;
  extensionId: string;
  extensionDir: string;
  userDataDir: string;
  console: ConsoleLog;
  /** Opens chrome-extension://<id>/<path> in a new tab. */
  openExtensionPage(path: string): Promise<Page>;
  /** The popup, opened as a tab. */
  openPopup(): Promise<Page>;
  /** The stage page, opened as a tab. */
  openStage(): Promise<Page>;
  /** Open tabs on the extension's origin. */
  extensionPages(): Page[];
  /** The permission state an extension-origin context reports, e.g. 'granted'. */
  permissionState(name: 'camera' | 'microphone'): Promise<string>;
  /** The toolbar icon's badge text and title, as the extension set them. */
  badge(): Promise<{ text: string; title: string }>;
  /**
   * Evaluates a JavaScript expression in the extension's offscreen document (where the engine
   * lives; not a Playwright page) over CDP and returns its JSON value. Throws if that document
   * is not open or the expression throws.
   */
  evaluateInOffscreen(expression: string): Promise<unknown>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  extensionDir?: string;
  /** Default true. */
  headless?: boolean;
  /** How long to wait for the extension's service worker. Default 30 s. */
  timeoutMs?: number;
}

const liveDirs = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort if a caller forgets to close: remove temp profiles, kill broker groups. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) killGroup(child, 'SIGKILL');
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/**
 * A fresh Chromium profile (temporary user-data dir) with the built extension loaded, camera and
 * microphone granted to the extension's origin over CDP, and console output collected from the
 * extension's pages, service worker and offscreen document.
 */
export async function launchProfile(label: string, options: LaunchOptions = {}): Promise<Profile> {
  installExitHook();
  const extensionDir = options.extensionDir ?? findExtensionDir();
  const timeout = options.timeoutMs ?? 30_000;
  const userDataDir = mkdtempSync(join(tmpdir(), `kibitz-${label.replace(/[^\w-]/g, '_')}-`));
  liveDirs.add(userDataDir);
  const log = new ConsoleLog(label);

  let context: BrowserContext | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (context) {
      const ctx = context;
      await withTimeout(ctx.close(), 20_000, `closing profile ${label}`).catch((err: unknown) => {
        log.add('error', 'harness', `close failed: ${String(err)}`);
      });
    }
    await rm(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    liveDirs.delete(userDataDir);
  };

  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: options.headless ?? true,
      args: chromiumFlags(extensionDir),
      timeout: 60_000,
      viewport: { width: 1100, height: 800 },
    });
    const ctx = context;

    ctx.on('console', (msg) => {
      const source = msg.page()?.url() ?? msg.worker()?.url() ?? msg.location().url;
      if (source.startsWith('chrome-extension://')) log.add(normLevel(msg.type()), source, msg.text());
    });
    const watchPage = (page: Page): void => {
      page.on('pageerror', (err) => {
        if (page.url().startsWith('chrome-extension://')) {
          log.add('exception', page.url(), err.stack ?? err.message);
        }
      });
      page.on('crash', () => log.add('exception', page.url(), 'page crashed'));
    };
    ctx.pages().forEach(watchPage);
    ctx.on('page', watchPage);

    const worker =
      ctx.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')) ??
      (await ctx.waitForEvent('serviceworker', {
        predicate: (w) => w.url().startsWith('chrome-extension://'),
        timeout,
      }).catch(() => {
        throw new Error(
          `profile ${label}: the extension's service worker did not start within ${timeout} ms ` +
            `(is ${extensionDir} a valid MV3 build?)`,
        );
      }));
    const extensionId = new URL(worker.url()).host;
    const expectedId = unpackedExtensionId(extensionDir);
    if (extensionId !== expectedId) {
      log.add('warning', 'harness', `service worker id ${extensionId} != manifest-derived id ${expectedId}`);
    }
    const origin = `chrome-extension://${extensionId}`;

    // A CDP session on the profile's first (blank) tab: Browser.* and Target.* are browser-wide.
    const controlPage = ctx.pages()[0] ?? (await ctx.newPage());
    const cdp = await ctx.newCDPSession(controlPage);
    for (const name of ['camera', 'microphone'] as const) {
      await cdp.send('Browser.setPermission', { origin, permission: { name }, setting: 'granted' });
    }
    const evaluateInOffscreen = await watchOffscreenConsole(cdp, origin, log);

    const openExtensionPage = async (path: string): Promise<Page> => {
      const page = await ctx.newPage();
      await page.goto(`${origin}/${path.replace(/^\//, '')}`, { waitUntil: 'domcontentloaded' });
      return page;
    };

    const profile: Profile = {
      label,
      context: ctx,
      extensionId,
      extensionDir,
      userDataDir,
      console: log,
      openExtensionPage,
      openPopup: () => openExtensionPage('popup.html'),
      openStage: () => openExtensionPage('stage.html'),
      extensionPages: () => ctx.pages().filter((p) => p.url().startsWith(origin)),
      permissionState: async (name) => {
        // Ask from the service worker: an extension-origin context that always exists.
        const sw = ctx.serviceWorkers().find((w) => w.url().startsWith(origin)) ?? worker;
        return sw.evaluate(
          async (n) => (await navigator.permissions.query({ name: n as PermissionName })).state,
          name,
        );
      },
      badge: async () => {
        const sw = ctx.serviceWorkers().find((w) => w.url().startsWith(origin)) ?? worker;
        return sw.evaluate(async () => {
          const action = (globalThis as unknown as { chrome: { action: { getBadgeText(d: object): Promise<string>; getTitle(d: object): Promise<string> } } }).chrome.action;
          return { text: await action.getBadgeText({}), title: await action.getTitle({}) };
        });
      },
      evaluateInOffscreen,
      close,
    };
    return profile;
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Launches several profiles at once; if any launch fails, the others are closed before the
 * error is thrown, so nothing leaks.
 */
export async function launchProfiles(...labels: string[]): Promise<Profile[]> {
  const results = await Promise.allSettled(labels.map((l) => launchProfile(l)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(
      results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.close()] : [])),
    );
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<Profile>).value);
}

function normLevel(type: string): string {
  return type === 'warn' ? 'warning' : type;
}

/**
 * The offscreen document (where the engine lives) is not a Playwright page, so its console is
 * read over CDP: discover targets, attach (non-flat) to the extension's offscreen/background
 * documents, and enable Runtime, which also replays what was logged before we attached.
 */
async function watchOffscreenConsole(
  cdp: CDPSession,
  origin: string,
  log: ConsoleLog,
): Promise<(expression: string) => Promise<unknown>> {
  const attached = new Map<string, string>(); // targetId -> sessionId
  const sessionUrl = new Map<string, string>();
  /** Replies to our own Runtime.evaluate requests, by message id. */
  const pending = new Map<number, (reply: { result?: Record<string, any>; error?: { message?: string } }) => void>();
  let nextId = 1;
  const consider = async (info: { targetId: string; type: string; url: string }): Promise<void> => {
    if (info.type !== 'background_page' && info.type !== 'other') return;
    if (!info.url.startsWith(origin) || attached.has(info.targetId)) return;
    attached.set(info.targetId, '');
    try {
      const { sessionId } = await cdp.send('Target.attachToTarget', {
        targetId: info.targetId,
        flatten: false,
      });
      attached.set(info.targetId, sessionId);
      sessionUrl.set(sessionId, info.url);
      for (const method of ['Runtime.enable', 'Runtime.runIfWaitingForDebugger']) {
        await cdp.send('Target.sendMessageToTarget', {
          sessionId,
          message: JSON.stringify({ id: nextId++, method }),
        });
      }
    } catch (err) {
      log.add('warning', 'harness', `could not watch ${info.url}: ${String(err)}`);
    }
  };
  cdp.on('Target.detachedFromTarget', ({ sessionId, targetId }) => {
    sessionUrl.delete(sessionId);
    if (targetId) attached.delete(targetId);
  });
  cdp.on('Target.targetCreated', ({ targetInfo }) => void consider(targetInfo));
  cdp.on('Target.targetInfoChanged', ({ targetInfo }) => void consider(targetInfo));
  cdp.on('Target.receivedMessageFromTarget', ({ sessionId, message }) => {
    let msg: { method?: string; params?: Record<string, any> };
    try {
      msg = JSON.parse(message);
    } catch {
      return;
    }
    const reply = typeof (msg as { id?: unknown }).id === 'number' ? pending.get((msg as { id: number }).id) : undefined;
    if (reply) {
      pending.delete((msg as { id: number }).id);
      reply(msg as { result?: Record<string, any>; error?: { message?: string } });
      return;
    }
    const url = sessionUrl.get(sessionId) ?? 'offscreen';
    if (msg.method === 'Runtime.consoleAPICalled' && msg.params) {
      const args = (msg.params.args ?? []) as ConsoleArg[];
      const text = args.map(argText).join(' ');
      log.add(normLevel(String(msg.params.type)), url, text);
    } else if (msg.method === 'Runtime.exceptionThrown' && msg.params) {
      const d = msg.params.exceptionDetails ?? {};
      log.add('exception', url, String(d.exception?.description ?? d.text ?? 'exception'));
    }
  });
  await cdp.send('Target.setDiscoverTargets', { discover: true });
  return async (expression) => {
    const sessionId = [...sessionUrl].filter(([, url]) => url.includes('/offscreen')).at(-1)?.[0];
    if (!sessionId) throw new Error('the offscreen document is not open (or not attached yet)');
    const id = nextId++;
    const answer = new Promise<{ result?: Record<string, any>; error?: { message?: string } }>((resolve) => pending.set(id, resolve));
    await cdp.send('Target.sendMessageToTarget', {
      sessionId,
      message: JSON.stringify({ id, method: 'Runtime.evaluate', params: { expression, returnByValue: true, awaitPromise: true } }),
    });
    const { result, error } = await withTimeout(answer, 10_000, 'evaluating in the offscreen document').finally(() => pending.delete(id));
    if (error) throw new Error(`offscreen evaluate failed: ${error.message ?? 'unknown error'}`);
    if (result?.exceptionDetails) {
      throw new Error(`offscreen evaluate threw: ${String(result.exceptionDetails.exception?.description ?? result.exceptionDetails.text)}`);
    }
    return result?.result?.value;
  };
}

// ---------------------------------------------------------------------------------------------
// The broker as a child process.

export interface BrokerProcess {
  /** WebSocket URL to put in the extension's "Broker URL" setting. */
  url: string;
  /** http://host:port, for /healthz. */
  httpUrl: string;
  port: number;
  /** Everything the broker printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface BrokerOptions {
  /** Default: a free port. */
  port?: number;
  host?: string;
  /** Called with each line the broker prints. */
  onLine?: (line: string) => void;
  /** How long to wait for /healthz. Default 30 s. */
  timeoutMs?: number;
}

/** A free TCP port on 127.0.0.1 (released before returning, so a tiny race is possible). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** GET /healthz; true on a 2xx answer. */
export async function brokerHealthy(httpUrl: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    const res = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Runs the real broker (`tsx src/broker/cli.ts --port P --host H`) in its own process group and
 * waits until GET /healthz answers. The URL it returns is the ws:// URL the broker printed,
 * or ws://host:port when it printed none.
 */
export async function startBrokerProcess(options: BrokerOptions = {}): Promise<BrokerProcess> {
  installExitHook();
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const timeout = options.timeoutMs ?? 30_000;
  const cli = join(REPO_ROOT, 'src', 'broker', 'cli.ts');
  if (!existsSync(cli)) throw new Error(`broker entry point ${cli} does not exist`);
  const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

  let out = '';
  let printedUrl: string | undefined;
  const child = spawn(process.execPath, [tsxCli, cli, '--port', String(port), '--host', host], {
    cwd: REPO_ROOT,
    detached: true, // own process group: stop() takes tsx's child node with it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  liveChildren.add(child);
  let pending = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    out += text;
    if (out.length > 200_000) out = out.slice(-100_000);
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      printedUrl ??= /\bwss?:\/\/[^\s"'<>,]+/.exec(line)?.[0];
      options.onLine?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited: string | null = null;
  const exitPromise = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `code ${code}`;
      liveChildren.delete(child);
      res();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    killGroup(child, 'SIGTERM');
    const done = await Promise.race([exitPromise.then(() => true), sleep(5_000).then(() => false)]);
    if (!done) {
      killGroup(child, 'SIGKILL');
      await exitPromise;
    }
  };

  const httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const deadline = Date.now() + timeout;
  for (;;) {
    if (exited) {
      throw new Error(`broker exited (${exited}) before /healthz answered. Output:\n${out}`);
    }
    if (await brokerHealthy(httpUrl, 500)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`broker did not answer ${httpUrl}/healthz within ${timeout} ms. Output:\n${out}`);
    }
    await sleep(100);
  }
  // The URL line may come just after the listener is up.
  for (let i = 0; i < 10 && !printedUrl; i++) await sleep(50);

  return {
    url: printedUrl ?? `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    httpUrl,
    port,
    output: () => out,
    stop,
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
