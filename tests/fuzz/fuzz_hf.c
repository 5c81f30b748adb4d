/* libFuzzer target: a Hugging Face GPT-2 folder (config.json + model.safetensors) from untrusted bytes. Bytes 0-1 say
   where config.json ends. decar_gpt_import_hf_mem reads config.json with decar's one JSON reader (top-level keys,
   the last duplicate wins, nested keys never match) and must return a status for any input, never crash. */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decar_gpt g;
    decar_error e;
    size_t split;
    if (size < 2) return 0;
    split = 2 + (size - 2) * (size_t)(data[0] | data[1] << 8) / 65535;
    if (decar_gpt_import_hf_mem(&g, data + split, size - split, (const char *)data + 2, split - 2, &e) == DECAR_OK)
        decar_gpt_free(&g);
    return 0;
}
