#!/bin/bash
# SLURM for real: a tiny partition's experts as a job array and the evaluation as a dependent job, submitted from
# another directory, must give the same expert checkpoints (bytes) and the same evaluation as the same commands run
# locally. Needs a running SLURM (tests/slurm_setup.sh); prints SKIP without one. Usage: tests/slurm_test.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/.."
B=$(pwd)/${1:-build}
sinfo -h -o %t 2>/dev/null | grep -qE 'idle|mix|alloc' || { echo "SKIP: no SLURM cluster (tests/slurm_setup.sh starts one as root)"; exit 0; }
W=$B/slurm; rm -rf "$W"; mkdir -p "$W/corpus/a" "$W/corpus/b"
split -b 1500 -d -a 3 --additional-suffix=.txt LICENSE "$W/corpus/a/l"
split -b 1500 -d -a 3 --additional-suffix=.txt Makefile "$W/corpus/b/m"
$B/decar cluster --data "$W/corpus" --out "$W/run" --k 2 --val-permille 300 > /dev/null 2>&1 || { echo "FAILED: cluster"; exit 1; }
cp -r "$W/run" "$W/local"
export TRAIN_ARGS="--layers 1 --dim 16 --heads 2 --seq 16 --batch 2 --val-every 2 --val-permille 300" EVAL_ARGS="--val-permille 300 --route top1,cosine,cbtm,bayes,uniform --route-k 1,2,0"
# the same commands, locally (1 thread, as CPUS=1 gives each task)
for k in 0 1; do
  $B/decar train --data "$W/corpus" --docs "$W/local/shard_$k.txt" --steps 6 --seed $((101 + k)) --threads 1 \
    --out "$W/local/expert_$k.safetensors" $TRAIN_ARGS --quiet 1 || { echo "FAILED: local expert $k"; exit 1; }
done
$B/decar ens-eval --experts "$W/local/expert_0.safetensors,$W/local/expert_1.safetensors" --router "$W/local/router.safetensors" \
  --data "$W/corpus" --threads 1 $EVAL_ARGS > "$W/local/eval.txt" 2>/dev/null || { echo "FAILED: local evaluation"; exit 1; }
# through SLURM, submitted from another directory
(cd /tmp && CPUS=1 DECAR=$B/decar bash "$OLDPWD/scripts/slurm_pipeline.sh" "$W/run" "$W/corpus" 2 6) || { echo "FAILED: submission"; exit 1; }
for i in $(seq 180); do
  [ -z "$(squeue -h -n decar-expert,decar-eval 2>/dev/null)" ] && break; sleep 1
done
if [ -n "$(squeue -h -n decar-expert,decar-eval 2>/dev/null)" ]; then   # a cluster that never ran them: the machine's
  echo "SKIP: the SLURM jobs did not run within 180 s (node: $(sinfo -h -o '%t %E' | head -1)); cancelled"
  scancel -n decar-expert 2>/dev/null; scancel -n decar-eval 2>/dev/null; exit 0
fi
fails=0
for k in 0 1; do cmp -s "$W/run/models/expert_$k.safetensors" "$W/local/expert_$k.safetensors" || { echo "FAILED: expert $k from SLURM differs from the local run"; fails=$((fails + 1)); }; done
[ -s "$W/run/logs/expert_1.out" ] && grep -q "step" "$W/run/logs/expert_1.out" || { echo "FAILED: no training log in $W/run/logs"; fails=$((fails + 1)); }
# the evaluation's table, without the timing lines
if diff <(grep -v '^scored' "$W/run/eval.txt") <(grep -v '^scored' "$W/local/eval.txt") > /dev/null; then :; else echo "FAILED: the dependent evaluation differs from the local one"; fails=$((fails + 1)); fi
[ $fails -eq 0 ] && echo "SLURM: 2 experts as a job array + a dependent evaluation (submitted from /tmp): identical to the local run"
exit $((fails > 0))
