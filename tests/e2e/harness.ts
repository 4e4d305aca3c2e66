/**
 * End-to-end harness: Debian's Chromium with the built extension (playwright-core,
 * launchPersistentContext on a fresh temp profile), the real broker as a child process, and
 * failure diagnostics. The launcher itself lives in scripts/lib/browser.ts so `npm start`'s
 * demo drives the extension with the same code.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
