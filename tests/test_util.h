/* tiny test harness shared by the tests: CHECK counts failures, main returns non-zero if any */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H
#include <stdio.h>
#include <math.h>
static int g_fail = 0, g_checks = 0;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        g_checks++;                                                                                                    \
        if (!(cond)) {                                                                                                 \
            g_fail++;                                                                                                  \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)
/* OK(call): a library call that must succeed (DECAR_OK = 0); its status is a check, never ignored */
#define OK(call) CHECK((call) == 0, "%s failed", #call)
#ifdef DECAR_H
/* the evaluation tests' corpus: 60 documents in two domains ("text" words, "code" lines), 300 per mille held out.
   Document i has L + i % 9 words; its word j is the ((7 i + 3 j) mod m)-th of its domain's four (m <= 4). */
static inline void test_word_docs(decar_data *d, int m, int L) {
    static const char *words[] = { "alpha ",       "beta ",       "gamma ", "delta ",
                                   "int x = 1;\n", "return y;\n", "{ }\n",  "for (;;)\n" };
    decar_error e;
    char txt[400];
    int i, j;
    decar_data_init(d);
    for (i = 0; i < 60; i++) {
        char nm[32];
        int len = 0;
        sprintf(nm, "%s/doc%03d", i % 2 ? "code" : "text", i);
        for (j = 0; j < L + i % 9; j++) len += sprintf(txt + len, "%s", words[(i % 2) * 4 + (i * 7 + j * 3) % m]);
        CHECK(decar_data_add(d, nm, txt, len, 300, &e) == 0, "data_add: %s", e.msg);
    }
    CHECK(decar_data_finish(d, &e) == 0, "data_finish: %s", e.msg);
}
#endif
#define TEST_END(name)                                                                                                 \
    do {                                                                                                               \
        printf("%s: %d checks, %d failed\n", name, g_checks, g_fail);                                                  \
        return g_fail ? 1 : 0;                                                                                         \
    } while (0)
#endif
