/* One configuration's training (or scoring) steps in a loop, for profilers:
     gcc -std=c99 -O2 -g -march=native -fopenmp -o build/step bench/step.c -lm
     OMP_NUM_THREADS=2 perf record -o build/perf.data ./build/step 4 4 256 20 && perf report -i build/perf.data
   Arguments: layers heads d_model steps [score [B [T]]]; score: anything but 0 times scoring (e.g. "score" or 1), 0
   training; B = 8, T = 256 unless given; vocab 256
   (config S: 4 4 256, M: 6 6 384; the scaling study's T1: 1 2 32 steps 0 16 64, T2: 2 2 64 steps 0 16 64).
   DECAR_BF16=1 in the environment: bf16 matrix products (decar_set_precision). */
#define _POSIX_C_SOURCE 200809L
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
int main(int argc, char **argv) {
    int L = argc > 1 ? atoi(argv[1]) : 4, H = argc > 2 ? atoi(argv[2]) : 4, C = argc > 3 ? atoi(argv[3]) : 256,
        steps = argc > 4 ? atoi(argv[4]) : 10, score = argc > 5 && strcmp(argv[5], "0") != 0;
    decar_gpt_config c = decar_gpt_default_config();
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt o = decar_opt_default();
    int B = argc > 6 ? atoi(argv[6]) : 8, T = argc > 7 ? atoi(argv[7]) : 256, i;
    int32_t *x = malloc(B * T * 4), *y = malloc(B * T * 4);
    float *nll = malloc(B * T * 4);
    decar_rng r;
    double best = 1e9;
    if (B < 1 || T < 1 || B > 4096 || T > 4096) return 1;
    c = decar_gpt_config_of(L, H, C, T);
    c.vocab_size = 256;
    decar_gpt_init(&g, &c, 1, &e);
    decar_rng_seed(&r, 5);
    for (i = 0; i < B * T; i++) {
        x[i] = decar_rng_u32(&r) % 256;
        y[i] = decar_rng_u32(&r) % 256;
    }
    o.total_steps = 1000;
    if (getenv("DECAR_BF16")) printf("products: %s\n", decar_set_precision(DECAR_BF16));
    for (i = 0; i < steps; i++) {
        double t0 = now();
        if (score)
            decar_gpt_score(&g, ctx, x, y, B, T, nll);
        else
            decar_gpt_train_step(&g, ctx, &o, x, y, NULL, B, T);
        t0 = now() - t0;
        if (t0 < best) best = t0;
    }
    printf("%s: best %.1f ms, %.0f tok/s\n", score ? "score" : "train", best * 1e3, B * T / best);
    return 0;
}
