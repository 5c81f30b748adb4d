/* Clustering, routing and the ensemble.
   k-means: planted clusters recovered; every cluster <= ceil(N/K) (odd N, K); K > N and NaN are errors; same seed,
   same labels; two-stage labels go through the fine map; plain spherical k-means is not capacity-bound.
   Routers: weights sum to 1 and have at most top-k non-zeros for every kind; top-k = K equals the full softmax;
   R4' over a sequence equals the brute-force Bayes mixture (prod_t sum_k w_k p_k = sum_k pi_k prod_t p_k).
   Ensemble: an ensemble of one expert generates exactly that expert's tokens; a missing expert is skipped with the
   router renormalised. Featurizer: deterministic, unit norm, same-domain texts closer than cross-domain ones. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

static void planted(int N, int K, int d, float noise /* norm of the noise vector */, uint64_t seed, float *X,
                    int *truth) {
    decar_rng r;
    int i, j;
    float *cen = (float *)malloc((size_t)K * d * 4);
    decar_rng_seed(&r, seed);
    for (j = 0; j < K * d; j++) cen[j] = decar_rng_normal(&r);
    for (j = 0; j < K; j++) decar_l2_normalize(cen + j * d, d);
    for (i = 0; i < N; i++) {
        int c = i % K, q;
        truth[i] = c;
        for (q = 0; q < d; q++) X[i * d + q] = cen[c * d + q] + noise / sqrtf((float)d) * decar_rng_normal(&r);
        decar_l2_normalize(X + i * d, d);
    }
    free(cen);
}
static double purity(const int32_t *lab, const int *truth, int N, int K) {
    int *cnt = (int *)calloc((size_t)K * K, sizeof(int)), i, j, tot = 0;
    for (i = 0; i < N; i++) cnt[lab[i] * K + truth[i]]++;
    for (i = 0; i < K; i++) {
        int mx = 0;
        for (j = 0; j < K; j++)
            if (cnt[i * K + j] > mx) mx = cnt[i * K + j];
        tot += mx;
    }
    free(cnt);
    return (double)tot / N;
}

