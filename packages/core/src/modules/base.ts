import { ShapeError } from '../errors.js';
import type { JsonValue, LayerSpec, Module, ModuleBuildContext, ModuleConfig, NetworkBuilder, NodeRef, Tensor, VariableMap } from '../types.js';

/** A spec that adds one single-input module (`make` builds it once the input shape is known). */
export function singleModuleSpec(
  kind: string,
  config: Record<string, JsonValue | undefined>,
  make: (ctx: ModuleBuildContext & { inputShape: readonly number[] }) => Module,
  name?: string,
): LayerSpec {
  const stored: ModuleConfig = { kind, ...dropUndefined(config), ...(name !== undefined ? { name } : {}) };
  return {
    kind,
    build(builder: NetworkBuilder, input: NodeRef) {
      return builder.add(kind, [input], (ctx) => make({ ...ctx, inputShape: ctx.inputShapes[0] }), name);
    },
    config: () => stored,
  };
}

function dropUndefined(o: Record<string, JsonValue | undefined>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/** Common read-only parts of a parameter-free module. */
export abstract class StatelessModule implements Omit<Module, 'forward' | 'vjp' | 'replay' | 'config'> {
  readonly params: VariableMap = {};
  readonly buffers: VariableMap = {};
  readonly inputShapes: readonly (readonly number[])[];

  constructor(
    readonly kind: string,
    readonly name: string,
    inputShape: readonly number[],
    readonly outputShape: readonly number[],
  ) {
    this.inputShapes = [inputShape];
  }
}

/** `[N, ...shape]` of a sample shape, checked against a tensor's own sample size. */
export function batchShape(where: string, t: Tensor, shape: readonly number[]): number[] {
  const want = shape.reduce((a, b) => a * b, 1);
  const got = t.shape.slice(1).reduce((a, b) => a * b, 1);
  if (got !== want) throw new ShapeError(`${where}: expected input [N, ${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  return [t.shape[0], ...shape];
}

/** An image sample shape `[H, W, C]`, or a ShapeError naming the module. */
export function imageShape(where: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3) throw new ShapeError(`${where}: expects an image input [height, width, channels] (NHWC), got [${shape.join(', ')}]`);
  return [shape[0], shape[1], shape[2]];
}
