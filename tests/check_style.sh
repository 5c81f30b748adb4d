#!/bin/bash
# The layout rules of the C sources (decar.h, examples/, tests/, bench/), checked in make test:
#   - at most 120 columns;
#   - one statement per line: no line holds two statements (semicolons outside parentheses, strings, comments),
#     so `if (x) return 1;` and `for (i = 0; i < n; i++) s += x[i];` are fine, `a = 1; b = 2;` is not;
#   - every command of the CLI (cmd_* in examples/decar.c) is at most 60 lines after its option table: it parses,
#     calls the library, prints.
# .clang-format produces this layout (clang-format-14 -i -style=file FILES).
cd "$(dirname "$0")/.."
files="decar.h examples/*.c examples/*.h tests/*.c tests/*.h tests/fuzz/*.c bench/*.c"
bad=0
# shellcheck disable=SC2086
out=$(awk '
FNR == 1 { incom = 0 }
{
    if (length($0) > 120) { printf "%s:%d: %d columns\n", FILENAME, FNR, length($0); nbad++ }
    s = $0; n = 0; depth = 0; i = 1; L = length(s)
    while (i <= L) {
        c = substr(s, i, 1); c2 = substr(s, i, 2)
        if (incom) { if (c2 == "*/") { incom = 0; i += 2; continue } i++; continue }
        if (c2 == "/*") { incom = 1; i += 2; continue }
        if (c2 == "//") break
        if (c == "\"" || c == "\047") {   # skip a string or character literal
            q = c; i++
            while (i <= L && substr(s, i, 1) != q) { if (substr(s, i, 1) == "\\") i++; i++ }
            i++; continue
        }
        if (c == "(") depth++
        if (c == ")") depth--
        if (c == ";" && depth <= 0) n++
        i++
    }
    if (n >= 2 && $0 !~ /^#/) { printf "%s:%d: %d statements on one line\n", FILENAME, FNR, n; nbad++ }
}
END { exit nbad > 0 }' $files)
[ $? -eq 0 ] || { echo "$out" | head -20; echo "FAILED: $(echo "$out" | wc -l) layout problems (see .clang-format)"; bad=1; }
# a command's length is counted after its option table (the declarative list of its options, one per line)
long=$(awk '/^static int cmd_[a-z_]*\(/ { name = $3; start = FNR; tab = 0 } name && !tab && /};$/ { start = FNR; tab = 1 }
            /^}/ { if (name) { if (FNR - start > 60) printf "%s %d lines\n", name, FNR - start; name = "" } }' examples/decar.c)
[ -z "$long" ] || { echo "FAILED: commands over 60 lines: $long"; bad=1; }
[ $bad -eq 0 ] && echo "layout: $(cat $files | wc -l) lines of C, none over 120 columns, one statement per line; every cmd_* <= 60 lines after its options"
exit $bad