static void test_kmeans(void) {
    int sizes[][3] = { { 403, 4, 16 }, { 1000, 7, 32 }, { 37, 5, 3 }, { 10, 10, 4 } }, si;
    decar_error e;
    for (si = 0; si < 4; si++) {
        int N = sizes[si][0], K = sizes[si][1], d = sizes[si][2], i, *truth = (int *)malloc((size_t)N * sizeof(int)),
            cap = (N + K - 1) / K, mx = 0, *cnt = (int *)calloc((size_t)K, sizeof(int));
        float *X = (float *)malloc((size_t)N * d * 4), *C = (float *)malloc((size_t)K * d * 4);
        int32_t *lab = (int32_t *)malloc((size_t)N * 4), *lab2 = (int32_t *)malloc((size_t)N * 4);
        decar_kmeans_opts o;
        o = decar_kmeans_default(K);
        o.iters = 50;
        o.seed = 11;
        planted(N, K, d, 0.3f, 100 + si, X, truth);
        CHECK(decar_kmeans(X, N, d, &o, C, lab, NULL, NULL, NULL, &e) == DECAR_OK, "kmeans: %s", e.msg);
        for (i = 0; i < N; i++) cnt[lab[i]]++;
        for (i = 0; i < K; i++)
            if (cnt[i] > mx) mx = cnt[i];
        CHECK(mx <= cap, "N=%d K=%d: largest cluster %d > capacity %d", N, K, mx, cap);
        for (i = 0; i < K; i++) CHECK(cnt[i] > 0 || N < K, "cluster %d empty", i);
        CHECK(purity(lab, truth, N, K) > 0.97, "N=%d K=%d planted clusters recovered: purity %.3f", N, K,
              purity(lab, truth, N, K));
        CHECK(decar_kmeans(X, N, d, &o, C, lab2, NULL, NULL, NULL, &e) == DECAR_OK && !memcmp(lab, lab2, (size_t)N * 4),
              "same seed, same labels");
        for (i = 0; i < K; i++) {
            double s = 0;
            int q;
            for (q = 0; q < d; q++) s += C[i * d + q] * C[i * d + q];
            CHECK(fabs(s - 1) < 1e-4, "centroid %d normalised", i);
        }
        printf("  balanced k-means N=%d K=%d d=%d: largest %d <= cap %d, purity %.3f\n", N, K, d, mx, cap,
               purity(lab, truth, N, K));
        free(truth);
        free(X);
        free(C);
        free(lab);
        free(lab2);
        free(cnt);
    }
    for (si = 0; si < 2; si++) { /* imbalanced planted data: balanced fills its largest cluster to exactly the
                                    capacity ceil(N/K) (N = 300: 100, N = 301: 101); plain k-means is not bound */
        int N = 300 + si, K = 3, d = 8, i, truth[301], cnt[3] = { 0, 0, 0 }, cntp[3] = { 0, 0, 0 }, cap = (N + 2) / 3;
        int mx = 0, tot = 0;
        float X[301 * 8], C[24];
        int32_t lab[301];
        decar_kmeans_opts o;
        o = decar_kmeans_default(K);
        o.iters = 50;
        o.seed = 3;
        planted(N, K, d, 0.2f, 7, X, truth);
        for (i = 0; i < 200; i++) {
            int q;
            for (q = 0; q < d; q++) X[i * d + q] = X[(i % 100) * 3 * d + q] + 0.01f * (float)(i % 7);
            decar_l2_normalize(X + i * d, d);
        } /* 2/3 near cluster 0 */
        CHECK(decar_kmeans(X, N, d, &o, C, lab, NULL, NULL, NULL, &e) == DECAR_OK, "balanced, skewed: %s", e.msg);
        for (i = 0; i < N; i++) cnt[lab[i]]++;
        for (i = 0; i < K; i++) {
            mx = cnt[i] > mx ? cnt[i] : mx;
            tot += cnt[i];
        }
        o.balanced = 0;
        CHECK(decar_kmeans(X, N, d, &o, C, lab, NULL, NULL, NULL, &e) == DECAR_OK, "plain, skewed: %s", e.msg);
        for (i = 0; i < N; i++) cntp[lab[i]]++;
        CHECK(mx == cap && tot == N, "N = %d: balanced on skewed data fills to the capacity %d exactly (%d %d %d)", N,
              cap, cnt[0], cnt[1], cnt[2]);
        CHECK(cntp[0] > cap || cntp[1] > cap || cntp[2] > cap,
              "plain spherical k-means is free to be unbalanced (%d %d %d)", cntp[0], cntp[1], cntp[2]);
        printf("  skewed N=%d K=3: balanced %d %d %d (capacity %d), plain %d %d %d\n", N, cnt[0], cnt[1], cnt[2], cap,
               cntp[0], cntp[1], cntp[2]);
    }
    { /* errors */
        float X[12];
        int32_t lab[3];
        float C[40];
        decar_kmeans_opts o;
        int i;
        o = decar_kmeans_default(10);
        o.iters = 5;
        for (i = 0; i < 12; i++) X[i] = (float)i;
        CHECK(decar_kmeans(X, 3, 4, &o, C, lab, NULL, NULL, NULL, &e) == DECAR_ERR_ARG &&
                  strstr(e.msg, "larger than the data"),
              "K > N: %s", e.msg);
        o.k = 2;
        X[5] = NAN;
        CHECK(decar_kmeans(X, 3, 4, &o, C, lab, NULL, NULL, NULL, &e) == DECAR_ERR_NUMERIC && strstr(e.msg, "NaN"),
              "NaN: %s", e.msg);
    }
    { /* two-stage: labels = fine_map[nearest fine centroid] */
        int N = 500, K = 4, d = 16, F = 40, i, truth[500];
        float *X = (float *)malloc((size_t)N * d * 4), C[64], *fc = (float *)malloc((size_t)F * d * 4);
        int32_t lab[500], fm[40];
        decar_kmeans_opts o;
        decar_router r;
        int ok = 1;
        o = decar_kmeans_default(K);
        o.seed = 5;
        o.n_fine = F;
        planted(N, K, d, 0.6f, 9, X, truth);
        CHECK(decar_kmeans(X, N, d, &o, C, lab, fc, fm, NULL, &e) == DECAR_OK, "two-stage: %s", e.msg);
        memset(&r, 0, sizeof r);
        r.k = K;
        r.d = d;
        r.centroids = C;
        r.n_fine = F;
        r.fine = fc;
        r.fine_map = fm;
        for (i = 0; i < N; i++) ok &= decar_router_assign(&r, X + i * d) == lab[i];
        CHECK(ok, "two-stage labels equal the router's assignment (the same function at train and test time)");
        CHECK(purity(lab, truth, N, K) > 0.95, "two-stage purity %.3f", purity(lab, truth, N, K));
        printf("  two-stage (F=%d): purity %.3f, assignment function shared with the router\n", F,
               purity(lab, truth, N, K));
        free(X);
        free(fc);
    }
}

