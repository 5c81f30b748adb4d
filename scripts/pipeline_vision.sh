#!/bin/bash
# pipeline_vision.sh (make demo-vision): image-conditioned experts on an image-caption set, in the paper's setting.
#   1. decar clip: a contrastive image-text encoder pair trained on the training images and their captions; held-out
#      retrieval; every image's embedding (clustering, routing) and patch features (the captioners' image input)
#   2. decar vcluster twice: spherical balanced k-means of raw pixels and of the encoder's embeddings (purity, NMI)
#   3. decar vtrain: a base captioner on a general share (a random 1/K of the training images), then from it, with
#      equal compute: a dense captioner (all training images, STEPS), K experts per clustering and K random-split
#      experts (STEPS / K each); the encoder is frozen (its patch features are precomputed), projector + LM train
#   4. decar caption: held-out caption bits/byte and exact match per router (R1 top-1 cosine, R2 top-2, R5 learned),
#      per script; a contact sheet
# Environment: GLYPHS OUT K STEPS BASE LAYERS DIM HEADS BATCH JOBS MAXTEST CLIP_STEPS CLIP_DIM CLIP_LAYERS;
# SMALL=1 for a run of a few minutes. Any image-caption directory in the documented format works as GLYPHS.
set -euo pipefail
cd "$(dirname "$0")/.."
D=build/decar
[ -x $D ] || make -s build/decar
#                   K  STEPS BASE LAYERS DIM HEADS BATCH MAXTEST CLIP_STEPS CLIP_DIM CLIP_LAYERS
if [ -n "${SMALL:-}" ]; then DEF="4|120|40|2|64|4|32|200|60|64|1"; else DEF="4|800|300|3|128|4|32|400|600|96|2"; fi
IFS='|' read -r dK dS dBa dL dC dH dB dM dCS dCD dCL <<< "$DEF"
SCRIPT=pipeline_vision.sh; . scripts/env_check.sh   # every setting checked before any work; empty is not unset
env_default K $dK; env_default STEPS $dS; env_default BASE $dBa; env_default LAYERS $dL; env_default DIM $dC
env_default HEADS $dH; env_default BATCH $dB; env_default MAXTEST $dM; env_default JOBS 2
env_default CLIP_STEPS $dCS; env_default CLIP_DIM $dCD; env_default CLIP_LAYERS $dCL
env_default OUT "runs/vision$([ -n "${SMALL:-}" ] && echo -small || true)"
env_int K 1 100000; env_int STEPS 1; env_int BASE 1; env_int LAYERS 1 64; env_int DIM 1 65536; env_int HEADS 1 1024
env_int BATCH 2 4096; env_int MAXTEST 0; env_int JOBS 1 1024; env_int CLIP_STEPS 1; env_int CLIP_DIM 1 65536
env_int CLIP_LAYERS 1 64
[ $((DIM % HEADS)) -eq 0 ] || env_fail "DIM=$DIM must be a multiple of HEADS=$HEADS"
[ -n "$OUT" ] || env_fail "OUT= must name the output folder"
GLYPHS=${GLYPHS:-data/glyphs}
if [ ! -f "$GLYPHS/captions.txt" ]; then echo "building the glyph set in $GLYPHS (Debian fonts; needs root and apt)"; bash scripts/make_glyphs.sh "$GLYPHS"; fi
env_own_out "$OUT"
mkdir -p $OUT/models $OUT/logs $OUT/pixels $OUT/encoder; rm -f $OUT/results.csv
T0=$SECONDS; say() { echo "[vision $((SECONDS - T0))s] $*" >&2; }

say "1. CLIP encoder pair ($CLIP_STEPS steps, d_model $CLIP_DIM, $CLIP_LAYERS layers)"
OMP_NUM_THREADS=$JOBS $D clip --images $GLYPHS --out $OUT/clip --steps $CLIP_STEPS --dim $CLIP_DIM --layers $CLIP_LAYERS \
  --heads 4 --batch 64 --threads $JOBS --quiet 1 --embed $OUT/embed.npy --patches $OUT/patches.npy \
  --figure $OUT/retrieval.svg --val-every $(( CLIP_STEPS / 10 > 0 ? CLIP_STEPS / 10 : 1 )) --log $OUT/clip_curve.csv \
  | tee $OUT/clip.log
# the retrieval curve: held-out image -> caption top-5 and the retrieved caption's script against steps
$D plot --out $OUT/clip_curve.svg --x step --y top5 --labels "image -> caption top-5" --xlabel "encoder training step" \
  --ylabel "share of held-out images" --title "CLIP encoder: held-out retrieval against training steps" \
  $OUT/clip_curve.csv > /dev/null
$D plot --out $OUT/clip_script.svg --x step --y script --labels "retrieved caption's script is right" \
  --xlabel "encoder training step" --ylabel "share of held-out images" \
  --title "CLIP encoder: the script of the retrieved caption against training steps" $OUT/clip_curve.csv > /dev/null

say "2. clustering: raw pixels, then the encoder's image embeddings (K = $K)"
$D vcluster --images $GLYPHS --out $OUT/pixels --k $K | tee $OUT/clusters_pixels.log
$D vcluster --images $GLYPHS --out $OUT/encoder --k $K --features $OUT/embed.npy | tee $OUT/clusters_encoder.log

