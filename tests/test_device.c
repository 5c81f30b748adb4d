/* The device path (section 10c) against the tape path. Built by a C compiler, the device is DECAR_DEVICE_CPU_KERNELS:
   the CUDA kernels' bodies and their orchestration run as CPU loops, and each kernel is also checked on its own
   against the plain references. Built by nvcc with -DDECAR_USE_CUDA (scripts/gpu_check.sh), the same file checks the
   GPU against the CPU's tape path with the same tolerances. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

static float max_abs_diff(const float *a, const float *b, int64_t n) {
    float m = 0.0f;
    int64_t i;
    for (i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}
static float max_abs(const float *a, int64_t n) {
    float m = 0.0f;
    int64_t i;
    for (i = 0; i < n; i++) m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}
#if !DECAR__GPU
static void fill(float *x, int64_t n, uint64_t seed, float sd) {
    decar_rng r;
    int64_t i;
    decar_rng_seed(&r, seed);
    for (i = 0; i < n; i++) x[i] = sd * decar_rng_normal(&r);
}

/* each kernel body, run as a CPU loop, against the plain reference of the tape path's kernel */
static void test_kernel_bodies(void) {
    const int64_t N = 7, C = 37, V = 41;
    float *x = (float *)malloc(N * V * sizeof(float)), *y = (float *)malloc(N * V * sizeof(float));
    float *r = (float *)malloc(N * V * sizeof(float)), *w = (float *)malloc(C * sizeof(float));
    float *b = (float *)malloc(C * sizeof(float)), *dy = (float *)malloc(N * V * sizeof(float));
    float *b2 = (float *)malloc(N * C * sizeof(float));
    float st[2 * 7], st2[2 * 7], dw[37], db[37], dw2[37], db2[37], lse[7], nll[7], lse2[7], nll2[7];
    int32_t tg[7] = { 3, -1, 0, 38, 12, 5, 20 };
    int64_t i;
    fill(x, N * V, 1, 1.0f);
    fill(w, C, 2, 1.0f);
    fill(b, C, 3, 1.0f);
    fill(dy, N * V, 4, 1.0f);
    /* LayerNorm forward and backward */
    decar__k_layernorm(y, st, x, w, b, N, C);
    decar_layernorm_forward_ref(r, st2, x, w, b, N, C);
    CHECK(max_abs_diff(y, r, N * C) < 1e-5f && max_abs_diff(st, st2, 2 * N) < 1e-5f, "layernorm kernel");
    memset(y, 0, N * C * sizeof(float));
    memset(r, 0, N * C * sizeof(float));
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    memset(dw2, 0, sizeof dw2);
    memset(db2, 0, sizeof db2);
    decar__k_layernorm_back(y, dy, x, w, st, N, C);
    decar__k_dy_xhat(b2, dy, x, st, N, C); /* the weight gradient's terms, summed over rows here */
    for (i = 0; i < N * C; i++) {
        dw[i % C] += b2[i];
        db[i % C] += dy[i];
    }
    decar_layernorm_backward_ref(r, dw2, db2, dy, x, w, st, N, C);
    CHECK(max_abs_diff(y, r, N * C) < 1e-4f, "layernorm backward kernel: dx %g", max_abs_diff(y, r, N * C));
    CHECK(max_abs_diff(dw, dw2, C) < 1e-4f && max_abs_diff(db, db2, C) < 1e-4f, "layernorm backward kernel: dw, db");
    /* GELU forward and backward (tanhf here, a rational tanh on the host: within 1e-6) */
    decar__k_gelu(y, x, N * V);
    decar_gelu_forward_ref(r, x, N * V);
    CHECK(max_abs_diff(y, r, N * V) < 1e-5f, "gelu kernel %g", max_abs_diff(y, r, N * V));
    memset(r, 0, N * V * sizeof(float));
    decar__k_gelu_back(y, x, dy, N * V);
    decar_gelu_backward_ref(r, x, dy, N * V);
    CHECK(max_abs_diff(y, r, N * V) < 1e-5f, "gelu backward kernel %g", max_abs_diff(y, r, N * V));
    /* cross-entropy over the first 40 of 41 logits, forward and backward (mean over the counted targets) */
    decar__k_crossentropy(lse, nll, x, tg, N, V, 40);
    decar_crossentropy_forward_ref(lse2, nll2, x, tg, N, V, 40);
    CHECK(max_abs_diff(lse, lse2, N) < 1e-5f && max_abs_diff(nll, nll2, N) < 1e-5f, "cross-entropy kernel");
    memcpy(y, x, N * V * sizeof(float));
    memset(r, 0, N * V * sizeof(float));
    decar__k_crossentropy_back(y, lse, tg, NULL, 6.0f, N, V, 40);
    decar_crossentropy_backward_ref(r, x, lse2, tg, NULL, 1.0f, 6.0f, N, V, 40);
    CHECK(max_abs_diff(y, r, N * V) < 1e-6f, "cross-entropy backward kernel %g", max_abs_diff(y, r, N * V));
    /* causal softmax of attention rows (scale, mask) against the plain softmax of the visible prefix */
    {
        int64_t T = 6, rows = 2 * T, t;
        float P[2 * 6 * 6], S[2 * 6 * 6], ref[6], dP[2 * 6 * 6], dref[6];
        fill(S, rows * T, 5, 2.0f);
        memcpy(P, S, sizeof S);
        decar__k_attn_softmax(P, rows, T, 0.5f, 1);
        fill(dP, rows * T, 6, 1.0f);
        for (i = 0; i < rows; i++) {
            float sc[6], g[6];
            for (t = 0; t <= i % T; t++) sc[t] = 0.5f * S[i * T + t];
            decar_softmax_forward_ref(ref, sc, 1, i % T + 1);
            CHECK(max_abs_diff(P + i * T, ref, i % T + 1) < 1e-6f && max_abs(P + i * T + i % T + 1, T - i % T - 1) == 0,
                  "attention softmax row %d", (int)i);
            memset(dref, 0, sizeof dref);
            memcpy(g, dP + i * T, sizeof g);
            decar_softmax_backward_ref(dref, ref, g, 1, i % T + 1);
            for (t = 0; t <= i % T; t++) dref[t] *= 0.5f;
            memcpy(sc, dP + i * T, sizeof sc);
            decar__k_attn_softmax_back(sc, P + i * T, 1, T, 0.5f, 0); /* one row: its mask given by the zeros of P */
            CHECK(max_abs_diff(sc, dref, i % T + 1) < 1e-6f, "attention softmax backward row %d", (int)i);
        }
    }
    /* heads: to and from are inverses */
    {
        float qkv[2 * 5 * 18], hq[2 * 5 * 6], back[2 * 5 * 18];
        fill(qkv, 2 * 5 * 18, 7, 1.0f);
        memset(back, 0, sizeof back);
        for (i = 0; i < 3; i++) {
            decar__k_to_heads(hq, qkv, 2, 5, 2, 3, 18, i * 6);
            decar__k_from_heads(back, hq, 2, 5, 2, 3, 18, i * 6);
        }
        CHECK(max_abs_diff(back, qkv, 2 * 5 * 18) == 0.0f && hq[3] == qkv[18 + 12 + 0], "heads split and join");
    }
    free(x);
    free(y);
    free(r);
    free(w);
    free(b);
    free(b2);
    free(dy);
}
#endif

