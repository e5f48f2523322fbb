import type { RandomSource, RandomStream } from './types.js';

/** 32-bit string hash (FNV-1a) to derive a stream's seed from its name. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** SplitMix32 step, used only to expand seeds into generator state. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * xoshiro128** stream: fast, 128-bit state that fits in a checkpoint as four integers,
 * plus a cached second Box–Muller normal so a restored stream continues exactly.
 */
class Xoshiro128 implements RandomStream {
  private s = new Uint32Array(4);
  private spare = NaN;

  constructor(
    readonly name: string,
    seed: number,
  ) {
    const sm = splitmix32(seed);
    for (let i = 0; i < 4; i++) this.s[i] = sm();
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  private nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  next(): number {
    return this.nextU32() / 4294967296;
  }

  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  uniformArray(size: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(size);
    const w = hi - lo;
    for (let i = 0; i < size; i++) out[i] = lo + w * this.next();
    return out;
  }

  normalArray(size: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = mean + std * this.normal();
    return out;
  }

  getState(): number[] {
    return [this.s[0], this.s[1], this.s[2], this.s[3], Number.isNaN(this.spare) ? -1e300 : this.spare];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5) throw new Error(`random stream "${this.name}": state must have 5 numbers`);
    for (let i = 0; i < 4; i++) this.s[i] = state[i] >>> 0;
    this.spare = state[4] === -1e300 ? NaN : state[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One stream, seeded from (seed, name). */
export function randomStream(seed: number, name = 'default'): RandomStream {
  return new Xoshiro128(name, (hashString(name) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0);
}

/** A seeded family of named streams: `random.stream('init')`, `random.stream('shuffle')`, … */
export function randomSource(seed: number): RandomSource {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  const streams = new Map<string, RandomStream>();
  return {
    seed,
    stream(name: string) {
      let s = streams.get(name);
      if (!s) {
        s = randomStream(seed, name);
        streams.set(name, s);
      }
      return s;
    },
    getState() {
      const out: Record<string, number[]> = {};
      for (const [name, s] of streams) out[name] = s.getState();
      return out;
    },
    setState(state) {
      for (const [name, st] of Object.entries(state)) this.stream(name).setState(st);
    },
  };
}

/** Fisher–Yates permutation of 0..n-1 from a stream. */
export function permutation(n: number, random: RandomStream): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
