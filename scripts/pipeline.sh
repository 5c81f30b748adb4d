#!/bin/bash
# pipeline.sh: the decentralized experiment end to end, on any directory of text files.
#   1. decar cluster: features -> spherical balanced k-means -> shard lists + router (+ random-split shard lists)
#   2. one expert per shard, each its own process that reads only its shard list and a seed (run JOBS at a time here;
#      scripts/slurm_experts.sh runs the same command as a SLURM job array)
#   3. baselines from the same trainer: a dense model with the same total training tokens, and a random split
#   4. decar ens-eval: held-out bits per byte under every router and top-k, the oracle router (each document to its
#      best expert in hindsight) and every row's bits per document (doc_bits.csv); decar compare: 95% intervals by a
#      bootstrap over documents and paired ratios to dense (compare.md); results.md, results.csv, curves.svg
# Environment (defaults are the full demo; SMALL=1 is a 2-minute version; TINY=1 is the test suite's):
#   DATA OUT KS STEPS LAYERS DIM HEADS SEQ BATCH LR VAL JOBS SEED DFM
#   VAL: held-out documents per 1000 (default 100: about 100 per domain of the default corpus); DOC_BYTES (default
#   1024, 0 = all): each held-out document is scored on its first DOC_BYTES bytes, so 1,000 documents stay cheap
#   RUNS=FILE (default OUT/runs.csv): every result row is appended there with the run's full configuration and seed,
#   so a second SEED (RUNS pointing at the first run's file) adds to the same table; results.md then shows the mean
#   and the seed-to-seed standard deviation.
#   BASE=P (permille, default 300; 0 = off): the paper's setting on top of the from-scratch rows. P of every 1000 training
#   documents (by file name) pretrain a base model for BASE_STEPS (default STEPS/2) and are not clustered; the rest is
#   the fine-tuning set: every expert (clustered and random split) is fine-tuned from the base on its shard for
#   (STEPS - BASE_STEPS)/K steps, and a dense model from the base on the whole fine-tuning set for STEPS - BASE_STEPS
#   steps. Rows: base, dense-ft, clustered-ft-K, random-ft-K, each with its training and inference FLOPs.
#   SCRATCH=0: only the paper's setting (BASE > 0): no from-scratch dense model or experts (their rows, about half the
#   AR training, are left out).
#   BPE=N: train a byte-level BPE tokenizer of N tokens on DATA first (decar tokenizer) and use it for every model;
#   results stay in bits per byte. BPE=0 (default): bytes.
#   DEVICE=cuda GPUS=N (with DECAR=build/decar-cuda from make cuda): every model trains on a GPU, one process per GPU
#   (JOBS=N at a time; a job's GPU is its xargs slot mod N, through CUDA_VISIBLE_DEVICES). DEVICE=cpu (default).
#   PARTITION=smalltalk: SmallTalk LM's partition instead of k-means (decar cluster --method smalltalk: K small router
#   LMs, 1 layer d 32, make the clusters by balanced EM on the documents' prefix loss, ST_ROUNDS rounds (default 3) of
#   ST_STEPS steps (default STEPS/K/4)); those LMs are also R6's router LMs, and their FLOPs go into results.md.
#   DFM=1: masked-DFM rows at the first K: with BASE a DFM base model, a DFM dense model and clustered and random-split
#   DFM experts fine-tuned from it (from scratch without BASE); R5 refitted on noised windows (cluster
#   --learned-window SEQ); the bounds under R1, R2, R5, the document-level Bayes bound and uniform (MC draws of t per
#   window, default 2); sample quality (gen-eval: GEN_SAMPLES samples per row, 16; 4 with SMALL) of the DFM ensembles
#   per sampler and Euler steps beside the AR dense and clustered models, all scored by the AR dense model.
#   BRANCH=f (0 < f < 1): Branch-Train-Merge. A seed model trains f*STEPS steps on all the data, then every expert
#   (clustered and random split alike) starts from it and trains (1-f)*STEPS/K steps on its shard alone: the same
#   total compute as the dense model, which trains STEPS steps from scratch. BRANCH=0 (default): from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT=pipeline.sh; . scripts/env_check.sh
# the settings: a variable set in the environment keeps its value, even an empty one, and every one is checked before
# any work (no folder, log or CSV is made for a run that is refused)
env_default DATA data/corpus; env_default OUT runs/demo; env_default DEVICE cpu; env_default GPUS ""
if [ -n "${TINY:-}" ]; then DEF="2|12|1|32|2|32|4|3e-3|300|1"
elif [ -n "${SMALL:-}" ]; then DEF="4|160|2|64|2|64|16|3e-3|100|1"
else DEF="4|1000|3|128|4|128|16|2e-3|100|0"; fi   # the paper's setting at K = 4; KS="4 8" DFM=1 adds K = 8 and DFM
IFS='|' read -r dKS dSTEPS dL dC dH dT dB dLR dVAL dDFM <<< "$DEF"
env_default KS "$dKS"; env_default STEPS $dSTEPS; env_default LAYERS $dL; env_default DIM $dC; env_default HEADS $dH
env_default SEQ $dT; env_default BATCH $dB; env_default LR $dLR; env_default VAL $dVAL; env_default JOBS 2
env_default SEED 1; env_default DFM $dDFM; env_default BASE 300; env_default BRANCH 0; env_default BPE 0
env_default DOC_BYTES 1024; env_default PARTITION kmeans; env_default ST_ROUNDS 3; env_default SCRATCH 1
env_ints KS 1 100000; env_int STEPS 1; env_int LAYERS 1 64; env_int DIM 1 65536; env_int HEADS 1 1024
env_int SEQ 2 65536; env_int BATCH 1 4096; env_num LR; env_int VAL 1 1000; env_int JOBS 1 1024; env_int SEED 0
env_word DFM 0 1; env_int BASE 0 999; env_frac BRANCH; env_word DEVICE cpu cpu-kernels cuda
env_int DOC_BYTES 0; env_word PARTITION kmeans smalltalk; env_int ST_ROUNDS 1 1000; env_word SCRATCH 0 1
[ -z "${ST_STEPS+x}" ] || env_int ST_STEPS 1
[ $((DIM % HEADS)) -eq 0 ] || env_fail "DIM=$DIM must be a multiple of HEADS=$HEADS"
[ "$BPE" = 0 ] || env_int BPE 257 16777216
[ -z "$GPUS" ] || env_int GPUS 1 1024
env_default BASE_STEPS $((STEPS / 2))
env_default MC "$([ -n "${SMALL:-}${TINY:-}" ] && echo 1 || echo 2)"   # DFM bound: Monte Carlo draws of t per window
env_int MC 1 1000
[ -z "${GEN_SAMPLES+x}" ] || env_int GEN_SAMPLES 1 100000
[ "$SCRATCH" = 1 ] || [ "$BASE" -gt 0 ] || env_fail "SCRATCH=0 leaves no rows without the paper's setting (BASE > 0)"
if [ "$BASE" -gt 0 ]; then   # the base model and the fine-tuning both need steps
  [ "$STEPS" -ge 2 ] || env_fail "STEPS=$STEPS: with BASE=$BASE (a base model, then fine-tuning) STEPS must be 2 or more"
  env_int BASE_STEPS 1 $((STEPS - 1))
