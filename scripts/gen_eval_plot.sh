#!/bin/bash
# gen_eval_plot.sh CSV SVG [D]: sample quality against sampling steps from decar gen-eval's CSV: one line per model
# (the Euler sampler at each step count), the scorer's bits per byte of the samples; the held-out text's row ('data')
# as a dashed reference line when the CSV has one. D: the decar binary (default build/decar).
set -euo pipefail
CSV=${1:?usage: gen_eval_plot.sh GEN_EVAL.csv OUT.svg}; SVG=${2:?usage: gen_eval_plot.sh GEN_EVAL.csv OUT.svg}
D=${3:-${DECAR:-build/decar}}
T=$(mktemp -d); trap 'rm -rf $T' EXIT
# one CSV per model: its Euler rows (steps, bits_per_byte, entropy), sorted by steps
labels=$(awk -F, 'NR > 1 && $2 == "euler" && !s[$1]++ { print $1 }' "$CSV")
[ -n "$labels" ] || { echo "gen_eval_plot.sh: $CSV has no Euler rows" >&2; exit 1; }
i=0; files=""; names=""
for l in $labels; do
  f=$T/$(printf '%03d' $i).csv; i=$((i + 1))
  { echo "steps,bits_per_byte,entropy"; awk -F, -v l="$l" 'NR > 1 && $1 == l && $2 == "euler" { print $3 "," $6 "," $8 }' "$CSV" | sort -t, -k1,1n; } > $f
  files="$files $f"; names="$names,$l (Euler)"
done
ref=$(awk -F, 'NR > 1 && $1 == "data" { print $6; exit }' "$CSV")
# shellcheck disable=SC2086
$D plot --out "$SVG" --x steps --y bits_per_byte --logx 1 --labels "${names#,}" ${ref:+--hline $ref} \
  --title "Sample quality against sampling steps (scored by the AR dense model; dashed: held-out text)" \
  --xlabel "Euler steps (log scale)" --ylabel "bits per byte of the samples under the scorer" $files > /dev/null
