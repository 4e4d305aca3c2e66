/**
 * Bundle sizes for `npm run bench`: the JavaScript each entry point of the built extension loads
 * (background service worker, every HTML page, every content script), raw and gzipped.
 *
 * The entries come from the build itself, not from a list kept here: manifest.json (service
 * worker, manifest content scripts), each top-level HTML page's `<script src>`, and the scripts
 * WXT writes to content-scripts/ for runtime registration (Kibitz's manifest injects none). From
 * each entry file the static `import` / `export … from` statements are followed transitively, so
 * a page's total holds every chunk the browser has to fetch and parse before it runs. Dynamic
 * `import()` is not followed: it loads later, if at all.
 *
 * A chunk shared by several entries is counted in each of them, because each page or worker
 * loads it for itself; the section lists the shared chunks and the build's distinct total so the
 * rows are not mistaken for shares of one sum. Gzip is per file (level 9) and summed, as each file
 * is a separate resource.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { markdownTable } from './stats';

export interface BundleFile {
  /** Path relative to the build directory, with `/` separators. */
  path: string;
  rawBytes: number;
  gzipBytes: number;
}

export interface EntrySize {
  /** e.g. "background (service worker)", "popup.html", "content script content-scripts/content.js". */
  name: string;
  /** The entry's own file first, then what it imports, in discovery order. */
  files: BundleFile[];
  rawBytes: number;
  gzipBytes: number;
}

export interface BundleSizes {
  dir: string;
  entries: EntrySize[];
  /** Files loaded by more than one entry, with the entries that load them. */
  shared: Array<BundleFile & { entries: string[] }>;
  /** Every distinct JS file any entry loads, each counted once. */
  distinct: { files: number; rawBytes: number; gzipBytes: number };
}

interface Manifest {
  background?: { service_worker?: string };
  content_scripts?: Array<{ js?: string[] }>;
}

/** `<script … src="…">`; the module graph is taken from the scripts' imports, not modulepreload hints. */
const SCRIPT_SRC = /<script\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']/gi;
/**
 * Static imports and re-exports in (minified) ES module output: `import"./a.js"`,
 * `import{x as y}from"./a.js"`, `export*from"./a.js"`. `import(` is not matched (dynamic).
 */
