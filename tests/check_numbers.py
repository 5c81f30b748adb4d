#!/usr/bin/env python3
"""Every figure in the README and docs/ comes from a committed file that the text links to.

A *figure* is a number with a decimal point (4.2467), a percentage (2.1%), a ratio (1.068x), a count with thousands
separators (1,070) or an integer with a unit of measurement (524 s, 33 MB, 6400 tok/s), in the README's prose and
tables; numbers inside code (fenced blocks and `inline code`) are commands, not results, and a version number
(version 0.6, PyTorch 2.15) is a name, and so is the level of an interval (95% intervals). The README is cut into blocks at blank lines; each block's sources are the
repository files it links to (a table's are its own and those of the paragraph just above it). A figure passes if one
of its sources holds a number that rounds to it at the figure's precision, or, for a percentage, a ratio r whose
100 r, 100 (r - 1) or 100 (1 - r) rounds to it. Every relative link of README.md and docs/*.md must name a file of
the repository. Exit 1 with one line per problem.
The pages checked: README.md and every Markdown page of docs/ except the result files that a program writes (GENERATED
below: tables such as docs/scaling/scaling.md are themselves sources, and the program named beside each must exist and
name the file it writes).
Usage: tests/check_numbers.py                  README.md and every docs/ page
       tests/check_numbers.py PAGE [AS]        one page (AS: the path its links are relative to, for a copy elsewhere)"""
import gzip
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# a figure: optional thousands groups, optional decimals, then an optional suffix that makes an integer a figure
NUM = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:(%)|(x)(?![a-zA-Z0-9])|"
                 r"(?=\s?(?:s|ms|min|h|MB|GB|KB|GiB|MiB|tok/s|tokens/s|GFLOP/s|GF)(?![a-zA-Z0-9])))?")
NAMES = re.compile(r"(?:\b(?:version|versions|decar|PyTorch|torch|OpenBLAS|gcc|clang|Python|transformers|Debian|C|"
                   r"CUDA|ICLR|Zen|AVX|EPYC)\s?|\bv|C\+\+\s?)$")
# the result files: path -> the program that writes it and the name it writes it under (copied to docs/ from a run)
GENERATED = {
    "docs/demo/full/compare.md": ("scripts/demo.sh", "compare.md"),
    "docs/demo/small/compare.md": ("scripts/demo.sh", "compare.md"),
    "docs/demo/results.md": ("scripts/pipeline.sh", "results.md"),
    "docs/demo/paper_results.md": ("scripts/pipeline.sh", "results.md"),
    "docs/scaling/scaling.md": ("scripts/scaling_report.sh", "scaling.md"),
    "docs/scaling/dfm/scaling.md": ("scripts/scaling_report.sh", "scaling.md"),
    "docs/scaling/one_seed/scaling.md": ("scripts/scaling_report.sh", "scaling.md"),
    "docs/bench/scaling_before_after/before/scaling.md": ("scripts/scaling_report.sh", "scaling.md"),
    "docs/bench/scaling_before_after/after/scaling.md": ("scripts/scaling_report.sh", "scaling.md"),
    "docs/vision/results.md": ("scripts/pipeline_vision.sh", "results.md"),
    "docs/vision/scaling/vision_scaling.md": ("scripts/vision_scaling_report.sh", "vision_scaling.md"),
    "docs/vision/scaling/vision_scaling_v06_encoder.md": ("scripts/vision_scaling_report.sh", "vision_scaling.md"),
    "docs/vision/encoder/summary.md": ("scripts/clip_study.sh", "summary.md"),
    "docs/lifecycle/table.md": ("scripts/lifecycle.sh", "table.md"),
    "docs/demo/small_dfm/compare.md": ("scripts/demo.sh", "compare.md"),
    "docs/demo/small_dfm/compare_dfm.md": ("scripts/demo.sh", "compare_dfm.md"),
    "docs/demo/small_dfm/compare_dfm_mc4.md": ("scripts/dfm_bayes_draws.sh", "compare_dfm_mc"),
    "docs/demo/small_dfm/gen_eval_summary.md": ("scripts/gen_eval_summary.sh", "gen_eval_summary"),
}
FILE_NUM = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def tracked():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return set(out.split("\n")) - {""}
    except Exception:  # not a git checkout: the files on disk
        return {os.path.relpath(os.path.join(d, f), ROOT) for d, _, fs in os.walk(ROOT) for f in fs}


