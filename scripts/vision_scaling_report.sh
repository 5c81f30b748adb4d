#!/bin/bash
# vision_scaling_report.sh OUT: OUT/vision_scaling.md, .csv and .svg from the per-image bits that
# scripts/vision_scaling.sh wrote (OUT/eval/s<seed>_b<budget>.docs, decar caption --doc-bits), so the tables and the
# plot can be redrawn without training anything. Every interval is decar compare's: a bootstrap over the held-out
# images, the same images for both sides of a ratio and every seed, the estimate the mean of the per-seed values.
#   ratio to dense   = ensemble caption bits / dense caption bits (below 1.0: the experts win at equal compute)
#   ratio to random  = encoder-clustered experts' bits / the random split's bits at the same K and budget
#   exact match      = the share of images whose greedy caption is the caption (compare over 0/1 per image)
# Environment (from vision_scaling.sh): SEEDS BUDGETS DENSE_BUDGETS (the dense captioner alone) KS BATCH BASE N (the captioner's parameters) GLYPHS
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: vision_scaling_report.sh OUT}
D=${DECAR:-build/decar}
DRAWS=${DRAWS:-1000}
: "${SEEDS:?}" "${BUDGETS:?}" "${KS:?}" "${BATCH:?}" "${BASE:?}" "${N:?}" "${GLYPHS:?}"
rm -rf $OUT/cmp; mkdir -p $OUT/cmp
# training FLOPs of a budget: 6 N per token, tokens = steps x batch x (16 image positions + the mean caption + EOT);
# the base's BASE steps come on top of every row alike
TOKS=$(LC_ALL=C awk -v B=$BATCH '{ sub(/\r$/, ""); s += length($0) + 17; n++ } END { printf "%.1f", B * s / n }' \
  $GLYPHS/captions.txt)
