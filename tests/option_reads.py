#!/usr/bin/env python3
"""The options each command's code reads, against the options its table accepts (examples/decar.c).

Parses the CLI's source: every `static int cmd_X(` function's option table (`opt o[] = { { "name", ...`), the names
it reads through S / I / F / REQ (o, n, "name"), and, through every helper called with the command's `o, n`, the names
those helpers read (transitively). A name read but not in the table is a bug (S() stops with status 3 when that code
runs); this finds it without running the code path. Prints one line per command: `CMD\tname,name,..` (the table),
and `FAILED: ...` lines; exit 1 on any failure.
Usage: tests/option_reads.py [examples/decar.c]"""
import re
import sys

src = open(sys.argv[1] if len(sys.argv) > 1 else "examples/decar.c").read()
# function bodies: a definition at column 0 up to the next "\n}\n"
funcs = {}
for m in re.finditer(r"^static [^\n;]*?\b(\w+)\(([^)]*)\)\s*\{", src, re.M):
    end = src.find("\n}\n", m.end())
    funcs[m.group(1)] = (m.group(2), src[m.end():end])
READ = re.compile(r'\b(?:S|I|F|REQ)\(o, n, "([a-z0-9-]+)"')
CALL = re.compile(r"\b(\w+)\([^;]*?\bo, n\b")


def reads(name, seen):
    """names read by function `name` and the helpers it passes its o, n to"""
    if name in seen or name not in funcs:
        return set()
    seen.add(name)
    body = funcs[name][1]
    out = set(READ.findall(body))
    for c in CALL.findall(body):
        if c not in ("S", "I", "F", "REQ", "parse_opts") and c in funcs and "opt *o" in funcs[c][0]:
            out |= reads(c, seen)
    return out


fails = 0
for name, (_, body) in sorted(funcs.items()):
    if not name.startswith("cmd_"):
        continue
    t = re.search(r"opt o\[\] = \{(.*?)\};", body, re.S)
    if not t:
        print("FAILED: %s has no option table" % name)
        fails += 1
        continue
    table = re.findall(r'\{ "([a-z0-9-]+)",', t.group(1))
    if len(table) != len(set(table)):
        print("FAILED: %s lists an option twice" % name)
        fails += 1
    missing = sorted(reads(name, set()) - set(table))
    for o in missing:
        print("FAILED: %s reads --%s, which its table does not accept" % (name, o))
        fails += 1
    print("%s\t%s" % (name[4:].replace("_", "-"), ",".join(table)))
sys.exit(1 if fails else 0)