const STATIC_IMPORT = /(?<![\w$.])(?:import|export)\s*(?:[\w$*{}\s,]*?\bfrom\s*)?(["'])([^"'\n]+)\1/g;

export class BundleSizeError extends Error {
  override name = 'BundleSizeError';
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

/**
 * Resolves `spec` to an absolute path inside `dir`: relative to the referring file `from`, or to the
 * build root when it starts with `/` or comes from the manifest (`from` null).
 */
function resolveInBuild(dir: string, from: string | null, spec: string): string {
  const clean = spec.split(/[?#]/)[0]!;
  const abs = clean.startsWith('/') ? join(dir, clean) : resolve(from === null ? dir : dirname(from), clean);
  if (!abs.startsWith(dir + sep)) {
    throw new BundleSizeError(`"${spec}" (in ${from ? toPosix(relative(dir, from)) : 'manifest.json'}) points outside the build directory ${dir}`);
  }
  return abs;
}

/**
 * Measures every entry of the built extension in `dir` (e.g. `findExtensionDir()`). Throws a
 * BundleSizeError naming the file and who refers to it when a referenced file is missing.
 */
export function measureBundles(buildDir: string): BundleSizes {
  const dir = resolve(buildDir);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new BundleSizeError(`no manifest.json in ${dir}: not an extension build (run \`npm run build\`)`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;

  const sizes = new Map<string, BundleFile>();
  const imports = new Map<string, string[]>();
  const fileSize = (abs: string, referrer: string): BundleFile => {
    let known = sizes.get(abs);
    if (known) return known;
    if (!existsSync(abs) || !statSync(abs).isFile()) {
      throw new BundleSizeError(`${toPosix(relative(dir, abs))}, loaded by ${referrer}, is missing from the build in ${dir}`);
    }
    const bytes = readFileSync(abs);
    known = { path: toPosix(relative(dir, abs)), rawBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
    sizes.set(abs, known);
    const specs = [...bytes.toString('utf8').matchAll(STATIC_IMPORT)].map((m) => m[2]!);
    // Bare specifiers (`import "x"`) cannot load in an extension page; anything else is a file here.
    imports.set(abs, specs.filter((s) => /^\.{0,2}\//.test(s)).map((s) => resolveInBuild(dir, abs, s)));
    return known;
  };

  /** The entry's files: its roots, then everything they import, each file once. */
  const collect = (name: string, roots: Array<{ abs: string; referrer: string }>): EntrySize => {
    const seen = new Set<string>();
    const files: BundleFile[] = [];
    const queue = [...roots];
    while (queue.length) {
      const { abs, referrer } = queue.shift()!;
      if (seen.has(abs)) continue;
      seen.add(abs);
      files.push(fileSize(abs, referrer));
      const via = toPosix(relative(dir, abs));
      for (const dep of imports.get(abs)!) queue.push({ abs: dep, referrer: via });
    }
    return { name, files, rawBytes: files.reduce((s, f) => s + f.rawBytes, 0), gzipBytes: files.reduce((s, f) => s + f.gzipBytes, 0) };
  };

  const entries: EntrySize[] = [];
  const worker = manifest.background?.service_worker;
  if (worker) entries.push(collect('background (service worker)', [{ abs: resolveInBuild(dir, null, worker), referrer: 'manifest.json' }]));

  for (const html of readdirSync(dir).filter((f) => f.endsWith('.html')).sort()) {
    const text = readFileSync(join(dir, html), 'utf8');
    const roots = [...text.matchAll(SCRIPT_SRC)].map((m) => ({ abs: resolveInBuild(dir, join(dir, html), m[1]!), referrer: html }));
    entries.push(collect(html, roots));
  }

  const contentScripts = new Set<string>();
  for (const cs of manifest.content_scripts ?? []) for (const js of cs.js ?? []) contentScripts.add(resolveInBuild(dir, null, js));
  // WXT's runtime-registered content scripts are not in the manifest; the background injects them.
  const csDir = join(dir, 'content-scripts');
  if (existsSync(csDir)) for (const f of readdirSync(csDir).filter((f) => f.endsWith('.js'))) contentScripts.add(join(csDir, f));
  for (const abs of [...contentScripts].sort()) {
    const path = toPosix(relative(dir, abs));
    entries.push(collect(`content script ${path}`, [{ abs, referrer: 'manifest.json or content-scripts/' }]));
  }

  const all = [...sizes.values()];
  const shared = all
    .map((f) => ({ ...f, entries: entries.filter((e) => e.files.includes(f)).map((e) => e.name) }))
    .filter((f) => f.entries.length > 1);
  return {
    dir,
    entries,
    shared,
    distinct: { files: all.length, rawBytes: all.reduce((s, f) => s + f.rawBytes, 0), gzipBytes: all.reduce((s, f) => s + f.gzipBytes, 0) },
  };
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

/** The report section: one row per entry, then the shared chunks and the distinct total. */
export function bundleSizesSection(sizes: BundleSizes, buildLine?: string): string {
  const rows = sizes.entries.map((e) => [e.name, String(e.files.length), kib(e.rawBytes), kib(e.gzipBytes)]);
  return [
    '## Extension bundle sizes (JS per entry point)',
    '',
    ...(buildLine ? [buildLine, ''] : []),
    markdownTable(['Entry', 'JS files', 'Raw KiB', 'Gzip -9 KiB'], rows, [false, true, true, true]),
    '',
    'Each row is all the JavaScript the entry loads before it runs: its own file plus every chunk it imports',
    'statically, transitively (dynamic `import()` not followed). A shared chunk is counted in every entry that',
    'loads it, so the rows add up to more than the build. Gzip is per file at level 9, summed.',
    `Distinct JS in the build reached from the entries: ${sizes.distinct.files} files, ${kib(sizes.distinct.rawBytes)} KiB raw, ${kib(sizes.distinct.gzipBytes)} KiB gzipped.`,
    ...(sizes.shared.length ? ['', 'Shared chunks (counted in each entry that loads them):'] : []),
    ...sizes.shared.map((f) => `- ${f.path} (${kib(f.rawBytes)} KiB raw, ${kib(f.gzipBytes)} KiB gzipped): ${f.entries.join(', ')}`),
    '',
  ].join('\n');
}
