/* Every fast kernel against its plain reference (decar_*_ref), forward and backward, on sizes that are not multiples
   of the vector width or the GEMM's blocks (odd rows, odd columns, T across attention's row blocks), causal and not.
   Tolerances are relative to the largest reference value: the fast paths reorder float sums (vectors, blocks), the
   references sum in double. The backward kernels accumulate: both start from the same non-zero gradient. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

static decar_rng g_rng;
static decar_ws *g_ws; /* the GEMM's workspace, shared by every call as a context's is */
static float *randn(int64_t n, float sd) {
    float *x = (float *)malloc((size_t)n * sizeof(float) + 4);
    int64_t i;
    for (i = 0; i < n; i++) x[i] = sd * decar_rng_normal(&g_rng);
    return x;
}
static float *copy(const float *x, int64_t n) {
    float *y = (float *)malloc((size_t)n * sizeof(float) + 4);
    memcpy(y, x, (size_t)n * sizeof(float));
    return y;
}
/* max |a - b| / max(max |b|, 1e-3) */
static double rel(const float *a, const float *b, int64_t n) {
    double d = 0, m = 1e-3;
    int64_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        d = e > d ? e : d;
        m = fabs((double)b[i]) > m ? fabs((double)b[i]) : m;
    }
    return d / m;
}

static void test_matmul(int64_t M, int64_t K, int64_t N) {
    float *x = randn(M * K, 1), *w = randn(N * K, 0.3f), *b = randn(N, 1), *dout = randn(M * N, 1);
    float *o1 = randn(M * N, 1), *o2 = randn(M * N, 1);
    float *dx1 = randn(M * K, 1), *dw1 = randn(N * K, 1), *db1 = randn(N, 1);
    float *dx2 = copy(dx1, M * K), *dw2 = copy(dw1, N * K), *db2 = copy(db1, N);
    decar_linear_forward(o1, x, w, b, M, K, N, NULL);
    decar_linear_forward(o2, x, w, b, M, K, N, g_ws);
    CHECK(!memcmp(o1, o2, (size_t)(M * N) * sizeof(float)), "matmul %lldx%lldx%lld: a workspace gives the same bits",
          (long long)M, (long long)K, (long long)N);
    decar_matmul_forward_ref(o2, x, w, b, M, K, N);
    CHECK(rel(o1, o2, M * N) < 1e-5, "matmul forward %lldx%lldx%lld: %.2g", (long long)M, (long long)K, (long long)N,
          rel(o1, o2, M * N));
    decar_matmul_backward(dx1, dw1, db1, dout, x, w, M, K, N, 1, g_ws);
    decar_matmul_backward_ref(dx2, dw2, db2, dout, x, w, M, K, N);
    CHECK(rel(dx1, dx2, M * K) < 1e-5 && rel(dw1, dw2, N * K) < 1e-5 && rel(db1, db2, N) < 1e-5,
          "matmul backward %lldx%lldx%lld: dx %.2g dw %.2g db %.2g", (long long)M, (long long)K, (long long)N,
          rel(dx1, dx2, M * K), rel(dw1, dw2, N * K), rel(db1, db2, N));
    free(x), free(w), free(b), free(dout), free(o1), free(o2), free(dx1), free(dw1), free(db1), free(dx2), free(dw2);
    free(db2);
}

/* quantized weights: the rounding is within half a step (Q8_0: scale / 2; bf16: 2^-9 relative), the kernel matches
   its reference, and the reference matches the float product over the dequantized weights (bf16: the same weights;
   Q8_0 is W8A8, so within the bound of the inputs' rounding) */
