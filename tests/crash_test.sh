#!/bin/bash
# Crash consistency (`make test`): kill -9 during training and during a checkpoint write, then --resume until done;
# the final checkpoint must be byte-identical to an uninterrupted run's. Usage: tests/crash_test.sh [BUILD_DIR] [TRIALS]
set -u
cd "$(dirname "$0")/.."
B=${1:-build}; TRIALS=${2:-3}
W=$B/crash; rm -rf "$W"; mkdir -p "$W/corpus/a" "$W/corpus/b"
split -b 2000 -d -a 3 --additional-suffix=.txt decar.h "$W/corpus/a/h"
split -b 2000 -d -a 3 --additional-suffix=.txt README.md "$W/corpus/b/r"
TR="--data $W/corpus --steps 24 --ckpt-every 2 --layers 2 --dim 128 --heads 4 --seq 32 --batch 4 --val-every 8 --quiet 1 --threads 2"
t0=$(date +%s%N)
$B/decar train $TR --out "$W/ref.safetensors" || { echo "FAILED: reference run"; exit 1; }
ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))   # the kill lands a random 0-50% of this after the first checkpoint
                                                # (a fast machine finishes 24 steps before any fixed delay)
fails=0; kills_train=0; kills_write=0
# run to the end, resuming after every death; $1 names the trial
finish() {
  local out=$1 tries=0
  while :; do
    if [ -f "$out" ]; then $B/decar train $TR --out "$out" --resume 1 2>/dev/null && break
    else $B/decar train $TR --out "$out" 2>/dev/null && break; fi
    tries=$((tries + 1)); [ $tries -gt 3 ] && { echo "FAILED: $out does not finish after a kill"; return 1; }
  done
  cmp -s "$out" "$W/ref.safetensors" || { echo "FAILED: $out differs from the uninterrupted run"; return 1; }
}
for t in $(seq "$TRIALS"); do
  # 1. killed at a random moment of training: after its first checkpoint exists (progress, not the clock: a machine
  # whose load changes between the reference run and this one still gets a kill), a random 0-50% of the reference
  # run's time later; a run that finished first is run again (at most 4 times)
  out=$W/t$t.safetensors
  for a in 1 2 3 4; do
    rm -f "$out"
    $B/decar train $TR --out "$out" & pid=$!
    while kill -0 $pid 2>/dev/null && [ ! -f "$out" ]; do sleep 0.01; done
    sleep "$(awk -v ms=$ref_ms -v r=$RANDOM 'BEGIN { printf "%.3f", ms * 0.5 * r / 32767 / 1000 }')"
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    [ $? -eq 137 ] && { kills_train=$((kills_train + 1)); break; }   # 128 + SIGKILL: it really died
  done
  finish "$out" || fails=$((fails + 1))
  # 2. killed while a checkpoint is being written: the moment its temporary file exists
  out=$W/w$t.safetensors
  $B/decar train $TR --out "$out" & pid=$!
  hit=0
  while kill -0 $pid 2>/dev/null; do
    if compgen -G "$out.tmp.*" > /dev/null; then kill -9 $pid 2>/dev/null && hit=1; break; fi
  done
  wait $pid 2>/dev/null; rc=$?
  [ $hit = 1 ] && [ $rc -eq 137 ] && kills_write=$((kills_write + 1))
  if [ -f "$out" ]; then $B/decar sample --model "$out" --n 1 > /dev/null 2>&1 || { echo "FAILED: $out unreadable after a kill during a write"; fails=$((fails + 1)); }; fi
  rm -f "$out".tmp.*   # what a killed writer leaves: never the checkpoint itself
  finish "$out" || fails=$((fails + 1))
done
echo "crash consistency: $TRIALS trials, $kills_train kills during training, $kills_write kills during a checkpoint write, $fails failures"
# a trial whose kill came too late tested nothing: at least one real kill of each kind is required
[ $kills_train -ge 1 ] || echo "FAILED: no kill during training happened (the runs finished first)"
[ $kills_write -ge 1 ] || echo "FAILED: no kill during a checkpoint write happened"
[ $fails -eq 0 ] && [ $kills_train -ge 1 ] && [ $kills_write -ge 1 ]
