#!/bin/bash
# scaling_report.sh OUT: OUT/scaling.md and OUT/scaling.svg from OUT/scaling.csv and the per-document bits in
# OUT/eval/*.docs (written by scripts/scaling.sh), so the table and the plot can be redrawn without training anything.
#   ratio = held-out bits of the K-expert ensemble / bits of its dense model (same size, init, budget, batch and
#   seed), the mean of the per-seed ratios, with a paired 95% interval from decar compare: a bootstrap over the
#   held-out documents, the same documents for both sides and every seed. Below 1.0 the ensemble wins at equal
#   training FLOPs; a win is measured where the interval's upper end is below 1.0.
#   best-tuned: at each budget, the better batch mode of the dense model against the better batch mode of the
#   ensemble (each chosen by its mean bits over the seeds), paired on the same documents.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scaling_report.sh OUT}
D=${DECAR:-build/decar}
DRAWS=${DRAWS:-1000}
[ -s $OUT/scaling.csv ] || { echo "scaling_report.sh: no $OUT/scaling.csv" >&2; exit 1; }
rm -rf $OUT/cmp $OUT/lines; mkdir -p $OUT/cmp $OUT/lines
# the configurations (size, init, budget, mode, K) and seeds the CSV holds
read -r SEEDS <<< "$(awk -F, 'NR > 1 && !s[$1]++ { printf "%s ", $1 }' $OUT/scaling.csv)"
cfgs=$(awk -F, 'NR > 1 && $14 > 1 { k = $4 ":" $5 ":" $6 " " $3 " " $15 " " $9 " " $14; if (!s[k]++) print k }' $OUT/scaling.csv)
# the mean bits per byte over the seeds of every row, for choosing the best-tuned batch mode
means=$(awk -F, 'NR > 1 { k = $4 ":" $5 ":" $6 "|" $3 "|" $15 "|" $9 "|" $14 "|" $8 "|" $20 "|" $21; m[k] += $23; n[k]++ }
  END { for (k in m) print k "|" m[k] / n[k] }' $OUT/scaling.csv)
# combine SEED DENSE_DOCS ENS_DOCS ROUTER TOPK OUTFILE: a --doc-bits file of the dense model (label dense) and one row
# of the ensemble (label K, or all its rows when ROUTER is -)
combine() {
  { head -1 $2; awk -F, 'NR > 1 { sub(/^[^,]*/, "dense"); print }' $2
    awk -F, -v r=$4 -v t=$5 'NR > 1 && (r == "-" || ($2 == r && $3 == t))' $3; } > $6
}
# 1. every configuration: its ensemble rows against the dense model of the same batch, over the seeds
while read -r s init B mode K; do
  [ -n "$s" ] || continue
  files=""
  for sd in $SEEDS; do
    g=s${sd}_${s//:/x}_${init}_b${B}_$mode
    dn=$OUT/eval/${g}_dense.docs; [ $mode = split ] && dn=$OUT/eval/${g}_dense_k$K.docs
    [ -s $dn ] && [ -s $OUT/eval/${g}_k$K.docs ] || { echo "scaling_report.sh: no per-document bits for $g K=$K" >&2; exit 1; }
    combine $sd $dn $OUT/eval/${g}_k$K.docs - 0 $OUT/cmp/${g}_k$K.docs
    files="$files,$OUT/cmp/${g}_k$K.docs"
  done
  c=$OUT/cmp/${s//:/x}_${init}_b${B}_${mode}_k$K.csv
  $D compare --doc-bits ${files#,} --ref dense --domains 0 --draws $DRAWS --csv $c.tmp > /dev/null
  mv $c.tmp $c
done <<< "$cfgs"
# 2. best-tuned: for each size, init, budget, K and router row, the better mode of each side
rows="top1:1 cbtm:2 bayes:0 oracle:1"
while read -r s init B K; do
  [ -n "$s" ] || continue
  for rt in $rows; do
    r=${rt%:*}; t=${rt#*:}; [ "$t" = 0 ] && t=$K   # all K experts: ens-eval writes top-k K
    pick=$(printf '%s\n' "$means" | awk -F'|' -v s=$s -v i=$init -v B=$B -v K=$K -v r=$r -v t=$t '
      $1 == s && $2 == i && $3 == B && $5 == 1 && $7 == "uniform" { d[$4 "|" $6] = $9 }   # dense: mode|batch
      $1 == s && $2 == i && $3 == B && $5 == K && $7 == r && $8 == t { e[$4] = $9; eb[$4] = $6 }
      END { bd = ""; for (m in e) if (bd == "" || e[m] < e[bd]) bd = m   # the better ensemble mode
            # the dense candidates of this K: mode same, and mode split at the experts batch (BATCH / K)
            dm = ""; for (k in d) { split(k, p, "|"); ok = (p[1] == "same") || (p[2] == eb["split"])
              if (ok && (dm == "" || d[k] < d[dm])) dm = k }
            split(dm, p, "|"); if (bd != "" && dm != "") print p[1], bd }')
    [ -n "$pick" ] || continue
    read -r dmode emode <<< "$pick"
    files=""
    for sd in $SEEDS; do
      gd=s${sd}_${s//:/x}_${init}_b${B}_$dmode; ge=s${sd}_${s//:/x}_${init}_b${B}_$emode
      dn=$OUT/eval/${gd}_dense.docs; [ $dmode = split ] && dn=$OUT/eval/${gd}_dense_k$K.docs
      combine $sd $dn $OUT/eval/${ge}_k$K.docs $r $t $OUT/cmp/best_${gd}_${emode}_k${K}_$r.docs
      files="$files,$OUT/cmp/best_${gd}_${emode}_k${K}_$r.docs"
    done
    c=$OUT/cmp/best_${s//:/x}_${init}_b${B}_k${K}_$r.csv
    $D compare --doc-bits ${files#,} --ref dense --domains 0 --draws $DRAWS --csv $c.tmp > /dev/null
    awk -v dm=$dmode -v em=$emode 'NR == 1 { print $0 ",dense_mode,ens_mode"; next } { print $0 "," dm "," em }' $c.tmp > $c
    rm -f $c.tmp
  done
done <<< "$(printf '%s\n' "$cfgs" | awk '{ k = $1 " " $2 " " $3 " " $5; if (!s[k]++) print k }')"
# 3. the tables and the plot
awk -F, -v lines=$OUT/lines -v seeds="$SEEDS" '
  FNR == 1 { f = FILENAME; sub(/.*\//, "", f); sub(/\.csv$/, "", f); next }
  $4 != "all" || $1 == "dense" { next }
  { best = f ~ /^best_/; g = f; sub(/^best_/, "", g); n = split(g, p, "_")
    s = p[1]; init = p[2]; B = substr(p[3], 2) + 0; K = substr(p[n] ~ /^k/ ? p[n] : p[n - 1], 2) + 0
    mode = best ? "best" : p[4]; r = $2 ":" $3
    key = s "|" init "|" K "|" mode "|" r
    if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
    if (!((s "|" init) in sseen)) { sseen[s "|" init] = 1; si[++nsi] = s "|" init }
    if (!(B in bseen)) { bseen[B] = 1; bs[++nb] = B }
    cell[key, B] = sprintf("%.4f (%.4f-%.4f)", $10, $11, $12); hi[key, B] = $12; lo[key, B] = $11; ratio[key, B] = $10
    if (best) tuned[key, B] = $16 "/" $17
    if ($15 >= 0) agree[key, B] = $15
  }
  function sort_num(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
  END {
    sort_num(bs, nb)
    print "# decar scaling study: ensemble / dense held-out bits per byte against training compute"
    print ""
    printf "Written by scripts/scaling_report.sh from scaling.csv and the per-document bits (seeds: %s). Each cell:\n", seeds
    print "the mean over seeds of ensemble bits / dense bits on the same held-out documents, and its paired 95% interval"
    print "(bootstrap over documents, the same documents for both sides and every seed). Below 1.0 the ensemble wins at"
    print "equal training FLOPs; it wins for sure where the whole interval is below 1.0. Routers: top1 = R1 (the"
    print "paper, one expert per token), cbtm:2 = R3 top-2 (two experts), bayes:K = R4'\'' (all K experts), oracle = each"
    print "document to its best expert in hindsight (a bound on routing whole documents to one expert, not a router)."
    print ""
    for (q = 1; q <= 2; q++) {
      if (q == 1) { print "## Best-tuned: the better batch mode of each side at every budget"; print "" }
      else { print ""; print "## Every batch mode: same = the dense batch for both; split = batch / K for both (experts take as many steps as dense)"; print "" }
      printf "| model | init | K | mode | router |"; for (b = 1; b <= nb; b++) printf " B=%d |", bs[b]; print " measured below 1.0 |"
      printf "|---|---|---|---|---|"; for (b = 1; b <= nb; b++) printf "---|"; print "---|"
      for (i = 1; i <= nk; i++) {
        split(keys[i], k, "|"); if ((q == 1) != (k[4] == "best")) continue
        printf "| %s | %s | %s | %s | %s |", k[1], k[2], k[3], k[4], k[5]
        first = ""
        for (b = 1; b <= nb; b++) {
          c = (keys[i], bs[b]) in cell ? cell[keys[i], bs[b]] : "-"
          if (q == 1 && (keys[i], bs[b]) in tuned) c = c " " tuned[keys[i], bs[b]]
          printf " %s |", c
          if ((keys[i], bs[b]) in hi && hi[keys[i], bs[b]] < 1 && first == "") first = "B=" bs[b]
        }
        print " " (first == "" ? "no" : "yes, first at " first) " |"
        if (q == 1 && (k[5] == "top1:1" || k[5] ~ /^bayes:/ || k[5] == "oracle:1")) {
          file = sprintf("%s/%04d.csv", lines, nl++); print "budget,ratio,lo,hi" > file
          for (b = 1; b <= nb; b++) if ((keys[i], bs[b]) in ratio) print bs[b] "," ratio[keys[i], bs[b]] "," lo[keys[i], bs[b]] "," hi[keys[i], bs[b]] > file
          close(file); label[nl - 1] = sprintf("%s %s K=%s %s", k[1], k[2], k[3], k[5])
        }
      }
    }
    print ""
    print "Best-tuned cells name the batch modes chosen as dense/ensemble (chosen on the same held-out documents the"
    print "interval is computed on: that choice is not in the interval). Training FLOPs of a budget B: scaling.csv"
    print "(train_flops + base_flops, equal for dense and every ensemble of a budget); inference FLOPs per token per"
    print "router: its infer_flops column."
    printf "" > (lines "/labels.txt")
    for (i = 0; i < nl; i++) print label[i] > (lines "/labels.txt")
  }' $OUT/cmp/*.csv > $OUT/scaling.md
[ -s $OUT/lines/labels.txt ] || { echo "scaling_report.sh: no best-tuned line to plot (see $OUT/scaling.md)" >&2; exit 0; }
LABELS=$(paste -sd, $OUT/lines/labels.txt)
$D plot --out $OUT/scaling.svg --x budget --y ratio --band lo,hi --logx 1 --hline 1 --colors 3 \
  --labels "$LABELS" --title "K experts / dense at equal training FLOPs, best-tuned batch (below 1: the ensemble wins)" \
  --xlabel "training budget B (optimizer steps of the dense model; FLOPs = 6 N B batch seq)" \
  --ylabel "ensemble / dense held-out bits per byte (95% band)" $OUT/lines/[0-9]*.csv
{ echo; echo "Plot: scaling.svg (best-tuned; one line per model, init, K and router; shaded: the paired 95% interval;"
  echo "dotted: 1.0)."; } >> $OUT/scaling.md
