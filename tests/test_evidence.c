/* The evaluation's evidence: intervals, the oracle and the routers' choices, each against an independent computation.
   - decar_bootstrap_ratio: the statistic by hand; on iid data with a known mean the 95% interval has the width of
       the normal theory's 2 x 1.96 sd / sqrt(n) and covers the true mean in about 95% of 400 data sets; the paired
       interval of a ratio is narrower than the unpaired one when the documents' difficulty is shared; identical
       inputs give [1, 1]; bad inputs are refused.
   - decar_ensemble_oracle_docs: each document's bits under each of two different experts, summed by hand from
       decar_gpt_score on the document alone, and their minimum.
   - decar_ensemble_doc_choice: R1 gives decar_router_assign of the document's features, R4' the argmax of
       log pi_k + log-likelihood by hand.
   - decar_smalltalk_partition: from a random split (purity 1/2 on two domains) the router LMs' EM separates the
       domains, every segment within its capacity, the same labels twice, its FLOPs by the formula. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>


/* decar_bootstrap_ratio at alpha 0.05 (a 95% interval), `draws` resamples from `seed` */
static int boot(const double *a, const double *b, int64_t n, int m, int draws, uint64_t seed, decar_interval *ci,
                decar_error *e) {
    decar_bootstrap_opts o = decar_bootstrap_opts_default();
    o.draws = draws;
    o.seed = seed;
    return decar_bootstrap_ratio(a, b, n, m, &o, ci, e);
}
/* the bootstrap against what it must reproduce */
static void test_bootstrap(void) {
    enum { N = 100, DRAWS = 1000, SETS = 400 };
    double a[2 * N], b[2 * N], width = 0.0;
    decar_interval ci, ci2;
    int i, set, cover = 0;
    decar_rng r;
    decar_error e;
    /* est by hand: (1/m) sum_s sum a / sum b */
    for (i = 0; i < N; i++) {
        a[i] = i + 1.0;
        b[i] = 2.0;
        a[N + i] = 3.0 * (i + 1.0);
        b[N + i] = 1.0;
    }
    CHECK(boot(a, b, N, 2, DRAWS, 1, &ci, &e) == 0, "bootstrap runs: %s", e.msg);
    CHECK(fabs(ci.est - (5050.0 / 200.0 + 3.0 * 5050.0 / 100.0) / 2.0) < 1e-9, "est %.6f by hand", ci.est);
    CHECK(ci.lo < ci.est && ci.est < ci.hi, "the interval [%.3f, %.3f] holds the estimate %.3f", ci.lo, ci.hi, ci.est);
    /* identical a and b: every draw's ratio is 1 */
    CHECK(boot(a, a, N, 1, 100, 1, &ci, &e) == 0 && ci.est == 1.0 && ci.lo == 1.0 && ci.hi == 1.0,
          "a / a: %.6f [%.6f, %.6f]", ci.est, ci.lo, ci.hi);
    /* coverage and width on iid normal data, mean 5, sd 1, b = 1: the ratio is the mean; the normal theory's 95%
       interval is mean +- 1.96 / sqrt(N) = +-0.196. Coverage of 400 sets is binomial: sd sqrt(.95 .05 / 400) = 1.1%,
       so [90%, 99%] is more than 4 sd wide on each side; the mean width within 10% of 0.392 (the percentile
       bootstrap is about 1 - 1/(2N) narrower, and the width's spread over 400 sets is about 0.5%). */
    decar_rng_seed(&r, 42);
    for (set = 0; set < SETS; set++) {
        for (i = 0; i < N; i++) {
            a[i] = 5.0 + decar_rng_normal(&r);
            b[i] = 1.0;
        }
        CHECK(boot(a, b, N, 1, DRAWS, (uint64_t)set, &ci, &e) == 0, "set %d", set);
        cover += ci.lo <= 5.0 && 5.0 <= ci.hi;
        width += (ci.hi - ci.lo) / SETS;
    }
    printf("bootstrap on %d iid data sets: coverage %d, mean width %.4f (normal theory 0.392)\n", SETS, cover, width);
    CHECK(cover >= 360 && cover <= 396, "coverage %d of %d (95%% expected)", cover, SETS);
    CHECK(fabs(width - 0.392) < 0.0392, "mean width %.4f (normal theory 0.392)", width);
    /* pairing: b_q = d_q, a_q = 1.05 d_q + small noise, with d_q varying 10x between documents. The unpaired
       interval of sum a / sum b would carry d's spread; the paired one only the noise: much narrower than the
       interval of a alone relative to its mean */
    for (i = 0; i < N; i++) {
        double dq = 1.0 + 9.0 * decar_rng_double(&r);
        b[i] = dq * 100.0;
        a[i] = 1.05 * dq * 100.0 + decar_rng_normal(&r);
    }
    CHECK(boot(a, b, N, 1, DRAWS, 7, &ci, &e) == 0, "paired");
    for (i = 0; i < N; i++) b[N + i] = 1.0;
    CHECK(boot(a, b + N, N, 1, DRAWS, 7, &ci2, &e) == 0, "a alone");
    CHECK(ci.lo > 1.04 && ci.hi < 1.06 && (ci.hi - ci.lo) / 1.05 < 0.1 * (ci2.hi - ci2.lo) / ci2.est,
          "paired ratio [%.4f, %.4f] holds 1.05 and is >10x narrower (relative) than a's own [%.1f, %.1f]", ci.lo,
          ci.hi, ci2.lo, ci2.hi);
    /* determinism and refusals */
    CHECK(boot(a, b, N, 1, DRAWS, 7, &ci2, &e) == 0 && ci2.lo == ci.lo && ci2.hi == ci.hi,
          "same seed, same interval");
    a[3] = NAN;
    CHECK(boot(a, b, N, 1, DRAWS, 7, &ci, &e) == DECAR_ERR_NUMERIC, "NaN refused");
    a[3] = 1.0;
    CHECK(boot(a, b, 0, 1, DRAWS, 7, &ci, &e) == DECAR_ERR_ARG, "n = 0 refused");
    CHECK(boot(a, b, N, 1, 5, 7, &ci, &e) == DECAR_ERR_ARG, "5 draws refused");
    for (i = 0; i < N; i++) b[i] = 0.0;
    CHECK(boot(a, b, N, 1, DRAWS, 7, &ci, &e) == DECAR_ERR_ARG, "zero sum refused");
}

