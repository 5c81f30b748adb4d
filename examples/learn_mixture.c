/* learn_mixture.c - the decentralized flow-matching theorem on numbers you can check by hand (docs/METHOD.md a2).

   Data: six sequences of three tokens over {a, b, c}, split into two clusters S_1 and S_2. Expert k is *perfect* on
   its cluster: its posterior p^(k)(x^i = y | x) is the share of S_k's sequences that agree with the revealed tokens
   of x and have y at position i. The theorem says that the posterior of the whole data set is the router-weighted
   mixture of the experts' posteriors,

       p(y | x) = sum_k r_k(x) p^(k)(y | x),     r_k(x) = pi_k q_k(x^U) / sum_j pi_j q_j(x^U)       (1)

   (x^U: the revealed tokens; q_k: the data distribution of S_k). Since the mask path's velocity is affine in the
   posterior, u(y, x) = kappa'/(1 - kappa) [p(y | x) - delta_{x^i}(y)], the same weights combine the velocities:

       u(y, x) = sum_k r_k(x) u^(k)(y, x).                                                            (2)

   Part 1 prints both sides of (1) and (2) at one state; part 2 samples 30,000 sequences with decar_dfm_sample (the
   first-hitting sampler, the Bayes router R4') and finds exactly the data distribution, never a sequence outside it;
   with a fixed 50/50 mixture instead of the posterior r(x), sequences that are in neither cluster appear.
       cc -O2 examples/learn_mixture.c -lm -o learn_mixture && ./learn_mixture                                    */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { V = 3, N = 3, MASK = 3, NSEQ = 6, K = 2 };
static const char *seqs[NSEQ] = { "aab", "aba", "abb", "aca", "cbc", "acc" };
static const int count[NSEQ] = { 3, 2, 1, 2, 3, 1 };
static const int cluster[NSEQ] = { 0, 0, 0, 1, 1, 1 };

/* q_k(x^U) = (1/|S_k|) sum_{s in S_k, s agrees with x on U} count(s); k < 0: the whole data set */
static double q_of(int k, const int32_t *x) {
    double agree = 0.0, total = 0.0;
    int s, i;
    for (s = 0; s < NSEQ; s++) {
        int ok = 1;
        if (k >= 0 && cluster[s] != k) continue;
        total += count[s];
        for (i = 0; i < N; i++)
            if (x[i] != MASK && x[i] != seqs[s][i] - 'a') ok = 0;
        if (ok) agree += count[s];
    }
    return agree / total;
}
/* p(x^i = y | x) for every y, of expert k (k < 0: the whole data set); uniform where the data has no such x */
static void posterior(int k, const int32_t *x, int i, double *p) {
    int32_t z[N];
    double qx = q_of(k, x);
    int y;
    memcpy(z, x, sizeof z);
    for (y = 0; y < V; y++) {
        z[i] = y;
        p[y] = qx > 0.0 ? q_of(k, z) / qx : 1.0 / V;
    }
}
/* the experts as decar_dfm_sample sees them: out[i * V + y] = p^(k)(x^i = y | x) where need[i] */
static int expert_post(void *user, int k, const int32_t *x, int T, const char *need, double *out) {
    int i;
    (void)user;
    for (i = 0; i < T; i++)
        if (need[i]) posterior(k, x, i, out + i * V);
    return 0;
}

