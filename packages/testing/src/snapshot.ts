import type { Trainer } from '@bioprop/core';

/**
 * Every number a run's future depends on: weights, running statistics (batch norm), rule state, optimizer slots,
 * their JSON meta, the random streams (dropout masks, shuffling, rule noise) and the position.
 */
export interface RunSnapshot {
  tensors: Map<string, { shape: number[]; bits: Uint32Array }>;
  meta: Map<string, string>;
}

/** Copy (bit patterns, not values, so NaN and −0 compare exactly) every tensor of a trainer's state. */
export function snapshot(trainer: Trainer, parts: { optimizer?: boolean } = {}): RunSnapshot {
  const tensors: RunSnapshot['tensors'] = new Map();
  const add = (prefix: string, vars: Record<string, { shape: number[]; dataSync(): unknown }>) => {
    for (const [k, v] of Object.entries(vars)) {
      const data = v.dataSync() as Float32Array;
      tensors.set(`${prefix}/${k}`, { shape: [...v.shape], bits: new Uint32Array(Float32Array.from(data).buffer) });
    }
  };
  add('network', trainer.network.namedParams());
  add('buffers', trainer.network.namedBuffers());
  add('rule', trainer.boundRule.state());
  if (parts.optimizer !== false) add('optimizer', trainer.optimizer.slots());
  const meta: RunSnapshot['meta'] = new Map([['rule meta', JSON.stringify(trainer.boundRule.getMeta() ?? null)]]);
  if (parts.optimizer !== false) {
    meta.set('optimizer meta', JSON.stringify(trainer.optimizer.getMeta() ?? null));
    meta.set('random streams', JSON.stringify(trainer.random.getState()));
  }
  return { tensors, meta };
}

const asFloat = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];

/** The first difference between two snapshots, in words, or null when they are bitwise equal. */
export function diffSnapshots(a: RunSnapshot, b: RunSnapshot, names: [string, string] = ['first', 'second']): string | null {
  for (const key of a.tensors.keys()) if (!b.tensors.has(key)) return `"${key}" exists in the ${names[0]} run only`;
  for (const key of b.tensors.keys()) if (!a.tensors.has(key)) return `"${key}" exists in the ${names[1]} run only`;
  let differing: string[] = [];
  let first: string | null = null;
  for (const [key, ta] of a.tensors) {
    const tb = b.tensors.get(key)!;
    if (ta.shape.join() !== tb.shape.join()) return `"${key}" has shape [${ta.shape}] in the ${names[0]} run, [${tb.shape}] in the ${names[1]}`;
    let n = 0;
    let at = -1;
    for (let i = 0; i < ta.bits.length; i++) {
      if (ta.bits[i] !== tb.bits[i]) {
        if (at < 0) at = i;
        n++;
      }
    }
    if (n > 0) {
      differing.push(key);
      first ??= `"${key}" differs in ${n} of ${ta.bits.length} values (first at flat index ${at}: ${asFloat(ta.bits[at])} vs ${asFloat(tb.bits[at])})`;
    }
  }
  if (first) {
    if (differing.length > 6) differing = [...differing.slice(0, 6), '…'];
    return `${first}; differing tensors: ${differing.join(', ')}`;
  }
  for (const [key, ma] of a.meta) {
    const mb = b.meta.get(key);
    if (ma !== mb) return `${key} differs: ${ma} vs ${mb}`;
  }
  return null;
}
