#!/bin/bash
# pipeline_vision.sh (make demo-vision): image-conditioned experts on the glyph image-caption set.
#   1. decar vcluster: raw-pixel features -> spherical balanced k-means -> shards + router (+ random split)
#   2. one captioner per shard (independent processes), a dense captioner with the same total steps, a random split
#   3. decar caption: held-out caption bits/byte and exact match, per script; an SVG contact sheet
# Environment: GLYPHS OUT K STEPS LAYERS DIM HEADS BATCH JOBS MAXTEST; SMALL=1 for a 2-minute run.
set -euo pipefail
cd "$(dirname "$0")/.."
D=build/decar
[ -x $D ] || make -s build/decar
GLYPHS=${GLYPHS:-data/glyphs}
if [ ! -f "$GLYPHS/captions.txt" ]; then echo "building the glyph set in $GLYPHS (Debian fonts; needs root and apt)"; bash scripts/make_glyphs.sh "$GLYPHS"; fi
if [ -n "${SMALL:-}" ]; then DEF="4|120|2|64|4|32|200"; else DEF="4|900|3|128|4|32|400"; fi
IFS='|' read -r dK dS dL dC dH dB dM <<< "$DEF"
K=${K:-$dK}; STEPS=${STEPS:-$dS}; LAYERS=${LAYERS:-$dL}; DIM=${DIM:-$dC}; HEADS=${HEADS:-$dH}; BATCH=${BATCH:-$dB}; MAXTEST=${MAXTEST:-$dM}; JOBS=${JOBS:-2}
OUT=${OUT:-runs/vision$([ -n "${SMALL:-}" ] && echo -small || true)}
mkdir -p $OUT/models $OUT/logs; rm -f $OUT/results.csv
T0=$SECONDS; say() { echo "[vision $((SECONDS - T0))s] $*" >&2; }
M="--layers $LAYERS --dim $DIM --heads $HEADS --batch $BATCH --quiet 1"
say "clustering"
$D vcluster --images $GLYPHS --out $OUT --k $K | tee $OUT/clusters.log
ES=$(( STEPS / K > 0 ? STEPS / K : 1 ))
say "dense captioner ($STEPS steps), then $K clustered + $K random-split experts ($ES steps each), $JOBS at a time"
OMP_NUM_THREADS=$JOBS $D vtrain --images $GLYPHS $M --steps $STEPS --threads $JOBS --out $OUT/models/dense.safetensors --log $OUT/logs/dense.csv
for k in $(seq 0 $((K - 1))); do
  echo "--subset $OUT/shard_$k.txt --out $OUT/models/c$k.safetensors --log $OUT/logs/c$k.csv --seed $((101 + k))"
  echo "--subset $OUT/random_$k.txt --out $OUT/models/r$k.safetensors --log $OUT/logs/r$k.csv --seed $((101 + k))"
done | xargs -P $JOBS -L 1 env OMP_NUM_THREADS=1 $D vtrain --images $GLYPHS $M --steps $ES --threads 1
C=$(for k in $(seq 0 $((K - 1))); do printf "%s$OUT/models/c$k.safetensors" "$([ $k -gt 0 ] && echo ,)"; done)
R=$(for k in $(seq 0 $((K - 1))); do printf "%s$OUT/models/r$k.safetensors" "$([ $k -gt 0 ] && echo ,)"; done)
say "captioning $MAXTEST held-out images per row"
E="--images $GLYPHS --max $MAXTEST --csv $OUT/results.csv --threads $JOBS"
$D caption --experts $OUT/models/dense.safetensors --route uniform --label dense $E
$D caption --experts $C --router $OUT/vrouter.safetensors --route top1 --route-k 1 --label clustered $E --sheet $OUT/contact_sheet.svg
$D caption --experts $C --router $OUT/vrouter.safetensors --route cosine --route-k 2 --label clustered $E
$D caption --experts $R --route uniform --route-k $K --label random $E
{ echo "# decar vision: image-conditioned experts on the glyph set (held-out captions)"; echo
  echo "Held-out images are unseen renderings (another font) of characters seen in training. Lower bits/byte is better."; echo
  echo "| model | router | top-k | caption bits/byte | exact match |"; echo "|---|---|---|---|---|"
  awk -F, 'NR > 1 && $4 == "all" { printf "| %s | %s | %s | %.4f | %.1f%% |\n", $1, $2, $3, $5, 100 * $6 }' $OUT/results.csv
  echo; echo "## Per script (bits/byte / exact match)"; echo
  scripts=$(awk -F, 'NR > 1 && $4 != "all" { print $4 }' $OUT/results.csv | awk '!s[$0]++' | tr '\n' ' ')
  printf "| model | router |"; for s in $scripts; do printf " %s |" $s; done; echo
  printf "|---|---|"; for s in $scripts; do printf -- "---|"; done; echo
  awk -F, -v sc="$scripts" 'NR > 1 && $4 != "all" { k = $1 " | " $2 " top-" $3; if (!(k in seen)) { seen[k] = 1; ord[++n] = k } v[k, $4] = sprintf("%.2f / %.0f%%", $5, 100 * $6) }
    END { ns = split(sc, S, " "); for (i = 1; i <= n; i++) { printf "| %s |", ord[i]; for (j = 1; j <= ns; j++) printf " %s |", ((ord[i], S[j]) in v) ? v[ord[i], S[j]] : "-"; printf "\n" } }' $OUT/results.csv
  echo; echo "Clusters vs scripts: $(head -1 $OUT/vclusters.txt)"; echo; echo '```'; tail -n +2 $OUT/vclusters.txt; echo '```'
  echo; echo "Contact sheet: contact_sheet.svg"; } > $OUT/results.md
say "done: $OUT/results.md, $OUT/contact_sheet.svg"
cat $OUT/results.md
