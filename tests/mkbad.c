/* mkbad - writes the hostile files of the bad-input catalogue (tests/bad_inputs.sh) into DIR.
   usage: mkbad DIR GOOD.safetensors ROUTER.safetensors
   Every file here is one a user or a broken disk could hand to decar: truncations, lies in the header, NaN, sizes that
   would make a trusting loader allocate gigabytes, overlapping or duplicated tensors, malformed .npy and lists. */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static void put(const char *name, const void *p, size_t n) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "mkbad: cannot write %s\n", path);
        exit(1);
    }
}
static void put_str(const char *name, const char *s) {
    put(name, s, strlen(s));
}
/* a raw safetensors file: 8-byte little-endian header length, the JSON header, data_len zero bytes */
static void raw_st(const char *name, const char *json, size_t data_len) {
    size_t hl = strlen(json), i;
    uint8_t *b = (uint8_t *)calloc(8 + hl + data_len + 1, 1);
    for (i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    put(name, b, 8 + hl + data_len);
    free(b);
}
static void npy(const char *name, const char *dict, size_t data_len, float fill) {
    char h[256];
    size_t hl, i, n;
    uint8_t *b;
    snprintf(h, sizeof h, "%s", dict);
    hl = strlen(h);
    while ((10 + hl + 1) % 64) h[hl++] = ' ';
    h[hl++] = '\n';
    h[hl] = 0;
    n = 10 + hl + data_len;
    b = (uint8_t *)calloc(n + 1, 1);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)hl;
    b[9] = (uint8_t)(hl >> 8);
    memcpy(b + 10, h, hl);
    for (i = 0; i + 4 <= data_len; i += 4) memcpy(b + 10 + hl + i, &fill, 4);
    put(name, b, n);
    free(b);
}

