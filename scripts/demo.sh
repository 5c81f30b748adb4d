#!/bin/bash
# make demo: the main job end to end on the default corpus (built from Debian packages if missing).
#   make demo                 the paper's setting at K = 4 (~12 min on 2 cores): base model, experts and dense model
#                             fine-tuned from it, beside the from-scratch and random-split rows
#   make demo KS="4 8" DFM=1  also K = 8 and the masked-DFM rows (~35 min)
#   make demo SMALL=1         ~2 minutes once the corpus exists
#   make demo DATA=dir        any directory of text files (sub-folders = domains for the per-domain table)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/corpus}
if [ ! -f "$DATA/manifest.tsv" ] && [ "$DATA" = data/corpus ]; then
  echo "building the default corpus in data/corpus (Debian packages; needs root and apt; about 2 minutes)"
  bash scripts/make_corpus.sh data/corpus
fi
if [ -n "${SMALL:-}" ]; then OUT=${OUT:-runs/demo-small}; else OUT=${OUT:-runs/demo}; fi
DATA=$DATA OUT=$OUT bash scripts/pipeline.sh
cat $OUT/results.md
