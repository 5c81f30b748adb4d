#!/bin/bash
# results.sh OUT "KS" PARAMS: results.md from OUT/results.csv (written by decar ens-eval), OUT/costs.csv (training
# tokens of each row) and OUT/k*/clusters.txt. FLOPs: training 6 N per token (N = PARAMS per model; attention left
# out); inference 2 N per generated token per expert that runs: top-1 one, top-k k, Bayes and uniform all K (the
# Bayes posterior needs every expert's likelihood), plus the router's cost (a tf-idf featurization and K dot
# products: far below one expert). The router's own cost per routing (it runs again every --route-every tokens):
# R1-R3 and R5 2 K d multiply-adds on the d = 128 features (the tf-idf featurization is not counted), R6 K small
# LMs over the text's first 256 tokens (2 NLM FLOPs a token each, NLM = 4th argument), Bayes and uniform none.
OUT=$1; KS=$2; N=${3:-0}; NLM=${4:-0}; FD=${FEATDIM:-128}
echo "# decar: decentralized experts vs dense (held-out bits per byte, lower is better)"
echo
echo "Written by scripts/pipeline.sh. Every model was trained by the same trainer; the K experts of an ensemble share"
echo "nothing and together see as many training tokens as the dense model. top-k 0 means all K experts."
echo
# RUNS (pipeline.sh's rows with configuration and seed) and CONF (this run's configuration): with two or more seeds
# of this configuration in RUNS, a column with the mean and the seed-to-seed standard deviation
RUNS=${RUNS:-/dev/null}; CONF=${CONF:-}
awk -F, -v N=$N -v NLM=$NLM -v FD=$FD -v conf="${CONF#*,}" 'FILENAME == ARGV[1] { if (FNR > 1) tok[$1] = $2; next }
  FILENAME == ARGV[2] { if (FNR == 1) next; n = split($0, f, ","); k = f[2]; for (i = 3; i <= n - 6; i++) k = k "," f[i]
    if (k != conf || f[n - 2] != "all") next
    v[f[1], f[n - 5] "|" f[n - 4] "|" f[n - 3]] = f[n - 1]   # a rerun of a seed: its last row
    if (!(f[1] in seeds)) { seeds[f[1]] = 1; nseeds++ }
    next }
  FNR == 1 { SD = nseeds >= 2
    printf "| model | router | top-k | bits/byte |%s training FLOPs | inference FLOPs / token | router FLOPs / routing |\n",
      (SD ? " mean ± sd over " nseeds " seeds |" : "")
    printf "|---|---|---|---|%s---|---|---|\n", (SD ? "---|" : "") }
  FNR > 1 && $4 == "all" {
    K = $1; sub(/.*-/, "", K); K = (K ~ /^[0-9]+$/) ? K + 0 : 1
    act = ($2 == "top1") ? 1 : ($2 == "bayes" || $2 == "uniform") ? K : $3
    tf = ($1 in tok) ? sprintf("%.2e", 6 * N * tok[$1]) : "-"
    rc = ($2 == "smalltalk") ? 2 * NLM * 256 * K : ($2 == "bayes" || $2 == "uniform") ? 0 : 2 * K * FD
    r = $1 "|" $2 "|" $3; ms = ""
    if (SD) { cnt = 0; m = 0; q = 0; for (sd in seeds) if ((sd, r) in v) { cnt++; m += v[sd, r]; q += v[sd, r] * v[sd, r] }
      m = cnt ? m / cnt : 0; var = cnt > 1 ? (q - cnt * m * m) / (cnt - 1) : 0
      ms = cnt > 1 ? sprintf(" %.4f ± %.4f |", m, sqrt(var > 0 ? var : 0)) : " - |" }
    printf "| %s | %s | %s | %.4f |%s %s | %.2e | %.1e |\n", $1, $2, $3, $5, ms, tf, 2 * N * act, rc }' \
  $OUT/costs.csv $RUNS $OUT/results.csv
echo
echo "## Per domain (bits/byte)"
echo
doms=$(awk -F, 'NR > 1 && $4 != "all" { print $4 }' $OUT/results.csv | sort -u | tr '\n' ' ')
printf "| model | router | top-k |"; for d in $doms; do printf " %s |" $d; done; echo
printf "|---|---|---|"; for d in $doms; do printf "%s" "---|"; done; echo
awk -F, -v doms="$doms" 'NR > 1 && $4 != "all" { key = $1 "|" $2 "|" $3; if (!(key in seen)) { seen[key] = 1; order[++n] = key } v[key, $4] = $5 }
  END { nd = split(doms, D, " "); for (i = 1; i <= n; i++) { split(order[i], k, "|"); printf "| %s | %s | %s |", k[1], k[2], k[3];
        for (j = 1; j <= nd; j++) printf " %s |", ((order[i], D[j]) in v) ? sprintf("%.3f", v[order[i], D[j]]) : "-"; printf "\n" } }' $OUT/results.csv
echo
echo "## Clusters against the corpus's domain folders"
echo
for K in $KS; do
  echo "K=$K: $(head -1 $OUT/k$K/clusters.txt)"; echo; echo '```'; tail -n +2 $OUT/k$K/clusters.txt; echo '```'; echo
done
echo "Training curves: curves.svg (validation loss vs training tokens of the dense model and one expert of each split)."
