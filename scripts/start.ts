/**
 * `npm start`: the whole gateway on one machine. Starts a local redis-server when none answers at
 * REDIS_URL (and one is installed), the built-in backend simulator when no backend URL is configured,
 * then the api and the workers. One Ctrl-C stops everything cleanly.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { heapFlags } from '@gateway/config';
import { buildWebIfStale } from '../packages/web/build-if-stale.js';

const root = fileURLToPath(new URL('..', import.meta.url));
if (existsSync(`${root}/.env`)) process.loadEnvFile(`${root}/.env`);
const env: NodeJS.ProcessEnv = { ...process.env };
const say = (msg: string, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ level: 30, time: new Date().toISOString(), service: 'start', msg, ...extra }));

const children: { name: string; proc: ChildProcess; infra: boolean }[] = [];
let stopping = false;

/** Infra (Redis, simulator) runs in its own process group so Ctrl-C reaches it only after the services drained. */
function run(name: string, command: string, args: string[], infra = false): ChildProcess {
  const proc = spawn(command, args, { cwd: root, env, stdio: 'inherit', detached: infra });
  children.push({ name, proc, infra });
  proc.on('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited; stopping everything`, { code, signal });
    void stopAll(code ?? 1);
  });
  return proc;
}

const tsNode = (file: string) =>
  [process.execPath, ['--import', 'tsx', '--conditions=@gateway/source', file]] as const;

function redisAnswers(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = createConnection({ host: u.hostname, port: Number(u.port || 6379) });
    sock.setTimeout(1_000);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH'));
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

async function ensureRedis(): Promise<void> {
  const url = env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) return;
  const u = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1'].includes(u.hostname);
  const installed = spawnSync('redis-server', ['--version']).status === 0;
  if (!local || !installed) {
    say(
      `no Redis answers at ${u.host}${installed ? '' : ' and redis-server is not installed (apt-get install -y redis-server)'}`,
    );
    process.exit(1);
  }
  say('starting a local redis-server', { port: u.port || 6379 });
  run(
    'redis-server',
    'redis-server',
    ['--port', u.port || '6379', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    true,
  );
  for (let i = 0; i < 50 && !(await redisAnswers(url)); i++) await sleep(100);
}

async function ensureBackend(): Promise<void> {
  const service = env.LLM_SERVICE || 'ollama';
  const urlVar = service === 'vllm' ? 'VLLM_BASE_URL' : 'OLLAMA_BASE_URL';
  if (env[urlVar]) return;
  const port = Number(env.SIM_PORT || (service === 'vllm' ? 8002 : 11434));
  say(`no ${urlVar} set: starting the built-in ${service} simulator`, { port });
  const [cmd, args] = tsNode('packages/backend-sim/src/cli.ts');
  run(
    'backend-sim',
    cmd,
    [
      ...args,
      '--kind',
      service,
      '--port',
      String(port),
      '--ttft-ms',
      env.SIM_TTFT_MS || '150',
      '--token-delay-ms',
      env.SIM_TOKEN_DELAY_MS || '30',
    ],
    true,
  );
  env[urlVar] = `http://127.0.0.1:${port}`;
  await sleep(300);
}

/** The default TTS engine speaks through Debian's espeak-ng: install it when missing and we may. */
function ensureEspeak(): void {
  if ((env.TTS_ENGINE || 'espeak') !== 'espeak') return;
  const bin = env.TTS_ESPEAK_BIN || 'espeak-ng';
  if (spawnSync(bin, ['--version']).status === 0) return;
  const root = process.getuid?.() === 0;
  if (root && spawnSync('apt-get', ['--version']).status === 0) {
    say('espeak-ng is missing: installing it (apt-get install -y espeak-ng)');
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', 'espeak-ng'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status === 0) return;
  }
  say(
    `${bin} not found: install it (apt-get install -y espeak-ng) or choose another engine (TTS_ENGINE=openai|gpt-sovits|none)`,
  );
  process.exit(1);
}

async function stopAll(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Services first (they drain), then the simulator and Redis they depend on.
  await stopGroup(children.filter((c) => !c.infra));
  await stopGroup(children.filter((c) => c.infra));
  process.exit(code);
}

async function stopGroup(group: typeof children): Promise<void> {
  const running = (c: (typeof children)[number]) => c.proc.exitCode === null && c.proc.signalCode === null;
  for (const c of group) if (running(c)) c.proc.kill('SIGTERM');
  const deadline = Date.now() + 15_000;
  while (group.some(running) && Date.now() < deadline) await sleep(100);
  for (const c of group) if (running(c)) c.proc.kill('SIGKILL');
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

ensureEspeak();
await ensureRedis();
await ensureBackend();
buildWebIfStale({ log: say });
for (const [name, file] of [
  ['api', 'services/api/src/main.ts'],
  ['llm-worker', 'services/llm-worker/src/main.ts'],
  ['tts-worker', 'services/tts-worker/src/main.ts'],
] as const) {
  if (!existsSync(`${root}/${file}`)) continue;
  const [cmd, args] = tsNode(file);
  // The heap cap the container images set (packages/config/src/heap.ts), so `npm start` behaves alike.
  run(name, cmd, [...heapFlags(env.NODE_OPTIONS), ...args]);
}
say('gateway starting', { url: `http://localhost:${env.PORT || 8080}/` });
