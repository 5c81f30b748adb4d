/* The method against independent references: every quantity below is recomputed by hand, in double precision, from
   the equations of the header's manual and the models' logits (decar_gpt_forward, itself checked against PyTorch in
   test_gpt_ref). Only the model forward, the tf-idf feature function and the data sampler are trusted.
   1. decar_router_weights: R1-R6 and uniform, top-k 1..K, by their formulas (R3: c-BTM's -(||h - c_k||^2)^2 / T).
   2. decar_ensemble_route: the same weights with a missing expert removed and the rest renormalised.
   3. decar_ensemble_score_docs: K = 3 different experts with non-uniform predictions, every router and top-k, routed
      every 5 tokens on the text so far: bits_q = sum_i -log2 sum_k w_k(i) p_k(x_i | x_<i).
   4. decar_ensemble_generate: two sampled steps of the same mixtures; each token is the inverse CDF of the hand
      mixture at the generator's uniform draw (16 seeds per router): R4' reweights by p_k(first token) at step 2
      (it starts from the prior pi: the prompt's own likelihood is not part of the generator's R4' weights).
   5. decar_ensemble_score_seq: -ln sum_k w_k p_k(target_t) with fixed weights and an ignored target.
   6. The weighted DFM training loss (decar_gpt_train_step with decar_dfm_corrupt's weights) and decar_gpt_val_loss
      (AR and DFM): sum_i w_i (-ln p(x_i | x_t)) / (B T), the weights kappa'(t) / (1 - kappa(t)), kappa = t^n.
   7. decar_ensemble_dfm_bound: the ELBO estimate of a routed mixture of 2 different bidirectional experts, n = 1, 2, 3:
      per window and draw, kappa'(t) / (1 - kappa(t)) sum_{i masked} -log2 sum_k w_k(x_t) p_k(x_i | x_t); per
      document bits, the byte-weighted mean and its standard error. R4': the document-level Bayes bound
      f = -log2 sum_k pi_k 2^(-B_k(x)), B_k each expert's ELBO bits of the document over the same draws, as the
      jackknife over 3 draws (3 f(all) - 2 mean_i f(all but i)), and its Monte Carlo error by the delta method; with
      one draw, f of the bounds of the two experts alone (the same draws).
   8. decar_cluster_docs (external features): shards = argmax cosine to the centroids, -1 outside splits 0 and 1, the
      prior = the training shares, planted clusters found, capacity ceil(N / K); with tf-idf: the rows are the
      featurizer's. decar_retrieval: ranks and best keys by brute force. decar_clip_train_step: the symmetric InfoNCE
      loss by hand, and the step moves both towers and tau. decar_clip_forward's texts run in groups of similar
      length: the features and gradients of one batch of T positions (rounding); a 0.6 pair (left_padded) reads 0.6's
      layout; the layout saved as "clip_text" and read back (absent: 0.6; unknown: refused).
   9. decar_train: 4 steps (AR and DFM) against its documented loop written out by hand: the same events and bits.
   Tolerances: logits are float32 of magnitude below ~20, so a log-probability carries ~1e-6 absolute error; sums
   over n tokens get n * 1e-5 (bits or nats). Exact identities (weights) get 1e-9. Each is stated where it is used. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K 3    /* experts */
#define SEQ 16 /* their context */
#define NC 257 /* classes of a byte model with a mask token (the mask is never predicted) */

static decar_ctx *g_ctx;

/* ln p(. | ids[0..n)) at the last position, over the model's classes, in double from the forward's logits */
static void hand_logp(decar_gpt *g, const int32_t *ids, int n, int pos, double *lp) {
    decar_tensor *lg;
    const float *z;
    double mx = -1e300, s = 0;
    int a, nc = decar_gpt_classes(&g->cfg);
    decar_ctx_reset(g_ctx);
    lg = decar_gpt_forward(g_ctx, g, ids, 1, n);
    z = lg->data + (int64_t)pos * g->cfg.vocab_size;
    for (a = 0; a < nc; a++) mx = z[a] > mx ? z[a] : mx;
    for (a = 0; a < nc; a++) s += exp((double)z[a] - mx);
    for (a = 0; a < nc; a++) lp[a] = (double)z[a] - mx - log(s);
}

/* The router's weights by the manual's formulas: log-weights l_k, keep the top `top` (larger first, then lower
   index), softmax over them; without features the prior. avail (optional): missing experts removed, renormalised. */
typedef struct hand_router {
    int k, kind, d, top; /* k experts (at most K) */
    double T;
    const float *prior, *cent, *clf_w, *clf_b;
} hand_router;
static void hand_weights(const hand_router *h, const float *feat, const double *ll, const int *avail, double *w) {
    double l[K], fn = 0, mx = -INFINITY, s = 0;
    int order[K], j, q, n, k = h->k;
    for (q = 0; feat && q < h->d; q++) fn += (double)feat[q] * feat[q];
    for (j = 0; j < k; j++) l[j] = log(h->prior ? (double)h->prior[j] : 1.0 / k);
    if (fn > 0 && (h->kind == DECAR_ROUTE_TOP1 || h->kind == DECAR_ROUTE_COSINE || h->kind == DECAR_ROUTE_CBTM)) {
        double cs[K];
        int best = 0;
        for (j = 0; j < k; j++) {
            double dot = 0, cn = 0, d2 = 0;
            for (q = 0; q < h->d; q++) {
                double hq = feat[q] / sqrt(fn), cq = h->cent[j * h->d + q];
                dot += hq * cq;
                cn += cq * cq;
                d2 += (hq - cq) * (hq - cq); /* ||h - c_k||^2 */
            }
            cs[j] = dot / sqrt(cn);
            if (h->kind == DECAR_ROUTE_CBTM) l[j] = -(d2 * d2) / h->T;
            if (h->kind == DECAR_ROUTE_COSINE) l[j] = cs[j] / h->T;
            if (cs[j] > cs[best]) best = j;
        }
        for (j = 0; h->kind == DECAR_ROUTE_TOP1 && j < k; j++) l[j] = j == best ? 0 : -INFINITY;
    } else if (fn > 0 && h->kind == DECAR_ROUTE_LM) {
        for (j = 0; j < k; j++) l[j] = feat[j] / h->T; /* minus nats per token / T */
    } else if (fn > 0 && h->kind == DECAR_ROUTE_LEARNED) {
        for (j = 0; j < k; j++) {
            l[j] = h->clf_b[j];
            for (q = 0; q < h->d; q++) l[j] += (double)h->clf_w[j * h->d + q] * feat[q];
        }
    } else if (h->kind == DECAR_ROUTE_BAYES && ll) {
        for (j = 0; j < k; j++) l[j] += ll[j];
    } else if (h->kind == DECAR_ROUTE_UNIFORM) {
        for (j = 0; j < k; j++) l[j] = 0;
    }
    /* order: insertion sort by l descending, ties by index */
    for (j = 0; j < k; j++) {
        int p = j;
        while (p > 0 && l[order[p - 1]] < l[j]) {
            order[p] = order[p - 1];
            p--;
        }
        order[p] = j;
    }
    n = h->top > 0 && h->top < k ? h->top : k;
    for (j = 0; j < k; j++) w[j] = 0;
    for (j = 0; j < n; j++) mx = l[order[j]] > mx ? l[order[j]] : mx;
    for (j = 0; j < n; j++) w[order[j]] = l[order[j]] > -INFINITY ? exp(l[order[j]] - mx) : 0;
    for (j = 0; j < k; j++) w[j] *= avail && !avail[j] ? 0 : 1;
    for (j = 0; j < k; j++) s += w[j];
    for (j = 0; j < k; j++) w[j] /= s;
}

/* a model of non-uniform predictions: GPT-2 init, every parameter times `sharp` */
static void make_model(decar_gpt *g, int causal, int seq, uint64_t seed, float sharp) {
    decar_gpt_config c = decar_gpt_config_of(1, 2, 16, seq);
    decar_error e;
    uint64_t i;
    c.causal = causal;
    CHECK(decar_gpt_init(g, &c, seed, &e) == 0, "init: %s", e.msg);
    for (i = 0; i < g->n_params; i++) g->params[i] *= sharp;
}

