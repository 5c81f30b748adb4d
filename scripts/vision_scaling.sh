#!/bin/bash
# vision_scaling.sh (make vision-scaling): the vision line of the scaling study. Image-conditioned experts (LLaVA-style
# captioners reading a frozen CLIP-style encoder's patch features) against a dense captioner of the same training
# compute, as the budget grows: held-out caption bits per byte, ensemble / dense with paired 95% intervals over the
# held-out images and seeds, encoder clusters against a random split, the oracle router beside R1, R2 and R5.
#   1. the encoder: decar clip once, one thread (the featurizer is given, as the paper's pretrained CLIP is; the
#      default is scripts/clip_study.sh's setting mild_s50_10k, the same bits); ENCODER=DIR reuses
#      one (a directory with embed.npy and patches.npy, e.g. make demo-vision's output; its clip.log and
#      clip_curve.csv, decar clip's printout and --log, are copied to OUT when there)
#   2. per seed and K: decar vcluster on the encoder's embeddings (spherical balanced k-means, its random split of the
#      same sizes, R5's classifier), then a base captioner per seed (BASE steps on a random 1/K0 of the training images)
#   3. per seed and budget B (optimizer steps of BATCH images): the dense captioner fine-tunes B steps on every training
#      image; per K, K experts on the encoder clusters and K on the random split, B / K steps each (equal compute)
#   4. decar caption on the first MAXTEST held-out images (0: all): dense; encoder-clustered K under R1 (top-1 cosine),
#      R2 (softmax(cos / 0.05), top-2), R5 (learned, top-1) and the oracle; random K (uniform over all K) and its oracle
#   5. scripts/vision_scaling_report.sh: decar compare per budget (OUT/cmp), OUT/vision_scaling.md, .csv and .svg
#   DENSE_BUDGETS: budgets beyond BUDGETS for the dense captioner alone (where its held-out bits stop improving)
# Environment: GLYPHS OUT ENCODER SEEDS KS BUDGETS DENSE_BUDGETS BASE LAYERS DIM HEADS BATCH MAXTEST JOBS CLIP_STEPS CLIP_DIM
#              CLIP_LAYERS CLIP_BATCH CLIP_AUGMENT (decar clip --augment) CLIP_LOGIT_SCALE (--logit-scale) PRECISION (fp32 or
#              bf16: the encoder's and captioners' training; held-out captions are scored in fp32); SMALL=1 for a run of a
#              few minutes, TINY=1 for the test suite (seconds).
# Any image-caption directory in the documented format works as GLYPHS. A model already trained (same name) is kept:
# a killed run continues.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT=vision_scaling.sh; . scripts/env_check.sh
#                   SEEDS  KS      BUDGETS                 BASE LAYERS DIM HEADS BATCH MAXTEST CLIP_STEPS CLIP_DIM CLIP_LAYERS CLIP_BATCH OUT
if [ -n "${TINY:-}" ]; then DEF="1 2|2|8 16|8|1|16|2|8|24|20|16|1|16|runs/vision-scaling-tiny"
elif [ -n "${SMALL:-}" ]; then DEF="1 2 3|2 4|100 200 400|100|2|64|4|32|300|300|64|1|64|runs/vision-scaling-small"
else DEF="1 2 3|2 4 8|400 800 1600 3200 6400|200|2|64|4|32|0|10000|96|2|128|runs/vision-scaling"; fi
IFS='|' read -r dSEEDS dKS dBUD dBASE dL dC dH dB dM dCS dCD dCL dCB dOUT <<< "$DEF"
dDB=$([ -n "${TINY:-}${SMALL:-}" ] && echo "" || echo "12800 25600")
env_default DENSE_BUDGETS "$dDB"
[ -z "${DENSE_BUDGETS// /}" ] || env_ints DENSE_BUDGETS 1
env_default SEEDS "$dSEEDS"; env_default KS "$dKS"; env_default BUDGETS "$dBUD"; env_default BASE $dBASE
env_default LAYERS $dL; env_default DIM $dC; env_default HEADS $dH; env_default BATCH $dB; env_default MAXTEST $dM
env_default JOBS 2; env_default CLIP_STEPS $dCS; env_default CLIP_DIM $dCD; env_default CLIP_LAYERS $dCL
env_default CLIP_BATCH $dCB; env_default OUT "$dOUT"; env_default ENCODER ""; env_default CLIP_AUGMENT 1
env_default CLIP_LOGIT_SCALE 50; env_default PRECISION bf16
env_ints SEEDS 0; env_ints KS 2 100000; env_ints BUDGETS 1; env_int BASE 1; env_int LAYERS 1 64; env_int DIM 1 65536
env_int HEADS 1 1024; env_int BATCH 1 4096; env_int MAXTEST 0; env_int JOBS 1 1024; env_int CLIP_STEPS 1
env_int CLIP_DIM 1 65536; env_int CLIP_LAYERS 1 64; env_int CLIP_BATCH 2 4096; env_int CLIP_AUGMENT 0 1
env_num CLIP_LOGIT_SCALE; env_word PRECISION fp32 bf16
[ $((DIM % HEADS)) -eq 0 ] || env_fail "DIM=$DIM must be a multiple of HEADS=$HEADS"
for K in $KS; do for B in $BUDGETS; do [ $((B % K)) -eq 0 ] ||
  env_fail "every budget must be divisible by every K (budget $B, K $K): experts train B / K steps each"; done; done
