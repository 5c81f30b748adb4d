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
#define TEST_END(name)                                                                                                 \
    do {                                                                                                               \
        printf("%s: %d checks, %d failed\n", name, g_checks, g_fail);                                                  \
        return g_fail ? 1 : 0;                                                                                         \
    } while (0)
#endif
