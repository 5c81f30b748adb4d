/* libFuzzer target: an image-caption set. Byte 0 picks the side (1..16), byte 1 where the image bytes end. */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decar_images im;
    decar_error e;
    size_t split;
    int side;
    if (size < 2) return 0;
    side = 1 + data[0] % 16;
    split = 2 + (size - 2) * data[1] / 255;
    if (decar_images_parse(&im, data + 2, split - 2, (const char *)data + split, size - split, side, &e) == DECAR_OK) {
        int k;
        for (k = 0; k < im.n; k++) (void)strlen(im.captions[k]);
        decar_images_free(&im);
    }
    return 0;
}
