import { describe, expect, it } from 'vitest';
import {
  expectedWaitMs,
  modelNotServed,
  poolModels,
  route,
  type ServerLoad,
  servesModel,
} from './routing.js';

const server = (name: string, over: Partial<ServerLoad> = {}): ServerLoad => ({
  name,
  models: ['gemma'],
  concurrency: 4,
  healthy: true,
  waiting: 0,
  running: 0,
  slotGapMs: null,
  avgJobMs: null,
  ...over,
});

describe('route', () => {
  it('sends a job only to a server that serves its model, and names a model no server serves', () => {
    const pool = [server('a', { models: ['gemma'] }), server('b', { models: ['qwen3:8b'] })];
    expect(route(pool, { model: 'qwen3:8b' })).toEqual({ server: 'b', reason: 'shortest_wait' });
    expect(route(pool, { model: 'qwen3:14b' }).server).toBeNull();
    expect(route(pool, { model: 'gemma:latest' }).server).toBe('a');
    expect(route(pool, { model: 'llama3' })).toEqual({ server: null, reason: 'model_not_served' });
    const err = modelNotServed('llama3', poolModels(pool));
    expect(err.status).toBe(400);
    expect(err.message).toContain('`llama3`');
    expect(err.message).toContain('gemma, qwen3:8b');
  });

  it('tries a server whose model list is unknown only when no known server serves the model', () => {
    const pool = [server('a', { models: ['gemma'], running: 4, waiting: 50 }), server('b', { models: null })];
    expect(route(pool, { model: 'gemma' }).server).toBe('a');
    expect(route(pool, { model: 'other' }).server).toBe('b');
  });

  it('keeps a conversation on its server while that server is healthy, however busy', () => {
    const pool = [server('a', { running: 4, waiting: 10 }), server('b')];
    expect(route(pool, { model: 'gemma', affinity: 'a' })).toEqual({ server: 'a', reason: 'affinity' });
    const aDown = [server('a', { healthy: false }), server('b', { running: 4, waiting: 10 })];
    expect(route(aDown, { model: 'gemma', affinity: 'a' })).toEqual({ server: 'b', reason: 'shortest_wait' });
    // The previous server no longer serves the model (or is gone from the pool): routed like a new one.
    expect(
      route([server('a', { models: ['x'] }), server('b')], { model: 'gemma', affinity: 'a' }).server,
    ).toBe('b');
    expect(route(pool, { model: 'gemma', affinity: 'gone' }).server).toBe('b');
  });

  it('otherwise picks the shortest expected wait: backlog over cap, by the measured slot gap', () => {
    // b is twice as big: with the same backlog, its line moves twice as fast.
    const a = server('a', { concurrency: 4, running: 4, waiting: 8, slotGapMs: 500, avgJobMs: 1_600 });
    const b = server('b', { concurrency: 8, running: 8, waiting: 8, slotGapMs: 250, avgJobMs: 1_600 });
    expect(expectedWaitMs(a)).toBe(9 * 500);
    expect(expectedWaitMs(b)).toBe(9 * 250);
    expect(route([a, b], { model: 'gemma' }).server).toBe('b');
    // A measured slow server loses to a fast one with a longer line.
    const slow = server('a', { running: 4, waiting: 2, slotGapMs: 5_000 });
    const fast = server('b', { running: 4, waiting: 6, slotGapMs: 500 });
    expect(route([slow, fast], { model: 'gemma' }).server).toBe('b');
    // Before any gap is measured: the average job time over the cap.
    expect(expectedWaitMs(server('c', { running: 4, waiting: 1, avgJobMs: 2_000 }))).toBe(2 * 500);
    // A gap measured in a burst of finishes (jobs that started together) never makes a server look
    // faster than its run time over its cap.
    expect(expectedWaitMs(server('d', { running: 4, waiting: 1, slotGapMs: 25, avgJobMs: 2_000 }))).toBe(
      2 * 500,
    );
  });

  it('fills free slots evenly: among servers with room, the least used share of the cap', () => {
    const a = server('a', { concurrency: 4, running: 2 });
    const b = server('b', { concurrency: 8, running: 2 });
    expect(route([a, b], { model: 'gemma' }).server).toBe('b');
    // Spreading a burst: each pick updates the load, the picks follow the caps (4 : 8).
    const pool = [server('a', { concurrency: 4 }), server('b', { concurrency: 8 })];
    const picks = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 36; i++) {
      const r = route(pool, { model: 'gemma' });
      const s = pool.find((p) => p.name === r.server)!;
      if (s.running < s.concurrency) s.running += 1;
      else s.waiting += 1;
      picks[s.name]! += 1;
    }
    expect(picks).toEqual({ a: 12, b: 24 });
  });

  it('avoids an unhealthy server, and leaves a job on one only when none serving its model is healthy', () => {
    const pool = [server('a', { healthy: false }), server('b', { running: 4, waiting: 40 })];
    expect(route(pool, { model: 'gemma' }).server).toBe('b');
    const allDown = [server('a', { healthy: false, waiting: 3 }), server('b', { healthy: false })];
    expect(route(allDown, { model: 'gemma' })).toEqual({ server: 'b', reason: 'none_healthy' });
  });

  it('moves a job off the server it must leave (failover)', () => {
    const pool = [server('a'), server('b', { running: 4, waiting: 4 })];
    expect(route(pool, { model: 'gemma', exclude: 'a', affinity: 'a' }).server).toBe('b');
    expect(route([server('a')], { model: 'gemma', exclude: 'a' }).server).toBeNull();
  });
});

describe('servesModel and poolModels', () => {
  it('treat Ollama `x` and `x:latest` as one model and list each model once', () => {
    expect(servesModel(['gemma3:latest'], 'gemma3')).toBe(true);
    expect(servesModel(['gemma3'], 'gemma3:latest')).toBe(true);
    expect(servesModel(['gemma3:27b'], 'gemma3')).toBe(false);
    expect(
      poolModels([{ models: ['a', 'b'] }, { models: null }, { models: ['b', 'c:latest', 'c'] }]),
    ).toEqual(['a', 'b', 'c:latest']);
  });
});
