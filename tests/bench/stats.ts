/**
 * Order statistics and the Markdown tables `npm run bench` prints. Pure functions, no I/O.
 */

/** Median; the mean of the two middle values for an even count. NaN for no samples. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Nearest-rank percentile (p in 0..100): the smallest sample with at least p% of the samples at
 * or below it. With fewer than 20 samples p95 is the maximum. NaN for no samples.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

/** A Markdown table; cells are escaped for `|`. Numeric-looking columns are right-aligned. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAlign: readonly boolean[] = []): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => esc(r[i] ?? '').length), 3));
  const pad = (c: string, i: number) => (rightAlign[i] ? esc(c).padStart(widths[i]!) : esc(c).padEnd(widths[i]!));
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAlign[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
