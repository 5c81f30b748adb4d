/* Why Q8_0 generation of a small model is not faster on an AVX2 CPU without VNNI: the W8A8 matrix-vector product on
   one thread beside the float32 one it replaces, on the shapes of config S (d_model 256), with the weights in the
   core's caches (one matrix, timed again and again) or from L3 (16 different matrices in turn); and the library's AVX2
   kernel beside three other forms of it, written here only, checked against it and timed the same way:
     q8_0     decar_qlinear_forward (the input row quantized, then decar__w8a8_rows4 four rows at a time: per row and
              block a load, two vpsignb, vpmaddubsw, vpmaddwd, a conversion, a multiply and an FMA)
     rows4    decar__w8a8_rows4 called directly: the kernel without the call around it
     absx     rows4 with |x| once per input block, shared by the rows: vpmaddubsw(|x|, sign(w, x)), one vpsignb fewer
              per row and block. Not used: wrong for a stored weight of -128 (sign(-128, x < 0) wraps to -128),
              which a decar_qmat a caller fills may hold (the checkpoint reader refuses it; tests/test_kernels.c
              checks the kernels on such weights)
     hadd8g   eight rows at a time, each row's block dot summed exactly by a vphaddd tree, then one conversion,
              multiply and FMA for the eight rows; the eight scales gathered (vgatherdps)
     hadd8t   hadd8g with the scales loaded from a column-major copy (K / 32, N)
   Prints nanoseconds per 32-weight row block (one row's share of one block), best of 7 passes, and each form's
   largest difference from q8_0.
     gcc -std=c99 -O2 -march=native -fopenmp -o build/w8a8 bench/w8a8.c -lm && ./build/w8a8 */
#define _POSIX_C_SOURCE 200809L
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"

#define NMAT 16     /* matrices cycled through for the L3 case */
#define MACS 4.0e8 /* multiply-adds a pass */

typedef void (*product_fn)(float *y, const float *x, const decar_qmat *w, const float *scale_t);

/* the library's products: W8A8 (decar_qlinear_forward) and the float32 matrix-vector product it replaces */
static void lib_q8(float *y, const float *x, const decar_qmat *w, const float *scale_t) {
    (void)scale_t;
    decar_qlinear_forward(y, x, w, NULL, 1);
}
static const float *g_wf[NMAT]; /* the float weights of each matrix, for lib_f32 */
static int g_cur;
static void lib_f32(float *y, const float *x, const decar_qmat *w, const float *scale_t) {
    (void)scale_t;
    decar_linear_forward(y, x, g_wf[g_cur], NULL, 1, w->cols, w->rows, NULL);
}

#if DECAR__W8A8_X86 && !DECAR__W8A8_VNNI
/* each form quantizes the input row as the library does (decar__q8_row: xq in [-127, 127], dx per block of 32); they
   take whole blocks, K % 32 == 0 and K <= 4096, and N % 8 == 0: main checks its shapes against that */
/* absx: y_n = sum_b dx_b dw_nb sum_i |x_i| (w_ni sgn x_i), four rows at a time, lanes as the library's kernel */
static void alt_absx(float *y, const float *x, const decar_qmat *w, const float *scale_t) {
    const int64_t N = w->rows, K = w->cols, nb = K / 32;
    int8_t xq[4096];
    float dx[128];
    int64_t n, b;
    (void)scale_t;
    decar__q8_row(xq, dx, x, K);
    for (n = 0; n < N; n += 4) {
        const int8_t *q = w->q8 + n * K;
        const float *s = w->scale + n * nb;
        __m256 a[4];
        int r;
        for (r = 0; r < 4; r++) a[r] = _mm256_setzero_ps();
        for (b = 0; b < nb; b++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(xq + b * 32));
            __m256i ax = _mm256_sign_epi8(xv, xv);
            __m256 dxb = _mm256_set1_ps(dx[b]);
            for (r = 0; r < 4; r++) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)(q + r * K + b * 32));
                __m256i d = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv, xv)), _mm256_set1_epi16(1));
                a[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(d), dxb), _mm256_set1_ps(s[r * nb + b]), a[r]);
            }
        }
        for (r = 0; r < 4; r++) y[n + r] = decar__hsum256(a[r]);
    }
}
/* rows4: the library's kernel called directly (decar__w8a8_rows4): four rows at a time, each row's block lanes
   converted, scaled by dx_b and accumulated in 8 float lanes */
