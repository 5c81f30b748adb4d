/* The device path's throughput: training tokens/s and achieved TFLOP/s for configs S, M and L (GPT-2 small's shape:
   12 layers, d_model 768, context 1024), scoring tokens/s, and batch-1 generation tokens/s (KV-cache steps).
       bench_device [--device cuda|cpu-kernels|cpu] [--quick]
   Built by nvcc with -DDECAR_USE_CUDA (make cuda; scripts/gpu_check.sh runs it) it reports against the GPU's fp32
   peak (SMs x 128 lanes x 2 x clock). --quick: tiny shapes, a smoke test of the program itself (make test). */
#define _POSIX_C_SOURCE 200809L
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"

/* the fp32 FMA peak of the GPU in TFLOP/s (0 when unknown: no CUDA) */
static double gpu_peak(char *name, size_t cap) {
#if DECAR__GPU
    struct cudaDeviceProp p;
    int sm = 0, khz = 0;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return 0.0;
    snprintf(name, cap, "%s", p.name);
    cudaDeviceGetAttribute(&sm, cudaDevAttrMultiProcessorCount, 0);
    cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0);
    return (double)sm * 128.0 * 2.0 * (double)khz * 1e3 / 1e12;
#else
    snprintf(name, cap, "CPU");
    return 0.0;
#endif
}

static void bench(const char *label, int dev, int L, int H, int C, int T, int B, int steps, double peak) {
    decar_gpt_config c = decar_gpt_config_of(L, H, C, T);
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt o = decar_opt_default();
    int32_t *x = (int32_t *)malloc((size_t)B * T * sizeof(int32_t));
    int32_t *y = (int32_t *)malloc((size_t)B * T * sizeof(int32_t));
    float *nll = (float *)malloc((size_t)B * T * sizeof(float)), *kv, *lg, *sc;
    double t0, train_s, score_s, gen_s, tflops;
    int i, s, n_gen = T < 128 ? T : 128;
    float loss = 0.0f;
    if (!x || !y || !nll || decar_gpt_init(&g, &c, 1, &e) || decar_gpt_to_device(&g, dev, &e)) {
        printf("%s: %s\n", label, e.msg);
        exit(1);
    }
    for (i = 0; i < B * T; i++) {
        x[i] = (i * 7 + i / 13) % 256;
        y[i] = (i * 11 + 5) % 256;
    }
    /* training steps: two to warm up (allocations, cuBLAS heuristics), then `steps` timed */
    for (s = 0; s < 2; s++) loss = decar_gpt_train_step(&g, ctx, &o, x, y, NULL, B, T);
    t0 = now();
    for (s = 0; s < steps; s++) loss = decar_gpt_train_step(&g, ctx, &o, x, y, NULL, B, T);
    train_s = (now() - t0) / steps;
    if (!(loss == loss)) {
        printf("%s: training failed: %s\n", label, decar_ctx_error(ctx));
        exit(1);
    }
    /* scoring (forward and cross-entropy) */
    decar_gpt_score(&g, ctx, x, y, B, T, nll);
    t0 = now();
    for (s = 0; s < steps; s++) decar_gpt_score(&g, ctx, x, y, B, T, nll);
    score_s = (now() - t0) / steps;
    /* batch-1 generation: n_gen KV-cache steps */
    kv = decar_gpt_kv_new(&g, &e);
    lg = (float *)malloc((size_t)c.vocab_size * sizeof(float));
    sc = (float *)malloc(decar_gpt_step_scratch(&c) * sizeof(float));
    t0 = now();
    for (i = 0; i < n_gen && kv && lg && sc; i++) decar_gpt_step(&g, kv, x[i], i, lg, sc, NULL);
    gen_s = (now() - t0) / n_gen;
    tflops = decar_gpt_flops_per_token(&c, T) * B * T / train_s / 1e12;
    printf("%-2s %2dL d%-4d T%-5d B%-3d %6.2fM params | train %9.0f tok/s %7.2f TFLOP/s", label, L, C, T, B,
           (double)g.n_params / 1e6, B * T / train_s, tflops);
    if (peak > 0.0) printf(" (%4.1f%% of fp32 peak)", 100.0 * tflops / peak);
    printf(" | score %9.0f tok/s | generate %7.0f tok/s | loss %.3f\n", B * T / score_s, 1.0 / gen_s, (double)loss);
    decar_gpt_kv_free(&g, kv);
    free(lg);
    free(sc);
    free(x);
    free(y);
    free(nll);
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
}

int main(int argc, char **argv) {
    decar_error e;
    int dev = DECAR__GPU ? DECAR_DEVICE_CUDA : DECAR_DEVICE_CPU_KERNELS, quick = 0, i;
    char name[256];
    double peak;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            if (decar_device_parse(argv[++i], &dev, &e)) {
                fprintf(stderr, "bench_device: %s\n", e.msg);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_device [--device cuda|cpu-kernels|cpu] [--quick]\n");
            return 2;
        }
    }
    if (decar_device_available(dev, &e)) {
        printf("SKIP bench_device: %s\n", e.msg);
        return 0;
    }
    peak = gpu_peak(name, sizeof name);
    printf("decar %s device bench: device %s (%s), fp32 peak %.1f TFLOP/s, host simd %s, %d threads\n", DECAR_VERSION,
           decar_device_name(dev), name, peak, decar_simd_name(), decar_get_threads());
    if (quick) {
        bench("S", dev, 2, 2, 32, 32, 2, 2, peak);
        return 0;
    }
    bench("S", dev, 4, 4, 256, 256, 16, 10, peak);
    bench("M", dev, 6, 6, 384, 256, 16, 10, peak);
    bench("L", dev, 12, 12, 768, 1024, 8, 5, peak);
    return 0;
}
