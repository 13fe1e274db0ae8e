// The Grafana dashboard against the code (run by .ci/validate-infra.sh): every metric a panel
// queries is defined by a service, and every series agreed for the dashboard is shown.
// `--rules-out FILE` also writes each panel query as a recording rule, for `promtool check rules`
// (promtool checks PromQL only inside rule files).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const at = process.argv.indexOf('--rules-out');
const rulesOut = at >= 0 ? process.argv[at + 1] : undefined;
// The series agreed for the dashboard (issue 7).
const AGREED = [
  'gateway_queue_jobs',
  'gateway_job_queue_wait_seconds',
  'gateway_job_ttft_seconds',
  'gateway_job_generation_seconds',
  'gateway_job_tts_seconds',
  'gateway_tokens_generated_total',
  'gateway_backend_errors_total',
  'gateway_backend_in_flight',
  'gateway_backend_concurrency_limit',
  'gateway_sse_clients',
  'gateway_workers_online',
  'http_request_duration_seconds',
];
let errors = 0;
const fail = (msg: string) => {
  errors++;
  console.log(`  FAIL ${msg}`);
};

// prom-client metric names defined in the sources (`name: 'gateway_...'`).
const defined = new Set<string>();
const scan = (dir: string) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'dist') scan(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      for (const [, name] of readFileSync(path, 'utf8').matchAll(/name: '((?:gateway|http)_[a-z_]+)'/g))
        defined.add(name!);
  }
};
for (const group of ['packages', 'services']) scan(join(ROOT, group));

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
const queries: { panel: string; expr: string }[] = [];
const collect = (panels: Panel[] = []) => {
  for (const p of panels) {
    for (const t of p.targets ?? []) queries.push({ panel: p.title, expr: t.expr });
    collect(p.panels);
  }
};
const dashboard = 'infra/grafana/gateway-dashboard.json';
collect((JSON.parse(readFileSync(join(ROOT, dashboard), 'utf8')) as { panels: Panel[] }).panels);

console.log(`grafana: ${dashboard} against the metrics defined in packages/ and services/`);
const shown = new Set<string>();
for (const { panel, expr } of queries) {
  for (const [name] of expr.matchAll(/\b(gateway_[a-z_]+|http_[a-z_]+)\b/g)) {
    const metric = defined.has(name) ? name : name.replace(/_(bucket|count|sum)$/, '');
    if (defined.has(metric)) shown.add(metric);
    else fail(`panel "${panel}" queries ${name}, which no service defines`);
  }
}
for (const m of AGREED)
  if (!shown.has(m)) fail(`no panel shows ${m}${defined.has(m) ? '' : ' (nor does any service define it)'}`);
console.log(`  ${queries.length} queries over ${shown.size} metrics (${defined.size} defined in the code)`);
if (rulesOut) {
  const rules = queries.map(
    ({ expr }, i) =>
      `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr.replaceAll('$__rate_interval', '5m'))}`,
  );
  writeFileSync(rulesOut, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
}
console.log(`${errors} error(s)`);
process.exit(errors > 0 ? 1 : 0);
