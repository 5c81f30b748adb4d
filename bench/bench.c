/* decar benchmarks. Prints one table; bench/run_bench.sh adds PyTorch's numbers measured in the same run.
   Every kernel is checked against a reference before it is timed.
     peak      FMA throughput of this machine measured by a microbenchmark (independent FMA chains, all threads)
     gemm      decar_gemm on the training shapes (forward, d-input, d-weight) vs cblas_sgemm (OpenBLAS)
     train     training step (forward, backward, AdamW) tokens/s, configs S and M
     score     forward-only scoring tokens/s (what ensemble evaluation runs)
     generate  batch-1 KV-cache generation tokens/s; a top-2 ensemble step vs one expert
     kmeans    balanced k-means on 100,000 x 256 features, K = 16
     tiny      the scaling study's models T1 and T2 alone (part of model; run_bench.sh runs it at one thread too)
   Usage: bench [quick] [gemm|model|tiny|kmeans|corename]   (quick: fewer repetitions; a section name: only that
   section; corename: print the core OpenBLAS picked for this CPU and exit)
   Built with -DBENCH_BLIS and linked with -lblis instead of -lopenblas, the cblas column is BLIS (a second anchor). */
#define _POSIX_C_SOURCE 200809L
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"

static int quick = 0;
#ifdef BENCH_BLIS
#define BLAS_NAME "blis"
#else
#define BLAS_NAME "openblas"
char *openblas_get_corename(void); /* OpenBLAS's own: the kernel set it chose (DYNAMIC_ARCH builds, as Debian's) */
#endif

