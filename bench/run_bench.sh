#!/bin/bash
# make bench: decar's kernels and end-to-end figures beside OpenBLAS and PyTorch, same machine, same run, 2 threads.
# Needs libopenblas-dev; installs PyTorch 2 from pip into build/torch2 (the main anchor) unless BENCH_INSTALL=0; Debian's
# python3-torch, where installed, gives the older footnote column (apt-get install libopenblas-dev python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
TH=${THREADS:-2}; Q=${QUICK:-}
gcc -std=c99 -O2 -march=native -fopenmp -I/usr/include/x86_64-linux-gnu -o build/bench bench/bench.c bench/bench_cblas.c -lopenblas -lm
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: $TH"
# OpenBLAS at its best core for this CPU: 0.3.21 takes some newer CPUs for "Prescott" (SSE3 kernels, ~5x slower), so
# when the core it picked has no AVX2 while the CPU has, force the core (its DYNAMIC_ARCH build honours
# OPENBLAS_CORETYPE); PyTorch runs under the same setting below
# An OPENBLAS_CORETYPE inherited from the environment is dropped (one development machine exported "Haswell" on an
# AVX-512 CPU, which halves OpenBLAS's GEMM there): the anchor is OpenBLAS's own choice, corrected below when 0.3.21
# gets it wrong. BENCH_CORETYPE=<core> forces a core instead.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "ignoring OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment (BENCH_CORETYPE=<core> sets one)"
  unset OPENBLAS_CORETYPE
fi
if [ -n "${BENCH_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=$BENCH_CORETYPE; fi
CORE=$(OMP_NUM_THREADS=1 ./build/bench corename)
if grep -qw avx512f /proc/cpuinfo; then BEST=SkylakeX; elif grep -qw avx2 /proc/cpuinfo; then
  BEST=$(grep -qm1 AuthenticAMD /proc/cpuinfo && echo Zen || echo Haswell); else BEST=""; fi
# An AVX-512 CPU that 0.3.21 does not know (AMD Zen 4 / Zen 5) gets its AVX2 "Haswell" or "Zen" core, half the
# GEMM speed of its AVX-512 kernels on such a CPU: force SkylakeX there too.
case "$CORE" in
  Prescott|Core2|Penryn|Dunnington|Nehalem|Atom|Katmai|Coppermine|Northwood|Banias|Sandybridge|Barcelona|Opteron*)
    FORCE=1 ;;
  Haswell|Zen) FORCE=$([ "$BEST" = SkylakeX ] && echo 1 || echo 0) ;;
  *) FORCE=0 ;;
