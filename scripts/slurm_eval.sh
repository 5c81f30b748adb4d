#!/bin/bash
# The ensemble's evaluation, as a SLURM job that runs after every expert task succeeded (scripts/slurm_pipeline.sh
# submits it with --dependency=afterok). Writes RUN/eval.txt and RUN/results.csv.
#SBATCH --job-name=decar-eval
set -euo pipefail
TH=${SLURM_CPUS_PER_TASK:-$(nproc)}
OMP_NUM_THREADS=$TH "$DECAR" ens-eval --experts "@$RUN/experts.txt" --router "$RUN/router.safetensors" --data "$DATA" \
  --threads "$TH" --csv "$RUN/results.csv" ${EVAL_ARGS:-} > "$RUN/eval.txt"
echo "evaluation written to $RUN/eval.txt"
