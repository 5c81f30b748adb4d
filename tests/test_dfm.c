/* Masked discrete flow matching, and AR as its degenerate case.
   1. decar_dfm_corrupt: the loss weights kappa'(t)/(1-kappa_t) on a toy where they are known by hand (n = 1, 2), and
      the masked fraction ~ 1 - kappa_t.
   2. AR is the degenerate case: a causal model, left-to-right order, one token per step -> the DFM sampler draws
      exactly the AR sampler's tokens for the same seed, and the discrete-time DFM loss on that path equals the AR
      next-token loss.
   3. With an oracle posterior of a known joint distribution over 3 positions x 3 symbols, first-hitting and
      left-to-right reproduce it (chi-square, 26 d.o.f., 4000 samples, fixed seed; fail above 54.05 = p 0.001);
      Euler reproduces a product distribution (it reveals positions independently within a step).
   4. Decentralized: two oracle experts with different joints and prior pi; the ensemble with the Bayes router
      (weights updated at each reveal) samples the mixture sum_k pi_k q_k (chi-square again); the posterior update
      matches the brute-force posterior P(k | revealed) at the end of a run. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

#define V 3
#define TT 3
#define NSEQ 27
typedef struct {
    double q[2][NSEQ];
} oracle; /* q[k][seq], seq = x0 + 3 x1 + 9 x2 */

static int oracle_post(void *user, int k, const int32_t *x, int T, const char *need, double *out) {
    const oracle *o = (const oracle *)user;
    int i, sq, a;
    for (i = 0; i < T; i++)
        if (need[i]) {
            double z = 0;
            for (a = 0; a < V; a++) out[i * V + a] = 0;
            for (sq = 0; sq < NSEQ; sq++) {
                int d[3] = { sq % 3, (sq / 3) % 3, sq / 9 }, ok = 1, p;
                for (p = 0; p < T; p++)
                    if (x[p] != 99 && x[p] != d[p]) ok = 0;
                if (ok) {
                    out[i * V + d[i]] += o->q[k][sq];
                    z += o->q[k][sq];
                }
            }
            for (a = 0; a < V; a++) out[i * V + a] /= z;
        }
    return 0;
}
static double chi2(const int *cnt, const double *p, int n, int total) {
    double c = 0;
    int i;
    for (i = 0; i < n; i++) {
        double ex = p[i] * total;
        if (ex > 0) c += (cnt[i] - ex) * (cnt[i] - ex) / ex;
    }
    return c;
}
static double run_sampler(oracle *o, int K, const float *prior, int kind, int sampler, int steps, const double *target,
                          const char *name) {
    decar_router r;
    decar_dfm_sampler s;
    decar_sample_opts so = decar_sample_opts_default();
    int cnt[NSEQ] = { 0 }, n, total = 4000;
    decar_error e;
    double c;
    so.sampler = sampler;
    so.n_steps = steps;
    memset(&r, 0, sizeof r);
    r.k = K;
    r.kind = kind;
    r.top_k = K;
    r.prior = (float *)prior;
    s.k = K;
    s.n_class = V;
    s.mask_token = 99;
    s.post = oracle_post;
    s.user = o;
    s.router = &r;
    s.feat = NULL;
    s.avail = NULL;
    s.tok = NULL;
    for (n = 0; n < total; n++) {
        int32_t x[TT] = { 99, 99, 99 };
        so.seed = 1000 + (uint64_t)n;
        if (decar_dfm_sample(&s, x, TT, &so, &e)) {
            CHECK(0, "sample: %s", e.msg);
            return 1e9;
        }
        cnt[x[0] + 3 * x[1] + 9 * x[2]]++;
    }
    c = chi2(cnt, target, NSEQ, total);
    printf("  %-44s chi2 = %6.2f (26 dof, limit 54.05)\n", name, c);
    CHECK(c < 54.05, "%s: chi2 %.2f", name, c);
    return c;
}