static void test_qlinear(int type, int64_t M, int64_t K, int64_t N) {
    float *x = randn(M * K, 1), *w = randn(N * K, 0.3f), *b = randn(N, 1), *w0, *o1 = randn(M * N, 1);
    float *o2 = randn(M * N, 1), *o3 = randn(M * N, 1);
    int64_t nb = (K + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK, i, bad = 0;
    decar_qmat q;
    decar_error e;
    for (i = 0; i < K && N > 1; i++) w[N * K - 1 - i] = 0.0f; /* a zero row: scale 0 */
    w0 = copy(w, N * K);
    CHECK(decar_qmat_make(&q, type, w, N, K, &e) == DECAR_OK, "qmat_make %s", decar_qtype_name(type));
    for (i = 0; i < N * K; i++) {
        double step = type == DECAR_Q8_0 ? q.scale[(i / K) * nb + (i % K) / DECAR_Q8_BLOCK] : fabs(w0[i]) / 128.0;
        bad += fabs((double)w[i] - w0[i]) > 0.5 * step * (1 + 1e-6) + 1e-30;
    }
    CHECK(!bad, "%s %lldx%lld: %lld weights off by more than half a step", decar_qtype_name(type), (long long)N,
          (long long)K, (long long)bad);
    decar_qlinear_forward(o1, x, &q, b, M);
    decar_qlinear_forward_ref(o2, x, &q, b, M);
    decar_matmul_forward_ref(o3, x, w, b, M, K, N);
    CHECK(rel(o1, o2, M * N) < 1e-5, "qlinear %s %lldx%lldx%lld: kernel %.2g", decar_qtype_name(type), (long long)M,
          (long long)K, (long long)N, rel(o1, o2, M * N));
    if (type == DECAR_QBF16)
        CHECK(rel(o2, o3, M * N) < 1e-6, "qlinear bf16: the float product over the same weights %.2g",
              rel(o2, o3, M * N));
    else { /* W8A8: the inputs are rounded too, by at most half their block's step: |error| <= sum_k dx_b/2 |w_k| */
        int64_t m, n, k, over = 0;
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) {
                double bound = 1e-5 * (1.0 + fabs(o3[m * N + n]));
                for (k = 0; k < K; k += DECAR_Q8_BLOCK) {
                    int64_t len = K - k < DECAR_Q8_BLOCK ? K - k : DECAR_Q8_BLOCK, i;
                    double amax = 0.0, sw = 0.0;
                    for (i = 0; i < len; i++) amax = fabs(x[m * K + k + i]) > amax ? fabs(x[m * K + k + i]) : amax;
                    for (i = 0; i < len; i++) sw += fabs(w[n * K + k + i]);
                    bound += 0.5 * amax / 127.0 * sw;
                }
                over += fabs((double)o2[m * N + n] - o3[m * N + n]) > bound;
            }
        CHECK(!over, "qlinear q8_0 %lldx%lldx%lld: %lld outputs beyond the inputs' rounding bound", (long long)M,
              (long long)K, (long long)N, (long long)over);
        /* the same bits whatever the span of rows a call takes: 32 rows on one thread, 8 where 8 threads would get
           fewer than two spans of 32 (above 64K multiply-adds, where threads run) */
        {
            int th = decar_get_threads();
            decar_set_threads(1);
            decar_qlinear_forward(o1, x, &q, b, M);
            decar_set_threads(8);
            decar_qlinear_forward(o3, x, &q, b, M);
            decar_set_threads(th);
            CHECK(!memcmp(o1, o3, (size_t)(M * N) * sizeof(float)),
                  "qlinear q8_0 %lldx%lldx%lld: 1 and 8 threads differ", (long long)M, (long long)K, (long long)N);
        }
        /* a stored weight of -128 (decar_qmat_make never writes one and the checkpoint reader refuses it, but a
           decar_qmat a caller fills may hold one): the kernels read it as -128 as the reference does (|w| as an
           unsigned byte: x sign(w, x) would wrap it to -128 for x < 0) */
        for (i = 0; i < N * K; i += 3) q.q8[i] = -128;
        decar_qlinear_forward(o1, x, &q, b, M);
        decar_qlinear_forward_ref(o2, x, &q, b, M);
        CHECK(rel(o1, o2, M * N) < 1e-5, "qlinear q8_0 %lldx%lldx%lld with weights of -128: kernel %.2g",
              (long long)M, (long long)K, (long long)N, rel(o1, o2, M * N));
    }
    decar_qmat_free(&q);
    free(x), free(w), free(b), free(w0), free(o1), free(o2), free(o3);
}

