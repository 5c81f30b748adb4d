/* The image path: patch projection (linear and MLP) forward/backward by central finite differences through the whole
   model; the prefix changes the output; the KV-cache path with a projected prefix equals the full forward; a
   checkpoint with an image prefix round-trips; the image reader rejects bad sizes with a clear message; the image
   augmentation of the encoder's training (decar_image_augment) does what its comment says. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <stdlib.h>
#include <string.h>

static double model_loss(decar_gpt *g, decar_ctx *ctx, const float *pre, const int32_t *ids, const int32_t *tg, int B,
                         int T, int backward) {
    decar_tensor *lg, *l;
    int32_t *tg2 = (int32_t *)malloc((size_t)B * (g->cfg.n_prefix + T) * 4);
    int b, t, P = g->cfg.n_prefix;
    double v;
    for (b = 0; b < B; b++)
        for (t = 0; t < P + T; t++) tg2[b * (P + T) + t] = t < P ? -1 : tg[b * T + t - P];
    decar_ctx_reset(ctx);
    lg = decar_gpt_forward_prefix(ctx, g, pre, ids, B, T);
    l = decar_cross_entropy(ctx, lg, tg2, NULL, 0.0f, 0, NULL);
    if (backward) {
        decar_gpt_zero_grad(g);
        OK(decar_backward(ctx, l));
    }
    v = l ? l->data[0] : NAN;
    free(tg2);
    return v;
}

int main(void) {
    decar_gpt_config c = decar_gpt_default_config();
    decar_gpt g;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_rng r;
    int B = 2, T = 5, P = 4, D = 6, i, hid;
    float pre[2 * 4 * 6], pre2[2 * 4 * 6];
    int32_t ids[10], tg[10];
    printf("test_vision\n");
    decar_rng_seed(&r, 8);
    for (i = 0; i < B * P * D; i++) {
        pre[i] = decar_rng_normal(&r);
        pre2[i] = decar_rng_normal(&r);
    }
    for (i = 0; i < B * T; i++) {
        ids[i] = (i * 7) % 40;
        tg[i] = (i * 3 + 1) % 40;
    }
    for (hid = 0; hid <= 7; hid += 7) {
        int t, checked = 0, bad = 0;
        double worst = 0;
        c = decar_gpt_config_of(2, 2, 10, 12);
        c.vocab_size = 40;
        c.n_prefix = P;
        c.d_prefix = D;
        c.d_proj_hidden = hid;
        CHECK(decar_gpt_init(&g, &c, 3, &e) == 0, "init: %s", e.msg);
        model_loss(&g, ctx, pre, ids, tg, B, T, 1);
        for (t = 0; t < g.n_tensors; t++) {
            const decar_param_info *pi = &g.info[t];
            int64_t n = pi->shape[0] * pi->shape[1], k;
            if (strncmp(pi->name, "vision.", 7)) continue;
            for (k = 0; k<n; k += n> 20 ? n / 20 : 1) {
                float *p = g.params + pi->offset + k, old = *p, eps = 1e-2f;
                double lp, lm, num, an = g.grads[pi->offset + k], err;
                float *gsave = (float *)malloc(g.n_params * 4);
                memcpy(gsave, g.grads, g.n_params * 4);
                *p = old + eps;
                lp = model_loss(&g, ctx, pre, ids, tg, B, T, 0);
                *p = old - eps;
                lm = model_loss(&g, ctx, pre, ids, tg, B, T, 0);
                *p = old;
                memcpy(g.grads, gsave, g.n_params * 4);
                free(gsave);
                num = (lp - lm) / (2 * eps);
                err = fabs(an - num);
                if (err > worst) worst = err;
                if (!(err <= 3e-4 + 3e-2 * fabs(num))) {
                    bad++;
                    printf("  %s[%lld]: analytic %g numeric %g\n", pi->name, (long long)k, an, num);
                }
                checked++;
            }
        }
        CHECK(bad == 0 && checked > 20, "projection gradients (hidden %d): %d of %d off", hid, bad, checked);
        printf("  projector %s: %d gradient elements match finite differences (worst abs err %.2e)\n",
               hid ? "MLP (LLaVA-1.5 style)" : "linear", checked, worst);
        { /* the prefix conditions the text */
            decar_tensor *a, *b2;
            double d = 0;
            int64_t k, V = c.vocab_size;
            decar_ctx *c2 = decar_ctx_new(0);
            decar_ctx_reset(ctx);
            a = decar_gpt_forward_prefix(ctx, &g, pre, ids, B, T);
            b2 = decar_gpt_forward_prefix(c2, &g, pre2, ids, B, T);
            for (k = P * V; k < (P + T) * V; k++)
                if (fabs(a->data[k] - b2->data[k]) > d) d = fabs(a->data[k] - b2->data[k]);
            CHECK(d > 1e-5, "a different image must change the text logits (max diff %g; float noise is ~1e-7)", d);
            { /* and the same image twice changes nothing */
                decar_tensor *a2 = decar_gpt_forward_prefix(c2, &g, pre, ids, B, T);
                double d0 = 0;
                for (k = 0; k < (P + T) * V * B; k++)
                    if (fabs(a->data[k] - a2->data[k]) > d0) d0 = fabs(a->data[k] - a2->data[k]);
                CHECK(d0 == 0.0, "the same image twice gives the same logits (diff %g)", d0);
            }
            printf("  another image changes the text logits by up to %.3g\n", d);
            { /* KV-cache path with the projected prefix = the full forward */
                float *kv = (float *)malloc(decar_gpt_kv_size(&c) * 4),
                      *sc = (float *)malloc(decar_gpt_step_scratch(&c) * 4), *lg = (float *)malloc(V * 4);
                float emb[4 * 10];
                double dd = 0;
                int q;
                OK(decar_gpt_project_prefix(&g, pre, emb, NULL));
                for (q = 0; q < P; q++) decar_gpt_step_embed(&g, kv, emb + q * 10, q, lg, sc, NULL);
                for (q = 0; q < T; q++) {
                    OK(decar_gpt_step(&g, kv, ids[q], P + q, lg, sc, NULL));
                    for (k = 0; k < V; k++) {
                        double x = fabs(lg[k] - a->data[(P + q) * V + k]);
                        if (x > dd) dd = x;
                    }
                }
                CHECK(dd < 1e-4, "KV-cache path with prefix differs from the full forward by %g", dd);
                free(kv);
                free(sc);
                free(lg);
            }
            decar_ctx_free(c2);
        }
        { /* checkpoint round trip keeps the prefix config */
            void *buf;
            size_t len;
            decar_gpt h;
            CHECK(decar_gpt_save_mem(&g, 1, NULL, &buf, &len, &e) == 0 && decar_gpt_load_mem(&h, buf, len, &e) == 0,
                  "round trip: %s", e.msg);
            CHECK(h.cfg.n_prefix == P && h.cfg.d_prefix == D && h.cfg.d_proj_hidden == hid &&
                      !memcmp(h.params, g.params, g.n_params * 4),
                  "prefix config restored");
            free(buf);
            decar_gpt_free(&h);
        }
        decar_gpt_free(&g);
    }
    { /* a text model refuses a prefix; the prefix must leave room for text */
        decar_gpt_config t = decar_gpt_default_config();
        decar_gpt tg2;
        decar_ctx *c3 = decar_ctx_new(0);
        t.n_layer = 1;
        t.d_model = 8;
        t.n_head = 2;
        t.seq_len = 8;
        OK(decar_gpt_init(&tg2, &t, 1, &e));
        CHECK(decar_gpt_forward_prefix(c3, &tg2, pre, ids, 1, 2) == NULL && strstr(decar_ctx_error(c3), "text-only"),
              "text model with a prefix: %s", decar_ctx_error(c3));
        t.n_prefix = 8;
        t.d_prefix = 4;
        CHECK(decar_gpt_check_config(&t, &e) != 0 && strstr(e.msg, "no room"), "prefix fills seq_len: %s", e.msg);
        decar_gpt_free(&tg2);
        decar_ctx_free(c3);
    }
    { /* the image reader */
        decar_images im;
        FILE *f;
        uint8_t px[3 * 16];
        float patches[16];
        for (i = 0; i < 48; i++) px[i] = (uint8_t)(i * 5);
        f = fopen("build/img_ok.bin", "wb");
        fwrite(px, 1, 48, f);
        fclose(f);
        f = fopen("build/img_bad.bin", "wb");
        fwrite(px, 1, 47, f);
        fclose(f);
        f = fopen("build/cap3.txt", "w");
        fputs("A\nB\nC\n", f);
        fclose(f);
        f = fopen("build/cap2.txt", "w");
        fputs("A\nB\n", f);
        fclose(f);
        CHECK(decar_images_load(&im, "build/img_ok.bin", "build/cap3.txt", 4, &e) == 0 && im.n == 3 &&
                  !strcmp(im.captions[2], "C"),
              "reader: %s", e.msg);
        decar_images_free(&im);
        f = fopen("build/cap3.txt", "wb");
        fputs("A\r\n\r\nC\r", f); /* CRLF line ends, an empty caption, no final newline */
        fclose(f);
        CHECK(decar_images_load(&im, "build/img_ok.bin", "build/cap3.txt", 4, &e) == 0 && im.n == 3 &&
                  !strcmp(im.captions[0], "A") && !strcmp(im.captions[1], "") && !strcmp(im.captions[2], "C"),
              "CRLF captions lose their carriage returns: %s", e.msg);
        decar_image_patches(im.pixels + 16, 4, 2, patches);
        CHECK(fabs(patches[0] - (80 / 255.0f - 0.5f)) < 1e-6 && fabs(patches[4] - (90 / 255.0f - 0.5f)) < 1e-6,
              "patches are row-major 2x2 tiles");
        { /* caption rows: [EOT c] -> [c EOT], EOT / -1 past the end, cut to T; captions picked by idx */
            const char *caps[3] = { "ab", "", "xyz" };
            int idx[2] = { 2, 0 }, T = 4, t, ok = 1;
            int32_t ids[8], tg[8];
            const int32_t want_ids[8] = { DECAR_TOK_EOT, 'x', 'y', 'z', DECAR_TOK_EOT, 'a', 'b', DECAR_TOK_EOT };
            const int32_t want_tg[8] = { 'x', 'y', 'z', DECAR_TOK_EOT, 'a', 'b', DECAR_TOK_EOT, -1 };
            decar_caption_rows(caps, idx, 2, T, ids, tg);
            for (t = 0; t < 8; t++) ok &= ids[t] == want_ids[t] && tg[t] == want_tg[t];
            decar_caption_rows(caps, NULL, 3, 2, ids, tg); /* cut to 2: "ab" loses its EOT target */
            ok &= ids[0] == DECAR_TOK_EOT && ids[1] == 'a' && tg[0] == 'a' && tg[1] == 'b';
            ok &= ids[2] == DECAR_TOK_EOT && ids[3] == DECAR_TOK_EOT && tg[2] == DECAR_TOK_EOT && tg[3] == -1;
            ok &= tg[4] == 'x' && tg[5] == 'y';
            CHECK(ok, "caption rows: framing, padding and the cut");
        }
        decar_images_free(&im);
        CHECK(decar_images_load(&im, "build/img_bad.bin", "build/cap3.txt", 4, &e) != 0 &&
                  strstr(e.msg, "whole number"),
              "truncated image file: %s", e.msg);
        printf("  rejected: %s\n", e.msg);
        CHECK(decar_images_load(&im, "build/img_ok.bin", "build/cap2.txt", 4, &e) != 0 && strstr(e.msg, "captions"),
              "count mismatch: %s", e.msg);
        printf("  rejected: %s\n", e.msg);
        CHECK(decar_images_load(&im, "build/none.bin", "build/cap2.txt", 4, &e) != 0 && strstr(e.msg, "cannot open"),
              "missing file: %s", e.msg);
    }
    { /* the held-out split: one image per shared caption, the least hash(group|caption), first on ties; top-up */
        enum { NI = 9 };
        char *caps[NI] = { "a", "b", "a", "c", "a", "d", "b", "e", "f" };
        const char *font[NI] = { "x", "x", "y", "x", "z", "x", "y", "x", "x" };
        int lab[NI] = { 0, 0, 0, 0, 0, 1, 0, 1, 1 }, test[NI], want_a = 0, j, n_test = 0, lab1 = 0, ok = 1;
        decar_images im;
        memset(&im, 0, sizeof im);
        im.n = NI;
        im.captions = caps;
        for (j = 1; j < NI; j++) /* which "a" has the least hash of "font|a" */
            if (caps[j][0] == 'a') {
                char k1[8], k2[8];
                snprintf(k1, sizeof k1, "%s|a", font[j]);
                snprintf(k2, sizeof k2, "%s|a", font[want_a]);
                if (decar_hash64(k1, strlen(k1), 7) < decar_hash64(k2, strlen(k2), 7)) want_a = j;
            }
        CHECK(decar_images_split(&im, font, lab, 2, 2, test, &e) == 0, "split: %s", e.msg);
        for (j = 0; j < NI; j++) {
            n_test += test[j] != 0;
            lab1 += lab[j] == 1 && test[j] == 2;
            if (caps[j][0] == 'a') ok &= (test[j] == 1) == (j == want_a);
        }
        ok &= (test[1] == 1) != (test[6] == 1) && test[3] == 0 && lab1 == 2;
        CHECK(ok && n_test == 4, "split: one 'a' (the least hash), one 'b', two unseen captions of label 1 (%d)",
              n_test);
        memset(test, 0, sizeof test);
        CHECK(decar_images_split(&im, NULL, NULL, 1, 0, test, &e) == 0 && test[0] == 1 && test[2] == 0 &&
                  test[4] == 0 && test[1] == 1 && test[6] == 0,
              "split without groups: equal keys hold out the first image of each shared caption only");
        lab[3] = 5;
        CHECK(decar_images_split(&im, font, lab, 2, 2, test, &e) != 0 && strstr(e.msg, "label"),
              "a label outside [0, n_labels) is an error: %s", e.msg);
    }
    { /* raw-pixel features: out = R x / |R x|, R (dim, n_pixels) the seed's normals drawn pixel by pixel */
        enum { NP = 50, DM = 7 };
        uint8_t img[NP];
        float mean[NP], rt[NP * DM], out[DM], out2[DM];
        double ref[DM] = { 0 }, nrm = 0, err = 0;
        decar_rng r;
        int p, j;
        for (p = 0; p < NP; p++) {
            img[p] = (uint8_t)(p * 37 % 256);
            mean[p] = 0.01f * p;
        }
        decar_pixel_projection(rt, NP, DM, 42);
        decar_pixel_features(img, NP, mean, DM, rt, out);
        decar_rng_seed(&r, 42);
        for (p = 0; p < NP; p++)
            for (j = 0; j < DM; j++) ref[j] += (img[p] / 255.0 - mean[p]) * decar_rng_normal(&r);
        for (j = 0; j < DM; j++) nrm += ref[j] * ref[j];
        for (j = 0; j < DM; j++) err = fmax(err, fabs(out[j] - ref[j] / sqrt(nrm)));
        CHECK(err < 1e-5, "pixel features against R x / |R x| in double: max error %g", err);
        decar_pixel_projection(rt, NP, DM, 43);
        decar_pixel_features(img, NP, mean, DM, rt, out2);
        CHECK(fabs(out2[0] - out[0]) > 1e-4, "another seed, another projection");
    }
    { /* a tiny synthetic image-caption set for the command-line test in run_tests.sh: bars and boxes */
        FILE *fi = fopen("build/tinyglyphs/images_32x32_u8.bin", "wb"),
             *fc = fopen("build/tinyglyphs/captions.txt", "w");
        FILE *fl = fopen("build/tinyglyphs/labels.txt", "w"), *fm = fopen("build/tinyglyphs/meta.tsv", "w");
        int k;
        if (fi && fc && fl && fm) {
            fprintf(fm, "index\tcodepoint\tchar\tlabel\tfont\tcaption\n");
            for (k = 0; k < 120; k++) {
                uint8_t img[1024];
                int kind = k % 4, pos = (k / 4) % 10, font = (k / 40), x, y;
                const char *names[4] = { "VERTICAL BAR", "HORIZONTAL BAR", "BOX", "DOT" };
                for (y = 0; y < 32; y++)
                    for (x = 0; x < 32; x++) {
                        int on = kind == 0   ? (x >= 4 + 2 * pos && x < 7 + 2 * pos + font)
                                 : kind == 1 ? (y >= 4 + 2 * pos && y < 7 + 2 * pos + font)
                                 : kind == 2 ? (x > 4 && x < 27 && y > 4 && y < 27 &&
                                                (x < 7 + font || x > 24 - font || y < 7 + font || y > 24 - font))
                                             : ((x - 16) * (x - 16) + (y - 16) * (y - 16) < 9 + 4 * font);
                        img[y * 32 + x] = on ? 255 : 0;
                    }
                fwrite(img, 1, 1024, fi);
                fprintf(fc, "%s %d\n", names[kind], pos);
                fprintf(fl, "%s\n", kind < 2 ? "bars" : "shapes");
                fprintf(fm, "%d\tU+%04X\t?\t%s\tfont%d\t%s %d\n", k, 0x41 + k, kind < 2 ? "bars" : "shapes", font,
                        names[kind], pos);
            }
        }
        if (fi) fclose(fi);
        if (fc) fclose(fc);
        if (fl) fclose(fl);
        if (fm) fclose(fm);
        CHECK(fi && fc && fl && fm, "wrote build/tinyglyphs");
        { /* and stand-in encoder features for it: 120 rows of 2 prefix vectors x 6 floats, as a .npy */
            float feat[120 * 12];
            void *buf;
            size_t len;
            decar_error e2;
            decar_rng rr;
            int q;
            decar_rng_seed(&rr, 4);
            for (q = 0; q < 120 * 12; q++)
                feat[q] = (float)((q / 12) % 4) + 0.1f * decar_rng_normal(&rr); /* the kind, plus noise */
            CHECK(decar_npy_build(feat, 120, 12, &buf, &len) == 0 &&
                      decar_write_file_atomic("build/tinyglyphs/features.npy", buf, len, &e2) == 0,
                  "features.npy");
            free(buf);
        }
    }
    /* decar_image_augment: no change copies; a shift alone moves the image by a (dx, dy) in range, background in;
       a scale alone keeps the centre; a stroke change grows or shrinks the ink by the 3 x 3 filter; same seed, same
       image; always five draws */
    {
        enum { S = 16 };
        uint8_t im[S * S], out[S * S], out2[S * S];
        int x, y, ok, found = 0, ink0 = 0, ink1, grew = 0, shrank = 0, k;
        decar_rng ra, rb;
        for (i = 0; i < S * S; i++) im[i] = 20; /* a dark background, a bright bar and dot */
        for (y = 4; y < 12; y++) im[y * S + 7] = im[y * S + 8] = 230;
        im[3 * S + 3] = 200;
        for (i = 0; i < S * S; i++) ink0 += im[i] > 128;
        decar_rng_seed(&ra, 1);
        decar_image_augment(out, im, S, 0, 0.0, 0.0, &ra);
        CHECK(!memcmp(out, im, sizeof im), "no augmentation copies the image");
        for (k = 0; k < 20; k++) { /* a shift alone: out(x, y) = im(x - dx, y - dy) for some |dx|, |dy| <= 2 */
            int dx, dy;
            decar_image_augment(out, im, S, 2, 0.0, 0.0, &ra);
            for (ok = 0, dy = -2; dy <= 2 && !ok; dy++)
                for (dx = -2; dx <= 2 && !ok; dx++) {
                    ok = 1;
                    for (y = 0; y < S && ok; y++)
                        for (x = 0; x < S && ok; x++) {
                            int sx = x - dx, sy = y - dy;
                            int want = sx >= 0 && sx < S && sy >= 0 && sy < S ? im[sy * S + sx] : 20;
                            ok = out[y * S + x] == want;
                        }
                }
            found += ok;
        }
        CHECK(found == 20, "a shift alone is a translation by at most 2 pixels, background in (%d of 20)", found);
        decar_image_augment(out, im, S, 0, 0.3, 0.0, &ra);
        CHECK(out[0] == 20 && out[7 * S + 7] > 128 && out[8 * S + 8] > 128, "a scale keeps the centre and background");
        for (k = 0; k < 40; k++) { /* stroke 1: every time one of the two filters */
            decar_image_augment(out, im, S, 0, 0.0, 1.0, &ra);
            for (i = 0, ink1 = 0; i < S * S; i++) ink1 += out[i] > 128;
            grew += ink1 > ink0;
            shrank += ink1 < ink0;
        }
        CHECK(grew > 5 && shrank > 5 && grew + shrank == 40, "strokes thicker %d, thinner %d times of 40", grew,
              shrank);
        decar_rng_seed(&ra, 9);
        decar_rng_seed(&rb, 9);
        decar_image_augment(out, im, S, 2, 0.2, 0.5, &ra);
        decar_image_augment(out2, im, S, 2, 0.2, 0.5, &rb);
        CHECK(!memcmp(out, out2, sizeof out), "the same seed gives the same image");
        decar_rng_seed(&rb, 9);
        decar_image_augment(out2, im, S, 0, 0.0, 0.0, &rb);
        CHECK(decar_rng_u32(&ra) == decar_rng_u32(&rb), "five draws whatever the settings");
        printf("  image augmentation: copy, translations, scale, strokes (%d thicker, %d thinner), seeded\n", grew,
               shrank);
    }
    decar_ctx_free(ctx);
    TEST_END("test_vision");
}