F="--images $GLYPHS --prefix-features $OUT/patches.npy --prefix-len 16"
M="--layers $LAYERS --dim $DIM --heads $HEADS --batch $BATCH --quiet 1"
ES=$(( STEPS / K > 0 ? STEPS / K : 1 ))
say "3. base captioner ($BASE steps on a random 1/$K of the training images)"
OMP_NUM_THREADS=$JOBS $D vtrain $F $M --subset $OUT/encoder/random_0.txt --steps $BASE --threads $JOBS \
  --out $OUT/models/base.safetensors --log $OUT/logs/base.csv
I="--init $OUT/models/base.safetensors"
say "   fine-tunes from the base: dense ($STEPS steps), 3 x $K experts ($ES steps each), $JOBS at a time"
OMP_NUM_THREADS=$JOBS $D vtrain $F $M $I --steps $STEPS --threads $JOBS --out $OUT/models/dense.safetensors \
  --log $OUT/logs/dense.csv
for k in $(seq 0 $((K - 1))); do
  echo "--subset $OUT/encoder/shard_$k.txt --out $OUT/models/e$k.safetensors --log $OUT/logs/e$k.csv --seed $((101 + k))"
  echo "--subset $OUT/pixels/shard_$k.txt --out $OUT/models/p$k.safetensors --log $OUT/logs/p$k.csv --seed $((101 + k))"
  echo "--subset $OUT/encoder/random_$k.txt --out $OUT/models/r$k.safetensors --log $OUT/logs/r$k.csv --seed $((101 + k))"
done | xargs -P $JOBS -L 1 env OMP_NUM_THREADS=1 $D vtrain $F $M $I --steps $ES --threads 1
list() { for k in $(seq 0 $((K - 1))); do printf "%s$OUT/models/$1$k.safetensors" "$([ $k -gt 0 ] && echo ,)"; done; }

say "4. captioning $MAXTEST held-out images per row"
E="$F --max $MAXTEST --csv $OUT/results.csv --threads $JOBS"
RE="--router $OUT/encoder/vrouter.safetensors --route-features $OUT/embed.npy"
$D caption --experts $OUT/models/base.safetensors --route uniform --label base $E
$D caption --experts $OUT/models/dense.safetensors --route uniform --label dense $E
$D caption --experts $(list e) $RE --route top1 --route-k 1 --oracle 1 --label encoder-clustered $E --sheet $OUT/contact_sheet.svg
$D caption --experts $(list e) $RE --route cosine --route-k 2 --route-temp 0.05 --label encoder-clustered $E
$D caption --experts $(list e) $RE --route learned --route-k 1 --label encoder-clustered $E
$D caption --experts $(list p) --router $OUT/pixels/vrouter.safetensors --route top1 --route-k 1 --label pixel-clustered $E
$D caption --experts $(list p) --router $OUT/pixels/vrouter.safetensors --route cosine --route-k 2 --route-temp 0.05 --label pixel-clustered $E
$D caption --experts $(list r) --route uniform --route-k $K --label random $E

{ echo "# decar vision: image-conditioned experts in the paper's setting (held-out captions)"; echo
  echo "A CLIP-style encoder pair trained by decar ($CLIP_STEPS steps, d_model $CLIP_DIM); captioners read its frozen"
  echo "patch features through a trained projector and are fine-tuned from one base captioner ($BASE steps on a random"
  echo "1/$K of the training images): the dense captioner for $STEPS steps, each of $K experts for $ES steps."
  echo "Lower bits/byte is better."; echo
  echo "$(grep 'clip retrieval' $OUT/clip.log)"; echo
  echo "| clustering features | purity | NMI (vs scripts) |"; echo "|---|---|---|"
  for f in pixels encoder; do
    awk -v f=$f '/vision clusters/ { for (i = 1; i <= NF; i++) { if ($i == "purity") p = $(i + 1); if ($i == "NMI") m = $(i + 1) } printf "| %s | %s | %s |\n", f, p, m }' $OUT/clusters_$f.log
  done; echo
  echo "| model | router | top-k | caption bits/byte | exact match |"; echo "|---|---|---|---|---|"
  awk -F, 'NR > 1 && $4 == "all" { printf "| %s | %s | %s | %.4f | %.1f%% |\n", $1, $2, $3, $5, 100 * $6 }' $OUT/results.csv
  echo; echo "## Per script (bits/byte / exact match)"; echo
  scripts=$(awk -F, 'NR > 1 && $4 != "all" { print $4 }' $OUT/results.csv | awk '!s[$0]++' | tr '\n' ' ')
  printf "| model | router |"; for s in $scripts; do printf " %s |" $s; done; echo
  printf "|---|---|"; for s in $scripts; do printf -- "---|"; done; echo
  awk -F, -v sc="$scripts" 'NR > 1 && $4 != "all" { k = $1 " | " $2 " top-" $3; if (!(k in seen)) { seen[k] = 1; ord[++n] = k } v[k, $4] = sprintf("%.2f / %.0f%%", $5, 100 * $6) }
    END { ns = split(sc, S, " "); for (i = 1; i <= n; i++) { printf "| %s |", ord[i]; for (j = 1; j <= ns; j++) printf " %s |", ((ord[i], S[j]) in v) ? v[ord[i], S[j]] : "-"; printf "\n" } }' $OUT/results.csv
  for f in pixels encoder; do echo; echo "Clusters of the $f features vs scripts: $(head -1 $OUT/$f/vclusters.txt)"; echo; echo '```'; tail -n +2 $OUT/$f/vclusters.txt; echo '```'; done
  echo; echo "Figures: contact_sheet.svg (encoder-clustered experts, R1), retrieval.svg (the encoder's retrieval)"; } > $OUT/results.md
say "done: $OUT/results.md, $OUT/contact_sheet.svg, $OUT/retrieval.svg"
cat $OUT/results.md
