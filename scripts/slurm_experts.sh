#!/bin/bash
# Train the K experts of a partition as a SLURM job array, one expert per task, on any machines:
#   sbatch --array=0-$((K-1)) scripts/slurm_experts.sh runs/demo/k4 data/corpus runs/demo/models 150
# Each task runs the same command the local pipeline runs: it reads only its shard list and a seed.
#SBATCH --job-name=decar-expert
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
set -euo pipefail
PART=$1 DATA=$2 MODELS=$3 STEPS=$4
k=${SLURM_ARRAY_TASK_ID:?run me with sbatch --array}
mkdir -p "$MODELS"
OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-4} build/decar train --data "$DATA" --docs "$PART/shard_$k.txt" --steps "$STEPS" \
  --seed $((101 + k)) --out "$MODELS/expert_$k.safetensors" --log "$MODELS/expert_$k.csv" ${TRAIN_ARGS:-} --quiet 1
