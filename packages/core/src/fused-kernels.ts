import * as tf from '@tensorflow/tfjs-core';

/** Per backend (by instance), whether it registers each kernel asked about: decided once per backend and kernel. */
const registered = new WeakMap<object, Map<string, boolean>>();

/** Whether the active backend registers `kernel`. */
function registers(kernel: string): boolean {
  const backend = tf.backend();
  let known = registered.get(backend);
  if (!known) registered.set(backend, (known = new Map()));
  let has = known.get(kernel);
  if (has === undefined) {
    has = tf.getKernel(kernel, tf.getBackend()) !== undefined;
    known.set(kernel, has);
  }
  return has;
}

/**
 * Whether core may run a backend's own kernels (`BiopropReluGrad`, the fused batch norm, the locally connected
 * kernels, …) in place of its tf ops now: the active backend registers every one of `kernels`, and no gradient tape
 * is recording (these kernels have no gradient of their own, so a tape takes the tf-op path).
 */
export function fusedKernels(...kernels: string[]): boolean {
  return !tf.engine().isTapeOn() && kernels.every(registers);
}