static double fma_peak(void) { /* GFLOP/s of independent FMA chains on every thread */
    double best = 0;
    int rep;
    for (rep = 0; rep < 3; rep++) {
        double t0 = now(), t;
        long iters = 20000000;
        float sink = 0;
        DECAR__PRAGMA(omp parallel reduction(+ : sink)) {
            decar__v a0 = decar__vset1(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
                     a9 = a0;
            decar__v m = decar__vset1(0.9999999f), c = decar__vset1(1e-7f);
            long i;
            for (i = 0; i < iters; i++) {
                a0 = decar__vfma(a0, m, c);
                a1 = decar__vfma(a1, m, c);
                a2 = decar__vfma(a2, m, c);
                a3 = decar__vfma(a3, m, c);
                a4 = decar__vfma(a4, m, c);
                a5 = decar__vfma(a5, m, c);
                a6 = decar__vfma(a6, m, c);
                a7 = decar__vfma(a7, m, c);
                a8 = decar__vfma(a8, m, c);
                a9 = decar__vfma(a9, m, c);
            }
            sink += decar__vsum(
                decar__vadd(decar__vadd(decar__vadd(a0, a1), decar__vadd(a2, a3)),
                            decar__vadd(decar__vadd(a4, a5), decar__vadd(decar__vadd(a6, a7), decar__vadd(a8, a9)))));
        }
        t = now() - t0;
        if (sink == 12345.0f) printf(" ");
        if (2.0 * 10 * DECAR__VW * iters * decar_get_threads() / t / 1e9 > best)
            best = 2.0 * 10 * DECAR__VW * iters * decar_get_threads() / t / 1e9;
    }
    return best;
}

typedef struct {
    const char *name;
    int M, N, K, mode;
} shape; /* mode 0: x w^T, 1: dout w, 2: dout^T x */
void bench_decar_gemm_cblas(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B,
                            int64_t sbk, int64_t sbn, int64_t M, int64_t N, int64_t K); /* bench_cblas.c */
/* use 0: decar_gemm; 1: cblas_sgemm directly; 2: decar_gemm built with DECAR_USE_CBLAS */
static void gemm_call(int use, const shape *s, const float *A, const float *B, float *C) {
    int64_t sai = s->mode == 2 ? 1 : s->K, sak = s->mode == 2 ? s->M : 1; /* decar's strides for the three modes */
    int64_t sbk = s->mode == 0 ? 1 : s->N, sbn = s->mode == 0 ? s->K : 1;
    if (use == 0)
        decar_gemm(C, s->N, A, sai, sak, B, sbk, sbn, NULL, s->M, s->N, s->K, 0);
    else if (use == 2)
        bench_decar_gemm_cblas(C, s->N, A, sai, sak, B, sbk, sbn, s->M, s->N, s->K);
    else
        cblas_sgemm(CblasRowMajor, s->mode == 2 ? CblasTrans : CblasNoTrans, s->mode == 0 ? CblasTrans : CblasNoTrans,
                    s->M, s->N, s->K, 1, A, s->mode == 2 ? s->M : s->K, B, s->mode == 0 ? s->K : s->N, 0, C, s->N);
}
/* best of many calls, in rounds of decar then OpenBLAS so that both see the same machine (this one is shared); the
   first call of each burst is not timed: the other library's threads may still be spinning (OpenMP, pthreads) */
static void time_gemm(const shape *s, const float *A, const float *B, float *C, double *g) { /* g[3] */
    int rounds = quick ? 2 : 6, r, u, i;
    double best[3] = { 1e9, 1e9, 1e9 };
    for (r = 0; r < rounds; r++)
        for (u = 0; u < 3; u++) {
            gemm_call(u, s, A, B, C);
            for (i = 0; i < 5; i++) {
                double t0 = now();
                gemm_call(u, s, A, B, C);
                t0 = now() - t0;
                if (t0 < best[u]) best[u] = t0;
            }
        }
    for (u = 0; u < 3; u++) g[u] = 2.0 * s->M * s->N * s->K / best[u] / 1e9;
}

static void bench_gemm(double peak) {
    /* the matmuls of a training step for config S (B*T = 2048, C = 256) and M (C = 384), plus the vocab head */
    shape sh[] = { { "S qkv fwd", 2048, 768, 256, 0 },   { "S fc fwd", 2048, 1024, 256, 0 },
                   { "S proj fwd", 2048, 256, 1024, 0 }, { "S fc dx", 2048, 256, 1024, 1 },
                   { "S fc dW", 1024, 256, 2048, 2 },    { "M qkv fwd", 2048, 1152, 384, 0 },
                   { "M fc fwd", 2048, 1536, 384, 0 },   { "M fc dx", 2048, 384, 1536, 1 },
                   { "M fc dW", 1536, 384, 2048, 2 } };
    int i, n = (int)(sizeof sh / sizeof sh[0]);
    printf("\n%-12s %6s %6s %6s | %9s %9s %7s %8s | %12s %7s\n", "gemm", "M", "N", "K", "decar", BLAS_NAME, "ratio",
           "of peak", "decar+cblas", "ratio");
    for (i = 0; i < n; i++) {
        const shape *s = &sh[i];
        size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N, j;
        float *A = (float *)malloc(na * 4), *B = (float *)malloc(nb * 4), *C1 = (float *)malloc(nc * 4),
              *C2 = (float *)malloc(nc * 4);
        double g[3], err = 0;
        decar_rng r;
        decar_rng_seed(&r, (uint64_t)i);
        for (j = 0; j < na; j++) A[j] = decar_rng_normal(&r);
        for (j = 0; j < nb; j++) B[j] = decar_rng_normal(&r);
        gemm_call(0, s, A, B, C1);
        gemm_call(1, s, A, B, C2);
        for (j = 0; j < nc; j++) {
            double d = fabs(C1[j] - C2[j]);
            if (d > err) err = d;
        }
        if (err > 1e-2) {
            printf("%s: decar and %s disagree (max diff %g)\n", s->name, BLAS_NAME, err);
            exit(1);
        }
        time_gemm(s, A, B, C1, g);
        printf("%-12s %6d %6d %6d | %7.1f GF %7.1f GF %6.2fx %7.0f%% | %9.1f GF %6.2fx\n", s->name, s->M, s->N, s->K,
               g[0], g[1], g[0] / g[1], 100 * g[0] / peak, g[2], g[2] / g[1]);
        {
            char tag[32];
            size_t k;
            snprintf(tag, sizeof tag, "%s", s->name);
            for (k = 0; tag[k]; k++) tag[k] = tag[k] == ' ' ? '_' : tag[k];
            printf("RESULT gemm%d %s %.1f %.1f\n", i, tag, g[0], g[1]);
        }
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
}

/* best of reps passes: n batch-1 KV-cache steps of g (*t_step), and n tokens from the ensemble en (*t_ens); given a
   reference model ref (the float32 expert that quantized ones are compared with), its n steps too (*t_ref), timed in
   the same passes: a ratio then compares runs seconds apart, not sections a minute apart on a shared machine */
static void time_generation(decar_gpt *ref, decar_gpt *g, decar_ensemble *en, int n, int reps, float *kv, float *lg,
                            float *sc, int32_t *out, double *t_ref, double *t_step, double *t_ens) {
    int32_t prompt[1] = { 10 };
    int rep, p, nout = 0;
    decar_error e;
    decar_sample_opts so = decar_sample_opts_default(); /* temp 1, top-k / top-p off, seed 1 */
    so.n_new = n - 1;
    *t_ref = *t_step = *t_ens = 1e9;
    for (rep = 0; rep < 3 * reps; rep++) { /* the three timings in a rotating order: none always goes first */
        int which = (rep + rep / 3) % 3;
        double t1 = now();
        if (which == 0)
            for (p = 0; p < n && ref; p++) decar_gpt_step(ref, kv, (int32_t)(p % 256), p, lg, sc, NULL);
        if (which == 1)
            for (p = 0; p < n; p++) decar_gpt_step(g, kv, (int32_t)(p % 256), p, lg, sc, NULL);
        if (which == 2) decar_ensemble_generate(en, NULL, prompt, 1, &so, out, &nout, NULL, &e);
        t1 = now() - t1;
        if (which == 0 && ref && t1 < *t_ref) *t_ref = t1;
        if (which == 1 && t1 < *t_step) *t_step = t1;
        if (which == 2 && t1 < *t_ens) *t_ens = t1;
    }
}
/* x, y: n random bytes each (a fixed stream, seed 5), the token ids and targets of every model section */
static void random_tokens(int32_t *x, int32_t *y, int n) {
    decar_rng r;
    int i;
    decar_rng_seed(&r, 5);
    for (i = 0; i < n; i++) {
        x[i] = (int32_t)(decar_rng_u32(&r) % 256);
        y[i] = (int32_t)(decar_rng_u32(&r) % 256);
    }
}
/* the fastest of `steps` training steps, then of `steps` scoring passes, on the same batch after one warm-up step
   (which sizes the arena): seconds in *train and *score */
static void best_times(decar_gpt *g, decar_ctx *ctx, decar_opt *o, const int32_t *x, const int32_t *y, float *nll,
                       int B, int T, int steps, double *train, double *score) {
    int i;
    double t0;
    *train = *score = 1e9;
    decar_gpt_train_step(g, ctx, o, x, y, NULL, B, T);
    for (i = 0; i < steps; i++) {
        t0 = now();
        decar_gpt_train_step(g, ctx, o, x, y, NULL, B, T);
        t0 = now() - t0;
        if (t0 < *train) *train = t0;
    }
    for (i = 0; i < steps; i++) {
        t0 = now();
        decar_gpt_score(g, ctx, x, y, B, T, nll);
        t0 = now() - t0;
        if (t0 < *score) *score = t0;
    }
}
static void bench_model(const char *name, int L, int H, int C) {
    decar_gpt_config c = decar_gpt_default_config();
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt o = decar_opt_default();
    int B = 8, T = 256, steps = quick ? 3 : 6;
    int32_t *x = (int32_t *)malloc((size_t)B * T * 4), *y = (int32_t *)malloc((size_t)B * T * 4);
    float *nll = (float *)malloc((size_t)B * T * 4);
    double t0, best, bests;
    c = decar_gpt_config_of(L, H, C, T);
    c.vocab_size = 256;
    decar_gpt_init(&g, &c, 1, &e);
    random_tokens(x, y, B * T);
    o.total_steps = 1000;
    best_times(&g, ctx, &o, x, y, nll, B, T, steps, &best, &bests);
    { /* mixed precision: bf16 operands for every matrix product (decar_set_precision), on the same model */
        double bb, bbs;
        const char *path = decar_set_precision(DECAR_BF16);
        best_times(&g, ctx, &o, x, y, nll, B, T, steps, &bb, &bbs);
        decar_set_precision(DECAR_FP32);
        printf("train %s bf16 (%s): %.1f ms/step, %.0f tok/s (%.2fx fp32) | score: %.0f tok/s (%.2fx fp32)\n", name,
               path, bb * 1e3, B * T / bb, best / bb, B * T / bbs, bests / bbs);
        printf("RESULT train_bf16_%s %.1f\nRESULT score_bf16_%s %.1f\n", name, B * T / bb, name, B * T / bbs);
    }
    { /* memory: the arena after the training step's forward (the graph, with the loss) holds exactly the activations
         the step keeps for its backward (a scoring forward keeps less: it records no graph) */
        double state = g.n_params * 16 / 1e6, act, peak = decar_ctx_peak(ctx) / 1e6;
        decar_ctx_reset(ctx);
        decar_cross_entropy(ctx, decar_gpt_forward(ctx, &g, x, B, T), y, NULL, 0.0f, 256, NULL);
        act = decar_ctx_used(ctx) / 1e6;
        printf("train %s: %.1f ms/step, %.0f tok/s, %.1f GFLOP/s | score: %.0f tok/s\n", name, best * 1e3, B * T / best,
               decar_gpt_flops_per_token(&c, T) * B * T / best / 1e9, B * T / bests);
        printf("memory %s: params+grads+adam %.1f MB, activations %.1f MB, training arena peak %.1f MB: %.2fx the "
               "minimum\n",
               name, state, act, peak, (state + peak) / (state + act));
        printf("RESULT train_%s %.1f\nRESULT score_%s %.1f\nRESULT mem_%s %.3f\n", name, B * T / best, name,
               B * T / bests, name, (state + peak) / (state + act));
    }
    { /* generation at batch 1 with the KV cache; a top-2 ensemble of two such experts */
        float *kv = (float *)malloc(decar_gpt_kv_size(&c) * 4), *lg = (float *)malloc(256 * 4),
              *sc = (float *)malloc(decar_gpt_step_scratch(&c) * 4);
        int n = 200, p;
        double tg, te, tr;
        decar_ensemble en;
        decar_gpt *ex[2];
        decar_gpt g2;
        int32_t *out = (int32_t *)malloc((size_t)(n + 2) * 4);
        int rep, reps = quick ? 1 : 5; /* best of 5 passes of n tokens (the machine is shared) */
        decar_gpt_init(&g2, &c, 2, &e);
        ex[0] = &g;
        ex[1] = &g2;
        en = decar_ensemble_of(ex, 2);
        time_generation(NULL, &g, &en, n, reps, kv, lg, sc, out, &tr, &tg, &te);
        printf("generate %s: batch 1 KV cache %.0f tok/s; top-2 ensemble %.0f tok/s (%.2fx the cost of one expert)\n",
               name, n / tg, n / te, te / tg);
        printf("RESULT gen_%s %.1f\nRESULT ens2_%s %.3f\n", name, n / tg, name, te / tg);
        { /* several sequences per step: each weight load serves all of them */
            int nb[2] = { 4, 16 }, bi, j;
            for (bi = 0; bi < 2; bi++) {
                int nn = nb[bi];
                float *kvs[16], *emb = (float *)malloc((size_t)nn * C * 4),
                                *lgs = (float *)malloc((size_t)nn * 256 * 4),
                                *scb = (float *)malloc(decar_gpt_step_batch_scratch(&c, nn) * 4);
                int ps[16];
                double tb;
                for (j = 0; j < nn; j++) kvs[j] = (float *)malloc(decar_gpt_kv_size(&c) * 4);
                tb = 1e9;
                for (rep = 0; rep < reps; rep++) {
                    t0 = now();
                    for (p = 0; p < n; p++) {
                        for (j = 0; j < nn; j++) {
                            ps[j] = p;
                            memcpy(emb + (size_t)j * C, g.params + g.info[0].offset + (size_t)((p + j) % 256) * C,
                                   (size_t)C * 4);
                        }
                        decar_gpt_step_batch(&g, kvs, emb, ps, nn, lgs, scb, NULL);
                    }
                    t0 = now() - t0;
                    if (t0 < tb) tb = t0;
                }
                printf("generate %s: %d sequences per step: %.0f tok/s in all\n", name, nn, (double)n * nn / tb);
                printf("RESULT genb%d_%s %.1f\n", nn, name, (double)n * nn / tb);
                for (j = 0; j < nn; j++) free(kvs[j]);
                free(emb);
                free(lgs);
                free(scb);
            }
        }
        { /* quantized weights (decar quantize): batch-1 steps, and a top-2 ensemble of two quantized experts */
            int types[2] = { DECAR_Q8_0, DECAR_QBF16 }, ti;
            for (ti = 0; ti < 2; ti++) {
                decar_gpt q1, q2;
                decar_gpt *qx[2];
                decar_ensemble qe;
                double tq, tqe;
                const char *tn = decar_qtype_name(types[ti]);
                decar_gpt_init(&q1, &c, 1, &e);
                decar_gpt_init(&q2, &c, 2, &e);
                decar_gpt_quantize(&q1, types[ti], &e);
                decar_gpt_quantize(&q2, types[ti], &e);
                qx[0] = &q1;
                qx[1] = &q2;
                qe = decar_ensemble_of(qx, 2);
                /* the float32 expert timed again in the same passes (tr): the ratios are within these passes */
                time_generation(&g, &q1, &qe, n, reps, kv, lg, sc, out, &tr, &tq, &tqe);
                printf("generate %s %s: batch 1 %.0f tok/s (%.2fx f32 at %.0f tok/s in the same passes); top-2 %s "
                       "ensemble %.0f tok/s (%.2fx one f32 expert)\n",
                       name, tn, n / tq, tr / tq, n / tr, tn, n / tqe, tr / tqe);
                printf("RESULT gen_%s_%s %.1f\nRESULT gen_%s_%s_x %.3f\nRESULT ens2_%s_%s_x %.3f\n", tn, name, n / tq,
                       tn, name, tr / tq, tn, name, tr / tqe);
                decar_gpt_free(&q1);
                decar_gpt_free(&q2);
            }
        }
        free(kv);
        free(lg);
        free(sc);
        free(out);
        decar_gpt_free(&g2);
    }
    free(x);
    free(y);
    free(nll);
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
}

/* The scaling study's models (scripts/scaling.sh trains them by the hundred): batch 16 x 64, training and scoring
   tok/s and the share of the measured FMA peak the training step reaches (FLOPs per token: decar_gpt_flops_per_token,
   6 N + attention) */
static void bench_tiny(const char *name, int L, int H, int C, double peak) {
    decar_gpt_config c = decar_gpt_config_of(L, H, C, 64);
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt o = decar_opt_default();
    int B = 16, T = 64, steps = quick ? 20 : 60;
    int32_t *x = (int32_t *)malloc((size_t)B * T * 4), *y = (int32_t *)malloc((size_t)B * T * 4);
    float *nll = (float *)malloc((size_t)B * T * 4);
    double best, bests, gf;
    c.vocab_size = 256;
    decar_gpt_init(&g, &c, 1, &e);
    random_tokens(x, y, B * T);
    o.total_steps = 1000;
    best_times(&g, ctx, &o, x, y, nll, B, T, steps, &best, &bests);
    gf = decar_gpt_flops_per_token(&c, T) * B * T / best / 1e9;
    printf("train %s (%d layers, d %d, batch %d x %d, %lu params): %.0f tok/s, %.1f GFLOP/s = %.1f%% of the FMA peak "
           "| score: %.0f tok/s\n",
           name, L, C, B, T, (unsigned long)g.n_params, B * T / best, gf, 100 * gf / peak, B * T / bests);
    printf("RESULT train_%s %.1f\nRESULT score_%s %.1f\nRESULT peakpct_%s %.2f\n", name, B * T / best, name,
           B * T / bests, name, 100 * gf / peak);
    free(x);
    free(y);
    free(nll);
    decar_ctx_free(ctx);
    decar_gpt_free(&g);
}
static void bench_kmeans(void) {
    int64_t N = quick ? 20000 : 100000, i;
    int d = 256, K = 16;
    float *X = (float *)malloc((size_t)N * d * 4), *C = (float *)malloc((size_t)K * d * 4);
    int32_t *lab = (int32_t *)malloc((size_t)N * 4);
    decar_rng r;
    decar_kmeans_opts o;
    decar_error e;
    double t0, best;
    int it = 0, rep;
    decar_rng_seed(&r, 1);
    for (i = 0; i < N * d; i++) X[i] = decar_rng_normal(&r) + (float)((i / d) % K == (i % d) % K) * 3.0f;
    for (i = 0; i < N; i++) decar_l2_normalize(X + i * d, d);
    o = decar_kmeans_default(K);
    o.iters = 20;
    for (rep = 0, best = 1e30; rep < 3; rep++) { /* the best of 3, as bench_sklearn.py times scikit-learn */
        t0 = now();
        decar_kmeans(X, N, d, &o, C, lab, NULL, NULL, &it, &e);
        t0 = now() - t0;
        best = t0 < best ? t0 : best;
    }
    t0 = best;
    printf("kmeans: balanced, %lld x %d, K = %d: %.2f s (%d iterations, k-means++ seeding included)\n", (long long)N, d,
           K, t0, it);
    printf("RESULT kmeans %.3f\nRESULT kmeans_iters %d\n", t0, it);
    { /* the same features for scikit-learn's KMeans (bench/bench_sklearn.py, run by run_bench.sh) */
        void *buf;
        size_t len;
        FILE *f = fopen("build/kmeans_X.npy", "wb");
        if (f && !decar_npy_build(X, N, d, &buf, &len)) {
            fwrite(buf, 1, len, f);
            DECAR_FREE(buf);
        }
        if (f) fclose(f);
    }
    free(X);
    free(C);
    free(lab);
}

int main(int argc, char **argv) {
    double peak;
    const char *only = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "quick"))
            quick = 1;
        else
            only = argv[i];
    }