/* one block's quantization: the vector form (decar__q8_block) gives the reference's bytes and scale exactly, on random
   blocks of many scales, on ties (amax = 127: d = 1, so k + 1/2 must round away from zero), and on zeros, denormals,
   infinities and NaN */
static void test_q8_block(void) {
    float v[DECAR_Q8_BLOCK];
    int8_t q1[DECAR_Q8_BLOCK], q2[DECAR_Q8_BLOCK];
    int t, i, bad = 0;
    for (t = 0; t < 4000; t++) {
        float sc = (float)pow(10.0, (t % 41) - 20);
        for (i = 0; i < DECAR_Q8_BLOCK; i++) v[i] = sc * decar_rng_normal(&g_rng);
        if (t % 5 == 1) /* ties */
            for (i = 0; i < DECAR_Q8_BLOCK; i++)
                v[i] = i == 0 ? 127.0f : (float)((int)(decar_rng_u32(&g_rng) % 253) - 126) + 0.5f;
        if (t % 5 == 2) v[t % DECAR_Q8_BLOCK] = (t / 5) % 3 == 0 ? NAN : (t / 5) % 3 == 1 ? INFINITY : -INFINITY;
        if (t % 5 == 3)
            for (i = 0; i < DECAR_Q8_BLOCK; i++) v[i] = i % 3 ? 0.0f : 1e-40f * (float)(i - 16);
        if (t == 4) memset(v, 0, sizeof v);
        bad += decar__q8_block(q1, v, DECAR_Q8_BLOCK) != decar__q8_block_ref(q2, v, DECAR_Q8_BLOCK);
        bad += memcmp(q1, q2, sizeof q1) != 0;
    }
    CHECK(!bad, "q8_0 block quantization: %d blocks differ from the reference", bad);
}

static void test_rows(int64_t rows, int64_t C) {
    int64_t n = rows * C;
    float *x = randn(n, 2), *w = randn(C, 1), *b = randn(C, 1), *dout = randn(n, 1);
    float *o1 = randn(n, 1), *o2 = randn(n, 1), *st1 = randn(2 * rows, 1), *st2 = randn(2 * rows, 1);
    float *dx1 = randn(n, 1), *dw1 = randn(C, 1), *db1 = randn(C, 1);
    float *dx2 = copy(dx1, n), *dw2 = copy(dw1, C), *db2 = copy(db1, C);
    /* LayerNorm */
    decar_layernorm_forward(o1, st1, x, w, b, rows, C);
    decar_layernorm_forward_ref(o2, st2, x, w, b, rows, C);
    CHECK(rel(o1, o2, n) < 1e-5 && rel(st1, st2, 2 * rows) < 1e-5, "layernorm forward %lldx%lld: %.2g", (long long)rows,
          (long long)C, rel(o1, o2, n));
    decar_layernorm_backward(dx1, dw1, db1, dout, x, w, st1, rows, C);
    decar_layernorm_backward_ref(dx2, dw2, db2, dout, x, w, st1, rows, C);
    CHECK(rel(dx1, dx2, n) < 1e-5 && rel(dw1, dw2, C) < 1e-5 && rel(db1, db2, C) < 1e-5,
          "layernorm backward %lldx%lld: dx %.2g dw %.2g db %.2g", (long long)rows, (long long)C, rel(dx1, dx2, n),
          rel(dw1, dw2, C), rel(db1, db2, C));
    /* GELU */
    decar_gelu_forward(o1, x, n);
    decar_gelu_forward_ref(o2, x, n);
    CHECK(rel(o1, o2, n) < 1e-5, "gelu forward %lld: %.2g", (long long)n, rel(o1, o2, n));
    memcpy(dx2, dx1, (size_t)n * sizeof(float));
    decar_gelu_backward(dx1, x, dout, n);
    decar_gelu_backward_ref(dx2, x, dout, n);
    CHECK(rel(dx1, dx2, n) < 1e-5, "gelu backward %lld: %.2g", (long long)n, rel(dx1, dx2, n));
    /* softmax */
    decar_softmax_forward(o1, x, rows, C);
    decar_softmax_forward_ref(o2, x, rows, C);
    CHECK(rel(o1, o2, n) < 1e-5, "softmax forward %lldx%lld: %.2g", (long long)rows, (long long)C, rel(o1, o2, n));
    memcpy(dx2, dx1, (size_t)n * sizeof(float));
    decar_softmax_backward(dx1, o2, dout, rows, C);
    decar_softmax_backward_ref(dx2, o2, dout, rows, C);
    CHECK(rel(dx1, dx2, n) < 1e-5, "softmax backward %lldx%lld: %.2g", (long long)rows, (long long)C, rel(dx1, dx2, n));
    free(x), free(w), free(b), free(dout), free(o1), free(o2), free(st1), free(st2), free(dx1), free(dw1), free(db1);
    free(dx2), free(dw2), free(db2);
}

