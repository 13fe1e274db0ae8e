import type { GatewayError } from '@gateway/contracts';
import type { LlmClient } from '@gateway/llm-clients';
import type { Logger } from '@gateway/logger';
import type { BackendState } from '@gateway/queue';
import type { Queue } from 'bullmq';

/** Failures that say "the backend is not there right now", as opposed to "this request is wrong". */
export const OUTAGE_CODES: ReadonlySet<string> = new Set([
  'backend_unavailable',
  'backend_timeout',
  'backend_server_error',
  'backend_busy',
  'backend_stream_error',
]);

export interface BreakerOptions {
  /** Consecutive outage failures (in this process) that open the circuit. */
  threshold: number;
  /** How often the backend's health is probed while the circuit is open. */
  probeMs: number;
  /**
   * Called when the circuit opens and on each failed probe while it stays open: in a pool, moves the
   * jobs waiting for this server to others that serve their models (failover).
   */
  whileOpen?: () => Promise<unknown>;
}

/**
 * Stops the whole worker pool from burning every job's retries on a dead backend. When the backend keeps
 * failing, the queue is rate-limited (all workers stop taking jobs, the failed job goes back to the line
 * without losing an attempt) and the backend's own health check is probed until it answers; then the
 * backlog drains in order. The state is shared in Redis so the api can say "backend down, jobs waiting".
 */
export class CircuitBreaker {
  private failures = 0;
  private probe: NodeJS.Timeout | null = null;
  private moving = false;

  constructor(
    private readonly queue: Queue,
    private readonly llm: LlmClient,
    private readonly state: BackendState,
    private readonly log: Logger,
    private readonly opts: BreakerOptions,
  ) {}

  get isOpen(): boolean {
    return this.probe !== null;
  }

  onSuccess(): void {
    this.failures = 0;
  }

  /** Records a failure; true when the job should wait for the backend instead of spending an attempt. */
  async onFailure(err: GatewayError): Promise<boolean> {
    if (!OUTAGE_CODES.has(err.code)) return false;
    this.failures += 1;
    if (this.isOpen) return true;
    if (this.failures < this.opts.threshold && !(await this.state.isDown())) return false;
    await this.open(err);
    return true;
  }

  private async open(err: GatewayError): Promise<void> {
    if (this.probe) return;
    this.log.warn(
      { code: err.code, failures: this.failures },
      'backend looks down: pausing the queue and probing',
    );
    await this.state.markDown(`${err.code}: ${err.message}`);
    await this.queue.rateLimit(this.opts.probeMs);
    this.probe = setInterval(() => void this.check(), this.opts.probeMs);
    await this.failOver();
  }

  private async failOver(): Promise<void> {
    if (this.moving || !this.opts.whileOpen) return;
    this.moving = true;
    try {
      await this.opts.whileOpen();
    } catch (err) {
      this.log.warn({ err }, 'could not move the waiting jobs to other servers');
    } finally {
      this.moving = false;
    }
  }

  private async check(): Promise<void> {
    try {
      await this.llm.health();
    } catch {
      // Still down: keep every worker off the queue for one more probe interval.
      await this.queue.rateLimit(this.opts.probeMs * 2).catch(() => {});
      await this.failOver();
      return;
    }
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
    this.failures = 0;
    await this.state.markUp().catch(() => {});
    await this.queue.removeRateLimitKey().catch(() => {});
    this.log.info('backend is back: resuming');
  }

  stop(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }
}
