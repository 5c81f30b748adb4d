#!/bin/bash
# results.sh OUT "KS": results.md from OUT/results.csv (written by decar ens-eval) and OUT/k*/clusters.txt
OUT=$1; KS=$2
echo "# decar: decentralized experts vs dense (held-out bits per byte, lower is better)"
echo
echo "Written by scripts/pipeline.sh. Every model was trained by the same trainer; the K experts of an ensemble share"
echo "nothing and together see as many training tokens as the dense model. top-k 0 means all K experts."
echo
echo "| model | router | top-k | bits/byte |"
echo "|---|---|---|---|"
awk -F, 'NR > 1 && $4 == "all" { printf "| %s | %s | %s | %.4f |\n", $1, $2, $3, $5 }' $OUT/results.csv
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
