/* Evaluation through the library, checked against identities that hold exactly or in expectation.
   - decar_gpt_score_docs: equals scoring each document as one sequence by hand (decar_gpt_score).
   - decar_ensemble_score_docs:
       R4' (Bayes at every token) telescopes: sum_i -log2 sum_k w_k(i) p_k(x_i) = -log2 sum_k pi_k prod_i p_k(x_i);
       an ensemble of two copies of one model under any router scores like that model alone;
       top-1 with one expert never routed to never runs it (its table stays unscored);
       a router that picks only missing experts is an error, not a silent number.
   - decar_ensemble_dfm_bound: the masked-DFM ELBO does not depend on the schedule kappa (Shi et al. 2024), so
       kappa(t) = t and kappa(t) = t^2 agree within their standard errors on a model of non-uniform predictions; two
       copies of a model bound like one. (test_method checks the bound itself against a hand computation.)
   - decar_router_build: labels are decar_router_assign's, the prior sums to one and counts them; K > N fails.
   - decar_ensemble_generate with an image prefix: greedy decoding equals stepping the model by hand.
   - decar_score_samples: per-sample bits = each EOT-separated piece scored by hand, the unigram entropy by counting,
       empty samples counted, bad tokens and a DFM scorer refused. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

static void make_model(decar_gpt *g, int causal, int seq, uint64_t seed) {
    decar_gpt_config c = decar_gpt_default_config();
    decar_error e;
    c = decar_gpt_config_of(1, 2, 16, seq);
    c.causal = causal;
    OK(decar_gpt_init(g, &c, seed, &e));
}

int main(void) {
    decar_data d;
    decar_docset ds;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_gpt g[2];
    decar_gpt *ex[3];
    decar_ensemble en;
    float *one, *tab[2] = { NULL, NULL };
    double *bits, *bits2;
    float prior[2] = { 0.3f, 0.7f };
    int q, k;
    int64_t i;
    test_word_docs(&d, 3, 5);
    CHECK(decar_docset_build(&ds, &d, 1, NULL, &e) == 0 && ds.n > 5, "docset: %d held-out documents", ds.n);
    make_model(&g[0], 1, 16, 1); /* a context of 16: documents span several windows */
    make_model(&g[1], 1, 16, 2);
    one = (float *)malloc((size_t)ds.total * sizeof(float));
    bits = (double *)malloc((size_t)ds.n * sizeof(double));
    bits2 = (double *)malloc((size_t)ds.n * sizeof(double));

    /* the table against scoring each document by hand in windows of 16 */
    CHECK(decar_gpt_score_docs(&g[0], ctx, &ds, 3, one, &e) == 0, "score_docs: %s", e.msg);
    {
        double worst = 0;
        for (q = 0; q < ds.n; q++) {
            int64_t len = ds.off[q + 1] - ds.off[q], s;
            for (s = 0; s < len; s += 16) {
                int32_t x[16], y[16];
                float nll[16];
                int t;
                for (t = 0; t < 16; t++) {
                    x[t] = s + t - 1 < 0 || s + t - 1 >= len ? DECAR_TOK_EOT : ds.tok[ds.off[q] + s + t - 1];
                    y[t] = s + t < len ? ds.tok[ds.off[q] + s + t] : -1;
                }
                OK(decar_gpt_score(&g[0], ctx, x, y, 1, 16, nll));
                for (t = 0; t < 16 && s + t < len; t++) {
                    double dd = fabs(nll[t] - one[ds.off[q] + s + t]);
                    worst = dd > worst ? dd : worst;
                }
            }
        }
        CHECK(worst < 1e-5, "batched windows equal one window at a time (max diff %.2g)", worst);
    }

    /* R4' telescopes to the Bayes mixture of whole documents */
    memset(&en, 0, sizeof en);
    ex[0] = &g[0];
    ex[1] = &g[1];
    en.k = 2;
    en.experts = ex;
    en.router.k = 2;
    en.router.prior = prior;
    en.router.kind = DECAR_ROUTE_BAYES;
    en.router.top_k = 2;
    CHECK(decar_ensemble_score_docs(&en, ctx, &d, &ds, 4, tab, bits, &e) == 0, "bayes: %s", e.msg);
    {
        double worst = 0;
        for (q = 0; q < ds.n; q++) {
            double l[2] = { log(prior[0]), log(prior[1]) }, mx, want;
            for (k = 0; k < 2; k++)
                for (i = ds.off[q]; i < ds.off[q + 1]; i++) l[k] -= tab[k][i];
            mx = l[0] > l[1] ? l[0] : l[1];
            want = -(mx + log(exp(l[0] - mx) + exp(l[1] - mx))) / log(2.0);
            worst = fabs(want - bits[q]) / (fabs(want) + 1) > worst ? fabs(want - bits[q]) / (fabs(want) + 1) : worst;
        }
        CHECK(worst < 1e-9, "R4' token by token = -log2 sum_k pi_k prod_i p_k(x_i) (max rel. diff %.2g)", worst);
    }
    decar_nll_tables_free(tab, 2);

    /* two copies of one model: the mixture is the model, under every router */
    {
        int kinds[3] = { DECAR_ROUTE_UNIFORM, DECAR_ROUTE_BAYES, DECAR_ROUTE_COSINE }, r;
        ex[1] = &g[0];
        for (r = 0; r < 3; r++) {
            double worst = 0;
            en.router.kind = kinds[r];
            CHECK(decar_ensemble_score_docs(&en, ctx, &d, &ds, 4, tab, bits, &e) == 0, "copies: %s", e.msg);
            for (q = 0; q < ds.n; q++) {
                double want = 0;
                for (i = ds.off[q]; i < ds.off[q + 1]; i++) want += one[i] / log(2.0);
                worst = fabs(want - bits[q]) > worst ? fabs(want - bits[q]) : worst;
            }
            CHECK(worst < 1e-6 * ds.total, "router %s: two copies score as one model (max diff %.2g bits)",
                  decar_route_label(kinds[r]), worst);
        }
        decar_nll_tables_free(tab, 2);
    }

    /* top-1 to one expert: the other never runs; a missing expert that is picked is an error */
    {
        ex[1] = &g[1];
        en.router.kind = DECAR_ROUTE_UNIFORM;
        en.router.top_k = 1; /* uniform weights tie: the first expert is kept */
        CHECK(decar_ensemble_score_docs(&en, ctx, &d, &ds, 4, tab, bits, &e) == 0, "top-1: %s", e.msg);
        CHECK(tab[0] && !tab[1], "only the active expert was scored (tables: %p %p)", (void *)tab[0], (void *)tab[1]);
        decar_nll_tables_free(tab, 2);
        ex[0] = NULL;
        en.router.kind = DECAR_ROUTE_UNIFORM;
        CHECK(decar_ensemble_score_docs(&en, ctx, &d, &ds, 4, tab, bits, &e) == DECAR_ERR_ARG &&
                  strstr(e.msg, "missing"),
              "a router that picks only a missing expert fails: %s", e.msg);
        decar_nll_tables_free(tab, 2);
        ex[0] = &g[0];
    }

    /* DFM: the bound under kappa = t and kappa = t^2 (the ELBO is schedule-free), and two copies = one */
    {
        decar_gpt m;
        decar_dfm s1, s2;
        decar_dfm_bound_opts b1 = decar_dfm_bound_opts_default(), b2;
        double m1, se1, m2, se2, m3, se3;
        make_model(&m, 0, 24, 5);
        for (i = 0; i < (int64_t)m.n_params; i++) m.params[i] *= 4.0f; /* non-uniform predictions */
        ex[0] = &m;
        en.k = 1;
        en.router.k = 1;
        en.router.kind = DECAR_ROUTE_UNIFORM;
        en.router.prior = NULL;
        en.router.top_k = 1;
        s1.kappa_pow = 1;
        s1.t_max = 0;
        s1.mask_token = decar_gpt_mask(&m.cfg);
        s2 = s1;
        s2.kappa_pow = 2;
        b1.dfm = &s1;
        b1.n_mc = 64;
        b1.seed = 3;
        b2 = b1;
        b2.dfm = &s2;
        b2.seed = 4;
        CHECK(decar_ensemble_dfm_bound(&en, ctx, &ds, &b1, &m1, &se1, bits, &e) == 0, "bound: %s", e.msg);
        CHECK(decar_ensemble_dfm_bound(&en, ctx, &ds, &b2, &m2, &se2, bits2, &e) == 0, "bound: %s", e.msg);
        CHECK(fabs(m1 - m2) < 3 * sqrt(se1 * se1 + se2 * se2) && m1 > 1 && m1 < 30,
              "kappa = t: %.4f +- %.4f, kappa = t^2: %.4f +- %.4f bits/byte", m1, se1, m2, se2);
        printf("  DFM bound, one sharpened random model: kappa = t %.4f +- %.4f, kappa = t^2 %.4f +- %.4f bits/byte\n",
               m1, se1, m2, se2);
        ex[1] = &m;
        en.k = 2;
        en.router.k = 2;
        CHECK(decar_ensemble_dfm_bound(&en, ctx, &ds, &b1, &m3, &se3, NULL, &e) == 0 && fabs(m3 - m1) < 1e-9,
              "two copies bound like one: %.6f vs %.6f", m3, m1);
        decar_gpt_free(&m);
        ex[0] = &g[0];
        ex[1] = &g[1];
    }

    /* the router of a partition */
    {
        int N = 50, dd = 6, K = 3, cnt[3] = { 0, 0, 0 };
        float *X = (float *)malloc((size_t)N * dd * sizeof(float));
        int32_t lab[50];
        decar_router r;
        decar_kmeans_opts o;
        decar_rng rng;
        double s = 0;
        decar_rng_seed(&rng, 9);
        for (i = 0; i < N * dd; i++) X[i] = decar_rng_normal(&rng);
        for (i = 0; i < N; i++) decar_l2_normalize(X + i * dd, dd);
        o = decar_kmeans_default(K);
        o.iters = 20;
        CHECK(decar_router_build(&r, X, N, dd, &o, lab, &e) == 0, "router_build: %s", e.msg);
        for (i = 0; i < N; i++) {
            CHECK(lab[i] == decar_router_assign(&r, X + i * dd), "label %d is the router's assignment", (int)i);
            cnt[lab[i]]++;
        }
        for (k = 0; k < K; k++) {
            s += r.prior[k];
            CHECK(fabs(r.prior[k] - cnt[k] / (double)N) < 1e-6, "prior %d = its share %.3f", k, r.prior[k]);
        }
        CHECK(fabs(s - 1) < 1e-6, "the prior sums to one (%.7f)", s);
        decar_router_free(&r);
        o.k = N + 1;
        CHECK(decar_router_build(&r, X, N, dd, &o, lab, &e) == DECAR_ERR_ARG, "K > N: %s", e.msg);
        free(X);
    }

    /* R5, the learned router: a linear classifier of the features recovers planted clusters from noisy rows, routes
       to its argmax at top-1, and survives a router file round trip */
    {
        int N = 400, dd = 16, K = 4, right = 0, ok = 1;
        float *X = (float *)malloc((size_t)N * dd * sizeof(float)), mu[4 * 16];
        int32_t y[400];
        double acc = 0, w[4], w2[4];
        decar_router r;
        decar_featurizer f;
        decar_kmeans_opts o = decar_kmeans_default(K);
        decar_rng rng;
        void *buf;
        size_t len;
        decar_rng_seed(&rng, 21);
        for (i = 0; i < K * dd; i++) mu[i] = decar_rng_normal(&rng);
        for (i = 0; i < N; i++) {
            int q;
            y[i] = (int32_t)(i % K);
            for (q = 0; q < dd; q++) X[i * dd + q] = mu[y[i] * dd + q] + 1.2f * decar_rng_normal(&rng);
            decar_l2_normalize(X + i * dd, dd);
        }
        CHECK(decar_router_build(&r, X, N, dd, &o, NULL, &e) == 0, "router: %s", e.msg);
        CHECK(decar_router_fit(&r, X, y, N / 2, 300, 0.05f, &acc, &e) == 0 && acc > 0.9, "R5 fit: %s, acc %.3f", e.msg,
              acc);
        r.kind = DECAR_ROUTE_LEARNED;
        r.top_k = 1;
        for (i = N / 2; i < N; i++) { /* held-out rows: the top-1 weight is on the true cluster */
            decar_router_weights(&r, X + i * dd, NULL, w);
            right += w[y[i]] == 1.0;
        }
        CHECK(right > 0.85 * (N / 2), "R5 routes %d of %d held-out rows to their cluster", right, N / 2);
        printf("  R5 (learned router): training accuracy %.3f, held-out top-1 %d / %d\n", acc, right, N / 2);
        memset(&f, 0, sizeof f);
        CHECK(decar_router_save_mem(&r, &f, &buf, &len, &e) == 0, "save: %s", e.msg);
        decar_router_weights(&r, X, NULL, w);
        decar_router_free(&r);
        CHECK(decar_router_load_mem(&r, &f, buf, len, &e) == 0 && r.clf_w && r.clf_b, "load: %s", e.msg);
        r.kind = DECAR_ROUTE_LEARNED;
        r.top_k = 1;
        decar_router_weights(&r, X, NULL, w2);
        for (i = 0; i < K; i++) ok &= w[i] == w2[i];
        CHECK(ok, "the classifier survives the router file");
        y[0] = (int32_t)K;
        CHECK(decar_router_fit(&r, X, y, N, 10, 0.05f, NULL, &e) == DECAR_ERR_ARG, "a label outside [0, K): %s", e.msg);
        free(buf);
        decar_router_free(&r);
        decar_feat_free(&f);
        free(X);
    }

    /* R6, SmallTalk's router: the features are each small model's minus mean nats per token on the text's start,
       and top-1 routes to the lowest loss */
    {
        decar_lm_router lr;
        decar_gpt *lms[2];
        const char *txt = "int main(void) { return 0; }";
        int64_t L = (int64_t)strlen(txt), q;
        float f[2];
        double w[2];
        decar_router r;
        int32_t ids[64], tg[64];
        float nll[64];
        memset(&lr, 0, sizeof lr);
        lms[0] = &g[0];
        lms[1] = &g[1];
        lr.k = 2;
        lr.lms = lms;
        lr.max_tokens = 12; /* within the models' context of 16 */
        lr.ctx = ctx;
        CHECK(decar_lm_router_fn(&lr, (const uint8_t *)txt, L, f) == 0, "lm router features");
        for (k = 0; k < 2; k++) {
            double want = 0;
            for (q = 0; q < 12; q++) {
                ids[q] = q == 0 ? DECAR_TOK_EOT : (uint8_t)txt[q - 1];
                tg[q] = (uint8_t)txt[q];
            }
            OK(decar_gpt_score(lms[k], ctx, ids, tg, 1, 12, nll));
            for (q = 0; q < 12; q++) want -= nll[q] / 12.0;
            CHECK(fabs(want - f[k]) < 1e-5, "R6 feature %d = -mean nll of the first 12 bytes: %.6f vs %.6f", k, f[k],
                  want);
        }
        memset(&r, 0, sizeof r);
        r.k = 2;
        r.d = 2;
        r.kind = DECAR_ROUTE_LM;
        r.top_k = 1;
        r.temp = 0.1f;
        decar_router_weights(&r, f, NULL, w);
        CHECK(w[f[0] > f[1] ? 0 : 1] == 1.0, "R6 top-1 routes to the lower loss (%.4f vs %.4f)", -f[0], -f[1]);
    }

    /* generation with an image prefix, greedy: the same tokens as stepping the model by hand */
    {
        decar_gpt_config c = decar_gpt_default_config();
        decar_gpt m;
        float pre[3 * 5], emb[3 * 16], *kv, *sc, lg[DECAR_BYTE_VOCAB];
        int32_t prompt[1] = { DECAR_TOK_EOT }, out[20], tok = DECAR_TOK_EOT, want[20];
        int len, t, a, ok = 1;
        decar_rng rng;
        decar_sample_opts greedy = decar_sample_opts_default();
        greedy.temp = 0.0;
        greedy.seed = 0;
        c = decar_gpt_config_of(1, 2, 16, 24);
        c.n_prefix = 3;
        c.d_prefix = 5;
        c.d_proj_hidden = 16;
        OK(decar_gpt_init(&m, &c, 7, &e));
        decar_rng_seed(&rng, 3);
        for (i = 0; i < 15; i++) pre[i] = decar_rng_normal(&rng);
        ex[0] = &m;
        en.k = 1;
        en.router.k = 1;
        en.router.kind = DECAR_ROUTE_UNIFORM;
        en.router.top_k = 1;
        greedy.n_new = 12;
        if (decar_ensemble_generate(&en, pre, prompt, 1, &greedy, out, &len, NULL, &e)) len = -1;
        kv = (float *)malloc(decar_gpt_kv_size(&c) * sizeof(float));
        sc = (float *)malloc(decar_gpt_step_scratch(&c) * sizeof(float));
        OK(decar_gpt_project_prefix(&m, pre, emb, NULL));
        for (t = 0; t < 3; t++) decar_gpt_step_embed(&m, kv, emb + t * 16, t, lg, sc, NULL);
        for (t = 0; t < 12; t++) {
            int best = 0;
            OK(decar_gpt_step(&m, kv, tok, 3 + t, lg, sc, NULL));
            for (a = 1; a < decar_gpt_classes(&c); a++) best = lg[a] > lg[best] ? a : best;
            want[t] = best;
            tok = best;
        }
        for (t = 0; t < 12; t++) ok &= out[1 + t] == want[t];
        CHECK(len == 13 && ok, "prefix + greedy generation = stepping by hand (%d tokens)", len);
        greedy.n_new = 30;
        CHECK(decar_ensemble_generate(&en, pre, prompt, 1, &greedy, out, &len, NULL, &e) == DECAR_ERR_ARG,
              "past the context after the prefix: refused (%s)", e.msg);
        { /* decar_ensemble_caption: bits by teacher forcing, the greedy caption, the cut to the context */
            int32_t cid[3] = { DECAR_TOK_EOT, 'a', 'b' }, ctg[3] = { 'a', 'b', DECAR_TOK_EOT }, o2[32];
            float nl[3];
            char gen[64], gen2[64], ref[64], longcap[41];
            decar_caption_result c1, c2;
            double want_bits;
            int r1, r2, r3, n2, q;
            OK(decar_gpt_score_prefix(&m, ctx, pre, cid, ctg, 1, 3, nl));
            want_bits = (nl[0] + nl[1]) / log(2.0);
            r1 = decar_ensemble_caption(&en, ctx, pre, "ab", gen, 64, &c1, &e);
            greedy.n_new = 20;
            OK(decar_ensemble_generate(&en, pre, prompt, 1, &greedy, o2, &n2, NULL, &e));
            for (q = 1, t = 0; q < n2 && o2[q] < 256; q++) ref[t++] = (char)o2[q];
            ref[t] = 0;
            CHECK(r1 == !strcmp(ref, "ab") && c1.scored == 2 && fabs(c1.bits - want_bits) < 1e-5 && !strcmp(gen, ref) &&
                      c1.best == 0 && c1.w_best == 1.0,
                  "caption: bits %g (want %g) over %d bytes; the greedy caption = generate's", c1.bits, want_bits,
                  c1.scored);
            r2 = decar_ensemble_caption(&en, ctx, pre, ref, gen2, 64, &c2, &e);
            CHECK(r2 == 1 && !strcmp(gen2, ref), "caption: the model's own greedy caption is an exact match");
            memset(longcap, 'x', 40);
            longcap[40] = 0;
            r3 = decar_ensemble_caption(&en, ctx, pre, longcap, gen2, 64, &c2, &e);
            CHECK(r3 == 0 && c2.scored == 24 - 3, "caption past the context: scored on the %d bytes that fit",
                  c2.scored);
            ex[1] = &m;
            en.k = 2;
            en.router.k = 2;
            en.router.top_k = 2;
            r2 = decar_ensemble_caption(&en, ctx, pre, "ab", gen2, 64, &c2, &e);
            CHECK(r2 == r1 && fabs(c2.bits - c1.bits) < 1e-9 && !strcmp(gen2, gen) && c2.w_best == 0.5,
                  "caption: two copies of one captioner, uniform, caption as one (%d %d, %g %g, %s / %s, %g)", r2, r1,
                  c2.bits, c1.bits, gen2, gen, c2.w_best);
            { /* decar_ensemble_caption_experts (the oracle's evidence): each expert alone, by hand; a missing one */
                decar_gpt m2;
                double bk[3], want2;
                int sc3 = -1;
                OK(decar_gpt_init(&m2, &c, 8, &e));
                OK(decar_gpt_score_prefix(&m2, ctx, pre, cid, ctg, 1, 3, nl));
                want2 = (nl[0] + nl[1]) / log(2.0);
                ex[1] = NULL;
                ex[2] = &m2;
                en.k = 3;
                en.router.k = 3;
                OK(decar_ensemble_caption_experts(&en, ctx, pre, "ab", bk, &sc3, &e));
                CHECK(sc3 == 2 && fabs(bk[0] - want_bits) < 1e-5 && bk[1] == HUGE_VAL && fabs(bk[2] - want2) < 1e-5 &&
                          fabs(want2 - want_bits) > 1e-3,
                      "caption experts: each alone (%g %g, want %g %g), a missing one HUGE_VAL, %d bytes", bk[0],
                      bk[2], want_bits, want2, sc3);
                ex[0] = ex[2] = NULL;
                CHECK(decar_ensemble_caption_experts(&en, ctx, pre, "ab", bk, &sc3, &e) == DECAR_ERR_ARG,
                      "caption experts: none present is refused (%s)", e.msg);
                ex[0] = &m;
                decar_gpt_free(&m2);
            }
            en.k = 1;
            en.router.k = 1;
            en.router.top_k = 1;
        }
        free(kv);
        free(sc);
        decar_gpt_free(&m);
    }

    /* decar_score_samples: 3 samples of 12 tokens cut at their EOTs, one empty; each piece scored by hand from an
       EOT (decar_gpt_score, one window), the unigram entropy of each sample's tokens but EOT by counting */
    {
        const char *pieces[3][3] = { { "hello world!", NULL, NULL }, { "ab", "cdcdcd", "ee" }, { NULL, NULL, NULL } };
        int32_t x[3 * 12], bad[12];
        double sb[3], hand[3] = { 0, 0, 0 }, hs = 0, hh = 0, want_h[2];
        int64_t bytes = 0;
        decar_sample_quality sq;
        int p, t, nx = 0;
        for (q = 0; q < 3; q++) { /* sample q: its pieces joined by EOT, then EOT up to 12 tokens */
            for (p = 0; p < 3 && pieces[q][p]; p++) {
                const char *c = pieces[q][p];
                int32_t ids[16], tg[16];
                float nll[16];
                int L = (int)strlen(c);
                if (p > 0) x[nx++] = DECAR_TOK_EOT;
                ids[0] = DECAR_TOK_EOT;
                for (t = 0; t < L; t++) {
                    x[nx++] = (uint8_t)c[t];
                    tg[t] = (uint8_t)c[t];
                    if (t + 1 < L) ids[t + 1] = (uint8_t)c[t];
                }
                CHECK(decar_gpt_score(&g[0], ctx, ids, tg, 1, L, nll) == 0, "score a piece");
                for (t = 0; t < L; t++) hand[q] += nll[t] / log(2.0);
                bytes += L;
            }
            while (nx < (q + 1) * 12) x[nx++] = DECAR_TOK_EOT;
        }
        /* H("hello world!"): l 3, o 2, eight letters once; H(abcdcdcdee): c 3, d 3, e 2, a 1, b 1 */
        want_h[0] = -(3 / 12.0) * log2(3 / 12.0) - (2 / 12.0) * log2(2 / 12.0) - 7 * (1 / 12.0) * log2(1 / 12.0);
        want_h[1] = -2 * (3 / 10.0) * log2(3 / 10.0) - (2 / 10.0) * log2(2 / 10.0) - 2 * (1 / 10.0) * log2(1 / 10.0);
        CHECK(decar_score_samples(&g[0], ctx, NULL, x, 3, 12, &sq, sb, &e) == 0, "score_samples: %s", e.msg);
        for (q = 0; q < 3; q++) hs += hand[q];
        hh = (want_h[0] + want_h[1]) / 2;
        CHECK(sq.n_scored == 2 && sq.n_empty == 1 && sq.bytes == bytes && sq.tokens == bytes,
              "2 samples scored, 1 empty, %lld bytes (%d, %d, %lld)", (long long)bytes, sq.n_scored, sq.n_empty,
              (long long)sq.bytes);
        for (q = 0; q < 3; q++)
            CHECK(fabs(sb[q] - hand[q]) < 1e-4 * (1 + hand[q]), "sample %d: %.6f bits = hand %.6f", q, sb[q], hand[q]);
        CHECK(fabs(sq.bits_per_byte - hs / bytes) < 1e-6 && fabs(sq.gen_ppl - pow(2.0, hs / bytes)) < 1e-5 * sq.gen_ppl,
              "bits per byte %.6f = hand %.6f, gen. perplexity %.4f", sq.bits_per_byte, hs / bytes, sq.gen_ppl);
        CHECK(fabs(sq.entropy - hh) < 1e-12, "unigram entropy %.6f = hand %.6f bits", sq.entropy, hh);
        printf("  score_samples: %.4f bits/byte, gen. perplexity %.3f, entropy %.4f bits (= hand)\n", sq.bits_per_byte,
               sq.gen_ppl, sq.entropy);
        for (t = 0; t < 12; t++) bad[t] = t == 5 ? 300 : 'a';
        CHECK(decar_score_samples(&g[0], ctx, NULL, bad, 1, 12, &sq, NULL, &e) == DECAR_ERR_ARG &&
                  strstr(e.msg, "300"),
              "a token outside the scorer's classes: %s", e.msg);
        for (t = 0; t < 12; t++) bad[t] = DECAR_TOK_EOT;
        CHECK(decar_score_samples(&g[0], ctx, NULL, bad, 1, 12, &sq, NULL, &e) == DECAR_ERR_ARG, "all empty: %s",
              e.msg);
        {
            decar_gpt m;
            make_model(&m, 0, 16, 3);
            CHECK(decar_score_samples(&m, ctx, NULL, x, 3, 12, &sq, NULL, &e) == DECAR_ERR_ARG && strstr(e.msg, "AR"),
                  "a DFM scorer: %s", e.msg);
            decar_gpt_free(&m);
        }
    }

    free(one);
    free(bits);
    free(bits2);
    decar_docset_free(&ds);
    decar_data_free(&d);
    decar_gpt_free(&g[0]);
    decar_gpt_free(&g[1]);
    decar_ctx_free(ctx);
    TEST_END("test_eval");
}