int main(void) {
    decar_rng r;
    int i, b;
    printf("test_dfm\n");
    { /* 1. weights by hand */
        decar_dfm d;
        int32_t x1[40], xi[40], tg[40];
        float w[40], t[4];
        int masked = 0, n;
        double expect = 0, var = 0; /* the masked count's mean and variance: sum over positions of 1 - kappa(t_b) */
        for (n = 1; n <= 2; n++) {
            d.kappa_pow = n;
            d.t_max = 0.9f;
            d.mask_token = 0;
            decar_rng_seed(&r, 5);
            for (i = 0; i < 40; i++) x1[i] = i % 7;
            decar_dfm_corrupt(&d, &r, x1, xi, tg, w, 4, 10, t);
            for (b = 0; b < 4; b++) {
                double kap = pow(t[b], n), kd = n * pow(t[b], n - 1), want = kd / (1 - kap);
                expect += 10 * (1 - kap);
                var += 10 * kap * (1 - kap);
                CHECK(t[b] >= 0.9f * b / 4 && t[b] <= 0.9f * (b + 1) / 4, "t stratified: %f", t[b]);
                for (i = 0; i < 10; i++) {
                    int k = b * 10 + i;
                    if (xi[k] == DECAR_TOK_MASK) {
                        CHECK(tg[k] == x1[k] && fabs(w[k] - want) < 1e-5 * want, "weight %g want %g", w[k], want);
                        masked++;
                    } else
                        CHECK(tg[k] == -1 && w[k] == 0 && xi[k] == x1[k], "revealed positions are copied, not scored");
                }
            }
        }
        /* masked fraction at t = 0.3 (kappa = t): ~0.7 */
        {
            int32_t *a = (int32_t *)malloc(100000 * 4), *ai = (int32_t *)malloc(100000 * 4),
                    *at = (int32_t *)malloc(100000 * 4);
            float *aw = (float *)malloc(100000 * 4), tt;
            int m = 0;
            d.kappa_pow = 1;
            d.t_max = 0.6f;
            decar_rng_seed(&r, 6);
            for (i = 0; i < 100000; i++) a[i] = 1;
            decar_dfm_corrupt(&d, &r, a, ai, at, aw, 1, 100000, &tt); /* one row: t uniform in [0, 0.6) */
            for (i = 0; i < 100000; i++) m += ai[i] == DECAR_TOK_MASK;
            CHECK(fabs(m / 1e5 - (1 - tt)) < 0.01, "masked fraction %.4f vs 1 - t = %.4f", m / 1e5, 1 - tt);
            free(a);
            free(ai);
            free(at);
            free(aw);
        }
        /* 80 positions, each masked with probability 1 - kappa(t_b): within 4 standard deviations of the mean */
        CHECK(fabs(masked - expect) < 4 * sqrt(var) && masked > 0 && masked < 80,
              "masked positions %d, expected %.1f +- %.1f", masked, expect, sqrt(var));
        printf("  DFM loss weights and mask rate match the hand computation (%d masked positions checked, expected "
               "%.1f +- %.1f)\n",
               masked, expect, sqrt(var));
    }
    { /* 2. AR as the degenerate case */
        decar_gpt g;
        decar_gpt_config c = decar_gpt_default_config();
        decar_error e;
        decar_ctx *ctx = decar_ctx_new(0);
        decar_ensemble en;
        decar_gpt *ex[1];
        decar_sample_opts so = decar_sample_opts_default();
        int32_t ar[17], fill[16], inp[17], tg[17];
        float nll[17];
        double *p = (double *)malloc(DECAR_TOK_MASK * sizeof(double));
        decar_rng rs;
        int T = 16;
        c = decar_gpt_config_of(2, 2, 16, 20);
        OK(decar_gpt_init(&g, &c, 3, &e));
        for (i = 0; i < (int)g.n_params; i++) g.params[i] *= 40.0f; /* sharper, less uniform distributions */
        /* AR sampler: full forward on the prefix, next-token distribution, one uniform per token */
        decar_rng_seed(&rs, 77);
        ar[0] = DECAR_TOK_EOT;
        for (i = 1; i <= T; i++) {
            decar_tensor *lg;
            decar_ctx_reset(ctx);
            lg = decar_gpt_forward(ctx, &g, ar, 1, i);
            decar_softmax_double(lg->data + (int64_t)(i - 1) * c.vocab_size, DECAR_TOK_MASK, 1.0, p);
            OK(decar_sample_probs(p, DECAR_TOK_MASK, NULL, &rs, &ar[i], NULL));
        }
        /* DFM sampler: left-to-right, one token per step, same seed */
        ex[0] = &g;
        en = decar_ensemble_of(ex, 1);
        for (i = 0; i < T; i++) fill[i] = DECAR_TOK_MASK;
        so.sampler = DECAR_DFM_L2R;
        so.seed = 77;
        CHECK(decar_ensemble_fill(&en, ctx, fill, T, &so, &e) == 0, "fill: %s", e.msg);
        {
            int same = 1, distinct = 0;
            for (i = 0; i < T; i++) {
                same &= fill[i] == ar[i + 1];
                distinct += i > 0 && fill[i] != fill[i - 1];
            }
            CHECK(same, "L2R DFM sampling with a causal model must equal AR sampling token for token");
            CHECK(distinct > 3, "the sampled sequence is not degenerate");
            printf("  AR sampler and L2R DFM sampler agree on all %d tokens\n", T);
        }
        /* discrete-time DFM loss on the L2R path = AR next-token loss, both through the library's scoring: the
           DFM side scores state s (x_<s revealed, x_>=s masked) at position s only (decar_gpt_score with the other
           targets ignored), the AR side scores the whole sequence at once */
        {
            double dfm = 0, arl = 0;
            int s;
            for (s = 0; s < T; s++) {
                int32_t st[17], ts[17];
                st[0] = DECAR_TOK_EOT;
                for (i = 0; i < T; i++) {
                    st[i + 1] = i < s ? fill[i] : DECAR_TOK_MASK;
                    ts[i] = i == s ? fill[i] : -1;
                }
                ts[T] = -1;
                CHECK(decar_gpt_score(&g, ctx, st, ts, 1, T + 1, nll) == 0, "score state %d", s);
                dfm += nll[s];
            }
            inp[0] = DECAR_TOK_EOT;
            for (i = 0; i < T; i++) {
                inp[i + 1] = fill[i];
                tg[i] = fill[i];
            }
            CHECK(decar_gpt_score(&g, ctx, inp, tg, 1, T, nll) == 0, "score");
            for (i = 0; i < T; i++) arl += nll[i];
            /* 16 terms of float32 scores of a few nats: 1e-4 relative */
            CHECK(fabs(dfm - arl) < 1e-4 * (1 + arl) && arl > 0, "DFM path loss %.6f vs AR loss %.6f", dfm, arl);
            printf("  discrete-time DFM loss on the L2R path %.6f = AR loss %.6f nats\n", dfm, arl);
        }
        decar_gpt_free(&g);
        decar_ctx_free(ctx);
        free(p);
    }
    { /* 3. samplers vs an oracle */
        oracle o;
        double prod[NSEQ], mixq[NSEQ], s = 0;
        float prior[2] = { 0.3f, 0.7f };
        int sq;
        for (sq = 0; sq < NSEQ; sq++) {
            o.q[0][sq] = 1.0 + (sq * 7 % 11) + (sq == 13 ? 20 : 0);
            s += o.q[0][sq];
        }
        for (sq = 0; sq < NSEQ; sq++) o.q[0][sq] /= s;
        s = 0;
        for (sq = 0; sq < NSEQ; sq++) {
            o.q[1][sq] = 0.2 + 30.0 * (sq % 3 == sq / 9);
            s += o.q[1][sq];
        }
        for (sq = 0; sq < NSEQ; sq++) o.q[1][sq] /= s;
        run_sampler(&o, 1, NULL, DECAR_ROUTE_UNIFORM, DECAR_DFM_FIRST_HIT, 0, o.q[0],
                    "first-hitting, correlated joint");
        run_sampler(&o, 1, NULL, DECAR_ROUTE_UNIFORM, DECAR_DFM_L2R, 0, o.q[0], "left-to-right, correlated joint");
        { /* Euler on a product distribution */
            oracle op;
            double m[3][3] = { { 0.2, 0.5, 0.3 }, { 0.6, 0.1, 0.3 }, { 0.25, 0.25, 0.5 } };
            for (sq = 0; sq < NSEQ; sq++) {
                op.q[0][sq] = m[0][sq % 3] * m[1][(sq / 3) % 3] * m[2][sq / 9];
                prod[sq] = op.q[0][sq];
                op.q[1][sq] = prod[sq];
            }
            run_sampler(&op, 1, NULL, DECAR_ROUTE_UNIFORM, DECAR_DFM_EULER, 8, prod,
                        "Euler (8 steps), product distribution");
        }
        /* 4. decentralized: the Bayes-routed ensemble samples the mixture */
        for (sq = 0; sq < NSEQ; sq++) mixq[sq] = prior[0] * o.q[0][sq] + prior[1] * o.q[1][sq];
        run_sampler(&o, 2, prior, DECAR_ROUTE_BAYES, DECAR_DFM_FIRST_HIT, 0, mixq,
                    "2 experts, Bayes router, first-hitting");
        run_sampler(&o, 2, prior, DECAR_ROUTE_BAYES, DECAR_DFM_L2R, 0, mixq, "2 experts, Bayes router, left-to-right");
        { /* without the Bayes update (prior weights fixed) the result is NOT the mixture: the test can fail */
            decar_router rr;
            decar_dfm_sampler sm;
            decar_sample_opts so = decar_sample_opts_default(); /* first-hitting */
            int cnt[NSEQ] = { 0 }, n;
            decar_error e;
            memset(&rr, 0, sizeof rr);
            rr.k = 2;
            rr.kind = DECAR_ROUTE_UNIFORM;
            rr.top_k = 2;
            sm.k = 2;
            sm.n_class = V;
            sm.mask_token = 99;
            sm.post = oracle_post;
            sm.user = &o;
            sm.router = &rr;
            sm.feat = NULL;
            sm.avail = NULL;
            sm.tok = NULL;
            for (n = 0; n < 4000; n++) {
                int32_t x[TT] = { 99, 99, 99 };
                so.seed = 5000 + (uint64_t)n;
                CHECK(decar_dfm_sample(&sm, x, TT, &so, &e) == 0, "sample: %s", e.msg);
                cnt[x[0] + 3 * x[1] + 9 * x[2]]++;
            }
            {
                double u[NSEQ];
                for (sq = 0; sq < NSEQ; sq++) u[sq] = 0.5 * o.q[0][sq] + 0.5 * o.q[1][sq];
                printf("  control: fixed weights vs the true mixture: chi2 = %.1f (expected large)\n",
                       chi2(cnt, u, NSEQ, 4000));
                CHECK(chi2(cnt, u, NSEQ, 4000) > 54.05, "fixed weights should not reproduce the mixture");
            }
        }
        { /* brute-force posterior: after revealing a full sequence, the Bayes weights are pi_k q_k(x) / sum_j */
            decar_router rr;
            double w[2], ll[2];
            int x0 = 1, x1 = 1, x2 = 2;
            int32_t x[3];
            double pk[2][3 * V];
            char need[3] = { 1, 1, 1 };
            int k;
            memset(&rr, 0, sizeof rr);
            rr.k = 2;
            rr.kind = DECAR_ROUTE_BAYES;
            rr.top_k = 2;
            rr.prior = prior;
            ll[0] = ll[1] = 0;
            /* reveal x0, then x1, then x2, accumulating log p_k(revealed | state) as the sampler does */
            x[0] = 99;
            x[1] = 99;
            x[2] = 99;
            for (k = 0; k < 2; k++) {
                oracle_post(&o, k, x, 3, need, pk[k]);
                ll[k] += log(pk[k][0 * V + x0]);
            }
            x[0] = x0;
            for (k = 0; k < 2; k++) {
                oracle_post(&o, k, x, 3, need, pk[k]);
                ll[k] += log(pk[k][1 * V + x1]);
            }
            x[1] = x1;
            for (k = 0; k < 2; k++) {
                oracle_post(&o, k, x, 3, need, pk[k]);
                ll[k] += log(pk[k][2 * V + x2]);
            }
            decar_router_weights(&rr, NULL, ll, w);
            {
                int sqq = x0 + 3 * x1 + 9 * x2;
                double b0 = prior[0] * o.q[0][sqq], b1 = prior[1] * o.q[1][sqq];
                CHECK(fabs(w[0] - b0 / (b0 + b1)) < 1e-6 && fabs(w[1] - b1 / (b0 + b1)) < 1e-6,
                      "Bayes weights %.6f %.6f vs brute force %.6f %.6f", w[0], w[1], b0 / (b0 + b1), b1 / (b0 + b1));
                printf("  Bayes posterior after 3 reveals: %.6f / %.6f = brute force %.6f / %.6f\n", w[0], w[1],
                       b0 / (b0 + b1), b1 / (b0 + b1));
            }
        }
    }
    TEST_END("test_dfm");
}
