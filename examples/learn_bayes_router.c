/* learn_bayes_router.c - Bayes routing (R4') is a running product of likelihoods (docs/METHOD.md a3).

   Two experts over {a, b, c, d}, each a bigram chain: expert 1 was trained on text that alternates a and b, expert 2
   on text that alternates c and d. After reading x^1 .. x^s the ensemble weights expert k by

       P(k | x^{<=s}) = pi_k prod_{j<=s} p_k(x^j | x^{<j}) / sum_m pi_m prod_{j<=s} p_m(x^j | x^{<j})          (1)

   and predicts the next token with sum_k P(k | x^{<=s}) p_k(. | x^{<=s}). The library keeps log pi_k + the summed log
   likelihoods and takes a softmax (decar_router_weights with DECAR_ROUTE_BAYES); this program multiplies the
   probabilities themselves, as (1) is written, and prints both at every token of a text that starts like expert 1's
   data and switches to expert 2's half-way.
       cc -O2 examples/learn_bayes_router.c -lm -o learn_bayes_router && ./learn_bayes_router                   */
#define DECAR_IMPLEMENTATION
#include "../decar.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { V = 4, K = 2 };
/* p_k(x^j | x^{j-1}); the first token: uniform */
static const double chain[K][V][V] = {
    { { 0.10, 0.70, 0.10, 0.10 }, { 0.70, 0.10, 0.10, 0.10 }, { 0.40, 0.40, 0.10, 0.10 }, { 0.40, 0.40, 0.10, 0.10 } },
    { { 0.10, 0.10, 0.40, 0.40 }, { 0.10, 0.10, 0.40, 0.40 }, { 0.10, 0.10, 0.10, 0.70 }, { 0.10, 0.10, 0.70, 0.10 } },
};
static double p_of(int k, const char *x, int j) { return j == 0 ? 1.0 / V : chain[k][x[j - 1] - 'a'][x[j] - 'a']; }

int main(void) {
    const char *text = "ababababcdcdcdcd";
    float prior[K] = { 0.25f, 0.75f }; /* expert 2's cluster held three times as many documents */
    double loglik[K] = { 0.0, 0.0 }, prod[K], w[K], err = 0.0, w8 = 0.0;
    decar_router r;
    int j, k, n = (int)strlen(text), fails = 0, switched = -1;
    memset(&r, 0, sizeof r);
    r.kind = DECAR_ROUTE_BAYES;
    r.k = K;
    r.prior = prior;
    for (k = 0; k < K; k++) prod[k] = prior[k];
    printf("tok  p_1(x^j|.)  p_2(x^j|.)  P(1|x) library  P(1|x) by (1)  P(2|x) library  P(2|x) by (1)\n");
    for (j = 0; j < n; j++) {
        double z = 0.0;
        /* the library: log pi_k + sum_j log p_k(x^j | x^{<j}), then softmax */
        for (k = 0; k < K; k++) loglik[k] += log(p_of(k, text, j));
        decar_router_weights(&r, NULL, loglik, w);
        /* by hand: the running product pi_k prod_j p_k(x^j | x^{<j}), normalised */
        for (k = 0; k < K; k++) {
            prod[k] *= p_of(k, text, j);
            z += prod[k];
        }
        printf(" %c   %.2f        %.2f        %.10f    %.10f   %.10f    %.10f\n", text[j], p_of(0, text, j),
               p_of(1, text, j), w[0], prod[0] / z, w[1], prod[1] / z);
        /* the weights lie in [0, 1]: double rounding of 16 products and logs stays far below 1e-12 */
        for (k = 0; k < K; k++) err = fmax(err, fabs(w[k] - prod[k] / z));
        if (j == 7) w8 = w[0];
        if (switched < 0 && j > 8 && w[1] > 0.5) switched = j;
    }
    printf("largest difference: %.2e (allowed 1e-12)\n", err);
    if (!(err < 1e-12)) fails++;
    /* the evidence: expert 1 leads after its own text despite the prior 1:3; after the switch to "cdcd" expert 2 needs
       as much evidence again as expert 1 gathered, so it leads only some tokens later (a router with memory) */
    printf("after \"abababab\" P(1|x) = %.6f; after the switch expert 2 leads from token %d of %d\n", w8,
           switched + 1, n);
    if (!(w8 > 0.99) || switched < 9) fails++;
    printf("%s\n", fails ? "FAILED" : "ok: the Bayes router is the running product of the experts' likelihoods");
    return fails != 0;
}