static void test_attention(int64_t B, int64_t T, int64_t C, int NH, int causal) {
    int64_t n3 = B * T * 3 * C, n = B * T * C, na = B * NH * T * T;
    float *qkv = randn(n3, 1), *dout = randn(n, 1), *o1 = randn(n, 1), *o2 = randn(n, 1);
    float *a1 = randn(na, 1), *a2 = randn(na, 1), *scratch = randn(na, 1);
    float *d1 = randn(n3, 1), *d2 = copy(d1, n3);
    decar_attention_forward(o1, a1, qkv, B, T, C, NH, causal, g_ws);
    decar_attention_forward_ref(o2, a2, qkv, B, T, C, NH, causal);
    CHECK(rel(o1, o2, n) < 1e-5 && rel(a1, a2, na) < 1e-5, "attention forward B%lld T%lld C%lld H%d causal %d: %.2g",
          (long long)B, (long long)T, (long long)C, NH, causal, rel(o1, o2, n));
    decar_attention_backward(d1, scratch, dout, qkv, a2, B, T, C, NH, causal, g_ws);
    decar_attention_backward_ref(d2, dout, qkv, a2, B, T, C, NH, causal);
    CHECK(rel(d1, d2, n3) < 1e-5, "attention backward B%lld T%lld C%lld H%d causal %d: %.2g", (long long)B,
          (long long)T, (long long)C, NH, causal, rel(d1, d2, n3));
    free(qkv), free(dout), free(o1), free(o2), free(a1), free(a2), free(scratch), free(d1), free(d2);
}

static void test_ce(int64_t rows, int64_t V, int nc) {
    float *l = randn(rows * V, 3), *w = randn(rows, 1), *lse1 = randn(rows, 1), *lse2 = randn(rows, 1);
    float *nll1 = randn(rows, 1), *nll2 = randn(rows, 1), *d1 = randn(rows * V, 1), *d2 = copy(d1, rows * V);
    int32_t *tg = (int32_t *)malloc((size_t)rows * sizeof(int32_t));
    int64_t r;
    for (r = 0; r < rows; r++) tg[r] = r % 5 == 3 ? -1 : (int32_t)(decar_rng_u32(&g_rng) % (uint32_t)nc);
    decar_crossentropy_forward(lse1, nll1, l, tg, rows, V, nc);
    decar_crossentropy_forward_ref(lse2, nll2, l, tg, rows, V, nc);
    CHECK(rel(lse1, lse2, rows) < 1e-6 && rel(nll1, nll2, rows) < 1e-5, "cross-entropy forward %lldx%lld (%d classes)",
          (long long)rows, (long long)V, nc);
    decar_crossentropy_backward(d1, l, lse2, tg, w, 0.7f, 3.0f, rows, V, nc);
    decar_crossentropy_backward_ref(d2, l, lse2, tg, w, 0.7f, 3.0f, rows, V, nc);
    CHECK(rel(d1, d2, rows * V) < 1e-5, "cross-entropy backward %lldx%lld (%d classes): %.2g", (long long)rows,
          (long long)V, nc, rel(d1, d2, rows * V));
    free(l), free(w), free(lse1), free(lse2), free(nll1), free(nll2), free(d1), free(d2), free(tg);
}

