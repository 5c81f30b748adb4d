#!/bin/bash
# bench/clip_before_after.sh BEFORE AFTER [ROUNDS] [STEPS]: the CLIP encoder's training speed at two commits, side by
# side. The CLI (examples/decar.c with decar.h) is built at each commit (git revisions; AFTER may be "work" for the
# working tree) and the two binaries alternate, ROUNDS rounds (default 3), each `decar clip` of STEPS steps (default
# 200) in the vision study's setting (d_model 96, 2 layers, 4 heads, batch 128 augmented pairs, logit scale from 50,
# float32) on the glyph set (GLYPHS, default data/glyphs), THREADS threads (default 1). Prints each round's pairs/s
# (the progress line's last reading: the steps alone, no held-out evaluation in between) and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: bench/clip_before_after.sh BEFORE AFTER [ROUNDS] [STEPS]}; AFTER=${2:?}
ROUNDS=${3:-3}; STEPS=${4:-200}; GLYPHS=${GLYPHS:-data/glyphs}; THREADS=${THREADS:-1}
[ -f "$GLYPHS/captions.txt" ] || bash scripts/make_glyphs.sh "$GLYPHS"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
for side in before after; do
  rev=$([ $side = before ] && echo "$BEFORE" || echo "$AFTER")
  mkdir -p "$D/$side/examples"
  for f in decar.h examples/decar.c examples/svg.h; do
    if [ "$rev" = work ]; then cp $f "$D/$side/$f"; else git show "$rev:$f" > "$D/$side/$f"; fi
  done
  gcc -std=c11 -O2 -march=native -fopenmp -o "$D/$side/decar" "$D/$side/examples/decar.c" -lm
done
echo "# decar clip built with gcc -std=c11 -O2 -march=native -fopenmp from $BEFORE (before) and $AFTER (after),"
echo "# alternating, $ROUNDS rounds of $STEPS steps, $THREADS thread(s); CPU: $(grep -m1 'model name' /proc/cpuinfo |
  cut -d: -f2 | xargs), $(nproc) cores"
for r in $(seq 1 "$ROUNDS"); do
  for side in before after; do
    OMP_NUM_THREADS=$THREADS "$D/$side/decar" clip --images "$GLYPHS" --out "$D/enc_$side" --steps "$STEPS" --dim 96 \
      --layers 2 --heads 4 --batch 128 --augment 1 --logit-scale 50 --threads "$THREADS" --precision fp32 \
      --val-every 0 \
      > /dev/null 2> "$D/err"
    ps=$(tr '\r' '\n' < "$D/err" | grep 'pairs/s' | tail -1 | sed 's/.*| *\([0-9.]*\) pairs\/s.*/\1/')
    echo "round $r $side: $ps pairs/s"
    echo "$ps" >> "$D/$side.txt"
  done
done
for side in before after; do
  med=$(sort -n "$D/$side.txt" |
    awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
  echo "median $side: $med pairs/s"
done