static void test_routers(void) {
    int K = 5, d = 8, kind, tk, i;
    float C[40], prior[5] = { 0.1f, 0.2f, 0.3f, 0.25f, 0.15f }, f[8];
    double w[5], w2[5], ll[5] = { -3, -1, -2, -5, -1.5 };
    decar_router r;
    decar_rng g;
    decar_rng_seed(&g, 1);
    for (i = 0; i < 40; i++) C[i] = decar_rng_normal(&g);
    for (i = 0; i < 5; i++) decar_l2_normalize(C + i * d, d);
    for (i = 0; i < 8; i++) f[i] = decar_rng_normal(&g);
    decar_l2_normalize(f, d);
    memset(&r, 0, sizeof r);
    r.k = K;
    r.d = d;
    r.centroids = C;
    r.prior = prior;
    r.temp = 0.1f;
    for (kind = 1; kind <= 5; kind++)
        for (tk = 1; tk <= K; tk++) {
            double s = 0;
            int nz = 0;
            r.kind = kind;
            r.top_k = tk;
            decar_router_weights(&r, f, ll, w);
            for (i = 0; i < K; i++) {
                s += w[i];
                nz += w[i] > 0;
                CHECK(w[i] >= 0, "non-negative");
            }
            CHECK(fabs(s - 1) < 1e-12, "kind %d top-%d: weights sum to %.15f", kind, tk, s);
            CHECK(nz <= tk, "kind %d top-%d: %d non-zero weights", kind, tk, nz);
            if (kind == DECAR_ROUTE_TOP1) CHECK(w[decar_nearest(f, C, K, d)] == 1.0, "R1 picks the nearest centroid");
            if (tk == K) {
                r.top_k = 0;
                decar_router_weights(&r, f, ll, w2);
                CHECK(!memcmp(w, w2, sizeof w), "top-k = K equals the full mixture");
            }
        }
    { /* R2 by hand: softmax(cos/T) */
        double z = 0, e[5];
        r.kind = DECAR_ROUTE_COSINE;
        r.top_k = K;
        decar_router_weights(&r, f, NULL, w);
        for (i = 0; i < K; i++) {
            double c = 0;
            int q;
            for (q = 0; q < d; q++) c += f[q] * C[i * d + q];
            e[i] = exp(c / 0.1); /* R2 has no prior term */
            z += e[i];
        }
        for (i = 0; i < K; i++) CHECK(fabs(w[i] - e[i] / z) < 1e-6, "R2 weight %d: %g vs %g", i, w[i], e[i] / z);
    }
    printf("  routers: 5 kinds x top-k 1..%d sum to 1, R1 nearest, R2 by hand, top-K = full\n", K);
}

