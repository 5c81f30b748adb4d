/* The whole method through the library alone: featurize, cluster, train K experts apart, route, score, generate.
   cc -O2 -fopenmp -march=native examples/pipeline.c -lm -o pipeline && ./pipeline data/corpus 4 300 */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>

#define TRY(call)                                                                                                      \
    if (call) return (fprintf(stderr, "pipeline: %s\n", e.msg), 1)

int main(int argc, char **argv) {
    int K = argc > 2 ? atoi(argv[2]) : 4, steps = argc > 3 ? atoi(argv[3]) : 300, B = 8, T = 128, i, k, s, n = 0, dim;
    decar_data d, *shard;
    decar_featurizer fz;
    decar_router rt;
    decar_cluster_opts co = decar_cluster_opts_default(K); /* k-means: 30 iterations, balanced; tf-idf of dim 64 */
    decar_sample_opts so = decar_sample_opts_default();
    decar_gpt_config c = decar_gpt_default_config();
    decar_ensemble en = { 0 };
    decar_docset ds;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_opt op = decar_opt_default();
    int32_t x[8 * 128], y[8 * 128], out[201], *lab;
    float *X, **nll;
    double *bits, tot = 0;
    if (argc < 2 || K < 1 || steps < 1) return (fprintf(stderr, "usage: pipeline DATA_DIR [K] [STEPS]\n"), 2);
    decar_data_init(&d);
    TRY(decar_data_load(&d, argv[1], NULL, NULL, 50, &e));
    /* 1-2. tf-idf features (fitted on the training documents), spherical balanced k-means, the router (centroids,
       prior) and every document's shard: one call */
    lab = (int32_t *)malloc((size_t)d.n_docs * sizeof(int32_t));
    TRY(decar_cluster_docs(&d, &co, &fz, &rt, &X, &dim, lab, &e));
    /* 3. one expert per shard, each trained on its own documents only (nothing shared but the config) */
    shard = (decar_data *)calloc((size_t)K, sizeof(decar_data));
    en.k = K;
    en.experts = (decar_gpt **)calloc((size_t)K, sizeof(decar_gpt *));
    c.n_layer = 2;
    c.d_model = 64;
    c.n_head = 4;
    c.seq_len = T;
    op.total_steps = steps;
    op.warmup_steps = steps / 10 + 1;
    for (k = 0; k < K; k++) {
        decar_rng r;
        decar_data_init(&shard[k]);
        for (i = 0; i < d.n_docs; i++)
            if (lab[i] == k) TRY(decar_data_add(&shard[k], d.docs[i].name, d.docs[i].bytes, d.docs[i].len, 50, &e));
        TRY(decar_data_finish(&shard[k], &e));
        en.experts[k] = (decar_gpt *)malloc(sizeof(decar_gpt));
        TRY(decar_gpt_init(en.experts[k], &c, 1 + k, &e));
        decar_rng_seed(&r, 7 + k);
        for (s = 0; s < steps && !decar_data_batch(&shard[k], 0, &r, B, T, x, y, NULL); s++)
            decar_gpt_train_step(en.experts[k], ctx, &op, x, y, NULL, B, T);
        printf("expert %d: %d documents, %d steps\n", k, shard[k].n_docs, s);
    }
    /* 4. the routed ensemble (R2: softmax of cosines over the top 2) on every held-out document */
    en.router = rt;
    en.router.kind = DECAR_ROUTE_COSINE;
    en.router.top_k = 2;
    en.route_every = 64;
    en.feat = &fz;
    TRY(decar_docset_build(&ds, &d, 1, NULL, &e));
    nll = (float **)calloc((size_t)K, sizeof(float *));
    bits = (double *)malloc((size_t)ds.n * sizeof(double) + 1);
    TRY(decar_ensemble_score_docs(&en, ctx, &d, &ds, B, nll, bits, &e));
    for (i = 0; i < ds.n; i++) tot += bits[i];
    printf("ensemble of %d, cosine top-2: %.4f bits per byte on %d held-out documents\n", K, tot / ds.bytes, ds.n);
    /* 5. generate 200 bytes from sum_k w_k p_k, re-routed every 64 bytes */
    out[0] = DECAR_TOK_EOT;
    so.n_new = 200;
    so.temp = 0.8;
    so.top_p = 0.95;
    TRY(decar_ensemble_generate(&en, NULL, out, 1, &so, out, &n, NULL, &e));
    for (i = 1; i < n; i++) putchar(out[i] < 256 ? out[i] : '\n');
    printf("\n");
    return 0;
}