#ifndef BENCH_BLIS
    if (only && !strcmp(only, "corename")) {
        printf("%s\n", openblas_get_corename());
        return 0;
    }
    printf("decar %s bench: simd %s, %d threads; OpenBLAS core: %s\n", DECAR_VERSION, decar_simd_name(),
           decar_get_threads(), openblas_get_corename());
#else
    printf("decar %s bench: simd %s, %d threads; BLIS\n", DECAR_VERSION, decar_simd_name(), decar_get_threads());
#endif
    peak = fma_peak();
    printf("FMA peak (measured): %.0f GFLOP/s\nRESULT peak %.1f\n", peak, peak);
    if (!only || !strcmp(only, "gemm")) bench_gemm(peak);
    printf("\n");
    if (!only || !strcmp(only, "model")) {
        bench_model("S", 4, 4, 256);
        bench_model("M", 6, 6, 384);
        bench_tiny("T1", 1, 2, 32, peak);
        bench_tiny("T2", 2, 2, 64, peak);
    }
    if (only && !strcmp(only, "tiny")) { /* the study's models alone (run_bench.sh runs them at one thread too) */
        bench_tiny("T1", 1, 2, 32, peak);
        bench_tiny("T2", 2, 2, 64, peak);
    }
    if (!only || !strcmp(only, "kmeans")) bench_kmeans();
    return 0;
}
