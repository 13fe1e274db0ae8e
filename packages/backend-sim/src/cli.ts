// `npm run sim -- --kind vllm --port 8002`: a standalone simulated backend. Prints one JSON
// line when ready (scripts wait for it) and exits cleanly on SIGTERM / SIGINT.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBackendSim } from './server.js';
import type { SimFaults, SimKind, SimOptions } from './types.js';

const NUMBER_FLAGS = {
  port: 'port',
  'ttft-ms': 'ttftMs',
  'token-delay-ms': 'tokenDelayMs',
  'reply-tokens': 'replyTokens',
  capacity: 'capacity',
  'max-queue': 'maxQueue',
  'max-model-len': 'maxModelLen',
  seed: 'seed',
} as const satisfies Record<string, keyof SimOptions>;

const FAULT_FLAGS = {
  'error-rate': 'errorRate',
  'hang-rate': 'hangRate',
  'drop-rate': 'dropRate',
  'stream-error-rate': 'streamErrorRate',
  'garbage-rate': 'garbageRate',
  'stall-rate': 'stallRate',
} as const satisfies Record<string, keyof SimFaults>;

const USAGE = `usage: sim --kind vllm|ollama [--port N] [--host H] [--model NAME]...
  [--ttft-ms N] [--token-delay-ms N] [--reply-tokens N] [--reply-style chat|roleplay] [--capacity N] [--max-queue N]
  [--max-model-len N] [--seed N] [--error-rate P] [--hang-rate P] [--drop-rate P]
  [--stream-error-rate P] [--garbage-rate P] [--stall-rate P] [--enable-auto-tool-choice]`;

function num(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`--${flag} must be a number, got ${raw}`);
  return n;
}

/** Exported for tests: argv (without node and script) to options. */
export function parseCliArgs(argv: string[]): SimOptions {
  const stringOpts = Object.fromEntries(
    [...Object.keys(NUMBER_FLAGS), ...Object.keys(FAULT_FLAGS), 'kind', 'host', 'reply-style'].map((k) => [
      k,
      { type: 'string' as const },
    ]),
  );
  const parsed = parseArgs({
    args: argv,
    options: {
      ...stringOpts,
      model: { type: 'string', multiple: true },
      // vLLM's own flag name: `tool_choice: "auto"` is served.
      'enable-auto-tool-choice': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const values: Record<string, string | boolean | string[] | undefined> = parsed.values;
  if (values['help']) throw new Error(USAGE);
  const kind = values['kind'];
  if (kind !== 'vllm' && kind !== 'ollama') throw new Error(`--kind must be vllm or ollama\n${USAGE}`);
  const opts: SimOptions = { kind: kind as SimKind };
  const host = values['host'];
  if (typeof host === 'string') opts.host = host;
  const style = values['reply-style'];
  if (style !== undefined) {
    if (style !== 'chat' && style !== 'roleplay')
      throw new Error(`--reply-style must be chat or roleplay\n${USAGE}`);
    opts.replyStyle = style;
  }
  const models = values['model'];
  if (Array.isArray(models) && models.length > 0) opts.models = models;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const raw = values[flag];
    if (typeof raw === 'string') opts[key] = num(flag, raw);
  }
  const faults: Partial<SimFaults> = {};
  for (const [flag, key] of Object.entries(FAULT_FLAGS)) {
    const raw = values[flag];
    if (typeof raw === 'string') faults[key] = num(flag, raw);
  }
  if (Object.keys(faults).length > 0) opts.faults = faults;
  if (values['enable-auto-tool-choice'] === true) opts.autoToolChoice = true;
  return opts;
}

async function main(): Promise<void> {
  let opts: SimOptions;
  try {
    opts = parseCliArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const sim = await startBackendSim(opts);
  process.stdout.write(`${JSON.stringify({ msg: 'backend-sim listening', kind: sim.kind, url: sim.url })}\n`);
  const shutdown = () => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

// Run only as the entry script, so tests can import parseCliArgs.
const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
