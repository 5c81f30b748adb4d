/* Every op's backward against central finite differences, at sizes that are not multiples of the SIMD width.
   Also: the GEMM kernel against a double-precision reference for odd shapes and strides, broadcasting shapes,
   the arena running out (an error, not a crash), and a NULL propagating through a chain of ops.
   Tolerance: |analytic - numeric| <= 3e-3 + 3e-2 * |numeric|, eps = 1e-2 (float32 forward, sum in double).
   Known kinks: none of the ops used has one inside the sampled ranges (GELU is smooth; no ReLU/abs). */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

#define MAXIN 4
typedef struct {
    int n_in;
    int ndim[MAXIN];
    int64_t shape[MAXIN][4];
    float *val[MAXIN];
    int no_grad[MAXIN];
} spec;
typedef decar_tensor *(*build_fn)(decar_ctx *, decar_tensor **, void *);

static decar_rng R;
static float frand(void) {
    return (float)(decar_rng_double(&R) * 2.0 - 1.0);
}

static double eval(decar_ctx *c, spec *s, build_fn f, void *u, float *wts, decar_tensor **ins, decar_tensor **out_t) {
    int i;
    decar_tensor *o, *w, *l;
    decar_ctx_reset(c);
    for (i = 0; i < s->n_in; i++) {
        ins[i] = s->no_grad[i] ? decar_new(c, s->ndim[i], s->shape[i]) : decar_param(c, s->ndim[i], s->shape[i]);
        memcpy(ins[i]->data, s->val[i], (size_t)ins[i]->n * sizeof(float));
    }
    o = f(c, ins, u);
    if (!o) {
        printf("build failed: %s\n", decar_ctx_error(c));
        return NAN;
    }
    w = decar_new(c, o->ndim, o->shape);
    memcpy(w->data, wts, (size_t)o->n * sizeof(float));
    l = decar_sum(c, decar_mul(c, o, w));
    if (out_t) *out_t = l;
    return l ? l->data[0] : NAN;
}

static void gradcheck(const char *name, spec *s, build_fn f, void *u) {
    decar_ctx *c = decar_ctx_new(0);
    decar_tensor *ins[MAXIN], *l;
    float *wts;
    int i;
    int64_t on;
    float *ana[MAXIN];
    int bad = 0;
    double worst = 0;
    /* output size: one dry build */
    for (i = 0; i < s->n_in; i++) {
        int64_t n = 1;
        int d;
        for (d = 0; d < s->ndim[i]; d++) n *= s->shape[i][d];
        if (!s->val[i]) {
            int64_t k;
            s->val[i] = (float *)malloc((size_t)n * sizeof(float));
            for (k = 0; k < n; k++) s->val[i][k] = frand();
        }
    }
    decar_ctx_reset(c);
    for (i = 0; i < s->n_in; i++) {
        ins[i] = decar_param(c, s->ndim[i], s->shape[i]);
        memcpy(ins[i]->data, s->val[i], (size_t)ins[i]->n * 4);
    }
    {
        decar_tensor *o = f(c, ins, u);
        if (!o) {
            CHECK(0, "%s: build failed: %s", name, decar_ctx_error(c));
            decar_ctx_free(c);
            return;
        }
        on = o->n;
    }
    wts = (float *)malloc((size_t)on * sizeof(float));
    for (i = 0; i < on; i++) wts[i] = frand();
    eval(c, s, f, u, wts, ins, &l);
    CHECK(decar_backward(c, l) == 0, "%s: backward: %s", name, decar_ctx_error(c));
    for (i = 0; i < s->n_in; i++) {
        ana[i] = (float *)malloc((size_t)ins[i]->n * 4);
        if (!s->no_grad[i]) memcpy(ana[i], ins[i]->grad, (size_t)ins[i]->n * 4);
    }
    for (i = 0; i < s->n_in; i++) {
        int64_t n = 1, k, step;
        int d;
        if (s->no_grad[i]) continue;
        for (d = 0; d < s->ndim[i]; d++) n *= s->shape[i][d];
        step = n > 60 ? n / 60 + 1 : 1; /* cap on the number of elements checked */
        for (k = 0; k < n; k += step) {
            float old = s->val[i][k], eps = 1e-2f;
            double lp, lm, num, a, err;
            s->val[i][k] = old + eps;
            lp = eval(c, s, f, u, wts, ins, NULL);
            s->val[i][k] = old - eps;
            lm = eval(c, s, f, u, wts, ins, NULL);
            s->val[i][k] = old;
            num = (lp - lm) / (2.0 * eps);
            a = ana[i][k];
            err = fabs(a - num);
            if (err > worst) worst = err;
            if (!(err <= 3e-3 + 3e-2 * fabs(num))) {
                if (bad < 5) printf("  %s input %d elem %lld: analytic %g numeric %g\n", name, i, (long long)k, a, num);
                bad++;
            }
        }
    }
    CHECK(bad == 0, "%s: %d gradient elements off (worst abs err %g)", name, bad, worst);
    printf("  %-34s ok=%d worst abs err %.2e\n", name, bad == 0, worst);
    for (i = 0; i < s->n_in; i++) {
        free(ana[i]);
        free(s->val[i]);
        s->val[i] = NULL;
    }
    free(wts);
    decar_ctx_free(c);
}

