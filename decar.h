/* decar.h - v0.6 - decentralized autoregressive generation in one C header.
   Public domain / MIT (your choice), see the end of the file.

   Train small expert language models apart, each on one cluster of the data, with no gradients or messages between
   them, then generate with them as one model through a light router. One header holds a float32 tensor core with
   reverse-mode autograd, a GPT-2 style transformer (causal for autoregressive (AR) training, non-causal for masked
   discrete flow matching (DFM)), AdamW, safetensors checkpoints, a byte-level data loader and BPE tokenizer, a text
   featurizer, spherical balanced k-means, routers, the routed ensemble, its evaluation and its samplers.

   USAGE
     Do this in *one* C or C++ file before the include to create the implementation:
         #define DECAR_IMPLEMENTATION
         #include "decar.h"
     Other files include "decar.h" without the define.

   TEN-LINE EXAMPLE (train a tiny GPT on a byte string, then sample from it: examples/tiny.c, run by make test)
         decar_gpt_config c = decar_gpt_config_of(2, 4, 64, T);  // 2 layers, 4 heads, d_model 64, context T, bytes
         decar_gpt g, *one = &g;
         decar_error e;
         if (decar_gpt_init(&g, &c, 1337, &e)) return 1;         // e.msg says why
         decar_ctx *ctx = decar_ctx_new(0);                      // 0 = growable arena for activations
         decar_opt opt = decar_opt_default();                    // AdamW, warmup + cosine, clip 1.0
         for (int s = 0; s < 300; s++)                           // ids, targets: B*T tokens, targets[i] = ids[i+1]
             loss = decar_gpt_train_step(&g, ctx, &opt, ids, targets, NULL, B, T);
         decar_ensemble en = decar_ensemble_of(&one, 1);         // one model: plain sampling
         decar_sample_opts so = decar_sample_opts_default();     // temp 1, top-k / top-p off, seed 1
         so.n_new = 31;                                          // tokens after the prompt (so.temp = 0: greedy)
         decar_ensemble_generate(&en, NULL, prompt, 1, &so, out, &n, NULL, &e);  // out: n tokens
         decar_gpt_save(&g, "model.safetensors", NULL, &e);      // atomic: tmp file, fsync, rename
     examples/pipeline.c runs the whole method (featurize, cluster, train K experts, route, score, generate) in 75
     lines through the library alone.

   COMPILE-TIME OPTIONS (define before the include that has DECAR_IMPLEMENTATION)
     DECAR_STATIC          make every function static (a private copy per translation unit).
     DECAR_MALLOC(sz) DECAR_REALLOC(p,sz) DECAR_FREE(p)   override allocation: define all three or none. With
                           OpenMP they are called from several threads at once (GEMM scratch): make them thread-safe.
     DECAR_NO_STDIO        drop everything that touches files or stdout (file checkpoints, directory loading,
                           printing). In-memory checkpoints, data from buffers and all math remain.
     DECAR_NO_SIMD         scalar kernels only (the reference path the tests compare the SIMD paths against).
                           Otherwise the SIMD path is chosen at compile time from __AVX512F__, __AVX2__+__FMA__
                           or __ARM_NEON on AArch64 (compile with -march=native or -mavx2 -mfma to get it).
     DECAR_NO_THREADS      ignore OpenMP even when the compiler has it (-fopenmp turns threads on).
     DECAR_USE_CBLAS       route large float32 matmuls through cblas_sgemm (link -lopenblas or any cblas).
     DECAR_USE_CUDA        with the implementation compiled by nvcc (a .cu file, or nvcc -x cu), link -lcublas: the
                           device path's kernels become CUDA kernels and models can live on a GPU
                           (decar_gpt_to_device, section 10; `make cuda` builds the CLI this way). Without nvcc the
                           macro changes nothing. Other files include the header as usual, from C or C++.
   Nothing depends on -ffast-math; do not use it (GELU and softmax need IEEE semantics).

   THREADS AND DETERMINISM
     Kernels are parallel with OpenMP when compiled with -fopenmp. Every output element is computed by exactly one
     thread in a fixed order, so results are bit-identical run to run and (on the built-in path) independent of the
     thread count. decar_set_threads() sets the OpenMP thread count: that is process-global state. A kernel opens a
     parallel region only when more than one thread is set and no region is running: with one thread, or called from
     the caller's own parallel loop (one model per thread), it runs as a plain loop, at no OpenMP cost.
     A decar_ctx, decar_gpt or decar_ensemble must not be used from two threads at once; distinct objects may.
     The library never aborts on bad input and keeps no hidden global state besides the OpenMP thread count.

   MEMORY
     Activations live in a context's arena (decar_ctx), freed at once by decar_ctx_reset. The GEMM's packing scratch
     is a workspace (decar_ws) owned by the context, and by the model for its KV-cache steps: it grows to the largest
     product once, so a training step or a generated token allocates nothing after the first. A forward that needs
     no gradient (scoring) runs under decar_ctx_no_grad: no attention probabilities kept for a backward.

   ERRORS (one contract)
     Every fallible function returns DECAR_OK (0) or a positive DECAR_ERR_* and writes the reason into the
     decar_error it takes (NULL is allowed: the status alone). Results come back through out-parameters (a length in
     *n_out, a token in *token, iterations in *iters). The tensor ops, which take a context instead, return NULL and
     record the status and reason in it (decar_ctx_status, decar_ctx_error); a training step returns NaN then.
     Checkpoints, routers, .npy files, lists and tokenizer files are untrusted input: validated before anything is
     allocated from them (a checkpoint costs at most 4x its size in memory, a quantized one 4.6x). Files are written to
   an exclusive temporary, fsynced, then renamed (decar_write_files_atomic commits several at once).

   LIMITS
     Training is float32. Inference can read int8 (Q8_0) or bf16 weight matrices (decar_gpt_quantize, section 10): a
     Q8_0 product rounds its input rows to int8 per block of 32 as well (W8A8, with VNNI's vpdpbusd where the CPU has
     it, section 4), a bf16 product keeps them float32; a quantized model's KV cache holds bf16 keys and values (as
     llama.cpp's holds f16), a float model's float32; everything else stays float32. Element counts and offsets are
     int64/size_t. Tensors have at most 4 dimensions. Tokens are int32. The default tokenizer is bytes: 256
     byte symbols plus DECAR_TOK_EOT (end of document) and DECAR_TOK_MASK (the DFM mask token): vocab 258. A byte-level
     BPE (decar_tokenizer) has its own EOT and puts the mask after its tokens; every vocabulary of 258 or more ends with
     its mask (decar_gpt_classes / _mask). The CUDA path (DECAR_USE_CUDA, section 10c) compiles, links and passes its
     tests as CPU loops, but HAS NOT YET RUN ON A GPU: scripts/gpu_check.sh is the one command left to run on one. It
     trains and runs text models in float32.

   DOCUMENT BOUNDARIES
     Training windows are cut from the stream "EOT doc1 EOT doc2 ...": one end-of-document token between
     documents (GPT-2's choice). Attention may cross the token, but the model learns that EOT resets the context,
     and it costs nothing extra; evaluation scores each document on its own, starting after an EOT.

   SECTIONS (declarations and implementation carry the same numbers, in the order data flows; a lettered part has
   a banner of its own in both, "---- 10b. ..."; the declarations put 10d after 12, whose decar_opt it takes)
      1 errors, rng
      2 tensors and the arena
      3 formats and files: safetensors, JSON, atomic writes
      4 kernels: the SIMD GEMM and its workspace, the Linear layer's forward; the ops' kernels are declared here, with
        their equations and shapes, and implemented in 5b (after the ops, whose row helpers they share) and 5c
        4a bf16 products: mixed precision for every GEMM (decar_set_precision; AMX tiles or emulated)
        4b quantized weight matrices (Q8_0, bf16) and their matrix-vector kernels
      5 autograd ops; 5a gradient buffers; 5b the ops' kernels, forward and backward; 5c their plain references;
        5d the backward pass (each op's backward through its kernels, decar_backward)
      6 data: documents, lists; 6b byte-level BPE tokenizer; 6c token streams, batches, loading; 6d images
      7 features: tf-idf hashing, any feature function, pixels, .npy
      8 clustering: spherical balanced k-means, two-stage
      9 routing: R1-R4', the router of a partition, decar_cluster_docs
     10 model: GPT with an optional image prefix, quantized weights (it opens with the map of what a change of the
        model must touch); 10b KV-cache inference; 10c the device path (kernels written once for CUDA and for CPU
        loops; the model's forward, backward, AdamW and KV-cache step on it); 10d CLIP, two towers of the same blocks
        trained by symmetric InfoNCE, and zero-shot retrieval
     11 losses: AR cross-entropy, masked DFM corruption
     12 training: AdamW, the step, the loop; SmallTalk's partition by router LMs
     13 checkpoints: safetensors (float or quantized); 13b Hugging Face GPT-2
     14 ensemble: mixture weights, AR generation; 14b held-out evaluation (AR, DFM bound, oracle, bootstrap, captions)
     15 samplers: from a distribution (implemented at the start of 14, which draws with it); masked DFM (Euler,
        first-hitting, left-to-right)
     16 the lifecycle: experts that join and leave an ensemble; provenance (SHA-256) of every checkpoint

   THE METHOD, STEP BY STEP (each a library call)
     decar_cluster_docs            features of every document, spherical balanced k-means on the training ones, the
                                   router (centroids, prior) and every document's shard, in one call
                                   (decar_feat_fit / decar_feat_apply / decar_router_build one at a time)
     decar_train                   one expert per shard, in separate processes, nothing shared (AR or masked DFM)
     decar_ensemble_score_docs     held-out bits of the routed mixture under any router and top-k (R4' included);
     decar_ensemble_dfm_bound      the same for DFM experts, on decar_dfm's kappa schedule
     decar_ensemble_generate       sample from sum_k w_k p_k (an optional image prefix: captioning); _fill for DFM
   AND AFTER (section 16): a new party joins, a party leaves, every expert says what made it
     decar_router_join             a new party's cluster from its documents: centroid, prior by counts, R5 refitted
                                   (_join_features from feature rows; decar_router_nearest + decar_gpt_average: BTM
                                   branching from the nearest experts)
     decar_router_leave            the router without one expert: centroid dropped, prior renormalised, R5 refitted
     decar_provenance_of_data      hashes of an expert's documents and tokenizer; decar_provenance_meta writes them
                                   into a checkpoint's metadata, decar_provenance_read reads them back
     decar_sha256                  SHA-256 (FIPS 180-4), streaming (_init / _update / _final), decar_file_sha256

   THE EQUATIONS OF docs/METHOD.md AND WHERE THEY ARE (examples/learn_*.c show four of them on checkable numbers)
     a1  p_t(x^i | x_1) = (1 - kappa_t) delta_M + kappa_t delta_{x_1^i}, kappa_t = t^n     decar_dfm_corrupt
     a1  L = E [ kappa'_t / (1 - kappa_t) sum_{i masked} -log p(x_1^i | x_t) ]            decar_dfm_corrupt weights +
                                                                                         decar_cross_entropy
     a1  Euler: unmask with prob (kappa_{t+h} - kappa_t) / (1 - kappa_t)                  decar_dfm_sample (EULER)
     a1  first-hitting: one masked position at a time, uniformly                          decar_dfm_sample (FIRST_HIT)
     a2  p_{1|t}(. | x) = sum_k r_k(x) p_{1|t}^(k)(. | x)   (the mixture posterior)       decar_dfm_sample
     a2  r_k(x) proportional to pi_k q_k(x^U), updated at each reveal                      decar_dfm_sample (R4')
     a3  p(y | c, x<=s) = sum_k P(k | c, x<=s) p_k(y | c, x<=s)                           decar_ensemble_generate
     a3  P(k | c, x<=s) proportional to pi_k prod_j p_k(x^j | c, x<j)   (Bayes, R4')      decar_router_weights (loglik)
     a3  AR = DFM with left-to-right order, one token per step                            decar_dfm_sample (L2R)
     a4  R1 k* = argmax_k cos(e, mu_k) (two-stage: map[argmax_f cos(e, mu_f)])          decar_router_assign
     a4  R2 w_k proportional to exp(cos(e, mu_k) / T), top-k, renormalised                 decar_router_weights
     a4  R3 c-BTM w = softmax(-d_k^2 / T), d_k = ||h - c_k||^2                             decar_router_weights
     a4  missing experts removed, the rest renormalised                                  decar__mix_weights
     a4  BTM parameter averaging theta = sum_k w_k theta_k                                decar average (CLI)
     a4b base model, experts and dense fine-tuned from it on compute-matched budgets      scripts/pipeline.sh BASE=
     b   balanced spherical k-means, hard capacity ceil(N / K)                           decar_kmeans (balanced = 1)
     b   two-stage: fine clusters, then balanced k-means of their centroids               decar_kmeans (n_fine > 0)
     a4  R5 learned router: p(k | h) = softmax(W h + b), fitted on features of documents    decar_router_fit(_docs),
         and of their prefixes (what routing sees while generating)                        decar_router_weights
     a4  R6 SmallTalk: k* = argmin_k loss_k(prefix) under small per-cluster LMs           decar_lm_router_fn +
                                                                                         decar_router_weights
     CLIP logits = exp(tau) I T^T (unit rows), L = (CE(logits, diag) + CE(logits^T, diag)) / 2  decar_clip_loss
     (the paper's features: image embeddings cluster and route, patch features feed the captioners' projector)

   VERSION HISTORY
     0.1  first release: tensors, autograd, GPT (+ image prefix), AdamW, safetensors, data, features, k-means,
          routers, ensemble, masked DFM. No CUDA backend yet (DECAR_USE_CUDA is reserved).
     0.2  speed: K-blocked GEMM, blocked causal attention, vector GELU/exp/LayerNorm/AdamW, 8-row matrix-vector
          kernel for generation; backward recycles gradient buffers (after decar_backward only leaves keep a grad);
          decar_gpt_step_batch_scratch() grew by seq_len floats per sequence. Checkpoints are unchanged.
     0.3  untrusted input: checkpoints and routers validated before allocating (memory within 4x the file),
          decar_router_load_mem / _save_mem, decar_images_parse, decar_list_parse (strict, positional lists),
          decar_write_files_atomic (exclusive temporaries, all-or-none, directory fsync); no fixed expert limits;
          decar_read_file reads regular files only. Byte-level BPE; Hugging Face GPT-2 interchange.
     0.4  the whole method in the library: decar_cluster_docs, decar_router_build, decar_train, decar_docset +
          decar_gpt_score_docs + decar_ensemble_score_docs, decar_ensemble_dfm_bound, decar_ensemble_route /
          _score_seq, pixel features as a feature function; decar_ensemble_generate takes an image prefix (greedy at
          temp <= 0, en->stop_at_eot). Named kernels with plain references (decar_*_forward / _backward / _ref);
          decar_ws (no allocation per product). One error contract: decar_ensemble_generate, decar_kmeans and
          decar_sample_probs return a status (results in out-parameters); decar_feat_apply, decar_data_batch and
          the KV-cache steps take a decar_error. Sections renumbered in the order data flows. Checkpoints unchanged.
     0.5  quantized inference: decar_gpt_quantize (Q8_0: int8 with a float scale per 32 weights of a row; bf16),
          decar_qlinear_forward (+ _ref), quantized checkpoints (I8 + "<name>.scale" F32, or BF16, "quant" in the
          metadata); decar_st_tensor gained dtype and raw (decar_st_tensor_of fills them). decar_gpt gained qtype, q;
          decar_gpt_weight_bytes. A quantized model is an inference model (no grads, m, v).
     0.6  the device path (section 10c): decar_gpt_to_device / _device / _sync / _kv_new / _kv_free, decar_device_name /
          _parse / _available; DECAR_DEVICE_CUDA with DECAR_USE_CUDA under nvcc (cuBLAS), DECAR_DEVICE_CPU_KERNELS
          elsewhere. decar_gpt gained dev. decar_crc32 is public (the CLI's PNG writer uses it). Not yet run on a GPU.
          CLIP (section 10d): decar_clip_init / _free / _text_ids / _forward / _loss / _train_step / _embed / _save /
          _load, decar_retrieval; ops decar_rows, decar_l2norm, decar_exp; decar_gpt_hidden (the forward without
          the head). decar_images_split (the held-out rule of image sets) and decar_ensemble_caption (one image's
          caption bits and greedy caption under a routed ensemble), both moved from the CLI.
          decar_pixel_projection; decar_pixel_features and decar_pixel_featurizer take the projection, not a seed.
          decar_caption_rows (captions framed as training and scoring rows), moved from the CLI.
     0.6  (cont.) the lifecycle (section 16): decar_router_join / _join_features / _leave / _nearest,
          decar_gpt_average, decar_docs_features, decar_sha256 (+ _init / _update / _final / _hex),
          decar_file_sha256, decar_tokenizer_sha256, decar_provenance (+ _of_data / _meta / _read). decar_router
          gained count, n_rows, rows, row_label, fit_steps, fit_prefix, fit_lr, fit_seed; router files keep them
          (older files load; they cannot join or leave). decar_router_build sets pi_k = count_k / N in one division
          (it summed 1/N: the prior can differ in the last bit). decar_router_fit keeps a copy of its rows.
     0.6  (cont.) option structs instead of long positional lists (the same results at the same seeds):
          decar_sample_opts (n_new, temp, top_k, top_p, seed, stop_at_eot; sampler, n_steps, kappa_pow for DFM) for
          decar_ensemble_generate, decar_ensemble_fill, decar_dfm_sample and decar_sample_probs (which now applies
          temp too); decar_ensemble.stop_at_eot moved into it (decar_ensemble_caption stops its greedy caption at EOT
          itself). decar_caption_result (decar_ensemble_caption's bits, scored, best, w_best); decar_cluster_opts
          (decar_cluster_docs: k-means, tf-idf dimension and seed, or given feature rows); decar_smalltalk_opts;
          decar_bootstrap_opts and decar_interval (decar_bootstrap_ratio); decar_dfm_bound_opts
          (decar_ensemble_dfm_bound). Each has a _default() function.
     0.6  (cont.) decar_ensemble_caption_experts: every expert's bits on one image's caption alone (the oracle router
          of decar caption --oracle 1 and the vision line of the scaling study).
*/
#ifndef DECAR_H
#define DECAR_H

#include <stddef.h>
#include <stdint.h>

#define DECAR_VERSION "0.6"
#define DECAR_VERSION_NUM 600

#ifdef DECAR_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define DECARDEF static __attribute__((unused)) /* a private copy: what the file does not call is not a warning */
#else
#define DECARDEF static
#endif
#else
#ifdef __cplusplus
#define DECARDEF extern "C"
#else
#define DECARDEF extern
#endif
#endif

/* ---------------------------------------------------------------------------------------------------------------
   1. errors, rng
   --------------------------------------------------------------------------------------------------------------- */
enum {
    DECAR_OK = 0,
    DECAR_ERR_NOMEM,  /* allocation failed or the fixed-size arena is full */
    DECAR_ERR_ARG,    /* bad argument: shapes, sizes, K larger than the data, ... */
    DECAR_ERR_IO,     /* a file could not be read or written */
    DECAR_ERR_FORMAT, /* malformed input: truncated or corrupted checkpoint, bad .npy, ... */
    DECAR_ERR_NUMERIC /* NaN or Inf where a finite number is required */
};

typedef struct decar_error {
    int code;
    char msg[256];
} decar_error;

DECARDEF const char *decar_status_name(int code);

typedef struct decar_rng {
    uint64_t s;
} decar_rng;
DECARDEF void decar_rng_seed(decar_rng *r, uint64_t seed);
DECARDEF uint32_t decar_rng_u32(decar_rng *r);
DECARDEF double decar_rng_double(decar_rng *r);                         /* uniform in [0,1), 53 bits */
DECARDEF float decar_rng_normal(decar_rng *r);                          /* standard normal (Box-Muller in double) */
DECARDEF uint64_t decar_hash64(const void *p, size_t n, uint64_t seed); /* FNV-1a then splitmix finaliser */

DECARDEF void decar_set_threads(int n); /* OpenMP threads (global); no-op without OpenMP */
DECARDEF int decar_get_threads(void);

/* ---------------------------------------------------------------------------------------------------------------
   2. tensors and the arena
   A context owns an arena. Tensors, their data and their gradients are bump-allocated and freed all at once by
   decar_ctx_reset(). decar_ctx_new(0) makes a growable arena (chained blocks; reset keeps the largest); a fixed
   size never grows: when it is full the op returns NULL and decar_ctx_error() says how much was needed.
   Every op accepts NULL inputs and returns NULL, so a chain of ops can be checked once at the end.
   --------------------------------------------------------------------------------------------------------------- */
#define DECAR_MAX_DIMS 4

typedef struct decar_ctx decar_ctx;

typedef struct decar_tensor {
    int op; /* DECAR_OP_*; DECAR_OP_LEAF for inputs and parameters */
    int ndim;
    int64_t shape[DECAR_MAX_DIMS]; /* row-major, shape[ndim-1] is contiguous */
    int64_t n;                     /* number of elements */
    float *data;
    float *grad; /* NULL unless requires_grad; for non-leaves, live only during decar_backward */
    int requires_grad;
    struct decar_tensor *src[3];
    int ip[4];   /* integer op parameters */
    float fp[2]; /* float op parameters */
    void *aux;   /* op-private saved data (indices, statistics, probabilities) */
    void *aux2;
    struct decar_tensor *next; /* tape order (creation order) */
    int64_t id;                /* position on the tape */
    int need;                  /* set by decar_backward: on a path to the loss */
    int gfresh;                /* decar_backward: grad just taken, contents undefined (reads as zero) */
} decar_tensor;

enum {
    DECAR_OP_LEAF = 0,
    DECAR_OP_VIEW,
    DECAR_OP_MATMUL,
    DECAR_OP_ADD,
    DECAR_OP_MUL,
    DECAR_OP_SCALE,
    DECAR_OP_GELU,
    DECAR_OP_LAYERNORM,
    DECAR_OP_SOFTMAX,
    DECAR_OP_ATTENTION,
    DECAR_OP_EMBEDDING,
    DECAR_OP_CROSS_ENTROPY,
    DECAR_OP_SUM,
    DECAR_OP_MEAN,
    DECAR_OP_CONCAT,
    DECAR_OP_ROWS,
    DECAR_OP_L2NORM,
    DECAR_OP_EXP,
    DECAR_OP_COUNT
};

DECARDEF decar_ctx *decar_ctx_new(size_t bytes); /* 0: growable. NULL only if malloc fails */
DECARDEF void decar_ctx_free(decar_ctx *ctx);
DECARDEF void decar_ctx_reset(decar_ctx *ctx); /* drop every tensor; clears the error */
DECARDEF size_t decar_ctx_used(const decar_ctx *ctx);
DECARDEF size_t decar_ctx_peak(const decar_ctx *ctx); /* the most bytes ever asked for: size a fixed arena */
DECARDEF int decar_ctx_status(const decar_ctx *ctx);
DECARDEF const char *decar_ctx_error(const decar_ctx *ctx);
DECARDEF void *decar_ctx_alloc(decar_ctx *ctx, size_t bytes); /* 64-byte aligned scratch from the arena */
/* on != 0 (torch.no_grad): the ops' outputs need no gradient, whatever their inputs, so no backward can run through
   them, and attention keeps no probabilities for one (one (T, T) block per thread instead of B NH T^2 floats); the
   outputs themselves stay in the arena until decar_ctx_reset, as always. The setting survives decar_ctx_reset;
   returns the previous one (0 for a new context). Scoring, embedding and the DFM bound and sampler use it */
DECARDEF int decar_ctx_no_grad(decar_ctx *ctx, int on);

DECARDEF decar_tensor *decar_new(decar_ctx *ctx, int ndim, const int64_t *shape); /* zero-filled */
DECARDEF decar_tensor *decar_new1(decar_ctx *ctx, int64_t a);
DECARDEF decar_tensor *decar_new2(decar_ctx *ctx, int64_t a, int64_t b);
DECARDEF decar_tensor *decar_new3(decar_ctx *ctx, int64_t a, int64_t b, int64_t c);
DECARDEF decar_tensor *decar_param(decar_ctx *ctx, int ndim, const int64_t *shape); /* requires grad */
/* wrap caller-owned memory (a parameter block): grad may be NULL (no gradient) */
DECARDEF decar_tensor *decar_wrap(decar_ctx *ctx, float *data, float *grad, int ndim, const int64_t *shape);
/* a view of src's elements [offset, offset+n) with a new shape; data and grad alias src's */
DECARDEF decar_tensor *decar_view(decar_ctx *ctx, decar_tensor *src, int ndim, const int64_t *shape, int64_t offset);

/* ---------------------------------------------------------------------------------------------------------------
   3. formats and files: safetensors (8-byte little-endian header length, JSON header, raw little-endian
   data) for any named float arrays, and files written atomically (exclusive temporary, fsync, rename)
   --------------------------------------------------------------------------------------------------------------- */
DECARDEF int decar_meta_get(const void *buf, size_t len, const char *key, char *val, size_t val_cap);
/* the same machinery for any named float arrays (router files use it): ndim 1 or 2 */
enum { DECAR_ST_F32 = 0, DECAR_ST_I8 = 1, DECAR_ST_BF16 = 2 }; /* safetensors dtypes "F32", "I8", "BF16" */
typedef struct decar_st_tensor {
    const char *name;
    int ndim;
    int64_t shape[2];
    const float *data; /* F32 */
    int dtype;         /* DECAR_ST_F32 (data), or DECAR_ST_I8 / DECAR_ST_BF16 (raw: int8_t / uint16_t values) */
    const void *raw;
} decar_st_tensor;
/* a 2-D (rows, cols) tensor entry, or 1-D (rows) when cols is 0 */
DECARDEF decar_st_tensor decar_st_tensor_of(const char *name, int64_t rows, int64_t cols, const float *data);
DECARDEF int decar_st_save_mem(const decar_st_tensor *t, int n, const char *meta, void **buf, size_t *len,
                               decar_error *e);
/* copy tensor `name` into out if it is F32 with exactly n elements; checks the whole file first (and its CRC) */
DECARDEF int decar_st_get(const void *buf, size_t len, const char *name, float *out, int64_t n, decar_error *e);
DECARDEF uint32_t decar_crc32(const uint8_t *p, size_t n); /* CRC-32 (IEEE, zlib's): checkpoints' and PNGs' */
#ifndef DECAR_NO_STDIO
DECARDEF int decar_read_file(const char *path, void **buf, size_t *len, decar_error *e);
DECARDEF int decar_write_file_atomic(const char *path, const void *buf, size_t len, decar_error *e);
/* several files as one: all written to exclusive temporaries and fsynced, then all renamed (directories fsynced);
   on failure no target is touched and no temporary is left (a failed rename midway is reported) */
DECARDEF int decar_write_files_atomic(int n, const char *const *paths, const void *const *bufs, const size_t *lens,
                                      decar_error *e);
#endif

/* ---------------------------------------------------------------------------------------------------------------
   4. kernels (exposed for benchmarks and for users building their own models)
   --------------------------------------------------------------------------------------------------------------- */
/* C (M,N) (+)= A (M,K) * B (K,N).  A is read as A[i*sai + k*sak], B as B[k*sbk + n*sbn] (any strides; B is packed
   into panels first unless few rows of C read it), C is row-major with leading dimension ldc and must not overlap A or
   B. accumulate = 0 overwrites C. bias (N) or NULL is added once. */
/* Scratch for the GEMM's packed panels, three buffers per thread (packed B, packed A, and the bf16-rounded operands of
   the emulated bf16 path: M K + K N floats of the largest such product). It grows to the largest product it has seen
   and then stays (decar_ws_free releases it): after their first step, training, scoring and batched generation
   allocate nothing per product. Every
   decar_ctx owns one (decar_ctx_ws) and every model one for its KV-cache steps; wherever a kernel takes a decar_ws,
   NULL means "allocate per call" (decar_gemm is decar_gemm_ws with NULL). */
typedef struct decar_ws decar_ws;
DECARDEF decar_ws *decar_ws_new(void);
DECARDEF void decar_ws_free(decar_ws *ws);
DECARDEF decar_ws *decar_ctx_ws(decar_ctx *ctx); /* the context's workspace (created on first use; NULL: no memory) */
DECARDEF void decar_gemm_ws(decar_ws *ws, float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak,
                            const float *B, int64_t sbk, int64_t sbn, const float *bias, int64_t M, int64_t N,
                            int64_t K, int accumulate);
DECARDEF void decar_gemm(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B, int64_t sbk,
                         int64_t sbn, const float *bias, int64_t M, int64_t N, int64_t K, int accumulate);
/* out (M,N) = inp (M,K) * w(N,K)^T + bias: the Linear forward; picks matrix-vector kernels for small M */
DECARDEF void decar_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t M,
                                   int64_t K, int64_t N, decar_ws *ws);
DECARDEF void decar_matmul_forward_ref(float *out, const float *inp, const float *w, const float *b, int64_t M,
                                       int64_t K, int64_t N);
DECARDEF const char *decar_simd_name(void); /* "avx512", "avx2+fma", "neon" or "scalar" */
/* ---- 4a. bf16 products ------------------------------------------------------------------------------------------- */
/* The precision of the matrix products (process-global, like the thread count). DECAR_FP32 (the default): float32.
   DECAR_BF16, mixed precision: every decar_gemm rounds its two operands to bf16 (round to nearest even) and sums the
   products in float32, C = sum_k bf16(A[i,k]) bf16(B[k,j]); weights, gradients, optimizer state, activations and
   every other op stay float32 (no loss scaling: bf16 has float32's range). Where the build has AMX (-mamx-tile
   -mamx-bf16, which -march=native gives on a Xeon that has it) the products run on the tile unit; elsewhere the
   rounded operands go through the float32 kernel (the same numbers up to summation order; the tested fallback).
   decar_set_precision returns the path it will use: "amx", "emulated" or "fp32". */
enum { DECAR_FP32 = 0, DECAR_BF16 = 1 };
DECARDEF const char *decar_set_precision(int precision);
DECARDEF int decar_get_precision(void);
/* ---- 4b. quantized weight matrices ------------------------------------------------------------------------------- */
/* Quantized weight matrices for inference (rows N = outputs, cols K = inputs, row-major like w above):
   DECAR_Q8_0: int8 q (N, K) and a float scale per 32 consecutive inputs of a row, scale (N, ceil(K / 32)):
               w[n][k] = q[n][k] * scale[n][k / 32], scale = max |w| / 127 over the block, q = round(w / scale)
               (llama.cpp's Q8_0 with an f32 scale: 1.125 bytes a weight against 4);
   DECAR_QBF16: bf16 (N, K), the top 16 bits of each float rounded to nearest even (2 bytes a weight).
   decar_qmat_make quantizes w and writes the dequantized values back into w, so a float path over w (the GEMM)
   computes with exactly the weights the quantized kernel reads. */
enum { DECAR_QNONE = 0, DECAR_Q8_0 = 1, DECAR_QBF16 = 2 };
#define DECAR_Q8_BLOCK 32
typedef struct decar_qmat {
    int type; /* DECAR_QNONE: no quantized copy */
    int64_t rows, cols;
    int8_t *q8;     /* Q8_0: rows * cols */
    float *scale;   /* Q8_0: rows * ceil(cols / 32) */
    uint16_t *bf16; /* BF16: rows * cols */
} decar_qmat;
DECARDEF int decar_qmat_make(decar_qmat *qm, int type, float *w, int64_t rows, int64_t cols, decar_error *e);
DECARDEF void decar_qmat_free(decar_qmat *qm);
DECARDEF const char *decar_qtype_name(int type);          /* "f32", "q8_0", "bf16" */
DECARDEF int decar_qtype_parse(const char *s, int *type); /* 0 and the type, or -1 for another name */
/* out (M, N) = inp (M, K) w^T + bias with w quantized (K = w->cols, N = w->rows): matrix-vector kernels that read
   each quantized row once for all M inputs. Q8_0 rounds the inputs too, per block of 32 to int8 with a scale (W8A8,
   llama.cpp's q8_0 x q8_0: exact integer dots); bf16 keeps them in floats (weights widened to floats, exact
   products). Meant for small M (generation), where the bytes of the weights are the limit. out must not overlap
   bias (nor inp, for bf16). */
DECARDEF void decar_qlinear_forward(float *out, const float *inp, const decar_qmat *w, const float *bias, int64_t M);
DECARDEF void decar_qlinear_forward_ref(float *out, const float *inp, const decar_qmat *w, const float *bias,
                                        int64_t M);
/* ---- the ops' kernels (implemented in 5b, their plain references in 5c) ------------------------------------------ */
/* The kernels of the autograd ops, by name (llm.c's convention): outputs first, then inputs, then sizes. Backward
   kernels accumulate (+=) into their input gradients. Beside each, its plain reference (_ref: the same math, one loop
   at a time, no SIMD, no threads) that tests/test_kernels.c compares it with on odd sizes. */
/* out (rows, C) = (inp - mean) / sqrt(var + 1e-5) * w + b per row; stats (rows, 2) = (mean, 1 / sqrt(var + 1e-5)) */
DECARDEF void decar_layernorm_forward(float *out, float *stats, const float *inp, const float *w, const float *b,
                                      int64_t rows, int64_t C);
DECARDEF void decar_layernorm_forward_ref(float *out, float *stats, const float *inp, const float *w, const float *b,
                                          int64_t rows, int64_t C);
/* with xh = (x - mean) rstd, dn = dout w: dinp += rstd (dn - mean(dn) - xh mean(dn xh)), dw += sum_rows dout xh,
   db += sum_rows dout (dinp, dw or db may be NULL) */
DECARDEF void decar_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                       const float *w, const float *stats, int64_t rows, int64_t C);
DECARDEF void decar_layernorm_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                           const float *w, const float *stats, int64_t rows, int64_t C);
/* out (n) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); backward: dinp += dout gelu'(x) */
DECARDEF void decar_gelu_forward(float *out, const float *inp, int64_t n);
DECARDEF void decar_gelu_forward_ref(float *out, const float *inp, int64_t n);
DECARDEF void decar_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n);
DECARDEF void decar_gelu_backward_ref(float *dinp, const float *inp, const float *dout, int64_t n);
/* out (rows, C) = softmax(inp) per row; backward: dinp += out (dout - sum_j out_j dout_j) */
DECARDEF void decar_softmax_forward(float *out, const float *inp, int64_t rows, int64_t C);
DECARDEF void decar_softmax_forward_ref(float *out, const float *inp, int64_t rows, int64_t C);
DECARDEF void decar_softmax_backward(float *dinp, const float *out, const float *dout, int64_t rows, int64_t C);
DECARDEF void decar_softmax_backward_ref(float *dinp, const float *out, const float *dout, int64_t rows, int64_t C);
/* qkv (B, T, 3C) = [q | k | v], NH heads of C / NH: att (B, NH, T, T) = softmax(q k^T / sqrt(hs)) (causal: key <=
   query; masked entries 0), out (B, T, C) = att v. Backward: dqkv (B, T, 3C) += the gradients of q, k, v; scratch holds
   B * NH * T * T floats. */
DECARDEF void decar_attention_forward(float *out, float *att, const float *qkv, int64_t B, int64_t T, int64_t C, int NH,
                                      int causal, decar_ws *ws);
DECARDEF void decar_attention_forward_ref(float *out, float *att, const float *qkv, int64_t B, int64_t T, int64_t C,
                                          int NH, int causal);
DECARDEF void decar_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                       const float *att, int64_t B, int64_t T, int64_t C, int NH, int causal,
                                       decar_ws *ws);
DECARDEF void decar_attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *att,
                                           int64_t B, int64_t T, int64_t C, int NH, int causal);
/* out (n, C) = table[ids[i]] (table (V, C)); backward: dtable[ids[i]] += dout[i] */
DECARDEF void decar_embedding_forward(float *out, const float *table, const int32_t *ids, int64_t n, int64_t C);
DECARDEF void decar_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int64_t n, int64_t C);
/* logits (rows, V), the first nc columns the classes: lse[r] = log sum_j<nc exp(logits[r, j]), nll[r] = lse[r] -
   logits[r, targets[r]] (0 where targets[r] < 0). Backward: dlogits[r, j] += dloss w_r / norm (softmax_j - [j =
   target]) for j < nc at rows with a target (weights NULL: w = 1). Precondition: targets[r] < nc. These kernels do
   not check it (a target past V reads past its row); decar_cross_entropy, the op, does and fails with a message. */
DECARDEF void decar_crossentropy_forward(float *lse, float *nll, const float *logits, const int32_t *targets,
                                         int64_t rows, int64_t V, int nc);
DECARDEF void decar_crossentropy_forward_ref(float *lse, float *nll, const float *logits, const int32_t *targets,
                                             int64_t rows, int64_t V, int nc);
DECARDEF void decar_crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                          const float *weights, float dloss, float norm, int64_t rows, int64_t V,
                                          int nc);
DECARDEF void decar_crossentropy_backward_ref(float *dlogits, const float *logits, const float *lse,
                                              const int32_t *targets, const float *weights, float dloss, float norm,
                                              int64_t rows, int64_t V, int nc);
/* the Linear layer out (M, N) = inp (M, K) w (N, K)^T + b: backward dinp (M, K) (+)= dout w (accumulate: add, else
   overwrite), dw (N, K) += dout^T inp, db (N) += column sums of dout (any may be NULL) */
DECARDEF void decar_matmul_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                    const float *w, int64_t M, int64_t K, int64_t N, int accumulate, decar_ws *ws);
DECARDEF void decar_matmul_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                        const float *w, int64_t M, int64_t K, int64_t N);

/* ---------------------------------------------------------------------------------------------------------------
   5. autograd ops (eager: the forward is computed when the op is called; decar_backward walks the tape backwards)
   --------------------------------------------------------------------------------------------------------------- */
/* x (..., K) times w (N, K) transposed, plus b (N) or NULL: (..., N). w has torch.nn.Linear's layout. */
DECARDEF decar_tensor *decar_matmul(decar_ctx *ctx, decar_tensor *x, decar_tensor *w, decar_tensor *b);
/* elementwise with numpy broadcasting (shapes aligned on the right, size-1 dims stretch) */
DECARDEF decar_tensor *decar_add(decar_ctx *ctx, decar_tensor *a, decar_tensor *b);
DECARDEF decar_tensor *decar_mul(decar_ctx *ctx, decar_tensor *a, decar_tensor *b);
DECARDEF decar_tensor *decar_scale(decar_ctx *ctx, decar_tensor *a, float s);
DECARDEF decar_tensor *decar_gelu(decar_ctx *ctx, decar_tensor *a); /* tanh form, as GPT-2 */
DECARDEF decar_tensor *decar_layernorm(decar_ctx *ctx, decar_tensor *x, decar_tensor *w,
                                       decar_tensor *b);               /* eps 1e-5 */
DECARDEF decar_tensor *decar_softmax(decar_ctx *ctx, decar_tensor *a); /* over the last dim */
/* qkv (B, T, 3C) packed as [q | k | v], n_head heads: (B, T, C). causal != 0 masks the future. */
DECARDEF decar_tensor *decar_attention(decar_ctx *ctx, decar_tensor *qkv, int n_head, int causal);
/* rows of table (V, C) picked by ids[n] (n = prod(shape)): (shape..., C). ids are copied. */
DECARDEF decar_tensor *decar_embedding(decar_ctx *ctx, decar_tensor *table, const int32_t *ids, int ndim,
                                       const int64_t *shape);
/* logits (..., V): loss = sum_i w_i * CE_i / norm over positions with targets[i] >= 0 (negative = ignore).
   weights NULL means 1. norm <= 0 means the number of non-ignored positions. Only the first n_class logits are
   classes (n_class <= 0: all V); the rest are treated as -inf (the DFM mask token is never predicted).
   If nll_out is non-NULL it receives each position's -log p(target) (0 where ignored). */
DECARDEF decar_tensor *decar_cross_entropy(decar_ctx *ctx, decar_tensor *logits, const int32_t *targets,
                                           const float *weights, float norm, int n_class, float *nll_out);
/* a (B, Ta, C) and b (B, Tb, C) joined along time: (B, Ta+Tb, C). Image prefixes use it. */
DECARDEF decar_tensor *decar_concat(decar_ctx *ctx, decar_tensor *a, decar_tensor *b);
/* rows idx[0..n) of x seen as (rows, C), C its last dim: (n, C). Pooling picks one position per sequence (CLIP's
   [CLS] or end-of-text token). Backward: each row's gradient is added back at its index. idx is copied. */
DECARDEF decar_tensor *decar_rows(decar_ctx *ctx, decar_tensor *x, const int64_t *idx, int64_t n);
/* y = x / ||x|| per row (last dim), ||x|| = sqrt(sum x^2 + 1e-12). Backward: dx += (dy - y (y . dy)) / ||x|| */
DECARDEF decar_tensor *decar_l2norm(decar_ctx *ctx, decar_tensor *x);
/* y = exp(x) elementwise (a learned temperature: scale = exp(tau)). Backward: dx += dy y */
DECARDEF decar_tensor *decar_exp(decar_ctx *ctx, decar_tensor *x);
DECARDEF decar_tensor *decar_sum(decar_ctx *ctx, decar_tensor *a);
DECARDEF decar_tensor *decar_mean(decar_ctx *ctx, decar_tensor *a);
/* accumulates d(loss)/d(t) into the grad of every leaf that requires grad (decar_param, decar_wrap with a grad
   buffer). loss must be a 1-element tensor. The gradients of intermediate results are recycled as soon as the pass
   has used them (their grad is NULL afterwards): memory holds about one layer of them, not the whole graph's. */
DECARDEF int decar_backward(decar_ctx *ctx, decar_tensor *loss);

/* ---------------------------------------------------------------------------------------------------------------
   6. data: documents of bytes, a deterministic train/validation split by document, seeded batches
   --------------------------------------------------------------------------------------------------------------- */
typedef struct decar_doc {
    char *name;
    uint8_t *bytes;
    int64_t len;
    int split;
    int label;
} decar_doc; /* split: 0 train 1 val */
typedef struct decar_data {
    decar_doc *docs;
    int n_docs, cap_docs;
    char **label_names;
    int n_labels; /* top-level folders (domains) of a directory load */
    int32_t *stream[2];
    int64_t stream_len[2]; /* EOT doc EOT doc ... per split, built by decar_data_finish */
} decar_data;
DECARDEF void decar_data_init(decar_data *d);
DECARDEF void decar_data_free(decar_data *d);
/* add a document (copied). split is decided by decar_hash64(name) so it does not depend on load order. */
DECARDEF int decar_data_add(decar_data *d, const char *name, const void *bytes, int64_t len, int val_permille,
                            decar_error *e);
DECARDEF int decar_data_finish(decar_data *d, decar_error *e); /* sorts by name, builds the streams */
/* a list of names: one per line (sep '\n', "\r\n" too) or separated by sep (',') as well as by newlines. Entries are
   trimmed. Strict: an empty entry before the end ("a,,b", a blank line) is an error, because lists of experts are
   positional (entry j is cluster j) and skipping one would shift every later entry; a blank tail is allowed. *items
   is one allocation (pointers, then strings): DECAR_FREE(*items). Used for document lists and expert manifests. */
DECARDEF int decar_list_parse(const char *text, size_t len, char sep, char ***items, int *n, decar_error *e);
/* ---- 6b. tokenizers ---------------------------------------------------------------------------------------------- */
/* Tokenizers. The default is bytes: token b is byte b, DECAR_TOK_EOT (256) ends a document, DECAR_TOK_MASK (257) is
   the DFM mask: vocab 258. A byte-level BPE tokenizer (GPT-2's scheme and files: vocab.json + merges.txt, so GPT-2's
   own tokenizer loads too) maps text to fewer, longer tokens; a model for it has decar_tokenizer_vocab(t) tokens:
   the tokenizer's, then the DFM mask as the last id. Every vocabulary of 258 or more tokens ends with its mask, and
   the model predicts the others (decar_gpt_classes). Results stay in bits per byte, so tokenizers compare. */
typedef struct decar_tokenizer {
    int n_tokens;         /* ids 0 .. n_tokens-1, the end-of-document token included */
    int32_t eot;          /* "<|endoftext|>" */
    int32_t byte_id[256]; /* the token of each single byte */
    uint8_t *blob;        /* token i's bytes: blob[off[i] .. off[i+1]) (none for eot) */
    int64_t *off;
    int n_merges; /* merge r, of rank r: (ma[r], mb[r]) -> mo[r] */
    int32_t *ma, *mb, *mo;
    uint64_t *ht_key; /* pair -> rank, open addressing */
    int32_t *ht_val;
    int64_t ht_cap;
    uint64_t fingerprint; /* of the vocabulary and merges; checkpoints record the one they used */
} decar_tokenizer;
#define decar_tokenizer_vocab(t) ((t)->n_tokens + 1)
/* train on documents: ids 0-255 the bytes, then vocab_size - 257 merges (fewer if pairs run out), then EOT */
DECARDEF int decar_tokenizer_train(decar_tokenizer *t, const decar_doc *docs, int n_docs, int vocab_size,
                                   decar_error *e);
/* ids[0..n) of text; ids needs len entries (never more tokens than bytes); returns n */
DECARDEF int64_t decar_tokenizer_encode(const decar_tokenizer *t, const uint8_t *text, int64_t len, int32_t *ids);
/* the bytes of token id (*bytes points into t, never NULL); returns their count (0 for EOT, the mask, an unknown id) */
DECARDEF int decar_tokenizer_decode(const decar_tokenizer *t, int32_t id, const uint8_t **bytes);
/* GPT-2's files from memory (untrusted: ids dense and unique, all 256 bytes present, merges made of tokens) */
DECARDEF int decar_tokenizer_load_mem(decar_tokenizer *t, const char *vocab_json, size_t vocab_len,
                                      const char *merges_txt, size_t merges_len, decar_error *e);
DECARDEF void decar_tokenizer_free(decar_tokenizer *t);
#ifndef DECAR_NO_STDIO
DECARDEF int decar_tokenizer_load(decar_tokenizer *t, const char *dir, decar_error *e); /* DIR/vocab.json, merges.txt */
DECARDEF int decar_tokenizer_save(const decar_tokenizer *t, const char *dir, decar_error *e);
#endif
/* ---- 6c. documents: token streams, batches, loading a directory -------------------------------------------------- */
/* the training streams again, as the tokenizer's ids (EOT = t->eot); t NULL: bytes */
DECARDEF int decar_data_tokenize(decar_data *d, const decar_tokenizer *t, decar_error *e);
/* B windows of T+1 tokens from the split's stream: x = w[0..T), y = w[1..T+1) */
DECARDEF int decar_data_batch(const decar_data *d, int split, decar_rng *r, int B, int T, int32_t *x, int32_t *y,
                              decar_error *e);
#ifndef DECAR_NO_STDIO
/* a directory tree of text files (hidden files skipped), or one file (cut at line ends into ~4 KiB documents).
   label = index of the top-level sub-directory (the domain) or -1. list: NULL, or a file of paths (one per line,
   relative to path, no ".." and no blank line; see decar_list_parse) to load instead of walking the tree.
   ext: NULL or a suffix (".txt") that files of a walk must end with (a list's files are taken as named).
   Files with NUL bytes in their first 4 KiB are skipped as binary. Any document over 64 KiB is cut at line ends
   into ~4 KiB documents named "path#N" (so one big file still gets a train/validation split). */
DECARDEF int decar_data_load(decar_data *d, const char *path, const char *list, const char *ext, int val_permille,
                             decar_error *e);
#endif

/* ---- 6d. images -------------------------------------------------------------------------------------------------- */
/* images: N square 8-bit grayscale images (N * side * side bytes, row-major) with one caption per line.
   Sizes are checked: the image file must hold exactly as many images as there are captions. */
typedef struct decar_images {
    int n, side;
    uint8_t *pixels;
    char **captions;
} decar_images;
/* the same from memory (both buffers copied): every size checked first (untrusted input) */
DECARDEF int decar_images_parse(decar_images *im, const void *pixels, size_t n_pixel_bytes, const char *captions,
                                size_t caption_bytes, int side, decar_error *e);
#ifndef DECAR_NO_STDIO
DECARDEF int decar_images_load(decar_images *im, const char *image_file, const char *caption_file, int side,
                               decar_error *e);
#endif
DECARDEF void decar_images_free(decar_images *im);
/* cut image i into (side/patch)^2 row-major patches of patch*patch pixels scaled to [-0.5, 0.5]: the prefix */
DECARDEF void decar_image_patches(const uint8_t *img, int side, int patch, float *out);
/* CLIP-style augmentation of a square 8-bit image (side x side) into out (not img): a scale s ~ U(1 - scale,
   1 + scale) (scale in [0, 0.9]; outside it is clamped) about the centre c = (side - 1) / 2 and a shift (dx, dy) ~
   U{-shift .. shift}, sampled bilinearly,
       out(x, y) = img(c + (x - dx - c) / s, c + (y - dy - c) / s)     (outside the image: the background b)
   with b the mean of the border pixels; then, with probability stroke, the strokes made one pixel thicker or thinner
   (even odds; a 3 x 3 max or min filter, the one that grows the ink when the background is dark: ink is the side
   away from b). shift 0, scale 0, stroke 0 copy the image. Draws from r (the same draws whatever the image). */
DECARDEF void decar_image_augment(uint8_t *out, const uint8_t *img, int side, int shift, double scale, double stroke,
                                  decar_rng *r);
/* Captions as rows of T byte tokens for a captioner (after its image prefix), as training and scoring frame them:
       ids_b     = [EOT, c_0, c_1, ..., c_{T-2}]    (EOT past the caption's end)
       targets_b = [c_0, c_1, ..., c_{L-1}, EOT]     (-1 past it: not scored), cut to T
   for the B captions captions[idx[b]] (idx NULL: captions[b]); ids and targets are (B, T). decar vtrain uses
   T = min(longest caption + 1, the context after the prefix); decar_ensemble_caption one row of L + 1. */
DECARDEF void decar_caption_rows(const char *const *captions, const int *idx, int B, int T, int32_t *ids,
                                 int32_t *targets);
/* The held-out split of an image-caption set (decar vcluster, vtrain, caption and clip use it). With
   h_i = decar_hash64(group_i "|" caption_i, seed 7):
     test[i] = 1 for the image of least h_i among each set of >= 2 images sharing a caption (the first on equal
       hashes): an unseen rendering of a seen caption;
     then, while a label has fewer than min_test test images, its untested image of least h_i gets test[i] = 2
       (an unseen caption).
   group: NULL or one string per image (the glyph set's font); label: NULL or one class in [0, n_labels) per image.
   test: n ints. O(n log n) for the first rule. */
DECARDEF int decar_images_split(const decar_images *im, const char *const *group, const int *label, int n_labels,
                                int min_test, int *test, decar_error *e);

/* ---------------------------------------------------------------------------------------------------------------
   7. features: hashed word 1-2-gram + byte 3-gram tf-idf, seeded random projection to dim, L2-normalised
   --------------------------------------------------------------------------------------------------------------- */
#define DECAR_FEAT_BUCKETS 65536
/* A feature function: out[dim] = the features of text[0..len); returns DECAR_OK or an error code. Any encoder plugs in
   here (decar_featurizer.fn); without one the built-in tf-idf hashing is used, which needs idf. */
typedef int (*decar_feature_fn)(void *user, const uint8_t *text, int64_t len, float *out);
typedef struct decar_featurizer {
    int dim;
    uint64_t seed;
    float *idf;          /* DECAR_FEAT_BUCKETS weights of the built-in tf-idf; NULL for external features */
    decar_feature_fn fn; /* if set, used instead of tf-idf (routing with an external encoder's features) */
    void *user;
    int64_t doc; /* set by the evaluations while they featurize document doc of a decar_data: a
                    feature function of external features reads that document's row */
} decar_featurizer;
DECARDEF int decar_feat_fit(decar_featurizer *f, int dim, uint64_t seed, const decar_doc *docs, int n, decar_error *e);
DECARDEF void decar_feat_free(decar_featurizer *f);
/* out[dim] = the features of text: f->fn if set, else tf-idf. Fails (DECAR_ERR_ARG) for a featurizer of external
   features that has no function (a router built from --features needs the prompt's features from its encoder). */
DECARDEF int decar_feat_apply(const decar_featurizer *f, const uint8_t *text, int64_t len, float *out, decar_error *e);
/* Raw-pixel features for images (no encoder to train first): x = pixels / 255 - mean (n_pixels), centred by the
   training images' mean, then out = R x / |R x| with R a seeded Gaussian (dim, n_pixels); a random projection keeps
   cosines as PCA would, without an eigen-solver. decar_pixel_projection draws R once from its seed (stored
   transposed, rt[p * dim + j] = R[j][p], in the order the generator draws it): only the seed need be saved. */
DECARDEF void decar_pixel_projection(float *rt, int n_pixels, int dim, uint64_t seed);
DECARDEF void decar_pixel_features(const uint8_t *img, int n_pixels, const float *mean, int dim, const float *rt,
                                   float *out);
/* the same as a decar_feature_fn (user: a decar_pixel_featurizer): routing by the image in p->image, not the text */
typedef struct decar_pixel_featurizer {
    int n_pixels, dim;
    const float *rt; /* (n_pixels, dim) from decar_pixel_projection */
    const float *mean;
    const uint8_t *image;
} decar_pixel_featurizer;
DECARDEF int decar_pixel_feature_fn(void *user, const uint8_t *text, int64_t len, float *out);
/* .npy: 2-D float32/float64 little-endian C order. Loads into float32 (rows, cols). */
DECARDEF int decar_npy_parse(const void *buf, size_t len, float **out, int64_t *rows, int64_t *cols, decar_error *e);
DECARDEF int decar_npy_build(const float *x, int64_t rows, int64_t cols, void **buf, size_t *len);

/* ---------------------------------------------------------------------------------------------------------------
   8. clustering: spherical k-means, balanced (hard capacity ceil(N/K), greedy assignment) or plain
   --------------------------------------------------------------------------------------------------------------- */
typedef struct decar_kmeans_opts {
    int k;
    int iters;
    int balanced;
    uint64_t seed;
    int n_fine;
} decar_kmeans_opts;
/* X (N, d) L2-normalised rows. centroids out (k, d); labels out (N). n_fine > 0: two-stage (n_fine plain
   spherical clusters, then balanced k-means of the fine centroids; fine_centroids (n_fine, d) and fine_map
   (n_fine) are written when non-NULL). *iters (optional): the iterations of the (last) stage. */
DECARDEF decar_kmeans_opts decar_kmeans_default(int k); /* K = k, 30 iterations, balanced, seed 1, one stage */
DECARDEF int decar_kmeans(const float *X, int64_t N, int d, const decar_kmeans_opts *o, float *centroids,
                          int32_t *labels, float *fine_centroids, int32_t *fine_map, int *iters, decar_error *e);
DECARDEF int decar_nearest(const float *x, const float *centroids, int k, int d); /* argmax cosine */
DECARDEF void decar_l2_normalize(float *x, int d);

/* ---------------------------------------------------------------------------------------------------------------
   9. routing. R1 top-1 cosine, R2 softmax(cos/T) over the top-k, R3 c-BTM softmax(-||h-c||^2^2 / T),
   R4' exact Bayes posterior pi_k * prod_j p_k(x_j | x_<j), updated token by token.
   --------------------------------------------------------------------------------------------------------------- */
enum {
    DECAR_ROUTE_TOP1 = 1,
    DECAR_ROUTE_COSINE = 2,
    DECAR_ROUTE_CBTM = 3,
    DECAR_ROUTE_BAYES = 4,
    DECAR_ROUTE_UNIFORM = 5,
    DECAR_ROUTE_LEARNED = 6, /* R5: a classifier of the features trained to predict the shard */
    DECAR_ROUTE_LM = 7       /* R6: SmallTalk LM's router: the cluster whose small LM predicts the text best */
};
typedef struct decar_router {
    int kind, k, d, top_k;
    float temp;
    float *centroids; /* (k, d) */
    float *prior;     /* (k) pi_k */
    int n_fine;
    float *fine;
    int32_t *fine_map; /* two-stage: nearest fine centroid -> cluster */
    float *clf_w;      /* (k, d) R5's classifier, logits W h + b (NULL: none trained) */
    float *clf_b;      /* (k) */
    /* what joining and leaving need (section 16; older router files lack them): */
    float *count;       /* (k) training documents of each cluster: pi_k = count_k / sum_j count_j */
    int64_t n_rows;     /* R5's training rows, kept so that R5 can be refitted when the set of clusters changes */
    float *rows;        /* (n_rows, d) their features (decar_router_fit keeps a copy of what it was fitted on) */
    int32_t *row_label; /* (n_rows) their clusters */
    int fit_steps, fit_prefix; /* R5's Adam steps, and prefixes per document (decar_router_fit_docs) */
    int fit_noise;             /* R5's rows: 0 prefixes (AR experts); W > 0 noised windows of W bytes (DFM experts) */
    float fit_lr;
    uint64_t fit_seed; /* the prefixes' seed */
} decar_router;
/* "top1", "cosine", "cbtm", "bayes", "uniform", "learned", "smalltalk" -> kind (0: none) */
DECARDEF int decar_route_name(const char *s);
DECARDEF const char *decar_route_label(int kind); /* the inverse: kind -> name ("?" if none) */
DECARDEF int decar_route_uses_features(int kind); /* R1-R3, R5, R6 read features; R4' and uniform do not */
/* the assignment function shared by partitioning (training) and R1 (test): nearest centroid (via fine if any) */
DECARDEF int decar_router_assign(const decar_router *r, const float *feat);
/* The router of a partition, built from the training documents' features X (N, d), rows L2-normalised: centroids by
   spherical (balanced) k-means, the prior pi_k = the share of documents decar_router_assign sends to k, and labels
   (N, optional) = each document's shard. Kind R1 (top-1), temperature 0.1; save it with its featurizer. */
DECARDEF int decar_router_build(decar_router *r, const float *X, int64_t N, int d, const decar_kmeans_opts *o,
                                int32_t *labels, decar_error *e);
/* weights w (k) from a feature vector (R1-R3, uniform) or from log prior + accumulated log-likelihoods (R4',
   loglik may be NULL = prior). Keeps the top_k largest, renormalises to sum 1. */
DECARDEF void decar_router_weights(const decar_router *r, const float *feat, const double *loglik, double *w);
DECARDEF void decar_router_free(decar_router *r);
/* R5, the learned router (Decentralized Diffusion Models' router, on features): softmax regression
       p(k | h) = softmax_k(W h + b),  W (k, d), b (k)
   fitted by full-batch Adam on the cross-entropy of labels (N) from X (N, d), rows L2-normalised, for `steps` steps
   at learning rate lr (weight decay 1e-4). Trained on the features of the documents' prefixes it routes what it will
   see at test time (decar_router_fit_docs). Returns the training accuracy in *acc (optional).
   For DFM experts the router sees x_t, not a prefix: set r->fit_noise = W > 0 before decar_router_fit_docs and each
   extra row is a noised window instead (Decentralized Diffusion Models' Alg. 1 on the mask path): W bytes of the
   document at a uniform start, each byte revealed with probability u ~ U(0, 1) (the share kappa_t revealed, uniform
   over the path), the revealed bytes in order, which is the text decar_ensemble_dfm_bound and decar_dfm_sample route
   on. A row with nothing revealed has no features: it teaches the bias the prior. */
DECARDEF int decar_router_fit(decar_router *r, const float *X, const int32_t *labels, int64_t N, int steps, float lr,
                              double *acc, decar_error *e);
/* the same on documents: each training document's features, and those of `n_prefix` prefixes of it (lengths drawn
   log-uniformly between 16 bytes and the whole; r->fit_noise > 0: noised windows), labelled with its shard (shard[i]
   < 0: left out) */
DECARDEF int decar_router_fit_docs(decar_router *r, const decar_featurizer *f, const decar_data *d,
                                   const int32_t *shard, int n_prefix, int steps, uint64_t seed, double *acc,
                                   decar_error *e);
/* a router file read from memory: every size checked against the buffer before allocating (untrusted input) */
DECARDEF int decar_router_load_mem(decar_router *r, decar_featurizer *f, const void *buf, size_t len, decar_error *e);
DECARDEF int decar_router_save_mem(const decar_router *r, const decar_featurizer *f, void **buf, size_t *len,
                                   decar_error *e);
#ifndef DECAR_NO_STDIO
/* a router file is a safetensors file: centroids (k, d), prior (k), idf (absent when the centroids come from external
   features: metadata featurizer = "external"; f NULL or f->idf NULL when saving), optional fine (F, d), fine_map (F).
   Loading an external router leaves f->idf NULL: routing then needs f->fn, the prompt's features from their encoder. */
DECARDEF int decar_router_save(const decar_router *r, const decar_featurizer *f, const char *path, decar_error *e);
DECARDEF int decar_router_load(decar_router *r, decar_featurizer *f, const char *path, decar_error *e);
#endif

/* R6, SmallTalk LM's router (Filippova et al. 2025): k small language models, each trained on one cluster alone. A
   text is routed by how well each predicts its first max_tokens tokens:
       feature_k = -(1/n) sum_{i<n} ln p_k(x_i | x_<i)         (minus nats per token; n = min(len, max_tokens))
   decar_lm_router_fn is a decar_feature_fn (user: this struct) for a router of kind DECAR_ROUTE_LM, which weights
   w = softmax over the top-k of feature_k / T: top-1 is the cluster of the lowest loss. It costs k small forward
   passes per routing, a fraction of one expert when the models are small. */
typedef struct decar_lm_router {
    int k;
    struct decar_gpt **lms;     /* (k) causal models, one per cluster (section 10) */
    const decar_tokenizer *tok; /* their tokenizer (NULL: bytes) */
    int max_tokens;             /* the prefix that is scored (and at most each model's context) */
    decar_ctx *ctx;             /* scratch for the forward passes */
} decar_lm_router;
DECARDEF int decar_lm_router_fn(void *user, const uint8_t *text, int64_t len, float *out);

/* The partition of a corpus in one call, the method's first step:
       x_i   = features of every document: the built-in tf-idf (o->feat_dim, o->feat_seed) fitted on the training
               documents (split 0) into fz, or o->features (n_docs, o->features_dim) given in document order (an
               encoder's; rows L2-normalised, a zero row is an error)
       router = decar_router_build on the training rows: spherical balanced k-means (o->kmeans), prior
       shard_i = decar_router_assign(x_i) for training (0) and held-out (1) documents; -1 for other splits (a base
               model's share, decar_data_base_share)
   *X_out (n_docs, *d_out) receives the features (DECAR_FREE it); fz has no idf when o->features is given (a router
   of external features). */
typedef struct decar_cluster_opts {
    decar_kmeans_opts kmeans; /* the clustering (decar_kmeans_default(k)) */
    int feat_dim;             /* tf-idf: the projected dimension (64) */
    uint64_t feat_seed;       /* tf-idf: the projection's seed (1) */
    const float *features;    /* or these rows (n_docs, features_dim) instead of tf-idf; NULL: tf-idf (default) */
    int features_dim;
} decar_cluster_opts;
DECARDEF decar_cluster_opts decar_cluster_opts_default(int k);
DECARDEF int decar_cluster_docs(const decar_data *d, const decar_cluster_opts *o, decar_featurizer *fz,
                                decar_router *r, float **X_out, int *d_out, int32_t *shard, decar_error *e);
/* The paper's setting: permille of the training documents (split 0), chosen by a hash of the file name (pieces
   "name#N" of one file go together), become split 2: the base model's share, left out of clustering. Returns how
   many. */
DECARDEF int decar_data_base_share(decar_data *d, int permille);
/* normalised mutual information 2 I(a; b) / (H(a) + H(b)) of two labelings of n items (ka and kb values), and
 *purity = sum over a's values of the largest count of one b value / n */
DECARDEF double decar_nmi(const int *a, const int *b, int n, int ka, int kb, double *purity);

/* ---------------------------------------------------------------------------------------------------------------
   10. model: a GPT-2 style transformer, causal (AR) or bidirectional (masked DFM), with an optional image prefix
   (LLaVA-style), and its KV-cache inference.
   Parameter names follow nanoGPT (torch.nn.Linear layout), e.g. "transformer.h.0.attn.c_attn.weight" (3C, C).
   The output projection is tied to transformer.wte.weight (as GPT-2) and is not stored separately.
   A CHANGE OF THE MODEL (a new norm, activation or parameter tensor) must reach every copy of the block: the
   parameter layout and its initialisation; the forward on the tape (section 10: its backward follows from the ops of
   section 5); the KV-cache step (10b); the device path's kernels, forward, backward and step (10c); the checkpoint's
   config metadata (13); the Hugging Face interchange (13b); which weights are quantized; the memory and FLOP
   estimates; and the PyTorch twin the tests compare with (scripts/torch_gpt.py, scripts/make_reference.py ->
   tests/ref_gpt.bin for tests/test_gpt_ref.c; scripts/check_hf.py). The implementation's section 10 opens with the
   list of the functions, one line per place.
   --------------------------------------------------------------------------------------------------------------- */
#define DECAR_TOK_EOT 256
#define DECAR_TOK_MASK 257
#define DECAR_BYTE_VOCAB 258
#define DECAR_MAX_LAYERS 64

typedef struct decar_gpt_config {
    int vocab_size; /* 258 for the byte tokenizer */
    int n_layer, n_head, d_model;
    int seq_len; /* maximum context (the size of the position table) */
    int causal;  /* 1: autoregressive model; 0: bidirectional (masked DFM) */
    /* image prefix (LLaVA-style): n_prefix vectors of d_prefix features (patches, or an encoder's features) are
       projected to d_model (linear, or an MLP with d_proj_hidden GELU units) and placed before the text tokens.
       0 = a text-only model. seq_len counts prefix + text positions. */
    int n_prefix, d_prefix, d_proj_hidden;
    int no_mask; /* 1: the last token is a real one (a model imported from GPT-2), not a DFM mask; 0: default */
} decar_gpt_config;

typedef struct decar_param_info {
    char name[64];
    int ndim;
    int64_t shape[2];
    size_t offset;
    int decay;
} decar_param_info;

typedef struct decar_gpt {
    decar_gpt_config cfg;
    int n_tensors;
    decar_param_info *info; /* n_tensors entries, in storage order */
    size_t n_params;
    float *params, *grads, *m, *v; /* one block each, carved by info[].offset */
    int64_t step;                  /* optimizer steps taken */
    uint64_t rng_state;            /* the data sampler's state, stored in checkpoints for --resume */
    uint64_t tokenizer;            /* the fingerprint of the BPE tokenizer it was trained with; 0: bytes */
    int clip_tower;                /* 0: a language model; DECAR_CLIP_IMAGE / _TEXT: a tower of a CLIP pair */
    decar_ctx *pctx;  /* parameter tensors (wrapping the blocks); its workspace serves the KV-cache steps */
    decar_tensor **p; /* p[i] is the tensor of info[i] */
    int qtype;        /* DECAR_QNONE, or the type of the quantized copies below (decar_gpt_quantize) */
    decar_qmat *q;    /* NULL, or n_tensors entries: the quantized copy of each matrix (type DECAR_QNONE for others) */
    void *dev;        /* NULL, or the model's device state (decar_gpt_to_device): its copy on a GPU */
} decar_gpt;

/* A checkpoint's kind, checked by every command that reads one: a CLIP tower (metadata "clip_tower") is an encoder,
   never a language model to sample, evaluate, average or fine-tune; a quantized model is for inference only. need is
   DECAR_NEED_LM and / or DECAR_NEED_FLOAT; the message names path and what it is instead. */
#define DECAR_CLIP_IMAGE 1
#define DECAR_CLIP_TEXT 2
#define DECAR_NEED_LM 1
#define DECAR_NEED_FLOAT 2
DECARDEF int decar_gpt_check_kind(const decar_gpt *g, const char *path, int need, decar_error *e);
DECARDEF decar_gpt_config decar_gpt_default_config(void);
/* the default config with these sizes (bytes vocabulary, causal): the usual way to ask for a model */
DECARDEF decar_gpt_config decar_gpt_config_of(int n_layer, int n_head, int d_model, int seq_len);
/* the classes the model predicts and its DFM mask token: vocab_size - 1 and the last id for vocabularies of 258 or
   more (bytes: 257 classes, mask DECAR_TOK_MASK; BPE: the tokenizer's tokens, mask after them); small toy
   vocabularies have no mask (classes = vocab_size, mask -1) */
DECARDEF int decar_gpt_classes(const decar_gpt_config *c);
DECARDEF int decar_gpt_mask(const decar_gpt_config *c);
DECARDEF int decar_gpt_check_config(const decar_gpt_config *c, decar_error *e);
DECARDEF int decar_gpt_init(decar_gpt *g, const decar_gpt_config *c, uint64_t seed, decar_error *e); /* GPT-2 init */
DECARDEF void decar_gpt_free(decar_gpt *g);
/* Inference with quantized weights (type DECAR_Q8_0 or DECAR_QBF16, see decar_qmat): every weight matrix (each
   block's four and the tied head wte) gets a quantized copy in g->q, and g->params holds the dequantized values, so
   every path computes with the same weights: KV-cache steps of fewer than 32 sequences read the quantized copies
   (generation: the bytes of the weights are its limit), batched paths (scoring, training) the floats. Saving writes
   the quantized tensors (section 13); loading such a file quantizes the model the same way. A quantized model is
   for inference: decar_train refuses it (fine-tune from the float checkpoint). */
DECARDEF int decar_gpt_quantize(decar_gpt *g, int type, decar_error *e);
/* bytes of the weights as inference reads them: quantized matrices at their size (Q8_0 1.125, bf16 2 a weight), the
   other tensors 4 a weight */
DECARDEF size_t decar_gpt_weight_bytes(const decar_gpt *g);
DECARDEF int decar_gpt_find(const decar_gpt *g, const char *name); /* index into info, or -1 */
/* ids (B*T) -> logits (B, T, vocab). T <= seq_len. */
DECARDEF decar_tensor *decar_gpt_forward(decar_ctx *ctx, decar_gpt *g, const int32_t *ids, int B, int T);
/* with an image prefix (B, n_prefix, d_prefix) floats (NULL for text models): logits (B, n_prefix + T, vocab) */
DECARDEF decar_tensor *decar_gpt_forward_prefix(decar_ctx *ctx, decar_gpt *g, const float *prefix, const int32_t *ids,
                                                int B, int T);
/* the same without the output head: LayerNorm_f's output (B, P + T, d_model), what encoders pool */
DECARDEF decar_tensor *decar_gpt_hidden(decar_ctx *ctx, decar_gpt *g, const float *prefix, const int32_t *ids, int B,
                                        int T);
DECARDEF double decar_gpt_flops_per_token(const decar_gpt_config *c, int T); /* training: 6N + attention */
/* about how many bytes a training step of B x T takes: weights, gradients and AdamW's m and v (16 bytes a
   parameter), plus the activations backward reads (per token and layer ~18 d_model + n_head x T floats, and the
   logits with their gradient). An estimate for refusing what cannot fit, not an exact count. */
DECARDEF double decar_gpt_train_bytes(const decar_gpt_config *c, int B, int T);

/* ---- 10b. KV-cache inference ------------------------------------------------------------------------------------- */
/* KV-cache incremental forward of a causal model at batch 1: logits (vocab) of the token after `tok` at `pos`.
   kv: n_layer * 2 * seq_len * d_model floats (decar_gpt_kv_size; a quantized model stores bf16 in its first half). */
DECARDEF size_t decar_gpt_kv_size(const decar_gpt_config *c);
DECARDEF int decar_gpt_step(decar_gpt *g, float *kv, int32_t tok, int pos, float *logits, float *scratch,
                            decar_error *e);
/* the same step for an input vector emb (d_model) instead of a token (a projected image prefix position) */
DECARDEF int decar_gpt_step_embed(decar_gpt *g, float *kv, const float *emb, int pos, float *logits, float *scratch,
                                  decar_error *e);
/* n sequences in one step, sharing every weight load: kv[j] is sequence j's cache, emb (n, d_model) its input
   vectors (token embeddings: rows of transformer.wte.weight), pos[j] its position; logits (n, vocab). */
DECARDEF int decar_gpt_step_batch(decar_gpt *g, float *const *kv, const float *emb, const int *pos, int n,
                                  float *logits, float *scratch, decar_error *e);
DECARDEF size_t decar_gpt_step_batch_scratch(const decar_gpt_config *c, int n);
/* project one image's prefix (n_prefix, d_prefix) to (n_prefix, d_model) embeddings for decar_gpt_step_embed */
DECARDEF int decar_gpt_project_prefix(decar_gpt *g, const float *prefix, float *out, decar_error *e);
DECARDEF size_t decar_gpt_step_scratch(const decar_gpt_config *c);

/* ---- 10c. the device path ---------------------------------------------------------------------------------------- */
/* The device path. decar_gpt_to_device copies the model's parameters and AdamW moments to a device, and keeps its
   gradients and activations there: from then on decar_gpt_train_step, decar_gpt_score (so decar_train, the
   validation loss, decar_gpt_score_docs and the ensemble's evaluation) and the KV-cache steps (so
   decar_ensemble_generate) run on the device. The host copy (g->params, m, v) is brought up to date by
   decar_gpt_sync, which saving and every host-side forward (decar_gpt_forward, DFM sampling) call first.
     DECAR_DEVICE_CUDA         a GPU: the implementation compiled by nvcc with -DDECAR_USE_CUDA, linked with -lcublas.
                               Products are cuBLAS (float32, strided-batched for attention); the rest is the kernels
                               of section 10c. NOT YET RUN ON A GPU: it compiles and links, and its kernels and their
                               orchestration pass the tests on the CPU (below); scripts/gpu_check.sh is the check to
                               run on one.
     DECAR_DEVICE_CPU_KERNELS  the same kernels and orchestration as CPU loops (a build without CUDA): what make test
                               holds to the tape path, and a way to read the GPU path step by step.
   Limits: text models (an image prefix's forward runs on the host copy; training with a prefix is refused), float32
   models (a quantized model stays on the CPU). A KV cache of a model on a device comes from decar_gpt_kv_new (device
   memory) and goes back through decar_gpt_kv_free before the model moves. decar_gpt_to_device(g, DECAR_DEVICE_CPU)
   brings the model back and frees its device memory; decar_gpt_free does too. */
#define DECAR_DEVICE_CPU 0
#define DECAR_DEVICE_CPU_KERNELS 1
#define DECAR_DEVICE_CUDA 2
DECARDEF const char *decar_device_name(int device);                             /* "cpu", "cpu-kernels", "cuda" */
DECARDEF int decar_device_parse(const char *name, int *device, decar_error *e); /* the inverse */
DECARDEF int decar_device_available(int device, decar_error *e); /* DECAR_OK when this build and machine have it */
DECARDEF int decar_gpt_to_device(decar_gpt *g, int device, decar_error *e);
DECARDEF int decar_gpt_device(const decar_gpt *g); /* where the model is: a DECAR_DEVICE_* */
DECARDEF int decar_gpt_sync(decar_gpt *g, decar_error *e);
DECARDEF float *decar_gpt_kv_new(decar_gpt *g, decar_error *e); /* decar_gpt_kv_size floats where the steps read */
DECARDEF void decar_gpt_kv_free(decar_gpt *g, float *kv);

/* ---------------------------------------------------------------------------------------------------------------
   11. losses. AR: next-token cross-entropy. Masked DFM (kappa_t = t^n): mask each position with prob 1-kappa_t,
   weight the CE on masked positions by kappa'(t)/(1-kappa_t), never predict the mask token.
   --------------------------------------------------------------------------------------------------------------- */
/* kappa_t = t^kappa_pow; t ~ U(0, t_max); mask_token: the model's mask (decar_gpt_mask), 0 = DECAR_TOK_MASK (bytes) */
typedef struct decar_dfm {
    int kappa_pow;
    float t_max;
    int32_t mask_token;
} decar_dfm;
/* Build a masked-DFM training example in place: x_in gets masked copies of x1 (B*T), targets -1 where revealed,
   weights kappa'/(1-kappa) / T on masked positions (so the loss is the per-token DFM bound). Returns t's used. */
DECARDEF void decar_dfm_corrupt(const decar_dfm *d, decar_rng *r, const int32_t *x1, int32_t *x_in, int32_t *targets,
                                float *weights, int B, int T, float *t_out);

/* ---------------------------------------------------------------------------------------------------------------
   12. training: AdamW with warmup + cosine learning rate and global-norm clipping, the training step, the loop
   --------------------------------------------------------------------------------------------------------------- */
typedef struct decar_opt {
    float lr, min_lr, beta1, beta2, eps, weight_decay, grad_clip;
    int warmup_steps, total_steps;
} decar_opt;
DECARDEF decar_opt decar_opt_default(void);
DECARDEF float decar_opt_lr(const decar_opt *o, int64_t step); /* learning rate at step (0-based) */
DECARDEF void decar_gpt_zero_grad(decar_gpt *g);
DECARDEF float decar_gpt_clip_grad(decar_gpt *g, float max_norm); /* returns the norm before clipping */
DECARDEF void decar_gpt_adamw(decar_gpt *g, const decar_opt *o);  /* one step at o's lr for g->step; step++ */
/* forward + loss + backward + clip + AdamW. targets < 0 are ignored; weights may be NULL; returns the loss (NaN
   on error: see decar_ctx_error). The arena is reset first. */
DECARDEF float decar_gpt_train_step(decar_gpt *g, decar_ctx *ctx, const decar_opt *o, const int32_t *ids,
                                    const int32_t *targets, const float *weights, int B, int T);
/* forward only: per-position -log p(target) in nats into nll (B*T), ignoring targets < 0 (0 there). */
DECARDEF int decar_gpt_score(decar_gpt *g, decar_ctx *ctx, const int32_t *ids, const int32_t *targets, int B, int T,
                             float *nll);
/* the same with an image prefix (NULL for none): targets and nll cover the text positions only (B*T) */
DECARDEF float decar_gpt_train_step_prefix(decar_gpt *g, decar_ctx *ctx, const decar_opt *o, const float *prefix,
                                           const int32_t *ids, const int32_t *targets, const float *weights, int B,
                                           int T);
DECARDEF int decar_gpt_score_prefix(decar_gpt *g, decar_ctx *ctx, const float *prefix, const int32_t *ids,
                                    const int32_t *targets, int B, int T, float *nll);

/* A training run on the windows of a decar_data stream (split 0), from g->step to t->steps. The data sampler's state
   lives in g->rng_state (seed it for a new run; a checkpoint keeps it, so a resumed run draws the same windows).
   Each step: B windows of T + 1 tokens x; AR: loss on (x_<T, x_>0); DFM: x_t = decar_dfm_corrupt(x_>0) and the
   weighted loss on the masked positions; then decar_gpt_train_step. fn (optional) hears of every step (a non-zero
   return stops the run, DECAR_OK); the validation loss (split 1, t->val_batches batches) comes every t->val_every
   steps and at the last step. A NaN loss or a failed step stops with DECAR_ERR_NUMERIC / the arena's error. */
typedef struct decar_train_opts {
    int batch, seq_len, steps;  /* B windows of T tokens per step, until g->step == steps */
    const decar_dfm *dfm;       /* NULL: the AR next-token loss; else the masked-DFM loss with this schedule */
    int val_every, val_batches; /* validation every val_every steps (0: only at the end), val_batches each */
} decar_train_opts;
typedef struct decar_train_event {
    int64_t step;    /* steps done */
    float loss, lr;  /* this step's loss and learning rate */
    double loss_ema; /* 0.95-smoothed training loss */
    double val_loss; /* NaN unless this step validated (or there is no validation data) */
    int validated;   /* 1 at validation steps */
} decar_train_event;
typedef int (*decar_train_fn)(void *user, const decar_train_event *ev);
DECARDEF int decar_train(decar_gpt *g, decar_ctx *ctx, const decar_data *d, const decar_opt *o,
                         const decar_train_opts *t, decar_train_fn fn, void *user, decar_error *e);
/* the mean loss of `batches` fixed batches (the same windows every call) of split 1: AR per-token CE, or the DFM
   bound (dfm non-NULL) in nats; NaN when the split has no more than T + 2 tokens */
DECARDEF double decar_gpt_val_loss(decar_gpt *g, decar_ctx *ctx, const decar_data *d, int B, int T,
                                   const decar_dfm *dfm, int batches);
/* SmallTalk LM's partition (Filippova et al. 2025): K = o->k small router LMs make the partition themselves, by a
   balanced hard EM over the training documents (split 0), instead of clustering features:
       labels^0 = a random balanced split (o->seed)
       each round (o->rounds): router LM k trains o->steps more steps (its AdamW state kept) on the documents
                   labelled k;
                   L_ik = -(1/n_i) sum_{j < n_i} ln p_k(x_j | x_<j) on document i's first n_i = min(len, prefix) tokens
                   labels = the balanced assignment of S_ik = -L_ik, capacity ceil(N / K) (the greedy of balanced
                   k-means, section 8)
   The experts then train on the final segments, and R6 (decar_lm_router_fn) routes by the same LMs' prefix loss:
   the rule that made the partition routes at test time, as decar_router_assign does for k-means. lms (K) are
   initialised here from cfg (a causal model) and o->seed; o->batch windows per step, lr 3e-3 (warm-up over
   min(steps / 2, 50) steps, cosine decay over rounds * steps); o->prefix: bytes of each document scored (at least 2;
   as many as the LMs' context, so that R6 reads what made the partition).
   labels (d->n_docs): each training document's segment, -1 for the rest. *flops: the router LMs' cost, 6 N per
   trained token plus 2 N per scored token (N: one LM's parameters). DECAR_ERR_ARG when K > N or a segment's
   documents cannot fill one training window. */
typedef struct decar_smalltalk_opts {
    int k;         /* router LMs = segments */
    int rounds;    /* EM rounds (3) */
    int steps;     /* each LM's training steps per round (100) */
    int batch;     /* windows per step (8) */
    int prefix;    /* bytes of each document scored (64: the context of decar_gpt_config_of(1, 2, 32, 64)) */
    uint64_t seed; /* the first split and the LMs' initialisation (1) */
} decar_smalltalk_opts;
DECARDEF decar_smalltalk_opts decar_smalltalk_opts_default(int k);
DECARDEF int decar_smalltalk_partition(const decar_data *d, const decar_gpt_config *cfg, const decar_smalltalk_opts *o,
                                       decar_gpt *lms, int32_t *labels, double *flops, decar_error *e);

/* ---- 10d. CLIP-style contrastive encoders (here: its training step takes 12's decar_opt) ------------------------- */
/* CLIP-style contrastive encoders (Radford et al. 2021), built from the model above. The image tower is a
   bidirectional decar_gpt over an image's P patches (their linear projection: ViT's patch embedding) and one [CLS]
   token after them; the text tower is a causal byte decar_gpt over CLIP's [EOT text EOT], padded after the final EOT
   to T (the causal mask hides the padding from it). Each embedding is LayerNorm_f's output at the last position
   ([CLS]) and at the final EOT, L2-normalised. Texts are run in groups of similar length, each group cut to its
   longest text: the same features as one batch of T positions, at the cost of the texts' own lengths (captions are
   mostly much shorter than the longest). B matched pairs train with the symmetric InfoNCE loss and a learned
   temperature:
       logits = exp(tau) I T^T  (B, B),   L = (CE(logits, diag) + CE(logits^T, diag)) / 2
   The image tower's outputs at the P patch positions are the patch features a captioner reads (LLaVA: the frozen
   encoder's patch features through a trainable projector). */
typedef struct decar_clip {
    decar_gpt img, txt;
    float tau, tau_m, tau_v, tau_g; /* log of the logit scale (CLIP: log(1/0.07), at most log 100), AdamW moments */
    /* 1: a pair saved without "clip_text" (decar <= 0.6), whose text tower read [EOT .. EOT text EOT] left-padded
       to T - 1 positions: decar_clip_forward lays decar_clip_text_ids' rows (T) out that way for it */
    int left_padded;
} decar_clip;
/* both towers: n_layer, n_head, d_model; P patches of d_patch floats; texts of up to max_text bytes */
DECARDEF int decar_clip_init(decar_clip *m, int n_layer, int n_head, int d_model, int n_patch, int d_patch,
                             int max_text, uint64_t seed, decar_error *e);
DECARDEF void decar_clip_free(decar_clip *m);
/* ids (T) of a text for the text tower: [EOT text EOT EOT ..], the text cut to T - 2 bytes (T >= 2) */
DECARDEF void decar_clip_text_ids(const char *text, int T, int32_t *ids);
/* the embeddings before normalisation: img (B, C) of B images' patches (B, P, d_patch) and txt (B, C) of B texts
   (ids (B, T), decar_clip_text_ids; a row's final EOT is its first EOT after position 0, or T - 1; T <= the text
   tower's seq_len, or seq_len + 1 for a left_padded pair, whose features of 0.6's T come from T + 1 here); either
   input may be NULL (its output is then NULL). patch_out, if not NULL,
   receives the image tower's outputs at the patch positions (B, P, C) (copied, no gradient). */
DECARDEF int decar_clip_forward(decar_ctx *ctx, decar_clip *m, const float *patches, const int32_t *ids, int B, int T,
                                decar_tensor **img, decar_tensor **txt, float *patch_out);
/* the symmetric InfoNCE above, of img and txt (B, C) (normalised here) and tau (1 element); tg (B): the text of
   image i (the diagonal: tg[i] = i) */
DECARDEF decar_tensor *decar_clip_loss(decar_ctx *ctx, decar_tensor *img, decar_tensor *txt, decar_tensor *tau,
                                       const int32_t *tg);
/* one AdamW step of both towers and tau on B pairs; returns the loss (NaN on error: decar_ctx_error says why) */
DECARDEF float decar_clip_train_step(decar_clip *m, decar_ctx *ctx, const decar_opt *o, const float *patches,
                                     const int32_t *ids, int B, int T);
/* normalised embeddings of n images (n, C) and texts (n, C) in batches of B, no gradients (either output may be
   NULL); patch_out (n, P, C) as in decar_clip_forward */
DECARDEF int decar_clip_embed(decar_clip *m, decar_ctx *ctx, const float *patches, const int32_t *ids, int n, int T,
                              int B, float *img_out, float *txt_out, float *patch_out, decar_error *e);
/* zero-shot retrieval of n queries q (n, d) among n keys k (n, d), key i the match of query i, by dot product (unit
   rows: cosine): rank[i] = the keys of other groups that score above key i (0: retrieved first; keys of query i's
   group, e.g. the same caption twice, do not count), top[i] = the best key. group may be NULL (all distinct). */
DECARDEF void decar_retrieval(const float *q, const float *k, const int *group, int n, int d, int *rank, int *top);
#ifndef DECAR_NO_STDIO
/* DIR/image.safetensors and DIR/text.safetensors (tau in the text tower's metadata), both written or neither */
DECARDEF int decar_clip_save(const decar_clip *m, const char *dir, decar_error *e);
/* the two towers' files (image.safetensors, text.safetensors) in memory, to commit with other outputs */
DECARDEF int decar_clip_save_mem(const decar_clip *m, void *bufs[2], size_t lens[2], decar_error *e);
DECARDEF int decar_clip_load(decar_clip *m, const char *dir, decar_error *e);
#endif

/* ---------------------------------------------------------------------------------------------------------------
   13. checkpoints: a model in safetensors. Tensors are F32 with the nanoGPT names of section 10; optimizer
   moments (with_opt) are "optim.m.<name>", "optim.v.<name>". __metadata__ holds the config, step, rng state, and
   "decar_crc32" of the data section (detects bit flips). A quantized model (decar_gpt_quantize) is saved without
   optimizer state, with "quant": "q8_0" or "bf16" in the metadata and its weight matrices (each block's c_attn,
   attn.c_proj, c_fc, mlp.c_proj and wte) as I8 (N, K) plus "<name>.scale" F32 (N, ceil(K / 32)), or as BF16 (N, K);
   every other tensor stays F32. Loading reads either. Hugging Face GPT-2 interchange.
   --------------------------------------------------------------------------------------------------------------- */
/* extra_meta: NULL or a JSON-escaped list of additional  "key":"value" pairs without braces. */
DECARDEF int decar_gpt_save_mem(const decar_gpt *g, int with_opt, const char *extra_meta, void **buf, size_t *len,
                                decar_error *e);
DECARDEF int decar_gpt_load_mem(decar_gpt *g, const void *buf, size_t len, decar_error *e); /* g uninitialised */
#ifndef DECAR_NO_STDIO
DECARDEF int decar_gpt_save(const decar_gpt *g, const char *path, const char *extra_meta,
                            decar_error *e); /* with opt */
DECARDEF int decar_gpt_load(decar_gpt *g, const char *path, decar_error *e);
#endif
/* ---- 13b. Hugging Face GPT-2 interchange ------------------------------------------------------------------------- */
#ifndef DECAR_NO_STDIO
/* Hugging Face GPT-2: DIR/model.safetensors (weights only, HF names, Conv1D (in, out) layout) + DIR/config.json for
   GPT2LMHeadModel, written together; import reads such a directory (GPT2LMHeadModel or GPT2Model names, F32). */
DECARDEF int decar_gpt_export_hf(const decar_gpt *g, const char *dir, decar_error *e);
DECARDEF int decar_gpt_import_hf(decar_gpt *g, const char *dir, decar_error *e);
#endif
/* the same interchange in memory: *config_json is a NUL-terminated string (DECAR_FREE both buffers) */
DECARDEF int decar_gpt_export_hf_mem(const decar_gpt *g, void **st_buf, size_t *st_len, char **config_json,
                                     decar_error *e);
DECARDEF int decar_gpt_import_hf_mem(decar_gpt *g, const void *st_buf, size_t st_len, const char *config,
                                     size_t config_len, decar_error *e);

/* ---------------------------------------------------------------------------------------------------------------
   14. ensemble: the next-token distribution is sum_k w_k p_k (only experts with w_k > 0 run); AR generation,
   and evaluation of held-out documents under one model or the routed ensemble (AR log-loss, DFM bound)
   --------------------------------------------------------------------------------------------------------------- */
typedef struct decar_ensemble {
    int k;
    decar_gpt **experts; /* NULL entries are missing experts (skipped, router renormalised) */
    decar_router router;
    int route_every; /* re-route from the prefix features every this many tokens (R1-R3) */
    decar_featurizer *feat;
    const decar_tokenizer *tok; /* the experts' BPE tokenizer (text for routing features, EOT); NULL: bytes */
} decar_ensemble;
/* k experts (NULL entries: missing) under the uniform router over all of them; set en.router, en.feat, ... after */
DECARDEF decar_ensemble decar_ensemble_of(decar_gpt **experts, int k);
/* How to sample, for AR generation (decar_ensemble_generate), one draw from a distribution (decar_sample_probs) and
   masked DFM (decar_ensemble_fill, decar_dfm_sample): start from decar_sample_opts_default() and set what differs.
   Fields marked AR or DFM are read by that kind of sampler only. */
enum { DECAR_DFM_EULER = 0, DECAR_DFM_FIRST_HIT = 1, DECAR_DFM_L2R = 2 };
/* No evidence, no commitment: routing a noised sequence x_t (the DFM bound, the DFM samplers), a feature router
   that sees fewer than this many revealed bytes mixes every expert by its prior, w_k = pi_k, instead of committing
   to the top-k of the prior (the prior mixture is P(k | x_t) when x_t carries no information) */
#define DECAR_MIN_EVIDENCE 16
typedef struct decar_sample_opts {
    int n_new;       /* AR: tokens to generate after the prompt (default 0: set it) */
    double temp;     /* > 0: AR samples p^(1/temp), DFM each expert's softmax(logits / temp); AR <= 0: greedy (1) */
    int top_k;       /* AR: keep the top_k most likely tokens; <= 0: all (0) */
    double top_p;    /* AR: keep the fewest most likely tokens of mass >= top_p; >= 1: all (1) */
    uint64_t seed;   /* the random stream of the draws (1) */
    int stop_at_eot; /* AR: stop after the end-of-document token (captions); 0: write through it (0) */
    int sampler;     /* DFM: DECAR_DFM_EULER, DECAR_DFM_FIRST_HIT or DECAR_DFM_L2R (FIRST_HIT) */
    int n_steps;     /* DFM: the Euler sampler's steps (64) */
    int kappa_pow;   /* DFM: the schedule kappa_t = t^kappa_pow the experts were trained on (1) */
    int min_evidence; /* DFM: a feature router that sees fewer revealed bytes mixes every expert by its prior (16) */
} decar_sample_opts;
DECARDEF decar_sample_opts decar_sample_opts_default(void);
/* Generate o->n_new tokens after prompt with AR experts: x_{t+1} ~ sum_k w_k p_k(. | prefix, x_<=t).
   prefix: NULL, or one image's (n_prefix, d_prefix) features for experts that take an image prefix (captioning:
   routing then reads the image through en->feat's function). out receives prompt + generated tokens (cap >=
   n_prompt + o->n_new). o->temp > 0 samples p^(1/temp) with o->top_k / o->top_p; temp <= 0 is greedy (the most
   likely token). Stops early after EOT when o->stop_at_eot. *n_out: the tokens in out (also after an error: those
   written so far). active_out (optional, n_new) gets the top-weighted expert of each step. */
/* generation re-routes (every route_every tokens) from the features of the last DECAR_ROUTE_WINDOW tokens, so its
   cost is linear in n_new; the prompt and generations up to the window route from all their text */
#ifndef DECAR_ROUTE_WINDOW
#define DECAR_ROUTE_WINDOW 4096
#endif
DECARDEF int decar_ensemble_generate(decar_ensemble *en, const float *prefix, const int32_t *prompt, int n_prompt,
                                     const decar_sample_opts *o, int32_t *out, int *n_out, int *active_out,
                                     decar_error *e);
/* ---- 14b. evaluation of held-out documents ----------------------------------------------------------------------- */
/* The documents of one split as tokens. Each is scored on its own as [EOT, x_0, x_1, ...] in windows of the model's
   context; results are bits per byte whatever the tokenizer (end[] maps tokens back to the bytes they cover). */
typedef struct decar_docset {
    int n;                /* documents */
    int *doc;             /* (n) their indices into decar_data.docs */
    int64_t *off;         /* (n + 1) document q's tokens are tok[off[q] .. off[q+1]) */
    int32_t *tok;         /* (total) every document's tokens */
    int64_t *end;         /* (total) after token i, end[i] bytes of its document are covered */
    int64_t total, bytes; /* tokens and bytes over all documents */
    int32_t eot;          /* the end-of-document token that starts every document */
} decar_docset;
/* the documents of d with docs[i].split == split, tokenized by t (NULL: bytes) */
DECARDEF int decar_docset_build(decar_docset *ds, const decar_data *d, int split, const decar_tokenizer *t,
                                decar_error *e);
DECARDEF void decar_docset_free(decar_docset *ds);
/* keep only the tokens of each document that lie within its first max_bytes bytes (every token whose bytes end by
   then; possibly none), in place: documents of any length then cost about the same to score, so a held-out set of
   many documents stays affordable. max_bytes <= 0 keeps everything. ds->total and ds->bytes are updated. */
DECARDEF void decar_docset_truncate(decar_docset *ds, int64_t max_bytes);
/* the bytes document q's scored tokens cover (its length unless truncated); 0 <= q < ds->n */
DECARDEF int64_t decar_docset_doc_bytes(const decar_docset *ds, int q);
/* one model: nll[off[q] + i] = -ln p(x_i | x_<i) in nats, each document in non-overlapping windows of seq_len
   tokens (a window's first input is the token before it, EOT for the first), B windows per forward pass */
DECARDEF int decar_gpt_score_docs(decar_gpt *g, decar_ctx *ctx, const decar_docset *ds, int B, float *nll,
                                  decar_error *e);
/* The routed mixture of AR experts, per document q (bits[q], in bits):
       bits_q = sum_i -log2 sum_k w_k(i) p_k(x_i | x_<i)
   w(i) comes from en->router: R1-R3 from the features of the document's text before token i (recomputed every
   en->route_every tokens; 0 = once, at the start), R4' (Bayes) from log pi_k + sum_{j<i} ln p_k(x_j | x_<j) at every
   token. Missing experts (NULL) get no weight; a router that picks only missing experts is an error.
   nll (en->k pointers, caller-owned, NULL entries at first) caches each expert's decar_gpt_score_docs table: an
   expert is scored the first time it gets weight, so experts no document routes to never run, and several
   routers or top-k values share the tables. Free them with decar_nll_tables_free. External features: the feature
   function sees the document's index in en->feat->doc. */
DECARDEF int decar_ensemble_score_docs(decar_ensemble *en, decar_ctx *ctx, const decar_data *d, const decar_docset *ds,
                                       int B, float **nll, double *bits, decar_error *e);
DECARDEF void decar_nll_tables_free(float **nll, int k);
/* The oracle router (c-BTM reports one): each document q goes to the expert with the fewest bits on it, chosen in
   hindsight,
       k*_q = argmin_k bits_k(q),   bits_k(q) = sum_i -log2 p_k(x_i | x_<i)      (missing experts never chosen)
   so bits (ds->n) = bits_{k*_q}(q) lower-bounds, document by document, every router that sends a whole document to
   one expert (R1 re-routing every route_every tokens may switch inside a document and can beat it): router - oracle
   is the routing loss, oracle - dense the experts' loss. best (ds->n, optional) receives k*_q. Every loaded expert
   is scored once, into the nll tables that decar_ensemble_score_docs shares. */
DECARDEF int decar_ensemble_oracle_docs(decar_ensemble *en, decar_ctx *ctx, const decar_docset *ds, int B,
                                        float **nll, double *bits, int32_t *best, decar_error *e);
/* The router's top-1 expert for each whole document q, the choice to compare with the oracle's (agreement):
   R1-R3, R5, R6 route on the features of the whole text (as clustering assigned the training documents); R4' takes
   argmax_k log pi_k + sum_i ln p_k(x_i | x_<i), its posterior after the last token; uniform and an empty document
   without features: the prior's argmax. Ties: the lower index. choice (ds->n). */
DECARDEF int decar_ensemble_doc_choice(decar_ensemble *en, decar_ctx *ctx, const decar_data *d, const decar_docset *ds,
                                       int B, float **nll, int32_t *choice, decar_error *e);
/* A percentile bootstrap over documents of a ratio of sums, for m seeds (m >= 1) of the same n documents:
       r_s = sum_q a[s n + q] / sum_q b[s n + q],     statistic = (1/m) sum_s r_s
   Each of `draws` draws resamples the n documents with replacement once, the same documents for every seed and for
   a and b (a paired bootstrap: the pairing removes the documents' shared difficulty from the interval). a = bits, b
   = bytes gives bits per byte; a = an ensemble's bits, b = a dense model's bits on the same documents gives their
   ratio. *est: the statistic on the data; [*lo, *hi]: its alpha/2 and 1 - alpha/2 quantiles (alpha 0.05: a 95%
   interval). Deterministic in seed. DECAR_ERR_ARG for n < 1, m < 1, draws < 10, alpha outside (0, 1), a negative b
   or a b-sum that is not positive; DECAR_ERR_NUMERIC for a non-finite value. (A resample's b-sum can then be zero
   only when some b are zero: that draw's ratio counts as 0.) */
typedef struct decar_bootstrap_opts {
    int draws;     /* resamples (at least 10; default 1000) */
    double alpha;  /* the interval covers 1 - alpha (0.05: 95%) */
    uint64_t seed; /* the resampling stream (1) */
} decar_bootstrap_opts;
DECARDEF decar_bootstrap_opts decar_bootstrap_opts_default(void);
typedef struct decar_interval {
    double est, lo, hi; /* the statistic on the data, and the interval's ends */
} decar_interval;
DECARDEF int decar_bootstrap_ratio(const double *a, const double *b, int64_t n, int m, const decar_bootstrap_opts *o,
                                   decar_interval *ci, decar_error *e);
/* The router's weights for a text (R1-R3 read its features through en->feat; R4' and uniform the prior), with
   missing experts removed and the rest renormalised: w (en->k) */
DECARDEF int decar_ensemble_route(decar_ensemble *en, const uint8_t *text, int64_t len, double *w, decar_error *e);
/* one sequence under the mixture with fixed weights w: nll[t] = -ln sum_k w_k p_k(targets_t | prefix, ids_<=t)
   in nats (0 where targets_t < 0). prefix: NULL or the image prefix. Only experts with w_k > 0 run. */
DECARDEF int decar_ensemble_score_seq(decar_ensemble *en, decar_ctx *ctx, const float *prefix, const int32_t *ids,
                                      const int32_t *targets, int T, const double *w, double *nll, decar_error *e);
/* One image captioned by a routed ensemble of byte-level captioners that read an image prefix (decar caption):
     w = decar_ensemble_route's weights (en->feat reads the image, e.g. a decar_pixel_featurizer);
     *bits = -sum_t log2 sum_k w_k p_k(c_t | prefix, EOT c_<t) over the caption's first *scored bytes: all of them, or
       those that fit every routed expert's context after its prefix (as training cut longer captions);
     gen = the greedy caption from the same mixture (decar_ensemble_generate at temp 0 up to EOT, at most gen_cap - 1
       bytes);
     best = the expert of largest weight, w_best its weight.
   Returns 1 when gen is the caption, 0 when not, -1 on an error (e). */
typedef struct decar_caption_result {
    double bits;   /* -sum log2 p over the caption's first `scored` bytes (under the routed mixture) */
    int scored;    /* bytes scored */
    int best;      /* the expert of largest weight */
    double w_best; /* its weight */
} decar_caption_result;
DECARDEF int decar_ensemble_caption(decar_ensemble *en, decar_ctx *ctx, const float *prefix, const char *caption,
                                    char *gen, int gen_cap, decar_caption_result *res, decar_error *e);
/* The oracle's evidence for one image: each expert alone on the caption,
       bits[k] = -sum_t log2 p_k(c_t | prefix, EOT c_<t)      over the first *scored bytes, the same for every k
   (HUGE_VAL for a missing expert), *scored as decar_ensemble_caption cuts it, over every expert that exists. The
   oracle router sends the image to argmin_k bits[k] in hindsight (decar caption --oracle 1): the best any router of
   these experts can do with one expert per image. */
DECARDEF int decar_ensemble_caption_experts(decar_ensemble *en, decar_ctx *ctx, const float *prefix,
                                            const char *caption, double *bits, int *scored, decar_error *e);
/* DFM experts: a Monte Carlo estimate of the ELBO of the routed mixture, in bits per byte, per window of seq_len - 1
   tokens and o->n_mc draws of t per window:
       -log2 p(x) <= E_t [ kappa'(t) / (1 - kappa(t)) * sum_{i masked in x_t} -log2 sum_k w_k(x_t) p_k(x_i | x_t) ]
   with kappa(t) = t^n (o->dfm->kappa_pow), each token revealed with probability kappa(t), and w(x_t) routed on the
   revealed text (R1-R3) or the prior. *mean is weighted by bytes; *se is its standard error. bits (optional, ds->n)
   receives each document's bound in bits.
   The router R4' (DECAR_ROUTE_BAYES) gives the document-level Bayes bound instead, what R4' is to AR: every expert's
   ELBO of the whole document x (its windows, the same draws for every expert), mixed by the prior,
       -log2 p(x) = -log2 sum_k pi_k p_k(x) <= -log2 sum_k pi_k 2^(-B_k(x)),   B_k(x) >= -log2 p_k(x) its ELBO bits,
   valid as each B_k bounds its own expert; every expert that exists is mixed by its prior (the router's top_k is not
   applied: the posterior over whole documents needs them all). *se is then its Monte Carlo error (delta method over
   the n_mc draws of every document: B_k is their mean, r_k the posterior pi_k 2^-B_k normalised, var =
   Var_m(sum_k r_k B_k^(m)) / n_mc; -1 with n_mc = 1). Bias: f(B) = -log2 sum_k pi_k 2^-B_k is concave in B, so f of
   the mean draw is lower on average, by about (ln 2 / 2) sum_k r_k Var(B_k - sum_j r_j B_j) per document, a term of
   order 1 / n_mc that adds up over documents (unlike the error); with n_mc >= 2 each document's bound is the
   jackknife n f(all draws) - (n - 1) mean_i f(all draws but i), whose bias is of order 1 / n_mc^2. With n_mc = 1 it
   is f of the one draw, biased towards fewer bits: use n_mc >= 2. */
typedef struct decar_dfm_bound_opts {
    const decar_dfm *dfm; /* the experts' schedule (kappa_pow); NULL: kappa_t = t (default) */
    int n_mc;             /* draws of t per window (at least 1; default 4) */
    uint64_t seed;        /* the draws' stream (1) */
    int min_evidence;     /* a feature router that sees fewer revealed bytes mixes every expert by its prior (16) */
} decar_dfm_bound_opts;
DECARDEF decar_dfm_bound_opts decar_dfm_bound_opts_default(void);
DECARDEF int decar_ensemble_dfm_bound(decar_ensemble *en, decar_ctx *ctx, const decar_docset *ds,
                                      const decar_dfm_bound_opts *o, double *mean, double *se, double *bits,
                                      decar_error *e);
/* Sample quality as the masked-diffusion papers report it (MDLM, SEDD): n samples x (n, T) of tokenizer tok, each
   cut at its EOT tokens into documents (as training windows hold them), scored by an AR model (the scorer, e.g. the
   dense model; the same tokenizer):
       bits_per_byte = sum_s -log2 p_scorer(text_s) / sum_s bytes_s        the generative perplexity, per byte
       gen_ppl       = 2^(sum_s bits_s / sum_s tokens_s)                    per token of tok
       entropy       = (1/n_scored) sum_s H(the unigram distribution of sample s's tokens but EOT), in bits
   each document scored from an EOT in the scorer's windows (decar_gpt_score_docs). The entropy keeps repetition from
   passing for quality: a loop of a few likely tokens scores well and has low entropy. Samples with no text are
   counted in n_empty and left out. bits (optional, n): each sample's bits (0 when empty). A token outside the
   scorer's classes (a hole left, another tokenizer) is an error. */
typedef struct decar_sample_quality {
    double bits_per_byte, gen_ppl, entropy;
    int64_t bytes, tokens; /* scored, over the samples */
    int n_scored, n_empty;
} decar_sample_quality;
DECARDEF int decar_score_samples(decar_gpt *scorer, decar_ctx *ctx, const decar_tokenizer *tok, const int32_t *x,
                                 int n, int T, decar_sample_quality *q, double *bits, decar_error *e);
/* ---------------------------------------------------------------------------------------------------------------
   15. samplers: from a distribution, and masked DFM (Euler, first-hitting, left-to-right) over any experts'
   posteriors
   --------------------------------------------------------------------------------------------------------------- */
/* *token ~ p (n, need not sum to 1) in double precision under o's AR fields (section 14): p^(1/temp) renormalised
   (temp <= 0: the most likely class, the first of equals, no draw), then top_k / top_p (<= 0 and >= 1: off). o NULL:
   decar_sample_opts_default (p as it is). One uniform draw per call whatever the filters (at temp > 0). The rule
   decar_ensemble_generate picks each token by. DECAR_ERR_NOMEM when temp / top-k / top-p cannot get their scratch. */
DECARDEF int decar_sample_probs(const double *p, int n, const decar_sample_opts *o, decar_rng *r, int *token,
                                decar_error *e);
DECARDEF void decar_softmax_double(const float *logits, int n, double temp, double *p);
/* The DFM sampler, separate from any model: post(user, k, x, T, need, out) writes expert k's posterior
   p_{1|t}^{i,(k)}(. | x) over n_class classes into out + i*n_class for every i with need[i]; non-zero = failure.
   The mixture posterior sum_k w_k p^(k) is sampled in double precision; w comes from the router (features of the
   visible tokens, or the prior), and with DECAR_ROUTE_BAYES is multiplied by p^(k)(revealed token) at each
   reveal (exact for one token per step; a factorised approximation for Euler steps that reveal several).
   avail (k flags) or NULL: experts that exist. Tokens >= n_class other than mask_token are rejected. */
typedef int (*decar_posterior_fn)(void *user, int k, const int32_t *x, int T, const char *need, double *out);
typedef struct decar_dfm_sampler {
    int k, n_class, mask_token;
    decar_posterior_fn post;
    void *user;
    const decar_router *router;
    const decar_featurizer *feat;
    const char *avail;
    const decar_tokenizer *tok; /* decodes tokens to text for routing features; NULL: tokens below 256 are bytes */
} decar_dfm_sampler;
/* x (T) is filled in place; o's DFM fields: o->sampler (DECAR_DFM_EULER with o->n_steps, DECAR_DFM_FIRST_HIT or
   DECAR_DFM_L2R), o->kappa_pow, o->seed (o->temp belongs to post) */
DECARDEF int decar_dfm_sample(const decar_dfm_sampler *s, int32_t *x, int T, const decar_sample_opts *o,
                              decar_error *e);
/* masked-DFM sampling with an ensemble of experts (decar_dfm_sample with the experts as the posterior, each
   softmax(logits / o->temp)). x (T) holds tokens and the experts' mask token as holes; they are filled in place.
   An ensemble of one is plain DFM sampling. */
DECARDEF int decar_ensemble_fill(decar_ensemble *en, decar_ctx *ctx, int32_t *x, int T, const decar_sample_opts *o,
                                 decar_error *e);

/* ---------------------------------------------------------------------------------------------------------------
   16. the lifecycle: experts that join and leave an ensemble, and the provenance of every checkpoint
   JOIN. A new party holds only the router file (its featurizer included) and its own documents. It trains an expert
   (from the shared base, or branched from the nearest experts: decar_router_nearest + decar_gpt_average) and adds
   one cluster to the router, index k (the old ones keep theirs):
       mu_k    = sum_i x_i / |sum_i x_i|         x_i: the features of its training documents (spherical k-means' rule)
       count_k = n, its training documents;      pi_j = count_j / sum_l count_l for every j (the prior renormalised)
       R5      refitted from zero on the rows the router keeps plus the party's rows labelled k (each document and
               fit_prefix prefixes or noised windows of it, as decar_router_fit_docs draws them), with the same
               steps and learning rate
   A two-stage router also gets mu_k as one more fine centroid, mapped to k. The old centroids, counts and experts are
   not touched, so a document whose top-1 route does not change scores bit for bit as before.
   LEAVE. Removing cluster j drops its centroid (and its fine centroids), its count (the prior renormalised over the
   rest) and its R5 rows; R5 is refitted from zero on the rest; clusters after j move down by one. This withdraws the
   data's influence: routing no longer reads it and no remaining expert was trained on it. The shared base is not
   retrained, so the withdrawal is exact only when the base never saw the data. A join followed by the leave of the
   same cluster gives back the router it started from, bit for bit (R5's fit is deterministic from zero).
   What this needs in the router file (kept by this version on): count (k), and R5's training rows (n_rows, d) with
   their clusters row_label (n_rows) and its fit settings (metadata n_rows, fit_steps, fit_lr_bits, fit_prefix,
   fit_noise, fit_seed). The rows are features (a random projection of hashed tf-idf), not text, but derived from
   every party's documents: share the file with the parties, do not publish it; a router without R5 (decar cluster
   --learned 0) keeps none.
   PROVENANCE. Every checkpoint decar train writes records in its metadata (decar_provenance_meta): prov_shards
   SHA-256 of its documents' names, each followed by "\n", in the data's order (sorted by name) prov_docs      SHA-256
   of its documents' bytes: per document its length (8 bytes little-endian), then the bytes prov_tokenizer "bytes", or
   SHA-256 of the BPE tokenizer (decar_tokenizer_sha256) prov_base      SHA-256 of the checkpoint file training started
   from (--init), or "none" prov_parents   BTM branching: the SHA-256 of each expert averaged into that start,
   comma-separated (or "") prov_config    the training options, "key=value ..."; prov_seed; prov_version "decar
   <version> <command>" The hash is SHA-256 (FIPS 180-4), so a checkpoint's base can be checked with sha256sum.
   --------------------------------------------------------------------------------------------------------------- */
typedef struct decar_sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
} decar_sha256_ctx;
DECARDEF void decar_sha256_init(decar_sha256_ctx *c);
DECARDEF void decar_sha256_update(decar_sha256_ctx *c, const void *p, size_t n);
DECARDEF void decar_sha256_final(decar_sha256_ctx *c, uint8_t out[32]);
DECARDEF void decar_sha256(const void *p, size_t n, uint8_t out[32]);
DECARDEF void decar_sha256_hex(const uint8_t digest[32], char out[65]); /* 64 lowercase hex digits + NUL */
/* SHA-256 of a tokenizer: per token (ids 0 .. n_tokens-1) its byte count (4 bytes LE) and bytes, then the merges
   (ma, mb as 4-byte LE pairs), then eot (4 bytes LE). NULL: "bytes". */
DECARDEF void decar_tokenizer_sha256(const decar_tokenizer *t, char out[65]);
typedef struct decar_provenance {
    char shards[65], docs[65], tokenizer[65], base[65]; /* hex digests, or "bytes" / "none" / "unknown" */
    char parents[700];                                  /* comma-separated digests, or "" */
    char config[512];
    char version[64];
    uint64_t seed;
} decar_provenance;
/* shards, docs and tokenizer of the documents of d (every split, in the data's order) and tokenizer t (NULL: bytes);
   base "none", parents "", config "", version "decar <DECAR_VERSION>", seed 0: fill the rest yourself */
DECARDEF void decar_provenance_of_data(decar_provenance *p, const decar_data *d, const decar_tokenizer *t);
/* the "prov_..." metadata pairs (decar_gpt_save's extra_meta, no trailing comma) into out (cap bytes); fails
   (DECAR_ERR_ARG) when they do not fit or a field holds a quote or a backslash */
DECARDEF int decar_provenance_meta(const decar_provenance *p, char *out, size_t cap, decar_error *e);
/* read them back from a checkpoint in memory; a field the file lacks reads "unknown" (older checkpoints) */
DECARDEF int decar_provenance_read(decar_provenance *p, const void *buf, size_t len, decar_error *e);
/* the features of d's training documents (split 0) into X (n, f->dim, DECAR_FREE it), and R5's rows of them (each
   document and n_prefix prefixes, or noised windows of `noise` bytes, drawn from seed as decar_router_fit_docs does)
   into rows (m, f->dim), when rows is non-NULL */
DECARDEF int decar_docs_features(const decar_featurizer *f, const decar_data *d, int n_prefix, int noise, uint64_t seed,
                                 float **X, int64_t *n, float **rows, int64_t *m, decar_error *e);
/* JOIN from features: X (n, d) the party's documents (rows L2-normalised), rows (m, d) its R5 rows (NULL, 0: none;
   needed when the router has R5). The router gains cluster r->k. Fails, leaving r as it was, when r lacks counts,
   or has R5 but no kept rows (older files), or when n < 1. */
DECARDEF int decar_router_join_features(decar_router *r, const float *X, int64_t n, const float *rows, int64_t m,
                                        decar_error *e);
/* JOIN from documents: featurized by f (the router file's featurizer; its dim must be the router's) */
DECARDEF int decar_router_join(decar_router *r, const decar_featurizer *f, const decar_data *d, decar_error *e);
/* LEAVE: cluster j in [0, r->k) removed (r->k >= 2). Fails, leaving r as it was, on a bad index or the last one. */
DECARDEF int decar_router_leave(decar_router *r, int j, decar_error *e);
/* BTM's branching point: the n clusters nearest to mu by cosine (idx, most similar first) and weights w over them,
   w_i proportional to exp(cos(mu, mu_i) / temp) (R2's rule). n is clamped to [1, r->k]; returns it. */
DECARDEF int decar_router_nearest(const decar_router *r, const float *mu, int n, float temp, int *idx, double *w);
/* theta = sum_i w_i theta_i over n models of one config (BTM parameter averaging); out is initialised here */
DECARDEF int decar_gpt_average(decar_gpt *out, decar_gpt *const *models, const double *w, int n, decar_error *e);
#ifndef DECAR_NO_STDIO
DECARDEF int decar_file_sha256(const char *path, char hex[65], decar_error *e);
#endif

#endif /* DECAR_H */

/* =============================================================================================================== */
/*                                              IMPLEMENTATION                                                     */
/* =============================================================================================================== */
#ifdef DECAR_IMPLEMENTATION
#ifndef DECAR_IMPLEMENTATION_DONE
#define DECAR_IMPLEMENTATION_DONE

#include <math.h>
#include <string.h>
#include <stdarg.h>
#include <stdlib.h>
#ifndef DECAR_NO_STDIO
#include <stdio.h>
#endif

#if defined(DECAR_MALLOC) && defined(DECAR_FREE) && defined(DECAR_REALLOC)
#elif !defined(DECAR_MALLOC) && !defined(DECAR_FREE) && !defined(DECAR_REALLOC)
#define DECAR_MALLOC(sz) malloc(sz)
#define DECAR_REALLOC(p, sz) realloc(p, sz)
#define DECAR_FREE(p) free(p)
#else
#error "Define all or none of DECAR_MALLOC, DECAR_FREE and DECAR_REALLOC."
#endif

#if defined(_OPENMP) && !defined(DECAR_NO_THREADS)
#include <omp.h>
#define DECAR__OMP 1
#define DECAR__PRAGMA(x) _Pragma(#x)
#else
#define DECAR__OMP 0
#define DECAR__PRAGMA(x)
#endif
#if defined(DECAR__PREFETCH)
#elif defined(__GNUC__) || defined(__clang__)
#define DECAR__PREFETCH(p) __builtin_prefetch(p)
#else
#define DECAR__PREFETCH(p) ((void)(p))
#endif
/* Parallel loops. DECAR__PAR_FOR(c, for (...) body): the loop split over the threads in equal chunks when c holds (c:
   enough work to pay for a team), more than one thread is set and no team is running already; otherwise the same loop
   runs directly, with no parallel region at all. libgomp ends every region, even one of a single thread, in a futex
   system call: at about 1,600 regions a step that was a fifth of the scaling study's smallest model's training on
   one thread. DECAR__PAR_FOR_DYN: coarse tasks (GEMM blocks, attention heads) handed out as threads free up (on a
   shared machine one core is often slower). Each iteration is computed whole by one thread either way, so the
   results do not depend on who took it, nor on the thread count. */
#if DECAR__OMP
#define DECAR__PAR_OK(c) ((c) && omp_get_max_threads() > 1 && !omp_in_parallel())
#define DECAR__PAR_SCHED(sched, c, ...)                                                                                \
    do {                                                                                                               \
        if (DECAR__PAR_OK(c)) {                                                                                        \
            DECAR__PRAGMA(omp parallel for schedule(sched))                                                            \
            __VA_ARGS__;                                                                                               \
        } else {                                                                                                       \
            __VA_ARGS__;                                                                                               \
        }                                                                                                              \
    } while (0)
#else
#define DECAR__PAR_SCHED(sched, c, ...)                                                                                \
    do {                                                                                                               \
        __VA_ARGS__;                                                                                                   \
    } while (0)
#endif
#define DECAR__PAR_FOR(c, ...) DECAR__PAR_SCHED(static, c, __VA_ARGS__)
#define DECAR__PAR_FOR_DYN(c, ...) DECAR__PAR_SCHED(dynamic, c, __VA_ARGS__)
/* the threads the loops of DECAR__PAR_FOR will run on: the OpenMP team's size, or 1 inside a parallel region (the
   loop runs serially there) and without OpenMP; decar__loop_slot() numbers them 0 .. that - 1 */
static int decar__loop_threads(void) {
#if DECAR__OMP
    return DECAR__PAR_OK(1) ? omp_get_max_threads() : 1;
#else
    return 1;
#endif
}
static int decar__loop_slot(int nthr) {
#if DECAR__OMP
    return nthr > 1 ? omp_get_thread_num() : 0;
#else
    (void)nthr;
    return 0;
#endif
}

/* bf16: the top 16 bits of a float (widening is exact; narrowing rounds to nearest even, finite inputs) */
static float decar__bf16_to_f32(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}
static uint16_t decar__f32_to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x40u); /* NaN stays a (quiet) NaN */
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

/* ---- SIMD layer: one vector type and thirteen operations per architecture (loads of floats and bf16 included);
   scalar #else -------------------------------------------------------------------------------------------------- */
#if !defined(DECAR_NO_SIMD) && defined(__AVX512F__)
#include <immintrin.h>
#define DECAR__VW 16
typedef __m512 decar__v;
#define decar__vzero() _mm512_setzero_ps()
#define decar__vset1(x) _mm512_set1_ps(x)
#define decar__vload(p) _mm512_loadu_ps(p)
#define decar__vstore(p, v) _mm512_storeu_ps(p, v)
#define decar__vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define decar__vadd(a, b) _mm512_add_ps(a, b)
#define decar__vsub(a, b) _mm512_sub_ps(a, b)
#define decar__vsqrt(a) _mm512_sqrt_ps(a)
#define decar__vexp2i(n)                                                                                               \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))
#define decar__vmul(a, b) _mm512_mul_ps(a, b)
#define decar__vdiv(a, b) _mm512_div_ps(a, b)
#define decar__vmin(a, b) _mm512_min_ps(a, b)
#define decar__vmax(a, b) _mm512_max_ps(a, b)
#define decar__vload_bf16(p)                                                                                           \
    _mm512_castsi512_ps(                                                                                               \
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))
#define DECAR__SIMD_NAME "avx512"
#elif !defined(DECAR_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DECAR__VW 8
typedef __m256 decar__v;
#define decar__vzero() _mm256_setzero_ps()
#define decar__vset1(x) _mm256_set1_ps(x)
#define decar__vload(p) _mm256_loadu_ps(p)
#define decar__vstore(p, v) _mm256_storeu_ps(p, v)
#define decar__vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define decar__vadd(a, b) _mm256_add_ps(a, b)
#define decar__vsub(a, b) _mm256_sub_ps(a, b)
#define decar__vsqrt(a) _mm256_sqrt_ps(a)
#define decar__vexp2i(n)                                                                                               \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#define decar__vmul(a, b) _mm256_mul_ps(a, b)
#define decar__vdiv(a, b) _mm256_div_ps(a, b)
#define decar__vmin(a, b) _mm256_min_ps(a, b)
#define decar__vmax(a, b) _mm256_max_ps(a, b)
#define decar__vload_bf16(p)                                                                                           \
    _mm256_castsi256_ps(                                                                                               \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
#define DECAR__SIMD_NAME "avx2+fma"
#elif !defined(DECAR_NO_SIMD) && defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define DECAR__VW 4
typedef float32x4_t decar__v;
#define decar__vzero() vdupq_n_f32(0.0f)
#define decar__vset1(x) vdupq_n_f32(x)
#define decar__vload(p) vld1q_f32(p)
#define decar__vstore(p, v) vst1q_f32(p, v)
#define decar__vfma(a, b, c) vfmaq_f32(c, a, b)
#define decar__vadd(a, b) vaddq_f32(a, b)
#define decar__vsub(a, b) vsubq_f32(a, b)
#define decar__vsqrt(a) vsqrtq_f32(a)
#define decar__vexp2i(n) vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23))
#define decar__vmul(a, b) vmulq_f32(a, b)
#define decar__vdiv(a, b) vdivq_f32(a, b)
#define decar__vmin(a, b) vminq_f32(a, b)
#define decar__vmax(a, b) vmaxq_f32(a, b)
#define decar__vload_bf16(p) vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16))
#define DECAR__SIMD_NAME "neon"
#else
#define DECAR__VW 1
typedef float decar__v;
#define decar__vzero() 0.0f
#define decar__vset1(x) (x)
#define decar__vload(p) (*(p))
#define decar__vstore(p, v) (*(p) = (v))
#define decar__vfma(a, b, c) ((a) * (b) + (c))
#define decar__vadd(a, b) ((a) + (b))
#define decar__vsub(a, b) ((a) - (b))
#define decar__vsqrt(a) sqrtf(a)
#define decar__vexp2i(n) decar__exp2i(n)
#define decar__vmul(a, b) ((a) * (b))
#define decar__vdiv(a, b) ((a) / (b))
#define decar__vmin(a, b) ((a) < (b) ? (a) : (b))
#define decar__vmax(a, b) ((a) > (b) ? (a) : (b))
#define decar__vload_bf16(p) decar__bf16_to_f32(*(p))
#define DECAR__SIMD_NAME "scalar"
#endif
#if DECAR__VW == 1
static float decar__exp2i(float n) { /* 2^n for a whole n in [-126, 127], by building the float's bits */
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
#endif

DECARDEF const char *decar_simd_name(void) {
    return DECAR__SIMD_NAME;
}

/* horizontal sums in a fixed order; vsum8 gives out[r] = vsum(v[r]) bit for bit, eight at a time. AVX-512 first
   adds a vector's halves (lane i + lane i + 8), then sums the 8 lanes as AVX2 does. */
#if DECAR__VW == 8 || DECAR__VW == 16
#if DECAR__VW == 16
static __m256 decar__fold(decar__v v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
#else
#define decar__fold(v) (v)
#endif
static float decar__vsum(decar__v v) { /* ((v0+v1)+(v2+v3)) + ((v4+v5)+(v6+v7)) of the (folded) 8 lanes */
    __m256 t = decar__fold(v);
    t = _mm256_hadd_ps(t, t);
    t = _mm256_hadd_ps(t, t);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
}
static void decar__vsum8(const decar__v *v, float *out) { /* the same tree for eight vectors, as a transpose */
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(decar__fold(v[0]), decar__fold(v[1])),
                               _mm256_hadd_ps(decar__fold(v[2]), decar__fold(v[3])));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(decar__fold(v[4]), decar__fold(v[5])),
                               _mm256_hadd_ps(decar__fold(v[6]), decar__fold(v[7])));
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31)));
}
#else
static float decar__vsum(decar__v v) {
    float t[DECAR__VW];
    float s = 0.0f;
    int i;
    decar__vstore(t, v);
    for (i = 0; i < DECAR__VW; i++) s += t[i];
    return s;
}
static void decar__vsum8(const decar__v *v, float *out) {
    int r;
    for (r = 0; r < 8; r++) out[r] = decar__vsum(v[r]);
}
#endif

/* exp in vectors (Cephes' expf: 2^n times a degree-6 polynomial on [-ln2/2, ln2/2]); inputs clamped to
   [-87.3, 88.7], where 2^n stays a normal float. Max relative error 8e-8 over that range (checked in test_ops). A NaN
   input gives NaN (x86's min and max return their second operand when either is NaN, NEON's and the scalar
   fallback's propagate it), so a NaN logit makes a softmax row or a cross-entropy NaN, as libm's exp does. */
static decar__v decar__vexp(decar__v x) {
    const decar__v magic = decar__vset1(12582912.0f); /* 1.5 * 2^23: adding it rounds to a whole number */
    decar__v n, r, y;
    x = decar__vmax(decar__vset1(-87.3f), decar__vmin(decar__vset1(88.7f), x)); /* x second: a NaN passes through */
    n = decar__vsub(decar__vadd(decar__vmul(x, decar__vset1(1.44269504088896341f)), magic), magic);
    n = decar__vmax(decar__vmin(n, decar__vset1(127.0f)), decar__vset1(-126.0f));
    r = decar__vfma(n, decar__vset1(-0.693359375f), x);
    r = decar__vfma(n, decar__vset1(2.12194440e-4f), r);
    y = decar__vfma(decar__vset1(1.9875691500e-4f), r, decar__vset1(1.3981999507e-3f));
    y = decar__vfma(y, r, decar__vset1(8.3334519073e-3f));
    y = decar__vfma(y, r, decar__vset1(4.1665795894e-2f));
    y = decar__vfma(y, r, decar__vset1(1.6666665459e-1f));
    y = decar__vfma(y, r, decar__vset1(5.0000001201e-1f));
    y = decar__vadd(decar__vfma(y, decar__vmul(r, r), r), decar__vset1(1.0f));
    return decar__vmul(y, decar__vexp2i(n));
}
/* o[i] = exp(x[i] - sub) for i < n (o may be x); returns their sum (vector lanes, then in order). The tail goes
   through a zero-padded vector, so every element takes the same arithmetic. */
static float decar__exp_span(float *o, const float *x, float sub, int64_t n) {
    decar__v acc = decar__vzero(), vs = decar__vset1(sub);
    float buf[DECAR__VW], s;
    int64_t i = 0;
    int j;
    for (; i + DECAR__VW <= n; i += DECAR__VW) {
        decar__v e = decar__vexp(decar__vsub(decar__vload(x + i), vs));
        decar__vstore(o + i, e);
        acc = decar__vadd(acc, e);
    }
    s = decar__vsum(acc);
    if (i < n) {
        for (j = 0; j < DECAR__VW; j++) buf[j] = i + j < n ? x[i + j] : sub;
        decar__vstore(buf, decar__vexp(decar__vsub(decar__vload(buf), vs)));
        for (j = 0; i + j < n; j++) {
            o[i + j] = buf[j];
            s += buf[j];
        }
    }
    return s;
}

/* the lanes of a . b over its whole vectors (the first n / VW * VW elements): four vector accumulators in a fixed
   order, then combined (s0 + s1) + (s2 + s3) */
static decar__v decar__dot_lanes(const float *a, const float *b, int64_t n) {
    decar__v s0 = decar__vzero(), s1 = decar__vzero(), s2 = decar__vzero(), s3 = decar__vzero();
    int64_t i = 0;
    for (; i + 4 * DECAR__VW <= n; i += 4 * DECAR__VW) {
        s0 = decar__vfma(decar__vload(a + i), decar__vload(b + i), s0);
        s1 = decar__vfma(decar__vload(a + i + DECAR__VW), decar__vload(b + i + DECAR__VW), s1);
        s2 = decar__vfma(decar__vload(a + i + 2 * DECAR__VW), decar__vload(b + i + 2 * DECAR__VW), s2);
        s3 = decar__vfma(decar__vload(a + i + 3 * DECAR__VW), decar__vload(b + i + 3 * DECAR__VW), s3);
    }
    for (; i + DECAR__VW <= n; i += DECAR__VW) s0 = decar__vfma(decar__vload(a + i), decar__vload(b + i), s0);
    return decar__vadd(decar__vadd(s0, s1), decar__vadd(s2, s3));
}
/* dot product: the lanes summed in a fixed order, then the elements past the last whole vector */
static float decar__dot(const float *a, const float *b, int64_t n) {
    float s = decar__vsum(decar__dot_lanes(a, b, n));
    int64_t i;
    for (i = n / DECAR__VW * DECAR__VW; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out[r] = decar__dot(a, b + r n, n) for the rows r < nr of b (nr, n), bit for bit: the same lanes per row
   (decar__dot_lanes), eight rows' sums finished at once (decar__vsum8), then each row's elements past the vectors */
static void decar__dot_rows(float *out, const float *a, const float *b, int64_t nr, int64_t n) {
    int64_t r = 0;
#if DECAR__VW == 8 || DECAR__VW == 16
    for (; r + 8 <= nr; r += 8) {
        decar__v acc[8];
        int64_t j, i;
        for (j = 0; j < 8; j++) acc[j] = decar__dot_lanes(a, b + (r + j) * n, n);
        decar__vsum8(acc, out + r);
        for (j = 0; j < 8; j++)
            for (i = n / DECAR__VW * DECAR__VW; i < n; i++) out[r + j] += a[i] * b[(r + j) * n + i];
    }
#endif
    for (; r < nr; r++) out[r] = decar__dot(a, b + r * n, n);
}

/* y += a * x */
static void decar__axpy(float *y, float a, const float *x, int64_t n) {
    decar__v va = decar__vset1(a);
    int64_t i = 0;
    for (; i + DECAR__VW <= n; i += DECAR__VW)
        decar__vstore(y + i, decar__vfma(va, decar__vload(x + i), decar__vload(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* o[i] += sum_{t < n} a[t] v[t stride + i], i < hs: attention's mix of value rows for one query, onto o (zeroed by
   the caller before the first rows). Each o[i] is formed by the same fmas in the same order of t as calling
   decar__axpy per t (the same bits), with o held in up to four vectors across all t instead of loaded and stored for
   each. */
static void decar__attn_mix(float *o, const float *a, const float *v, int64_t n, int64_t hs, int64_t stride) {
    int64_t i = 0, t;
    for (; i + 4 * DECAR__VW <= hs; i += 4 * DECAR__VW) {
        decar__v o0 = decar__vload(o + i), o1 = decar__vload(o + i + DECAR__VW);
        decar__v o2 = decar__vload(o + i + 2 * DECAR__VW), o3 = decar__vload(o + i + 3 * DECAR__VW);
        for (t = 0; t < n; t++) {
            const float *vt = v + t * stride + i;
            decar__v at = decar__vset1(a[t]);
            o0 = decar__vfma(at, decar__vload(vt), o0);
            o1 = decar__vfma(at, decar__vload(vt + DECAR__VW), o1);
            o2 = decar__vfma(at, decar__vload(vt + 2 * DECAR__VW), o2);
            o3 = decar__vfma(at, decar__vload(vt + 3 * DECAR__VW), o3);
        }
        decar__vstore(o + i, o0);
        decar__vstore(o + i + DECAR__VW, o1);
        decar__vstore(o + i + 2 * DECAR__VW, o2);
        decar__vstore(o + i + 3 * DECAR__VW, o3);
    }
    for (; i + DECAR__VW <= hs; i += DECAR__VW) {
        decar__v o0 = decar__vload(o + i);
        for (t = 0; t < n; t++) o0 = decar__vfma(decar__vset1(a[t]), decar__vload(v + t * stride + i), o0);
        decar__vstore(o + i, o0);
    }
    for (; i < hs; i++)
        for (t = 0; t < n; t++) o[i] += a[t] * v[t * stride + i];
}
/* dst[i] = float(src[i]), i < n: bf16 widened (exact) */
static void decar__bf16_widen(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + DECAR__VW <= n; i += DECAR__VW) decar__vstore(dst + i, decar__vload_bf16(src + i));
    for (; i < n; i++) dst[i] = decar__bf16_to_f32(src[i]);
}

/* ---- 1. errors, rng ---------------------------------------------------------------------------------------------- */
static void decar__free(void *p) {
    if (p) DECAR_FREE(p);
} /* user allocators need not accept NULL */
/* decar__free of each of n pointers (each passed as void *, as va_arg reads them) */
static void decar__free_n(int n, ...) {
    va_list ap;
    int i;
    va_start(ap, n);
    for (i = 0; i < n; i++) decar__free(va_arg(ap, void *));
    va_end(ap);
}
/* 64-byte aligned blocks (a cache line: a vector load never straddles two lines): parameters, packed GEMM operands */
static void *decar__alloc64(size_t bytes) {
    char *p = (char *)DECAR_MALLOC(bytes + 72), *a;
    if (!p) return NULL;
    a = (char *)(((uintptr_t)p + 8 + 63) & ~(uintptr_t)63);
    memcpy(a - sizeof(char *), &p, sizeof(char *));
    return a;
}
static void decar__free64(void *a) {
    char *p;
    if (!a) return;
    memcpy(&p, (char *)a - sizeof(char *), sizeof(char *));
    DECAR_FREE(p);
}
/* the one place error text is formatted (without stdio the format string itself is kept) */
static void decar__vformat(char *dst, size_t cap, const char *fmt, va_list ap) {
#ifndef DECAR_NO_STDIO
    vsnprintf(dst, cap, fmt, ap);
#else
    size_t n = strlen(fmt);
    (void)ap;
    if (n >= cap) n = cap - 1;
    memcpy(dst, fmt, n);
    dst[n] = 0;
#endif
}
static void decar__seterr(decar_error *e, int code, const char *fmt, ...) {
    va_list ap;
    if (!e) return;
    e->code = code;
    va_start(ap, fmt);
    decar__vformat(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}
#define DECAR__FAIL(e, code, ...)                                                                                      \
    do {                                                                                                               \
        decar__seterr(e, code, __VA_ARGS__);                                                                           \
        return code;                                                                                                   \
    } while (0)

DECARDEF const char *decar_status_name(int code) {
    switch (code) {
        case DECAR_OK:
            return "ok";
        case DECAR_ERR_NOMEM:
            return "out of memory";
        case DECAR_ERR_ARG:
            return "bad argument";
        case DECAR_ERR_IO:
            return "i/o error";
        case DECAR_ERR_FORMAT:
            return "bad format";
        case DECAR_ERR_NUMERIC:
            return "not finite";
        default:
            return "unknown error";
    }
}

static uint64_t decar__mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
DECARDEF void decar_rng_seed(decar_rng *r, uint64_t seed) {
    r->s = decar__mix64(seed + 0x9e3779b97f4a7c15ULL);
}
static uint64_t decar__rng_u64(decar_rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    return decar__mix64(r->s);
} /* splitmix64 */
DECARDEF uint32_t decar_rng_u32(decar_rng *r) {
    return (uint32_t)(decar__rng_u64(r) >> 32);
}
DECARDEF double decar_rng_double(decar_rng *r) {
    return (double)(decar__rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}
DECARDEF float decar_rng_normal(decar_rng *r) {
    double u1 = decar_rng_double(r), u2 = decar_rng_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static uint64_t decar__rng_below(decar_rng *r, uint64_t n) {
    return n ? decar__rng_u64(r) % n : 0;
}
DECARDEF uint64_t decar_hash64(const void *p, size_t n, uint64_t seed) {
    const uint8_t *b = (const uint8_t *)p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return decar__mix64(h);
}

DECARDEF void decar_set_threads(int n) {
#if DECAR__OMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}
DECARDEF int decar_get_threads(void) {
#if DECAR__OMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- 2. tensors and the arena ------------------------------------------------------------------------------------ */
typedef struct decar__block {
    struct decar__block *prev;
    size_t size, used;
    char *mem;
} decar__block;
struct decar_ctx {
    decar__block *blk;
    int growable;
    size_t used, peak;
    int status;
    char err[256];
    decar_tensor *head, *tail;
    int64_t n_tape;
    struct decar__free_grad
        *free_grads; /* buffers backward has finished with, for reuse (a list threaded through them) */
    decar_ws *ws;    /* the GEMM's scratch, sized by the largest product */
    int no_grad;     /* decar_ctx_no_grad */
};

static decar__block *decar__block_new(size_t size) {
    decar__block *b = (decar__block *)DECAR_MALLOC(sizeof(decar__block) + size + 64);
    if (!b) return NULL;
    b->prev = NULL;
    b->size = size;
    b->used = 0;
    b->mem = (char *)(((uintptr_t)(b + 1) + 63) & ~(uintptr_t)63);
    return b;
}
DECARDEF decar_ctx *decar_ctx_new(size_t bytes) {
    decar_ctx *c = (decar_ctx *)DECAR_MALLOC(sizeof(decar_ctx));
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->growable = bytes == 0;
    c->blk = decar__block_new(bytes ? bytes : ((size_t)1 << 20));
    if (!c->blk) {
        DECAR_FREE(c);
        return NULL;
    }
    return c;
}
DECARDEF void decar_ctx_free(decar_ctx *c) {
    if (!c) return;
    while (c->blk) {
        decar__block *p = c->blk->prev;
        DECAR_FREE(c->blk);
        c->blk = p;
    }
    decar_ws_free(c->ws);
    DECAR_FREE(c);
}
DECARDEF void decar_ctx_reset(decar_ctx *c) {
    if (c->blk->prev) { /* growable and grew: keep one block big enough for the peak */
        size_t want = c->peak + (c->peak >> 3) + 4096;
        decar__block *nb;
        while (c->blk) {
            decar__block *p = c->blk->prev;
            DECAR_FREE(c->blk);
            c->blk = p;
        }
        nb = decar__block_new(want);
        if (!nb) nb = decar__block_new((size_t)1 << 20);
        c->blk = nb; /* NULL only when even 1 MiB fails: decar_ctx_alloc then reports it */
    }
    if (c->blk) c->blk->used = 0;
    c->used = 0;
    c->status = DECAR_OK;
    c->err[0] = 0;
    c->head = c->tail = NULL;
    c->n_tape = 0;
    c->free_grads = NULL;
}
DECARDEF size_t decar_ctx_used(const decar_ctx *c) {
    return c->used;
}
DECARDEF int decar_ctx_no_grad(decar_ctx *c, int on) {
    int was = c->no_grad;
    c->no_grad = on != 0;
    return was;
}
DECARDEF size_t decar_ctx_peak(const decar_ctx *c) {
    return c->peak;
}
DECARDEF int decar_ctx_status(const decar_ctx *c) {
    return c->status;
}
DECARDEF const char *decar_ctx_error(const decar_ctx *c) {
    return c->err[0] ? c->err : "ok";
}

static void decar__ctx_fail(decar_ctx *c, int code, const char *fmt, ...) {
    va_list ap;
    if (c->status) return; /* keep the first reason */
    c->status = code;
    va_start(ap, fmt);
    decar__vformat(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

DECARDEF void *decar_ctx_alloc(decar_ctx *c, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    char *p;
    if (c->status) return NULL;
    c->used += need;
    if (c->used > c->peak) c->peak = c->used;
    if (!c->blk || c->blk->used + need > c->blk->size) {
        decar__block *nb;
        if (!c->growable || !c->blk) {
            decar__ctx_fail(c, DECAR_ERR_NOMEM,
                            "not enough space in the context's arena: need %lu more bytes, have "
                            "%lu of %lu free; size the arena with decar_ctx_peak() or use decar_ctx_new(0)",
                            (unsigned long)need, (unsigned long)(c->blk ? c->blk->size - c->blk->used : 0),
                            (unsigned long)(c->blk ? c->blk->size : 0));
            return NULL;
        }
        nb = decar__block_new(need > 2 * c->blk->size ? need : 2 * c->blk->size);
        if (!nb) {
            decar__ctx_fail(c, DECAR_ERR_NOMEM, "malloc of %lu bytes for the arena failed", (unsigned long)need);
            return NULL;
        }
        nb->prev = c->blk;
        c->blk = nb;
    }
    p = c->blk->mem + c->blk->used;
    c->blk->used += need;
    return p;
}

static decar_tensor *decar__tensor(decar_ctx *c, int ndim, const int64_t *shape, int alloc_data, int zero) {
    decar_tensor *t;
    int i;
    int64_t n = 1;
    if (c->status) return NULL;
    if (ndim < 1 || ndim > DECAR_MAX_DIMS) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "tensor with %d dims (1..4)", ndim);
        return NULL;
    }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > ((int64_t)1 << 40) / n) {
            decar__ctx_fail(c, DECAR_ERR_ARG, "bad tensor dimension %lld", (long long)shape[i]);
            return NULL;
        }
        n *= shape[i];
    }
    t = (decar_tensor *)decar_ctx_alloc(c, sizeof(decar_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    t->n = n;
    t->id = c->n_tape;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    if (alloc_data) {
        t->data = (float *)decar_ctx_alloc(c, (size_t)n * sizeof(float));
        if (!t->data) return NULL;
        if (zero) memset(t->data, 0, (size_t)n * sizeof(float));
    }
    if (c->tail)
        c->tail->next = t;
    else
        c->head = t;
    c->tail = t;
    c->n_tape++;
    return t;
}
DECARDEF decar_tensor *decar_new(decar_ctx *c, int ndim, const int64_t *shape) {
    return decar__tensor(c, ndim, shape, 1, 1);
}
DECARDEF decar_tensor *decar_new1(decar_ctx *c, int64_t a) {
    return decar_new(c, 1, &a);
}
DECARDEF decar_tensor *decar_new2(decar_ctx *c, int64_t a, int64_t b) {
    int64_t s[2];
    s[0] = a;
    s[1] = b;
    return decar_new(c, 2, s);
}
DECARDEF decar_tensor *decar_new3(decar_ctx *c, int64_t a, int64_t b, int64_t d) {
    int64_t s[3];
    s[0] = a;
    s[1] = b;
    s[2] = d;
    return decar_new(c, 3, s);
}
DECARDEF decar_tensor *decar_param(decar_ctx *c, int ndim, const int64_t *shape) {
    decar_tensor *t = decar_new(c, ndim, shape);
    if (!t) return NULL;
    t->grad = (float *)decar_ctx_alloc(c, (size_t)t->n * sizeof(float));
    if (!t->grad) return NULL;
    memset(t->grad, 0, (size_t)t->n * sizeof(float));
    t->requires_grad = 1;
    return t;
}
DECARDEF decar_tensor *decar_wrap(decar_ctx *c, float *data, float *grad, int ndim, const int64_t *shape) {
    decar_tensor *t = decar__tensor(c, ndim, shape, 0, 0);
    if (!t) return NULL;
    t->data = data;
    t->grad = grad;
    t->requires_grad = grad != NULL;
    return t;
}
DECARDEF decar_tensor *decar_view(decar_ctx *c, decar_tensor *src, int ndim, const int64_t *shape, int64_t offset) {
    decar_tensor *t;
    if (!src) return NULL;
    t = decar__tensor(c, ndim, shape, 0, 0);
    if (!t) return NULL;
    if (offset < 0 || offset + t->n > src->n) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "view [%lld, %lld) outside a tensor of %lld elements", (long long)offset,
                        (long long)(offset + t->n), (long long)src->n);
        return NULL;
    }
    t->op = DECAR_OP_VIEW;
    t->src[0] = src;
    t->ip[0] = 0;
    t->aux = NULL;
    t->data = src->data + offset;
    t->requires_grad = !c->no_grad && src->requires_grad;
    t->fp[0] = 0;
    t->ip[1] = (int)(offset & 0x7fffffff);
    t->ip[2] = (int)(offset >> 31);
    return t;
}
static int64_t decar__view_offset(const decar_tensor *t) {
    return (int64_t)t->ip[1] | ((int64_t)t->ip[2] << 31);
}

/* output tensor of an op: data not zeroed (every element is written) */
static decar_tensor *decar__out(decar_ctx *c, int op, int ndim, const int64_t *shape, decar_tensor *a, decar_tensor *b,
                                decar_tensor *d) {
    decar_tensor *t = decar__tensor(c, ndim, shape, 1, 0);
    if (!t) return NULL;
    t->op = op;
    t->src[0] = a;
    t->src[1] = b;
    t->src[2] = d;
    t->requires_grad = !c->no_grad && ((a && a->requires_grad) || (b && b->requires_grad) || (d && d->requires_grad));
    return t;
}

/* ---- 3. formats and files: safetensors, JSON, atomic writes ------------------------------------------------------ */
typedef struct decar__sb {
    char *p;
    size_t n, cap;
    int oom;
} decar__sb; /* string builder (no stdio needed) */
static void decar__sb_put(decar__sb *s, const char *x, size_t n) {
    if (s->oom) return;
    if (s->n + n + 1 > s->cap) {
        size_t nc = (s->cap ? s->cap * 2 : 4096);
        char *np;
        while (nc < s->n + n + 1) nc *= 2;
        np = (char *)DECAR_REALLOC(s->p, nc);
        if (!np) {
            s->oom = 1;
            return;
        }
        s->p = np;
        s->cap = nc;
    }
    memcpy(s->p + s->n, x, n);
    s->n += n;
    s->p[s->n] = 0;
}
static void decar__sb_str(decar__sb *s, const char *x) {
    decar__sb_put(s, x, strlen(x));
}
static void decar__sb_u64(decar__sb *s, uint64_t v) {
    char b[24];
    int k = 0, i;
    char o[24];
    do {
        b[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < k; i++) o[i] = b[k - 1 - i];
    decar__sb_put(s, o, (size_t)k);
}
static void decar__sb_kv(decar__sb *s, const char *k, uint64_t v) { /* "k":"v", */
    decar__sb_str(s, "\"");
    decar__sb_str(s, k);
    decar__sb_str(s, "\":\"");
    decar__sb_u64(s, v);
    decar__sb_str(s, "\",");
}

DECARDEF uint32_t decar_crc32(const uint8_t *p, size_t n) {
    uint32_t tab[256], c = 0xffffffffu;
    uint32_t i;
    int k;
    size_t j;
    for (i = 0; i < 256; i++) {
        uint32_t x = i;
        for (k = 0; k < 8; k++) x = (x & 1) ? 0xedb88320u ^ (x >> 1) : x >> 1;
        tab[i] = x;
    }
    for (j = 0; j < n; j++) c = tab[(c ^ p[j]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}
static int decar__little_endian(void) {
    uint16_t x = 1;
    uint8_t b;
    memcpy(&b, &x, 1);
    return b == 1;
}
static void decar__f32_le(uint8_t *dst, const float *src, size_t n) { /* host floats -> little-endian bytes */
    size_t i;
    memcpy(dst, src, n * 4);
    if (!decar__little_endian())
        for (i = 0; i < n; i++) {
            uint8_t t = dst[4 * i];
            dst[4 * i] = dst[4 * i + 3];
            dst[4 * i + 3] = t;
            t = dst[4 * i + 1];
            dst[4 * i + 1] = dst[4 * i + 2];
            dst[4 * i + 2] = t;
        }
}

DECARDEF decar_st_tensor decar_st_tensor_of(const char *name, int64_t rows, int64_t cols, const float *data) {
    decar_st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.ndim = cols > 0 ? 2 : 1;
    t.shape[0] = rows;
    t.shape[1] = cols > 0 ? cols : 1;
    t.data = data;
    return t;
}
static size_t decar__st_bytes(const decar_st_tensor *t) { /* bytes of t's data */
    size_t ne = (size_t)(t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1));
    return ne * (t->dtype == DECAR_ST_I8 ? 1 : t->dtype == DECAR_ST_BF16 ? 2 : 4);
}
DECARDEF int decar_st_save_mem(const decar_st_tensor *t, int n, const char *meta, void **buf, size_t *len,
                               decar_error *e) {
    decar__sb h;
    size_t off = 0, data_len = 0, hlen;
    int i;
    uint8_t *b;
    for (i = 0; i < n; i++) data_len += decar__st_bytes(&t[i]);
    b = (uint8_t *)DECAR_MALLOC(data_len + 1);
    if (!b) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a %lu-byte file", (unsigned long)data_len);
    memset(b, 0, data_len + 1);
    for (i = 0; i < n; i++) { /* little-endian values */
        size_t ne = (size_t)(t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1)), k;
        if (t[i].dtype == DECAR_ST_I8) memcpy(b + off, t[i].raw, ne);
        if (t[i].dtype == DECAR_ST_BF16)
            for (k = 0; k < ne; k++) {
                uint16_t h = ((const uint16_t *)t[i].raw)[k];
                b[off + 2 * k] = (uint8_t)(h & 255);
                b[off + 2 * k + 1] = (uint8_t)(h >> 8);
            }
        if (t[i].dtype == DECAR_ST_F32) decar__f32_le(b + off, t[i].data, ne);
        off += decar__st_bytes(&t[i]);
    }
    memset(&h, 0, sizeof h);
    decar__sb_str(&h, "{\"__metadata__\":{\"format\":\"pt\",\"decar_version\":\"" DECAR_VERSION "\",");
    if (meta && *meta) {
        decar__sb_str(&h, meta);
        decar__sb_str(&h, ",");
    }
    decar__sb_kv(&h, "decar_crc32", decar_crc32(b, data_len));
    h.n--; /* drop the trailing comma */
    decar__sb_str(&h, "}");
    for (i = 0, off = 0; i < n; i++) {
        size_t nb = decar__st_bytes(&t[i]);
        decar__sb_str(&h, ",\"");
        decar__sb_str(&h, t[i].name);
        decar__sb_str(&h, "\":{\"dtype\":\"");
        decar__sb_str(&h, t[i].dtype == DECAR_ST_I8 ? "I8" : t[i].dtype == DECAR_ST_BF16 ? "BF16" : "F32");
        decar__sb_str(&h, "\",\"shape\":[");
        decar__sb_u64(&h, (uint64_t)t[i].shape[0]);
        if (t[i].ndim == 2) {
            decar__sb_str(&h, ",");
            decar__sb_u64(&h, (uint64_t)t[i].shape[1]);
        }
        decar__sb_str(&h, "],\"data_offsets\":[");
        decar__sb_u64(&h, off);
        decar__sb_str(&h, ",");
        decar__sb_u64(&h, off + nb);
        decar__sb_str(&h, "]}");
        off += nb;
    }
    decar__sb_str(&h, "}");
    while (h.n % 8) decar__sb_str(&h, " "); /* the format allows trailing spaces; keeps the data 8-aligned */
    if (h.oom) {
        DECAR_FREE(b);
        decar__free(h.p);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for the header");
    }
    hlen = h.n;
    *len = 8 + hlen + data_len;
    *buf = DECAR_MALLOC(*len);
    if (!*buf) {
        DECAR_FREE(b);
        DECAR_FREE(h.p);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for the file");
    }
    {
        uint8_t *o = (uint8_t *)*buf;
        for (i = 0; i < 8; i++) o[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
        memcpy(o + 8, h.p, hlen);
        memcpy(o + 8 + hlen, b, data_len);
    }
    DECAR_FREE(b);
    DECAR_FREE(h.p);
    return DECAR_OK;
}

typedef struct decar__js {
    const char *p, *end;
} decar__js;
static void decar__js_ws(decar__js *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}
static int decar__js_ch(decar__js *j, char c) {
    decar__js_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}
static int decar__js_str(decar__js *j, char *out, size_t cap) { /* 0 on success; \u escapes outside ASCII become '?' */
    size_t n = 0;
    if (!decar__js_ch(j, '"')) return -1;
    while (j->p < j->end && *j->p != '"') {
        char ch = *j->p++;
        if ((unsigned char)ch < 0x20) return -1;
        if (ch == '\\') {
            if (j->p >= j->end) return -1;
            ch = *j->p++;
            switch (ch) {
                case 'n':
                    ch = '\n';
                    break;
                case 't':
                    ch = '\t';
                    break;
                case 'r':
                    ch = '\r';
                    break;
                case 'b':
                    ch = '\b';
                    break;
                case 'f':
                    ch = '\f';
                    break;
                case '"':
                case '\\':
                case '/':
                    break;
                case 'u': {
                    int k;
                    unsigned v = 0;
                    if (j->end - j->p < 4) return -1;
                    for (k = 0; k < 4; k++) {
                        char x = *j->p++;
                        v <<= 4;
                        if (x >= '0' && x <= '9')
                            v |= (unsigned)(x - '0');
                        else if (x >= 'a' && x <= 'f')
                            v |= (unsigned)(x - 'a' + 10);
                        else if (x >= 'A' && x <= 'F')
                            v |= (unsigned)(x - 'A' + 10);
                        else
                            return -1;
                    }
                    ch = v < 0x80 ? (char)v : '?';
                    break;
                }
                default:
                    return -1;
            }
        }
        if (n + 1 >= cap) return -1;
        out[n++] = ch;
    }
    if (j->p >= j->end) return -1;
    j->p++;
    out[n] = 0;
    return 0;
}
static int decar__js_int(decar__js *j, int64_t *v) {
    int64_t x = 0;
    int digits = 0;
    decar__js_ws(j);
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (((int64_t)1 << 62) - 9) / 10) return -1;
        x = x * 10 + (*j->p++ - '0');
        digits++;
    }
    *v = x;
    return digits ? 0 : -1;
}

typedef struct decar__st_entry {
    char name[128];
    int f32;
    int dtype; /* DECAR_ST_F32, DECAR_ST_I8, DECAR_ST_BF16, or -1 for any other */
    int ndim;
    int64_t shape[8];
    int64_t begin, end;
} decar__st_entry;
/* a parsed safetensors header: t[] in file order, by_name[] points at the same entries sorted by name */
typedef struct decar__st {
    decar__st_entry *t;
    decar__st_entry **by_name;
    int n;
    char mk[64][64];
    char mv[64][128];
    int nm;
    size_t data_off, data_len;
} decar__st;
static void decar__st_free(decar__st *st) {
    decar__free(st->t);
    decar__free(st->by_name);
    st->t = NULL;
    st->by_name = NULL;
}
static int decar__st_cmp_begin(const void *a, const void *b) {
    const decar__st_entry *x = *(decar__st_entry *const *)a;
    const decar__st_entry *y = *(decar__st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}
static int decar__st_cmp_name(const void *a, const void *b) {
    return strcmp((*(decar__st_entry *const *)a)->name, (*(decar__st_entry *const *)b)->name);
}
/* the entry named `name`, or NULL: binary search, O(log n) */
static const decar__st_entry *decar__st_find(const decar__st *st, const char *name) {
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

#define DECAR__MAX_HEADER ((uint64_t)100 << 20)
/* safetensors: u64 little-endian header length n, then n bytes of JSON {name: {dtype, shape, data_offsets}, ...,
   __metadata__: {...}}, then the data. Every entry is checked against the file (dtype F32, shape product = bytes / 4,
   offsets inside the data, no overlap, no duplicate name) before anything reads it. decar__st_parse runs the passes
   below in order: the header's length, its JSON (tensors, metadata), the offsets against the shapes, the index.
   The JSON passes answer DECAR__ST_BAD where the text is malformed: the message then names the byte. */
#define DECAR__ST_BAD (-1)
/* the 8-byte little-endian header length: within the limit and the file. Sets st's data section and j, the JSON. */
static int decar__st_header(const uint8_t *b, size_t len, decar__st *st, decar__js *j, decar_error *e) {
    uint64_t hl = 0;
    int i;
    if (len < 8)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "checkpoint is %lu bytes: too short for a safetensors header (truncated?)",
                    (unsigned long)len);
    for (i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
    if (hl > DECAR__MAX_HEADER)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "safetensors header claims %llu bytes (limit %llu): corrupt file",
                    (unsigned long long)hl, (unsigned long long)DECAR__MAX_HEADER);
    if (hl < 2 || hl > len - 8)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "safetensors header length %llu does not fit a %lu-byte file (truncated?)",
                    (unsigned long long)hl, (unsigned long)len);
    st->data_off = 8 + (size_t)hl;
    st->data_len = len - st->data_off;
    j->p = (const char *)b + 8;
    j->end = j->p + hl;
    return DECAR_OK;
}
/* __metadata__'s object at j, {"key": "value", ...}, into st->mk / st->mv */
static int decar__st_read_meta(decar__st *st, decar__js *j, decar_error *e) {
    if (!decar__js_ch(j, '{')) return DECAR__ST_BAD;
    if (decar__js_ch(j, '}')) return DECAR_OK;
    for (;;) {
        char k[64], v[128];
        int q;
        if (decar__js_str(j, k, sizeof k) || !decar__js_ch(j, ':') || decar__js_str(j, v, sizeof v))
            return DECAR__ST_BAD;
        /* a repeated key takes its last value (as JSON readers answer); more than 64 distinct keys is no file decar
           reads (dropping some would answer a later duplicate wrongly) */
        for (q = 0; q < st->nm && strcmp(st->mk[q], k); q++) continue;
        if (q == 64) DECAR__FAIL(e, DECAR_ERR_FORMAT, "safetensors metadata has more than 64 keys");
        strcpy(st->mk[q], k);
        strcpy(st->mv[q], v);
        if (q == st->nm) st->nm++;
        if (decar__js_ch(j, '}')) return DECAR_OK;
        if (!decar__js_ch(j, ',')) return DECAR__ST_BAD;
    }
}
/* one tensor's object at j, {"dtype": ..., "shape": [...], "data_offsets": [begin, end]} (all three), as a new row of
   st->t named key; *cap: the table's capacity */
static int decar__st_read_entry(decar__st *st, decar__js *j, const char *key, int *cap, decar_error *e) {
    decar__st_entry *t;
    int got = 0; /* bits: dtype 1, shape 2, data_offsets 4 */
    if (st->n == *cap) {
        decar__st_entry *nt;
        *cap = *cap ? *cap * 2 : 64;
        if (*cap > (1 << 20)) DECAR__FAIL(e, DECAR_ERR_FORMAT, "too many tensors in the checkpoint");
        nt = (decar__st_entry *)DECAR_REALLOC(st->t, (size_t)*cap * sizeof *nt);
        if (!nt) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for the tensor table");
        st->t = nt;
    }
    t = &st->t[st->n++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, key);
    if (!decar__js_ch(j, '{')) return DECAR__ST_BAD;
    for (;;) {
        char f[32];
        if (decar__js_str(j, f, sizeof f) || !decar__js_ch(j, ':')) return DECAR__ST_BAD;
        if (strcmp(f, "dtype") == 0) {
            char dt[16];
            if (decar__js_str(j, dt, sizeof dt)) return DECAR__ST_BAD;
            t->f32 = strcmp(dt, "F32") == 0;
            t->dtype = t->f32                ? DECAR_ST_F32
                       : !strcmp(dt, "I8")   ? DECAR_ST_I8
                       : !strcmp(dt, "BF16") ? DECAR_ST_BF16
                                             : -1;
            got |= 1;
        } else if (strcmp(f, "shape") == 0) {
            if (!decar__js_ch(j, '[')) return DECAR__ST_BAD;
            if (!decar__js_ch(j, ']'))
                for (;;) {
                    if (t->ndim >= 8 || decar__js_int(j, &t->shape[t->ndim])) return DECAR__ST_BAD;
                    t->ndim++;
                    if (decar__js_ch(j, ']')) break;
                    if (!decar__js_ch(j, ',')) return DECAR__ST_BAD;
                }
            got |= 2;
        } else if (strcmp(f, "data_offsets") == 0) {
            if (!decar__js_ch(j, '[') || decar__js_int(j, &t->begin) || !decar__js_ch(j, ',') ||
                decar__js_int(j, &t->end) || !decar__js_ch(j, ']'))
                return DECAR__ST_BAD;
            got |= 4;
        } else
            return DECAR__ST_BAD;
        if (decar__js_ch(j, '}')) break;
        if (!decar__js_ch(j, ',')) return DECAR__ST_BAD;
    }
    if (got != 7) DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s' lacks dtype, shape or data_offsets", t->name);
    return DECAR_OK;
}
/* the header's JSON object at j: tensors and __metadata__, and nothing after it but white space */
static int decar__st_read_json(decar__st *st, decar__js *j, decar_error *e) {
    int cap = 0, rc;
    if (!decar__js_ch(j, '{')) DECAR__FAIL(e, DECAR_ERR_FORMAT, "safetensors header is not a JSON object");
    if (!decar__js_ch(j, '}'))
        for (;;) {
            char key[128];
            if (decar__js_str(j, key, sizeof key) || !decar__js_ch(j, ':')) return DECAR__ST_BAD;
            if (strcmp(key, "__metadata__") == 0)
                rc = decar__st_read_meta(st, j, e);
            else
                rc = decar__st_read_entry(st, j, key, &cap, e);
            if (rc) return rc;
            if (decar__js_ch(j, '}')) break;
            if (!decar__js_ch(j, ',')) return DECAR__ST_BAD;
        }
    decar__js_ws(j);
    return j->p == j->end ? DECAR_OK : DECAR__ST_BAD;
}
/* every tensor's offsets inside the data section, and its bytes = its shape's product times its dtype's size */
static int decar__st_check_sizes(const decar__st *st, decar_error *e) {
    int i;
    for (i = 0; i < st->n; i++) {
        const decar__st_entry *t = &st->t[i];
        int64_t n = 1; /* the shape's product, -1 past 2^40 */
        int d;
        for (d = 0; d < t->ndim; d++) {
            if (t->shape[d] > ((int64_t)1 << 40) / (n ? n : 1)) n = -1;
            if (n >= 0) n *= t->shape[d];
        }
        if (t->begin > t->end || (uint64_t)t->end > st->data_len)
            DECAR__FAIL(e, DECAR_ERR_FORMAT,
                        "tensor '%s': data_offsets [%lld, %lld) outside the %lu data bytes (truncated?)", t->name,
                        (long long)t->begin, (long long)t->end, (unsigned long)st->data_len);
        if (t->dtype >= 0 && (n < 0 || t->end - t->begin != n * (t->dtype == DECAR_ST_I8     ? 1
                                                                 : t->dtype == DECAR_ST_BF16 ? 2
                                                                                             : 4)))
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s': %lld bytes for its shape", t->name,
                        (long long)(t->end - t->begin));
    }
    return DECAR_OK;
}
/* st->by_name, the index decar__st_find searches; on the way, no two tensors overlap and no name comes twice: sorted
   once by offset and once by name, neighbours compared, O(n log n) */
static int decar__st_index(decar__st *st, decar_error *e) {
    int64_t reach = 0; /* the largest end offset among the non-empty tensors so far */
    const decar__st_entry *owner = NULL;
    int i;
    st->by_name = (decar__st_entry **)DECAR_MALLOC((size_t)(st->n > 0 ? st->n : 1) * sizeof(decar__st_entry *));
    if (!st->by_name) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for the tensor index");
    for (i = 0; i < st->n; i++) st->by_name[i] = &st->t[i];
    if (st->n > 1) qsort(st->by_name, (size_t)st->n, sizeof(decar__st_entry *), decar__st_cmp_begin);
    for (i = 0; i < st->n; i++) {
        const decar__st_entry *t = st->by_name[i];
        if (t->begin == t->end) continue;
        if (owner && t->begin < reach)
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensors '%s' and '%s' overlap in the data section", owner->name,
                        t->name);
        if (t->end > reach) {
            reach = t->end;
            owner = t;
        }
    }
    if (st->n > 1) qsort(st->by_name, (size_t)st->n, sizeof(decar__st_entry *), decar__st_cmp_name);
    for (i = 1; i < st->n; i++)
        if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s' appears twice in the header", st->by_name[i]->name);
    return DECAR_OK;
}
static int decar__st_parse(const uint8_t *b, size_t len, decar__st *st, decar_error *e) {
    decar__js j;
    int rc;
    memset(st, 0, sizeof *st);
    if ((rc = decar__st_header(b, len, st, &j, e))) return rc;
    if ((rc = decar__st_read_json(st, &j, e)) == DECAR__ST_BAD)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "malformed safetensors header JSON near byte %ld",
                    (long)(j.p - (const char *)b));
    if (!rc) rc = decar__st_check_sizes(st, e);
    if (!rc) rc = decar__st_index(st, e);
    return rc;
}
static const char *decar__st_meta(const decar__st *st, const char *k) {
    int i;
    /* of duplicate keys the last wins, as JSON readers (Python's json) answer */
    for (i = st->nm - 1; i >= 0; i--)
        if (strcmp(st->mk[i], k) == 0) return st->mv[i];
    return NULL;
}
static int decar__parse_u64(const char *s, uint64_t *v) {
    uint64_t x = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10) return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 0;
}
static int decar__meta_int(const decar__st *st, const char *k, int *out, decar_error *e) {
    uint64_t v;
    if (decar__parse_u64(decar__st_meta(st, k), &v) || v > 0x7fffffff)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "checkpoint metadata lacks a valid '%s'", k);
    *out = (int)v;
    return DECAR_OK;
}

DECARDEF int decar_meta_get(const void *buf, size_t len, const char *key, char *val, size_t cap) {
    decar__st st;
    const char *v;
    int rc = -1;
    if (decar__st_parse((const uint8_t *)buf, len, &st, NULL) == DECAR_OK && (v = decar__st_meta(&st, key)) &&
        strlen(v) < cap) {
        strcpy(val, v);
        rc = 0;
    }
    decar__st_free(&st);
    return rc;
}

/* the data section against the "decar_crc32" metadata, when the file has one (files from other tools may not) */
static int decar__st_check_crc(const decar__st *st, const uint8_t *b, decar_error *e) {
    const char *crc_s = decar__st_meta(st, "decar_crc32");
    uint64_t v;
    if (crc_s && (decar__parse_u64(crc_s, &v) || v != decar_crc32(b + st->data_off, st->data_len)))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "data fails its CRC32 check: the file is corrupted or truncated");
    return DECAR_OK;
}
/* parse + CRC: on failure nothing is left allocated */
static int decar__st_open(const uint8_t *b, size_t len, decar__st *st, decar_error *e) {
    int rc = decar__st_parse(b, len, st, e);
    if (!rc) rc = decar__st_check_crc(st, b, e);
    if (rc) decar__st_free(st);
    return rc;
}
/* the F32 tensor `name` holding exactly n elements, or NULL with the reason in e */
static const decar__st_entry *decar__st_want(const decar__st *st, const char *name, int64_t n, decar_error *e) {
    const decar__st_entry *en = decar__st_find(st, name);
    if (!en) {
        decar__seterr(e, DECAR_ERR_FORMAT, "no tensor '%s'", name);
        return NULL;
    }
    if (!en->f32 || en->end - en->begin != n * 4) {
        decar__seterr(e, DECAR_ERR_FORMAT, "tensor '%s' is not F32 with %lld elements", name, (long long)n);
        return NULL;
    }
    return en;
}
/* out[0..n) = the little-endian floats of entry en; NaN and Inf are refused */
static int decar__st_copy(const decar__st *st, const uint8_t *b, const decar__st_entry *en, float *out, int64_t n,
                          decar_error *e) {
    int64_t i;
    memcpy(out, b + st->data_off + en->begin, (size_t)n * 4);
    if (!decar__little_endian()) decar__f32_le((uint8_t *)out, out, (size_t)n);
    for (i = 0; i < n; i++)
        if (!(fabsf(out[i]) < INFINITY))
            DECAR__FAIL(e, DECAR_ERR_NUMERIC, "tensor '%s' holds NaN or Inf at element %lld", en->name, (long long)i);
    return DECAR_OK;
}
DECARDEF int decar_st_get(const void *buf, size_t len, const char *name, float *out, int64_t n, decar_error *e) {
    decar__st st;
    const decar__st_entry *en;
    const uint8_t *b = (const uint8_t *)buf;
    int rc = decar__st_open(b, len, &st, e);
    if (rc) return rc;
    en = decar__st_want(&st, name, n, e);
    rc = en ? decar__st_copy(&st, b, en, out, n, e) : DECAR_ERR_FORMAT;
    decar__st_free(&st);
    return rc;
}

/* Loading trusts nothing in the file: the config is validated, then every tensor it names is found with its shape
   before anything is allocated. The weights then account for n_params * 4 bytes of the file (the tensors were checked
   to lie inside it without overlapping), so the model's four blocks (weights, grads, m, v) take at most 4x the file.
   A quantized file (1.125 bytes a weight for Q8_0, 2 for bf16) loads as an inference model: the float weights and
   the quantized copy, no grads or moments, at most 4.6x the file. */
#ifndef DECAR_NO_STDIO
#if defined(__unix__) || defined(__APPLE__)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef __cplusplus
int kill(pid_t pid, int sig); /* POSIX <signal.h>, which hides it from a strict C99 build (stale temporaries) */
#endif
#define DECAR__POSIX 1
#else
#define DECAR__POSIX 0
#endif
/* e->msg = "path: " + e->msg (the path cut to 100 bytes, the whole cut to the message's size) */
static void decar__prefix_path(decar_error *e, const char *path) {
    char m[sizeof e->msg];
    size_t pl = strlen(path) > 100 ? 100 : strlen(path), ml;
    if (!e) return;
    ml = strlen(e->msg);
    if (ml > sizeof m - pl - 3) ml = sizeof m - pl - 3;
    memcpy(m, path, pl);
    m[pl] = ':';
    m[pl + 1] = ' ';
    memcpy(m + pl + 2, e->msg, ml);
    m[pl + 2 + ml] = 0;
    memcpy(e->msg, m, sizeof m);
}
DECARDEF int decar_read_file(const char *path, void **buf, size_t *len, decar_error *e) {
    FILE *f;
    long n;
    size_t got;
    *buf = NULL;
    *len = 0;
#if DECAR__POSIX
    { /* a directory opens and "seeks" on some systems: only regular files are read */
        struct stat sb;
        if (stat(path, &sb)) DECAR__FAIL(e, DECAR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        if (!S_ISREG(sb.st_mode)) DECAR__FAIL(e, DECAR_ERR_IO, "cannot read '%s': not a regular file", path);
    }
#endif
    f = fopen(path, "rb");
    if (!f) DECAR__FAIL(e, DECAR_ERR_IO, "cannot open '%s'", path);
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        DECAR__FAIL(e, DECAR_ERR_IO, "cannot read '%s' (not a regular file?)", path);
    }
    *buf = DECAR_MALLOC((size_t)n + 1);
    if (!*buf) {
        fclose(f);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for '%s' (%ld bytes)", path, n);
    }
    got = fread(*buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        DECAR_FREE(*buf);
        *buf = NULL;
        DECAR__FAIL(e, DECAR_ERR_IO, "short read on '%s'", path);
    }
    ((char *)*buf)[n] = 0;
    *len = (size_t)n;
    return DECAR_OK;
}
#if DECAR__POSIX
/* flush a file's directory entry to disk after a rename (the rename is otherwise only in the page cache) */
static void decar__fsync_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    int fd;
    if (n >= sizeof dir) return;
    if (slash && n == 0) n = 1; /* a file in "/" */
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? n : 1] = 0;
    fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}
#endif
/* write buf to a fresh temporary beside path (created exclusively: never another process's file); tmp gets its name */
static int decar__write_tmp(const char *path, const void *buf, size_t len, char *tmp, size_t cap, decar_error *e) {
    size_t pl = strlen(path);
    if (pl + 40 >= cap) DECAR__FAIL(e, DECAR_ERR_ARG, "path too long: '%.200s'", path);
#if DECAR__POSIX
    {
        /* <path>.tmp.<pid>.<salt>: the salt differs between threads (their stacks) and attempts */
        uint64_t salt = decar__mix64((uint64_t)(uintptr_t)&pl ^ ((uint64_t)getpid() << 32));
        const char *p = (const char *)buf;
        size_t left = len;
        int fd = -1, attempt;
        for (attempt = 0; attempt < 64 && fd < 0; attempt++) {
            snprintf(tmp, cap, "%s.tmp.%ld.%llx", path, (long)getpid(),
                     (unsigned long long)((salt + (uint64_t)attempt) & 0xffffffffULL));
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0 && errno != EEXIST) break;
        }
        if (fd < 0)
            DECAR__FAIL(e, DECAR_ERR_IO, "cannot create a temporary file beside '%s' (%s)", path, strerror(errno));
        while (left) {
            ssize_t w = write(fd, p, left);
            if (w <= 0) {
                close(fd);
                unlink(tmp);
                DECAR__FAIL(e, DECAR_ERR_IO, "write to '%s' failed (disk full?)", tmp);
            }
            p += w;
            left -= (size_t)w;
        }
        if (fsync(fd) || close(fd)) {
            unlink(tmp);
            DECAR__FAIL(e, DECAR_ERR_IO, "fsync of '%s' failed", tmp);
        }
    }
#else
    {
        FILE *f;
        memcpy(tmp, path, pl);
        memcpy(tmp + pl, ".tmp", 5);
        f = fopen(tmp, "wb");
        if (!f) DECAR__FAIL(e, DECAR_ERR_IO, "cannot create '%s'", tmp);
        if (fwrite(buf, 1, len, f) != len || fclose(f)) {
            remove(tmp);
            DECAR__FAIL(e, DECAR_ERR_IO, "write to '%s' failed", tmp);
        }
    }
#endif
    return DECAR_OK;
}
#if DECAR__POSIX
/* Temporaries of dead writers: "<base>.tmp.<pid>.<salt>" beside path whose pid is no running process (a writer
   killed during its write) are removed by the next writer of the same target. A live pid's file is left alone (it
   may be another process writing now); so is anything not of exactly that form. */
static void decar__remove_stale_tmps(const char *path) {
    char dir[4096], full[8300];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t dl = slash ? (size_t)(slash - path) : 0, bl = strlen(base);
    DIR *d;
    struct dirent *de;
    if (dl >= sizeof dir || bl == 0) return;
    if (slash) {
        memcpy(dir, path, dl ? dl : 1);
        dir[dl ? dl : 1] = 0;
    } else
        strcpy(dir, ".");
    if (!(d = opendir(dir))) return;
    while ((de = readdir(d))) {
        const char *q = de->d_name;
        char *end;
        long pid;
        if (strncmp(q, base, bl) || strncmp(q + bl, ".tmp.", 5)) continue;
        pid = strtol(q + bl + 5, &end, 10);
        if (end == q + bl + 5 || *end != '.' || pid <= 0 || pid == (long)getpid()) continue;
        for (q = end + 1; *q && ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')); q++) continue;
        if (*q || q == end + 1) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) < (int)sizeof full) (void)unlink(full);
    }
    closedir(d);
}
#endif
DECARDEF int decar_write_files_atomic(int n, const char *const *paths, const void *const *bufs, const size_t *lens,
                                      decar_error *e) {
    char(*tmp)[4200];
    int i, rc = DECAR_OK, written = 0;
    if (n < 0) DECAR__FAIL(e, DECAR_ERR_ARG, "%d files", n);
    if (n == 0) return DECAR_OK;
#if DECAR__POSIX
    /* 0. every target first: an existing directory (or other non-file) where a file goes, or a path named twice, would
       stop the renames half-way and leave some files new and some old; refused before anything is written */
    for (i = 0; i < n; i++) {
        struct stat sb;
        int k;
        if (!stat(paths[i], &sb) && !S_ISREG(sb.st_mode))
            DECAR__FAIL(e, DECAR_ERR_IO, "cannot write '%s': it exists and is not a regular file (a directory?); "
                        "nothing was written", paths[i]);
        for (k = 0; k < i; k++)
            if (!strcmp(paths[k], paths[i]))
                DECAR__FAIL(e, DECAR_ERR_ARG, "'%s' is named twice among the outputs; nothing was written", paths[i]);
    }
    for (i = 0; i < n; i++) decar__remove_stale_tmps(paths[i]);
#endif
    tmp = (char(*)[4200])DECAR_MALLOC((size_t)n * sizeof *tmp);
    if (!tmp) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    /* 1. every file to its temporary: a failure removes the ones already written and touches no target */
    for (i = 0; i < n && !rc; i++) {
        rc = decar__write_tmp(paths[i], bufs[i], lens[i], tmp[i], sizeof tmp[i], e);
        if (!rc) written++;
    }
    /* 2. only then the renames over the targets, and the directories flushed */
    for (i = 0; i < written && !rc; i++) {
#if !DECAR__POSIX
        remove(paths[i]);
#endif
        if (rename(tmp[i], paths[i])) {
            rc = DECAR_ERR_IO;
            decar__seterr(e, rc, "cannot rename '%s' to '%s'", tmp[i], paths[i]);
        } else
            tmp[i][0] = 0;
    }
    for (i = 0; i < written; i++)
        if (tmp[i][0]) remove(tmp[i]);
#if DECAR__POSIX
    for (i = 0; i < n && !rc; i++) decar__fsync_dir(paths[i]);
#endif
    DECAR_FREE(tmp);
    return rc;
}
DECARDEF int decar_write_file_atomic(const char *path, const void *buf, size_t len, decar_error *e) {
    return decar_write_files_atomic(1, &path, &buf, &len, e);
}
/* the two files DIR/name[0] and DIR/name[1], read whole (format directories: Hugging Face, GPT-2 tokenizers) */
static int decar__read_two(const char *dir, const char *const name[2], void *buf[2], size_t len[2], decar_error *e) {
    char p[4096];
    int i, rc;
    buf[0] = buf[1] = NULL;
    if (strlen(dir) + 40 >= sizeof p) DECAR__FAIL(e, DECAR_ERR_ARG, "path too long");
    for (i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, name[i]);
        if ((rc = decar_read_file(p, &buf[i], &len[i], e))) {
            if (i) DECAR_FREE(buf[0]);
            return rc;
        }
    }
    return DECAR_OK;
}
/* DIR/name[0] and DIR/name[1], written together (decar_write_files_atomic) */
/* DIR/name[0] and DIR/name[1] read, then given to parse (errors name the directory) */
typedef int (*decar__parse_two_fn)(void *obj, const void *a, size_t na, const void *b, size_t nb, decar_error *e);
static int decar__load_two(const char *dir, const char *const name[2], decar__parse_two_fn parse, void *obj,
                           decar_error *e) {
    void *buf[2];
    size_t len[2];
    int rc = decar__read_two(dir, name, buf, len, e);
    if (rc) return rc;
    rc = parse(obj, buf[0], len[0], buf[1], len[1], e);
    if (rc) decar__prefix_path(e, dir);
    DECAR_FREE(buf[0]);
    DECAR_FREE(buf[1]);
    return rc;
}
/* a buffer serialised with status rc written atomically to path, then freed */
static int decar__commit(const char *path, void *buf, size_t len, int rc, decar_error *e) {
    if (!rc) rc = decar_write_file_atomic(path, buf, len, e);
    decar__free(buf);
    return rc;
}
static int decar__write_two(const char *dir, const char *const name[2], const void *const buf[2], const size_t len[2],
                            decar_error *e) {
    char p[2][4096];
    const char *paths[2];
    int i;
    if (strlen(dir) + 40 >= sizeof p[0]) DECAR__FAIL(e, DECAR_ERR_ARG, "path too long");
    for (i = 0; i < 2; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s", dir, name[i]);
        paths[i] = p[i];
    }
    return decar_write_files_atomic(2, paths, buf, len, e);
}
#endif /* DECAR_NO_STDIO */

/* ---- 4. kernels: the SIMD GEMM and its workspace (the ops' own kernels follow the ops, 5b) --------------------------
   GEMM, the Goto/BLIS way in a page of C. B is packed once per call into column panels of NR = 2 vectors (zero
   padded, k-major), or read in place when its rows are whole panels that at most 8 slivers read. The rows of C are
   cut into chunks of MB slivers of MR rows; a task is (row chunk, group of panels). A task walks K in blocks of KC:
   its chunk's MB x KC block of A stays in L2 (rows of A are read in place; A read transposed, as in weight
   gradients, is first packed into k-major slivers so that it streams contiguously, unless at most two panels would
   reuse a sliver: then it too is read in place), and for each panel of its group it runs the MR x NR register tile
   over the KC slice of the panel (16 KB: stays in L1 across the chunk's slivers), adding into C after the first
   block. Each C element is summed by one task, in the same k order whatever the thread count or the task split, so
   results do not depend on the number of threads. */
#define DECAR__MR 6
#define DECAR__NR (2 * DECAR__VW)
#define DECAR__MB 16
#define DECAR__KC (4096 / DECAR__NR) /* KC x NR floats of B = 16 KB */

#ifdef DECAR_USE_CBLAS
#include <cblas.h>
#endif

/* dst[i * ld + j] = src[j * ls + i] for i, j < 8: an 8 x 8 transpose in registers (unpack, shuffle, swap halves),
   or the plain loops without AVX */
#if !defined(DECAR_NO_SIMD) && defined(__AVX__)
static void decar__transpose8(float *dst, int64_t ld, const float *src, int64_t ls) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ls), r2 = _mm256_loadu_ps(src + 2 * ls);
    __m256 r3 = _mm256_loadu_ps(src + 3 * ls), r4 = _mm256_loadu_ps(src + 4 * ls), r5 = _mm256_loadu_ps(src + 5 * ls);
    __m256 r6 = _mm256_loadu_ps(src + 6 * ls), r7 = _mm256_loadu_ps(src + 7 * ls);
    /* t: pairs of rows interleaved; s: four rows' elements i and i + 4 (i < 4); then the halves swapped */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3);
    __m256 t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ld, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#else
static void decar__transpose8(float *dst, int64_t ld, const float *src, int64_t ls) {
    int i, j;
    for (i = 0; i < 8; i++)
        for (j = 0; j < 8; j++) dst[i * ld + j] = src[j * ls + i];
}
#endif
/* Bp = B (K, N), read as B[k sbk + n sbn], packed into ceil(N / NR) column panels of [K][NR] floats (k-major; the
   columns past N are zeros): panel p holds columns p NR .. p NR + NR - 1, so the tile reads NR values of one k at
   once. Panels are split over the threads. */
static void decar__pack_b(float *Bp, const float *B, int64_t sbk, int64_t sbn, int64_t K, int64_t N) {
    int64_t np = (N + DECAR__NR - 1) / DECAR__NR, p;
    DECAR__PAR_FOR(K * N >= ((int64_t)1 << 15), for (p = 0; p < np; p++) {
        float *dst = Bp + p * K * DECAR__NR;
        int64_t j0 = p * DECAR__NR, k;
        int c;
        if (sbk == 1) { /* a transpose, in blocks of 64 k so that the written lines stay in L1; 8 x 8 tiles in
                           (decar__transpose8) where 8 columns and 8 k are whole: the same values, moved */
            int64_t kb, ke;
            for (kb = 0; kb < K; kb += 64) {
                ke = K - kb < 64 ? K : kb + 64;
                for (c = 0; c < DECAR__NR; c++) {
                    if (c % 8 == 0 && c + 8 <= DECAR__NR && j0 + c + 8 <= N) { /* 8 columns inside the panel */
                        const float *src = B + (j0 + c) * sbn;
                        int i;
                        for (k = kb; k + 8 <= ke; k += 8)
                            decar__transpose8(dst + k * DECAR__NR + c, DECAR__NR, src + k, sbn);
                        for (; k < ke; k++)
                            for (i = 0; i < 8; i++) dst[k * DECAR__NR + c + i] = src[i * sbn + k];
                        c += 7;
                    } else if (j0 + c < N) {
                        const float *src = B + (j0 + c) * sbn;
                        for (k = kb; k < ke; k++) dst[k * DECAR__NR + c] = src[k];
                    } else
                        for (k = kb; k < ke; k++) dst[k * DECAR__NR + c] = 0.0f;
                }
            }
        } else if (sbn == 1) { /* rows in place: each k's columns of the panel, then zeros past N */
            int nc = (int)(N - j0 < DECAR__NR ? N - j0 : DECAR__NR);
            for (k = 0; k < K && nc == DECAR__NR; k++) { /* whole panels: two vectors (no memcpy call per k) */
                decar__vstore(dst + k * DECAR__NR, decar__vload(B + k * sbk + j0));
                decar__vstore(dst + k * DECAR__NR + DECAR__VW, decar__vload(B + k * sbk + j0 + DECAR__VW));
            }
            for (k = 0; k < K && nc < DECAR__NR; k++) {
                memcpy(dst + k * DECAR__NR, B + k * sbk + j0, (size_t)nc * sizeof(float));
                memset(dst + k * DECAR__NR + nc, 0, (size_t)(DECAR__NR - nc) * sizeof(float));
            }
        } else {
            for (k = 0; k < K; k++)
                for (c = 0; c < DECAR__NR; c++)
                    dst[k * DECAR__NR + c] = j0 + c < N ? B[k * sbk + (j0 + c) * sbn] : 0.0f;
        }
    });
}

/* pack rows [i0, i0 + nb*MR) x columns [k0, k0 + kc) of A into nb slivers of [kc][MR] (rows past M repeat row M-1;
   their results are never stored) */
#define DECAR__PACK_AHEAD 8 /* rows prefetched ahead where rows far apart are walked down (packing, column sums) */
#define DECAR__FAR_ROWS 128 /* floats between rows from which the stream prefetcher no longer follows (512 bytes) */
/* prefetch the n floats from p, one request per 64-byte line */
static void decar__prefetch_span(const float *p, int64_t n) {
    int64_t o;
    for (o = 0; o < n; o += 64 / (int64_t)sizeof(float)) DECAR__PREFETCH(p + o);
}
static void decar__pack_a(float *dst, const float *A, int64_t sai, int64_t sak, int64_t M, int64_t i0, int64_t nb,
                          int64_t k0, int64_t kc) {
    int64_t b, k;
    int r;
    if (sai == 1) { /* A read transposed (weight gradients): k outer, rows contiguous; MR floats copied inline. Rows
                       of A 512 bytes or more apart (a layer's width) defeat the hardware's stream prefetcher: the row
                       DECAR__PACK_AHEAD further on is prefetched (without it, packing took a quarter of a weight
                       gradient's time on an AMD Zen 3) */
        const int64_t n = (M - i0 < nb * DECAR__MR ? M - i0 : nb * DECAR__MR);
        for (k = 0; k < kc; k++) {
            const float *src = A + (k0 + k) * sak;
            if (sak >= DECAR__FAR_ROWS && k + DECAR__PACK_AHEAD < kc)
                decar__prefetch_span(src + DECAR__PACK_AHEAD * sak + i0, n);
            for (b = 0; b < nb; b++) {
                float *d = dst + b * kc * DECAR__MR + k * DECAR__MR;
                int64_t i = i0 + b * DECAR__MR;
                if (i + DECAR__MR <= M)
                    for (r = 0; r < DECAR__MR; r++) d[r] = src[i + r];
                else
                    for (r = 0; r < DECAR__MR; r++) d[r] = src[i + r < M ? i + r : M - 1];
            }
        }
        return;
    }
    for (b = 0; b < nb; b++, dst += kc * DECAR__MR) {
        const float *rows[DECAR__MR];
        for (r = 0; r < DECAR__MR; r++) {
            int64_t i = i0 + b * DECAR__MR + r;
            rows[r] = A + (i < M ? i : M - 1) * sai + k0 * sak;
        }
        for (k = 0; k < kc; k++)
            for (r = 0; r < DECAR__MR; r++) dst[k * DECAR__MR + r] = rows[r][k * sak];
    }
}

/* C[mr x nr] = (accumulate ? C : 0) + A * bp (+ bias); row r of A at ap + r * ars, its k-th element ars + k * aks
   apart: packed slivers (ars 1, aks MR), rows of A read in place (ars = row stride, aks 1) or A transposed read in
   place (ars 1, aks = its stride along k); bp: NR columns of B, bks apart per k (a packed panel [k][NR]: bks NR; B's
   rows read in place: bks = their stride).
   The MR x NR tile lives in 12 vector registers c_r0, c_r1 (r < 6): per k, row r adds a_r[k] * (b0, b1). */
#define DECAR__TILE_ROW(r)                                                                                             \
    do {                                                                                                               \
        av = decar__vset1(*a##r);                                                                                      \
        c##r##0 = decar__vfma(av, b0, c##r##0);                                                                        \
        c##r##1 = decar__vfma(av, b1, c##r##1);                                                                        \
    } while (0)
#define DECAR__TILE_SAVE(r)                                                                                            \
    do {                                                                                                               \
        acc[r][0] = c##r##0;                                                                                           \
        acc[r][1] = c##r##1;                                                                                           \
    } while (0)
static void decar__tile(int64_t K, const float *ap, int64_t ars, int64_t aks, const float *bp, int64_t bks, float *C,
                        int64_t ldc, int mr, int nr, const float *bias, int accumulate) {
    decar__v c00 = decar__vzero(), c01 = decar__vzero(), c10 = decar__vzero(), c11 = decar__vzero();
    decar__v c20 = decar__vzero(), c21 = decar__vzero(), c30 = decar__vzero(), c31 = decar__vzero();
    decar__v c40 = decar__vzero(), c41 = decar__vzero(), c50 = decar__vzero(), c51 = decar__vzero();
    decar__v acc[DECAR__MR][2];
    int64_t k;
    int r, j;
    const float *a0 = ap, *a1 = ap + (mr > 1 ? ars : 0), *a2 = ap + (mr > 2 ? 2 * ars : 0); /* rows past mr */
    const float *a3 = ap + (mr > 3 ? 3 * ars : 0), *a4 = ap + (mr > 4 ? 4 * ars : 0), *a5 = ap + (mr > 5 ? 5 * ars : 0);
    for (k = 0; k < K; k++, a0 += aks, a1 += aks, a2 += aks, a3 += aks, a4 += aks, a5 += aks, bp += bks) {
        decar__v b0 = decar__vload(bp), b1 = decar__vload(bp + DECAR__VW), av; /* read row 0, never stored */
        DECAR__TILE_ROW(0);
        DECAR__TILE_ROW(1);
        DECAR__TILE_ROW(2);
        DECAR__TILE_ROW(3);
        DECAR__TILE_ROW(4);
        DECAR__TILE_ROW(5);
    }
    DECAR__TILE_SAVE(0);
    DECAR__TILE_SAVE(1);
    DECAR__TILE_SAVE(2);
    DECAR__TILE_SAVE(3);
    DECAR__TILE_SAVE(4);
    DECAR__TILE_SAVE(5);
    if (nr == DECAR__NR) { /* full width: the epilogue in vectors, in the scalar path's order (C + sum + bias) */
        for (r = 0; r < mr; r++) {
            float *cr = C + r * ldc;
            for (j = 0; j < 2; j++) {
                decar__v v = acc[r][j];
                if (accumulate) v = decar__vadd(decar__vload(cr + j * DECAR__VW), v);
                if (bias) v = decar__vadd(v, decar__vload(bias + j * DECAR__VW));
                decar__vstore(cr + j * DECAR__VW, v);
            }
        }
    } else {
        float tmp[DECAR__MR][DECAR__NR];
        for (r = 0; r < DECAR__MR; r++) {
            decar__vstore(tmp[r], acc[r][0]);
            decar__vstore(tmp[r] + DECAR__VW, acc[r][1]);
        }
        for (r = 0; r < mr; r++) {
            float *cr = C + r * ldc;
            for (j = 0; j < nr; j++) {
                float v = tmp[r][j];
                if (accumulate) v = cr[j] + v;
                if (bias) v += bias[j];
                cr[j] = v;
            }
        }
    }
}

#ifdef DECAR_USE_CBLAS
/* a matrix read as X[r * rs + c * cs] in cblas' terms: row-major (cs 1) or transposed (rs 1); 0: neither */
static int decar__cblas_layout(int64_t rs, int64_t cs, enum CBLAS_TRANSPOSE *t, int64_t *ld) {
    *t = cs == 1 ? CblasNoTrans : CblasTrans;
    *ld = cs == 1 ? rs : cs;
    return cs == 1 || rs == 1;
}
static int decar__try_cblas(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B,
                            int64_t sbk, int64_t sbn, const float *bias, int64_t M, int64_t N, int64_t K,
                            int accumulate) {
    enum CBLAS_TRANSPOSE ta, tb;
    int64_t lda, ldb, i;
    if (M < 32 || N < 32 || K < 32) return 0; /* small products: the built-in kernel wins */
    if (!decar__cblas_layout(sai, sak, &ta, &lda) || !decar__cblas_layout(sbk, sbn, &tb, &ldb)) return 0;
    if (bias && !accumulate) {
        for (i = 0; i < M; i++) memcpy(C + i * ldc, bias, (size_t)N * sizeof(float));
        accumulate = 1;
        bias = NULL;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb, accumulate ? 1.0f : 0.0f,
                C, (int)ldc);
    if (bias)
        for (i = 0; i < M; i++) {
            int64_t j;
            for (j = 0; j < N; j++) C[i * ldc + j] += bias[j];
        }
    return 1;
}
#endif

/* no memory for packing: plain loops, same results up to summation order */
static void decar__gemm_plain(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B,
                              int64_t sbk, int64_t sbn, const float *bias, int64_t M, int64_t N, int64_t K,
                              int accumulate) {
    int64_t i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            float s = 0.0f;
            for (k = 0; k < K; k++) s += A[i * sai + k * sak] * B[k * sbk + j * sbn];
            C[i * ldc + j] = (accumulate ? C[i * ldc + j] : 0.0f) + s + (bias ? bias[j] : 0.0f);
        }
}
/* the workspace: slot t belongs to thread t of a team (slot 0 also packs B for a product called outside any team) */
typedef struct decar__wslot {
    float *b, *a, *r;  /* packed panels of B, packed slivers of A, bf16-rounded operands (the emulated bf16 path) */
    size_t nb, na, nr; /* their capacities in floats */
} decar__wslot;
struct decar_ws {
    int n; /* slots */
    decar__wslot *slot;
};
DECARDEF decar_ws *decar_ws_new(void) {
    decar_ws *ws = (decar_ws *)DECAR_MALLOC(sizeof(decar_ws));
    if (ws) memset(ws, 0, sizeof *ws);
    return ws;
}
DECARDEF void decar_ws_free(decar_ws *ws) {
    int i;
    if (!ws) return;
    for (i = 0; i < ws->n; i++) {
        decar__free64(ws->slot[i].b);
        decar__free64(ws->slot[i].a);
        decar__free64(ws->slot[i].r);
    }
    decar__free(ws->slot);
    DECAR_FREE(ws);
}
DECARDEF decar_ws *decar_ctx_ws(decar_ctx *c) {
    if (!c->ws) c->ws = decar_ws_new();
    return c->ws;
}
/* at least n slots; called outside parallel regions only (the slot array moves) */
static void decar__ws_reserve(decar_ws *ws, int n) {
    decar__wslot *s;
    if (!ws || ws->n >= n) return;
    s = (decar__wslot *)DECAR_REALLOC(ws->slot, (size_t)n * sizeof(decar__wslot));
    if (!s) return;
    memset(s + ws->n, 0, (size_t)(n - ws->n) * sizeof(decar__wslot));
    ws->slot = s;
    ws->n = n;
}
/* a buffer of n floats from slot t (which: 0 b, 1 a, 2 r; grown when too small; its contents are not kept), or NULL */
static float *decar__ws_get(decar_ws *ws, int t, int which, size_t n) {
    float **p;
    size_t *cap;
    if (!ws || t >= ws->n) return NULL;
    p = which == 2 ? &ws->slot[t].r : which ? &ws->slot[t].a : &ws->slot[t].b;
    cap = which == 2 ? &ws->slot[t].nr : which ? &ws->slot[t].na : &ws->slot[t].nb;
    if (*cap < n) {
        decar__free64(*p);
        *p = (float *)decar__alloc64(n * sizeof(float));
        *cap = *p ? n : 0;
    }
    return *p;
}
static int decar__thread_num(void) {
#if DECAR__OMP
    return omp_in_parallel() ? omp_get_thread_num() : 0;
#else
    return 0;
#endif
}
/* C (M, N) (+)= A (M, K) B (K, N) + bias (N): decar_gemm_ws without a workspace (packing allocates per call) */
DECARDEF void decar_gemm(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B, int64_t sbk,
                         int64_t sbn, const float *bias, int64_t M, int64_t N, int64_t K, int accumulate) {
    decar_gemm_ws(NULL, C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
}
/* the float32 GEMM: C[i, n] = (accumulate ? C[i, n] : 0) + sum_k A[i, k] B[k, n] + bias[n];  A: (M, K) at
   A[i sai + k sak]; B: (K, N) at B[k sbk + n sbn]; C: (M, N) at C[i ldc + n]; bias: (N) or NULL. B is packed once
   (decar__pack_b) or read in place, then the tasks (row chunk, group of panels) of the banner run the tile over K in
   blocks of KC. */
static void decar__gemm_f32(decar_ws *ws, float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak,
                            const float *B, int64_t sbk, int64_t sbn, const float *bias, int64_t M, int64_t N,
                            int64_t K, int accumulate) {
    int64_t np, nmb, mb, nch, ngr, npg, ntask, t, nthr = decar_get_threads();
    int me = decar__thread_num(), own_b = 0, own_a = 0, inb, pack; /* own: allocated here (no workspace slot) */
    int64_t ars, aks;
    size_t nbp, nap = (size_t)(DECAR__MB * DECAR__MR * DECAR__KC);
    float *Bp, *Aall = NULL;
    if (M <= 0 || N <= 0) return;
#ifdef DECAR_USE_CBLAS
    if (decar__try_cblas(C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate)) return;
#endif
    np = (N + DECAR__NR - 1) / DECAR__NR;
    nbp = (size_t)(np * (K > 0 ? K : 1) * DECAR__NR);
#if DECAR__OMP
    if (omp_in_parallel()) nthr = 1; /* called from a parallel loop (attention heads, experts): runs serially */
#endif
    if (me == 0) decar__ws_reserve(ws, (int)nthr);
    nmb = (M + DECAR__MR - 1) / DECAR__MR;
    /* B's rows read in place (no packing) when they are whole panels and few slivers read each: packing would copy
       all of B for little reuse (a weight gradient with few output rows, attention's probabilities times V) */
    inb = sbn == 1 && N % DECAR__NR == 0 && nmb <= 8;
    Bp = inb ? NULL : decar__ws_get(ws, me, 0, nbp);
    if (!Bp && !inb) {
        Bp = (float *)decar__alloc64(nbp * sizeof(float));
        own_b = 1;
    }
    if (!Bp && !inb) {
        decar__gemm_plain(C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
        return;
    }
    if (!inb) decar__pack_b(Bp, B, sbk, sbn, K, N);
    /* enough tasks to balance the threads: first smaller row chunks (down to 4 slivers), then the panels split into
       groups, which packs A once per group (the split changes who computes an element, never its summation order) */
    mb = DECAR__MB;
    while (nthr > 1 && mb > 4 && (nmb + mb - 1) / mb < 8 * nthr) mb /= 2;
    nch = (nmb + mb - 1) / mb;
    ngr = nthr == 1 || nch >= 8 * nthr ? 1 : (8 * nthr + nch - 1) / nch;
    if (ngr > np) ngr = np;
    npg = (np + ngr - 1) / ngr;
    ngr = (np + npg - 1) / npg;
    ntask = nch * ngr;
    /* A read in place: its rows (sak 1), or A transposed with contiguous rows (sai 1) when at most two panels would
       read each packed sliver (a weight gradient of a narrow layer): packing would copy all of A for little reuse.
       Otherwise A is packed per block (ars, aks: how the tile steps through A) */
    pack = sak != 1 && !(sai == 1 && npg <= 2);
    ars = sak == 1 ? sai : 1;
    aks = sak == 1 ? 1 : pack ? DECAR__MR : sak;
    if (pack) { /* one L2-sized slice of packed A per thread, allocated before any write */
        int ok = 1;
        for (t = 0; t < nthr; t++) ok &= decar__ws_get(ws, (int)(nthr == 1 ? me : t), 1, nap) != NULL;
        if (!ok) {
            Aall = (float *)decar__alloc64((size_t)nthr * nap * sizeof(float));
            own_a = 1;
        }
        if (own_a && !Aall) {
            if (own_b) decar__free64(Bp);
            decar__gemm_plain(C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
            return;
        }
    }
    DECAR__PAR_FOR_DYN(nthr > 1 && ntask > 1 && M * N * K >= ((int64_t)1 << 18), for (t = 0; t < ntask; t++) {
        int tn = nthr == 1 ? me : decar__thread_num();
        float *Ap = !pack ? NULL : own_a ? Aall + (size_t)(nthr == 1 ? 0 : tn) * nap : ws->slot[tn].a;
        int64_t ch = t / ngr, g = t % ngr, b0 = ch * mb, nb = nmb - b0 < mb ? nmb - b0 : mb;
        int64_t p0 = g * npg, p1 = p0 + npg < np ? p0 + npg : np, k0 = 0, p, b;
        do { /* at least once, so that K = 0 still writes C = (C) + bias */
            int64_t kc = K - k0 < DECAR__KC ? K - k0 : DECAR__KC;
            if (pack) decar__pack_a(Ap, A, sai, sak, M, b0 * DECAR__MR, nb, k0, kc);
            for (p = p0; p < p1; p++) {
                int64_t j0 = p * DECAR__NR;
                int nr = (int)(N - j0 < DECAR__NR ? N - j0 : DECAR__NR);
                for (b = 0; b < nb; b++) {
                    int64_t i0 = (b0 + b) * DECAR__MR;
                    int mr = (int)(M - i0 < DECAR__MR ? M - i0 : DECAR__MR);
                    const float *ap = pack ? Ap + b * kc * DECAR__MR : A + i0 * sai + k0 * sak;
                    decar__tile(kc, ap, ars, aks, inb ? B + k0 * sbk + j0 : Bp + p * K * DECAR__NR + k0 * DECAR__NR,
                                inb ? sbk : DECAR__NR, C + i0 * ldc + j0, ldc, mr, nr,
                                k0 == 0 && bias ? bias + j0 : NULL, k0 > 0 || accumulate);
                }
            }
            k0 += kc;
        } while (k0 < K);
    });
    if (own_a) decar__free64(Aall);
    if (own_b) decar__free64(Bp);
}

/* ---- 4a. bf16 products (decar_set_precision(DECAR_BF16)) ---------------------------------------------------------
   C (+)= bf16(A) bf16(B) + bias, sums in float32. Two paths, one rounding (decar__f32_to_bf16):
   - AMX: A is packed to bf16 rows Ap [Mp x Kp] and B to panels of 16 columns Bp [Np/16][Kp/2][16][2] (VNNI pairs:
     B[k, j] and B[k+1, j] side by side), zero padded to multiples of 32. C is computed in 32 x 32 blocks, one task
     each: four 16 x 16 float32 accumulator tiles (0-3), per 32-wide slice of K two 16 x 32 tiles of A (4, 5) and two
     of B (6, 7), four tile products (TDPBF16PS: tile[i][j] += sum over the slice of a[i][k] b[k][j]). The block then
     lands in C through the float32 kernel's epilogue order (C + sum + bias). Each element is summed by one task in one
     k order: the thread count never changes the bits.
   - emulated: the rounded operands, as float32 matrices, through decar__gemm_f32. */
static int decar__precision = DECAR_FP32, decar__amx_ok = 0;
/* dst[i] = bf16(src[i]) as floats (decar__f32_to_bf16's rounding: to nearest even, a NaN stays a quiet NaN), i < n;
   eight at a time in AVX2 integer lanes: q = b + 0x7FFF + bit 16 of b, the top half kept; NaN: b | 0x400000 */
static void decar__round_bf16_span(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
#if !defined(DECAR_NO_SIMD) && defined(__AVX2__)
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
    const __m256i top = _mm256_set1_epi32((int)0xFFFF0000u), quiet = _mm256_set1_epi32(0x400000);
    for (; i + 8 <= n; i += 8) {
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs), inf);
        __m256i q = _mm256_add_epi32(_mm256_add_epi32(b, bias), _mm256_and_si256(_mm256_srli_epi32(b, 16), one));
        q = _mm256_blendv_epi8(q, _mm256_or_si256(b, quiet), nan);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_and_si256(q, top));
    }
#endif
    for (; i < n; i++) dst[i] = decar__bf16_to_f32(decar__f32_to_bf16(src[i]));
}
/* dst = the bf16-rounded matrix X (rows x cols) read as X[r sr + c sc], packed densely in X's own order: rows of
   contiguous elements (sc = 1) as row spans, contiguous columns (sr = 1) as column spans, anything else gathered
   row-major. *dsr, *dsc: dst's strides (the products read it in the same k order either way: the same bits) */
static void decar__round_bf16(float *dst, const float *src, int64_t rows, int64_t cols, int64_t sr, int64_t sc,
                              int64_t *dsr, int64_t *dsc) {
    int64_t i, j;
    *dsr = sc != 1 && sr == 1 ? 1 : cols;
    *dsc = sc != 1 && sr == 1 ? rows : 1;
    if (sc == 1)
        for (i = 0; i < rows; i++) decar__round_bf16_span(dst + i * cols, src + i * sr, cols);
    else if (sr == 1)
        for (j = 0; j < cols; j++) decar__round_bf16_span(dst + j * rows, src + j * sc, rows);
    else
        for (i = 0; i < rows; i++)
            for (j = 0; j < cols; j++) dst[i * cols + j] = decar__bf16_to_f32(decar__f32_to_bf16(src[i * sr + j * sc]));
}
static void decar__gemm_bf16_emulated(decar_ws *ws, float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak,
                                      const float *B, int64_t sbk, int64_t sbn, const float *bias, int64_t M,
                                      int64_t N, int64_t K, int accumulate) {
    /* the rounded copies in this thread's workspace slot (allocated here only without one) */
    size_t n = (size_t)(M * K + K * N + 1);
    int me = decar__thread_num(), own = 0;
    float *Ar, *Br;
    int64_t rai, rak, rbk, rbn;
    if (me == 0) decar__ws_reserve(ws, 1);
    Ar = decar__ws_get(ws, me, 2, n);
    if (!Ar) {
        Ar = (float *)decar__alloc64(n * sizeof(float));
        own = 1;
    }
    if (!Ar) { /* no memory for the rounded copies: float32 (decar__gemm_f32 has its own no-memory path) */
        decar__gemm_f32(ws, C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
        return;
    }
    Br = Ar + M * K;
    decar__round_bf16(Ar, A, M, K, sai, sak, &rai, &rak);
    decar__round_bf16(Br, B, K, N, sbk, sbn, &rbk, &rbn);
    decar__gemm_f32(ws, C, ldc, Ar, rai, rak, Br, rbk, rbn, bias, M, N, K, accumulate);
    if (own) decar__free64(Ar);
}
#if !defined(DECAR_NO_SIMD) && !defined(DECAR_NO_AMX) && defined(__AMX_TILE__) && defined(__AMX_BF16__) &&            \
    defined(__AVX512BF16__) && defined(__linux__) && defined(__x86_64__)
#define DECAR__AMX 1
/* the tile configuration (64 bytes, palette 1): tiles 0-7 all 16 rows of 64 bytes */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} decar__tilecfg;
static void decar__amx_config(void) {
    decar__tilecfg c;
    int t;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (t = 0; t < 8; t++) {
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    /* ldtilecfg by hand: gcc 12's _tile_loadconfig names only 8 of the 64 bytes as its input, so the compiler may
       drop or move the writes of the rest (seen at -O1: a return address in colsb[12..15], a fault in ldtilecfg) */
    __asm__ volatile("ldtilecfg %0" : : "m"(c));
}
/* Linux hands out the tile state only on request: arch_prctl (system call 158) ARCH_REQ_XCOMP_PERM (0x1023),
   XFEATURE_XTILEDATA (18); made directly, as <unistd.h>'s syscall() needs feature macros a header cannot set */
static int decar__amx_request(void) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(158L), "D"(0x1023L), "S"(18L) : "rcx", "r11", "memory");
    return ret == 0;
}
/* one 32 x 32 block of C: rows i0.., columns j0.. (panels j0/16 and j0/16 + 1), stored at out (row stride ld floats) */
static void decar__amx_block(float *out, int64_t ld, const uint16_t *Ap, const uint16_t *Bp, int64_t i0, int64_t j0,
                             int64_t Kp) {
    const uint16_t *a0 = Ap + i0 * Kp, *a1 = Ap + (i0 + 16) * Kp;
    const uint16_t *b0 = Bp + (j0 / 16) * Kp * 16, *b1 = Bp + (j0 / 16 + 1) * Kp * 16;
    int64_t k0;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (k0 = 0; k0 < Kp; k0 += 32) {
        _tile_loadd(4, a0 + k0, Kp * 2);   /* A rows i0..i0+15, k0..k0+31 */
        _tile_loadd(5, a1 + k0, Kp * 2);   /* A rows i0+16..i0+31 */
        _tile_loadd(6, b0 + k0 * 16, 64);  /* B pairs k0/2..k0/2+15 of panel j0/16 */
        _tile_loadd(7, b1 + k0 * 16, 64);  /* ... of the next panel */
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, ld * 4);
    _tile_stored(1, out + 16, ld * 4);
    _tile_stored(2, out + 16 * ld, ld * 4);
    _tile_stored(3, out + 16 * ld + 16, ld * 4);
}
/* bf16(x[0..31]) in order: 32 floats -> 32 bf16 in one instruction (vcvtne2ps2bf16: nearest even, denormals as
   zero) */
static __m512i decar__bf16x32(const float *x) {
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
}
/* the 16 VNNI pairs (bf16(lo[j]), bf16(hi[j])), j < 16: both rows converted, then interleaved */
static __m512i decar__bf16_pairs16(const float *lo, const float *hi) {
    static const uint16_t order[32] = { 0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                        8,  24, 9,  25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 };
    __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(hi), _mm512_loadu_ps(lo));
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(order), v);
}
/* dst row r (stride elements apart, 64 bytes each) = column r of tp, 16 x 16 32-bit pairs: the block transposed in
   registers (pairs of 32-bit lanes, then of 64-bit lanes, then of 128-bit quarters twice) so that every row leaves in
   one store. Stage s pairs registers 2^s apart: after it, register r holds what the transpose will need from the 2^s
   source rows of its group. The plain reference: dst[r * stride + 2 q .. 2 q + 1] = tp[q][r], q, r < 16. */
static void decar__store_pairs_t(uint16_t *dst, int64_t stride, const __m512i tp[16]) {
    __m512i a[16], b[16];
    int i;
    for (i = 0; i < 16; i += 2) { /* 32-bit lanes of rows i, i + 1 interleaved */
        a[i] = _mm512_unpacklo_epi32(tp[i], tp[i + 1]);
        a[i + 1] = _mm512_unpackhi_epi32(tp[i], tp[i + 1]);
    }
    for (i = 0; i < 16; i += 4) { /* 64-bit lanes of i, i + 2 and of i + 1, i + 3 */
        b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
        b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
        b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
        b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
    }
    for (i = 0; i < 16; i += 8) { /* even and odd 128-bit quarters of registers 4 apart */
        int j;
        for (j = 0; j < 4; j++) {
            a[i + j] = _mm512_shuffle_i32x4(b[i + j], b[i + j + 4], 0x88);
            a[i + j + 4] = _mm512_shuffle_i32x4(b[i + j], b[i + j + 4], 0xdd);
        }
    }
    for (i = 0; i < 8; i++) { /* the same across the two halves: row i and row i + 8 of the result */
        _mm512_storeu_si512(dst + i * stride, _mm512_shuffle_i32x4(a[i], a[i + 8], 0x88));
        _mm512_storeu_si512(dst + (i + 8) * stride, _mm512_shuffle_i32x4(a[i], a[i + 8], 0xdd));
    }
}
/* 16 rows of Ap from row i0, columns k0 <= k < k1 (multiples of 32): Ap[i][k] = bf16(A[i * sai + k * sak]), zero past
   M and K. Rows in place (sak = 1): 32 k per conversion; columns in place (sai = 1, A transposed as in weight
   gradients): per block of 32 k, the pairs (A[i, k], A[i, k + 1]) of 16 rows at once, transposed into the rows;
   otherwise element-wise */
static void decar__amx_pack_a(uint16_t *Ap, const float *A, int64_t sai, int64_t sak, int64_t M, int64_t K, int64_t Kp,
                              int64_t i0, int64_t k0, int64_t k1) {
    int64_t i, k, kend = K < k1 ? K : k1;
    if (sai == 1 && i0 + 16 <= M) {
        __m512i tp[16]; /* tp[k / 2 within the block]: the pairs of 16 rows */
        for (k = k0; k + 32 <= kend; k += 32) {
            int q;
            for (q = 0; q < 16; q++) {
                const float *lo = A + (k + 2 * q) * sak + i0; /* A[i0.., k + 2q]; the next row is k + 2q + 1 */
                tp[q] = decar__bf16_pairs16(lo, lo + sak);
            }
            decar__store_pairs_t(Ap + i0 * Kp + k, Kp, tp);
        }
        for (i = i0; i < i0 + 16; i++) {
            int64_t kk;
            for (kk = k; kk < k1; kk++) Ap[i * Kp + kk] = kk < K ? decar__f32_to_bf16(A[kk * sak + i]) : 0;
        }
        return;
    }
    for (i = i0; i < i0 + 16; i++) {
        uint16_t *d = Ap + i * Kp;
        const float *x = A + i * sai;
        k = k0;
        if (i >= M) {
            memset(d + k0, 0, (size_t)(k1 - k0) * 2);
            continue;
        }
        if (sak == 1)
            for (; k + 32 <= kend; k += 32) _mm512_storeu_si512(d + k, decar__bf16x32(x + k));
        for (; k < kend; k++) d[k] = decar__f32_to_bf16(x[k * sak]);
        for (; k < k1; k++) d[k] = 0;
    }
}
/* panel p of Bp, rows k0 <= k < k1 (multiples of 32): 16 columns n = 16 p + j in VNNI pairs, d32[k / 2][j] =
   (bf16(B[k, n]), bf16(B[k + 1, n])), zero past N and K. Columns in place (sbk = 1, a Linear's weight rows): 32 k of
   each of the 16 columns converted, then the 16 x 16 block of pairs transposed; rows in place (sbn = 1): rows k and
   k + 1 converted together and interleaved */
static void decar__amx_pack_b(uint16_t *Bp, const float *B, int64_t sbk, int64_t sbn, int64_t K, int64_t N, int64_t Kp,
                              int64_t p, int64_t k0, int64_t k1) {
    uint16_t *d = Bp + p * Kp * 16;
    int64_t k = k0, j, n0 = p * 16, kend = K < k1 ? K : k1;
    if (n0 + 16 <= N && sbk == 1) {
        __m512i tp[16]; /* tp[column]: its 16 pairs of the block */
        for (; k + 32 <= kend; k += 32) {
            int c;
            for (c = 0; c < 16; c++) tp[c] = decar__bf16x32(B + (n0 + c) * sbn + k);
            decar__store_pairs_t(d + (k / 2) * 32, 32, tp);
        }
    } else if (n0 + 16 <= N && sbn == 1) {
        for (; k + 2 <= kend; k += 2)
            _mm512_storeu_si512(d + k * 16, decar__bf16_pairs16(B + k * sbk + n0, B + (k + 1) * sbk + n0));
    }
    for (; k < k1; k++) /* the rest (and every element of a partial panel or other strides) one by one */
        for (j = 0; j < 16; j++) {
            int64_t n = n0 + j;
            d[(k / 2) * 32 + j * 2 + (k & 1)] = k < K && n < N ? decar__f32_to_bf16(B[k * sbk + n * sbn]) : 0;
        }
}
static void decar__gemm_bf16_amx(decar_ws *ws, float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak,
                                 const float *B, int64_t sbk, int64_t sbn, const float *bias, int64_t M, int64_t N,
                                 int64_t K, int accumulate) {
    int64_t Mp = (M + 31) / 32 * 32, Np = (N + 31) / 32 * 32, Kp = (K + 31) / 32 * 32, nib = Mp / 32, njb = Np / 32;
    int64_t t, ntask = nib * njb, nthr = decar_get_threads(), nch, ch;
    int a_by_k = sai == 1 && sak != 1, b_by_k = sbn == 1 && sbk != 1;
    int64_t na = a_by_k ? Kp / 32 : Mp / 16, nb = b_by_k ? Kp / 32 : Np / 16;
    size_t nfl = (size_t)((Mp + Np) * Kp / 2); /* two bf16 per float */
    int me = decar__thread_num(), own = 0;
    uint16_t *Ap, *Bp;
    float *buf;
#if DECAR__OMP
    if (omp_in_parallel()) nthr = 1;
#endif
    if (me == 0) decar__ws_reserve(ws, (int)nthr);
    buf = decar__ws_get(ws, me, 0, nfl);
    if (!buf) {
        buf = (float *)decar__alloc64(nfl * sizeof(float));
        own = 1;
    }
    if (!buf) {
        decar__gemm_bf16_emulated(ws, C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
        return;
    }
    Ap = (uint16_t *)buf;
    Bp = Ap + Mp * Kp;
    /* pack: Ap[i][k] = bf16(A[i, k]); Bp[p][k/2][j][k%2] = bf16(B[k, 16 p + j]); zeros outside M, N, K. An operand
       whose rows run along k (A's rows, a Linear's weight rows) is packed a task per 16 rows (A) or panel (B) over all
       k; one read down its columns (A transposed, B's rows in place: the token rows of a weight gradient) a task per
       32 k over all its row blocks or panels, so that each task reads whole rows in order (the prefetcher follows
       rows; a strip of 16 columns down thousands of rows, one cache line per row, it does not) */
    DECAR__PAR_FOR(nthr > 1 && (Mp + Np) * Kp >= ((int64_t)1 << 15), for (t = 0; t < na + nb; t++) {
        int64_t u, q = t < na ? t : t - na, k0 = q * 32; /* q: the operand's task; k0: its k range if by k */
        if (t < na && a_by_k)
            for (u = 0; u < Mp / 16; u++) decar__amx_pack_a(Ap, A, sai, sak, M, K, Kp, u * 16, k0, k0 + 32);
        else if (t < na)
            decar__amx_pack_a(Ap, A, sai, sak, M, K, Kp, q * 16, 0, Kp);
        else if (b_by_k)
            for (u = 0; u < Np / 16; u++) decar__amx_pack_b(Bp, B, sbk, sbn, K, N, Kp, u, k0, k0 + 32);
        else
            decar__amx_pack_b(Bp, B, sbk, sbn, K, N, Kp, q, 0, Kp);
    });
    /* the blocks in nch equal runs, one per thread: the tile configuration loaded once per run */
    nch = nthr > 1 && ntask > 1 ? nthr : 1;
    DECAR__PAR_FOR(nch > 1, for (ch = 0; ch < nch; ch++) {
        float tmp[32 * 32];
        int64_t t1 = ntask * (ch + 1) / nch, tb;
        decar__amx_config();
        for (tb = ntask * ch / nch; tb < t1; tb++) {
            int64_t i0 = (tb / njb) * 32, j0 = (tb % njb) * 32, r, j;
            int64_t mr = M - i0 < 32 ? M - i0 : 32, nr = N - j0 < 32 ? N - j0 : 32;
            /* a whole block overwriting C: the tiles go to C, then + bias in a fixed 32 x 32 loop (through the general
               epilogue below, the same bits, bf16 scoring of S ran 2-4% slower, measured side by side) */
            if (!accumulate && mr == 32 && nr == 32) {
                decar__amx_block(C + i0 * ldc + j0, ldc, Ap, Bp, i0, j0, Kp);
                for (r = 0; bias && r < 32; r++)
                    for (j = 0; j < 32; j += 16) {
                        float *cr = C + (i0 + r) * ldc + j0 + j;
                        _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), _mm512_loadu_ps(bias + j0 + j)));
                    }
                continue;
            }
            decar__amx_block(tmp, 32, Ap, Bp, i0, j0, Kp);
            for (r = 0; r < mr; r++) { /* the epilogue in the float32 kernel's order: C + sum + bias */
                float *cr = C + (i0 + r) * ldc + j0;
                for (j = 0; j + 16 <= nr; j += 16) {
                    __m512 v = _mm512_loadu_ps(tmp + r * 32 + j);
                    if (accumulate) v = _mm512_add_ps(_mm512_loadu_ps(cr + j), v);
                    if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + j0 + j));
                    _mm512_storeu_ps(cr + j, v);
                }
                for (; j < nr; j++) {
                    float v = tmp[r * 32 + j];
                    if (accumulate) v = cr[j] + v;
                    if (bias) v += bias[j0 + j];
                    cr[j] = v;
                }
            }
        }
        _tile_release();
    });
    if (own) decar__free64(buf);
}
#else
#define DECAR__AMX 0
#endif
DECARDEF const char *decar_set_precision(int precision) {
    decar__precision = precision == DECAR_BF16 ? DECAR_BF16 : DECAR_FP32;
#if DECAR__AMX
    if (decar__precision == DECAR_BF16 && !decar__amx_ok) decar__amx_ok = decar__amx_request();
#endif
    return decar__precision == DECAR_FP32 ? "fp32" : decar__amx_ok ? "amx" : "emulated";
}
DECARDEF int decar_get_precision(void) {
    return decar__precision;
}
DECARDEF void decar_gemm_ws(decar_ws *ws, float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak,
                            const float *B, int64_t sbk, int64_t sbn, const float *bias, int64_t M, int64_t N,
                            int64_t K, int accumulate) {
    if (decar__precision == DECAR_FP32 || M <= 0 || N <= 0)
        decar__gemm_f32(ws, C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
#if DECAR__AMX
    else if (decar__amx_ok)
        decar__gemm_bf16_amx(ws, C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
#endif
    else
        decar__gemm_bf16_emulated(ws, C, ldc, A, sai, sak, B, sbk, sbn, bias, M, N, K, accumulate);
}

/* one weight row against one input row: a single vector accumulator, then its lanes in order, then the tail. The
   8-row kernel below computes each row exactly this way, so a result never depends on which path produced it */
static float decar__row_dot(const float *x, const float *w, int64_t K) {
    decar__v a = decar__vzero();
    int64_t k = 0;
    float s;
    for (; k + DECAR__VW <= K; k += DECAR__VW) a = decar__vfma(decar__vload(x + k), decar__vload(w + k), a);
    s = decar__vsum(a);
    for (; k < K; k++) s += x[k] * w[k];
    return s;
}
/* out[m, n] = sum_k inp[m, k] w[n, k] + bias[n];  inp: (M, K); w: (N, K), torch.nn.Linear's layout; bias: (N) or
   NULL; out: (M, N). Below 32 rows a matrix-vector kernel over blocks of 8 weight rows, else the GEMM with B = w^T
   read in place (sbk 1, sbn K). */
DECARDEF void decar_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t M,
                                   int64_t K, int64_t N, decar_ws *ws) {
    if (M < 32) { /* a few rows (generation, batched or not): the GEMM would re-pack the whole matrix per call.
                     Blocks of 8 weight rows are read once and kept in L1 for all M inputs; their 8 independent
                     accumulators keep the FMA pipes busy (one dot product at a time waits on FMA latency). Below
                     32 rows this beats packing (measured: M = 16, 384 x 1536, 1.8x); threads only above 64K
                     multiply-adds, where they pay for OpenMP's fork/join */
        int64_t nblk = (N + 7) / 8, bk;
        DECAR__PAR_FOR(M * N * K >= ((int64_t)1 << 16), for (bk = 0; bk < nblk; bk++) {
            int64_t n0 = bk * 8, m, k, n;
            int r;
            float sums[8];
            for (m = 0; m < M; m++) {
                const float *x = inp + m * K;
                float *o = out + m * N;
                if (n0 + 8 <= N) {
                    const float *w0 = w + n0 * K;
                    /* the first pass also fetches the next block (8K contiguous floats) as it goes: eight interleaved
                       1-row streams defeat the hardware prefetcher */
                    const float *next = m == 0 && n0 + 16 <= N ? w0 + 8 * K : NULL;
                    decar__v a0 = decar__vzero(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, acc[8];
                    for (k = 0; k + DECAR__VW <= K; k += DECAR__VW) {
                        decar__v xv = decar__vload(x + k);
                        if (next) {
                            int pf;
                            for (pf = 0; pf < 8 * DECAR__VW; pf += 16) DECAR__PREFETCH(next + 8 * k + pf);
                        }
                        a0 = decar__vfma(xv, decar__vload(w0 + k), a0);
                        a1 = decar__vfma(xv, decar__vload(w0 + K + k), a1);
                        a2 = decar__vfma(xv, decar__vload(w0 + 2 * K + k), a2);
                        a3 = decar__vfma(xv, decar__vload(w0 + 3 * K + k), a3);
                        a4 = decar__vfma(xv, decar__vload(w0 + 4 * K + k), a4);
                        a5 = decar__vfma(xv, decar__vload(w0 + 5 * K + k), a5);
                        a6 = decar__vfma(xv, decar__vload(w0 + 6 * K + k), a6);
                        a7 = decar__vfma(xv, decar__vload(w0 + 7 * K + k), a7);
                    }
                    acc[0] = a0;
                    acc[1] = a1;
                    acc[2] = a2;
                    acc[3] = a3;
                    acc[4] = a4;
                    acc[5] = a5;
                    acc[6] = a6;
                    acc[7] = a7;
                    decar__vsum8(acc, sums); /* sums[r] = lanes of acc[r], in order: x . w[n0 + r] up to k */
                    for (r = 0; r < 8; r++) {
                        const float *wr = w0 + r * K;
                        float s = sums[r];
                        int64_t kk;
                        for (kk = k; kk < K; kk++) s += x[kk] * wr[kk];
                        o[n0 + r] = s + (bias ? bias[n0 + r] : 0.0f);
                    }
                } else {
                    for (n = n0; n < N; n++) o[n] = decar__row_dot(x, w + n * K, K) + (bias ? bias[n] : 0.0f);
                }
            }
        });
        return;
    }
    decar_gemm_ws(ws, out, N, inp, K, 1, w, 1, K, bias, M, N, K, 0);
}

/* ---- 4b. quantized weight matrices: Q8_0 and bf16 weights, float inputs, matrix-vector kernels ------------------- */
DECARDEF const char *decar_qtype_name(int type) {
    return type == DECAR_Q8_0 ? "q8_0" : type == DECAR_QBF16 ? "bf16" : "f32";
}
DECARDEF int decar_qtype_parse(const char *s, int *type) {
    if (!strcmp(s, "q8_0"))
        *type = DECAR_Q8_0;
    else if (!strcmp(s, "bf16"))
        *type = DECAR_QBF16;
    else if (!strcmp(s, "f32"))
        *type = DECAR_QNONE;
    else
        return -1;
    return 0;
}
DECARDEF void decar_qmat_free(decar_qmat *qm) {
    if (!qm) return;
    decar__free(qm->q8);
    decar__free(qm->scale);
    decar__free(qm->bf16);
    memset(qm, 0, sizeof *qm);
}
/* w (rows, cols) <- the weights qm stands for: q * scale of its block (Q8_0), or the bf16 widened */
static void decar__qmat_dequant(const decar_qmat *qm, float *w) {
    int64_t nb = (qm->cols + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK, i;
    for (i = 0; i < qm->rows * qm->cols; i++)
        w[i] = qm->type == DECAR_QBF16
                   ? decar__bf16_to_f32(qm->bf16[i])
                   : (float)qm->q8[i] * qm->scale[(i / qm->cols) * nb + (i % qm->cols) / DECAR_Q8_BLOCK];
}
/* one block of n <= 32 values: d = max |v| / 127, q = round(v / d) in [-127, 127] (0 where d = 0, and for NaN; ties
   away from zero, as roundf). Weights and, in the W8A8 product, activations are quantized by this one rule; a whole
   block runs through decar__q8_block32 where AVX2 is on (the same division and an exact rounding: the same bytes). */
static float decar__q8_block_ref(int8_t *q, const float *v, int64_t n) {
    float amax = 0.0f, d;
    int64_t i;
    for (i = 0; i < n; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
    d = amax / 127.0f;
    for (i = 0; i < n; i++) {
        float r = d > 0.0f ? roundf(v[i] / d) : 0.0f;
        r = r == r ? r : 0.0f;
        q[i] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : r);
    }
    return d;
}
#if defined(__AVX2__) && defined(__FMA__) && !defined(DECAR_NO_SIMD)
/* 32 values: amax by vmaxps (|v| first: a NaN is passed over, as above), r = v / d, round(|r|) = t + [|r| - t >= 1/2]
   with t = trunc(|r|) (|r| - t is exact), the sign put back, NaN -> 0, clamped, then packed to bytes in order */
static float decar__q8_block32(int8_t *q, const float *v) {
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256 m = _mm256_setzero_ps(), dv;
    __m256i p[4];
    __m128 h;
    float amax, d;
    int j;
    for (j = 0; j < 4; j++) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + 8 * j)), m);
    h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    amax = _mm_cvtss_f32(h);
    d = amax / 127.0f;
    dv = _mm256_set1_ps(d);
    for (j = 0; j < 4; j++) {
        __m256 r = _mm256_div_ps(_mm256_loadu_ps(v + 8 * j), dv);
        __m256 a = _mm256_andnot_ps(sign, r);
        __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        t = _mm256_add_ps(t, _mm256_and_ps(one, _mm256_cmp_ps(_mm256_sub_ps(a, t), half, _CMP_GE_OQ)));
        t = _mm256_or_ps(t, _mm256_and_ps(sign, r));
        t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q));
        t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
        p[j] = _mm256_cvttps_epi32(d > 0.0f ? t : _mm256_setzero_ps());
    }
    p[0] = _mm256_packs_epi16(_mm256_packs_epi32(p[0], p[1]), _mm256_packs_epi32(p[2], p[3]));
    p[0] = _mm256_permutevar8x32_epi32(p[0], _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, p[0]);
    return d;
}
#endif
static float decar__q8_block(int8_t *q, const float *v, int64_t n) {
#if defined(__AVX2__) && defined(__FMA__) && !defined(DECAR_NO_SIMD)
    if (n == DECAR_Q8_BLOCK) return decar__q8_block32(q, v);
#endif
    return decar__q8_block_ref(q, v, n);
}
/* a row of K values -> its int8 values q (K) and block scales d (ceil(K / 32)) */
static void decar__q8_row(int8_t *q, float *d, const float *v, int64_t K) {
    int64_t k;
    for (k = 0; k < K; k += DECAR_Q8_BLOCK)
        d[k / DECAR_Q8_BLOCK] = decar__q8_block(q + k, v + k, K - k < DECAR_Q8_BLOCK ? K - k : DECAR_Q8_BLOCK);
}
/* w (rows, cols) -> qm; w <- its dequantized values.  Q8_0: q8 (rows, cols) and scale (rows, ceil(cols / 32)) by
   decar__q8_row, w[n, k] = q8[n, k] scale[n, k / 32];  BF16: bf16 (rows, cols), each float rounded to nearest even */
DECARDEF int decar_qmat_make(decar_qmat *qm, int type, float *w, int64_t rows, int64_t cols, decar_error *e) {
    int64_t nb = (cols + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK, n, k;
    memset(qm, 0, sizeof *qm);
    if (type != DECAR_Q8_0 && type != DECAR_QBF16) DECAR__FAIL(e, DECAR_ERR_ARG, "unknown quantization type %d", type);
    qm->type = type;
    qm->rows = rows;
    qm->cols = cols;
    if (type == DECAR_QBF16) {
        qm->bf16 = (uint16_t *)DECAR_MALLOC((size_t)(rows * cols) * sizeof(uint16_t) + 1);
        if (!qm->bf16)
            DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a %lld x %lld bf16 matrix", (long long)rows,
                        (long long)cols);
        for (k = 0; k < rows * cols; k++) qm->bf16[k] = decar__f32_to_bf16(w[k]);
        decar__qmat_dequant(qm, w);
        return DECAR_OK;
    }
    qm->q8 = (int8_t *)DECAR_MALLOC((size_t)(rows * cols) + 1);
    qm->scale = (float *)DECAR_MALLOC((size_t)(rows * nb) * sizeof(float) + 1);
    if (!qm->q8 || !qm->scale) {
        decar_qmat_free(qm);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a %lld x %lld int8 matrix", (long long)rows, (long long)cols);
    }
    for (n = 0; n < rows; n++) decar__q8_row(qm->q8 + n * cols, qm->scale + n * nb, w + n * cols, cols);
    decar__qmat_dequant(qm, w);
    return DECAR_OK;
}
/* the cache lines at p in four rows `stride` bytes apart (a hint: nothing is read). The quantized products fetch
   their rows a few blocks of rows ahead: a row is a few cache lines, too short for the hardware's stream prefetch,
   and an ensemble's experts do not all fit in the last level cache (measured on M: two int8 experts 1.5x faster
   at 1 thread and 1.4-3x at 2, one bf16 expert 1.6-1.8x at 1 thread; one int8 expert in cache: no change). */
#define DECAR__AHEAD 16 /* rows */
static void decar__prefetch4(const void *p, int64_t stride) {
    const char *c = (const char *)p;
    DECAR__PREFETCH(c);
    DECAR__PREFETCH(c + stride);
    DECAR__PREFETCH(c + 2 * stride);
    DECAR__PREFETCH(c + 3 * stride);
}
/* W8A8, the Q8_0 product (llama.cpp's q8_0 x q8_0): the input row is quantized per block like the weights (xq, dx by
   decar__q8_block), each block's product is an exact integer dot, and the blocks are summed in floats:
       y_n = sum_b (dx_b dw_nb) dot_nb,   dot_nb = sum_{i in block b} xq_i wq_ni   (int32; |xq|, |wq| <= 127)
   The int8 weights are read as they are stored (a quarter of the float bytes) and multiplied as integers.
   decar__dot32_i8 forms a block's dot as 8 int32 lanes whose sum is dot_nb, exactly, one of two ways:
   - VNNI (AVX-512 VNNI or AVX-VNNI): vpdpbusd multiplies unsigned by signed bytes, so the weights go in as
     u = w + 128 (w XOR 0x80: one instruction) and the activations as they are. Lane l gains
     sum_{j<4} (w + 128) x = (its share of the dot) + 128 sum_{j<4} x, so it starts from c_l = -128 sum_{j<4} x_{4l+j}
     (decar__dot32_start: once per input block, shared by the rows). AVX-512 takes two blocks per register.
   - AVX2: |w| times x with w's sign (vpsignb ...), by vpmaddubsw (pairs, at most 2 127^2 < 2^15: no saturation)
     + vpmaddwd. (vpmaddubsw saturates the pairs of u = w + 128, so the VNNI form does not carry over.)
   Each block's lanes are then scaled and summed: acc += (float(lanes) dx_b) dw_nb. */
#if defined(__AVX2__) && defined(__FMA__) && !defined(DECAR_NO_SIMD)
#define DECAR__W8A8_X86 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define DECAR__W8A8_VNNI 1
#define decar__dpbusd256(c, u, s) _mm256_dpbusd_epi32(c, u, s)
#elif defined(__AVXVNNI__)
#define DECAR__W8A8_VNNI 1
#define decar__dpbusd256(c, u, s) _mm256_dpbusd_avx_epi32(c, u, s)
#else
#define DECAR__W8A8_VNNI 0
#endif
/* the lane starts c for input block x (zeros without VNNI) */
static __m256i decar__dot32_start(__m256i x) {
#if DECAR__W8A8_VNNI
    __m256i z = _mm256_setzero_si256();
    return _mm256_sub_epi32(z, decar__dpbusd256(z, _mm256_set1_epi8((char)0x80), x));
#else
    (void)x;
    return _mm256_setzero_si256();
#endif
}
/* the 8 lanes of one block's dot: x the 32 input bytes, w the row's 32 weight bytes, c from decar__dot32_start */
static __m256i decar__dot32_i8(__m256i x, __m256i w, __m256i c) {
#if DECAR__W8A8_VNNI
    return decar__dpbusd256(c, _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80)), x);
#else
    __m256i u = _mm256_sign_epi8(w, w), s = _mm256_sign_epi8(x, w);
    (void)c;
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
/* acc + (float(lanes of the block at q) dxb) dw: one row's share of one block */
static __m256 decar__w8a8_acc256(__m256 acc, __m256i x, __m256i c, const int8_t *q, __m256 dxb, float dw) {
    __m256i d = decar__dot32_i8(x, _mm256_loadu_si256((const __m256i *)(const void *)q), c);
    return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(d), dxb), _mm256_set1_ps(dw), acc);
}
#if DECAR__W8A8_VNNI && defined(__AVX512F__)
#define DECAR__W8A8_512 1
/* two blocks per register: lanes 0-7 block b, lanes 8-15 block b + 1 */
static __m512 decar__pair512(float lo, float hi) {
    return _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_set1_ps(lo), _mm512_set1_ps(hi));
}
static __m512i decar__dot64_start(__m512i x) {
    __m512i z = _mm512_setzero_si512();
    return _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, _mm512_set1_epi8((char)0x80), x));
}
static __m512 decar__w8a8_acc512(__m512 acc, __m512i x, __m512i c, const int8_t *q, __m512 dxb, const float *dw) {
    __m512i u = _mm512_xor_si512(_mm512_loadu_si512((const void *)q), _mm512_set1_epi8((char)0x80));
    __m512i d = _mm512_dpbusd_epi32(c, u, x);
    return _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(d), dxb), decar__pair512(dw[0], dw[1]), acc);
}
#else
#define DECAR__W8A8_512 0
#endif
static float decar__hsum256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#else
#define DECAR__W8A8_X86 0
#endif
/* sums[r] = sum over the first nbf (whole) blocks of (dx_b dw_rb) dot_rb for the 4 rows from n0: one load of each
   input block serves four rows; the rows DECAR__AHEAD further on are prefetched as these are read */
static void decar__w8a8_rows4(float *sums, const int8_t *xq, const float *dx, const decar_qmat *w, int64_t n0,
                              int64_t nbf) {
    const int64_t K = w->cols, nb = (K + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK;
    const int8_t *q = w->q8 + n0 * K;
    const float *s = w->scale + n0 * nb;
    int64_t b = 0;
#if DECAR__W8A8_X86
    const int8_t *pf = n0 + DECAR__AHEAD + 4 <= w->rows ? q + DECAR__AHEAD * K : q;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#if DECAR__W8A8_512
    __m512 z0 = _mm512_setzero_ps(), z1 = z0, z2 = z0, z3 = z0;
    for (; b + 2 <= nbf; b += 2) {
        const int64_t o = b * DECAR_Q8_BLOCK;
        __m512i xv = _mm512_loadu_si512((const void *)(xq + o));
        __m512i c = decar__dot64_start(xv);
        __m512 dxb = decar__pair512(dx[b], dx[b + 1]);
        decar__prefetch4(pf + o, K);
        z0 = decar__w8a8_acc512(z0, xv, c, q + o, dxb, s + b);
        z1 = decar__w8a8_acc512(z1, xv, c, q + K + o, dxb, s + nb + b);
        z2 = decar__w8a8_acc512(z2, xv, c, q + 2 * K + o, dxb, s + 2 * nb + b);
        z3 = decar__w8a8_acc512(z3, xv, c, q + 3 * K + o, dxb, s + 3 * nb + b);
    }
    a0 = decar__fold(z0); /* lo + hi halves */
    a1 = decar__fold(z1);
    a2 = decar__fold(z2);
    a3 = decar__fold(z3);
#endif
    for (; b < nbf; b++) {
        const int64_t o = b * DECAR_Q8_BLOCK;
        __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(xq + o));
        __m256i c = decar__dot32_start(xv);
        __m256 dxb = _mm256_set1_ps(dx[b]);
        if (o % 64 == 0) decar__prefetch4(pf + o, K); /* once per 64-byte line of each row */
        a0 = decar__w8a8_acc256(a0, xv, c, q + o, dxb, s[b]);
        a1 = decar__w8a8_acc256(a1, xv, c, q + K + o, dxb, s[nb + b]);
        a2 = decar__w8a8_acc256(a2, xv, c, q + 2 * K + o, dxb, s[2 * nb + b]);
        a3 = decar__w8a8_acc256(a3, xv, c, q + 3 * K + o, dxb, s[3 * nb + b]);
    }
    sums[0] = decar__hsum256(a0);
    sums[1] = decar__hsum256(a1);
    sums[2] = decar__hsum256(a2);
    sums[3] = decar__hsum256(a3);
#else
    int r;
    for (r = 0; r < 4; r++) {
        float a = 0.0f;
        for (b = 0; b < nbf; b++) {
            int32_t t = 0;
            int i;
            for (i = 0; i < DECAR_Q8_BLOCK; i++)
                t += (int32_t)xq[b * DECAR_Q8_BLOCK + i] * q[r * K + b * DECAR_Q8_BLOCK + i];
            a += dx[b] * s[r * nb + b] * (float)t;
        }
        sums[r] = a;
    }
#endif
}
/* one row's W8A8 product over blocks [b0, b1): the rows left over from the 4-row kernel, and the last partial block */
static float decar__w8a8_row(const int8_t *xq, const float *dx, const decar_qmat *w, int64_t n, int64_t b0,
                             int64_t b1) {
    const int64_t K = w->cols, nb = (K + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK;
    float a = 0.0f;
    int64_t b, i;
    for (b = b0; b < b1; b++) {
        int32_t t = 0;
        for (i = b * DECAR_Q8_BLOCK; i < K && i < (b + 1) * DECAR_Q8_BLOCK; i++) t += (int32_t)xq[i] * w->q8[n * K + i];
        a += dx[b] * w->scale[n * nb + b] * (float)t;
    }
    return a;
}
/* acc[r] = x . bf16(w[n0 + r]) over the first kv inputs for 8 rows: 8 independent accumulators, one load of x */
static void decar__bf16_rows8(decar__v *acc, const float *x, const decar_qmat *w, int64_t n0, int64_t kv) {
    const int64_t K = w->cols;
    const uint16_t *h = w->bf16 + n0 * K, *pf = n0 + DECAR__AHEAD + 8 <= w->rows ? h + DECAR__AHEAD * K : h;
    decar__v a0 = decar__vzero(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int64_t k;
    for (k = 0; k < kv; k += DECAR__VW) {
        decar__v xv = decar__vload(x + k);
        if (k % 32 == 0) { /* once per 64-byte line of each row */
            decar__prefetch4(pf + k, 2 * K);
            decar__prefetch4(pf + 4 * K + k, 2 * K);
        }
        a0 = decar__vfma(xv, decar__vload_bf16(h + k), a0);
        a1 = decar__vfma(xv, decar__vload_bf16(h + K + k), a1);
        a2 = decar__vfma(xv, decar__vload_bf16(h + 2 * K + k), a2);
        a3 = decar__vfma(xv, decar__vload_bf16(h + 3 * K + k), a3);
        a4 = decar__vfma(xv, decar__vload_bf16(h + 4 * K + k), a4);
        a5 = decar__vfma(xv, decar__vload_bf16(h + 5 * K + k), a5);
        a6 = decar__vfma(xv, decar__vload_bf16(h + 6 * K + k), a6);
        a7 = decar__vfma(xv, decar__vload_bf16(h + 7 * K + k), a7);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    acc[6] = a6;
    acc[7] = a7;
}
/* out[n] = bias[n] + sum_b (dx_b dw_nb) dot_nb, n0 <= n < n1, for one input row quantized (xq, dx): W8A8 four rows
   at a time (decar__w8a8_rows4, from n0 a multiple of 4), the rows left over one at a time, then the last partial
   block. A span of rows a call: one call per 8 rows cost about a sixth of the product on rows of 8 blocks
   (bench/w8a8.c) */
static void decar__w8a8_span(float *out, const int8_t *xq, const float *dx, const decar_qmat *w, const float *bias,
                             int64_t n0, int64_t n1) {
    const int64_t K = w->cols, nbf = K / DECAR_Q8_BLOCK;
    int64_t n;
    for (n = n0; n + 4 <= n1; n += 4) decar__w8a8_rows4(out + n, xq, dx, w, n, nbf);
    for (; n < n1; n++) out[n] = decar__w8a8_row(xq, dx, w, n, 0, nbf);
    for (n = n0; n < n1 && nbf * DECAR_Q8_BLOCK < K; n++) out[n] += decar__w8a8_row(xq, dx, w, n, nbf, nbf + 1);
    for (n = n0; n < n1; n++) out[n] += bias ? bias[n] : 0.0f;
}
/* sums[r] = x . w[n0 + r] for the nr (<= 8) rows from n0 of bf16 weights: the 8-row kernel above (each row's sum in
   a fixed order: vsum8), the rows left over one at a time */
static void decar__qrows(float *sums, const float *x, const decar_qmat *w, int64_t n0, int nr) {
    const int64_t K = w->cols;
    const int64_t kv = K / DECAR__VW * DECAR__VW;
    decar__v acc[8];
    int r;
    int64_t k;
    if (nr == 8) decar__bf16_rows8(acc, x, w, n0, kv);
    if (nr == 8) decar__vsum8(acc, sums);
    for (r = 0; r < nr && nr < 8; r++) { /* one row: the same sums with one accumulator */
        decar__v a = decar__vzero();
        for (k = 0; k < kv; k += DECAR__VW)
            a = decar__vfma(decar__vload(x + k), decar__vload_bf16(w->bf16 + (n0 + r) * K + k), a);
        sums[r] = decar__vsum(a);
    }
    for (r = 0; r < nr; r++) { /* the inputs past the last whole vector */
        float t = 0.0f;
        for (k = kv; k < K; k++) t += x[k] * decar__bf16_to_f32(w->bf16[(n0 + r) * K + k]);
        sums[r] += t;
    }
}
/* out[m, n] = sum_k inp[m, k] w[n, k] + bias[n], w quantized;  inp: (M, K); w: (N, K) = (w->rows, w->cols); bias:
   (N) or NULL; out: (M, N).  Q8_0 (W8A8): each input row is quantized first, xq (M, K) with dx (M, ceil(K / 32)), and
       out[m, n] = sum_b dx[m, b] scale[n, b] sum_{k in block b} xq[m, k] q8[n, k]   (int32 within a block)
   bf16: the floats against the widened weights. Spans of output rows go to the threads (8 rows; Q8_0: 32 where each
   thread still gets two spans); each reads its rows once for all M inputs (decar__w8a8_span, decar__qrows). */
DECARDEF void decar_qlinear_forward(float *out, const float *inp, const decar_qmat *w, const float *bias, int64_t M) {
    int q8 = w->type == DECAR_Q8_0;
    int64_t N = w->rows, K = w->cols, nb = (K + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK;
    int par = M * N * K >= ((int64_t)1 << 16); /* enough multiply-adds for the threads */
    int64_t rows = q8 && (N + 31) / 32 >= 2 * (par ? decar__loop_threads() : 1) ? 32 : 8;
    int64_t nblk = (N + rows - 1) / rows, bk, m;
    int8_t *xq = q8 ? (int8_t *)DECAR_MALLOC((size_t)(M * K) + 1) : NULL;
    float *dx = q8 ? (float *)DECAR_MALLOC((size_t)(M * nb) * sizeof(float) + 1) : NULL;
    if (q8 && (!xq || !dx)) { /* no memory for the quantized inputs: the reference needs none */
        decar__free_n(2, (void *)xq, (void *)dx);
        decar_qlinear_forward_ref(out, inp, w, bias, M);
        return;
    }
    for (m = 0; m < M && q8; m++) decar__q8_row(xq + m * K, dx + m * nb, inp + m * K, K); /* xq, dx per input row */
    DECAR__PAR_FOR(par, for (bk = 0; bk < nblk; bk++) {
        int64_t n0 = bk * rows, n1 = N - n0 < rows ? N : n0 + rows, mm;
        int r;
        float sums[8];
        for (mm = 0; mm < M && q8; mm++) decar__w8a8_span(out + mm * N, xq + mm * K, dx + mm * nb, w, bias, n0, n1);
        for (mm = 0; mm < M && !q8; mm++) {
            decar__qrows(sums, inp + mm * K, w, n0, (int)(n1 - n0));
            for (r = 0; r < n1 - n0; r++) out[mm * N + n0 + r] = sums[r] + (bias ? bias[n0 + r] : 0.0f);
        }
    });
    decar__free_n(2, (void *)xq, (void *)dx);
}
/* the same, one output at a time, summed in double: sum_k inp[m, k] bf16(w[n, k]), or for Q8_0, block by block,
   dx_b scale[n, b] sum_{k in b} xq_k q8[n, k] with the input block quantized by the one rule (decar__q8_block) */
DECARDEF void decar_qlinear_forward_ref(float *out, const float *inp, const decar_qmat *w, const float *bias,
                                        int64_t M) {
    int64_t N = w->rows, K = w->cols, nb = (K + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK, m, n, k;
    for (m = 0; m < M; m++)
        for (n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0;
            for (k = 0; k < K && w->type == DECAR_QBF16; k++)
                s += inp[m * K + k] * (double)decar__bf16_to_f32(w->bf16[n * K + k]);
            for (k = 0; k < K && w->type == DECAR_Q8_0; k += DECAR_Q8_BLOCK) { /* W8A8: block by block */
                int64_t len = K - k < DECAR_Q8_BLOCK ? K - k : DECAR_Q8_BLOCK, i;
                int8_t xq[DECAR_Q8_BLOCK];
                double dx = decar__q8_block(xq, inp + m * K + k, len), dot = 0.0;
                for (i = 0; i < len; i++) dot += (double)xq[i] * w->q8[n * K + k + i];
                s += dx * w->scale[n * nb + k / DECAR_Q8_BLOCK] * dot;
            }
            out[m * N + n] = (float)s;
        }
}

/* ---- 5. autograd ops --------------------------------------------------------------------------------------------- */
static int decar__ok(decar_ctx *c, const decar_tensor *a) {
    if (c->status) return 0;
    if (!a) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "an op was given a NULL tensor");
        return 0;
    }
    return 1;
}

DECARDEF decar_tensor *decar_matmul(decar_ctx *c, decar_tensor *x, decar_tensor *w, decar_tensor *b) {
    int64_t K, N, shape[DECAR_MAX_DIMS];
    int i;
    decar_tensor *o;
    if (!decar__ok(c, x) || !decar__ok(c, w)) return NULL;
    K = x->shape[x->ndim - 1];
    if (w->ndim != 2 || w->shape[1] != K || (b && (b->n != w->shape[0]))) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "matmul: x (..., %lld) needs w (N, %lld) and bias (N)", (long long)K,
                        (long long)K);
        return NULL;
    }
    N = w->shape[0];
    for (i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = N;
    o = decar__out(c, DECAR_OP_MATMUL, x->ndim, shape, x, w, b);
    if (!o) return NULL;
    decar_linear_forward(o->data, x->data, w->data, b ? b->data : NULL, x->n / K, K, N, decar_ctx_ws(c));
    return o;
}

/* broadcasting: shapes padded to 4 dims on the left; stride 0 where a dim is stretched */
static int decar__bcast(decar_ctx *c, const decar_tensor *a, const decar_tensor *b, int *ndim, int64_t *shp,
                        int64_t *sa, int64_t *sb) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim, d;
    int64_t ea = 1, eb = 1;
    for (d = 3; d >= 0; d--) {
        int ia = d - (4 - a->ndim), ib = d - (4 - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            decar__ctx_fail(c, DECAR_ERR_ARG, "cannot broadcast dims %lld and %lld", (long long)da, (long long)db);
            return 0;
        }
        shp[d] = da > db ? da : db;
        sa[d] = da == 1 ? 0 : ea;
        sb[d] = db == 1 ? 0 : eb;
        ea *= da;
        eb *= db;
    }
    *ndim = nd;
    return 1;
}
/* one contiguous row of decar__ew: whole vectors, then the tail with the same operation per element */
static void decar__ew_row(float *o, const float *x, const float *y, int64_t n, int mode) {
    int64_t i = 0;
    for (; i + DECAR__VW <= n; i += DECAR__VW) {
        decar__v xv = decar__vload(x + i), r;
        switch (mode) {
            case 0:
                r = decar__vadd(xv, decar__vload(y + i));
                break;
            case 1:
                r = decar__vmul(xv, decar__vload(y + i));
                break;
            case 2:
                r = decar__vadd(decar__vload(o + i), xv);
                break;
            default:
                r = decar__vadd(decar__vload(o + i), decar__vmul(xv, decar__vload(y + i)));
                break;
        }
        decar__vstore(o + i, r);
    }
    for (; i < n; i++) {
        switch (mode) {
            case 0:
                o[i] = x[i] + y[i];
                break;
            case 1:
                o[i] = x[i] * y[i];
                break;
            case 2:
                o[i] += x[i];
                break;
            default:
                o[i] += x[i] * y[i];
                break;
        }
    }
}
/* mode 0: o = x + y; 1: o = x * y; 2: o += x; 3: o += x * y, elementwise over the 4-d shape shp;  o, x, y are read
   and written through their strides so, sx, sy (4 each, in elements; 0 = a stretched dim, and for o a reduction) */
static void decar__ew(float *o, const int64_t *so, const float *x, const int64_t *sx, const float *y, const int64_t *sy,
                      const int64_t *shp, int mode) {
    int64_t outer = shp[0] * shp[1] * shp[2], q;
    int par = (so[0] || shp[0] == 1) && (so[1] || shp[1] == 1) && (so[2] || shp[2] == 1);
#define DECAR__EW_BODY                                                                                                 \
    {                                                                                                                  \
        int64_t i0 = q / (shp[1] * shp[2]), i1 = (q / shp[2]) % shp[1], i2 = q % shp[2], i3;                           \
        float *op = o + i0 * so[0] + i1 * so[1] + i2 * so[2];                                                          \
        const float *xp = x + i0 * sx[0] + i1 * sx[1] + i2 * sx[2];                                                    \
        const float *yp = y ? y + i0 * sy[0] + i1 * sy[1] + i2 * sy[2] : NULL;                                         \
        if (sx[3] == 1 && so[3] == 1 && (!y || sy[3] == 1))                                                            \
            decar__ew_row(op, xp, yp, shp[3], mode);                                                                   \
        else                                                                                                           \
            for (i3 = 0; i3 < shp[3]; i3++) {                                                                          \
                float xv = xp[i3 * sx[3]];                                                                             \
                switch (mode) {                                                                                        \
                    case 0:                                                                                            \
                        op[i3 * so[3]] = xv + yp[i3 * sy[3]];                                                          \
                        break;                                                                                         \
                    case 1:                                                                                            \
                        op[i3 * so[3]] = xv * yp[i3 * sy[3]];                                                          \
                        break;                                                                                         \
                    case 2:                                                                                            \
                        op[i3 * so[3]] += xv;                                                                          \
                        break;                                                                                         \
                    default:                                                                                           \
                        op[i3 * so[3]] += xv * yp[i3 * sy[3]];                                                         \
                        break;                                                                                         \
                }                                                                                                      \
            }                                                                                                          \
    }
    if (par && (so[3] || shp[3] == 1)) {
        DECAR__PAR_FOR(1, for (q = 0; q < outer; q++) {
            DECAR__EW_BODY
        });
    } else {
        for (q = 0; q < outer; q++) DECAR__EW_BODY
    }
#undef DECAR__EW_BODY
}
static void decar__contig_strides(const int64_t *shp, int64_t *s) {
    s[3] = 1;
    s[2] = shp[3];
    s[1] = shp[3] * shp[2];
    s[0] = s[1] * shp[1];
}

static decar_tensor *decar__binary(decar_ctx *c, int op, decar_tensor *a, decar_tensor *b) {
    int64_t shp[4], sa[4], sb[4], so[4];
    int nd;
    decar_tensor *o;
    if (!decar__ok(c, a) || !decar__ok(c, b) || !decar__bcast(c, a, b, &nd, shp, sa, sb)) return NULL;
    o = decar__out(c, op, nd, shp + 4 - nd, a, b, NULL);
    if (!o) return NULL;
    decar__contig_strides(shp, so);
    decar__ew(o->data, so, a->data, sa, b->data, sb, shp, op == DECAR_OP_ADD ? 0 : 1);
    return o;
}
DECARDEF decar_tensor *decar_add(decar_ctx *c, decar_tensor *a, decar_tensor *b) {
    return decar__binary(c, DECAR_OP_ADD, a, b);
}
DECARDEF decar_tensor *decar_mul(decar_ctx *c, decar_tensor *a, decar_tensor *b) {
    return decar__binary(c, DECAR_OP_MUL, a, b);
}

DECARDEF decar_tensor *decar_scale(decar_ctx *c, decar_tensor *a, float s) {
    decar_tensor *o;
    int64_t i;
    if (!decar__ok(c, a)) return NULL;
    o = decar__out(c, DECAR_OP_SCALE, a->ndim, a->shape, a, NULL, NULL);
    if (!o) return NULL;
    o->fp[0] = s;
    for (i = 0; i < a->n; i++) o->data[i] = s * a->data[i];
    return o;
}

#define DECAR__GELU_S 0.7978845608028654f /* sqrt(2/pi) */
/* tanh as a [13/6] rational function of the clamped input (Eigen's coefficients): arithmetic only, so it runs in
   vectors, and the same on every path; max abs error 3.7e-7 (near |u| = 5.8, where tanh is 0.99998) */
static decar__v decar__vtanh(decar__v u) {
    decar__v x = decar__vmax(decar__vmin(u, decar__vset1(7.90531110763549805f)), decar__vset1(-7.90531110763549805f));
    decar__v x2 = decar__vmul(x, x), p, q;
    p = decar__vfma(decar__vset1(-2.76076847742355e-16f), x2, decar__vset1(2.00018790482477e-13f));
    p = decar__vfma(p, x2, decar__vset1(-8.60467152213735e-11f));
    p = decar__vfma(p, x2, decar__vset1(5.12229709037114e-08f));
    p = decar__vfma(p, x2, decar__vset1(1.48572235717979e-05f));
    p = decar__vfma(p, x2, decar__vset1(6.37261928875436e-04f));
    p = decar__vfma(p, x2, decar__vset1(4.89352455891786e-03f));
    q = decar__vfma(decar__vset1(1.19825839466702e-06f), x2, decar__vset1(1.18534705686654e-04f));
    q = decar__vfma(q, x2, decar__vset1(2.26843463243900e-03f));
    q = decar__vfma(q, x2, decar__vset1(4.89352518554385e-03f));
    return decar__vdiv(decar__vmul(p, x), q);
}
/* GELU (tanh form) on x[0, n): dst = gelu(x); or, when dout is given, dst (acc: += ; else =) dout * gelu'(x). Whole
   vectors, then the tail through a zero-padded vector, so every element takes the same arithmetic */
static void decar__gelu_span(float *dst, const float *x, const float *dout, int64_t n, int acc) {
    const decar__v s = decar__vset1(DECAR__GELU_S), c = decar__vset1(0.044715f), c3 = decar__vset1(3.0f * 0.044715f);
    const decar__v half = decar__vset1(0.5f), one = decar__vset1(1.0f), neg = decar__vset1(-1.0f);
    float bx[DECAR__VW], bd[DECAR__VW], bo[DECAR__VW];
    int64_t i;
    int j;
    for (i = 0; i < n; i += DECAR__VW) {
        int m = n - i < DECAR__VW ? (int)(n - i) : DECAR__VW;
        const float *xp = x + i, *dp = dout ? dout + i : NULL;
        float *op = dst + i;
        decar__v xv, x2, th;
        if (m < DECAR__VW) {
            for (j = 0; j < DECAR__VW; j++) {
                bx[j] = j < m ? xp[j] : 0.0f;
                bd[j] = j < m && dp ? dp[j] : 0.0f;
                bo[j] = j < m ? op[j] : 0.0f;
            }
            xp = bx;
            dp = dout ? bd : NULL;
            op = bo;
        }
        xv = decar__vload(xp);
        x2 = decar__vmul(xv, xv);
        th = decar__vtanh(decar__vmul(s, decar__vfma(decar__vmul(c, x2), xv, xv)));
        if (!dout)
            decar__vstore(op, decar__vmul(decar__vmul(half, xv), decar__vadd(one, th)));
        else { /* 0.5 (1 + th) + 0.5 x (1 - th^2) s (1 + 3c x^2) */
            decar__v du = decar__vmul(s, decar__vfma(c3, x2, one));
            decar__v g = decar__vfma(decar__vmul(decar__vmul(half, xv), decar__vfma(decar__vmul(th, th), neg, one)), du,
                                     decar__vmul(half, decar__vadd(one, th)));
            decar__vstore(op, decar__vfma(decar__vload(dp), g, acc ? decar__vload(op) : decar__vzero()));
        }
        if (m < DECAR__VW)
            for (j = 0; j < m; j++) dst[i + j] = bo[j];
    }
}
#define DECAR__SPAN 4096 /* elementwise work is split over threads in spans of this many elements */
/* decar__gelu_span over x[0, n), one span of DECAR__SPAN elements per task */
static void decar__gelu_par(float *dst, const float *x, const float *dout, int64_t n, int acc) {
    int64_t ns = (n + DECAR__SPAN - 1) / DECAR__SPAN, k;
    DECAR__PAR_FOR(ns > 1, for (k = 0; k < ns; k++)
        decar__gelu_span(dst + k * DECAR__SPAN, x + k * DECAR__SPAN, dout ? dout + k * DECAR__SPAN : NULL,
                         n - k * DECAR__SPAN < DECAR__SPAN ? n - k * DECAR__SPAN : DECAR__SPAN, acc));
}
DECARDEF decar_tensor *decar_gelu(decar_ctx *c, decar_tensor *a) {
    decar_tensor *o;
    if (!decar__ok(c, a)) return NULL;
    o = decar__out(c, DECAR_OP_GELU, a->ndim, a->shape, a, NULL, NULL);
    if (!o) return NULL;
    decar_gelu_forward(o->data, a->data, a->n);
    return o;
}

/* one row of LayerNorm (eps 1e-5, biased variance, as torch): dst = (x - mean) rstd w + b; st = {mean, rstd}.
   Training and KV-cache inference both use it. Vectors, then the tail with the same operations. */
static void decar__ln_row(float *dst, const float *x, const float *w, const float *b, int64_t C, float *st) {
    decar__v a = decar__vzero(), vm, vr;
    float m, v, rs;
    int64_t i;
    for (i = 0; i + DECAR__VW <= C; i += DECAR__VW) a = decar__vadd(a, decar__vload(x + i));
    m = decar__vsum(a);
    for (; i < C; i++) m += x[i];
    m /= (float)C;
    vm = decar__vset1(m);
    a = decar__vzero();
    for (i = 0; i + DECAR__VW <= C; i += DECAR__VW) {
        decar__v d = decar__vsub(decar__vload(x + i), vm);
        a = decar__vfma(d, d, a);
    }
    v = decar__vsum(a);
    for (; i < C; i++) {
        float d = x[i] - m;
        v += d * d;
    }
    v /= (float)C;
    rs = 1.0f / sqrtf(v + 1e-5f);
    vr = decar__vset1(rs);
    for (i = 0; i + DECAR__VW <= C; i += DECAR__VW)
        decar__vstore(dst + i, decar__vadd(decar__vmul(decar__vmul(decar__vsub(decar__vload(x + i), vm), vr),
                                                       decar__vload(w + i)),
                                           decar__vload(b + i)));
    for (; i < C; i++) dst[i] = (x[i] - m) * rs * w[i] + b[i];
    if (st) {
        st[0] = m;
        st[1] = rs;
    }
}
DECARDEF decar_tensor *decar_layernorm(decar_ctx *c, decar_tensor *x, decar_tensor *w, decar_tensor *b) {
    decar_tensor *o;
    int64_t C, rows;
    float *st;
    if (!decar__ok(c, x) || !decar__ok(c, w) || !decar__ok(c, b)) return NULL;
    C = x->shape[x->ndim - 1];
    if (w->n != C || b->n != C) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "layernorm: weight and bias need %lld elements", (long long)C);
        return NULL;
    }
    o = decar__out(c, DECAR_OP_LAYERNORM, x->ndim, x->shape, x, w, b);
    rows = x->n / C;
    st = (float *)decar_ctx_alloc(c, (size_t)rows * 2 * sizeof(float)); /* mean, rstd per row */
    if (!o || !st) return NULL;
    o->aux = st;
    decar_layernorm_forward(o->data, st, x->data, w->data, b->data, rows, C);
    return o;
}

/* the largest of x[0, n) (n >= 1) in vectors, then the lanes, then the tail (a NaN anywhere may or may not be it: every
   caller's result is NaN then either way, through the vector exp of x - max, which keeps NaN) */
static float decar__max_span(const float *x, int64_t n) {
    decar__v vm = decar__vset1(-INFINITY);
    float mx = -INFINITY, lanes[DECAR__VW];
    int64_t i = 0;
    int j;
    for (; i + DECAR__VW <= n; i += DECAR__VW) vm = decar__vmax(vm, decar__vload(x + i));
    decar__vstore(lanes, vm);
    for (j = 0; j < DECAR__VW; j++)
        if (lanes[j] > mx) mx = lanes[j];
    for (; i < n; i++)
        if (x[i] > mx) mx = x[i];
    return mx;
}
/* o[0, n) = softmax(scale x[0, n)): o = scale x (in vectors), m its largest value, o = exp(o - m) (the vector exp),
   then o /= sum o (the same division in every lane). o may be x; scale 1 leaves x exact. */
static void decar__softmax_row(float *o, const float *x, float scale, int64_t n) {
    decar__v vsc = decar__vset1(scale), vs;
    float s;
    int64_t i = 0;
    for (; i + DECAR__VW <= n; i += DECAR__VW) decar__vstore(o + i, decar__vmul(decar__vload(x + i), vsc));
    for (; i < n; i++) o[i] = x[i] * scale;
    s = decar__exp_span(o, o, decar__max_span(o, n), n);
    vs = decar__vset1(s);
    for (i = 0; i + DECAR__VW <= n; i += DECAR__VW) decar__vstore(o + i, decar__vdiv(decar__vload(o + i), vs));
    for (; i < n; i++) o[i] /= s;
}
DECARDEF decar_tensor *decar_softmax(decar_ctx *c, decar_tensor *a) {
    decar_tensor *o;
    int64_t C, rows;
    if (!decar__ok(c, a)) return NULL;
    o = decar__out(c, DECAR_OP_SOFTMAX, a->ndim, a->shape, a, NULL, NULL);
    if (!o) return NULL;
    C = a->shape[a->ndim - 1];
    rows = a->n / C;
    decar_softmax_forward(o->data, a->data, rows, C);
    return o;
}

/* attention, per (batch, head) as small GEMMs: S = Q K^T / sqrt(hs), P = softmax(S) (causal: row t sees <= t),
   O = P V. P (B, H, T, T) is kept for the backward pass. The (b, h) tasks are split over threads; the GEMMs inside
   run on the calling thread (nested regions are off), so results do not depend on the thread count. */
/* causal attention: query rows per block; a block's GEMMs skip the keys masked for all its rows. float32 products: 48
   (8 GEMM slivers); bf16 products: 128 (whole 32 x 32 AMX blocks, and each key block packed once for more rows: there
   the packing costs more than the masked products, 8% of a training step of config S measured) */
static int64_t decar__att_rows(void) {
    return decar__precision == DECAR_BF16 ? 128 : 48;
}
static void decar__attention_fwd(float *out, float *att, int64_t nblk, const float *qkv, int64_t B, int64_t T,
                                 int64_t C, int NH, int causal, decar_ws *ws); /* 5b */
DECARDEF decar_tensor *decar_attention(decar_ctx *c, decar_tensor *qkv, int n_head, int causal) {
    decar_tensor *o;
    int64_t B, T, C3, C, shape[3];
    float *att;
    int64_t nblk;
    if (!decar__ok(c, qkv)) return NULL;
    if (qkv->ndim != 3 || qkv->shape[2] % 3 || n_head < 1 || (qkv->shape[2] / 3) % n_head) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "attention: qkv must be (B, T, 3C) with C divisible by n_head");
        return NULL;
    }
    B = qkv->shape[0];
    T = qkv->shape[1];
    C3 = qkv->shape[2];
    C = C3 / 3;
    shape[0] = B;
    shape[1] = T;
    shape[2] = C;
    o = decar__out(c, DECAR_OP_ATTENTION, 3, shape, qkv, NULL, NULL);
    if (!o) return NULL;
    /* the probabilities (B, NH, T, T) for the backward; without a gradient (scoring) one (T, T) block per thread
       when there are more (b, h) pairs than threads */
    nblk = o->requires_grad ? B * n_head : decar__loop_threads();
    if (nblk > B * n_head) nblk = B * n_head;
    att = (float *)decar_ctx_alloc(c, (size_t)(nblk * T * T) * sizeof(float));
    if (!att) return NULL;
    o->aux = o->requires_grad ? att : NULL;
    o->ip[0] = n_head;
    o->ip[1] = causal;
    decar__attention_fwd(o->data, att, nblk, qkv->data, B, T, C, n_head, causal, decar_ctx_ws(c));
    return o;
}

DECARDEF decar_tensor *decar_embedding(decar_ctx *c, decar_tensor *table, const int32_t *ids, int ndim,
                                       const int64_t *shape) {
    decar_tensor *o;
    int64_t sh[DECAR_MAX_DIMS], n = 1, i, V, C;
    int32_t *cp;
    int d;
    if (!decar__ok(c, table)) return NULL;
    if (table->ndim != 2 || ndim < 1 || ndim >= DECAR_MAX_DIMS || !ids) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "embedding: table must be (V, C) and ids at most 3-D");
        return NULL;
    }
    V = table->shape[0];
    C = table->shape[1];
    for (d = 0; d < ndim; d++) {
        sh[d] = shape[d];
        n *= shape[d];
    }
    sh[ndim] = C;
    for (i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            decar__ctx_fail(c, DECAR_ERR_ARG, "embedding: token id %d outside [0, %lld)", (int)ids[i], (long long)V);
            return NULL;
        }
    o = decar__out(c, DECAR_OP_EMBEDDING, ndim + 1, sh, table, NULL, NULL);
    cp = (int32_t *)decar_ctx_alloc(c, (size_t)n * sizeof(int32_t));
    if (!o || !cp) return NULL;
    memcpy(cp, ids, (size_t)n * sizeof(int32_t));
    o->aux = cp;
    decar_embedding_forward(o->data, table->data, cp, n, C);
    return o;
}

typedef struct decar__ce {
    int32_t *tg;
    float *w;
    float *lse;
    float norm;
    int nc;
} decar__ce;
/* loss = sum_i w_i (lse_i - logit_i[y_i]) / norm over rows with a target, lse_i = log sum_{j < nc} exp logit_ij:
   the forward kernel gives lse and the per-row nll; the sum is taken here in row order (double) */
DECARDEF decar_tensor *decar_cross_entropy(decar_ctx *c, decar_tensor *logits, const int32_t *targets,
                                           const float *weights, float norm, int n_class, float *nll_out) {
    decar_tensor *o;
    int64_t V, rows, r, one = 1;
    decar__ce *ce;
    double tot = 0.0;
    int64_t cnt = 0;
    float *nll;
    if (!decar__ok(c, logits)) return NULL;
    V = logits->shape[logits->ndim - 1];
    rows = logits->n / V;
    if (n_class <= 0 || n_class > V) n_class = (int)V;
    for (r = 0; r < rows; r++) {
        if (targets[r] >= n_class) {
            decar__ctx_fail(c, DECAR_ERR_ARG, "cross_entropy: target %d outside [0, %d)", (int)targets[r], n_class);
            return NULL;
        }
        if (targets[r] >= 0) cnt++;
        if (weights && !(weights[r] == weights[r] && fabsf(weights[r]) < INFINITY)) {
            decar__ctx_fail(c, DECAR_ERR_NUMERIC, "cross_entropy: weight %lld is not finite", (long long)r);
            return NULL;
        }
    }
    o = decar__out(c, DECAR_OP_CROSS_ENTROPY, 1, &one, logits, NULL, NULL);
    ce = (decar__ce *)decar_ctx_alloc(c, sizeof(decar__ce));
    if (!o || !ce) return NULL;
    ce->tg = (int32_t *)decar_ctx_alloc(c, (size_t)rows * sizeof(int32_t));
    ce->lse = (float *)decar_ctx_alloc(c, (size_t)rows * sizeof(float));
    nll = (float *)decar_ctx_alloc(c, (size_t)rows * sizeof(float));
    ce->w = weights ? (float *)decar_ctx_alloc(c, (size_t)rows * sizeof(float)) : NULL;
    if (!ce->tg || !ce->lse || !nll || (weights && !ce->w)) return NULL;
    memcpy(ce->tg, targets, (size_t)rows * sizeof(int32_t));
    if (weights) memcpy(ce->w, weights, (size_t)rows * sizeof(float));
    ce->nc = n_class;
    ce->norm = norm > 0.0f ? norm : (float)(cnt > 0 ? cnt : 1);
    o->aux = ce;
    decar_crossentropy_forward(ce->lse, nll, logits->data, ce->tg, rows, V, n_class);
    for (r = 0; r < rows; r++)
        if (ce->tg[r] >= 0) tot += (double)nll[r] * (ce->w ? ce->w[r] : 1.0f);
    o->data[0] = (float)(tot / ce->norm);
    if (nll_out) memcpy(nll_out, nll, (size_t)rows * sizeof(float));
    return o;
}

DECARDEF decar_tensor *decar_rows(decar_ctx *c, decar_tensor *x, const int64_t *idx, int64_t n) {
    int64_t C, rows, sh[2], i;
    int64_t *keep;
    decar_tensor *o;
    if (!decar__ok(c, x)) return NULL;
    C = x->shape[x->ndim - 1];
    rows = x->n / C;
    for (i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= rows) {
            decar__ctx_fail(c, DECAR_ERR_ARG, "rows: index %lld outside [0, %lld)", (long long)idx[i], (long long)rows);
            return NULL;
        }
    sh[0] = n;
    sh[1] = C;
    o = decar__out(c, DECAR_OP_ROWS, 2, sh, x, NULL, NULL);
    keep = (int64_t *)decar_ctx_alloc(c, (size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!o || !keep) return NULL;
    memcpy(keep, idx, (size_t)n * sizeof(int64_t));
    o->aux = keep;
    /* y[i] = x[idx[i]] */
    for (i = 0; i < n; i++) memcpy(o->data + i * C, x->data + idx[i] * C, (size_t)C * sizeof(float));
    return o;
}
DECARDEF decar_tensor *decar_l2norm(decar_ctx *c, decar_tensor *x) {
    int64_t C, rows, r, j;
    float *nrm;
    decar_tensor *o;
    if (!decar__ok(c, x)) return NULL;
    C = x->shape[x->ndim - 1];
    rows = x->n / C;
    o = decar__out(c, DECAR_OP_L2NORM, x->ndim, x->shape, x, NULL, NULL);
    nrm = (float *)decar_ctx_alloc(c, (size_t)(rows > 0 ? rows : 1) * sizeof(float));
    if (!o || !nrm) return NULL;
    o->aux = nrm;
    /* ||x_r|| = sqrt(sum_j x_rj^2 + 1e-12), y_r = x_r / ||x_r|| */
    for (r = 0; r < rows; r++) {
        double s = 1e-12;
        for (j = 0; j < C; j++) s += (double)x->data[r * C + j] * x->data[r * C + j];
        nrm[r] = (float)sqrt(s);
        for (j = 0; j < C; j++) o->data[r * C + j] = x->data[r * C + j] / nrm[r];
    }
    return o;
}
DECARDEF decar_tensor *decar_exp(decar_ctx *c, decar_tensor *x) {
    int64_t i;
    decar_tensor *o;
    if (!decar__ok(c, x)) return NULL;
    o = decar__out(c, DECAR_OP_EXP, x->ndim, x->shape, x, NULL, NULL);
    if (!o) return NULL;
    for (i = 0; i < x->n; i++) o->data[i] = expf(x->data[i]);
    return o;
}

DECARDEF decar_tensor *decar_concat(decar_ctx *c, decar_tensor *a, decar_tensor *b) {
    decar_tensor *o;
    int64_t sh[3], bb;
    if (!decar__ok(c, a) || !decar__ok(c, b)) return NULL;
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0] || a->shape[2] != b->shape[2]) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "concat: needs (B, Ta, C) and (B, Tb, C)");
        return NULL;
    }
    sh[0] = a->shape[0];
    sh[1] = a->shape[1] + b->shape[1];
    sh[2] = a->shape[2];
    o = decar__out(c, DECAR_OP_CONCAT, 3, sh, a, b, NULL);
    if (!o) return NULL;
    for (bb = 0; bb < sh[0]; bb++) {
        int64_t na = a->shape[1] * sh[2], nb = b->shape[1] * sh[2];
        memcpy(o->data + bb * (na + nb), a->data + bb * na, (size_t)na * sizeof(float));
        memcpy(o->data + bb * (na + nb) + na, b->data + bb * nb, (size_t)nb * sizeof(float));
    }
    return o;
}

static decar_tensor *decar__reduce(decar_ctx *c, decar_tensor *a, int op) {
    decar_tensor *o;
    int64_t one = 1, i;
    double s = 0.0;
    if (!decar__ok(c, a)) return NULL;
    o = decar__out(c, op, 1, &one, a, NULL, NULL);
    if (!o) return NULL;
    for (i = 0; i < a->n; i++) s += a->data[i];
    o->data[0] = (float)(op == DECAR_OP_MEAN ? s / (double)a->n : s);
    return o;
}
DECARDEF decar_tensor *decar_sum(decar_ctx *c, decar_tensor *a) {
    return decar__reduce(c, a, DECAR_OP_SUM);
}
DECARDEF decar_tensor *decar_mean(decar_ctx *c, decar_tensor *a) {
    return decar__reduce(c, a, DECAR_OP_MEAN);
}

/* ---- 5a. gradient buffers ---------------------------------------------------------------------------------------- */
static void decar__zero(float *p, int64_t n) { /* memset over the threads, in spans of 64K floats */
    int64_t ns = (n + 65535) / 65536, k;
    DECAR__PAR_FOR(ns > 1, for (k = 0; k < ns; k++)
        memset(p + k * 65536, 0, (size_t)(n - k * 65536 < 65536 ? n - k * 65536 : 65536) * sizeof(float)));
}
typedef struct decar__free_grad {
    struct decar__free_grad *next;
    size_t bytes;
} decar__free_grad;
/* backward's buffers (gradients of intermediate results, scratch): a buffer of the same size that the pass is done
   with (transformer layers repeat their shapes), else a new one from the arena. Not zeroed. */
static float *decar__take(decar_ctx *c, int64_t n) {
    size_t bytes = ((size_t)n * sizeof(float) + 63) & ~(size_t)63;
    decar__free_grad **pp = &c->free_grads;
    while (*pp && (*pp)->bytes != bytes) pp = &(*pp)->next;
    if (*pp) {
        float *p = (float *)(void *)*pp;
        *pp = (*pp)->next;
        return p;
    }
    return (float *)decar_ctx_alloc(c, bytes);
}
static void decar__give(decar_ctx *c, float *p, int64_t n) {
    decar__free_grad *f = (decar__free_grad *)(void *)p;
    f->bytes = ((size_t)n * sizeof(float) + 63) & ~(size_t)63;
    f->next = c->free_grads;
    c->free_grads = f;
}
/* the gradient buffer of t, taken on first use and not zeroed: gfresh marks it "reads as zero". The first writer
   either zeroes it (decar__settle) or overwrites it whole (the input gradient of a matmul, a GEMM without
   accumulation, of GELU and of the cross-entropy), which saves a memset of every activation gradient */
static void decar__settle(decar_tensor *t) {
    if (t && t->gfresh) {
        decar__zero(t->grad, t->n);
        t->gfresh = 0;
    }
}
static float *decar__grad(decar_ctx *c, decar_tensor *t) {
    if (!t || !t->requires_grad) return NULL;
    if (t->grad) return t->grad;
    if (t->op == DECAR_OP_VIEW) { /* a view writes part of its source's gradient: the rest must read as zero */
        float *g = decar__grad(c, t->src[0]);
        decar__settle(t->src[0]);
        t->grad = g ? g + decar__view_offset(t) : NULL;
        return t->grad;
    }
    t->grad = decar__take(c, t->n);
    t->gfresh = t->grad != NULL;
    return t->grad;
}

/* column sums of dout (rows x C), the gradients of per-column parameters: dd[j] += sum_r dout[r][j] and, given x
   and st (LayerNorm's mean and rstd per row), dw[j] += sum_r dout[r][j] (x[r][j] - mean_r) rstd_r. Either output
   may be NULL. 32 columns at a time in registers, a block of columns per thread, rows in order. */
static void decar__col_sums(float *dd, float *dw, const float *dout, const float *x, const float *st, int64_t rows,
                            int64_t C) {
    int64_t j0;
    DECAR__PAR_FOR(C > 32, for (j0 = 0; j0 < C; j0 += 32) { /* one strip: no team */
        int64_t j, r, j1 = j0 + 32 < C ? j0 + 32 : C;
        if (j1 - j0 == 32) {
            decar__v ad[32 / DECAR__VW], aw[32 / DECAR__VW];
            float sd[32], sw[32];
            int v;
            for (v = 0; v < 32 / DECAR__VW; v++) ad[v] = aw[v] = decar__vzero();
            for (r = 0; r < rows; r++) {
                const float *dy = dout + r * C + j0;
                if (C >= DECAR__FAR_ROWS && r + DECAR__PACK_AHEAD < rows) { /* as in decar__pack_a */
                    decar__prefetch_span(dy + DECAR__PACK_AHEAD * C, 32);
                    if (dw) decar__prefetch_span(x + (r + DECAR__PACK_AHEAD) * C + j0, 32);
                }
                for (v = 0; v < 32 / DECAR__VW; v++) ad[v] = decar__vadd(ad[v], decar__vload(dy + v * DECAR__VW));
                if (dw) {
                    const float *xr = x + r * C + j0;
                    decar__v vm = decar__vset1(st[2 * r]), vr = decar__vset1(st[2 * r + 1]);
                    for (v = 0; v < 32 / DECAR__VW; v++)
                        aw[v] = decar__vfma(decar__vload(dy + v * DECAR__VW),
                                            decar__vmul(decar__vsub(decar__vload(xr + v * DECAR__VW), vm), vr), aw[v]);
                }
            }
            for (v = 0; v < 32 / DECAR__VW; v++) {
                decar__vstore(sd + v * DECAR__VW, ad[v]);
                decar__vstore(sw + v * DECAR__VW, aw[v]);
            }
            for (j = j0; j < j1; j++) {
                if (dd) dd[j] += sd[j - j0];
                if (dw) dw[j] += sw[j - j0];
            }
        } else {
            for (j = j0; j < j1; j++) {
                float sdj = 0.0f, swj = 0.0f;
                for (r = 0; r < rows; r++) {
                    float g = dout[r * C + j];
                    sdj += g;
                    if (dw) swj += g * ((x[r * C + j] - st[2 * r]) * st[2 * r + 1]);
                }
                if (dd) dd[j] += sdj;
                if (dw) dw[j] += swj;
            }
        }
    });
}

/* ---- 5b. the ops' kernels, forward and backward (declared with their equations in section 4) --------------------- */
/* out[r, j] = (inp[r, j] - mean_r) rstd_r w[j] + b[j],  rstd_r = 1 / sqrt(var_r + 1e-5) (biased variance);
   inp, out: (rows, C); w, b: (C); stats: (rows, 2) = (mean_r, rstd_r). A row per task (decar__ln_row). */
DECARDEF void decar_layernorm_forward(float *out, float *stats, const float *inp, const float *w, const float *b,
                                      int64_t rows, int64_t C) {
    int64_t r;
    DECAR__PAR_FOR(1, for (r = 0; r < rows; r++) {
        decar__ln_row(out + r * C, inp + r * C, w, b, C, stats + 2 * r);
    });
}
/* with xh = (inp - mean) rstd and dn = dout w per row:
       dinp[r, :] += rstd_r (dn - mean_j(dn) - xh mean_j(dn xh)),   dw += sum_r dout[r, :] xh,   db += sum_r dout[r, :]
   dout, inp, dinp: (rows, C); w, dw, db: (C); stats: (rows, 2) from the forward. dinp, dw or db may be NULL. */
DECARDEF void decar_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                       const float *w, const float *stats, int64_t rows, int64_t C) {
    int64_t r;
    if (dinp) {
        /* per row: s1 = mean(dn), s2 = mean(dn xh), then dx += rstd (dn - s1 - xh s2); vectors, then the tail */
        DECAR__PAR_FOR(1, for (r = 0; r < rows; r++) {
            const float *xr = inp + r * C, *dy = dout + r * C;
            float m = stats[2 * r], rs = stats[2 * r + 1], *dx = dinp + r * C;
            decar__v v1 = decar__vzero(), v2 = decar__vzero(), vm = decar__vset1(m), vr = decar__vset1(rs);
            decar__v vs1, vs2;
            float s1, s2;
            int64_t j;
            for (j = 0; j + DECAR__VW <= C; j += DECAR__VW) {
                decar__v dn = decar__vmul(decar__vload(dy + j), decar__vload(w + j));
                v1 = decar__vadd(v1, dn);
                v2 = decar__vfma(dn, decar__vmul(decar__vsub(decar__vload(xr + j), vm), vr), v2);
            }
            s1 = decar__vsum(v1);
            s2 = decar__vsum(v2);
            for (; j < C; j++) {
                float dn = dy[j] * w[j];
                s1 += dn;
                s2 += dn * ((xr[j] - m) * rs);
            }
            s1 /= (float)C;
            s2 /= (float)C;
            vs1 = decar__vset1(s1);
            vs2 = decar__vset1(s2);
            for (j = 0; j + DECAR__VW <= C; j += DECAR__VW) {
                decar__v dn = decar__vmul(decar__vload(dy + j), decar__vload(w + j));
                decar__v xh = decar__vmul(decar__vsub(decar__vload(xr + j), vm), vr);
                decar__v g = decar__vsub(decar__vsub(dn, vs1), decar__vmul(xh, vs2));
                decar__vstore(dx + j, decar__vfma(vr, g, decar__vload(dx + j)));
            }
            for (; j < C; j++) dx[j] += rs * ((dy[j] * w[j] - s1) - ((xr[j] - m) * rs) * s2);
        });
    }
    if (dw || db) decar__col_sums(db, dw, dout, inp, stats, rows, C); /* column sums over the rows, in order */
}
/* out[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), x = inp[i];  inp, out: (n) */
DECARDEF void decar_gelu_forward(float *out, const float *inp, int64_t n) {
    decar__gelu_par(out, inp, NULL, n, 0);
}
/* dinp[i] += dout[i] gelu'(x),  gelu'(x) = (1 + th) / 2 + x (1 - th^2) sqrt(2/pi) (1 + 3 0.044715 x^2) / 2, th the
   tanh of the forward, x = inp[i];  inp, dout, dinp: (n) */
DECARDEF void decar_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n) {
    decar__gelu_par(dinp, inp, dout, n, 1);
}
/* out[r, j] = exp(inp[r, j] - max_r) / sum_j' exp(inp[r, j'] - max_r);  inp, out: (rows, C) */
DECARDEF void decar_softmax_forward(float *out, const float *inp, int64_t rows, int64_t C) {
    int64_t r;
    DECAR__PAR_FOR(1, for (r = 0; r < rows; r++) {
        decar__softmax_row(out + r * C, inp + r * C, 1.0f, C);
    });
}
/* dinp[r, j] += out[r, j] (dout[r, j] - sum_j' out[r, j'] dout[r, j']);  out, dout, dinp: (rows, C) */
DECARDEF void decar_softmax_backward(float *dinp, const float *out, const float *dout, int64_t rows, int64_t C) {
    int64_t r;
    DECAR__PAR_FOR(1, for (r = 0; r < rows; r++) {
        const float *y = out + r * C, *dy = dout + r * C;
        float s = 0.0f;
        int64_t j;
        for (j = 0; j < C; j++) s += y[j] * dy[j]; /* s = y . dy */
        for (j = 0; j < C; j++) dinp[r * C + j] += y[j] * (dy[j] - s);
    });
}
/* per (batch b, head h) as small GEMMs: S = Q K^T / sqrt(hs), P = softmax(S) (causal: row t over keys 0..t, zero
   past them), O = P V;  qkv: (B, T, 3C) = [q | k | v], head h the columns h hs .. h hs + hs - 1 of each, hs = C / NH;
   att: (B, NH, T, T) receives P; out: (B, T, C), head h in its columns h hs ... Causal attention takes the query
   rows in blocks of decar__att_rows(), each against the keys up to the block's end. The (b, h) tasks are split over
   threads; the GEMMs inside run on the calling thread (nested regions are off): no dependence on the thread count. */
/* decar_attention_forward, att holding nblk (T, T) blocks: all B NH (the probabilities kept, for a backward), or
   fewer, decar__loop_threads() of them, each the block of the thread that computes (b, h) (a scoring forward then
   reads and writes P in its core's cache instead of streaming B NH T^2 floats per layer through memory) */
static void decar__attention_fwd(float *out, float *att, int64_t nblk, const float *qkv, int64_t B, int64_t T,
                                 int64_t C, int NH, int causal, decar_ws *ws) {
    int64_t C3 = 3 * C, hs = C / NH, bh, rb = decar__att_rows();
    float scale = 1.0f / sqrtf((float)hs);
    decar__ws_reserve(ws, decar_get_threads()); /* a slot per thread of the loop below */
    DECAR__PAR_FOR_DYN(1, for (bh = 0; bh < B * NH; bh++) {
        int64_t b = bh / NH, h = bh % NH, t, r0, r1;
        const float *q = qkv + b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C; /* rows C3 apart */
        float *P = att + (nblk == B * NH ? bh : decar__loop_slot((int)nblk)) * T * T; /* (T, T) */
        for (r0 = 0; r0 < T; r0 = r1) {
            r1 = causal && r0 + rb < T ? r0 + rb : T;
            /* S = Q K^T for this block of query rows */
            decar_gemm_ws(ws, P + r0 * T, T, q + r0 * C3, C3, 1, k, 1, C3, NULL, r1 - r0, causal ? r1 : T, hs, 0);
            for (t = r0; t < r1; t++) { /* P[t, :end] = softmax(S[t, :end] / sqrt(hs)), zero past end */
                float *p = P + t * T;
                int64_t end = causal ? t + 1 : T;
                decar__softmax_row(p, p, scale, end);
                if (end < T) memset(p + end, 0, (size_t)(T - end) * sizeof(float));
            }
            /* O = P V */
            decar_gemm_ws(ws, out + b * T * C + r0 * C + h * hs, C, P + r0 * T, T, 1, v, C3, 1, NULL, r1 - r0, hs,
                          causal ? r1 : T, 0);
        }
    });
}
DECARDEF void decar_attention_forward(float *out, float *att, const float *qkv, int64_t B, int64_t T, int64_t C, int NH,
                                      int causal, decar_ws *ws) {
    decar__attention_fwd(out, att, B * NH, qkv, B, T, C, NH, causal, ws);
}
/* per (b, h), with P = att: dP = dO V^T, dS = P (dP - rowsum(P dP)) / sqrt(hs), dQ += dS K, dK += dS^T Q,
   dV += P^T dO;  dout: (B, T, C); qkv, dqkv: (B, T, 3C) as in the forward; att: (B, NH, T, T); scratch: (B, NH, T, T)
   floats for dP and dS, in place. Query blocks and threads as in the forward. */
DECARDEF void decar_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                       const float *att, int64_t B, int64_t T, int64_t C, int NH, int causal,
                                       decar_ws *ws) {
    int64_t C3 = 3 * C, hs = C / NH, bh, rb = decar__att_rows();
    float scale = 1.0f / sqrtf((float)hs);
    decar__ws_reserve(ws, decar_get_threads());
    DECAR__PAR_FOR_DYN(1, for (bh = 0; bh < B * NH; bh++) {
        int64_t bb = bh / NH, h = bh % NH, tt, t2, r0, r1;
        const float *P = att + bh * T * T, *q = qkv + bb * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
        const float *dO = dout + bb * T * C + h * hs;
        float *dq = dqkv + bb * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C, *G = scratch + bh * T * T;
        /* query blocks as in the forward (causal: entries past a block's end are never read) */
        for (r0 = 0; r0 < T; r0 = r1) {
            int64_t nk;
            r1 = causal && r0 + rb < T ? r0 + rb : T;
            nk = causal ? r1 : T;
            /* dP = dO V^T */
            decar_gemm_ws(ws, G + r0 * T, T, dO + r0 * C, C, 1, v, 1, C3, NULL, r1 - r0, nk, hs, 0);
            /* dS = P (dP - rowsum(P dP)) / sqrt(hs) */
            for (tt = r0; tt < r1; tt++) {
                const float *p = P + tt * T;
                float *g = G + tt * T, s = decar__dot(p, g, nk);
                decar__v vs = decar__vset1(s), vsc = decar__vset1(scale);
                for (t2 = 0; t2 + DECAR__VW <= nk; t2 += DECAR__VW) {
                    decar__v d = decar__vsub(decar__vload(g + t2), vs);
                    decar__vstore(g + t2, decar__vmul(decar__vmul(decar__vload(p + t2), d), vsc));
                }
                for (; t2 < nk; t2++) g[t2] = p[t2] * (g[t2] - s) * scale;
            }
            /* dQ += dS K */
            decar_gemm_ws(ws, dq + r0 * C3, C3, G + r0 * T, T, 1, k, C3, 1, NULL, r1 - r0, hs, nk, 1);
        }
        /* key blocks: only the queries at or after a key see it. dV += P^T dO, dK += dS^T Q */
        for (r0 = 0; r0 < T; r0 = r1) {
            int64_t q0 = causal ? r0 : 0;
            r1 = causal && r0 + rb < T ? r0 + rb : T;
            decar_gemm_ws(ws, dv + r0 * C3, C3, P + q0 * T + r0, 1, T, dO + q0 * C, C, 1, NULL, r1 - r0, hs, T - q0, 1);
            decar_gemm_ws(ws, dk + r0 * C3, C3, G + q0 * T + r0, 1, T, q + q0 * C3, C3, 1, NULL, r1 - r0, hs, T - q0,
                          1);
        }
    });
}
/* out[i, :] = table[ids[i], :];  table: (V, C); ids: (n); out: (n, C) */
DECARDEF void decar_embedding_forward(float *out, const float *table, const int32_t *ids, int64_t n, int64_t C) {
    int64_t i;
    DECAR__PAR_FOR(1, for (i = 0; i < n; i++) {
        memcpy(out + i * C, table + (int64_t)ids[i] * C, (size_t)C * sizeof(float));
    });
}
/* dtable[ids[i], :] += dout[i, :];  dout: (n, C); ids: (n); dtable: (V, C) */
DECARDEF void decar_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int64_t n, int64_t C) {
    int64_t j0;
    /* columns in strips of 64 over the threads: a repeated id is summed by one thread, in order */
    DECAR__PAR_FOR(C > 64, for (j0 = 0; j0 < C; j0 += 64) { /* one strip: no team */
        int64_t j, k, j1 = j0 + 64 < C ? j0 + 64 : C;
        for (k = 0; k < n; k++)
            for (j = j0; j < j1; j++) dtable[(int64_t)ids[k] * C + j] += dout[k * C + j];
    });
}
/* lse[r] = mx_r + log sum_{j < nc} exp(logits[r, j] - mx_r) (mx_r the row's largest class logit; the exps through
   the vector exp, each chunk of 256 summed in its lanes, the chunks' sums in double), nll[r] = lse[r] -
   logits[r, targets[r]] (0 where targets[r] < 0);  logits: (rows, V), the first nc columns the classes; targets,
   lse, nll: (rows) */
DECARDEF void decar_crossentropy_forward(float *lse, float *nll, const float *logits, const int32_t *targets,
                                         int64_t rows, int64_t V, int nc) {
    int64_t r;
    DECAR__PAR_FOR(1, for (r = 0; r < rows; r++) {
        const float *l = logits + r * V;
        float mx = decar__max_span(l, nc);
        double s = 0.0;
        int j;
        for (j = 0; j < nc; j += 256) {
            float e[256];
            s += decar__exp_span(e, l + j, mx, nc - j < 256 ? nc - j : 256);
        }
        lse[r] = mx + (float)log(s);
        nll[r] = targets[r] >= 0 ? lse[r] - l[targets[r]] : 0.0f;
    });
}
/* dlogits[r, j] (acc: += ; else =) dloss w_r / norm (exp(logits[r, j] - lse[r]) - [j = targets[r]]) for j < nc, on
   rows with targets[r] >= 0 (weights NULL: w_r = 1); without acc the rest of dlogits is set to zero (the autograd's
   first write of a fresh gradient: no memset before it);  logits, dlogits: (rows, V); lse, targets, weights: (rows) */
static void decar__ce_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                               const float *weights, float dloss, float norm, int64_t rows, int64_t V, int nc,
                               int acc) {
    int64_t r;
    DECAR__PAR_FOR(1, for (r = 0; r < rows; r++) {
        const float *l = logits + r * V;
        float *dl = dlogits + r * V;
        float coef, dt, et = 0.0f;
        int t = targets[r], j;
        if (!acc && t < 0) memset(dl, 0, (size_t)V * sizeof(float));
        if (t < 0) continue;
        if (!acc && nc < V) memset(dl + nc, 0, (size_t)(V - nc) * sizeof(float));
        coef = dloss * (weights ? weights[r] : 1.0f) / norm;
        dt = acc && t < nc ? dl[t] : 0.0f;
        /* the softmax in chunks of 256, through the vector exp: exp(l - lse); every class gains coef p_j, then the
           target's is set from its old value as coef (p_t - 1) (the same bits as subtracting 1 inside each term) */
        for (j = 0; j < nc; j += 256) {
            float e[256];
            int m = nc - j < 256 ? nc - j : 256, q;
            decar__exp_span(e, l + j, lse[r], m);
            if (acc)
                for (q = 0; q < m; q++) dl[j + q] += coef * e[q];
            else
                for (q = 0; q < m; q++) dl[j + q] = 0.0f + coef * e[q];
            if (t >= j && t < j + m) et = e[t - j];
        }
        if (t < nc) /* a target past the classes gets no term, as in the reference */
            dl[t] = dt + coef * (et - 1.0f);
    });
}
DECARDEF void decar_crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                          const float *weights, float dloss, float norm, int64_t rows, int64_t V,
                                          int nc) {
    decar__ce_backward(dlogits, logits, lse, targets, weights, dloss, norm, rows, V, nc, 1);
}
/* the Linear layer out = inp w^T + b backward:  dinp (+)= dout w,  dw += dout^T inp,  db += sum_rows dout;
   inp, dinp: (M, K); w, dw: (N, K); dout: (M, N); db: (N). accumulate = 0 overwrites dinp; any output may be NULL. */
DECARDEF void decar_matmul_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                    const float *w, int64_t M, int64_t K, int64_t N, int accumulate, decar_ws *ws) {
    if (dinp) decar_gemm_ws(ws, dinp, K, dout, N, 1, w, K, 1, NULL, M, K, N, accumulate); /* dx (+)= dout w */
    if (dw) decar_gemm_ws(ws, dw, K, dout, 1, N, inp, K, 1, NULL, N, K, M, 1);            /* dw += dout^T x */
    if (db) decar__col_sums(db, NULL, dout, NULL, NULL, M, N);                            /* db += column sums */
}

/* ---- 5c. plain references of the kernels of 4 and 5b (what the tests hold the fast paths to) --------------------- */
/* out[i, j] = b[j] + sum_k inp[i, k] w[j, k], summed in double;  inp: (M, K); w: (N, K); b: (N) or NULL;
   out: (M, N) */
DECARDEF void decar_matmul_forward_ref(float *out, const float *inp, const float *w, const float *b, int64_t M,
                                       int64_t K, int64_t N) {
    int64_t i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double s = b ? b[j] : 0.0;
            for (k = 0; k < K; k++) s += (double)inp[i * K + k] * w[j * K + k];
            out[i * N + j] = (float)s;
        }
}
/* dinp[i, k] += sum_j dout[i, j] w[j, k],  dw[j, k] += sum_i dout[i, j] inp[i, k],  db[j] += sum_i dout[i, j]
   (always accumulating; each may be NULL);  shapes as decar_matmul_backward's */
DECARDEF void decar_matmul_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                        const float *w, int64_t M, int64_t K, int64_t N) {
    int64_t i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            float g = dout[i * N + j];
            for (k = 0; dinp && k < K; k++) dinp[i * K + k] += g * w[j * K + k];
            for (k = 0; dw && k < K; k++) dw[j * K + k] += g * inp[i * K + k];
            if (db) db[j] += g;
        }
}
/* decar_layernorm_forward's equation, the mean and variance in double: out = (x - mean) rstd w + b per row;
   inp, out: (rows, C); w, b: (C); stats: (rows, 2) = (mean, rstd) */
DECARDEF void decar_layernorm_forward_ref(float *out, float *stats, const float *inp, const float *w, const float *b,
                                          int64_t rows, int64_t C) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        const float *x = inp + r * C;
        double m = 0, v = 0;
        float rs;
        for (j = 0; j < C; j++) m += x[j];
        m /= C;
        for (j = 0; j < C; j++) v += (x[j] - m) * (x[j] - m);
        v /= C;
        rs = (float)(1.0 / sqrt(v + 1e-5));
        for (j = 0; j < C; j++) out[r * C + j] = (float)((x[j] - m) * rs) * w[j] + b[j];
        stats[2 * r] = (float)m;
        stats[2 * r + 1] = rs;
    }
}
/* per row, s1 = mean_j(dy w), s2 = mean_j(dy w xh) in double: dinp += rstd (dy w - s1 - xh s2), dw += dy xh,
   db += dy;  dout, inp, dinp: (rows, C); w, dw, db: (C); stats: (rows, 2) */
DECARDEF void decar_layernorm_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                           const float *w, const float *stats, int64_t rows, int64_t C) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        const float *x = inp + r * C, *dy = dout + r * C;
        float m = stats[2 * r], rs = stats[2 * r + 1];
        double s1 = 0, s2 = 0;
        for (j = 0; j < C; j++) {
            float xh = (x[j] - m) * rs;
            s1 += dy[j] * w[j];
            s2 += dy[j] * w[j] * xh;
            if (dw) dw[j] += dy[j] * xh;
            if (db) db[j] += dy[j];
        }
        s1 /= C;
        s2 /= C;
        for (j = 0; dinp && j < C; j++) dinp[r * C + j] += (float)(rs * (dy[j] * w[j] - s1 - (x[j] - m) * rs * s2));
    }
}
/* out[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in double, with libm's tanh;  (n) each */
DECARDEF void decar_gelu_forward_ref(float *out, const float *inp, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
    }
}
/* dinp[i] += dout[i] gelu'(inp[i]) in double (gelu' as in decar_gelu_backward);  (n) each */
DECARDEF void decar_gelu_backward_ref(float *dinp, const float *inp, const float *dout, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) {
        double x = inp[i], s = 0.7978845608028654, th = tanh(s * (x + 0.044715 * x * x * x));
        double g = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * s * (1.0 + 3.0 * 0.044715 * x * x);
        dinp[i] += (float)(dout[i] * g);
    }
}
/* out[r, j] = exp(inp[r, j] - max_r) / sum_j' exp(inp[r, j'] - max_r) in double;  inp, out: (rows, C) */
DECARDEF void decar_softmax_forward_ref(float *out, const float *inp, int64_t rows, int64_t C) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        const float *x = inp + r * C;
        double mx = x[0], s = 0;
        for (j = 1; j < C; j++) mx = x[j] > mx ? x[j] : mx;
        for (j = 0; j < C; j++) s += exp(x[j] - mx);
        for (j = 0; j < C; j++) out[r * C + j] = (float)(exp(x[j] - mx) / s);
    }
}
/* dinp[r, j] += out[r, j] (dout[r, j] - sum_j' out[r, j'] dout[r, j']), the sum in double;  all (rows, C) */
DECARDEF void decar_softmax_backward_ref(float *dinp, const float *out, const float *dout, int64_t rows, int64_t C) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        double s = 0;
        for (j = 0; j < C; j++) s += (double)out[r * C + j] * dout[r * C + j];
        for (j = 0; j < C; j++) dinp[r * C + j] += (float)(out[r * C + j] * (dout[r * C + j] - s));
    }
}
/* one query at a time, in double: att[b, h, t, :] = softmax over the visible keys of q_t . k_t2 / sqrt(hs), zero
   past them; out[b, t, head h] = sum_t2 att[b, h, t, t2] v_t2;  qkv: (B, T, 3C); att: (B, NH, T, T); out: (B, T, C) */
DECARDEF void decar_attention_forward_ref(float *out, float *att, const float *qkv, int64_t B, int64_t T, int64_t C,
                                          int NH, int causal) {
    int64_t hs = C / NH, b, h, t, t2, i;
    for (b = 0; b < B; b++)
        for (h = 0; h < NH; h++)
            for (t = 0; t < T; t++) {
                const float *q = qkv + (b * T + t) * 3 * C + h * hs;
                float *p = att + ((b * NH + h) * T + t) * T;
                int64_t end = causal ? t + 1 : T;
                double mx = -INFINITY, s = 0;
                /* p = softmax over the visible keys of q . k / sqrt(hs); 0 past them */
                for (t2 = 0; t2 < T; t2++) {
                    const float *k = qkv + (b * T + t2) * 3 * C + C + h * hs;
                    double d = 0;
                    for (i = 0; i < hs; i++) d += (double)q[i] * k[i];
                    p[t2] = (float)(d / sqrt((double)hs));
                    if (t2 < end && p[t2] > mx) mx = p[t2];
                }
                for (t2 = 0; t2 < end; t2++) s += exp(p[t2] - mx);
                for (t2 = 0; t2 < T; t2++) p[t2] = t2 < end ? (float)(exp(p[t2] - mx) / s) : 0.0f;
                /* o = sum_t2 p[t2] v[t2] */
                for (i = 0; i < hs; i++) {
                    double o = 0;
                    for (t2 = 0; t2 < T; t2++) o += (double)p[t2] * qkv[(b * T + t2) * 3 * C + 2 * C + h * hs + i];
                    out[(b * T + t) * C + h * hs + i] = (float)o;
                }
            }
}
/* one query t at a time, in double: dp_t2 = dO_t . v_t2, ds_t2 = p_t2 (dp_t2 - sum p dp) / sqrt(hs);
   dq_t += ds_t2 k_t2, dk_t2 += ds_t2 q_t, dv_t2 += p_t2 dO_t;  dout: (B, T, C); qkv, dqkv: (B, T, 3C);
   att: (B, NH, T, T) */
DECARDEF void decar_attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *att,
                                           int64_t B, int64_t T, int64_t C, int NH, int causal) {
    int64_t hs = C / NH, b, h, t, t2, i;
    double sc = 1.0 / sqrt((double)hs);
    (void)causal; /* att is 0 at masked entries: their terms vanish */
    for (b = 0; b < B; b++)
        for (h = 0; h < NH; h++)
            for (t = 0; t < T; t++) {
                const float *p = att + ((b * NH + h) * T + t) * T, *dO = dout + (b * T + t) * C + h * hs;
                const float *q = qkv + (b * T + t) * 3 * C + h * hs;
                float *dq = dqkv + (b * T + t) * 3 * C + h * hs;
                double rs = 0;
                /* dp[t2] = dO . v[t2]; ds = p (dp - sum p dp) */
                for (t2 = 0; t2 < T; t2++) {
                    const float *v = qkv + (b * T + t2) * 3 * C + 2 * C + h * hs;
                    double dp = 0;
                    for (i = 0; i < hs; i++) dp += (double)dO[i] * v[i];
                    rs += p[t2] * dp;
                }
                for (t2 = 0; t2 < T; t2++) {
                    const float *k = qkv + (b * T + t2) * 3 * C + C + h * hs, *v = k + C;
                    float *dk = dqkv + (b * T + t2) * 3 * C + C + h * hs, *dv = dk + C;
                    double dp = 0, ds;
                    for (i = 0; i < hs; i++) dp += (double)dO[i] * v[i];
                    ds = p[t2] * (dp - rs) * sc;
                    for (i = 0; i < hs; i++) {
                        dq[i] += (float)(ds * k[i]);
                        dk[i] += (float)(ds * q[i]);
                        dv[i] += p[t2] * dO[i];
                    }
                }
            }
}
/* lse[r] = log sum_{j < nc} exp(logits[r, j]) in double (no max shift),
   nll[r] = lse[r] - logits[r, targets[r]] (0 where targets[r] < 0);  logits: (rows, V); targets, lse, nll: (rows) */
DECARDEF void decar_crossentropy_forward_ref(float *lse, float *nll, const float *logits, const int32_t *targets,
                                             int64_t rows, int64_t V, int nc) {
    int64_t r;
    int j;
    for (r = 0; r < rows; r++) {
        const float *l = logits + r * V;
        double s = 0;
        for (j = 0; j < nc; j++) s += exp((double)l[j]);
        lse[r] = (float)log(s);
        nll[r] = targets[r] >= 0 ? lse[r] - l[targets[r]] : 0.0f;
    }
}
/* dlogits[r, j] += dloss w_r / norm (exp(logits[r, j] - lse[r]) - [j = targets[r]]) in double, j < nc, rows with a
   target;  logits, dlogits: (rows, V); lse, targets, weights: (rows) */
DECARDEF void decar_crossentropy_backward_ref(float *dlogits, const float *logits, const float *lse,
                                              const int32_t *targets, const float *weights, float dloss, float norm,
                                              int64_t rows, int64_t V, int nc) {
    int64_t r;
    int j;
    for (r = 0; r < rows; r++) {
        double coef = (double)dloss * (weights ? weights[r] : 1.0f) / norm;
        if (targets[r] < 0) continue;
        for (j = 0; j < nc; j++)
            dlogits[r * V + j] += (float)(coef * (exp((double)logits[r * V + j] - lse[r]) - (j == targets[r])));
    }
}

/* ---- 5d. the backward pass: each op's backward through its kernels, then decar_backward -------------------------- */
/* add / mul with broadcasting: da += dout (add) or dout b (mul), reduced over a's broadcast dimensions */
static void decar__binary_backward(decar_ctx *c, decar_tensor *t, float *da, float *db, const float *dout) {
    decar_tensor *a = t->src[0], *b = t->src[1];
    int64_t shp[4], sa[4], sb[4], so[4];
    int nd;
    decar__bcast(c, a, b, &nd, shp, sa, sb);
    decar__contig_strides(shp, so);
    if (t->op == DECAR_OP_ADD) {
        if (da) decar__ew(da, sa, dout, so, NULL, NULL, shp, 2);
        if (db) decar__ew(db, sb, dout, so, NULL, NULL, shp, 2);
    } else {
        if (da) decar__ew(da, sa, dout, so, b->data, sb, shp, 3);
        if (db) decar__ew(db, sb, dout, so, a->data, sa, shp, 3);
    }
}
/* attention's backward with its (B, NH, T, T) scratch taken from the arena and handed back: one layer's worth */
static void decar__attention_backward_op(decar_ctx *c, decar_tensor *t, float *da, const float *dout) {
    decar_tensor *a = t->src[0];
    int64_t B = a->shape[0], T = a->shape[1], C = a->shape[2] / 3, nh = t->ip[0];
    float *dS = da ? decar__take(c, B * nh * T * T) : NULL;
    if (!dS) return;
    decar_attention_backward(da, dS, dout, a->data, (const float *)t->aux, B, T, C, (int)nh, t->ip[1], decar_ctx_ws(c));
    decar__give(c, dS, B * nh * T * T);
}
/* concat along time: each input takes its slice of dout */
static void decar__concat_backward(decar_tensor *t, float *da, float *db, const float *dout) {
    decar_tensor *a = t->src[0], *b = t->src[1];
    int64_t C = t->shape[2], na = a->shape[1] * C, nb = b->shape[1] * C, bb, k;
    for (bb = 0; bb < t->shape[0]; bb++) {
        const float *g = dout + bb * (na + nb);
        for (k = 0; da && k < na; k++) da[bb * na + k] += g[k];
        for (k = 0; db && k < nb; k++) db[bb * nb + k] += g[na + k];
    }
}
static void decar__scale_add(float *y, float s, const float *x, int64_t n) { /* y += s x: scale */
    int64_t i;
    for (i = 0; i < n; i++) y[i] += s * x[i];
}
static void decar__fill_add(float *x, float g, int64_t n) { /* x[i] += g: sum and mean */
    int64_t i;
    for (i = 0; i < n; i++) x[i] += g;
}
/* the backward pass of one op: d(inputs) += its kernel's backward, from t->grad (dout) and what the forward saved */
static void decar__backward_op(decar_ctx *c, decar_tensor *t) {
    decar_tensor *a = t->src[0], *b = t->src[1], *d = t->src[2];
    float *dout = t->grad, *da = decar__grad(c, a), *db = decar__grad(c, b), *dd = decar__grad(c, d);
    int64_t last = a ? a->shape[a->ndim - 1] : 1; /* the row length of row-wise ops */
    if (c->status) return;
    /* every op accumulates into its inputs' gradients, except where the first input's is fresh and the op writes
       it whole: the matmul's dx (a GEMM without accumulation), GELU's and the cross-entropy's (no memset first) */
    if (t->op != DECAR_OP_MATMUL && t->op != DECAR_OP_GELU && t->op != DECAR_OP_CROSS_ENTROPY) decar__settle(a);
    decar__settle(b);
    decar__settle(d);
    switch (t->op) {
        case DECAR_OP_LEAF:
        case DECAR_OP_VIEW: /* a view's grad aliases its source's */
            break;
        case DECAR_OP_MATMUL: /* x (M, K), w (N, K), b (N) */
            decar_matmul_backward(da, db, dd, dout, a->data, b->data, a->n / b->shape[1], b->shape[1], b->shape[0],
                                  !a->gfresh, decar_ctx_ws(c));
            if (da) a->gfresh = 0;
            break;
        case DECAR_OP_ADD:
        case DECAR_OP_MUL:
            decar__binary_backward(c, t, da, db, dout);
            break;
        case DECAR_OP_SCALE:
            if (da) decar__scale_add(da, t->fp[0], dout, t->n);
            break;
        case DECAR_OP_GELU:
            if (da) decar__gelu_par(da, a->data, dout, t->n, !a->gfresh);
            if (da) a->gfresh = 0;
            break;
        case DECAR_OP_LAYERNORM: /* x (rows, C), w (C), b (C); aux: (mean, rstd) per row */
            decar_layernorm_backward(da, db, dd, dout, a->data, b->data, (const float *)t->aux, a->n / last, last);
            break;
        case DECAR_OP_SOFTMAX:
            if (da) decar_softmax_backward(da, t->data, dout, a->n / last, last);
            break;
        case DECAR_OP_ATTENTION: /* qkv (B, T, 3C); aux: the probabilities (B, NH, T, T) */
            decar__attention_backward_op(c, t, da, dout);
            break;
        case DECAR_OP_EMBEDDING: /* table (V, C); aux: the ids */
            if (da) decar_embedding_backward(da, dout, (const int32_t *)t->aux, t->n / a->shape[1], a->shape[1]);
            break;
        case DECAR_OP_CROSS_ENTROPY: {
            const decar__ce *ce = (const decar__ce *)t->aux;
            if (da)
                decar__ce_backward(da, a->data, ce->lse, ce->tg, ce->w, dout[0], ce->norm, a->n / last, last, ce->nc,
                                   !a->gfresh);
            if (da) a->gfresh = 0;
            break;
        }
        case DECAR_OP_CONCAT:
            decar__concat_backward(t, da, db, dout);
            break;
        case DECAR_OP_ROWS: /* dx[idx[i]] += dy[i] (a row picked twice adds twice) */
            if (da) {
                const int64_t *idx = (const int64_t *)t->aux;
                int64_t i, C = t->shape[1];
                for (i = 0; i < t->shape[0]; i++) decar__scale_add(da + idx[i] * C, 1.0f, dout + i * C, C);
            }
            break;
        case DECAR_OP_L2NORM: /* dx += (dy - y (y . dy)) / ||x|| per row */
            if (da) {
                const float *nrm = (const float *)t->aux;
                int64_t r, j, rows = t->n / last;
                for (r = 0; r < rows; r++) {
                    const float *y = t->data + r * last, *dy = dout + r * last;
                    float yd = decar__dot(y, dy, last);
                    for (j = 0; j < last; j++) da[r * last + j] += (dy[j] - y[j] * yd) / nrm[r];
                }
            }
            break;
        case DECAR_OP_EXP: /* dx += dy exp(x) */
            if (da) {
                int64_t i;
                for (i = 0; i < t->n; i++) da[i] += dout[i] * t->data[i];
            }
            break;
        case DECAR_OP_SUM:
        case DECAR_OP_MEAN:
            if (da) decar__fill_add(da, t->op == DECAR_OP_MEAN ? dout[0] / (float)a->n : dout[0], a->n);
            break;
        default:
            decar__ctx_fail(c, DECAR_ERR_ARG, "backward: unknown op %d", t->op);
    }
}

/* reverse-mode autodiff over the tape: d loss / d loss = 1, then for every tensor in reverse creation order that
   lies on a path to the loss (need), its op's backward adds into its inputs' gradients (decar__backward_op) */
DECARDEF int decar_backward(decar_ctx *c, decar_tensor *loss) {
    decar_tensor **tape, *t;
    int64_t i;
    if (!decar__ok(c, loss)) return c->status ? c->status : DECAR_ERR_ARG;
    if (loss->n != 1) {
        decar__ctx_fail(c, DECAR_ERR_ARG, "backward: the loss must have one element, not %lld", (long long)loss->n);
        return c->status;
    }
    if (!loss->requires_grad) {
        decar__ctx_fail(c, DECAR_ERR_ARG,
                        "backward: the loss depends on no tensor that requires grad (did you make "
                        "the parameters with decar_param, or pass a grad buffer to decar_wrap?)");
        return c->status;
    }
    tape = (decar_tensor **)decar_ctx_alloc(c, (size_t)c->n_tape * sizeof(decar_tensor *));
    if (!tape) return c->status;
    for (t = c->head, i = 0; t; t = t->next) {
        t->need = 0;
        tape[i++] = t;
    }
    if (!decar__grad(c, loss)) return c->status;
    decar__settle(loss);
    loss->grad[0] += 1.0f;
    loss->need = 1;
    for (i = loss->id; i >= 0 && !c->status; i--) {
        int s;
        t = tape[i];
        if (!t->need || !t->requires_grad) continue;
        decar__backward_op(c, t);
        for (s = 0; s < 3; s++)
            if (t->src[s]) t->src[s]->need = 1;
        if (t->op != DECAR_OP_LEAF && t->op != DECAR_OP_VIEW && t->grad) {
            /* nothing reads this gradient again (views of t came later on the tape, so they are done): recycle it.
               Training then holds about one layer of activation gradients, not all of them */
            decar__give(c, t->grad, t->n);
            t->grad = NULL;
        }
    }
    return c->status;
}

/* ---- 6. data: lists of names (document lists, expert manifests) -------------------------------------------------- */
DECARDEF int decar_list_parse(const char *text, size_t len, char sep, char ***items, int *n, decar_error *e) {
    size_t i, start = 0, count = 0, end = len;
    char **out, *str;
    int k = 0;
    *items = NULL;
    *n = 0;
    for (i = 0; i < len; i++)
        if (text[i] == 0)
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "list: a NUL byte at offset %lu (not a text file?)", (unsigned long)i);
    /* a blank tail (final newlines, spaces) ends the list; a blank entry before it is an error */
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ' ||
                       text[end - 1] == '\t' || text[end - 1] == sep))
        end--;
    if (end == 0) DECAR__FAIL(e, DECAR_ERR_FORMAT, "list: no entries");
    for (i = 0; i < end; i++)
        if (text[i] == sep || (sep != '\n' && text[i] == '\n')) count++;
    count++;
    if (count > 0x7fffffff) DECAR__FAIL(e, DECAR_ERR_FORMAT, "list: too many entries");
    /* one block: count pointers, then the strings (each at most its source length + NUL) */
    out = (char **)DECAR_MALLOC(count * sizeof(char *) + end + count);
    if (!out) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a list of %lu entries", (unsigned long)count);
    str = (char *)(out + count);
    for (i = 0; i <= end; i++) {
        if (i < end && text[i] != sep && !(sep != '\n' && text[i] == '\n')) continue;
        {
            size_t a = start, b = i;
            while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++; /* trim both ends */
            while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
            if (a == b) {
                DECAR_FREE(out);
                DECAR__FAIL(e, DECAR_ERR_FORMAT,
                            "list: entry %d is empty (a blank line or two separators in a row): "
                            "entries are positional, remove it or write '-' for a missing one",
                            k + 1);
            }
            memcpy(str, text + a, b - a);
            str[b - a] = 0;
            out[k++] = str;
            str += b - a + 1;
        }
        start = i + 1;
    }
    *items = out;
    *n = k;
    return DECAR_OK;
}
/* ---- 6b. tokenizer: byte-level BPE ----------------------------------------------------------------------------------
   GPT-2's scheme: text is cut into pre-tokens (contractions, an optional space + a run of letters, digits or other
   symbols, whitespace), each pre-token starts as its bytes and the merges are applied in rank order. Letters are ASCII
   letters and every byte >= 0x80 (so UTF-8 text stays in words); GPT-2's regex uses Unicode classes, which differ
   only on non-ASCII punctuation and digits. Files are GPT-2's: vocab.json maps each token (bytes written through
   GPT-2's byte-to-unicode table) to its id, merges.txt lists the merges in rank order; "<|endoftext|>" is the
   end-of-document token. A model's vocabulary is the tokenizer's tokens plus one: the last id is the DFM mask. */
static int decar__isalpha8(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
static int decar__isdigit8(uint8_t c) {
    return c >= '0' && c <= '9';
}
static int decar__isspace8(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
/* the end of the pre-token that starts at s[i] (GPT-2's pattern, see above) */
static int64_t decar__pretoken_end(const uint8_t *s, int64_t n, int64_t i) {
    int64_t j = i;
    if (s[i] == '\'' && i + 1 < n) { /* 's 't 'm 'd 're 've 'll */
        uint8_t a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    if (decar__isspace8(s[i])) {
        while (j < n && decar__isspace8(s[j])) j++;
        if (j < n && j - i > 1) return j - 1; /* the last space goes with the next word */
        if (j < n && s[i] == ' ')
            j = i + 1; /* " word": the space is the word's prefix */
        else
            return j;
    }
    if (j >= n) return j;
    if (decar__isalpha8(s[j])) {
        while (j < n && decar__isalpha8(s[j])) j++;
    } else if (decar__isdigit8(s[j])) {
        while (j < n && decar__isdigit8(s[j])) j++;
    } else if (!decar__isspace8(s[j])) {
        while (j < n && !decar__isspace8(s[j]) && !decar__isalpha8(s[j]) && !decar__isdigit8(s[j])) j++;
    }
    return j > i ? j : i + 1;
}
static uint64_t decar__pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}
/* the merge table: open addressing, pair -> rank */
static int decar__tok_index(decar_tokenizer *t) {
    int64_t cap = 16, r;
    while (cap < 2 * (int64_t)t->n_merges + 16) cap *= 2;
    decar__free(t->ht_key);
    decar__free(t->ht_val);
    t->ht_key = (uint64_t *)DECAR_MALLOC((size_t)cap * sizeof(uint64_t));
    t->ht_val = (int32_t *)DECAR_MALLOC((size_t)cap * sizeof(int32_t));
    if (!t->ht_key || !t->ht_val) return DECAR_ERR_NOMEM;
    t->ht_cap = cap;
    for (r = 0; r < cap; r++) t->ht_val[r] = -1;
    for (r = 0; r < t->n_merges; r++) {
        uint64_t k = decar__pair_key(t->ma[r], t->mb[r]);
        int64_t h = (int64_t)(decar__mix64(k) & (uint64_t)(cap - 1));
        while (t->ht_val[h] >= 0 && t->ht_key[h] != k) h = (h + 1) & (cap - 1);
        if (t->ht_val[h] < 0) {
            t->ht_key[h] = k;
            t->ht_val[h] = (int32_t)r;
        } /* a repeated pair keeps its first rank */
    }
    return DECAR_OK;
}
static int32_t decar__tok_rank(const decar_tokenizer *t, int32_t a, int32_t b) {
    uint64_t k = decar__pair_key(a, b);
    int64_t h = (int64_t)(decar__mix64(k) & (uint64_t)(t->ht_cap - 1));
    while (t->ht_val[h] >= 0) {
        if (t->ht_key[h] == k) return t->ht_val[h];
        h = (h + 1) & (t->ht_cap - 1);
    }
    return -1;
}
/* ids[0..n) of one pre-token: its bytes, then the lowest-rank adjacent pair merged until none is left; returns n */
static int64_t decar__bpe_word(const decar_tokenizer *t, const uint8_t *w, int64_t len, int32_t *ids) {
    int64_t n = len, i;
    for (i = 0; i < len; i++) ids[i] = t->byte_id[w[i]];
    for (;;) {
        int32_t best = -1;
        int64_t at = -1;
        for (i = 0; i + 1 < n; i++) {
            int32_t r = decar__tok_rank(t, ids[i], ids[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                at = i;
            }
        }
        if (best < 0) return n;
        ids[at] = t->mo[best];
        for (i = at + 1; i + 1 < n; i++) ids[i] = ids[i + 1];
        n--;
    }
}
DECARDEF int64_t decar_tokenizer_encode(const decar_tokenizer *t, const uint8_t *text, int64_t len, int32_t *ids) {
    int64_t i = 0, n = 0;
    while (i < len) {
        int64_t j = decar__pretoken_end(text, len, i);
        n += decar__bpe_word(t, text + i, j - i, ids + n);
        i = j;
    }
    return n;
}
DECARDEF int decar_tokenizer_decode(const decar_tokenizer *t, int32_t id, const uint8_t **bytes) {
    if (id < 0 || id >= t->n_tokens || id == t->eot) {
        *bytes = t->blob;
        return 0;
    } /* empty, never NULL */
    *bytes = t->blob + t->off[id];
    return (int)(t->off[id + 1] - t->off[id]);
}
DECARDEF void decar_tokenizer_free(decar_tokenizer *t) {
    decar__free_n(7, (void *)t->blob, (void *)t->off, (void *)t->ma, (void *)t->mb, (void *)t->mo, (void *)t->ht_key,
                  (void *)t->ht_val);
    memset(t, 0, sizeof *t);
}
static void decar__tok_fingerprint(decar_tokenizer *t) {
    uint64_t h = decar_hash64(t->blob, (size_t)t->off[t->n_tokens], 11);
    h = decar_hash64(t->off, (size_t)(t->n_tokens + 1) * sizeof(int64_t), h);
    h = decar_hash64(t->ma, (size_t)t->n_merges * sizeof(int32_t), h);
    h = decar_hash64(t->mb, (size_t)t->n_merges * sizeof(int32_t), h);
    t->fingerprint = decar_hash64(&t->eot, sizeof t->eot, h);
}

/* Training (Sennrich et al.'s BPE on pre-tokens, as GPT-2): distinct pre-tokens with their counts, then repeatedly
   the most frequent adjacent pair (ties: the smaller pair of ids) becomes a new token. Ids: 0-255 the bytes, then the
   merges, then <|endoftext|>. Counting is over the distinct pre-tokens, so the cost per merge is their total length. */
typedef struct decar__word {
    int64_t count;
    int32_t *ids;
    int n;
} decar__word;
/* Byte-level BPE (GPT-2's): start from the 256 bytes; repeatedly count every adjacent pair of tokens inside the
   pre-tokens (words, numbers, punctuation runs, each with its leading space), weighted by how often each distinct
   pre-token occurs, and merge the most frequent pair (ties: the smaller pair of ids) into a new token:
   vocab_size - 257 merges (fewer when no pair occurs twice), then EOT. The pairs are recounted over the distinct
   pre-tokens at every merge. */
DECARDEF int decar_tokenizer_train(decar_tokenizer *t, const decar_doc *docs, int n_docs, int vocab_size,
                                   decar_error *e) {
    int64_t cap = 1 << 16, n_words = 0, i, total = 0;
    uint64_t *wkey = NULL;
    int64_t *widx = NULL;
    decar__word *words = NULL;
    int64_t words_cap = 0, pc = 16;
    uint64_t *pk = NULL;
    int64_t *pv = NULL;
    int n_merges = vocab_size - 257, d, r, rc = DECAR_OK;
    memset(t, 0, sizeof *t);
    if (vocab_size < 257 || vocab_size > (1 << 20))
        DECAR__FAIL(e, DECAR_ERR_ARG, "BPE vocabulary %d outside [257, 2^20]", vocab_size);
    wkey = (uint64_t *)DECAR_MALLOC((size_t)cap * sizeof(uint64_t));
    widx = (int64_t *)DECAR_MALLOC((size_t)cap * sizeof(int64_t));
    if (!wkey || !widx) {
        rc = DECAR_ERR_NOMEM;
        goto fail;
    }
    for (i = 0; i < cap; i++) widx[i] = -1;
    /* 1. distinct pre-tokens (hashed by their bytes; a 64-bit hash collision merges two words' counts, harmlessly) */
    for (d = 0; d < n_docs; d++) {
        const uint8_t *s = docs[d].bytes;
        int64_t n = docs[d].len, a = 0;
        while (a < n) {
            int64_t b = decar__pretoken_end(s, n, a), h;
            uint64_t k = decar_hash64(s + a, (size_t)(b - a), 3);
            if (2 * n_words >= cap) { /* grow and rehash */
                int64_t nc = cap * 2, q;
                uint64_t *nk = (uint64_t *)DECAR_MALLOC((size_t)nc * sizeof(uint64_t));
                int64_t *ni = (int64_t *)DECAR_MALLOC((size_t)nc * sizeof(int64_t));
                if (!nk || !ni) {
                    decar__free(nk);
                    decar__free(ni);
                    rc = DECAR_ERR_NOMEM;
                    goto fail;
                }
                for (q = 0; q < nc; q++) ni[q] = -1;
                for (q = 0; q < cap; q++)
                    if (widx[q] >= 0) {
                        int64_t g = (int64_t)(decar__mix64(wkey[q]) & (uint64_t)(nc - 1));
                        while (ni[g] >= 0) g = (g + 1) & (nc - 1);
                        nk[g] = wkey[q];
                        ni[g] = widx[q];
                    }
                DECAR_FREE(wkey);
                DECAR_FREE(widx);
                wkey = nk;
                widx = ni;
                cap = nc;
            }
            h = (int64_t)(decar__mix64(k) & (uint64_t)(cap - 1));
            while (widx[h] >= 0 && wkey[h] != k) h = (h + 1) & (cap - 1);
            if (widx[h] < 0) {
                decar__word *w;
                if (n_words == words_cap) {
                    int64_t nc = words_cap ? 2 * words_cap : 4096;
                    decar__word *nw = (decar__word *)DECAR_REALLOC(words, (size_t)nc * sizeof *nw);
                    if (!nw) {
                        rc = DECAR_ERR_NOMEM;
                        goto fail;
                    }
                    words = nw;
                    words_cap = nc;
                }
                w = &words[n_words];
                w->count = 0;
                w->n = (int)(b - a);
                w->ids = (int32_t *)DECAR_MALLOC((size_t)(b - a) * sizeof(int32_t));
                if (!w->ids) {
                    rc = DECAR_ERR_NOMEM;
                    goto fail;
                }
                for (i = 0; i < b - a; i++) w->ids[i] = s[a + i];
                wkey[h] = k;
                widx[h] = n_words++;
                total += b - a;
            }
            words[widx[h]].count++;
            a = b;
        }
    }
    /* 2. merges: count pairs over the distinct words, take the most frequent, apply it everywhere */
    t->ma = (int32_t *)DECAR_MALLOC((size_t)(n_merges > 0 ? n_merges : 1) * sizeof(int32_t));
    t->mb = (int32_t *)DECAR_MALLOC((size_t)(n_merges > 0 ? n_merges : 1) * sizeof(int32_t));
    t->mo = (int32_t *)DECAR_MALLOC((size_t)(n_merges > 0 ? n_merges : 1) * sizeof(int32_t));
    if (!t->ma || !t->mb || !t->mo) {
        rc = DECAR_ERR_NOMEM;
        goto fail;
    }
    /* the pair-count table, sized once: the words only shrink as merges apply */
    while (pc < 2 * total + 16) pc *= 2;
    pk = (uint64_t *)DECAR_MALLOC((size_t)pc * sizeof(uint64_t));
    pv = (int64_t *)DECAR_MALLOC((size_t)pc * sizeof(int64_t));
    if (!pk || !pv) {
        rc = DECAR_ERR_NOMEM;
        goto fail;
    }
    for (r = 0; r < n_merges; r++) {
        int64_t q, best = -1;
        for (q = 0; q < pc; q++) pv[q] = 0;
        for (q = 0; q < n_words; q++) {
            const decar__word *w = &words[q];
            for (i = 0; i + 1 < w->n; i++) {
                uint64_t k = decar__pair_key(w->ids[i], w->ids[i + 1]);
                int64_t h = (int64_t)(decar__mix64(k) & (uint64_t)(pc - 1));
                while (pv[h] > 0 && pk[h] != k) h = (h + 1) & (pc - 1);
                pk[h] = k;
                pv[h] += w->count;
                if (best < 0 || pv[h] > pv[best] || (pv[h] == pv[best] && pk[h] < pk[best])) best = h;
            }
        }
        if (best < 0 || pv[best] < 2) break; /* nothing left worth a token */
        t->ma[r] = (int32_t)(pk[best] >> 32);
        t->mb[r] = (int32_t)(pk[best] & 0xffffffffu);
        t->mo[r] = 256 + r;
        for (q = 0; q < n_words; q++) { /* apply the merge, left to right */
            decar__word *w = &words[q];
            int o = 0;
            for (i = 0; i < w->n; i++) {
                if (i + 1 < w->n && w->ids[i] == t->ma[r] && w->ids[i + 1] == t->mb[r]) {
                    w->ids[o++] = t->mo[r];
                    i++;
                } else
                    w->ids[o++] = w->ids[i];
            }
            total -= w->n - o;
            w->n = o;
        }
    }
    t->n_merges = r;
    /* 3. the tokens' bytes: bytes, then each merge's two halves, then <|endoftext|> (no bytes) */
    t->n_tokens = 256 + t->n_merges + 1;
    t->eot = 256 + t->n_merges;
    t->off = (int64_t *)DECAR_MALLOC((size_t)(t->n_tokens + 1) * sizeof(int64_t));
    if (!t->off) {
        rc = DECAR_ERR_NOMEM;
        goto fail;
    }
    t->off[0] = 0;
    for (i = 0; i < 256; i++) t->off[i + 1] = i + 1;
    for (r = 0; r < t->n_merges; r++)
        t->off[257 + r] =
            t->off[256 + r] + (t->off[t->ma[r] + 1] - t->off[t->ma[r]]) + (t->off[t->mb[r] + 1] - t->off[t->mb[r]]);
    t->off[t->n_tokens] = t->off[t->n_tokens - 1];
    t->blob = (uint8_t *)DECAR_MALLOC((size_t)t->off[t->n_tokens] + 1);
    if (!t->blob) {
        rc = DECAR_ERR_NOMEM;
        goto fail;
    }
    for (i = 0; i < 256; i++) t->blob[i] = (uint8_t)i;
    for (r = 0; r < t->n_merges; r++) {
        int64_t la = t->off[t->ma[r] + 1] - t->off[t->ma[r]], lb = t->off[t->mb[r] + 1] - t->off[t->mb[r]];
        memcpy(t->blob + t->off[256 + r], t->blob + t->off[t->ma[r]], (size_t)la);
        memcpy(t->blob + t->off[256 + r] + la, t->blob + t->off[t->mb[r]], (size_t)lb);
    }
    for (i = 0; i < 256; i++) t->byte_id[i] = (int32_t)i;
    if ((rc = decar__tok_index(t))) goto fail;
    decar__tok_fingerprint(t);
    goto done;
fail:
    decar_tokenizer_free(t);
    if (rc == DECAR_ERR_NOMEM) decar__seterr(e, rc, "no memory for BPE training");
done:
    for (i = 0; i < n_words; i++) decar__free(words[i].ids);
    decar__free_n(5, (void *)words, (void *)wkey, (void *)widx, (void *)pk, (void *)pv);
    return rc;
}

/* GPT-2's byte <-> unicode table: printable bytes (33-126, 161-172, 174-255) stand for themselves, the other 68
   (0-32, 127-160, 173) for code points 256, 257, ... in byte order */
static int decar__printable(int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}
static int decar__u2b(int u) { /* -1: not a code point of the table */
    int n = u - 256;
    if (u < 256) return decar__printable(u) ? u : -1;
    return n <= 32 ? n : n <= 66 ? 127 + (n - 33) : n == 67 ? 173 : -1;
}
/* one code point from UTF-8 at s[0..n): its value, its length in *len; -1 if malformed */
static int decar__utf8_get(const uint8_t *s, int64_t n, int *len) {
    if (n >= 1 && s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (n >= 2 && (s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
        *len = 2;
        return ((s[0] & 31) << 6) | (s[1] & 63);
    }
    if (n >= 3 && (s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        *len = 3;
        return ((s[0] & 15) << 12) | ((s[1] & 63) << 6) | (s[2] & 63);
    }
    return -1;
}
#ifndef DECAR_NO_STDIO
static int decar__b2u(int b) {
    if (decar__printable(b)) return b;
    return 256 + (b <= 32 ? b : b <= 160 ? 33 + (b - 127) : 67);
}
static int decar__utf8_put(uint8_t *o, int u) {
    if (u < 0x80) {
        o[0] = (uint8_t)u;
        return 1;
    }
    if (u < 0x800) {
        o[0] = (uint8_t)(0xc0 | (u >> 6));
        o[1] = (uint8_t)(0x80 | (u & 63));
        return 2;
    }
    o[0] = (uint8_t)(0xe0 | (u >> 12));
    o[1] = (uint8_t)(0x80 | ((u >> 6) & 63));
    o[2] = (uint8_t)(0x80 | (u & 63));
    return 3;
}
DECARDEF int decar_tokenizer_save(const decar_tokenizer *t, const char *dir, decar_error *e) {
    static const char *const name[2] = { "vocab.json", "merges.txt" };
    decar__sb v, m;
    const void *bufs[2];
    size_t lens[2];
    int32_t i;
    int rc;
    uint8_t u[4];
    memset(&v, 0, sizeof v);
    memset(&m, 0, sizeof m);
    decar__sb_str(&v, "{");
    for (i = 0; i < t->n_tokens; i++) {
        int64_t q;
        decar__sb_str(&v, i ? ", \"" : "\"");
        if (i == t->eot)
            decar__sb_str(&v, "<|endoftext|>");
        else
            for (q = t->off[i]; q < t->off[i + 1]; q++) {
                int c = decar__b2u(t->blob[q]);
                if (c == '"' || c == '\\') decar__sb_put(&v, "\\", 1);
                decar__sb_put(&v, (const char *)u, (size_t)decar__utf8_put(u, c));
            }
        decar__sb_str(&v, "\": ");
        decar__sb_u64(&v, (uint64_t)i);
    }
    decar__sb_str(&v, "}\n");
    decar__sb_str(&m, "#version: 0.2\n");
    for (i = 0; i < t->n_merges; i++) {
        int side, q;
        for (side = 0; side < 2; side++) {
            int32_t id = side ? t->mb[i] : t->ma[i];
            for (q = (int)t->off[id]; q < t->off[id + 1]; q++)
                decar__sb_put(&m, (const char *)u, (size_t)decar__utf8_put(u, decar__b2u(t->blob[q])));
            decar__sb_str(&m, side ? "\n" : " ");
        }
    }
    if (v.oom || m.oom) {
        decar__free(v.p);
        decar__free(m.p);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    }
    bufs[0] = v.p;
    bufs[1] = m.p;
    lens[0] = v.n;
    lens[1] = m.n;
    rc = decar__write_two(dir, name, bufs, lens, e);
    DECAR_FREE(v.p);
    DECAR_FREE(m.p);
    return rc;
}
#endif
/* the token whose bytes are s[0..n), via the byte-string index (id or -1) */
static int32_t decar__tok_lookup(const decar_tokenizer *t, const int32_t *idx, int64_t cap, const uint8_t *s,
                                 int64_t n) {
    int64_t h = (int64_t)(decar_hash64(s, (size_t)n, 5) & (uint64_t)(cap - 1));
    while (idx[h] >= 0) {
        int32_t id = idx[h];
        if (t->off[id + 1] - t->off[id] == n && !memcmp(t->blob + t->off[id], s, (size_t)n)) return id;
        h = (h + 1) & (cap - 1);
    }
    return -1;
}
/* a JSON string at j->p (after its opening quote) as GPT-2 bytes: every code point mapped back through the table.
   Returns its length, -1 if malformed or a code point is not a byte's; *special = 1 for "<|endoftext|>". */
static int64_t decar__tok_jstr(decar__js *j, uint8_t *out, int64_t cap, int *special) {
    const char *start = j->p;
    int64_t n = 0;
    int bad = 0;
    while (j->p < j->end && *j->p != '"') {
        int u, len = 1, b;
        if (*j->p == '\\') {
            char c;
            if (j->end - j->p < 2) return -1;
            c = j->p[1];
            if (c == 'u') {
                int k;
                if (j->end - j->p < 6) return -1;
                u = 0;
                for (k = 2; k < 6; k++) {
                    char x = j->p[k];
                    u <<= 4;
                    if (x >= '0' && x <= '9')
                        u |= x - '0';
                    else if (x >= 'a' && x <= 'f')
                        u |= x - 'a' + 10;
                    else if (x >= 'A' && x <= 'F')
                        u |= x - 'A' + 10;
                    else
                        return -1;
                }
                len = 6;
            } else {
                u = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
                if (c != '"' && c != '\\' && c != '/' && c != 'n' && c != 't' && c != 'r' && c != 'b' && c != 'f')
                    return -1;
                len = 2;
            }
        } else if ((u = decar__utf8_get((const uint8_t *)j->p, j->end - j->p, &len)) < 0)
            return -1;
        j->p += len;
        b = decar__u2b(u);
        if (b < 0)
            bad = 1;
        else if (n < cap)
            out[n++] = (uint8_t)b;
        else
            return -1;
    }
    if (j->p >= j->end) return -1;
    *special = (j->p - start == 13 && !memcmp(start, "<|endoftext|>", 13));
    j->p++;
    return bad && !*special ? -1 : n;
}
/* Reading GPT-2's tokenizer files, in passes (decar_tokenizer_load_mem runs them in order; each returns a status and
   says why in e; what they allocate in t is freed by the caller on failure).
   vocab.json, read twice: pass 0 counts the entries and their bytes, then allocates; pass 1 puts each key's bytes into
   t->blob in file order, with ids[id] = its entry and lens[entry] = its length (-1 for "<|endoftext|>", whose id
   becomes t->eot). tmp holds one decoded key. */
static int decar__tok_read_vocab(decar_tokenizer *t, const char *vocab, size_t vocab_len, uint8_t *tmp,
                                 int32_t **ids_out, int64_t **lens_out, int64_t *n_out, int64_t *blob_out,
                                 decar_error *e) {
    decar__js j;
    int64_t i, n_entries = 0, blob_len = 0;
    int32_t *ids = NULL;
    int64_t *lens = NULL;
    int rc = DECAR_OK, pass;
    for (pass = 0; pass < 2 && !rc; pass++) {
        int64_t k = 0, bl = 0;
        j.p = vocab;
        j.end = vocab + vocab_len;
        if (!decar__js_ch(&j, '{')) {
            rc = DECAR_ERR_FORMAT;
            break;
        }
        if (decar__js_ch(&j, '}')) {
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "vocab.json has no tokens");
            break;
        }
        for (;;) {
            int special = 0;
            int64_t len, id;
            if (!decar__js_ch(&j, '"') || (len = decar__tok_jstr(&j, tmp, (int64_t)vocab_len, &special)) < 0 ||
                !decar__js_ch(&j, ':')) {
                rc = DECAR_ERR_FORMAT;
                break;
            }
            /* a negative id is a valid JSON number but never a token id: say so, not "not a JSON object" */
            if (decar__js_ch(&j, '-')) {
                rc = DECAR_ERR_FORMAT;
                decar__seterr(e, rc, "vocab.json: entry %lld has a negative id (ids must be 0 or more)",
                              (long long)k + 1);
                break;
            }
            if (decar__js_int(&j, &id)) {
                rc = DECAR_ERR_FORMAT;
                decar__seterr(e, rc, "vocab.json: entry %lld's id is not a whole number", (long long)k + 1);
                break;
            }
            if (pass == 1) {
                if (id < 0 || id >= n_entries || ids[id] >= 0) {
                    rc = DECAR_ERR_FORMAT;
                    decar__seterr(e, rc,
                                  "vocab.json: id %lld is out of range or repeated (ids must be 0..%lld, once each)",
                                  (long long)id, (long long)n_entries - 1);
                    break;
                }
                ids[id] = (int32_t)k;
                lens[k] = special ? -1 : len;
                if (special)
                    t->eot = (int32_t)id;
                else
                    memcpy(t->blob + bl, tmp, (size_t)len);
            }
            bl += special ? 0 : len;
            k++;
            if (decar__js_ch(&j, '}')) break;
            if (!decar__js_ch(&j, ',')) {
                rc = DECAR_ERR_FORMAT;
                break;
            }
        }
        if (rc) break;
        if (pass == 0) {
            n_entries = k;
            blob_len = bl;
            if (n_entries < 256 || n_entries > (1 << 24)) {
                rc = DECAR_ERR_FORMAT;
                decar__seterr(e, rc, "vocab.json has %lld tokens", (long long)n_entries);
                break;
            }
            ids = *ids_out = (int32_t *)DECAR_MALLOC((size_t)n_entries * sizeof(int32_t));
            lens = *lens_out = (int64_t *)DECAR_MALLOC((size_t)n_entries * sizeof(int64_t));
            t->blob = (uint8_t *)DECAR_MALLOC((size_t)blob_len + 1);
            t->off = (int64_t *)DECAR_MALLOC((size_t)(n_entries + 1) * sizeof(int64_t));
            if (!ids || !lens || !t->blob || !t->off) {
                rc = DECAR_ERR_NOMEM;
                decar__seterr(e, rc, "no memory");
                break;
            }
            for (i = 0; i < n_entries; i++) ids[i] = -1;
        }
    }
    if (rc == DECAR_ERR_FORMAT && !strstr(e ? e->msg : "", "vocab.json"))
        decar__seterr(e, rc, "vocab.json is not a JSON object of token: id");
    *n_out = n_entries;
    *blob_out = blob_len;
    return rc;
}
/* the entries in id order: t->blob was filled in file order; token i's bytes become blob[off[i] .. off[i + 1]) */
static int decar__tok_order_by_id(decar_tokenizer *t, const int32_t *ids, const int64_t *lens, int64_t n_entries,
                                  int64_t blob_len, decar_error *e) {
    uint8_t *blob = (uint8_t *)DECAR_MALLOC((size_t)blob_len + 1);
    int64_t *src = (int64_t *)DECAR_MALLOC((size_t)(n_entries + 1) * sizeof(int64_t)), i;
    if (!blob || !src) {
        decar__free(blob);
        decar__free(src);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    }
    src[0] = 0;
    for (i = 0; i < n_entries; i++) src[i + 1] = src[i] + (lens[i] > 0 ? lens[i] : 0); /* file order */
    t->n_tokens = (int)n_entries;
    t->off[0] = 0;
    for (i = 0; i < n_entries; i++) {
        int64_t k = ids[i], l = lens[k] > 0 ? lens[k] : 0;
        memcpy(blob + t->off[i], t->blob + src[k], (size_t)l);
        t->off[i + 1] = t->off[i] + l;
    }
    DECAR_FREE(t->blob);
    DECAR_FREE(src);
    t->blob = blob;
    return DECAR_OK;
}
/* the byte-string index *idx_out (*cap_out slots, a power of two at least twice the tokens; open addressing on
   decar_hash64): every token but EOT is non-empty and unlike the others; then t->byte_id, all 256 bytes tokens */
static int decar__tok_index_bytes(decar_tokenizer *t, int32_t **idx_out, int64_t *cap_out, decar_error *e) {
    int64_t cap = 16, i, n_entries = t->n_tokens;
    int32_t *idx;
    while (cap < 2 * n_entries) cap *= 2;
    idx = *idx_out = (int32_t *)DECAR_MALLOC((size_t)cap * sizeof(int32_t));
    *cap_out = cap;
    if (!idx) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    for (i = 0; i < cap; i++) idx[i] = -1;
    for (i = 0; i < n_entries; i++) {
        int64_t l = t->off[i + 1] - t->off[i], h;
        if (i == t->eot) continue;
        if (l == 0 || decar__tok_lookup(t, idx, cap, t->blob + t->off[i], l) >= 0)
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "vocab.json: token %lld is empty or repeats another token's bytes",
                        (long long)i);
        h = (int64_t)(decar_hash64(t->blob + t->off[i], (size_t)l, 5) & (uint64_t)(cap - 1));
        while (idx[h] >= 0) h = (h + 1) & (cap - 1);
        idx[h] = (int32_t)i;
    }
    for (i = 0; i < 256; i++) {
        uint8_t b = (uint8_t)i;
        if ((t->byte_id[i] = decar__tok_lookup(t, idx, cap, &b, 1)) < 0)
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "vocab.json has no token for byte %d (a byte-level BPE has all 256)",
                        (int)i);
    }
    return DECAR_OK;
}
/* merges.txt: a "#version" line, then "A B" per line in rank order, A, B and AB tokens (found through the index):
   t->ma, t->mb, t->mo by rank, t->n_merges. tmp holds one line's bytes. */
static int decar__tok_read_merges(decar_tokenizer *t, const char *merges, size_t merges_len, const int32_t *idx,
                                  int64_t cap, uint8_t *tmp, decar_error *e) {
    int64_t lines = 0, a = 0, r = 0, i;
    for (i = 0; i < (int64_t)merges_len; i++) lines += merges[i] == '\n';
    t->ma = (int32_t *)DECAR_MALLOC((size_t)(lines + 1) * sizeof(int32_t));
    t->mb = (int32_t *)DECAR_MALLOC((size_t)(lines + 1) * sizeof(int32_t));
    t->mo = (int32_t *)DECAR_MALLOC((size_t)(lines + 1) * sizeof(int32_t));
    if (!t->ma || !t->mb || !t->mo) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    while (a < (int64_t)merges_len) {
        int64_t b = a, sp = -1, q, n1 = 0, n2 = 0;
        uint8_t *both = tmp;
        while (b < (int64_t)merges_len && merges[b] != '\n') { /* the line [a, b), its first space at sp */
            if (merges[b] == ' ' && sp < 0) sp = b;
            b++;
        }
        q = b;
        if (q > a && merges[q - 1] == '\r') q--;
        if (q > a && !(a == 0 && merges[0] == '#')) {
            int64_t at, part;
            int len;
            if (sp < 0) DECAR__FAIL(e, DECAR_ERR_FORMAT, "merges.txt line %lld is not 'A B'", (long long)r + 2);
            for (part = 0; part < 2; part++) { /* A's bytes, then B's, into both */
                int64_t s0 = part ? sp + 1 : a, s1 = part ? q : sp, *cnt = part ? &n2 : &n1;
                for (at = s0; at < s1; at += len) {
                    int u = decar__utf8_get((const uint8_t *)merges + at, s1 - at, &len),
                        byte = u < 0 ? -1 : decar__u2b(u);
                    if (byte < 0)
                        DECAR__FAIL(e, DECAR_ERR_FORMAT, "merges.txt line %lld: not GPT-2 byte characters",
                                    (long long)r + 2);
                    both[n1 + n2] = (uint8_t)byte;
                    (*cnt)++;
                }
            }
            t->ma[r] = decar__tok_lookup(t, idx, cap, both, n1);
            t->mb[r] = decar__tok_lookup(t, idx, cap, both + n1, n2);
            t->mo[r] = decar__tok_lookup(t, idx, cap, both, n1 + n2);
            if (n1 == 0 || n2 == 0 || t->ma[r] < 0 || t->mb[r] < 0 || t->mo[r] < 0)
                DECAR__FAIL(e, DECAR_ERR_FORMAT,
                            "merges.txt line %lld: a part or the merged token is not in vocab.json", (long long)r + 2);
            r++;
        }
        a = b + 1;
    }
    t->n_merges = (int)r;
    return DECAR_OK;
}
/* GPT-2's files: vocab.json maps each token's text (bytes through GPT-2's printable-unicode table) to its id;
   merges.txt lists "a b" pairs by rank. Untrusted: ids dense and unique, all 256 bytes present, each merge made of
   known tokens and producing a known token; then the pair -> rank table and the fingerprint. */
DECARDEF int decar_tokenizer_load_mem(decar_tokenizer *t, const char *vocab, size_t vocab_len, const char *merges,
                                      size_t merges_len, decar_error *e) {
    int64_t cap = 0, n_entries = 0, blob_len = 0;
    int32_t *idx = NULL, *ids = NULL;
    int64_t *lens = NULL;
    uint8_t *tmp;
    int rc;
    memset(t, 0, sizeof *t);
    t->eot = -1;
    /* the caller's error may hold anything: start it empty so the vocab pass's message test reads a string */
    if (e) e->msg[0] = 0;
    /* tmp holds one decoded vocab.json key and, later, one merges.txt line's bytes: each is at most its file's
       length, so it is sized by the longer file (a merges.txt line may be longer than the whole vocab.json) */
    tmp = (uint8_t *)DECAR_MALLOC((vocab_len > merges_len ? vocab_len : merges_len) + 1);
    if (!tmp) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    rc = decar__tok_read_vocab(t, vocab, vocab_len, tmp, &ids, &lens, &n_entries, &blob_len, e);
    if (!rc) rc = decar__tok_order_by_id(t, ids, lens, n_entries, blob_len, e);
    if (!rc && t->eot < 0) {
        rc = DECAR_ERR_FORMAT;
        decar__seterr(e, rc, "vocab.json has no <|endoftext|> token");
    }
    if (!rc) rc = decar__tok_index_bytes(t, &idx, &cap, e);
    if (!rc) rc = decar__tok_read_merges(t, merges, merges_len, idx, cap, tmp, e);
    if (!rc && (rc = decar__tok_index(t))) decar__seterr(e, rc, "no memory");
    if (!rc) decar__tok_fingerprint(t);
    decar__free_n(4, (void *)idx, (void *)ids, (void *)lens, (void *)tmp);
    if (rc) decar_tokenizer_free(t);
    return rc;
}
#ifndef DECAR_NO_STDIO
static int decar__tok_parse(void *t, const void *a, size_t na, const void *b, size_t nb, decar_error *e) {
    return decar_tokenizer_load_mem((decar_tokenizer *)t, (const char *)a, na, (const char *)b, nb, e);
}
DECARDEF int decar_tokenizer_load(decar_tokenizer *t, const char *dir, decar_error *e) {
    static const char *const name[2] = { "vocab.json", "merges.txt" };
    memset(t, 0, sizeof *t);
    return decar__load_two(dir, name, decar__tok_parse, t, e);
}
#endif

/* ---- 6c. documents: the corpus, its splits and token streams, batches, loading a directory ----------------------- */
DECARDEF void decar_data_init(decar_data *d) {
    memset(d, 0, sizeof *d);
}
DECARDEF void decar_data_free(decar_data *d) {
    int i;
    for (i = 0; i < d->n_docs; i++) {
        DECAR_FREE(d->docs[i].name);
        DECAR_FREE(d->docs[i].bytes);
    }
    for (i = 0; i < d->n_labels; i++) DECAR_FREE(d->label_names[i]);
    decar__free_n(4, (void *)d->label_names, (void *)d->docs, (void *)d->stream[0], (void *)d->stream[1]);
    memset(d, 0, sizeof *d);
}
static char *decar__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = (char *)DECAR_MALLOC(n);
    if (p) memcpy(p, s, n);
    return p;
}
static int decar__add_one(decar_data *d, const char *name, const void *bytes, int64_t len, int val_permille, int label,
                          decar_error *e) {
    decar_doc *doc;
    if (d->n_docs == d->cap_docs) {
        int nc = d->cap_docs ? d->cap_docs * 2 : 256;
        decar_doc *nd = (decar_doc *)DECAR_REALLOC(d->docs, (size_t)nc * sizeof *nd);
        if (!nd) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for %d documents", nc);
        d->docs = nd;
        d->cap_docs = nc;
    }
    doc = &d->docs[d->n_docs];
    doc->name = decar__strdup(name);
    doc->bytes = (uint8_t *)DECAR_MALLOC((size_t)len + 1);
    if (!doc->name || !doc->bytes) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for document '%s'", name);
    memcpy(doc->bytes, bytes, (size_t)len);
    doc->bytes[len] = 0;
    doc->len = len;
    doc->label = label;
    doc->split = (int)(decar_hash64(name, strlen(name), 0x5eed) % 1000) < val_permille ? 1 : 0;
    d->n_docs++;
    return DECAR_OK;
}
static int decar__add_doc(decar_data *d, const char *name, const void *bytes, int64_t len, int val_permille, int label,
                          decar_error *e) {
    const uint8_t *b = (const uint8_t *)bytes;
    int64_t start = 0;
    int part = 0, rc;
    if (len <= 65536) return len > 0 ? decar__add_one(d, name, bytes, len, val_permille, label, e) : DECAR_OK;
    while (start < len) { /* cut at the first line end past 4 KiB */
        int64_t end = start + 4096 < len ? start + 4096 : len;
        char nm[1024];
        size_t nl = strlen(name);
        int k;
        char num[16];
        while (end < len && b[end - 1] != '\n') end++;
        if (nl > 1000) nl = 1000;
        memcpy(nm, name, nl);
        nm[nl++] = '#';
        k = 0;
        {
            int q = part;
            do {
                num[k++] = (char)('0' + q % 10);
                q /= 10;
            } while (q);
        }
        while (k) nm[nl++] = num[--k];
        nm[nl] = 0;
        if ((rc = decar__add_one(d, nm, b + start, end - start, val_permille, label, e))) return rc;
        start = end;
        part++;
    }
    return DECAR_OK;
}
DECARDEF int decar_data_add(decar_data *d, const char *name, const void *bytes, int64_t len, int val_permille,
                            decar_error *e) {
    return decar__add_doc(d, name, bytes, len, val_permille, -1, e);
}
static int decar__doc_cmp(const void *a, const void *b) {
    return strcmp(((const decar_doc *)a)->name, ((const decar_doc *)b)->name);
}
/* stream[s] = "EOT doc EOT doc ..." over the documents of split s, as bytes (t NULL) or the tokenizer's ids */
DECARDEF int decar_data_tokenize(decar_data *d, const decar_tokenizer *t, decar_error *e) {
    int s, i;
    for (s = 0; s < 2; s++) {
        int64_t n = 0, k = 0;
        for (i = 0; i < d->n_docs; i++)
            if (d->docs[i].split == s) n += 1 + d->docs[i].len; /* at most */
        decar__free(d->stream[s]);
        d->stream[s] = (int32_t *)DECAR_MALLOC((size_t)(n + 1) * sizeof(int32_t));
        if (!d->stream[s]) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a %lld-token stream", (long long)n);
        for (i = 0; i < d->n_docs; i++)
            if (d->docs[i].split == s) {
                const decar_doc *doc = &d->docs[i];
                int64_t j;
                d->stream[s][k++] = t ? t->eot : DECAR_TOK_EOT;
                if (t)
                    k += decar_tokenizer_encode(t, doc->bytes, doc->len, d->stream[s] + k);
                else
                    for (j = 0; j < doc->len; j++) d->stream[s][k++] = doc->bytes[j];
            }
        d->stream_len[s] = k;
    }
    return DECAR_OK;
}
DECARDEF int decar_data_finish(decar_data *d, decar_error *e) {
    if (d->n_docs == 0) DECAR__FAIL(e, DECAR_ERR_ARG, "no documents: the input is empty (or every file was skipped)");
    qsort(d->docs, (size_t)d->n_docs, sizeof *d->docs, decar__doc_cmp);
    return decar_data_tokenize(d, NULL, e);
}
DECARDEF int decar_data_batch(const decar_data *d, int split, decar_rng *r, int B, int T, int32_t *x, int32_t *y,
                              decar_error *e) {
    int64_t n = split == 0 || split == 1 ? d->stream_len[split] : 0;
    int b, t;
    if (n < (int64_t)T + 2)
        DECAR__FAIL(e, DECAR_ERR_ARG, "split %d has %lld tokens: windows of %d + 1 need more", split, (long long)n, T);
    for (b = 0; b < B; b++) {
        int64_t s = (int64_t)decar__rng_below(r, (uint64_t)(n - T - 1));
        for (t = 0; t < T; t++) {
            x[b * T + t] = d->stream[split][s + t];
            y[b * T + t] = d->stream[split][s + t + 1];
        }
    }
    return DECAR_OK;
}

#ifndef DECAR_NO_STDIO
typedef struct decar__paths {
    char **p;
    int n, cap;
} decar__paths;
static int decar__paths_push(decar__paths *ps, const char *s) {
    if (ps->n == ps->cap) {
        int nc = ps->cap ? ps->cap * 2 : 256;
        char **np = (char **)DECAR_REALLOC(ps->p, (size_t)nc * sizeof(char *));
        if (!np) return -1;
        ps->p = np;
        ps->cap = nc;
    }
    if (!(ps->p[ps->n] = decar__strdup(s))) return -1;
    ps->n++;
    return 0;
}
static int decar__str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
#if DECAR__POSIX
static int decar__walk(const char *root, const char *rel, decar__paths *ps, int depth) {
    char full[4096];
    DIR *dir;
    struct dirent *de;
    if (depth > 32) return 0;
    if (strlen(root) + strlen(rel) + 2 >= sizeof full) return 0;
    strcpy(full, root);
    if (*rel) {
        strcat(full, "/");
        strcat(full, rel);
    }
    if (!(dir = opendir(full))) return -1;
    while ((de = readdir(dir))) {
        char r2[4096], f2[4096];
        struct stat sb;
        if (de->d_name[0] == '.') continue; /* hidden files, . and .. */
        if (strlen(rel) + strlen(de->d_name) + 2 >= sizeof r2 || strlen(full) + strlen(de->d_name) + 2 >= sizeof f2)
            continue;
        strcpy(r2, rel);
        if (*rel) strcat(r2, "/");
        strcat(r2, de->d_name);
        strcpy(f2, full);
        strcat(f2, "/");
        strcat(f2, de->d_name);
        if (stat(f2, &sb)) continue;
        if (S_ISDIR(sb.st_mode))
            decar__walk(root, r2, ps, depth + 1);
        else if (S_ISREG(sb.st_mode)) {
            if (decar__paths_push(ps, r2)) {
                closedir(dir);
                return -2;
            }
        }
    }
    closedir(dir);
    return 0;
}
#endif
/* does the relative path p step out of its root (a ".." component)? */
static int decar__has_dotdot(const char *p) {
    const char *c = p;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') return 1;
        if (!slash) return 0;
        c = slash + 1;
    }
}
DECARDEF int decar_data_load(decar_data *d, const char *path, const char *list, const char *ext, int val_permille,
                             decar_error *e) {
    decar__paths ps;
    int i, rc = DECAR_OK, is_dir = 0;
    memset(&ps, 0, sizeof ps);
#if DECAR__POSIX
    {
        struct stat sb;
        if (stat(path, &sb)) DECAR__FAIL(e, DECAR_ERR_IO, "cannot open '%s': no such file or directory", path);
        is_dir = S_ISDIR(sb.st_mode);
    }
#endif
    if (list) {
        void *buf;
        size_t len;
        char **items;
        int n_items, q;
        if ((rc = decar_read_file(list, &buf, &len, e))) return rc;
        rc = decar_list_parse((const char *)buf, len, '\n', &items, &n_items, e);
        DECAR_FREE(buf);
        if (rc) return rc;
        for (q = 0; q < n_items && !rc; q++) {
            const char *it = items[q];
            if (it[0] == '/' || decar__has_dotdot(it)) {
                rc = DECAR_ERR_FORMAT;
                decar__seterr(e, rc, "document list '%s', line %d: '%.100s' is not a path inside '%s'", list, q + 1, it,
                              path);
            } else if (decar__paths_push(&ps, it)) {
                rc = DECAR_ERR_NOMEM;
                decar__seterr(e, rc, "no memory");
            }
        }
        DECAR_FREE(items);
        if (rc) {
            for (q = 0; q < ps.n; q++) DECAR_FREE(ps.p[q]);
            decar__free(ps.p);
            return rc;
        }
    } else if (is_dir) {
#if DECAR__POSIX
        if (decar__walk(path, "", &ps, 0)) DECAR__FAIL(e, DECAR_ERR_IO, "cannot list directory '%s'", path);
#endif
    }
    if (!list && !is_dir) { /* one file */
        void *buf;
        size_t len;
        const char *base = strrchr(path, '/');
        if ((rc = decar_read_file(path, &buf, &len, e))) return rc;
        rc = decar__add_doc(d, base ? base + 1 : path, buf, (int64_t)len, val_permille, -1, e);
        DECAR_FREE(buf);
        return rc ? rc : decar_data_finish(d, e);
    }
    if (ps.n > 1) qsort(ps.p, (size_t)ps.n, sizeof(char *), decar__str_cmp); /* qsort(NULL, 0) is undefined */
    for (i = 0; i < ps.n && !rc; i++) {
        char full[4096];
        void *buf;
        size_t len, k, el = ext ? strlen(ext) : 0, pl = strlen(ps.p[i]);
        int label = -1;
        const char *slash = strchr(ps.p[i], '/');
        if (!list && el && (pl < el || strcmp(ps.p[i] + pl - el, ext) != 0)) continue; /* a list names its files */
        if (strlen(path) + pl + 2 >= sizeof full) {
            rc = DECAR_ERR_ARG;
            decar__seterr(e, rc, "path too long: '%.100s/%.100s...'", path, ps.p[i]);
            break;
        }
        strcpy(full, path);
        strcat(full, "/");
        strcat(full, ps.p[i]);
        if (decar_read_file(full, &buf, &len, e)) {
            rc = e ? e->code : DECAR_ERR_IO;
            break;
        }
        for (k = 0; k < len && k < 4096; k++)
            if (((char *)buf)[k] == 0) break;
        if (k < len && k < 4096) { /* binary: skipped in a walk, an error when a list names it */
            DECAR_FREE(buf);
            if (!list) continue;
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "'%s' (named by the document list) is a binary file", full);
            break;
        }
        if (slash) { /* label = top-level folder */
            int j;
            size_t ln = (size_t)(slash - ps.p[i]);
            for (j = 0; j < d->n_labels; j++)
                if (strlen(d->label_names[j]) == ln && strncmp(d->label_names[j], ps.p[i], ln) == 0) break;
            if (j == d->n_labels) {
                char **nl = (char **)DECAR_REALLOC(d->label_names, (size_t)(d->n_labels + 1) * sizeof(char *));
                if (!nl) {
                    DECAR_FREE(buf);
                    rc = DECAR_ERR_NOMEM;
                    break;
                }
                d->label_names = nl;
                nl[j] = (char *)DECAR_MALLOC(ln + 1);
                if (!nl[j]) {
                    DECAR_FREE(buf);
                    rc = DECAR_ERR_NOMEM;
                    break;
                }
                memcpy(nl[j], ps.p[i], ln);
                nl[j][ln] = 0;
                d->n_labels++;
            }
            label = j;
        }
        rc = decar__add_doc(d, ps.p[i], buf, (int64_t)len, val_permille, label, e);
        DECAR_FREE(buf);
    }
    for (i = 0; i < ps.n; i++) DECAR_FREE(ps.p[i]);
    decar__free(ps.p);
    if (rc) return rc;
    if (d->n_docs == 0)
        DECAR__FAIL(e, DECAR_ERR_ARG, "'%s' holds no text documents%s%s", path, ext ? " ending in " : "",
                    ext ? ext : "");
    return decar_data_finish(d, e);
}
#endif

/* ---- 6d. images -------------------------------------------------------------------------------------------------- */
DECARDEF void decar_images_free(decar_images *im) {
    int i;
    if (im->captions) {
        for (i = 0; i < im->n; i++) decar__free(im->captions[i]);
        DECAR_FREE(im->captions);
    }
    decar__free(im->pixels);
    memset(im, 0, sizeof *im);
}
DECARDEF int decar_images_parse(decar_images *im, const void *pixels, size_t n_pixel_bytes, const char *captions,
                                size_t caption_bytes, int side, decar_error *e) {
    size_t i, per = (size_t)side * (size_t)side;
    int n = 0, k;
    const char *s;
    memset(im, 0, sizeof *im);
    if (side < 1 || side > 4096) DECAR__FAIL(e, DECAR_ERR_ARG, "image side %d outside [1, 4096]", side);
    for (i = 0; i < caption_bytes; i++) {
        if (captions[i] == '\n') n++;
        if (captions[i] == 0) DECAR__FAIL(e, DECAR_ERR_FORMAT, "captions: a NUL byte at offset %lu", (unsigned long)i);
        if (n < 0 || n > (1 << 30)) DECAR__FAIL(e, DECAR_ERR_FORMAT, "captions: too many lines");
    }
    if (caption_bytes && captions[caption_bytes - 1] != '\n') n++;
    if (n_pixel_bytes % per)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "the image file is %lu bytes: not a whole number of %dx%d images (truncated?)",
                    (unsigned long)n_pixel_bytes, side, side);
    if (n_pixel_bytes == 0 && n == 0)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "the image set is empty: the image file and the captions hold nothing");
    if (n_pixel_bytes / per != (size_t)n)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "the image file holds %lu images but there are %d captions (one line each)",
                    (unsigned long)(n_pixel_bytes / per), n);
    im->captions = (char **)DECAR_MALLOC((size_t)n * sizeof(char *));
    im->pixels = (uint8_t *)DECAR_MALLOC(n_pixel_bytes);
    if (!im->captions || !im->pixels) {
        decar__free(im->captions);
        decar__free(im->pixels);
        memset(im, 0, sizeof *im);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for %d images", n);
    }
    memcpy(im->pixels, pixels, n_pixel_bytes);
    im->n = n;
    im->side = side;
    for (k = 0, s = captions; k < n; k++) {
        size_t left = caption_bytes - (size_t)(s - captions), m = 0, keep;
        while (m < left && s[m] != '\n') m++;
        keep = m > 0 && s[m - 1] == '\r' ? m - 1 : m; /* CRLF files: the caption without its '\r' */
        im->captions[k] = (char *)DECAR_MALLOC(keep + 1);
        if (!im->captions[k]) {
            im->n = k;
            decar_images_free(im);
            DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
        }
        memcpy(im->captions[k], s, keep);
        im->captions[k][keep] = 0;
        s += m < left ? m + 1 : m;
    }
    return DECAR_OK;
}
#ifndef DECAR_NO_STDIO
DECARDEF int decar_images_load(decar_images *im, const char *image_file, const char *caption_file, int side,
                               decar_error *e) {
    void *px, *cap;
    size_t npx, ncap;
    int rc;
    memset(im, 0, sizeof *im);
    if ((rc = decar_read_file(image_file, &px, &npx, e))) return rc;
    if ((rc = decar_read_file(caption_file, &cap, &ncap, e))) {
        DECAR_FREE(px);
        return rc;
    }
    rc = decar_images_parse(im, px, npx, (const char *)cap, ncap, side, e);
    if (rc) decar__prefix_path(e, rc == DECAR_ERR_FORMAT ? image_file : caption_file);
    DECAR_FREE(px);
    DECAR_FREE(cap);
    return rc;
}
#endif
/* the held-out split: images that share a caption sort together (by caption, then index) */
typedef struct decar__capidx {
    const char *caption;
    int index;
} decar__capidx;
static int decar__capidx_cmp(const void *pa, const void *pb) {
    const decar__capidx *a = (const decar__capidx *)pa, *b = (const decar__capidx *)pb;
    int c = strcmp(a->caption, b->caption);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}
DECARDEF int decar_images_split(const decar_images *im, const char *const *group, const int *label, int n_labels,
                                int min_test, int *test, decar_error *e) {
    int n = im->n, i, a, b;
    char *key = NULL;
    size_t cap_key = 0;
    uint64_t *h = (uint64_t *)DECAR_MALLOC((size_t)(n > 0 ? n : 1) * sizeof(uint64_t));
    int *cnt = (int *)DECAR_MALLOC((size_t)(n_labels > 0 ? n_labels : 1) * sizeof(int));
    decar__capidx *by = (decar__capidx *)DECAR_MALLOC((size_t)(n > 0 ? n : 1) * sizeof(decar__capidx));
    if (n_labels < 1 || min_test < 0) {
        decar__free_n(3, (void *)h, (void *)cnt, (void *)by);
        DECAR__FAIL(e, DECAR_ERR_ARG, "image split: %d labels, at least %d test images each", n_labels, min_test);
    }
    if (!h || !cnt || !by) {
        decar__free_n(3, (void *)h, (void *)cnt, (void *)by);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to split %d images", n);
    }
    for (i = 0; i < n; i++) {
        if (label && (label[i] < 0 || label[i] >= n_labels)) {
            decar__free_n(4, (void *)h, (void *)cnt, (void *)by, (void *)key);
            DECAR__FAIL(e, DECAR_ERR_ARG, "image %d has label %d, outside [0, %d)", i, label[i], n_labels);
        }
        /* h_i = hash64(group_i "|" caption_i) */
        const char *g = group && group[i] ? group[i] : "";
        size_t lg = strlen(g), need = lg + strlen(im->captions[i]) + 2;
        if (need > cap_key) { /* the key buffer, grown as needed */
            char *k2 = (char *)DECAR_REALLOC(key, need);
            if (!k2) {
                decar__free_n(4, (void *)h, (void *)cnt, (void *)by, (void *)key);
                DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to split %d images", n);
            }
            key = k2;
            cap_key = need;
        }
        memcpy(key, g, lg);
        key[lg] = '|';
        memcpy(key + lg + 1, im->captions[i], need - lg - 1); /* with its NUL */
        h[i] = decar_hash64(key, need - 1, 7);
        test[i] = 0;
        by[i].caption = im->captions[i];
        by[i].index = i;
    }
    memset(cnt, 0, (size_t)n_labels * sizeof(int));
    qsort(by, (size_t)n, sizeof *by, decar__capidx_cmp);
    for (a = 0; a < n; a = b) { /* by[a..b) share a caption, in index order: the first of least hash is a test image */
        int pick = by[a].index;
        for (b = a + 1; b < n && !strcmp(by[b].caption, by[a].caption); b++)
            if (h[by[b].index] < h[pick]) pick = by[b].index;
        if (b - a >= 2) {
            test[pick] = 1;
            cnt[label ? label[pick] : 0]++;
        }
    }
    for (;;) { /* top up labels with < min_test test images, least hash first */
        int best = -1;
        for (i = 0; i < n; i++)
            if (!test[i] && cnt[label ? label[i] : 0] < min_test && (best < 0 || h[i] < h[best])) best = i;
        if (best < 0) break;
        test[best] = 2;
        cnt[label ? label[best] : 0]++;
    }
    decar__free_n(4, (void *)h, (void *)cnt, (void *)by, (void *)key);
    return DECAR_OK;
}
DECARDEF void decar_image_patches(const uint8_t *img, int side, int patch, float *out) {
    int n = side / patch, py, px, y, x;
    float *o = out;
    for (py = 0; py < n; py++)
        for (px = 0; px < n; px++)
            for (y = 0; y < patch; y++)
                for (x = 0; x < patch; x++) *o++ = (float)img[(py * patch + y) * side + px * patch + x] / 255.0f - 0.5f;
}
DECARDEF void decar_image_augment(uint8_t *out, const uint8_t *img, int side, int shift, double scale, double stroke,
                                  decar_rng *r) {
    double c = 0.5 * (side - 1), bg = 0.0, s, u_stroke, u_dir;
    int dx, dy, x, y, i, n_border = 0, grow_max;
    uint32_t ux, uy;
    /* the draws, always five: s, dx, dy, whether to filter, which way */
    scale = scale < 0.0 ? 0.0 : scale > 0.9 ? 0.9 : scale;
    s = 1.0 + scale * (2.0 * decar_rng_double(r) - 1.0);
    ux = decar_rng_u32(r);
    uy = decar_rng_u32(r);
    dx = shift > 0 ? (int)(ux % (uint32_t)(2 * shift + 1)) - shift : 0;
    dy = shift > 0 ? (int)(uy % (uint32_t)(2 * shift + 1)) - shift : 0;
    u_stroke = decar_rng_double(r);
    u_dir = decar_rng_double(r);
    /* b = the mean of the border */
    for (i = 0; i < side; i++) {
        bg += img[i] + img[(side - 1) * side + i];
        n_border += 2;
        if (i > 0 && i < side - 1) {
            bg += img[i * side] + img[i * side + side - 1];
            n_border += 2;
        }
    }
    bg /= n_border > 0 ? n_border : 1;
    /* bilinear resampling at the source point of every output pixel */
    for (y = 0; y < side; y++)
        for (x = 0; x < side; x++) {
            double sx = c + ((double)x - dx - c) / s, sy = c + ((double)y - dy - c) / s, v = 0.0;
            int x0 = (int)floor(sx), y0 = (int)floor(sy), a, b;
            double fx = sx - x0, fy = sy - y0;
            for (b = 0; b < 2; b++)
                for (a = 0; a < 2; a++) {
                    int xx = x0 + a, yy = y0 + b;
                    double wgt = (a ? fx : 1.0 - fx) * (b ? fy : 1.0 - fy);
                    v += wgt * (xx >= 0 && xx < side && yy >= 0 && yy < side ? img[yy * side + xx] : bg);
                }
            out[y * side + x] = (uint8_t)(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : floor(v + 0.5));
        }
    if (!(u_stroke < stroke)) return;
    /* one pixel thicker (or thinner): the 3 x 3 filter that moves each pixel towards (or away from) the ink */
    grow_max = (bg < 128.0) == (u_dir < 0.5);
    {
        uint8_t *tmp = (uint8_t *)DECAR_MALLOC((size_t)side * side);
        if (!tmp) return; /* no memory: the resampled image without the stroke change */
        memcpy(tmp, out, (size_t)side * side);
        for (y = 0; y < side; y++)
            for (x = 0; x < side; x++) {
                int m = tmp[y * side + x], a, b;
                for (b = -1; b <= 1; b++)
                    for (a = -1; a <= 1; a++) {
                        int xx = x + a, yy = y + b, v;
                        if (xx < 0 || xx >= side || yy < 0 || yy >= side) continue;
                        v = tmp[yy * side + xx];
                        m = grow_max ? (v > m ? v : m) : (v < m ? v : m);
                    }
                out[y * side + x] = (uint8_t)m;
            }
        DECAR_FREE(tmp);
    }
}
DECARDEF void decar_caption_rows(const char *const *captions, const int *idx, int B, int T, int32_t *ids,
                                 int32_t *targets) {
    int b, t;
    for (b = 0; b < B; b++) {
        const char *c = captions[idx ? idx[b] : b];
        int L = (int)strlen(c);
        int32_t *id = ids + (int64_t)b * T, *tg = targets + (int64_t)b * T;
        for (t = 0; t < T; t++) {
            id[t] = t == 0 ? DECAR_TOK_EOT : t - 1 < L ? (uint8_t)c[t - 1] : DECAR_TOK_EOT;
            tg[t] = t < L ? (uint8_t)c[t] : t == L ? DECAR_TOK_EOT : -1;
        }
    }
}

/* ---- 7. features ----------------------------------------------------------------------------------------------------
   c-BTM clusters tf-idf vectors reduced by SVD. decar hashes word 1-grams, word 2-grams and byte 3-grams into
   DECAR_FEAT_BUCKETS buckets, weights them by sublinear tf times smoothed idf, and projects with a seeded random
   +-1/sqrt(dim) matrix (Johnson-Lindenstrauss: inner products, hence cosines, are kept in expectation) that is
   never stored: each bucket's 64 signs come from one hash. No SVD to fit, so a router applies it to one prefix. */
static int decar__isword(uint8_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
/* calls visit(bucket) for every n-gram of text */
static void decar__grams(const uint8_t *s, int64_t n, void (*visit)(void *, uint32_t), void *u) {
    int64_t i = 0;
    uint64_t prev = 0;
    int have_prev = 0;
    for (i = 0; i + 2 < n; i++) { /* byte 3-grams */
        uint64_t h = ((uint64_t)s[i] << 16) | ((uint64_t)s[i + 1] << 8) | s[i + 2];
        visit(u, (uint32_t)(decar__mix64(h ^ 0x3333) % DECAR_FEAT_BUCKETS));
    }
    i = 0;
    while (i < n) { /* words, lower-cased ASCII */
        uint64_t h = 0xcbf29ce484222325ULL;
        while (i < n && !decar__isword(s[i])) i++;
        if (i >= n) break;
        while (i < n && decar__isword(s[i])) {
            uint8_t c = s[i++];
            if (c >= 'A' && c <= 'Z') c = (uint8_t)(c + 32);
            h = (h ^ c) * 0x100000001b3ULL;
        }
        visit(u, (uint32_t)(decar__mix64(h ^ 0x1111) % DECAR_FEAT_BUCKETS));
        if (have_prev) visit(u, (uint32_t)(decar__mix64(prev * 31 + h + 0x2222) % DECAR_FEAT_BUCKETS));
        prev = h;
        have_prev = 1;
    }
}
typedef struct decar__tf {
    float *cnt;
    uint32_t *touched;
    int64_t nt;
} decar__tf;
static void decar__tf_visit(void *u, uint32_t b) {
    decar__tf *t = (decar__tf *)u;
    if (t->cnt[b] == 0.0f) t->touched[t->nt++] = b;
    t->cnt[b] += 1.0f;
}

DECARDEF int decar_feat_fit(decar_featurizer *f, int dim, uint64_t seed, const decar_doc *docs, int n, decar_error *e) {
    decar__tf tf;
    int i;
    int64_t j;
    float *df;
    memset(f, 0, sizeof *f);
    if (dim < 1 || dim > 4096) DECAR__FAIL(e, DECAR_ERR_ARG, "feature dim %d outside [1, 4096]", dim);
    f->dim = dim;
    f->seed = seed;
    f->idf = (float *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(float));
    df = (float *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(float));
    tf.cnt = (float *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(float));
    tf.touched = (uint32_t *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(uint32_t));
    if (!f->idf || !df || !tf.cnt || !tf.touched) {
        decar__free_n(3, (void *)df, (void *)tf.cnt, (void *)tf.touched);
        decar_feat_free(f);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for the featurizer");
    }
    memset(df, 0, DECAR_FEAT_BUCKETS * sizeof(float));
    memset(tf.cnt, 0, DECAR_FEAT_BUCKETS * sizeof(float));
    for (i = 0; i < n; i++) {
        tf.nt = 0;
        decar__grams(docs[i].bytes, docs[i].len, decar__tf_visit, &tf);
        for (j = 0; j < tf.nt; j++) {
            df[tf.touched[j]] += 1.0f;
            tf.cnt[tf.touched[j]] = 0.0f;
        }
    }
    for (j = 0; j < DECAR_FEAT_BUCKETS; j++)
        f->idf[j] = (float)(log((1.0 + n) / (1.0 + df[j])) + 1.0); /* sklearn's smooth idf */
    DECAR_FREE(df);
    DECAR_FREE(tf.cnt);
    DECAR_FREE(tf.touched);
    return DECAR_OK;
}
DECARDEF void decar_feat_free(decar_featurizer *f) {
    decar__free(f->idf);
    memset(f, 0, sizeof *f);
}
DECARDEF void decar_l2_normalize(float *x, int d) {
    double s = 0.0;
    int i;
    for (i = 0; i < d; i++) s += (double)x[i] * x[i];
    if (s > 0.0) {
        float r = (float)(1.0 / sqrt(s));
        for (i = 0; i < d; i++) x[i] *= r;
    }
}
/* a text's bag of buckets as sort keys: bucket << 48 | count (buckets below DECAR_FEAT_BUCKETS = 2^16, counts below
   2^32) */
typedef struct decar__bag {
    uint64_t *key;
    int64_t n, cap;
} decar__bag;
static void decar__bag_visit(void *u, uint32_t b) { /* one key per gram (count 0); runs merged after the sort */
    decar__bag *s = (decar__bag *)u;
    if (s->n < s->cap) s->key[s->n++] = (uint64_t)b << 48;
}
/* counts per bucket with the list of buckets touched (a long text's bag in fixed memory) */
typedef struct decar__cnt {
    uint32_t *cnt, *touched;
    int64_t nt;
} decar__cnt;
static void decar__cnt_visit(void *u, uint32_t b) {
    decar__cnt *t = (decar__cnt *)u;
    if (t->cnt[b] == 0) t->touched[t->nt++] = b;
    if (t->cnt[b] < 0xffffffffu) t->cnt[b]++;
}
static void decar__radix_sort64(uint64_t *key, uint64_t *tmp, int64_t n, int lo); /* section 8's k-means */
/* the signs of the random projection, 8 dimensions per byte of a hash: decar__sign8[v][q] = +1 if bit q of v is set,
   else -1 */
#define DECAR__SG8(v)                                                                                                  \
    { ((v) & 1) ? 1.0f : -1.0f,  ((v) & 2) ? 1.0f : -1.0f,  ((v) & 4) ? 1.0f : -1.0f,  ((v) & 8) ? 1.0f : -1.0f,     \
      ((v) & 16) ? 1.0f : -1.0f, ((v) & 32) ? 1.0f : -1.0f, ((v) & 64) ? 1.0f : -1.0f, ((v) & 128) ? 1.0f : -1.0f }
#define DECAR__SG32(v)                                                                                                 \
    DECAR__SG8(v), DECAR__SG8((v) + 1), DECAR__SG8((v) + 2), DECAR__SG8((v) + 3), DECAR__SG8((v) + 4),                 \
        DECAR__SG8((v) + 5), DECAR__SG8((v) + 6), DECAR__SG8((v) + 7)
#define DECAR__SG64(v) DECAR__SG32(v), DECAR__SG32((v) + 8), DECAR__SG32((v) + 16), DECAR__SG32((v) + 24)
static const float decar__sign8[256][8] = { DECAR__SG64(0), DECAR__SG64(32), DECAR__SG64(64), DECAR__SG64(96),
                                            DECAR__SG64(128), DECAR__SG64(160), DECAR__SG64(192), DECAR__SG64(224) };
DECARDEF int decar_feat_apply(const decar_featurizer *f, const uint8_t *text, int64_t len, float *out, decar_error *e) {
    decar__bag s;
    uint64_t *tmp;
    int64_t i, m = 0;
    int j, rc;
    if (f->fn && (rc = f->fn(f->user, text, len, out)))
        DECAR__FAIL(e, rc, "the feature function failed (%s)", decar_status_name(rc));
    if (f->fn) return DECAR_OK;
    if (!f->idf)
        DECAR__FAIL(e, DECAR_ERR_ARG, "a router of external features needs their function (decar_featurizer.fn)");
    memset(out, 0, (size_t)f->dim * sizeof(float));
    /* the bag of buckets as keys (bucket << 48 | count), radix-sorted by bucket: a text's grams (at most 3 per byte)
       listed while that list is smaller than a count per bucket, their runs merged after the sort; a longer text
       counts into the buckets instead (fixed memory, DECAR_FEAT_BUCKETS x 24 bytes, whatever its length). Both give
       the same (bucket, count) pairs in bucket order, so the same features to the bit. */
    s.cap = 3 * len + 8;
    s.n = 0;
    if (s.cap > 2 * (int64_t)DECAR_FEAT_BUCKETS) {
        decar__cnt ct;
        ct.cnt = (uint32_t *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(uint32_t));
        ct.touched = (uint32_t *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(uint32_t));
        s.key = (uint64_t *)DECAR_MALLOC(2 * DECAR_FEAT_BUCKETS * sizeof(uint64_t));
        if (!ct.cnt || !ct.touched || !s.key) {
            decar__free_n(3, (void *)ct.cnt, (void *)ct.touched, (void *)s.key);
            DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to featurize %lld bytes", (long long)len);
        }
        memset(ct.cnt, 0, DECAR_FEAT_BUCKETS * sizeof(uint32_t));
        ct.nt = 0;
        decar__grams(text, len, decar__cnt_visit, &ct);
        for (i = 0; i < ct.nt; i++) s.key[i] = (uint64_t)ct.touched[i] << 48 | ct.cnt[ct.touched[i]];
        s.n = ct.nt;
        tmp = s.key + DECAR_FEAT_BUCKETS;
        DECAR_FREE(ct.cnt);
        DECAR_FREE(ct.touched);
    } else {
        s.key = (uint64_t *)DECAR_MALLOC((size_t)(2 * s.cap) * sizeof(uint64_t));
        if (!s.key) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to featurize %lld bytes", (long long)len);
        decar__grams(text, len, decar__bag_visit, &s);
        tmp = s.key + s.cap;
    }
    decar__radix_sort64(s.key, tmp, s.n, 6); /* by the bucket, bits 48-63 */
    for (i = 0; i < s.n; m++) { /* one (bucket, count) key per bucket: a run of keys of count 0 counts its length */
        int64_t q = i + 1;
        while (q < s.n && s.key[q] >> 48 == s.key[i] >> 48) q++;
        s.key[m] = (s.key[i] & 0xffffffffu) ? s.key[i] : (s.key[i] | (uint64_t)(q - i));
        i = q;
    }
    /* out += w_b s_b per bucket b: w_b = (1 + ln count) idf_b, s_b[j] = +1 or -1 by bit j mod 64 of a hash of
       (b, j / 64), the signs looked up 8 at a time, then added in vectors (w s is exact: out + w s is out +- w) */
    for (i = 0; i < m; i++) {
        uint32_t b = (uint32_t)(s.key[i] >> 48);
        float w = (1.0f + logf((float)(s.key[i] & 0xffffffffu))) * f->idf[b], sg[64];
        decar__v vw = decar__vset1(w);
        for (j = 0; j < f->dim; j += 64) {
            uint64_t bits = decar__mix64(((uint64_t)b << 20) ^ ((uint64_t)j << 4) ^ f->seed);
            int q, nd = f->dim - j < 64 ? f->dim - j : 64;
            for (q = 0; q < 8; q++) memcpy(sg + 8 * q, decar__sign8[(bits >> (8 * q)) & 255], 8 * sizeof(float));
            for (q = 0; q + DECAR__VW <= nd; q += DECAR__VW)
                decar__vstore(out + j + q, decar__vfma(vw, decar__vload(sg + q), decar__vload(out + j + q)));
            for (; q < nd; q++) out[j + q] += w * sg[q];
        }
    }
    DECAR_FREE(s.key);
    decar_l2_normalize(out, f->dim);
    return DECAR_OK;
}

DECARDEF void decar_pixel_projection(float *rt, int n_pixels, int dim, uint64_t seed) {
    int64_t i;
    decar_rng r;
    decar_rng_seed(&r, seed);
    for (i = 0; i < (int64_t)n_pixels * dim; i++) rt[i] = decar_rng_normal(&r);
}
DECARDEF void decar_pixel_features(const uint8_t *img, int n_pixels, const float *mean, int dim, const float *rt,
                                   float *out) {
    int j, p;
    for (j = 0; j < dim; j++) out[j] = 0.0f;
    /* out[j] = sum_p R[j][p] x[p], x[p] = img[p] / 255 - mean[p], summed in pixel order */
    for (p = 0; p < n_pixels; p++) {
        float x = img[p] / 255.0f - mean[p];
        for (j = 0; j < dim; j++) out[j] += x * rt[(size_t)p * dim + j];
    }
    decar_l2_normalize(out, dim);
}
DECARDEF int decar_pixel_feature_fn(void *user, const uint8_t *text, int64_t len, float *out) {
    const decar_pixel_featurizer *p = (const decar_pixel_featurizer *)user;
    (void)text;
    (void)len;
    if (!p || !p->image || !p->mean || !p->rt) return DECAR_ERR_ARG;
    decar_pixel_features(p->image, p->n_pixels, p->mean, p->dim, p->rt, out);
    return DECAR_OK;
}

/* .npy v1-3: '<f4' or '<f8', fortran_order False, 2-D shape */
DECARDEF int decar_npy_parse(const void *buf, size_t len, float **out, int64_t *rows, int64_t *cols, decar_error *e) {
    const uint8_t *b = (const uint8_t *)buf;
    size_t hl, off;
    char h[4096];
    const char *p;
    int f8;
    int64_t r, c, i;
    *out = NULL;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) DECAR__FAIL(e, DECAR_ERR_FORMAT, "not a .npy file (bad magic)");
    if (b[6] == 1) {
        hl = (size_t)b[8] | ((size_t)b[9] << 8);
        off = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12) DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy truncated");
        hl = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        off = 12;
    } else
        DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy version %d not supported", b[6]);
    if (hl >= sizeof h || off + hl > len)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy header length %lu is bad or truncated", (unsigned long)hl);
    memcpy(h, b + off, hl);
    h[hl] = 0;
    off += hl;
    if (strstr(h, "'descr': '<f4'"))
        f8 = 0;
    else if (strstr(h, "'descr': '<f8'"))
        f8 = 1;
    else
        DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy dtype must be little-endian float32 or float64 ('<f4' or '<f8')");
    if (!strstr(h, "'fortran_order': False"))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy must be C order (fortran_order False)");
    p = strstr(h, "'shape': (");
    if (!p) DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy header has no shape");
    p += 10;
    r = 0;
    c = -1;
    while (*p >= '0' && *p <= '9') {
        r = r * 10 + (*p++ - '0');
        if (r > ((int64_t)1 << 40)) break;
    }
    if (*p == ',') {
        p++;
        while (*p == ' ') p++;
        if (*p >= '0' && *p <= '9') {
            c = 0;
            while (*p >= '0' && *p <= '9') {
                c = c * 10 + (*p++ - '0');
                if (c > (1 << 20)) break;
            }
        }
    }
    while (*p == ' ') p++;
    if (*p != ')' || r < 1 || c < 1 || r > ((int64_t)1 << 40) || c > (1 << 20))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy must be 2-D with positive dims (got '%.40s')", h);
    if ((uint64_t)r * (uint64_t)c * (f8 ? 8u : 4u) != len - off)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, ".npy data is %lu bytes, shape (%lld, %lld) needs %llu (truncated?)",
                    (unsigned long)(len - off), (long long)r, (long long)c,
                    (unsigned long long)((uint64_t)r * (uint64_t)c * (f8 ? 8u : 4u)));
    *out = (float *)DECAR_MALLOC((size_t)(r * c) * sizeof(float));
    if (!*out) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a (%lld, %lld) array", (long long)r, (long long)c);
    for (i = 0; i < r * c; i++) {
        double v;
        uint8_t t[8];
        int k, w = f8 ? 8 : 4;
        for (k = 0; k < w; k++) t[k] = b[off + (size_t)i * w + (decar__little_endian() ? k : w - 1 - k)];
        if (f8)
            memcpy(&v, t, 8);
        else {
            float x;
            memcpy(&x, t, 4);
            v = x;
        }
        if (!(fabs(v) < INFINITY) || fabs(v) > 3.4e38) {
            DECAR_FREE(*out);
            *out = NULL;
            DECAR__FAIL(e, DECAR_ERR_NUMERIC, ".npy element %lld (row %lld) is NaN, Inf or out of float range",
                        (long long)i, (long long)(i / c));
        }
        (*out)[i] = (float)v;
    }
    *rows = r;
    *cols = c;
    return DECAR_OK;
}
DECARDEF int decar_npy_build(const float *x, int64_t rows, int64_t cols, void **buf, size_t *len) {
    decar__sb h;
    size_t hl, total;
    uint8_t *b;
    memset(&h, 0, sizeof h);
    decar__sb_str(&h, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    decar__sb_u64(&h, (uint64_t)rows);
    decar__sb_str(&h, ", ");
    decar__sb_u64(&h, (uint64_t)cols);
    decar__sb_str(&h, "), }");
    while ((10 + h.n + 1) % 64) decar__sb_str(&h, " ");
    decar__sb_str(&h, "\n");
    if (h.oom) return DECAR_ERR_NOMEM;
    hl = h.n;
    total = 10 + hl + (size_t)(rows * cols) * 4;
    b = (uint8_t *)DECAR_MALLOC(total);
    if (!b) {
        DECAR_FREE(h.p);
        return DECAR_ERR_NOMEM;
    }
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)(hl & 0xff);
    b[9] = (uint8_t)(hl >> 8);
    memcpy(b + 10, h.p, hl);
    decar__f32_le(b + 10 + hl, x, (size_t)(rows * cols));
    DECAR_FREE(h.p);
    *buf = b;
    *len = total;
    return DECAR_OK;
}

/* ---- 8. clustering --------------------------------------------------------------------------------------------------
   Spherical k-means: cosine similarity, centroids renormalised. Seeding: k-means++ on the cosine distance 1 - cos.
   Balanced assignment: greedy with a hard capacity ceil(N/K): all (point, cluster) pairs sorted by similarity
   (ties by index), each taken if the point is free and the cluster not full. Why greedy: it is exact about the
   capacity (the auction of kernelmachine/balanced-kmeans is only approximately balanced, Sinkhorn needs a rounding
   repair), it has no step size or temperature to tune, and it is deterministic. The pairs are sorted as 64-bit keys
   by a radix sort: O(NK) per iteration (a comparison sort of the pairs took 70% of k-means). */
/* key of pair p = i K + k with similarity s: ascending keys = s descending, then p ascending (i, then k). The float's
   bits are made to order as unsigned integers (negatives flipped whole, positives by the sign bit; -0 taken as +0,
   NaN is never a cosine of unit rows) and inverted for the descending order */
static uint64_t decar__sim_key(float s, uint32_t p) {
    uint32_t b;
    s += 0.0f; /* -0 -> +0: equal similarities order by index, as they compare equal */
    memcpy(&b, &s, sizeof b);
    b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((uint64_t)~b << 32) | p;
}
/* key[0..n) sorted ascending by bits [8 lo, 64), tmp the same size: LSD radix sort, passes of 8 bits, a pass skipped
   when every key has the same byte there. Stable: keys equal in the sorted bits keep their order, so keys made in
   increasing order of their low bits (decar__sim_key's index) sort as if by all 64 bits with lo = 4 passes. */
static void decar__radix_sort64(uint64_t *key, uint64_t *tmp, int64_t n, int lo) {
    uint64_t *out = key; /* the passes swap the buffers: the result is copied back if it ends in tmp */
    int pass;
    for (pass = lo; pass < 8; pass++) {
        int64_t cnt[256], i, sum = 0;
        int sh = pass * 8, b;
        uint64_t *t;
        memset(cnt, 0, sizeof cnt);
        for (i = 0; i < n; i++) cnt[(key[i] >> sh) & 255]++;
        if (n == 0 || cnt[(key[0] >> sh) & 255] == n) continue;
        for (b = 0; b < 256; b++) { /* exclusive prefix sums: where each byte value's run starts */
            int64_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++) tmp[cnt[(key[i] >> sh) & 255]++] = key[i];
        t = key;
        key = tmp;
        tmp = t;
    }
    if (key != out) memcpy(out, key, (size_t)n * sizeof(uint64_t));
}
/* The greedy capacitated assignment without sorting all N K pairs: lab[i] for S (N, K), capacity cap, cnt (K) the
   sizes. The greedy takes pairs in ascending key (decar__sim_key) and gives a free point to a non-full cluster.
   Lazily: every free point holds one candidate, its best pair to a cluster that was not full when it was chosen;
   the candidates are the N best pairs (radix-sorted, key[0..N), tmp the same size) merged with a min-heap (heap,
   N) of the candidates of bumped points. The smallest candidate is the next pair the full sort would act on (pairs
   of taken points and of full clusters change nothing, and full clusters stay full), so the labels are the same;
   the work is O(N K) to find the best pairs plus O(log N) per bump instead of sorting N K keys. */
static void decar__heap_push(uint64_t *h, int64_t *n, uint64_t v) {
    int64_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}
static uint64_t decar__heap_pop(uint64_t *h, int64_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    int64_t i = 0, c;
    while ((c = 2 * i + 1) < *n) {
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}
/* the smallest key of point i's pairs to clusters with cnt < cap (cnt NULL: all clusters) */
static uint64_t decar__best_pair(const float *S, int64_t i, int K, const int32_t *cnt, int64_t cap) {
    uint64_t best = UINT64_MAX;
    int k;
    for (k = 0; k < K; k++) {
        uint64_t key = decar__sim_key(S[i * K + k], (uint32_t)(i * K + k));
        if ((!cnt || cnt[k] < cap) && key < best) best = key;
    }
    return best;
}
static void decar__balanced_assign(const float *S, int64_t N, int K, int64_t cap, int32_t *lab, int32_t *cnt,
                                   uint64_t *key, uint64_t *tmp, uint64_t *heap) {
    int64_t i, pos = 0, nh = 0, placed = 0;
    DECAR__PAR_FOR(N * K >= 65536, for (i = 0; i < N; i++) {
        key[i] = decar__best_pair(S, i, K, NULL, 0);
    });
    decar__radix_sort64(key, tmp, N, 4); /* made in index order: the similarity half orders ties by index */
    memset(cnt, 0, (size_t)K * sizeof(int32_t));
    for (i = 0; i < N; i++) lab[i] = -1;
    while (placed < N) {
        uint64_t c = pos < N && (nh == 0 || key[pos] < heap[0]) ? key[pos++] : decar__heap_pop(heap, &nh);
        int64_t p = (int64_t)(c & 0xFFFFFFFFu), pi = p / K;
        int pk = (int)(p % K);
        if (cnt[pk] < cap) {
            lab[pi] = pk;
            cnt[pk]++;
            placed++;
        } else /* bumped: its best pair among the clusters not yet full (N <= K cap: one exists) */
            decar__heap_push(heap, &nh, decar__best_pair(S, pi, K, cnt, cap));
    }
}
DECARDEF int decar_nearest(const float *x, const float *cen, int k, int d) {
    int j, best = 0;
    float bs = -INFINITY;
    for (j = 0; j < k; j++) {
        float s = decar__dot(x, cen + (int64_t)j * d, d);
        if (s > bs) {
            bs = s;
            best = j;
        }
    }
    return best;
}
/* One stage of spherical k-means on X (N, d), unit rows, into C (K, d), unit rows, and lab (N):
       S = X C^T                      (N, K) cosines
       assign: plain   a_i = argmax_k S_ik
               balanced: the (i, k) pairs in decreasing S, each point to its best cluster that is not full (capacity
               ceil(N / K)): a greedy solution of the capacitated assignment, deterministic
       update: mu_k = normalise(sum_{a_i = k} x_i)
   until no label changes or iters. Seeded with k-means++ on D(x) = 1 - max_k cos(x, mu_k). Returns the iterations. */
static int decar__kmeans1(const float *X, int64_t N, int d, int K, int iters, int balanced, uint64_t seed, float *C,
                          int32_t *lab, decar_error *e) {
    float *S = (float *)DECAR_MALLOC((size_t)(N * K) * sizeof(float)),
          *dist = (float *)DECAR_MALLOC((size_t)N * sizeof(float));
    uint64_t *pairs = balanced ? (uint64_t *)DECAR_MALLOC((size_t)N * 3 * sizeof(uint64_t)) : NULL;
    int32_t *cnt = (int32_t *)DECAR_MALLOC((size_t)K * sizeof(int32_t));
    int64_t i, cap = (N + K - 1) / K;
    int it, j, nb;
    decar_rng r;
    if (balanced && N * K > (int64_t)UINT32_MAX) {
        decar__free_n(4, (void *)S, (void *)dist, (void *)pairs, (void *)cnt);
        DECAR__FAIL(e, DECAR_ERR_ARG, "balanced k-means of %lld points into %d clusters: more than 2^32 pairs",
                    (long long)N, K);
    }
    if (!S || !dist || !cnt || (balanced && !pairs)) {
        decar__free_n(4, (void *)S, (void *)dist, (void *)pairs, (void *)cnt);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for k-means on %lld x %d", (long long)N, K);
    }
    decar_rng_seed(&r, seed);
    /* k-means++: mu_0 a uniform point, then mu_j ~ D(x)^2 with D(x) = 1 - max_{k<j} cos(x, mu_k) */
    memcpy(C, X + (int64_t)decar__rng_below(&r, (uint64_t)N) * d, (size_t)d * sizeof(float));
    for (i = 0; i < N; i++) dist[i] = 2.0f;
    for (j = 1; j < K; j++) {
        double tot = 0.0, u;
        int64_t pick = N - 1;
        /* each point's distance on its own: the same bits for any thread count */
        DECAR__PAR_FOR(N * d >= 65536, for (i = 0; i < N; i++) {
            float dd = 1.0f - decar__dot(X + i * d, C + (int64_t)(j - 1) * d, d);
            if (dd < 0) dd = 0;
            if (dd < dist[i]) dist[i] = dd;
        });
        for (i = 0; i < N; i++) tot += (double)dist[i] * dist[i];
        u = decar_rng_double(&r) * tot;
        if (tot > 0.0) {
            for (i = 0; i < N; i++) {
                u -= (double)dist[i] * dist[i];
                if (u < 0.0) {
                    pick = i;
                    break;
                }
            }
        } else
            pick = (int64_t)decar__rng_below(&r, (uint64_t)N);
        memcpy(C + (int64_t)j * d, X + pick * d, (size_t)d * sizeof(float));
    }
    for (i = 0; i < N; i++) lab[i] = -1;
    for (it = 0; it < iters; it++) {
        int64_t changed = 0;
        decar_gemm(S, K, X, d, 1, C, 1, d, NULL, N, K, d, 0); /* S = X C^T */
        if (balanced) { /* the (point, cluster) pairs, best cosine first; a point takes its first non-full cluster */
            int32_t *nl = (int32_t *)dist; /* reuse as new labels */
            decar__balanced_assign(S, N, K, cap, nl, cnt, pairs, pairs + N, pairs + 2 * N);
            for (i = 0; i < N; i++) {
                if (nl[i] != lab[i]) changed++;
                lab[i] = nl[i];
            }
        } else { /* a_i = argmax_k S_ik (the first of equals) */
            for (i = 0; i < N; i++) {
                int best = 0;
                float bs = S[i * K];
                for (j = 1; j < K; j++)
                    if (S[i * K + j] > bs) {
                        bs = S[i * K + j];
                        best = j;
                    }
                if (best != lab[i]) changed++;
                lab[i] = best;
            }
            memset(cnt, 0, (size_t)K * sizeof(int32_t));
            for (i = 0; i < N; i++) cnt[lab[i]]++;
        }
        for (j = 0; j < K; j++)
            if (cnt[j] == 0) { /* reseed: the point farthest from its centroid, from a cluster of >= 2 */
                int64_t far = -1;
                float fs = INFINITY;
                for (i = 0; i < N; i++)
                    if (cnt[lab[i]] > 1 && S[i * K + lab[i]] < fs) {
                        fs = S[i * K + lab[i]];
                        far = i;
                    }
                if (far >= 0) {
                    cnt[lab[far]]--;
                    lab[far] = j;
                    cnt[j] = 1;
                    changed++;
                }
            }
        if (!changed) { /* the same labels as the last update: it would give the same centroids, bit for bit */
            it++;
            break;
        }
        /* mu_k = normalise(sum_{a_i = k} x_i): the spherical mean. Each thread sums one contiguous range of columns
           (X is read once in all); each sum runs over i in order, so the bits do not depend on the thread count */
        memset(C, 0, (size_t)K * d * sizeof(float));
        nb = decar_get_threads() < (d + 15) / 16 ? decar_get_threads() : (d + 15) / 16;
        DECAR__PAR_FOR(N * d >= 65536, for (j = 0; j < nb; j++) {
            int64_t q0 = (int64_t)d * j / nb, q1 = (int64_t)d * (j + 1) / nb, ii;
            for (ii = 0; ii < N; ii++) /* c += 1 x: fma(1, x, c) rounds as c + x does */
                decar__axpy(C + (int64_t)lab[ii] * d + q0, 1.0f, X + ii * d + q0, q1 - q0);
        });
        for (j = 0; j < K; j++) decar_l2_normalize(C + (int64_t)j * d, d);
    }
    DECAR_FREE(S);
    DECAR_FREE(dist);
    DECAR_FREE(cnt);
    decar__free(pairs);
    return it;
}
DECARDEF decar_kmeans_opts decar_kmeans_default(int k) {
    decar_kmeans_opts o = { 0, 30, 1, 1, 0 };
    o.k = k;
    return o;
}
/* the iterations, or minus a DECAR_ERR_* */
static int decar__kmeans(const float *X, int64_t N, int d, const decar_kmeans_opts *o, float *C, int32_t *lab,
                         float *fine_c, int32_t *fine_map, decar_error *e) {
    int64_t i;
    int it;
    if (o->k < 1 || d < 1) {
        decar__seterr(e, DECAR_ERR_ARG, "k-means needs K >= 1 and d >= 1");
        return -DECAR_ERR_ARG;
    }
    if (N < o->k) {
        decar__seterr(e, DECAR_ERR_ARG, "K = %d is larger than the data (%lld points)", o->k, (long long)N);
        return -DECAR_ERR_ARG;
    }
    for (i = 0; i < N * d; i++)
        if (!(fabsf(X[i]) < INFINITY)) {
            decar__seterr(e, DECAR_ERR_NUMERIC, "feature %lld of point %lld is NaN or Inf", (long long)(i % d),
                          (long long)(i / d));
            return -DECAR_ERR_NUMERIC;
        }
    if (o->n_fine > 0) { /* two-stage: plain spherical k-means into F fine clusters, balanced k-means over them */
        int F = o->n_fine < N ? o->n_fine : (int)N;
        float *fc = (float *)DECAR_MALLOC((size_t)F * d * sizeof(float));
        int32_t *fl = (int32_t *)DECAR_MALLOC((size_t)N * sizeof(int32_t)),
                *fm = (int32_t *)DECAR_MALLOC((size_t)F * sizeof(int32_t));
        if (F < o->k) {
            decar__free_n(3, (void *)fc, (void *)fl, (void *)fm);
            decar__seterr(e, DECAR_ERR_ARG, "two-stage: %d fine clusters < K = %d", F, o->k);
            return -DECAR_ERR_ARG;
        }
        if (!fc || !fl || !fm) {
            decar__free_n(3, (void *)fc, (void *)fl, (void *)fm);
            decar__seterr(e, DECAR_ERR_NOMEM, "no memory");
            return -DECAR_ERR_NOMEM;
        }
        if ((it = decar__kmeans1(X, N, d, F, o->iters, 0, o->seed, fc, fl, e)) >= 0)
            it = decar__kmeans1(fc, F, d, o->k, o->iters, 1, o->seed + 1, C, fm, e);
        if (it >= 0)
            for (i = 0; i < N; i++) lab[i] = fm[fl[i]];
        if (it >= 0 && fine_c) memcpy(fine_c, fc, (size_t)F * d * sizeof(float));
        if (it >= 0 && fine_map) memcpy(fine_map, fm, (size_t)F * sizeof(int32_t));
        DECAR_FREE(fc);
        DECAR_FREE(fl);
        DECAR_FREE(fm);
        return it;
    }
    return decar__kmeans1(X, N, d, o->k, o->iters, o->balanced, o->seed, C, lab, e);
}
DECARDEF int decar_kmeans(const float *X, int64_t N, int d, const decar_kmeans_opts *o, float *C, int32_t *lab,
                          float *fine_c, int32_t *fine_map, int *iters, decar_error *e) {
    int it = decar__kmeans(X, N, d, o, C, lab, fine_c, fine_map, e);
    if (it < 0) return -it;
    if (iters) *iters = it;
    return DECAR_OK;
}

/* ---- 9. routing -------------------------------------------------------------------------------------------------- */
static const char *const decar__route_names[7] = {
    "top1", "cosine", "cbtm", "bayes", "uniform", "learned", "smalltalk"
};
DECARDEF int decar_route_name(const char *s) {
    int i;
    for (i = 0; i < 7; i++)
        if (!strcmp(s, decar__route_names[i])) return i + 1;
    return 0;
}
DECARDEF const char *decar_route_label(int kind) {
    return kind >= 1 && kind <= 7 ? decar__route_names[kind - 1] : "?";
}
DECARDEF int decar_route_uses_features(int kind) {
    return kind == DECAR_ROUTE_TOP1 || kind == DECAR_ROUTE_COSINE || kind == DECAR_ROUTE_CBTM ||
           kind == DECAR_ROUTE_LEARNED || kind == DECAR_ROUTE_LM;
}
DECARDEF int decar_router_assign(const decar_router *r, const float *feat) {
    if (r->n_fine > 0) return r->fine_map[decar_nearest(feat, r->fine, r->n_fine, r->d)];
    return decar_nearest(feat, r->centroids, r->k, r->d);
}
/* log-weights l_k first, then w = softmax over the top-k of l:
       R1 (top1)    l_k = 0 for k = a(h), -inf otherwise           a: decar_router_assign, the partition's rule
       R2 (cosine)  l_k = cos(h, mu_k) / T
       R3 (cbtm)    l_k = -||h - mu_k||^4 / T = -(2 - 2 cos)^2 / T   (c-BTM squares the squared distance)
       R4' (bayes)  l_k = log pi_k + sum_j log p_k(x_j | x_<j)       (loglik)
       R5 (learned) l_k = w_k . h + b_k                             (decar_router_fit)
       R6 (smalltalk) l_k = -loss_k(text) / T                       (decar_lm_router_fn's features)
       uniform      l_k = 0
   without features (an empty prompt) R1-R3 fall back to the prior, log pi_k. */
DECARDEF void decar_router_weights(const decar_router *r, const float *feat, const double *loglik, double *w) {
    int k = r->k, j, top = r->top_k > 0 && r->top_k < k ? r->top_k : k;
    double mx = -INFINITY, s = 0.0;
    float fn = 0.0f;
    double T = r->temp > 0.0f ? r->temp : 0.1;
    if (feat) {
        int q;
        for (q = 0; q < r->d; q++) fn += feat[q] * feat[q];
    }
    for (j = 0; j < k; j++) w[j] = log(r->prior ? (r->prior[j] > 0 ? r->prior[j] : 1e-30) : 1.0 / k); /* log prior */
    if ((r->kind == DECAR_ROUTE_TOP1 || r->kind == DECAR_ROUTE_COSINE || r->kind == DECAR_ROUTE_CBTM) && feat &&
        fn > 0.0f) {
        if (r->kind == DECAR_ROUTE_TOP1) {
            int a = decar_router_assign(r, feat);
            for (j = 0; j < k; j++) w[j] = j == a ? 0.0 : -INFINITY;
        } else
            for (j = 0; j < k; j++) {
                double cs = decar__dot(feat, r->centroids + (int64_t)j * r->d, r->d);
                if (r->kind == DECAR_ROUTE_COSINE)
                    w[j] = cs / T;
                else {
                    double d2 = 2.0 - 2.0 * cs;
                    if (d2 < 0) d2 = 0;
                    w[j] = -(d2 * d2) / T;
                } /* c-BTM: squared distance, squared again */
            }
    } else if (r->kind == DECAR_ROUTE_LM && feat && fn > 0.0f) {
        /* R6: l_k = -loss_k / T, the small models' minus nats per token */
        for (j = 0; j < k; j++) w[j] = feat[j] / T;
    } else if (r->kind == DECAR_ROUTE_LEARNED && feat && fn > 0.0f && r->clf_w) {
        /* R5: l_k = w_k . h + b_k, the classifier's logits (the softmax below makes them p(k | h)) */
        for (j = 0; j < k; j++) w[j] = decar__dot(feat, r->clf_w + (int64_t)j * r->d, r->d) + r->clf_b[j];
    } else if (r->kind == DECAR_ROUTE_BAYES && loglik) {
        for (j = 0; j < k; j++) w[j] += loglik[j];
    } else if (r->kind == DECAR_ROUTE_UNIFORM) {
        for (j = 0; j < k; j++) w[j] = 0.0;
    }
    /* keep the top `top` log-weights in the order (larger weight first, then lower index), softmax over them.
       Each pass takes the next element of that order after the last kept one (wl, jl): O(top * k), no scratch, any k.
     */
    {
        double wl = INFINITY;
        int jl = -1, pass;
        for (pass = 0; pass < top; pass++) {
            int b = -1;
            for (j = 0; j < k; j++) {
                int after = w[j] < wl || (w[j] == wl && j > jl); /* j comes after (wl, jl) in the order */
                if (after && (b < 0 || w[j] > w[b])) b = j;
            }
            if (b < 0) break;
            wl = w[b];
            jl = b;
        }
        for (j = 0; j < k; j++) {
            int kept = w[j] > wl || (w[j] == wl && j <= jl);
            if (!kept) w[j] = -INFINITY;
            if (w[j] > mx) mx = w[j];
        }
        for (j = 0; j < k; j++) {
            w[j] = w[j] > -INFINITY ? exp(w[j] - mx) : 0.0;
            s += w[j];
        }
        if (!(s > 0.0)) {
            for (j = 0; j < k; j++) w[j] = 1.0 / k;
            return;
        }
        for (j = 0; j < k; j++) w[j] /= s;
    }
}

DECARDEF void decar_router_free(decar_router *r) {
    decar__free_n(4, (void *)r->centroids, (void *)r->prior, (void *)r->fine, (void *)r->fine_map);
    decar__free(r->clf_w);
    decar__free(r->clf_b);
    decar__free_n(3, (void *)r->count, (void *)r->rows, (void *)r->row_label);
    memset(r, 0, sizeof *r);
}
DECARDEF int decar_lm_router_fn(void *user, const uint8_t *text, int64_t len, float *out) {
    decar_lm_router *lr = (decar_lm_router *)user;
    int64_t n = len < lr->max_tokens ? len : lr->max_tokens; /* tokens never outnumber bytes */
    int32_t *ids = (int32_t *)DECAR_MALLOC((size_t)(n + 1) * 2 * sizeof(int32_t));
    float *nll = (float *)DECAR_MALLOC((size_t)(n + 1) * sizeof(float));
    int32_t *tg;
    int j, rc = DECAR_OK;
    int64_t i, m;
    if (!ids || !nll) {
        decar__free(ids);
        decar__free(nll);
        return DECAR_ERR_NOMEM;
    }
    tg = ids + n + 1;
    /* ids = [EOT, x_0 .. x_{m-2}], targets = [x_0 .. x_{m-1}]: the model's next-token loss on the text's start */
    ids[0] = lr->tok ? lr->tok->eot : DECAR_TOK_EOT;
    m = lr->tok ? decar_tokenizer_encode(lr->tok, text, n, tg) : n;
    for (i = 0; !lr->tok && i < m; i++) tg[i] = text[i];
    for (i = 1; i < m; i++) ids[i] = tg[i - 1];
    for (j = 0; j < lr->k && !rc; j++) {
        decar_gpt *g = lr->lms[j];
        int64_t T = m < g->cfg.seq_len ? m : g->cfg.seq_len;
        double s = 0.0;
        out[j] = 0.0f;
        if (T < 1) continue;
        rc = decar_gpt_score(g, lr->ctx, ids, tg, 1, (int)T, nll);
        for (i = 0; i < T && !rc; i++) s += nll[i];
        out[j] = (float)(-s / (double)T);
    }
    decar__free(ids);
    decar__free(nll);
    return rc;
}
/* pi_k = count_k / sum_j count_j: the prior of a router that knows its clusters' document counts */
static void decar__router_prior(decar_router *r) {
    double tot = 0.0;
    int j;
    if (!r->count) return;
    for (j = 0; j < r->k; j++) tot += r->count[j];
    for (j = 0; j < r->k; j++) r->prior[j] = tot > 0.0 ? (float)((double)r->count[j] / tot) : 1.0f / (float)r->k;
}
/* the end of a join or a leave (rc: the status so far): R5 refitted from zero on the rows R (nr, r->d) with their
   labels L when r has a classifier (decar_router_fit keeps a copy), R and L freed, then nw replaces r, or on failure
   nw is freed and r is left as it was */
static int decar__router_replace(decar_router *r, decar_router *nw, float *R, int32_t *L, int64_t nr, int rc,
                                 decar_error *e) {
    if (!rc && r->clf_w)
        rc = decar_router_fit(nw, R, L, nr, r->fit_steps > 0 ? r->fit_steps : 200, r->fit_lr > 0.0f ? r->fit_lr : 0.05f,
                              NULL, e);
    decar__free(R);
    decar__free(L);
    if (rc) {
        decar_router_free(nw);
        return rc;
    }
    decar_router_free(r);
    *r = *nw;
    return DECAR_OK;
}
/* a copy of R5's training rows (X may be r->rows itself: copied before the old ones are freed) */
static int decar__router_keep_rows(decar_router *r, const float *X, const int32_t *labels, int64_t N, int steps,
                                   float lr, decar_error *e) {
    float *rows = (float *)DECAR_MALLOC((size_t)N * (size_t)r->d * sizeof(float));
    int32_t *lab = (int32_t *)DECAR_MALLOC((size_t)N * sizeof(int32_t));
    if (!rows || !lab) {
        decar__free(rows);
        decar__free(lab);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to keep R5's %lld training rows", (long long)N);
    }
    memcpy(rows, X, (size_t)N * (size_t)r->d * sizeof(float));
    memcpy(lab, labels, (size_t)N * sizeof(int32_t));
    decar__free(r->rows);
    decar__free(r->row_label);
    r->rows = rows;
    r->row_label = lab;
    r->n_rows = N;
    r->fit_steps = steps;
    r->fit_lr = lr;
    return DECAR_OK;
}
DECARDEF int decar_router_fit(decar_router *r, const float *X, const int32_t *labels, int64_t N, int steps, float lr,
                              double *acc, decar_error *e) {
    int K = r->k, d = r->d, s, j;
    int64_t i, q, nk = (int64_t)K * d, right = 0;
    float *P, *G, *W, *bias;
    if (N < 1 || K < 1 || d < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "R5: no training rows");
    for (i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K)
            DECAR__FAIL(e, DECAR_ERR_ARG, "R5: label %d of row %lld outside [0, %d)", (int)labels[i], (long long)i, K);
    P = (float *)DECAR_MALLOC((size_t)N * K * sizeof(float));
    G = (float *)DECAR_MALLOC((size_t)(nk + K) * 3 * sizeof(float)); /* gradient, Adam's m and v */
    W = (float *)DECAR_MALLOC((size_t)nk * sizeof(float));
    bias = (float *)DECAR_MALLOC((size_t)K * sizeof(float));
    if (!P || !G || !W || !bias) {
        decar__free_n(4, (void *)P, (void *)G, (void *)W, (void *)bias);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to fit R5 on %lld rows", (long long)N);
    }
    memset(W, 0, (size_t)nk * sizeof(float));
    memset(bias, 0, (size_t)K * sizeof(float));
    memset(G, 0, (size_t)(nk + K) * 3 * sizeof(float));
    for (s = 0; s < steps; s++) {
        float *gw = G, *m = G + nk + K, *v = m + nk + K;
        double bc1 = 1.0 - pow(0.9, s + 1), bc2 = 1.0 - pow(0.999, s + 1);
        /* P = softmax(X W^T + b) (N, K); dL/dlogits = (P - onehot(y)) / N */
        decar_gemm(P, K, X, d, 1, W, 1, d, bias, N, K, d, 0);
        for (i = 0; i < N; i++) {
            float *p = P + i * K;
            decar__softmax_row(p, p, 1.0f, K);
            p[labels[i]] -= 1.0f;
            for (j = 0; j < K; j++) p[j] /= (float)N;
        }
        /* dW = dlogits^T X (K, d), db = its column sums; then Adam, with weight decay 1e-4 on W */
        decar_gemm(gw, d, P, 1, K, X, d, 1, NULL, K, d, N, 0);
        for (j = 0; j < K; j++) gw[nk + j] = 0.0f;
        for (i = 0; i < N; i++)
            for (j = 0; j < K; j++) gw[nk + j] += P[i * K + j];
        for (q = 0; q < nk + K; q++) {
            float *pw = q < nk ? W + q : bias + (q - nk);
            m[q] = 0.9f * m[q] + 0.1f * gw[q];
            v[q] = 0.999f * v[q] + 0.001f * gw[q] * gw[q];
            *pw -= lr * (float)((m[q] / bc1) / (sqrt(v[q] / bc2) + 1e-8) + (q < nk ? 1e-4 * *pw : 0.0));
        }
    }
    /* training accuracy: argmax_k of the logits against the labels */
    decar_gemm(P, K, X, d, 1, W, 1, d, bias, N, K, d, 0);
    for (i = 0; i < N; i++) {
        int best = 0;
        for (j = 1; j < K; j++) best = P[i * K + j] > P[i * K + best] ? j : best;
        right += best == labels[i];
    }
    if (acc) *acc = (double)right / (double)N;
    decar__free(r->clf_w);
    decar__free(r->clf_b);
    r->clf_w = W;
    r->clf_b = bias;
    decar__free(P);
    decar__free(G);
    return decar__router_keep_rows(r, X, labels, N, steps, lr, e); /* what join and leave refit R5 from */
}
/* R5's row p of a document into out (f->dim): p = 0 the whole document; p > 0 (noise = 0, AR) a prefix of length
   16 (len / 16)^u, u ~ U(0, 1), drawn only when len > 16; or (noise = W > 0, DFM) a window of min(W, len) bytes at a
   uniform start, each byte revealed with probability u ~ U(0, 1), the revealed bytes in order (buf: W bytes) */
static int decar__r5_row(const decar_featurizer *f, const decar_doc *doc, int p, int noise, decar_rng *rg,
                         uint8_t *buf, float *out, decar_error *e) {
    int64_t len = doc->len, w, start = 0, i, nv = 0;
    double u;
    if (p > 0 && noise <= 0 && len > 16) len = (int64_t)(16.0 * pow((double)len / 16.0, decar_rng_double(rg)));
    if (p == 0 || noise <= 0) return decar_feat_apply(f, doc->bytes, len, out, e);
    u = decar_rng_double(rg);
    w = len < noise ? len : noise;
    if (len > w) start = (int64_t)(decar_rng_double(rg) * (double)(len - w + 1));
    if (start > len - w) start = len - w;
    for (i = 0; i < w; i++)
        if (decar_rng_double(rg) < u) buf[nv++] = doc->bytes[start + i];
    return decar_feat_apply(f, buf, nv, out, e);
}
DECARDEF int decar_router_fit_docs(decar_router *r, const decar_featurizer *f, const decar_data *d,
                                   const int32_t *shard, int n_prefix, int steps, uint64_t seed, double *acc,
                                   decar_error *e) {
    int64_t i, rows = 0, n = 0;
    int q, rc = DECAR_OK;
    float *X;
    int32_t *y;
    uint8_t *buf = (uint8_t *)DECAR_MALLOC((size_t)(r->fit_noise > 0 ? r->fit_noise : 1));
    decar_rng rg;
    if (!buf) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for R5's windows");
    for (i = 0; i < d->n_docs; i++) rows += d->docs[i].split == 0 && shard[i] >= 0;
    rows *= 1 + (n_prefix > 0 ? n_prefix : 0);
    X = (float *)DECAR_MALLOC((size_t)(rows > 0 ? rows : 1) * (size_t)r->d * sizeof(float));
    y = (int32_t *)DECAR_MALLOC((size_t)(rows > 0 ? rows : 1) * sizeof(int32_t));
    if (!X || !y) {
        decar__free_n(3, (void *)X, (void *)y, (void *)buf);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for R5's %lld training rows", (long long)rows);
    }
    decar_rng_seed(&rg, seed);
    /* rows: the whole document, then n_prefix prefixes (or noised windows) of it (decar__r5_row) */
    for (i = 0; i < d->n_docs && !rc; i++) {
        const decar_doc *doc = &d->docs[i];
        if (doc->split != 0 || shard[i] < 0) continue;
        for (q = 0; q <= n_prefix && !rc; q++) {
            rc = decar__r5_row(f, doc, q, r->fit_noise, &rg, buf, X + n * r->d, e);
            y[n++] = shard[i];
        }
    }
    if (!rc) rc = decar_router_fit(r, X, y, n, steps, 0.05f, acc, e);
    r->fit_prefix = n_prefix > 0 ? n_prefix : 0;
    r->fit_seed = seed;
    decar__free_n(3, (void *)X, (void *)y, (void *)buf);
    return rc;
}
/* The router of a partition, from the training documents' features X (N, d), rows L2-normalised:
       mu = spherical (balanced) k-means of X            centroids (k, d), and fine ones when o->n_fine > 0
       a(x) = argmax_k cos(x, mu_k)                      decar_router_assign: the same rule partitions and routes
       pi_k = |{i : a(x_i) = k}| / N                     the prior R4' starts from
   labels (N, optional) receives a(x_i): the shard of every training document. */
DECARDEF int decar_router_build(decar_router *r, const float *X, int64_t N, int d, const decar_kmeans_opts *o,
                                int32_t *labels, decar_error *e) {
    int K = o->k;
    int nf = o->n_fine > 0 ? (int)(o->n_fine < N ? o->n_fine : N) : 0;
    int64_t i;
    int32_t *lt;
    memset(r, 0, sizeof *r);
    if (N < 1 || d < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "no training documents to cluster");
    if (K < 1 || K > N)
        DECAR__FAIL(e, DECAR_ERR_ARG, "K = %d is larger than the data (%lld training documents)", K, (long long)N);
    r->k = K;
    r->d = d;
    r->kind = DECAR_ROUTE_TOP1;
    r->top_k = 1;
    r->temp = 0.1f;
    r->n_fine = nf;
    r->centroids = (float *)DECAR_MALLOC((size_t)K * (size_t)d * sizeof(float));
    r->prior = (float *)DECAR_MALLOC((size_t)K * sizeof(float));
    r->count = (float *)DECAR_MALLOC((size_t)K * sizeof(float));
    lt = (int32_t *)DECAR_MALLOC((size_t)N * sizeof(int32_t));
    if (nf) {
        r->fine = (float *)DECAR_MALLOC((size_t)o->n_fine * (size_t)d * sizeof(float));
        r->fine_map = (int32_t *)DECAR_MALLOC((size_t)o->n_fine * sizeof(int32_t));
    }
    if (!r->centroids || !r->prior || !r->count || !lt || (nf && (!r->fine || !r->fine_map))) {
        decar__free(lt);
        decar_router_free(r);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for a router of %d clusters", K);
    }
    if (decar_kmeans(X, N, d, o, r->centroids, lt, r->fine, r->fine_map, NULL, e)) {
        DECAR_FREE(lt);
        decar_router_free(r);
        return e ? e->code : DECAR_ERR_ARG;
    }
    DECAR_FREE(lt);
    for (i = 0; i < K; i++) r->count[i] = 0.0f;
    for (i = 0; i < N; i++) {
        int a = decar_router_assign(r, X + i * d);
        r->count[a] += 1.0f;
        if (labels) labels[i] = a;
    }
    /* pi_k = count_k / N, the rule decar_router_join and _leave apply again (so a join then a leave restores it) */
    decar__router_prior(r);
    return DECAR_OK;
}
DECARDEF int decar_data_base_share(decar_data *d, int permille) {
    int i, n = 0;
    for (i = 0; permille > 0 && i < d->n_docs; i++) {
        const char *nm = d->docs[i].name, *hash = strchr(nm, '#');
        size_t len = hash ? (size_t)(hash - nm) : strlen(nm);
        if (d->docs[i].split != 0) continue;
        if (decar_hash64(nm, len, 0xba5e) % 1000 < (uint64_t)permille) {
            d->docs[i].split = 2;
            n++;
        }
    }
    return n;
}
DECARDEF decar_cluster_opts decar_cluster_opts_default(int k) {
    decar_cluster_opts o;
    o.kmeans = decar_kmeans_default(k);
    o.feat_dim = 64;
    o.feat_seed = 1;
    o.features = NULL;
    o.features_dim = 0;
    return o;
}
DECARDEF int decar_cluster_docs(const decar_data *d, const decar_cluster_opts *o, decar_featurizer *fz,
                                decar_router *r, float **X_out, int *d_out, int32_t *shard, decar_error *e) {
    const float *X_in = o->features;
    int i, nt = 0, dim = X_in ? o->features_dim : o->feat_dim, rc = DECAR_OK;
    float *X, *Xt;
    decar_doc *train;
    memset(fz, 0, sizeof *fz);
    memset(r, 0, sizeof *r);
    *X_out = NULL;
    if (dim < 1 || dim > (1 << 20)) DECAR__FAIL(e, DECAR_ERR_ARG, "feature dimension %d", dim);
    X = (float *)DECAR_MALLOC((size_t)d->n_docs * (size_t)dim * sizeof(float) + 1);
    Xt = (float *)DECAR_MALLOC((size_t)d->n_docs * (size_t)dim * sizeof(float) + 1);
    train = (decar_doc *)DECAR_MALLOC((size_t)d->n_docs * sizeof(decar_doc) + 1);
    if (!X || !Xt || !train) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for the features of %d documents", d->n_docs);
    }
    for (i = 0; !rc && i < d->n_docs; i++)
        if (d->docs[i].split == 0) train[nt++] = d->docs[i];
    /* x_i: the given rows, normalised, or tf-idf with idf fitted on the training documents only */
    if (!rc && X_in) {
        memcpy(X, X_in, (size_t)d->n_docs * (size_t)dim * sizeof(float));
        for (i = 0; !rc && i < d->n_docs; i++) {
            float *x = X + (int64_t)i * dim;
            double nn = 0;
            int q;
            for (q = 0; q < dim; q++) nn += (double)x[q] * x[q];
            if (!(nn > 0) || nn != nn || nn > 1e300) { /* a zero row has no direction; NaN or Inf none either */
                rc = DECAR_ERR_ARG;
                decar__seterr(e, rc, "feature row %d (document %s) is all zeros or not finite", i, d->docs[i].name);
            }
            decar_l2_normalize(x, dim);
        }
    } else if (!rc) {
        rc = decar_feat_fit(fz, dim, o->feat_seed, train, nt, e);
        for (i = 0; !rc && i < d->n_docs; i++)
            if ((rc = decar_feat_apply(fz, d->docs[i].bytes, d->docs[i].len, X + (int64_t)i * dim, e)))
                decar__seterr(e, rc, "cannot featurize document %s", d->docs[i].name);
    }
    /* the router from the training rows, then every document through its assignment */
    for (i = 0, nt = 0; !rc && i < d->n_docs; i++)
        if (d->docs[i].split == 0) memcpy(Xt + (int64_t)nt++ * dim, X + (int64_t)i * dim, (size_t)dim * sizeof(float));
    if (!rc) rc = decar_router_build(r, Xt, nt, dim, &o->kmeans, NULL, e);
    for (i = 0; !rc && i < d->n_docs; i++)
        shard[i] = d->docs[i].split == 0 || d->docs[i].split == 1 ? decar_router_assign(r, X + (int64_t)i * dim) : -1;
    decar__free(Xt);
    decar__free(train);
    if (rc) {
        decar__free(X);
        decar_feat_free(fz);
        return rc;
    }
    *X_out = X;
    *d_out = dim;
    return DECAR_OK;
}
DECARDEF double decar_nmi(const int *a, const int *b, int n, int ka, int kb, double *purity) {
    double *joint = (double *)DECAR_MALLOC((size_t)(ka > 0 ? ka : 1) * (size_t)(kb > 0 ? kb : 1) * sizeof(double));
    double *pa = (double *)DECAR_MALLOC((size_t)(ka > 0 ? ka : 1) * sizeof(double));
    double *pb = (double *)DECAR_MALLOC((size_t)(kb > 0 ? kb : 1) * sizeof(double));
    double mi = 0, ha = 0, hb = 0, pur = 0;
    int i, j;
    *purity = 0;
    if (!joint || !pa || !pb) {
        decar__free_n(3, (void *)joint, (void *)pa, (void *)pb);
        return NAN;
    }
    memset(joint, 0, (size_t)(ka > 0 ? ka : 1) * (size_t)(kb > 0 ? kb : 1) * sizeof(double));
    memset(pa, 0, (size_t)(ka > 0 ? ka : 1) * sizeof(double));
    memset(pb, 0, (size_t)(kb > 0 ? kb : 1) * sizeof(double));
    /* p(a, b), p(a), p(b) */
    for (i = 0; i < n; i++) {
        joint[a[i] * kb + b[i]] += 1.0 / n;
        pa[a[i]] += 1.0 / n;
        pb[b[i]] += 1.0 / n;
    }
    /* I = sum p(a,b) ln p(a,b) / (p(a) p(b)); H(a) = -sum p(a) ln p(a); purity = sum_a max_b p(a, b) */
    for (i = 0; i < ka; i++) {
        double mx = 0;
        if (pa[i] > 0) ha -= pa[i] * log(pa[i]);
        for (j = 0; j < kb; j++) {
            double p = joint[i * kb + j];
            if (p > 0) mi += p * log(p / (pa[i] * pb[j]));
            if (p > mx) mx = p;
        }
        pur += mx;
    }
    for (j = 0; j < kb; j++)
        if (pb[j] > 0) hb -= pb[j] * log(pb[j]);
    DECAR_FREE(joint);
    DECAR_FREE(pa);
    DECAR_FREE(pb);
    *purity = pur;
    return ha + hb > 0 ? 2 * mi / (ha + hb) : 1.0;
}
/* the lifecycle's part of a router file (section 16), each optional: count (k), whole and finite; R5's rows
   (n_rows, d) with row_label (n_rows), clusters of this router, and the fit's settings. Sizes against the file first.
 */
static int decar__router_load_lifecycle(decar_router *r, const decar__st *st, const uint8_t *b, decar_error *e) {
    const decar__st_entry *ec = decar__st_find(st, "count"), *er, *el;
    uint64_t nr = 0, steps = 0, pre = 0, lb = 0, seed = 0;
    float *fl;
    int64_t q;
    int j, rc = DECAR_OK;
    if (ec) {
        if (!(ec = decar__st_want(st, "count", r->k, e))) return DECAR_ERR_FORMAT;
        if (!(r->count = (float *)DECAR_MALLOC((size_t)r->k * sizeof(float))))
            DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
        if ((rc = decar__st_copy(st, b, ec, r->count, r->k, e))) return rc;
        for (j = 0; j < r->k; j++)
            if (!(r->count[j] >= 0.0f && r->count[j] == floorf(r->count[j])))
                DECAR__FAIL(e, DECAR_ERR_FORMAT, "count %d is %g: not a document count", j, (double)r->count[j]);
    }
    if (!decar__st_meta(st, "n_rows")) return DECAR_OK;
    if (decar__parse_u64(decar__st_meta(st, "n_rows"), &nr) || nr < 1 || nr > (1u << 30) ||
        decar__parse_u64(decar__st_meta(st, "fit_steps"), &steps) || steps > 100000000 ||
        decar__parse_u64(decar__st_meta(st, "fit_prefix"), &pre) || pre > 4096 ||
        decar__parse_u64(decar__st_meta(st, "fit_lr_bits"), &lb) || lb > 0xffffffffu ||
        decar__parse_u64(decar__st_meta(st, "fit_seed"), &seed))
        DECAR__FAIL(e, DECAR_ERR_FORMAT,
                    "R5's rows without valid n_rows, fit_steps, fit_prefix, fit_lr_bits, fit_seed");
    {
        uint32_t l32 = (uint32_t)lb;
        memcpy(&r->fit_lr, &l32, sizeof l32);
        if (!(r->fit_lr > 0.0f && r->fit_lr < 100.0f))
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "R5's learning rate is not valid");
    }
    r->fit_steps = (int)steps;
    r->fit_prefix = (int)pre;
    r->fit_seed = seed;
    if (decar__st_meta(st, "fit_noise")) { /* DFM's noised windows (absent: prefixes) */
        uint64_t w;
        if (decar__parse_u64(decar__st_meta(st, "fit_noise"), &w) || w < 1 || w > (1u << 24))
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "R5's fit_noise is not a window of 1 to 2^24 bytes");
        r->fit_noise = (int)w;
    }
    er = decar__st_want(st, "rows", (int64_t)nr * r->d, e);
    el = er ? decar__st_want(st, "row_label", (int64_t)nr, e) : NULL;
    if (!el) return DECAR_ERR_FORMAT;
    r->rows = (float *)DECAR_MALLOC((size_t)nr * (size_t)r->d * sizeof(float));
    r->row_label = (int32_t *)DECAR_MALLOC((size_t)nr * sizeof(int32_t));
    fl = (float *)DECAR_MALLOC((size_t)nr * sizeof(float));
    if (!r->rows || !r->row_label || !fl) {
        decar__free(fl);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for R5's %llu rows", (unsigned long long)nr);
    }
    r->n_rows = (int64_t)nr;
    rc = decar__st_copy(st, b, er, r->rows, (int64_t)nr * r->d, e);
    if (!rc) rc = decar__st_copy(st, b, el, fl, (int64_t)nr, e);
    for (q = 0; !rc && q < (int64_t)nr; q++) {
        if (!(fl[q] >= 0.0f && fl[q] < (float)r->k) || fl[q] != floorf(fl[q])) {
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "row_label %lld is not a cluster index in [0, %d)", (long long)q, r->k);
        } else
            r->row_label[q] = (int32_t)fl[q];
    }
    decar__free(fl);
    return rc;
}
DECARDEF int decar_router_load_mem(decar_router *r, decar_featurizer *f, const void *buf, size_t len, decar_error *e) {
    decar__st st;
    const uint8_t *b = (const uint8_t *)buf;
    const decar__st_entry *ec, *ep, *ei, *ef = NULL, *em = NULL, *ecw = NULL, *ecb = NULL;
    uint64_t k, d, seed, nf;
    float *fm = NULL;
    int rc, i, external;
    memset(r, 0, sizeof *r);
    memset(f, 0, sizeof *f);
    if ((rc = decar__st_open(b, len, &st, e))) return rc;
    if (decar__parse_u64(decar__st_meta(&st, "k"), &k) || k < 1 || k > (1u << 24) ||
        decar__parse_u64(decar__st_meta(&st, "dim"), &d) || d < 1 || d > (1u << 20) ||
        decar__parse_u64(decar__st_meta(&st, "feat_seed"), &seed) ||
        decar__parse_u64(decar__st_meta(&st, "n_fine"), &nf) || nf > (1u << 24)) {
        decar__st_free(&st);
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "not a decar router file (metadata k, dim, feat_seed, n_fine)");
    }
    /* every tensor found with its size before anything is allocated: memory stays within the file's size */
    { /* which features made the centroids: the built-in tf-idf (files before 0.3 say nothing) or external ones */
        const char *fz = decar__st_meta(&st, "featurizer");
        external = fz && !strcmp(fz, "external");
        if (fz && !external && strcmp(fz, "tfidf")) {
            decar__st_free(&st);
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "unknown featurizer '%s' in a router file", fz);
        }
    }
    ec = decar__st_want(&st, "centroids", (int64_t)(k * d), e);
    ep = ec ? decar__st_want(&st, "prior", (int64_t)k, e) : NULL;
    ei = ep && !external ? decar__st_want(&st, "idf", DECAR_FEAT_BUCKETS, e) : NULL;
    if ((ei || (ep && external)) && nf) ef = decar__st_want(&st, "fine", (int64_t)(nf * d), e);
    if (ef) em = decar__st_want(&st, "fine_map", (int64_t)nf, e);
    if (!ep || (!external && !ei) || (nf && !em)) {
        decar__st_free(&st);
        return DECAR_ERR_FORMAT;
    }
    if (decar__st_find(&st, "clf_w") || decar__st_find(&st, "clf_b")) { /* R5's classifier: both, with their sizes */
        ecw = decar__st_want(&st, "clf_w", (int64_t)(k * d), e);
        ecb = ecw ? decar__st_want(&st, "clf_b", (int64_t)k, e) : NULL;
        if (!ecb) {
            decar__st_free(&st);
            return DECAR_ERR_FORMAT;
        }
        r->clf_w = (float *)DECAR_MALLOC((size_t)(k * d) * sizeof(float));
        r->clf_b = (float *)DECAR_MALLOC((size_t)k * sizeof(float));
    }
    r->k = (int)k;
    r->d = (int)d;
    r->n_fine = (int)nf;
    r->kind = DECAR_ROUTE_TOP1;
    r->top_k = 1;
    r->temp = 0.1f;
    f->dim = (int)d;
    f->seed = seed;
    r->centroids = (float *)DECAR_MALLOC((size_t)(k * d) * sizeof(float));
    r->prior = (float *)DECAR_MALLOC((size_t)k * sizeof(float));
    f->idf = external ? NULL : (float *)DECAR_MALLOC(DECAR_FEAT_BUCKETS * sizeof(float));
    if (nf) {
        r->fine = (float *)DECAR_MALLOC((size_t)(nf * d) * sizeof(float));
        r->fine_map = (int32_t *)DECAR_MALLOC((size_t)nf * sizeof(int32_t));
        fm = (float *)DECAR_MALLOC((size_t)nf * sizeof(float));
    }
    if (!r->centroids || !r->prior || (!external && !f->idf) || (nf && (!r->fine || !r->fine_map || !fm)) ||
        (ecw && (!r->clf_w || !r->clf_b))) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for a router of %d clusters", (int)k);
    }
    if (!rc) rc = decar__st_copy(&st, b, ec, r->centroids, (int64_t)(k * d), e);
    if (!rc) rc = decar__st_copy(&st, b, ep, r->prior, (int64_t)k, e);
    if (!rc && !external) rc = decar__st_copy(&st, b, ei, f->idf, DECAR_FEAT_BUCKETS, e);
    if (!rc && nf) rc = decar__st_copy(&st, b, ef, r->fine, (int64_t)(nf * d), e);
    if (!rc && nf) rc = decar__st_copy(&st, b, em, fm, (int64_t)nf, e);
    if (!rc && ecw) rc = decar__st_copy(&st, b, ecw, r->clf_w, (int64_t)(k * d), e);
    if (!rc && ecw) rc = decar__st_copy(&st, b, ecb, r->clf_b, (int64_t)k, e);
    if (!rc) rc = decar__router_load_lifecycle(r, &st, b, e); /* counts and R5's rows, when the file has them */
    for (i = 0; !rc && i < (int)nf; i++) {
        if (!(fm[i] >= 0 && fm[i] < (float)k) || fm[i] != floorf(fm[i])) {
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "fine_map entry %d is not a cluster index in [0, %d)", i, (int)k);
        } else
            r->fine_map[i] = (int32_t)fm[i];
    }
    for (i = 0; !rc && i < (int)k; i++)
        if (!(r->prior[i] >= 0.0f && r->prior[i] <= 1.0f)) {
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "prior %d is %g: not a probability", i, (double)r->prior[i]);
        }
    decar__free(fm);
    decar__st_free(&st);
    if (rc) {
        decar_router_free(r);
        decar_feat_free(f);
    }
    return rc;
}
DECARDEF int decar_router_save_mem(const decar_router *r, const decar_featurizer *f, void **buf, size_t *len,
                                   decar_error *e) {
    decar_st_tensor t[10];
    int n = 3, rc, i;
    decar__sb m;
    float *fm = NULL, *fl = NULL;
    t[0] = decar_st_tensor_of("centroids", r->k, r->d, r->centroids);
    t[1] = decar_st_tensor_of("prior", r->k, 0, r->prior);
    t[2] = decar_st_tensor_of("idf", DECAR_FEAT_BUCKETS, 0, f ? f->idf : NULL);
    if (r->n_fine > 0) {
        fm = (float *)DECAR_MALLOC((size_t)r->n_fine * sizeof(float));
        if (!fm) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
        for (i = 0; i < r->n_fine; i++) fm[i] = (float)r->fine_map[i];
        t[3] = decar_st_tensor_of("fine", r->n_fine, r->d, r->fine);
        t[4] = decar_st_tensor_of("fine_map", r->n_fine, 0, fm);
        n = 5;
    }
    if (!t[2].data) { /* external features: no idf; the file says so, and routing asks for the features */
        for (i = 2; i < n - 1; i++) t[i] = t[i + 1];
        n--;
    }
    if (r->clf_w && r->clf_b) { /* R5's classifier, when trained */
        t[n++] = decar_st_tensor_of("clf_w", r->k, r->d, r->clf_w);
        t[n++] = decar_st_tensor_of("clf_b", r->k, 0, r->clf_b);
    }
    if (r->count) t[n++] = decar_st_tensor_of("count", r->k, 0, r->count); /* join and leave: section 16 */
    if (r->rows && r->row_label && r->n_rows > 0) {                        /* R5's rows, to refit it */
        int64_t q;
        fl = (float *)DECAR_MALLOC((size_t)r->n_rows * sizeof(float));
        if (!fl) {
            decar__free(fm);
            DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
        }
        for (q = 0; q < r->n_rows; q++) fl[q] = (float)r->row_label[q];
        t[n++] = decar_st_tensor_of("rows", r->n_rows, r->d, r->rows);
        t[n++] = decar_st_tensor_of("row_label", r->n_rows, 0, fl);
    }
    memset(&m, 0, sizeof m);
    decar__sb_kv(&m, "k", (uint64_t)r->k);
    decar__sb_kv(&m, "dim", (uint64_t)r->d);
    decar__sb_kv(&m, "feat_seed", f ? f->seed : 0);
    decar__sb_kv(&m, "n_fine", (uint64_t)(r->n_fine > 0 ? r->n_fine : 0));
    decar__sb_str(&m, (f && f->idf) ? "\"featurizer\":\"tfidf\"," : "\"featurizer\":\"external\",");
    if (fl) {
        uint32_t lb;
        memcpy(&lb, &r->fit_lr, sizeof lb);
        decar__sb_kv(&m, "n_rows", (uint64_t)r->n_rows);
        decar__sb_kv(&m, "fit_steps", (uint64_t)(r->fit_steps > 0 ? r->fit_steps : 0));
        decar__sb_kv(&m, "fit_prefix", (uint64_t)(r->fit_prefix > 0 ? r->fit_prefix : 0));
        if (r->fit_noise > 0) decar__sb_kv(&m, "fit_noise", (uint64_t)r->fit_noise);
        decar__sb_kv(&m, "fit_lr_bits", (uint64_t)lb);
        decar__sb_kv(&m, "fit_seed", r->fit_seed);
    }
    if (!m.oom) {
        m.n--;
        m.p[m.n] = 0;
    }
    rc = m.oom ? DECAR_ERR_NOMEM : decar_st_save_mem(t, n, m.p, buf, len, e);
    decar__free(m.p);
    decar__free(fm);
    decar__free(fl);
    return rc;
}
#ifndef DECAR_NO_STDIO
DECARDEF int decar_router_save(const decar_router *r, const decar_featurizer *f, const char *path, decar_error *e) {
    void *buf = NULL;
    size_t len = 0;
    int rc = decar_router_save_mem(r, f, &buf, &len, e); /* first: the arguments below read buf and len */
    return decar__commit(path, buf, len, rc, e);
}
DECARDEF int decar_router_load(decar_router *r, decar_featurizer *f, const char *path, decar_error *e) {
    void *buf;
    size_t len;
    int rc;
    memset(r, 0, sizeof *r);
    memset(f, 0, sizeof *f);
    if ((rc = decar_read_file(path, &buf, &len, e))) return rc;
    rc = decar_router_load_mem(r, f, buf, len, e);
    DECAR_FREE(buf);
    return rc;
}
#endif

/* ---- 10. model -----------------------------------------------------------------------------------------------------
   WHAT A CHANGE OF THE MODEL MUST TOUCH (a new norm, activation or parameter tensor). The GPT block is written once
   per path, and a test holds each path to another:
     layout        the slots DECAR__LN1_W .. DECAR__FCPROJ_B and decar__block_params (names, shapes), decar__gpt_layout
                   (the order and offsets every path and checkpoint index by), decar_gpt_init (the initialisation,
                   chosen by name); a new setting: decar_gpt_config, decar_gpt_default_config, decar_gpt_check_config
     tape          decar_gpt_hidden (the forward; the backward comes from the ops: a new op needs its kernels in 4 / 5b,
                   its reference in 5c, its case in decar__backward_op, and tests/test_kernels.c)
     KV cache      decar_gpt_step_batch, decar__ln_rows, decar__gpt_linear, decar_gpt_step_batch_scratch, and
                   decar_gpt_project_prefix for the image projector (10b); its attention kernels decar__dot_rows,
                   decar__attn_mix, decar__bf16_widen (the SIMD layer before section 1); tests/test_method.c
                   (generation), tests/test_vision.c (with a prefix) and tests/test_kernels.c (every SIMD path) hold
                   the steps to the forward
     device        the decar__k_* kernels, decar__dlayer with decar__dlayer_floats / _carve, decar__dev_reserve,
                   decar__dev_forward, decar__dev_backward, decar__dev_step_batch (10c); tests/test_device.c holds them
                   to the tape
     quantized     decar__gpt_is_matrix: the weight matrices that get a Q8_0 / bf16 copy (and are saved so, 13)
     estimates     decar_gpt_flops_per_token, decar_gpt_train_bytes (the CLI's memory check before training)
     checkpoints   decar_gpt_save_mem / decar_gpt_load_mem (13): a new setting as config metadata; tensors travel by
                   the layout's names
     Hugging Face  decar__hf_conv1d (the weights HF stores transposed), the config.json decar_gpt_export_hf_mem writes
                   and decar_gpt_import_hf_mem checks (13b); scripts/check_hf.py (gpt2_forward) and tests/test_interop.c
     PyTorch       scripts/torch_gpt.py (the twin; scripts/check_interop.py loads checkpoints with it) and
                   scripts/make_reference.py, which writes tests/ref_gpt.bin for tests/test_gpt_ref.c
     CLI           examples/decar.c's model options (--layers, --heads, --dim ...) for a new setting
   CLIP's towers (10d), averaging (decar_gpt_average) and the ensemble are built on these and follow. */
typedef struct decar__dev decar__dev; /* the device path's state (10c) */
static void decar__dev_free(decar__dev *d);
static int decar__dev_step_batch(decar_gpt *g, float *const *kv, const float *emb, const int *pos, int n, float *logits,
                                 decar_error *e);
/* a vocabulary of 258 or more tokens ends with the DFM mask, which is never a target: the model predicts the others */
DECARDEF int decar_gpt_mask(const decar_gpt_config *c) {
    return c->vocab_size >= DECAR_BYTE_VOCAB && !c->no_mask ? c->vocab_size - 1 : -1;
}
DECARDEF int decar_gpt_classes(const decar_gpt_config *c) {
    return decar_gpt_mask(c) >= 0 ? c->vocab_size - 1 : c->vocab_size;
}
DECARDEF decar_gpt_config decar_gpt_default_config(void) {
    /* vocab, layers, heads, d_model, seq_len, causal, n_prefix, d_prefix, d_proj_hidden, no_mask */
    decar_gpt_config c = { DECAR_BYTE_VOCAB, 4, 4, 256, 256, 1, 0, 0, 0, 0 };
    return c;
}
DECARDEF decar_gpt_config decar_gpt_config_of(int n_layer, int n_head, int d_model, int seq_len) {
    decar_gpt_config c = decar_gpt_default_config();
    c.n_layer = n_layer;
    c.n_head = n_head;
    c.d_model = d_model;
    c.seq_len = seq_len;
    return c;
}
DECARDEF int decar_gpt_check_config(const decar_gpt_config *c, decar_error *e) {
    if (c->vocab_size < 2 || c->vocab_size > (1 << 24))
        DECAR__FAIL(e, DECAR_ERR_ARG, "vocab_size %d outside [2, 2^24]", c->vocab_size);
    if (c->n_layer < 1 || c->n_layer > DECAR_MAX_LAYERS)
        DECAR__FAIL(e, DECAR_ERR_ARG, "n_layer %d outside [1, %d]", c->n_layer, DECAR_MAX_LAYERS);
    if (c->n_head < 1 || c->d_model < 1 || c->d_model > 65536 || c->d_model % c->n_head)
        DECAR__FAIL(e, DECAR_ERR_ARG, "d_model %d must be a positive multiple of n_head %d", c->d_model, c->n_head);
    if (c->seq_len < 1 || c->seq_len > (1 << 20))
        DECAR__FAIL(e, DECAR_ERR_ARG, "seq_len %d outside [1, 2^20]", c->seq_len);
    if (c->causal != 0 && c->causal != 1) DECAR__FAIL(e, DECAR_ERR_ARG, "causal must be 0 or 1");
    if (c->no_mask != 0 && c->no_mask != 1) DECAR__FAIL(e, DECAR_ERR_ARG, "no_mask must be 0 or 1");
    if (!c->causal && decar_gpt_mask(c) < 0)
        DECAR__FAIL(e, DECAR_ERR_ARG,
                    "a DFM (bidirectional) model needs a mask token: vocab_size >= 258 and no_mask 0");
    if (c->n_prefix < 0 || c->d_prefix < 0 || c->d_proj_hidden < 0 || (c->n_prefix > 0) != (c->d_prefix > 0) ||
        c->d_prefix > (1 << 20))
        DECAR__FAIL(e, DECAR_ERR_ARG, "image prefix: n_prefix %d and d_prefix %d must both be 0 or both positive",
                    c->n_prefix, c->d_prefix);
    if (c->n_prefix >= c->seq_len)
        DECAR__FAIL(e, DECAR_ERR_ARG, "seq_len %d leaves no room after %d prefix positions", c->seq_len, c->n_prefix);
    return DECAR_OK;
}

/* the parameters of block l, in the layout's order: g->p[DECAR__BLOCK(l) + slot] (tensors), g->info[...] (offsets) */
enum {
    DECAR__LN1_W,     /* ln_1.weight         (C)      */
    DECAR__LN1_B,     /* ln_1.bias           (C)      */
    DECAR__QKV_W,     /* attn.c_attn.weight  (3C, C)  */
    DECAR__QKV_B,     /* attn.c_attn.bias    (3C)     */
    DECAR__ATTPROJ_W, /* attn.c_proj.weight  (C, C)   */
    DECAR__ATTPROJ_B, /* attn.c_proj.bias    (C)      */
    DECAR__LN2_W,     /* ln_2.weight         (C)      */
    DECAR__LN2_B,     /* ln_2.bias           (C)      */
    DECAR__FC_W,      /* mlp.c_fc.weight     (4C, C)  */
    DECAR__FC_B,      /* mlp.c_fc.bias       (4C)     */
    DECAR__FCPROJ_W,  /* mlp.c_proj.weight   (C, 4C)  */
    DECAR__FCPROJ_B,  /* mlp.c_proj.bias     (C)      */
    DECAR__PER_LAYER
};
enum { DECAR__WTE = 0, DECAR__WPE = 1 }; /* token (V, C) and position (T, C) tables */
/* each slot's name under transformer.h.<l>. and its shape in units of C: (rows C, cols C), cols 0 for a vector */
static const struct {
    const char *name;
    int rows, cols;
} decar__block_params[DECAR__PER_LAYER] = { { "ln_1.weight", 1, 0 },        { "ln_1.bias", 1, 0 },
                                            { "attn.c_attn.weight", 3, 1 }, { "attn.c_attn.bias", 3, 0 },
                                            { "attn.c_proj.weight", 1, 1 }, { "attn.c_proj.bias", 1, 0 },
                                            { "ln_2.weight", 1, 0 },        { "ln_2.bias", 1, 0 },
                                            { "mlp.c_fc.weight", 4, 1 },    { "mlp.c_fc.bias", 4, 0 },
                                            { "mlp.c_proj.weight", 1, 4 },  { "mlp.c_proj.bias", 1, 0 } };
#define DECAR__BLOCK(l) (2 + (l)*DECAR__PER_LAYER)
/* the one table of parameters: names, shapes, offsets; used by init, forward, optimizer and checkpoints */
static int decar__gpt_layout(const decar_gpt_config *c, decar_param_info *info, size_t *total) {
    int n = 0, l, q;
    size_t off = 0;
    int64_t V = c->vocab_size, C = c->d_model, T = c->seq_len;
#define DECAR__P(nm, r, cols)                                                                                          \
    do {                                                                                                               \
        if (info) {                                                                                                    \
            decar_param_info *pi = &info[n];                                                                           \
            size_t nl_ = strlen(nm);                                                                                   \
            if (nl_ > sizeof pi->name - 1) nl_ = sizeof pi->name - 1;                                                  \
            memcpy(pi->name, nm, nl_);                                                                                 \
            pi->name[nl_] = 0;                                                                                         \
            pi->ndim = (cols) > 0 ? 2 : 1;                                                                             \
            pi->shape[0] = r;                                                                                          \
            pi->shape[1] = (cols) > 0 ? (cols) : 1;                                                                    \
            pi->offset = off;                                                                                          \
            pi->decay = (cols) > 0;                                                                                    \
        }                                                                                                              \
        off += (size_t)(r) * (size_t)((cols) > 0 ? (cols) : 1);                                                        \
        n++;                                                                                                           \
    } while (0)
    char nm[64];
    DECAR__P("transformer.wte.weight", V, C);
    DECAR__P("transformer.wpe.weight", T, C);
    for (l = 0; l < c->n_layer; l++) {
#ifndef DECAR_NO_STDIO
#define DECAR__NM(s) snprintf(nm, sizeof nm, "transformer.h.%d.%s", l, s)
#else
#define DECAR__NM(s)                                                                                                   \
    do {                                                                                                               \
        char num[8];                                                                                                   \
        int q = l, k = 0, m;                                                                                           \
        while (q || !k) {                                                                                              \
            num[k++] = (char)('0' + q % 10);                                                                           \
            q /= 10;                                                                                                   \
        }                                                                                                              \
        strcpy(nm, "transformer.h.");                                                                                  \
        m = (int)strlen(nm);                                                                                           \
        while (k) nm[m++] = num[--k];                                                                                  \
        nm[m++] = '.';                                                                                                 \
        nm[m] = 0;                                                                                                     \
        strcat(nm, s);                                                                                                 \
    } while (0)
#endif
        for (q = 0; q < DECAR__PER_LAYER; q++) {
            DECAR__NM(decar__block_params[q].name);
            DECAR__P(nm, decar__block_params[q].rows * C, decar__block_params[q].cols * C);
        }
#undef DECAR__NM
    }
    DECAR__P("transformer.ln_f.weight", C, 0);
    DECAR__P("transformer.ln_f.bias", C, 0);
    if (c->d_prefix > 0) { /* after the text model, so a text model's layout never changes */
        int64_t H = c->d_proj_hidden > 0 ? c->d_proj_hidden : C;
        DECAR__P("vision.proj.weight", H, c->d_prefix);
        DECAR__P("vision.proj.bias", H, 0);
        if (c->d_proj_hidden > 0) {
            DECAR__P("vision.proj2.weight", C, H);
            DECAR__P("vision.proj2.bias", C, 0);
        }
    }
#undef DECAR__P
    if (total) *total = off;
    return n;
}

/* allocate blocks and tensors for config c (values uninitialised) */
/* the model's blocks: params, and for training (train = 1) grads, m and v (an inference model has none: its tensors
   do not require gradients) */
static int decar__gpt_alloc(decar_gpt *g, const decar_gpt_config *c, int train, decar_error *e) {
    int i, rc;
    memset(g, 0, sizeof *g);
    if ((rc = decar_gpt_check_config(c, e))) return rc;
    g->cfg = *c;
    g->n_tensors = decar__gpt_layout(c, NULL, &g->n_params);
    g->info = (decar_param_info *)DECAR_MALLOC((size_t)g->n_tensors * sizeof(decar_param_info));
    g->p = (decar_tensor **)DECAR_MALLOC((size_t)g->n_tensors * sizeof(decar_tensor *));
    g->params = (float *)decar__alloc64(g->n_params * sizeof(float));
    g->grads = train ? (float *)decar__alloc64(g->n_params * sizeof(float)) : NULL;
    g->m = train ? (float *)decar__alloc64(g->n_params * sizeof(float)) : NULL;
    g->v = train ? (float *)decar__alloc64(g->n_params * sizeof(float)) : NULL;
    g->pctx = decar_ctx_new((size_t)g->n_tensors * 256 + 4096);
    if (!g->info || !g->p || !g->params || (train && (!g->grads || !g->m || !g->v)) || !g->pctx) {
        decar_gpt_free(g);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "cannot allocate a model of %lu parameters",
                    (unsigned long)decar__gpt_layout(c, NULL, NULL));
    }
    decar__gpt_layout(c, g->info, NULL);
    if (train) {
        memset(g->grads, 0, g->n_params * sizeof(float));
        memset(g->m, 0, g->n_params * sizeof(float));
        memset(g->v, 0, g->n_params * sizeof(float));
    }
    for (i = 0; i < g->n_tensors; i++)
        g->p[i] = decar_wrap(g->pctx, g->params + g->info[i].offset, train ? g->grads + g->info[i].offset : NULL,
                             g->info[i].ndim, g->info[i].shape);
    return DECAR_OK;
}

DECARDEF int decar_gpt_init(decar_gpt *g, const decar_gpt_config *c, uint64_t seed, decar_error *e) {
    int i, rc;
    decar_rng r;
    if ((rc = decar__gpt_alloc(g, c, 1, e))) return rc;
    decar_rng_seed(&r, seed);
    for (i = 0; i < g->n_tensors; i++) { /* GPT-2: N(0, 0.02); residual projections / sqrt(2 n_layer); LN 1, 0 */
        const decar_param_info *pi = &g->info[i];
        float *p = g->params + pi->offset;
        size_t n = (size_t)(pi->shape[0] * pi->shape[1]), j;
        size_t len = strlen(pi->name);
        if (pi->ndim == 2) {
            float sd = strstr(pi->name, "c_proj.weight") ? 0.02f / sqrtf(2.0f * (float)c->n_layer) : 0.02f;
            for (j = 0; j < n; j++) p[j] = sd * decar_rng_normal(&r);
        } else {
            float v = (len > 7 && strcmp(pi->name + len - 7, ".weight") == 0) ? 1.0f : 0.0f;
            for (j = 0; j < n; j++) p[j] = v;
        }
    }
    g->rng_state = seed;
    return DECAR_OK;
}

DECARDEF void decar_gpt_free(decar_gpt *g) {
    if (!g) return;
    decar__free(g->info);
    decar__free(g->p);
    decar__free64(g->params);
    decar__free64(g->grads);
    decar__free64(g->m);
    decar__free64(g->v);
    if (g->pctx) decar_ctx_free(g->pctx);
    decar__dev_free((decar__dev *)g->dev);
    if (g->q) {
        int t;
        for (t = 0; t < g->n_tensors; t++) decar_qmat_free(&g->q[t]);
        decar__free(g->q);
    }
    memset(g, 0, sizeof *g);
}
/* 1 when tensor t is a weight matrix that products read (each block's four, and wte as the output head); wpe and the
   vision projector stay in floats */
static int decar__gpt_is_matrix(const decar_gpt_config *c, int t) {
    int slot = (t - DECAR__BLOCK(0)) % DECAR__PER_LAYER;
    if (t == DECAR__WTE) return 1;
    if (t < DECAR__BLOCK(0) || t >= DECAR__BLOCK(c->n_layer)) return 0;
    return slot == DECAR__QKV_W || slot == DECAR__ATTPROJ_W || slot == DECAR__FC_W || slot == DECAR__FCPROJ_W;
}
DECARDEF size_t decar_gpt_weight_bytes(const decar_gpt *g) {
    size_t bytes = 0;
    int t;
    for (t = 0; t < g->n_tensors; t++) {
        const decar_qmat *q = g->q ? &g->q[t] : NULL;
        int64_t ne = g->info[t].shape[0] * g->info[t].shape[1];
        int64_t nb = (g->info[t].shape[1] + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK;
        if (q && q->type == DECAR_Q8_0)
            bytes += (size_t)ne + (size_t)(g->info[t].shape[0] * nb) * sizeof(float);
        else if (q && q->type == DECAR_QBF16)
            bytes += (size_t)ne * sizeof(uint16_t);
        else
            bytes += (size_t)ne * sizeof(float);
    }
    return bytes;
}
DECARDEF int decar_gpt_quantize(decar_gpt *g, int type, decar_error *e) {
    int t, rc;
    if (type == g->qtype) return DECAR_OK;
    if (g->dev)
        DECAR__FAIL(e, DECAR_ERR_ARG, "quantize the model on the CPU (decar_gpt_to_device(g, DECAR_DEVICE_CPU))");
    if (g->qtype) DECAR__FAIL(e, DECAR_ERR_ARG, "the model is already quantized (%s)", decar_qtype_name(g->qtype));
    g->q = (decar_qmat *)DECAR_MALLOC((size_t)g->n_tensors * sizeof(decar_qmat));
    if (!g->q) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    memset(g->q, 0, (size_t)g->n_tensors * sizeof(decar_qmat));
    for (t = 0; t < g->n_tensors; t++) {
        const decar_param_info *pi = &g->info[t];
        if (!decar__gpt_is_matrix(&g->cfg, t)) continue;
        rc = decar_qmat_make(&g->q[t], type, g->params + pi->offset, pi->shape[0], pi->shape[1], e);
        if (rc) return rc; /* g->q is freed with the model */
    }
    g->qtype = type;
    /* inference only from here: no gradients, no optimizer moments */
    for (t = 0; t < g->n_tensors; t++) {
        g->p[t]->grad = NULL;
        g->p[t]->requires_grad = 0;
    }
    decar__free64(g->grads);
    decar__free64(g->m);
    decar__free64(g->v);
    g->grads = g->m = g->v = NULL;
    return DECAR_OK;
}
DECARDEF int decar_gpt_find(const decar_gpt *g, const char *name) {
    int i;
    for (i = 0; i < g->n_tensors; i++)
        if (strcmp(g->info[i].name, name) == 0) return i;
    return -1;
}

#define DECAR__LNF(c) DECAR__BLOCK((c)->n_layer) /* index of transformer.ln_f.weight */
#define DECAR__VIS(c) (DECAR__LNF(c) + 2)        /* index of vision.proj.weight */
DECARDEF decar_tensor *decar_gpt_forward(decar_ctx *ctx, decar_gpt *g, const int32_t *ids, int B, int T) {
    return decar_gpt_forward_prefix(ctx, g, NULL, ids, B, T);
}
DECARDEF decar_tensor *decar_gpt_forward_prefix(decar_ctx *ctx, decar_gpt *g, const float *prefix, const int32_t *ids,
                                                int B, int T) {
    decar_tensor *x = decar_gpt_hidden(ctx, g, prefix, ids, B, T);
    return decar_matmul(ctx, x, g->p[DECAR__WTE], NULL); /* tied output embedding: logits (B, P + T, V) */
}
DECARDEF decar_tensor *decar_gpt_hidden(decar_ctx *ctx, decar_gpt *g, const float *prefix, const int32_t *ids, int B,
                                        int T) {
    const decar_gpt_config *c = &g->cfg;
    int64_t sh[2], psh[2];
    int l, P = prefix ? c->n_prefix : 0;
    decar_tensor *x, *h, **p = g->p;
    decar_error e;
    if (ctx->status) return NULL;
    if (decar_gpt_sync(g, &e)) { /* a model on a device: its host copy, brought up to date */
        decar__ctx_fail(ctx, e.code, "%s", e.msg);
        return NULL;
    }
    if (prefix && c->n_prefix == 0) {
        decar__ctx_fail(ctx, DECAR_ERR_ARG, "forward: an image prefix given to a text-only model");
        return NULL;
    }
    if (B < 1 || T < 1 || P + T > c->seq_len) {
        decar__ctx_fail(ctx, DECAR_ERR_ARG, "forward: %d prefix + %d tokens outside [1, seq_len %d]", P, T, c->seq_len);
        return NULL;
    }
    sh[0] = B;
    sh[1] = T;
    psh[0] = P + T;
    psh[1] = c->d_model;
    x = decar_embedding(ctx, p[DECAR__WTE], ids, 2, sh);
    if (P) { /* image prefix: project, then place before the text */
        int64_t ish[3];
        decar_tensor *im;
        ish[0] = B;
        ish[1] = P;
        ish[2] = c->d_prefix;
        im = decar_wrap(ctx, (float *)prefix, NULL, 3, ish);
        h = decar_matmul(ctx, im, p[DECAR__VIS(c)], p[DECAR__VIS(c) + 1]);
        if (c->d_proj_hidden > 0) h = decar_matmul(ctx, decar_gelu(ctx, h), p[DECAR__VIS(c) + 2], p[DECAR__VIS(c) + 3]);
        x = decar_concat(ctx, h, x);
    }
    x = decar_add(ctx, x, decar_view(ctx, p[DECAR__WPE], 2, psh, 0));
    for (l = 0; l < c->n_layer; l++) {
        decar_tensor **L = p + DECAR__BLOCK(l);
        /* x = x + attn(ln_1(x)) W_proj + b_proj: (B, T, C); attn reads qkv = ln_1(x) W_qkv + b_qkv (B, T, 3C) */
        h = decar_layernorm(ctx, x, L[DECAR__LN1_W], L[DECAR__LN1_B]);
        h = decar_matmul(ctx, h, L[DECAR__QKV_W], L[DECAR__QKV_B]);
        h = decar_attention(ctx, h, c->n_head, c->causal);
        h = decar_matmul(ctx, h, L[DECAR__ATTPROJ_W], L[DECAR__ATTPROJ_B]);
        x = decar_add(ctx, x, h);
        /* x = x + gelu(ln_2(x) W_fc + b_fc) W_fcproj + b_fcproj: the MLP's hidden layer is (B, T, 4C) */
        h = decar_layernorm(ctx, x, L[DECAR__LN2_W], L[DECAR__LN2_B]);
        h = decar_matmul(ctx, h, L[DECAR__FC_W], L[DECAR__FC_B]);
        h = decar_gelu(ctx, h);
        h = decar_matmul(ctx, h, L[DECAR__FCPROJ_W], L[DECAR__FCPROJ_B]);
        x = decar_add(ctx, x, h);
    }
    return decar_layernorm(ctx, x, p[DECAR__LNF(c)], p[DECAR__LNF(c) + 1]);
}

DECARDEF double decar_gpt_train_bytes(const decar_gpt_config *c, int B, int T) {
    size_t n_params = 0;
    double tokens = (double)B * (double)T, C = c->d_model, H = c->n_head, V = c->vocab_size;
    decar__gpt_layout(c, NULL, &n_params);
    return 16.0 * (double)n_params + 4.0 * tokens * ((double)c->n_layer * (18.0 * C + H * T) + 2.0 * V + 4.0 * C);
}
DECARDEF double decar_gpt_flops_per_token(const decar_gpt_config *c, int T) {
    double C = c->d_model, L = c->n_layer, V = c->vocab_size;
    double n_mm = L * 12.0 * C * C + V * C;                  /* weights in matmuls: 2 flops each forward, 4 backward */
    double attn = L * 4.0 * C * T * (c->causal ? 0.5 : 1.0); /* q.k and p.v per token, forward */
    return 6.0 * n_mm + 3.0 * attn;
}

/* ---- 10b. KV-cache inference ------------------------------------------------------------------------------------- */
DECARDEF size_t decar_gpt_kv_size(const decar_gpt_config *c) {
    return (size_t)c->n_layer * 2 * (size_t)c->seq_len * (size_t)c->d_model;
}
#define DECAR__KV_TILE 64 /* rows of a bf16 cache widened at a time (decar_gpt_step_batch) */
DECARDEF size_t decar_gpt_step_scratch(const decar_gpt_config *c) {
    return decar_gpt_step_batch_scratch(c, 1);
}
DECARDEF size_t decar_gpt_step_batch_scratch(const decar_gpt_config *c, int n) {
    return (size_t)n * ((size_t)c->d_model * (10 + DECAR__KV_TILE) + (size_t)c->n_head * (size_t)c->seq_len) + 64;
}
DECARDEF int decar_gpt_step(decar_gpt *g, float *kv, int32_t tok, int pos, float *logits, float *scratch,
                            decar_error *e) {
    if (tok < 0 || tok >= g->cfg.vocab_size)
        DECAR__FAIL(e, DECAR_ERR_ARG, "token %d outside the vocabulary of %d", (int)tok, g->cfg.vocab_size);
    return decar_gpt_step_embed(g, kv, g->params + g->info[0].offset + (int64_t)tok * g->cfg.d_model, pos, logits,
                                scratch, e);
}
DECARDEF int decar_gpt_project_prefix(decar_gpt *g, const float *prefix, float *out, decar_error *e) {
    const decar_gpt_config *c = &g->cfg;
    int64_t H = c->d_proj_hidden > 0 ? c->d_proj_hidden : c->d_model;
    const decar_param_info *V = g->info + DECAR__VIS(c);
    float *hid;
    if (c->n_prefix <= 0) DECAR__FAIL(e, DECAR_ERR_ARG, "the model takes no image prefix");
    hid = (float *)DECAR_MALLOC((size_t)(c->n_prefix * H) * sizeof(float));
    if (!hid) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to project a prefix");
    decar_linear_forward(c->d_proj_hidden > 0 ? hid : out, prefix, g->params + V[0].offset, g->params + V[1].offset,
                         c->n_prefix, c->d_prefix, H, decar_ctx_ws(g->pctx));
    if (c->d_proj_hidden > 0) {
        decar__gelu_span(hid, hid, NULL, c->n_prefix * H, 0);
        decar_linear_forward(out, hid, g->params + V[2].offset, g->params + V[3].offset, c->n_prefix, H, c->d_model,
                             decar_ctx_ws(g->pctx));
    }
    DECAR_FREE(hid);
    return DECAR_OK;
}
DECARDEF int decar_gpt_step_embed(decar_gpt *g, float *kv, const float *emb, int pos, float *logits, float *scratch,
                                  decar_error *e) {
    return decar_gpt_step_batch(g, &kv, emb, &pos, 1, logits, scratch, e);
}
/* inference LayerNorm: dst[r, :] = (src[r, :] - mean_r) rstd_r w + b;  src, dst: (n, C); w, b: (C) */
static void decar__ln_rows(float *dst, const float *src, const float *w, const float *b, int64_t n, int64_t C) {
    int64_t r;
    for (r = 0; r < n; r++) decar__ln_row(dst + r * C, src + r * C, w, b, C, NULL);
}
/* y (n, N) = x (n, K) W^T + b for tensor t of the model (bias tensor bt, or -1 for none): its quantized copy when it
   has one and n < 32 (the bytes of the weights are the limit), else the float GEMM (the same, dequantized, weights) */
static void decar__gpt_linear(decar_gpt *g, int t, int bt, float *y, const float *x, int64_t n) {
    const decar_param_info *pi = &g->info[t];
    const float *b = bt >= 0 ? g->params + g->info[bt].offset : NULL;
    if (g->q && g->q[t].type && n < 32)
        decar_qlinear_forward(y, x, &g->q[t], b, n);
    else
        decar_linear_forward(y, x, g->params + pi->offset, b, n, pi->shape[1], pi->shape[0], decar_ctx_ws(g->pctx));
}
/* n sequences at once: every weight matrix is read once for all n (a GEMM from 32 on), each sequence attends to
   its own KV cache kv[j] at its own position pos[j]. emb (n, C) input vectors; logits (n, vocab). */
DECARDEF int decar_gpt_step_batch(decar_gpt *g, float *const *kv, const float *emb, const int *pos, int n,
                                  float *logits, float *scratch, decar_error *e) {
    const decar_gpt_config *c = &g->cfg;
    int64_t C = c->d_model, T = c->seq_len, nh = c->n_head, hs = C / nh, l, j, jh, work = 0;
    float *x = scratch, *xn = x + n * C, *qkv = xn + n * C, *att = qkv + 3 * n * C, *hid = att + n * C,
          *scores = hid + 4 * n * C, *tiles = scores + n * nh * T;
    int kvh = g->qtype != DECAR_QNONE; /* the cache in bf16 */
    float *P = g->params;
    const decar_param_info *PI = g->info;
    float scale = 1.0f / sqrtf((float)hs);
    if (!c->causal || n < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "KV-cache steps need a causal model and n >= 1");
    for (j = 0; j < n; j++)
        if (pos[j] < 0 || pos[j] >= T)
            DECAR__FAIL(e, DECAR_ERR_ARG, "position %d outside the context of %d", pos[j], (int)T);
    for (j = 0; j < n; j++) work += ((int64_t)pos[j] + 1) * C; /* attention's multiply-adds per layer, over 2 */
    (void)work; /* read by DECAR__PAR_FOR's condition only where OpenMP is on */
    if (g->dev) return decar__dev_step_batch(g, kv, emb, pos, n, logits, e);
    for (j = 0; j < n; j++) {
        int64_t i;
        for (i = 0; i < C; i++) x[j * C + i] = emb[j * C + i] + P[PI[DECAR__WPE].offset + (int64_t)pos[j] * C + i];
    }
    for (l = 0; l < c->n_layer; l++) {
        const decar_param_info *L = PI + DECAR__BLOCK(l);
        const int b0 = DECAR__BLOCK((int)l); /* the block's first tensor */
        int64_t i;
        decar__ln_rows(xn, x, P + L[DECAR__LN1_W].offset, P + L[DECAR__LN1_B].offset, n, C);
        decar__gpt_linear(g, b0 + DECAR__QKV_W, b0 + DECAR__QKV_B, qkv, xn, n);
        /* each sequence appends its k and v to its cache, head by head (kv[j]: (n_layer, 2, n_head, T, hs): a head's
           keys, and its values, are one contiguous block; a quantized model's cache holds them in bf16) */
        for (jh = 0; jh < n * nh; jh++) {
            int64_t jj = jh / nh, h = jh % nh, o = ((l * 2) * nh + h) * T * hs + (int64_t)pos[jj] * hs, i;
            const float *k = qkv + jj * 3 * C + C + h * hs, *v = k + C;
            uint16_t *kb = (uint16_t *)(void *)kv[jj];
            for (i = 0; i < hs; i++) {
                if (kvh) kb[o + i] = decar__f32_to_bf16(k[i]);
                if (kvh) kb[o + nh * T * hs + i] = decar__f32_to_bf16(v[i]);
                if (!kvh) kv[jj][o + i] = k[i];
                if (!kvh) kv[jj][o + nh * T * hs + i] = v[i];
            }
        }
        /* each (sequence j, head h) attends over j's cache with its own score row sc (T):
               out_h = softmax(q_h K_h^T / sqrt(hs)) V_h     (K_h, V_h: (pos + 1, hs))
           one pair whole per thread; bf16 rows are widened into the pair's float tile (DECAR__KV_TILE rows at a time),
           which the float kernels read */
        DECAR__PAR_FOR(n * nh > 1 && work >= ((int64_t)1 << 14), for (jh = 0; jh < n * nh; jh++) {
            int64_t jj = jh / nh, h = jh % nh, t2, p = pos[jj], off = ((l * 2) * nh + h) * T * hs, t0, nt;
            const float *kc = kv[jj] + off, *vc = kc + nh * T * hs, *q = qkv + jj * 3 * C + h * hs;
            const uint16_t *kb = (const uint16_t *)(const void *)kv[jj] + off, *vb = kb + nh * T * hs;
            float mx = -INFINITY, s, *o = att + jj * C + h * hs, *sc = scores + jh * T;
            float *tile = tiles + jh * DECAR__KV_TILE * hs;
            int64_t rows = kvh ? DECAR__KV_TILE : p + 1; /* cache rows per pass: a tile's, or all of a float cache */
            for (t0 = 0; t0 <= p; t0 += nt) { /* sc[t] = q . k_t */
                nt = p + 1 - t0 < rows ? p + 1 - t0 : rows;
                if (kvh) decar__bf16_widen(tile, kb + t0 * hs, nt * hs);
                decar__dot_rows(sc + t0, q, kvh ? tile : kc, nt, hs);
            }
            for (t2 = 0; t2 <= p; t2++) {
                sc[t2] *= scale;
                if (sc[t2] > mx) mx = sc[t2];
            }
            s = decar__exp_span(sc, sc, mx, p + 1);
            for (t2 = 0; t2 <= p; t2++) sc[t2] /= s; /* softmax: the weights of the value rows */
            memset(o, 0, (size_t)hs * sizeof(float));
            for (t0 = 0; t0 <= p; t0 += nt) { /* o = sum_t sc[t] v_t */
                nt = p + 1 - t0 < rows ? p + 1 - t0 : rows;
                if (kvh) decar__bf16_widen(tile, vb + t0 * hs, nt * hs);
                decar__attn_mix(o, sc + t0, kvh ? tile : vc + t0 * hs, nt, hs, hs);
            }
        });
        decar__gpt_linear(g, b0 + DECAR__ATTPROJ_W, b0 + DECAR__ATTPROJ_B, xn, att, n);
        for (i = 0; i < n * C; i++) x[i] += xn[i];
        decar__ln_rows(xn, x, P + L[DECAR__LN2_W].offset, P + L[DECAR__LN2_B].offset, n, C);
        decar__gpt_linear(g, b0 + DECAR__FC_W, b0 + DECAR__FC_B, hid, xn, n);
        decar__gelu_span(hid, hid, NULL, n * 4 * C, 0);
        decar__gpt_linear(g, b0 + DECAR__FCPROJ_W, b0 + DECAR__FCPROJ_B, xn, hid, n);
        for (i = 0; i < n * C; i++) x[i] += xn[i];
    }
    decar__ln_rows(xn, x, P + PI[DECAR__LNF(c)].offset, P + PI[DECAR__LNF(c) + 1].offset, n, C);
    decar__gpt_linear(g, DECAR__WTE, -1, logits, xn, n);
    return DECAR_OK;
}

/* ---- 10c. the device path: the model on a GPU (DECAR_USE_CUDA), or its kernels as CPU loops ------------------------
   Each kernel body is written once. Compiled by nvcc with DECAR_USE_CUDA it is a __global__ function whose
   DECAR__KFOR is a grid-stride loop over the thread index; compiled by a C compiler it is a plain function whose
   DECAR__KFOR is an OpenMP loop. One index is one output element, row or column, computed whole by one thread: the
   results do not depend on the grid or the thread count. Every product goes through decar__dmm: cuBLAS (strided
   batched for attention) on the GPU, decar_gemm_ws on the CPU. The orchestration (forward, backward, AdamW, the
   KV-cache step) is the same code for both: `make test` runs it on the CPU against the tape path above. */
#if defined(DECAR_USE_CUDA) && defined(__CUDACC__)
#include <cuda_runtime.h>
#include <cublas_v2.h>
#define DECAR__GPU 1
#define DECAR__KERNEL static __global__ void
#define DECAR__KFOR(i, n)                                                                                              \
    for (i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
#define DECAR__LAUNCH(k, n, args) k<<<decar__grid(n), 256>>> args
static unsigned decar__grid(int64_t n) {
    int64_t g = (n + 255) / 256;
    return (unsigned)(g < 1 ? 1 : g > 65535 ? 65535 : g);
}
#else
#define DECAR__GPU 0
#define DECAR__KERNEL static void
#define DECAR__KFOR(i, n) DECAR__PRAGMA(omp parallel for schedule(static)) for (i = 0; i < (n); i++)
#define DECAR__LAUNCH(k, n, args) k args
#endif

/* x (N, C) = wte[ids[r]] + wpe[r mod T]: token plus position embedding, N = B T rows */
DECAR__KERNEL decar__k_embed(float *x, const float *wte, const float *wpe, const int32_t *ids, int64_t N, int64_t T,
                             int64_t C) {
    int64_t i;
    DECAR__KFOR(i, N * C) {
        int64_t r = i / C, j = i % C;
        x[i] = wte[(int64_t)ids[r] * C + j] + wpe[(r % T) * C + j];
    }
}
/* x (n, C) = emb (n, C) + wpe[pos[r]]: the KV-cache step's input, one position per sequence */
DECAR__KERNEL decar__k_embed_pos(float *x, const float *emb, const float *wpe, const int *pos, int64_t n, int64_t C) {
    int64_t i;
    DECAR__KFOR(i, n * C) {
        int64_t r = i / C, j = i % C;
        x[i] = emb[i] + wpe[(int64_t)pos[r] * C + j];
    }
}
/* dwte[v] += sum_{r : ids[r] = v} dx[r],  dwpe[t] += sum_{r mod T = t} dx[r]: one thread per column, rows in order */
DECAR__KERNEL decar__k_embed_back(float *dwte, float *dwpe, const float *dx, const int32_t *ids, int64_t N, int64_t T,
                                  int64_t C) {
    int64_t j;
    DECAR__KFOR(j, C) {
        int64_t r;
        for (r = 0; r < N; r++) {
            dwte[(int64_t)ids[r] * C + j] += dx[r * C + j];
            dwpe[(r % T) * C + j] += dx[r * C + j];
        }
    }
}
/* y = (x - mean) rstd w + b per row of C (eps 1e-5, biased variance); st[2r] = mean, st[2r + 1] = rstd (or NULL);
   x, y: (N, C); w, b: (C); st: (N, 2). A thread per row. */
DECAR__KERNEL decar__k_layernorm(float *y, float *st, const float *x, const float *w, const float *b, int64_t N,
                                 int64_t C) {
    int64_t r;
    DECAR__KFOR(r, N) {
        const float *xr = x + r * C;
        float *yr = y + r * C, m = 0.0f, v = 0.0f, rs;
        int64_t j;
        for (j = 0; j < C; j++) m += xr[j];
        m /= (float)C;
        for (j = 0; j < C; j++) v += (xr[j] - m) * (xr[j] - m);
        v /= (float)C;
        rs = 1.0f / sqrtf(v + 1e-5f);
        for (j = 0; j < C; j++) yr[j] = (xr[j] - m) * rs * w[j] + b[j];
        if (st) {
            st[2 * r] = m;
            st[2 * r + 1] = rs;
        }
    }
}
/* per row, xh = (x - mean) rstd, dn = dy w:  dx += rstd (dn - mean(dn) - xh mean(dn xh));  x, dy, dx: (N, C);
   w: (C); st: (N, 2) from the forward. dw and db are column sums (decar__k_dy_xhat, decar__dcol_sums). */
DECAR__KERNEL decar__k_layernorm_back(float *dx, const float *dy, const float *x, const float *w, const float *st,
                                      int64_t N, int64_t C) {
    int64_t r;
    DECAR__KFOR(r, N) {
        const float *xr = x + r * C, *dyr = dy + r * C;
        float m = st[2 * r], rs = st[2 * r + 1], s1 = 0.0f, s2 = 0.0f;
        int64_t j;
        for (j = 0; j < C; j++) {
            s1 += dyr[j] * w[j];
            s2 += dyr[j] * w[j] * ((xr[j] - m) * rs);
        }
        s1 /= (float)C;
        s2 /= (float)C;
        for (j = 0; j < C; j++) dx[r * C + j] += rs * ((dyr[j] * w[j] - s1) - ((xr[j] - m) * rs) * s2);
    }
}
/* t = dy xh, xh = (x - mean) rstd per row: what LayerNorm's weight gradient sums over rows (decar__dcol_sums) */
DECAR__KERNEL decar__k_dy_xhat(float *t, const float *dy, const float *x, const float *st, int64_t N, int64_t C) {
    int64_t i;
    DECAR__KFOR(i, N * C) {
        int64_t r = i / C;
        t[i] = dy[i] * ((x[i] - st[2 * r]) * st[2 * r + 1]);
    }
}
/* y = v (a constant) */
DECAR__KERNEL decar__k_fill(float *y, float v, int64_t n) {
    int64_t i;
    DECAR__KFOR(i, n) y[i] = v;
}
/* y (N, C) += b (C) */
DECAR__KERNEL decar__k_add_bias(float *y, const float *b, int64_t N, int64_t C) {
    int64_t i;
    DECAR__KFOR(i, N * C) y[i] += b[i % C];
}
/* y = a + b (elementwise); y may be a or b */
DECAR__KERNEL decar__k_add(float *y, const float *a, const float *b, int64_t n) {
    int64_t i;
    DECAR__KFOR(i, n) y[i] = a[i] + b[i];
}
/* y = s y */
DECAR__KERNEL decar__k_scale(float *y, float s, int64_t n) {
    int64_t i;
    DECAR__KFOR(i, n) y[i] *= s;
}
/* GELU, tanh form: u = sqrt(2/pi) (x + 0.044715 x^3), y = x (1 + tanh u) / 2;  x, y: (n) */
DECAR__KERNEL decar__k_gelu(float *y, const float *x, int64_t n) {
    int64_t i;
    DECAR__KFOR(i, n) {
        float u = 0.7978845608028654f * (x[i] + 0.044715f * x[i] * x[i] * x[i]);
        y[i] = 0.5f * x[i] * (1.0f + tanhf(u));
    }
}
/* dx = dy gelu'(x),  gelu'(x) = (1 + th) / 2 + x (1 - th^2) sqrt(2/pi) (1 + 3 0.044715 x^2) / 2;  (n) each */
DECAR__KERNEL decar__k_gelu_back(float *dx, const float *x, const float *dy, int64_t n) {
    int64_t i;
    DECAR__KFOR(i, n) {
        float x2 = x[i] * x[i], th = tanhf(0.7978845608028654f * (x[i] + 0.044715f * x2 * x[i]));
        float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x2);
        dx[i] = dy[i] * (0.5f * (1.0f + th) + 0.5f * x[i] * (1.0f - th * th) * du);
    }
}
/* dst (B, NH, T, hs) = head h's columns of src rows (B, T, ld) from column off: q, k and v out of qkv (ld = 3C, off
   0, C, 2C), or an attention output's gradient out of (B, T, C) */
DECAR__KERNEL decar__k_to_heads(float *dst, const float *src, int64_t B, int64_t T, int64_t NH, int64_t hs, int64_t ld,
                                int64_t off) {
    int64_t i;
    DECAR__KFOR(i, B * NH * T * hs) {
        int64_t d = i % hs, t = (i / hs) % T, h = (i / (hs * T)) % NH, b = i / (hs * T * NH);
        dst[i] = src[(b * T + t) * ld + off + h * hs + d];
    }
}
/* the inverse: dst rows (B, T, ld) from column off = src (B, NH, T, hs) */
DECAR__KERNEL decar__k_from_heads(float *dst, const float *src, int64_t B, int64_t T, int64_t NH, int64_t hs,
                                  int64_t ld, int64_t off) {
    int64_t i;
    DECAR__KFOR(i, B * NH * T * hs) {
        int64_t d = i % hs, t = (i / hs) % T, h = (i / (hs * T)) % NH, b = i / (hs * T * NH);
        dst[(b * T + t) * ld + off + h * hs + d] = src[i];
    }
}
/* each row t of S (rows of T scores, row index mod T = t): P = softmax(S / sqrt(hs)) over the keys it sees (causal:
   0..t), zero past them, in place;  P: (rows, T) = (B NH T, T) */
DECAR__KERNEL decar__k_attn_softmax(float *P, int64_t rows, int64_t T, float scale, int causal) {
    int64_t r;
    DECAR__KFOR(r, rows) {
        float *p = P + r * T, mx, s = 0.0f;
        int64_t j, end = causal ? r % T + 1 : T;
        mx = p[0] * scale;
        for (j = 1; j < end; j++) mx = p[j] * scale > mx ? p[j] * scale : mx;
        for (j = 0; j < end; j++) {
            p[j] = expf(p[j] * scale - mx);
            s += p[j];
        }
        for (j = 0; j < end; j++) p[j] /= s;
        for (j = end; j < T; j++) p[j] = 0.0f;
    }
}
/* in place, dP -> dS = P (dP - sum_j P_j dP_j) / sqrt(hs), zero past the keys a row sees;  dP, P: (rows, T) */
DECAR__KERNEL decar__k_attn_softmax_back(float *dP, const float *P, int64_t rows, int64_t T, float scale, int causal) {
    int64_t r;
    DECAR__KFOR(r, rows) {
        float *g = dP + r * T, s = 0.0f;
        const float *p = P + r * T;
        int64_t j, end = causal ? r % T + 1 : T;
        for (j = 0; j < end; j++) s += p[j] * g[j];
        for (j = 0; j < end; j++) g[j] = p[j] * (g[j] - s) * scale;
        for (j = end; j < T; j++) g[j] = 0.0f;
    }
}
/* per row of V logits, over the first nc (the classes): lse = log sum_j exp l_j, nll = lse - l[target] (0 for an
   ignored target < 0). Each exp and the sum in double (the host kernel sums its vector exps, chunk sums in double:
   the same lse to about 1e-7).  logits: (N, V); tg, lse, nll: (N) */
DECAR__KERNEL decar__k_crossentropy(float *lse, float *nll, const float *logits, const int32_t *tg, int64_t N,
                                    int64_t V, int nc) {
    int64_t r;
    DECAR__KFOR(r, N) {
        const float *l = logits + r * V;
        float mx = l[0];
        double s = 0.0;
        int j;
        for (j = 1; j < nc; j++) mx = l[j] > mx ? l[j] : mx;
        for (j = 0; j < nc; j++) s += exp((double)(l[j] - mx));
        lse[r] = mx + (float)log(s);
        nll[r] = tg[r] >= 0 ? lse[r] - l[tg[r]] : 0.0f;
    }
}
/* in place, logits -> dlogits = w_r / norm (softmax(l) - onehot(target)) over the classes, 0 elsewhere and on ignored
   rows (w NULL: 1);  logits: (N, V); lse, tg, w: (N) */
DECAR__KERNEL decar__k_crossentropy_back(float *logits, const float *lse, const int32_t *tg, const float *w, float norm,
                                         int64_t N, int64_t V, int nc) {
    int64_t r;
    DECAR__KFOR(r, N) {
        float *l = logits + r * V, coef = (w ? w[r] : 1.0f) / norm;
        int64_t j;
        for (j = 0; j < V; j++)
            l[j] = tg[r] >= 0 && j < nc ? coef * (expf(l[j] - lse[r]) - (j == tg[r] ? 1.0f : 0.0f)) : 0.0f;
    }
}
/* part[k] = sum of g^2 over chunk k of 65536 (the host's chunks; the host adds the parts in order) */
DECAR__KERNEL decar__k_sumsq(double *part, const float *g, int64_t n) {
    int64_t k;
    DECAR__KFOR(k, (n + 65535) / 65536) {
        int64_t j, j1 = (k + 1) * 65536 < n ? (k + 1) * 65536 : n;
        double s = 0.0;
        for (j = k * 65536; j < j1; j++) s += (double)g[j] * g[j];
        part[k] = s;
    }
}
/* AdamW (decar_gpt_adamw's formula): m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
   p = p decay - step_size m / (sqrt(v) / sqrt(bc2) + eps);  p, g, m, v: (n), one tensor */
DECAR__KERNEL decar__k_adamw(float *p, const float *g, float *m, float *v, int64_t n, float b1, float b2, float eps,
                             float decay, float step_size, float sbc2) {
    int64_t i;
    DECAR__KFOR(i, n) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step_size * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}
/* the KV-cache step: sequence j's key and value (columns C..3C of its qkv row) stored at its position in its cache
   kv[j] (layer l: keys at [l][0][t], values at [l][1][t]) */
DECAR__KERNEL decar__k_kv_store(float *const *kv, const float *qkv, const int *pos, int64_t n, int64_t l, int64_t T,
                                int64_t C) {
    int64_t i;
    DECAR__KFOR(i, n * C) {
        int64_t j = i / C, c = i % C;
        float *kc = kv[j] + (l * 2) * T * C;
        kc[(int64_t)pos[j] * C + c] = qkv[j * 3 * C + C + c];
        kc[T * C + (int64_t)pos[j] * C + c] = qkv[j * 3 * C + 2 * C + c];
    }
}
/* one thread per (sequence j, head h): its query against its cache's keys 0..pos[j], softmax, the values' average:
   out[j, head h] = sum_{t <= pos[j]} softmax_t(q . k_t / sqrt(hs)) v_t;  qkv: (n, 3C); out: (n, C); scores:
   (n NH, T); kv[j]: (n_layer, 2, T, C) */
DECAR__KERNEL decar__k_kv_attend(float *out, float *scores, float *const *kv, const float *qkv, const int *pos,
                                 int64_t n, int64_t l, int64_t T, int64_t C, int64_t NH) {
    int64_t i;
    DECAR__KFOR(i, n * NH) {
        int64_t j = i / NH, h = i % NH, hs = C / NH, t, d, p = pos[j];
        const float *kc = kv[j] + (l * 2) * T * C + h * hs, *vc = kc + T * C, *q = qkv + j * 3 * C + h * hs;
        float *sc = scores + i * T, *o = out + j * C + h * hs, mx = 0.0f, s = 0.0f, scale = 1.0f / sqrtf((float)hs);
        for (t = 0; t <= p; t++) {
            float dot = 0.0f;
            for (d = 0; d < hs; d++) dot += q[d] * kc[t * C + d];
            sc[t] = dot * scale;
            mx = t == 0 || sc[t] > mx ? sc[t] : mx;
        }
        for (t = 0; t <= p; t++) {
            sc[t] = expf(sc[t] - mx);
            s += sc[t];
        }
        for (d = 0; d < hs; d++) o[d] = 0.0f;
        for (t = 0; t <= p; t++)
            for (d = 0; d < hs; d++) o[d] += sc[t] / s * vc[t * C + d];
    }
}

/* the device state of a model (decar_gpt.dev): parameters, gradients, AdamW moments, activations, all in device memory
 */
struct decar__dev {
    int kind;                      /* DECAR_DEVICE_CUDA or DECAR_DEVICE_CPU_KERNELS */
    float *params, *grads, *m, *v; /* n_params each, the layout of the host model */
    int stale;                     /* the host copy (g->params, m, v) is behind the device's */
    float *act, *scr;              /* activations of the last forward, backward's scratch */
    int64_t act_n, scr_n;          /* their sizes in floats */
    int32_t *ids, *tg;             /* the batch (N tokens) */
    float *w, *lse, *nll;          /* weights, log-sum-exp and -log p per token */
    int64_t tok_n;                 /* capacity of the batch buffers in tokens */
    double *part;                  /* the gradient norm's chunk sums */
    int64_t part_n;
    float *ones; /* N ones: column sums are products with them */
    int64_t ones_n;
    float **kvp; /* KV-cache steps: the sequences' caches (n pointers, then n positions) */
    int64_t kvp_n;
    float *step; /* and their activations */
    int64_t step_n;
    decar_ws *ws; /* the CPU GEMM's workspace (CPU kernels) */
    void *blas;   /* cublasHandle_t (CUDA) */
};

static void *decar__dalloc(int64_t bytes) {
#if DECAR__GPU
    void *p = NULL;
    if (cudaMalloc(&p, (size_t)(bytes > 0 ? bytes : 1)) != cudaSuccess) return NULL;
    return p;
#else
    return decar__alloc64((size_t)(bytes > 0 ? bytes : 1));
#endif
}
static void decar__dfree(void *p) {
#if DECAR__GPU
    if (p) cudaFree(p);
#else
    decar__free64(p);
#endif
}
/* copies between host and device memory (to_dev: host -> device); 1 on success */
static int decar__dcopy(void *dst, const void *src, int64_t bytes, int to_dev) {
    if (bytes <= 0) return 1;
#if DECAR__GPU
    return cudaMemcpy(dst, src, (size_t)bytes, to_dev ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost) == cudaSuccess;
#else
    (void)to_dev;
    memcpy(dst, src, (size_t)bytes);
    return 1;
#endif
}
static void decar__dzero(void *p, int64_t bytes) {
#if DECAR__GPU
    cudaMemset(p, 0, (size_t)bytes);
#else
    memset(p, 0, (size_t)bytes);
#endif
}
/* the kernels' launches are asynchronous on the GPU: 1 when everything so far ran */
static int decar__dsync(void) {
#if DECAR__GPU
    return cudaDeviceSynchronize() == cudaSuccess && cudaGetLastError() == cudaSuccess;
#else
    return 1;
#endif
}
/* grow a device buffer to n elements of size es (its contents are not kept); 0 when out of memory */
static int decar__dgrow(void **p, int64_t *cap, int64_t n, int64_t es) {
    if (*cap >= n) return 1;
    decar__dfree(*p);
    *p = decar__dalloc(n * es);
    *cap = *p ? n : 0;
    return *p != NULL;
}

/* C (M, N) (+)= op(A) op(B) for `batch` matrices at strides sA, sB, sC; A is (M, K), or (K, M) when ta; B is (K, N), or
   (N, K) when tb; all row-major and contiguous. cuBLAS is column-major: it computes C^T = op(B)^T op(A)^T. */
static void decar__dmm(decar__dev *d, float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int ta,
                       int tb, int accumulate, int64_t batch, int64_t sA, int64_t sB, int64_t sC) {
#if DECAR__GPU
    float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cublasSgemmStridedBatched((cublasHandle_t)d->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              (int)N, (int)M, (int)K, &one, B, tb ? (int)K : (int)N, sB, A, ta ? (int)M : (int)K, sA,
                              &beta, C, (int)N, sC, (int)batch);
#else
    int64_t q;
    for (q = 0; q < batch; q++)
        decar_gemm_ws(d->ws, C + q * sC, N, A + q * sA, ta ? 1 : K, ta ? M : 1, B + q * sB, tb ? 1 : N, tb ? K : 1,
                      NULL, M, N, K, accumulate);
#endif
}
/* y (N, OC) = x (N, IC) W^T + b, W (OC, IC) as torch.nn.Linear */
static void decar__dlinear(decar__dev *d, float *y, const float *x, const float *W, const float *b, int64_t N,
                           int64_t IC, int64_t OC) {
    decar__dmm(d, y, x, W, N, OC, IC, 0, 1, 0, 1, 0, 0, 0);
    if (b) DECAR__LAUNCH(decar__k_add_bias, N * OC, (y, b, N, OC));
}
/* the per-column parameter gradients, as products with a column of N ones (d->ones):
       db (C) += dy^T 1,   and with st (LayerNorm's mean, rstd): dw (C) += (dy xh)^T 1, dy xh formed in tmp (N, C) */
static void decar__dcol_sums(decar__dev *d, float *db, float *dw, const float *dy, const float *x, const float *st,
                             float *tmp, int64_t N, int64_t C) {
    decar__dmm(d, db, dy, d->ones, C, 1, N, 1, 0, 1, 1, 0, 0, 0);
    if (!dw) return;
    DECAR__LAUNCH(decar__k_dy_xhat, N * C, (tmp, dy, x, st, N, C));
    decar__dmm(d, dw, tmp, d->ones, C, 1, N, 1, 0, 1, 1, 0, 0, 0);
}
/* its backward: dx = dy W (overwritten; skipped when NULL), dW += dy^T x, db += column sums of dy */
static void decar__dlinear_back(decar__dev *d, float *dx, float *dW, float *db, const float *dy, const float *x,
                                const float *W, int64_t N, int64_t IC, int64_t OC) {
    if (dx) decar__dmm(d, dx, dy, W, N, IC, OC, 0, 0, 0, 1, 0, 0, 0);
    decar__dmm(d, dW, dy, x, OC, IC, N, 1, 0, 1, 1, 0, 0, 0);
    if (db) decar__dcol_sums(d, db, NULL, dy, NULL, NULL, NULL, N, OC);
}

/* the activations of one block that backward reads, carved from d->act for N = B T tokens */
typedef struct decar__dlayer {
    float *ln1, *ln1s, *qkv, *q, *k, *v, *att, *yh, *y, *res2, *ln2, *ln2s, *fch, *fcg, *res3;
} decar__dlayer;
/* floats per block: ln1, qkv, q k v, y heads, y, res2, ln2 (C, 3C, 3C, C, C, C, C), fch and its GELU (4C each), res3,
   two LayerNorms' stats (2 per token), and the attention probabilities (B, NH, T, T) */
static int64_t decar__dlayer_floats(const decar_gpt_config *c, int64_t B, int64_t T) {
    int64_t N = B * T, C = c->d_model;
    return N * (20 * C + 4) + B * c->n_head * T * T;
}
static void decar__dlayer_carve(decar__dlayer *L, float *p, const decar_gpt_config *c, int64_t B, int64_t T) {
    int64_t N = B * T, C = c->d_model;
    L->ln1 = p;
    L->ln1s = L->ln1 + N * C;
    L->qkv = L->ln1s + 2 * N;
    L->q = L->qkv + 3 * N * C;
    L->k = L->q + N * C;
    L->v = L->k + N * C;
    L->yh = L->v + N * C;
    L->y = L->yh + N * C;
    L->res2 = L->y + N * C;
    L->ln2 = L->res2 + N * C;
    L->ln2s = L->ln2 + N * C;
    L->fch = L->ln2s + 2 * N;
    L->fcg = L->fch + 4 * N * C;
    L->res3 = L->fcg + 4 * N * C;
    L->att = L->res3 + N * C;
}
/* device pointers of the model's tensor t: its parameters and gradients */
#define DECAR__DP(d, g, t) ((d)->params + (g)->info[t].offset)
#define DECAR__DG(d, g, t) ((d)->grads + (g)->info[t].offset)

/* make room for a batch of B x T (activations: the embedding, every block, ln_f and its stats, the logits) */
static int decar__dev_reserve(decar__dev *d, const decar_gpt_config *c, int64_t B, int64_t T, int train,
                              decar_error *e) {
    int64_t N = B * T, C = c->d_model, V = c->vocab_size;
    int64_t na = N * C + c->n_layer * decar__dlayer_floats(c, B, T) + N * C + 2 * N + N * V;
    /* backward: the residual's gradient (C), two 4C buffers, q k v gradients (3C), qkv's (3C), the probabilities' */
    int64_t ns = train ? N * (C + 8 * C + 3 * C + 3 * C) + B * c->n_head * T * T : 0;
    if (!decar__dgrow((void **)&d->act, &d->act_n, na, sizeof(float)) ||
        !decar__dgrow((void **)&d->scr, &d->scr_n, ns, sizeof(float)) ||
        !decar__dgrow((void **)&d->ids, &d->tok_n, N, 5 * sizeof(int32_t)) ||
        (train && !decar__dgrow((void **)&d->ones, &d->ones_n, N, sizeof(float))))
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "device: no memory for a batch of %lld x %lld", (long long)B, (long long)T);
    if (train) DECAR__LAUNCH(decar__k_fill, d->ones_n, (d->ones, 1.0f, d->ones_n));
    d->tg = d->ids + N;
    d->w = (float *)(void *)(d->tg + N);
    d->lse = d->w + N;
    d->nll = d->lse + N;
    return DECAR_OK;
}
/* the pieces of d->act for B x T: the embedding x, block l's activations, ln_f's output and stats, the logits */
static float *decar__dev_block(decar__dev *d, const decar_gpt_config *c, int64_t B, int64_t T, int l,
                               decar__dlayer *L) {
    int64_t N = B * T, C = c->d_model;
    float *p = d->act + N * C + (int64_t)l * decar__dlayer_floats(c, B, T);
    if (L) decar__dlayer_carve(L, p, c, B, T);
    return p;
}
/* the forward pass over the batch in d->ids, (B, T) tokens: returns the logits (B T, V) in device memory */
static float *decar__dev_forward(decar_gpt *g, int64_t B, int64_t T) {
    decar__dev *d = (decar__dev *)g->dev;
    const decar_gpt_config *c = &g->cfg;
    int64_t N = B * T, C = c->d_model, V = c->vocab_size, NH = c->n_head, hs = C / NH, BH = B * NH;
    float scale = 1.0f / sqrtf((float)hs), *x = d->act, *lnf, *lnfs, *logits;
    const float *in = x;
    decar__dlayer L;
    int l;
    /* x (N, C) = wte[ids] + wpe[t] */
    DECAR__LAUNCH(decar__k_embed, N * C,
                  (x, DECAR__DP(d, g, DECAR__WTE), DECAR__DP(d, g, DECAR__WPE), d->ids, N, T, C));
    for (l = 0; l < c->n_layer; l++) {
        const int b0 = DECAR__BLOCK(l);
        decar__dev_block(d, c, B, T, l, &L);
        /* qkv (N, 3C) = LayerNorm_1(x) W_qkv^T + b_qkv, then q, k, v as (B NH, T, hs) */
        DECAR__LAUNCH(
            decar__k_layernorm, N,
            (L.ln1, L.ln1s, in, DECAR__DP(d, g, b0 + DECAR__LN1_W), DECAR__DP(d, g, b0 + DECAR__LN1_B), N, C));
        decar__dlinear(d, L.qkv, L.ln1, DECAR__DP(d, g, b0 + DECAR__QKV_W), DECAR__DP(d, g, b0 + DECAR__QKV_B), N, C,
                       3 * C);
        DECAR__LAUNCH(decar__k_to_heads, N * C, (L.q, L.qkv, B, T, NH, hs, 3 * C, 0));
        DECAR__LAUNCH(decar__k_to_heads, N * C, (L.k, L.qkv, B, T, NH, hs, 3 * C, C));
        DECAR__LAUNCH(decar__k_to_heads, N * C, (L.v, L.qkv, B, T, NH, hs, 3 * C, 2 * C));
        /* att (B NH, T, T) = softmax(q k^T / sqrt(hs)) over the keys each query sees; y (N, C) = att v, heads joined */
        decar__dmm(d, L.att, L.q, L.k, T, T, hs, 0, 1, 0, BH, T * hs, T * hs, T * T);
        DECAR__LAUNCH(decar__k_attn_softmax, BH * T, (L.att, BH * T, T, scale, c->causal));
        decar__dmm(d, L.yh, L.att, L.v, T, hs, T, 0, 0, 0, BH, T * T, T * hs, T * hs);
        DECAR__LAUNCH(decar__k_from_heads, N * C, (L.y, L.yh, B, T, NH, hs, C, 0));
        /* res2 (N, C) = x + y W_proj^T + b_proj */
        decar__dlinear(d, L.res2, L.y, DECAR__DP(d, g, b0 + DECAR__ATTPROJ_W), DECAR__DP(d, g, b0 + DECAR__ATTPROJ_B),
                       N, C, C);
        DECAR__LAUNCH(decar__k_add, N * C, (L.res2, L.res2, in, N * C));
        /* fch (N, 4C) = LayerNorm_2(res2) W_fc^T + b_fc, fcg = gelu(fch), res3 = res2 + fcg W_fcproj^T + b_fcproj */
        DECAR__LAUNCH(
            decar__k_layernorm, N,
            (L.ln2, L.ln2s, L.res2, DECAR__DP(d, g, b0 + DECAR__LN2_W), DECAR__DP(d, g, b0 + DECAR__LN2_B), N, C));
        decar__dlinear(d, L.fch, L.ln2, DECAR__DP(d, g, b0 + DECAR__FC_W), DECAR__DP(d, g, b0 + DECAR__FC_B), N, C,
                       4 * C);
        DECAR__LAUNCH(decar__k_gelu, 4 * N * C, (L.fcg, L.fch, 4 * N * C));
        decar__dlinear(d, L.res3, L.fcg, DECAR__DP(d, g, b0 + DECAR__FCPROJ_W), DECAR__DP(d, g, b0 + DECAR__FCPROJ_B),
                       N, 4 * C, C);
        DECAR__LAUNCH(decar__k_add, N * C, (L.res3, L.res3, L.res2, N * C));
        in = L.res3;
    }
    /* logits (N, V) = LayerNorm_f(x) wte^T (the tied head) */
    lnf = decar__dev_block(d, c, B, T, c->n_layer, NULL);
    lnfs = lnf + N * C;
    logits = lnfs + 2 * N;
    DECAR__LAUNCH(decar__k_layernorm, N,
                  (lnf, lnfs, in, DECAR__DP(d, g, DECAR__LNF(c)), DECAR__DP(d, g, DECAR__LNF(c) + 1), N, C));
    decar__dmm(d, logits, lnf, DECAR__DP(d, g, DECAR__WTE), N, V, C, 0, 1, 0, 1, 0, 0, 0);
    return logits;
}
/* the backward pass of the last forward, from dlogits (N, V): every parameter's gradient added to d->grads */
static void decar__dev_backward(decar_gpt *g, int64_t B, int64_t T, const float *dlogits) {
    decar__dev *d = (decar__dev *)g->dev;
    const decar_gpt_config *c = &g->cfg;
    int64_t N = B * T, C = c->d_model, V = c->vocab_size, NH = c->n_head, hs = C / NH, BH = B * NH;
    float scale = 1.0f / sqrtf((float)hs);
    float *dres = d->scr, *dA = dres + N * C, *dB = dA + 4 * N * C, *dq = dB + 4 * N * C, *dk = dq + N * C;
    float *dv = dk + N * C, *dqkv = dv + N * C, *datt = dqkv + 3 * N * C;
    float *lnf = decar__dev_block(d, c, B, T, c->n_layer, NULL), *lnfs = lnf + N * C;
    decar__dlayer L, P;
    int l;
    /* dlnf (N, C) = dlogits wte, dwte += dlogits^T lnf */
    decar__dlinear_back(d, dA, DECAR__DG(d, g, DECAR__WTE), NULL, dlogits, lnf, DECAR__DP(d, g, DECAR__WTE), N, C, V);
    /* dres: the residual stream's gradient, from LayerNorm_f's backward */
    decar__dev_block(d, c, B, T, c->n_layer - 1, &L);
    decar__dzero(dres, N * C * (int64_t)sizeof(float));
    DECAR__LAUNCH(decar__k_layernorm_back, N, (dres, dA, L.res3, DECAR__DP(d, g, DECAR__LNF(c)), lnfs, N, C));
    decar__dcol_sums(d, DECAR__DG(d, g, DECAR__LNF(c) + 1), DECAR__DG(d, g, DECAR__LNF(c)), dA, L.res3, lnfs, dB, N, C);
    for (l = c->n_layer - 1; l >= 0; l--) {
        const int b0 = DECAR__BLOCK(l);
        const float *in = d->act; /* the block's input: the embedding, or the previous block's res3 */
        decar__dev_block(d, c, B, T, l, &L);
        if (l > 0) {
            decar__dev_block(d, c, B, T, l - 1, &P);
            in = P.res3;
        }
        /* the MLP: dfcg (N, 4C) = dres W_fcproj, dfch = dfcg gelu'(fch), dln2 (N, C) = dfch W_fc */
        decar__dlinear_back(d, dA, DECAR__DG(d, g, b0 + DECAR__FCPROJ_W), DECAR__DG(d, g, b0 + DECAR__FCPROJ_B), dres,
                            L.fcg, DECAR__DP(d, g, b0 + DECAR__FCPROJ_W), N, 4 * C, C);
        DECAR__LAUNCH(decar__k_gelu_back, 4 * N * C, (dB, L.fch, dA, 4 * N * C));
        decar__dlinear_back(d, dA, DECAR__DG(d, g, b0 + DECAR__FC_W), DECAR__DG(d, g, b0 + DECAR__FC_B), dB, L.ln2,
                            DECAR__DP(d, g, b0 + DECAR__FC_W), N, C, 4 * C);
        /* dres += LayerNorm_2's backward: res2's gradient is the residual's plus the MLP's */
        DECAR__LAUNCH(decar__k_layernorm_back, N, (dres, dA, L.res2, DECAR__DP(d, g, b0 + DECAR__LN2_W), L.ln2s, N, C));
        decar__dcol_sums(d, DECAR__DG(d, g, b0 + DECAR__LN2_B), DECAR__DG(d, g, b0 + DECAR__LN2_W), dA, L.res2, L.ln2s,
                         dB, N, C);
        /* attention: dy (N, C) = dres W_proj, as heads dyh (B NH, T, hs) */
        decar__dlinear_back(d, dA, DECAR__DG(d, g, b0 + DECAR__ATTPROJ_W), DECAR__DG(d, g, b0 + DECAR__ATTPROJ_B), dres,
                            L.y, DECAR__DP(d, g, b0 + DECAR__ATTPROJ_W), N, C, C);
        DECAR__LAUNCH(decar__k_to_heads, N * C, (dB, dA, B, T, NH, hs, C, 0));
        /* dP = dyh v^T, dv = P^T dyh; dS = P (dP - rowsum(P dP)) / sqrt(hs); dq = dS k, dk = dS^T q */
        decar__dmm(d, datt, dB, L.v, T, T, hs, 0, 1, 0, BH, T * hs, T * hs, T * T);
        decar__dmm(d, dv, L.att, dB, T, hs, T, 1, 0, 0, BH, T * T, T * hs, T * hs);
        DECAR__LAUNCH(decar__k_attn_softmax_back, BH * T, (datt, L.att, BH * T, T, scale, c->causal));
        decar__dmm(d, dq, datt, L.k, T, hs, T, 0, 0, 0, BH, T * T, T * hs, T * hs);
        decar__dmm(d, dk, datt, L.q, T, hs, T, 1, 0, 0, BH, T * T, T * hs, T * hs);
        DECAR__LAUNCH(decar__k_from_heads, N * C, (dqkv, dq, B, T, NH, hs, 3 * C, 0));
        DECAR__LAUNCH(decar__k_from_heads, N * C, (dqkv, dk, B, T, NH, hs, 3 * C, C));
        DECAR__LAUNCH(decar__k_from_heads, N * C, (dqkv, dv, B, T, NH, hs, 3 * C, 2 * C));
        /* dln1 (N, C) = dqkv W_qkv, then dres += LayerNorm_1's backward: the block input's gradient */
        decar__dlinear_back(d, dA, DECAR__DG(d, g, b0 + DECAR__QKV_W), DECAR__DG(d, g, b0 + DECAR__QKV_B), dqkv, L.ln1,
                            DECAR__DP(d, g, b0 + DECAR__QKV_W), N, C, 3 * C);
        DECAR__LAUNCH(decar__k_layernorm_back, N, (dres, dA, in, DECAR__DP(d, g, b0 + DECAR__LN1_W), L.ln1s, N, C));
        decar__dcol_sums(d, DECAR__DG(d, g, b0 + DECAR__LN1_B), DECAR__DG(d, g, b0 + DECAR__LN1_W), dA, in, L.ln1s, dB,
                         N, C);
    }
    /* the embeddings: dwte[ids] += dres, dwpe[t] += dres */
    DECAR__LAUNCH(decar__k_embed_back, C,
                  (DECAR__DG(d, g, DECAR__WTE), DECAR__DG(d, g, DECAR__WPE), dres, d->ids, N, T, C));
}

/* a batch's tokens checked on the host (ids in the vocabulary, targets below the classes, finite weights), then
   copied to the device */
static int decar__dev_batch(decar_gpt *g, const int32_t *ids, const int32_t *tg, const float *w, int B, int T,
                            int train, decar_error *e) {
    decar__dev *d = (decar__dev *)g->dev;
    int64_t N = (int64_t)B * T, i;
    int nc = decar_gpt_classes(&g->cfg);
    int rc;
    if (B < 1 || T < 1 || T > g->cfg.seq_len)
        DECAR__FAIL(e, DECAR_ERR_ARG, "device: %d x %d tokens for a context of %d", B, T, g->cfg.seq_len);
    for (i = 0; i < N; i++) {
        if (ids[i] < 0 || ids[i] >= g->cfg.vocab_size)
            DECAR__FAIL(e, DECAR_ERR_ARG, "token %d outside the vocabulary of %d", (int)ids[i], g->cfg.vocab_size);
        if (tg[i] >= nc) DECAR__FAIL(e, DECAR_ERR_ARG, "cross_entropy: target %d outside [0, %d)", (int)tg[i], nc);
        if (w && !(w[i] == w[i] && fabsf(w[i]) < INFINITY))
            DECAR__FAIL(e, DECAR_ERR_NUMERIC, "cross_entropy: weight %lld is not finite", (long long)i);
    }
    if ((rc = decar__dev_reserve(d, &g->cfg, B, T, train, e))) return rc;
    if (!decar__dcopy(d->ids, ids, N * 4, 1) || !decar__dcopy(d->tg, tg, N * 4, 1) ||
        (w && !decar__dcopy(d->w, w, N * 4, 1)))
        DECAR__FAIL(e, DECAR_ERR_IO, "device: copying a batch failed");
    return DECAR_OK;
}
/* the forward pass and -log p(target) per token: nll (N) on the host; the logits stay on the device */
static float *decar__dev_nll(decar_gpt *g, int64_t B, int64_t T, float *nll, decar_error *e) {
    decar__dev *d = (decar__dev *)g->dev;
    int64_t N = B * T;
    float *logits = decar__dev_forward(g, B, T);
    DECAR__LAUNCH(decar__k_crossentropy, N,
                  (d->lse, d->nll, logits, d->tg, N, g->cfg.vocab_size, decar_gpt_classes(&g->cfg)));
    if (!decar__dcopy(nll, d->nll, N * 4, 0) || !decar__dsync()) {
        decar__seterr(e, DECAR_ERR_IO, "device: the forward pass failed");
        return NULL;
    }
    return logits;
}
static int decar__dev_score(decar_gpt *g, const int32_t *ids, const int32_t *tg, int B, int T, float *nll,
                            decar_error *e) {
    int rc = decar__dev_batch(g, ids, tg, NULL, B, T, 0, e);
    if (rc) return rc;
    return decar__dev_nll(g, B, T, nll, e) ? DECAR_OK : DECAR_ERR_IO;
}
/* one training step on the device, the same as the host's: loss = sum_i w_i nll_i / norm (norm: B T with weights,
   else the targets that count), backward, global-norm clipping, AdamW. nll: N floats of host scratch. */
static float decar__dev_train_step(decar_gpt *g, const decar_opt *o, const int32_t *ids, const int32_t *tg,
                                   const float *w, int B, int T, float *nll, decar_error *e) {
    decar__dev *d = (decar__dev *)g->dev;
    int64_t N = (int64_t)B * T, i, nch = ((int64_t)g->n_params + 65535) / 65536, k;
    double tot = 0.0, cnt = 0.0, sq = 0.0;
    float norm, loss, gnorm, lr = decar_opt_lr(o, g->step), *logits;
    float bc1 = 1.0f - powf(o->beta1, (float)(g->step + 1)), bc2 = 1.0f - powf(o->beta2, (float)(g->step + 1));
    double *part;
    int t;
    if (decar__dev_batch(g, ids, tg, w, B, T, 1, e)) return NAN;
    if (!(logits = decar__dev_nll(g, B, T, nll, e))) return NAN;
    for (i = 0; i < N; i++)
        if (tg[i] >= 0) {
            tot += (double)nll[i] * (w ? w[i] : 1.0f);
            cnt += 1.0;
        }
    norm = w ? (float)N : (float)(cnt > 0.0 ? cnt : 1.0);
    loss = (float)(tot / norm);
    if (!(loss == loss) || fabsf(loss) == INFINITY) {
        decar__seterr(e, DECAR_ERR_NUMERIC, "the loss is %f: lower the learning rate", (double)loss);
        return NAN;
    }
    /* backward from dlogits = w / norm (softmax - onehot), written over the logits */
    decar__dzero(d->grads, (int64_t)g->n_params * (int64_t)sizeof(float));
    DECAR__LAUNCH(decar__k_crossentropy_back, N,
                  (logits, d->lse, d->tg, w ? d->w : NULL, norm, N, g->cfg.vocab_size, decar_gpt_classes(&g->cfg)));
    decar__dev_backward(g, B, T, logits);
    /* ||g|| in the host's chunks and order; g *= clip / (||g|| + 1e-6) when that is below 1 */
    if (!decar__dgrow((void **)&d->part, &d->part_n, nch, sizeof(double)) ||
        !(part = (double *)DECAR_MALLOC((size_t)nch * sizeof(double)))) {
        decar__seterr(e, DECAR_ERR_NOMEM, "no memory");
        return NAN;
    }
    DECAR__LAUNCH(decar__k_sumsq, nch, (d->part, d->grads, (int64_t)g->n_params));
    if (!decar__dcopy(part, d->part, nch * (int64_t)sizeof(double), 0)) nch = 0, sq = NAN;
    for (k = 0; k < nch; k++) sq += part[k];
    DECAR_FREE(part);
    gnorm = (float)sqrt(sq);
    if (o->grad_clip > 0.0f && gnorm > 0.0f && o->grad_clip / (gnorm + 1e-6f) < 1.0f)
        DECAR__LAUNCH(decar__k_scale, (int64_t)g->n_params,
                      (d->grads, o->grad_clip / (gnorm + 1e-6f), (int64_t)g->n_params));
    /* AdamW per tensor: weight decay on the 2-D weights only */
    for (t = 0; t < g->n_tensors; t++) {
        const decar_param_info *pi = &g->info[t];
        int64_t n = pi->shape[0] * pi->shape[1];
        float decay = pi->decay ? 1.0f - lr * o->weight_decay : 1.0f;
        DECAR__LAUNCH(decar__k_adamw, n,
                      (d->params + pi->offset, d->grads + pi->offset, d->m + pi->offset, d->v + pi->offset, n, o->beta1,
                       o->beta2, o->eps, decay, lr / bc1, sqrtf(bc2)));
    }
    if (!decar__dsync() || !(gnorm == gnorm)) {
        decar__seterr(e, DECAR_ERR_IO, "device: the training step failed");
        return NAN;
    }
    g->step++;
    d->stale = 1;
    return loss;
}
/* decar_gpt_step_batch on the device: kv[j] are device caches (decar_gpt_kv_new); emb, pos and logits host memory */
static int decar__dev_step_batch(decar_gpt *g, float *const *kv, const float *emb, const int *pos, int n, float *logits,
                                 decar_error *e) {
    decar__dev *d = (decar__dev *)g->dev;
    const decar_gpt_config *c = &g->cfg;
    int64_t C = c->d_model, T = c->seq_len, V = c->vocab_size, NH = c->n_head;
    float *x, *xn, *qkv, *att, *hid, *scores, *lg, *ein;
    int *dpos;
    int l;
    /* x, xn, qkv, att, hid, scores, logits, inputs: (n, C), (n, C), (n, 3C), (n, C), (n, 4C), (n NH, T), (n, V), (n, C)
     */
    if (!decar__dgrow((void **)&d->step, &d->step_n, n * (11 * C + NH * T + V + C), sizeof(float)) ||
        !decar__dgrow((void **)&d->kvp, &d->kvp_n, n, sizeof(float *) + sizeof(int)))
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "device: no memory for a step of %d sequences", n);
    x = d->step;
    xn = x + n * C;
    qkv = xn + n * C;
    att = qkv + 3 * n * C;
    hid = att + n * C;
    scores = hid + 4 * n * C;
    lg = scores + n * NH * T;
    ein = lg + n * V;
    dpos = (int *)(void *)(d->kvp + n);
    if (!decar__dcopy(d->kvp, kv, n * (int64_t)sizeof(float *), 1) || !decar__dcopy(dpos, pos, n * 4, 1) ||
        !decar__dcopy(ein, emb, n * C * 4, 1))
        DECAR__FAIL(e, DECAR_ERR_IO, "device: copying a step's inputs failed");
    /* x (n, C) = emb + wpe[pos] */
    DECAR__LAUNCH(decar__k_embed_pos, n * C, (x, ein, DECAR__DP(d, g, DECAR__WPE), dpos, n, C));
    for (l = 0; l < c->n_layer; l++) {
        const int b0 = DECAR__BLOCK(l);
        /* qkv = LayerNorm_1(x) W_qkv^T + b; k, v into each cache at its position; att = each sequence's attention */
        DECAR__LAUNCH(
            decar__k_layernorm, n,
            (xn, (float *)NULL, x, DECAR__DP(d, g, b0 + DECAR__LN1_W), DECAR__DP(d, g, b0 + DECAR__LN1_B), n, C));
        decar__dlinear(d, qkv, xn, DECAR__DP(d, g, b0 + DECAR__QKV_W), DECAR__DP(d, g, b0 + DECAR__QKV_B), n, C, 3 * C);
        DECAR__LAUNCH(decar__k_kv_store, n * C, (d->kvp, qkv, dpos, n, l, T, C));
        DECAR__LAUNCH(decar__k_kv_attend, n * NH, (att, scores, d->kvp, qkv, dpos, n, l, T, C, NH));
        /* x += att W_proj^T + b, then x += gelu(LayerNorm_2(x) W_fc^T + b) W_fcproj^T + b */
        decar__dlinear(d, xn, att, DECAR__DP(d, g, b0 + DECAR__ATTPROJ_W), DECAR__DP(d, g, b0 + DECAR__ATTPROJ_B), n, C,
                       C);
        DECAR__LAUNCH(decar__k_add, n * C, (x, x, xn, n * C));
        DECAR__LAUNCH(
            decar__k_layernorm, n,
            (xn, (float *)NULL, x, DECAR__DP(d, g, b0 + DECAR__LN2_W), DECAR__DP(d, g, b0 + DECAR__LN2_B), n, C));
        decar__dlinear(d, hid, xn, DECAR__DP(d, g, b0 + DECAR__FC_W), DECAR__DP(d, g, b0 + DECAR__FC_B), n, C, 4 * C);
        DECAR__LAUNCH(decar__k_gelu, 4 * n * C, (hid, hid, 4 * n * C));
        decar__dlinear(d, xn, hid, DECAR__DP(d, g, b0 + DECAR__FCPROJ_W), DECAR__DP(d, g, b0 + DECAR__FCPROJ_B), n,
                       4 * C, C);
        DECAR__LAUNCH(decar__k_add, n * C, (x, x, xn, n * C));
    }
    /* logits (n, V) = LayerNorm_f(x) wte^T, back to the host */
    DECAR__LAUNCH(decar__k_layernorm, n,
                  (xn, (float *)NULL, x, DECAR__DP(d, g, DECAR__LNF(c)), DECAR__DP(d, g, DECAR__LNF(c) + 1), n, C));
    decar__dmm(d, lg, xn, DECAR__DP(d, g, DECAR__WTE), n, V, C, 0, 1, 0, 1, 0, 0, 0);
    if (!decar__dcopy(logits, lg, n * V * 4, 0) || !decar__dsync())
        DECAR__FAIL(e, DECAR_ERR_IO, "device: the KV-cache step failed");
    return DECAR_OK;
}

static void decar__dev_free(decar__dev *d) {
    if (!d) return;
    decar__dfree(d->params);
    decar__dfree(d->grads);
    decar__dfree(d->m);
    decar__dfree(d->v);
    decar__dfree(d->act);
    decar__dfree(d->scr);
    decar__dfree(d->ids);
    decar__dfree(d->part);
    decar__dfree(d->ones);
    decar__dfree(d->step);
    decar__dfree(d->kvp);
#if DECAR__GPU
    if (d->blas) cublasDestroy((cublasHandle_t)d->blas);
#endif
    if (d->ws) decar_ws_free(d->ws);
    DECAR_FREE(d);
}
DECARDEF const char *decar_device_name(int device) {
    return device == DECAR_DEVICE_CUDA ? "cuda" : device == DECAR_DEVICE_CPU_KERNELS ? "cpu-kernels" : "cpu";
}
DECARDEF int decar_device_parse(const char *name, int *device, decar_error *e) {
    int k;
    for (k = DECAR_DEVICE_CPU; k <= DECAR_DEVICE_CUDA; k++)
        if (name && strcmp(name, decar_device_name(k)) == 0) {
            *device = k;
            return DECAR_OK;
        }
    DECAR__FAIL(e, DECAR_ERR_ARG, "unknown device '%s' (cpu, cpu-kernels or cuda)", name ? name : "");
}
DECARDEF int decar_device_available(int device, decar_error *e) {
    if (device == DECAR_DEVICE_CPU) return DECAR_OK;
    if (device == DECAR_DEVICE_CUDA && !DECAR__GPU)
        DECAR__FAIL(e, DECAR_ERR_ARG, "this build has no CUDA: compile the implementation with nvcc -DDECAR_USE_CUDA");
    if (device == DECAR_DEVICE_CPU_KERNELS && DECAR__GPU)
        DECAR__FAIL(e, DECAR_ERR_ARG, "in a CUDA build the device kernels are CUDA kernels: use cuda");
    if (device != DECAR_DEVICE_CUDA && device != DECAR_DEVICE_CPU_KERNELS)
        DECAR__FAIL(e, DECAR_ERR_ARG, "unknown device %d", device);
#if DECAR__GPU
    {
        int count = 0;
        if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1)
            DECAR__FAIL(e, DECAR_ERR_IO, "no CUDA device is visible (cudaGetDeviceCount)");
    }
#endif
    return DECAR_OK;
}
DECARDEF int decar_gpt_device(const decar_gpt *g) {
    return g->dev ? ((const decar__dev *)g->dev)->kind : DECAR_DEVICE_CPU;
}
DECARDEF int decar_gpt_sync(decar_gpt *g, decar_error *e) {
    decar__dev *d = (decar__dev *)g->dev;
    int64_t bytes = (int64_t)g->n_params * (int64_t)sizeof(float);
    if (!d || !d->stale) return DECAR_OK;
    if (!decar__dcopy(g->params, d->params, bytes, 0) || (g->m && !decar__dcopy(g->m, d->m, bytes, 0)) ||
        (g->v && !decar__dcopy(g->v, d->v, bytes, 0)))
        DECAR__FAIL(e, DECAR_ERR_IO, "device: copying the model back failed");
    d->stale = 0;
    return DECAR_OK;
}
DECARDEF int decar_gpt_to_device(decar_gpt *g, int device, decar_error *e) {
    decar__dev *d;
    int64_t bytes = (int64_t)g->n_params * (int64_t)sizeof(float);
    int rc;
    if (device == decar_gpt_device(g)) return DECAR_OK;
    if ((rc = decar_device_available(device, e))) return rc;
    if (g->dev) { /* back to the host first: its copy becomes current */
        if ((rc = decar_gpt_sync(g, e))) return rc;
        decar__dev_free((decar__dev *)g->dev);
        g->dev = NULL;
    }
    if (device == DECAR_DEVICE_CPU) return DECAR_OK;
    if (g->qtype)
        DECAR__FAIL(e, DECAR_ERR_ARG, "a %s-quantized model runs on the CPU: move the float model",
                    decar_qtype_name(g->qtype));
    d = (decar__dev *)DECAR_MALLOC(sizeof *d);
    if (!d) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    memset(d, 0, sizeof *d);
    d->kind = device;
    g->dev = d;
#if DECAR__GPU
    {
        cublasHandle_t h;
        if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
            decar__dev_free(d);
            g->dev = NULL;
            DECAR__FAIL(e, DECAR_ERR_IO, "cuBLAS did not start (cublasCreate)");
        }
        d->blas = h;
    }
#else
    d->ws = decar_ws_new();
#endif
    d->params = (float *)decar__dalloc(bytes);
    d->grads = (float *)decar__dalloc(bytes);
    d->m = (float *)decar__dalloc(bytes);
    d->v = (float *)decar__dalloc(bytes);
    if (!d->params || !d->grads || !d->m || !d->v || !decar__dcopy(d->params, g->params, bytes, 1) ||
        (g->m && !decar__dcopy(d->m, g->m, bytes, 1)) || (g->v && !decar__dcopy(d->v, g->v, bytes, 1))) {
        decar__dev_free(d);
        g->dev = NULL;
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "device: no memory for a model of %lu parameters", (unsigned long)g->n_params);
    }
    if (!g->m) decar__dzero(d->m, bytes);
    if (!g->v) decar__dzero(d->v, bytes);
    return DECAR_OK;
}
DECARDEF float *decar_gpt_kv_new(decar_gpt *g, decar_error *e) {
    int64_t bytes = (int64_t)decar_gpt_kv_size(&g->cfg) * (int64_t)sizeof(float);
    float *kv = g->dev ? (float *)decar__dalloc(bytes) : (float *)DECAR_MALLOC((size_t)bytes);
    if (!kv) decar__seterr(e, DECAR_ERR_NOMEM, "no memory for a KV cache of %lld bytes", (long long)bytes);
    return kv;
}
DECARDEF void decar_gpt_kv_free(decar_gpt *g, float *kv) {
    if (g->dev)
        decar__dfree(kv);
    else
        DECAR_FREE(kv);
}

/* ---- 10d. CLIP-style contrastive encoders ------------------------------------------------------------------------ */
#define DECAR__CLIP_TAU_MAX 4.605170186f /* log 100: CLIP clamps the logit scale at 100 */
DECARDEF int decar_clip_init(decar_clip *m, int n_layer, int n_head, int d_model, int n_patch, int d_patch,
                             int max_text, uint64_t seed, decar_error *e) {
    decar_gpt_config ci = decar_gpt_config_of(n_layer, n_head, d_model, n_patch + 1);
    decar_gpt_config ct = decar_gpt_config_of(n_layer, n_head, d_model, max_text + 2); /* [EOT text EOT] */
    int rc;
    memset(m, 0, sizeof *m);
    ci.causal = 0; /* every patch sees every other, and [CLS] sees them all */
    ci.n_prefix = n_patch;
    ci.d_prefix = d_patch;
    if (n_patch < 1 || d_patch < 1 || max_text < 1)
        DECAR__FAIL(e, DECAR_ERR_ARG, "clip: %d patches of %d floats, texts of %d bytes: each must be >= 1", n_patch,
                    d_patch, max_text);
    if ((rc = decar_gpt_init(&m->img, &ci, seed, e))) return rc;
    if ((rc = decar_gpt_init(&m->txt, &ct, seed + 1, e))) {
        decar_gpt_free(&m->img);
        return rc;
    }
    m->tau = 2.659260036932778f; /* log(1 / 0.07) */
    return DECAR_OK;
}
DECARDEF void decar_clip_free(decar_clip *m) {
    decar_gpt_free(&m->img);
    decar_gpt_free(&m->txt);
    memset(m, 0, sizeof *m);
}
DECARDEF void decar_clip_text_ids(const char *text, int T, int32_t *ids) {
    int L = (int)strlen(text), t;
    if (L > T - 2) L = T - 2 > 0 ? T - 2 : 0;
    for (t = 0; t < T; t++) ids[t] = DECAR_TOK_EOT; /* the first EOT, the final EOT and the padding */
    for (t = 0; t < L; t++) ids[1 + t] = (uint8_t)text[t];
}
/* the final EOT of a row of decar_clip_text_ids (the first EOT after position 0; T - 1 if none) */
static int decar__clip_text_end(const int32_t *ids, int T) {
    int t;
    for (t = 1; t < T - 1; t++)
        if (ids[t] == DECAR_TOK_EOT) return t;
    return T - 1;
}
typedef struct {
    int end, b;
} decar__clip_len;
static int decar__clip_len_cmp(const void *pa, const void *pb) {
    const decar__clip_len *a = (const decar__clip_len *)pa, *b = (const decar__clip_len *)pb;
    return a->end != b->end ? (a->end > b->end) - (a->end < b->end) : (a->b > b->b) - (a->b < b->b);
}
/* the text tower's features txt (B, C) at each row's final EOT. Rows sorted by length are cut into groups, each run
   as (n_g, L_g) with L_g its longest row's length: positions after a row's final EOT cannot reach it through the
   causal mask, so the features are those of one (B, T) batch. The groups minimise sum_g (n_g L_g + T): the tokens
   run, plus a group's overhead counted as one row of T. A 0.6 pair (left_padded) runs as one left-padded batch. */
static decar_tensor *decar__clip_text(decar_ctx *ctx, decar_clip *m, const int32_t *ids, int B, int T) {
    decar__clip_len *o;
    int64_t *cost, *idx, sh[3];
    int *cut, *run;
    int b, i, j, g1, U;
    decar_tensor *acc = NULL;
    if (B < 1 || T < 1 + m->left_padded || T > m->txt.cfg.seq_len + m->left_padded) {
        decar__ctx_fail(ctx, DECAR_ERR_ARG, "clip: %d texts of %d positions (the text tower takes 1 to %d%s)", B, T,
                        m->txt.cfg.seq_len + m->left_padded, m->left_padded ? ", read left-padded in one fewer" : "");
        return NULL;
    }
    o = (decar__clip_len *)decar_ctx_alloc(ctx, (size_t)B * sizeof(decar__clip_len));
    cost = (int64_t *)decar_ctx_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    cut = (int *)decar_ctx_alloc(ctx, (size_t)(B + 1) * 2 * sizeof(int));
    idx = (int64_t *)decar_ctx_alloc(ctx, (size_t)B * sizeof(int64_t));
    if (!o || !cost || !cut || !idx) return NULL;
    run = cut + B + 1;
    for (b = 0; b < B; b++) {
        o[b].end = decar__clip_text_end(ids + (int64_t)b * T, T);
        o[b].b = b;
    }
    if (m->left_padded) { /* [EOT .. EOT text EOT] of T - 1 positions, one batch */
        int32_t *lp = (int32_t *)decar_ctx_alloc(ctx, (size_t)B * (T - 1) * sizeof(int32_t));
        decar_tensor *h;
        if (!lp) return NULL;
        for (b = 0; b < B; b++)
            for (i = 0; i < T - 1; i++) {
                int src = i - (T - 1 - o[b].end) + 1; /* the row's text and final EOT, right-aligned */
                lp[(int64_t)b * (T - 1) + i] = src >= 1 ? ids[(int64_t)b * T + src] : DECAR_TOK_EOT;
            }
        h = decar_gpt_hidden(ctx, &m->txt, NULL, lp, B, T - 1);
        for (b = 0; b < B; b++) idx[b] = (int64_t)b * (T - 1) + T - 2;
        return decar_rows(ctx, h, idx, B);
    }
    qsort(o, (size_t)B, sizeof *o, decar__clip_len_cmp);
    /* run[0..U]: where each length starts in the sorted rows (run[U] = B); groups end where a length does */
    for (b = 0, U = 0; b < B; b++)
        if (b == 0 || o[b].end != o[b - 1].end) run[U++] = b;
    run[U] = B;
    /* cost[j]: the least cost of the rows of the first j lengths; cut[j]: the length its last group starts at */
    cost[0] = 0;
    for (j = 1; j <= U; j++)
        for (i = 0, cost[j] = -1; i < j; i++) {
            int64_t c = cost[i] + (int64_t)(run[j] - run[i]) * (o[run[j] - 1].end + 1) + T;
            if (cost[j] < 0 || c < cost[j]) {
                cost[j] = c;
                cut[j] = i;
            }
        }
    /* the groups, last first: each (n_g, L_g) run, its features gathered, and joined before acc */
    for (g1 = U; g1 > 0; g1 = cut[g1]) {
        int g0 = run[cut[g1]], n = run[g1] - g0, L = o[run[g1] - 1].end + 1;
        int32_t *gi = (int32_t *)decar_ctx_alloc(ctx, (size_t)n * L * sizeof(int32_t));
        decar_tensor *h, *f;
        if (!gi) return NULL;
        for (i = 0; i < n; i++) {
            memcpy(gi + (int64_t)i * L, ids + (int64_t)o[g0 + i].b * T, (size_t)L * sizeof(int32_t));
            idx[i] = (int64_t)i * L + o[g0 + i].end;
        }
        h = decar_gpt_hidden(ctx, &m->txt, NULL, gi, n, L);
        f = decar_rows(ctx, h, idx, n);
        /* f (n, C) seen as (1, n, C): groups join along the middle axis */
        if (!f) return NULL;
        sh[0] = 1;
        sh[1] = n;
        sh[2] = f->shape[1];
        f = decar_view(ctx, f, 3, sh, 0);
        acc = acc ? decar_concat(ctx, f, acc) : f;
        if (!acc) return NULL;
    }
    /* txt (B, C): acc's rows in the sorted order, put back in the batch's */
    sh[0] = B;
    sh[1] = acc->shape[2];
    acc = decar_view(ctx, acc, 2, sh, 0);
    for (i = 0; i < B; i++) idx[o[i].b] = i;
    return decar_rows(ctx, acc, idx, B);
}
DECARDEF int decar_clip_forward(decar_ctx *ctx, decar_clip *m, const float *patches, const int32_t *ids, int B, int T,
                                decar_tensor **img, decar_tensor **txt, float *patch_out) {
    int64_t *idx = (int64_t *)decar_ctx_alloc(ctx, (size_t)(B > 0 ? B : 1) * sizeof(int64_t));
    int P = m->img.cfg.n_prefix, b;
    if (img) *img = NULL;
    if (txt) *txt = NULL;
    if (!idx) return decar_ctx_status(ctx);
    if (patches && img) {
        /* h (B, P + 1, C): the patches, then [CLS] (the mask token's embedding row: a token no text uses) */
        int32_t *cls = (int32_t *)decar_ctx_alloc(ctx, (size_t)B * sizeof(int32_t));
        decar_tensor *h;
        if (!cls) return decar_ctx_status(ctx);
        for (b = 0; b < B; b++) cls[b] = decar_gpt_mask(&m->img.cfg);
        h = decar_gpt_hidden(ctx, &m->img, patches, cls, B, 1);
        if (!h) return decar_ctx_status(ctx);
        /* I (B, C) = h[b, P]: the [CLS] position */
        for (b = 0; b < B; b++) idx[b] = (int64_t)b * (P + 1) + P;
        *img = decar_rows(ctx, h, idx, B);
        if (patch_out)
            for (b = 0; b < B; b++)
                memcpy(patch_out + (int64_t)b * P * h->shape[2], h->data + (int64_t)b * (P + 1) * h->shape[2],
                       (size_t)(P * h->shape[2]) * sizeof(float));
    }
    if (ids && txt) *txt = decar__clip_text(ctx, m, ids, B, T); /* T (B, C): h at the final EOT */
    return decar_ctx_status(ctx);
}
DECARDEF decar_tensor *decar_clip_loss(decar_ctx *ctx, decar_tensor *img, decar_tensor *txt, decar_tensor *tau,
                                       const int32_t *tg) {
    decar_tensor *In, *Tn, *s, *l1, *l2;
    int B;
    if (!decar__ok(ctx, img) || !decar__ok(ctx, txt) || !decar__ok(ctx, tau)) return NULL;
    B = (int)img->shape[0];
    /* In, Tn: unit rows (I and T above); s = exp(tau) */
    In = decar_l2norm(ctx, img);
    Tn = decar_l2norm(ctx, txt);
    s = decar_exp(ctx, tau);
    /* image -> text: logits (B, B) = s I T^T, row i's class tg[i]; text -> image: s T I^T */
    l1 = decar_cross_entropy(ctx, decar_mul(ctx, decar_matmul(ctx, In, Tn, NULL), s), tg, NULL, 0.0f, B, NULL);
    l2 = decar_cross_entropy(ctx, decar_mul(ctx, decar_matmul(ctx, Tn, In, NULL), s), tg, NULL, 0.0f, B, NULL);
    return decar_scale(ctx, decar_add(ctx, l1, l2), 0.5f);
}
DECARDEF float decar_clip_train_step(decar_clip *m, decar_ctx *ctx, const decar_opt *o, const float *patches,
                                     const int32_t *ids, int B, int T) {
    decar_tensor *img, *txt, *tau, *loss;
    int32_t *tg;
    int64_t one = 1;
    float lv, lr = decar_opt_lr(o, m->img.step), bc1, bc2;
    int b;
    decar_ctx_reset(ctx);
    if (!m->img.grads || !m->txt.grads) {
        decar__ctx_fail(ctx, DECAR_ERR_ARG, "clip: a quantized tower is for inference");
        return NAN;
    }
    decar_gpt_zero_grad(&m->img);
    decar_gpt_zero_grad(&m->txt);
    m->tau_g = 0.0f;
    tg = (int32_t *)decar_ctx_alloc(ctx, (size_t)(B > 0 ? B : 1) * sizeof(int32_t));
    tau = decar_wrap(ctx, &m->tau, &m->tau_g, 1, &one);
    if (!tg || !tau || decar_clip_forward(ctx, m, patches, ids, B, T, &img, &txt, NULL)) return NAN;
    for (b = 0; b < B; b++) tg[b] = b;
    loss = decar_clip_loss(ctx, img, txt, tau, tg);
    if (!loss || decar_backward(ctx, loss)) return NAN;
    lv = loss->data[0];
    if (!(lv == lv) || fabsf(lv) == INFINITY) {
        decar__ctx_fail(ctx, DECAR_ERR_NUMERIC, "the loss is %f: lower the learning rate", (double)lv);
        return NAN;
    }
    /* each tower: clipping and AdamW as decar_gpt_train_step; tau: AdamW without decay, clamped at log 100 */
    decar_gpt_clip_grad(&m->img, o->grad_clip);
    decar_gpt_clip_grad(&m->txt, o->grad_clip);
    bc1 = 1.0f - powf(o->beta1, (float)(m->img.step + 1));
    bc2 = 1.0f - powf(o->beta2, (float)(m->img.step + 1));
    decar_gpt_adamw(&m->img, o);
    decar_gpt_adamw(&m->txt, o);
    m->tau_m = o->beta1 * m->tau_m + (1.0f - o->beta1) * m->tau_g;
    m->tau_v = o->beta2 * m->tau_v + (1.0f - o->beta2) * m->tau_g * m->tau_g;
    m->tau -= lr / bc1 * m->tau_m / (sqrtf(m->tau_v) / sqrtf(bc2) + o->eps);
    if (m->tau > DECAR__CLIP_TAU_MAX) m->tau = DECAR__CLIP_TAU_MAX;
    return lv;
}
DECARDEF int decar_clip_embed(decar_clip *m, decar_ctx *ctx, const float *patches, const int32_t *ids, int n, int T,
                              int B, float *img_out, float *txt_out, float *patch_out, decar_error *e) {
    int64_t C = m->img.cfg.d_model, P = m->img.cfg.n_prefix, Dp = m->img.cfg.d_prefix;
    int i0, rc = DECAR_OK, ng = decar_ctx_no_grad(ctx, 1); /* forwards only: no graph */
    if (B < 1) B = 1;
    for (i0 = 0; i0 < n && !rc; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        decar_tensor *img = NULL, *txt = NULL;
        decar_ctx_reset(ctx);
        if (!decar_clip_forward(ctx, m, img_out || patch_out ? patches + (int64_t)i0 * P * Dp : NULL,
                                txt_out ? ids + (int64_t)i0 * T : NULL, nb, T, &img, &txt,
                                patch_out ? patch_out + (int64_t)i0 * P * C : NULL)) {
            /* unit rows, as the loss sees them */
            if (img_out) img = decar_l2norm(ctx, img);
            if (txt_out) txt = decar_l2norm(ctx, txt);
        }
        if ((rc = decar_ctx_status(ctx))) {
            decar__seterr(e, rc, "clip: %s", decar_ctx_error(ctx));
            break;
        }
        if (img_out) memcpy(img_out + (int64_t)i0 * C, img->data, (size_t)(nb * C) * sizeof(float));
        if (txt_out) memcpy(txt_out + (int64_t)i0 * C, txt->data, (size_t)(nb * C) * sizeof(float));
    }
    decar_ctx_no_grad(ctx, ng);
    return rc;
}
DECARDEF void decar_retrieval(const float *q, const float *k, const int *group, int n, int d, int *rank, int *top) {
    int i;
    DECAR__PAR_FOR((int64_t)n * n * d >= 65536, for (i = 0; i < n; i++) {
        const float *x = q + (int64_t)i * d;
        float own = decar__dot(x, k + (int64_t)i * d, d), best = 0.0f;
        int j, above = 0, arg = -1;
        for (j = 0; j < n; j++) {
            float s = decar__dot(x, k + (int64_t)j * d, d);
            if (s > own && (group ? group[j] != group[i] : j != i)) above++;
            if (arg < 0 || s > best) {
                best = s;
                arg = j;
            }
        }
        rank[i] = above;
        top[i] = arg;
    });
}
#ifndef DECAR_NO_STDIO
DECARDEF int decar_clip_save_mem(const decar_clip *m, void *bufs[2], size_t lens[2], decar_error *e) {
    char meta[128];
    int rc;
    bufs[0] = bufs[1] = NULL;
    /* clip_text: the text layout ("clip": [EOT text EOT], padded after; a 0.6 pair, without it, read left-padded) */
    snprintf(meta, sizeof meta, "\"clip_tau\":\"%.9g\",\"clip_tower\":\"text\",\"clip_text\":\"%s\"",
             (double)m->tau, m->left_padded ? "left" : "clip");
    if ((rc = decar_gpt_save_mem(&m->img, 1, "\"clip_tower\":\"image\"", &bufs[0], &lens[0], e)) ||
        (rc = decar_gpt_save_mem(&m->txt, 1, meta, &bufs[1], &lens[1], e))) {
        decar__free_n(2, bufs[0], bufs[1]);
        bufs[0] = bufs[1] = NULL;
    }
    return rc;
}
DECARDEF int decar_clip_save(const decar_clip *m, const char *dir, decar_error *e) {
    char pi[4096], pt[4096];
    const char *paths[2];
    const void *bufs[2];
    void *bb[2], *b0, *b1;
    size_t lens[2];
    int rc;
    snprintf(pi, sizeof pi, "%s/image.safetensors", dir);
    snprintf(pt, sizeof pt, "%s/text.safetensors", dir);
    if ((rc = decar_clip_save_mem(m, bb, lens, e))) return rc;
    b0 = bb[0];
    b1 = bb[1];
    paths[0] = pi;
    paths[1] = pt;
    bufs[0] = b0;
    bufs[1] = b1;
    rc = decar_write_files_atomic(2, paths, bufs, lens, e);
    decar__free_n(2, b0, b1);
    return rc;
}
DECARDEF int decar_clip_load(decar_clip *m, const char *dir, decar_error *e) {
    char pi[4096], pt[4096];
    void *buf;
    size_t len;
    int rc;
    memset(m, 0, sizeof *m);
    snprintf(pi, sizeof pi, "%s/image.safetensors", dir);
    snprintf(pt, sizeof pt, "%s/text.safetensors", dir);
    if ((rc = decar_gpt_load(&m->img, pi, e))) return rc;
    if ((rc = decar_gpt_load(&m->txt, pt, e))) {
        decar_gpt_free(&m->img);
        return rc;
    }
    /* the towers' kinds as saved: a pair of language models or a pair swapped is not a CLIP encoder */
    if (m->img.clip_tower != DECAR_CLIP_IMAGE || m->txt.clip_tower != DECAR_CLIP_TEXT) {
        decar_clip_free(m);
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "%s is not a CLIP encoder pair: %s must be its image tower and %s its text "
                    "tower", dir, pi, pt);
    }
    m->tau = 2.659260036932778f;
    m->left_padded = 1; /* no clip_text: saved by decar 0.6 */
    if (decar_read_file(pt, &buf, &len, NULL) == DECAR_OK) {
        decar__st st;
        if (decar__st_parse((const uint8_t *)buf, len, &st, NULL) == DECAR_OK) {
            const char *v = decar__st_meta(&st, "clip_tau"), *lay = decar__st_meta(&st, "clip_text");
            if (v) m->tau = (float)atof(v);
            if (lay) m->left_padded = !strcmp(lay, "clip") ? 0 : !strcmp(lay, "left") ? 1 : -1;
            decar__st_free(&st);
        }
        DECAR_FREE(buf);
    }
    if (m->img.cfg.causal || !m->img.cfg.n_prefix || !m->txt.cfg.causal || m->img.cfg.d_model != m->txt.cfg.d_model ||
        !(m->tau == m->tau) || m->tau > DECAR__CLIP_TAU_MAX || m->left_padded < 0) {
        decar_clip_free(m);
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "%s is not a CLIP encoder pair (image and text towers of one width, a known "
                    "text layout)", dir);
    }
    return DECAR_OK;
}
#endif

/* ---- 11. losses: masked DFM corruption --------------------------------------------------------------------------- */
DECARDEF void decar_dfm_corrupt(const decar_dfm *d, decar_rng *r, const int32_t *x1, int32_t *x_in, int32_t *targets,
                                float *weights, int B, int T, float *t_out) {
    int b, i, n = d->kappa_pow > 0 ? d->kappa_pow : 1;
    double tmax = d->t_max > 0.0f && d->t_max < 1.0f ? d->t_max : 1.0 - 1e-3;
    for (b = 0; b < B; b++) {
        double t = ((double)b + decar_rng_double(r)) / (double)B * tmax; /* stratified over the batch */
        double kappa = pow(t, (double)n), kdot = (double)n * pow(t, (double)(n - 1)), w = kdot / (1.0 - kappa);
        if (t_out) t_out[b] = (float)t;
        for (i = 0; i < T; i++) {
            int64_t k = (int64_t)b * T + i;
            if (decar_rng_double(r) < kappa) {
                x_in[k] = x1[k];
                targets[k] = -1;
                weights[k] = 0.0f;
            } else {
                x_in[k] = d->mask_token > 0 ? d->mask_token : DECAR_TOK_MASK;
                targets[k] = x1[k];
                weights[k] = (float)w;
            }
        }
    }
}

/* ---- 12. training: AdamW, steps, the loop ------------------------------------------------------------------------ */
DECARDEF decar_opt decar_opt_default(void) {
    decar_opt o;
    o.lr = 1e-3f;
    o.min_lr = 1e-4f;
    o.beta1 = 0.9f;
    o.beta2 = 0.95f;
    o.eps = 1e-8f;
    o.weight_decay = 0.1f;
    o.grad_clip = 1.0f;
    o.warmup_steps = 100;
    o.total_steps = 1000;
    return o;
}
DECARDEF float decar_opt_lr(const decar_opt *o, int64_t step) {
    double ratio;
    if (step < o->warmup_steps) return o->lr * (float)(step + 1) / (float)o->warmup_steps;
    if (step >= o->total_steps) return o->min_lr;
    ratio = (double)(step - o->warmup_steps) /
            (double)(o->total_steps - o->warmup_steps > 0 ? o->total_steps - o->warmup_steps : 1);
    return o->min_lr + (float)(0.5 * (1.0 + cos(3.141592653589793 * ratio))) * (o->lr - o->min_lr);
}
DECARDEF void decar_gpt_zero_grad(decar_gpt *g) {
    if (g->grads) decar__zero(g->grads, (int64_t)g->n_params); /* an inference (quantized) model has none */
}
/* global-norm clipping: ||g|| = sqrt(sum g^2) over every parameter; g *= max_norm / (||g|| + 1e-6) when that is < 1 */
DECARDEF float decar_gpt_clip_grad(decar_gpt *g, float max_norm) {
    double s = 0.0;
    int64_t n = g->grads ? (int64_t)g->n_params : 0, nch = (n + 65535) / 65536, k, k0; /* quantized: no gradients */
    size_t i;
    float norm;
    /* the squared norm in chunks of 64K, each chunk's sum made by one thread, the sums added in chunk order (64 chunks
       at a time): the same bits for any number of threads */
    for (k0 = 0; k0 < nch; k0 += 64) {
        double part[64];
        int64_t m = nch - k0 < 64 ? nch - k0 : 64;
        DECAR__PAR_FOR(m > 1, for (k = 0; k < m; k++) {
            int64_t j, j1 = (k0 + k + 1) * 65536 < n ? (k0 + k + 1) * 65536 : n;
            part[k] = 0.0;
            for (j = (k0 + k) * 65536; j < j1; j++) part[k] += (double)g->grads[j] * g->grads[j];
        });
        for (k = 0; k < m; k++) s += part[k];
    }
    norm = (float)sqrt(s);
    if (max_norm > 0.0f && norm > 0.0f) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f)
            for (i = 0; i < g->n_params; i++) g->grads[i] *= coef;
    }
    return norm;
}
/* torch.optim.AdamW's update, in float32, step t = g->step + 1, per parameter p with gradient g:
       m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
       p = p (1 - lr wd) - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
   weight decay only on the 2-D weights (decay flag of the layout), not on biases and LayerNorm. p, g, m, v: each
   tensor's shape[0] shape[1] floats at its offset in g->params, grads, m, v. */
DECARDEF void decar_gpt_adamw(decar_gpt *g, const decar_opt *o) {
    float lr = decar_opt_lr(o, g->step);
    int t;
    float bc1 = 1.0f - powf(o->beta1, (float)(g->step + 1)), bc2 = 1.0f - powf(o->beta2, (float)(g->step + 1));
    for (t = 0; t < g->n_tensors && g->grads && g->m; t++) { /* nothing for an inference (quantized) model */
        const decar_param_info *pi = &g->info[t];
        int64_t n = pi->shape[0] * pi->shape[1], i;
        float *p = g->params + pi->offset, *gr = g->grads + pi->offset, *m = g->m + pi->offset, *v = g->v + pi->offset;
        float decay = pi->decay ? 1.0f - lr * o->weight_decay : 1.0f, step_size = lr / bc1, sbc2 = sqrtf(bc2);
        int64_t nv = n / DECAR__VW, k;
        const decar__v b1 = decar__vset1(o->beta1), c1 = decar__vset1(1.0f - o->beta1), b2 = decar__vset1(o->beta2);
        const decar__v c2 = decar__vset1(1.0f - o->beta2), vd = decar__vset1(decay), vs = decar__vset1(step_size);
        const decar__v vb = decar__vset1(sbc2), ve = decar__vset1(o->eps);
        /* in vectors: the same IEEE operations, in the same order, as the tail */
        DECAR__PAR_FOR(n >= 32768, for (k = 0; k < nv; k++) {
            float *pk = p + k * DECAR__VW, *mk = m + k * DECAR__VW, *vk = v + k * DECAR__VW;
            decar__v gi = decar__vload(gr + k * DECAR__VW), mm, vv;
            mm = decar__vadd(decar__vmul(b1, decar__vload(mk)), decar__vmul(c1, gi));
            vv = decar__vadd(decar__vmul(b2, decar__vload(vk)), decar__vmul(decar__vmul(c2, gi), gi));
            decar__vstore(mk, mm);
            decar__vstore(vk, vv);
            decar__vstore(
                pk, decar__vsub(decar__vmul(decar__vload(pk), vd),
                                decar__vdiv(decar__vmul(vs, mm), decar__vadd(decar__vdiv(decar__vsqrt(vv), vb), ve))));
        });
        for (i = nv * DECAR__VW; i < n; i++) {
            float gi = gr[i];
            m[i] = o->beta1 * m[i] + (1.0f - o->beta1) * gi;
            v[i] = o->beta2 * v[i] + (1.0f - o->beta2) * gi * gi;
            p[i] = p[i] * decay - step_size * m[i] / (sqrtf(v[i]) / sbc2 + o->eps);
        }
    }
    g->step++;
}

/* targets (and weights) for the text positions, widened to prefix + text with -1 (0) on the prefix */
static int decar__widen(decar_ctx *ctx, int P, const int32_t *tg, const float *w, int B, int T, int32_t **tg_out,
                        float **w_out) {
    int b;
    *tg_out = (int32_t *)tg;
    *w_out = (float *)w;
    if (!P) return 1;
    *tg_out = (int32_t *)decar_ctx_alloc(ctx, (size_t)B * (P + T) * sizeof(int32_t));
    if (w) *w_out = (float *)decar_ctx_alloc(ctx, (size_t)B * (P + T) * sizeof(float));
    if (!*tg_out || (w && !*w_out)) return 0;
    for (b = 0; b < B; b++) {
        int t;
        for (t = 0; t < P; t++) {
            (*tg_out)[b * (P + T) + t] = -1;
            if (w) (*w_out)[b * (P + T) + t] = 0.0f;
        }
        memcpy(*tg_out + b * (P + T) + P, tg + (int64_t)b * T, (size_t)T * sizeof(int32_t));
        if (w) memcpy(*w_out + b * (P + T) + P, w + (int64_t)b * T, (size_t)T * sizeof(float));
    }
    return 1;
}
DECARDEF float decar_gpt_train_step(decar_gpt *g, decar_ctx *ctx, const decar_opt *o, const int32_t *ids,
                                    const int32_t *targets, const float *weights, int B, int T) {
    return decar_gpt_train_step_prefix(g, ctx, o, NULL, ids, targets, weights, B, T);
}
DECARDEF float decar_gpt_train_step_prefix(decar_gpt *g, decar_ctx *ctx, const decar_opt *o, const float *prefix,
                                           const int32_t *ids, const int32_t *targets, const float *weights, int B,
                                           int T) {
    decar_tensor *logits, *loss;
    float lv, *w2;
    int32_t *tg2;
    int nc = decar_gpt_classes(&g->cfg);
    int P = prefix ? g->cfg.n_prefix : 0;
    decar_ctx_reset(ctx);
    if (!g->grads) { /* a quantized (inference) model */
        decar__ctx_fail(ctx, DECAR_ERR_ARG, "a %s-quantized model is for inference", decar_qtype_name(g->qtype));
        return NAN;
    }
    if (g->dev) { /* the device path: the same step, its losses back in host scratch from the context */
        decar_error e;
        float *nll = (float *)decar_ctx_alloc(ctx, (size_t)B * (size_t)(T > 0 ? T : 1) * sizeof(float));
        if (prefix) {
            decar__ctx_fail(ctx, DECAR_ERR_ARG, "the device path trains text models (no image prefix)");
            return NAN;
        }
        if (!nll) return NAN;
        memset(&e, 0, sizeof e);
        lv = decar__dev_train_step(g, o, ids, targets, weights, B, T, nll, &e);
        if (lv != lv)
            decar__ctx_fail(ctx, e.code ? e.code : DECAR_ERR_NUMERIC, "%s", e.code ? e.msg : "the loss is not finite");
        return lv;
    }
    decar_gpt_zero_grad(g);
    if (!decar__widen(ctx, P, targets, weights, B, T, &tg2, &w2)) return NAN;
    logits = decar_gpt_forward_prefix(ctx, g, prefix, ids, B, T);
    loss = decar_cross_entropy(ctx, logits, tg2, w2, weights ? (float)B * (float)T : 0.0f, nc, NULL);
    if (!loss || decar_backward(ctx, loss)) return NAN;
    lv = loss->data[0];
    if (!(lv == lv) || fabsf(lv) == INFINITY) {
        decar__ctx_fail(ctx, DECAR_ERR_NUMERIC, "the loss is %f: lower the learning rate", (double)lv);
        return NAN;
    }
    decar_gpt_clip_grad(g, o->grad_clip);
    decar_gpt_adamw(g, o);
    return lv;
}

DECARDEF int decar_gpt_score(decar_gpt *g, decar_ctx *ctx, const int32_t *ids, const int32_t *targets, int B, int T,
                             float *nll) {
    return decar_gpt_score_prefix(g, ctx, NULL, ids, targets, B, T, nll);
}
DECARDEF int decar_gpt_score_prefix(decar_gpt *g, decar_ctx *ctx, const float *prefix, const int32_t *ids,
                                    const int32_t *targets, int B, int T, float *nll) {
    decar_tensor *logits, *ce;
    int nc = decar_gpt_classes(&g->cfg), b, ng;
    int P = prefix ? g->cfg.n_prefix : 0;
    int32_t *tg2;
    float *w2, *nll2;
    decar_ctx_reset(ctx);
    if (g->dev && !prefix) { /* the device path (an image prefix is scored on the host copy) */
        decar_error e;
        int rc = decar__dev_score(g, ids, targets, B, T, nll, &e);
        if (rc) decar__ctx_fail(ctx, rc, "%s", e.msg);
        return rc;
    }
    if (!decar__widen(ctx, P, targets, NULL, B, T, &tg2, &w2)) return ctx->status;
    nll2 = P ? (float *)decar_ctx_alloc(ctx, (size_t)B * (P + T) * sizeof(float)) : nll;
    ng = decar_ctx_no_grad(ctx, 1); /* a forward only: no graph */
    logits = decar_gpt_forward_prefix(ctx, g, prefix, ids, B, T);
    ce = nll2 ? decar_cross_entropy(ctx, logits, tg2, NULL, 0.0f, nc, nll2) : NULL;
    decar_ctx_no_grad(ctx, ng);
    if (!ce) return ctx->status;
    if (P)
        for (b = 0; b < B; b++)
            memcpy(nll + (int64_t)b * T, nll2 + (int64_t)b * (P + T) + P, (size_t)T * sizeof(float));
    return DECAR_OK;
}

/* the training documents labelled k as a data set of their own (split 0): what router LM k trains on */
static int decar__segment(const decar_data *d, const int32_t *idx, const int32_t *lab, int64_t N, int k,
                          decar_data *seg, decar_error *e) {
    int64_t i;
    int rc = DECAR_OK;
    decar_data_init(seg);
    for (i = 0; i < N && !rc; i++) {
        const decar_doc *doc = &d->docs[idx[i]];
        if (lab[i] == k) rc = decar_data_add(seg, doc->name, doc->bytes, doc->len, 0, e);
    }
    return rc ? rc : decar_data_finish(seg, e);
}
DECARDEF decar_smalltalk_opts decar_smalltalk_opts_default(int k) {
    decar_smalltalk_opts o;
    o.k = k;
    o.rounds = 3;
    o.steps = 100;
    o.batch = 8;
    o.prefix = 64;
    o.seed = 1;
    return o;
}
DECARDEF int decar_smalltalk_partition(const decar_data *d, const decar_gpt_config *cfg, const decar_smalltalk_opts *o,
                                       decar_gpt *lms, int32_t *labels, double *flops, decar_error *e) {
    int K = o->k, rounds = o->rounds, steps = o->steps, B = o->batch, prefix = o->prefix;
    uint64_t seed = o->seed;
    int64_t N = 0, i, q;
    int k, r, rc = DECAR_OK, made = 0;
    int32_t *idx = NULL, *lab = NULL, *cnt = NULL;
    float *S = NULL, *nll = NULL;
    uint64_t *pairs = NULL;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_docset ds;
    decar_opt adam = decar_opt_default();
    decar_train_opts t;
    decar_rng rng;
    memset(&ds, 0, sizeof ds);
    *flops = 0.0;
    for (i = 0; i < d->n_docs; i++) N += d->docs[i].split == 0;
    if (K < 1 || rounds < 1 || steps < 1 || B < 1 || prefix < 2 || N < K || !ctx || !cfg->causal ||
        N * K > (int64_t)UINT32_MAX) {
        decar_ctx_free(ctx);
        DECAR__FAIL(e, ctx ? DECAR_ERR_ARG : DECAR_ERR_NOMEM,
                    "smalltalk: K %d, %d rounds, %d steps, batch %d, prefix %d for %lld training documents (a causal "
                    "config; at most 2^32 document-cluster pairs)", K, rounds, steps, B, prefix, (long long)N);
    }
    idx = (int32_t *)DECAR_MALLOC((size_t)N * sizeof(int32_t));
    lab = (int32_t *)DECAR_MALLOC((size_t)N * sizeof(int32_t));
    cnt = (int32_t *)DECAR_MALLOC((size_t)K * sizeof(int32_t));
    S = (float *)DECAR_MALLOC((size_t)N * (size_t)K * sizeof(float));
    pairs = (uint64_t *)DECAR_MALLOC((size_t)N * 3 * sizeof(uint64_t));
    if (!idx || !lab || !cnt || !S || !pairs) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for the smalltalk partition of %lld documents", (long long)N);
        goto end;
    }
    /* the training documents, and their prefixes as a docset (what each LM scores) */
    for (i = 0, q = 0; i < d->n_docs; i++)
        if (d->docs[i].split == 0) idx[q++] = (int32_t)i;
    if ((rc = decar_docset_build(&ds, d, 0, NULL, e))) goto end;
    decar_docset_truncate(&ds, prefix);
    if (!(nll = (float *)DECAR_MALLOC((size_t)ds.total * sizeof(float) + 1))) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for the prefix scores");
        goto end;
    }
    /* labels^0: a random balanced split: a random order (Fisher-Yates, in pairs' first N), its i-th to i mod K */
    decar_rng_seed(&rng, seed);
    for (i = 0; i < N; i++) pairs[i] = (uint64_t)i;
    for (i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)decar__rng_below(&rng, (uint64_t)(i + 1));
        uint64_t tmp = pairs[i];
        pairs[i] = pairs[j];
        pairs[j] = tmp;
    }
    for (i = 0; i < N; i++) lab[pairs[i]] = (int32_t)(i % K);
    for (k = 0; k < K && !rc; k++)
        if (!(rc = decar_gpt_init(&lms[k], cfg, seed + 1000 + (uint64_t)k, e))) made++;
    if (rc) goto end;
    adam.lr = 3e-3f;
    adam.warmup_steps = steps < 100 ? steps / 2 : 50;
    adam.total_steps = rounds * steps;
    t.batch = B;
    t.seq_len = cfg->seq_len;
    t.dfm = NULL;
    t.val_every = 0;
    t.val_batches = 0;
    for (r = 0; r < rounds && !rc; r++) {
        /* M step: each router LM trains on its segment */
        for (k = 0; k < K && !rc; k++) {
            decar_data seg;
            if (!(rc = decar__segment(d, idx, lab, N, k, &seg, e))) {
                t.steps = (r + 1) * steps;
                rc = decar_train(&lms[k], ctx, &seg, &adam, &t, NULL, NULL, e);
            }
            decar_data_free(&seg);
        }
        *flops += 6.0 * (double)lms[0].n_params * (double)K * steps * B * cfg->seq_len;
        /* E step: S_ik = -L_ik, the mean log-likelihood of document i's prefix under LM k; balanced assignment */
        for (k = 0; k < K && !rc; k++) {
            if ((rc = decar_gpt_score_docs(&lms[k], ctx, &ds, B, nll, e))) break;
            for (q = 0; q < ds.n; q++) {
                double l = 0.0;
                int64_t j, n = ds.off[q + 1] - ds.off[q];
                for (j = ds.off[q]; j < ds.off[q + 1]; j++) l -= nll[j];
                S[(int64_t)q * K + k] = (float)(n > 0 ? l / n : 0.0);
            }
        }
        *flops += 2.0 * (double)lms[0].n_params * (double)K * ds.total;
        if (!rc) decar__balanced_assign(S, N, K, (N + K - 1) / K, lab, cnt, pairs, pairs + N, pairs + 2 * N);
    }
    /* ds lists the training documents in index order, as idx does: lab[q] is document idx[q]'s segment */
    for (i = 0; i < d->n_docs && !rc; i++) labels[i] = -1;
    for (q = 0; q < N && !rc; q++) labels[idx[q]] = lab[q];
end:
    if (rc)
        for (k = 0; k < made; k++) decar_gpt_free(&lms[k]);
    decar_docset_free(&ds);
    decar_ctx_free(ctx);
    decar__free_n(6, (void *)idx, (void *)lab, (void *)cnt, (void *)S, (void *)pairs, (void *)nll);
    return rc;
}
DECARDEF double decar_gpt_val_loss(decar_gpt *g, decar_ctx *ctx, const decar_data *d, int B, int T,
                                   const decar_dfm *dfm, int batches) {
    size_t n = (size_t)B * (size_t)T;
    int32_t *x = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    int32_t *y = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    int32_t *xi = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    float *w = (float *)DECAR_MALLOC(n * sizeof(float));
    float *nll = (float *)DECAR_MALLOC(n * sizeof(float));
    double tot = 0.0;
    int b, nb = 0;
    size_t i;
    decar_rng r;
    decar_rng_seed(&r, 777); /* the same validation windows every time */
    for (b = 0; b < batches && x && y && xi && w && nll && d->stream_len[1] > (int64_t)T + 2; b++) {
        double s = 0.0;
        if (decar_data_batch(d, 1, &r, B, T, x, y, NULL)) break;
        if (!dfm) {
            /* mean_i -ln p(y_i | x_<=i) */
            if (decar_gpt_score(g, ctx, x, y, B, T, nll)) break;
            for (i = 0; i < n; i++) s += nll[i];
        } else {
            /* mean_i w_i * -ln p(y_i | x_t): the DFM bound of one draw of t per window */
            decar_dfm_corrupt(dfm, &r, x, xi, y, w, B, T, NULL);
            if (decar_gpt_score(g, ctx, xi, y, B, T, nll)) break;
            for (i = 0; i < n; i++) s += (double)nll[i] * w[i];
        }
        tot += s / (double)n;
        nb++;
    }
    decar__free_n(5, (void *)x, (void *)y, (void *)xi, (void *)w, (void *)nll);
    return nb ? tot / nb : NAN;
}
DECARDEF int decar_train(decar_gpt *g, decar_ctx *ctx, const decar_data *d, const decar_opt *o,
                         const decar_train_opts *t, decar_train_fn fn, void *user, decar_error *e) {
    int B = t->batch, T = t->seq_len;
    size_t n = (size_t)(B > 0 ? B : 1) * (size_t)(T > 0 ? T : 1);
    int32_t *x = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    int32_t *y = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    int32_t *xi = t->dfm ? (int32_t *)DECAR_MALLOC(n * sizeof(int32_t)) : NULL;
    float *w = t->dfm ? (float *)DECAR_MALLOC(n * sizeof(float)) : NULL;
    double ema = -1.0;
    int rc = DECAR_OK;
    decar_rng r;
    r.s = g->rng_state;
    if (B < 1 || T < 1 || T > g->cfg.seq_len) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "batch %d x %d tokens for a context of %d", B, T, g->cfg.seq_len);
    } else if (g->qtype) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "a %s-quantized model is for inference: train from the float checkpoint",
                      decar_qtype_name(g->qtype));
    } else if (d->stream_len[0] < (int64_t)T + 2) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "only %lld training tokens, need more than %d", (long long)d->stream_len[0], T + 1);
    } else if (!x || !y || (t->dfm && (!xi || !w))) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for a batch");
    }
    while (!rc && g->step < t->steps) {
        decar_train_event ev;
        int64_t s = g->step;
        decar_data_batch(d, 0, &r, B, T, x, y, NULL); /* cannot fail: the stream was checked above */
        if (t->dfm) {
            /* x_t: each token of the targets masked with probability 1 - kappa(t); weights kappa'/(1 - kappa) */
            memcpy(xi, x, n * sizeof(int32_t));
            decar_dfm_corrupt(t->dfm, &r, x, xi, y, w, B, T, NULL);
        }
        ev.lr = decar_opt_lr(o, s);
        ev.loss = decar_gpt_train_step(g, ctx, o, t->dfm ? xi : x, y, w, B, T);
        if (ev.loss != ev.loss) {
            rc = decar_ctx_status(ctx) ? decar_ctx_status(ctx) : DECAR_ERR_NUMERIC;
            decar__seterr(e, rc, "step %lld: %s", (long long)s,
                          decar_ctx_status(ctx) ? decar_ctx_error(ctx) : "the loss is NaN (lower the learning rate?)");
            break;
        }
        g->rng_state = r.s;
        ema = ema < 0 ? ev.loss : 0.95 * ema + 0.05 * ev.loss;
        ev.step = s + 1;
        ev.loss_ema = ema;
        ev.validated = (t->val_every && (s + 1) % t->val_every == 0) || s + 1 == t->steps;
        ev.val_loss = NAN;
        if (ev.validated) ev.val_loss = decar_gpt_val_loss(g, ctx, d, B, T, t->dfm, t->val_batches);
        if (fn && fn(user, &ev)) break;
    }
    decar__free_n(4, (void *)x, (void *)y, (void *)xi, (void *)w);
    return rc;
}

/* KV-cache step at batch 1 (inference only; matrix-vector kernels). kv layout: [layer][k|v][seq_len][C]. */
/* ---- 13. checkpoints: a model in safetensors --------------------------------------------------------------------- */
DECARDEF int decar_gpt_save_mem(const decar_gpt *g, int with_opt, const char *extra_meta, void **buf, size_t *len,
                                decar_error *e) {
    decar__sb m;
    int pass, t, n = 0, rc;
    decar_st_tensor *ts;
    char *names;
    const char *pre[3];
    const float *blk[3];
    /* a model on a device: its host copy first (a cache of the device's state, hence the cast) */
    if ((rc = decar_gpt_sync((decar_gpt *)g, e))) return rc;
    pre[0] = "";
    pre[1] = "optim.m.";
    pre[2] = "optim.v.";
    blk[0] = g->params;
    blk[1] = g->m;
    blk[2] = g->v;
    ts = (decar_st_tensor *)DECAR_MALLOC((size_t)g->n_tensors * 4 * sizeof *ts);
    names = (char *)DECAR_MALLOC((size_t)g->n_tensors * 4 * 80);
    if (!ts || !names) {
        decar__free(ts);
        decar__free(names);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    }
    memset(ts, 0, (size_t)g->n_tensors * 4 * sizeof *ts);
    if (g->qtype) with_opt = 0; /* a quantized model is for inference: weights only */
    for (pass = 0; pass < (with_opt ? 3 : 1); pass++)
        for (t = 0; t < g->n_tensors; t++, n++) {
            const decar_param_info *pi = &g->info[t];
            const decar_qmat *q = g->q && pass == 0 ? &g->q[t] : NULL;
            char *nm = names + (size_t)n * 80;
            strcpy(nm, pre[pass]);
            strcat(nm, pi->name);
            ts[n].name = nm;
            ts[n].ndim = pi->ndim;
            ts[n].shape[0] = pi->shape[0];
            ts[n].shape[1] = pi->shape[1];
            ts[n].data = blk[pass] + pi->offset;
            if (q && q->type == DECAR_QBF16) {
                ts[n].dtype = DECAR_ST_BF16;
                ts[n].raw = q->bf16;
            }
            if (q && q->type == DECAR_Q8_0) { /* "<name>" I8 (N, K) and "<name>.scale" F32 (N, ceil(K / 32)) */
                ts[n].dtype = DECAR_ST_I8;
                ts[n].raw = q->q8;
                n++;
                nm = names + (size_t)n * 80;
                strcpy(nm, pi->name);
                strcat(nm, ".scale");
                ts[n] = decar_st_tensor_of(nm, pi->shape[0], (pi->shape[1] + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK,
                                           q->scale);
            }
        }
    memset(&m, 0, sizeof m);
    if (g->qtype) {
        decar__sb_str(&m, "\"quant\":\"");
        decar__sb_str(&m, decar_qtype_name(g->qtype));
        decar__sb_str(&m, "\",");
    }
    decar__sb_kv(&m, "vocab_size", (uint64_t)g->cfg.vocab_size);
    decar__sb_kv(&m, "n_layer", (uint64_t)g->cfg.n_layer);
    decar__sb_kv(&m, "n_head", (uint64_t)g->cfg.n_head);
    decar__sb_kv(&m, "d_model", (uint64_t)g->cfg.d_model);
    decar__sb_kv(&m, "seq_len", (uint64_t)g->cfg.seq_len);
    decar__sb_kv(&m, "causal", (uint64_t)g->cfg.causal);
    if (g->cfg.n_prefix > 0) {
        decar__sb_kv(&m, "n_prefix", (uint64_t)g->cfg.n_prefix);
        decar__sb_kv(&m, "d_prefix", (uint64_t)g->cfg.d_prefix);
        decar__sb_kv(&m, "d_proj_hidden", (uint64_t)g->cfg.d_proj_hidden);
    }
    if (g->cfg.no_mask) decar__sb_kv(&m, "no_mask", 1);
    decar__sb_kv(&m, "step", (uint64_t)g->step);
    decar__sb_kv(&m, "rng_state", g->rng_state);
    if (g->tokenizer) decar__sb_kv(&m, "tokenizer", g->tokenizer);
    if (extra_meta && *extra_meta)
        decar__sb_str(&m, extra_meta);
    else if (m.n) {
        m.n--;
        m.p[m.n] = 0;
    }
    if (m.oom) {
        DECAR_FREE(ts);
        DECAR_FREE(names);
        decar__free(m.p);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    }
    rc = decar_st_save_mem(ts, n, m.p, buf, len, e);
    DECAR_FREE(ts);
    DECAR_FREE(names);
    DECAR_FREE(m.p);
    return rc;
}

/* a quantized matrix tensor en of a file (dtype I8 with "<name>.scale", or BF16) for param pi: the shapes */
static int decar__st_check_qmat(const decar__st *st, const decar__st_entry *en, int qtype, const decar_param_info *pi,
                                decar_error *e) {
    char nm[160];
    int64_t nb = (pi->shape[1] + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK;
    const decar__st_entry *sc;
    if (en->dtype != (qtype == DECAR_Q8_0 ? DECAR_ST_I8 : DECAR_ST_BF16) || en->ndim != 2 ||
        en->shape[0] != pi->shape[0] || en->shape[1] != pi->shape[1])
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s' is not %s of shape [%lld, %lld] as a %s checkpoint says",
                    en->name, qtype == DECAR_Q8_0 ? "I8" : "BF16", (long long)pi->shape[0], (long long)pi->shape[1],
                    decar_qtype_name(qtype));
    if (qtype != DECAR_Q8_0) return DECAR_OK;
    strcpy(nm, en->name); /* at most 127 characters */
    strcat(nm, ".scale");
    sc = decar__st_find(st, nm);
    if (!sc || !sc->f32 || sc->ndim != 2 || sc->shape[0] != pi->shape[0] || sc->shape[1] != nb)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "a q8_0 checkpoint lacks F32 tensor '%s' of shape [%lld, %lld]", nm,
                    (long long)pi->shape[0], (long long)nb);
    return DECAR_OK;
}
/* the quantized matrix en (checked by decar__st_check_qmat) into qm, and its dequantized values into w */
static int decar__st_read_qmat(const decar__st *st, const uint8_t *b, const decar__st_entry *en, int qtype,
                               const decar_param_info *pi, decar_qmat *qm, float *w, decar_error *e) {
    int64_t N = pi->shape[0], K = pi->shape[1], nb = (K + DECAR_Q8_BLOCK - 1) / DECAR_Q8_BLOCK, i;
    const uint8_t *src = b + st->data_off + en->begin;
    char nm[160];
    int rc;
    memset(qm, 0, sizeof *qm);
    qm->type = qtype;
    qm->rows = N;
    qm->cols = K;
    if (qtype == DECAR_QBF16) {
        qm->bf16 = (uint16_t *)DECAR_MALLOC((size_t)(N * K) * sizeof(uint16_t) + 1);
        if (!qm->bf16) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
        for (i = 0; i < N * K; i++) qm->bf16[i] = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        decar__qmat_dequant(qm, w);
        for (i = 0; i < N * K; i++)
            if (!(fabsf(w[i]) < INFINITY))
                DECAR__FAIL(e, DECAR_ERR_NUMERIC, "tensor '%s' holds NaN or Inf at element %lld", en->name,
                            (long long)i);
        return DECAR_OK;
    }
    qm->q8 = (int8_t *)DECAR_MALLOC((size_t)(N * K) + 1);
    qm->scale = (float *)DECAR_MALLOC((size_t)(N * nb) * sizeof(float) + 1);
    if (!qm->q8 || !qm->scale) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    memcpy(qm->q8, src, (size_t)(N * K));
    strcpy(nm, en->name); /* at most 127 characters */
    strcat(nm, ".scale");
    rc = decar__st_copy(st, b, decar__st_find(st, nm), qm->scale, N * nb, e);
    if (rc) return rc;
    /* the scales: finite and not negative (a NaN or Inf scale, or a negative one, is no quantization decar wrote) */
    for (i = 0; i < N * nb; i++)
        if (!(qm->scale[i] >= 0.0f && qm->scale[i] < INFINITY))
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s' has a negative, NaN or infinite scale at block %lld", nm,
                        (long long)i);
    for (i = 0; i < N * K; i++)
        if (qm->q8[i] == -128)
            DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s' holds -128 (q8_0 uses -127..127)", en->name);
    decar__qmat_dequant(qm, w);
    /* the dequantized values: a finite but huge scale times 127 overflows to Inf, which the float path would read */
    for (i = 0; i < N * K; i++)
        if (!(fabsf(w[i]) < INFINITY))
            DECAR__FAIL(e, DECAR_ERR_NUMERIC, "tensor '%s' dequantizes to NaN or Inf at element %lld (scale too large)",
                        en->name, (long long)i);
    return DECAR_OK;
}
DECARDEF int decar_gpt_check_kind(const decar_gpt *g, const char *path, int need, decar_error *e) {
    if ((need & DECAR_NEED_LM) && g->clip_tower)
        DECAR__FAIL(e, DECAR_ERR_ARG, "%s is the %s tower of a CLIP encoder pair, not a language model (use it with "
                    "decar clip --model DIR)", path ? path : "the checkpoint",
                    g->clip_tower == DECAR_CLIP_IMAGE ? "image" : "text");
    if ((need & DECAR_NEED_FLOAT) && g->qtype)
        DECAR__FAIL(e, DECAR_ERR_ARG, "%s is %s-quantized, a model for inference only: use the float checkpoint",
                    path ? path : "the checkpoint", decar_qtype_name(g->qtype));
    return DECAR_OK;
}
/* Reading a checkpoint, in passes (decar_gpt_load_mem runs them in order): the config and the quantization from the
   metadata; every tensor of the layout found with its shape; then the model allocated and the tensors copied.
   This pass: the config c from the metadata (vocab_size .. seq_len required; causal, no_mask, the image prefix
   optional), and *qtype from "quant" (DECAR_QNONE when absent) */
static int decar__gpt_config_of_meta(const decar__st *st, decar_gpt_config *c, int *qtype, decar_error *e) {
    int rc;
    c->causal = 1;
    c->n_prefix = 0;
    c->d_prefix = 0;
    c->d_proj_hidden = 0;
    c->no_mask = 0;
    rc = decar__meta_int(st, "vocab_size", &c->vocab_size, e);
    if (!rc) rc = decar__meta_int(st, "n_layer", &c->n_layer, e);
    if (!rc) rc = decar__meta_int(st, "n_head", &c->n_head, e);
    if (!rc) rc = decar__meta_int(st, "d_model", &c->d_model, e);
    if (!rc) rc = decar__meta_int(st, "seq_len", &c->seq_len, e);
    if (!rc && decar__st_meta(st, "causal")) rc = decar__meta_int(st, "causal", &c->causal, e);
    if (!rc && decar__st_meta(st, "no_mask")) rc = decar__meta_int(st, "no_mask", &c->no_mask, e);
    if (!rc && decar__st_meta(st, "n_prefix")) {
        rc = decar__meta_int(st, "n_prefix", &c->n_prefix, e);
        if (!rc) rc = decar__meta_int(st, "d_prefix", &c->d_prefix, e);
        if (!rc) rc = decar__meta_int(st, "d_proj_hidden", &c->d_proj_hidden, e);
    }
    if (!rc) rc = decar_gpt_check_config(c, e);
    if (!rc && decar__st_meta(st, "quant") && decar_qtype_parse(decar__st_meta(st, "quant"), qtype)) {
        rc = DECAR_ERR_FORMAT;
        decar__seterr(e, rc, "unknown quantization '%s' (decar reads q8_0 and bf16)", decar__st_meta(st, "quant"));
    }
    return rc;
}
/* every tensor of the layout info (n_tensors) in the file with its shape: the weights (F32, or a quantized matrix of
   qtype), then "optim.m.<name>" and "optim.v.<name>" for all of them, or *have_opt = 0 at the first one missing (a
   weights-only checkpoint) */
static int decar__gpt_find_tensors(const decar__st *st, const decar_gpt_config *c, const decar_param_info *info,
                                   int n_tensors, int qtype, int *have_opt, decar_error *e) {
    static const char *prefix[3] = { "", "optim.m.", "optim.v." };
    char nm[160];
    int t, pass;
    for (pass = 0; pass < 3 && *have_opt; pass++) {
        for (t = 0; t < n_tensors; t++) {
            const decar_param_info *pi = &info[t];
            const decar__st_entry *en;
            int rc;
            strcpy(nm, prefix[pass]);
            strcat(nm, pi->name); /* names are at most 63 characters: nm holds them */
            en = decar__st_find(st, nm);
            if (!en && pass == 0) DECAR__FAIL(e, DECAR_ERR_FORMAT, "checkpoint lacks tensor '%s'", nm);
            if (!en) {
                *have_opt = 0;
                break;
            } /* no optimizer state: a weights-only checkpoint */
            if (pass == 0 && qtype && decar__gpt_is_matrix(c, t)) {
                if ((rc = decar__st_check_qmat(st, en, qtype, pi, e))) return rc;
                continue;
            }
            if (!en->f32 || en->ndim != pi->ndim || en->shape[0] != pi->shape[0] ||
                (pi->ndim == 2 && en->shape[1] != pi->shape[1]))
                DECAR__FAIL(e, DECAR_ERR_FORMAT, "tensor '%s' is not F32 of shape [%lld%s%lld] as the config says", nm,
                            (long long)pi->shape[0], pi->ndim == 2 ? ", " : "",
                            pi->ndim == 2 ? (long long)pi->shape[1] : 0LL);
        }
    }
    return DECAR_OK;
}
DECARDEF int decar_gpt_load_mem(decar_gpt *g, const void *buf, size_t len, decar_error *e) {
    static const char *prefix[3] = { "", "optim.m.", "optim.v." };
    decar__st st;
    decar_gpt_config c;
    decar_param_info *info = NULL;
    const uint8_t *b = (const uint8_t *)buf;
    int rc, t, pass, n_tensors = 0, have_opt = 1, qtype = DECAR_QNONE;
    uint64_t v;
    char nm[160];
    memset(g, 0, sizeof *g);
    if ((rc = decar__st_open(b, len, &st, e))) return rc;
    if ((rc = decar__gpt_config_of_meta(&st, &c, &qtype, e))) goto done;
    /* every tensor of the layout, found with its shape, before the model is allocated */
    n_tensors = decar__gpt_layout(&c, NULL, NULL);
    info = (decar_param_info *)DECAR_MALLOC((size_t)n_tensors * sizeof *info);
    if (!info) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory");
        goto done;
    }
    decar__gpt_layout(&c, info, NULL);
    if ((rc = decar__gpt_find_tensors(&st, &c, info, n_tensors, qtype, &have_opt, e))) goto done;
    /* allocate, then copy the weights (and m, v when every one of them is there) */
    if ((rc = decar__gpt_alloc(g, &c, qtype == DECAR_QNONE, e))) goto done;
    if (qtype) { /* a quantized file: the quantized copies as stored, the floats their dequantized values */
        have_opt = 0;
        g->q = (decar_qmat *)DECAR_MALLOC((size_t)n_tensors * sizeof(decar_qmat));
        if (!g->q) {
            rc = DECAR_ERR_NOMEM;
            decar__seterr(e, rc, "no memory");
        } else
            memset(g->q, 0, (size_t)n_tensors * sizeof(decar_qmat));
        g->qtype = qtype;
    }
    for (pass = 0; pass < (have_opt ? 3 : 1) && !rc; pass++) {
        float *blk = pass == 0 ? g->params : pass == 1 ? g->m : g->v;
        for (t = 0; t < n_tensors && !rc; t++) {
            const decar_param_info *pi = &info[t];
            strcpy(nm, prefix[pass]);
            strcat(nm, pi->name); /* names are at most 63 characters: nm holds them */
            if (qtype && decar__gpt_is_matrix(&c, t))
                rc = decar__st_read_qmat(&st, b, decar__st_find(&st, nm), qtype, pi, &g->q[t], blk + pi->offset, e);
            else
                rc = decar__st_copy(&st, b, decar__st_find(&st, nm), blk + pi->offset, pi->shape[0] * pi->shape[1], e);
        }
    }
    if (rc) {
        decar_gpt_free(g);
        goto done;
    }
    g->step = (decar__parse_u64(decar__st_meta(&st, "step"), &v) == 0 && have_opt) ? (int64_t)v : 0;
    g->rng_state = decar__parse_u64(decar__st_meta(&st, "rng_state"), &v) == 0 ? v : 0;
    g->tokenizer = decar__parse_u64(decar__st_meta(&st, "tokenizer"), &v) == 0 ? v : 0;
    /* the kind: a CLIP tower says which one; any other value of the key is no file decar wrote */
    if (decar__st_meta(&st, "clip_tower")) {
        const char *k = decar__st_meta(&st, "clip_tower");
        g->clip_tower = !strcmp(k, "image") ? DECAR_CLIP_IMAGE : !strcmp(k, "text") ? DECAR_CLIP_TEXT : -1;
        if (g->clip_tower < 0) {
            decar_gpt_free(g);
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "unknown clip_tower '%s' (decar writes image or text)", k);
        }
    }
done:
    decar__free(info);
    decar__st_free(&st);
    return rc;
}

/* ---- 13b. Hugging Face GPT-2 interchange ----------------------------------------------------------------------------
   decar's parameter names are GPT-2's (transformer.h.N.attn.c_attn.weight, ...) and the output head is tied to wte in
   both. The layouts differ in one way: HF's Conv1D stores the c_attn, c_proj and c_fc weights as (in, out), decar
   (like torch.nn.Linear) as (out, in). attn.c_proj is square, so a missed transpose would pass any shape check: the
   test compares logits through PyTorch. decar's byte vocabulary (258) travels as vocab_size; EOT (256) is GPT-2's
   bos/eos, and decar's input convention is [EOT, text...]. */
static int decar__hf_conv1d(const char *name) {
    static const char *suffix[4] = { "attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                                     "mlp.c_proj.weight" };
    size_t n = strlen(name);
    int i;
    for (i = 0; i < 4; i++) {
        size_t m = strlen(suffix[i]);
        if (n >= m && !strcmp(name + n - m, suffix[i])) return 1;
    }
    return 0;
}
/* dst (cols, rows) = src (rows, cols) transposed */
static void decar__transpose(float *dst, const float *src, int64_t rows, int64_t cols) {
    int64_t r, c;
    for (r = 0; r < rows; r++)
        for (c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}
DECARDEF int decar_gpt_export_hf_mem(const decar_gpt *g, void **st_buf, size_t *st_len, char **config_json,
                                     decar_error *e) {
    decar_st_tensor *ts;
    float *hf;
    int t, rc;
    *st_buf = NULL;
    *config_json = NULL;
    if ((rc = decar_gpt_sync((decar_gpt *)g, e))) return rc; /* a model on a device: its host copy first */
    if (!g->cfg.causal)
        DECAR__FAIL(e, DECAR_ERR_ARG, "a DFM (bidirectional) model has no GPT-2 equivalent: export AR models");
    if (g->cfg.n_prefix > 0)
        DECAR__FAIL(e, DECAR_ERR_ARG, "an image-prefix captioner has no GPT2LMHeadModel equivalent");
    ts = (decar_st_tensor *)DECAR_MALLOC((size_t)g->n_tensors * sizeof *ts);
    hf = (float *)DECAR_MALLOC(g->n_params * sizeof(float));
    if (!ts || !hf) {
        decar__free(ts);
        decar__free(hf);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for the export");
    }
    /* weights only, Conv1D weights transposed to (in, out) */
    for (t = 0; t < g->n_tensors; t++) {
        const decar_param_info *pi = &g->info[t];
        float *dst = hf + pi->offset;
        const float *src = g->params + pi->offset;
        memset(&ts[t], 0, sizeof ts[t]);
        ts[t].name = pi->name;
        ts[t].ndim = pi->ndim;
        ts[t].shape[0] = pi->shape[0];
        ts[t].shape[1] = pi->shape[1];
        ts[t].data = dst;
        if (decar__hf_conv1d(pi->name)) {
            decar__transpose(dst, src, pi->shape[0], pi->shape[1]);
            ts[t].shape[0] = pi->shape[1];
            ts[t].shape[1] = pi->shape[0];
        } else
            memcpy(dst, src, (size_t)(pi->shape[0] * pi->shape[1]) * sizeof(float));
    }
    rc = decar_st_save_mem(ts, g->n_tensors, NULL, st_buf, st_len, e);
    DECAR_FREE(ts);
    DECAR_FREE(hf);
    if (rc) return rc;
    /* config.json of GPT2LMHeadModel: decar's GELU is GPT-2's tanh form (gelu_new), LayerNorm eps 1e-5, no dropout */
    {
        decar__sb m;
        memset(&m, 0, sizeof m);
        decar__sb_str(
            &m, "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n  \"vocab_size\": ");
        decar__sb_u64(&m, (uint64_t)g->cfg.vocab_size);
        decar__sb_str(&m, ",\n  \"n_positions\": ");
        decar__sb_u64(&m, (uint64_t)g->cfg.seq_len);
        decar__sb_str(&m, ",\n  \"n_ctx\": ");
        decar__sb_u64(&m, (uint64_t)g->cfg.seq_len);
        decar__sb_str(&m, ",\n  \"n_embd\": ");
        decar__sb_u64(&m, (uint64_t)g->cfg.d_model);
        decar__sb_str(&m, ",\n  \"n_layer\": ");
        decar__sb_u64(&m, (uint64_t)g->cfg.n_layer);
        decar__sb_str(&m, ",\n  \"n_head\": ");
        decar__sb_u64(&m, (uint64_t)g->cfg.n_head);
        decar__sb_str(
            &m,
            ",\n  \"n_inner\": null,\n  \"activation_function\": \"gelu_new\",\n  \"layer_norm_epsilon\": 1e-05,\n"
            "  \"resid_pdrop\": 0.0,\n  \"embd_pdrop\": 0.0,\n  \"attn_pdrop\": 0.0,\n  \"initializer_range\": 0.02,\n"
            "  \"scale_attn_weights\": true,\n  \"tie_word_embeddings\": true,\n"
            "  \"torch_dtype\": \"float32\",\n  \"use_cache\": true,\n");
        if (!g->tokenizer) /* bytes: EOT is 256; a BPE model's EOT is its tokenizer's (vocab.json) */
            decar__sb_str(&m, "  \"bos_token_id\": 256,\n  \"eos_token_id\": 256,\n  \"decar_input\": \"token 256 (end "
                              "of document) first, then the text's bytes as tokens 0-255\",\n");
        else
            decar__sb_str(&m, "  \"decar_input\": \"the tokenizer's <|endoftext|> first, then the text's tokens\",\n");
        decar__sb_str(&m, "  \"decar_mask_last\": ");
        decar__sb_str(&m, decar_gpt_mask(&g->cfg) >= 0 ? "true\n}\n" : "false\n}\n");
        decar__sb_put(&m, "", 1); /* the terminating NUL */
        if (m.oom) {
            decar__free(m.p);
            DECAR_FREE(*st_buf);
            *st_buf = NULL;
            DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
        }
        *config_json = m.p;
    }
    return DECAR_OK;
}

/* One JSON reader for the top-level keys of a JSON object (config.json and the like), answering as Python's json
   does: the whole text must be one object (trailing bytes refused), nested objects and arrays are skipped (their keys
   never match a top-level lookup), and of duplicate keys the last wins. decar__json_skip passes over one value of any
   kind; depth is bounded so a hostile file cannot exhaust the stack. */
static int decar__json_skip(decar__js *j, int depth) {
    decar__js_ws(j);
    if (j->p >= j->end || depth > 64) return -1;
    if (*j->p == '"') {
        for (j->p++; j->p < j->end && *j->p != '"'; j->p++) {
            if ((unsigned char)*j->p < 0x20) return -1;
            if (*j->p == '\\') { /* an escape JSON has: \" \\ \/ \b \f \n \r \t, or \u and four hex digits */
                if (++j->p >= j->end || !*j->p || !strchr("\"\\/bfnrtu", *j->p)) return -1;
                if (*j->p == 'u') {
                    int h;
                    for (h = 1; h <= 4; h++) {
                        char x = j->end - j->p > h ? j->p[h] : 0;
                        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f') || (x >= 'A' && x <= 'F'))) return -1;
                    }
                    j->p += 4;
                }
            }
        }
        if (j->p >= j->end) return -1;
        j->p++;
        return 0;
    }
    if (*j->p == '{' || *j->p == '[') {
        char close = *j->p == '{' ? '}' : ']';
        j->p++;
        if (decar__js_ch(j, close)) return 0;
        for (;;) {
            if (close == '}' && (decar__json_skip(j, depth + 1) || !decar__js_ch(j, ':'))) return -1;
            if (decar__json_skip(j, depth + 1)) return -1;
            if (decar__js_ch(j, close)) return 0;
            if (!decar__js_ch(j, ',')) return -1;
        }
    }
    {
        /* a number or true / false / null: its characters up to a delimiter; at least one */
        const char *s = j->p;
        while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || (*j->p >= 'a' && *j->p <= 'z') ||
                                 (*j->p >= 'A' && *j->p <= 'Z') || *j->p == '-' || *j->p == '+' || *j->p == '.'))
            j->p++;
        return j->p > s ? 0 : -1;
    }
}
/* the value of top-level "key": a number or true/false/null as written, a string decoded (without its quotes), "{" or
   "[" for a nested object or array. 0 found, -1 absent, -2 the text is not one JSON object (or val too small). */
static int decar__json_get(const char *js, size_t n, const char *key, char *val, size_t cap) {
    decar__js j;
    int found = -1;
    j.p = js;
    j.end = js + n;
    if (!decar__js_ch(&j, '{')) return -2;
    if (!decar__js_ch(&j, '}'))
        for (;;) {
            char k[256];
            const char *v0;
            int match;
            /* a key longer than k cannot equal any key decar asks for: skip it as a string */
            v0 = j.p;
            if (decar__js_str(&j, k, sizeof k)) {
                j.p = v0;
                if (decar__json_skip(&j, 1)) return -2;
                k[0] = 0;
            }
            if (!decar__js_ch(&j, ':')) return -2;
            match = strcmp(k, key) == 0;
            decar__js_ws(&j);
            v0 = j.p;
            /* a matching value too long for val reads as "" (no valid value), never cut to a shorter, other one */
            if (match && j.p < j.end && *j.p == '"' && !decar__js_str(&j, val, cap)) {
                found = 0;
            } else {
                j.p = v0;
                if (decar__json_skip(&j, 1)) return -2;
                if (match) {
                    size_t len = (size_t)(j.p - v0);
                    if (*v0 == '{' || *v0 == '[') len = 1;
                    if (len + 1 > cap) len = 0;
                    if (*v0 == '"') len = 0; /* a string longer than val */
                    if (cap > 0) {
                        memcpy(val, v0, len);
                        val[len] = 0;
                    }
                    found = 0;
                }
            }
            if (decar__js_ch(&j, '}')) break;
            if (!decar__js_ch(&j, ',')) return -2;
        }
    decar__js_ws(&j);
    return j.p == j.end ? found : -2;
}
static int decar__json_int(const char *js, size_t n, const char *key, int *out, decar_error *e) {
    char v[64];
    uint64_t x;
    if (decar__json_get(js, n, key, v, sizeof v) || decar__parse_u64(v, &x) || x > 0x7fffffff)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json lacks a valid \"%s\"", key);
    *out = (int)x;
    return DECAR_OK;
}
DECARDEF int decar_gpt_import_hf_mem(decar_gpt *g, const void *st_buf, size_t st_len, const char *config,
                                     size_t config_len, decar_error *e) {
    decar_gpt_config c = decar_gpt_default_config();
    decar__st st;
    const uint8_t *b = (const uint8_t *)st_buf;
    char v[64];
    int rc, t, pass;
    float *tmp = NULL;
    memset(g, 0, sizeof *g);
    /* the config: one JSON object (checked whole first, so a malformed file is named as such, not as a missing key) */
    if (decar__json_get(config, config_len, "", v, sizeof v) == -2)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json is not a well-formed JSON object");
    /* GPT-2's architecture only (decar computes exactly that one) */
    rc = decar__json_int(config, config_len, "vocab_size", &c.vocab_size, e);
    if (!rc) rc = decar__json_int(config, config_len, "n_layer", &c.n_layer, e);
    if (!rc) rc = decar__json_int(config, config_len, "n_head", &c.n_head, e);
    if (!rc) rc = decar__json_int(config, config_len, "n_embd", &c.d_model, e);
    if (!rc) rc = decar__json_int(config, config_len, "n_positions", &c.seq_len, e);
    if (rc) return rc;
    if (!decar__json_get(config, config_len, "model_type", v, sizeof v) && strcmp(v, "gpt2"))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json: model_type '%s' (decar reads gpt2)", v);
    if (!decar__json_get(config, config_len, "activation_function", v, sizeof v) && strcmp(v, "gelu_new") &&
        strcmp(v, "gelu_pytorch_tanh"))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json: activation '%s' (decar computes GPT-2's tanh GELU, gelu_new)",
                    v);
    if (!decar__json_get(config, config_len, "layer_norm_epsilon", v, sizeof v) && fabs(strtod(v, NULL) - 1e-5) > 1e-12)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json: layer_norm_epsilon %s (decar uses 1e-5)", v);
    if (!decar__json_get(config, config_len, "n_inner", v, sizeof v) && strcmp(v, "null") && atoi(v) != 4 * c.d_model)
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json: n_inner %s (decar's MLP is 4 x n_embd)", v);
    if (!decar__json_get(config, config_len, "scale_attn_by_inverse_layer_idx", v, sizeof v) && !strcmp(v, "true"))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json: scale_attn_by_inverse_layer_idx is not supported");
    if (!decar__json_get(config, config_len, "tie_word_embeddings", v, sizeof v) && !strcmp(v, "false"))
        DECAR__FAIL(e, DECAR_ERR_FORMAT, "config.json: an untied output head is not supported (decar ties it to wte)");
    c.causal = 1;
    /* GPT-2's last token (<|endoftext|> in its own vocabulary) is a real token; a decar export says if its is a mask */
    c.no_mask = !(!decar__json_get(config, config_len, "decar_mask_last", v, sizeof v) && !strcmp(v, "true"));
    if ((rc = decar_gpt_check_config(&c, e))) return rc;
    if ((rc = decar__st_open(b, st_len, &st, e))) return rc;
    /* pass 0 finds every tensor with its (HF) shape before allocating; pass 1 copies (transposing Conv1D weights) */
    for (pass = 0; pass < 2 && !rc; pass++) {
        int n_tensors = 0;
        decar_param_info *info = NULL;
        if (pass == 0) {
            n_tensors = decar__gpt_layout(&c, NULL, NULL);
            info = (decar_param_info *)DECAR_MALLOC((size_t)n_tensors * sizeof *info);
            if (!info) {
                rc = DECAR_ERR_NOMEM;
                decar__seterr(e, rc, "no memory");
                break;
            }
            decar__gpt_layout(&c, info, NULL);
        } else {
            if ((rc = decar__gpt_alloc(g, &c, 1, e))) break;
            n_tensors = g->n_tensors;
            info = g->info;
        }
        for (t = 0; t < n_tensors && !rc; t++) {
            const decar_param_info *pi = &info[t];
            int conv = decar__hf_conv1d(pi->name);
            int64_t r0 = conv ? pi->shape[1] : pi->shape[0], r1 = conv ? pi->shape[0] : pi->shape[1];
            const decar__st_entry *en = decar__st_find(&st, pi->name);
            if (!en && !strncmp(pi->name, "transformer.", 12)) en = decar__st_find(&st, pi->name + 12); /* GPT2Model */
            if (!en) {
                rc = DECAR_ERR_FORMAT;
                decar__seterr(e, rc, "model.safetensors lacks '%s'", pi->name);
            } else if (!en->f32 || en->ndim != pi->ndim || en->shape[0] != r0 ||
                       (pi->ndim == 2 && en->shape[1] != r1)) {
                rc = DECAR_ERR_FORMAT;
                decar__seterr(e, rc, "'%s' is not F32 of shape [%lld%s%lld] (GPT-2's layout for this config)", pi->name,
                              (long long)r0, pi->ndim == 2 ? ", " : "", pi->ndim == 2 ? (long long)r1 : 0LL);
            } else if (pass == 1) {
                float *dst = g->params + pi->offset;
                int64_t cnt = pi->shape[0] * pi->shape[1];
                if (!conv)
                    rc = decar__st_copy(&st, b, en, dst, cnt, e);
                else if (!(tmp = (float *)DECAR_MALLOC((size_t)cnt * sizeof(float)))) {
                    rc = DECAR_ERR_NOMEM;
                    decar__seterr(e, rc, "no memory");
                } else {
                    rc = decar__st_copy(&st, b, en, tmp, cnt, e);
                    decar__transpose(dst, tmp, r0, r1);
                    DECAR_FREE(tmp);
                    tmp = NULL;
                }
            }
        }
        if (pass == 0) DECAR_FREE(info);
    }
    if (!rc) { /* an lm_head stored beside wte must be wte (tied) */
        const decar__st_entry *lm = decar__st_find(&st, "lm_head.weight");
        const decar__st_entry *wte = decar__st_find(&st, "transformer.wte.weight");
        if (!wte) wte = decar__st_find(&st, "wte.weight");
        if (lm && wte &&
            (lm->end - lm->begin != wte->end - wte->begin ||
             memcmp(b + st.data_off + lm->begin, b + st.data_off + wte->begin, (size_t)(lm->end - lm->begin)))) {
            rc = DECAR_ERR_FORMAT;
            decar__seterr(e, rc, "lm_head.weight differs from wte: an untied output head is not supported");
        }
    }
    decar__st_free(&st);
    if (rc) decar_gpt_free(g);
    return rc;
}
#ifndef DECAR_NO_STDIO
DECARDEF int decar_gpt_save(const decar_gpt *g, const char *path, const char *extra_meta, decar_error *e) {
    void *buf = NULL;
    size_t len = 0;
    int rc = decar_gpt_save_mem(g, 1, extra_meta, &buf, &len, e);
    return decar__commit(path, buf, len, rc, e);
}
DECARDEF int decar_gpt_load(decar_gpt *g, const char *path, decar_error *e) {
    void *buf;
    size_t len;
    int rc;
    memset(g, 0, sizeof *g);
    if ((rc = decar_read_file(path, &buf, &len, e))) return rc;
    rc = decar_gpt_load_mem(g, buf, len, e);
    DECAR_FREE(buf);
    if (rc) decar__prefix_path(e, path);
    return rc;
}
DECARDEF int decar_gpt_export_hf(const decar_gpt *g, const char *dir, decar_error *e) {
    static const char *const name[2] = { "model.safetensors", "config.json" };
    void *st;
    char *cfg;
    const void *bufs[2];
    size_t lens[2];
    int rc;
    if ((rc = decar_gpt_export_hf_mem(g, &st, &lens[0], &cfg, e))) return rc;
    bufs[0] = st;
    bufs[1] = cfg;
    lens[1] = strlen(cfg);
    rc = decar__write_two(dir, name, bufs, lens, e);
    DECAR_FREE(st);
    DECAR_FREE(cfg);
    return rc;
}
static int decar__hf_parse(void *g, const void *a, size_t na, const void *b, size_t nb, decar_error *e) {
    return decar_gpt_import_hf_mem((decar_gpt *)g, a, na, (const char *)b, nb, e);
}
DECARDEF int decar_gpt_import_hf(decar_gpt *g, const char *dir, decar_error *e) {
    static const char *const name[2] = { "model.safetensors", "config.json" };
    memset(g, 0, sizeof *g);
    return decar__load_two(dir, name, decar__hf_parse, g, e);
}
#endif /* DECAR_NO_STDIO */

/* ---- 14. ensemble: mixture weights, AR generation (after 15's draw from a distribution) -------------------------- */
DECARDEF void decar_softmax_double(const float *logits, int n, double temp, double *p) {
    double mx = -INFINITY, s = 0.0;
    int i;
    double t = temp > 0.0 ? temp : 1.0;
    for (i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    for (i = 0; i < n; i++) {
        p[i] = exp(((double)logits[i] - mx) / t);
        s += p[i];
    }
    for (i = 0; i < n; i++) p[i] /= s;
}
/* one uniform draw per call, whatever top_k/top_p are: samplers that draw the same tokens stay in step */
static int decar__sample(const double *p, int n, int top_k, double top_p, decar_rng *r) { /* the token, -1: no memory */
    double u = decar_rng_double(r), tot = 0.0, cum = 0.0;
    int i;
    if ((top_k > 0 && top_k < n) || (top_p > 0.0 && top_p < 1.0)) {
        int kk = top_k > 0 && top_k < n ? top_k : n, m = 0, *idx = (int *)DECAR_MALLOC((size_t)n * sizeof(int)), res;
        if (!idx) return -1;
        for (i = 0; i < n; i++) idx[i] = i;
        for (m = 0; m < kk; m++) { /* partial selection sort: highest first, ties by index */
            int b = m, q;
            for (q = m + 1; q < n; q++)
                if (p[idx[q]] > p[idx[b]]) b = q;
            {
                int t = idx[m];
                idx[m] = idx[b];
                idx[b] = t;
            }
            tot += p[idx[m]];
            if (top_p > 0.0 && top_p < 1.0 && tot >= top_p) {
                m++;
                break;
            }
        }
        u *= tot;
        res = idx[m - 1];
        for (i = 0; i < m; i++) {
            cum += p[idx[i]];
            if (u < cum) {
                res = idx[i];
                break;
            }
        }
        DECAR_FREE(idx);
        return res;
    }
    for (i = 0; i < n; i++) tot += p[i];
    u *= tot;
    for (i = 0; i < n; i++) {
        cum += p[i];
        if (u < cum) return i;
    }
    for (i = n - 1; i > 0 && p[i] <= 0.0; i--) {
    }
    return i;
}
DECARDEF decar_sample_opts decar_sample_opts_default(void) {
    decar_sample_opts o;
    memset(&o, 0, sizeof o);
    o.temp = 1.0;
    o.top_p = 1.0;
    o.seed = 1;
    o.sampler = DECAR_DFM_FIRST_HIT;
    o.n_steps = 64;
    o.kappa_pow = 1;
    o.min_evidence = DECAR_MIN_EVIDENCE;
    return o;
}

/* the text of ids[0..n) into out (bytes mode: ids below 256 are bytes; a tokenizer decodes; EOT, the mask and
   unknown ids give nothing); returns its length. out needs n * decar__token_bytes_max(t) bytes. */
static int64_t decar__token_bytes_max(const decar_tokenizer *t) {
    int64_t i, m = 1;
    if (t)
        for (i = 0; i < t->n_tokens; i++)
            if (t->off[i + 1] - t->off[i] > m) m = t->off[i + 1] - t->off[i];
    return m;
}
static int64_t decar__ids_text(const decar_tokenizer *t, const int32_t *ids, int64_t n, uint8_t *out) {
    int64_t i, k = 0;
    for (i = 0; i < n; i++) {
        if (!t) {
            if (ids[i] >= 0 && ids[i] < 256) out[k++] = (uint8_t)ids[i];
        } else {
            const uint8_t *b;
            int l = decar_tokenizer_decode(t, ids[i], &b);
            memcpy(out + k, b, (size_t)l);
            k += l;
        }
    }
    return k;
}
/* The mixture's weights at one step: the router's w, then missing experts removed and the rest renormalised,
       w_k <- [expert k exists] w_k / sum_j [expert j exists] w_j
   feat: the routing features (NULL: none, the prior), loglik: R4''s accumulated log-likelihoods (or NULL); expert k
   exists when avail[k] != 0 (avail non-NULL) or experts[k] != NULL. The one copy of this rule: AR generation, DFM
   sampling and both evaluations call it. */
static int decar__mix_weights(const decar_router *r, const char *avail, decar_gpt *const *experts, const float *feat,
                              const double *loglik, double *w, decar_error *e) {
    int j;
    double s = 0.0;
    decar_router_weights(r, feat, loglik, w);
    for (j = 0; j < r->k; j++) {
        int exists = avail ? avail[j] != 0 : experts ? experts[j] != NULL : 1;
        if (!exists) w[j] = 0.0;
        s += w[j];
    }
    if (!(s > 0.0)) DECAR__FAIL(e, DECAR_ERR_ARG, "the router picked only missing experts");
    for (j = 0; j < r->k; j++) w[j] /= s;
    return DECAR_OK;
}
/* No evidence, no commitment (DFM): routing a noised sequence x_t, a feature router (R1-R3, R5, R6) that sees fewer
   than min_evidence revealed bytes (DECAR_MIN_EVIDENCE by default) mixes every expert by its prior, w_k = pi_k
   (renormalised over the experts that exist), instead of committing to the top-k of the prior. At small t almost
   nothing is revealed: the prior mixture is the posterior P(k | x_t) when x_t carries no information. n_revealed:
   bytes of revealed text. */
static int decar__dfm_weights(const decar_router *r, const char *avail, decar_gpt *const *experts, const float *feat,
                              int64_t n_revealed, int min_evidence, double *w, decar_error *e) {
    if (decar_route_uses_features(r->kind) && (n_revealed < min_evidence || !feat)) {
        decar_router pr = *r; /* R4' without likelihoods over every expert: log w_k = log pi_k */
        pr.kind = DECAR_ROUTE_BAYES;
        pr.top_k = 0;
        return decar__mix_weights(&pr, avail, experts, NULL, NULL, w, e);
    }
    return decar__mix_weights(r, avail, experts, feat, NULL, w, e);
}
/* one expert's share of the mixture: mix[a] += w_k p_k[a] for the n classes (in double: small weights survive) */
static void decar__mix_add(double *mix, double w, const double *p, int n) {
    int a;
    for (a = 0; a < n; a++) mix[a] += w * p[a];
}
/* The features of text[0..len) for routing into feat, or NULL when the router reads none: R4' and uniform read no
   features, and an empty text has none (unless a feature function supplies them, as external features do). */
static const float *decar__route_features(const decar_featurizer *f, int kind, const uint8_t *text, int64_t len,
                                          float *feat, int *rc, decar_error *e) {
    *rc = DECAR_OK;
    if (!f || !decar_route_uses_features(kind)) return NULL;
    if (len == 0 && !f->fn) return NULL;
    *rc = decar_feat_apply(f, text, len, feat, e);
    if (*rc) return NULL;
    return feat;
}
/* one expert's state in generation: its KV cache, its window of the output (base, pos tokens fed), p its next-token
   distribution; pre: the image prefix positions already fed (0 until the first step) */
typedef struct decar__estate {
    float *kv, *logits, *scratch, *emb;
    int base, pos, pre;
    double *p;
} decar__estate;
/* the first loaded expert (the callers check that one exists) */
static int decar__first_expert(const decar_ensemble *en) {
    int j;
    for (j = 0; j < en->k; j++)
        if (en->experts[j]) return j;
    return 0;
}
/* Feed expert g what it has not seen yet: the image prefix (P projected positions, once), then the tokens of out
   from its window base. Leaves p_k(. | prefix, x_<len) in st->p. */
static int decar__expert_catch_up(decar_gpt *g, decar__estate *st, const float *prefix, const int32_t *out, int len,
                                  int nc) {
    int P = prefix ? g->cfg.n_prefix : 0;
    int q;
    if (P && !st->pre) {
        /* e_t = proj(prefix_t) for t < P: (P, d_prefix) -> (P, d_model), fed at positions 0 .. P-1 */
        if (decar_gpt_project_prefix(g, prefix, st->emb, NULL)) return 1;
        for (q = 0; q < P; q++)
            if (decar_gpt_step_embed(g, st->kv, st->emb + (int64_t)q * g->cfg.d_model, q, st->logits, st->scratch,
                                     NULL))
                return 1;
        st->pre = 1;
    }
    for (q = st->base + st->pos; q < len; q++) {
        if (decar_gpt_step(g, st->kv, out[q], P + q - st->base, st->logits, st->scratch, NULL)) return 1;
        st->pos++;
    }
    decar_softmax_double(st->logits, nc, 1.0, st->p);
    return 0;
}
/* expert j's KV cache, logits and scratch, allocated the first time it runs (K can be thousands) */
static int decar__estate_alloc(decar__estate *st, const decar_gpt *g, int V, int with_prefix) {
    if (st->kv) return 0;
    st->kv = decar_gpt_kv_new((decar_gpt *)g, NULL); /* device memory for a model on a device */
    st->logits = (float *)DECAR_MALLOC((size_t)V * sizeof(float));
    st->scratch = (float *)DECAR_MALLOC(decar_gpt_step_scratch(&g->cfg) * sizeof(float));
    st->p = (double *)DECAR_MALLOC((size_t)V * sizeof(double));
    if (with_prefix) st->emb = (float *)DECAR_MALLOC((size_t)g->cfg.n_prefix * g->cfg.d_model * sizeof(float) + 1);
    return !st->kv || !st->logits || !st->scratch || !st->p || (with_prefix && !st->emb);
}
static void decar__estate_free(decar__estate *st, decar_gpt *g) {
    if (st->kv) decar_gpt_kv_free(g, st->kv);
    decar__free_n(4, (void *)st->logits, (void *)st->scratch, (void *)st->p, (void *)st->emb);
}
/* the next token from the mixture: temp > 0 samples mix^(1/temp) (renormalised; top-k / top-p applied), temp <= 0
   takes the most likely class (the first of equals) */
static int decar__pick(double *mix, int nc, double temp, int top_k, double top_p, decar_rng *r) {
    int a, best = 0;
    if (temp <= 0.0) {
        for (a = 1; a < nc; a++)
            if (mix[a] > mix[best]) best = a;
        return best;
    }
    if (temp != 1.0) {
        double s = 0.0;
        for (a = 0; a < nc; a++) {
            mix[a] = pow(mix[a], 1.0 / temp);
            s += mix[a];
        }
        for (a = 0; a < nc; a++) mix[a] /= s;
    }
    return decar__sample(mix, nc, top_k, top_p, r);
}
DECARDEF int decar_sample_probs(const double *p, int n, const decar_sample_opts *o, decar_rng *r, int *token,
                                decar_error *e) {
    decar_sample_opts so = o ? *o : decar_sample_opts_default();
    double *q;
    int a;
    if (so.temp == 1.0) {
        a = decar__sample(p, n, so.top_k, so.top_p, r);
    } else { /* decar__pick forms p^(1/temp) in place: in a copy, p stays as it is */
        q = (double *)DECAR_MALLOC((size_t)(n > 0 ? n : 1) * sizeof(double));
        if (!q) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for sampling at temperature %g over %d classes", so.temp, n);
        memcpy(q, p, (size_t)(n > 0 ? n : 0) * sizeof(double));
        a = decar__pick(q, n, so.temp, so.top_k, so.top_p, r);
        DECAR_FREE(q);
    }
    if (a < 0) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for top-k / top-p sampling over %d classes", n);
    *token = a;
    return DECAR_OK;
}
/* the body of decar_ensemble_generate: returns a status (DECAR_OK or DECAR_ERR_*), the length in *len_out */
static int decar__generate(decar_ensemble *en, const float *prefix, const int32_t *prompt, int n_prompt,
                           const decar_sample_opts *o, int32_t *out, int *active_out, int *len_out, decar_error *e) {
    int K = en->k, n_new = o->n_new;
    int j, i, len = n_prompt, V = 0, T = 0, P = -1, rc = DECAR_OK, nc, since = 0;
    int bayes = en->router.kind == DECAR_ROUTE_BAYES;
    int32_t eot = en->tok ? en->tok->eot : DECAR_TOK_EOT;
    decar__estate *st = NULL;
    double *w = NULL, *ll = NULL, *mix = NULL;
    float *feat = NULL;
    uint8_t *txt = NULL;
    int *run = NULL, *fail = NULL;
    decar_rng r;
    for (j = 0; j < K; j++) {
        const decar_gpt_config *c = en->experts[j] ? &en->experts[j]->cfg : NULL;
        if (!c) continue;
        if (!c->causal)
            DECAR__FAIL(e, DECAR_ERR_ARG, "expert %d is not causal: use decar_ensemble_fill for DFM experts", j);
        if (V && c->vocab_size != V) DECAR__FAIL(e, DECAR_ERR_ARG, "experts disagree on the vocabulary");
        if (prefix && !c->n_prefix) DECAR__FAIL(e, DECAR_ERR_ARG, "expert %d takes no image prefix", j);
        if (prefix && P >= 0 && c->n_prefix != P)
            DECAR__FAIL(e, DECAR_ERR_ARG, "experts disagree on the prefix length");
        V = c->vocab_size;
        P = prefix ? c->n_prefix : 0;
        if (!T || c->seq_len - P < T) T = c->seq_len - P; /* the text positions of the smallest context */
    }
    if (!V) DECAR__FAIL(e, DECAR_ERR_ARG, "the ensemble has no loaded expert");
    if (n_prompt < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "the prompt needs at least one token (start with DECAR_TOK_EOT)");
    if (n_new < 0) DECAR__FAIL(e, DECAR_ERR_ARG, "n_new = %d", n_new);
    if (prefix && n_prompt + n_new > T)
        DECAR__FAIL(e, DECAR_ERR_ARG,
                    "%d tokens after an image prefix exceed the "
                    "context (%d text positions)",
                    n_prompt + n_new, T);
    /* the prompt's tokens inside the experts' vocabulary; the first is the start token the caller put there (EOT),
       so its failure says the experts are no byte or BPE language model rather than blaming a prompt */
    for (i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V) {
            if (i == 0)
                DECAR__FAIL(e, DECAR_ERR_ARG,
                            "the start token (end-of-text, id %d) is outside the experts' vocabulary of %d tokens: "
                            "they are not language models of this tokenizer", (int)prompt[0], V);
            DECAR__FAIL(e, DECAR_ERR_ARG, "prompt token %d (after the start token) is %d: outside the vocabulary of %d",
                        i - 1, (int)prompt[i], V);
        }
    nc = decar_gpt_classes(&en->experts[decar__first_expert(en)]->cfg);
    run = (int *)DECAR_MALLOC((size_t)K * 2 * sizeof(int));
    st = (decar__estate *)DECAR_MALLOC((size_t)K * sizeof *st);
    w = (double *)DECAR_MALLOC((size_t)K * 2 * sizeof(double));
    mix = (double *)DECAR_MALLOC((size_t)V * sizeof(double));
    txt = (uint8_t *)DECAR_MALLOC((size_t)(n_prompt + n_new) * (size_t)decar__token_bytes_max(en->tok) + 1);
    if (en->feat) feat = (float *)DECAR_MALLOC((size_t)en->feat->dim * sizeof(float));
    if (!run || !st || !w || !mix || !txt || (en->feat && !feat)) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for generation");
        goto end;
    }
    fail = run + K;
    ll = w + K;
    memset(st, 0, (size_t)K * sizeof *st);
    for (j = 0; j < K; j++) ll[j] = 0.0;
    memcpy(out, prompt, (size_t)n_prompt * sizeof(int32_t));
    decar_rng_seed(&r, o->seed);
    for (i = 0;; i++) {
        int a, best = -1, nrun = 0, q;
        /* w: R1-R3 from the features of the text so far, at most its last DECAR_ROUTE_WINDOW tokens (again every
           route_every tokens); R4' from ll, every token */
        if (i == 0 || (en->route_every > 0 && since >= en->route_every) || bayes) {
            const float *f = NULL;
            if (i == 0 || (en->route_every > 0 && since >= en->route_every)) {
                /* the features of the last DECAR_ROUTE_WINDOW tokens only: each re-route costs at most the window,
                   so generation is linear in n_new (all the text so far made it quadratic); texts up to the window
                   route exactly as before */
                int64_t w0 = len > DECAR_ROUTE_WINDOW ? len - DECAR_ROUTE_WINDOW : 0;
                int64_t nt = decar__ids_text(en->tok, out + w0, len - w0, txt);
                since = 0;
                f = decar__route_features(en->feat, en->router.kind, txt, nt, feat, &rc, e);
                if (rc) goto end;
            }
            if ((rc = decar__mix_weights(&en->router, NULL, en->experts, f, ll, w, e))) goto end;
        }
        /* the experts that run: the active ones, and all of them for the Bayes posterior */
        for (j = 0; j < K; j++) {
            decar_gpt *g = en->experts[j];
            if (!g || (w[j] <= 0.0 && !bayes)) continue;
            if (decar__estate_alloc(&st[j], g, V, prefix != NULL)) {
                rc = DECAR_ERR_NOMEM;
                decar__seterr(e, rc, "no memory for a KV cache");
                goto end;
            }
            if (len - st[j].base > T) { /* window full: restart on the last T/2 tokens (at least one) */
                st[j].base = len - (T / 2 > 0 ? T / 2 : 1);
                st[j].pos = 0;
            }
            run[nrun++] = j;
        }
        /* bring them up to date in parallel, one expert per thread (their kernels then run serially). One expert
           runs outside any region: a serialized region makes libgomp build a nested team for every kernel. */
        if (nrun > 1) {
            DECAR__PAR_FOR(1, for (q = 0; q < nrun; q++)
                fail[q] = decar__expert_catch_up(en->experts[run[q]], &st[run[q]], prefix, out, len, nc));
        } else if (nrun == 1) {
            fail[0] = decar__expert_catch_up(en->experts[run[0]], &st[run[0]], prefix, out, len, nc);
        }
        for (q = 0; q < nrun; q++) {
            if (!fail[q]) continue;
            rc = DECAR_ERR_ARG;
            decar__seterr(e, rc, "a token is out of expert %d's vocabulary", run[q]);
            goto end;
        }
        if (i == n_new) break;
        /* p(a) = sum_k w_k p_k(a | x_<len), then the next token from it */
        for (a = 0; a < nc; a++) mix[a] = 0.0;
        for (j = 0; j < K; j++) {
            if (w[j] <= 0.0) continue;
            decar__mix_add(mix, w[j], st[j].p, nc);
            if (best < 0 || w[j] > w[best]) best = j;
        }
        {
            /* the mixture is a distribution: weights finite in themselves can still overflow float32 in the forward
               (a huge quantized scale), and sampling from NaN would emit garbage with success */
            double sum = 0.0;
            for (a = 0; a < nc; a++) sum += mix[a];
            if (!(sum > 0.0 && sum < INFINITY)) {
                rc = DECAR_ERR_NUMERIC;
                decar__seterr(e, rc, "the experts' next-token probabilities are NaN or Inf at token %d (their weights "
                              "overflow float32)", i);
                goto end;
            }
        }
        a = decar__pick(mix, nc, o->temp, o->top_k, o->top_p, &r);
        if (a < 0) {
            rc = DECAR_ERR_NOMEM;
            decar__seterr(e, rc, "no memory for top-k / top-p sampling");
            goto end;
        }
        if (active_out) active_out[i] = best;
        /* R4': ll_k += ln p_k(a | x_<len) */
        for (j = 0; j < K; j++)
            if (st[j].p && (w[j] > 0.0 || bayes)) ll[j] += log(st[j].p[a] > 1e-300 ? st[j].p[a] : 1e-300);
        out[len++] = a;
        since++;
        if (a == eot && o->stop_at_eot) break;
    }
end:
    for (j = 0; st && j < K; j++) decar__estate_free(&st[j], en->experts[j]);
    decar__free_n(6, (void *)st, (void *)w, (void *)mix, (void *)txt, (void *)feat, (void *)run);
    *len_out = len;
    return rc;
}
DECARDEF decar_ensemble decar_ensemble_of(decar_gpt **experts, int k) {
    decar_ensemble en;
    memset(&en, 0, sizeof en);
    en.k = k;
    en.experts = experts;
    en.router.k = k;
    en.router.kind = DECAR_ROUTE_UNIFORM;
    en.router.top_k = k;
    en.router.temp = 0.1f;
    return en;
}
DECARDEF int decar_ensemble_generate(decar_ensemble *en, const float *prefix, const int32_t *prompt, int n_prompt,
                                     const decar_sample_opts *o, int32_t *out, int *n_out, int *active_out,
                                     decar_error *e) {
    decar_sample_opts so = o ? *o : decar_sample_opts_default();
    int len = 0;
    int rc = decar__generate(en, prefix, prompt, n_prompt, &so, out, active_out, &len, e);
    *n_out = len;
    return rc;
}

/* ---- 14b. evaluation --------------------------------------------------------------------------------------------- */
DECARDEF void decar_docset_free(decar_docset *ds) {
    decar__free_n(4, (void *)ds->doc, (void *)ds->off, (void *)ds->tok, (void *)ds->end);
    memset(ds, 0, sizeof *ds);
}
DECARDEF int64_t decar_docset_doc_bytes(const decar_docset *ds, int q) {
    return ds->off[q + 1] > ds->off[q] ? ds->end[ds->off[q + 1] - 1] : 0;
}
DECARDEF void decar_docset_truncate(decar_docset *ds, int64_t max_bytes) {
    int64_t w = 0, i;
    int q;
    if (max_bytes <= 0) return;
    ds->bytes = 0;
    for (q = 0; q < ds->n; q++) {
        int64_t a = ds->off[q], b = ds->off[q + 1];
        ds->off[q] = w; /* tokens move only towards the front: a >= w */
        for (i = a; i < b && ds->end[i] <= max_bytes; i++) {
            ds->tok[w] = ds->tok[i];
            ds->end[w] = ds->end[i];
            w++;
        }
        ds->bytes += w > ds->off[q] ? ds->end[w - 1] : 0;
    }
    ds->off[ds->n] = w;
    ds->total = w;
}
DECARDEF int decar_docset_build(decar_docset *ds, const decar_data *d, int split, const decar_tokenizer *t,
                                decar_error *e) {
    int i;
    int64_t cap = 0;
    memset(ds, 0, sizeof *ds);
    for (i = 0; i < d->n_docs; i++)
        if (d->docs[i].split == split) cap += d->docs[i].len; /* never more tokens than bytes */
    ds->doc = (int *)DECAR_MALLOC((size_t)d->n_docs * sizeof(int) + 1);
    ds->off = (int64_t *)DECAR_MALLOC((size_t)(d->n_docs + 1) * sizeof(int64_t));
    ds->tok = (int32_t *)DECAR_MALLOC((size_t)(cap + 1) * sizeof(int32_t));
    ds->end = (int64_t *)DECAR_MALLOC((size_t)(cap + 1) * sizeof(int64_t));
    if (!ds->doc || !ds->off || !ds->tok || !ds->end) {
        decar_docset_free(ds);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for %lld held-out tokens", (long long)cap);
    }
    ds->eot = t ? t->eot : DECAR_TOK_EOT;
    for (i = 0; i < d->n_docs; i++) {
        const decar_doc *doc = &d->docs[i];
        int32_t *tk = ds->tok + ds->total;
        int64_t k, m, at = 0;
        if (doc->split != split) continue;
        ds->doc[ds->n] = i;
        ds->off[ds->n] = ds->total;
        m = t ? decar_tokenizer_encode(t, doc->bytes, doc->len, tk) : doc->len;
        for (k = 0; k < m; k++) {
            const uint8_t *b;
            if (!t) tk[k] = doc->bytes[k];
            at += t ? decar_tokenizer_decode(t, tk[k], &b) : 1;
            ds->end[ds->total + k] = at;
        }
        ds->total += m;
        ds->bytes += doc->len;
        ds->n++;
    }
    ds->off[ds->n] = ds->total;
    return DECAR_OK;
}

/* scores the nb windows gathered in x, y and writes each target's -ln p to nll[dst[...]] */
static int decar__score_flush(decar_gpt *g, decar_ctx *ctx, const int32_t *x, const int32_t *y, const int64_t *dst,
                              int nb, int T, float *out, float *nll, decar_error *e) {
    int k;
    if (decar_gpt_score(g, ctx, x, y, nb, T, out))
        DECAR__FAIL(e, decar_ctx_status(ctx), "scoring: %s", decar_ctx_error(ctx));
    for (k = 0; k < nb * T; k++)
        if (dst[k] >= 0) nll[dst[k]] = out[k];
    return DECAR_OK;
}
DECARDEF int decar_gpt_score_docs(decar_gpt *g, decar_ctx *ctx, const decar_docset *ds, int B, float *nll,
                                  decar_error *e) {
    int T = g->cfg.seq_len;
    int q, nb = 0, rc = DECAR_OK;
    size_t n = (size_t)(B > 0 ? B : 1) * (size_t)T;
    int32_t *x = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    int32_t *y = (int32_t *)DECAR_MALLOC(n * sizeof(int32_t));
    float *out = (float *)DECAR_MALLOC(n * sizeof(float));
    int64_t *dst = (int64_t *)DECAR_MALLOC(n * sizeof(int64_t));
    if (B < 1) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "batch %d", B);
    } else if (!x || !y || !out || !dst) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for scoring");
    }
    for (q = 0; q < ds->n && !rc; q++) {
        const int32_t *tk = ds->tok + ds->off[q];
        int64_t len = ds->off[q + 1] - ds->off[q];
        int64_t s;
        /* window s covers targets x_s .. x_{s+T-1} from inputs x_{s-1} .. x_{s+T-2} (x_{-1} = EOT) */
        for (s = 0; s < len && !rc; s += T) {
            int t;
            for (t = 0; t < T; t++) {
                int64_t pi = s + t - 1;
                int64_t ti = s + t;
                x[nb * T + t] = pi < 0 || pi >= len ? ds->eot : tk[pi];
                y[nb * T + t] = ti < len ? tk[ti] : -1;
                dst[nb * T + t] = ti < len ? ds->off[q] + ti : -1;
            }
            nb++;
            if (nb == B) {
                rc = decar__score_flush(g, ctx, x, y, dst, nb, T, out, nll, e);
                nb = 0;
            }
        }
    }
    if (nb && !rc) rc = decar__score_flush(g, ctx, x, y, dst, nb, T, out, nll, e);
    /* every loss finite: weights that are each finite can still overflow float32 in the forward (a huge quantized
       scale, say); a NaN score is no result, so it is an error rather than "nan bits per byte" */
    if (!rc) {
        int64_t i;
        for (i = 0; i < ds->total && !rc; i++)
            if (!(fabsf(nll[i]) < INFINITY)) {
                rc = DECAR_ERR_NUMERIC;
                decar__seterr(e, rc, "the model's loss is NaN or Inf at token %lld (its weights overflow float32)",
                              (long long)i);
            }
    }
    decar__free_n(4, (void *)x, (void *)y, (void *)out, (void *)dst);
    return rc;
}
DECARDEF void decar_nll_tables_free(float **nll, int k) {
    int j;
    for (j = 0; nll && j < k; j++) {
        decar__free(nll[j]);
        nll[j] = NULL;
    }
}

/* expert j's table of every held-out token's -ln p, computed the first time it is needed */
static int decar__nll_table(decar_ensemble *en, decar_ctx *ctx, const decar_docset *ds, int B, float **nll, int j,
                            decar_error *e) {
    int rc;
    if (nll[j]) return DECAR_OK;
    nll[j] = (float *)DECAR_MALLOC((size_t)ds->total * sizeof(float) + 1);
    if (!nll[j]) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for expert %d's scores", j);
    rc = decar_gpt_score_docs(en->experts[j], ctx, ds, B, nll[j], e);
    if (rc) {
        DECAR_FREE(nll[j]);
        nll[j] = NULL;
    }
    return rc;
}
DECARDEF int decar_ensemble_score_docs(decar_ensemble *en, decar_ctx *ctx, const decar_data *d, const decar_docset *ds,
                                       int B, float **nll, double *bits, decar_error *e) {
    int K = en->k;
    int bayes = en->router.kind == DECAR_ROUTE_BAYES;
    int j, q, rc = DECAR_OK;
    double *w = (double *)DECAR_MALLOC((size_t)K * 2 * sizeof(double));
    double *ll = NULL;
    int64_t doc0 = en->feat ? en->feat->doc : 0;
    float *feat = (float *)DECAR_MALLOC((size_t)(en->feat ? en->feat->dim : 1) * sizeof(float));
    if (!w || !feat) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for ensemble scoring");
    } else {
        ll = w + K;
    }
    /* R4' reads every expert's likelihood at every token: all of them are scored first */
    for (j = 0; j < K && bayes && !rc; j++)
        if (en->experts[j]) rc = decar__nll_table(en, ctx, ds, B, nll, j, e);
    for (q = 0; q < ds->n && !rc; q++) {
        const decar_doc *doc = &d->docs[ds->doc[q]];
        const int64_t *end = ds->end + ds->off[q];
        int64_t ntok = ds->off[q + 1] - ds->off[q];
        int64_t i;
        if (en->feat) en->feat->doc = ds->doc[q];
        for (j = 0; j < K; j++) ll[j] = 0.0;
        bits[q] = 0.0;
        for (i = 0; i < ntok && !rc; i++) {
            int64_t before = i > 0 ? end[i - 1] : 0;
            double pm = 0.0;
            int route = i == 0 || bayes || (en->route_every > 0 && i % en->route_every == 0);
            /* w(i): routed on the text before token i */
            if (route) {
                const float *f = decar__route_features(en->feat, en->router.kind, doc->bytes, before, feat, &rc, e);
                if (rc || (rc = decar__mix_weights(&en->router, NULL, en->experts, f, ll, w, e))) break;
            }
            /* p(x_i) = sum_k w_k p_k(x_i | x_<i); ll_k += ln p_k(x_i | x_<i) */
            for (j = 0; j < K; j++) {
                double lp;
                if (w[j] > 0.0 && (rc = decar__nll_table(en, ctx, ds, B, nll, j, e))) break;
                if (!nll[j]) continue;
                lp = -(double)nll[j][ds->off[q] + i];
                if (w[j] > 0.0) pm += w[j] * exp(lp);
                ll[j] += lp;
            }
            bits[q] += -log(pm > 1e-300 ? pm : 1e-300) / log(2.0);
        }
    }
    if (en->feat) en->feat->doc = doc0;
    decar__free(w);
    decar__free(feat);
    return rc;
}

DECARDEF int decar_ensemble_oracle_docs(decar_ensemble *en, decar_ctx *ctx, const decar_docset *ds, int B,
                                        float **nll, double *bits, int32_t *best, decar_error *e) {
    int j, q, have = 0;
    for (j = 0; j < en->k; j++)
        if (en->experts[j]) {
            int rc = decar__nll_table(en, ctx, ds, B, nll, j, e);
            if (rc) return rc;
            have = 1;
        }
    if (!have) DECAR__FAIL(e, DECAR_ERR_ARG, "the oracle needs at least one expert");
    for (q = 0; q < ds->n; q++) {
        double lo = INFINITY;
        int32_t arg = -1;
        for (j = 0; j < en->k; j++) {
            double b = 0.0;
            int64_t i;
            if (!nll[j]) continue;
            /* bits_k(q) = sum_i nll_k(i) / ln 2, summed in double */
            for (i = ds->off[q]; i < ds->off[q + 1]; i++) b += (double)nll[j][i];
            b /= log(2.0);
            if (b < lo) {
                lo = b;
                arg = j;
            }
        }
        if (arg < 0) DECAR__FAIL(e, DECAR_ERR_NUMERIC, "oracle: no expert has finite bits on held-out document %d", q);
        bits[q] = lo;
        if (best) best[q] = arg;
    }
    return DECAR_OK;
}
DECARDEF int decar_ensemble_doc_choice(decar_ensemble *en, decar_ctx *ctx, const decar_data *d, const decar_docset *ds,
                                       int B, float **nll, int32_t *choice, decar_error *e) {
    int K = en->k, j, q, rc = DECAR_OK, bayes = en->router.kind == DECAR_ROUTE_BAYES;
    double *w = (double *)DECAR_MALLOC((size_t)K * sizeof(double));
    int64_t doc0 = en->feat ? en->feat->doc : 0;
    if (!w) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for routing");
    for (j = 0; j < K && bayes && !rc; j++)
        if (en->experts[j]) rc = decar__nll_table(en, ctx, ds, B, nll, j, e);
    for (q = 0; q < ds->n && !rc; q++) {
        const decar_doc *doc = &d->docs[ds->doc[q]];
        int a = -1;
        if (en->feat) en->feat->doc = ds->doc[q];
        if (bayes) {
            /* log pi_k + sum_i ln p_k(x_i | x_<i): the posterior's argmax after the last token */
            double lmax = -INFINITY;
            for (j = 0; j < K; j++) {
                double l;
                int64_t i;
                if (!nll[j]) continue;
                l = log(en->router.prior && en->router.prior[j] > 0.0f ? en->router.prior[j] : 1e-30);
                for (i = ds->off[q]; i < ds->off[q + 1]; i++) l -= (double)nll[j][i];
                if (l > lmax) {
                    lmax = l;
                    a = j;
                }
            }
        } else {
            double wmax = -1.0;
            rc = decar_ensemble_route(en, doc->bytes, doc->len, w, e);
            for (j = 0; j < K && !rc; j++)
                if (w[j] > wmax) {
                    wmax = w[j];
                    a = j;
                }
        }
        if (a < 0 && !rc) {
            rc = DECAR_ERR_NUMERIC;
            decar__seterr(e, rc, "routing: no expert has a finite weight on held-out document %d", q);
        }
        choice[q] = a;
    }
    if (en->feat) en->feat->doc = doc0;
    DECAR_FREE(w);
    return rc;
}
/* the alpha-quantile of sorted x (n), linear between order statistics (numpy's default) */
static double decar__quantile(const double *x, int n, double alpha) {
    double h = alpha * (n - 1);
    int i = (int)floor(h);
    if (i >= n - 1) return x[n - 1];
    return x[i] + (h - i) * (x[i + 1] - x[i]);
}
static int decar__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
DECARDEF decar_bootstrap_opts decar_bootstrap_opts_default(void) {
    decar_bootstrap_opts o;
    o.draws = 1000;
    o.alpha = 0.05;
    o.seed = 1;
    return o;
}
DECARDEF int decar_bootstrap_ratio(const double *a, const double *b, int64_t n, int m, const decar_bootstrap_opts *o,
                                   decar_interval *ci, decar_error *e) {
    decar_bootstrap_opts bo = o ? *o : decar_bootstrap_opts_default();
    int draws = bo.draws;
    double alpha = bo.alpha, *est = &ci->est;
    double *stat, *sa, *sb;
    int64_t q, i;
    int s, t;
    decar_rng r;
    if (n < 1 || m < 1 || draws < 10 || !(alpha > 0.0 && alpha < 1.0))
        DECAR__FAIL(e, DECAR_ERR_ARG, "bootstrap: %lld documents, %d seeds, %d draws, alpha %g", (long long)n, m,
                    draws, alpha);
    for (i = 0; i < n * m; i++) {
        if (!(a[i] == a[i] && fabs(a[i]) < INFINITY && b[i] == b[i] && fabs(b[i]) < INFINITY))
            DECAR__FAIL(e, DECAR_ERR_NUMERIC, "bootstrap: value %lld is not finite", (long long)i);
        if (b[i] < 0.0) DECAR__FAIL(e, DECAR_ERR_ARG, "bootstrap: denominator %lld is negative", (long long)i);
    }
    stat = (double *)DECAR_MALLOC(((size_t)draws + 2 * (size_t)m) * sizeof(double));
    if (!stat) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for %d bootstrap draws", draws);
    sa = stat + draws;
    sb = sa + m;
    /* the statistic on the data: (1/m) sum_s sum_q a_sq / sum_q b_sq */
    *est = 0.0;
    for (s = 0; s < m; s++) {
        double ta = 0.0, tb = 0.0;
        for (q = 0; q < n; q++) {
            ta += a[(int64_t)s * n + q];
            tb += b[(int64_t)s * n + q];
        }
        if (!(tb > 0.0)) {
            DECAR_FREE(stat);
            DECAR__FAIL(e, DECAR_ERR_ARG, "bootstrap: the denominator of seed %d sums to %g", s, tb);
        }
        *est += ta / tb / m;
    }
    /* each draw: n documents with replacement, the same for every seed, a and b */
    decar_rng_seed(&r, bo.seed);
    for (t = 0; t < draws; t++) {
        for (s = 0; s < m; s++) {
            sa[s] = 0.0;
            sb[s] = 0.0;
        }
        for (i = 0; i < n; i++) {
            int64_t pick = (int64_t)decar__rng_below(&r, (uint64_t)n);
            for (s = 0; s < m; s++) {
                sa[s] += a[(int64_t)s * n + pick];
                sb[s] += b[(int64_t)s * n + pick];
            }
        }
        stat[t] = 0.0;
        for (s = 0; s < m; s++) stat[t] += (sb[s] > 0.0 ? sa[s] / sb[s] : 0.0) / m;
    }
    qsort(stat, (size_t)draws, sizeof(double), decar__cmp_double);
    ci->lo = decar__quantile(stat, draws, alpha / 2.0);
    ci->hi = decar__quantile(stat, draws, 1.0 - alpha / 2.0);
    DECAR_FREE(stat);
    return DECAR_OK;
}
DECARDEF int decar_ensemble_route(decar_ensemble *en, const uint8_t *text, int64_t len, double *w, decar_error *e) {
    int rc = DECAR_OK;
    float *feat = (float *)DECAR_MALLOC((size_t)(en->feat ? en->feat->dim : 1) * sizeof(float));
    const float *f;
    if (!feat) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for routing");
    f = decar__route_features(en->feat, en->router.kind, text, len, feat, &rc, e);
    if (!rc) rc = decar__mix_weights(&en->router, NULL, en->experts, f, NULL, w, e);
    DECAR_FREE(feat);
    return rc;
}
DECARDEF int decar_ensemble_score_seq(decar_ensemble *en, decar_ctx *ctx, const float *prefix, const int32_t *ids,
                                      const int32_t *targets, int T, const double *w, double *nll, decar_error *e) {
    int j, t;
    float *one = (float *)DECAR_MALLOC((size_t)(T > 0 ? T : 1) * sizeof(float));
    if (!one) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory for scoring");
    for (t = 0; t < T; t++) nll[t] = 0.0; /* p(target_t), summed over the experts, then -ln of it */
    for (j = 0; j < en->k; j++) {
        decar_gpt *g = en->experts[j];
        if (!g || w[j] <= 0.0) continue;
        if (decar_gpt_score_prefix(g, ctx, prefix, ids, targets, 1, T, one)) {
            DECAR_FREE(one);
            DECAR__FAIL(e, decar_ctx_status(ctx), "expert %d: %s", j, decar_ctx_error(ctx));
        }
        for (t = 0; t < T; t++) nll[t] += w[j] * exp(-(double)one[t]);
    }
    for (t = 0; t < T; t++) nll[t] = targets[t] < 0 ? 0.0 : -log(nll[t] > 1e-300 ? nll[t] : 1e-300);
    DECAR_FREE(one);
    return DECAR_OK;
}
/* the caption row's length T (ids [EOT c], targets [c EOT]) cut to fit every expert with w_k > 0 (w NULL: every
   expert that exists) after its prefix: T <= seq_len - n_prefix */
static int decar__caption_fit(const decar_ensemble *en, const double *w, int T) {
    int j;
    for (j = 0; j < en->k; j++) {
        const decar_gpt *g = en->experts[j];
        if (!g || (w && w[j] <= 0.0)) continue;
        if (T + g->cfg.n_prefix > g->cfg.seq_len) T = g->cfg.seq_len - g->cfg.n_prefix;
    }
    return T;
}
/* bits = sum_{t < n} nll_t / ln 2 (nll in nats) */
static double decar__bits_of(const double *nll, int n) {
    double b = 0.0;
    int t;
    for (t = 0; t < n; t++) b += nll[t] / log(2.0);
    return b;
}
DECARDEF int decar_ensemble_caption(decar_ensemble *en, decar_ctx *ctx, const float *prefix, const char *caption,
                                    char *gen, int gen_cap, decar_caption_result *res, decar_error *e) {
    int K = en->k, L = (int)strlen(caption), T = L + 1, t, j, len = 0, n_new, rc = DECAR_OK;
    int *best = &res->best;
    decar_sample_opts greedy = decar_sample_opts_default();
    int32_t *ids = (int32_t *)DECAR_MALLOC((size_t)T * sizeof(int32_t));
    int32_t *tg = (int32_t *)DECAR_MALLOC((size_t)T * sizeof(int32_t));
    int32_t *out = (int32_t *)DECAR_MALLOC((size_t)(gen_cap > 1 ? gen_cap : 2) * sizeof(int32_t));
    double *w = (double *)DECAR_MALLOC((size_t)(K > 0 ? K : 1) * sizeof(double));
    double *nll = (double *)DECAR_MALLOC((size_t)T * sizeof(double));
    if (!ids || !tg || !out || !w || !nll || gen_cap < 1) {
        rc = !ids || !tg || !out || !w || !nll ? DECAR_ERR_NOMEM : DECAR_ERR_ARG;
        decar__seterr(e, rc, rc == DECAR_ERR_NOMEM ? "no memory to caption" : "gen_cap must be at least 1");
        goto end;
    }
    if ((rc = decar_ensemble_route(en, NULL, 0, w, e))) goto end;
    *best = 0;
    for (j = 0; j < K; j++) *best = w[j] > w[*best] ? j : *best;
    T = decar__caption_fit(en, w, T);
    if (T < 1) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "the experts' context holds no caption after their prefix");
        goto end;
    }
    decar_caption_rows(&caption, NULL, 1, T, ids, tg); /* ids [EOT, caption], targets [caption, EOT], cut to T */
    if ((rc = decar_ensemble_score_seq(en, ctx, prefix, ids, tg, T, w, nll, e))) goto end;
    res->scored = T < L ? T : L;
    res->bits = decar__bits_of(nll, res->scored);
    res->w_best = w[*best];
    /* the greedy caption, through the one generation loop (it routes the same way), up to its end (EOT) */
    n_new = en->experts[*best]->cfg.seq_len - en->experts[*best]->cfg.n_prefix - 1;
    n_new = n_new < gen_cap - 1 ? n_new : gen_cap - 1;
    greedy.n_new = n_new > 0 ? n_new : 0;
    greedy.temp = 0.0;
    greedy.stop_at_eot = 1;
    if ((rc = decar_ensemble_generate(en, prefix, ids, 1, &greedy, out, &len, NULL, e))) goto end;
    for (t = 1, L = 0; t < len && out[t] < 256 && L < gen_cap - 1; t++) gen[L++] = (char)out[t];
    gen[L] = 0;
end:
    decar__free_n(5, (void *)ids, (void *)tg, (void *)out, (void *)w, (void *)nll);
    return rc ? -1 : !strcmp(gen, caption);
}

DECARDEF int decar_ensemble_caption_experts(decar_ensemble *en, decar_ctx *ctx, const float *prefix,
                                            const char *caption, double *bits, int *scored, decar_error *e) {
    int K = en->k, L = (int)strlen(caption), T = L + 1, j, t, rc = DECAR_OK, any = 0;
    int32_t *ids = (int32_t *)DECAR_MALLOC((size_t)T * sizeof(int32_t));
    int32_t *tg = (int32_t *)DECAR_MALLOC((size_t)T * sizeof(int32_t));
    double *w = (double *)DECAR_MALLOC((size_t)(K > 0 ? K : 1) * sizeof(double));
    double *nll = (double *)DECAR_MALLOC((size_t)T * sizeof(double));
    if (!ids || !tg || !w || !nll) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory to caption");
        goto end;
    }
    for (j = 0; j < K; j++) any |= en->experts[j] != NULL;
    T = decar__caption_fit(en, NULL, T); /* the same bytes for every expert */
    if (!any || T < 1) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, any ? "the experts' context holds no caption after their prefix" : "no experts");
        goto end;
    }
    decar_caption_rows(&caption, NULL, 1, T, ids, tg); /* ids [EOT, caption], targets [caption, EOT], cut to T */
    *scored = T < L ? T : L;
    for (j = 0; j < K; j++) {
        /* w = e_j: expert j alone, -ln p_j(c_t) per position */
        bits[j] = HUGE_VAL;
        if (!en->experts[j]) continue;
        for (t = 0; t < K; t++) w[t] = t == j;
        if ((rc = decar_ensemble_score_seq(en, ctx, prefix, ids, tg, T, w, nll, e))) goto end;
        bits[j] = decar__bits_of(nll, *scored);
    }
end:
    decar__free_n(4, (void *)ids, (void *)tg, (void *)w, (void *)nll);
    return rc;
}

/* the document-level Bayes bound of one document, f = -log2 sum_k w_k 2^(-B_k), B_k (into bk) the mean of expert k's
   draws ek[k n_mc + m] but draw `skip` (-1: none); log-sum-exp from the smallest B_k - log2 w_k (into *lo) */
static double decar__bayes_doc_bits(const double *ek, int K, int n_mc, int skip, const double *w, double *bk,
                                    double *lo) {
    double z = 0.0;
    int j, m, n = n_mc - (skip >= 0);
    *lo = HUGE_VAL;
    for (j = 0; j < K; j++) {
        bk[j] = 0.0;
        for (m = 0; m < n_mc; m++)
            if (m != skip) bk[j] += ek[(size_t)j * n_mc + m] / n;
        if (w[j] > 0.0 && bk[j] - log2(w[j]) < *lo) *lo = bk[j] - log2(w[j]);
    }
    for (j = 0; j < K; j++)
        if (w[j] > 0.0) z += exp2(*lo - (bk[j] - log2(w[j])));
    return *lo - log2(z);
}
DECARDEF decar_dfm_bound_opts decar_dfm_bound_opts_default(void) {
    decar_dfm_bound_opts o;
    o.dfm = NULL;
    o.n_mc = 4;
    o.seed = 1;
    o.min_evidence = DECAR_MIN_EVIDENCE;
    return o;
}
DECARDEF int decar_ensemble_dfm_bound(decar_ensemble *en, decar_ctx *ctx, const decar_docset *ds,
                                      const decar_dfm_bound_opts *o, double *mean, double *se, double *bits,
                                      decar_error *e) {
    decar_dfm_bound_opts bo = o ? *o : decar_dfm_bound_opts_default();
    const decar_dfm *dfm = bo.dfm;
    int K = en->k, n_mc = bo.n_mc;
    int first = -1, T = 0, nc = 0, mask = 0, V = 0, j, q, rc = DECAR_OK;
    int npow = dfm && dfm->kappa_pow > 0 ? dfm->kappa_pow : 1;
    int64_t tb = decar__token_bytes_max(en->tok);
    double sum = 0.0, sum2 = 0.0, nbytes = 0.0;
    double *w = NULL, *pm = NULL, *p = NULL;
    int32_t *x1 = NULL, *xt = NULL;
    uint8_t *vis = NULL;
    float *feat = NULL;
    int64_t doc0 = en->feat ? en->feat->doc : 0;
    int bayes = en->router.kind == DECAR_ROUTE_BAYES;
    double *ek = NULL, mc_var = 0.0; /* bayes: ek[k n_mc + m], expert k's bits of the document at draw m */
    decar_rng r;
    int ng;
    for (j = 0; j < K; j++)
        if (en->experts[j] && first < 0) first = j;
    if (first < 0) DECAR__FAIL(e, DECAR_ERR_ARG, "the ensemble has no loaded expert");
    if (n_mc < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "n_mc = %d", n_mc);
    T = en->experts[first]->cfg.seq_len - 1; /* the window's tokens; position 0 holds EOT */
    nc = decar_gpt_classes(&en->experts[first]->cfg);
    mask = decar_gpt_mask(&en->experts[first]->cfg);
    V = en->experts[first]->cfg.vocab_size;
    if (mask < 0 || T < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "the DFM bound needs experts with a mask token and a context");
    for (j = 0; j < K; j++)
        if (en->experts[j] && (en->experts[j]->cfg.seq_len - 1 != T || en->experts[j]->cfg.vocab_size != V))
            DECAR__FAIL(e, DECAR_ERR_ARG, "expert %d's context or vocabulary differs from expert %d's", j, first);
    w = (double *)DECAR_MALLOC((size_t)K * sizeof(double));
    pm = (double *)DECAR_MALLOC((size_t)T * sizeof(double));
    p = (double *)DECAR_MALLOC((size_t)nc * sizeof(double));
    x1 = (int32_t *)DECAR_MALLOC((size_t)(T + 1) * sizeof(int32_t));
    xt = (int32_t *)DECAR_MALLOC((size_t)(T + 1) * sizeof(int32_t));
    vis = (uint8_t *)DECAR_MALLOC((size_t)(T * tb + 1));
    feat = (float *)DECAR_MALLOC((size_t)(en->feat ? en->feat->dim : 1) * sizeof(float));
    ek = (double *)DECAR_MALLOC((size_t)K * (size_t)n_mc * sizeof(double) * (bayes ? 2 : 1));
    if (!w || !pm || !p || !x1 || !xt || !vis || !feat || !ek) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for the DFM bound");
    }
    if (!rc && bayes) { /* the prior over every expert that exists (no top-k): the same weights for every draw */
        decar_router pr = en->router;
        pr.top_k = 0;
        rc = decar__dfm_weights(&pr, NULL, en->experts, NULL, 0, bo.min_evidence, w, e);
    }
    ng = decar_ctx_no_grad(ctx, 1); /* forwards only */
    decar_rng_seed(&r, bo.seed);
    for (q = 0; q < ds->n && !rc; q++) {
        const int32_t *tk = ds->tok + ds->off[q];
        const int64_t *end = ds->end + ds->off[q];
        int64_t len = ds->off[q + 1] - ds->off[q];
        int64_t s;
        double doc_bytes = 0.0;
        if (en->feat) en->feat->doc = ds->doc[q];
        if (bits) bits[q] = 0.0;
        if (bayes) memset(ek, 0, (size_t)K * (size_t)n_mc * sizeof(double));
        for (s = 0; s < len && !rc; s += T) {
            int L = (int)(len - s < T ? len - s : T);
            int mc, i;
            double wb = (double)(end[s + L - 1] - (s > 0 ? end[s - 1] : 0)); /* the window's bytes */
            x1[0] = ds->eot;
            for (i = 0; i < L; i++) x1[i + 1] = tk[s + i];
            doc_bytes += wb;
            for (mc = 0; mc < n_mc && !rc; mc++) {
                /* t ~ U(0, 1 - 1e-3); kappa(t) = t^n; the ELBO weight kappa'(t) / (1 - kappa(t)) */
                double t = decar_rng_double(&r) * (1.0 - 1e-3);
                double kappa = pow(t, (double)npow);
                double wt = (double)npow * pow(t, (double)(npow - 1)) / (1.0 - kappa);
                double b = 0.0;
                int64_t nv = 0;
                const float *f;
                /* x_t: each token revealed with probability kappa(t); routing sees the revealed text */
                xt[0] = ds->eot;
                for (i = 0; i < L; i++) {
                    pm[i] = 0.0;
                    xt[i + 1] = decar_rng_double(&r) < kappa ? x1[i + 1] : mask;
                    if (xt[i + 1] != mask) nv += decar__ids_text(en->tok, x1 + i + 1, 1, vis + nv);
                }
                f = decar__route_features(en->feat, en->router.kind, vis, nv, feat, &rc, e);
                if (!rc && !bayes) /* bayes: the prior, set once */
                    rc = decar__dfm_weights(&en->router, NULL, en->experts, f, nv, bo.min_evidence, w, e);
                if (rc) break;
                /* p(x_i | x_t) = sum_k w_k p_k(x_i | x_t) at every masked position; only active experts run
                   (bayes: w = pi, and each expert's own bits of this draw, B_k^(m) += wt sum_i -log2 p_k(x_i | x_t)) */
                for (j = 0; j < K; j++) {
                    decar_tensor *lg;
                    if (!en->experts[j] || w[j] <= 0.0) continue;
                    decar_ctx_reset(ctx);
                    lg = decar_gpt_forward(ctx, en->experts[j], xt, 1, L + 1);
                    if (!lg) {
                        rc = decar_ctx_status(ctx);
                        decar__seterr(e, rc, "%s", decar_ctx_error(ctx));
                        break;
                    }
                    for (i = 0; i < L; i++) {
                        if (xt[i + 1] != mask) continue;
                        double pj;
                        decar_softmax_double(lg->data + (int64_t)(i + 1) * V, nc, 1.0, p);
                        pj = p[x1[i + 1]];
                        pm[i] += w[j] * pj;
                        if (bayes) ek[(size_t)j * n_mc + mc] += -log2(pj > 1e-300 ? pj : 1e-300) * wt;
                    }
                }
                if (bayes) continue;
                for (i = 0; i < L; i++)
                    if (xt[i + 1] == mask) b += -log2(pm[i] > 1e-300 ? pm[i] : 1e-300) * wt;
                /* bits per byte of this window at this t, weighted by its bytes */
                if (wb > 0) {
                    double bpb = b / wb;
                    sum += bpb * wb;
                    sum2 += bpb * bpb * wb;
                    nbytes += wb;
                }
                if (bits) bits[q] += b / n_mc;
            }
        }
        if (bayes && !rc) {
            /* f = -log2 sum_k pi_k 2^(-B_k) at the mean of the draws; with two or more draws the jackknife removes
               f's order-1/n_mc bias: n f(all draws) - (n - 1) mean_i f(all but draw i) */
            double *bk = ek + (size_t)K * n_mc, doc_b, g1 = 0.0, g2 = 0.0, lo, jack = 0.0;
            int m;
            doc_b = decar__bayes_doc_bits(ek, K, n_mc, -1, w, bk, &lo);
            /* Monte Carlo variance (delta method): g_m = sum_k r_k B_k^(m), r_k = pi_k 2^(-B_k) / sum = 2^(f - B_k +
               log2 pi_k) */
            for (m = 0; m < n_mc; m++) {
                double g = 0.0;
                for (j = 0; j < K; j++)
                    if (w[j] > 0.0) g += exp2(doc_b - (bk[j] - log2(w[j]))) * ek[(size_t)j * n_mc + m];
                g1 += g;
                g2 += g * g;
            }
            if (n_mc > 1) {
                mc_var += (g2 - g1 * g1 / n_mc) / (n_mc - 1) / n_mc;
                for (m = 0; m < n_mc; m++) jack += decar__bayes_doc_bits(ek, K, n_mc, m, w, bk, &lo) / n_mc;
                doc_b = n_mc * doc_b - (n_mc - 1) * jack;
            }
            sum += doc_b;
            nbytes += doc_bytes;
            if (bits) bits[q] = doc_b;
        }
    }
    if (en->feat) en->feat->doc = doc0;
    if (!rc && bayes) {
        *mean = sum / (nbytes > 0 ? nbytes : 1);
        *se = n_mc > 1 ? sqrt(mc_var > 0 ? mc_var : 0) / (nbytes > 0 ? nbytes : 1) : -1.0;
    } else if (!rc) {
        double m = sum / (nbytes > 0 ? nbytes : 1);
        double var = sum2 / (nbytes > 0 ? nbytes : 1) - m * m;
        /* effective sample count: windows x MC draws (a window is about T tokens) */
        *mean = m;
        *se = sqrt(var > 0 ? var : 0) / sqrt((double)ds->total * n_mc / T + 1e-9);
    }
    decar__free_n(8, (void *)w, (void *)pm, (void *)p, (void *)x1, (void *)xt, (void *)vis, (void *)feat, (void *)ek);
    decar_ctx_no_grad(ctx, ng);
    return rc;
}

/* "SSSSSSSSS.PPPPPPPPP": sample s, piece p, zero-padded decimal (no stdio: the header builds without it) */
static void decar__sample_name(char *out, int s, int p) {
    int i;
    for (i = 8; i >= 0; i--, s /= 10) out[i] = (char)('0' + s % 10);
    out[9] = '.';
    for (i = 18; i >= 10; i--, p /= 10) out[i] = (char)('0' + p % 10);
    out[19] = 0;
}
DECARDEF int decar_score_samples(decar_gpt *scorer, decar_ctx *ctx, const decar_tokenizer *tok, const int32_t *x,
                                 int n, int T, decar_sample_quality *q, double *bits, decar_error *e) {
    int32_t eot = tok ? tok->eot : DECAR_TOK_EOT;
    int nc, s, i, j, nh = 0, rc = DECAR_OK;
    int *len = NULL, *cnt = NULL;
    uint8_t *txt = NULL;
    float *nll = NULL;
    double sum_bits = 0.0, sum_h = 0.0;
    decar_data d;
    decar_docset ds;
    memset(q, 0, sizeof *q);
    memset(&ds, 0, sizeof ds);
    if (n < 1 || T < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "no samples to score (n = %d, T = %d)", n, T);
    if (!scorer->cfg.causal) DECAR__FAIL(e, DECAR_ERR_ARG, "the scorer must be an AR (causal) model");
    nc = decar_gpt_classes(&scorer->cfg);
    decar_data_init(&d);
    len = (int *)DECAR_MALLOC((size_t)n * sizeof(int));
    cnt = (int *)DECAR_MALLOC((size_t)nc * sizeof(int));
    txt = (uint8_t *)DECAR_MALLOC((size_t)T * (size_t)decar__token_bytes_max(tok) + 1);
    if (!len || !cnt || !txt) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory to score %d samples", n);
    }
    /* each sample's documents (its text between EOTs) as held-out documents named "sample.piece" */
    for (s = 0; s < n && !rc; s++) {
        const int32_t *xs = x + (int64_t)s * T;
        int a = 0, piece = 0;
        len[s] = 0;
        if (bits) bits[s] = 0.0;
        for (i = 0; i < T && !rc; i++)
            if (xs[i] < 0 || xs[i] >= nc) {
                rc = DECAR_ERR_ARG;
                decar__seterr(e, rc, "sample %d: token %d is outside the scorer's %d classes", s, (int)xs[i], nc);
            }
        for (i = 0; i <= T && !rc; i++) {
            int64_t nb;
            char name[32];
            if (i < T && xs[i] != eot) continue;
            nb = decar__ids_text(tok, xs + a, i - a, txt);
            len[s] += i - a;
            a = i + 1;
            if (nb == 0) continue;
            if (nb > 65536) {
                rc = DECAR_ERR_ARG;
                decar__seterr(e, rc, "sample %d holds %lld bytes between EOTs: more than a document may (65536)", s,
                              (long long)nb);
                break;
            }
            decar__sample_name(name, s, piece++);
            rc = decar_data_add(&d, name, txt, nb, 1000, e); /* every document held out */
        }
        q->n_empty += !rc && piece == 0;
    }
    if (!rc && d.n_docs == 0) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "every sample is empty");
    }
    if (!rc) rc = decar_data_finish(&d, e);
    if (!rc) rc = decar_docset_build(&ds, &d, 1, tok, e);
    if (!rc && !(nll = (float *)DECAR_MALLOC((size_t)(ds.total > 0 ? ds.total : 1) * sizeof(float)))) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for the scores of %lld tokens", (long long)ds.total);
    }
    if (!rc) rc = decar_gpt_score_docs(scorer, ctx, &ds, 8, nll, e);
    /* bits_s = sum_i -ln p(x_i | x_<i) / ln 2 over the scorer's tokens of sample s */
    for (j = 0; j < ds.n && !rc; j++) {
        double b = 0.0;
        int64_t t;
        s = atoi(d.docs[ds.doc[j]].name); /* "sample.piece" */
        for (t = ds.off[j]; t < ds.off[j + 1]; t++) b += (double)nll[t] / log(2.0);
        if (bits) bits[s] += b;
        sum_bits += b;
        q->bytes += decar_docset_doc_bytes(&ds, j);
        q->tokens += ds.off[j + 1] - ds.off[j];
    }
    q->n_scored = n - q->n_empty;
    /* H_s = -sum_a (c_a / len) log2 (c_a / len) over the counts c of sample s's own tokens */
    for (s = 0; s < n && !rc; s++) {
        const int32_t *xs = x + (int64_t)s * T;
        double h = 0.0;
        if (len[s] == 0) continue;
        for (i = 0; i < T; i++) cnt[xs[i]] = 0;
        for (i = 0; i < T; i++) cnt[xs[i]] += xs[i] != eot;
        for (i = 0; i < T; i++) {
            double pa = (double)cnt[xs[i]] / len[s];
            if (cnt[xs[i]] == 0) continue;
            h -= pa * log2(pa);
            cnt[xs[i]] = 0; /* each class once */
        }
        sum_h += h;
        nh++;
    }
    if (!rc) {
        q->bits_per_byte = sum_bits / (double)(q->bytes > 0 ? q->bytes : 1);
        q->gen_ppl = exp2(sum_bits / (double)(q->tokens > 0 ? q->tokens : 1));
        q->entropy = sum_h / (nh > 0 ? nh : 1);
    }
    decar_docset_free(&ds);
    decar_data_free(&d);
    decar__free_n(4, (void *)len, (void *)cnt, (void *)txt, (void *)nll);
    return rc;
}

/* ---- 15. samplers: masked DFM ------------------------------------------------------------------------------------ */
DECARDEF int decar_dfm_sample(const decar_dfm_sampler *s, int32_t *x, int T, const decar_sample_opts *o,
                              decar_error *e) {
    decar_sample_opts so = o ? *o : decar_sample_opts_default();
    int K = s->k, nc = s->n_class, j, i, a, n_masked = 0, step = 0, rc = DECAR_OK, sampler = so.sampler;
    int npow = so.kappa_pow > 0 ? so.kappa_pow : 1, steps = so.n_steps > 0 ? so.n_steps : 1;
    int bayes = s->router->kind == DECAR_ROUTE_BAYES;
    double *w = (double *)DECAR_MALLOC((size_t)K * 2 * sizeof(double)), *ll,
           *mix = (double *)DECAR_MALLOC((size_t)nc * sizeof(double));
    /* pk[j]: expert j's posteriors (T, nc), allocated the first time expert j runs (K can be thousands) */
    double **pk = (double **)DECAR_MALLOC((size_t)K * sizeof(double *));
    char *need = (char *)DECAR_MALLOC((size_t)T + 1);
    float *feat = s->feat ? (float *)DECAR_MALLOC((size_t)s->feat->dim * sizeof(float)) : NULL;
    uint8_t *txt = (uint8_t *)DECAR_MALLOC((size_t)T * (size_t)decar__token_bytes_max(s->tok) + 1);
    decar_rng r;
    if (pk) memset(pk, 0, (size_t)K * sizeof(double *));
    if (!w || !mix || !pk || !need || !txt || (s->feat && !feat)) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for DFM sampling");
        goto end;
    }
    ll = w + K;
    for (j = 0; j < K; j++) ll[j] = 0.0;
    for (i = 0; i < T; i++) {
        if (x[i] == s->mask_token)
            n_masked++;
        else if (x[i] < 0 || x[i] >= nc) {
            rc = DECAR_ERR_ARG;
            decar__seterr(e, rc, "token %d at %d out of range", (int)x[i], i);
            goto end;
        }
    }
    decar_rng_seed(&r, so.seed);
    while (n_masked > 0) {
        double t = (double)step / steps, h = 1.0 / steps;
        int n_rev = 0;
        /* the weights of this step: R4' from the prior and the revealed tokens' likelihoods (ll); a feature router
           from the text revealed so far, again at every step as evidence arrives, and with too little of it the
           prior mixture over every expert (decar__dfm_weights); uniform once */
        if (bayes) {
            if ((rc = decar__mix_weights(s->router, s->avail, NULL, NULL, ll, w, e))) goto end;
        } else if (step == 0 || decar_route_uses_features(s->router->kind)) {
            int64_t nt = 0;
            const float *f;
            for (i = 0; i < T; i++)
                if (x[i] != s->mask_token) nt += decar__ids_text(s->tok, x + i, 1, txt + nt);
            f = decar__route_features(s->feat, s->router->kind, txt, nt, feat, &rc, e);
            if (rc || (rc = decar__dfm_weights(s->router, s->avail, NULL, f, nt, so.min_evidence, w, e))) goto end;
        }
        /* which positions to reveal this step */
        memset(need, 0, (size_t)T);
        if (sampler == DECAR_DFM_L2R) {
            for (i = 0; i < T; i++)
                if (x[i] == s->mask_token) {
                    need[i] = 1;
                    break;
                }
        } else if (sampler == DECAR_DFM_FIRST_HIT) {
            int pick = (int)decar__rng_below(&r, (uint64_t)n_masked), q = 0;
            for (i = 0; i < T; i++)
                if (x[i] == s->mask_token && q++ == pick) {
                    need[i] = 1;
                    break;
                }
        } else { /* Euler: each masked position jumps with probability (kappa(t+h) - kappa(t)) / (1 - kappa(t)) */
            double k0 = pow(t, (double)npow), k1 = pow(t + h > 1.0 ? 1.0 : t + h, (double)npow),
                   pr = (k1 - k0) / (1.0 - k0);
            if (step + 1 >= steps || !(pr < 1.0)) pr = 1.0;
            for (i = 0; i < T; i++)
                if (x[i] == s->mask_token && decar_rng_double(&r) < pr) need[i] = 1;
        }
        for (i = 0; i < T; i++) n_rev += need[i];
        step++;
        if (n_rev == 0) continue;
        for (j = 0; j < K; j++) { /* the experts that run: the active ones, and all of them for the Bayes posterior */
            if ((s->avail && !s->avail[j]) || (w[j] <= 0.0 && !bayes)) continue;
            if (!pk[j] && !(pk[j] = (double *)DECAR_MALLOC((size_t)T * nc * sizeof(double)))) {
                rc = DECAR_ERR_NOMEM;
                decar__seterr(e, rc, "no memory for expert %d's posteriors", j);
                goto end;
            }
            if (s->post(s->user, j, x, T, need, pk[j])) {
                rc = DECAR_ERR_ARG;
                decar__seterr(e, rc, "expert %d failed to compute its posterior", j);
                goto end;
            }
        }
        for (i = 0; i < T; i++)
            if (need[i]) { /* all reveals of a step use the posteriors of the same state x_t */
                for (a = 0; a < nc; a++) mix[a] = 0.0;
                for (j = 0; j < K; j++)
                    if (w[j] > 0.0) decar__mix_add(mix, w[j], pk[j] + (int64_t)i * nc, nc);
                a = decar__sample(mix, nc, 0, 1.0, &r); /* no filtering: never fails */
                for (j = 0; j < K; j++)
                    if (bayes && (!s->avail || s->avail[j])) {
                        double pv = pk[j][(int64_t)i * nc + a];
                        ll[j] += log(pv > 1e-300 ? pv : 1e-300);
                    }
                x[i] = -1 - a; /* hold the token until the step ends */
            }
        for (i = 0; i < T; i++)
            if (x[i] < 0) {
                x[i] = -1 - x[i];
                n_masked--;
            }
    }
end:
    if (pk)
        for (j = 0; j < K; j++) decar__free(pk[j]);
    decar__free_n(6, (void *)w, (void *)mix, (void *)pk, (void *)need, (void *)feat, (void *)txt);
    return rc;
}

/* the experts as posteriors. Input to every expert is [EOT, x_0 .. x_{T-1}]: a causal expert's row i predicts x_i
   (the AR shift), a non-causal expert's row i+1 does (the same position). So a causal model with the left-to-right
   order, one token per step, is exactly AR sampling: the degenerate case of the theory. */
typedef struct decar__fillctx {
    decar_ensemble *en;
    decar_ctx *ctx;
    int32_t *inp;
    double temp;
    int nc;
} decar__fillctx;
static int decar__gpt_posterior(void *user, int k, const int32_t *x, int T, const char *need, double *out) {
    decar__fillctx *f = (decar__fillctx *)user;
    decar_gpt *g = f->en->experts[k];
    decar_tensor *lg;
    int i;
    f->inp[0] = f->en->tok ? f->en->tok->eot : DECAR_TOK_EOT;
    memcpy(f->inp + 1, x, (size_t)T * sizeof(int32_t));
    decar_ctx_reset(f->ctx);
    lg = decar_gpt_forward(f->ctx, g, f->inp, 1, T + 1);
    if (!lg) return -1;
    for (i = 0; i < T; i++)
        if (need[i])
            decar_softmax_double(lg->data + (int64_t)(g->cfg.causal ? i : i + 1) * g->cfg.vocab_size, f->nc, f->temp,
                                 out + (int64_t)i * f->nc);
    return 0;
}
DECARDEF int decar_ensemble_fill(decar_ensemble *en, decar_ctx *ctx, int32_t *x, int T, const decar_sample_opts *o,
                                 decar_error *e) {
    decar_sample_opts so = o ? *o : decar_sample_opts_default();
    decar_dfm_sampler s;
    decar__fillctx f;
    char *avail;
    int j, rc, any = 0, ng;
    if (en->k < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "ensemble of %d experts", en->k);
    if (T < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "fill: %d tokens", T);
    avail = (char *)DECAR_MALLOC((size_t)en->k);
    if (!avail) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    for (j = 0; j < en->k; j++) {
        decar_gpt *g = en->experts[j];
        avail[j] = g != NULL;
        any |= avail[j];
        if (g && decar_gpt_mask(&g->cfg) < 0) {
            DECAR_FREE(avail);
            DECAR__FAIL(e, DECAR_ERR_ARG, "expert %d's vocabulary has no mask token", j);
        }
        if (g && T + 1 > g->cfg.seq_len) {
            DECAR_FREE(avail);
            DECAR__FAIL(e, DECAR_ERR_ARG, "fill: %d tokens + EOT exceed expert %d's seq_len %d", T, j, g->cfg.seq_len);
        }
    }
    if (!any) {
        DECAR_FREE(avail);
        DECAR__FAIL(e, DECAR_ERR_ARG, "the ensemble has no loaded expert");
    }
    f.en = en;
    f.ctx = ctx;
    f.temp = so.temp;
    f.inp = (int32_t *)DECAR_MALLOC((size_t)(T + 1) * sizeof(int32_t));
    if (!f.inp) {
        DECAR_FREE(avail);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    }
    j = decar__first_expert(en);
    f.nc = decar_gpt_classes(&en->experts[j]->cfg);
    s.k = en->k;
    s.n_class = f.nc;
    s.mask_token = decar_gpt_mask(&en->experts[j]->cfg);
    s.post = decar__gpt_posterior;
    s.user = &f;
    s.tok = en->tok;
    s.router = &en->router;
    s.feat = en->feat;
    s.avail = avail;
    ng = decar_ctx_no_grad(ctx, 1); /* the posteriors: forwards only */
    rc = decar_dfm_sample(&s, x, T, &so, e);
    decar_ctx_no_grad(ctx, ng);
    DECAR_FREE(f.inp);
    DECAR_FREE(avail);
    return rc;
}

/* ---- 16. the lifecycle: join, leave, provenance ------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4): 64-byte blocks, 64 rounds of the compression function over the eight working words */
static const uint32_t decar__sha_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
};
#define DECAR__ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void decar__sha256_block(uint32_t *h, const uint8_t *p) {
    uint32_t w[64], a[8], t1, t2;
    int i;
    /* the message schedule: w_i = the block's words (big-endian), then s1(w_i-2) + w_i-7 + s0(w_i-15) + w_i-16 */
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = DECAR__ROR(w[i - 15], 7) ^ DECAR__ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = DECAR__ROR(w[i - 2], 17) ^ DECAR__ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    for (i = 0; i < 8; i++) a[i] = h[i];
    /* T1 = h + S1(e) + Ch(e, f, g) + K_i + w_i, T2 = S0(a) + Maj(a, b, c); shift the words, e += T1, a = T1 + T2 */
    for (i = 0; i < 64; i++) {
        uint32_t s1 = DECAR__ROR(a[4], 6) ^ DECAR__ROR(a[4], 11) ^ DECAR__ROR(a[4], 25);
        uint32_t s0 = DECAR__ROR(a[0], 2) ^ DECAR__ROR(a[0], 13) ^ DECAR__ROR(a[0], 22);
        t1 = a[7] + s1 + ((a[4] & a[5]) ^ (~a[4] & a[6])) + decar__sha_k[i] + w[i];
        t2 = s0 + ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
        a[7] = a[6];
        a[6] = a[5];
        a[5] = a[4];
        a[4] = a[3] + t1;
        a[3] = a[2];
        a[2] = a[1];
        a[1] = a[0];
        a[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) h[i] += a[i];
}
DECARDEF void decar_sha256_init(decar_sha256_ctx *c) {
    static const uint32_t h0[8] = { 0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u };
    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
}
DECARDEF void decar_sha256_update(decar_sha256_ctx *c, const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    size_t have = (size_t)(c->len % 64);
    c->len += n;
    /* fill the pending block, then whole blocks straight from the input, then keep the tail */
    if (have) {
        size_t take = n < 64 - have ? n : 64 - have;
        memcpy(c->buf + have, b, take);
        b += take;
        n -= take;
        if (have + take < 64) return;
        decar__sha256_block(c->h, c->buf);
    }
    for (; n >= 64; b += 64, n -= 64) decar__sha256_block(c->h, b);
    if (n) memcpy(c->buf, b, n);
}
DECARDEF void decar_sha256_final(decar_sha256_ctx *c, uint8_t out[32]) {
    uint8_t pad[72];
    uint64_t bits = c->len * 8;
    size_t have = (size_t)(c->len % 64), np = have < 56 ? 56 - have : 120 - have;
    int i;
    /* padding: 0x80, zeros to 56 mod 64, then the message length in bits (64-bit big-endian) */
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (i = 0; i < 8; i++) pad[np + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    decar_sha256_update(c, pad, np + 8);
    for (i = 0; i < 32; i++) out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}
DECARDEF void decar_sha256(const void *p, size_t n, uint8_t out[32]) {
    decar_sha256_ctx c;
    decar_sha256_init(&c);
    decar_sha256_update(&c, p, n);
    decar_sha256_final(&c, out);
}
DECARDEF void decar_sha256_hex(const uint8_t digest[32], char out[65]) {
    static const char hx[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        out[2 * i] = hx[digest[i] >> 4];
        out[2 * i + 1] = hx[digest[i] & 15];
    }
    out[64] = 0;
}
static void decar__sha_le(decar_sha256_ctx *c, uint64_t v, int bytes) { /* v as `bytes` little-endian bytes */
    uint8_t b[8];
    int i;
    for (i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    decar_sha256_update(c, b, (size_t)bytes);
}
DECARDEF void decar_tokenizer_sha256(const decar_tokenizer *t, char out[65]) {
    decar_sha256_ctx c;
    uint8_t dg[32];
    int i;
    if (!t) {
        strcpy(out, "bytes");
        return;
    }
    decar_sha256_init(&c);
    /* per token: its byte count and bytes; then the merges (a, b); then the end-of-document id */
    for (i = 0; i < t->n_tokens; i++) {
        decar__sha_le(&c, (uint64_t)(t->off[i + 1] - t->off[i]), 4);
        decar_sha256_update(&c, t->blob + t->off[i], (size_t)(t->off[i + 1] - t->off[i]));
    }
    for (i = 0; i < t->n_merges; i++) {
        decar__sha_le(&c, (uint32_t)t->ma[i], 4);
        decar__sha_le(&c, (uint32_t)t->mb[i], 4);
    }
    decar__sha_le(&c, (uint32_t)t->eot, 4);
    decar_sha256_final(&c, dg);
    decar_sha256_hex(dg, out);
}
DECARDEF void decar_provenance_of_data(decar_provenance *p, const decar_data *d, const decar_tokenizer *t) {
    decar_sha256_ctx cn, cb;
    uint8_t dg[32];
    int i;
    memset(p, 0, sizeof *p);
    decar_sha256_init(&cn);
    decar_sha256_init(&cb);
    /* shards = H(name_0 "\n" name_1 "\n" ...); docs = H(len_0 bytes_0 len_1 bytes_1 ...), len as 8 bytes LE */
    for (i = 0; i < d->n_docs; i++) {
        decar_sha256_update(&cn, d->docs[i].name, strlen(d->docs[i].name));
        decar_sha256_update(&cn, "\n", 1);
        decar__sha_le(&cb, (uint64_t)d->docs[i].len, 8);
        decar_sha256_update(&cb, d->docs[i].bytes, (size_t)d->docs[i].len);
    }
    decar_sha256_final(&cn, dg);
    decar_sha256_hex(dg, p->shards);
    decar_sha256_final(&cb, dg);
    decar_sha256_hex(dg, p->docs);
    decar_tokenizer_sha256(t, p->tokenizer);
    strcpy(p->base, "none");
    strcpy(p->version, "decar " DECAR_VERSION);
}
#define DECAR__PROV_PIECE 100
static const char *const decar__prov_keys[8] = { "prov_shards",  "prov_docs",   "prov_tokenizer", "prov_base",
                                                 "prov_parents", "prov_config", "prov_version",   "prov_seed" };
DECARDEF int decar_provenance_meta(const decar_provenance *p, char *out, size_t cap, decar_error *e) {
    const char *v[7];
    char seed[24];
    size_t n = 0;
    int i;
    decar__sb sb;
    v[0] = p->shards;
    v[1] = p->docs;
    v[2] = p->tokenizer;
    v[3] = p->base;
    v[4] = p->parents;
    v[5] = p->config;
    v[6] = p->version;
    memset(&sb, 0, sizeof sb);
    decar__sb_u64(&sb, p->seed);
    if (sb.oom) DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory");
    strcpy(seed, sb.p);
    decar__free(sb.p);
    /* "prov_shards":"...","prov_docs":"...", ... ,"prov_seed":"..."; a value longer than DECAR__PROV_PIECE bytes
       (metadata values stay under 128) goes in pieces: "key":"first", "key.1":"next", ... */
    for (i = 0; i < 8; i++) {
        const char *val = i < 7 ? v[i] : seed;
        size_t nk = strlen(decar__prov_keys[i]), nv = strlen(val), at = 0;
        int piece = 0;
        if (strchr(val, '"') || strchr(val, '\\'))
            DECAR__FAIL(e, DECAR_ERR_ARG, "provenance field %s holds a quote or a backslash", decar__prov_keys[i]);
        do {
            size_t take = nv - at < DECAR__PROV_PIECE ? nv - at : DECAR__PROV_PIECE;
            if (n + nk + take + 12 >= cap)
                DECAR__FAIL(e, DECAR_ERR_ARG, "the provenance does not fit in %lu bytes", (unsigned long)cap);
            if (n) out[n++] = ',';
            out[n++] = '"';
            memcpy(out + n, decar__prov_keys[i], nk);
            n += nk;
            if (piece) {
                out[n++] = '.';
                out[n++] = (char)('0' + piece);
            }
            memcpy(out + n, "\":\"", 3);
            n += 3;
            memcpy(out + n, val + at, take);
            n += take;
            out[n++] = '"';
            at += take;
            piece++;
        } while (at < nv && piece < 10);
        if (at < nv) DECAR__FAIL(e, DECAR_ERR_ARG, "provenance field %s is too long", decar__prov_keys[i]);
    }
    out[n] = 0;
    return DECAR_OK;
}
DECARDEF int decar_provenance_read(decar_provenance *p, const void *buf, size_t len, decar_error *e) {
    char *f[7];
    size_t cap[7];
    char seed[24];
    uint64_t s = 0;
    int i;
    decar__st st;
    if (decar__st_parse((const uint8_t *)buf, len, &st, e)) return e ? e->code : DECAR_ERR_FORMAT;
    decar__st_free(&st);
    memset(p, 0, sizeof *p);
    f[0] = p->shards;
    f[1] = p->docs;
    f[2] = p->tokenizer;
    f[3] = p->base;
    f[4] = p->parents;
    f[5] = p->config;
    f[6] = p->version;
    cap[0] = cap[1] = cap[2] = cap[3] = 65;
    cap[4] = sizeof p->parents;
    cap[5] = sizeof p->config;
    cap[6] = sizeof p->version;
    /* each field, and its pieces "key.1", "key.2", ... appended while they fit */
    for (i = 0; i < 7; i++) {
        char key[32], piece[128];
        int q;
        size_t at;
        if (decar_meta_get(buf, len, decar__prov_keys[i], f[i], cap[i])) {
            strcpy(f[i], i == 4 ? "" : "unknown");
            continue;
        }
        for (q = 1; q < 10; q++) {
            at = strlen(decar__prov_keys[i]);
            memcpy(key, decar__prov_keys[i], at);
            key[at] = '.';
            key[at + 1] = (char)('0' + q);
            key[at + 2] = 0;
            if (decar_meta_get(buf, len, key, piece, sizeof piece)) break;
            at = strlen(f[i]);
            if (at + strlen(piece) >= cap[i]) break;
            strcpy(f[i] + at, piece);
        }
    }
    if (!decar_meta_get(buf, len, "prov_seed", seed, sizeof seed) && !decar__parse_u64(seed, &s)) p->seed = s;
    return DECAR_OK;
}
#ifndef DECAR_NO_STDIO
DECARDEF int decar_file_sha256(const char *path, char hex[65], decar_error *e) {
    void *buf;
    size_t len;
    uint8_t dg[32];
    int rc = decar_read_file(path, &buf, &len, e);
    if (rc) return rc;
    decar_sha256(buf, len, dg);
    decar_sha256_hex(dg, hex);
    DECAR_FREE(buf);
    return DECAR_OK;
}
#endif
DECARDEF int decar_docs_features(const decar_featurizer *f, const decar_data *d, int n_prefix, int noise, uint64_t seed,
                                 float **X, int64_t *n, float **rows, int64_t *m, decar_error *e) {
    int64_t i, nt = 0, q = 0, dim = f->dim;
    int p, rc = DECAR_OK;
    uint8_t *buf = NULL;
    decar_rng rg;
    *X = NULL;
    *n = 0;
    if (rows) *rows = NULL;
    if (m) *m = 0;
    if (n_prefix < 0) n_prefix = 0;
    for (i = 0; i < d->n_docs; i++) nt += d->docs[i].split == 0;
    if (nt < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "no training documents to featurize");
    *X = (float *)DECAR_MALLOC((size_t)nt * (size_t)dim * sizeof(float));
    if (rows) *rows = (float *)DECAR_MALLOC((size_t)nt * (size_t)(1 + n_prefix) * (size_t)dim * sizeof(float));
    buf = (uint8_t *)DECAR_MALLOC((size_t)(noise > 0 ? noise : 1));
    if (!*X || (rows && !*rows) || !buf) {
        rc = DECAR_ERR_NOMEM;
        decar__seterr(e, rc, "no memory for the features of %lld documents", (long long)nt);
    }
    decar_rng_seed(&rg, seed);
    /* x_i = features(doc_i); R5's rows: the document, then prefixes or noised windows (decar__r5_row, as
       decar_router_fit_docs draws them) */
    for (i = 0, nt = 0; i < d->n_docs && !rc; i++) {
        const decar_doc *doc = &d->docs[i];
        if (doc->split != 0) continue;
        rc = decar_feat_apply(f, doc->bytes, doc->len, *X + nt * dim, e);
        nt++;
        for (p = 0; rows && p <= n_prefix && !rc; p++) {
            rc = decar__r5_row(f, doc, p, noise, &rg, buf, *rows + q * dim, e);
            q++;
        }
    }
    decar__free(buf);
    if (rc) {
        decar__free(*X);
        *X = NULL;
        if (rows) {
            decar__free(*rows);
            *rows = NULL;
        }
        return rc;
    }
    *n = nt;
    if (m) *m = q;
    return DECAR_OK;
}
DECARDEF int decar_router_join_features(decar_router *r, const float *X, int64_t n, const float *rows, int64_t m,
                                        decar_error *e) {
    int K = r->k, d = r->d, q, rc = DECAR_OK, nf = r->n_fine > 0 ? r->n_fine : 0;
    int64_t i, nr = r->n_rows + (rows ? m : 0);
    float *C, *P, *N, *F = NULL, *R = NULL;
    int32_t *FM = NULL, *L = NULL;
    double nn = 0.0;
    decar_router nw;
    if (n < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "joining needs at least one training document");
    if (!r->count)
        DECAR__FAIL(e, DECAR_ERR_ARG,
                    "the router keeps no document counts (an older file): the prior "
                    "cannot be updated; rebuild it with decar cluster");
    if (r->clf_w && (!r->rows || r->n_rows < 1))
        DECAR__FAIL(e, DECAR_ERR_ARG,
                    "the router has R5 but keeps none of its training rows (an older file): R5 "
                    "cannot be refitted; rebuild it with decar cluster");
    if (r->clf_w && (!rows || m < 1)) DECAR__FAIL(e, DECAR_ERR_ARG, "the router has R5: joining needs R5's rows too");
    C = (float *)DECAR_MALLOC((size_t)(K + 1) * (size_t)d * sizeof(float));
    P = (float *)DECAR_MALLOC((size_t)(K + 1) * sizeof(float));
    N = (float *)DECAR_MALLOC((size_t)(K + 1) * sizeof(float));
    if (nf) {
        F = (float *)DECAR_MALLOC((size_t)(nf + 1) * (size_t)d * sizeof(float));
        FM = (int32_t *)DECAR_MALLOC((size_t)(nf + 1) * sizeof(int32_t));
    }
    if (r->clf_w) {
        R = (float *)DECAR_MALLOC((size_t)nr * (size_t)d * sizeof(float));
        L = (int32_t *)DECAR_MALLOC((size_t)nr * sizeof(int32_t));
    }
    if (!C || !P || !N || (nf && (!F || !FM)) || (r->clf_w && (!R || !L))) {
        decar__free_n(7, (void *)C, (void *)P, (void *)N, (void *)F, (void *)FM, (void *)R, (void *)L);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to join a cluster to a router of %d", K);
    }
    /* mu_K = sum_i x_i / |sum_i x_i| (double sums), after the old centroids */
    memcpy(C, r->centroids, (size_t)K * (size_t)d * sizeof(float));
    for (q = 0; q < d; q++) {
        double s = 0.0;
        for (i = 0; i < n; i++) s += X[i * d + q];
        C[(int64_t)K * d + q] = (float)s;
        nn += s * s;
    }
    if (!(nn > 0.0) || nn != nn) {
        decar__free_n(7, (void *)C, (void *)P, (void *)N, (void *)F, (void *)FM, (void *)R, (void *)L);
        DECAR__FAIL(e, DECAR_ERR_ARG, "the new documents' features sum to zero or are not finite: no direction");
    }
    decar_l2_normalize(C + (int64_t)K * d, d);
    /* count_K = n; the prior is set from the counts below */
    memcpy(N, r->count, (size_t)K * sizeof(float));
    N[K] = (float)n;
    /* two-stage: mu_K is one more fine centroid, mapped to K */
    if (nf) {
        memcpy(F, r->fine, (size_t)nf * (size_t)d * sizeof(float));
        memcpy(F + (int64_t)nf * d, C + (int64_t)K * d, (size_t)d * sizeof(float));
        memcpy(FM, r->fine_map, (size_t)nf * sizeof(int32_t));
        FM[nf] = K;
    }
    /* R5's rows: the kept ones, then the party's, labelled K */
    if (r->clf_w) {
        memcpy(R, r->rows, (size_t)r->n_rows * (size_t)d * sizeof(float));
        memcpy(L, r->row_label, (size_t)r->n_rows * sizeof(int32_t));
        memcpy(R + r->n_rows * d, rows, (size_t)m * (size_t)d * sizeof(float));
        for (i = r->n_rows; i < nr; i++) L[i] = K;
    }
    nw = *r;
    nw.k = K + 1;
    nw.centroids = C;
    nw.prior = P;
    nw.count = N;
    nw.fine = F;
    nw.fine_map = FM;
    nw.n_fine = nf ? nf + 1 : 0;
    nw.clf_w = NULL;
    nw.clf_b = NULL;
    nw.rows = NULL;
    nw.row_label = NULL;
    nw.n_rows = 0;
    decar__router_prior(&nw);
    return decar__router_replace(r, &nw, R, L, nr, rc, e);
}
DECARDEF int decar_router_join(decar_router *r, const decar_featurizer *f, const decar_data *d, decar_error *e) {
    float *X = NULL, *rows = NULL;
    int64_t n = 0, m = 0;
    int rc;
    if (f->dim != r->d)
        DECAR__FAIL(e, DECAR_ERR_ARG,
                    "the featurizer makes %d features, the router's centroids have %d: not the "
                    "router's featurizer",
                    f->dim, r->d);
    /* the party's prefixes come from the router's seed and its new index: reproducible, distinct per party */
    rc = decar_docs_features(f, d, r->fit_prefix, r->fit_noise,
                             r->fit_seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(r->k + 1)), &X, &n,
                             r->clf_w ? &rows : NULL, r->clf_w ? &m : NULL, e);
    if (!rc) rc = decar_router_join_features(r, X, n, rows, m, e);
    decar__free(X);
    decar__free(rows);
    return rc;
}
DECARDEF int decar_router_leave(decar_router *r, int j, decar_error *e) {
    int K = r->k, d = r->d, c, f, nf = 0, rc = DECAR_OK;
    int64_t i, nr = 0;
    float *R = NULL;
    int32_t *L = NULL;
    decar_router nw;
    if (j < 0 || j >= K) DECAR__FAIL(e, DECAR_ERR_ARG, "no expert %d: the router has %d (0 .. %d)", j, K, K - 1);
    if (K < 2) DECAR__FAIL(e, DECAR_ERR_ARG, "expert %d is the last one: an ensemble needs at least one", j);
    if (r->clf_w && (!r->rows || r->n_rows < 1))
        DECAR__FAIL(e, DECAR_ERR_ARG,
                    "the router has R5 but keeps none of its training rows (an older file): R5 "
                    "cannot be refitted; rebuild it with decar cluster");
    nw = *r;
    nw.k = K - 1;
    nw.centroids = (float *)DECAR_MALLOC((size_t)(K - 1) * (size_t)d * sizeof(float));
    nw.prior = (float *)DECAR_MALLOC((size_t)(K - 1) * sizeof(float));
    nw.count = r->count ? (float *)DECAR_MALLOC((size_t)(K - 1) * sizeof(float)) : NULL;
    nw.fine = r->n_fine > 0 ? (float *)DECAR_MALLOC((size_t)r->n_fine * (size_t)d * sizeof(float)) : NULL;
    nw.fine_map = r->n_fine > 0 ? (int32_t *)DECAR_MALLOC((size_t)r->n_fine * sizeof(int32_t)) : NULL;
    nw.clf_w = nw.clf_b = NULL;
    nw.rows = NULL;
    nw.row_label = NULL;
    nw.n_rows = 0;
    if (r->clf_w) {
        R = (float *)DECAR_MALLOC((size_t)r->n_rows * (size_t)d * sizeof(float) + 1);
        L = (int32_t *)DECAR_MALLOC((size_t)r->n_rows * sizeof(int32_t) + 1);
    }
    if (!nw.centroids || !nw.prior || (r->count && !nw.count) || (r->n_fine > 0 && (!nw.fine || !nw.fine_map)) ||
        (r->clf_w && (!R || !L))) {
        decar_router_free(&nw);
        decar__free(R);
        decar__free(L);
        DECAR__FAIL(e, DECAR_ERR_NOMEM, "no memory to remove a cluster from a router of %d", K);
    }
    /* the clusters other than j, in order: c > j moves to c - 1 */
    for (c = 0; c < K; c++) {
        int to = c < j ? c : c - 1;
        if (c == j) continue;
        memcpy(nw.centroids + (int64_t)to * d, r->centroids + (int64_t)c * d, (size_t)d * sizeof(float));
        nw.prior[to] = r->prior[c];
        if (r->count) nw.count[to] = r->count[c];
    }
    /* fine centroids of j dropped, the rest renumbered */
    for (f = 0; f < r->n_fine; f++) {
        if (r->fine_map[f] == j) continue;
        memcpy(nw.fine + (int64_t)nf * d, r->fine + (int64_t)f * d, (size_t)d * sizeof(float));
        nw.fine_map[nf++] = r->fine_map[f] < j ? r->fine_map[f] : r->fine_map[f] - 1;
    }
    nw.n_fine = r->n_fine > 0 ? nf : 0;
    /* pi_c = count_c / sum of the rest (without counts: the old prior renormalised) */
    if (r->count)
        decar__router_prior(&nw);
    else {
        double s = 0.0;
        for (c = 0; c < K - 1; c++) s += nw.prior[c];
        for (c = 0; c < K - 1; c++) nw.prior[c] = s > 0.0 ? (float)(nw.prior[c] / s) : 1.0f / (float)(K - 1);
    }
    /* R5: j's rows dropped, labels renumbered, refitted from zero on the rest */
    for (i = 0; r->clf_w && i < r->n_rows; i++) {
        if (r->row_label[i] == j) continue;
        memcpy(R + nr * d, r->rows + i * d, (size_t)d * sizeof(float));
        L[nr++] = r->row_label[i] < j ? r->row_label[i] : r->row_label[i] - 1;
    }
    if (r->clf_w && nr < 1) {
        rc = DECAR_ERR_ARG;
        decar__seterr(e, rc, "no R5 rows remain after removing expert %d", j);
    }
    return decar__router_replace(r, &nw, R, L, nr, rc, e);
}
DECARDEF int decar_router_nearest(const decar_router *r, const float *mu, int n, float temp, int *idx, double *w) {
    int i, j, K = r->k;
    double s = 0.0, T = temp > 0.0f ? temp : 0.1;
    if (n < 1) n = 1;
    if (n > K) n = K;
    /* idx = the n clusters of largest cos(mu, mu_j) (ties: the lower index), by repeated selection */
    for (i = 0; i < n; i++) {
        int best = -1;
        double bc = -INFINITY;
        for (j = 0; j < K; j++) {
            int q, used = 0;
            double c = decar__dot(mu, r->centroids + (int64_t)j * r->d, r->d);
            for (q = 0; q < i; q++) used |= idx[q] == j;
            if (!used && (best < 0 || c > bc)) {
                best = j;
                bc = c;
            }
        }
        idx[i] = best;
        w[i] = bc;
    }
    /* w_i = exp((c_i - c_0) / T) / sum, c_0 the largest */
    for (i = n - 1; i >= 0; i--) w[i] = exp((w[i] - w[0]) / T);
    for (i = 0; i < n; i++) s += w[i];
    for (i = 0; i < n; i++) w[i] /= s;
    return n;
}
DECARDEF int decar_gpt_average(decar_gpt *out, decar_gpt *const *models, const double *w, int n, decar_error *e) {
    int j, rc;
    size_t i;
    if (n < 1) DECAR__FAIL(e, DECAR_ERR_ARG, "averaging needs at least one model");
    for (j = 1; j < n; j++)
        if (memcmp(&models[j]->cfg, &models[0]->cfg, sizeof(decar_gpt_config)) ||
            models[j]->tokenizer != models[0]->tokenizer)
            DECAR__FAIL(e, DECAR_ERR_ARG, "model %d has another config or tokenizer than model 0", j);
    for (j = 0; j < n; j++)
        if (models[j]->qtype) DECAR__FAIL(e, DECAR_ERR_ARG, "model %d is quantized: average float models", j);
    if ((rc = decar_gpt_init(out, &models[0]->cfg, 0, e))) return rc;
    out->tokenizer = models[0]->tokenizer;
    /* theta_i = sum_j w_j theta_j,i (in double) */
    for (i = 0; i < out->n_params; i++) {
        double s = 0.0;
        for (j = 0; j < n; j++) s += w[j] * models[j]->params[i];
        out->params[i] = (float)s;
        if (!(out->params[i] - out->params[i] == 0.0f)) {
            decar_gpt_free(out);
            DECAR__FAIL(e, DECAR_ERR_NUMERIC, "the average is not finite at parameter %lu", (unsigned long)i);
        }
    }
    return DECAR_OK;
}

#endif /* DECAR_IMPLEMENTATION_DONE */
#endif /* DECAR_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the decar authors
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions: The above copyright notice and
this permission notice shall be included in all copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain. Anyone is free to copy, modify, publish, use,
compile, sell, or distribute this software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
------------------------------------------------------------------------------
*/