static void test_embedding(int64_t V, int64_t n, int64_t C) {
    float *table = randn(V * C, 1), *dout = randn(n * C, 1), *o = randn(n * C, 1), *dt = randn(V * C, 1);
    float *want = copy(dt, V * C);
    int32_t *ids = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    int64_t i, j, ok = 1;
    for (i = 0; i < n; i++) ids[i] = (int32_t)(decar_rng_u32(&g_rng) % (uint32_t)V); /* repeats included */
    decar_embedding_forward(o, table, ids, n, C);
    for (i = 0; i < n; i++)
        for (j = 0; j < C; j++) ok &= o[i * C + j] == table[ids[i] * C + j];
    decar_embedding_backward(dt, dout, ids, n, C);
    for (i = 0; i < n; i++)
        for (j = 0; j < C; j++) want[ids[i] * C + j] += dout[i * C + j];
    CHECK(ok && rel(dt, want, V * C) < 1e-6, "embedding %lld ids of %lld rows, C %lld", (long long)n, (long long)V,
          (long long)C);
    free(table), free(dout), free(o), free(dt), free(want), free(ids);
}

/* decar_set_precision(DECAR_BF16): C (+)= bf16(A) bf16(B) + bias against a double-precision sum over the same rounded
   operands (bf16 x bf16 products are exact in float32: only the float32 sums differ), in every layout the library
   uses (A or B transposed), with bias and accumulation; the bits do not depend on the thread count; a NaN operand
   gives NaN. On the AMX path this is the tile kernel; built without AMX (DECAR_NO_SIMD, other CPUs), the emulated
   path */
static float bf16_round(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    b += 0x7FFFu + ((b >> 16) & 1u);
    b &= 0xFFFF0000u;
    memcpy(&x, &b, 4);
    return x;
}
static void test_gemm_bf16(int64_t M, int64_t N, int64_t K) {
    int lay;
    for (lay = 0; lay < 4; lay++) {
        int ta = lay & 1, tb = lay >> 1, acc = (int)((M + lay) & 1);
        int64_t sai = ta ? 1 : K, sak = ta ? M : 1, sbk = tb ? 1 : N, sbn = tb ? K : 1, i, j, k;
        float *A = randn(M * K, 1), *B = randn(K * N, 1), *bias = randn(N, 1), *C0 = randn(M * N, 1);
        float *C1 = copy(C0, M * N), *C2 = copy(C0, M * N);
        double worst = 0;
        decar_set_threads(2);
        decar_gemm_ws(g_ws, C1, N, A, sai, sak, B, sbk, sbn, bias, M, N, K, acc);
        decar_set_threads(1);
        decar_gemm_ws(g_ws, C2, N, A, sai, sak, B, sbk, sbn, bias, M, N, K, acc);
        decar_set_threads(2);
        CHECK(!memcmp(C1, C2, (size_t)(M * N) * sizeof(float)), "bf16 gemm %lldx%lldx%lld layout %d: 1 and 2 threads "
              "give the same bits", (long long)M, (long long)N, (long long)K, lay);
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) {
                double sum = 0, mag = 1;
                for (k = 0; k < K; k++) {
                    double pr = (double)bf16_round(A[i * sai + k * sak]) * bf16_round(B[k * sbk + j * sbn]);
                    sum += pr;
                    mag += fabs(pr);
                }
                sum += (acc ? C0[i * N + j] : 0) + bias[j];
                worst = fabs(C1[i * N + j] - sum) / mag > worst ? fabs(C1[i * N + j] - sum) / mag : worst;
            }
        CHECK(worst < 1e-5, "bf16 gemm %lldx%lldx%lld layout %d (A^T %d, B^T %d): %.2g of the products' magnitude",
              (long long)M, (long long)N, (long long)K, lay, ta, tb, worst);
        A[0] = NAN;
        decar_gemm_ws(g_ws, C1, N, A, sai, sak, B, sbk, sbn, NULL, M, N, K, 0);
        CHECK(isnan(C1[0]), "bf16 gemm: a NaN operand gives NaN (got %g)", C1[0]);
        free(A);
        free(B);
        free(bias);
        free(C0);
        free(C1);
        free(C2);
    }
}