int main(void) {
    float prior[K];
    decar_router r;
    int32_t x[N] = { 0, MASK, MASK }; /* the state x_t = (a, M, M) */
    double loglik[K], w[K], hand[K], pk[K][V], mix[V] = { 0 }, glob[V], z = 0.0, t = 0.5, rate, err = 0.0;
    int k, y, i, fails = 0;
    /* pi_k = |S_k| / |D| */
    for (k = 0; k < K; k++) prior[k] = 0.0f;
    for (i = 0; i < NSEQ; i++) prior[cluster[i]] += (float)count[i] / 12.0f;
    memset(&r, 0, sizeof r);
    r.kind = DECAR_ROUTE_BAYES;
    r.k = K;
    r.prior = prior;

    /* part 1. r_k(x) from the library (R4': log pi_k + log q_k(x^U), softmax) and by hand (pi_k q_k / sum) */
    for (k = 0; k < K; k++) {
        loglik[k] = log(q_of(k, x));
        hand[k] = prior[k] * q_of(k, x);
        z += hand[k];
    }
    decar_router_weights(&r, NULL, loglik, w);
    printf("state x_t = (a, M, M); pi = (%.4f, %.4f)\n", prior[0], prior[1]);
    for (k = 0; k < K; k++) {
        hand[k] /= z;
        printf("  r_%d(x): library %.6f, by hand pi_k q_k(x^U) / sum = %.6f\n", k + 1, w[k], hand[k]);
        err = fmax(err, fabs(w[k] - hand[k]));
    }
    /* (1) at position 1: sum_k r_k p^(k) against the whole data set's posterior */
    for (k = 0; k < K; k++) posterior(k, x, 1, pk[k]);
    posterior(-1, x, 1, glob);
    for (y = 0; y < V; y++)
        for (k = 0; k < K; k++) mix[y] += w[k] * pk[k][y];
    /* (2) the velocities at t = 0.5 with kappa_t = t: kappa' / (1 - kappa) = 2; x^1 = M, so delta_{x^1}(y) = 0 */
    rate = 1.0 / (1.0 - t);
    printf("  y   p^(1)    p^(2)    sum_k r_k p^(k)  p(data)   u^(1)    u^(2)    sum_k r_k u^(k)  u(data)\n");
    for (y = 0; y < V; y++) {
        double u1 = rate * pk[0][y], u2 = rate * pk[1][y], ug = rate * glob[y], um = w[0] * u1 + w[1] * u2;
        printf("  %c   %.4f   %.4f   %.6f         %.6f  %.4f   %.4f   %.6f         %.6f\n", 'a' + y, pk[0][y],
               pk[1][y], mix[y], glob[y], u1, u2, um, ug);
        err = fmax(err, fmax(fabs(mix[y] - glob[y]), fabs(um - ug)));
    }
    /* the sides are sums of a few ratios of small integers: they agree to rounding, 1e-12 of their scale (<= 2) */
    printf("largest difference between the two sides: %.2e (allowed 1e-12)\n", err);
    if (!(err < 1e-12)) fails++;

    /* part 2. sampling: the first-hitting sampler with the router posterior (R4', updated at each reveal), then
       with a fixed 50/50 mixture (the uniform router) */
    {
        decar_dfm_sampler s;
        decar_sample_opts so = decar_sample_opts_default(); /* the first-hitting sampler */
        decar_error e;
        int route, n = 30000, d;
        memset(&s, 0, sizeof s);
        s.k = K;
        s.n_class = V;
        s.mask_token = MASK;
        s.post = expert_post;
        s.router = &r;
        for (route = 0; route < 2; route++) {
            int seen[NSEQ] = { 0 }, outside = 0;
            double worst = 0.0;
            r.kind = route == 0 ? DECAR_ROUTE_BAYES : DECAR_ROUTE_UNIFORM;
            for (d = 0; d < n; d++) {
                int32_t g[N] = { MASK, MASK, MASK };
                int hit = -1;
                so.seed = (uint64_t)d + 1;
                if (decar_dfm_sample(&s, g, N, &so, &e)) return (fprintf(stderr, "learn_mixture: %s\n", e.msg), 1);
                for (i = 0; i < NSEQ; i++)
                    if (g[0] == seqs[i][0] - 'a' && g[1] == seqs[i][1] - 'a' && g[2] == seqs[i][2] - 'a') hit = i;
                if (hit < 0)
                    outside++;
                else
                    seen[hit]++;
            }
            printf("%s router, %d samples:\n", route == 0 ? "Bayes (r = the posterior)" : "uniform (r = 1/2)", n);
            for (i = 0; i < NSEQ; i++) {
                /* each frequency is a binomial share: its standard error is sqrt(q (1 - q) / n) */
                double q = count[i] / 12.0, f = (double)seen[i] / n, se = sqrt(q * (1.0 - q) / n);
                printf("  %s  data %.4f  sampled %.4f  (%+.1f standard errors)\n", seqs[i], q, f, (f - q) / se);
                worst = fmax(worst, fabs(f - q) / se);
            }
            printf("  sequences in neither cluster: %d of %d\n", outside, n);
            if (route == 0 && (outside != 0 || worst > 5.0)) fails++; /* exact: none outside, all within 5 s.e. */
            if (route == 1 && outside == 0) fails++;                  /* a fixed mixture mixes the clusters */
        }
    }
    printf("%s\n", fails ? "FAILED" : "ok: the router posterior turns perfect experts into the data distribution");
    return fails != 0;
}
