// Seeded fault injection: one draw per chat request, so a given seed and request order always
// give the same faults (reproducible flaky-backend tests).

import type { FaultKind, SimFaults } from './types.js';

export const NO_FAULTS: SimFaults = {
  errorRate: 0,
  hangRate: 0,
  dropRate: 0,
  streamErrorRate: 0,
  garbageRate: 0,
  stallRate: 0,
};

const ORDER: readonly [keyof SimFaults, FaultKind][] = [
  ['errorRate', 'error'],
  ['hangRate', 'hang'],
  ['dropRate', 'drop'],
  ['streamErrorRate', 'streamError'],
  ['garbageRate', 'garbage'],
  ['stallRate', 'stall'],
];

/** mulberry32: tiny, fast, good enough for fault dice. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function anyFaults(f: SimFaults): boolean {
  return (
    f.errorRate > 0 ||
    f.hangRate > 0 ||
    f.dropRate > 0 ||
    f.streamErrorRate > 0 ||
    f.garbageRate > 0 ||
    f.stallRate > 0
  );
}

/** Picks at most one fault; the rates are stacked in a fixed order on one uniform draw. */
export function drawFault(f: SimFaults, rng: () => number): FaultKind | undefined {
  if (!anyFaults(f)) return undefined; // keep the RNG untouched when no faults are configured
  const r = rng();
  let acc = 0;
  for (const [key, kind] of ORDER) {
    acc += f[key];
    if (r < acc) return kind;
  }
  return undefined;
}

/** What nginx answers when its upstream is down: HTML, not the backend's JSON. */
export const GARBAGE_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n' +
  '<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
