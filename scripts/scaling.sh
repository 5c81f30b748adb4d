#!/bin/bash
# scaling.sh: where does decentralization win? The ensemble / dense bits-per-byte ratio against training compute, with
# paired 95% intervals over held-out documents and seeds, three routers and the oracle, at two batch sizes.
#   make scaling              the smallest model (1 layer, d 32) from the base model, budgets 800 to 24,000 steps of
#                             1,024 tokens (1,065 training tokens per parameter of the dense model), K in {2, 4, 8},
#                             3 seeds, both batch modes (not yet run in full: its time is not measured yet)
#                             and the DFM line: masked-DFM models from a DFM base (INITS dfm-base), budgets
#                             DFM_BUDGETS (800 to 6400), batch modes DFM_MODES (same), routers R1, R3 and the
#                             document-level Bayes bound (no oracle for DFM), their bounds with MC draws per window
#                             on each held-out document's first DFM_DOC_BYTES bytes (256)
#   make scaling SMALL=1      a few minutes; TINY=1 is the test suite's (seconds, on a tiny corpus)
#   make scaling DATA=dir     any directory of text files
# For every seed, model size, init (scratch | base), budget B (optimizer steps) and batch mode:
#   mode same:  the dense model trains B steps of BATCH sequences; K experts train B/K steps of BATCH each;
#   mode split: experts train B steps of BATCH/K sequences (as many optimizer steps as dense), and their dense model
#               B K steps of BATCH/K: the same tokens and FLOPs as mode same, at the experts' batch.
#   Each K-expert ensemble (each expert on its cluster alone: decar cluster, tf-idf features, spherical balanced
#   k-means) is scored under R1 (top-1 cosine, the paper's), R3 (c-BTM, top-2) and R4' (Bayes, all K), and the
#   oracle (each document to its best expert in hindsight), against the dense model of the same batch.
#   init=base: every model of a size starts from one base model, pretrained BASE_STEPS steps on the general share
#   (BASE of every 1000 training documents, by a hash of the name, never fine-tuned on).
# OUT/scaling.csv gets one row per model or ensemble row (router, top-k): configuration, seed, training FLOPs (6 N per
# token), inference FLOPs per token (2 N per expert that runs) and held-out bits per byte; OUT/eval/*.docs hold the
# bits of every held-out document, from which scripts/scaling_report.sh (run at the end) computes the intervals and
# draws OUT/scaling.svg and OUT/scaling.md. A model already trained (same name) is kept: a killed run continues.
# Environment: DATA OUT SIZES ("LAYERS:DIM:HEADS ...") BUDGETS KS SEQ BATCH LR VAL DOC_BYTES BASE BASE_STEPS SEEDS
#              INITS ("scratch base dfm-scratch dfm-base") MODES ("same split") DFM_BUDGETS DFM_MODES MC JOBS
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT=scaling.sh; . scripts/env_check.sh
# the settings: a variable set in the environment keeps its value, even an empty one (KS= is refused, not the
# hours-long default), and every one is checked before any work (no folder, log or CSV for a refused run)
env_default DATA data/corpus
if [ -n "${TINY:-}" ]; then DEF="1:8:2|4 8 16 32|2|16|2|3e-3|300|8|a|scratch base dfm-base|1 2|8 16"
elif [ -n "${SMALL:-}" ]; then DEF="1:16:2|40 80 160 320|2 4|32|4|3e-3|100|80|b|base dfm-base|1 2 3|40 80 160"
else DEF="1:32:2|800 1600 3200 6400 12800 24000|2 4 8|64|16|3e-3|100|2000|c|base dfm-base|1 2 3|800 1600 3200 6400"; fi
IFS='|' read -r dSIZES dBUDGETS dKS dSEQ dBATCH dLR dVAL dBASE_STEPS dOUT dINITS dSEEDS dDFM_BUDGETS <<< "$DEF"
env_default SIZES "$dSIZES"; env_default BUDGETS "$dBUDGETS"; env_default KS "$dKS"; env_default SEQ $dSEQ
env_default BATCH $dBATCH; env_default LR $dLR; env_default VAL $dVAL; env_default BASE 300
env_default BASE_STEPS $dBASE_STEPS; env_default SEEDS "$dSEEDS"; env_default JOBS 2; env_default INITS "$dINITS"
env_default MODES "same split"; env_default DOC_BYTES 1024; env_default DFM_BUDGETS "$dDFM_BUDGETS"
env_default DFM_MODES same; env_default DFM_DOC_BYTES 256; env_default MC "$([ -n "${TINY:-}" ] && echo 1 || echo 2)"
case $dOUT in a) env_default OUT runs/scaling-tiny ;; b) env_default OUT runs/scaling-small ;; *) env_default OUT runs/scaling ;; esac
env_sizes SIZES; env_ints BUDGETS 1; env_ints KS 1 100000; env_int SEQ 2 65536; env_int BATCH 1 4096; env_num LR
env_int VAL 1 1000; env_int BASE 0 999; env_int BASE_STEPS 1; env_ints SEEDS 0; env_int JOBS 1 1024
env_int DOC_BYTES 0; env_ints DFM_BUDGETS 1; env_int MC 1 1000; env_int DFM_DOC_BYTES 0
for i in $INITS; do case $i in scratch|base|dfm-scratch|dfm-base) ;;
  *) env_fail "INITS='$INITS': '$i' is none of scratch, base, dfm-scratch, dfm-base" ;; esac; done
