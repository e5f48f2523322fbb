/** Placeholder until the sweep runs: replaced by measured values. */
export const backpropDefaults = {
  optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
  init: 'glorot',
} as const;
