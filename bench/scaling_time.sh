#!/bin/bash
# Two runs of scripts/scaling.sh with the same settings (two builds of the header, one machine, one after the other):
# each phase's wall time from the runs' printouts ([scaling Ns] lines), the ratios, and how far the held-out bits per
# byte of every row of scaling.csv moved (the largest relative change, and the rows whose mean over seeds moved more
# than the spread of the first run's seeds).
#   bash bench/scaling_time.sh BEFORE_DIR AFTER_DIR      (each holding run.log, the run's printout, and scaling.csv)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash bench/scaling_time.sh BEFORE_DIR AFTER_DIR" >&2; exit 2; }
for d in "$1" "$2"; do
  for f in run.log scaling.csv; do [ -s "$d/$f" ] || { echo "scaling_time: $d/$f is missing or empty" >&2; exit 1; }; done
done
# the seconds at which each phase starts: models to train, evaluation, report, done
phases() {
  awk '/^\[scaling [0-9]+s\]/ { t = $2; sub(/s\]/, "", t)
         if ($3 ~ /^[0-9]+$/ && $6 == "train") tr = t; else if ($3 == "evaluation:") ev = t
         else if ($3 == "report") rp = t; else if ($3 == "done:") dn = t }
       END { if (tr == "" || ev == "" || rp == "" || dn == "") exit 1; print tr, ev, rp, dn }' "$1/run.log"
}
read -r t1 e1 r1 d1 < <(phases "$1") || { echo "scaling_time: $1/run.log is not a whole scaling.sh printout" >&2; exit 1; }
read -r t2 e2 r2 d2 < <(phases "$2") || { echo "scaling_time: $2/run.log is not a whole scaling.sh printout" >&2; exit 1; }
echo "| phase | before (s) | after (s) | before / after |"
echo "|---|---|---|---|"
row() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "| %s | %d | %d | %.2fx |\n", n, a, b, (b > 0 ? a / b : 0) }'; }
row "data, partitions and base models" "$t1" "$t2"
row "training the study's models" $((e1 - t1)) $((e2 - t2))
row "evaluation (every model and ensemble)" $((r1 - e1)) $((r2 - e2))
row "whole run" "$d1" "$d2"
# bits per byte, row by row (keyed by every column but data and bits), and cell by cell over seeds
python3 - "$1/scaling.csv" "$2/scaling.csv" <<'EOF'
import csv, statistics, sys
def load(p):
    rows = {}
    for r in csv.DictReader(open(p)):
        bits = float(r.pop("bits_per_byte"))
        r.pop("data")
        rows[tuple(sorted(r.items()))] = bits
    return rows
a, b = load(sys.argv[1]), load(sys.argv[2])
both = [k for k in a if k in b]
if not both:
    sys.exit("scaling_time: the two CSVs share no row (different settings?)")
worst = max(abs(b[k] - a[k]) / a[k] for k in both)
same = sum(1 for k in both if b[k] == a[k])
cells = {}
for k in both:
    cells.setdefault(tuple(kv for kv in k if kv[0] != "seed"), []).append(k)
moved = 0
for ks in cells.values():
    va = [a[k] for k in ks]
    if abs(statistics.mean(b[k] for k in ks) - statistics.mean(va)) > max(va) - min(va):
        moved += 1
print("rows: %d in both runs (%d only before, %d only after); identical bits per byte (as printed): %d of %d; "
      "largest relative change %.2e" % (len(both), len(a) - len(both), len(b) - len(both), same, len(both), worst))
print("cells (rows over seeds): %d; mean moved by more than the first run's seed range: %d" % (len(cells), moved))
EOF
