/* The decentralized lifecycle through the library alone (decar.h section 16): K parties' experts and their router;
   a new party joins with only the router and its own documents; then it leaves. Checks what the method promises:
     - the joined domain's held-out bits drop;
     - every held-out document whose top-1 route did not change scores bit for bit as before;
     - after the leave the router is the one before the join, byte for byte, and every score returns bit for bit.
   cc -O2 -fopenmp -march=native examples/lifecycle.c -lm -o lifecycle && ./lifecycle data/corpus bible_en 4 300
   Exit status 0 when every check holds, 1 when one fails (or on an error). */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(call)                                                                                                      \
    if (call) return (fprintf(stderr, "lifecycle: %s\n", e.msg), 1)
#define B 4
#define T 64
#define VAL 200 /* held-out documents per 1000 */

static decar_error e;
static decar_ctx *ctx;

/* one expert trained on the training documents of d: seed, steps (nothing shared with the other parties) */
static int train(decar_gpt *g, decar_data *d, int steps, uint64_t seed, char *meta, size_t cap) {
    decar_gpt_config c = decar_gpt_config_of(1, 2, 32, T);
    decar_opt op = decar_opt_default();
    decar_provenance p;
    int32_t x[B * T], y[B * T];
    decar_rng r;
    int s;
    op.total_steps = steps;
    op.warmup_steps = steps / 10 + 1;
    op.lr = 3e-3f;
    TRY(decar_gpt_init(g, &c, seed, &e));
    decar_rng_seed(&r, seed ^ 0xda7a);
    for (s = 0; s < steps && !decar_data_batch(d, 0, &r, B, T, x, y, NULL); s++)
        decar_gpt_train_step(g, ctx, &op, x, y, NULL, B, T);
    /* its provenance: the hashes of its documents, no base, its config and seed (decar_gpt_save writes it) */
    decar_provenance_of_data(&p, d, NULL);
    snprintf(p.config, sizeof p.config, "layers=1 heads=2 dim=32 seq=%d batch=%d steps=%d", T, B, steps);
    p.seed = seed;
    TRY(decar_provenance_meta(&p, meta, cap, &e));
    return 0;
}
/* held-out bits of every document of the split under the top-1 router, and each document's route: the top-1 expert
   at every point where scoring routes (token 0 and every route_every tokens), packed as one string per document */
