#!/bin/bash
# env_check.sh: the scripts' environment settings, checked before any work. Sourced (after setting SCRIPT to the
# script's name); every check names the variable and exits 2 with a message, before any folder, log or CSV exists.
#   env_default NAME DEFAULT   NAME keeps a value given in the environment, even an empty one (which a check then
#                              refuses: KS= is a mistake, not a request for the default); DEFAULT only when unset
#   env_int NAME MIN [MAX]     a whole number in [MIN, MAX]
#   env_ints NAME MIN [MAX]    a non-empty, space-separated list of whole numbers in [MIN, MAX]
#   env_num NAME               a positive number (1e-3, 0.5)
#   env_frac NAME              a number in [0, 1)
#   env_sizes NAME             a non-empty list of LAYERS:DIM:HEADS, whole numbers >= 1, DIM a multiple of HEADS
#   env_word NAME WORD...      one of the words
env_fail() {
  echo "${SCRIPT:-script}: $*" >&2
  exit 2
}
env_default() {
  if [ -z "${!1+x}" ]; then printf -v "$1" '%s' "$2"; fi
}
# a whole number of at most 9 digits (no sign, no leading +, no overflow in shell arithmetic)
env__isint() {
  [[ "$1" =~ ^[0-9]{1,9}$ ]]
}
env_int() {
  local n=$1 v=${!1-} lo=$2 hi=${3:-999999999}
  env__isint "$v" || env_fail "$n='$v' must be a whole number in [$lo, $hi]"
  ((10#$v >= lo && 10#$v <= hi)) || env_fail "$n=$v must be a whole number in [$lo, $hi]"
}
env_ints() {
  local n=$1 v=${!1-} lo=$2 hi=${3:-999999999} x count=0
  for x in $v; do
    env__isint "$x" || env_fail "$n='$v': '$x' is not a whole number in [$lo, $hi]"
    ((10#$x >= lo && 10#$x <= hi)) || env_fail "$n='$v': $x is outside [$lo, $hi]"
    count=$((count + 1))
  done
  [ $count -gt 0 ] || env_fail "$n='$v' must list at least one whole number in [$lo, $hi]"
}
env_num() {
  local n=$1 v=${!1-}
  [[ "$v" =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] && awk -v x="$v" 'BEGIN { exit !(x > 0) }' ||
    env_fail "$n='$v' must be a positive number"
}
env_frac() {
  local n=$1 v=${!1-}
  [[ "$v" =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] && awk -v x="$v" 'BEGIN { exit !(x >= 0 && x < 1) }' ||
    env_fail "$n='$v' must be a number in [0, 1)"
}
env_sizes() {
  local n=$1 v=${!1-} s L C H count=0
  for s in $v; do
    IFS=: read -r L C H <<< "$s"
    env__isint "$L" && env__isint "$C" && env__isint "${H:-x}" && ((10#$L > 0 && 10#$C > 0 && 10#$H > 0)) ||
      env_fail "$n='$v': '$s' is not LAYERS:DIM:HEADS (whole numbers >= 1)"
    ((10#$C % 10#$H == 0)) || env_fail "$n='$v': in '$s' DIM $C is not a multiple of HEADS $H"
    count=$((count + 1))
  done
  [ $count -gt 0 ] || env_fail "$n='$v' must list at least one LAYERS:DIM:HEADS"
}
env_word() {
  local n=$1 v=${!1-} w
  shift
  for w in "$@"; do [ "$v" = "$w" ] && return 0; done
  env_fail "$n='$v' must be one of: $*"
}
# env_own_out DIR: a run that fails before it has trained anything leaves no DIR behind when it made DIR (logs and
# CSVs of a refused run are no results); a folder that existed, or holds a trained model, is kept (a killed long run
# resumes from its models)
env_own_out() {
  ENV_OUT=$1
  ENV_OUT_NEW=1
  [ -e "$ENV_OUT" ] && ENV_OUT_NEW=0
  trap 'rc=$?; if [ $rc -ne 0 ] && [ "$ENV_OUT_NEW" = 1 ] && [ -d "$ENV_OUT" ] &&
    [ -z "$(find "$ENV_OUT" -name "*.safetensors" -print -quit)" ]; then rm -rf "$ENV_OUT"; fi; exit $rc' EXIT
}