DENSE_BUDGETS=${DENSE_BUDGETS:-}
for B in $BUDGETS $DENSE_BUDGETS; do
  files=""; xfiles=""
  for sd in $SEEDS; do
    f=$OUT/eval/s${sd}_b$B.docs
    [ -s $f ] || { echo "vision_scaling_report.sh: no $f" >&2; exit 1; }
    files="$files,$f"
    # exact match as compare's statistic: bits = 1 when exact, bytes = 1, against a row "one" of ones
    # (the last five fields are bytes,bits,choice,route,exact: counted from the end, a quoted domain may hold commas)
    awk -F, 'NR == 1 { print; next } { n = split($0, a, ","); line = a[1]; for (i = 2; i <= n; i++) {
        v = a[i]; if (i == n - 4) v = 1; if (i == n - 3) v = a[n]; line = line "," v }; print line }
      NR > 1 && $1 == "dense" { n = split($0, a, ","); d = a[4]; for (i = 5; i <= n - 5; i++) d = d "," a[i]
        ones[++m] = d }
      END { for (i = 1; i <= m; i++) print "one,uniform,1," ones[i] ",1,1,-1,-,1" }' $f > $OUT/cmp/x_s${sd}_b$B.docs
    xfiles="$xfiles,$OUT/cmp/x_s${sd}_b$B.docs"
  done
  $D compare --doc-bits ${files#,} --ref dense --domains 0 --draws $DRAWS --csv $OUT/cmp/b$B.csv \
    --out $OUT/cmp/b$B.md > /dev/null
  $D compare --doc-bits ${xfiles#,} --ref one --domains 0 --draws $DRAWS --csv $OUT/cmp/x_b$B.csv > /dev/null
  [[ " $DENSE_BUDGETS " == *" $B "* ]] && continue
  for K in $KS; do   # clustered against random at the same K: the rows of encK and rndK only
    kf=""
    for sd in $SEEDS; do
      awk -F, -v e=enc$K -v r=rnd$K 'NR == 1 || $1 == r || $1 == e' $OUT/eval/s${sd}_b$B.docs \
        > $OUT/cmp/k${K}_s${sd}_b$B.docs
      kf="$kf,$OUT/cmp/k${K}_s${sd}_b$B.docs"
    done
    $D compare --doc-bits ${kf#,} --ref rnd$K --domains 0 --draws $DRAWS --csv $OUT/cmp/k${K}_b$B.csv > /dev/null
  done
done
# one CSV: every row of every budget, its ratio to dense, to the random split of its K, and its exact match
{ echo "budget,train_flops,model,router,topk,seeds,images,bits_per_byte,bpb_lo,bpb_hi,ratio_dense,ratio_dense_lo,ratio_dense_hi,seed_ratio_min,seed_ratio_max,agree_oracle,exact,exact_lo,exact_hi,ratio_random,ratio_random_lo,ratio_random_hi"
  for B in $BUDGETS $DENSE_BUDGETS; do
    awk -F, -v B=$B -v fl=$(awk -v N=$N -v B=$B -v t=$TOKS 'BEGIN { printf "%.4e", 6 * N * B * t }') '
      FILENAME ~ /\/x_b[0-9]+\.csv$/ { if (FNR > 1) ex[$1 "|" $2 "|" $3] = $7 "," $8 "," $9; next }
      FILENAME ~ /\/k[0-9]+_b[0-9]+\.csv$/ { if (FNR > 1 && $1 ~ /^enc/) rr[$1 "|" $2 "|" $3] = $10 "," $11 "," $12; next }
      FILENAME ~ /\/b[0-9]+\.csv$/ && FNR > 1 { row[++n] = $0; key[n] = $1 "|" $2 "|" $3 }
      END { for (i = 1; i <= n; i++) { split(row[i], a, ",")
              printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", B, fl, a[1], a[2], a[3], a[5], a[6],
                a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15],
                (key[i] in ex) ? ex[key[i]] : "-,-,-", (key[i] in rr) ? rr[key[i]] : "-,-,-" } }' \
      $OUT/cmp/x_b$B.csv $(ls $OUT/cmp/k*_b$B.csv 2>/dev/null) $OUT/cmp/b$B.csv
  done; } > $OUT/vision_scaling.csv.tmp
mv $OUT/vision_scaling.csv.tmp $OUT/vision_scaling.csv
# the tables
# the encoder's retrieval and its clusters at K = the number of scripts (when the run has them)
ENC=""
if [ -s $OUT/clip.log ]; then
  ENC="Held-out retrieval (decar clip, $(grep -o "over [0-9]* held-out images" $OUT/clip.log | head -1 || true)): $( \
    grep -o "image -> caption top-1 .*" $OUT/clip.log | head -1 || true). $(grep "per script" $OUT/clip.log | head -1 ||
    true)"
fi
for fs in encoder pixels; do
  [ -s $OUT/scripts_$fs.log ] && ENC="$ENC${ENC:+ }Clusters of the $fs features: $(head -1 $OUT/scripts_$fs.log | \
    sed 's/^vision clusters: //; s/;.*//')."
done
awk -F, -v seeds="$SEEDS" -v base=$BASE -v batch=$BATCH -v N=$N -v enc="$ENC" '
  NR == 1 { next }
  { B = $1; if (!(B in bs)) { bs[B] = 1; bl[++nb] = B; fl[B] = $2 }
    k = $3 "|" $4 "|" $5; if (!(k in ks)) { ks[k] = 1; kl[++nk] = k }
    bpb[k, B] = sprintf("%.4f (%.4f-%.4f)", $8, $9, $10); img = $7
    if ($3 != "dense") rd[k, B] = sprintf("%.4f (%.4f-%.4f)", $11, $12, $13)
    ex[k, B] = $17 == "-" ? "-" : sprintf("%.1f%% (%.1f-%.1f)", 100 * $17, 100 * $18, 100 * $19)
    if ($20 != "-") rr[k, B] = sprintf("%.4f (%.4f-%.4f)", $20, $21, $22)
    if ($16 != "" && $16 + 0 >= 0) ag[k, B] = sprintf("%.1f%%", 100 * $16) }
  function name(k,   p) { split(k, p, "|")
    m = p[1] ~ /^enc/ ? "encoder clusters, K = " substr(p[1], 4) : p[1] ~ /^rnd/ ? "random split, K = " substr(p[1], 4) : p[1]
    r = p[2] == "top1" ? "R1 top-1" : p[2] == "cosine" ? "R2 top-" p[3] : p[2] == "learned" ? "R5 top-" p[3] : p[2] == "oracle" ? "oracle" : p[2] == "uniform" ? (p[1] == "dense" ? "-" : "uniform, all " p[3]) : p[2] " top-" p[3]
    return m " | " r }
  # a table of cells c[row, budget]: the rows that have a cell at some budget, "-" where one is missing
  function table(title, c, note,   i, b, any) {
    print "## " title; print ""; if (note != "") { print note; print "" }
    printf "| model | router |"; for (b = 1; b <= nb; b++) printf " B=%d |", bl[b]; print ""
    printf "|---|---|"; for (b = 1; b <= nb; b++) printf "---|"; print ""
    for (i = 1; i <= nk; i++) {
      any = 0; for (b = 1; b <= nb; b++) if ((kl[i], bl[b]) in c) any = 1
      if (!any) continue
      printf "| %s |", name(kl[i]); for (b = 1; b <= nb; b++) printf " %s |", ((kl[i], bl[b]) in c) ? c[kl[i], bl[b]] : "-"
      print ""
    }
    print "" }
  END {
    print "# Vision line of the scaling study: image-conditioned experts against a dense captioner"
    print ""
    printf "Written by scripts/vision_scaling_report.sh from the per-image caption bits (decar caption --doc-bits) of\n"
    printf "%d held-out images, seeds %s. B = the training budget in optimizer steps of %d images: the dense captioner\n", img, seeds, batch
    printf "takes B steps on every training image, each of K experts B / K steps on its share, all fine-tuned from the\n"
    printf "same base captioner (%d steps, one per seed); training FLOPs = 6 N x tokens with N = %d parameters per\n", base, N
    printf "captioner (the column train_flops of vision_scaling.csv). Each cell: the mean over seeds, and its 95%%\n"
    printf "interval from a bootstrap over the held-out images (the same images for both sides of a ratio, every seed).\n"
    print ""
    if (enc != "") { print "## The encoder"; print ""; print enc; print "" }
    table("Held-out caption bits per byte", bpb)
    table("Ensemble / dense (below 1.0: the experts win at equal training compute)", rd)
    table("Encoder clusters / random split at the same K (below 1.0: clustering helps)", rr,
          "Each encoder-clustered row against the random split'\''s uniform mixture of all K experts.")
    table("Exact match: the greedy caption is the caption", ex)
    table("The router'\''s top-1 expert is the oracle'\''s (share of images)", ag)
    print "Training FLOPs per budget:"; print ""
    for (b = 1; b <= nb; b++) printf("%sB=%d: %s", (b > 1 ? "; " : ""), bl[b], fl[bl[b]]); print ""
  }' $OUT/vision_scaling.csv > $OUT/vision_scaling.md
# the plot: ensemble / dense against training FLOPs, per K: encoder clusters under R2 and the oracle, random uniform
rm -rf $OUT/lines; mkdir -p $OUT/lines; labels=""; i=0
for K in $KS; do
  for rt in "enc$K:cosine:encoder K=$K R2 top-2" "enc$K:oracle:encoder K=$K oracle" "rnd$K:uniform:random K=$K uniform"; do
    IFS=: read -r m r lab <<< "$rt"
    awk -F, -v m=$m -v r=$r 'NR == 1 { print "train_flops,ratio,lo,hi"; next }
      $3 == m && $4 == r { print $2 "," $11 "," $12 "," $13 }' $OUT/vision_scaling.csv > $OUT/lines/$(printf %03d $i).csv
    labels="$labels,$lab"; i=$((i + 1))
  done
done
$D plot --out $OUT/vision_scaling.svg --x train_flops --y ratio --band lo,hi --logx 1 --hline 1 --colors 3 \
  --labels "${labels#,}" --title "Image-conditioned experts / dense captioner at equal training FLOPs" \
  --xlabel "training FLOPs (6 N x tokens)" --ylabel "ensemble / dense held-out caption bits per byte (95% band)" \
  $OUT/lines/[0-9]*.csv > /dev/null
{ echo; echo "Plot: vision_scaling.svg (one line per K and row; shaded: the paired 95% interval; dotted: 1.0)."; } \
  >> $OUT/vision_scaling.md
for f in $OUT/sheet_*.svg; do
  [ -s "$f" ] && echo "Contact sheet ($(basename $f)): the first held-out images with the greedy caption of $( \
    case $f in *dense*) echo "the dense captioner" ;; *) echo "the encoder-clustered experts under R1" ;; esac), first" \
    "seed, largest budget." >> $OUT/vision_scaling.md
done
exit 0
