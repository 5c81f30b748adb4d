/* libFuzzer target: a model checkpoint (safetensors) from untrusted bytes. decar_gpt_load_mem must return a status
   for any input, never crash, read out of bounds, or allocate more than a few times the input's size. */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decar_gpt g;
    decar_error e;
    if (decar_gpt_load_mem(&g, data, size, &e) == DECAR_OK) decar_gpt_free(&g);
    return 0;
}
