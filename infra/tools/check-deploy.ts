// The deployment files against the code (run by .ci/validate-infra.sh). Kubernetes objects are
// rendered by `kubectl kustomize` and validated by the maintained `kubernetes-models` and
// `@kubernetes-models/keda` schemas; what follows them are the checks only this project can make:
// each service's environment passes its own config parser, KEDA reads the BullMQ keys the workers
// consume (names from packages/queue), grace periods outlast the job timeouts, and
// docker-compose.yml and .env.example pass and document every variable the code reads.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseEnv } from 'node:util';
import { type Config, Env, heapCapOf, parseConfig, SERVICE_HEAP_MB } from '@gateway/config';
import { createKeys, QUEUE, type QueueName } from '@gateway/queue';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');
const MODELS = Object.fromEntries(
  [
    Deployment,
    StatefulSet,
    Service,
    ConfigMap,
    Secret,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    ScaledObject,
  ].map((Model) => [`${Model.apiVersion} ${Model.kind}`, Model]),
);
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };
/**
 * What each worker image command consumes (an llm-worker: one chat queue per GPU server of the pool), and
 * the timeout its draining jobs may take.
 */
const WORKERS: Record<string, { queues: (c: Config) => QueueName[]; timeoutMs: (c: Config) => number }> = {
  'services/llm-worker/dist/main.js': {
    queues: (c) => c.llm.pool.map((s) => createKeys(c.redis.prefix).chatQueue(s.name)),
    timeoutMs: (c) => c.llm.timeoutMs,
  },
  'services/tts-worker/dist/main.js': { queues: () => [QUEUE.tts], timeoutMs: (c) => c.tts.timeoutMs },
};
// Variables our manifests set that are for KEDA or the pod itself, not for the config parser.
const NOT_FOR_THE_PARSER = new Set(['REDIS_ADDRESS', 'NODE_OPTIONS']);
// The NODE_OPTIONS the gateway images start with (the Dockerfile's ENV), unless a container sets its own.
const IMAGE_NODE_OPTIONS =
  /^ENV NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]?.trim() ?? '';
/** A Kubernetes quantity of memory, in MiB. */
const mebibytes = (q: string): number => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(q);
  if (!m) return Number.NaN;
  const unit = { Ki: 1 / 1024, Mi: 1, Gi: 1024, K: 1e3 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 };
  return Number(m[1]) * (m[2] ? unit[m[2] as keyof typeof unit] : 1 / 2 ** 20);
};
const envKeys = new Set(Object.keys(Env.shape));
let errors = 0;
const fail = (where: string, msg: string) => {
  errors++;
  console.log(`  FAIL ${where}: ${msg}`);
};

function checkKustomization(dir: string) {
  const where = relative(ROOT, dir);
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return fail(where, `kubectl kustomize: ${(e.stderr || e.message).trim()}`);
  }
  const objects = parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
  const find = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion} ${o.kind}`];
    if (!Model) {
      fail(where, `${o.apiVersion} ${o.kind} has no model here (add it to MODELS)`);
      continue;
    }
    try {
      new Model(o as never).validate();
    } catch (err) {
      fail(`${where} ${o.kind}/${o.metadata.name}`, (err as Error).message);
    }
  }
  // Only an overlay is complete (the base has no Secret): the environment checks need one.
  const complete = where.includes('overlays/');
  console.log(`  ${where}: ${objects.length} objects checked${complete ? ', environment checked' : ''}`);
  if (!complete) return;

  const envOf = (c: IContainer, at: string) => {
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      const source = ref && find(from.configMapRef ? 'ConfigMap' : 'Secret', ref.name ?? '');
      if (!source && ref && !ref.optional) fail(at, `envFrom names missing ${ref.name}`);
      const { data = {}, stringData = {} } = (source ?? {}) as { data?: object; stringData?: object };
      for (const [k, v] of Object.entries(data))
        env[k] = from.secretRef ? Buffer.from(v, 'base64').toString() : v;
      Object.assign(env, stringData);
    }
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    return env;
  };
  const configs = new Map<string, { config?: Config; env: Record<string, string>; worker?: string }>();
  for (const d of objects.filter((o) => o.kind === 'Deployment') as unknown as Deployment[]) {
    for (const c of d.spec?.template.spec?.containers ?? []) {
      const at = `${where} Deployment/${d.metadata?.name} container ${c.name}`;
      const env = envOf(c, at);
      // The gateway's own images (a registry or tag may be prepended or appended by an overlay).
      if (/(^|\/)roleplay-gateway(-tts)?(:|$)/.test(c.image ?? '')) checkHeap(at, c, env);
      const unread = Object.keys(env).filter((k) => !envKeys.has(k) && !NOT_FOR_THE_PARSER.has(k));
      if (unread.length > 0) fail(at, `variables no service reads: ${unread.join(', ')}`);
      const worker = c.args?.[0] && WORKERS[c.args[0]] ? c.args[0] : undefined;
      let config: Config | undefined;
      try {
        config = parseConfig(env);
      } catch (err) {
        fail(at, (err as Error).message);
      }
      configs.set(d.metadata?.name ?? '', { config, env, worker });
      if (!worker || !config) continue;
      const grace = d.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
      const timeoutS = WORKERS[worker]!.timeoutMs(config) / 1000;
      if (grace <= timeoutS)
        fail(at, `terminationGracePeriodSeconds ${grace} must exceed the job timeout (${timeoutS} s)`);
    }
  }
  for (const so of objects.filter((o) => o.kind === 'ScaledObject') as unknown as ScaledObject[]) {
    const at = `${where} ScaledObject/${so.metadata?.name}`;
    const target = configs.get(so.spec.scaleTargetRef.name);
    if (!target?.worker) {
      fail(at, `scales ${so.spec.scaleTargetRef.name}, which runs no worker of ${Object.keys(WORKERS)}`);
      continue;
    }
    if (!target.config) continue; // its parse error is reported above
    const keys = createKeys(target.config.redis.prefix);
    const queues = WORKERS[target.worker]!.queues(target.config);
    // BullMQ keeps jobs without a priority in the `wait` list, the others in the `prioritized` zset; a
    // pool has both per server.
    const expected = queues.flatMap((q) => [keys.bull(q, 'wait'), keys.bull(q, 'prioritized')]);
    const triggers = so.spec.triggers.filter((t) => t.type === 'redis');
    const read = triggers.map((t) => t.metadata as Record<string, string>);
    // Several servers: the backlog is their sum, which only a scaling formula gives (the HPA alone takes
    // the largest trigger). It must add every trigger.
    const formula = (so.spec.advanced as { scalingModifiers?: { formula?: string } } | undefined)
      ?.scalingModifiers?.formula;
    if (queues.length > 1 && !formula)
      fail(at, `${queues.length} servers: advanced.scalingModifiers.formula must sum their triggers`);
    if (formula) {
      const terms = formula.split('+').map((t) => t.trim());
      for (const t of triggers)
        if (!t.name || !terms.includes(t.name)) fail(at, `the formula does not add trigger ${t.name}`);
      for (const term of terms)
        if (!triggers.some((t) => t.name === term)) fail(at, `the formula adds ${term}, which no trigger is`);
    }
    for (const m of read) {
      if (!expected.includes(m.listName ?? ''))
        fail(at, `listName ${m.listName} is none of ${expected.join(', ')}`);
      if (m.addressFromEnv && !(m.addressFromEnv in target.env))
        fail(at, `addressFromEnv ${m.addressFromEnv} is not in the worker's environment`);
    }
    for (const key of expected)
      if (!read.some((m) => m.listName === key)) fail(at, `no trigger reads ${key}`);
  }
}

