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
echo "options: $(printf '%s\n' "$tab" | cut -f1 | sort -u | wc -l) names ($nopt entries) over $ncmd commands, $fails problems"
exit $((fails > 0))