static void batch(int32_t *ids, int32_t *tg, int n, int vocab, int nc, int seed) {
    int i;
    for (i = 0; i < n; i++) {
        ids[i] = (i * 37 + seed * 11 + i * i) % vocab;
        tg[i] = (i * 53 + seed * 7) % nc;
    }
}

/* a model trained a few steps on the device against the same model on the host: losses, gradients of the first
   step, parameters after, the scores of a batch, and the checkpoint written from the device */
static void test_train(int dev, int causal) {
    decar_gpt_config c = decar_gpt_config_of(2, 3, 48, 24);
    decar_gpt h, d;
    decar_error e;
    decar_ctx *ch = decar_ctx_new(0), *cd = decar_ctx_new(0);
    decar_opt o = decar_opt_default();
    enum { B = 3, T = 19 };
    int32_t ids[B * T], tg[B * T];
    float w[B * T], nh[B * T], nd[B * T], *gd, *p0;
    int s, i, nc;
    float worst = 0.0f;
    void *buf;
    size_t len;
    c.causal = causal;
    nc = decar_gpt_classes(&c);
    o.warmup_steps = 2;
    o.total_steps = 5;
    CHECK(decar_gpt_init(&h, &c, 9, &e) == 0 && decar_gpt_init(&d, &c, 9, &e) == 0, "init");
    p0 = (float *)malloc(h.n_params * sizeof(float));
    memcpy(p0, h.params, h.n_params * sizeof(float));
    CHECK(decar_gpt_to_device(&d, dev, &e) == 0, "to device: %s", e.msg);
    CHECK(decar_gpt_device(&d) == dev, "the model says where it is");
    if (!d.dev) return;
    for (i = 0; i < B * T; i++) w[i] = 0.25f + (float)(i % 5);
    for (s = 0; s < 4; s++) {
        float lh, ld;
        batch(ids, tg, B * T, c.vocab_size, nc, s);
        if (s == 1) tg[5] = -1; /* an ignored position */
        lh = decar_gpt_train_step(&h, ch, &o, ids, tg, causal ? NULL : w, B, T);
        ld = decar_gpt_train_step(&d, cd, &o, ids, tg, causal ? NULL : w, B, T);
        CHECK(fabsf(lh - ld) < 2e-4f * (1.0f + fabsf(lh)), "%s step %d: loss host %.6f device %.6f",
              causal ? "AR" : "DFM", s, lh, ld);
        if (s == 0) { /* the first step's gradients (after clipping) */
            decar__dev *dv = (decar__dev *)d.dev;
            gd = (float *)malloc(h.n_params * sizeof(float));
            decar__dcopy(gd, dv->grads, (int64_t)h.n_params * 4, 0);
            worst = max_abs_diff(gd, h.grads, (int64_t)h.n_params);
            /* float sums in another order: within 1e-4 of the largest gradient */
            CHECK(worst < 1e-4f * max_abs(h.grads, (int64_t)h.n_params), "gradients: max diff %g, max %g", worst,
                  max_abs(h.grads, (int64_t)h.n_params));
            if (getenv("DECAR_TEST_VERBOSE"))
                printf("%s: gradient max diff %g (max %g)\n", causal ? "AR" : "DFM", worst,
                       max_abs(h.grads, (int64_t)h.n_params));
            free(gd);
        }
    }
    CHECK(d.step == h.step, "steps counted");
    /* AdamW turns a gradient's last bits into up to lr-sized steps where the gradient is ~0, so single parameters may
       differ by about the steps themselves; over all of them the difference is small against the movement:
       ||d - h|| < 25% of ||h - p0||. A device that never updates is at 100%, one with the wrong sign at 200%, one at
       half the learning rate at 50%; the CPU loops measure 0.001%, and 25% leaves room for a GPU's sums in another
       order flipping the sign of near-zero gradients' steps on a few percent of the parameters */
    CHECK(decar_gpt_sync(&d, &e) == 0, "sync");
    {
        double diff2 = 0, move2 = 0;
        for (i = 0; i < (int)h.n_params; i++) {
            diff2 += ((double)d.params[i] - h.params[i]) * ((double)d.params[i] - h.params[i]);
            move2 += ((double)h.params[i] - p0[i]) * ((double)h.params[i] - p0[i]);
        }
        worst = max_abs_diff(d.params, h.params, (int64_t)h.n_params);
        CHECK(move2 > 0 && sqrt(diff2) < 0.25 * sqrt(move2),
              "parameters after 4 steps: ||device - host|| = %.3g, %.2g%% of the host's movement %.3g (max diff %g, "
              "max movement %g)",
              sqrt(diff2), 100 * sqrt(diff2 / (move2 > 0 ? move2 : 1)), sqrt(move2), worst,
              max_abs_diff(h.params, p0, (int64_t)h.n_params));
        if (getenv("DECAR_TEST_VERBOSE"))
            printf("%s: ||d - h|| %.3g = %.3g%% of ||h - p0|| %.3g; max diff %g\n", causal ? "AR" : "DFM", sqrt(diff2),
                   100 * sqrt(diff2 / move2), sqrt(move2), worst);
    }
    free(p0);
    CHECK(max_abs_diff(d.m, h.m, (int64_t)h.n_params) < 1e-4f, "AdamW m");
    /* scores */
    batch(ids, tg, B * T, c.vocab_size, nc, 11);
    CHECK(decar_gpt_score(&h, ch, ids, tg, B, T, nh) == 0 && decar_gpt_score(&d, cd, ids, tg, B, T, nd) == 0, "score");
    CHECK(max_abs_diff(nh, nd, B * T) < 2e-3f, "scores: max diff %g", max_abs_diff(nh, nd, B * T));
    /* the checkpoint of a model on the device is its device state */
    decar_gpt_train_step(&d, cd, &o, ids, tg, causal ? NULL : w, B, T);
    CHECK(decar_gpt_save_mem(&d, 1, NULL, &buf, &len, &e) == 0, "save from the device: %s", e.msg);
    {
        decar_gpt r;
        decar__dev *dv = (decar__dev *)d.dev;
        float *pd = (float *)malloc(h.n_params * sizeof(float));
        decar__dcopy(pd, dv->params, (int64_t)h.n_params * 4, 0);
        CHECK(decar_gpt_load_mem(&r, buf, len, &e) == 0, "reload");
        CHECK(max_abs_diff(r.params, pd, (int64_t)h.n_params) == 0.0f, "the saved weights are the device's");
        decar_gpt_free(&r);
        free(pd);
        DECAR_FREE(buf);
    }
    /* back to the CPU: the host copy is current and training goes on there */
    CHECK(decar_gpt_to_device(&d, DECAR_DEVICE_CPU, &e) == 0 && d.dev == NULL, "back to the cpu");
    s = (int)d.step;
    CHECK(isfinite(decar_gpt_train_step(&d, cd, &o, ids, tg, causal ? NULL : w, B, T)) && d.step == s + 1,
          "training goes on on the cpu");
    decar_gpt_free(&h);
    decar_gpt_free(&d);
    decar_ctx_free(ch);
    decar_ctx_free(cd);
}