[ -n "$OUT" ] || env_fail "OUT= must name the output folder"
if [ -n "$ENCODER" ]; then [ -s "$ENCODER/embed.npy" ] && [ -s "$ENCODER/patches.npy" ] ||
  env_fail "ENCODER=$ENCODER holds no embed.npy and patches.npy (decar clip --embed, --patches)"; fi
GLYPHS=${GLYPHS:-data/glyphs}
D=${DECAR:-build/decar}
[ -x $D ] || make -s build/decar
if [ ! -f "$GLYPHS/captions.txt" ]; then
  [ "$GLYPHS" = data/glyphs ] || env_fail "GLYPHS=$GLYPHS holds no captions.txt"
  echo "building the glyph set in $GLYPHS (Debian fonts; needs root and apt)"; bash scripts/make_glyphs.sh "$GLYPHS"
fi
env_own_out "$OUT"
mkdir -p $OUT/models $OUT/eval $OUT/logs
T0=$SECONDS
say() { echo "[vision-scaling $((SECONDS - T0))s] $*" >&2; }
say "images $GLYPHS; seeds {$SEEDS}; K in {$KS}; budgets {$BUDGETS} steps of $BATCH images; $JOBS jobs"

# 1. the encoder (once): every image's embedding (clustering, routing) and patch features (the captioners' input)
ENC=${ENCODER:-$OUT/encoder}
if [ -z "$ENCODER" ] && [ ! -s $ENC/patches.npy ]; then
  say "1. CLIP encoder pair ($CLIP_STEPS steps of $CLIP_BATCH pairs, d_model $CLIP_DIM, $CLIP_LAYERS layers)"
  rm -rf $ENC
  OMP_NUM_THREADS=1 $D clip --images $GLYPHS --out $ENC --steps $CLIP_STEPS --dim $CLIP_DIM --layers $CLIP_LAYERS \
    --heads 4 --batch $CLIP_BATCH --threads 1 --precision $PRECISION --quiet 1 --augment $CLIP_AUGMENT \
    --logit-scale $CLIP_LOGIT_SCALE --embed $ENC/embed.npy \
    --patches $ENC/patches.npy --figure $OUT/retrieval.svg \
    --val-every $(( CLIP_STEPS / 10 > 0 ? CLIP_STEPS / 10 : 1 )) --log $OUT/clip_curve.csv > $OUT/clip.log.tmp
  mv $OUT/clip.log.tmp $OUT/clip.log
fi

for f in clip.log clip_curve.csv; do
  if [ -n "$ENCODER" ] && [ -s $ENCODER/$f ]; then cp $ENCODER/$f $OUT/$f; fi
done

# the encoder's clusters at K = the number of scripts (labels.txt), against raw pixels: purity and NMI
NL=$( [ -s $GLYPHS/labels.txt ] && sort -u $GLYPHS/labels.txt | grep -c . || echo 0)
if [ "$NL" -ge 2 ]; then
  for fs in encoder pixels; do
    [ -s $OUT/scripts_$fs.log ] && continue
    $D vcluster --images $GLYPHS --out $OUT/scripts_$fs --k $NL --seed 1 \
      $([ $fs = encoder ] && echo "--features $ENC/embed.npy") > $OUT/scripts_$fs.log.tmp
    mv $OUT/scripts_$fs.log.tmp $OUT/scripts_$fs.log
  done
