/** A small seeded pseudo-random generator (xoshiro128**, seeded through splitmix32). */
export interface Rng {
  /** Next 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform float in [0, 1) with 32 bits of randomness. */
  uniform(): number;
  /** Uniform float in [lo, hi). */
  uniformRange(lo: number, hi: number): number;
  /** Standard normal sample (Box–Muller). */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/**
 * Creates a seeded generator; the same `(seed, stream)` always gives the same sequence.
 * `stream` selects an independent sequence for the same seed.
 */
export function createRng(seed: number, stream = 0): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`createRng: seed must be a finite number, got ${seed}`);
  // Fold the (possibly large or fractional) seed and the stream into 32 bits, then expand with splitmix32.
  const lo = Math.trunc(seed) >>> 0;
  const hi = Math.trunc(seed / 4294967296) >>> 0;
  const sm = splitmix32((lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(stream + 1, 0x165667b1)) >>> 0);
  let a = sm();
  let b = sm();
  let c = sm();
  let d = sm();
  if ((a | b | c | d) === 0) a = 1;
  let spare: number | null = null;

  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
  const uniform = (): number => nextU32() / 4294967296;
  return {
    nextU32,
    uniform,
    uniformRange: (lo2, hi2) => lo2 + (hi2 - lo2) * uniform(),
    normal: () => {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = 0;
      while (u === 0) u = uniform();
      const v = uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int: (n) => Math.floor(uniform() * n),
  };
}

/** Shuffles `items` in place with the Fisher–Yates algorithm driven by `rng`; returns `items`. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}