/* the hand table: lp[off[q] + i] = ln p(x_i | x_<i) of document q in windows of SEQ, as decar_gpt_score_docs
   documents it (window s: inputs x_{s-1} .. x_{s+SEQ-2}, x_{-1} = EOT) */
static void hand_table(decar_gpt *g, const decar_docset *ds, double *lp) {
    int q;
    double p[DECAR_BYTE_VOCAB];
    for (q = 0; q < ds->n; q++) {
        int64_t len = ds->off[q + 1] - ds->off[q], s, i;
        const int32_t *tk = ds->tok + ds->off[q];
        for (s = 0; s < len; s += SEQ)
            for (i = s; i < len && i < s + SEQ; i++) {
                int32_t x[SEQ];
                int64_t t;
                for (t = s; t <= i; t++) x[t - s] = t == 0 ? DECAR_TOK_EOT : tk[t - 1];
                hand_logp(g, x, (int)(i - s + 1), (int)(i - s), p);
                lp[ds->off[q] + i] = p[tk[i]];
            }
    }
}
/* R6's feature by hand: minus the mean nats per token of the text's first min(len, n) bytes */
static void hand_lm_feat(decar_gpt **lms, const uint8_t *txt, int64_t len, int n, float *f) {
    int j, i, m = (int)(len < n ? len : n);
    int32_t ids[SEQ];
    double p[DECAR_BYTE_VOCAB];
    for (j = 0; j < K; j++) {
        double s = 0;
        for (i = 0; i < m; i++) {
            int t;
            for (t = 0; t <= i; t++) ids[t] = t == 0 ? DECAR_TOK_EOT : txt[t - 1];
            hand_logp(lms[j], ids, i + 1, i, p);
            s -= p[txt[i]];
        }
        f[j] = m ? (float)(s / m) * -1.0f : 0.0f;
    }
}

/* the hand features of a text for router kind `kind` (NULL: none, the prior) */
static const float *hand_feat(int kind, decar_featurizer *fz, decar_gpt **lms, const uint8_t *txt, int64_t len,
                              float *buf) {
    decar_error e;
    if (kind == DECAR_ROUTE_LM) {
        hand_lm_feat(lms, txt, len, 8, buf);
        return buf;
    }
    if (!decar_route_uses_features(kind) || len == 0) return NULL;
    CHECK(decar_feat_apply(fz, txt, len, buf, &e) == 0, "feat_apply: %s", e.msg);
    return buf;
}

/* decar_train's events, recorded for the hand loop to compare */
typedef struct train_log {
    int n;
    decar_train_event ev[8];
} train_log;
static int record(void *user, const decar_train_event *ev) {
    train_log *l = (train_log *)user;
    if (l->n < 8) l->ev[l->n++] = *ev;
    return 0;
}

static const int kinds[7] = { DECAR_ROUTE_TOP1,    DECAR_ROUTE_COSINE,  DECAR_ROUTE_CBTM, DECAR_ROUTE_BAYES,
                              DECAR_ROUTE_UNIFORM, DECAR_ROUTE_LEARNED, DECAR_ROUTE_LM };

