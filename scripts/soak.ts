/**
 * `npm run soak -- --minutes N`: mixed traffic (submit, stream, cancel, TTS) against real processes while
 * llm-workers are SIGKILLed at random and Redis is killed and restarted once. Prints jobs accepted /
 * completed / failed (by reason) / cancelled / lost / duplicated, and each process's memory over time;
 * writes bench/results/soak.json and bench/results/soak.svg.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { call, readSse } from '../test/support/http.js';
import { RedisServer } from '../test/support/redis-server.js';
import { guestHeaders } from '../test/support/session.js';
import { type RunningProcess, startStack } from '../test/support/stack.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
const durationMs = minutes * 60_000;
const say = (msg: string, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ t: new Date().toISOString(), msg, ...extra }));

const rssMb = (pid: number | undefined): number | null => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
  } catch {
    return null;
  }
};

const redis = new RedisServer(18_000 + Math.floor(Math.random() * 1_000), 'always');
await redis.start();
const stack = await startStack({
  kind: 'ollama',
  sim: { ttftMs: 60, tokenDelayMs: 8, replyTokens: 20, capacity: 8 },
  services: ['api', 'llm-worker', 'llm-worker', 'tts-worker'],
  env: {
    REDIS_URL: redis.url,
    LOG_LEVEL: 'info', // the harness waits for each process's 'ready' line
    LLM_CONCURRENCY: '8',
    WORKER_LOCK_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '2000',
    USER_MAX_ACTIVE_JOBS: '100000',
    TTS_DEFAULT: 'false',
  },
});
const users = await Promise.all(Array.from({ length: 5 }, () => guestHeaders(stack.apiUrl)));

type Tracked = { id: string; user: number; cancelled: boolean };
const jobs: Tracked[] = [];
const refused = new Map<number, number>();
const memory: { t: number; [name: string]: number | null }[] = [];
const started = Date.now();
let redisRestarted = false;

const sampler = setInterval(() => {
  const row: { t: number; [name: string]: number | null } = { t: Math.round((Date.now() - started) / 1000) };
  stack.processes.forEach((p, i) => {
    if (p.proc.exitCode === null && p.proc.signalCode === null) row[`${p.name}#${i}`] = rssMb(p.proc.pid);
  });
  memory.push(row);
}, 5_000);

const chaos = (async () => {
  while (Date.now() - started < durationMs) {
    await new Promise((r) => setTimeout(r, 20_000 + Math.random() * 20_000));
    if (Date.now() - started >= durationMs) break;
    if (!redisRestarted && Date.now() - started > durationMs / 2) {
      redisRestarted = true;
      say('chaos: SIGKILL redis');
      await redis.kill();
      await new Promise((r) => setTimeout(r, 2_000));
      await redis.start();
      say('chaos: redis restarted');
      continue;
    }
    const workers = stack.processes.filter(
      (p) => p.name === 'llm-worker' && p.proc.exitCode === null && p.proc.signalCode === null,
    );
    const victim: RunningProcess | undefined = workers[Math.floor(Math.random() * workers.length)];
    if (!victim) continue;
    say('chaos: SIGKILL llm-worker', { pid: victim.proc.pid });
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await stack.start('llm-worker');
  }
})();

const streams: Promise<unknown>[] = [];
while (Date.now() - started < durationMs) {
  const user = Math.floor(Math.random() * users.length);
  const body = { message: `soak ${jobs.length}: 안녕하세요, 오늘 어때요?`, tts: Math.random() < 0.3 };
  try {
    const r = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body, headers: users[user]! });
    if (r.status === 202) {
      const job: Tracked = { id: r.body.job_id, user, cancelled: false };
      jobs.push(job);
      const roll = Math.random();
      if (roll < 0.1) {
        setTimeout(() => {
          job.cancelled = true;
          void call(`${stack.apiUrl}/chat/jobs/${job.id}`, { method: 'DELETE', headers: users[user]! }).catch(
            () => {},
          );
        }, 100);
      } else if (roll < 0.3) {
        streams.push(
          readSse(`${stack.apiUrl}/chat/jobs/${job.id}/events`, { headers: users[user]! }).catch(() => []),
        );
      }
    } else refused.set(r.status, (refused.get(r.status) ?? 0) + 1);
  } catch {
    refused.set(0, (refused.get(0) ?? 0) + 1);
  }
  await new Promise((r) => setTimeout(r, 40));
}
await chaos;
say('traffic stopped; waiting for the backlog', { accepted: jobs.length });

const final = new Map<string, ChatJobView | null>();
const deadline = Date.now() + 180_000;
for (const job of jobs) {
  for (;;) {
    const r = await call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${job.id}`, {
      headers: users[job.user]!,
    }).catch(() => null);
    const v = r?.status === 200 ? r.body : null;
    if ((v && ['completed', 'failed', 'cancelled'].includes(v.status)) || Date.now() > deadline) {
      final.set(job.id, v);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
await Promise.allSettled(streams);

let duplicated = 0;
for (const job of jobs) {
  const v = final.get(job.id);
  if (v?.status !== 'completed') continue;
  const events = await readSse(`${stack.apiUrl}/chat/jobs/${job.id}/events`, { headers: users[job.user]! });
  if (
    events.filter((e) => e.event === 'reply').length !== 1 ||
    events.filter((e) => e.event === 'done').length !== 1
  ) {
    duplicated += 1;
  }
}
clearInterval(sampler);
const count = (s: string) => [...final.values()].filter((v) => v?.status === s).length;
const failedBy: Record<string, number> = {};
for (const v of final.values())
  if (v?.status === 'failed') failedBy[v.error?.code ?? '?'] = (failedBy[v.error?.code ?? '?'] ?? 0) + 1;
const summary = {
  minutes,
  accepted: jobs.length,
  completed: count('completed'),
  cancelled: count('cancelled'),
  failed: count('failed'),
  failed_by_reason: failedBy,
  lost: [...final.values()].filter((v) => !v || !['completed', 'failed', 'cancelled'].includes(v.status))
    .length,
  duplicated,
  refused_submissions: Object.fromEntries(refused),
  worker_kills: stack.processes.filter((p) => p.name === 'llm-worker').length - 2,
  redis_restarted: redisRestarted,
  memory_mb: memory,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/soak.json', `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync('bench/results/soak.svg', memoryChart(memory));
const { memory_mb: _m, ...printable } = summary;
for (const [k, v] of Object.entries(printable))
  console.log(`${k.padEnd(20)} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
const names = [...new Set(memory.flatMap((r) => Object.keys(r).filter((k) => k !== 't')))];
for (const n of names) {
  const xs = memory.map((r) => r[n]).filter((x): x is number => typeof x === 'number');
  if (xs.length)
    console.log(`${n.padEnd(16)} RSS MB first ${xs[0]} max ${Math.max(...xs)} last ${xs.at(-1)}`);
}
await stack.stop();
await redis.stop();
process.exit(summary.lost === 0 && summary.duplicated === 0 ? 0 : 1);

function memoryChart(rows: { t: number; [k: string]: number | null }[]): string {
  const W = 720;
  const H = 300;
  const pad = 40;
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => k !== 't')))];
  const tMax = Math.max(1, ...rows.map((r) => r.t));
  const yMax = Math.max(50, ...rows.flatMap((r) => keys.map((k) => r[k] ?? 0)));
  const x = (t: number) => pad + ((W - 2 * pad) * t) / tMax;
  const y = (v: number) => H - pad - ((H - 2 * pad) * v) / yMax;
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];
  const lines = keys.map((k, i) => {
    const pts = rows
      .filter((r) => typeof r[k] === 'number')
      .map((r) => `${x(r.t).toFixed(1)},${y(r[k] as number).toFixed(1)}`);
    return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5" points="${pts.join(' ')}"/><text x="${W - pad + 4}" y="${pad + 14 * i}" font-size="10" fill="${colors[i % colors.length]}">${k}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W + 120}" height="${H}" font-family="sans-serif">
<text x="${pad}" y="20" font-size="13">Soak: RSS per process (MB) over time (s)</text>
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#333"/>
<text x="${pad}" y="${H - 10}" font-size="10">0</text><text x="${W - pad}" y="${H - 10}" font-size="10">${tMax}s</text>
<text x="4" y="${pad}" font-size="10">${Math.round(yMax)}</text>
${lines.join('\n')}
</svg>
`;
}