esac
if [ "$FORCE" = 1 ] && [ -n "$BEST" ] && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  echo "OpenBLAS took this CPU for $CORE; forcing OPENBLAS_CORETYPE=$BEST"; export OPENBLAS_CORETYPE=$BEST
fi
echo "OpenBLAS core: $(OMP_NUM_THREADS=1 ./build/bench corename)${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)}"
rm -f build/bench_torch*.txt build/bench_sklearn.txt build/bench_decar_r*.txt
OMP_NUM_THREADS=$TH OPENBLAS_NUM_THREADS=$TH ./build/bench $Q | tee build/bench_decar.txt
# a figure of this run: RESULT NAME VALUE lines of decar's, PyTorch's and scikit-learn's benches
get() { # an empty string, not an exit (set -e), for a figure that this run did not make
  { cat build/bench_decar.txt build/bench_torch.txt build/bench_sklearn.txt 2>/dev/null || true; } |
    { grep "^RESULT $1 " || true; } | head -1 | awk '{print $3}'
}
# BLIS (Debian's libblis-dev) as a second GEMM anchor: the same GEMM section linked against BLIS's cblas
if [ ! -e /usr/lib/x86_64-linux-gnu/libblis.so ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  apt-get install -y -q libblis-dev > /dev/null 2>&1 || echo "could not install libblis-dev"
fi
if [ -e /usr/lib/x86_64-linux-gnu/libblis.so ] || [ -e /usr/lib/libblis.so ]; then
  gcc -std=c99 -O2 -march=native -fopenmp -DBENCH_BLIS -I/usr/include/x86_64-linux-gnu -o build/bench_blis bench/bench.c \
    bench/bench_cblas.c -lblis -lm
  OMP_NUM_THREADS=$TH BLIS_NUM_THREADS=$TH ./build/bench_blis $Q gemm | tee build/bench_blis.txt
  echo
  echo "| GEMM (training shapes) | decar / OpenBLAS (GFLOP/s) | ratio | decar / BLIS (GFLOP/s) | ratio |"
  echo "|---|---|---|---|---|"
  # each ratio within one run: decar and the library timed in alternating rounds by the same binary
  join <(grep '^RESULT gemm' build/bench_decar.txt | awk '{print $2, $3, $4, $5}' | sort) \
       <(grep '^RESULT gemm' build/bench_blis.txt | awk '{print $2, $4, $5}' | sort) |
    awk '{ printf "| %s | %.1f / %.1f | %.2fx | %.1f / %.1f | %.2fx |\n", $2, $3, $4, $3 / $4, $5, $6, $5 / $6 }'
else
  echo "SKIP: BLIS column (apt-get install libblis-dev)"
fi
# The machine may be shared, and a neighbour's load can change between decar's model section and PyTorch's. So they
# alternate: ROUNDS (default 2) rounds of each, and each side's best tok/s over its rounds enters the table.
ROUNDS=${ROUNDS:-2}
best() { # the largest value of RESULT $1 in the files after it (empty: none)
  cat "${@:2}" 2>/dev/null | { grep "^RESULT $1 " || true; } | awk '$3 > m || m == "" {m = $3} END {print m}'
}
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch_run() { OMP_WAIT_POLICY=PASSIVE THREADS=$TH OMP_NUM_THREADS=$TH /usr/bin/python3 bench/bench_torch.py $Q; }
  torch_run | tee build/bench_torch.txt
  for r in $(seq 2 "$ROUNDS"); do
    echo "round $r of $ROUNDS: decar's model section, then PyTorch's"
    OMP_NUM_THREADS=$TH OPENBLAS_NUM_THREADS=$TH ./build/bench $Q model > build/bench_decar_r$r.txt
    torch_run > build/bench_torch_r$r.txt
  done
  echo
  echo "footnote: Debian's PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (the bench's own model, hand-written attention), as earlier versions compared"
  echo "| figure | decar (best of $ROUNDS rounds) | PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (OMP_WAIT_POLICY=PASSIVE; best of $ROUNDS) | ratio |"
  echo "|---|---|---|---|"
  for c in S M; do
    for f in train score gen; do
      d=$(best ${f}_$c build/bench_decar.txt build/bench_decar_r*.txt)
      t=$(best torch_${f}_$c build/bench_torch.txt build/bench_torch_r*.txt)
      echo "| $f $c (tok/s) | $d | $t | $(awk -v a=$d -v b=$t 'BEGIN{printf "%.2fx", a/b}') |"
    done
  done
else
  echo "SKIP: PyTorch column (/usr/bin/python3 has no torch)"
fi
# PyTorch 2 from pip, as a user picks it today: its own venv under build/ (never CI's test path; BENCH_INSTALL=0 skips
# the install, TORCH2_PY=path/to/python uses another), SDPA attention, fp32, bf16 autocast where the CPU has BF16, and
# torch.compile. decar's model section and PyTorch 2's alternate for ROUNDS rounds; each side's best enters the table.
T2PY=${TORCH2_PY:-build/torch2/bin/python}
if [ ! -x "$T2PY" ] && [ "${BENCH_INSTALL:-1}" = 1 ] && [ -z "${TORCH2_PY:-}" ]; then
  echo "installing PyTorch 2 from pip into build/torch2 (several GB, once)"
  { python3 -m venv build/torch2 && build/torch2/bin/pip install -q torch numpy; } || echo "could not install PyTorch 2"
fi
if [ -x "$T2PY" ] && "$T2PY" -c "import torch" 2>/dev/null; then
  torch2_run() { OMP_WAIT_POLICY=PASSIVE THREADS=$TH OMP_NUM_THREADS=$TH "$T2PY" bench/bench_torch2.py $Q; }
  rm -f build/bench_torch2*.txt
  torch2_run | tee build/bench_torch2.txt
  for r in $(seq 2 "$ROUNDS"); do
    echo "round $r of $ROUNDS: decar's model section, then PyTorch 2's"
    OMP_NUM_THREADS=$TH OPENBLAS_NUM_THREADS=$TH ./build/bench $Q model > build/bench_decar_r${r}b.txt
    torch2_run > build/bench_torch2_r$r.txt
  done
  for f in build/bench_decar_r*b.txt; do [ -s "$f" ] && { echo "decar's model section, $f:"; cat "$f"; }; done
  v=$(grep -m1 '^PyTorch ' build/bench_torch2.txt | awk '{print $2}' | tr -d ,)
  cols=$(grep -m1 '^PyTorch ' build/bench_torch2.txt | sed 's/.*modes //')
  echo
  echo "| tok/s ($TH threads, best of $ROUNDS rounds) | decar $(grep -m1 'bench: simd' build/bench_decar.txt | awk '{print $2}') fp32 | decar bf16 | PyTorch $v fp32 SDPA | bf16 autocast | bf16 autocast + torch.compile | decar fp32 / PyTorch fp32 | decar bf16 / PyTorch bf16 |"
  echo "|---|---|---|---|---|---|---|---|"
  for row in train_S score_S train_M score_M train_T1 score_T1 train_T2 score_T2; do
    f=${row%_*}; c=${row#*_}
    d=$(best $row build/bench_decar.txt build/bench_decar_r*.txt); db=$(best ${f}_bf16_$c build/bench_decar.txt build/bench_decar_r*.txt)
    t32=$(best torch2_${f}_fp32_$c build/bench_torch2*.txt); tbf=$(best torch2_${f}_bf16_$c build/bench_torch2*.txt)
    tco=$(best torch2_${f}_compile_$c build/bench_torch2*.txt)
    awk -v r="$f $c" -v d="$d" -v e="$db" -v a="$t32" -v b="$tbf" -v k="$tco" 'function x(p, q) { return (p != "" && q != "") ? sprintf("%.2fx", p / q) : "-" }
      function v(p) { return p == "" ? "-" : sprintf("%.0f", p) }
      BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r, v(d), v(e), v(a), v(b), v(k), x(d, a), x(e, b) }'
  done
  echo "(compile: under bf16 autocast where the CPU has BF16, else fp32; T1 / T2: the scaling study's 1 layer d 32 and"
  echo " 2 layers d 64 at batch 16 x 64, decar's share of the FMA peak: T1 $(best peakpct_T1 build/bench_decar.txt build/bench_decar_r*.txt)%, T2 $(best peakpct_T2 build/bench_decar.txt build/bench_decar_r*.txt)%)"
  # the study's models as scripts/scaling.sh trains them: one thread per model (JOBS models at once), so one
  # thread's rate against one thread's FMA peak, decar and PyTorch 2 alternating as above
  echo
  rm -f build/bench_tiny1_*.txt
  for r in $(seq 1 "$ROUNDS"); do
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ./build/bench $Q tiny > build/bench_tiny1_decar_r$r.txt
    OMP_WAIT_POLICY=PASSIVE THREADS=1 OMP_NUM_THREADS=1 CONFIGS=T1,T2 "$T2PY" bench/bench_torch2.py $Q \
      > build/bench_tiny1_torch2_r$r.txt
  done
  for r in $(seq 1 "$ROUNDS"); do echo "round $r of $ROUNDS at one thread:"; cat build/bench_tiny1_decar_r$r.txt build/bench_tiny1_torch2_r$r.txt; done
  echo
  echo "| tok/s, 1 thread (best of $ROUNDS rounds) | decar fp32 | share of one thread's FMA peak | PyTorch $v fp32 SDPA | bf16 autocast | bf16 autocast + torch.compile | decar / PyTorch fp32 |"
  echo "|---|---|---|---|---|---|---|"
  for row in train_T1 score_T1 train_T2 score_T2; do
    f=${row%_*}; c=${row#*_}
    d=$(best $row build/bench_tiny1_decar_r*.txt); t32=$(best torch2_${f}_fp32_$c build/bench_tiny1_torch2_r*.txt)
    tbf=$(best torch2_${f}_bf16_$c build/bench_tiny1_torch2_r*.txt); tco=$(best torch2_${f}_compile_$c build/bench_tiny1_torch2_r*.txt)
    pk=$([ "$f" = train ] && best peakpct_$c build/bench_tiny1_decar_r*.txt || echo "")
    awk -v r="$f $c" -v d="$d" -v p="$pk" -v a="$t32" -v b="$tbf" -v k="$tco" 'function v(q) { return q == "" ? "-" : sprintf("%.0f", q) }
      BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s |\n", r, v(d), p == "" ? "-" : p "%", v(a), v(b), v(k),
              (d != "" && a != "") ? sprintf("%.2fx", d / a) : "-" }'
  done
else
  echo "SKIP: PyTorch 2 columns (no $T2PY with torch; BENCH_INSTALL=1 installs it)"
fi
# quantized weights (decar quantize) for batch-1 generation: tokens/s, against decar's float32 step of the same model,
# and a top-2 ensemble of two quantized experts against one float32 expert
echo
echo "| batch-1 generation | q8_0 tok/s | q8_0 vs f32 | bf16 tok/s | bf16 vs f32 | top-2 q8_0 ensemble vs one f32 expert |"
echo "|---|---|---|---|---|---|"
for c in S M; do
  echo "| $c (f32: $(get gen_$c) tok/s) | $(get gen_q8_0_$c) | $(get gen_q8_0_${c}_x)x | $(get gen_bf16_$c) | $(get gen_bf16_${c}_x)x | $(get ens2_q8_0_${c}_x)x |"
done
# balanced k-means against scikit-learn's plain KMeans: same features, same K, same iteration count
if /usr/bin/python3 -c "import sklearn" 2>/dev/null && [ -s build/kmeans_X.npy ]; then
  OMP_NUM_THREADS=$TH /usr/bin/python3 bench/bench_sklearn.py build/kmeans_X.npy 16 "$(get kmeans_iters)" | tee build/bench_sklearn.txt
  s=$(get sklearn_kmeans); p=$(get sklearn_kmeans_pp); d=$(get kmeans)
  echo
  echo "| k-means, 100,000 x 256, K = 16 | seconds | iterations | ratio (sklearn / decar) |"
  echo "|---|---|---|---|"
  echo "| decar balanced spherical, k-means++ seeding | $d | $(get kmeans_iters) | |"
  echo "| scikit-learn KMeans (lloyd, plain), random init | $s | $(get sklearn_kmeans_iters) | $(awk -v a=$d -v b=$s 'BEGIN{printf "%.2fx", b/a}') |"
  echo "| scikit-learn KMeans (lloyd, plain), k-means++ seeding | $p | $(get sklearn_kmeans_pp_iters) | $(awk -v a=$d -v b=$p 'BEGIN{printf "%.2fx", b/a}') |"
else
  echo "SKIP: scikit-learn anchor for k-means (apt-get install python3-sklearn)"
fi
