#!/bin/bash
# clip_study.sh [OUT=runs/clip-study]: the CLIP encoder pair of the vision study (d_model 96, 2 layers, batch 128)
# trained in several settings side by side on the glyph set, one thread each, JOBS at a time; each one's held-out
# retrieval curve (decar clip --val-every, --log) and its final reading: image -> caption top-1 / top-5, the retrieved
# caption's script, and the image tower alone (each held-out image's nearest training image: its caption, its script).
#   none      no augmentation, 3,500 steps (the setting of the vision study's encoder until 0.6, which ran in fp32)
#   mild      augmentation of 1 px, 5%, strokes a quarter of the time (decar clip's defaults), 3,500 steps
#   mild_s50  mild, with the InfoNCE logit scale starting at 50 instead of CLIP's 1 / 0.07
#   mild_10k  mild, 10,000 steps
#   mild_s50_10k  mild_s50, 10,000 steps
#   mild_s50_d128 mild_s50 with d_model 128 (both towers), 3,500 steps
#   mild_s50_20k  mild_s50, 20,000 steps
#   clip_s50_36k  mild_s50, 36,000 steps, trained after the text tower took CLIP's layout ([EOT text EOT], padded
#                 after; the settings above were trained with 0.6's left-padded texts: their printouts are kept)
#   clip_s50_3600  clip_s50_36k's recipe in a run of 3,600 steps (the reference for the two below)
#   clip_strong_3600  the same with stronger augmentation (2 px, 10%, strokes half the time)
#   clip_p4_3600  the same with an image tower of 4x4-pixel patches (64 positions instead of 16)
#                 (clip_s50_3600 and clip_strong_3600 were made with THREADS=1, clip_p4_3600 with THREADS=2;
#                 validation every 1,200 steps)
#   clip_s50_36k_c10k  clip_s50_36k trained on (decar clip --init: a fresh optimizer) 10,000 more steps at a peak
#                 learning rate of 3e-5 (its warm-up and cosine to a tenth of it), seed 2 (a batch order of its own);
#                 run after the settings above, since it starts from clip_s50_36k's encoder (a setting is skipped when
#                 its printout exists: remove clip_s50_36k_c10k's too when clip_s50_36k is trained again)
# Writes OUT/<name>.csv (the curve), OUT/<name>.log (the final reading), OUT/<name>/ (the encoder, its embeddings and
# patch features), OUT/curves_{top5,script}.svg and OUT/summary.md.
# Environment: GLYPHS (data/glyphs) CONFIGS (all of them, by name) PRECISION (bf16; fp32 from clip_s50_36k) JOBS (2)
# THREADS (1: each run's threads) STEPS (every setting's steps: a quick check)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/clip-study}; GLYPHS=${GLYPHS:-data/glyphs}; PRECISION=${PRECISION:-bf16}; JOBS=${JOBS:-2}; STEPS=${STEPS:-}
THREADS=${THREADS:-1}
CONFIGS=${CONFIGS:-none mild mild_s50 mild_s50_d128 mild_10k mild_s50_10k mild_s50_20k clip_s50_36k clip_s50_3600
clip_strong_3600 clip_p4_3600 clip_s50_36k_c10k}
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
[ -f "$GLYPHS/captions.txt" ] || bash scripts/make_glyphs.sh "$GLYPHS"
mkdir -p $OUT
# settings NAME: label|steps|options
settings() {
  case $1 in
    none) echo "no augmentation, 3,500 steps|3500|--augment 0" ;;
    mild) echo "augmentation 1 px / 5% / strokes 0.25, 3,500 steps|3500|--augment 1" ;;
    mild_s50) echo "augmentation, logit scale from 50, 3,500 steps|3500|--augment 1 --logit-scale 50" ;;
    mild_10k) echo "augmentation, 10,000 steps|10000|--augment 1" ;;
    mild_s50_10k) echo "augmentation, logit scale from 50, 10,000 steps|10000|--augment 1 --logit-scale 50" ;;
    mild_s50_20k) echo "augmentation, logit scale from 50, 20,000 steps|20000|--augment 1 --logit-scale 50" ;;
    clip_s50_36k) echo "CLIP's text layout, augmentation, logit scale from 50, 36,000 steps|36000|--augment 1 \
--logit-scale 50" ;;
    clip_s50_3600) echo "CLIP's text layout, augmentation, logit scale from 50, 3,600 steps|3600|--augment 1 \
--logit-scale 50 --val-every 1200" ;;
    clip_strong_3600) echo "the same, stronger augmentation (2 px, 10%, strokes 0.5)|3600|--augment 1 --augment-shift 2 \
--augment-scale 0.1 --augment-stroke 0.5 --logit-scale 50 --val-every 1200" ;;
    clip_p4_3600) echo "the same, patches of 4x4 pixels (64 image positions)|3600|--augment 1 --logit-scale 50 \
--patch 4 --val-every 1200" ;;
    clip_s50_36k_c10k) echo "clip_s50_36k trained on 10,000 more steps (--init, a peak learning rate of 3e-5)|10000|\
--init $OUT/clip_s50_36k --lr 3e-5 --seed 2 --augment 1" ;;
    mild_s50_d128) echo "augmentation, logit scale from 50, d_model 128, 3,500 steps|3500|--augment 1 --logit-scale 50 --dim 128" ;;
    *) echo "clip_study.sh: unknown setting '$1' (none mild mild_s50 mild_10k mild_s50_10k mild_s50_20k mild_s50_d128" \
         "clip_s50_36k clip_s50_3600 clip_strong_3600 clip_p4_3600 clip_s50_36k_c10k)" >&2; exit 2 ;;
  esac
}
for c in $CONFIGS; do settings $c > /dev/null; done
one() {
  local c=$1 steps opts
  IFS='|' read -r _ steps opts <<< "$(settings $c)"
  steps=${STEPS:-$steps}
  [ -s $OUT/$c.log ] && return 0
  local common="--heads 4 --batch 128"   # and d_model 96, 2 layers unless the setting says otherwise
  [[ " $opts " == *" --dim "* ]] || common="$common --dim 96"
  [[ " $opts " == *" --layers "* ]] || common="$common --layers 2"
  [[ " $opts " == *" --init "* ]] && common="--batch 128"   # the towers are the pair's own
  # validation every tenth of the run unless the setting says
  [[ " $opts " == *" --val-every "* ]] || common="$common --val-every $((steps / 10 > 0 ? steps / 10 : 1))"
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$THREADS $D clip --images $GLYPHS --out $OUT/$c --steps $steps $common \
    --threads $THREADS --precision $PRECISION --quiet 1 --log $OUT/$c.csv \
    $opts --embed $OUT/$c/embed.npy --patches $OUT/$c/patches.npy --figure $OUT/$c/retrieval.svg > $OUT/$c.log.tmp
  mv $OUT/$c.log.tmp $OUT/$c.log
  # the printout and the curve inside the encoder's folder too: vision_scaling.sh ENCODER=OUT/NAME copies them
  cp $OUT/$c.log $OUT/$c/clip.log
  cp $OUT/$c.csv $OUT/$c/clip_curve.csv
}
export -f one settings; export D OUT GLYPHS PRECISION STEPS THREADS
# the settings that start from another one's encoder (--init) after all the others
first=""
later=""
for c in $CONFIGS; do
  if [[ "$(settings $c)" == *"--init "* ]]; then later="$later $c"; else first="$first $c"; fi
