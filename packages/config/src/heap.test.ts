import { describe, expect, it } from 'vitest';
import { heapCapOf, heapFlags, SERVICE_HEAP_MB } from './heap.js';

describe('the services’ heap cap', () => {
  it('is added to a service’s node flags unless NODE_OPTIONS already sets one', () => {
    expect(heapFlags('')).toEqual([`--max-old-space-size=${SERVICE_HEAP_MB}`]);
    expect(heapFlags('--enable-source-maps')).toEqual([`--max-old-space-size=${SERVICE_HEAP_MB}`]);
    expect(heapFlags('--max-old-space-size=1024')).toEqual([]);
    expect(heapFlags('--enable-source-maps --max-old-space-size 200')).toEqual([]);
  });

  it('is read back from a NODE_OPTIONS value', () => {
    expect(heapCapOf('--max-old-space-size=384')).toBe(384);
    expect(heapCapOf('--trace-gc --max-old-space-size 200')).toBe(200);
    expect(heapCapOf('--max-semi-space-size=4')).toBeNull();
    expect(heapCapOf('')).toBeNull();
  });
});