static decar_tensor *b_matmul(decar_ctx *c, decar_tensor **x, void *u) {
    return decar_matmul(c, x[0], x[1], u ? x[2] : NULL);
}
static decar_tensor *b_add(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_add(c, x[0], x[1]);
}
static decar_tensor *b_mul(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_mul(c, x[0], x[1]);
}
static decar_tensor *b_scale(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_scale(c, x[0], -1.7f);
}
static decar_tensor *b_gelu(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_gelu(c, decar_scale(c, x[0], 3.0f));
}
static decar_tensor *b_ln(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_layernorm(c, x[0], x[1], x[2]);
}
static decar_tensor *b_softmax(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_softmax(c, decar_scale(c, x[0], 2.0f));
}
static decar_tensor *b_attn(decar_ctx *c, decar_tensor **x, void *u) {
    int *p = (int *)u;
    return decar_attention(c, x[0], p[0], p[1]);
}
static decar_tensor *b_concat(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_concat(c, x[0], x[1]);
}
static decar_tensor *b_sum(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_sum(c, decar_mul(c, x[0], x[0]));
}
static decar_tensor *b_mean(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_mean(c, decar_mul(c, x[0], x[0]));
}
static decar_tensor *b_view(decar_ctx *c, decar_tensor **x, void *u) {
    int64_t sh[2];
    (void)u;
    sh[0] = 2;
    sh[1] = 5;
    return decar_add(c, decar_view(c, x[0], 2, sh, 3), decar_view(c, x[0], 2, sh, 1)); /* overlapping views */
}
typedef struct {
    int32_t ids[64];
    int nd;
    int64_t sh[3];
} emb_u;
static decar_tensor *b_emb(decar_ctx *c, decar_tensor **x, void *u) {
    emb_u *e = (emb_u *)u;
    return decar_embedding(c, x[0], e->ids, e->nd, e->sh);
}
typedef struct {
    int32_t tg[64];
    float w[64];
    int use_w;
    float norm;
    int nc;
} ce_u;
static decar_tensor *b_ce(decar_ctx *c, decar_tensor **x, void *u) {
    ce_u *e = (ce_u *)u;
    decar_tensor *l =
        decar_cross_entropy(c, decar_scale(c, x[0], 2.0f), e->tg, e->use_w ? e->w : NULL, e->norm, e->nc, NULL);
    return l;
}

static decar_tensor *b_rows(decar_ctx *c, decar_tensor **x, void *u) {
    static const int64_t idx[5] = { 4, 0, 4, 2, 6 }; /* a row picked twice */
    (void)u;
    return decar_rows(c, x[0], idx, 5);
}
static decar_tensor *b_l2norm(decar_ctx *c, decar_tensor **x, void *u) {
    (void)u;
    return decar_l2norm(c, x[0]);
}
static decar_tensor *b_exp(decar_ctx *c, decar_tensor *x[], void *u) {
    (void)u;
    return decar_exp(c, x[0]);
}
/* the symmetric InfoNCE of CLIP, whole: I, T (B, C) -> normalised; logits = exp(tau) I T^T; (CE + CE^T) / 2 */
static decar_tensor *b_infonce(decar_ctx *c, decar_tensor **x, void *u) {
    int32_t tg[5] = { 0, 1, 2, 3, 4 };
    (void)u;
    return decar_clip_loss(c, x[0], x[1], x[2], tg);
}