console.log('kubernetes: kubectl kustomize, kubernetes-models schemas, the services’ own config parser');
/**
 * A gateway container's V8 heap cap must fit its memory limit with room for what lives outside the heap
 * (code, buffers, sockets): Node 20 sizes the heap from the node's memory, so without a cap a burst's
 * garbage can grow the process past the limit and the pod is OOM-killed.
 */
function checkHeap(at: string, c: IContainer, env: Record<string, string>) {
  const limit = c.resources?.limits?.memory;
  if (limit === undefined) return fail(at, 'no memory limit: set one (and a heap cap that fits it)');
  const cap = heapCapOf(env.NODE_OPTIONS ?? IMAGE_NODE_OPTIONS);
  const mib = mebibytes(String(limit));
  if (cap === null)
    fail(at, 'NODE_OPTIONS sets no --max-old-space-size: the heap would size itself from the node');
  else if (!(cap <= mib * 0.8))
    fail(at, `heap cap ${cap} MiB leaves under 20% of the ${limit} memory limit for the rest of the process`);
}

if (heapCapOf(IMAGE_NODE_OPTIONS) !== SERVICE_HEAP_MB)
  fail(
    'Dockerfile',
    `ENV NODE_OPTIONS must cap the heap at SERVICE_HEAP_MB (${SERVICE_HEAP_MB}), as npm start does`,
  );

const walk = (dir: string): string[] => [
  ...(existsSync(join(dir, 'kustomization.yaml')) ? [dir] : []),
  ...readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => walk(join(dir, e.name))),
];
for (const dir of walk(join(ROOT, 'infra/k8s'))) checkKustomization(dir);

console.log('settings: .env.example and docker-compose.yml against packages/config');
const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
const documented = new Set([...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
for (const k of envKeys)
  if (!documented.has(k)) fail('.env.example', `${k} is read by the services but not listed`);
const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
const passed = new Set(Object.keys(compose['x-gateway-env'] ?? {}));
for (const k of envKeys) if (!passed.has(k)) fail('docker-compose.yml', `${k} is missing from x-gateway-env`);
for (const k of passed)
  if (!envKeys.has(k)) fail('docker-compose.yml', `x-gateway-env passes ${k}, which no service reads`);
// Compose runs with .env.example's values (JWT_SECRET is required in production only).
const exampleConfig = parseConfig({ ...parseEnv(example), NODE_ENV: 'development' });
for (const [name, s] of Object.entries(
  compose.services as Record<string, { command?: string[]; stop_grace_period?: string }>,
)) {
  const worker = WORKERS[s.command?.[0] ?? ''];
  if (!worker) continue;
  const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '10s')?.[1]);
  const timeoutS = worker.timeoutMs(exampleConfig) / 1000;
  if (!(grace > timeoutS))
    fail(`docker-compose.yml ${name}`, `stop_grace_period must exceed the job timeout (${timeoutS} s)`);
}
console.log(`  ${envKeys.size} variables; compose workers' stop_grace_period against their timeouts`);

console.log(`${errors} error(s)`);
process.exit(errors > 0 ? 1 : 0);