[ -n "${INITS// /}" ] || env_fail "INITS= must list scratch, base, dfm-scratch and/or dfm-base"
for mb in "MODES:$MODES:$BUDGETS" "DFM_MODES:$DFM_MODES:$DFM_BUDGETS"; do   # each objective's modes and budgets
  IFS=: read -r mname mlist blist <<< "$mb"
  for m in $mlist; do
    [ "$m" = same ] || [ "$m" = split ] || env_fail "$mname='$mlist': '$m' is neither same nor split"
    if [ "$m" = split ]; then for K in $KS; do [ $((BATCH % K)) -eq 0 ] || env_fail "$mname=split needs BATCH=$BATCH divisible by every K (K=$K)"; done; fi
    if [ "$m" = same ]; then for K in $KS; do for B in $blist; do   # B / K steps per expert: the same tokens as dense
      [ $((B % K)) -eq 0 ] || env_fail "$mname=same needs every budget divisible by every K (budget $B, K $K)"; done; done; fi
  done
done
[ -n "${MODES// /}" ] || env_fail "MODES= must list same and/or split"
[[ " $INITS " == *"base "* ]] && [ "$BASE" -eq 0 ] && env_fail "INITS holds a base init but BASE=0 sets no documents aside for it"
[ -n "$OUT" ] || env_fail "OUT= must name the output folder"
[ -e "$DATA" ] || env_fail "DATA=$DATA does not exist"
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
env_own_out "$OUT"
mkdir -p $OUT/models $OUT/eval
T0=$SECONDS
say() { echo "[scaling $((SECONDS - T0))s] $*" >&2; }
say "data $DATA; sizes {$SIZES}; budgets {$BUDGETS} steps x $BATCH x $SEQ tokens; K in {1 $KS}; modes {$MODES}; seeds {$SEEDS}; $JOBS jobs"

for SEED in $SEEDS; do   # one partition per seed and K of the fine-tuning set (the base share set aside by a hash)
  for K in $KS; do
    P=$OUT/s$SEED/k$K
    mkdir -p $OUT/s$SEED; [ -f $P/router.safetensors ] || $D cluster --data $DATA --out $P --k $K --val-permille $VAL --seed $SEED \
      --threads $JOBS --base-permille $BASE --learned 0 > $P.log
  done
done
K0=$(echo $KS | cut -d' ' -f1)
[ "$BASE" -eq 0 ] || [ -s $OUT/s$(echo $SEEDS | cut -d' ' -f1)/k$K0/base.txt ] ||
  { echo "scaling.sh: BASE=$BASE left no documents for the base model" >&2; exit 1; }

# train NAME STEPS SEED SIZE BATCH [extra args...]: one model, one process, one thread; a finished model is kept
train() {
  local name=$1 steps=$2 seed=$3 b=$5 L C H; IFS=: read -r L C H <<< "$4"; shift 5
  if [ ! -f $OUT/models/$name.safetensors ]; then
    OMP_NUM_THREADS=1 $D train --data $DATA --layers $L --dim $C --heads $H --seq $SEQ --batch $b --lr $LR \
      --val-permille $VAL --steps $steps --seed $seed --threads 1 --val-every 0 --quiet 1 \
      --out $OUT/models/$name.safetensors "$@" > /dev/null
  fi
  echo "$name" >> $OUT/done.txt
  echo "[scaling] $(wc -l < $OUT/done.txt)/$(cat $OUT/todo.txt) models trained ($name)" >&2
}
export -f train; export D DATA OUT SEQ LR VAL

