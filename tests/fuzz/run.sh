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
TARGETS="checkpoint router npy list images tokenizer hf csv"
# inputs up to 256 KB for the line- and text-based formats (a merges.txt line longer than vocab.json, a CSV row of
# any length, a config.json with nested objects); libFuzzer's default is the largest seed
maxlen() { case $1 in tokenizer|csv|hf) echo 262144 ;; *) echo 0 ;; esac; }
# the CSV target compiles the CLI (C11: timespec_get) around the reader
stdof() { case $1 in csv) echo c11 ;; *) echo c99 ;; esac; }
JOBS=$(nproc 2>/dev/null || echo 2)
# build the targets, then run them, $JOBS at a time (each run is one process for SECS; the compile is the slow part)
build() {
  rm -f $B/fuzz_$1
  clang -std=$(stdof $1) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $B/fuzz_$1 \
    tests/fuzz/fuzz_$1.c -lm \
    > $B/build_$1.log 2>&1
}
fuzz() {
  mkdir -p $B/corpus_$1
  $B/fuzz_$1 -max_total_time="$SECS" -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 -max_len=$(maxlen $1) \
    -artifact_prefix=$B/ $B/corpus_$1 tests/fuzz/corpus/$1 > $B/fuzz_$1.log 2>&1
  echo $? > $B/fuzz_$1.rc
}
export -f build fuzz maxlen stdof; export B SECS
rm -f $B/fuzz_*.rc
printf '%s\n' $TARGETS | xargs -P "$JOBS" -I{} bash -c 'build {}'
printf '%s\n' $TARGETS | xargs -P "$JOBS" -I{} bash -c '[ -x $B/fuzz_{} ] && fuzz {}'
for t in $TARGETS; do
  log=$B/fuzz_$t.log
  if [ ! -x $B/fuzz_$t ]; then
    echo "FAILED: fuzz_$t did not build:"; head -5 $B/build_$t.log; fails=$((fails + 1))
  elif [ "$(cat $B/fuzz_$t.rc 2>/dev/null)" = 0 ]; then
    echo "fuzz_$t: $(grep -ao 'number_of_executed_units: [0-9]*' $log | grep -o '[0-9]*') executions in ${SECS} s, no finding"
  else
    echo "FAILED: fuzz_$t found a problem (input saved under $B/):"; grep -E "ERROR|SUMMARY" $log | head -3
    fails=$((fails + 1))
  fi
done
exit $((fails > 0))
