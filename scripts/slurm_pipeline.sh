#!/bin/bash
# Train the K experts of a partition on a SLURM cluster (one job-array task per expert, no communication between
# them), then evaluate the ensemble in a job that runs once every expert has finished (afterok). Run it from any
# directory on the submit host:
#   decar cluster --data DATA --out RUN --k K          # RUN/router.safetensors, RUN/shard_*.txt
#   scripts/slurm_pipeline.sh RUN DATA K [STEPS]
# Everything a job writes stays in RUN: models/expert_k.safetensors (+ .csv logs), logs/expert_k.out (the training
# progress), logs/eval.out, eval.txt and results.csv. Environment: CPUS (CPUs per task, default 1; each task uses what
# it is given), TRAIN_ARGS (extra options for decar train: model size, --lr, ...), EVAL_ARGS (for decar ens-eval),
# SBATCH_ARGS (e.g. "--partition=cpu --time=04:00:00"), DECAR (the binary; default build/decar of this checkout).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DECAR=${DECAR:-$ROOT/build/decar}
[ $# -ge 3 ] || { echo "usage: scripts/slurm_pipeline.sh RUN DATA K [STEPS]" >&2; exit 2; }
[ -x "$DECAR" ] || { echo "slurm_pipeline: $DECAR not found (make, or set DECAR)" >&2; exit 1; }
RUN=$(cd "$1" && pwd); DATA=$(cd "$2" && pwd); K=$3; STEPS=${4:-1000}
[ -f "$RUN/router.safetensors" ] || { echo "slurm_pipeline: $RUN has no router.safetensors (run decar cluster --out $RUN first)" >&2; exit 1; }
for k in $(seq 0 $((K - 1))); do [ -f "$RUN/shard_$k.txt" ] || { echo "slurm_pipeline: $RUN/shard_$k.txt missing (K=$K?)" >&2; exit 1; }; done
mkdir -p "$RUN/logs" "$RUN/models"
for k in $(seq 0 $((K - 1))); do echo "$RUN/models/expert_$k.safetensors"; done > "$RUN/experts.txt"
export DECAR RUN DATA K STEPS
arr=$(sbatch --parsable --array=0-$((K - 1)) --cpus-per-task="${CPUS:-1}" --job-name=decar-expert --chdir="$RUN" \
      --output="$RUN/logs/expert_%a.out" --export=ALL ${SBATCH_ARGS:-} "$ROOT/scripts/slurm_experts.sh")
arr=${arr%%;*}
ev=$(sbatch --parsable --dependency=afterok:"$arr" --cpus-per-task="${CPUS:-1}" --job-name=decar-eval --chdir="$RUN" \
     --output="$RUN/logs/eval.out" --export=ALL ${SBATCH_ARGS:-} "$ROOT/scripts/slurm_eval.sh")
echo "submitted: experts = job array $arr (tasks 0-$((K - 1))), evaluation = job ${ev%%;*} (after every expert); logs in $RUN/logs"
