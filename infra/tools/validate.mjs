// Offline check of the deployment files (run by .ci/validate-infra.sh with `node --import tsx`):
// renders every kustomization under infra/k8s, validates each object against infra/schemas/k8s,
// cross-checks the objects, and keeps .env.example, docker-compose.yml, the build's project
// references and the Grafana dashboard in step with the code. Exits 1 on any error.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { checkObjects } from './checks.mjs';
import { isKustomization, render } from './kustomize-lite.mjs';
import { loadSchemas } from './schemas.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const rel = (p) => relative(root, p) || '.';
const rulesOut = process.argv.includes('--rules-out')
  ? process.argv[process.argv.indexOf('--rules-out') + 1]
  : null;
let errors = 0;
let warnings = 0;
const fail = (where, msg) => {
  errors++;
  console.log(`  FAIL ${where}: ${msg}`);
};
const warn = (where, msg) => {
  warnings++;
  console.log(`  warn ${where}: ${msg}`);
};

const config = await import(pathToFileURL(join(root, 'packages/config/src/index.ts')).href);
const envKeys = new Set(Object.keys(config.Env.shape));

// --- Kubernetes -------------------------------------------------------------------------------
const kubectl = (() => {
  try {
    execFileSync('kubectl', ['kustomize', '--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
console.log(
  `kubernetes: schemas in infra/schemas/k8s; kustomize: built-in${kubectl ? ' + kubectl kustomize (compared)' : ' (no kubectl here)'}`,
);
const validate = loadSchemas(join(root, 'infra/schemas/k8s'));
const dirs = [];
const walk = (d) => {
  if (isKustomization(d)) dirs.push(d);
  for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
};
walk(join(root, 'infra/k8s'));
const key = (o) => `${o.apiVersion} ${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
for (const dir of dirs) {
  const where = rel(dir);
  let objects;
  try {
    objects = render(dir);
  } catch (err) {
    fail(where, err.message);
    continue;
  }
  if (kubectl) compareWithKubectl(dir, objects, where);
  const seen = new Set();
  for (const o of objects) {
    if (seen.has(key(o))) fail(where, `${key(o)} appears twice`);
    seen.add(key(o));
    for (const e of validate(o)) fail(`${where} ${o.kind}/${o.metadata?.name}`, e);
  }
  const complete = where.includes('/overlays/');
  const result = checkObjects(objects, { complete, envKeys, parseConfig: config.parseConfig });
  for (const e of result.errors) fail(where, e);
  for (const w of result.warnings) warn(where, w);
  const kinds = objects
    .map((o) => o.kind)
    .sort()
    .join(', ');
  console.log(`  ${where}: ${objects.length} objects (${kinds})${complete ? ', references checked' : ''}`);
}

function compareWithKubectl(dir, objects, where) {
  let out;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    fail(where, `kubectl kustomize failed: ${String(err.stderr ?? err.message).trim()}`);
    return;
  }
  const theirs = new Map(
    parseAllDocuments(out)
      .map((d) => d.toJS())
      .filter(Boolean)
      .map((o) => [key(o), o]),
  );
  const ours = new Map(objects.map((o) => [key(o), o]));
  for (const k of new Set([...theirs.keys(), ...ours.keys()])) {
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(ours.get(k) ?? null)), theirs.get(k) ?? null)) {
      fail(where, `built-in renderer and kubectl kustomize disagree on ${k}`);
    }
  }
}

// --- Settings: every variable the services read is documented and passed through by compose ----
console.log('settings: .env.example and docker-compose.yml against packages/config/src/env.ts');
const example = readFileSync(join(root, '.env.example'), 'utf8');
const documented = new Set([...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
for (const k of envKeys)
  if (!documented.has(k)) fail('.env.example', `${k} is read by the services but not listed`);
const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const passed = new Set(Object.keys(compose['x-gateway-env'] ?? {}));
for (const k of envKeys) if (!passed.has(k)) fail('docker-compose.yml', `${k} is missing from x-gateway-env`);
for (const k of passed)
  if (!envKeys.has(k)) fail('docker-compose.yml', `x-gateway-env passes ${k}, which no service reads`);
console.log(
  `  ${envKeys.size} variables: documented ${[...envKeys].filter((k) => documented.has(k)).length}, passed by compose ${[...envKeys].filter((k) => passed.has(k)).length}`,
);

// --- Build: tsconfig.build.json builds every workspace the images run from dist/ ---------------
console.log('build: tsconfig.build.json project references against the workspaces');
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8').replace(/^\s*\/\/.*$/gm, ''));
const rootRefs = new Set(readJson(join(root, 'tsconfig.build.json')).references.map((r) => dirname(r.path)));
const workspaces = new Map();
for (const group of ['packages', 'services']) {
  for (const name of readdirSync(join(root, group))) {
    const pkgFile = join(root, group, name, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    const entry = pkg.exports?.['.']?.default ?? pkg.main;
    if (typeof entry === 'string' && entry.startsWith('./dist/'))
      workspaces.set(pkg.name, { dir: `${group}/${name}`, pkg });
  }
}
for (const [name, { dir, pkg }] of workspaces) {
  const cfgFile = join(root, dir, 'tsconfig.build.json');
  if (!rootRefs.has(dir)) fail('tsconfig.build.json', `${dir} (${name}) is not referenced`);
  if (!existsSync(cfgFile)) {
    fail(dir, 'has no tsconfig.build.json');
    continue;
  }
  const refs = new Set((readJson(cfgFile).references ?? []).map((r) => join(dir, dirname(r.path))));
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    const target = workspaces.get(dep);
    if (target && !refs.has(target.dir))
      fail(`${dir}/tsconfig.build.json`, `imports ${dep} but does not reference ${target.dir}`);
  }
}
console.log(`  ${workspaces.size} workspaces built to dist/`);

// --- Grafana: the dashboard queries only metrics the services define ---------------------------
console.log('grafana: infra/grafana/gateway-dashboard.json against the metrics defined in the code');
// The series agreed for the dashboard (issue 7); each must be defined in code and shown.
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
const defined = new Set();
const scan = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'dist') scan(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
      for (const [, name] of readFileSync(path, 'utf8').matchAll(/name: '((?:gateway|http)_[a-z_]+)'/g))
        defined.add(name);
    }
  }
};
for (const group of ['packages', 'services']) scan(join(root, group));
for (const m of AGREED)
  if (!defined.has(m)) warn('metrics', `${m} is not defined in packages/ or services/ yet`);
const dashboard = JSON.parse(readFileSync(join(root, 'infra/grafana/gateway-dashboard.json'), 'utf8'));
const exprs = [];
const collect = (panels) => {
  for (const p of panels ?? []) {
    for (const t of p.targets ?? []) exprs.push({ panel: p.title, expr: t.expr });
    collect(p.panels);
  }
};
collect(dashboard.panels);
const used = new Set();
for (const { panel, expr } of exprs) {
  for (const [name] of expr.matchAll(/\b(gateway_[a-z_]+|http_[a-z_]+)\b/g)) {
    const base = name.replace(/_(bucket|count|sum)$/, '');
    if (defined.has(base) || defined.has(name)) used.add(defined.has(name) ? name : base);
    else fail('gateway-dashboard.json', `panel "${panel}" queries ${name}, which no service defines`);
  }
}
for (const m of AGREED) if (!used.has(m)) warn('gateway-dashboard.json', `no panel shows ${m}`);
console.log(`  ${exprs.length} queries over ${used.size} metrics (${defined.size} defined in the code)`);
if (rulesOut) {
  // promtool checks PromQL only inside rule files: one recording rule per panel query.
  const rules = exprs.map(
    ({ expr }, i) =>
      `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr.replaceAll('$__rate_interval', '5m'))}`,
  );
  writeFileSync(rulesOut, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
}

console.log(`${errors} error(s), ${warnings} warning(s)`);
process.exit(errors > 0 ? 1 : 0);
