#!/bin/bash
# make bench: decar's kernels and end-to-end figures beside OpenBLAS and PyTorch, same machine, same run, 2 threads.
# Needs libopenblas-dev (and python3-torch for the PyTorch column: apt-get install libopenblas-dev python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
TH=${THREADS:-2}; Q=${QUICK:-}
gcc -std=c99 -O2 -march=native -fopenmp -I/usr/include/x86_64-linux-gnu -o build/bench bench/bench.c bench/bench_cblas.c -lopenblas -lm
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: $TH"
OMP_NUM_THREADS=$TH OPENBLAS_NUM_THREADS=$TH ./build/bench $Q | tee build/bench_decar.txt
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  OMP_WAIT_POLICY=PASSIVE THREADS=$TH OMP_NUM_THREADS=$TH /usr/bin/python3 bench/bench_torch.py $Q | tee build/bench_torch.txt
  echo
  echo "| figure | decar | PyTorch 1.13 (OMP_WAIT_POLICY=PASSIVE) | ratio |"
  echo "|---|---|---|---|"
  get() { grep "^RESULT $1 " build/bench_decar.txt build/bench_torch.txt | head -1 | awk '{print $3}'; }
  for c in S M; do
    for f in train score gen; do
      d=$(get ${f}_$c); t=$(get torch_${f}_$c)
      echo "| $f $c (tok/s) | $d | $t | $(awk -v a=$d -v b=$t 'BEGIN{printf "%.2fx", a/b}') |"
    done
  done
else
  echo "SKIP: PyTorch column (/usr/bin/python3 has no torch)"
fi
