/* The whole model against PyTorch: logits (causal and non-causal), loss, every parameter gradient, and five AdamW
   steps (losses and final parameters). Reference: tests/ref_gpt.bin from scripts/make_reference.py.
   Tolerances (float32, different summation orders): logits and loss 1e-4 abs, gradients 2e-5 abs + 2e-3 rel,
   step losses 1e-4 abs, final parameters 2e-4 abs (five Adam steps amplify tiny gradient differences where
   v is small; lr 1e-2). */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[96];
    int ndim;
    int shape[4];
    int64_t n;
    float *d;
} rec;
static rec recs[256];
static int nrec = 0;

static int load(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[8];
    int ver;
    if (!f) {
        printf("cannot open %s\n", path);
        return -1;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "DCREF001", 8) || fread(&ver, 4, 1, f) != 1 || ver != 1) {
        printf("bad reference header\n");
        fclose(f);
        return -1;
    }
    for (;;) {
        int nl, i;
        rec *r = &recs[nrec];
        if (fread(&nl, 4, 1, f) != 1 || nl < 0 || nl >= 96) {
            fclose(f);
            return -1;
        }
        if (nl == 0) break;
        if (fread(r->name, 1, (size_t)nl, f) != (size_t)nl) {
            fclose(f);
            return -1;
        }
        r->name[nl] = 0;
        if (fread(&r->ndim, 4, 1, f) != 1 || r->ndim < 0 || r->ndim > 4) {
            fclose(f);
            return -1;
        }
        r->n = 1;
        for (i = 0; i < r->ndim; i++) {
            if (fread(&r->shape[i], 4, 1, f) != 1) {
                fclose(f);
                return -1;
            }
            r->n *= r->shape[i];
        }
        r->d = (float *)malloc((size_t)r->n * 4);
        if (fread(r->d, 4, (size_t)r->n, f) != (size_t)r->n) {
            fclose(f);
            return -1;
        }
        if (++nrec == 256) break;
    }
    fclose(f);
    return 0;
}
static rec *get(const char *name) {
    int i;
    for (i = 0; i < nrec; i++)
        if (!strcmp(recs[i].name, name)) return &recs[i];
    printf("missing record %s\n", name);
    exit(1);
}
static double maxdiff(const float *a, const float *b, int64_t n, double rel) {
    int64_t i;
    double worst = 0;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + rel * fabs((double)b[i]) / 2e-5);
        if (d > worst) worst = d;
    }
    return worst;
}

int main(int argc, char **argv) {
    decar_gpt g;
    decar_gpt_config c = decar_gpt_default_config();
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt o;
    rec *cf, *op, *ids_r, *tg_r;
    int32_t ids[64], tg[64];
    int i, B, T;
    decar_tensor *logits, *loss;
    if (load(argc > 1 ? argv[1] : "tests/ref_gpt.bin")) {
        printf("test_gpt_ref: cannot read the reference file\n");
        return 1;
    }
    cf = get("config");
    op = get("opt");
    c = decar_gpt_config_of((int)cf->d[1], (int)cf->d[2], (int)cf->d[3], (int)cf->d[4]);
    c.vocab_size = (int)cf->d[0];
    B = (int)cf->d[5];
    T = (int)cf->d[6];
    o.lr = op->d[0];
    o.min_lr = op->d[1];
    o.beta1 = op->d[2];
    o.beta2 = op->d[3];
    o.eps = op->d[4];
    o.weight_decay = op->d[5];
    o.grad_clip = op->d[6];
    o.warmup_steps = (int)op->d[7];
    o.total_steps = (int)op->d[8];
    CHECK(decar_gpt_init(&g, &c, 1, &e) == 0, "init: %s", e.msg);
    ids_r = get("ids");
    tg_r = get("targets");
    for (i = 0; i < B * T; i++) {
        ids[i] = (int32_t)ids_r->d[i];
        tg[i] = (int32_t)tg_r->d[i];
    }
    for (i = 0; i < g.n_tensors; i++) {
        char nm[128];
        rec *r;
        sprintf(nm, "p.%s", g.info[i].name);
        r = get(nm);
        CHECK(r->n == g.info[i].shape[0] * g.info[i].shape[1], "shape of %s", nm);
        memcpy(g.params + g.info[i].offset, r->d, (size_t)r->n * 4);
    }
    /* forward, loss, gradients */
    logits = decar_gpt_forward(ctx, &g, ids, B, T);
    loss = decar_cross_entropy(ctx, logits, tg, NULL, 0.0f, 0, NULL);
    CHECK(loss && decar_backward(ctx, loss) == 0, "forward/backward: %s", decar_ctx_error(ctx));
    {
        double d = maxdiff(logits->data, get("logits")->d, logits->n, 0);
        printf("  logits max abs diff %.3g\n", d);
        CHECK(d < 1e-4, "logits differ by %g", d);
    }
    {
        double d = fabs(loss->data[0] - get("loss")->d[0]);
        printf("  loss %.6f vs torch %.6f\n", loss->data[0], get("loss")->d[0]);
        CHECK(d < 1e-4, "loss differs by %g", d);
    }
    for (i = 0; i < g.n_tensors; i++) {
        char nm[128];
        rec *r;
        double d;
        int64_t n = g.info[i].shape[0] * g.info[i].shape[1];
        sprintf(nm, "g.%s", g.info[i].name);
        r = get(nm);
        d = maxdiff(g.grads + g.info[i].offset, r->d, n, 2e-3);
        CHECK(d < 2e-5, "gradient of %s differs (scaled err %g)", g.info[i].name, d);
    }
    CHECK(g.n_tensors >= 2 + 12 * g.cfg.n_layer, "%d parameter tensors for %d layers", g.n_tensors, g.cfg.n_layer);
    printf("  %d parameter gradients compared\n", g.n_tensors);
    /* non-causal attention (the masked-DFM model) with the same weights */
    g.cfg.causal = 0;
    logits = decar_gpt_forward(ctx, &g, ids, B, T);
    {
        double d = maxdiff(logits->data, get("logits_noncausal")->d, logits->n, 0);
        printf("  non-causal logits max abs diff %.3g\n", d);
        CHECK(d < 1e-4, "non-causal logits differ by %g", d);
    }
    g.cfg.causal = 1;
    /* five AdamW steps from the same start */
    for (i = 0; i < g.n_tensors; i++) {
        char nm[128];
        sprintf(nm, "p.%s", g.info[i].name);
        memcpy(g.params + g.info[i].offset, get(nm)->d, (size_t)get(nm)->n * 4);
    }
    for (i = 0; i < 5; i++) {
        float l = decar_gpt_train_step(&g, ctx, &o, ids, tg, NULL, B, T);
        printf("  step %d loss %.6f torch %.6f\n", i, l, get("losses")->d[i]);
        CHECK(fabs(l - get("losses")->d[i]) < 1e-4, "step %d loss differs", i);
    }
    {
        double worst = 0;
        for (i = 0; i < g.n_tensors; i++) {
            char nm[128];
            int64_t k, n = g.info[i].shape[0] * g.info[i].shape[1];
            rec *r;
            sprintf(nm, "after.%s", g.info[i].name);
            r = get(nm);
            for (k = 0; k < n; k++) {
                double d = fabs(g.params[g.info[i].offset + k] - r->d[k]);
                if (d > worst) worst = d;
            }
        }
        printf("  parameters after 5 AdamW steps: max abs diff %.3g\n", worst);
        CHECK(worst < 2e-4, "parameters after 5 steps differ by %g", worst);
    }
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
    for (i = 0; i < nrec; i++) free(recs[i].d);
    TEST_END("test_gpt_ref");
}
