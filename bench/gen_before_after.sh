#!/bin/bash
# bench/gen_before_after.sh BEFORE AFTER [ROUNDS]: batch-1 generation (bench/gen.c: one expert and a top-2 ensemble
# of two, at 1 and 2 threads) built against decar.h of two commits (git revisions; AFTER may be "work" for the working
# tree), the two binaries alternating, ROUNDS rounds (default 3) per configuration: on a shared VM only side-by-side
# runs compare. Configurations "name:layers heads d_model:weight type", overridable as CONFIGS="...;...": S and M
# (the README's) with float32 and Q8_0 weights. Prints every round's lines ("round R NAME before|after: ...").
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: bench/gen_before_after.sh BEFORE AFTER [ROUNDS]}; AFTER=${2:?}; ROUNDS=${3:-3}
CONFIGS=${CONFIGS:-"S f32:4 4 256:f32;S q8_0:4 4 256:q8_0;M f32:6 6 384:f32;M q8_0:6 6 384:q8_0"}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
for side in before after; do
  rev=$([ $side = before ] && echo "$BEFORE" || echo "$AFTER")
  mkdir -p "$D/$side/bench"
  if [ "$rev" = work ]; then cp decar.h "$D/$side/decar.h"; else git show "$rev:decar.h" > "$D/$side/decar.h"; fi
  cp bench/gen.c bench/clock.h "$D/$side/bench/" # gen.c includes "../decar.h"
  gcc -std=c99 -O2 -march=native -fopenmp -o "$D/$side/gen" "$D/$side/bench/gen.c" -lm
done
simd=other
if grep -qw avx512f /proc/cpuinfo; then simd=avx512; elif grep -qw avx2 /proc/cpuinfo; then simd=avx2+fma; fi
echo "# bench/gen.c, two builds side by side: before = decar.h of $BEFORE, after = $AFTER"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $simd; $ROUNDS rounds, builds" \
  "alternating"
echo "# gcc -std=c99 -O2 -march=native -fopenmp -o build/gen bench/gen.c -lm (and the same with the other header)"
IFS=';' read -ra cfgs <<< "$CONFIGS"
for c in "${cfgs[@]}"; do
  IFS=':' read -r name shape qt <<< "$c"
  for r in $(seq 1 "$ROUNDS"); do
    for side in before after; do
      # shellcheck disable=SC2086
      "$D/$side/gen" $shape "$qt" | sed "s/^/round $r $name $side: /"
    done
  done
done