int main(int argc, char **argv) {
    void *good, *rb;
    size_t gl, rl, k;
    decar_error e;
    decar_gpt g;
    uint8_t *c;
    if (argc != 4) {
        fprintf(stderr, "usage: mkbad DIR GOOD.safetensors ROUTER.safetensors\n");
        return 2;
    }
    dir = argv[1];
    if (decar_read_file(argv[2], &good, &gl, &e) || decar_read_file(argv[3], &rb, &rl, &e)) {
        fprintf(stderr, "mkbad: %s\n", e.msg);
        return 1;
    }
    c = (uint8_t *)malloc(gl + 64);
    /* checkpoints: truncations at several places */
    put("ckpt_empty.safetensors", good, 0);
    put("ckpt_trunc7.safetensors", good, 7);
    put("ckpt_trunc100.safetensors", good, 100);
    put("ckpt_trunc_half.safetensors", good, gl / 2);
    put("ckpt_trunc_last.safetensors", good, gl - 1);
    /* a flipped data byte (the CRC catches it), a flipped header byte */
    memcpy(c, good, gl);
    c[gl - 10] ^= 0x40;
    put("ckpt_bitflip.safetensors", c, gl);
    memcpy(c, good, gl);
    for (k = 8; k < 200 && k < gl; k++)
        if (c[k] == ':') {
            c[k] = ';';
            break;
        }
    put("ckpt_badjson.safetensors", c, gl);
    /* one extra byte at the end */
    memcpy(c, good, gl);
    c[gl] = 0;
    put("ckpt_trailing.safetensors", c, gl + 1);
    /* lies in the header */
    raw_st("ckpt_huge_header.safetensors", "{}", 0);
    memcpy(c, good, 8);
    c[7] = 0x7f;
    put("ckpt_hl_huge.safetensors", c, 16);
    raw_st("ckpt_no_meta.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    /* a 200-byte file whose config would need gigabytes: refused before allocating */
    raw_st("ckpt_bigconfig.safetensors",
           "{\"__metadata__\":{\"vocab_size\":\"16777216\",\"n_layer\":\"64\",\"n_head\":\"64\","
           "\"d_model\":\"65536\",\"seq_len\":\"1048576\"}}",
           0);
    raw_st("ckpt_bad_config.safetensors",
           "{\"__metadata__\":{\"vocab_size\":\"258\",\"n_layer\":\"2\",\"n_head\":\"3\","
           "\"d_model\":\"32\",\"seq_len\":\"16\"}}",
           0);
    raw_st("ckpt_neg_config.safetensors",
           "{\"__metadata__\":{\"vocab_size\":\"-5\",\"n_layer\":\"2\",\"n_head\":\"2\","
           "\"d_model\":\"32\",\"seq_len\":\"16\"}}",
           0);
    raw_st("ckpt_overlap.safetensors",
           "{\"__metadata__\":{\"vocab_size\":\"258\",\"n_layer\":\"1\",\"n_head\":\"1\",\"d_model\":\"1\","
           "\"seq_len\":\"2\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12);
    raw_st("ckpt_dup.safetensors",
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           8);
    raw_st("ckpt_offsets_out.safetensors",
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[1000000],\"data_offsets\":[0,4000000]}}", 16);
    raw_st("ckpt_shape_mismatch.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    raw_st("ckpt_neg_offset.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8);
    /* a valid model with a NaN weight, a model with an F16 tensor, a missing tensor, a tensor of the wrong shape */
    if (decar_gpt_load_mem(&g, good, gl, &e)) {
        fprintf(stderr, "mkbad: %s\n", e.msg);
        return 1;
    }
    {
        void *b;
        size_t n;
        decar_gpt_config cfg = g.cfg;
        g.params[3] = NAN;
        if (decar_gpt_save_mem(&g, 0, NULL, &b, &n, &e)) return 1;
        put("ckpt_nan.safetensors", b, n);
        free(b);
        g.params[3] = 1e38f;
        g.params[4] = 1e38f;
        if (decar_gpt_save_mem(&g, 0, NULL, &b, &n, &e)) return 1;
        put("ckpt_huge_weights.safetensors", b, n); /* finite: loads; averaging two of them overflows */
        free(b);
        decar_gpt_free(&g);
        /* a CLIP text tower (a causal GPT over bytes, like a language model, but an encoder) and an unknown kind */
        if (decar_gpt_load_mem(&g, good, gl, &e)) return 1;
        if (decar_gpt_save_mem(&g, 1, "\"clip_tau\":\"2.6\",\"clip_tower\":\"text\"", &b, &n, &e)) return 1;
        put("ckpt_clip_text.safetensors", b, n);
        free(b);
        if (decar_gpt_save_mem(&g, 1, "\"clip_tower\":\"audio\"", &b, &n, &e)) return 1;
        put("ckpt_clip_unknown.safetensors", b, n);
        free(b);
        /* quantized checkpoints with a hostile scale: Inf, NaN, finite but so large that 127 x scale overflows, and
           finite with finite weights (1.3e38) whose forward overflows float32 */
        {
            static const char *qname[4] = { "q8_scale_inf", "q8_scale_nan", "q8_scale_huge", "q8_scale_big" };
            const float qval[4] = { INFINITY, NAN, 3e38f, 1e36f };
            int q, t;
            char nm[64];
            for (q = 0; q < 4; q++) {
                decar_gpt_free(&g);
                if (decar_gpt_load_mem(&g, good, gl, &e) || decar_gpt_quantize(&g, DECAR_Q8_0, &e)) return 1;
                for (t = 0; t < g.n_tensors; t++)
                    if (g.q[t].type == DECAR_Q8_0) {
                        int64_t i, nb = (g.q[t].cols + 31) / 32;
                        for (i = 0; i < (q == 3 ? g.q[t].rows * nb : 1); i++) g.q[t].scale[i] = qval[q];
                        break;
                    }
                if (decar_gpt_save_mem(&g, 0, NULL, &b, &n, &e)) return 1;
                snprintf(nm, sizeof nm, "%s.safetensors", qname[q]);
                put(nm, b, n);
                free(b);
            }
        }
        decar_gpt_free(&g);
        /* a vocabulary of 10 tokens: the prompt's EOT (256) is outside it */
        cfg.vocab_size = 10;
        if (decar_gpt_init(&g, &cfg, 1, &e) || decar_gpt_save_mem(&g, 0, NULL, &b, &n, &e)) return 1;
        put("ckpt_vocab10.safetensors", b, n);
        free(b);
        decar_gpt_free(&g);
    }
    { /* rename the first tensor: "checkpoint lacks tensor" */
        memcpy(c, good, gl);
        for (k = 8; k + 22 < gl; k++)
            if (!memcmp(c + k, "transformer.wte.weight", 22)) {
                c[k] = 'X';
                break;
            }
        put("ckpt_missing_tensor.safetensors", c, gl);
        memcpy(c, good, gl);
        for (k = 8; k + 3 < gl; k++)
            if (!memcmp(c + k, "F32", 3)) {
                memcpy(c + k, "F16", 3);
                break;
            }
        put("ckpt_f16.safetensors", c, gl);
    }
    /* routers */
    put("router_trunc.safetensors", rb, rl / 2);
    raw_st("router_k0.safetensors",
           "{\"__metadata__\":{\"k\":\"0\",\"dim\":\"8\",\"feat_seed\":\"1\",\"n_fine\":\"0\"}}", 0);
    raw_st("router_hugek.safetensors",
           "{\"__metadata__\":{\"k\":\"16000000\",\"dim\":\"1000000\",\"feat_seed\":\"1\",\"n_fine\":\"0\"}}", 0);
    raw_st("router_nometa.safetensors", "{}", 0);
    memcpy(c, rb, rl < gl ? rl : gl);
    /* an expert manifest with a blank line, an empty manifest, a binary manifest */
    put_str("weights_nan.txt", "nan,1");
    put("manifest_binary.txt", "a\0b\n", 4);
    put_str("manifest_empty.txt", "\n\n");
    /* .npy feature files */
    put_str("feat_garbage.npy", "garbage");
    npy("feat_trunc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }", 40, 0.5f);
    npy("feat_fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, 0.5f);
    npy("feat_int.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", 16, 0.5f);
    npy("feat_3d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", 32, 0.5f);
    npy("feat_nan.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16, NAN);
    npy("feat_huge_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000), }", 16, 0.5f);
    npy("feat_rows2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", 32, 0.5f);
    npy("feat_zero_cols.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }", 0, 0.5f);
    free(c);
    free(good);
    free(rb);
    return 0;
}