int main(void) {
    decar_data d;
    decar_docset ds;
    decar_error e;
    decar_gpt g[K], *ex[K];
    decar_featurizer fz, f6;
    decar_router r;
    decar_lm_router lr;
    decar_ensemble en;
    hand_router hr;
    float *X;
    double *lp[K];
    int i, j, nt = 0, kind_i, top, dim = 32;
    decar_kmeans_opts o = decar_kmeans_default(K);
    decar_rng rng;
    decar_doc *train;
    printf("test_method\n");
    g_ctx = decar_ctx_new(0);
    test_word_docs(&d, 4, 4);
    CHECK(decar_docset_build(&ds, &d, 1, NULL, &e) == 0 && ds.n >= 8, "docset: %d held-out documents", ds.n);
    for (j = 0; j < K; j++) {
        make_model(&g[j], 1, SEQ, 11 + (uint64_t)j, 4.0f);
        ex[j] = &g[j];
    }
    /* the tf-idf featurizer and a router of K = 3 centroids from the training documents */
    train = (decar_doc *)calloc((size_t)d.n_docs, sizeof(decar_doc));
    for (i = 0; i < d.n_docs; i++)
        if (d.docs[i].split == 0) train[nt++] = d.docs[i];
    CHECK(decar_feat_fit(&fz, dim, 5, train, nt, &e) == 0, "feat_fit: %s", e.msg);
    X = (float *)malloc((size_t)nt * dim * sizeof(float));
    for (i = 0; i < nt; i++) CHECK(decar_feat_apply(&fz, train[i].bytes, train[i].len, X + i * dim, &e) == 0, "feat");
    o.iters = 20;
    CHECK(decar_router_build(&r, X, nt, dim, &o, NULL, &e) == 0, "router_build: %s", e.msg);
    r.prior[0] = 0.5f; /* a prior far from uniform, so that using it or not shows */
    r.prior[1] = 0.3f;
    r.prior[2] = 0.2f;
    r.temp = 0.25f;
    r.clf_w = (float *)malloc((size_t)K * dim * sizeof(float)); /* R5: a classifier with random weights */
    r.clf_b = (float *)malloc(K * sizeof(float));
    decar_rng_seed(&rng, 3);
    for (i = 0; i < K * dim; i++) r.clf_w[i] = 3.0f * decar_rng_normal(&rng);
    for (j = 0; j < K; j++) r.clf_b[j] = 0.5f * decar_rng_normal(&rng);
    /* R6: the experts themselves as the small per-cluster LMs, on the first 8 bytes */
    memset(&lr, 0, sizeof lr);
    lr.k = K;
    lr.lms = ex;
    lr.max_tokens = 8;
    lr.ctx = decar_ctx_new(0);
    memset(&f6, 0, sizeof f6);
    f6.dim = K;
    f6.fn = decar_lm_router_fn;
    f6.user = &lr;
    hr.k = K;
    hr.T = r.temp;
    hr.prior = r.prior;
    hr.cent = r.centroids;
    hr.clf_w = r.clf_w;
    hr.clf_b = r.clf_b;

    /* 1. decar_router_weights against the formulas, on random unit features and log-likelihoods */
    {
        double worst = 0, w[K], wh[K], ll[K] = { -3.0, -1.5, -2.2 };
        float f[32];
        int n;
        for (n = 0; n < 20; n++) {
            for (i = 0; i < dim; i++) f[i] = decar_rng_normal(&rng);
            decar_l2_normalize(f, dim);
            for (kind_i = 0; kind_i < 7; kind_i++)
                for (top = 1; top <= K; top++) {
                    double s = 0;
                    r.kind = kinds[kind_i];
                    r.top_k = top;
                    r.d = kinds[kind_i] == DECAR_ROUTE_LM ? K : dim;
                    hr.kind = r.kind;
                    hr.top = top;
                    hr.d = r.d;
                    decar_router_weights(&r, f, ll, w);
                    hand_weights(&hr, f, ll, NULL, wh);
                    for (j = 0; j < K; j++) {
                        worst = fabs(w[j] - wh[j]) > worst ? fabs(w[j] - wh[j]) : worst;
                        s += w[j];
                    }
                    CHECK(fabs(s - 1) < 1e-12, "%s top-%d: weights sum to %.15f", decar_route_label(r.kind), top, s);
                }
        }
        r.d = dim;
        /* float features and centroids: cosines carry ~1e-7, times 1/T = 4 and the c-BTM square: 1e-5 */
        CHECK(worst < 1e-5, "decar_router_weights = the formulas, R1-R6 + uniform, top-1..3 (max diff %.2g)", worst);
        printf("  router weights R1-R6, uniform, top-1..3 = the manual's formulas (max diff %.2g)\n", worst);
    }

    /* 2. decar_ensemble_route: expert 1 missing, the rest renormalised */
    {
        const char *txt = "int x = 1;\nreturn y;\n";
        int avail[K] = { 1, 0, 1 }, ok = 1;
        double w[K], wh[K];
        float fb[32];
        en = decar_ensemble_of(ex, K);
        en.router = r;
        en.feat = &fz;
        ex[1] = NULL;
        for (kind_i = 0; kind_i < 3; kind_i++) {
            en.router.kind = kinds[kind_i];
            en.router.top_k = 3;
            hr.kind = kinds[kind_i];
            hr.top = 3;
            hr.d = dim;
            CHECK(decar_ensemble_route(&en, (const uint8_t *)txt, (int64_t)strlen(txt), w, &e) == 0, "route: %s",
                  e.msg);
            hand_weights(&hr, hand_feat(hr.kind, &fz, ex, (const uint8_t *)txt, (int64_t)strlen(txt), fb), NULL, avail,
                         wh);
            for (j = 0; j < K; j++) ok &= fabs(w[j] - wh[j]) < 1e-5;
            CHECK(ok && w[1] == 0.0, "route %s with a missing expert: %.6f %.6f %.6f, by hand %.6f %.6f %.6f",
                  decar_route_label(hr.kind), w[0], w[1], w[2], wh[0], wh[1], wh[2]);
        }
        ex[1] = &g[1];
        printf("  decar_ensemble_route: R1-R3 weights with a missing expert removed and renormalised\n");
    }

    /* 3. decar_ensemble_score_docs: every router, top-1..3, 3 different experts, routed every 5 tokens */
    for (j = 0; j < K; j++) {
        lp[j] = (double *)malloc((size_t)ds.total * sizeof(double));
        hand_table(&g[j], &ds, lp[j]);
    }
    { /* non-uniform predictions: each expert's per-token log-probabilities spread over several nats */
        double lo = 0, hi = -1e30;
        int64_t t;
        for (t = 0; t < ds.total; t++) {
            lo = lp[0][t] < lo ? lp[0][t] : lo;
            hi = lp[0][t] > hi ? lp[0][t] : hi;
        }
        CHECK(hi - lo > 3 && hi > -log(257.0) + 1, "expert 0's ln p spans [%.2f, %.2f] (uniform: %.2f)", lo, hi,
              -log(257.0));
        printf("  expert 0's per-token ln p spans [%.2f, %.2f] nats (uniform %.2f): non-uniform predictions\n", lo, hi,
               -log(257.0));
    }
    {
        float *tab[K] = { NULL, NULL, NULL };
        double *bits = (double *)malloc((size_t)ds.n * sizeof(double)), spread = 0;
        float fb[32];
        for (kind_i = 0; kind_i < 7; kind_i++)
            for (top = 1; top <= K; top++) {
                int q;
                double worst = 0, tot = 0;
                en = decar_ensemble_of(ex, K);
                en.router = r;
                en.router.kind = kinds[kind_i];
                en.router.top_k = top;
                en.router.d = kinds[kind_i] == DECAR_ROUTE_LM ? K : dim;
                en.route_every = 5;
                en.feat = kinds[kind_i] == DECAR_ROUTE_LM ? &f6 : &fz;
                hr.kind = en.router.kind;
                hr.top = top;
                hr.d = en.router.d;
                CHECK(decar_ensemble_score_docs(&en, g_ctx, &d, &ds, 3, tab, bits, &e) == 0, "score_docs: %s", e.msg);
                for (q = 0; q < ds.n; q++) {
                    const decar_doc *doc = &d.docs[ds.doc[q]];
                    int64_t n = ds.off[q + 1] - ds.off[q], t;
                    double ll[K] = { 0, 0, 0 }, w[K], want = 0;
                    for (t = 0; t < n; t++) {
                        double pm = 0;
                        /* w(t) from the text before token t: every token for R4', every 5 tokens for the rest */
                        if (t == 0 || kinds[kind_i] == DECAR_ROUTE_BAYES || t % 5 == 0) {
                            int64_t before = t > 0 ? ds.end[ds.off[q] + t - 1] : 0;
                            hand_weights(&hr, hand_feat(hr.kind, &fz, ex, doc->bytes, before, fb), ll, NULL, w);
                        }
                        for (j = 0; j < K; j++) {
                            pm += w[j] * exp(lp[j][ds.off[q] + t]);
                            ll[j] += lp[j][ds.off[q] + t];
                        }
                        want += -log2(pm);
                    }
                    /* n tokens of ~1e-6 nats each */
                    worst = fabs(want - bits[q]) / n > worst ? fabs(want - bits[q]) / n : worst;
                    tot += bits[q];
                }
                CHECK(worst < 1e-5, "score_docs %s top-%d = the hand mixture (max diff %.2g bits per token)",
                      decar_route_label(hr.kind), top, worst);
                printf("  score_docs %-9s top-%d: %.4f bits per byte, = hand mixture (max diff %.1e bits/token)\n",
                       decar_route_label(hr.kind), top, tot / (double)ds.bytes, worst);
                spread = kind_i == 0 && top == 1 ? tot : spread;
                if (kind_i == 4 && top == 3)
                    CHECK(fabs(tot - spread) > 1.0, "the experts differ: top-1 %.2f bits, uniform %.2f", spread, tot);
                decar_nll_tables_free(tab, K);
            }
        free(bits);
    }

    /* 4. decar_ensemble_generate: two sampled steps against the inverse CDF of the hand mixture */
    {
        static const int32_t prompt[6] = { DECAR_TOK_EOT, 'i', 'n', 't', ' ', 'x' };
        const uint8_t *ptxt = (const uint8_t *)"int x";
        float fb[32];
        int distinct = 0, first_tok = -1;
        for (kind_i = 0; kind_i < 7; kind_i++)
            for (top = 1; top <= K; top++) {
                int seed, agree = 0;
                en = decar_ensemble_of(ex, K);
                en.router = r;
                en.router.kind = kinds[kind_i];
                en.router.top_k = top;
                en.router.d = kinds[kind_i] == DECAR_ROUTE_LM ? K : dim;
                en.feat = kinds[kind_i] == DECAR_ROUTE_LM ? &f6 : &fz;
                hr.kind = en.router.kind;
                hr.top = top;
                hr.d = en.router.d;
                for (seed = 1; seed <= 16; seed++) {
                    int32_t out[8], ids[8];
                    int len = 0, act[2], step, ok = 1, a = 0;
                    double ll[K] = { 0, 0, 0 }, w[K], p[K][DECAR_BYTE_VOCAB];
                    decar_rng rr;
                    decar_sample_opts so = decar_sample_opts_default(); /* temp 1, top-k / top-p off */
                    so.n_new = 2;
                    so.seed = (uint64_t)seed;
                    CHECK(decar_ensemble_generate(&en, NULL, prompt, 6, &so, out, &len, act, &e) == 0 && len == 8,
                          "generate: %s", e.msg);
                    decar_rng_seed(&rr, (uint64_t)seed);
                    memcpy(ids, prompt, sizeof prompt);
                    hand_weights(&hr, hand_feat(hr.kind, &fz, ex, ptxt, 5, fb), ll, NULL, w);
                    for (step = 0; step < 2; step++) {
                        double mix[NC], u = decar_rng_double(&rr), cum = 0, tot = 0;
                        int best = 0;
                        /* p(a) = sum_k w_k p_k(a | ids); R4' after step 1: w_k ~ pi_k p_k(first token) */
                        if (step == 1 && hr.kind == DECAR_ROUTE_BAYES) hand_weights(&hr, NULL, ll, NULL, w);
                        for (j = 0; j < K; j++) hand_logp(&g[j], ids, 6 + step, 5 + step, p[j]);
                        for (a = 0; a < NC; a++) {
                            mix[a] = 0;
                            for (j = 0; j < K; j++) mix[a] += w[j] > 0 ? w[j] * exp(p[j][a]) : 0;
                            tot += mix[a];
                        }
                        for (j = 1; j < K; j++) best = w[j] > w[best] ? j : best;
                        for (a = 0; a < NC - 1; a++) {
                            cum += mix[a];
                            if (u * tot < cum) break;
                        }
                        ok &= out[6 + step] == a && act[step] == best;
                        for (j = 0; j < K; j++) ll[j] += p[j][a];
                        ids[6 + step] = a;
                    }
                    agree += ok;
                    if (first_tok < 0) first_tok = out[6];
                    if (out[6] != first_tok) distinct = 1;
                }
                CHECK(agree == 16, "generate %s top-%d: %d of 16 two-token draws = the hand mixture's inverse CDF",
                      decar_route_label(hr.kind), top, agree);
            }
        CHECK(distinct, "the draws are not all the same token");
        printf("  generate, R1-R6 + uniform, top-1..3: 16 seeds x 2 steps = the hand mixture's inverse CDF\n");
    }

    /* 5. decar_ensemble_score_seq with fixed weights (one zero) and an ignored target */
    {
        int32_t ids[10] = { DECAR_TOK_EOT, 'r', 'e', 't', 'u', 'r', 'n', ' ', 'y', ';' }, tg[10];
        double w[K] = { 0.25, 0.0, 0.75 }, nll[10], p[K][DECAR_BYTE_VOCAB], worst = 0;
        int t;
        for (t = 0; t < 10; t++) tg[t] = t < 9 ? ids[t + 1] : '\n';
        tg[4] = -1;
        en = decar_ensemble_of(ex, K);
        CHECK(decar_ensemble_score_seq(&en, g_ctx, NULL, ids, tg, 10, w, nll, &e) == 0, "score_seq: %s", e.msg);
        for (t = 0; t < 10; t++) {
            double want = 0;
            for (j = 0; j < K; j++) {
                hand_logp(&g[j], ids, t + 1, t, p[j]);
                if (tg[t] >= 0) want += w[j] * exp(p[j][tg[t]]);
            }
            want = tg[t] < 0 ? 0 : -log(want);
            worst = fabs(want - nll[t]) > worst ? fabs(want - nll[t]) : worst;
        }
        CHECK(worst < 1e-5 && nll[4] == 0.0, "score_seq = -ln sum_k w_k p_k(target) (max diff %.2g nats)", worst);
        printf("  decar_ensemble_score_seq = -ln sum_k w_k p_k(target_t) by hand (max diff %.1e nats)\n", worst);
    }

    /* 6. the weighted DFM loss and decar_gpt_val_loss against hand sums */
    {
        decar_gpt m;
        decar_dfm dfm;
        decar_opt op = decar_opt_default();
        int B = 4, T = 12, n, b;
        int32_t x[48], y[48], xi[48], tg[48];
        float w[48], tt[4], loss;
        double want = 0, p[DECAR_BYTE_VOCAB];
        int masked = 0;
        make_model(&m, 0, T, 21, 4.0f);
        dfm.kappa_pow = 2;
        dfm.t_max = 0;
        dfm.mask_token = decar_gpt_mask(&m.cfg);
        decar_rng_seed(&rng, 8);
        CHECK(decar_data_batch(&d, 0, &rng, B, T, x, y, &e) == 0, "batch: %s", e.msg);
        decar_dfm_corrupt(&dfm, &rng, x, xi, tg, w, B, T, tt);
        /* by hand: w_i = kappa'(t) / (1 - kappa(t)) with kappa = t^2 on the masked positions, the loss
           sum_i w_i (-ln p(x_i | x_t)) / (B T) from the logits before the step */
        for (b = 0; b < B; b++) {
            double kap = (double)tt[b] * tt[b], kd = 2.0 * tt[b];
            for (i = 0; i < T; i++) {
                int k = b * T + i;
                if (xi[k] != dfm.mask_token) continue;
                masked++;
                CHECK(fabs(w[k] - kd / (1 - kap)) < 1e-6 * (kd / (1 - kap)), "weight %g, by hand %g", w[k],
                      kd / (1 - kap));
                hand_logp(&m, xi + b * T, T, i, p);
                want -= kd / (1 - kap) * p[x[k]];
            }
        }
        want /= B * T;
        loss = decar_gpt_train_step(&m, g_ctx, &op, xi, tg, w, B, T);
        /* a sum of up to 48 terms of ~1e-6 relative error each */
        CHECK(masked > 0 && fabs(loss - want) < 1e-5 * (1 + want), "weighted DFM loss %.6f, by hand %.6f (%d masked)",
              loss, want, masked);
        printf("  weighted DFM loss %.6f = hand sum %.6f nats (%d of %d masked, kappa = t^2)\n", loss, want, masked,
               B * T);
        /* decar_gpt_val_loss: AR (a causal expert) and DFM (m), on the 3 fixed batches of split 1 (seed 777) */
        for (n = 0; n < 2; n++) {
            decar_gpt *gm = n == 0 ? &g[0] : &m;
            double v = decar_gpt_val_loss(gm, g_ctx, &d, B, T, n ? &dfm : NULL, 3), hv = 0;
            int bt;
            decar_rng_seed(&rng, 777);
            for (bt = 0; bt < 3; bt++) {
                double s = 0;
                CHECK(decar_data_batch(&d, 1, &rng, B, T, x, y, &e) == 0, "batch: %s", e.msg);
                for (b = 0; b < B; b++) { /* DFM: t stratified over the batch, kappa = t^2 (AR draws nothing) */
                    double tb = n ? ((double)b + decar_rng_double(&rng)) / B * (1.0 - 1e-3) : 0, kap = tb * tb;
                    for (i = 0; i < T; i++) { /* DFM: x_t masks each x_i with probability 1 - kappa(t) */
                        int k = b * T + i;
                        int hide = n && !(decar_rng_double(&rng) < kap);
                        xi[k] = hide ? dfm.mask_token : x[k];
                        tg[k] = n ? (hide ? x[k] : -1) : y[k];
                        w[k] = n ? (float)(hide ? 2.0 * tb / (1.0 - kap) : 0.0) : 1.0f;
                    }
                }
                for (b = 0; b < B; b++)
                    for (i = 0; i < T; i++) {
                        int k = b * T + i;
                        if (tg[k] < 0) continue;
                        hand_logp(gm, (n ? xi : x) + b * T, n ? T : i + 1, i, p);
                        s -= (double)w[k] * p[tg[k]];
                    }
                hv += s / (B * T);
            }
            hv /= 3;
            CHECK(fabs(v - hv) < 1e-5 * (1 + hv), "val_loss %s %.6f, by hand %.6f", n ? "DFM" : "AR", v, hv);
            printf("  decar_gpt_val_loss %s %.6f = hand %.6f nats\n", n ? "DFM" : "AR ", v, hv);
        }
        decar_gpt_free(&m);
    }

    /* 7. decar_ensemble_dfm_bound: 2 different bidirectional experts, routed on the revealed text */
    {
        decar_gpt m[2], *mx[2];
        decar_dfm dfm;
        int cfg, L0 = 11; /* tokens per window: the context of 12 minus the EOT */
        int rk[3] = { DECAR_ROUTE_COSINE, DECAR_ROUTE_BAYES, DECAR_ROUTE_TOP1 }, rt[3] = { 2, 2, 1 };
        double *bits = (double *)malloc((size_t)ds.n * sizeof(double));
        double *hb = (double *)malloc((size_t)ds.n * sizeof(double));
        make_model(&m[0], 0, 12, 31, 4.0f);
        make_model(&m[1], 0, 12, 32, 4.0f);
        mx[0] = &m[0];
        mx[1] = &m[1];
        for (cfg = 0; cfg < 3; cfg++) {
            double mean, se, sum = 0, sum2 = 0, nb = 0, hm, hse, worst = 0, mcvar = 0, pri[2] = { 0, 0 };
            double ekh[2][3];                          /* bayes: expert k's bits of the document at draw m */
            int q, mc, nmc = 3, bay = rk[cfg] == DECAR_ROUTE_BAYES;
            decar_router r2 = r;
            decar_dfm_bound_opts bo = decar_dfm_bound_opts_default();
            en = decar_ensemble_of(mx, 2);
            r2.k = 2;
            r2.kind = rk[cfg];
            r2.top_k = rt[cfg];
            en.router = r2;
            en.feat = &fz;
            dfm.kappa_pow = cfg + 1;
            dfm.t_max = 0;
            dfm.mask_token = decar_gpt_mask(&m[0].cfg);
            bo.dfm = &dfm;
            bo.n_mc = nmc;
            bo.seed = 40 + (uint64_t)cfg;
            bo.min_evidence = 4; /* windows of 11 bytes: both sides of the rule occur */
            CHECK(decar_ensemble_dfm_bound(&en, g_ctx, &ds, &bo, &mean, &se, bits, &e) == 0, "dfm_bound: %s", e.msg);
            /* by hand: the same draws (t, then one reveal per token), the weights from the revealed bytes */
            decar_rng_seed(&rng, 40 + (uint64_t)cfg);
            for (q = 0; q < ds.n; q++) {
                int64_t len = ds.off[q + 1] - ds.off[q], s;
                const int32_t *tk = ds.tok + ds.off[q];
                hb[q] = 0;
                memset(ekh, 0, sizeof ekh);
                for (s = 0; s < len; s += L0) {
                    int L = (int)(len - s < L0 ? len - s : L0);
                    double wb = (double)(ds.end[ds.off[q] + s + L - 1] - (s > 0 ? ds.end[ds.off[q] + s - 1] : 0));
                    if (bay) nb += wb; /* the document's bytes, once */
                    for (mc = 0; mc < nmc; mc++) {
                        double t = decar_rng_double(&rng) * (1.0 - 1e-3), n = cfg + 1;
                        double kap = pow(t, n), wt = n * pow(t, n - 1) / (1 - kap), b = 0, w2[K];
                        double pk[2][12][DECAR_BYTE_VOCAB];
                        int32_t xt[12];
                        uint8_t vis[12];
                        int nv = 0, k;
                        float fb[32];
                        xt[0] = DECAR_TOK_EOT;
                        for (i = 0; i < L; i++) {
                            int rev = decar_rng_double(&rng) < kap;
                            xt[i + 1] = rev ? tk[s + i] : dfm.mask_token;
                            if (rev) vis[nv++] = (uint8_t)tk[s + i];
                        }
                        {
                            hand_router h2 = hr; /* the router's first two centroids and prior entries */
                            h2.k = 2;
                            h2.kind = rk[cfg];
                            h2.top = rt[cfg];
                            h2.d = dim;
                            if (h2.kind != DECAR_ROUTE_BAYES && nv < bo.min_evidence) {
                                /* no evidence, no commitment: the prior over both experts */
                                h2.kind = DECAR_ROUTE_BAYES;
                                h2.top = 2;
                            }
                            hand_weights(&h2, hand_feat(h2.kind, &fz, mx, vis, nv, fb), NULL, NULL, w2);
                        }
                        for (k = 0; k < 2; k++)
                            for (i = 0; i < L && w2[k] > 0; i++)
                                if (xt[i + 1] == dfm.mask_token) hand_logp(&m[k], xt, L + 1, i + 1, pk[k][i]);
                        if (bay) { /* each expert's own ELBO bits of this draw; the prior */
                            for (k = 0; k < 2; k++) {
                                pri[k] = w2[k];
                                for (i = 0; i < L; i++)
                                    if (xt[i + 1] == dfm.mask_token) ekh[k][mc] += -pk[k][i][tk[s + i]] / log(2.0) * wt;
                            }
                            continue;
                        }
                        for (i = 0; i < L; i++) {
                            double pm = 0;
                            if (xt[i + 1] != dfm.mask_token) continue;
                            for (k = 0; k < 2; k++) pm += w2[k] > 0 ? w2[k] * exp(pk[k][i][tk[s + i]]) : 0;
                            b += -log2(pm) * wt;
                        }
                        sum += b;
                        sum2 += b * b / wb;
                        nb += wb;
                        hb[q] += b / nmc;
                    }
                }
                if (bay) { /* -log2 sum_k pi_k 2^(-B_k), B_k the mean over the draws; the delta method's variance */
                    double B[2], z = 0, g1 = 0, g2 = 0;
                    int k;
                    double jk = 0;
                    for (k = 0; k < 2; k++) B[k] = (ekh[k][0] + ekh[k][1] + ekh[k][2]) / 3;
                    for (k = 0; k < 2; k++) z += pri[k] * pow(2.0, -B[k]);
                    /* the jackknife over the 3 draws: 3 f(all) - 2 mean_i f(all but i) */
                    for (mc = 0; mc < nmc; mc++) {
                        double zi = 0;
                        for (k = 0; k < 2; k++) zi += pri[k] * pow(2.0, -(3 * B[k] - ekh[k][mc]) / 2);
                        jk += -log2(zi) / 3;
                    }
                    hb[q] = 3 * -log2(z) - 2 * jk;
                    for (mc = 0; mc < nmc; mc++) {
                        double g = 0;
                        for (k = 0; k < 2; k++) g += pri[k] * pow(2.0, -B[k]) / z * ekh[k][mc];
                        g1 += g;
                        g2 += g * g;
                    }
                    mcvar += (g2 - g1 * g1 / nmc) / (nmc - 1) / nmc;
                    sum += hb[q];
                }
                worst = fabs(hb[q] - bits[q]) / (1 + hb[q]) > worst ? fabs(hb[q] - bits[q]) / (1 + hb[q]) : worst;
            }
            hm = sum / nb;
            hse = bay ? sqrt(mcvar) / nb : sqrt(sum2 / nb - hm * hm) / sqrt((double)ds.total * nmc / L0 + 1e-9);
            if (bay) { /* each expert alone (the same seed: the same t and reveals) gives its B_k of every document;
                          with one draw (no jackknife) the bound is -log2 sum_k pi_k 2^(-B_k) of them exactly */
                double *b1[2], dmax = 0, m1, se1;
                int k;
                bo.n_mc = 1;
                CHECK(decar_ensemble_dfm_bound(&en, g_ctx, &ds, &bo, &m1, &se1, bits, &e) == 0, "%s", e.msg);
                for (k = 0; k < 2; k++) {
                    decar_ensemble e1 = decar_ensemble_of(&mx[k], 1);
                    b1[k] = (double *)malloc((size_t)ds.n * sizeof(double));
                    e1.router.kind = DECAR_ROUTE_UNIFORM;
                    CHECK(decar_ensemble_dfm_bound(&e1, g_ctx, &ds, &bo, &m1, &se1, b1[k], &e) == 0, "%s", e.msg);
                }
                for (q = 0; q < ds.n; q++) {
                    double v = -log2(pri[0] * pow(2.0, -b1[0][q]) + pri[1] * pow(2.0, -b1[1][q]));
                    dmax = fabs(v - bits[q]) / (1 + v) > dmax ? fabs(v - bits[q]) / (1 + v) : dmax;
                }
                CHECK(dmax < 1e-9, "R4' DFM bound = -log2 sum_k pi_k 2^(-B_k) of the experts' own bounds (%.2g)", dmax);
                bo.n_mc = nmc;
                CHECK(decar_ensemble_dfm_bound(&en, g_ctx, &ds, &bo, &m1, &se1, bits, &e) == 0, "%s", e.msg);
                { /* the router's top-k does not apply (every expert, by its prior); one draw has no error */
                    double m2, s2, *b2 = (double *)malloc((size_t)ds.n * sizeof(double));
                    en.router.top_k = 1;
                    CHECK(decar_ensemble_dfm_bound(&en, g_ctx, &ds, &bo, &m2, &s2, b2, &e) == 0 && m2 == mean &&
                              !memcmp(b2, bits, (size_t)ds.n * sizeof(double)),
                          "R4' DFM bound with top-k 1 = with every expert");
                    bo.n_mc = 1;
                    CHECK(decar_ensemble_dfm_bound(&en, g_ctx, &ds, &bo, &m2, &s2, NULL, &e) == 0 && s2 == -1.0,
                          "one draw: no Monte Carlo error (-1), %g", s2);
                    bo.n_mc = nmc;
                    en.router.top_k = rt[cfg];
                    free(b2);
                }
                free(b1[0]);
                free(b1[1]);
            }
            /* relative: each term carries ~1e-6 relative error of its float logits */
            CHECK(worst < 1e-5, "dfm_bound n = %d, %s: per-document bits = hand (max rel. diff %.2g)", cfg + 1,
                  decar_route_label(rk[cfg]), worst);
            CHECK(fabs(mean - hm) < 1e-5 * hm && fabs(se - hse) < 1e-4 * hse,
                  "dfm_bound n = %d: %.6f +- %.6f bits/byte, by hand %.6f +- %.6f", cfg + 1, mean, se, hm, hse);
            printf("  DFM bound, kappa = t^%d, %s top-%d, 2 experts: %.5f +- %.5f bits/byte = hand %.5f +- %.5f\n",
                   cfg + 1, decar_route_label(rk[cfg]), rt[cfg], mean, se, hm, hse);
        }
        decar_gpt_free(&m[0]);
        decar_gpt_free(&m[1]);
        free(bits);
        free(hb);
    }

    /* 8a. decar_cluster_docs with external features: planted directions per domain (code, text, and every third
       text document), shards = argmax cosine to the centroids, -1 outside splits 0 and 1, prior = training shares */
    {
        int nd = d.n_docs, dd = 8, dout = 0, cnt[K] = { 0, 0, 0 }, ntr = 0, ok = 1, pure = 1;
        float *Xin = (float *)malloc((size_t)nd * dd * sizeof(float)), *Xo = NULL;
        int32_t *sh = (int32_t *)malloc((size_t)nd * sizeof(int32_t)), dom_shard[K] = { -1, -1, -1 };
        int *dom = (int *)malloc((size_t)nd * sizeof(int)), *save = (int *)malloc((size_t)nd * sizeof(int));
        decar_featurizer fx;
        decar_router rx;
        decar_cluster_opts ox = decar_cluster_opts_default(K);
        for (i = 0; i < nd; i++) { /* domain: text, code, and every 3rd text document a third direction */
            int q;
            dom[i] = d.docs[i].name[0] == 'c' ? 1 : (i % 3 == 0 ? 2 : 0);
            for (q = 0; q < dd; q++) Xin[i * dd + q] = (q == dom[i] ? 4.0f : 0.0f) + 0.3f * decar_rng_normal(&rng);
            save[i] = d.docs[i].split;
            if (i % 10 == 7) d.docs[i].split = 2; /* a base model's share: no shard */
        }
        ox.features = Xin; /* the given rows instead of tf-idf */
        ox.features_dim = dd;
        CHECK(decar_cluster_docs(&d, &ox, &fx, &rx, &Xo, &dout, sh, &e) == 0 && dout == dd, "cluster_docs: %s", e.msg);
        for (i = 0; i < nd; i++) {
            double nn = 0, best = -2;
            int q, bk = -1, k;
            for (q = 0; q < dd; q++) nn += (double)Xin[i * dd + q] * Xin[i * dd + q];
            for (q = 0; q < dd; q++) ok &= fabs(Xo[i * dd + q] - Xin[i * dd + q] / sqrt(nn)) < 1e-6;
            for (k = 0; k < K; k++) { /* the nearest centroid by cosine */
                double c = 0;
                for (q = 0; q < dd; q++) c += Xin[i * dd + q] / sqrt(nn) * rx.centroids[k * dd + q];
                if (c > best) {
                    best = c;
                    bk = k;
                }
            }
            if (d.docs[i].split == 2) {
                ok &= sh[i] == -1;
                continue;
            }
            ok &= sh[i] == bk;
            if (dom_shard[dom[i]] < 0) dom_shard[dom[i]] = sh[i];
            pure &= dom_shard[dom[i]] == sh[i];
            if (d.docs[i].split == 0) {
                cnt[sh[i]]++;
                ntr++;
            }
        }
        for (j = 0; j < K; j++) ok &= fabs(rx.prior[j] - (double)cnt[j] / ntr) < 1e-6;
        CHECK(ok, "cluster_docs: rows normalised, shards = nearest centroid, -1 for split 2, prior = shares");
        CHECK(pure && dom_shard[0] != dom_shard[1] && dom_shard[1] != dom_shard[2] && dom_shard[0] != dom_shard[2],
              "cluster_docs: the 3 planted domains are 3 shards (%d %d %d)", dom_shard[0], dom_shard[1], dom_shard[2]);
        printf("  decar_cluster_docs (external features): %d training documents, shards %d / %d / %d = nearest "
               "centroid, prior = shares\n",
               ntr, cnt[0], cnt[1], cnt[2]);
        decar_router_free(&rx);
        decar_feat_free(&fx);
        free(Xo);
        /* tf-idf: the rows are the featurizer's (fitted on the training documents) */
        ox.features = NULL;
        ox.feat_dim = 24;
        ox.feat_seed = 9;
        CHECK(decar_cluster_docs(&d, &ox, &fx, &rx, &Xo, &dout, sh, &e) == 0 && dout == 24 && fx.idf,
              "cluster_docs tf-idf: %s", e.msg);
        {
            float row[24];
            int q, same = 1;
            for (i = 0; i < nd; i++) {
                CHECK(decar_feat_apply(&fx, d.docs[i].bytes, d.docs[i].len, row, &e) == 0, "feat: %s", e.msg);
                for (q = 0; q < 24; q++) same &= row[q] == Xo[i * 24 + q];
                same &= d.docs[i].split == 2 ? sh[i] == -1 : sh[i] == decar_router_assign(&rx, row);
            }
            CHECK(same, "cluster_docs tf-idf: rows = decar_feat_apply, shards = decar_router_assign");
        }
        decar_router_free(&rx);
        decar_feat_free(&fx);
        free(Xo);
        for (i = 0; i < nd; i++) d.docs[i].split = save[i];
        free(Xin);
        free(sh);
        free(dom);
        free(save);
    }

    /* 8b. decar_retrieval by brute force: rank = keys of other groups above the own key, top = the best key */
    {
        enum { N = 9, D = 5 };
        float q[N * D], kk[N * D];
        int grp[N], rank[N], topk[N], rank0[N], top0[N], ok = 1, n;
        for (i = 0; i < N * D; i++) {
            q[i] = decar_rng_normal(&rng);
            kk[i] = q[i] + 1.5f * decar_rng_normal(&rng); /* keys near their queries: ranks of every size */
        }
        for (i = 0; i < D; i++) { /* key 4: the caption of key 3 again, scoring above it for query 3 */
            kk[3 * D + i] = q[3 * D + i];
            kk[4 * D + i] = 1.5f * q[3 * D + i];
        }
        for (i = 0; i < N; i++) grp[i] = i == 4 ? 3 : i;
        for (n = 0; n < 2; n++) {
            decar_retrieval(q, kk, n ? grp : NULL, N, D, n ? rank : rank0, n ? topk : top0);
            for (i = 0; i < N; i++) {
                double own = 0, best = -1e30;
                int a, above = 0, arg = -1, t;
                for (t = 0; t < D; t++) own += (double)q[i * D + t] * kk[i * D + t];
                for (a = 0; a < N; a++) {
                    double s = 0;
                    for (t = 0; t < D; t++) s += (double)q[i * D + t] * kk[a * D + t];
                    if (s > own && (n ? grp[a] != grp[i] : a != i)) above++;
                    if (s > best) {
                        best = s;
                        arg = a;
                    }
                }
                ok &= (n ? rank[i] : rank0[i]) == above && (n ? topk[i] : top0[i]) == arg;
            }
        }
        CHECK(ok, "decar_retrieval: ranks and best keys = brute force (with and without groups)");
        for (i = 0, n = 0; i < N; i++) n += rank0[i] > 0;
        CHECK(n > 0 && n < N && rank0[3] > rank[3],
              "retrieval ranks vary: %d of %d queries not first; query 3 ranks %d without groups, %d with (its own "
              "caption twice)",
              n, N, rank0[3], rank[3]);
        printf("  decar_retrieval = brute force (%d of %d queries not retrieved first)\n", n, N);
    }

    /* 8c. decar_clip_train_step: the returned loss = the symmetric InfoNCE of the towers' outputs by hand */
    {
        decar_clip cm;
        decar_opt op = decar_opt_default();
        enum { B = 4, P = 3, DP = 6, MT = 10 };
        float patches[B * P * DP], before_tau, l0 = 0, l;
        int32_t ids[B * (MT + 2)];
        static const char *caps[B] = { "a cat", "two dogs", "one red bird", "sea" };
        decar_tensor *im, *tx;
        double hand = 0, In[B][16], Tn[B][16];
        int T = MT + 2, b, c, step;
        float *p0;
        CHECK(decar_clip_init(&cm, 1, 2, 16, P, DP, MT, 4, &e) == 0, "clip_init: %s", e.msg);
        for (i = 0; i < B * P * DP; i++) patches[i] = decar_rng_normal(&rng);
        for (b = 0; b < B; b++) decar_clip_text_ids(caps[b], T, ids + b * T);
        decar_ctx_reset(g_ctx);
        CHECK(decar_clip_forward(g_ctx, &cm, patches, ids, B, T, &im, &tx, NULL) == 0, "clip_forward");
        for (b = 0; b < B; b++) { /* unit rows */
            double ni = 0, nt2 = 0;
            for (c = 0; c < 16; c++) {
                ni += (double)im->data[b * 16 + c] * im->data[b * 16 + c];
                nt2 += (double)tx->data[b * 16 + c] * tx->data[b * 16 + c];
            }
            for (c = 0; c < 16; c++) {
                In[b][c] = im->data[b * 16 + c] / sqrt(ni);
                Tn[b][c] = tx->data[b * 16 + c] / sqrt(nt2);
            }
        }
        /* L = (CE(s I T^T, diag) + CE(s T I^T, diag)) / 2, s = exp(tau), each CE a mean over the B rows */
        for (b = 0; b < B; b++) {
            double zi[B], zt[B], mi = -1e30, mt = -1e30, si = 0, st = 0;
            int a;
            for (a = 0; a < B; a++) {
                double dit = 0, dti = 0;
                for (c = 0; c < 16; c++) {
                    dit += In[b][c] * Tn[a][c];
                    dti += Tn[b][c] * In[a][c];
                }
                zi[a] = exp(cm.tau) * dit;
                zt[a] = exp(cm.tau) * dti;
                mi = zi[a] > mi ? zi[a] : mi;
                mt = zt[a] > mt ? zt[a] : mt;
            }
            for (a = 0; a < B; a++) {
                si += exp(zi[a] - mi);
                st += exp(zt[a] - mt);
            }
            hand += 0.5 * ((mi + log(si) - zi[b]) + (mt + log(st) - zt[b])) / B;
        }
        p0 = (float *)malloc(cm.txt.n_params * sizeof(float));
        memcpy(p0, cm.txt.params, cm.txt.n_params * sizeof(float));
        before_tau = cm.tau;
        op.warmup_steps = 1;
        op.lr = 3e-3f;
        l = decar_clip_train_step(&cm, g_ctx, &op, patches, ids, B, T);
        /* logits of scale exp(tau) ~ 14 from float embeddings: ~1e-5 absolute */
        CHECK(fabs(l - hand) < 1e-4 * (1 + hand), "clip loss %.6f, by hand %.6f", l, hand);
        CHECK(cm.tau != before_tau && memcmp(p0, cm.txt.params, cm.txt.n_params * sizeof(float)) && cm.img.step == 1,
              "the step moved tau (%g -> %g) and both towers", before_tau, cm.tau);
        for (step = 0; step < 15; step++) l0 = decar_clip_train_step(&cm, g_ctx, &op, patches, ids, B, T);
        CHECK(l0 < l, "15 more steps on the same pairs lower the loss: %.4f -> %.4f", l, l0);
        printf("  decar_clip_train_step: loss %.6f = hand InfoNCE %.6f; after 15 steps %.4f\n", l, hand, l0);
        free(p0);
        decar_clip_free(&cm);
    }

    /* 8d. decar_clip_forward's text tower in groups of similar length: the features and the towers' gradients of
       one (B, T) batch read at each row's final EOT; a 0.6 pair (left_padded) reads [EOT .. EOT text EOT] of T - 1;
       the layout in the saved metadata ("clip_text", absent in 0.6 files) */
    {
        enum { B = 13, T = 48, C = 16 };
        static const char *caps[B] = { "a", "LATIN SMALL LETTER A", "x y", "HANGUL SYLLABLE WAELP", "",
                                       "CJK UNIFIED IDEOGRAPH-4E00", "EIGHTH NOTE",
                                       "a much longer caption of many bytes", "DEVANAGARI LETTER BHA",
                                       "ARABIC LETTER QAF WITH DOT ABOVE AND MORE WORDS", "sea",
                                       "LATIN SMALL LETTER O WITH CARON",
                                       "a caption longer than T - 2 = 46 bytes, cut to them by decar_clip_text_ids" };
        decar_clip cm;
        int32_t ids[B * T], lp[B * (T - 1)];
        int64_t ix[B];
        float wt[B * C], f_grp[B * C], *g_grp, *g_one;
        decar_tensor *tx, *h, *ref, *l;
        int b, t, end[B], same = 1, ok = 1;
        double gd = 0, gn = 0, fd = 0;
        CHECK(decar_clip_init(&cm, 2, 2, C, 4, 6, T - 2, 7, &e) == 0, "clip_init: %s", e.msg);
        for (b = 0; b < B; b++) decar_clip_text_ids(caps[b], T, ids + b * T);
        for (i = 0; i < B * C; i++) wt[i] = (float)decar_rng_normal(&rng);
        for (b = 0; b < B; b++) { /* the layout: [EOT text EOT EOT ..], the text cut to T - 2 bytes */
            int L = (int)strlen(caps[b]) < T - 2 ? (int)strlen(caps[b]) : T - 2;
            end[b] = L + 1;
            ok &= ids[b * T] == DECAR_TOK_EOT && ids[b * T + end[b]] == DECAR_TOK_EOT;
            for (t = 0; t < L; t++) ok &= ids[b * T + 1 + t] == (uint8_t)caps[b][t];
            for (t = end[b]; t < T; t++) ok &= ids[b * T + t] == DECAR_TOK_EOT;
        }
        CHECK(ok, "decar_clip_text_ids: [EOT text EOT] padded with EOT, the text cut to T - 2 bytes");
        /* the grouped features and the text tower's gradient of sum(wt * txt) */
        g_grp = (float *)malloc(cm.txt.n_params * sizeof(float));
        g_one = (float *)malloc(cm.txt.n_params * sizeof(float));
        decar_ctx_reset(g_ctx);
        decar_gpt_zero_grad(&cm.txt);
        CHECK(decar_clip_forward(g_ctx, &cm, NULL, ids, B, T, NULL, &tx, NULL) == 0 && tx, "clip_forward (texts)");
        if (!tx) return 1;
        l = decar_sum(g_ctx, decar_mul(g_ctx, tx, decar_wrap(g_ctx, wt, NULL, 2, tx->shape)));
        CHECK(l && decar_backward(g_ctx, l) == 0, "grouped backward: %s", decar_ctx_error(g_ctx));
        memcpy(g_grp, cm.txt.grads, cm.txt.n_params * sizeof(float));
        memcpy(f_grp, tx->data, sizeof f_grp); /* the arena is reset below */
        /* one batch of T positions, by the tower's forward, read at end[b] */
        decar_ctx_reset(g_ctx);
        decar_gpt_zero_grad(&cm.txt);
        h = decar_gpt_hidden(g_ctx, &cm.txt, NULL, ids, B, T);
        for (b = 0; b < B; b++) ix[b] = (int64_t)b * T + end[b];
        ref = decar_rows(g_ctx, h, ix, B);
        if (!ref) return 1;
        l = decar_sum(g_ctx, decar_mul(g_ctx, ref, decar_wrap(g_ctx, wt, NULL, 2, ref->shape)));
        CHECK(l && decar_backward(g_ctx, l) == 0, "one-batch backward");
        memcpy(g_one, cm.txt.grads, cm.txt.n_params * sizeof(float));
        for (i = 0; i < B * C; i++) fd = fmax(fd, fabs((double)f_grp[i] - ref->data[i]) / (1 + fabs(ref->data[i])));
        for (i = 0; i < (int)cm.txt.n_params; i++) {
            gd += ((double)g_grp[i] - g_one[i]) * ((double)g_grp[i] - g_one[i]);
            gn += (double)g_one[i] * g_one[i];
        }
        CHECK(fd < 1e-5, "grouped text features = one batch of T at each final EOT (difference %.2g)", fd);
        CHECK(gn > 0 && sqrt(gd / gn) < 1e-6, "grouped gradients = one batch's (relative difference %.2g)",
              sqrt(gd / gn));
        /* a 0.6 pair: its text tower reads 0.6's decar_clip_text_ids of T - 1 positions, [EOT .. EOT text EOT] with
           the text cut to T - 2 bytes */
        for (b = 0; b < B; b++) {
            int L = (int)strlen(caps[b]) < T - 2 ? (int)strlen(caps[b]) : T - 2;
            for (t = 0; t < T - 1; t++) lp[b * (T - 1) + t] = DECAR_TOK_EOT;
            for (t = 0; t < L; t++) lp[b * (T - 1) + T - 2 - L + t] = (uint8_t)caps[b][t];
        }
        cm.left_padded = 1;
        decar_ctx_reset(g_ctx);
        CHECK(decar_clip_forward(g_ctx, &cm, NULL, ids, B, T, NULL, &tx, NULL) == 0 && tx, "clip_forward (0.6 pair)");
        h = decar_gpt_hidden(g_ctx, &cm.txt, NULL, lp, B, T - 1);
        for (b = 0; b < B; b++) ix[b] = (int64_t)b * (T - 1) + T - 2;
        ref = decar_rows(g_ctx, h, ix, B);
        if (!tx || !ref) return 1;
        for (i = 0, same = 1; i < B * C; i++) same &= tx->data[i] == ref->data[i];
        CHECK(same && lp[(T - 1) - 2] == 'a' && lp[(T - 1) - 1] == DECAR_TOK_EOT,
              "a 0.6 pair's texts: left-padded, read at the last position");
        /* the layout saved: "clip" reads back 0, "left" 1, none (a 0.6 file) 1, anything else refused */
        {
            static const char *metas[4] = { NULL, "\"clip_tower\":\"text\",\"clip_text\":\"left\"",
                                            "\"clip_tower\":\"text\"",
                                            "\"clip_tower\":\"text\",\"clip_text\":\"ltr\"" };
            static const int want[4] = { 0, 1, 1, -1 };
            decar_clip rd;
            int k;
            char dir[64], path[96];
            snprintf(dir, sizeof dir, "build/test_clip_layout.%d", (int)getpid()); /* mutate.sh runs several */
            snprintf(path, sizeof path, "%s/text.safetensors", dir);
            mkdir(dir, 0755);
            for (k = 0; k < 4; k++) {
                int rc;
                cm.left_padded = 0;
                CHECK(decar_clip_save(&cm, dir, &e) == 0, "clip_save: %s", e.msg);
                if (metas[k])
                    CHECK(decar_gpt_save(&cm.txt, path, metas[k], &e) == 0, "text tower with its own metadata: %s",
                          e.msg);
                rc = decar_clip_load(&rd, dir, &e);
                if (want[k] < 0) {
                    CHECK(rc != 0 && strstr(e.msg, "text layout"), "an unknown clip_text refused: %s", e.msg);
                } else {
                    CHECK(rc == 0 && rd.left_padded == want[k], "clip_text %s: left_padded %d (want %d)",
                          metas[k] ? metas[k] : "(saved)", rc ? -9 : rd.left_padded, want[k]);
                    if (rc == 0) decar_clip_free(&rd);
                }
            }
            remove(path);
            snprintf(path, sizeof path, "%s/image.safetensors", dir);
            remove(path);
            rmdir(dir);
        }
        printf("  decar_clip_forward: %d texts in length groups = one batch of %d (features %.1g, gradients %.1g); "
               "0.6 pairs left-padded; clip_text read back\n", B, T, fd, sqrt(gd / gn));
        free(g_grp);
        free(g_one);
        decar_clip_free(&cm);
    }

    /* 9. decar_train against its documented loop, by hand: per step B windows from decar_data_batch on the model's
       rng_state; DFM: x_t masks each input with probability 1 - kappa(t_b), t_b stratified over the batch, weights
       kappa'/(1 - kappa); decar_gpt_train_step; the learning rate warmup + cosine; the 0.95 EMA of the loss; the
       validation loss every val_every steps and at the last. Same operations in the same order: the same bits. */
    {
        int obj;
        for (obj = 0; obj < 2; obj++) {
            decar_gpt a, h;
            decar_dfm dfm;
            decar_opt op = decar_opt_default();
            decar_train_opts to;
            train_log lg;
            int B = 3, T = 12, st, b, same = 1, evok = 1;
            int32_t x[36], y[36], xi[36];
            float w[36];
            double ema = -1;
            decar_rng rr;
            make_model(&a, obj == 0, T, 61, 1.0f);
            make_model(&h, obj == 0, T, 61, 1.0f);
            a.rng_state = h.rng_state = 5;
            dfm.kappa_pow = 2;
            dfm.t_max = 0;
            dfm.mask_token = decar_gpt_mask(&a.cfg);
            op.warmup_steps = 2;
            op.total_steps = 4;
            op.lr = 3e-3f;
            memset(&to, 0, sizeof to);
            to.batch = B;
            to.seq_len = T;
            to.steps = 4;
            to.dfm = obj ? &dfm : NULL;
            to.val_every = 2;
            to.val_batches = 2;
            lg.n = 0;
            CHECK(decar_train(&a, g_ctx, &d, &op, &to, record, &lg, &e) == 0 && lg.n == 4 && a.step == 4,
                  "decar_train %s: %s (%d events)", obj ? "DFM" : "AR", e.msg, lg.n);
            rr.s = h.rng_state;
            for (st = 0; st < 4 && lg.n == 4; st++) {
                double lr = st < 2 ? 3e-3 * (st + 1) / 2 : 1e-4 + 0.5 * (1 + cos(3.141592653589793 * (st - 2) / 2.0)) *
                                                                     (3e-3 - 1e-4);
                float loss;
                int val = (st + 1) % 2 == 0;
                CHECK(decar_data_batch(&d, 0, &rr, B, T, x, y, &e) == 0, "batch: %s", e.msg);
                memcpy(xi, x, sizeof x);
                for (b = 0; obj && b < B; b++) {
                    double tb = ((double)b + decar_rng_double(&rr)) / B * (1.0 - 1e-3), kap = tb * tb;
                    for (i = 0; i < T; i++) {
                        int k = b * T + i, hide = !(decar_rng_double(&rr) < kap);
                        xi[k] = hide ? dfm.mask_token : x[k];
                        y[k] = hide ? x[k] : -1;
                        w[k] = hide ? (float)(2.0 * tb / (1.0 - kap)) : 0.0f;
                    }
                }
                loss = decar_gpt_train_step(&h, g_ctx, &op, xi, y, obj ? w : NULL, B, T);
                ema = ema < 0 ? loss : 0.95 * ema + 0.05 * loss;
                evok &= lg.ev[st].step == st + 1 && lg.ev[st].loss == loss && fabs(lg.ev[st].lr - lr) < 1e-6 * lr &&
                        fabs(lg.ev[st].loss_ema - ema) < 1e-9 && lg.ev[st].validated == val;
                if (val) {
                    double v = decar_gpt_val_loss(&h, g_ctx, &d, B, T, obj ? &dfm : NULL, 2);
                    evok &= lg.ev[st].val_loss == v && v > 0;
                } else {
                    evok &= lg.ev[st].val_loss != lg.ev[st].val_loss; /* NaN unless validated */
                }
            }
            for (i = 0; i < (int)a.n_params; i++) same &= a.params[i] == h.params[i];
            CHECK(evok, "decar_train %s: every event (loss, lr, EMA, validation) = the hand loop's",
                  obj ? "DFM" : "AR");
            CHECK(same && a.rng_state == rr.s, "decar_train %s: the parameters and the sampler state = the hand loop's",
                  obj ? "DFM" : "AR");
            printf("  decar_train %s, 4 steps: events and parameters (bit for bit) = the documented loop by hand\n",
                   obj ? "DFM" : "AR ");
            decar_gpt_free(&a);
            decar_gpt_free(&h);
        }
    }

    decar_ctx_free(lr.ctx);
    for (j = 0; j < K; j++) {
        free(lp[j]);
        decar_gpt_free(&g[j]);
    }
    decar_router_free(&r);
    decar_feat_free(&fz);
    free(X);
    free(train);
    decar_docset_free(&ds);
    decar_data_free(&d);
    decar_ctx_free(g_ctx);
    TEST_END("test_method");
}