# an init's models: AR or masked DFM (dfm-*), from scratch or from the base model of their objective (*base), over
# BUDGETS and MODES (DFM: DFM_BUDGETS and DFM_MODES)
init_args() {   # INIT SEED SIZE: the training arguments every model of the init gets
  local a=""
  [[ $1 == dfm-* ]] && a=" --objective dfm"
  [ $1 = base ] && a="$a --init $OUT/models/base_s${2}_${3//:/x}.safetensors"
  [ $1 = dfm-base ] && a="$a --init $OUT/models/dbase_s${2}_${3//:/x}.safetensors"
  echo "$a"
}
init_budgets() { [[ $1 == dfm-* ]] && echo $DFM_BUDGETS || echo $BUDGETS; }
init_modes() { [[ $1 == dfm-* ]] && echo $DFM_MODES || echo $MODES; }

# 1. the base models, one per seed, size and objective
rm -f $OUT/done.txt
for SEED in $SEEDS; do
  for s in $SIZES; do
    [[ " $INITS " == *" base "* ]] && echo "base_s${SEED}_${s//:/x} $BASE_STEPS $SEED $s $BATCH --docs $OUT/s$SEED/k$K0/base.txt"
    [[ " $INITS " == *" dfm-base "* ]] && echo "dbase_s${SEED}_${s//:/x} $BASE_STEPS $SEED $s $BATCH --docs $OUT/s$SEED/k$K0/base.txt --objective dfm"
  done
done > $OUT/base_jobs.txt
wc -l < $OUT/base_jobs.txt > $OUT/todo.txt
xargs -r -P $JOBS -L 1 bash -c 'train "$@"' _ < $OUT/base_jobs.txt

