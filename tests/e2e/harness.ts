/**
 * End-to-end harness: Debian's Chromium with the built extension (playwright-core,
 * launchPersistentContext on a fresh temp profile), the real broker as a child process, and
 * failure diagnostics. The launcher itself lives in scripts/lib/browser.ts so `npm start`'s
 * demo drives the extension with the same code.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { REPO_ROOT, type BrokerProcess, type Profile } from '../../scripts/lib/browser';

export {
  CHROMIUM_PATH,
  brokerHealthy,
  findExtensionDir,
  launchProfile,
  launchProfiles,
  startBrokerProcess,
  unpackedExtensionId,
  type BrokerProcess,
  type ConsoleEntry,
  type LaunchOptions,
  type Profile,
} from '../../scripts/lib/browser';
export * from '../../scripts/lib/popup';

/** Screenshots and page dumps of failed steps go here (git-ignored). */
export const ARTIFACT_DIR = join(REPO_ROOT, 'test-results', 'e2e');

/** Closes everything that was started, whatever state it is in; never throws. */
export async function teardown(
  profiles: Array<Profile | undefined>,
  broker: BrokerProcess | undefined,
): Promise<void> {
  await Promise.allSettled(profiles.map((p) => p?.close()));
  await broker?.stop().catch(() => undefined);
}

/**
 * Writes what a person debugging a failed step needs: each profile's console errors and
 * warnings (pages, service worker, offscreen document), the accessibility tree and a screenshot
 * of every open extension page, and the tail of the broker's output. Returns the text.
 */
export async function collectDiagnostics(
  step: string,
  profiles: Array<Profile | undefined>,
  broker?: BrokerProcess,
): Promise<string> {
  const slug = step.replace(/[^\w-]+/g, '_').slice(0, 60);
  const parts: string[] = [`===== diagnostics for failed step: ${step} =====`];
  await mkdir(ARTIFACT_DIR, { recursive: true }).catch(() => undefined);
  for (const profile of profiles) {
    if (!profile) continue;
    parts.push(`--- profile ${profile.label} (extension ${profile.extensionId}) console ---`);
    parts.push(profile.console.format());
    let n = 0;
    for (const page of profile.extensionPages()) {
      n++;
      parts.push(`--- profile ${profile.label} page ${n}: ${page.url()} ---`);
      parts.push(await pageSnapshot(page));
      const file = join(ARTIFACT_DIR, `${slug}-${profile.label}-${n}.png`);
      const shot = await page.screenshot({ path: file, fullPage: true, timeout: 5_000 }).then(
        () => `screenshot: ${file}`,
        (err: unknown) => `screenshot failed: ${String(err).split('\n')[0]}`,
      );
      parts.push(shot);
    }
  }
  if (broker) {
    parts.push('--- broker output (tail) ---');
    parts.push(broker.output().split('\n').slice(-40).join('\n') || '(none)');
  }
  const text = parts.join('\n');
  await writeFile(join(ARTIFACT_DIR, `${slug}.txt`), text).catch(() => undefined);
  return text;
}

async function pageSnapshot(page: Page): Promise<string> {
  try {
    const snap = await page.locator('body').ariaSnapshot({ timeout: 5_000 });
    return snap.length > 6_000 ? `${snap.slice(0, 6_000)}\n…` : snap;
  } catch (err) {
    return `(no accessibility snapshot: ${String(err).split('\n')[0]})`;
  }
}

/** Throws a clear error when a step's setup (a profile, the broker) did not happen. */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not set up`);
  return value;
}

/**
 * A scenario of steps that share one call: each step is skipped once an earlier one failed,
 * and a failed step (a timeout too: onTestFailed, not try/catch) dumps the diagnostics of
 * `context()`'s profiles and broker, plus whatever `extra()` describes.
 */
export function scenario(
  it: (name: string, fn: (ctx: { skip(note?: string): void; onTestFailed(fn: () => Promise<void>, timeout?: number): void }) => Promise<void>, timeout?: number) => void,
  context: () => { profiles: Array<Profile | undefined>; broker?: BrokerProcess; extra?: () => string },
  stepTimeout = 150_000,
): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  let failedStep: string | null = null;
  return (name, fn, timeout = stepTimeout) => {
    it(
      name,
      async (ctx) => {
        if (failedStep) ctx.skip(`an earlier step failed: ${failedStep}`);
        ctx.onTestFailed(async () => {
          failedStep ??= name;
          const { profiles, broker, extra } = context();
          console.error(await collectDiagnostics(name, profiles, broker).catch((e: unknown) => String(e)));
          if (extra) console.error(extra());
        }, 60_000);
        await fn();
      },
      timeout,
    );
  };
}

/**
 * axe-core's serious and critical violations on `page` (WCAG 2.x A and AA rules and best
 * practices), one line each with the offending elements, so a failing assertion names them.
 */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
}
