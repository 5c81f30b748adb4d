/* tiny.c - the header's ten-line example as a program: train a tiny GPT on a byte string, then sample from it.
       cc -O2 examples/tiny.c -lm -o tiny && ./tiny                                                               */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <string.h>

int main(void) {
    const char *text = "the experts train apart and generate as one. ";
    enum { B = 4, T = 32 };
    int32_t ids[B * T], targets[B * T], out[T + 1];
    char sample[T + 1], twice[128];
    int s, i, n = 0, len = (int)strlen(text);
    float loss = 0.0f;
    decar_gpt_config c = decar_gpt_config_of(2, 4, 64, T); /* 2 layers, 4 heads, d_model 64, context T, bytes */
    decar_gpt g;
    decar_gpt *one = &g;
    decar_ensemble en;
    decar_error e;
    decar_sample_opts so = decar_sample_opts_default();
    decar_ctx *ctx = decar_ctx_new(0);            /* 0 = a growable arena for the activations */
    decar_opt opt = decar_opt_default();          /* AdamW, warmup + cosine, clip 1.0 */
    if (!ctx || decar_gpt_init(&g, &c, 1337, &e)) /* e.msg says why */
        return (fprintf(stderr, "tiny: %s\n", ctx ? e.msg : "no memory"), 1);
    opt.lr = 3e-3f;
    opt.warmup_steps = 10;
    opt.total_steps = 300;
    for (s = 0; s < 300; s++) {
        /* B windows of T bytes at offset s * 7 + b, the targets shifted by one: y_i = x_{i+1} */
        for (i = 0; i < B * T; i++) {
            ids[i] = (uint8_t)text[(s * 7 + i / T + i % T) % len];
            targets[i] = (uint8_t)text[(s * 7 + i / T + i % T + 1) % len];
        }
        loss = decar_gpt_train_step(&g, ctx, &opt, ids, targets, NULL, B, T);
        if (s % 100 == 0 || s == 299) printf("step %3d loss %.4f\n", s, loss);
    }
    /* an ensemble of one model is plain sampling; greedy (temperature 0) after the prompt "t" */
    en = decar_ensemble_of(&one, 1);
    ids[0] = 't';
    so.n_new = T - 1;
    so.temp = 0.0;
    so.seed = 42;
    if (decar_ensemble_generate(&en, NULL, ids, 1, &so, out, &n, NULL, &e))
        return (fprintf(stderr, "tiny: %s\n", e.msg), 1);
    for (i = 0; i < n; i++) sample[i] = (char)out[i];
    sample[n] = 0;
    printf("sample: %s\n", sample);
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
    /* a model that learned the string continues it exactly: the sample is a piece of the text repeated */
    snprintf(twice, sizeof twice, "%s%s", text, text);
    return !(loss < 0.5f && n == T && strstr(twice, sample));
}