fi
[ -n "$OUT" ] || env_fail "OUT= must name the output folder"
[ -e "$DATA" ] || env_fail "DATA=$DATA does not exist"
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
env_own_out "$OUT"
mkdir -p $OUT/models $OUT/logs
rm -f $OUT/results.csv $OUT/doc_bits.csv
echo "label,train_tokens" > $OUT/costs.csv   # training tokens of each row (with the base model's share), for FLOPs
T0=$SECONDS
say() { echo "[pipeline $((SECONDS - T0))s] $*" >&2; }
MODEL="--layers $LAYERS --dim $DIM --heads $HEADS --seq $SEQ --batch $BATCH --lr $LR --val-permille $VAL"
TOK=""
if [ "$BPE" -gt 0 ]; then
  $D tokenizer --data $DATA --out $OUT/tokenizer --vocab $BPE --val-permille $VAL >&2
  TOK="--tokenizer $OUT/tokenizer"
fi
say "data $DATA; K in {$KS}; dense $STEPS steps x $BATCH x $SEQ tokens; model ${LAYERS}L d$DIM; $JOBS jobs"

# train NAME STEPS SEED THREADS [extra args...]: one model, one process
train() {
  local name=$1 steps=$2 seed=$3 th=$4; shift 4
  if [ -n "${GPUS:-}" ]; then export CUDA_VISIBLE_DEVICES=$(( ${SLOT:-0} % GPUS )); fi
  OMP_NUM_THREADS=$th $D train --device $DEVICE --data $DATA $MODEL --steps $steps --seed $seed --threads $th --val-every $(( steps / 6 > 0 ? steps / 6 : 1 )) \
    --out $OUT/models/$name.safetensors --log $OUT/logs/$name.csv --quiet 1 $TOK "$@"
}
export -f train; export D DATA MODEL OUT TOK DEVICE GPUS
# experts PREFIX K STEPS [extra train args...]: the K clustered (PREFIXc) and K random-split (PREFIXr) experts of
# partition K, each its own process on its own shard list, JOBS at a time
experts() {
  local p=$1 K=$2 steps=$3 k; shift 3
  for k in $(seq 0 $((K - 1))); do
    # no trailing blank: xargs -L 1 would join the next line to this one
    echo "${p}c${K}_$k $steps $((SEED + 100 + k)) 1 --docs $OUT/k$K/shard_$k.txt${*:+ $*}"
    echo "${p}r${K}_$k $steps $((SEED + 100 + k)) 1 --docs $OUT/k$K/random_$k.txt${*:+ $*}"
  done | xargs -P $JOBS --process-slot-var=SLOT -L 1 bash -c 'train "$@"' _
}

