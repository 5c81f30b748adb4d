#!/bin/bash
# scaling_report.sh OUT: OUT/scaling.md and OUT/scaling.svg from OUT/scaling.csv alone (written by scripts/scaling.sh),
# so the table and the plot can be redrawn, or a seed added, without training anything.
# ratio = bits/byte of the K-expert ensemble / bits/byte of the dense model of the same size, init, budget and seed;
# averaged over the seeds in the CSV (mean, and the seed-to-seed standard deviation when there are two or more).
# Each line is fitted by least squares as ratio = a + b log10(FLOPs) over its three largest budgets (where it is
# heading; small budgets are a different regime); where the measured ratios stay above 1.0 and b < 0, the fit's
# crossing 10^((1 - a) / b) says at what training compute the line would reach 1.0 (up to 1000x the largest budget).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scaling_report.sh OUT}
D=${DECAR:-build/decar}
[ -s $OUT/scaling.csv ] || { echo "scaling_report.sh: no $OUT/scaling.csv" >&2; exit 1; }
rm -rf $OUT/lines; mkdir -p $OUT/lines
awk -F, -v lines=$OUT/lines '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  {
    sd = $col["seed"]; init = $col["init"]; sz = $col["layers"] "L d" $col["dim"]; K = $col["K"] + 0
    B = $col["budget_steps"] + 0
    if (!(sz in seen_sz)) { seen_sz[sz] = 1; szs[++nsz] = sz; params[sz] = $col["params"] }
    if (!(K in seen_k) && K > 1) { seen_k[K] = 1; ks[++nk] = K }
    if (!(B in seen_b)) { seen_b[B] = 1; bs[++nb] = B }
    if (!(sd in seen_sd)) { seen_sd[sd] = 1; nsd++ }
    bpb[sd, init, sz, K, B] = $col["bits_per_byte"]   # a rerun of the same row: the last one counts
    flops[init, sz, B] = $col["train_flops"] + $col["base_flops"]
    seeds[sd] = 1
  }
  function sort_num(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
  END {
    sort_num(ks, nk); sort_num(bs, nb)
    print "# decar scaling study: ensemble / dense held-out bits per byte against training compute"
    print ""
    printf "Written by scripts/scaling_report.sh from scaling.csv (%d seed%s). ratio = bits/byte of K experts (each trained\n", nsd, (nsd > 1 ? "s" : "")
    print "on its cluster alone for B/K steps, top-1 router R1) / bits/byte of the dense model (B steps on the whole"
    print "fine-tuning set), same size, start and seed: below 1.0 the ensemble wins at equal training FLOPs. Training"
    print "FLOPs = 6 N tokens (N every parameter), with the base model included for init = base."
    print ""
    printf "| model | init | K |"; for (b = 1; b <= nb; b++) printf " B=%d |", bs[b]; print " fit a + b log10 FLOPs (3 largest) | reaches 1.0 |"
    printf "|---|---|---|"; for (b = 1; b <= nb; b++) printf "---|"; print "---|---|"
    nl = 0
    for (s = 1; s <= nsz; s++) for (ii = 1; ii <= 2; ii++) {
      init = ii == 1 ? "scratch" : "base"; sz = szs[s]
      printf "| %s (%.0fk params) | %s | training FLOPs (every row) |", sz, params[sz] / 1000, init
      for (b = 1; b <= nb; b++) printf " %s |", ((init, sz, bs[b]) in flops) ? sprintf("%.2e", flops[init, sz, bs[b]]) : "-"
      print " | |"
      printf "| %s | %s | 1 (dense bits/byte) |", sz, init
      for (b = 1; b <= nb; b++) {
        n = 0; m = 0; for (sd in seeds) if ((sd, init, sz, 1, bs[b]) in bpb) { n++; m += bpb[sd, init, sz, 1, bs[b]] }
        printf " %s |", n ? sprintf("%.4f", m / n) : "-"
      }
      print " | |"
      for (k = 1; k <= nk; k++) {
        K = ks[k]; file = sprintf("%s/%02d.csv", lines, nl++); print "flops,ratio" > file
        sx = sy = sxx = sxy = np = 0; nbelow = 0; tail = ""
        printf "| %s | %s | %d |", sz, init, K
        for (b = 1; b <= nb; b++) {
          B = bs[b]; n = 0; m = 0; q = 0
          for (sd in seeds) if (((sd, init, sz, K, B) in bpb) && ((sd, init, sz, 1, B) in bpb)) {
            r = bpb[sd, init, sz, K, B] / bpb[sd, init, sz, 1, B]; n++; m += r; q += r * r }
          if (!n) { printf " - |"; continue }
          m /= n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0
          printf " %.4f%s |", m, (n > 1 ? sprintf(" ± %.4f", sqrt(v > 0 ? v : 0)) : "")
          x = log(flops[init, sz, B]) / log(10); print flops[init, sz, B] "," m > file
          fx[++np] = x; fy[np] = m; last = x
          if (m <= 1) { nbelow++; if (tail == "") tail = sprintf("%.2e", flops[init, sz, B]) } else tail = ""
        }
        close(file)
        fit = "-"; cross = "-"
        for (i = (np > 3 ? np - 2 : 1); i <= np; i++) { sx += fx[i]; sy += fy[i]; sxx += fx[i] * fx[i]; sxy += fx[i] * fy[i] }
        nf = np > 3 ? 3 : np   # the fit: the three largest budgets, where the line is heading
        np = nf
        if (np >= 2 && np * sxx - sx * sx > 0) {
          bb = (np * sxy - sx * sy) / (np * sxx - sx * sx); aa = (sy - bb * sx) / np
          fit = sprintf("%.3f %+.4f x", aa, bb)
          if (bb < 0 && (1 - aa) / bb - last <= 3) cross = sprintf("fit: 1.0 at %.1e FLOPs (%.0fx the largest budget)", 10 ^ ((1 - aa) / bb), 10 ^ ((1 - aa) / bb - last))
          else if (bb < 0) cross = "fit: 1.0 beyond 1000x the largest budget"
          else cross = "fit: moving away from 1.0 (b >= 0)"
          if (nbelow && tail == "") cross = sprintf("below 1.0 at %d smaller budget%s; %s", nbelow, (nbelow > 1 ? "s" : ""), cross)
          if (tail != "") cross = sprintf("measured: at or below 1.0 from %s FLOPs on", tail)
        }
        printf " %s | %s |\n", fit, cross
        label[nl - 1] = sprintf("%s %s K=%d", sz, init, K)
      }
    }
    printf "" > (lines "/labels.txt")
    for (i = 0; i < nl; i++) print label[i] > (lines "/labels.txt")
    printf "%d\n", nk > (lines "/colors.txt")
  }' $OUT/scaling.csv > $OUT/scaling.md
LABELS=$(paste -sd, $OUT/lines/labels.txt)
$D plot --out $OUT/scaling.svg --x flops --y ratio --logx 1 --hline 1 --colors $(cat $OUT/lines/colors.txt) \
  --labels "$LABELS" --title "K experts (top-1 router) / dense at equal training FLOPs (below 1: the ensemble wins)" \
  --xlabel "training FLOPs (6 N tokens; base model included for init = base)" \
  --ylabel "ensemble / dense held-out bits per byte" $OUT/lines/[0-9]*.csv
{ echo; echo "Plot: scaling.svg (one line per model size, init and K; dashed: from the base model; square markers: the"; echo "second size; dotted: 1.0)."; } >> $OUT/scaling.md
