#!/usr/bin/env python3
"""Issue 30's speed targets, met or not, from one `make bench` printout (bench/run_bench.sh's stdout).

Reads the printout's three tables (decar against PyTorch 2 at 2 threads, the study's models at one thread, batch-1
generation with quantized weights) and prints one table: each figure, its ratio, the target and whether it is met.
  python3 bench/targets.py docs/bench/bench_0.6_speed3_xeon.txt
The targets (issue 30): training and scoring of S and M with bf16 products at least 1.5x PyTorch 2's bf16 autocast,
in float32 at least 1.2x PyTorch 2's float32 SDPA; the scaling study's models (T1, T2) at least 30% of the FMA peak of
the threads used (the best rate's FLOPs over the highest FMA peak the printout measured at that thread count: the
peak reads differently from run to run); batch-1 Q8_0 generation of M at least 3x decar's float32; a top-2 Q8_0 ensemble faster than one
float32 expert. A printout without the PyTorch 2 tables (no PyTorch 2 on the machine) gets a SKIP line and exit 0."""
import re
import sys

BF16, FP32, PEAK, Q8 = 1.5, 1.2, 30.0, 3.0


def table(lines, head):
    """the rows (lists of cells) of the Markdown table whose header matches the regular expression head"""
    for i, line in enumerate(lines):
        if re.match(head, line):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return {r[0]: r[1:] for r in rows}
    print("SKIP: issue 30's targets: no table matching %r in the printout (PyTorch 2 not installed?)" % head)
    sys.exit(0)


def num(cell):
    """a cell's number, or None for "-" (a column this machine has not: bf16 without BF16)"""
    digits = re.sub(r"[^0-9.]", "", cell.split("(")[0])
    return float(digits) if digits else None


def peaks_and_flops(lines):
    """the FMA peaks measured per thread count (every bench run in the printout) and the FLOPs per token of T1, T2"""
    peaks, fpt, th = {}, {}, None
    for line in lines:
        m = re.search(r"bench: simd \S+, (\d+) threads", line)
        if m:
            th = int(m.group(1))
        m = re.match(r"FMA peak \(measured\): ([0-9.]+) GFLOP/s", line)
        if m and th:
            peaks.setdefault(th, []).append(float(m.group(1)))
        m = re.match(r"train (T\d) \(.*\): ([0-9.]+) tok/s, ([0-9.]+) GFLOP/s", line)
        if m:
            fpt[m.group(1)] = float(m.group(3)) * 1e9 / float(m.group(2))
    return peaks, fpt


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 bench/targets.py BENCH_PRINTOUT")
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    two = table(lines, r"\| tok/s \((\d+) threads")
    one = table(lines, r"\| tok/s, 1 thread")
    gen = table(lines, r"\| batch-1 generation")
    nth = int(re.match(r"\| tok/s \((\d+) threads", [l for l in lines if l.startswith("| tok/s (")][0]).group(1))
    peaks, fpt = peaks_and_flops(lines)
    if nth not in peaks or 1 not in peaks or "T1" not in fpt or "T2" not in fpt:
        print("SKIP: issue 30's targets: the printout lacks the FMA peaks or the T1 / T2 lines")
        sys.exit(0)
    out = ["| tok/s | decar | PyTorch | ratio | target (issue 30) | met |", "|---|---|---|---|---|---|"]

    def row(name, d, t, target):
        if d is None or t is None:
            out.append("| %s | - | - | - | %gx | not measured here |" % (name, target))
            return
        r = d / t
        out.append("| %s | %.0f | %.0f | %.2fx | %gx | %s |" % (name, d, t, r, target, "yes" if r >= target else "no"))

    def share_row(name, d, t, c, th):
        # the share of the FMA peak: the best rate's FLOPs over the highest peak measured at that thread count
        share = 100 * d * fpt[c] / (max(peaks[th]) * 1e9)
        out.append("| %s | %.0f (%.2f%%) | %.0f | %.2fx | %g%% | %s |"
                   % (name, d, share, t, d / t, PEAK, "yes" if share >= PEAK else "no"))
    # the 2-thread table's columns: decar fp32, decar bf16, PyTorch fp32, bf16 autocast, compile
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
        share_row("train %s, one thread (share of one thread's FMA peak, %.0f GFLOP/s)" % (c, max(peaks[1])),
                  num(cells[0]), num(cells[2]), c, 1)
    for c in ("T1", "T2"):
        cells = two["train %s" % c]
        share_row("train %s, %d threads (share of their FMA peak, %.0f GFLOP/s)" % (c, nth, max(peaks[nth])),
                  num(cells[0]), num(cells[2]), c, nth)
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
