/**
 * `npm run bench` runs every scenario in bench/scenarios/ (in their `order`);
 * `npm run bench -- overhead ttft` runs the named ones; `--quick` shrinks them for development;
 * `--profile` runs the services under `node --cpu-prof` where a scenario supports it.
 * Each scenario prints its figures beside its baseline, writes bench/results/<name>.json (and its charts),
 * and bench/results/SUMMARY.md is rebuilt from all results present.
 */
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { machine } from './support/machine.js';
import { isPortkey, type Portkey, startPortkey } from './support/portkey.js';
import { killAll } from './support/procs.js';
import { printResult, type ScenarioResult, saveResult } from './support/report.js';
import type { BenchContext, Scenario } from './support/scenario.js';
import { writeSummary } from './support/summary.js';

const dir = new URL('./scenarios/', import.meta.url);
const scenarios: Scenario[] = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
  const mod = (await import(new URL(file, dir).href)) as { scenario?: Scenario };
  if (mod.scenario) scenarios.push(mod.scenario);
}
scenarios.sort((a, b) => a.order - b.order);

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
if (unknown.length) {
  console.error(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const selected = names.length
  ? scenarios.filter((s) => names.includes(s.name))
  : scenarios.filter((s) => s.inSuite !== false);

const shared: { portkey: Promise<Portkey | { unavailable: string }> | null } = { portkey: null };
const ctx: BenchContext = {
  portkey: () => {
    shared.portkey ??= startPortkey();
    return shared.portkey;
  },
  quick: flags.has('--quick'),
  profile: flags.has('--profile'),
  log: (msg) => console.log(`   ${new Date().toISOString().slice(11, 19)} ${msg}`),
};

const stop = () => {
  killAll();
  process.exit(130);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
// A crash must not leave services, simulators or Portkey behind.
process.once('exit', killAll);

const box = await machine();
console.log(
  `bench: ${selected.map((s) => s.name).join(', ')}${ctx.quick ? ' (quick)' : ''} on ${box.cpu} x${box.cores}, Node ${box.node}, Redis ${box.redis}`,
);
const t0 = performance.now();
let failed = 0;
for (const s of selected) {
  const started = performance.now();
  const date = new Date().toISOString();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(`\n>> ${s.name}: ${s.title}`);
  let result: ScenarioResult;
  try {
    const body = await s.run(ctx);
    result = {
      scenario: s.name,
      title: s.title,
      date,
      durationS: (performance.now() - started) / 1000,
      machine: { ...box, loadAvg: load, quick: ctx.quick ? 'yes' : 'no' },
      ...body,
    };
  } catch (err) {
    failed++;
    console.error(`!! ${s.name} failed:`, err);
    continue;
  }
  printResult(result);
  saveResult(result);
}
const pk = shared.portkey ? await shared.portkey : null;
if (pk && isPortkey(pk)) await pk.proc.stop();
writeSummary(scenarios.map((s) => s.name));
console.log(
  `\nbench: done in ${((performance.now() - t0) / 1000).toFixed(0)} s; bench/results/SUMMARY.md written`,
);
process.exit(failed ? 1 : 0);
