/* Writes a decar checkpoint and the logits decar computes for fixed ids (as .npy), for scripts/check_interop.py to
   load in PyTorch and compare. Usage: test_interop OUTDIR */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include "test_util.h"
#include <string.h>
int main(int argc, char **argv) {
    decar_gpt g; decar_gpt_config c = decar_gpt_default_config(); decar_error e; decar_ctx *ctx = decar_ctx_new(0); int32_t ids[2 * 13]; int i; char p[512]; void *buf; size_t len;
    decar_tensor *lg;
    const char *dir = argc > 1 ? argv[1] : "build";
    c.vocab_size = DECAR_BYTE_VOCAB; c.n_layer = 2; c.n_head = 3; c.d_model = 24; c.seq_len = 16; c.causal = 1;
    CHECK(decar_gpt_init(&g, &c, 2024, &e) == 0, "init");
    for (i = 0; i < 26; i++) ids[i] = i == 0 || i == 13 ? DECAR_TOK_EOT : (i * 37) % 256;
    lg = decar_gpt_forward(ctx, &g, ids, 2, 13);
    CHECK(lg != NULL, "forward");
    sprintf(p, "%s/interop.safetensors", dir); CHECK(decar_gpt_save(&g, p, NULL, &e) == 0, "save: %s", e.msg);
    CHECK(decar_npy_build(lg->data, 26, c.vocab_size, &buf, &len) == 0, "npy");
    sprintf(p, "%s/interop_logits.npy", dir); CHECK(decar_write_file_atomic(p, buf, len, &e) == 0, "write npy");
    free(buf); decar_gpt_free(&g); decar_ctx_free(ctx);
    TEST_END("test_interop");
}
