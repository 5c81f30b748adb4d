#!/bin/bash
# clip_augment.sh [OUT=runs/clip-augment]: the CLIP encoder pair of the vision study (d_model 96, 2 layers, 3,500 steps
# of 128 pairs) trained twice on the glyph set, without and with augmentation (decar clip --augment 0 / 1), one thread
# each, side by side; the held-out retrieval curves (top-5, the retrieved caption's script) in OUT/curves_*.svg.
# Environment: GLYPHS (data/glyphs) STEPS (3500) BATCH (128)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/clip-augment}; GLYPHS=${GLYPHS:-data/glyphs}; STEPS=${STEPS:-3500}; BATCH=${BATCH:-128}
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
[ -f "$GLYPHS/captions.txt" ] || bash scripts/make_glyphs.sh "$GLYPHS"
mkdir -p $OUT
for a in 0 1; do
  OMP_NUM_THREADS=1 $D clip --images $GLYPHS --out $OUT/a$a --steps $STEPS --dim 96 --layers 2 --heads 4 \
    --batch $BATCH --threads 1 --quiet 1 --val-every $((STEPS / 10)) --log $OUT/a$a.csv --augment $a \
    --embed $OUT/a$a/embed.npy --patches $OUT/a$a/patches.npy --figure $OUT/a$a/retrieval.svg > $OUT/a$a.log &
done
wait
for y in top5 script; do
  $D plot --out $OUT/curves_$y.svg --x step --y $y --labels "no augmentation,augmentation: shift / scale / stroke" \
    --xlabel "encoder training step ($BATCH pairs)" --ylabel "share of the held-out images" \
    --title "CLIP encoder: held-out $([ $y = top5 ] && echo "image -> caption top-5" || echo "retrieved caption's script")" \
    $OUT/a0.csv $OUT/a1.csv > /dev/null
done
grep -h "clip retrieval\|per script" $OUT/a0.log $OUT/a1.log
