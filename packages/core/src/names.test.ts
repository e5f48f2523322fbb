import { describe, expect, it } from 'vitest';
import { OptionError, resolveActivation, resolveLoss, resolveOptimizer } from './index.js';

// names inherited from Object.prototype are not registered names: each lookup refuses them as unknown
const INHERITED = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

describe('name lookups refuse inherited property names', () => {
  it('activations', () => {
    for (const name of INHERITED) expect(() => resolveActivation(name), name).toThrow(OptionError);
    expect(() => resolveActivation('__proto__', {})).toThrow(/unknown activation "__proto__"/);
    expect(resolveActivation('tanh').name).toBe('tanh');
  });
  it('losses', () => {
    for (const name of INHERITED) expect(() => resolveLoss(name), name).toThrow(/unknown loss/);
    expect(resolveLoss('mse').name).toBe('mse');
  });
  it('optimizers', () => {
    for (const name of INHERITED) expect(() => resolveOptimizer({ name, lr: 0.1 }), name).toThrow(/unknown optimizer/);
    expect(resolveOptimizer({ name: 'sgd', lr: 0.1 })).toBeDefined();
  });
});