fi

# 2. clusters per seed and K (the encoder's embeddings; vcluster also writes a random split and R5's classifier)
K0=$(echo $KS | cut -d' ' -f1)
for SEED in $SEEDS; do
  for K in $KS; do
    P=$OUT/s$SEED/k$K
    [ -f $P/vrouter.safetensors ] || { mkdir -p $OUT/s$SEED
      $D vcluster --images $GLYPHS --out $P --k $K --seed $SEED --features $ENC/embed.npy > $P.log; }
  done
done

# the captioners' prefix: the encoder's P patch features of C floats (patches.npy: n x P C; embed.npy: n x C)
npy_cols() { head -c 512 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9]*, [0-9]*" | sed 's/.*, //'; }
PC=$(npy_cols $ENC/patches.npy); EC=$(npy_cols $ENC/embed.npy)
[ -n "$PC" ] && [ -n "$EC" ] && [ "$EC" -gt 0 ] && [ $((PC % EC)) -eq 0 ] ||
  env_fail "$ENC/patches.npy ($PC columns) is not whole patch features of $ENC/embed.npy's width ($EC)"
F="--images $GLYPHS --prefix-features $ENC/patches.npy --prefix-len $((PC / EC))"
# vt NAME STEPS SEED ARGS...: one captioner, one process, one thread; a finished one is kept
vt() {
  local name=$1 steps=$2 seed=$3; shift 3
  [ -f $OUT/models/$name.safetensors ] || OMP_NUM_THREADS=1 $D vtrain $F --steps $steps --seed $seed --threads 1 \
    --batch $BATCH --precision $PRECISION --quiet 1 --out $OUT/models/$name.safetensors "$@" > $OUT/logs/$name.txt ||
    { echo "vision_scaling.sh: vtrain failed for $name (see $OUT/logs/$name.txt)" >&2; return 1; }
  echo "$name" >> $OUT/done.txt
  echo "[vision-scaling] $(wc -l < $OUT/done.txt)/$(cat $OUT/todo.txt) captioners trained ($name)" >&2
}
export -f vt; export D F OUT BATCH PRECISION

# the base captioners, one per seed, on a random 1/K0 of the training images
rm -f $OUT/done.txt; echo "$SEEDS" | wc -w > $OUT/todo.txt
for SEED in $SEEDS; do
  echo "base_s$SEED $BASE $SEED --subset $OUT/s$SEED/k$K0/random_0.txt --layers $LAYERS --dim $DIM --heads $HEADS"
done | xargs -r -P $JOBS -L 1 bash -c 'vt "$@"' _

# 3. the fine-tunes, the most work first: dense (B steps), and per K and split K experts of B / K steps
jobs() {
  local SEED B K k
  for SEED in $SEEDS; do
    for B in $BUDGETS $DENSE_BUDGETS; do
      I="--init $OUT/models/base_s$SEED.safetensors"
      echo "$B s${SEED}_b${B}_dense $B $SEED $I"
      [[ " $DENSE_BUDGETS " == *" $B "* ]] && continue   # the dense captioner alone
      for K in $KS; do
        for k in $(seq 0 $((K - 1))); do
          echo "$((B / K)) s${SEED}_b${B}_enc${K}_$k $((B / K)) $((SEED * 1000 + 101 + k)) $I --subset $OUT/s$SEED/k$K/shard_$k.txt"
          echo "$((B / K)) s${SEED}_b${B}_rnd${K}_$k $((B / K)) $((SEED * 1000 + 101 + k)) $I --subset $OUT/s$SEED/k$K/random_$k.txt"
        done
      done
    done
  done
}
rm -f $OUT/done.txt; jobs | wc -l > $OUT/todo.txt
say "2. $(cat $OUT/todo.txt) captioners to fine-tune"
jobs | sort -s -k1,1 -rn | cut -d' ' -f2- | xargs -r -P $JOBS -L 1 bash -c 'vt "$@"' _

