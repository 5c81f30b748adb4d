/* libFuzzer target: a router file (safetensors) from untrusted bytes, then one routing call with it */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decar_router r;
    decar_featurizer f;
    decar_error e;
    if (decar_router_load_mem(&r, &f, data, size, &e) == DECAR_OK) {
        float *x = (float *)calloc((size_t)r.d, sizeof(float));
        double *w = (double *)calloc((size_t)r.k, sizeof(double));
        if (x && w) {
            x[0] = 1.0f;
            r.kind = DECAR_ROUTE_COSINE;
            r.top_k = 2;
            decar_router_weights(&r, x, NULL, w);
            (void)decar_router_assign(&r, x);
        }
        free(x);
        free(w);
        decar_router_free(&r);
        decar_feat_free(&f);
    }
    return 0;
}
