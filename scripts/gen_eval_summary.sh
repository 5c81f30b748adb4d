#!/bin/bash
# gen_eval_summary.sh OUT A.csv [B.csv ...]: sample quality over seeds from decar gen-eval's CSVs (one per seed):
# OUT.md, a table of every (model, sampler, steps) row's mean and seed-to-seed standard deviation of the scorer's bits
# per byte and of the unigram entropy (and the mean perplexity per token), and OUT.csv, the means in gen-eval's
# columns (for scripts/gen_eval_plot.sh). E.g. gen_eval_summary.sh runs/demo/gen_eval_summary runs/demo/seed*/gen_eval.csv
set -euo pipefail
OUT=${1:?usage: gen_eval_summary.sh OUT A.csv [B.csv ...]}; shift
[ $# -ge 1 ] || { echo "usage: gen_eval_summary.sh OUT A.csv [B.csv ...]" >&2; exit 2; }
awk -F, -v out="$OUT" -v nf=$# '
  FNR == 1 { if (NR == 1) head = $0; next }
  { k = $1 "," $2 "," $3; if (!(k in n)) ord[++nk] = k
    n[k]++; s[k] += $6; q[k] += $6 * $6; p[k] += $7; h[k] += $8; hq[k] += $8 * $8; sm[k] += $4; tk[k] = $5; by[k] += $9 }
  function sd(s, q, n) { return n > 1 ? sqrt((q - s * s / n) / (n - 1) > 0 ? (q - s * s / n) / (n - 1) : 0) : 0 }
  END {
    md = out ".md"; csv = out ".csv"
    printf "Sample quality over %d seeds (decar gen-eval; mean and seed-to-seed standard deviation)\n\n", nf > md
    print "| model | sampler | steps | seeds | samples | bits/byte | gen. perplexity | unigram entropy (bits) |" > md
    print "|---|---|---|---|---|---|---|---|" > md
    print head > csv
    for (i = 1; i <= nk; i++) { k = ord[i]; split(k, f, ","); c = n[k]
      printf "| %s | %s | %s | %d | %d | %.3f ± %.3f | %.1f | %.3f ± %.3f |\n", f[1], f[2], f[3], c, sm[k], s[k] / c,
        sd(s[k], q[k], c), p[k] / c, h[k] / c, sd(h[k], hq[k], c) > md
      printf "%s,%d,%s,%.6f,%.6f,%.6f,%d,0\n", k, sm[k], tk[k], s[k] / c, p[k] / c, h[k] / c, by[k] > csv }
  }' "$@"
cat "$OUT.md"
