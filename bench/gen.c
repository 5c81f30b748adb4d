/* Batch-1 generation of one config in a loop, float32 or quantized, and a top-2 ensemble of two such experts, at 1
   and 2 threads: for comparing two builds of the header side by side (the full bench is `make bench`).
     gcc -std=c99 -O2 -march=native -fopenmp -o build/gen bench/gen.c -lm
     ./build/gen 6 6 384 q8_0        (layers heads d_model f32|q8_0|bf16; M: 6 6 384, S: 4 4 256)
   Prints tokens/s: the best of 5 passes of 200 tokens. */
#define _POSIX_C_SOURCE 200809L
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
int main(int argc, char **argv) {
    int L = argc > 1 ? atoi(argv[1]) : 6, H = argc > 2 ? atoi(argv[2]) : 6, C = argc > 3 ? atoi(argv[3]) : 384;
    const char *qt = argc > 4 ? argv[4] : "f32";
    int type = DECAR_QNONE, n = 200, p, rep, th, nout;
    decar_gpt_config c = decar_gpt_config_of(L, H, C, 256);
    decar_gpt g1, g2;
    decar_gpt *ex[2];
    decar_ensemble en;
    decar_sample_opts so = decar_sample_opts_default(); /* temp 1, top-k / top-p off, seed 1 */
    decar_error e;
    int32_t out[256], prompt[1] = { 10 };
    float *kv, *lg, *sc;
    if (decar_qtype_parse(qt, &type)) {
        fprintf(stderr, "unknown weight type '%s' (f32, q8_0, bf16)\n", qt);
        return 1;
    }
    c.vocab_size = 256;
    if (decar_gpt_init(&g1, &c, 1, &e) || decar_gpt_init(&g2, &c, 2, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    if (type != DECAR_QNONE && (decar_gpt_quantize(&g1, type, &e) || decar_gpt_quantize(&g2, type, &e))) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    ex[0] = &g1;
    ex[1] = &g2;
    en = decar_ensemble_of(ex, 2);
    kv = (float *)malloc(decar_gpt_kv_size(&c) * sizeof(float));
    lg = (float *)malloc(256 * sizeof(float));
    sc = (float *)malloc(decar_gpt_step_scratch(&c) * sizeof(float));
    for (th = 1; th <= 2; th++) {
        double b1 = 1e9, b2 = 1e9;
        decar_set_threads(th);
        for (rep = 0; rep < 5; rep++) {
            double t = now();
            for (p = 0; p < n; p++) decar_gpt_step(&g1, kv, (int32_t)(p % 256), p, lg, sc, NULL);
            t = now() - t;
            b1 = t < b1 ? t : b1;
            t = now();
            so.n_new = n - 1;
            decar_ensemble_generate(&en, NULL, prompt, 1, &so, out, &nout, NULL, &e);
            t = now() - t;
            b2 = t < b2 ? t : b2;
        }
        printf("%s, %d threads: one expert %.0f tok/s, top-2 ensemble %.0f tok/s\n", qt, th, n / b1, n / b2);
    }
    free(kv);
    free(lg);
    free(sc);
    decar_gpt_free(&g1);
    decar_gpt_free(&g2);
    return 0;
}
