#!/bin/bash
# scaling.sh: where does decentralization win? The ensemble / dense bits-per-byte ratio against training compute.
#   make scaling              about an hour on 2 cores: 2 model sizes x 5 budgets (16x) x K in {1, 2, 4, 8}, from
#                             scratch and from a base model
#   make scaling SMALL=1      a few minutes; TINY=1 is the test suite's (seconds, on a tiny corpus)
#   make scaling DATA=dir     any directory of text files; SEED=2 adds a second seed to the same CSV
# For every model size, init (scratch | base) and budget B (optimizer steps of BATCH x SEQ tokens):
#   K = 1 (dense): one model trains B steps on the whole fine-tuning set;
#   K in KS: K experts train B/K steps each, each on its own cluster alone (decar cluster: tf-idf features, spherical
#   balanced k-means), and generate as one through the paper's router R1 (top-1 cosine to the centroids);
#   init=base: every model of the size starts from one base model, pretrained BASE_STEPS steps on the general share
#   (BASE of every 1000 training documents, by a hash of the name, never in the fine-tuning set). init=scratch models
#   train on the same fine-tuning set from random weights. Held-out documents of every domain score every model.
# OUT/scaling.csv gets one row per model or ensemble: its full configuration, seed, training FLOPs (6 N per token, N
# all parameters) and held-out bits per byte. Rows append: a second SEED adds rows, and scripts/scaling_report.sh
# (run at the end) redraws OUT/scaling.svg and OUT/scaling.md from the CSV alone, averaging the seeds.
# A model already trained (same name, same seed) is kept: a killed run continues where it stopped.
# Environment: DATA OUT SIZES ("LAYERS:DIM:HEADS ...") BUDGETS KS SEQ BATCH LR VAL BASE BASE_STEPS SEED JOBS
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT=scaling.sh; . scripts/env_check.sh
# the settings: a variable set in the environment keeps its value, even an empty one (KS= is refused, not the
# hour-long default), and every one is checked before any work (no folder, log or CSV for a refused run)
env_default DATA data/corpus
if [ -n "${TINY:-}" ]; then DEF="1:8:2 1:16:2|4 8 16 32|2|16|2|3e-3|300|8|a"
elif [ -n "${SMALL:-}" ]; then DEF="1:16:2 1:32:2|40 80 160 320|2 4 8|32|4|3e-3|8|80|b"
else DEF="1:32:2 2:64:2|500 1000 2000 4000 8000|2 4 8|64|16|3e-3|8|2000|c"; fi
IFS='|' read -r dSIZES dBUDGETS dKS dSEQ dBATCH dLR dVAL dBASE_STEPS dOUT <<< "$DEF"
env_default SIZES "$dSIZES"; env_default BUDGETS "$dBUDGETS"; env_default KS "$dKS"; env_default SEQ $dSEQ
env_default BATCH $dBATCH; env_default LR $dLR; env_default VAL $dVAL; env_default BASE 300
env_default BASE_STEPS $dBASE_STEPS; env_default SEED 1; env_default JOBS 2
case $dOUT in a) env_default OUT runs/scaling-tiny ;; b) env_default OUT runs/scaling-small ;; *) env_default OUT runs/scaling ;; esac
env_sizes SIZES; env_ints BUDGETS 1; env_ints KS 1 100000; env_int SEQ 2 65536; env_int BATCH 1 4096; env_num LR
env_int VAL 1 1000; env_int BASE 1 999; env_int BASE_STEPS 1; env_int SEED 0; env_int JOBS 1 1024
[ -n "$OUT" ] || env_fail "OUT= must name the output folder"
[ -e "$DATA" ] || env_fail "DATA=$DATA does not exist"
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
env_own_out "$OUT"
mkdir -p $OUT/models $OUT/eval
T0=$SECONDS
say() { echo "[scaling $((SECONDS - T0))s] $*" >&2; }
say "data $DATA; sizes {$SIZES}; budgets {$BUDGETS} steps x $BATCH x $SEQ tokens; K in {1 $KS}; seed $SEED; $JOBS jobs"

for K in $KS; do   # one partition per K of the fine-tuning set (the base share is set aside by the same hash)
  [ -f $OUT/k$K/router.safetensors ] || $D cluster --data $DATA --out $OUT/k$K --k $K --val-permille $VAL \
    --seed $SEED --threads $JOBS --base-permille $BASE --learned 0 > $OUT/k$K.log
done
FT=$OUT/k$(echo $KS | cut -d' ' -f1)/finetune.txt
BASELIST=$OUT/k$(echo $KS | cut -d' ' -f1)/base.txt
[ -s $BASELIST ] || { echo "scaling.sh: BASE=$BASE left no documents for the base model" >&2; exit 1; }

