#!/bin/bash
# One expert of a partition, as one task of a SLURM job array (submitted by scripts/slurm_pipeline.sh, which sets
# DECAR RUN DATA STEPS). It reads only its shard list and a seed: the same command the local pipeline runs. Threads:
# the CPUs SLURM gave this task (SLURM_CPUS_PER_TASK), else the machine's.
#SBATCH --job-name=decar-expert
set -euo pipefail
k=${SLURM_ARRAY_TASK_ID:?run me through scripts/slurm_pipeline.sh (a job array)}
TH=${SLURM_CPUS_PER_TASK:-$(nproc)}
echo "expert $k on $(hostname): $TH threads, shard $RUN/shard_$k.txt, $STEPS steps"
OMP_NUM_THREADS=$TH "$DECAR" train --data "$DATA" --docs "$RUN/shard_$k.txt" --steps "$STEPS" --seed $((101 + k)) \
  --threads "$TH" --out "$RUN/models/expert_$k.safetensors" --log "$RUN/models/expert_$k.csv" ${TRAIN_ARGS:-}
