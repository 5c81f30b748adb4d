#!/bin/bash
# gpu_check.sh: the CUDA path on a GPU in one run (about 3-5 minutes; one device call with time to spare):
#   1. make cuda: the implementation compiled by nvcc (DECAR_USE_CUDA), the CLI, test_device and bench_device
#   2. tests/test_device.c on the GPU against the CPU's tape path. Tolerances: loss 2e-4 (relative), first-step
#      gradients 1e-4 of the largest, AdamW m 1e-4, parameters after 4 steps 4e-3 (AdamW turns rounding into lr-sized
#      steps where a gradient is ~0), scores 2e-3 nats, KV-cache logits 1e-4
#   3. the CLI: one model trained with --device cuda and one with --device cpu from the same seed, both evaluated:
#      held-out bits per byte within 0.01
#   4. bench_device: training tokens/s and TFLOP/s against the GPU's fp32 peak, scoring, batch-1 generation, for
#      S (4L d256), M (6L d384) and L (12L d768, context 1024)
# Logs in OUT (default build/gpu_check). Exit status: the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/gpu_check}
mkdir -p "$OUT"
NVCC=${NVCC:-$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)}
fails=0
t0=$SECONDS
run() { # run LIMIT LOG cmd...: a step with a time limit, its output on stdout and in OUT/LOG
  local lim=$1 log=$2; shift 2
  echo "== $* (limit ${lim} s)"
  if timeout "$lim" "$@" 2>&1 | tee "$OUT/$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then :; else
    echo "FAILED: $*"; fails=$((fails + 1)); fi
}
echo "gpu_check $(date -u +%FT%TZ): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
if [ -z "$NVCC" ]; then echo "FAILED: no nvcc (install the CUDA toolkit)"; exit 1; fi
"$NVCC" --version | tail -1
run 240 build.log make -s -j"$(nproc)" cuda NVCC="$NVCC"
run 120 test_device.log build/test_device_cuda
# the CLI on a corpus made from the repository's own text (any directory of .txt files works)
C=$OUT/corpus
mkdir -p $C/c $C/english
split -b 3000 -d -a 3 --additional-suffix=.txt decar.h $C/c/h
split -b 3000 -d -a 3 --additional-suffix=.txt README.md $C/english/r
TR="--quiet 1 --data $C --steps 200 --layers 4 --heads 4 --dim 128 --seq 128 --batch 16 --val-every 50 --seed 5"
run 120 train_cuda.log build/decar-cuda train $TR --device cuda --out $OUT/cuda.safetensors
run 240 train_cpu.log build/decar-cuda train $TR --device cpu --out $OUT/cpu.safetensors
a=$(build/decar-cuda eval --model $OUT/cuda.safetensors --data $C --device cuda 2>&1 | grep -o '[0-9.]* bits per byte')
b=$(build/decar-cuda eval --model $OUT/cpu.safetensors --data $C 2>&1 | grep -o '[0-9.]* bits per byte')
if [ -n "$a" ] && awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { d = a - b; exit !(d < 0.01 && d > -0.01) }'; then
  echo "CLI: trained on cuda $a, on cpu $b (within 0.01)"
else echo "FAILED: CLI: cuda '$a' vs cpu '$b'"; fails=$((fails + 1)); fi
build/decar-cuda generate --experts $OUT/cuda.safetensors,$OUT/cpu.safetensors --route uniform --prompt "static " \
  --n 120 --device cuda 2>&1 | tail -3
run 300 bench.log build/bench_device_cuda
echo "gpu_check: $fails failed, $((SECONDS - t0)) s"
exit $fails