# train NAME STEPS SEED SIZE [extra args...]: one model, one process, one thread; a finished model is kept
train() {
  local name=$1 steps=$2 seed=$3 L C H; IFS=: read -r L C H <<< "$4"; shift 4
  if [ ! -f $OUT/models/$name.safetensors ]; then
    OMP_NUM_THREADS=1 $D train --data $DATA --layers $L --dim $C --heads $H --seq $SEQ --batch $BATCH --lr $LR \
      --val-permille $VAL --steps $steps --seed $seed --threads 1 --val-every 0 --quiet 1 \
      --out $OUT/models/$name.safetensors "$@" > /dev/null
  fi
  echo "$name" >> $OUT/done.txt
  echo "[scaling] $(wc -l < $OUT/done.txt)/$(cat $OUT/todo.txt) models trained ($name)" >&2
}
export -f train; export D DATA OUT SEQ BATCH LR VAL

# 1. the base models, one per size
rm -f $OUT/done.txt; echo $(echo $SIZES | wc -w) > $OUT/todo.txt
for s in $SIZES; do echo "base_s${SEED}_${s//:/x} $BASE_STEPS $SEED $s --docs $BASELIST"; done |
  xargs -P $JOBS -L 1 bash -c 'train "$@"' _

# 2. every dense model and expert: size x init x budget x (dense + K experts for every K), longest first
train_jobs() {
  local s init B K k extra
  for s in $SIZES; do
    for init in scratch base; do
      extra=""; [ $init = base ] && extra=" --init $OUT/models/base_s${SEED}_${s//:/x}.safetensors"
      for B in $BUDGETS; do
        echo "$B s${SEED}_${s//:/x}_${init}_b${B}_dense $B $SEED $s --docs $FT$extra"
        for K in $KS; do
          for k in $(seq 0 $((K - 1))); do
            echo "$((B / K)) s${SEED}_${s//:/x}_${init}_b${B}_k${K}_$k $(( B / K > 0 ? B / K : 1 )) $((SEED + 100 + k)) $s --docs $OUT/k$K/shard_$k.txt$extra"
          done
        done
      done
    done
  done
}
rm -f $OUT/done.txt; train_jobs | wc -l > $OUT/todo.txt
say "$(cat $OUT/todo.txt) models to train"
train_jobs | sort -s -k1,1 -rn | cut -d' ' -f2- | xargs -P $JOBS -L 1 bash -c 'train "$@"' _

# 3. held-out bits per byte of every dense model and ensemble, one process each
eval_jobs() {
  local s init B K k m
  for s in $SIZES; do
    for init in scratch base; do
      for B in $BUDGETS; do
        m=s${SEED}_${s//:/x}_${init}_b${B}
        echo "$m $s $init $B 1 --experts $OUT/models/${m}_dense.safetensors --route uniform"
        for K in $KS; do
          for k in $(seq 0 $((K - 1))); do echo $OUT/models/${m}_k${K}_$k.safetensors; done > $OUT/eval/${m}_k$K.experts
          echo "$m $s $init $B $K --experts @$OUT/eval/${m}_k$K.experts --router $OUT/k$K/router.safetensors --route top1"
        done
      done
    done
  done
}
# evaluate NAME SIZE INIT BUDGET K ens-eval-args...: one row of OUT/scaling.csv in OUT/eval/NAME_kK.row
evaluate() {
  local m=$1 s=$2 init=$3 B=$4 K=$5 L C H N V=258 tok bt=0 f; IFS=: read -r L C H <<< "$s"; shift 5
  f=$OUT/eval/${m}_k$K
  rm -f $f.csv
  OMP_NUM_THREADS=1 $D ens-eval --data $DATA --val-permille $VAL --route-k 1 --label x --domains 0 --threads 1 \
    --csv $f.csv "$@" > $f.txt
  N=$(( V * C + SEQ * C + L * (12 * C * C + 13 * C) + 2 * C ))
  tok=$(( (K == 1 ? B : K * (B / K > 0 ? B / K : 1)) * BATCH * SEQ ))
  [ $init = base ] && bt=$(( BASE_STEPS * BATCH * SEQ ))
  awk -F, -v pre="$SEED,$DATA,$init,$L,$C,$H,$SEQ,$BATCH,$LR,$VAL,$BASE,$BASE_STEPS,$K,$B,$N,$tok" \
    -v N=$N -v tok=$tok -v bt=$bt 'NR == 2 { printf "%s,%.4e,%.4e,%s,%s,%.5f\n", pre, 6 * N * tok, 6 * N * bt, $2, $3, $5 }' \
    $f.csv > $f.row
}
export -f evaluate; export SEED BASE BASE_STEPS
say "evaluation: $(eval_jobs | wc -l) models and ensembles"
eval_jobs | xargs -P $JOBS -L 1 bash -c 'evaluate "$@"' _
H="seed,data,init,layers,dim,heads,seq,batch,lr,val_permille,base_permille,base_steps,K,budget_steps,params"
H="$H,train_tokens,train_flops,base_flops,router,topk,bits_per_byte"
[ -s $OUT/scaling.csv ] || echo "$H" > $OUT/scaling.csv
head -1 $OUT/scaling.csv | grep -qx "$H" || { echo "scaling.sh: $OUT/scaling.csv has another header" >&2; exit 1; }
eval_jobs | while read -r m s init B K rest; do cat $OUT/eval/${m}_k$K.row; done >> $OUT/scaling.csv
say "report"
bash scripts/scaling_report.sh $OUT
say "done: $OUT/scaling.md, $OUT/scaling.csv, $OUT/scaling.svg"