/* R4' over a real sequence: sequential mixture = brute-force Bayes mixture */
static void test_bayes_sequence(void) {
    decar_gpt g[3];
    decar_gpt_config c = decar_gpt_default_config();
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    int32_t ids[24], tg[24];
    float nll[3][24];
    int k, t, T = 24;
    float prior[3] = { 0.5f, 0.3f, 0.2f };
    decar_router r;
    double ll[3] = { 0, 0, 0 }, w[3], seq = 0, brute[3], mx = -1e300, z = 0;
    c = decar_gpt_config_of(1, 2, 8, 32);
    for (t = 0; t < T; t++) {
        ids[t] = t == 0 ? DECAR_TOK_EOT : 'a' + (t * 5) % 11;
        tg[t] = 'a' + ((t + 1) * 5) % 11;
    }
    for (k = 0; k < 3; k++) {
        OK(decar_gpt_init(&g[k], &c, 10 + k, &e));
        {
            size_t i;
            for (i = 0; i < g[k].n_params; i++) g[k].params[i] *= 20;
        }
        OK(decar_gpt_score(&g[k], ctx, ids, tg, 1, T, nll[k]));
    }
    memset(&r, 0, sizeof r);
    r.k = 3;
    r.kind = DECAR_ROUTE_BAYES;
    r.top_k = 3;
    r.prior = prior;
    for (t = 0; t < T; t++) {
        double pm = 0;
        decar_router_weights(&r, NULL, ll, w);
        for (k = 0; k < 3; k++) {
            pm += w[k] * exp(-nll[k][t]);
            ll[k] -= nll[k][t];
        }
        seq += log(pm);
    }
    for (k = 0; k < 3; k++) {
        brute[k] = log(prior[k]) + ll[k];
        if (brute[k] > mx) mx = brute[k];
    }
    for (k = 0; k < 3; k++) z += exp(brute[k] - mx);
    CHECK(fabs(seq - (mx + log(z))) < 1e-6 * (1 + fabs(seq)), "sequential R4' log-likelihood %.9f vs brute force %.9f",
          seq, mx + log(z));
    printf("  R4' over %d tokens: log p = %.6f, brute-force Bayes mixture %.6f\n", T, seq, mx + log(z));
    /* ensemble of one = the expert; missing experts are skipped */
    {
        decar_ensemble en;
        decar_gpt *ex[3];
        int32_t a[40], b[40], prompt[3] = { DECAR_TOK_EOT, 'h', 'i' };
        int n1, n2, i, act[40];
        float *kv = (float *)malloc(decar_gpt_kv_size(&c) * 4), *lg = (float *)malloc(258 * 4),
              *sc = (float *)malloc(decar_gpt_step_scratch(&c) * 4);
        double p[257];
        decar_rng rs;
        decar_sample_opts so = decar_sample_opts_default(); /* temp 1, top-k / top-p off */
        ex[0] = &g[1];
        en = decar_ensemble_of(ex, 1);
        so.n_new = 30;
        so.seed = 42;
        if (decar_ensemble_generate(&en, NULL, prompt, 3, &so, a, &n1, NULL, &e)) n1 = -1;
        /* the same by hand: KV steps, softmax over 257 classes, one uniform per token */
        decar_rng_seed(&rs, 42);
        memcpy(b, prompt, sizeof prompt);
        for (i = 0; i < 3; i++) decar_gpt_step(&g[1], kv, b[i], i, lg, sc, NULL);
        for (i = 3; i < 33; i++) {
            decar_softmax_double(lg, 257, 1.0, p);
            OK(decar_sample_probs(p, 257, NULL, &rs, &b[i], NULL));
            if (i < 32) decar_gpt_step(&g[1], kv, b[i], i, lg, sc, NULL);
        }
        CHECK(n1 == 33 && !memcmp(a, b, 33 * 4), "an ensemble of one expert generates exactly the expert's tokens");
        ex[0] = &g[0];
        ex[1] = NULL;
        ex[2] = &g[2];
        en.k = 3;
        en.router.k = 3;
        en.router.kind = DECAR_ROUTE_BAYES;
        en.router.top_k = 3;
        en.router.prior = prior;
        so.n_new = 20;
        so.seed = 7;
        if (decar_ensemble_generate(&en, NULL, prompt, 3, &so, a, &n2, act, &e)) n2 = -1;
        CHECK(n2 == 23, "a missing expert is skipped: %s", n2 < 0 ? e.msg : "ok");
        for (i = 0; i < 20; i++) CHECK(act[i] != 1, "the missing expert never answers");
        free(kv);
        free(lg);
        free(sc);
    }
    { /* batched generation: 5 sequences in one step equal 5 single steps (the GEMM path sums in another order) */
        int n = 5, j, p2, V = c.vocab_size;
        float *kvb[5], *kvs[5], *sc = (float *)malloc(decar_gpt_step_batch_scratch(&c, 5) * 4);
        float *lb = (float *)malloc((size_t)n * V * 4), *ls = (float *)malloc((size_t)V * 4), emb[5 * 8];
        int pos[5];
        double worst = 0;
        for (j = 0; j < n; j++) {
            kvb[j] = (float *)calloc(decar_gpt_kv_size(&c), 4);
            kvs[j] = (float *)calloc(decar_gpt_kv_size(&c), 4);
        }
        for (p2 = 0; p2 < 6; p2++) {
            for (j = 0; j < n; j++) {
                int tok = (j * 31 + p2 * 7) % 256, q;
                pos[j] = p2;
                for (q = 0; q < 8; q++) emb[j * 8 + q] = g[0].params[g[0].info[0].offset + tok * 8 + q];
            }
            CHECK(decar_gpt_step_batch(&g[0], kvb, emb, pos, n, lb, sc, NULL) == 0, "batch step");
            for (j = 0; j < n; j++) {
                int a2;
                OK(decar_gpt_step(&g[0], kvs[j], (j * 31 + p2 * 7) % 256, p2, ls, sc, NULL));
                for (a2 = 0; a2 < V; a2++) {
                    double d = fabs(ls[a2] - lb[j * V + a2]);
                    if (d > worst) worst = d;
                }
            }
        }
        CHECK(worst < 1e-4, "batched generation differs from single steps by %g", worst);
        printf("  batched KV-cache step (5 sequences) = 5 single steps (max diff %.2e)\n", worst);
        for (j = 0; j < n; j++) {
            free(kvb[j]);
            free(kvs[j]);
        }
        free(sc);
        free(lb);
        free(ls);
    }
    for (k = 0; k < 3; k++) decar_gpt_free(&g[k]);
    decar_ctx_free(ctx);
}

