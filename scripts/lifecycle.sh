#!/bin/bash
# lifecycle.sh: the decentralized lifecycle measured (decar.h section 16; README "Joining and leaving").
#   1. original: every domain, K+1 clusters, K+1 experts (the run that had the domain from the start)
#   2. without:  one domain (HOLD) held back entirely (not clustered, not trained on), K clusters, K experts
#   3. joined:   the held-back domain's owner runs `decar join` with only the router file and its own documents
#   4. left:     `decar leave` removes it again
# Every ensemble is scored on the same held-out documents of all domains (top-1 and the learned router R5, per-document
# bits in docs.csv); scripts/lifecycle_report.py turns them into a table with 95% bootstrap intervals over documents.
# Environment: DATA (default data/corpus, from scripts/make_corpus.sh) HOLD (python) OUT (runs/lifecycle) K (4) STEPS
# (600 per expert) LAYERS DIM HEADS SEQ BATCH LR VAL JOBS SEED DOCS (docs/lifecycle: where the table and CSV go).
# EVAL_VAL (default 20): the evaluation's held-out documents per 1000, a subset of the VAL held-out ones that no
# expert trained on (the split is hash(name) mod 1000 < permille). SKIP_TRAIN=1: evaluate the models already in OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
DATA=${DATA:-data/corpus}; HOLD=${HOLD:-python}; OUT=${OUT:-runs/lifecycle}; K=${K:-4}; STEPS=${STEPS:-600}
LAYERS=${LAYERS:-2}; DIM=${DIM:-64}; HEADS=${HEADS:-4}; SEQ=${SEQ:-128}; BATCH=${BATCH:-16}; LR=${LR:-3e-3}
VAL=${VAL:-50}; JOBS=${JOBS:-2}; SEED=${SEED:-1}; DOCS=${DOCS:-docs/lifecycle}; EVAL_VAL=${EVAL_VAL:-20}
[ "$EVAL_VAL" -le "$VAL" ] || { echo "lifecycle.sh: EVAL_VAL must be at most VAL" >&2; exit 1; }
[ -d "$DATA/$HOLD" ] || { echo "lifecycle.sh: no domain $HOLD in $DATA (bash scripts/make_corpus.sh $DATA)" >&2; exit 1; }
T0=$SECONDS
say() { echo "[lifecycle $((SECONDS - T0))s] $*" >&2; }
if [ -z "${SKIP_TRAIN:-}" ]; then
rm -rf $OUT; mkdir -p $OUT/rest $OUT/new $OUT/models $OUT/logs $DOCS
A=$(cd $DATA && pwd)
for d in $(cd $DATA && ls -d */ | tr -d /); do   # the parties' corpus without HOLD, and HOLD's owner's own documents
  if [ "$d" = "$HOLD" ]; then ln -s $A/$d $OUT/new/$d; else ln -s $A/$d $OUT/rest/$d; fi
done
MODEL="--layers $LAYERS --dim $DIM --heads $HEADS --seq $SEQ --batch $BATCH --lr $LR --val-permille $VAL"
TR="$MODEL --steps $STEPS --threads 1 --val-every 0 --quiet 1"
say "data $DATA, $HOLD held back; K = $K (+1); $STEPS steps x $BATCH x $SEQ tokens per expert; ${LAYERS}L d$DIM; $JOBS jobs"
$D cluster --data $OUT/rest --out $OUT/without --k $K --val-permille $VAL --seed $SEED --threads $JOBS > $OUT/logs/cluster_without.txt 2>&1
$D cluster --data $DATA --out $OUT/original --k $((K + 1)) --val-permille $VAL --seed $SEED --threads $JOBS > $OUT/logs/cluster_original.txt 2>&1
say "training: $((K + 1)) original experts, $K experts without $HOLD, and $HOLD's owner joins (decar join), $JOBS at a time"
{ for k in $(seq 0 $K); do
    echo "OMP_NUM_THREADS=1 $D train --data $DATA --docs $OUT/original/shard_$k.txt $TR --seed $((SEED + 100 + k)) --out $OUT/models/o$k.safetensors"
  done
  for k in $(seq 0 $((K - 1))); do
    echo "OMP_NUM_THREADS=1 $D train --data $OUT/rest --docs $OUT/without/shard_$k.txt $TR --seed $((SEED + 100 + k)) --out $OUT/models/w$k.safetensors"
  done
  echo "OMP_NUM_THREADS=1 $D join --router $OUT/without/router.safetensors --router-out $OUT/joined.safetensors --data $OUT/new $TR --seed $((SEED + 100 + K)) --out $OUT/models/new.safetensors > $OUT/logs/join.txt"
} | xargs -P $JOBS -I{} bash -c '{}'
cat $OUT/logs/join.txt >&2
for k in $(seq 0 $K); do echo $OUT/models/o$k.safetensors; done > $OUT/original.txt
for k in $(seq 0 $((K - 1))); do echo $OUT/models/w$k.safetensors; done > $OUT/without.txt
{ cat $OUT/without.txt; echo $OUT/models/new.safetensors; } > $OUT/joined.txt
$D leave --router $OUT/joined.safetensors --remove $K --router-out $OUT/left.safetensors --experts @$OUT/joined.txt > $OUT/left.txt
cmp $OUT/left.safetensors $OUT/without/router.safetensors && say "the router after the leave is the router before the join, byte for byte"
$D manifest --experts @$OUT/joined.txt --same-base 1 > $OUT/manifest.tsv
fi
mkdir -p $DOCS; rm -f $OUT/results_*.csv $OUT/docs_*.csv
say "evaluation: the held-out documents of every domain ($EVAL_VAL per 1000) under each ensemble, $JOBS at a time"
EV="--data $DATA --val-permille $EVAL_VAL --route top1,learned --route-k 1 --threads 1"
{ echo "original @$OUT/original.txt $OUT/original/router.safetensors"
  echo "without @$OUT/without.txt $OUT/without/router.safetensors"
  echo "joined @$OUT/joined.txt $OUT/joined.safetensors"
  echo "left @$OUT/left.txt $OUT/left.safetensors"; } |
  xargs -P $JOBS -L 1 bash -c 'OMP_NUM_THREADS=1 '"$D"' ens-eval --experts $1 --router $2 '"$EV"' --label $0 --csv '"$OUT"'/results_$0.csv --doc-bits '"$OUT"'/docs_$0.csv > '"$OUT"'/logs/eval_$0.txt 2>&1'
cat $OUT/docs_original.csv > $OUT/docs.csv
for l in without joined left; do tail -n +2 $OUT/docs_$l.csv >> $OUT/docs.csv; done
say "report"
python3 scripts/lifecycle_report.py $OUT/docs.csv $HOLD "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  "$((SECONDS - T0))" "DATA=$DATA HOLD=$HOLD K=$K STEPS=$STEPS LAYERS=$LAYERS DIM=$DIM HEADS=$HEADS SEQ=$SEQ BATCH=$BATCH LR=$LR VAL=$VAL EVAL_VAL=$EVAL_VAL SEED=$SEED" \
  $DOCS > $DOCS/table.md
cp $OUT/manifest.tsv $DOCS/manifest.tsv
cat $DOCS/table.md
say "done: $DOCS/table.md, $DOCS/lifecycle.csv"
