#!/usr/bin/env bash
# Node WebGPU on a machine with a real GPU, in under 5 minutes: what the machine offers Dawn, the webgpu tests
# (conformance subset, cpu agreement), and `bioprop bench --backend webgpu` on LeNet-5 and an MLP, with wasm and
# blas on the same MLP for scale. Results go to $OUT (default ./device-check-out).
#
# Run from the repository root of an installed checkout (`pnpm install` done: node_modules is needed, the device
# machine has no network): bash packages/tfjs-backend-webgpu/scripts/device-check.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-$PWD/device-check-out}
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/summary.txt"; }
start=$(date +%s)

log "machine: $(uname -srm), node $(node --version 2>/dev/null || echo missing), $(nproc) cores"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not available"
  echo "--- libraries Dawn can use (Vulkan loader, EGL; Dawn loads the unversioned libEGL.so)"
  ldconfig -p 2>/dev/null | grep -E 'libvulkan\.so|libEGL(_nvidia|_mesa)?\.so|libGLX_nvidia' || echo "none found by ldconfig"
  echo "--- Vulkan ICDs and EGL vendors"
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/share/glvnd/egl_vendor.d 2>&1
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt" >> "$OUT/summary.txt"

if [ ! -d node_modules/.pnpm ] || [ ! -d packages/tfjs-backend-webgpu/node_modules/webgpu ]; then
  log "node_modules missing: run pnpm install on a machine with the registry, then carry the checkout here"
  exit 2
fi

# 1. the adapter, as the resolver will see it (hardware is what `auto` takes)
cat > "$OUT/adapter.mjs" <<'EOF'
const { registerWebGPU } = await import(process.argv[2]);
try {
  const a = await registerWebGPU({ allowSoftware: true });
  console.log(JSON.stringify(a, null, 2));
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.message ?? e) }));
  process.exitCode = 1;
}
EOF
entry=packages/tfjs-backend-webgpu/dist/index.js
[ -f "$entry" ] || (cd packages/tfjs-backend-webgpu && timeout 60 npx tsup >/dev/null 2>&1)
timeout 30 node "$OUT/adapter.mjs" "$PWD/$entry" > "$OUT/adapter.json" 2> "$OUT/adapter.stderr"
log "adapter: $(tr -d '\n' < "$OUT/adapter.json" | cut -c1-400)"

# 2. the webgpu tests (vitest, from source): conformance subset, matmul/gradients/training against cpu
(cd packages/tfjs-backend-webgpu && timeout 90 npx vitest run --reporter=verbose > "$OUT/webgpu-tests.txt" 2>&1)
log "webgpu tests: exit $? — $(sed 's/\x1b\[[0-9;]*m//g' "$OUT/webgpu-tests.txt" | grep -E 'Tests +[0-9]' | tail -1)"
sed 's/\x1b\[[0-9;]*m//g' "$OUT/webgpu-tests.txt" | grep -E 'matmul:|max \|Δgrad\||loss rel\.|webgpu adapter:' >> "$OUT/summary.txt"

# 3. benches: the built CLI when there is one, else the source through tsx
if [ -f packages/cli/dist/bin.js ] && [ -f packages/core/dist/index.js ]; then
  cli=(node packages/cli/dist/bin.js)
else
  tsx=$(ls packages/tfjs-backend-blas/node_modules/tsx/dist/esm/index.mjs 2>/dev/null)
  cli=(node --conditions=@bioprop/source --import "$PWD/$tsx" packages/cli/src/bin.ts)
fi
bench() {
  local name=$1 limit=$2
  shift 2
  timeout "$limit" "${cli[@]}" bench --json "$@" > "$OUT/bench-$name.json" 2> "$OUT/bench-$name.stderr"
  log "bench $name: exit $? — $(grep -E ' on [a-z]+.*ms/step' "$OUT/bench-$name.stderr" | sed 's/, efficiency.*//' | tr '\n' ' ')"
}
bench mlp-webgpu 40 --backend webgpu --rules bp,fa --arch 784-256-256-10 --batch-size 128 --min-time 3
bench lenet5-webgpu 40 --backend webgpu --rules bp,fa --arch lenet5 --min-time 3
bench mlp-cpu-side 40 --backend wasm,blas --rules bp,fa --arch 784-256-256-10 --batch-size 128 --min-time 2
bench mlp-webgpu-large 40 --backend webgpu --rules bp --arch 784-1000-1000-10 --batch-size 512 --min-time 3

log "done in $(( $(date +%s) - start )) s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
