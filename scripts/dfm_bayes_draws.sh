#!/bin/bash
# dfm_bayes_draws.sh RUN MC [K]: the DFM ensembles' document-level Bayes bound of a `make demo DFM=1` run (RUN, its
# seed folders RUN/seedS) re-scored with MC draws of t per window (the jackknife needs two or more; the pipeline uses
# max(MC, 2)), and RUN/compare_dfm_mcMC.md: every DFM row of the run with these Bayes rows in place of its own, paired
# to the DFM dense model over the seeds (decar compare). K: the partition (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: dfm_bayes_draws.sh RUN MC [K]}; MC=${2:?usage: dfm_bayes_draws.sh RUN MC [K]}; K=${3:-4}
D=${DECAR:-build/decar}; DATA=${DATA:-data/corpus}; VAL=${VAL:-100}; DOC_BYTES=${DOC_BYTES:-1024}
[[ $MC =~ ^[0-9]+$ ]] && [ "$MC" -ge 2 ] || { echo "dfm_bayes_draws.sh: MC must be 2 or more" >&2; exit 2; }
files=""
for S in "$RUN"/seed*; do
  [ -s $S/doc_bits_dfm.csv ] || { echo "dfm_bayes_draws.sh: $S has no doc_bits_dfm.csv (DFM=1 runs)" >&2; exit 1; }
  SUF=$(awk -F, 'NR > 1 && $1 ~ /^dfm-clustered/ { sub(/^dfm-clustered/, "", $1); sub(/-[0-9]+$/, "", $1); print $1; exit }' $S/doc_bits_dfm.csv)
  O=$S/doc_bits_dfm_mc$MC.csv
  awk -F, 'NR == 1 || $2 != "bayes"' $S/doc_bits_dfm.csv > $O.tmp   # every row but the Bayes bound's
  for set in clustered random; do
    rt=""; [ $set = clustered ] && rt="--router $S/k$K/$([ -d $S/k$K/dfm ] && echo dfm/)router.safetensors"
    $D ens-eval --data $DATA --val-permille $VAL --doc-bytes $DOC_BYTES --mc $MC --experts @$S/k$K/experts_dfm_$set.txt \
      $rt --route bayes --route-k 0 --label dfm-$set$SUF-$K --doc-bits $O.tmp --domains 0 > $S/eval_dfm_bayes_mc${MC}_$set.txt
  done
  mv $O.tmp $O
  files="$files,$O"
done
REF=$(awk -F, 'NR > 1 && $1 ~ /^dfm-dense/ { print $1; exit }' "$RUN"/seed*/doc_bits_dfm.csv | head -1)
$D compare --doc-bits ${files#,} --ref $REF --out "$RUN"/compare_dfm_mc$MC.md > /dev/null
cat "$RUN"/compare_dfm_mc$MC.md