/* SmallTalk's EM on two domains of different bytes (prose letters, code symbols; 24 documents of 200 random bytes
   each): from a random balanced split the segments must end up by domain (a random split of 48 has at most 46 right
   with probability below 1e-11) */
static void test_smalltalk(void) {
    static const char *alpha[2] = { "abcdefghij klmnop ", "{}();=+*<>0123456789\n" };
    decar_data data, *d = &data;
    decar_rng rg;
    char txt[200];
    int j;
    decar_gpt_config c = decar_gpt_config_of(1, 2, 16, 16);
    decar_gpt lms[2];
    decar_error e;
    decar_docset ds;
    int32_t lab[60], lab2[60];
    int i, k, n = 0, cnt[2] = { 0, 0 }, agree = 0, same = 1, other = 1, rc;
    double flops = 0.0, flops2 = 0.0, want;
    decar_smalltalk_opts so = decar_smalltalk_opts_default(2); /* 2 LMs, 3 rounds */
    so.steps = 40;
    so.batch = 8;
    so.prefix = 48;
    so.seed = 5;
    decar_data_init(d);
    decar_rng_seed(&rg, 3);
    for (i = 0; i < 60; i++) { /* 48 training documents, and some held out (val_permille 200) */
        char nm[32];
        /* one folder, names in alternating domains: the documents' order says nothing about their domain (a tie
           broken by index must not pass for a partition by domain) */
        snprintf(nm, sizeof nm, "all/doc%03d_%s", i, i % 2 ? "code" : "prose");
        for (j = 0; j < 200; j++) txt[j] = alpha[i % 2][decar_rng_u32(&rg) % strlen(alpha[i % 2])];
        decar_data_add(d, nm, txt, 200, 200, &e);
    }
    decar_data_finish(d, &e);
    rc = decar_smalltalk_partition(d, &c, &so, lms, lab, &flops, &e);
    CHECK(rc == 0, "smalltalk: %s", e.msg);
    if (rc) return;
    for (i = 0; i < d->n_docs; i++) {
        if (d->docs[i].split != 0) {
            other &= lab[i] == -1;
            continue;
        }
        n++;
        cnt[lab[i]]++;
        agree += lab[i] == (strstr(d->docs[i].name, "code") != NULL); /* segment = domain, up to the naming */
    }
    if (agree < n - agree) agree = n - agree;
    printf("smalltalk: %d training documents, segments %d + %d, %d of them by domain\n", n, cnt[0], cnt[1], agree);
    CHECK(other, "documents outside split 0 are labelled -1");
    CHECK(cnt[0] <= (n + 1) / 2 && cnt[1] <= (n + 1) / 2, "segments within the capacity ceil(N/K) = %d", (n + 1) / 2);
    CHECK(agree >= n - 2, "the EM separates the domains: %d of %d (a random split: about half)", agree, n);
    CHECK(n > 30 && n < 60, "%d training documents", n);
    /* FLOPs: 3 rounds x 2 LMs x (6 N x 40 steps x 8 x 16 tokens + 2 N x the training documents' prefix tokens) */
    CHECK(decar_docset_build(&ds, d, 0, NULL, &e) == 0, "docset");
    decar_docset_truncate(&ds, 48);
    want = 3.0 * 2.0 * (6.0 * lms[0].n_params * 40 * 8 * 16 + 2.0 * lms[0].n_params * ds.total);
    CHECK(fabs(flops - want) < 1e-9 * want, "flops %.6e = %.6e by the formula", flops, want);
    for (k = 0; k < 2; k++) decar_gpt_free(&lms[k]);
    CHECK(decar_smalltalk_partition(d, &c, &so, lms, lab2, &flops2, &e) == 0, "again");
    for (i = 0; i < d->n_docs; i++) same &= lab[i] == lab2[i];
    CHECK(same, "the same seed gives the same segments");
    for (k = 0; k < 2; k++) decar_gpt_free(&lms[k]);
    so.k = 1000;
    so.rounds = 1;
    so.steps = 1;
    CHECK(decar_smalltalk_partition(d, &c, &so, lms, lab2, &flops2, &e) == DECAR_ERR_ARG,
          "K larger than the documents is refused: %s", e.msg);
    decar_docset_free(&ds);
    decar_data_free(d);
}