# the models of one seed: NAME STEPS SEED SIZE BATCH args, with the work (steps x batch) first for the scheduler;
# group g = s<seed>_<size>_<init>_b<B>_<mode>; its dense model g_dense (mode split: g_dense_k<K>, one per K)
train_jobs() {
  local SEED s init B K k extra g
  for SEED in $SEEDS; do
    for s in $SIZES; do
      for init in $INITS; do
        extra=$(init_args $init $SEED $s)
        for B in $(init_budgets $init); do
          for mode in $(init_modes $init); do
            g=s${SEED}_${s//:/x}_${init}_b${B}_$mode
            if [ $mode = same ]; then echo "$((B * BATCH)) ${g}_dense $B $SEED $s $BATCH --docs $OUT/s$SEED/k$K0/finetune.txt$extra"; fi
            for K in $KS; do
              if [ $mode = split ]; then
                echo "$((B * BATCH)) ${g}_dense_k$K $((B * K)) $SEED $s $((BATCH / K)) --docs $OUT/s$SEED/k$K0/finetune.txt$extra"
              fi
              for k in $(seq 0 $((K - 1))); do
                local st=$([ $mode = same ] && echo $(( B / K > 0 ? B / K : 1 )) || echo $B)
                local bt=$([ $mode = same ] && echo $BATCH || echo $((BATCH / K)))
                echo "$((st * bt)) ${g}_k${K}_$k $st $((SEED + 100 + k)) $s $bt --docs $OUT/s$SEED/k$K/shard_$k.txt$extra"
              done
            done
          done
        done
      done
    done
  done
}
rm -f $OUT/done.txt; train_jobs | wc -l > $OUT/todo.txt
say "$(cat $OUT/todo.txt) models to train"
train_jobs | sort -s -k1,1 -rn | cut -d' ' -f2- | xargs -P $JOBS -L 1 bash -c 'train "$@"' _

# 3. held-out bits of every dense model and ensemble, per document too, one process each:
#    NAME SEED SIZE INIT BUDGET MODE K BATCH LABEL ens-eval-args...
eval_jobs() {
  local SEED s init B K k g rt dm
  for SEED in $SEEDS; do
    for s in $SIZES; do
      for init in $INITS; do
        # the routers: R1, R3 (top-2) and R4' with the oracle; DFM's bounds (MC draws of t per window, each document's
        # first DFM_DOC_BYTES bytes: a bound costs MC forward passes of every expert it mixes per window) have R1 and
        # R4', the document-level Bayes bound, and no oracle
        rt="--route top1,cbtm,bayes --route-k 1,2,0 --oracle 1"; dm=""
        [[ $init == dfm-* ]] && rt="--route top1,bayes --route-k 1,0 --mc $MC" && dm=" --mc $MC"
        for B in $(init_budgets $init); do
          for mode in $(init_modes $init); do
            g=s${SEED}_${s//:/x}_${init}_b${B}_$mode
            [ $mode = same ] && echo "${g}_dense $SEED $s $init $B $mode 1 $BATCH dense --experts $OUT/models/${g}_dense.safetensors --route uniform$dm"
            for K in $KS; do
              local bt=$([ $mode = same ] && echo $BATCH || echo $((BATCH / K)))
              [ $mode = split ] && echo "${g}_dense_k$K $SEED $s $init $B $mode 1 $bt dense --experts $OUT/models/${g}_dense_k$K.safetensors --route uniform$dm"
              for k in $(seq 0 $((K - 1))); do echo $OUT/models/${g}_k${K}_$k.safetensors; done > $OUT/eval/${g}_k$K.experts
              echo "${g}_k$K $SEED $s $init $B $mode $K $bt K$K --experts @$OUT/eval/${g}_k$K.experts --router $OUT/s$SEED/k$K/router.safetensors $rt"
            done
          done
        done
      done
    done
  done
}
# evaluate ...: the rows of OUT/scaling.csv in OUT/eval/NAME.rows, every document's bits in OUT/eval/NAME.docs
evaluate() {
  local m=$1 sd=$2 s=$3 init=$4 B=$5 mode=$6 K=$7 bt=$8 label=$9 L C H N V=258 tok bt0=0 f; IFS=: read -r L C H <<< "$s"
  shift 9
  f=$OUT/eval/$m
  local DOC_BYTES=$DOC_BYTES; [[ $init == dfm-* ]] && DOC_BYTES=$DFM_DOC_BYTES
  # evaluated already with the same settings (a run that continues): its rows are kept
  local key="$DATA $VAL $DOC_BYTES $BASE_STEPS $* $(ls -l --time-style=+%s $OUT/models/$m.safetensors 2>/dev/null)"
  [ -s $f.rows ] && [ "$(cat $f.key 2>/dev/null)" = "$key" ] && return 0
  rm -f $f.csv $f.docs $f.rows $f.key
  OMP_NUM_THREADS=1 $D ens-eval --data $DATA --val-permille $VAL --doc-bytes $DOC_BYTES --label $label --domains 0 \
    --threads 1 --csv $f.csv --doc-bits $f.docs "$@" > $f.txt || { echo "scaling.sh: ens-eval failed for $m" >&2; return 1; }
  N=$(( V * C + SEQ * C + L * (12 * C * C + 13 * C) + 2 * C ))
  tok=$(( (K == 1 ? B : K * (B / K > 0 ? B / K : 1)) * BATCH * SEQ ))   # the same in both modes
  [ $mode = split ] && tok=$(( B * BATCH * SEQ ))
  [[ $init == *base ]] && bt0=$(( BASE_STEPS * BATCH * SEQ ))
  # inference FLOPs per token: 2 N per expert that runs (top-1 and the oracle one, top-k k, Bayes and uniform all)
  awk -F, -v pre="$sd,$DATA,$init,$L,$C,$H,$SEQ,$bt,$mode,$LR,$VAL,$BASE,$BASE_STEPS,$K,$B,$N,$tok" \
    -v N=$N -v tok=$tok -v bt0=$bt0 -v K=$K 'NR > 1 && $4 == "all" {
      act = ($2 == "top1" || $2 == "oracle") ? 1 : ($2 == "bayes" || $2 == "uniform" || $3 == 0) ? K : $3
      printf "%s,%.4e,%.4e,%s,%s,%.4e,%.5f\n", pre, 6 * N * tok, 6 * N * bt0, $2, $3, 2 * N * act, $5 }' \
    $f.csv > $f.rows.tmp
  mv $f.rows.tmp $f.rows
  echo "$key" > $f.key
}
export -f evaluate; export BATCH BASE BASE_STEPS DOC_BYTES DFM_DOC_BYTES
say "evaluation: $(eval_jobs | wc -l) models and ensembles"
eval_jobs | xargs -P $JOBS -L 1 bash -c 'evaluate "$@"' _
H="seed,data,init,layers,dim,heads,seq,batch,mode,lr,val_permille,base_permille,base_steps,K,budget_steps,params"
H="$H,train_tokens,train_flops,base_flops,router,topk,infer_flops,bits_per_byte"
{ echo "$H"; eval_jobs | while read -r m rest; do cat $OUT/eval/$m.rows; done; } > $OUT/scaling.csv.tmp
mv $OUT/scaling.csv.tmp $OUT/scaling.csv
say "report"
bash scripts/scaling_report.sh $OUT
say "done: $OUT/scaling.md, $OUT/scaling.csv, $OUT/scaling.svg"
