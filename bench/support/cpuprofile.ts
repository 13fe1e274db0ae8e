/** Sums self time per function (and per file or package) in a V8 .cpuprofile (`node --cpu-prof`). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  /** Share of the busy time (idle excluded), percent. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  idleMs: number;
  gcMs: number;
  functions: SelfTime[];
  files: SelfTime[];
}

/** This clone's root with a trailing slash: profiled code from here is shown by repository path. */
const REPO_ROOT = `${join(import.meta.dirname, '../..')}/`;

const IDLE = new Set(['(idle)', '(program)']);

/** Where a function lives, shortened: `node_modules/<pkg>` or the repository path, or `node:<module>`. */
export function shortWhere(url: string): string {
  if (!url) return '(native)';
  const u = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 14).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return `${pkg}/${rest.slice(rest[0]?.startsWith('@') ? 2 : 1).join('/')}`;
  }
  if (u.startsWith(REPO_ROOT)) return u.slice(REPO_ROOT.length);
  return u;
}

const pkgOf = (where: string) => {
  if (where.startsWith('node:') || !where.includes('/')) return where;
  if (where.startsWith('packages/') || where.startsWith('services/')) return where;
  const parts = where.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
};

/** `skipMs`: leave out the first milliseconds of the profile (start-up: module loading, compiling). */
export function summarizeProfile(path: string, top = 25, skipMs = 0): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let elapsedUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    elapsedUs += p.timeDeltas[i] ?? 0;
    if (elapsedUs < skipMs * 1000) continue;
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const file = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const name = n.callFrame.functionName || '(anonymous)';
    if (IDLE.has(name)) {
      idle += us;
      continue;
    }
    if (name === '(garbage collector)') gc += us;
    const where = name.startsWith('(') ? '' : `${shortWhere(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const cur = fn.get(key) ?? { name, where, us: 0 };
    cur.us += us;
    fn.set(key, cur);
    const f = name.startsWith('(') ? name : pkgOf(shortWhere(n.callFrame.url));
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => (busy > 0 ? (100 * us) / busy : 0);
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, pct: pct(f.us) })),
    files: [...file.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, where: '', ms: us / 1000, pct: pct(us) })),
  };
}

/** The main thread's profile in a directory of per-thread profiles: the one with the most busy time. */
export function summarizeProfileDir(dir: string, top = 25, skipMs = 0): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  const all = files.map((f) => summarizeProfile(`${dir}/${f}`, top, skipMs));
  return all.sort((a, b) => b.busyMs - a.busyMs)[0]!;
}