static void test_features(void) {
    decar_doc docs[4];
    decar_featurizer f;
    decar_error e;
    float a[64], b[64], c2[64], a2[64];
    double ab = 0, ac = 0, na = 0;
    int i;
    const char *t[4] = {
        "int main(void) { return printf(\"%d\", x); }\nstatic int foo(int a) { return a + 1; }\n",
        "int bar(char *s) { return strlen(s) + printf(\"%s\", s); }\n",
        "And God said, Let there be light: and there was light. And God saw the light, that it was good.\n",
        "In the beginning God created the heaven and the earth. And the earth was without form.\n"
    };
    for (i = 0; i < 4; i++) {
        docs[i].bytes = (uint8_t *)t[i];
        docs[i].len = (int64_t)strlen(t[i]);
        docs[i].name = NULL;
    }
    CHECK(decar_feat_fit(&f, 64, 9, docs, 4, &e) == 0, "fit");
    OK(decar_feat_apply(&f, docs[0].bytes, docs[0].len, a, NULL));
    OK(decar_feat_apply(&f, docs[0].bytes, docs[0].len, a2, NULL));
    OK(decar_feat_apply(&f, docs[1].bytes, docs[1].len, b, NULL));
    OK(decar_feat_apply(&f, docs[2].bytes, docs[2].len, c2, NULL));
    for (i = 0; i < 64; i++) {
        ab += a[i] * b[i];
        ac += a[i] * c2[i];
        na += a[i] * a[i];
    }
    CHECK(!memcmp(a, a2, sizeof a), "featurizer deterministic");
    CHECK(fabs(na - 1) < 1e-5, "unit norm");
    CHECK(ab > ac + 0.1, "C is closer to C (%.3f) than to the Bible (%.3f)", ab, ac);
    printf("  features: cos(C, C) = %.3f > cos(C, Bible) = %.3f\n", ab, ac);
    decar_feat_free(&f);
}