/* KV-cache steps of three sequences at different positions, on the device and on the host */
static void test_kv(int dev) {
    decar_gpt_config c = decar_gpt_config_of(2, 2, 40, 16);
    decar_gpt h, d;
    decar_error e;
    float *kh[3], *kd[3], *sc, lh[3 * 258], ld[3 * 258], emb[3 * 40];
    int j, p, pos[3];
    float worst = 0.0f;
    OK(decar_gpt_init(&h, &c, 4, &e));
    OK(decar_gpt_init(&d, &c, 4, &e));
    CHECK(decar_gpt_to_device(&d, dev, &e) == 0, "to device");
    sc = (float *)malloc(decar_gpt_step_batch_scratch(&c, 3) * sizeof(float));
    for (j = 0; j < 3; j++) {
        kh[j] = decar_gpt_kv_new(&h, &e);
        kd[j] = decar_gpt_kv_new(&d, &e);
    }
    for (p = 0; p < 12; p++) {
        for (j = 0; j < 3; j++) {
            int tok = (p * 31 + j * 17) % 256;
            pos[j] = p + j < 16 ? p + j : 15;
            memcpy(emb + j * 40, h.params + h.info[0].offset + (int64_t)tok * 40, 40 * sizeof(float));
        }
        if (p == 0) /* the first positions of sequences 1 and 2 */
            for (j = 1; j < 3; j++) {
                int q, pp[1];
                for (q = 0; q < j; q++) {
                    pp[0] = q;
                    OK(decar_gpt_step_batch(&h, &kh[j], emb, pp, 1, lh, sc, &e));
                    OK(decar_gpt_step_batch(&d, &kd[j], emb, pp, 1, ld, sc, &e));
                }
            }
        CHECK(decar_gpt_step_batch(&h, kh, emb, pos, 3, lh, sc, &e) == 0, "host step");
        CHECK(decar_gpt_step_batch(&d, kd, emb, pos, 3, ld, sc, &e) == 0, "device step: %s", e.msg);
        if (max_abs_diff(lh, ld, 3 * 258) > worst) worst = max_abs_diff(lh, ld, 3 * 258);
    }
    CHECK(worst < 1e-4f, "KV-cache steps: logits max diff %g", worst);
    pos[0] = 16;
    CHECK(decar_gpt_step_batch(&d, kd, emb, pos, 1, ld, sc, &e) != 0 && strstr(e.msg, "position"),
          "a position past the context is refused on the device too");
    for (j = 0; j < 3; j++) {
        decar_gpt_kv_free(&h, kh[j]);
        decar_gpt_kv_free(&d, kd[j]);
    }
    free(sc);
    decar_gpt_free(&h);
    decar_gpt_free(&d);
}

