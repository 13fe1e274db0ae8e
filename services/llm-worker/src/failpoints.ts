/**
 * Crash points for the chaos tests: `GATEWAY_FAILPOINTS=before_backend,mid_stream,after_store` makes this
 * process SIGKILL itself when it reaches one of them, the way a power cut or an OOM kill would. Unset in
 * production, so each check is one Set lookup on an empty set.
 */
const active = new Set(
  (process.env.GATEWAY_FAILPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

export type Failpoint = 'before_backend' | 'mid_stream' | 'after_store';

export function failpoint(name: Failpoint): void {
  if (active.size > 0 && active.has(name)) process.kill(process.pid, 'SIGKILL');
}
