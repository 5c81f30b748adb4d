/* libFuzzer target: a BPE tokenizer's files (vocab.json + merges.txt) from untrusted bytes, then an encoding with it.
   Bytes 0-1 say where vocab.json ends. */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decar_tokenizer t;
    decar_error e;
    size_t split;
    if (size < 2) return 0;
    split = 2 + (size - 2) * (size_t)(data[0] | data[1] << 8) / 65535;
    if (decar_tokenizer_load_mem(&t, (const char *)data + 2, split - 2, (const char *)data + split, size - split, &e) ==
        DECAR_OK) {
        static const uint8_t text[] = "the cat's hat, 2026 \xc3\xbc  x";
        int32_t ids[sizeof text];
        int64_t n = decar_tokenizer_encode(&t, text, (int64_t)sizeof text - 1, ids), i;
        for (i = 0; i < n; i++) {
            const uint8_t *b;
            (void)decar_tokenizer_decode(&t, ids[i], &b);
        }
        decar_tokenizer_free(&t);
    }
    return 0;
}