if [ "$SCRATCH" = 1 ]; then
  say "dense baseline (AR)"
  train dense $STEPS $SEED $JOBS
  echo "dense,$((STEPS * BATCH * SEQ))" >> $OUT/costs.csv
fi
INIT=""; EXPERT_BUDGET=$STEPS
if awk -v f=$BRANCH 'BEGIN { exit !(f > 0 && f < 1) }'; then
  SEEDSTEPS=$(awk -v f=$BRANCH -v s=$STEPS 'BEGIN { printf "%d", f * s }')
  EXPERT_BUDGET=$((STEPS - SEEDSTEPS))
  say "branch-train-merge: seed model $SEEDSTEPS steps on all the data; experts share $EXPERT_BUDGET steps"
  train seed $SEEDSTEPS $SEED $JOBS
  INIT="--init $OUT/models/seed.safetensors"
fi
for K in $KS; do
  say "K=$K: clustering"
  mkdir -p $OUT/k$K
  PART=""; [ "${PARTITION:-kmeans}" = smalltalk ] && PART="--method smalltalk --rounds ${ST_ROUNDS:-3} --lm-steps ${ST_STEPS:-$(( STEPS / K / 4 > 0 ? STEPS / K / 4 : 1 ))}"
  $D cluster --data $DATA --out $OUT/k$K --k $K --val-permille $VAL --seed $SEED --threads $JOBS --base-permille $BASE $PART
  ES=$(( EXPERT_BUDGET / K > 0 ? EXPERT_BUDGET / K : 1 ))   # compute-matched: seed + K experts x ES = the dense model's steps
  echo "clustered-$K,$(( (STEPS - EXPERT_BUDGET + ES * K) * BATCH * SEQ ))" >> $OUT/costs.csv
  echo "random-$K,$(( (STEPS - EXPERT_BUDGET + ES * K) * BATCH * SEQ ))" >> $OUT/costs.csv
  if [ "$BASE" -gt 0 ]; then   # the paper's setting: a base model on the general share, then fine-tuning
    FT=$((STEPS - BASE_STEPS)); EF=$(( FT / K > 0 ? FT / K : 1 ))
    if [ ! -f $OUT/models/base.safetensors ]; then
      say "base model: $BASE_STEPS steps on the general share ($(wc -l < $OUT/k$K/base.txt) files), then dense fine-tuning for $FT steps"
      train base $BASE_STEPS $SEED $JOBS --docs $OUT/k$K/base.txt
      train dense_ft $FT $SEED $JOBS --docs $OUT/k$K/finetune.txt --init $OUT/models/base.safetensors
      echo "base,$((BASE_STEPS * BATCH * SEQ))" >> $OUT/costs.csv
      echo "dense-ft,$((STEPS * BATCH * SEQ))" >> $OUT/costs.csv
    fi
    say "K=$K: $K clustered + $K random-split experts fine-tuned from the base, $EF steps each"
    experts f $K $EF --init $OUT/models/base.safetensors
    echo "clustered-ft-$K,$(( (BASE_STEPS + EF * K) * BATCH * SEQ ))" >> $OUT/costs.csv
    echo "random-ft-$K,$(( (BASE_STEPS + EF * K) * BATCH * SEQ ))" >> $OUT/costs.csv
  fi
  if [ "$SCRATCH" = 1 ]; then
    say "K=$K: $K clustered + $K random-split experts, $ES steps each, $JOBS at a time"
    experts "" $K $ES $INIT
  fi
  if [ "${PARTITION:-kmeans}" != smalltalk ]; then   # the smalltalk partition made its router LMs; k-means needs them
    LS=$(( ES / 4 + 1 ))   # SmallTalk's router LMs: tiny (1 layer, d 32), a quarter of an expert's steps, one cluster each
    say "K=$K: $K router LMs (R6), $LS steps each"
    for k in $(seq 0 $((K - 1))); do
      echo "lm${K}_$k $LS $((SEED + 300 + k)) 1 --docs $OUT/k$K/shard_$k.txt --layers 1 --dim 32 --heads 2"
    done | xargs -P $JOBS --process-slot-var=SLOT -L 1 bash -c 'train "$@"' _
    for k in $(seq 0 $((K - 1))); do echo $OUT/models/lm${K}_$k.safetensors; done > $OUT/k$K/router_lms.txt
  fi
