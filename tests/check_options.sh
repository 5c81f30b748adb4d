#!/bin/bash
# One vocabulary for the command line: an option name means one thing in every command (the same help text), and no
# two spellings of one name exist (top-k / topk / top_k). Also: every option the scripts pass exists.
# Usage: tests/check_options.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/.."
X=${1:-build}/decar
cmds=$($X --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
fails=0
# nothing to compare is a failure, not "0 problems": --help must list the commands, and they their options
ncmd=$(echo $cmds | wc -w)
if [ "$ncmd" -lt 10 ]; then echo "FAILED: $X --help lists $ncmd commands (wanted at least 10)"; exit 1; fi
tab=$(for c in $cmds; do
  $X $c --help | grep '^  --' | sed -E 's/ \(default [^)]*\)$//' | awk -v c="$c" '{name = $1; $1 = ""; sub(/^ +/, ""); print name "\t" c "\t" $0}'
done)
defs=$(for c in $cmds; do
  $X $c --help | grep '^  --' | awk -v c="$c" '{d = "(none)"; if (match($0, /\(default [^)]*\)$/)) d = substr($0, RSTART + 9, RLENGTH - 10); print $1 "\t" c "\t" d}'
done)
nopt=$(printf '%s\n' "$tab" | grep -c .)
for c in $cmds; do
  printf '%s\n' "$tab" | awk -F'\t' -v c="$c" '$2 == c {f = 1} END {exit !f}' || { echo "FAILED: decar $c --help lists no options"; fails=$((fails + 1)); }
done
# 1. same name, same help text
while IFS= read -r name; do
  n=$(printf '%s\n' "$tab" | awk -F'\t' -v n="$name" '$1 == n {print $3}' | sort -u | wc -l)
  if [ "$n" -gt 1 ]; then
    echo "FAILED: option $name means different things:"; printf '%s\n' "$tab" | awk -F'\t' -v n="$name" '$1 == n {print "    " $2 ": " $3}'
    fails=$((fails + 1))
  fi
done < <(printf '%s\n' "$tab" | cut -f1 | sort -u)
# 1b. same name, same default: one default per meaning. Only options that size or train the model being built (a
#     language model, a captioner, an encoder pair) may default per kind, and their help says so
while IFS= read -r name; do
  n=$(printf '%s\n' "$defs" | awk -F'\t' -v n="$name" '$1 == n {print $3}' | sort -u | wc -l)
  if [ "$n" -gt 1 ] && ! printf '%s\n' "$tab" | awk -F'\t' -v n="$name" '$1 == n' | grep -q "has its own default"; then
    echo "FAILED: option $name has different defaults:"; printf '%s\n' "$defs" | awk -F'\t' -v n="$name" '$1 == n {print "    " $2 ": " $3}'
    fails=$((fails + 1))
  fi
done < <(printf '%s\n' "$defs" | cut -f1 | sort -u)
# 2. no two spellings of one name
dups=$(printf '%s\n' "$tab" | cut -f1 | sort -u | awk '{k = tolower($0); gsub(/[^a-z0-9]/, "", k); if (k in seen && seen[k] != $0) print seen[k] " / " $0; seen[k] = $0}')
[ -n "$dups" ] && { echo "FAILED: one option spelled two ways: $dups"; fails=$((fails + 1)); }
# 3. the scripts pass only options that exist (decar CMD ... --opt)
for f in scripts/*.sh; do
  grep -oE '(decar|\$D|\$X|\$B/decar)"? [a-z-]+ [^|;&>]*' "$f" | while read -r line; do
    c=$(echo "$line" | awk '{print $2}'); printf "%s\n" "$cmds" | grep -qx -- "$c" || continue
    for o in $(echo "$line" | grep -oE '(^| )--[a-z][a-z0-9-]*' | tr -d ' '); do
      printf '%s\n' "$tab" | awk -F'\t' -v n="$o" -v c="$c" '$1 == n && $2 == c {f = 1} END {exit !f}' || echo "FAILED: $f passes $o to decar $c, which has no such option"
    done
  done
done | sort -u > /tmp/decar_optcheck.$$
if [ -s /tmp/decar_optcheck.$$ ]; then cat /tmp/decar_optcheck.$$; fails=$((fails + $(wc -l < /tmp/decar_optcheck.$$))); fi
rm -f /tmp/decar_optcheck.$$
# 4. what the code accepts, not what the help says. (a) The parser: every command is asked to parse every option name
#    of the whole CLI (`decar CMD --NAME x --help` exits 0 only if the parser accepts --NAME); the accepted set must be
#    the listed set. decar join hands options it does not know to decar train's parser, so it accepts train's too.
#    (b) The reads: tests/option_reads.py follows each command's option table and every name its code (and the
#    helpers it passes its options to) reads; a read of a name the table lacks fails.
all=$(printf '%s\n' "$tab" | cut -f1 | sort -u)
for c in $cmds; do
  listed=$(printf '%s\n' "$tab" | awk -F'\t' -v c="$c" '$2 == c || (c == "join" && $2 == "train") {print $1}' | sort -u)
  accepted=$(for o in $all; do $X $c $o x --help > /dev/null 2>&1 && echo $o; done | sort -u)
  d=$(diff <(echo "$listed") <(echo "$accepted") | grep '^[<>]' | tr '\n' ' ')
  [ -n "$d" ] && { echo "FAILED: decar $c: listed (<) and accepted (>) options differ: $d"; fails=$((fails + 1)); }
done
python3 tests/option_reads.py examples/decar.c > /tmp/decar_reads.$$ || { grep FAILED /tmp/decar_reads.$$; fails=$((fails + 1)); }
rm -f /tmp/decar_reads.$$
# 5. every --help ends with an example, and the example's options parse (run with --help appended: the parser reads
#    every option before it prints the help)
for c in $cmds; do
  ex=$($X $c --help | grep -m1 '^example: ' | sed 's/^example: //')
  if [ -z "$ex" ]; then echo "FAILED: decar $c --help has no example"; fails=$((fails + 1)); continue; fi
  case "$ex" in "decar $c "*) ;; *) echo "FAILED: decar $c's example is not a decar $c command: $ex"; fails=$((fails + 1)); continue;; esac
  eval "set -- ${ex#decar }"
  $X "$@" --help > /dev/null 2>&1 || { echo "FAILED: decar $c's example does not parse: $ex"; fails=$((fails + 1)); }
done
# 6. the command table (docs/usage.md, linked from the README) names every command
for c in $cmds; do
  grep -q "^| \`decar $c[ \`]" docs/usage.md || { echo "FAILED: docs/usage.md's command table has no row for decar $c"; fails=$((fails + 1)); }
done
echo "options: $(printf '%s\n' "$tab" | cut -f1 | sort -u | wc -l) names ($nopt entries) over $ncmd commands, $fails problems"
exit $((fails > 0))