/* a context of one token: generation restarts its window on the last token instead of reading unset logits */
static void test_context_one(void) {
    decar_gpt_config c = decar_gpt_default_config();
    decar_gpt g;
    decar_error e;
    decar_ensemble en;
    decar_gpt *ex[1];
    int32_t prompt[1] = { DECAR_TOK_EOT }, a[12], b[12];
    int n1, n2, i, ok = 1;
    decar_sample_opts so = decar_sample_opts_default(); /* temp 1, top-k / top-p off */
    c = decar_gpt_config_of(1, 1, 8, 1);
    CHECK(decar_gpt_init(&g, &c, 9, &e) == 0, "init seq_len 1: %s", e.msg);
    ex[0] = &g;
    en = decar_ensemble_of(ex, 1);
    so.n_new = 11;
    so.seed = 5;
    if (decar_ensemble_generate(&en, NULL, prompt, 1, &so, a, &n1, NULL, &e)) n1 = -1;
    if (decar_ensemble_generate(&en, NULL, prompt, 1, &so, b, &n2, NULL, &e)) n2 = -1;
    for (i = 1; i < 12; i++) ok &= a[i] >= 0 && a[i] < DECAR_TOK_MASK;
    CHECK(n1 == 12 && n2 == 12 && ok && !memcmp(a, b, sizeof a), "context 1: 11 valid tokens, the same twice");
    decar_gpt_free(&g);
}

/* the balanced assignment's order: keys of (similarity, pair index) sorted by the radix sort = the pairs sorted by
   similarity descending, then index ascending (ties, -0 and +0, negatives included), as a comparison sort gives */
typedef struct {
    float s;
    uint32_t p;
} sim_pair;
static int sim_cmp(const void *a, const void *b) {
    const sim_pair *x = (const sim_pair *)a, *y = (const sim_pair *)b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->p < y->p ? -1 : x->p > y->p;
}
static void test_pair_order(void) {
    int n = 5000, i, same = 1;
    sim_pair *ps = (sim_pair *)malloc((size_t)n * sizeof *ps);
    uint64_t *key = (uint64_t *)malloc((size_t)n * 2 * sizeof(uint64_t));
    decar_rng r;
    decar_rng_seed(&r, 3);
    for (i = 0; i < n; i++) {
        float v = (float)((int)(decar_rng_double(&r) * 41) - 20) / 20.0f; /* many equal values, signs, zero */
        ps[i].s = i % 97 == 0 ? -0.0f : v;
        ps[i].p = (uint32_t)(n - i) * 7919u;
        key[i] = decar__sim_key(ps[i].s, ps[i].p);
    }
    qsort(ps, (size_t)n, sizeof *ps, sim_cmp);
    decar__radix_sort64(key, key + n, n, 0);
    for (i = 0; i < n; i++) same &= (uint32_t)(key[i] & 0xFFFFFFFFu) == ps[i].p;
    CHECK(same, "radix-sorted similarity keys give the comparison sort's order (ties by index, -0 = +0)");
    /* keys made in increasing index order (as k-means makes them): the similarity half alone, stably, is enough */
    for (i = 0; i < n; i++) {
        ps[i].s = (float)((int)(decar_rng_double(&r) * 41) - 20) / 20.0f;
        ps[i].p = (uint32_t)i * 3u;
        key[i] = decar__sim_key(ps[i].s, ps[i].p);
    }
    qsort(ps, (size_t)n, sizeof *ps, sim_cmp);
    decar__radix_sort64(key, key + n, n, 4);
    for (i = 0, same = 1; i < n; i++) same &= (uint32_t)(key[i] & 0xFFFFFFFFu) == ps[i].p;
    CHECK(same, "keys in index order: 4 stable passes over the similarity give the comparison sort's order");
    free(ps);
    free(key);
}