done

say "evaluation"
EV="--doc-bits $OUT/doc_bits.csv --doc-bytes $DOC_BYTES"   # every row's bits per document, for decar compare
if [ "$BASE" -gt 0 ]; then
  $D ens-eval $TOK $EV --experts $OUT/models/base.safetensors --route uniform --route-k 1 --label base --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_base.txt
  $D ens-eval $TOK $EV --experts $OUT/models/dense_ft.safetensors --route uniform --route-k 1 --label dense-ft --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_dense_ft.txt
  for K in $KS; do
    for k in $(seq 0 $((K - 1))); do echo $OUT/models/fc${K}_$k.safetensors; done > $OUT/k$K/experts_clustered_ft.txt
    for k in $(seq 0 $((K - 1))); do echo $OUT/models/fr${K}_$k.safetensors; done > $OUT/k$K/experts_random_ft.txt
    $D ens-eval $TOK $EV --experts @$OUT/k$K/experts_clustered_ft.txt --router $OUT/k$K/router.safetensors --route top1,cosine,cbtm,bayes,uniform,learned --route-k 1,2,0 --oracle 1 \
       --label clustered-ft-$K --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_cf$K.txt
    $D ens-eval $TOK $EV --experts @$OUT/k$K/experts_clustered_ft.txt --router-lms @$OUT/k$K/router_lms.txt --route smalltalk --route-k 1,2 \
       --label clustered-ft-$K --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS >> $OUT/eval_cf$K.txt
    $D ens-eval $TOK $EV --experts @$OUT/k$K/experts_random_ft.txt --route uniform,bayes --route-k 1,2,0 --oracle 1 --label random-ft-$K --data $DATA --val-permille $VAL \
       --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_rf$K.txt
  done
