#!/usr/bin/env python3
"""lifecycle_report.py DOCS_CSV HOLD CPU SECONDS CONFIG OUTDIR: the table of scripts/lifecycle.sh (markdown on stdout,
OUTDIR/lifecycle.csv). Bits per byte = sum of a group's bits / sum of its bytes; 95% intervals from 2000 bootstrap
resamples of the group's documents (paired for differences: the same resampled documents under both ensembles)."""
import csv, random, sys

path, hold, cpu, secs, config, outdir = sys.argv[1:7]
rows = {}
for r in csv.DictReader(open(path)):
    rows.setdefault((r["model"], r["router"]), {})[r["doc"]] = r
LABELS = ["original", "without", "joined", "left"]
routers = sorted({rt for (_, rt) in rows}, key=lambda x: ["top1", "learned"].index(x) if x in ("top1", "learned") else 9)
docs = sorted(rows[("without", routers[0])])
domains = sorted({rows[("without", routers[0])][d]["domain"] for d in docs})
B = 2000


def bpb(lab, rt, ds):
    t = rows[(lab, rt)]
    return sum(float(t[d]["bits"]) for d in ds) / sum(int(t[d]["bytes"]) for d in ds)


def ci(fn, ds, seed):
    rng = random.Random(seed)
    v = sorted(fn([ds[rng.randrange(len(ds))] for _ in ds]) for _ in range(B))
    return v[int(0.025 * B)], v[int(0.975 * B) - 1]


out = []
csvrows = []
out.append("# The lifecycle: %s held back, joined, then left\n" % hold)
out.append("`bash scripts/lifecycle.sh` (%s), %s s on %s. Held-out bits per byte of each domain's held-out documents, "
           "[95%% bootstrap interval over documents, %d resamples].\n" % (config, secs, cpu, B))
for rt in routers:
    out.append("\n## Router %s\n" % rt)
    out.append("| domain | docs | original (%s in from the start) | without %s | joined | left | joined - without | "
               "joined - original |" % (hold, hold))
    out.append("|---|---|---|---|---|---|---|---|")
    for dom in domains + ["all"]:
        ds = [d for d in docs if dom == "all" or rows[("without", rt)][d]["domain"] == dom]
        cells = []
        for i, lab in enumerate(LABELS):
            v = bpb(lab, rt, ds)
            lo, hi = ci(lambda s: bpb(lab, rt, s), ds, 11)
            cells.append("%.4f [%.4f, %.4f]" % (v, lo, hi))
            csvrows.append([lab, rt, dom, len(ds), sum(int(rows[(lab, rt)][d]["bytes"]) for d in ds),
                            "%.5f" % v, "%.5f" % lo, "%.5f" % hi])
        for a, b in (("joined", "without"), ("joined", "original")):
            f = lambda s: bpb(a, rt, s) - bpb(b, rt, s)
            lo, hi = ci(f, ds, 29)
            cells.append("%+.4f [%+.4f, %+.4f]" % (f(ds), lo, hi))
            csvrows.append(["%s-%s" % (a, b), rt, dom, len(ds), "", "%.5f" % f(ds), "%.5f" % lo, "%.5f" % hi])
        name = "**%s** (held back)" % dom if dom == hold else dom
        out.append("| %s | %d | %s |" % (name, len(ds), " | ".join(cells)))
    # the other domains' documents: route kept -> bit-identical; after the leave every document is back
    kept = [d for d in docs if rows[("joined", rt)][d]["route"] == rows[("without", rt)][d]["route"]]
    kept_other = [d for d in kept if rows[("without", rt)][d]["domain"] != hold]
    other = [d for d in docs if rows[("without", rt)][d]["domain"] != hold]
    same = sum(rows[("joined", rt)][d]["bits"] == rows[("without", rt)][d]["bits"] for d in kept)
    back = sum(rows[("left", rt)][d]["bits"] == rows[("without", rt)][d]["bits"] and
               rows[("left", rt)][d]["route"] == rows[("without", rt)][d]["route"] for d in docs)
    out.append("\nOf the %d held-out documents of the other domains, %d kept their %s route through the join (%d of "
               "all %d documents did; %d of those %d score bit for bit as before). After the leave %d of %d "
               "documents score bit for bit as before the join, with the same routes." %
               (len(other), len(kept_other), rt, len(kept), len(docs), same, len(kept), back, len(docs)))
with open(outdir + "/lifecycle.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["ensemble", "router", "domain", "docs", "bytes", "bits_per_byte", "ci95_lo", "ci95_hi"])
    w.writerows(csvrows)
print("\n".join(out))
