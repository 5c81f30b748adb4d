#!/usr/bin/env python3
"""Issue 30's speed targets, met or not, from one `make bench` printout (bench/run_bench.sh's stdout).

Reads the printout's three tables (decar against PyTorch 2 at 2 threads, the study's models at one thread, batch-1
generation with quantized weights) and prints one table: each figure, its ratio, the target and whether it is met.
  python3 bench/targets.py docs/bench/bench_0.6_speed3_xeon.txt
The targets (issue 30): training and scoring of S and M with bf16 products at least 1.5x PyTorch 2's bf16 autocast,
in float32 at least 1.2x PyTorch 2's float32 SDPA; the scaling study's models (T1, T2) at least 30% of the FMA peak of
the threads used; batch-1 Q8_0 generation of M at least 3x decar's float32; a top-2 Q8_0 ensemble faster than one
float32 expert. A printout without the PyTorch 2 tables (no PyTorch 2 on the machine) gets a SKIP line and exit 0."""
import re
import sys

BF16, FP32, PEAK, Q8 = 1.5, 1.2, 30.0, 3.0


def table(lines, head):
    """the rows (lists of cells) of the Markdown table whose header starts with head"""
    for i, line in enumerate(lines):
        if line.startswith(head):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return {r[0]: r[1:] for r in rows}
    print("SKIP: issue 30's targets: no table starting with %r in the printout (PyTorch 2 not installed?)" % head)
    sys.exit(0)


def num(cell):
    return float(re.sub(r"[^0-9.]", "", cell.split("(")[0]))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 bench/targets.py BENCH_PRINTOUT")
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    two = table(lines, "| tok/s (2 threads")
    one = table(lines, "| tok/s, 1 thread")
    gen = table(lines, "| batch-1 generation")
    peak2 = re.search(r"share of the FMA peak: T1 ([0-9.]+)%, T2 ([0-9.]+)%", "\n".join(lines))
    if not peak2:
        print("SKIP: issue 30's targets: no 2-thread FMA peak share in the printout")
        sys.exit(0)
    out = ["| tok/s | decar | PyTorch | ratio | target (issue 30) | met |", "|---|---|---|---|---|---|"]

    def row(name, d, t, target, unit="x"):
        r = d / t
        out.append("| %s | %.0f | %.0f | %.2fx | %g%s | %s |" % (name, d, t, r, target, unit,
                                                               "yes" if r >= target else "no"))
    # two threads: decar fp32, decar bf16, PyTorch fp32, bf16 autocast, compile
    for f in ("train", "score"):
        for c in ("S", "M"):
            cells = two["%s %s" % (f, c)]
            row("%s %s, bf16 products / bf16 autocast" % (f, c), num(cells[1]), num(cells[3]), BF16)
    for f in ("train", "score"):
        for c in ("S", "M"):
            cells = two["%s %s" % (f, c)]
            row("%s %s, fp32 / fp32 SDPA" % (f, c), num(cells[0]), num(cells[2]), FP32)
    for c in ("T1", "T2"):
        cells = one["train %s" % c]
        share = num(cells[1])
        out.append("| train %s, one thread (share of one thread's FMA peak) | %.0f (%.2f%%) | %.0f | %.2fx | %g%% | %s |"
                   % (c, num(cells[0]), share, num(cells[2]), num(cells[0]) / num(cells[2]), PEAK,
                      "yes" if share >= PEAK else "no"))
    for i, c in enumerate(("T1", "T2")):
        cells = two["train %s" % c]
        share = float(peak2.group(i + 1))
        out.append("| train %s, 2 threads (share of the 2-thread peak) | %.0f (%.2f%%) | %.0f | %.2fx | %g%% | %s |"
                   % (c, num(cells[0]), share, num(cells[2]), num(cells[0]) / num(cells[2]), PEAK,
                      "yes" if share >= PEAK else "no"))
    for c in ("S", "M"):
        key = [k for k in gen if k.startswith(c + " ")][0]
        q8, x, ens = num(gen[key][0]), num(gen[key][1]), num(gen[key][4])
        if c == "M":  # the target is M's (its weights do not fit the last-level cache in float32)
            out.append("| generation M, Q8_0 against decar's float32 | %.1f | - | %.3fx | %gx | %s |"
                       % (q8, x, Q8, "yes" if x >= Q8 else "no"))
        else:
            out.append("| generation %s, Q8_0 against decar's float32 | %.1f | - | %.3fx | - | - |" % (c, q8, x))
        out.append("| top-2 Q8_0 ensemble %s against one float32 expert | - | - | %.3fx | faster | %s |"
                   % (c, ens, "yes" if ens > 1 else "no"))
    print("\n".join(out))


main()
