/* libFuzzer target: document lists and expert manifests (one entry per line) and comma lists (--experts a,b,-) */
#define DECAR_IMPLEMENTATION
#include "../../decar.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char **items;
    int n, i;
    decar_error e;
    char sep[2] = { '\n', ',' };
    for (i = 0; i < 2; i++) {
        if (decar_list_parse((const char *)data, size, sep[i], &items, &n, &e) == DECAR_OK) {
            int j;
            size_t total = 0;
            for (j = 0; j < n; j++) total += strlen(items[j]); /* every entry is a terminated string */
            if (n < 1 || total > size) __builtin_trap();
            free(items);
        }
    }
    return 0;
}
