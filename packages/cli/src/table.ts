/** A plain-text table with aligned columns (numbers right-aligned). */
export function formatTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => body.length > 0 && body.every((r) => /^[-+]?[\d.,]+[%°]?$|^-$/.test(r[i] ?? '')));
  const cell = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const line = (r: readonly string[]) => r.map(cell).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
