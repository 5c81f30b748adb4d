#!/bin/bash
# Build every libFuzzer target (clang, ASan + UBSan) and run each for SECONDS (default 10) from its committed seed
# corpus. `make test` runs it briefly; `make fuzz FUZZ_SECONDS=600` runs it longer. New inputs go to build/fuzz/, never
# into the committed seeds; a finding is saved as build/fuzz/crash-* and fails the run. Usage: tests/fuzz/run.sh [SECONDS]
set -u
cd "$(dirname "$0")/../.."
SECS=${1:-10}
B=build/fuzz; mkdir -p $B
if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}\n' | \
     clang -x c - -fsanitize=fuzzer -o $B/probe 2>/dev/null; then
  echo "SKIP: fuzzing (clang with libFuzzer not installed: apt-get install clang libclang-rt-14-dev)"; exit 0
fi
fails=0
for t in checkpoint router npy list images tokenizer; do
  clang -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $B/fuzz_$t tests/fuzz/fuzz_$t.c -lm || { fails=$((fails + 1)); continue; }
  mkdir -p $B/corpus_$t
  log=$B/fuzz_$t.log
  if $B/fuzz_$t -max_total_time="$SECS" -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 \
       -artifact_prefix=$B/ $B/corpus_$t tests/fuzz/corpus/$t > $log 2>&1; then
    echo "fuzz_$t: $(grep -ao 'number_of_executed_units: [0-9]*' $log | grep -o '[0-9]*') executions in ${SECS} s, no finding"
  else
    echo "FAILED: fuzz_$t found a problem (input saved under $B/):"; grep -E "ERROR|SUMMARY" $log | head -3
    fails=$((fails + 1))
  fi
done
exit $((fails > 0))