static void alt_rows4(float *y, const float *x, const decar_qmat *w, const float *scale_t) {
    const int64_t N = w->rows, K = w->cols;
    int8_t xq[4096];
    float dx[128];
    int64_t n;
    (void)scale_t;
    decar__q8_row(xq, dx, x, K);
    for (n = 0; n < N; n += 4) decar__w8a8_rows4(y + n, xq, dx, w, n, K / 32);
}
/* t[r] = sum_l d[r][l] for 8 rows' block lanes d[r] (int32, exact): decar__vsum8's transpose-and-add tree */
static __m256i isum8(const __m256i *d) {
    __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
    __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[4], d[5]), _mm256_hadd_epi32(d[6], d[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}
/* hadd8: eight rows at a time, each row's block dot summed exactly first (isum8), then one conversion, multiply and
   FMA for the eight rows and the block, acc_r += float(dot_rb) (dw_rb dx_b); the eight scales dw_rb gathered from
   the row-major scales (scale_t NULL: vgatherdps) or loaded from a column-major copy (K / 32, N) */
static void alt_hadd8(float *y, const float *x, const decar_qmat *w, const float *scale_t) {
    const int64_t N = w->rows, K = w->cols, nb = K / 32;
    const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)nb));
    int8_t xq[4096];
    float dx[128];
    int64_t n, b;
    int r;
    decar__q8_row(xq, dx, x, K);
    for (n = 0; n < N; n += 8) {
        const int8_t *q = w->q8 + n * K;
        __m256 acc = _mm256_setzero_ps();
        __m256i d[8];
        for (b = 0; b < nb; b++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(xq + b * 32));
            __m256 s8 = scale_t ? _mm256_loadu_ps(scale_t + b * N + n)
                                : _mm256_i32gather_ps(w->scale + n * nb + b, at, 4);
            __m256 sc = _mm256_mul_ps(s8, _mm256_set1_ps(dx[b]));
            for (r = 0; r < 8; r++)
                d[r] = decar__dot32_i8(xv, _mm256_loadu_si256((const __m256i *)(const void *)(q + r * K + b * 32)),
                                       _mm256_setzero_si256());
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum8(d)), sc, acc);
        }
        _mm256_storeu_ps(y + n, acc);
    }
}
static void alt_hadd8_gather(float *y, const float *x, const decar_qmat *w, const float *scale_t) {
    (void)scale_t;
    alt_hadd8(y, x, w, NULL);
}
#define HAVE_ALT 1
#else
#define HAVE_ALT 0
#endif

/* nanoseconds per 32-weight row block of product f on matrices w[0 .. nm) in turn, best of 7 passes */
static double time_product(product_fn f, const decar_qmat *w, float *const *scale_t, int nm, const float *x, float *y) {
    const int64_t N = w[0].rows, K = w[0].cols;
    const int iters = (int)(MACS / ((double)N * K));
    double best = 1e30;
    int rep, it;
    for (rep = 0; rep < 7; rep++) {
        double t = now();
        for (it = 0; it < iters; it++) {
            g_cur = it % nm;
            f(y, x, &w[g_cur], scale_t[g_cur]);
        }
        t = now() - t;
        if (t < best) best = t;
    }
    return best * 1e9 / ((double)iters * N * K / 32);
}

