/** Results of one scenario: side-by-side tables, targets, notes; printed, and saved as JSON. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { round } from './stats.js';

export const RESULTS_DIR = new URL('../results/', import.meta.url);

export interface Row {
  metric: string;
  unit: string;
  /** One value per column of the table (null: not measured for that column). */
  values: Record<string, number | null>;
}

export interface Table {
  title: string;
  /** Gateway first, then what it is compared with (direct, portkey, fifo...). */
  columns: string[];
  rows: Row[];
}

export interface Target {
  what: string;
  target: string;
  value: number | null;
  unit: string;
  ok: boolean | null;
}

export interface Chart {
  file: string;
  title: string;
  svg: string;
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  date: string;
  durationS: number;
  /** CPU, cores, memory, Node and Redis versions; load average when the scenario started. */
  machine: Record<string, string | number>;
  /** Parameters of the run: timing, processes, concurrency, env. */
  setup: Record<string, unknown>;
  tables: Table[];
  targets: Target[];
  notes: string[];
  charts: Chart[];
  /** Raw series behind the charts and tables, for anyone re-plotting. */
  data?: Record<string, unknown>;
  skipped?: string;
}

export const target = (
  what: string,
  value: number | null,
  op: '<=' | '>=' | '<' | '==',
  limit: number,
  unit: string,
): Target => {
  const ok =
    value === null || Number.isNaN(value)
      ? null
      : op === '<='
        ? value <= limit
        : op === '>='
          ? value >= limit
          : op === '<'
            ? value < limit
            : value === limit;
  return {
    what,
    target: `${op} ${limit} ${unit}`.trim(),
    value: value === null ? null : round(value),
    unit,
    ok,
  };
};

const fmt = (v: number | null | undefined) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : String(round(v));

function pad(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
  );
}

export function printResult(r: ScenarioResult): void {
  const out: string[] = [`\n== ${r.scenario}: ${r.title} (${r.durationS.toFixed(0)} s)`];
  if (r.skipped) out.push(`   skipped: ${r.skipped}`);
  for (const t of r.tables) {
    out.push(`-- ${t.title}`);
    const cells = [
      ['metric', ...t.columns, 'unit'],
      ...t.rows.map((row) => [row.metric, ...t.columns.map((c) => fmt(row.values[c])), row.unit]),
    ];
    for (const line of pad(cells)) out.push(`   ${line}`);
  }
  for (const g of r.targets) {
    const mark = g.ok === null ? '?' : g.ok ? 'PASS' : 'MISS';
    out.push(`   [${mark}] ${g.what}: ${fmt(g.value)} ${g.unit} (target ${g.target})`);
  }
  for (const n of r.notes) out.push(`   note: ${n}`);
  console.log(out.join('\n'));
}

export function saveResult(r: ScenarioResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  for (const c of r.charts) writeFileSync(new URL(c.file, RESULTS_DIR), c.svg);
  const { charts, ...rest } = r;
  const json = { ...rest, charts: charts.map((c) => ({ file: c.file, title: c.title })) };
  writeFileSync(new URL(`${r.scenario}.json`, RESULTS_DIR), `${JSON.stringify(json, null, 2)}\n`);
}

/** The same tables as Markdown, for SUMMARY.md. */
export function markdownTables(r: Pick<ScenarioResult, 'tables' | 'targets'>): string {
  const out: string[] = [];
  for (const t of r.tables) {
    out.push(
      `*${t.title}*`,
      '',
      `| metric | ${t.columns.join(' | ')} | unit |`,
      `|---|${t.columns.map(() => '---:|').join('')}---|`,
    );
    for (const row of t.rows)
      out.push(`| ${row.metric} | ${t.columns.map((c) => fmt(row.values[c])).join(' | ')} | ${row.unit} |`);
    out.push('');
  }
  if (r.targets.length) {
    out.push('| target | measured | goal | met |', '|---|---:|---|:---:|');
    for (const g of r.targets)
      out.push(
        `| ${g.what} | ${fmt(g.value)} ${g.unit} | ${g.target} | ${g.ok === null ? '?' : g.ok ? 'yes' : '**no**'} |`,
      );
    out.push('');
  }
  return out.join('\n');
}
