#!/bin/bash
# gen_eval_run.sh OUT: the sample quality of a pipeline run's models (OUT, one seed; written by scripts/pipeline.sh
# with DFM=1, which calls this): unconditional samples of SEQ - 1 tokens at temperature 1 from the DFM dense model and
# the DFM ensembles (clustered under R4' and R5, random under R4'), per sampler (Euler at SEQ/16, SEQ/4 and SEQ - 1
# steps, first-hitting, left to right), and from the AR dense model and clustered ensemble (R4'), all scored by the AR
# dense model (decar gen-eval), with the held-out text's own row: OUT/gen_eval.csv, OUT/gen_eval.txt, OUT/gen_eval.svg.
# Environment: K SEQ SEED BASE DATA VAL JOBS GEN_SAMPLES (samples per row) TOK (--tokenizer DIR or empty) D (decar).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: gen_eval_run.sh OUT}
: "${K:?}" "${SEQ:?}" "${SEED:?}" "${BASE:?}" "${DATA:?}" "${VAL:?}" "${GEN_SAMPLES:?}"
JOBS=${JOBS:-2}; TOK=${TOK:-}; D=${D:-build/decar}
DS=$OUT/k$K; DR=$DS/router.safetensors; [ -f $DS/dfm/router.safetensors ] && DR=$DS/dfm/router.safetensors
SUF=$([ "$BASE" -gt 0 ] && echo -ft || true); P=$([ "$BASE" -gt 0 ] && echo f || true)
SC=$OUT/models/$([ "$BASE" -gt 0 ] && echo dense_ft || echo dense).safetensors
GE="$TOK --scorer $SC --n $((SEQ - 1)) --samples $GEN_SAMPLES --temp 1 --seed $SEED --threads $JOBS --csv $OUT/gen_eval.csv"
GD="--sampler euler,first-hit,l2r --euler-steps $(( SEQ / 16 > 0 ? SEQ / 16 : 1 )),$(( SEQ / 4 > 0 ? SEQ / 4 : 1 )),$((SEQ - 1))"
rm -f $OUT/gen_eval.csv
for k in $(seq 0 $((K - 1))); do echo $OUT/models/${P}c${K}_$k.safetensors; done > $DS/experts_gen.txt
# shellcheck disable=SC2086
{ $D gen-eval $GE $GD --experts $OUT/models/dfm_dense.safetensors --route uniform --label dfm-dense$SUF --data $DATA --val-permille $VAL
  $D gen-eval $GE $GD --experts @$DS/experts_dfm_clustered.txt --router $DR --route bayes --label dfm-clustered$SUF-$K-bayes
  $D gen-eval $GE $GD --experts @$DS/experts_dfm_clustered.txt --router $DR --route learned --label dfm-clustered$SUF-$K-learned
  $D gen-eval $GE $GD --experts @$DS/experts_dfm_random.txt --route bayes --label dfm-random$SUF-$K-bayes
  $D gen-eval $GE --experts $SC --route uniform --label dense$SUF
  $D gen-eval $GE --experts @$DS/experts_gen.txt --router $DS/router.safetensors --route bayes --label clustered$SUF-$K-bayes
} > $OUT/gen_eval.txt
bash scripts/gen_eval_plot.sh $OUT/gen_eval.csv $OUT/gen_eval.svg $D