fi
[ "$SCRATCH" = 1 ] && $D ens-eval $TOK $EV --experts $OUT/models/dense.safetensors --route uniform --route-k 1 --label dense --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_dense.txt
for K in $([ "$SCRATCH" = 1 ] && echo $KS); do   # expert sets as manifests: one checkpoint per line, aligned with the router's clusters
  for k in $(seq 0 $((K - 1))); do echo $OUT/models/c${K}_$k.safetensors; done > $OUT/k$K/experts_clustered.txt
  for k in $(seq 0 $((K - 1))); do echo $OUT/models/r${K}_$k.safetensors; done > $OUT/k$K/experts_random.txt
  C=@$OUT/k$K/experts_clustered.txt; R=@$OUT/k$K/experts_random.txt
  $D ens-eval $TOK $EV --experts $C --router $OUT/k$K/router.safetensors --route top1,cosine,cbtm,bayes,uniform,learned --route-k 1,2,0 --oracle 1 \
     --label clustered-$K --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_c$K.txt
  $D ens-eval $TOK $EV --experts $C --router-lms @$OUT/k$K/router_lms.txt --route smalltalk --route-k 1,2 \
     --label clustered-$K --data $DATA --val-permille $VAL --csv $OUT/results.csv --domains 0 --threads $JOBS >> $OUT/eval_c$K.txt
  $D ens-eval $TOK $EV --experts $R --route uniform,bayes --route-k 1,2,0 --oracle 1 --label random-$K --data $DATA --val-permille $VAL \
     --csv $OUT/results.csv --domains 0 --threads $JOBS > $OUT/eval_r$K.txt
done

if [ "$DFM" = 1 ]; then   # masked DFM: the same rows with --objective dfm at the first K, in the paper's setting with BASE
  K=$(echo $KS | cut -d' ' -f1); DS=$OUT/k$K; DR=$OUT/k$K/router.safetensors
  if [ "${PARTITION:-kmeans}" = kmeans ]; then   # the same partition (same seed), with R5 fitted on noised windows
    say "DFM: R5 for noised sequences (decar cluster --learned-window $SEQ, the same k-means partition)"
    $D cluster --data $DATA --out $OUT/k$K/dfm --k $K --val-permille $VAL --seed $SEED --threads $JOBS \
      --base-permille $BASE --learned-window $SEQ > $OUT/k$K/dfm.log
    cmp -s $OUT/k$K/shard_0.txt $OUT/k$K/dfm/shard_0.txt || { echo "pipeline.sh: the DFM partition differs" >&2; exit 1; }
    DR=$OUT/k$K/dfm/router.safetensors
  fi
  if [ "$BASE" -gt 0 ]; then   # a DFM base model, then the dense model and every expert fine-tuned from it
    FT=$((STEPS - BASE_STEPS)); EF=$(( FT / K > 0 ? FT / K : 1 )); SUF="-ft"; B0=$BASE_STEPS
    INITD="--init $OUT/models/dfm_base.safetensors"; DD="--docs $DS/finetune.txt"
    say "DFM: base model $BASE_STEPS steps, dense fine-tuned $FT steps, $K clustered + $K random experts $EF steps each"
    train dfm_base $BASE_STEPS $SEED $JOBS --objective dfm --docs $DS/base.txt
    echo "dfm-base,$((BASE_STEPS * BATCH * SEQ))" >> $OUT/costs.csv
  else
    FT=$STEPS; EF=$(( STEPS / K > 0 ? STEPS / K : 1 )); SUF=""; B0=0; INITD=""; DD=""
    say "DFM: dense $STEPS steps, $K clustered + $K random-split experts $EF steps each, from scratch"
  fi
  { echo "dfm_dense $FT $SEED 1 --objective dfm $DD $INITD"
    for k in $(seq 0 $((K - 1))); do
      echo "dfmc${K}_$k $EF $((SEED + 100 + k)) 1 --objective dfm --docs $DS/shard_$k.txt $INITD"
      echo "dfmr${K}_$k $EF $((SEED + 100 + k)) 1 --objective dfm --docs $DS/random_$k.txt $INITD"
    done; } | sed 's/ *$//' | xargs -P $JOBS --process-slot-var=SLOT -L 1 bash -c 'train "$@"' _
  echo "dfm-dense$SUF,$((STEPS * BATCH * SEQ))" >> $OUT/costs.csv
  echo "dfm-clustered$SUF-$K,$(( (B0 + EF * K) * BATCH * SEQ ))" >> $OUT/costs.csv
  echo "dfm-random$SUF-$K,$(( (B0 + EF * K) * BATCH * SEQ ))" >> $OUT/costs.csv
  for k in $(seq 0 $((K - 1))); do echo $OUT/models/dfmc${K}_$k.safetensors; done > $DS/experts_dfm_clustered.txt
  for k in $(seq 0 $((K - 1))); do echo $OUT/models/dfmr${K}_$k.safetensors; done > $DS/experts_dfm_random.txt
  # the bounds: R1 (top-1), R2 (cosine top-2) and R5 (learned on noised windows) route each x_t by its revealed text;
  # bayes is the document-level Bayes bound (every expert's ELBO mixed by the prior); uniform mixes every expert
  DE="$TOK $EV --data $DATA --val-permille $VAL --csv $OUT/results.csv --threads $JOBS --mc $MC"
  MCB="--mc $(( MC > 2 ? MC : 2 ))"   # the Bayes bound's jackknife needs two draws or more (the later --mc wins)
  [ "$BASE" -gt 0 ] && $D ens-eval $DE --experts $OUT/models/dfm_base.safetensors --route uniform --route-k 1 --label dfm-base > $OUT/eval_dfm_base.txt
  $D ens-eval $DE --experts $OUT/models/dfm_dense.safetensors --route uniform --route-k 1 --label dfm-dense$SUF > $OUT/eval_dfm_dense.txt
  { $D ens-eval $DE --experts @$DS/experts_dfm_clustered.txt --router $DR --route top1,learned --route-k 1 --label dfm-clustered$SUF-$K
    [ $K -gt 2 ] && $D ens-eval $DE --experts @$DS/experts_dfm_clustered.txt --router $DR --route cosine,learned --route-k 2 --label dfm-clustered$SUF-$K
    $D ens-eval $DE $MCB --experts @$DS/experts_dfm_clustered.txt --router $DR --route bayes,uniform --route-k 0 --label dfm-clustered$SUF-$K; } > $OUT/eval_dfm_c.txt
  $D ens-eval $DE $MCB --experts @$DS/experts_dfm_random.txt --route bayes,uniform --route-k 0 --label dfm-random$SUF-$K > $OUT/eval_dfm_r.txt
  # sample quality: unconditional samples of a context (SEQ - 1 tokens) at temperature 1, scored by the AR dense model
  say "DFM: sample quality (decar gen-eval), scored by the AR dense model"
  GEN_SAMPLES=${GEN_SAMPLES:-$([ -n "${TINY:-}" ] && echo 2 || ([ -n "${SMALL:-}" ] && echo 4) || echo 16)} \
    K=$K SEQ=$SEQ SEED=$SEED BASE=$BASE DATA=$DATA VAL=$VAL JOBS=$JOBS TOK="$TOK" D=$D bash scripts/gen_eval_run.sh $OUT
  bash scripts/gen_eval_plot.sh $OUT/gen_eval.csv $OUT/gen_eval.svg
