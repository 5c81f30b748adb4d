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
echo "| model | router | top-k | bits/byte | training FLOPs | inference FLOPs / token | router FLOPs / routing |"
echo "|---|---|---|---|---|---|---|"
awk -F, -v N=$N -v NLM=$NLM -v FD=$FD 'FNR == NR { if (FNR > 1) tok[$1] = $2; next }
  FNR > 1 && $4 == "all" {
    K = $1; sub(/.*-/, "", K); K = (K ~ /^[0-9]+$/) ? K + 0 : 1
    act = ($2 == "top1") ? 1 : ($2 == "bayes" || $2 == "uniform") ? K : $3
    tf = ($1 in tok) ? sprintf("%.2e", 6 * N * tok[$1]) : "-"
    rc = ($2 == "smalltalk") ? 2 * NLM * 256 * K : ($2 == "bayes" || $2 == "uniform") ? 0 : 2 * K * FD
    printf "| %s | %s | %s | %.4f | %s | %.2e | %.1e |\n", $1, $2, $3, $5, tf, 2 * N * act, rc }' $OUT/costs.csv $OUT/results.csv
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
