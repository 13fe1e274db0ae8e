/** Child processes for the benchmarks: started the way `npm start` starts them (node --import tsx). */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Proc {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** performance.now() when it was spawned. */
  startedAt: number;
  /** The last 20 kB the process wrote (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<Proc>();

/** Starts `node [nodeArgs] --import tsx --conditions=@gateway/source file args`. */
export function spawnNode(
  name: string,
  file: string,
  opts: { args?: string[]; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Proc {
  const proc = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), '--import', 'tsx', '--conditions=@gateway/source', file, ...(opts.args ?? [])],
    { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString('utf8')).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const p: Proc = {
    name,
    proc,
    pid: proc.pid ?? -1,
    startedAt: performance.now(),
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      running.delete(p);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(p);
  void exited.then(() => running.delete(p));
  return p;
}

/** Kills what this process started (Ctrl-C or a crash mid-run). */
export function killAll(): void {
  for (const p of running) p.proc.kill('SIGKILL');
  running.clear();
}

/** Resident memory of a process in MB, from /proc/<pid>/status (null when gone). */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped. */
export function sampleRss(pid: number, everyMs = 250): { stop(): { t: number; mb: number }[] } {
  const t0 = performance.now();
  const samples: { t: number; mb: number }[] = [];
  const take = () => {
    const mb = rssMb(pid);
    if (mb !== null) samples.push({ t: (performance.now() - t0) / 1000, mb });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000, proc?: Proc) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok().catch(() => false)) return;
    if (proc && proc.proc.exitCode !== null)
      throw new Error(`${what}: ${proc.name} exited:\n${proc.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${what}: not ready in ${timeoutMs} ms\n${proc?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU time (user + system) a process used so far, in ms, from /proc/<pid>/stat (10 ms resolution). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at index 2 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100;