/* the emulated bf16 path's rounding in vectors (decar__round_bf16_span) against the scalar rule, bit for bit: ties to
   even both ways, the largest finite values (rounding to infinity), infinities, zeros, subnormals, NaNs of either sign
   and payload (quiet, the payload's top bits kept), then random bit patterns; lengths with a tail past the vector */
static void test_round_bf16(void) {
    static const uint32_t special[] = { 0x00000000u, 0x80000000u, 0x3F808000u, 0x3F818000u, 0x3F807FFFu, 0x3F808001u,
                                        0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F7F8000u, 0x7F800000u, 0xFF800000u, 0x7F800001u,
                                        0xFF800001u, 0x7FC00000u, 0xFFFFFFFFu, 0x7FBFFFFFu, 0x00000001u, 0x807FFFFFu,
                                        0x00008000u, 0x00018000u, 0x477FF000u };
    int64_t n, i, bad;
    for (n = 1; n <= 203; n += 101) {
        uint32_t *in = (uint32_t *)malloc((size_t)n * 4), *out = (uint32_t *)malloc((size_t)n * 4);
        for (i = 0; i < n; i++)
            in[i] = i < (int64_t)(sizeof special / 4) ? special[i] : decar_rng_u32(&g_rng);
        decar__round_bf16_span((float *)(void *)out, (const float *)(const void *)in, n);
        for (i = 0, bad = 0; i < n; i++) {
            float f, want;
            uint32_t w;
            memcpy(&f, &in[i], 4);
            want = decar__bf16_to_f32(decar__f32_to_bf16(f));
            memcpy(&w, &want, 4);
            bad += out[i] != w;
        }
        CHECK(bad == 0, "bf16 rounding in vectors, n = %lld: %lld values differ from the scalar rule", (long long)n,
              (long long)bad);
        free(in);
        free(out);
    }
}

/* the KV-cache step's attention kernels against the calls they replace, bit for bit (decar__dot per key row; zeroing
   the output and decar__axpy per value row), with tails past the vector width and past eight rows; then the whole
   step of a float model against its full forward pass (head size 20, 70 positions: past one tile of 64) */
static void test_kv_step(void) {
    static const int64_t ns[] = { 1, 20, 37, 64, 100, 140 }; /* 140 = two blocks of four AVX-512 vectors + 12 */
    int64_t i, n, nr, r, t;
    for (i = 0; i < 6; i++)
        for (nr = 1, n = ns[i]; nr <= 19; nr += 9) {
            float *a = randn(n, 1), *b = randn(nr * n, 1), *o1 = randn(n, 1), *o2 = randn(n, 1), *w = randn(nr, 1);
            float *s1 = randn(nr, 1), *s2 = randn(nr, 1);
            decar__dot_rows(s1, a, b, nr, n);
            for (r = 0; r < nr; r++) s2[r] = decar__dot(a, b + r * n, n);
            memset(o1, 0, (size_t)n * sizeof(float));
            decar__attn_mix(o1, w, b, nr, n, n);
            memset(o2, 0, (size_t)n * sizeof(float));
            for (t = 0; t < nr; t++) decar__axpy(o2, w[t], b + t * n, n);
            CHECK(!memcmp(s1, s2, (size_t)nr * sizeof(float)), "dot_rows = dot per row, bitwise (n %lld, %lld rows)",
                  (long long)n, (long long)nr);
            CHECK(!memcmp(o1, o2, (size_t)n * sizeof(float)), "attn_mix = axpy per row, bitwise (n %lld, %lld rows)",
                  (long long)n, (long long)nr);
            free(a), free(b), free(o1), free(o2), free(w), free(s1), free(s2);
        }
    {
        decar_gpt_config c = decar_gpt_config_of(2, 2, 40, 70);
        decar_gpt g;
        decar_error e;
        decar_ctx *ctx = decar_ctx_new(0);
        int32_t ids[70];
        int p;
        float *kv, *sc, *lg, *ls;
        decar_tensor *full;
        c.vocab_size = 50;
        CHECK(decar_gpt_init(&g, &c, 3, &e) == 0, "init: %s", e.msg);
        for (p = 0; p < 70; p++) ids[p] = (int32_t)((p * 13 + 5) % 50);
        full = decar_gpt_forward(ctx, &g, ids, 1, 70);
        kv = (float *)malloc(decar_gpt_kv_size(&c) * sizeof(float));
        sc = (float *)malloc(decar_gpt_step_scratch(&c) * sizeof(float));
        lg = (float *)malloc(70 * 50 * sizeof(float));
        for (p = 0; p < 70; p++) decar_gpt_step(&g, kv, ids[p], p, lg + p * 50, sc, NULL);
        ls = full ? full->data : lg;
        CHECK(full && rel(lg, ls, 70 * 50) < 1e-5, "KV-cache steps = the full forward, 70 positions: %.2g",
              rel(lg, ls, 70 * 50));
        free(kv), free(sc), free(lg);
        decar_ctx_free(ctx);
        decar_gpt_free(&g);
    }
}