static void set(spec *s, int i, int nd, int64_t a, int64_t b, int64_t c2, int64_t d) {
    s->ndim[i] = nd;
    s->shape[i][0] = a;
    s->shape[i][1] = b;
    s->shape[i][2] = c2;
    s->shape[i][3] = d;
    s->val[i] = NULL;
    s->no_grad[i] = 0;
    if (i + 1 > s->n_in) s->n_in = i + 1;
}

static void test_gemm(void) {
    /* odd shapes; K past one, two and several K blocks of every SIMD path (KC = 128, 256, 512, 2048 floats); M
       from one sliver to many row chunks; with and without accumulation into C */
    int shapes[][3] = { { 1, 1, 1 },      { 3, 17, 5 },   { 17, 33, 3 },    { 7, 16, 64 },
                        { 13, 1, 33 },    { 64, 48, 40 }, { 100, 37, 129 }, { 37, 45, 600 },
                        { 200, 70, 300 }, { 9, 5, 2100 }, { 5, 3, 0 } };
    int si, mode, nsh = (int)(sizeof shapes / sizeof shapes[0]);
    for (si = 0; si < nsh; si++)
        for (mode = 0; mode < 3; mode++) {
            int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], i, j, k, acc = (si + mode) % 2;
            double worst = 0;
            float *A = (float *)malloc((size_t)M * K * 4 + 4), *B = (float *)malloc((size_t)K * N * 4 + 4),
                  *C = (float *)malloc((size_t)M * N * 4), *bias = (float *)malloc((size_t)N * 4);
            int64_t sai = mode == 1 ? 1 : K, sak = mode == 1 ? M : 1, sbk = mode == 2 ? 1 : N, sbn = mode == 2 ? K : 1;
            for (i = 0; i < M * K; i++) A[i] = frand();
            for (i = 0; i < K * N; i++) B[i] = frand();
            for (i = 0; i < N; i++) bias[i] = frand();
            for (i = 0; i < M * N; i++) C[i] = 0.5f;
            decar_gemm(C, N, A, sai, sak, B, sbk, sbn, bias, M, N, K, acc);
            for (i = 0; i < M; i++)
                for (j = 0; j < N; j++) {
                    double s = (acc ? 0.5 : 0.0) + bias[j];
                    for (k = 0; k < K; k++) s += (double)A[i * sai + k * sak] * B[k * sbk + j * sbn];
                    if (fabs(s - C[i * N + j]) > worst) worst = fabs(s - C[i * N + j]);
                }
            CHECK(worst < 1e-4 * (K + 1), "gemm %dx%dx%d mode %d accumulate %d: max err %g", M, N, K, mode, acc, worst);
            free(A);
            free(B);
            free(C);
            free(bias);
        }
    printf("  gemm vs double reference (%d shapes x 3 stride modes) done\n", nsh);
}

/* causal attention over several row blocks (T = 101 > the kernel's block of 48 rows, a partial last block) and the
   bidirectional case, every output and every gradient element against a double-precision reference */
