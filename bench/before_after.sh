#!/bin/bash
# bench/before_after.sh BEFORE AFTER [ROUNDS]: a change's speed measured side by side on a shared machine.
# bench/$PROG.c (PROG=step, the default, or gen) is built against decar.h of two commits (git revisions; AFTER may be
# "work" for the working tree) and the two binaries alternate, ROUNDS rounds (default 5) per configuration, so that
# both see the same machine (its speed moves by tens of percent within minutes on a shared VM; two `make bench`
# printouts minutes apart are no before / after). Configurations "name:args:threads", overridable as
# CONFIGS="name:args:threads;...":
#   step (layers heads d_model steps score B T): S train / score and M train / score at 2 threads (the README's S and
#     M, batch 8 x 256), T1 and T2 train at one thread (the scaling study's models, batch 16 x 64, one thread per
#     model as it trains them);
#   gen (layers heads d_model weight type; bench/gen.c runs 1 and 2 threads itself): batch-1 generation of S and M,
#     one expert and a top-2 ensemble, float32 and Q8_0.
# Prints every round's lines ("round R before|after: ...") under a "## NAME" header.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: [PROG=step|gen] bench/before_after.sh BEFORE AFTER [ROUNDS]}; AFTER=${2:?}; ROUNDS=${3:-5}
PROG=${PROG:-step}
case $PROG in
  step)
    DEFAULT="S train:4 4 256 4 0:2;S score:4 4 256 8 1:2;M train:6 6 384 3 0:2;M score:6 6 384 6 1:2"
    DEFAULT="$DEFAULT;T1 train:1 2 32 1500 0 16 64:1;T2 train:2 2 64 400 0 16 64:1" ;;
  gen) DEFAULT="S f32:4 4 256 f32:2;S q8_0:4 4 256 q8_0:2;M f32:6 6 384 f32:2;M q8_0:6 6 384 q8_0:2" ;;
  *) echo "PROG=$PROG: step or gen" >&2; exit 2 ;;
esac
CONFIGS=${CONFIGS:-$DEFAULT}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
for side in before after; do
  rev=$([ $side = before ] && echo "$BEFORE" || echo "$AFTER")
  mkdir -p "$D/$side"
  if [ "$rev" = work ]; then cp decar.h "$D/$side/decar.h"; else git show "$rev:decar.h" > "$D/$side/decar.h"; fi
  # the program includes "../decar.h": a copy of it one level below the header's folder
  mkdir -p "$D/$side/bench"
  cp "bench/$PROG.c" bench/clock.h "$D/$side/bench/"
  gcc -std=c99 -O2 -march=native -fopenmp -o "$D/$side/$PROG" "$D/$side/bench/$PROG.c" -lm
done
echo "# bench/$PROG.c built with gcc -std=c99 -O2 -march=native -fopenmp from decar.h at $BEFORE (before) and $AFTER"
simd=other
if grep -qw avx512f /proc/cpuinfo; then simd=avx512; elif grep -qw avx2 /proc/cpuinfo; then simd=avx2+fma; fi
echo "# (after), alternating, $ROUNDS rounds; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(nproc) cores, $simd"
IFS=';' read -ra cfgs <<< "$CONFIGS"
for c in "${cfgs[@]}"; do
  IFS=':' read -r name args th <<< "$c"
  echo "## $name: $PROG $args (OMP_NUM_THREADS=$th)"
  for r in $(seq 1 "$ROUNDS"); do
    for side in before after; do
      # a failing program stops the script (set -e, pipefail)
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=$th "$D/$side/$PROG" $args | sed "s/^/round $r $side: /"
    done
  done
done