# 4. the held-out captions of every row, per image (decar caption --doc-bits), one file per seed and budget
evaluate() {
  local SEED=$1 B=$2 K k f g
  f=$OUT/eval/s${SEED}_b$B
  # evaluated already with the same settings and models (a run that continues): kept
  local only=$([[ " $DENSE_BUDGETS " == *" $B "* ]] && echo dense || echo all)
  local key="$MAXTEST|$KS|$only|$ENC_SUM|$(ls -l --time-style=+%s $OUT/models/s${SEED}_b${B}_*.safetensors | \
    awk '{ print $6, $7 }')"
  [ -s $f.docs ] && [ "$(cat $f.key 2>/dev/null)" = "$key" ] && return 0
  rm -f $f.docs $f.key $f.docs.tmp $f.csv.tmp
  fails() { echo "vision_scaling.sh: decar caption failed for seed $SEED budget $B (see $f.txt)" >&2; return 1; }
  E="$F --max $MAXTEST --threads 1 --doc-bits $f.docs.tmp --csv $f.csv.tmp"
  # contact sheets of the first seed at the largest budget: the dense captioner and the first K's experts under R1
  local sd=() se=()
  [ "$SEED" = "$(echo $SEEDS | cut -d' ' -f1)" ] && [ "$B" = "$(printf '%s\n' $BUDGETS | sort -n | tail -1)" ] &&
    sd=(--sheet $OUT/sheet_dense.svg) &&
    se=(--sheet $OUT/sheet_enc$(echo $KS | cut -d' ' -f1)_top1.svg)
  $D caption --experts $OUT/models/s${SEED}_b${B}_dense.safetensors --route uniform --label dense $E "${sd[@]}" \
    > $f.txt || { fails; return 1; }
  [[ " $DENSE_BUDGETS " == *" $B "* ]] && K_EVAL="" || K_EVAL=$KS
  for K in $K_EVAL; do
    list() { for k in $(seq 0 $((K - 1))); do printf "%s$OUT/models/s${SEED}_b${B}_$1${K}_$k.safetensors" "$([ $k -gt 0 ] && echo ,)"; done; }
    R="--router $OUT/s$SEED/k$K/vrouter.safetensors --route-features $ENC/embed.npy"
    g="--experts $(list enc) $R --label enc$K"
    $D caption $g --route top1 --route-k 1 --oracle 1 $E "${se[@]}" >> $f.txt || { fails; return 1; }
    se=()
    $D caption $g --route cosine --route-k 2 --route-temp 0.05 $E >> $f.txt || { fails; return 1; }
    $D caption $g --route learned --route-k 1 $E >> $f.txt || { fails; return 1; }
    $D caption --experts $(list rnd) --route uniform --route-k $K --label rnd$K --oracle 1 $E >> $f.txt ||
      { fails; return 1; }
  done
  mv $f.csv.tmp $f.csv
  mv $f.docs.tmp $f.docs
  echo "$key" > $f.key
  echo "[vision-scaling] evaluated seed $SEED budget $B" >&2
}
# the encoder in the key by its files' checksum (the same encoder under another path is the same evaluation)
ENC_SUM=$(cat $ENC/embed.npy $ENC/patches.npy | cksum | cut -d' ' -f1)
export -f evaluate; export KS MAXTEST ENC ENC_SUM SEEDS BUDGETS DENSE_BUDGETS
say "3. held-out captions: $(echo $SEEDS | wc -w) seeds x $(echo $BUDGETS | wc -w) budgets"
for SEED in $SEEDS; do for B in $BUDGETS $DENSE_BUDGETS; do echo "$SEED $B"; done; done |
  xargs -r -P $JOBS -L 1 bash -c 'evaluate "$@"' _

say "4. report"
N=$(grep -ho "[0-9]* params" $OUT/logs/s*_dense.txt | head -1 | cut -d' ' -f1)
SEEDS="$SEEDS" BUDGETS="$BUDGETS" DENSE_BUDGETS="$DENSE_BUDGETS" KS="$KS" BATCH=$BATCH BASE=$BASE N=$N GLYPHS=$GLYPHS \
  bash scripts/vision_scaling_report.sh $OUT
say "done: $OUT/vision_scaling.md, $OUT/vision_scaling.csv, $OUT/vision_scaling.svg"