int main(void) {
    decar_rng_seed(&g_rng, 42);
    decar_set_threads(2);
    g_ws = decar_ws_new();
    test_matmul(1, 1, 1);
    test_matmul(7, 13, 5);
    test_matmul(37, 65, 51);
    test_matmul(130, 97, 259);
    test_matmul(40, 300, 130); /* K N >= 32768: the weight's panels packed by 2 threads (NR = 2 without SIMD) */
    {
        decar_rng keep = g_rng; /* the bf16 checks draw their own numbers: the later tests keep their inputs */
        printf("  bf16 products: the %s path\n", decar_set_precision(DECAR_BF16));
        test_gemm_bf16(1, 1, 1);
        test_gemm_bf16(5, 7, 3);
        test_gemm_bf16(33, 17, 45);
        test_gemm_bf16(64, 96, 64);
        test_gemm_bf16(70, 130, 257);
        test_round_bf16();
        decar_set_precision(DECAR_FP32);
        g_rng = keep;
    }
    {
        int ty;
        for (ty = DECAR_Q8_0; ty <= DECAR_QBF16; ty++) {
            test_qlinear(ty, 1, 1, 1);
            test_qlinear(ty, 1, 37, 13);
            test_qlinear(ty, 3, 64, 8);
            test_qlinear(ty, 5, 100, 21);
            test_qlinear(ty, 33, 70, 9);
            test_qlinear(ty, 1, 416, 11);  /* 13 whole blocks: pairs, then one */
            test_qlinear(ty, 2, 1000, 37); /* 31 whole blocks and a partial one */
            test_qlinear(ty, 1, 1536, 9);
            test_qlinear(ty, 2, 300, 133); /* Q8_0 spans of 32 or 8 rows, 5 rows and a partial block left */
        }
    }
    test_q8_block();
    test_rows(1, 1);
    test_rows(3, 7);
    test_rows(17, 65);
    test_rows(33, 259);
    test_attention(1, 1, 4, 1, 1);
    test_attention(2, 7, 12, 3, 1);
    test_attention(2, 7, 12, 3, 0);
    test_attention(1, 53, 16, 2, 1); /* across the causal row blocks of 48 */
    test_attention(2, 50, 24, 4, 0);
    test_ce(5, 7, 7);
    test_ce(19, 300, 299);
    test_ce(4, 1000, 600);
    test_embedding(5, 40, 3);
    test_embedding(100, 33, 130);
    test_kv_step();
    decar_ws_free(g_ws);
    printf("  %d kernels x sizes against their references (%s)\n", g_checks, decar_simd_name());
    TEST_END("test_kernels");
}
