import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleSizesSection, BundleSizeError, measureBundles } from '../../tests/bench/bundle-sizes';

/** A small build in the shape `wxt build` writes: manifest, HTML pages, chunks importing chunks. */
const FILES: Record<string, string> = {
  'manifest.json': JSON.stringify({
    manifest_version: 3,
    background: { service_worker: 'background.js', type: 'module' },
    action: { default_popup: 'popup.html' },
    content_scripts: [{ matches: ['<all_urls>'], js: ['cs/inject.js'] }],
  }),
  'background.js': 'import"./chunks/shared.js";console.log("worker")',
  'popup.html': '<!DOCTYPE html><head><script type="module" crossorigin src="/chunks/popup.js"></script>' +
    '<link rel="modulepreload" href="/chunks/shared.js"></head>',
  // A relative src, resolved against the page.
  'page.html': '<html><script src="chunks/page.js" type="module"></script></html>',
  'chunks/popup.js': 'import{a as b}from"./shared.js";export*from"./deep.js";const later=()=>import("./lazy.js");b(later)',
  'chunks/page.js': 'import { a } from "./shared.js";\na("page")',
  'chunks/shared.js': 'import{x as y}from"./leaf.js";export const a=(v)=>y(v)',
  'chunks/leaf.js': 'export const x=(v)=>console.log(v)',
  'chunks/deep.js': 'export const deep=' + JSON.stringify('d'.repeat(500)),
  'chunks/lazy.js': 'export const lazy=1',
  'content-scripts/content.js': '(function(){console.log("runtime-registered")})()',
  'cs/inject.js': '(function(){console.log("manifest content script")})()',
};

let dir: string;

function write(files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

const raw = (path: string) => Buffer.byteLength(FILES[path]!);
const gz = (path: string) => gzipSync(Buffer.from(FILES[path]!), { level: 9 }).length;
const sum = (paths: string[], f: (p: string) => number) => paths.reduce((s, p) => s + f(p), 0);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kibitz-bundle-sizes-'));
  write(FILES);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('bench bundle sizes', () => {
  it('finds every entry point and the chunks each loads, transitively, without dynamic imports', () => {
    const sizes = measureBundles(dir);
    expect(sizes.entries.map((e) => e.name)).toEqual([
      'background (service worker)',
      'page.html',
      'popup.html',
      'content script content-scripts/content.js',
      'content script cs/inject.js',
    ]);
    const files = (name: string) => sizes.entries.find((e) => e.name === name)!.files.map((f) => f.path);
    expect(files('popup.html')).toEqual(['chunks/popup.js', 'chunks/shared.js', 'chunks/deep.js', 'chunks/leaf.js']);
    expect(files('page.html')).toEqual(['chunks/page.js', 'chunks/shared.js', 'chunks/leaf.js']);
    expect(files('background (service worker)')).toEqual(['background.js', 'chunks/shared.js', 'chunks/leaf.js']);
    expect(files('content script cs/inject.js')).toEqual(['cs/inject.js']);
  });

  it('gives raw bytes and level-9 gzip bytes of the files, and counts a shared chunk in every entry', () => {
    const sizes = measureBundles(dir);
    const popupFiles = ['chunks/popup.js', 'chunks/shared.js', 'chunks/deep.js', 'chunks/leaf.js'];
    const popup = sizes.entries.find((e) => e.name === 'popup.html')!;
    for (const f of popup.files) expect(f, f.path).toEqual({ path: f.path, rawBytes: raw(f.path), gzipBytes: gz(f.path) });
    expect(popup.rawBytes).toBe(sum(popupFiles, raw));
    expect(popup.gzipBytes).toBe(sum(popupFiles, gz));

    const page = sizes.entries.find((e) => e.name === 'page.html')!;
    expect(page.gzipBytes).toBe(sum(['chunks/page.js', 'chunks/shared.js', 'chunks/leaf.js'], gz));

    const everyStaticLoader = ['background (service worker)', 'page.html', 'popup.html'];
    expect(sizes.shared).toEqual([
      { path: 'chunks/shared.js', rawBytes: raw('chunks/shared.js'), gzipBytes: gz('chunks/shared.js'), entries: everyStaticLoader },
      { path: 'chunks/leaf.js', rawBytes: raw('chunks/leaf.js'), gzipBytes: gz('chunks/leaf.js'), entries: everyStaticLoader },
    ]);
    // The distinct total counts each reached file once; lazy.js is reached by no static import.
    const reached = Object.keys(FILES).filter((p) => p.endsWith('.js') && p !== 'chunks/lazy.js');
    expect(sizes.distinct).toEqual({ files: reached.length, rawBytes: sum(reached, raw), gzipBytes: sum(reached, gz) });
    const rowsTotal = sizes.entries.reduce((s, e) => s + e.rawBytes, 0);
    expect(rowsTotal).toBe(sizes.distinct.rawBytes + 2 * (raw('chunks/shared.js') + raw('chunks/leaf.js')));
  });

  it('names the missing file and who loads it', () => {
    write({ 'chunks/shared.js': 'import{x}from"./leaf.js";import"./gone.js";export const a=x' });
    expect(() => measureBundles(dir)).toThrow(BundleSizeError);
    expect(() => measureBundles(dir)).toThrow(/chunks\/gone\.js, loaded by chunks\/shared\.js, is missing from the build/);

    rmSync(join(dir, 'popup.html'));
    rmSync(join(dir, 'page.html'));
    rmSync(join(dir, 'background.js'));
    expect(() => measureBundles(dir)).toThrow(/background\.js, loaded by manifest\.json, is missing/);

    rmSync(join(dir, 'manifest.json'));
    expect(() => measureBundles(dir)).toThrow(/no manifest\.json in .*not an extension build/);
  });

  it('refuses a path that leaves the build directory', () => {
    write({ 'chunks/leaf.js': 'import"../../outside.js"' });
    expect(() => measureBundles(dir)).toThrow(/points outside the build directory/);
  });

  it('renders a section with one row per entry in KiB and the shared chunks', () => {
    const sizes = measureBundles(dir);
    const text = bundleSizesSection(sizes, 'Extension: fake');
    const popup = sizes.entries.find((e) => e.name === 'popup.html')!;
    expect(text).toContain('## Extension bundle sizes');
    expect(text).toContain('Extension: fake');
    expect(text).toMatch(new RegExp(`\\| popup\\.html +\\| +4 \\| +${(popup.rawBytes / 1024).toFixed(1)} \\| +${(popup.gzipBytes / 1024).toFixed(1)} \\|`));
    expect(text).toContain('- chunks/shared.js');
    expect(text).toContain(`Distinct JS in the build reached from the entries: ${sizes.distinct.files} files`);
  });
});
