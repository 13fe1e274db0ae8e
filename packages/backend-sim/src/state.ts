// Mutable state of one simulator: resolved options, counters, recorded requests, slots, dice.
// It outlives stop()/start() so tests can inspect what happened across a restart.

import { Slots } from './capacity.js';
import { drawFault, makeRng, NO_FAULTS } from './faults.js';
import type {
  FaultKind,
  RecordedRequest,
  ReplyStyle,
  SimConfig,
  SimFaults,
  SimKind,
  SimOptions,
  SimStats,
} from './types.js';

const RECORD_LIMIT = 1000;

export const DEFAULT_MODELS: Record<SimKind, string[]> = {
  vllm: ['unsloth/gemma-3-27b-it-bnb-4bit'],
  ollama: ['gemma-3-27b-it'],
};

export interface Timing {
  ttftMs: number;
  tokenDelayMs: number;
  replyTokens: number;
  replyStyle: ReplyStyle;
  maxModelLen: number;
}

function nonNegative(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0)
    throw new RangeError(`backend-sim: ${name} must be >= 0`);
  return v;
}

export class SimState {
  readonly kind: SimKind;
  models: string[];
  timing: Timing;
  faults: SimFaults;
  capacity: number;
  maxQueue: number;
  autoToolChoice = false;
  readonly slots: Slots;
  paused = false;
  /** Generations held while paused, started in order when it ends. */
  private held = new Set<() => void>();
  private rng: () => number;
  private counters = {
    requests: 0,
    inFlight: 0,
    maxInFlight: 0,
    completed: 0,
    aborted: 0,
    rejected: 0,
    errors: 0,
  };
  private records: RecordedRequest[] = [];

  constructor(opts: SimOptions) {
    this.kind = opts.kind;
    this.models = DEFAULT_MODELS[opts.kind];
    this.timing = { ttftMs: 0, tokenDelayMs: 0, replyTokens: 24, replyStyle: 'chat', maxModelLen: 4096 };
    this.faults = { ...NO_FAULTS };
    this.capacity = opts.kind === 'vllm' ? 12 : 1;
    this.maxQueue = opts.kind === 'vllm' ? Number.POSITIVE_INFINITY : 512;
    this.rng = makeRng(opts.seed ?? 1);
    this.slots = new Slots(this.capacity, this.maxQueue);
    this.configure(opts);
  }

  configure(c: SimConfig): void {
    if (c.models !== undefined) {
      if (!Array.isArray(c.models) || c.models.length === 0)
        throw new RangeError('backend-sim: models must be non-empty');
      this.models = [...c.models];
    }
    const t = this.timing;
    this.timing = {
      ttftMs: nonNegative('ttftMs', c.ttftMs, t.ttftMs),
      tokenDelayMs: nonNegative('tokenDelayMs', c.tokenDelayMs, t.tokenDelayMs),
      replyTokens: Math.floor(nonNegative('replyTokens', c.replyTokens, t.replyTokens)),
      replyStyle: c.replyStyle ?? t.replyStyle,
      maxModelLen: Math.floor(nonNegative('maxModelLen', c.maxModelLen, t.maxModelLen)),
    };
    if (this.timing.replyStyle !== 'chat' && this.timing.replyStyle !== 'roleplay')
      throw new RangeError('backend-sim: replyStyle must be chat or roleplay');
    if (c.faults) {
      const next = { ...this.faults };
      for (const key of Object.keys(NO_FAULTS) as (keyof SimFaults)[]) {
        const v = c.faults[key];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !(v >= 0 && v <= 1))
          throw new RangeError(`backend-sim: ${key} must be in 0..1`);
        next[key] = v;
      }
      this.faults = next;
    }
    if (c.seed !== undefined) this.rng = makeRng(c.seed);
    if (c.autoToolChoice !== undefined) this.autoToolChoice = c.autoToolChoice === true;
    if (c.paused !== undefined) {
      if (typeof c.paused !== 'boolean') throw new RangeError('backend-sim: paused must be a boolean');
      this.paused = c.paused;
    }
    const capacity = Math.floor(nonNegative('capacity', c.capacity, this.capacity));
    if (capacity < 1) throw new RangeError('backend-sim: capacity must be >= 1');
    this.capacity = capacity;
    this.maxQueue = Math.floor(nonNegative('maxQueue', c.maxQueue, this.maxQueue));
    this.slots.configure(this.capacity, this.maxQueue);
    if (!this.paused) {
      const held = [...this.held];
      this.held.clear();
      for (const go of held) go();
    }
  }

  /** Runs `go` now, or when the pause ends. Returns a function that drops it (the client left). */
  whenRunning(go: () => void): () => void {
    if (!this.paused) {
      go();
      return () => {};
    }
    this.held.add(go);
    return () => this.held.delete(go);
  }

  drawFault(): FaultKind | undefined {
    return drawFault(this.faults, this.rng);
  }

  // --- counters -------------------------------------------------------------------------

  opened(rec: RecordedRequest): void {
    const c = this.counters;
    c.requests++;
    c.inFlight++;
    if (c.inFlight > c.maxInFlight) c.maxInFlight = c.inFlight;
    this.records.push(rec);
    // Trim in batches: one splice per 1000 requests instead of a shift per request.
    if (this.records.length >= 2 * RECORD_LIMIT) this.records.splice(0, this.records.length - RECORD_LIMIT);
  }
  closed(): void {
    this.counters.inFlight--;
  }
  count(what: 'completed' | 'aborted' | 'rejected' | 'errors'): void {
    this.counters[what]++;
  }

  stats(): SimStats {
    const c = this.counters;
    return {
      requests: c.requests,
      inFlight: c.inFlight,
      waiting: this.slots.waiting,
      maxInFlight: c.maxInFlight,
      generating: this.slots.generating,
      maxGenerating: this.slots.maxGenerating,
      completed: c.completed,
      aborted: c.aborted,
      rejected: c.rejected,
      errors: c.errors,
    };
  }

  /** Zeroes the counters and forgets recorded requests; open requests keep counting in inFlight. */
  reset(): void {
    const open = this.counters.inFlight;
    this.counters = {
      requests: 0,
      inFlight: open,
      maxInFlight: open,
      completed: 0,
      aborted: 0,
      rejected: 0,
      errors: 0,
    };
    this.slots.resetPeak();
    this.records = [];
  }

  requests(): RecordedRequest[] {
    const r = this.records;
    return r.length > RECORD_LIMIT ? r.slice(r.length - RECORD_LIMIT) : r.slice();
  }
}
