/* libFuzzer target: a CSV for decar plot (rows of any length, quoted fields, no header, junk) from untrusted bytes,
   read through the CLI's own reader (examples/decar.c, its main renamed) from memory. Any input gives a status and
   the points it read, never a crash or a read out of bounds. */
#define main decar_cli_main
#include "../../examples/decar.c"
#undef main
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    series s;
    FILE *f;
    if (size == 0) return 0;
    f = fmemopen((void *)data, size, "r");
    if (!f) return 0;
    memset(&s, 0, sizeof s);
    (void)read_csv_xy_f(f, "fuzz.csv", "tokens", "val_loss", &s); /* closes f */
    free(s.x);
    free(s.y);
    return 0;
}
