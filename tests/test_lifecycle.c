/* The lifecycle (section 16): SHA-256 against FIPS 180-4's vectors; a router that gains a cluster (join) and loses
   it again (leave): centroid = the normalised mean, prior = counts renormalised, R5 refitted, the old clusters
   untouched, and join then leave restores the router bit for bit (through a router file too); bad input refused;
   R5 for DFM experts: its noised-window rows drawn as documented, kept through a file, join and leave with them;
   provenance written into a checkpoint and read back. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

static int same(const void *a, const void *b, size_t n) {
    return (a == NULL && b == NULL) || (a && b && memcmp(a, b, n) == 0);
}
/* every array of two routers, byte for byte */
static int router_equal(const decar_router *a, const decar_router *b) {
    size_t kd = (size_t)a->k * (size_t)a->d * sizeof(float), k = (size_t)a->k * sizeof(float);
    return a->k == b->k && a->d == b->d && a->n_fine == b->n_fine && a->n_rows == b->n_rows &&
           same(a->centroids, b->centroids, kd) && same(a->prior, b->prior, k) && same(a->count, b->count, k) &&
           same(a->clf_w, b->clf_w, kd) && same(a->clf_b, b->clf_b, k) &&
           same(a->rows, b->rows, (size_t)a->n_rows * (size_t)a->d * sizeof(float)) &&
           same(a->row_label, b->row_label, (size_t)a->n_rows * sizeof(int32_t)) &&
           same(a->fine, b->fine, (size_t)a->n_fine * (size_t)a->d * sizeof(float)) &&
           same(a->fine_map, b->fine_map, (size_t)a->n_fine * sizeof(int32_t));
}
static void hex_of(const char *msg, size_t n, char out[65]) {
    uint8_t d[32];
    decar_sha256(msg, n, d);
    decar_sha256_hex(d, out);
}

/* R5's rows of the documents of d by hand, as decar__r5_row documents them (the whole document, then np windows of at
   most W bytes at a uniform start, each byte kept with probability u ~ U(0, 1)), drawn from seed, against r's rows
   from row `first` on with their labels (lab[i], or `label` when lab is NULL); returns the rows that differ and
   counts the windows with nothing revealed in *empty (optional) */
static int hand_noised_rows(const decar_router *r, int64_t first, const decar_featurizer *f, const decar_data *d,
                            int np, int W, uint64_t seed, const int32_t *lab, int label, int *empty) {
    decar_rng rg;
    decar_error e;
    float row[64];
    int i, q, bad = 0;
    int64_t nrow = first;
    decar_rng_seed(&rg, seed);
    for (i = 0; i < d->n_docs; i++) {
        const decar_doc *doc = &d->docs[i];
        for (q = 0; q <= np; q++, nrow++) {
            int64_t wl = doc->len < W ? doc->len : W, st = 0, k, nv = 0;
            uint8_t vis[64];
            if (q == 0) {
                decar_feat_apply(f, doc->bytes, doc->len, row, &e);
            } else {
                double u = decar_rng_double(&rg);
                if (doc->len > wl) st = (int64_t)(decar_rng_double(&rg) * (double)(doc->len - wl + 1));
                for (k = 0; k < wl; k++)
                    if (decar_rng_double(&rg) < u) vis[nv++] = doc->bytes[st + k];
                if (empty) *empty += nv == 0;
                decar_feat_apply(f, vis, nv, row, &e);
            }
            bad += memcmp(row, r->rows + nrow * r->d, (size_t)r->d * sizeof(float)) != 0 ||
                   r->row_label[nrow] != (lab ? lab[i] : label);
        }
    }
    return bad;
}