static void test_attention_blocks(void) {
    int causal;
    for (causal = 0; causal <= 1; causal++) {
        int B = 2, T = 101, H = 2, hs = 8, C = H * hs, C3 = 3 * C, b, h, t, t2, d;
        int64_t n = (int64_t)B * T * C3, i;
        int64_t shape[3];
        decar_ctx *c = decar_ctx_new(0);
        decar_tensor *x, *o, *w, *l;
        double *P = (double *)malloc(sizeof(double) * T * T), *G = (double *)malloc(sizeof(double) * T * T),
               worst_o = 0, worst_g = 0;
        double *ref_g = (double *)calloc((size_t)n, sizeof(double)), sc = 1.0 / sqrt((double)hs);
        shape[0] = B;
        shape[1] = T;
        shape[2] = C3;
        x = decar_param(c, 3, shape);
        for (i = 0; i < n; i++) x->data[i] = frand();
        o = decar_attention(c, x, H, causal);
        shape[2] = C;
        w = decar_param(c, 3, shape);
        for (i = 0; i < w->n; i++) w->data[i] = frand();
        l = decar_sum(c, decar_mul(c, o, w));
        CHECK(l && decar_backward(c, l) == 0, "attention blocks: backward: %s", decar_ctx_error(c));
        { /* no graph (decar_ctx_no_grad, as scoring runs): the same output bit for bit on 1 and 2 threads, the
             probabilities not stored, no gradient, and a backward refused */
            int th, was = decar_get_threads();
            for (th = 1; th <= 8; th *= 2) { /* 4 and 8: as many threads as (b, h) pairs, more */
                decar_ctx *c2 = decar_ctx_new(0);
                decar_tensor *x2, *o2, *l2, *xv;
                size_t before;
                decar_set_threads(th);
                shape[2] = C3;
                x2 = decar_param(c2, 3, shape);
                memcpy(x2->data, x->data, (size_t)n * sizeof(float));
                CHECK(decar_ctx_no_grad(c2, 1) == 0, "no_grad: a new context records a graph");
                before = decar_ctx_used(c2);
                o2 = decar_attention(c2, x2, H, causal);
                CHECK(o2 && !memcmp(o2->data, o->data, (size_t)o->n * sizeof(float)),
                      "attention without a graph (T=%d causal=%d, %d threads): another output", T, causal, th);
                CHECK(o2 && !o2->requires_grad, "attention without a graph: its output asks for a gradient");
                /* the output and a (T, T) block per thread, at most one per (b, h) pair (headers: 4 KB) */
                CHECK(decar_ctx_used(c2) - before <=
                          ((size_t)B * T * C + (size_t)(th < B * H ? th : B * H) * T * T) * sizeof(float) + 4096,
                      "attention without a graph, %d threads: %zu bytes", th, decar_ctx_used(c2) - before);
                xv = decar_view(c2, x2, 1, &x2->n, 0);
                CHECK(xv && !xv->requires_grad, "no_grad: a view of a parameter asks for a gradient");
                l2 = o2 ? decar_sum(c2, o2) : NULL;
                CHECK(l2 && decar_backward(c2, l2) != 0, "a backward through a graph recorded without one ran");
                CHECK(decar_ctx_no_grad(c2, 0) == 1, "no_grad: the setting did not stick");
                decar_ctx_free(c2);
            }
            decar_set_threads(was);
        }
        for (b = 0; b < B; b++)
            for (h = 0; h < H; h++) {
                const float *q = x->data + (int64_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C,
                            *W = w->data + (int64_t)b * T * C + h * hs;
                double *gq = ref_g + (int64_t)b * T * C3 + h * hs, *gk = gq + C, *gv = gq + 2 * C;
                for (t = 0; t < T; t++) {
                    double mx = -1e300, s = 0, rs = 0;
                    int end = causal ? t + 1 : T;
                    for (t2 = 0; t2 < T; t2++) {
                        double a = 0;
                        for (d = 0; d < hs; d++) a += (double)q[t * C3 + d] * k[t2 * C3 + d];
                        P[t * T + t2] = a * sc;
                    }
                    for (t2 = 0; t2 < end; t2++)
                        if (P[t * T + t2] > mx) mx = P[t * T + t2];
                    for (t2 = 0; t2 < T; t2++) {
                        P[t * T + t2] = t2 < end ? exp(P[t * T + t2] - mx) : 0;
                        s += P[t * T + t2];
                    }
                    for (t2 = 0; t2 < T; t2++) P[t * T + t2] /= s;
                    for (d = 0; d < hs; d++) { /* output */
                        double a = 0;
                        for (t2 = 0; t2 < T; t2++) a += P[t * T + t2] * v[t2 * C3 + d];
                        if (fabs(a - o->data[((int64_t)b * T + t) * C + h * hs + d]) > worst_o)
                            worst_o = fabs(a - o->data[((int64_t)b * T + t) * C + h * hs + d]);
                    }
                    for (t2 = 0; t2 < T; t2++) {
                        double a = 0;
                        for (d = 0; d < hs; d++) a += (double)W[t * C + d] * v[t2 * C3 + d];
                        G[t * T + t2] = a;
                        rs += P[t * T + t2] * a;
                    }
                    for (t2 = 0; t2 < T; t2++) G[t * T + t2] = P[t * T + t2] * (G[t * T + t2] - rs) * sc;
                }
                for (t = 0; t < T; t++)
                    for (t2 = 0; t2 < T; t2++)
                        for (d = 0; d < hs; d++) {
                            gq[t * C3 + d] += G[t * T + t2] * k[t2 * C3 + d];
                            gk[t2 * C3 + d] += G[t * T + t2] * q[t * C3 + d];
                            gv[t2 * C3 + d] += P[t * T + t2] * W[t * C + d];
                        }
            }
        for (i = 0; i < n; i++)
            if (fabs(ref_g[i] - x->grad[i]) > worst_g) worst_g = fabs(ref_g[i] - x->grad[i]);
        CHECK(worst_o < 1e-5 && worst_g < 1e-4, "attention T=%d causal=%d vs double reference: output %g, grad %g", T,
              causal, worst_o, worst_g);
        printf("  attention T=%d causal=%d vs double: output max err %.2e, grad max err %.2e\n", T, causal, worst_o,
               worst_g);
        free(P);
        free(G);
        free(ref_g);
        decar_ctx_free(c);
    }
}

/* the gradient checks of the elementwise, row-wise and shape ops: each input's (ndim, dims), where N stands for the
   size under test and N2 for twice it; use_u passes the spec to the builder (matmul reads its bias from it) */
#define N (-1)
#define N2 (-2)
typedef struct {
    const char *name;
    build_fn f;
    int use_u, min_n;
    int64_t in[3][5];
} gcase;
static const gcase cases[] = {
    { "matmul+bias K=%d", b_matmul, 1, 1, { { 2, 3, N, 0, 0 }, { 2, 5, N, 0, 0 }, { 1, 5, 0, 0, 0 } } },
    { "matmul 3-D x, N=K=%d", b_matmul, 0, 1, { { 3, 2, 2, N, 0 }, { 2, N, N, 0, 0 } } },
    { "add broadcast trailing n=%d", b_add, 0, 1, { { 3, 2, 3, N, 0 }, { 2, 3, N, 0, 0 } } },
    { "mul broadcast both n=%d", b_mul, 0, 1, { { 3, 2, 1, N, 0 }, { 3, 1, 3, 1, 0 } } },
    { "add same shape n=%d", b_add, 0, 1, { { 2, 2, N, 0, 0 }, { 2, 2, N, 0, 0 } } },
    { "scale n=%d", b_scale, 0, 1, { { 2, 3, N, 0, 0 } } },
    { "gelu n=%d", b_gelu, 0, 1, { { 2, 3, N, 0, 0 } } },
    { "layernorm C=%d", b_ln, 0, 2, { { 3, 2, 3, N, 0 }, { 1, N, 0, 0, 0 }, { 1, N, 0, 0, 0 } } },
    { "concat C=%d", b_concat, 0, 1, { { 3, 2, 3, N, 0 }, { 3, 2, 2, N, 0 } } },
    { "softmax n=%d", b_softmax, 0, 1, { { 2, 3, N, 0, 0 } } },
    { "sum n=%d", b_sum, 0, 1, { { 1, N2, 0, 0, 0 } } },
    { "mean n=%d", b_mean, 0, 1, { { 1, N2, 0, 0, 0 } } },
};
static int64_t dim_of(int64_t v, int n) {
    return v == N ? n : v == N2 ? 2 * n : v;
}
static void run_case(const gcase *c, int n, spec *s) {
    char nm[64];
    int i;
    if (n < c->min_n) return;
    memset(s, 0, sizeof *s);
    for (i = 0; i < 3 && c->in[i][0]; i++)
        set(s, i, (int)c->in[i][0], dim_of(c->in[i][1], n), dim_of(c->in[i][2], n), dim_of(c->in[i][3], n),
            dim_of(c->in[i][4], n));
    sprintf(nm, c->name, n);
    gradcheck(nm, s, c->f, c->use_u ? s : NULL);
}
#undef N
#undef N2

/* NaN in, NaN out: a NaN logit (or a +inf one) makes the cross-entropy's lse and nll NaN, and a softmax row NaN, at
   every position of the vector paths (the vector exp clamps its input, and must keep NaN); -inf stays probability 0 */
static void test_nonfinite(void) {
    float l[40], lse[1], nll[1], o[40];
    int32_t tg[1] = { 3 };
    int i, at, n;
    for (n = 1; n <= 40; n += 13)
        for (at = 0; at < n; at += 5) {
            for (i = 0; i < n; i++) l[i] = 0.1f * (float)i - 1.0f;
            tg[0] = at == 0 && n > 1 ? 1 : 0;
            l[at] = NAN;
            decar_crossentropy_forward(lse, nll, l, tg, 1, n, n);
            CHECK(isnan(lse[0]) && isnan(nll[0]), "cross-entropy n=%d, NaN at %d: lse %g nll %g", n, at, lse[0],
                  nll[0]);
            decar_softmax_forward(o, l, 1, n);
            for (i = 0; i < n; i++) CHECK(isnan(o[i]), "softmax n=%d, NaN at %d: p[%d] = %g", n, at, i, o[i]);
            l[at] = INFINITY;
            decar_crossentropy_forward(lse, nll, l, tg, 1, n, n);
            CHECK(isnan(lse[0]), "cross-entropy n=%d, +inf at %d: lse %g", n, at, lse[0]);
            if (n == 1) continue;
            l[at] = -INFINITY;
            decar_crossentropy_forward(lse, nll, l, tg, 1, n, n);
            CHECK(isfinite(lse[0]) && isfinite(nll[0]), "cross-entropy n=%d, -inf at %d: lse %g", n, at, lse[0]);
            decar_softmax_forward(o, l, 1, n);
            CHECK(o[at] >= 0.0f && o[at] < 1e-30f, "softmax n=%d, -inf at %d: p = %g", n, at, o[at]);
        }
}
int main(void) {
    spec s;
    int p[2];
    emb_u eu;
    ce_u cu;
    int sizes[] = { 1, 3, 17, 33 }, si, i;
    decar_rng_seed(&R, 42);
    printf("test_ops (simd: %s, threads: %d)\n", decar_simd_name(), decar_get_threads());
    test_gemm();
    test_attention_blocks();
    test_nonfinite();
    for (si = 0; si < 4; si++) {
        int n = sizes[si];
        char nm[64];
        for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) run_case(&cases[i], n, &s);
        { /* attention: head sizes 1, 3, 17, 33; T = 5 */
            int h;
            for (h = 1; h <= 2; h++) {
                p[0] = h;
                p[1] = h == 1;
                memset(&s, 0, sizeof s);
                set(&s, 0, 3, 2, 5, 3 * n * h, 0);
                sprintf(nm, "attention hs=%d heads=%d causal=%d", n, h, p[1]);
                gradcheck(nm, &s, b_attn, p);
            }
        }
        { /* embedding with repeated ids */
            memset(&s, 0, sizeof s);
            set(&s, 0, 2, 7, n, 0, 0);
            eu.nd = 2;
            eu.sh[0] = 2;
            eu.sh[1] = 4;
            for (i = 0; i < 8; i++) eu.ids[i] = (i * 5) % 7 % 4;
            sprintf(nm, "embedding C=%d", n);
            gradcheck(nm, &s, b_emb, &eu);
        }
        { /* cross-entropy: weights, ignored positions, n_class < V */
            int V = n + 2, w;
            for (w = 0; w < 2; w++) {
                memset(&s, 0, sizeof s);
                set(&s, 0, 3, 2, 3, V, 0);
                for (i = 0; i < 6; i++) {
                    cu.tg[i] = i == 2 ? -1 : (i * 7) % (V - 1);
                    cu.w[i] = 0.3f + 0.2f * (float)i;
                }
                cu.use_w = w;
                cu.norm = w ? 6.0f : 0.0f;
                cu.nc = V - 1;
                sprintf(nm, "cross_entropy V=%d weighted=%d", V, w);
                gradcheck(nm, &s, b_ce, &cu);
            }
        }
    }
    memset(&s, 0, sizeof s);
    set(&s, 0, 1, 13, 0, 0, 0);
    gradcheck("overlapping views", &s, b_view, NULL);
    memset(&s, 0, sizeof s);
    set(&s, 0, 3, 2, 4, 3, 0);
    gradcheck("rows (pooling; a row twice)", &s, b_rows, NULL);
    memset(&s, 0, sizeof s);
    set(&s, 0, 2, 3, 17, 0, 0);
    gradcheck("l2norm", &s, b_l2norm, NULL);
    memset(&s, 0, sizeof s);
    set(&s, 0, 1, 7, 0, 0, 0);
    gradcheck("exp", &s, b_exp, NULL);
    memset(&s, 0, sizeof s);
    set(&s, 0, 2, 5, 6, 0, 0);
    set(&s, 1, 2, 5, 6, 0, 0);
    set(&s, 2, 1, 1, 0, 0, 0);
    gradcheck("clip loss (symmetric InfoNCE, tau)", &s, b_infonce, NULL);

    { /* the arena running out is an error with a reason, and NULL flows through */
        decar_ctx *c = decar_ctx_new(4096);
        decar_tensor *a, *b;
        a = decar_new2(c, 10, 10);
        b = decar_matmul(c, a, decar_new2(c, 1000, 10), NULL);
        b = decar_gelu(c, b);
        CHECK(b == NULL && decar_ctx_status(c) == DECAR_ERR_NOMEM, "a full fixed arena must fail cleanly");
        CHECK(strstr(decar_ctx_error(c), "arena") != NULL, "error names the arena: %s", decar_ctx_error(c));
        decar_ctx_reset(c);
        CHECK(decar_new2(c, 4, 4) != NULL, "reset clears the error");
        CHECK(decar_add(c, decar_new2(c, 2, 3), decar_new2(c, 3, 2)) == NULL && decar_ctx_status(c) == DECAR_ERR_ARG,
              "bad broadcast is an error");
        decar_ctx_free(c);
    }
    { /* the tanh used by GELU (vector code, one value per vector here) against libm's, over [-12, 12] */
        double worst = 0;
        int k;
        for (k = -120000; k <= 120000; k++) {
            float u = (float)k * 1e-4f;
            float b[DECAR__VW] = { 0 };
            double d;
            b[0] = u;
            decar__vstore(b, decar__vtanh(decar__vload(b)));
            d = fabs((double)b[0] - tanh((double)u));
            if (d > worst) worst = d;
        }
        CHECK(worst < 4e-7, "decar__tanh max error %g", worst); /* a rational approximation: 3.7e-7 near |u| = 5.8 */
        printf("  tanh max abs error %.2e\n", worst);
    }
    { /* the vector exp (softmax, attention, cross-entropy) against libm's, relative error over [-87, 88] */
        double worst = 0;
        int k;
        for (k = -870000; k <= 880000; k++) {
            float u = (float)k * 1e-4f, b[DECAR__VW] = { 0 };
            double d;
            b[0] = u;
            decar__vstore(b, decar__vexp(decar__vload(b)));
            d = fabs((double)b[0] - exp((double)u)) / exp((double)u);
            if (d > worst) worst = d;
        }
        CHECK(worst < 3e-7, "decar__vexp max relative error %g", worst);
        printf("  exp max relative error %.2e\n", worst);
    }
    { /* backward without parameters says what was forgotten */
        decar_ctx *c = decar_ctx_new(0);
        decar_tensor *a = decar_new1(c, 3);
        CHECK(decar_backward(c, decar_sum(c, a)) != 0 && strstr(decar_ctx_error(c), "decar_param"),
              "missing-param message");
        decar_ctx_free(c);
    }
    TEST_END("test_ops");
}