/* the lazy capacitated greedy against its definition: all N K pairs sorted by (similarity desc, index), each taken
   if the point is free and the cluster not full */
static void test_balanced_assign(void) {
    int trial, all_same = 1, bumped_cases = 0;
    for (trial = 0; trial < 40; trial++) {
        int N = 1 + trial * 37 % 500, K = 1 + trial % 9, i, k;
        int64_t cap = (N + K - 1) / K + (trial % 4 == 3), np = (int64_t)N * K, q;
        float *S = (float *)malloc((size_t)np * sizeof(float));
        uint64_t *pairs = (uint64_t *)malloc((size_t)np * 2 * sizeof(uint64_t));
        uint64_t *work = (uint64_t *)malloc((size_t)N * 3 * sizeof(uint64_t));
        int32_t *ref = (int32_t *)malloc((size_t)N * sizeof(int32_t)), *lab = (int32_t *)malloc((size_t)N * 4);
        int32_t cnt[16] = { 0 }, cnt2[16];
        decar_rng r;
        decar_rng_seed(&r, (uint64_t)trial + 5);
        for (q = 0; q < np; q++) { /* coarse values: many ties; trial 7: every similarity equal */
            S[q] = trial == 7 ? 0.5f : (float)((int)(decar_rng_double(&r) * 21) - 10) / 10.0f;
            if (q % 13 == 0) S[q] = -0.0f;
        }
        for (q = 0; q < np; q++) pairs[q] = decar__sim_key(S[q], (uint32_t)q);
        decar__radix_sort64(pairs, pairs + np, np, 0);
        for (i = 0; i < N; i++) ref[i] = -1;
        for (q = 0; q < np; q++) {
            int64_t pi = (int64_t)(pairs[q] & 0xFFFFFFFFu) / K;
            int pk = (int)((int64_t)(pairs[q] & 0xFFFFFFFFu) % K);
            if (ref[pi] < 0 && cnt[pk] < cap) {
                ref[pi] = pk;
                cnt[pk]++;
            }
        }
        decar__balanced_assign(S, N, K, cap, lab, cnt2, work, work + N, work + 2 * N);
        for (i = 0; i < N; i++) {
            int best = 0;
            for (k = 1; k < K; k++)
                if (S[i * K + k] > S[i * K + best]) best = k;
            bumped_cases += ref[i] >= 0 && S[i * K + ref[i]] < S[i * K + best];
            all_same &= ref[i] == lab[i];
        }
        for (k = 0; k < K; k++) all_same &= cnt[k] == cnt2[k];
        free(S);
        free(pairs);
        free(work);
        free(ref);
        free(lab);
    }
    CHECK(all_same, "lazy balanced assignment = the greedy over all sorted pairs (40 cases, ties, -0, equal rows)");
    CHECK(bumped_cases > 100, "the cases bump points off their best cluster (%d)", bumped_cases);
}

int main(void) {
    printf("test_cluster\n");
    test_pair_order();
    test_balanced_assign();
    test_kmeans();
    test_routers();
    test_bayes_sequence();
    test_features();
    test_context_one();
    TEST_END("test_cluster");
}