int main(void) {
    decar_error e;
    int i;
    /* SHA-256: FIPS 180-4 / NIST's examples, and the same digest when fed in odd pieces */
    {
        char h[65];
        uint8_t d[32];
        decar_sha256_ctx c;
        char *mil = (char *)malloc(1000000);
        hex_of("", 0, h);
        CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') = %s", h);
        hex_of("abc", 3, h);
        CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc) = %s", h);
        hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
        CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448 bits) = %s",
              h);
        hex_of(
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
            "nopqrstu",
            112, h);
        CHECK(!strcmp(h, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"), "sha256(896 bits) = %s",
              h);
        memset(mil, 'a', 1000000);
        decar_sha256_init(&c);
        for (i = 0; i < 1000000; i += 997)
            decar_sha256_update(&c, mil + i, (size_t)(1000000 - i < 997 ? 1000000 - i : 997));
        decar_sha256_final(&c, d);
        decar_sha256_hex(d, h);
        CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
              "sha256(a x 10^6, in pieces of 997) = %s", h);
        decar_tokenizer_sha256(NULL, h);
        CHECK(!strcmp(h, "bytes"), "the byte tokenizer's hash is 'bytes'");
        free(mil);
    }
    /* join and leave on planted clusters: 3 clusters, then a 4th party joins, then leaves */
    {
        int N = 300, dd = 12, K = 3, M = 60;
        float *X = (float *)malloc((size_t)N * dd * sizeof(float)),
              *Y = (float *)malloc((size_t)M * dd * sizeof(float));
        float mu[4 * 12], want[12];
        int32_t lab[300];
        decar_router r, r0, r1, r2;
        decar_featurizer f, f1;
        decar_kmeans_opts o = decar_kmeans_default(K);
        decar_rng rng;
        void *buf;
        size_t len;
        double w[4], s = 0;
        decar_rng_seed(&rng, 33);
        for (i = 0; i < 4 * dd; i++) mu[i] = decar_rng_normal(&rng);
        for (i = 0; i < N + M; i++) {
            float *x = i < N ? X + i * dd : Y + (i - N) * dd;
            int q, c = i < N ? i % K : 3;
            for (q = 0; q < dd; q++) x[q] = mu[c * dd + q] + 0.5f * decar_rng_normal(&rng);
            decar_l2_normalize(x, dd);
        }
        memset(&f, 0, sizeof f);
        f.dim = dd;
        CHECK(decar_router_build(&r, X, N, dd, &o, lab, &e) == 0, "router: %s", e.msg);
        CHECK(decar_router_fit(&r, X, lab, N, 100, 0.05f, NULL, &e) == 0 && r.n_rows == N, "R5 keeps its %d rows", N);
        for (i = 0; i < K; i++) s += r.count[i];
        CHECK(s == N, "the counts sum to N (%g)", s);
        /* through a router file: counts, rows and fit settings come back */
        CHECK(decar_router_save_mem(&r, &f, &buf, &len, &e) == 0, "save: %s", e.msg);
        CHECK(decar_router_load_mem(&r0, &f1, buf, len, &e) == 0, "load: %s", e.msg);
        free(buf);
        CHECK(router_equal(&r, &r0) && r0.fit_steps == 100 && r0.fit_lr == 0.05f, "a router file keeps the lifecycle");
        /* join */
        CHECK(decar_router_load_mem(&r1, &f1, NULL, 0, &e) != 0, "an empty router file is refused");
        CHECK(decar_router_save_mem(&r, &f, &buf, &len, &e) == 0 && decar_router_load_mem(&r1, &f1, buf, len, &e) == 0,
              "copy");
        free(buf);
        CHECK(decar_router_join_features(&r1, Y, M, Y, M, &e) == 0, "join: %s", e.msg);
        CHECK(r1.k == 4 && r1.clf_w && r1.n_rows == N + M, "4 clusters, R5 of 4 classes on %d rows", N + M);
        for (i = 0; i < dd; i++) {
            int q;
            double t = 0;
            for (q = 0; q < M; q++) t += Y[q * dd + i];
            want[i] = (float)t;
        }
        decar_l2_normalize(want, dd);
        s = 0;
        for (i = 0; i < dd; i++) s += fabs(want[i] - r1.centroids[3 * dd + i]);
        CHECK(s < 1e-5, "the new centroid is the normalised mean of its documents (|diff| %.2g)", s);
        CHECK(!memcmp(r1.centroids, r.centroids, (size_t)K * dd * sizeof(float)) &&
                  !memcmp(r1.count, r.count, (size_t)K * sizeof(float)),
              "the old centroids and counts are untouched");
        CHECK(r1.count[3] == M, "count of the new cluster = its documents");
        for (i = 0; i < 4; i++)
            CHECK(r1.prior[i] == (float)((double)r1.count[i] / (N + M)), "prior %d = count / total", i);
        r1.kind = DECAR_ROUTE_LEARNED;
        r1.top_k = 1;
        {
            int right = 0;
            for (i = 0; i < M; i++) {
                decar_router_weights(&r1, Y + i * dd, NULL, w);
                right += w[3] == 1.0;
            }
            CHECK(right > M * 9 / 10, "R5 routes the new party's documents to it (%d of %d)", right, M);
            r1.kind = DECAR_ROUTE_TOP1;
            right = 0;
            for (i = 0; i < M; i++) right += decar_router_assign(&r1, Y + i * dd) == 3;
            CHECK(right > M * 9 / 10, "R1 routes them to it (%d of %d)", right, M);
        }
        /* leave: bit for bit the router before the join, also through a file */
        CHECK(decar_router_save_mem(&r1, &f, &buf, &len, &e) == 0 && decar_router_load_mem(&r2, &f1, buf, len, &e) == 0,
              "save and load the joined router: %s", e.msg);
        free(buf);
        CHECK(decar_router_leave(&r2, 3, &e) == 0, "leave: %s", e.msg);
        CHECK(router_equal(&r2, &r), "join then leave restores the router bit for bit");
        /* a middle cluster leaves: the rest move down, the prior is renormalised */
        CHECK(decar_router_leave(&r1, 1, &e) == 0 && r1.k == 3, "leave 1: %s", e.msg);
        CHECK(!memcmp(r1.centroids + dd, r.centroids + 2 * dd, (size_t)dd * sizeof(float)) && r1.count[2] == M,
              "cluster 2 became 1, the joined one 2");
        for (i = 0; i < r1.n_rows; i++) CHECK(r1.row_label[i] >= 0 && r1.row_label[i] < 3, "labels renumbered");
        /* bad input: unknown index, the last one, a featurizer of another size, a router without counts */
        CHECK(decar_router_leave(&r1, 3, &e) == DECAR_ERR_ARG && strstr(e.msg, "no expert 3"), "index 3: %s", e.msg);
        CHECK(decar_router_leave(&r1, -1, &e) == DECAR_ERR_ARG, "index -1: %s", e.msg);
        CHECK(decar_router_leave(&r1, 0, &e) == 0 && decar_router_leave(&r1, 0, &e) == 0, "down to one cluster");
        CHECK(decar_router_leave(&r1, 0, &e) == DECAR_ERR_ARG && strstr(e.msg, "last"), "the last one: %s", e.msg);
        CHECK(r1.k == 1, "a refused leave changes nothing");
        f1.dim = dd + 1;
        {
            decar_data d;
            decar_data_init(&d);
            CHECK(decar_router_join(&r0, &f1, &d, &e) == DECAR_ERR_ARG && strstr(e.msg, "featurizer"),
                  "another featurizer: %s", e.msg);
            decar_data_free(&d);
        }
        decar__free(r0.count);
        r0.count = NULL;
        CHECK(decar_router_join_features(&r0, Y, M, Y, M, &e) == DECAR_ERR_ARG && r0.k == 3, "no counts: %s", e.msg);
        decar_router_free(&r);
        decar_router_free(&r0);
        decar_router_free(&r1);
        decar_router_free(&r2);
        decar_feat_free(&f1);
        free(X);
        free(Y);
    }
    /* R5 for DFM experts (fit_noise = W): its rows are the documents and noised windows of them, drawn as documented
       (u ~ U(0,1), a uniform start, each byte kept with probability u); a router file keeps W; join then leave of a
       party's documents restores the router bit for bit */
    {
        decar_data d, nd;
        decar_featurizer fz, f1;
        decar_router r, r1, r2;
        decar_cluster_opts co = decar_cluster_opts_default(3);
        decar_rng rng;
        float *X = NULL;
        int32_t lab[90];
        int dim = 0, W = 24, np = 3, bad = 0, empty = 0;
        char name[32], text[256];
        const char *alpha[3] = { "abcdefgh ", "0123456789+", "XYZ!?;:-" };
        void *buf;
        size_t len;
        decar_rng_seed(&rng, 5);
        decar_data_init(&d);
        decar_data_init(&nd);
        for (i = 0; i < 90 + 20; i++) { /* 3 domains of 30 documents, then 20 of a 4th party (letters and digits) */
            int c = i < 90 ? i % 3 : 0, n = 40 + (int)(decar_rng_double(&rng) * 150), k;
            const char *a = alpha[c];
            for (k = 0; k < n; k++) {
                text[k] = a[(int)(decar_rng_double(&rng) * strlen(a))];
                if (i >= 90 && k % 2) text[k] = alpha[1][k % 10];
            }
            snprintf(name, sizeof name, "%c%03d.txt", i < 90 ? 'a' + c : 'z', i);
            CHECK(decar_data_add(i < 90 ? &d : &nd, name, text, n, 0, &e) == 0, "add: %s", e.msg);
        }
        CHECK(decar_data_finish(&d, &e) == 0 && decar_data_finish(&nd, &e) == 0, "finish: %s", e.msg);
        co.feat_dim = 32;
        CHECK(decar_cluster_docs(&d, &co, &fz, &r, &X, &dim, lab, &e) == 0 && dim == 32, "cluster: %s", e.msg);
        r.fit_noise = W;
        CHECK(decar_router_fit_docs(&r, &fz, &d, lab, np, 50, 7, NULL, &e) == 0, "fit: %s", e.msg);
        CHECK(r.n_rows == 90 * (1 + np), "R5 rows: every document and %d windows of it (%lld)", np,
              (long long)r.n_rows);
        /* by hand, in the documented order */
        bad = hand_noised_rows(&r, 0, &fz, &d, np, W, 7, lab, -1, &empty);
        CHECK(bad == 0, "every R5 row is the features of the documented noised window (%d differ)", bad);
        printf("  R5 noised windows: %lld rows as documented (%d with nothing revealed)\n", (long long)r.n_rows, empty);
        /* a router file keeps W; join then leave */
        CHECK(decar_router_save_mem(&r, &fz, &buf, &len, &e) == 0 &&
                  decar_router_load_mem(&r1, &f1, buf, len, &e) == 0,
              "save and load: %s", e.msg);
        free(buf);
        CHECK(r1.fit_noise == W && router_equal(&r, &r1), "a router file keeps fit_noise = %d (%d)", W, r1.fit_noise);
        CHECK(decar_router_join(&r1, &f1, &nd, &e) == 0 && r1.k == 4 && r1.n_rows == (90 + 20) * (1 + np),
              "join with noised windows: %s", e.msg);
        /* the party's rows: its documents and noised windows, drawn from the router's seed and the new index 3 */
        bad = hand_noised_rows(&r1, 90 * (1 + np), &f1, &nd, np, W, 7 ^ (0x9e3779b97f4a7c15ULL * 4), NULL, 3, NULL);
        CHECK(bad == 0, "the joining party's R5 rows are its documents' noised windows (%d differ)", bad);
        CHECK(decar_router_save_mem(&r1, &f1, &buf, &len, &e) == 0 &&
                  decar_router_load_mem(&r2, &f1, buf, len, &e) == 0,
              "save and load the joined router: %s", e.msg);
        free(buf);
        CHECK(decar_router_leave(&r2, 3, &e) == 0 && router_equal(&r2, &r), "join then leave restores it bit for bit");
        decar_router_free(&r);
        decar_router_free(&r1);
        decar_router_free(&r2);
        decar_feat_free(&fz);
        decar_feat_free(&f1);
        decar_data_free(&d);
        decar_data_free(&nd);
        DECAR_FREE(X);
    }
    /* provenance: into a checkpoint's metadata and back */
    {
        decar_provenance p, q;
        decar_gpt g;
        decar_gpt_config c = decar_gpt_config_of(1, 2, 16, 8);
        decar_data d;
        char meta[2048];
        void *buf;
        size_t len;
        decar_data_init(&d);
        CHECK(decar_data_add(&d, "a.txt", "hello", 5, 0, &e) == 0 && decar_data_finish(&d, &e) == 0, "data");
        decar_provenance_of_data(&p, &d, NULL);
        hex_of("a.txt\n", 6, meta);
        CHECK(!strcmp(p.shards, meta), "prov_shards = sha256 of the names, one per line");
        hex_of("\5\0\0\0\0\0\0\0hello", 13, meta);
        CHECK(!strcmp(p.docs, meta), "prov_docs = sha256 of (8-byte length, bytes) per document");
        strcpy(p.config, "steps=3 lr=0.001");
        p.seed = 12345678901234ULL;
        CHECK(decar_provenance_meta(&p, meta, sizeof meta, &e) == 0, "meta: %s", e.msg);
        CHECK(decar_provenance_meta(&p, meta, 100, &e) == DECAR_ERR_ARG, "too small a buffer is refused");
        CHECK(decar_provenance_meta(&p, meta, sizeof meta, &e) == 0, "meta again");
        CHECK(decar_gpt_init(&g, &c, 1, &e) == 0 && decar_gpt_save_mem(&g, 0, meta, &buf, &len, &e) == 0, "save");
        CHECK(decar_provenance_read(&q, buf, len, &e) == 0, "read: %s", e.msg);
        CHECK(!strcmp(q.shards, p.shards) && !strcmp(q.docs, p.docs) && !strcmp(q.base, "none") &&
                  !strcmp(q.tokenizer, "bytes") && !strcmp(q.config, p.config) && q.seed == p.seed &&
                  !strcmp(q.version, "decar " DECAR_VERSION) && !strcmp(q.parents, ""),
              "provenance round trip");
        free(buf);
        /* a field longer than a metadata value may be (128 bytes) goes in pieces and comes back whole */
        for (i = 0; i < 400; i++) p.config[i] = (char)('a' + i % 26);
        p.config[400] = 0;
        strcpy(p.parents, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,"
                          "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
        CHECK(decar_provenance_meta(&p, meta, sizeof meta, &e) == 0, "long fields: %s", e.msg);
        CHECK(decar_gpt_save_mem(&g, 0, meta, &buf, &len, &e) == 0 && decar_provenance_read(&q, buf, len, &e) == 0,
              "save and read long fields: %s", e.msg);
        CHECK(!strcmp(q.config, p.config) && !strcmp(q.parents, p.parents), "400-byte config and two parents back");
        free(buf);
        CHECK(decar_gpt_save_mem(&g, 0, NULL, &buf, &len, &e) == 0 && decar_provenance_read(&q, buf, len, &e) == 0 &&
                  !strcmp(q.docs, "unknown"),
              "a checkpoint without provenance reads 'unknown'");
        free(buf);
        decar_gpt_free(&g);
        decar_data_free(&d);
    }
    TEST_END("test_lifecycle");
}
