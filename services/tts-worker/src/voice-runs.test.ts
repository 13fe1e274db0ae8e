import { describe, expect, it } from 'vitest';
import { shouldDefer } from './voice-runs.js';

const base = { jobVoice: 'b', jobPriority: 1, loadedVoice: 'a', deferrals: 0, maxDeferrals: 3 };

describe('shouldDefer', () => {
  it('steps aside for a waiting job of the loaded voice', () => {
    expect(shouldDefer({ ...base, waiting: [{ voice: 'a', priority: 1 }] })).toBe(true);
  });

  it('runs at once when it is the loaded voice, nothing is loaded, or no job of that voice waits', () => {
    expect(shouldDefer({ ...base, jobVoice: 'a', waiting: [{ voice: 'a', priority: 1 }] })).toBe(false);
    expect(shouldDefer({ ...base, loadedVoice: null, waiting: [{ voice: 'a', priority: 1 }] })).toBe(false);
    expect(shouldDefer({ ...base, waiting: [{ voice: 'c', priority: 1 }] })).toBe(false);
  });

  it('never lets a realtime job wait behind a delayed one', () => {
    expect(shouldDefer({ ...base, jobPriority: 1, waiting: [{ voice: 'a', priority: 10 }] })).toBe(false);
    expect(shouldDefer({ ...base, jobPriority: 10, waiting: [{ voice: 'a', priority: 1 }] })).toBe(true);
  });

  it('stops stepping aside after the limit, so no voice starves', () => {
    expect(shouldDefer({ ...base, deferrals: 3, waiting: [{ voice: 'a', priority: 1 }] })).toBe(false);
  });
});