int main(void) {
    static const int shapes[4][2] = { { 768, 256 }, { 256, 256 }, { 1024, 256 }, { 256, 1024 } }; /* N, K: S's */
    static const char *names[4] = { "qkv 768x256", "attn proj 256x256", "fc 1024x256", "fc proj 256x1024" };
    int si, m;
    decar_rng r;
    decar_error e;
    decar_set_threads(1);
    decar_rng_seed(&r, 1);
    printf("W8A8 (Q8_0) and float32 matrix-vector products on one thread, config S's shapes; ns per 32-weight row "
           "block, best of 7 passes of %.0e multiply-adds\n", MACS);
    printf("%-18s %-7s %7s %7s %7s %7s %7s %7s   %s\n", "shape", "weights", "f32", "q8_0", "rows4", "absx", "hadd8g",
           "hadd8t", "(the last four's largest difference from q8_0)");
    for (si = 0; si < 4; si++) {
        const int64_t N = shapes[si][0], K = shapes[si][1];
        if (K % 32 || K > 4096 || N % 8) {
            fprintf(stderr, "shape %lld x %lld: the alternative forms take K %% 32 == 0, K <= 4096, N %% 8 == 0\n",
                    (long long)N, (long long)K);
            return 1;
        }
        decar_qmat w[NMAT];
        float *wf[NMAT], *st[NMAT], *x = (float *)malloc((size_t)K * sizeof(float));
        float *y0 = (float *)malloc((size_t)N * sizeof(float)), *y1 = (float *)malloc((size_t)N * sizeof(float));
        int64_t i, n, b;
        for (m = 0; m < NMAT; m++) {
            wf[m] = (float *)malloc((size_t)(N * K) * sizeof(float));
            st[m] = (float *)malloc((size_t)(N * K / 32) * sizeof(float));
            for (i = 0; i < N * K; i++) wf[m][i] = 0.02f * decar_rng_normal(&r);
            if (decar_qmat_make(&w[m], DECAR_Q8_0, wf[m], N, K, &e)) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            for (n = 0; n < N; n++) /* the scales column-major, (K / 32, N), for scale_t */
                for (b = 0; b < K / 32; b++) st[m][b * N + n] = w[m].scale[n * (K / 32) + b];
            g_wf[m] = wf[m];
        }
        for (i = 0; i < K; i++) x[i] = decar_rng_normal(&r);
        for (m = 1; m <= NMAT; m += NMAT - 1) { /* 1 matrix: in the core's caches; NMAT: from L3 */
            double tf = time_product(lib_f32, w, st, m, x, y0), tq = time_product(lib_q8, w, st, m, x, y0);
            double t[4] = { 0, 0, 0, 0 }, dmax[4] = { 0, 0, 0, 0 };
#if HAVE_ALT
            static const product_fn alts[4] = { alt_rows4, alt_absx, alt_hadd8_gather, alt_hadd8 };
            int a;
            for (a = 0; a < 4; a++) {
                t[a] = time_product(alts[a], w, st, m, x, y1);
                lib_q8(y0, x, &w[0], NULL);
                alts[a](y1, x, &w[0], st[0]);
                for (n = 0; n < N; n++) dmax[a] = fabs(y1[n] - y0[n]) > dmax[a] ? fabs(y1[n] - y0[n]) : dmax[a];
            }
#endif
            printf("%-18s %-7s %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f   %.1e %.1e %.1e %.1e\n", names[si],
                   m == 1 ? "cached" : "L3", tf, tq, t[0], t[1], t[2], t[3], dmax[0], dmax[1], dmax[2], dmax[3]);
        }
        for (m = 0; m < NMAT; m++) {
            decar_qmat_free(&w[m]);
            free(wf[m]);
            free(st[m]);
        }
        free(x);
        free(y0);
        free(y1);
    }
#if !HAVE_ALT
    printf("(this build has VNNI or no AVX2: the alternatives to the AVX2 kernel are not built)\n");
#endif
    return 0;
}