done
for group in "$first" "$later"; do
  [ -n "${group// }" ] || continue
  printf '%s\n' $group | xargs -r -P $JOBS -I{} bash -c 'set -euo pipefail; one {}'
done
# a printout without the shares' 95% intervals (an earlier build): the saved encoder read again, in the same precision
# and one thread (the same embeddings to the bit, so the same shares), and the printout replaced
for c in $CONFIGS; do
  grep -q "95% interval" $OUT/$c.log && continue
  OMP_NUM_THREADS=1 $D clip --images $GLYPHS --model $OUT/$c --threads 1 --precision $PRECISION \
    --embed $OUT/$c/embed.npy.tmp > $OUT/$c.log.tmp
  cmp -s $OUT/$c/embed.npy.tmp $OUT/$c/embed.npy ||
    { echo "clip_study.sh: $c read again embeds differently (another build or precision?)" >&2; exit 1; }
  rm $OUT/$c/embed.npy.tmp
  mv $OUT/$c.log.tmp $OUT/$c.log
  cp $OUT/$c.log $OUT/$c/clip.log
done
# each encoder's clusters at K = the number of scripts (labels.txt): spherical balanced k-means, purity and NMI
NL=$( [ -s $GLYPHS/labels.txt ] && sort -u $GLYPHS/labels.txt | grep -c . || echo 0)
for c in $CONFIGS; do
  [ "$NL" -ge 2 ] && [ ! -s $OUT/scripts_$c.log ] || continue
  $D vcluster --images $GLYPHS --out $OUT/scripts_$c --k $NL --seed 1 --features $OUT/$c/embed.npy \
    > $OUT/scripts_$c.log.tmp 2> $OUT/scripts_$c.err
  mv $OUT/scripts_$c.log.tmp $OUT/scripts_$c.log
