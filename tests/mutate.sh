#!/bin/bash
# Mutation check (make mutate; make test runs it too): small wrong changes to the method, each applied to a copy of
# decar.h, must make the fast unit tests fail. A test suite that stays green on a wrong prior, a wrong DFM weight or
# a wrong router formula would not catch those bugs in the code either.
#   Each mutation is an exact string substitution that must apply exactly once: a refactor that removes or
#   duplicates the target string fails here loudly (update the list), instead of silently testing nothing.
#   Each is compiled with only the unit tests that should catch it, tried in order until one fails; a mutation that
#   fails to compile is an error of the list, not a catch. A test killed by the time limit counts as caught (it did
#   not pass). Jobs run in parallel on the machine's cores, one OpenMP thread each.
# usage: bash tests/mutate.sh [BUILD_DIR] [NAME...]   (names: run only those mutations)
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-build}
shift 2> /dev/null || true
only="$*"
M=$B/mutate
NP=$(nproc 2> /dev/null || echo 2)
mkdir -p $M
rm -rf "${M:?}"/*

# name | tests (in order) | the exact text in decar.h | its wrong replacement
LIST=$(
    cat << 'EOF'
bayes-prior | test_method test_eval | (r->prior[j] > 0 ? r->prior[j] : 1e-30) | (r->prior[j] > 0 ? 1.0 : 1e-30)
dfm-bound-weight | test_method | double wt = (double)npow * pow(t, (double)(npow - 1)) / (1.0 - kappa); | double wt = 1.0 / (1.0 - kappa);
dfm-loss-weight | test_dfm test_method | kdot = (double)n * pow(t, (double)(n - 1)), w = kdot / (1.0 - kappa); | kdot = (double)n * pow(t, (double)(n - 1)), w = 1.0 / (1.0 - kappa);
dfm-mask-rate | test_method test_dfm | if (decar_rng_double(r) < kappa) { | if (decar_rng_double(r) < t) {
dfm-bound-reveal | test_method | xt[i + 1] = decar_rng_double(&r) < kappa ? x1[i + 1] : mask; | xt[i + 1] = decar_rng_double(&r) < t ? x1[i + 1] : mask;
dfm-loss-norm | test_method | weights ? (float)B * (float)T : 0.0f | 0.0f
balanced-capacity | test_cluster | int64_t i, cap = (N + K - 1) / K; | int64_t i, cap = (N + K) / K;
topk-truncation | test_method | int kept = w[j] > wl || (w[j] == wl && j <= jl); | int kept = 1;
topk-renormalise | test_method | for (j = 0; j < k; j++) w[j] /= s; | for (j = 0; j < k; j++) w[j] /= 1.0;
cosine-temperature | test_method | w[j] = cs / T; | w[j] = cs;
cbtm-formula | test_method | w[j] = -(d2 * d2) / T; | w[j] = -d2 / T;
learned-bias | test_method | r->clf_w + (int64_t)j * r->d, r->d) + r->clf_b[j]; | r->clf_w + (int64_t)j * r->d, r->d);
smalltalk-sign | test_method | for (j = 0; j < k; j++) w[j] = feat[j] / T; | for (j = 0; j < k; j++) w[j] = -feat[j] / T;
missing-renormalise | test_method | for (j = 0; j < r->k; j++) w[j] /= s; | for (j = 0; j < r->k; j++) w[j] /= 1.0;
kv-cache-position | test_method test_gpt_ref | (int64_t)pos[j] * C + i]; | (int64_t)(pos[j] / 2) * C + i];
bayes-generate-update | test_method | ll[j] += log(st[j].p[a] > 1e-300 ? st[j].p[a] : 1e-300); | ll[j] += 0.5 * log(st[j].p[a] > 1e-300 ? st[j].p[a] : 1e-300);
bayes-score-update | test_method test_eval | ll[j] += lp; | ll[j] += 0.5 * lp;
mixture-weight | test_method | nll[t] += w[j] * exp(-(double)one[t]); | nll[t] += exp(-(double)one[t]);
val-loss-mean | test_method | tot += s / (double)n; | tot += s / (double)(n + 1);
heldout-shard | test_method | shard[i] = d->docs[i].split == 0 || d->docs[i].split == 1 ? | shard[i] = d->docs[i].split == 0 ?
retrieval-groups | test_method | if (s > own && (group ? group[j] != group[i] : j != i)) above++; | if (s > own && j != i) above++;
train-dfm-input | test_method | ev.loss = decar_gpt_train_step(g, ctx, o, t->dfm ? xi : x, y, w, B, T); | ev.loss = decar_gpt_train_step(g, ctx, o, x, y, w, B, T);
train-loss-ema | test_method | ema = ema < 0 ? ev.loss : 0.95 * ema + 0.05 * ev.loss; | ema = ema < 0 ? ev.loss : 0.9 * ema + 0.1 * ev.loss;
lr-warmup | test_method | return o->lr * (float)(step + 1) / (float)o->warmup_steps; | return o->lr * (float)step / (float)o->warmup_steps;
clip-symmetric | test_method | return decar_scale(ctx, decar_add(ctx, l1, l2), 0.5f); | return decar_scale(ctx, decar_add(ctx, l1, l1), 0.5f);
clip-text-group-end | test_method | idx[i] = (int64_t)i * L + o[g0 + i].end; | idx[i] = (int64_t)i * L + L - 1;
bootstrap-unpaired | test_evidence | sb[s] += b[(int64_t)s * n + pick]; | sb[s] += b[(int64_t)s * n + (pick + 1) % n];
oracle-argmin | test_evidence | if (b < lo) { | if (b < lo && lo == INFINITY) {
smalltalk-estep | test_evidence | S[(int64_t)q * K + k] = (float)(n > 0 ? l / n : 0.0); | S[(int64_t)q * K + k] = 0.0f;
no-grad-ignored | test_ops | t->requires_grad = !c->no_grad && ( | t->requires_grad = (c->no_grad || 1) && (
EOF
)

# apply NAME OLD NEW: the mutant header in $M/NAME/decar.h; fails unless OLD occurs exactly once
apply() {
    local dir=$M/$1 old=$2 new=$3 src rest n
    src=$(< decar.h)
    rest=${src//"$old"/}
    n=$(((${#src} - ${#rest}) / ${#old}))
    if [ "$n" -ne 1 ]; then
        echo "LIST ERROR: mutation $1: its text occurs $n times in decar.h (wanted once): $old"
        return 1
    fi
    mkdir -p "$dir/tests"
    printf '%s\n' "${src/"$old"/"$new"}" > "$dir/decar.h"
    cp tests/test_util.h "$dir/tests/"
}
# one mutation: compile its tests one at a time, run each; caught at the first that fails
one() {
    local name=$1 tests=$2 dir=$M/$1 t rc
    for t in $tests; do
        cp "tests/$t.c" "$dir/tests/"
        if ! gcc -std=c99 -O1 -march=native -fopenmp -w -o "$dir/$t" "$dir/tests/$t.c" -lm > "$dir/$t.cc.log" 2>&1; then
            echo "LIST ERROR: mutation $name does not compile with $t: $(head -3 "$dir/$t.cc.log")" > "$dir/result"
            return
        fi
        OMP_NUM_THREADS=1 timeout 300 "$dir/$t" > "$dir/$t.log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            echo "caught   $name by $t ($(grep -c '^FAIL' "$dir/$t.log") failed checks, exit $rc)" > "$dir/result"
            return
        fi
    done
    echo "SURVIVED $name: $tests all pass with it" > "$dir/result"
}
export -f one
export M

n=0
bad=0
jobs_list=$M/jobs.txt
: > "$jobs_list"
while IFS= read -r line; do
    [ -z "$line" ] && continue
    name=${line%% | *}
    rest=${line#* | }
    tests=${rest%% | *}
    rest=${rest#* | }
    old=${rest%% | *}
    new=${rest#* | }
    if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then continue; fi
    n=$((n + 1))
    if apply "$name" "$old" "$new"; then printf '%s\t%s\n' "$name" "$tests" >> "$jobs_list"; else bad=$((bad + 1)); fi
done <<< "$LIST"
[ -z "$only" ] && [ "$n" -lt 10 ] && {
    echo "LIST ERROR: only $n mutations (at least 10)"
    bad=$((bad + 1))
}
# shellcheck disable=SC2016
xargs -r -P "$NP" -L 1 -d '\n' bash -c 'IFS=$'"'"'\t'"'"' read -r a b <<< "$0"; one "$a" "$b"' < "$jobs_list"
caught=0
while IFS=$'\t' read -r name tests; do
    r=$(cat "$M/$name/result" 2> /dev/null || echo "SURVIVED $name: no result")
    echo "$r"
    case $r in caught*) caught=$((caught + 1)) ;; *) bad=$((bad + 1)) ;; esac
done < "$jobs_list"
echo "mutations: $caught of $n caught"
[ $bad -eq 0 ] && [ $caught -eq $n ]