fi

say "results"
REF=$([ "$BASE" -gt 0 ] && echo dense-ft || echo dense)   # the compute-matched dense model of the paper's setting
awk -F, 'NR == 1 || $1 !~ /^dfm-/' $OUT/doc_bits.csv > $OUT/doc_bits_ar.csv   # the AR rows (DFM rows are bounds)
$D compare --doc-bits $OUT/doc_bits_ar.csv --ref $REF --out $OUT/compare.md
if [ "$DFM" = 1 ]; then   # the DFM rows alone (doc_bits_dfm.csv), paired to the DFM dense model
  awk -F, 'NR == 1 || $1 ~ /^dfm-/' $OUT/doc_bits.csv > $OUT/doc_bits_dfm.csv
  $D compare --doc-bits $OUT/doc_bits_dfm.csv --ref dfm-$REF --out $OUT/compare_dfm.md
fi
RUNS=${RUNS:-$OUT/runs.csv}   # the rows with the run's configuration: a plain table to redraw and to add seeds to
H="seed,data,ks,steps,layers,dim,heads,seq,batch,lr,val_permille,base_permille,base_steps,branch,bpe,dfm"
H="$H,model,router,topk,domain,bits_per_byte,bytes"
[ -s $RUNS ] || echo "$H" > $RUNS
head -1 $RUNS | grep -qx "$H" || { echo "pipeline.sh: $RUNS has another header" >&2; exit 1; }
CONF="$SEED,$DATA,${KS// /+},$STEPS,$LAYERS,$DIM,$HEADS,$SEQ,$BATCH,$LR,$VAL,$BASE,$BASE_STEPS,$BRANCH,$BPE,$DFM"
awk -v c="$CONF" 'NR > 1 { print c "," $0 }' $OUT/results.csv >> $RUNS
CP=$([ "$SCRATCH" = 1 ] && echo dense || echo dense_ft); EP=$([ "$SCRATCH" = 1 ] && echo "" || echo f)   # the curves drawn
$D plot --out $OUT/curves.svg --labels "dense model (all data)$(for K in $KS; do printf ',clustered expert 0 of %d,random-split expert 0 of %d' $K $K; done)" \
  $OUT/logs/$CP.csv $(for K in $KS; do echo $OUT/logs/${EP}c${K}_0.csv $OUT/logs/${EP}r${K}_0.csv; done)