/* what the device path refuses, with a message and a status */
static void test_refusals(int dev) {
    decar_gpt_config c = decar_gpt_config_of(1, 2, 16, 8);
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt o = decar_opt_default();
    int32_t ids[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, tg[8] = { 2, 3, 4, 5, 6, 7, 8, 9 };
    float w[8] = { 1, 1, 1, NAN, 1, 1, 1, 1 }, pre[4] = { 0 };
    int k;
    CHECK(decar_device_parse("cuda", &k, &e) == 0 && k == DECAR_DEVICE_CUDA, "parse cuda");
    CHECK(decar_device_parse("gpu", &k, &e) != 0 && strstr(e.msg, "cpu-kernels"), "unknown device named");
#if !DECAR__GPU
    CHECK(decar_device_available(DECAR_DEVICE_CUDA, &e) != 0 && strstr(e.msg, "nvcc"), "no CUDA in a C build");
#endif
    OK(decar_gpt_init(&g, &c, 1, &e));
    CHECK(decar_gpt_to_device(&g, dev, &e) == 0, "to device");
    ids[2] = 999;
    CHECK(isnan(decar_gpt_train_step(&g, ctx, &o, ids, tg, NULL, 1, 8)) && strstr(decar_ctx_error(ctx), "vocabulary"),
          "a token outside the vocabulary");
    ids[2] = 3;
    CHECK(isnan(decar_gpt_train_step(&g, ctx, &o, ids, tg, w, 1, 8)) && strstr(decar_ctx_error(ctx), "finite"),
          "a NaN weight");
    CHECK(isnan(decar_gpt_train_step_prefix(&g, ctx, &o, pre, ids, tg, NULL, 1, 8)) &&
              strstr(decar_ctx_error(ctx), "prefix"),
          "an image prefix is not trained on the device");
    CHECK(decar_gpt_quantize(&g, DECAR_Q8_0, &e) != 0 && strstr(e.msg, "CPU"), "quantize on the CPU");
    CHECK(g.step == 0, "refused steps take no step");
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
}

int main(void) {
    decar_error e;
    int dev = DECAR__GPU ? DECAR_DEVICE_CUDA : DECAR_DEVICE_CPU_KERNELS;
    if (decar_device_available(dev, &e)) { /* the CUDA build on a machine without a GPU: it compiled and linked */
        printf("SKIP test_device: %s\n", e.msg);
        return 0;
    }
    printf("device: %s\n", decar_device_name(dev));
#if !DECAR__GPU
    test_kernel_bodies();
#endif
    test_train(dev, 1);
    test_train(dev, 0);
    test_kv(dev);
    test_refusals(dev);
    TEST_END("test_device");
}