int main(void) {
    decar_data d;
    decar_docset ds;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_gpt g[2], *ex[2];
    decar_gpt_config c = decar_gpt_config_of(1, 2, 16, 16); /* a context of 16: documents span several windows */
    decar_ensemble en;
    decar_featurizer fz;
    decar_router rt;
    decar_cluster_opts co = decar_cluster_opts_default(2);
    float *tab[2] = { NULL, NULL }, *X = NULL, prior[2] = { 0.3f, 0.7f };
    double *bits, *hand[2];
    int32_t *best, *choice, *shard;
    int q, k, dim, wins[2] = { 0, 0 }, ok_assign = 1, ok_bayes = 1, ok_min = 1, ok_each = 1;
    test_bootstrap();
    test_word_docs(&d, 3, 5);
    test_smalltalk();
    CHECK(decar_docset_build(&ds, &d, 1, NULL, &e) == 0 && ds.n > 5, "docset: %d held-out documents", ds.n);
    for (k = 0; k < 2; k++) {
        CHECK(decar_gpt_init(&g[k], &c, (uint64_t)k + 1, &e) == 0, "init");
        ex[k] = &g[k];
    }
    bits = (double *)malloc((size_t)ds.n * sizeof(double));
    best = (int32_t *)malloc((size_t)ds.n * sizeof(int32_t));
    choice = (int32_t *)malloc((size_t)ds.n * sizeof(int32_t));
    shard = (int32_t *)malloc((size_t)d.n_docs * sizeof(int32_t));
    /* each document's bits under each expert by hand: decar_gpt_score of [EOT, x_0 .. x_{n-1}] in windows of the
       context (the first input of a window is the token before it), summed in double, / ln 2 */
    for (k = 0; k < 2; k++) {
        hand[k] = (double *)malloc((size_t)ds.n * sizeof(double));
        for (q = 0; q < ds.n; q++) {
            int64_t n = ds.off[q + 1] - ds.off[q], s0, i;
            const int32_t *x = ds.tok + ds.off[q];
            hand[k][q] = 0.0;
            for (s0 = 0; s0 < n; s0 += c.seq_len) {
                int T = (int)(n - s0 < c.seq_len ? n - s0 : c.seq_len);
                int32_t ids[16], tg[16];
                float nll[16];
                for (i = 0; i < T; i++) {
                    ids[i] = s0 + i == 0 ? ds.eot : x[s0 + i - 1];
                    tg[i] = x[s0 + i];
                }
                CHECK(decar_gpt_score(&g[k], ctx, ids, tg, 1, T, nll) == 0, "score");
                for (i = 0; i < T; i++) hand[k][q] += nll[i] / log(2.0);
            }
        }
    }
    en = decar_ensemble_of(ex, 2);
    CHECK(decar_ensemble_oracle_docs(&en, ctx, &ds, 4, tab, bits, best, &e) == 0, "oracle: %s", e.msg);
    /* float32 scores summed in double: agreement to 1e-4 bits per document (documents hold <= 100 tokens of a few
       bits, each token's nll rounded at 2^-24 relative) */
    for (q = 0; q < ds.n; q++) {
        double m = hand[0][q] < hand[1][q] ? hand[0][q] : hand[1][q];
        int arg = hand[0][q] <= hand[1][q] ? 0 : 1;
        if (fabs(bits[q] - m) > 1e-4 || (fabs(hand[0][q] - hand[1][q]) > 1e-3 && best[q] != arg)) ok_min = 0;
        if (fabs(hand[0][q] - hand[1][q]) > 1e-3) wins[arg]++;
    }
    CHECK(ok_min, "oracle bits = min_k of the experts' bits summed by hand, its choice the argmin");
    printf("oracle: %d held-out documents, expert 0 best on %d, expert 1 on %d\n", ds.n, wins[0], wins[1]);
    CHECK(wins[0] > 0 && wins[1] > 0, "each expert wins some documents (%d, %d): the experts differ", wins[0], wins[1]);
    /* with one expert missing the oracle is that expert alone */
    en.experts[1] = NULL;
    decar_nll_tables_free(tab, 2);
    CHECK(decar_ensemble_oracle_docs(&en, ctx, &ds, 4, tab, bits, best, &e) == 0, "oracle of one");
    for (q = 0; q < ds.n; q++)
        if (best[q] != 0 || fabs(bits[q] - hand[0][q]) > 1e-4) ok_each = 0;
    CHECK(ok_each, "a missing expert is never the oracle's choice");
    en.experts[1] = &g[1];
    /* R1's whole-document choice: decar_router_assign of the document's features */
    co.kmeans.seed = 3;
    co.feat_dim = 32;
    CHECK(decar_cluster_docs(&d, &co, &fz, &rt, &X, &dim, shard, &e) == 0, "cluster: %s", e.msg);
    en.router = rt;
    en.router.kind = DECAR_ROUTE_TOP1;
    en.feat = &fz;
    CHECK(decar_ensemble_doc_choice(&en, ctx, &d, &ds, 4, tab, choice, &e) == 0, "choice R1: %s", e.msg);
    for (q = 0; q < ds.n; q++)
        if (choice[q] != decar_router_assign(&rt, X + (int64_t)ds.doc[q] * dim)) ok_assign = 0;
    CHECK(ok_assign, "R1's document choice = decar_router_assign of its features (the clustering's rule)");
    /* R4': argmax_k log pi_k + sum -ln p_k, by hand from the hand bits */
    en.router.kind = DECAR_ROUTE_BAYES;
    en.router.prior = prior;
    CHECK(decar_ensemble_doc_choice(&en, ctx, &d, &ds, 4, tab, choice, &e) == 0, "choice R4'");
    for (q = 0; q < ds.n; q++) {
        double l0 = log(0.3) - hand[0][q] * log(2.0), l1 = log(0.7) - hand[1][q] * log(2.0);
        if (fabs(l0 - l1) > 1e-3 && choice[q] != (l1 > l0)) ok_bayes = 0;
    }
    CHECK(ok_bayes, "R4''s document choice = argmax of log prior + log-likelihood");
    en.router.prior = rt.prior;
    decar_nll_tables_free(tab, 2);
    decar_router_free(&rt);
    decar_feat_free(&fz);
    free(X);
    for (k = 0; k < 2; k++) {
        free(hand[k]);
        decar_gpt_free(&g[k]);
    }
    free(bits);
    free(best);
    free(choice);
    free(shard);
    decar_docset_free(&ds);
    decar_data_free(&d);
    decar_ctx_free(ctx);
    TEST_END("test_evidence");
}
