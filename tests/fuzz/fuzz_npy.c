/* libFuzzer target: a .npy feature file from untrusted bytes */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    float *x = NULL;
    int64_t rows, cols;
    decar_error e;
    if (decar_npy_parse(data, size, &x, &rows, &cols, &e) == DECAR_OK) free(x);
    return 0;
}