static int score(decar_ensemble *en, decar_data *all, decar_docset *ds, double *bits, char **route) {
    float **nll = (float **)calloc((size_t)en->k, sizeof(float *));
    double w[64];
    int q, j;
    TRY(decar_ensemble_score_docs(en, ctx, all, ds, B, nll, bits, &e));
    decar_nll_tables_free(nll, en->k);
    free(nll);
    for (q = 0; q < ds->n; q++) {
        const decar_doc *doc = &all->docs[ds->doc[q]];
        int64_t i, n = 0, ntok = ds->off[q + 1] - ds->off[q];
        route[q] = (char *)malloc((size_t)(ntok / en->route_every + 2));
        for (i = 0; i < ntok; i += en->route_every) {
            int best = 0;
            TRY(decar_ensemble_route(en, doc->bytes, i > 0 ? ds->end[ds->off[q] + i - 1] : 0, w, &e));
            for (j = 1; j < en->k; j++) best = w[j] > w[best] ? j : best;
            route[q][n++] = (char)('0' + best);
        }
        route[q][n] = 0;
    }
    return 0;
}
/* per domain: bits per byte of the held-out documents */
static void table(const char *label, decar_data *all, decar_docset *ds, const double *bits) {
    int l, q;
    printf("%-8s", label);
    for (l = 0; l < all->n_labels; l++) {
        double s = 0;
        int64_t n = 0;
        for (q = 0; q < ds->n; q++)
            if (all->docs[ds->doc[q]].label == l) {
                s += bits[q];
                n += all->docs[ds->doc[q]].len;
            }
        printf("  %s %.4f", all->label_names[l], n ? s / (double)n : 0.0);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    int K = argc > 3 ? atoi(argv[3]) : 2, steps = argc > 4 ? atoi(argv[4]) : 60, i, k, q, held = -1, fails = 0;
    int same = 0, moved = 0;
    decar_data all, rest, party, *shard;
    decar_featurizer fz;
    decar_router rt;
    decar_cluster_opts co = decar_cluster_opts_default(K); /* k-means: 30 iterations, balanced; tf-idf of dim 64 */
    decar_ensemble en = { 0 };
    decar_docset ds;
    decar_gpt *g;
    int32_t *lab;
    float *X;
    int dim;
    double *b0, *b1, *b2, h0 = 0, h1 = 0, hb = 0;
    char **r0, **r1, **r2, meta[2048];
    void *buf0, *buf2;
    size_t len0, len2;
    if (argc < 3 || K < 1 || K > 60 || steps < 1)
        return (fprintf(stderr, "usage: lifecycle DATA_DIR HELD_BACK_DOMAIN [K] [STEPS]\n"), 2);
    ctx = decar_ctx_new(0);
    decar_data_init(&all);
    TRY(decar_data_load(&all, argv[1], NULL, NULL, VAL, &e));
    for (i = 0; i < all.n_labels; i++)
        if (!strcmp(all.label_names[i], argv[2])) held = i;
    if (held < 0) return (fprintf(stderr, "lifecycle: no domain '%s' in %s\n", argv[2], argv[1]), 2);
    /* the original parties' documents (every domain but the held-back one) and the new party's (that one alone);
       names, hence train / held-out splits, are the same as in the whole corpus */
    decar_data_init(&rest);
    decar_data_init(&party);
    for (i = 0; i < all.n_docs; i++) {
        decar_doc *d = &all.docs[i];
        TRY(decar_data_add(d->label == held ? &party : &rest, d->name, d->bytes, d->len, VAL, &e));
    }
    TRY(decar_data_finish(&rest, &e));
    TRY(decar_data_finish(&party, &e));
    /* 1. the original run without the held-back domain: features, balanced k-means, router with R5, K experts */
    lab = (int32_t *)malloc((size_t)rest.n_docs * sizeof(int32_t));
    TRY(decar_cluster_docs(&rest, &co, &fz, &rt, &X, &dim, lab, &e));
    TRY(decar_router_fit_docs(&rt, &fz, &rest, lab, 2, 100, 1, NULL, &e));
    shard = (decar_data *)calloc((size_t)K, sizeof(decar_data));
    g = (decar_gpt *)calloc((size_t)K + 1, sizeof(decar_gpt));
    en.experts = (decar_gpt **)calloc((size_t)K + 1, sizeof(decar_gpt *));
    for (k = 0; k < K; k++) {
        decar_data_init(&shard[k]);
        for (i = 0; i < rest.n_docs; i++)
            if (lab[i] == k)
                TRY(decar_data_add(&shard[k], rest.docs[i].name, rest.docs[i].bytes, rest.docs[i].len, VAL, &e));
        TRY(decar_data_finish(&shard[k], &e));
        if (train(&g[k], &shard[k], steps, 100 + k, meta, sizeof meta)) return 1;
        en.experts[k] = &g[k];
    }
    en.k = K;
    en.router = rt;
    en.router.kind = DECAR_ROUTE_TOP1;
    en.router.top_k = 1;
    en.route_every = 64;
    en.feat = &fz;
    TRY(decar_docset_build(&ds, &all, 1, NULL, &e));
    b0 = (double *)malloc((size_t)ds.n * 3 * sizeof(double));
    b1 = b0 + ds.n;
    b2 = b1 + ds.n;
    r0 = (char **)calloc((size_t)ds.n * 3, sizeof(char *));
    r1 = r0 + ds.n;
    r2 = r1 + ds.n;
    if (score(&en, &all, &ds, b0, r0)) return 1;
    TRY(decar_router_save_mem(&en.router, &fz, &buf0, &len0, &e));
    table("before", &all, &ds, b0);
    /* 2. join: the new party trains its expert on its documents, and adds its cluster to the router (centroid, prior
       by counts, R5 refitted); the old experts are not touched */
    if (train(&g[K], &party, steps, 100 + K, meta, sizeof meta)) return 1;
    printf("the new expert's provenance: {%s}\n", meta);
    TRY(decar_router_join(&en.router, &fz, &party, &e));
    en.experts[K] = &g[K];
    en.k = K + 1;
    if (score(&en, &all, &ds, b1, r1)) return 1;
    table("joined", &all, &ds, b1);
    /* 3. leave: the router without it (R5 refitted), the ensemble of the K original experts */
    TRY(decar_router_leave(&en.router, K, &e));
    en.k = K;
    if (score(&en, &all, &ds, b2, r2)) return 1;
    table("left", &all, &ds, b2);
    TRY(decar_router_save_mem(&en.router, &fz, &buf2, &len2, &e));
    /* the checks */
    for (q = 0; q < ds.n; q++) {
        int held_doc = all.docs[ds.doc[q]].label == held, unchanged = !strcmp(r0[q], r1[q]);
        if (held_doc) {
            h0 += b0[q];
            h1 += b1[q];
            hb += (double)all.docs[ds.doc[q]].len;
        }
        if (unchanged) same++;
        if (!unchanged) moved++;
        if (unchanged && memcmp(&b0[q], &b1[q], sizeof(double)) != 0) {
            printf("FAIL: document %s kept its route but scores %.17g, not %.17g\n", all.docs[ds.doc[q]].name, b1[q],
                   b0[q]);
            fails++;
        }
        if (memcmp(&b0[q], &b2[q], sizeof(double)) != 0 || strcmp(r0[q], r2[q])) {
            printf("FAIL: after the leave document %s scores %.17g, not %.17g\n", all.docs[ds.doc[q]].name, b2[q],
                   b0[q]);
            fails++;
        }
    }
    printf("%d held-out documents kept their routes (all bit-identical: %s), %d changed route\n", same,
           fails ? "no" : "yes", moved);
    printf("held-back domain %s: %.4f -> %.4f bits per byte after the join\n", argv[2], h0 / hb, h1 / hb);
    if (!(h1 < h0)) {
        printf("FAIL: the joined domain's bits did not drop\n");
        fails++;
    }
    if (len0 != len2 || memcmp(buf0, buf2, len0)) {
        printf("FAIL: the router after the leave is not the router before the join\n");
        fails++;
    } else
        printf("the router after the leave is the router before the join, byte for byte (%lu bytes)\n",
               (unsigned long)len0);
    printf("lifecycle: %s\n", fails ? "FAILED" : "every check holds");
    return fails ? 1 : 0;
}