def numbers_of(path, cache={}):
    if path not in cache:
        full = os.path.join(ROOT, path)
        raw = gzip.open(full).read() if path.endswith(".gz") else open(full, "rb").read()
        text = raw.decode("utf-8", "replace")
        if re.search(r"\.(csv|tsv)(\.gz)?$", path):  # fields, not thousands separators
            text = re.sub(r"[,\t]", " ", text)
        vals = set()
        for m in FILE_NUM.finditer(text):
            try:
                vals.add(abs(float(m.group(0).replace(",", ""))))
            except ValueError:
                pass
        cache[path] = vals
    return cache[path]


def matches(value, decimals, pct, vals):
    tol = 0.5 * 10 ** -decimals + 1e-9
    for x in vals:
        cands = (x, 100 * x, 100 * (x - 1), 100 * (1 - x)) if pct else (x,)
        if any(abs(c - value) <= tol for c in cands):
            return True
    return False


def strip_code(line):
    return re.sub(r"`[^`]*`", " ", line)


def check_links(name, readme, files, problems):
    """every relative link of the page NAME (read from README) and of docs/*.md names a file of the repository"""
    for md in [name] + sorted(f for f in files if f.startswith("docs/") and f.endswith(".md")):
        base = os.path.dirname(md)
        path_md = readme if md == name else os.path.join(ROOT, md)
        for n, line in enumerate(open(path_md, encoding="utf-8", errors="replace"), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue
                path = os.path.normpath(os.path.join(base, target))
                if path not in files and not any(f.startswith(path + "/") for f in files):
                    problems.append("%s:%d: link to %s, which is not a file of the repository" % (md, n, target))


def check_figures(readme, name, files, problems):
    """the figures of the page README (links relative to NAME): each in a file its block links to; returns the count"""
    lines = open(readme, encoding="utf-8").read().split("\n")
    blocks, cur, fenced = [], [], False
    for n, line in enumerate(lines, 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.strip():
            cur.append((n, line))
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    nfig = 0
    prev_sources = []
    for b in blocks:
        text = "\n".join(l for _, l in b)
        sources = []
        for target in LINK.findall(text):
            path = os.path.normpath(os.path.join(os.path.dirname(name), target))
            if path in files:
                sources.append(path)
        is_table = b[0][1].startswith("|")
        if is_table:
            sources = sources + prev_sources
        for n, line in b:
            if line.startswith("#"):
                continue
            body = strip_code(LINK.sub("]()", line))
            for m in NUM.finditer(body):
                whole, dec, pct, ratio = m.group(1), m.group(2), m.group(3), m.group(4)
                unit = m.end() > m.start() and not (dec or pct or ratio) and "," not in whole and \
                    re.match(r"\s?(?:s|ms|min|h|MB|GB|KB|GiB|MiB|tok/s|tokens/s|GFLOP/s|GF)(?![a-zA-Z0-9])",
                             body[m.end():]) is not None
                if not (dec or pct or ratio or "," in whole or unit):
                    continue
                if NAMES.search(body[:m.start()]):
                    continue
                if pct and re.match(r"\s?(?:confidence |bootstrap )?(?:interval|CI)", body[m.end():]):
                    continue  # "95% intervals": the method's setting, not a result
                nfig += 1
                value = float(whole.replace(",", "") + (dec or ""))
                decimals = len(dec) - 1 if dec else 0
                ok = any(matches(value, decimals, bool(pct), numbers_of(s)) for s in sources
                         if os.path.isfile(os.path.join(ROOT, s)))
                if not ok:
                    where = ", ".join(sources) if sources else "no linked file"
                    problems.append("%s:%d: %s is not in its sources (%s)" % (name, n, m.group(0).strip(), where))
        if not is_table:
            prev_sources = sources
    return nfig


def main():
    files = tracked()
    problems = []
    if len(sys.argv) > 1:
        pages = [(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else sys.argv[1])]
    else:
        docs = sorted(f for f in files if f.startswith("docs/") and f.endswith(".md") and f not in GENERATED)
        pages = [(os.path.join(ROOT, f), f) for f in ["README.md"] + docs]
    for path, (program, written) in GENERATED.items():
        if path not in files:
            problems.append("GENERATED names %s, which is not a file of the repository" % path)
        elif program not in files or written not in open(os.path.join(ROOT, program)).read():
            problems.append("%s: its program %s is missing or never names %s" % (path, program, written))
    check_links(pages[0][1], pages[0][0], files, problems)
    nfig = 0
    for path, name in pages:
        nfig += check_figures(path, name, files, problems)
    for p in problems:
        print("FAILED: " + p)
    print("numbers: %d figures of %d page%s checked against their linked files, %d problems"
          % (nfig, len(pages), "" if len(pages) == 1 else "s", len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