done
labels=""; files=""
for c in $CONFIGS; do   # the names: the summary says each
  labels="$labels,$c"
  files="$files $OUT/$c.csv"
  IFS='|' read -r _ _ opts <<< "$(settings $c)"
  [[ " $opts " == *" --init "* ]] || continue
  # a setting that trains on another's encoder: its curve plotted after that one's steps (step + its steps)
  from=$(sed 's/.*--init [^ ]*\/\([^ /]*\) .*/\1/' <<< " $opts ")
  IFS='|' read -r _ from_steps _ <<< "$(settings $from)"
  awk -F, -v OFS=, -v off=${STEPS:-$from_steps} 'NR > 1 { $1 += off } { print }' $OUT/$c.csv > $OUT/$c.plot.csv
  files="${files% *} $OUT/$c.plot.csv"
done
for y in top5 script; do
  # shellcheck disable=SC2086
  $D plot --out $OUT/curves_$y.svg --x step --y $y --labels "${labels#,}" \
    --xlabel "encoder training step (128 pairs)" --ylabel "share of the 1,521 held-out images" \
    --title "CLIP encoder: held-out $([ $y = top5 ] && echo "image -> caption top-5" || echo "retrieved caption's script")" \
    $files > /dev/null
done
{ echo "# The CLIP encoder in several settings (scripts/clip_study.sh; up to mild_s50_20k in bf16 on an Intel Xeon," \
    "from clip_s50_36k in fp32 on an AMD EPYC, Zen 3; this printout's precision $PRECISION)"
  echo
  echo "| setting | steps | held-out InfoNCE (least on the curve) | top-1 (95% interval) | top-5 | script (retrieved caption) | nearest training image: caption | its script | clusters at K = scripts: purity, NMI |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for c in $CONFIGS; do
    IFS='|' read -r lab steps _ <<< "$(settings $c)"
    steps=${STEPS:-$steps}
    cl=$( [ -s $OUT/scripts_$c.log ] && sed -n 's/.*purity \([0-9.]*\) NMI \([0-9.]*\).*/\1, \2/p' $OUT/scripts_$c.log || echo -)
    # top-1, top-5 and script with their 95% intervals from the printout, the least held-out loss from the curve
    awk -v lab="$c: $lab" -v st=$steps -v csv=$OUT/$c.csv -v cl="$cl" '
      /^clip retrieval over/ { s = $0; sub(/.*top-1 /, "", s); split(s, w, /[ (),;]+/); t1 = w[1] " (" w[4] ")"
        s = $0; sub(/.*top-5 /, "", s); split(s, w, /[ (),;]+/); t5 = w[1] " (" w[2] ")"
        s = $0; sub(/.*caption.s\) /, "", s); split(s, w, /[ (),;]+/); sc = w[1] " (" w[2] ")" }
      /^RESULT clip_nn_caption/ { nc = $3 } /^RESULT clip_nn_script/ { ns = $3 }
      END { best = ""; while ((getline line < csv) > 0) { split(line, a, ","); if (a[1] == "step") continue
              if (best == "" || a[4] + 0 < best + 0) { best = a[4]; at = a[1] } }
            printf "| %s | %d | %.4f (step %d) | %s | %s | %s | %.1f%% | %.1f%% | %s |\n", lab, st, best, at,
              t1, t5, sc, 100 * nc, 100 * ns, cl }' $OUT/$c.log
  done
  echo
  for c in $CONFIGS; do echo "$c: $(grep "per script" $OUT/$c.log)"; done; } > $OUT/summary.md
cat $OUT/summary.md
