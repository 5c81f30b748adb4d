/* PyTorch / Hugging Face interop, with scripts/check_interop.py and scripts/check_hf.py.
   test_interop DIR         writes a decar checkpoint and the logits decar computes for fixed ids (as .npy), for the
                            scripts to load in PyTorch and compare; also checks that export -> import to Hugging Face's
                            GPT-2 layout in memory gives back the same weights exactly
   test_interop DIR import  reads DIR/hf_in (a GPT-2 in Hugging Face's format, from check_hf.py make) with
                            decar_gpt_import_hf and compares decar's logits with the ones PyTorch wrote there */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <string.h>

static void fixed_ids(int32_t *ids) {
    int i;
    for (i = 0; i < 26; i++) ids[i] = i == 0 || i == 13 ? DECAR_TOK_EOT : (i * 37) % 256;
}

static int import_check(const char *dir) {
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_tensor *lg;
    int32_t ids[26];
    char p[512];
    void *buf;
    size_t len;
    float *ref = NULL;
    int64_t rows, cols, i;
    double mx = 0;
    fixed_ids(ids);
    snprintf(p, sizeof p, "%s/hf_in", dir);
    CHECK(decar_gpt_import_hf(&g, p, &e) == 0, "import: %s", e.msg);
    if (g_fail) TEST_END("test_interop import");
    lg = decar_gpt_forward(ctx, &g, ids, 2, 13);
    snprintf(p, sizeof p, "%s/hf_in/logits.npy", dir);
    CHECK(decar_read_file(p, &buf, &len, &e) == 0 && decar_npy_parse(buf, len, &ref, &rows, &cols, &e) == 0,
          "logits.npy: %s", e.msg);
    CHECK(lg && rows == 26 && cols == g.cfg.vocab_size, "shapes");
    if (lg && ref && rows == 26 && cols == g.cfg.vocab_size)
        for (i = 0; i < rows * cols; i++)
            if (fabs(lg->data[i] - ref[i]) > mx) mx = fabs(lg->data[i] - ref[i]);
    CHECK(mx < 1e-4, "Hugging Face GPT-2 -> decar: max |logits diff| = %.3g", mx);
    CHECK(decar_gpt_mask(&g.cfg) < 0 && decar_gpt_classes(&g.cfg) == g.cfg.vocab_size,
          "GPT-2's last token is a real class");
    printf("import: Hugging Face GPT-2 (%d layers, d_model %d, context %d) -> decar: max |logits diff| = %.3g\n",
           g.cfg.n_layer, g.cfg.d_model, g.cfg.seq_len, mx);
    free(buf);
    free(ref);
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
    TEST_END("test_interop import");
}

int main(int argc, char **argv) {
    decar_gpt g, back;
    decar_gpt_config c = decar_gpt_default_config();
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    int32_t ids[2 * 13];
    char p[512];
    void *buf;
    size_t len;
    char *cfg;
    decar_tensor *lg;
    const char *dir = argc > 1 ? argv[1] : "build";
    if (argc > 2 && !strcmp(argv[2], "import")) return import_check(dir);
    c = decar_gpt_config_of(2, 3, 24, 16);
    CHECK(decar_gpt_init(&g, &c, 2024, &e) == 0, "init");
    fixed_ids(ids);
    lg = decar_gpt_forward(ctx, &g, ids, 2, 13);
    CHECK(lg != NULL, "forward");
    sprintf(p, "%s/interop.safetensors", dir);
    CHECK(decar_gpt_save(&g, p, NULL, &e) == 0, "save: %s", e.msg);
    CHECK(decar_npy_build(lg->data, 26, c.vocab_size, &buf, &len) == 0, "npy");
    sprintf(p, "%s/interop_logits.npy", dir);
    CHECK(decar_write_file_atomic(p, buf, len, &e) == 0, "write npy");
    free(buf);
    { /* CLIP's loss for PyTorch to recompute (check_interop.py): img, txt (5, 7), tau; decar's loss and gradients */
        decar_ctx *cc = decar_ctx_new(0);
        decar_tensor *I = decar_param(cc, 2, (const int64_t[]){ 5, 7 }),
                     *T = decar_param(cc, 2, (const int64_t[]){ 5, 7 });
        decar_tensor *tau = decar_param(cc, 1, (const int64_t[]){ 1 }), *l;
        int32_t tg[5] = { 0, 1, 2, 3, 4 };
        float out[2 * 35 + 4];
        decar_rng r;
        int i;
        const char *names[2] = { "clip_in", "clip_out" };
        decar_rng_seed(&r, 5);
        for (i = 0; i < 35; i++) {
            I->data[i] = decar_rng_normal(&r);
            T->data[i] = decar_rng_normal(&r) + 0.5f * I->data[i];
        }
        tau->data[0] = 2.1f;
        l = decar_clip_loss(cc, I, T, tau, tg);
        CHECK(l && decar_backward(cc, l) == 0, "clip loss and backward");
        for (i = 0; i < 2; i++) { /* clip_in: img, txt, tau; clip_out: dimg, dtxt, dtau, loss */
            const float *a = i ? I->grad : I->data, *b = i ? T->grad : T->data;
            memcpy(out, a, 35 * sizeof(float));
            memcpy(out + 35, b, 35 * sizeof(float));
            out[70] = i ? tau->grad[0] : tau->data[0];
            out[71] = i ? l->data[0] : 0.0f;
            CHECK(decar_npy_build(out, 1, 72, &buf, &len) == 0, "npy");
            sprintf(p, "%s/%s.npy", dir, names[i]);
            CHECK(decar_write_file_atomic(p, buf, len, &e) == 0, "write npy");
            free(buf);
        }
        decar_ctx_free(cc);
    }
    /* export -> import in memory: the same weights, bit for bit (the transposes undo each other) */
    CHECK(decar_gpt_export_hf_mem(&g, &buf, &len, &cfg, &e) == 0, "export: %s", e.msg);
    CHECK(strstr(cfg, "\"n_embd\": 24") && strstr(cfg, "GPT2LMHeadModel"), "config.json: %s", cfg);
    CHECK(decar_gpt_import_hf_mem(&back, buf, len, cfg, strlen(cfg), &e) == 0, "import: %s", e.msg);
    CHECK(back.n_params == g.n_params && !memcmp(back.params, g.params, g.n_params * 4), "round trip is exact");
    CHECK(decar_gpt_mask(&back.cfg) == DECAR_TOK_MASK, "a decar export keeps its mask token (decar_mask_last)");
    { /* the c_attn weight is stored (in, out) = (24, 72) in the export */
        decar__st st;
        const decar__st_entry *en;
        CHECK(decar__st_open((const uint8_t *)buf, len, &st, &e) == 0, "parse export");
        en = decar__st_find(&st, "transformer.h.0.attn.c_attn.weight");
        CHECK(en && en->shape[0] == 24 && en->shape[1] == 72, "Conv1D layout (in, out)");
        CHECK(!decar__st_find(&st, "optim.m.transformer.wte.weight"), "weights only");
        decar__st_free(&st);
    }
    free(buf);
    free(cfg);
    decar_gpt_free(&back);
    c.causal = 0; /* a DFM model has no GPT-2 equivalent */
    {
        decar_gpt d;
        CHECK(decar_gpt_init(&d, &c, 1, &e) == 0, "init dfm");
        CHECK(decar_gpt_export_hf_mem(&d, &buf, &len, &cfg, &e) == DECAR_ERR_ARG && strstr(e.msg, "DFM"),
              "DFM refused: %s", e.msg);
        decar_gpt_free(&d);
    }
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
    TEST_END("test_interop");
}