V=$([ "${BPE:-0}" -gt 0 ] && echo $((BPE + 1)) || echo 258)
PARAMS=$(( V * DIM + SEQ * DIM + LAYERS * (12 * DIM * DIM + 13 * DIM) + 2 * DIM ))
LMPARAMS=$(( V * 32 + SEQ * 32 + 12 * 32 * 32 + 13 * 32 + 2 * 32 ))   # a router LM of R6: 1 layer, d 32
RUNS=$RUNS CONF="$CONF" bash scripts/results.sh $OUT "$KS" $PARAMS $LMPARAMS > $OUT/results.md
{ echo; echo "## Intervals: 95% bootstrap over the held-out documents, ratios paired to $REF (decar compare)"; echo
  cat $OUT/compare.md
  for K in $KS; do [ -s $OUT/k$K/partition.tsv ] && awk -F'\t' -v K=$K -v tok=$((STEPS * BATCH * SEQ)) -v N=$PARAMS \
    'NR == 2 { printf "\nPartition at K = %d: %s, %d rounds of %d steps per router LM (%d parameters each): %.3e FLOPs, %.1f%% of the dense model'"'"'s training\n", K, $1, $2, $3, $4, $5, 100 * $5 / (6 * N * tok) }' $OUT/k$K/partition.tsv; done
  if [ -s $OUT/gen_eval.csv ]; then
    echo; echo "## Sample quality: unconditional samples of $((SEQ - 1)) tokens at temperature 1 (decar gen-eval)"; echo
    echo "Scored by the AR dense model (the row 'data' is held-out text cut to the same length; the AR dense row scores"
    echo "its own samples). Lower bits per byte is more likely text to the scorer; the unigram entropy (bits) drops when"
    echo "samples repeat themselves."; echo
    echo "| model | sampler | steps | samples | bits/byte | gen. perplexity | unigram entropy |"; echo "|---|---|---|---|---|---|---|"
    awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %.4f | %.2f | %.3f |\n", $1, $2, $3, $4, $6, $7, $8 }' $OUT/gen_eval.csv
  fi
  } >> $OUT/results.md
K=$(echo $KS | tr ' ' '\n' | tail -1); P=$([ "$BASE" -gt 0 ] && echo fc || echo c)   # samples: the fine-tuned experts in the paper setting
C=$(for k in $(seq 0 $((K - 1))); do printf "%s$OUT/models/$P${K}_$k.safetensors" "$([ $k -gt 0 ] && echo ,)"; done)
{ echo; echo "## Samples from the clustered ensemble (K=$K$([ $P = fc ] && echo ", fine-tuned from the base"), cosine router, top-2, temperature 0.8)"; echo
  for p in "int main(" "And the LORD said" "def __init__(self"; do
    echo '```'; $D generate $TOK --experts $C --router $OUT/k$K/router.safetensors --route cosine --route-k 2 --route-every 64 --prompt "$p" --n 160 --seed 7 --threads $JOBS 2>>$OUT/samples.log; echo '```'
  done; } >> $OUT/results.md
cat $OUT/samples.log | grep "expert" >&2 || true
say "done: $OUT/results.md, $OUT/results.csv, $OUT/curves.svg"
