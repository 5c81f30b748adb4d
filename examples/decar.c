/* decar - the command-line program around decar.h.
     decar train     train one model (AR or masked DFM) on a directory of text, a file, or a shard list
     decar sample    sample from one model
     decar eval      held-out bits per byte of one model (AR: exact; DFM: Monte Carlo bound with its std. error)
     decar cluster   featurize, spherical balanced k-means, write shards + router file (+ random-split shards)
     decar ens-eval  score held-out documents under routers x top-k for a set of experts; table + CSV
     decar generate  sample from a routed ensemble of AR experts
     decar infill    fill the holes ("_") of a text with an ensemble of DFM experts
     decar average   BTM parameter averaging of experts branched from one seed checkpoint
     decar plot      SVG of training curves from the CSV logs that `decar train --log` writes
     decar vcluster / vtrain / caption   image-conditioned experts on an image-caption set (glyphs)
     decar join      a new party's expert from its documents, and the router that includes it
     decar leave     the router without one expert
     decar manifest  what made each expert of a set (provenance); refuses experts that cannot be combined
   Every subcommand has --help. Exit status: 0 ok, 1 runtime error, 2 bad arguments. */
#define _POSIX_C_SOURCE 200809L /* strtok_r; the header itself needs only C99 */
#ifndef DECAR_CLI_EXTERNAL_IMPL /* the CUDA build compiles the implementation apart, with nvcc (make cuda) */
#define DECAR_IMPLEMENTATION
#endif
#include "../decar.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GNUC__) || defined(__clang__)
#define NORETURN __attribute__((noreturn))
#else
#define NORETURN
#endif
#include "svg.h"

/* ---- small helpers ------------------------------------------------------------------------------------------- */
static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static void unmake_dirs(void);
NORETURN static void die(const char *what, const decar_error *e) {
    fprintf(stderr, "decar: %s: %s\n", what, e->msg);
    unmake_dirs(); /* a failed command leaves no folder it made (empty ones only: rmdir) */
    exit(1);
}
/* print the message (it ends with a newline) and exit with code: 1 = a failure, 2 = a usage error */
NORETURN static void fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    unmake_dirs();
    exit(code);
}
/* one line of f, of any length (a fixed buffer would split a long line into phantom rows), into *buf grown as
   needed; the newline is kept. NULL at the end of the file. */
static char *read_line(FILE *f, char **buf, size_t *cap) {
    size_t n = 0;
    if (!*buf) {
        *cap = 1024;
        *buf = (char *)malloc(*cap);
        if (!*buf) fail(1, "decar: no memory for a line\n");
    }
    while (fgets(*buf + n, (int)(*cap - n), f)) {
        char *nb;
        n += strlen(*buf + n);
        if ((n > 0 && (*buf)[n - 1] == '\n') || n + 1 < *cap) return *buf; /* a whole line, or the file's last */
        if (*cap > ((size_t)1 << 30)) fail(1, "decar: a line of more than 1 GB\n");
        nb = (char *)realloc(*buf, *cap * 2);
        if (!nb) fail(1, "decar: no memory for a line of %lu bytes\n", (unsigned long)*cap);
        *buf = nb;
        *cap *= 2;
    }
    return n ? *buf : NULL;
}
static void fmt_eta(double s, char *out) {
    if (s < 0 || s > 1e7) {
        strcpy(out, "?");
        return;
    }
    if (s >= 3600)
        sprintf(out, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        sprintf(out, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

typedef struct {
    const char *name, *def, *help;
    const char *val;
} opt;
/* One vocabulary for the command line: an option shared by several commands has one name and one meaning, written
   once here (a command's table leaves its help 0); tests/check_options.sh checks that no option means two things. */
static const struct {
    const char *name, *help;
} vocab[] = {
    { "batch", "sequences (or image-text pairs) per training step; each model kind has its own default" },
    { "score-batch", "windows per forward pass when scoring" },
    { "csv", "append result rows to this CSV file" },
    { "data", "directory tree of text files (sub-folders are domains), or one file" },
    { "dim", "model width (d_model); each model kind has its own default" },
    { "device", "where models run: cpu (the tape path), cpu-kernels (the GPU path's kernels as CPU loops), cuda (a "
                "build with make cuda)" },
    { "doc-bits", "per-document bits CSV: ens-eval and caption append every row's bits of each held-out document "
                  "(caption: image), compare reads one such file per seed (A,B,.. or @FILE)" },
    { "doc-bytes", "score at most the first N bytes of each held-out document (0 = all of it)" },
    { "docs", "file listing the documents to use, one per line (paths relative to --data)" },
    { "experts", "expert checkpoints, one per cluster: A,B,.. ('-' = missing) or @FILE with one per line" },
    { "ext", "only files ending in this ('' = all files)" },
    { "feat-dim", "dimension of the built-in features (text tf-idf or pixels: each has its own default)" },
    { "features", "clustering and routing features (.npy, one row per document in documents.txt order, or per image)" },
    { "heads", "attention heads" },
    { "images", "image-caption directory (images_32x32_u8.bin, captions.txt, labels.txt)" },
    { "iters", "k-means iterations" },
    { "init", "start from this checkpoint's weights, a fresh optimizer (BTM branching from a base model; clip: an "
              "encoder pair's directory, its patches and text length kept)" },
    { "k", "clusters = experts" },
    { "label", "row label in the table and the CSV" },
    { "layers", "transformer blocks; each model kind has its own default" },
    { "log", "CSV training log: step,tokens,train_loss,val_loss,seconds" },
    { "lr", "peak learning rate; each model kind has its own default" },
    { "mc", "DFM models: Monte Carlo samples of t per window" },
    { "model", "checkpoint (clip: an encoder pair, the directory decar clip wrote)" },
    { "n", "tokens to generate" },
    { "oracle", "1: add the oracle router's row (each document, or image, to its best expert in hindsight) and "
                "each router's agreement with it" },
    { "out",
      "where to write the result: the file or directory the usage line names (each command has its own default, if "
      "any)" },
    { "prefix-len", "with --prefix-features: prefix vectors per image row" },
    { "precision", "matrix products: fp32, or bf16 (operands rounded to bf16, float32 sums and weights; AMX where the "
                   "CPU and the build have it, see decar_set_precision)" },
    { "prompt", "text to continue" },
    { "route-features",
      "routing features of the inputs, for a router built from --features (.npy, one row per input: the prompt or "
      "text, each held-out document in documents.txt order, or each image)" },
    { "prefix-features", "a captioner's image input (.npy, --prefix-len vectors per image) instead of pixels" },
    { "quiet", "1: no progress line" },
    { "route", "router: top1 (R1), cosine (R2), cbtm (R3), bayes (R4'), uniform, learned (R5), smalltalk (R6)" },
    { "route-every", "re-route every N tokens from the text so far" },
    { "route-k", "experts the router keeps (top-k; 0 = all)" },
    { "route-temp", "temperature of the cosine and cbtm routers" },
    { "router", "router file (from decar cluster, decar vcluster or decar join)" },
    { "router-out", "where to write the new router (the --router file is not changed)" },
    { "router-lms", "R6: one small LM per cluster (A,B,.. or @FILE), trained on its cluster alone, for smalltalk" },
    { "same-base", "1: refuse experts whose base models differ (their checkpoints' prov_base)" },
    { "seed", "random seed" },
    { "skip-missing", "1: continue without experts that fail to load (the router renormalised)" },
    { "steps", "optimizer steps; each model kind has its own default" },
    { "temp", "sampling temperature" },
    { "threads", "threads (0: OpenMP default)" },
    { "top-p", "nucleus sampling mass (1: off)" },
    { "tokenizer", "BPE tokenizer directory (vocab.json + merges.txt, from decar tokenizer or GPT-2); default: bytes" },
    { "val-permille", "documents per 1000 held out (by a hash of the name: the same split in every command)" },
};
static const char *opt_help(const opt *o) {
    int i;
    if (o->help) return o->help;
    for (i = 0; i < (int)(sizeof vocab / sizeof vocab[0]); i++)
        if (!strcmp(vocab[i].name, o->name)) return vocab[i].help;
    return "?";
}
/* The commands: what each does (decar --help) and one example (its --help's last line; tests/check_options.sh runs
   every example's options through the command's parser, so an example cannot name an option that does not exist). */
static const struct {
    const char *name, *what, *example;
} commands[] = {
    { "train", "train one model (--objective ar|dfm)",
      "decar train --data data/corpus --out model.safetensors --steps 500" },
    { "sample", "sample from one model", "decar sample --model model.safetensors --prompt 'int main' --n 200" },
    { "eval", "held-out bits per byte of one model (AR), or its DFM bound",
      "decar eval --model model.safetensors --data data/corpus" },
    { "cluster", "featurize + spherical balanced k-means (or SmallTalk's EM): shards + router",
      "decar cluster --data data/corpus --out runs/k4 --k 4" },
    { "ens-eval", "held-out bits per byte of a routed ensemble, for each router x top-k",
      "decar ens-eval --experts e0.safetensors,e1.safetensors --router runs/k2/router.safetensors --data data/corpus "
      "--route top1,bayes --route-k 1,0 --oracle 1" },
    { "compare", "intervals: bits per byte and paired ratios over documents and seeds, the oracle decomposition",
      "decar compare --doc-bits runs/s1/doc_bits.csv,runs/s2/doc_bits.csv --ref dense-ft --out table.md" },
    { "generate", "sample from a routed ensemble",
      "decar generate --experts e0.safetensors,e1.safetensors --router runs/k2/router.safetensors --prompt 'def ' "
      "--n 200" },
    { "gen-eval", "sample quality: generative perplexity under a scorer and unigram entropy, per sampler and steps",
      "decar gen-eval --experts d0.safetensors,d1.safetensors --router runs/k2/router.safetensors "
      "--scorer dense.safetensors --n 128 --sampler euler,first-hit --euler-steps 16,64 --temp 1 --data data/corpus" },
    { "infill", "fill holes with DFM experts",
      "decar infill --experts d0.safetensors,d1.safetensors --router runs/k2/router.safetensors "
      "--text 'The ____ of the ___'" },
    { "average", "BTM parameter averaging of experts branched from one checkpoint",
      "decar average --experts e0.safetensors,e1.safetensors --out avg.safetensors" },
    { "plot", "SVG line plot of CSV columns (training curves, results against compute, interval bands)",
      "decar plot --out curves.svg --x step --y val_loss runs/demo/logs/dense.csv" },
    { "vcluster", "cluster images (pixel or encoder features): shards + router",
      "decar vcluster --images data/glyphs --out runs/v4 --k 4" },
    { "vtrain", "train an image captioner (LLaVA-style prefix)",
      "decar vtrain --images data/glyphs --subset runs/v4/shard_0.txt --out cap0.safetensors" },
    { "caption", "caption held-out images with a routed ensemble",
      "decar caption --experts cap0.safetensors,cap1.safetensors --router runs/v2/router.safetensors "
      "--images data/glyphs --sheet sheet.svg" },
    { "tokenizer", "train a byte-level BPE tokenizer (GPT-2's vocab.json + merges.txt)",
      "decar tokenizer --data data/corpus --out tok --vocab 2048" },
    { "quantize", "int8 (q8_0) or bf16 weights for inference",
      "decar quantize --model model.safetensors --out model_q8.safetensors --dtype q8_0" },
    { "clip", "train a CLIP-style image-text encoder pair; retrieval, embeddings, patch features",
      "decar clip --images data/glyphs --out runs/enc --embed runs/enc/embed.npy" },
    { "export", "write a model as Hugging Face GPT-2 (model.safetensors + config.json) or weights only",
      "decar export --model model.safetensors --format hf --out hf_model" },
    { "import", "read a Hugging Face GPT-2 directory into a decar checkpoint",
      "decar import --hf hf_model --out model.safetensors" },
    { "join", "train a new party's expert and write the router that includes it",
      "decar join --router runs/k4/router.safetensors --router-out runs/k5.safetensors --data new_docs "
      "--out e4.safetensors --init runs/demo/models/base.safetensors" },
    { "leave", "write the router without one expert",
      "decar leave --router runs/k4/router.safetensors --remove 2 --router-out runs/k3.safetensors" },
    { "manifest", "what made each expert (provenance); refuses experts that cannot be combined",
      "decar manifest --experts e0.safetensors,e1.safetensors --same-base 1" },
};
static const char *command_example(const char *cmd) {
    int i;
    for (i = 0; i < (int)(sizeof commands / sizeof commands[0]); i++)
        if (!strcmp(commands[i].name, cmd)) return commands[i].example;
    return NULL;
}
static opt *opt_find(opt *o, int n, const char *name) { /* the table's entry, or NULL */
    int j;
    for (j = 0; j < n; j++)
        if (!strcmp(o[j].name, name)) return &o[j];
    return NULL;
}
/* the options part of --help: name, meaning, default */
static void print_options(const opt *o, int n) {
    int j;
    for (j = 0; j < n; j++)
        printf("  --%-16s %s%s%s%s\n", o[j].name, opt_help(&o[j]), o[j].def ? " (default " : "",
               o[j].def ? o[j].def : "", o[j].def ? ")" : "");
}
static int parse_opts(int argc, char **argv, opt *o, int n, const char *cmd, const char *usage) {
    int i, j;
    opt *f;
    for (j = 0; j < n; j++) o[j].val = o[j].def;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: decar %s %s\n\noptions:\n", cmd, usage);
            print_options(o, n);
            printf("\nexample: %s\n", command_example(cmd));
            exit(0);
        }
        if (strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "decar %s: unexpected argument '%s' (see --help)\n", cmd, argv[i]);
            exit(2);
        }
        f = opt_find(o, n, argv[i] + 2);
        if (!f) {
            fprintf(stderr, "decar %s: unknown option '%s' (see --help)\n", cmd, argv[i]);
            exit(2);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "decar %s: option --%s needs a value\n", cmd, f->name);
            exit(2);
        }
        f->val = argv[++i];
    }
    return 0;
}
/* an option's value (NULL: not given and no default). Reading a name the command's table lacks is a bug in this
   file, not a user error: it stops with status 3 the first time that code runs (make test runs every command) */
static const char *S(opt *o, int n, const char *name) {
    const opt *f = opt_find(o, n, name);
    if (f) return f->val;
    fprintf(stderr, "decar: internal error: the command reads --%s, which its option table does not have\n", name);
    exit(3);
}
/* whether --name was on the command line (its value is not the table's default) */
static int given(opt *o, int n, const char *name) {
    const opt *f = opt_find(o, n, name);
    if (f) return f->val != f->def;
    fprintf(stderr, "decar: internal error: the command asks for --%s, which its option table does not have\n", name);
    exit(3);
}
/* option values: an integer in [lo, hi], a number in [lo, hi] (a missing default is a usage error) */
static long I(opt *o, int n, const char *name, long lo, long hi) {
    const char *v = S(o, n, name);
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v) fail(2, "decar: --%s is required\n", name);
    if (*end || end == v || x < lo || x > hi)
        fail(2, "decar: --%s must be an integer in [%ld, %ld], not '%s'\n", name, lo, hi, v);
    return x;
}
static double F(opt *o, int n, const char *name, double lo, double hi) {
    const char *v = S(o, n, name);
    char *end = NULL;
    double x = v ? strtod(v, &end) : 0;
    if (!v) fail(2, "decar: --%s is required\n", name);
    if (*end || end == v || !(x >= lo && x <= hi))
        fail(2, "decar: --%s must be a number in [%g, %g], not '%s'\n", name, lo, hi, v);
    return x;
}
static const char *REQ(opt *o, int n, const char *name) {
    const char *v = S(o, n, name);
    if (!v || !*v) {
        fprintf(stderr, "decar: --%s is required (see --help)\n", name);
        exit(2);
    }
    return v;
}
/* --precision fp32|bf16: the matrix products' precision (decar_set_precision); returns the path ("fp32", "amx",
   "emulated") for the progress line */
static const char *precision_opt(opt *o, int n) {
    const char *v = S(o, n, "precision");
    const opt *dev = opt_find(o, n, "device"); /* vtrain and clip have none */
    if (strcmp(v, "fp32") && strcmp(v, "bf16")) fail(2, "decar: --precision must be fp32 or bf16, not '%s'\n", v);
    /* the CUDA path multiplies in float32 (cuBLAS SGEMM): bf16 would be a label only */
    if (dev && dev->val && !strcmp(dev->val, "cuda") && !strcmp(v, "bf16"))
        fail(2, "decar: --precision bf16 runs on the CPU paths (cpu, cpu-kernels); --device cuda is float32\n");
    return decar_set_precision(strcmp(v, "bf16") ? DECAR_FP32 : DECAR_BF16);
}
#define NOPT(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* the held-out share every command and script uses by default (scripts/pipeline.sh's VAL): about 100 documents of
   each domain of the default corpus */
#define VAL_PERMILLE "100"

/* --ext defaults to .txt; a directory with no .txt file at all is read whole (every non-binary, non-hidden file),
   so any directory of text works without options */
static void load_data(decar_data *d, const char *path, const char *list, const char *ext, int val_permille) {
    decar_error e;
    decar_data_init(d);
    if (decar_data_load(d, path, list, ext && *ext ? ext : NULL, val_permille, &e) == 0) return;
    if (ext && !strcmp(ext, ".txt") && strstr(e.msg, "no text documents ending in")) {
        decar_data_free(d);
        decar_data_init(d);
        if (decar_data_load(d, path, list, NULL, val_permille, &e) == 0) {
            fprintf(stderr, "decar: no .txt files in %s: reading every text file\n", path);
            return;
        }
    }
    die("loading data", &e);
}
static void load_model(decar_gpt *g, const char *path) {
    decar_error e;
    if (decar_gpt_load(g, path, &e)) die("loading model", &e);
    if (decar_gpt_check_kind(g, path, DECAR_NEED_LM, &e)) fail(2, "decar: %s\n", e.msg);
}
/* --init: the loaded model's saved step and AdamW moments set aside (its schedule starts again at step 0) */
static void fresh_optimizer(decar_gpt *g) {
    g->step = 0;
    memset(g->m, 0, g->n_params * sizeof(float));
    memset(g->v, 0, g->n_params * sizeof(float));
}
/* --device: move a model there (parameters, optimizer state, activations) */
static void gpt_device(decar_gpt *g, const char *name) {
    decar_error e;
    int dev;
    if (decar_device_parse(name, &dev, &e) || decar_gpt_to_device(g, dev, &e)) die("--device", &e);
}

/* refuse a training run that cannot fit in this machine's memory (an out-of-memory kill is a crash, not a message) */
static void memory_check(const char *cmd, const decar_gpt_config *c, int B, int T) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE),
           need = decar_gpt_train_bytes(c, B, T);
    if (have > 0 && need > 0.9 * have) {
        fprintf(stderr,
                "decar %s: this model and batch need about %.1f GB (parameters, optimizer state, activations); the "
                "machine has %.1f GB: use a smaller --dim, --layers, --batch or --seq\n",
                cmd, need / 1e9, have / 1e9);
        exit(2);
    }
#else
    (void)cmd;
    (void)c;
    (void)B;
    (void)T;
#endif
}
/* ---- tokenizers: bytes by default, or --tokenizer DIR (byte-level BPE); a model remembers which it was trained with
 */
static decar_tokenizer g_tok;
static const decar_tokenizer *tok_open(const char *dir) {
    decar_error e;
    if (!dir) return NULL;
    if (decar_tokenizer_load(&g_tok, dir, &e)) die("tokenizer", &e);
    return &g_tok;
}
static void tok_check(const decar_gpt *g, const decar_tokenizer *t, const char *name) {
    uint64_t want = t ? t->fingerprint : 0;
    if (g->tokenizer != want) {
        fprintf(stderr,
                "decar: %s was trained with %s, not with %s: pass the tokenizer it was trained with (--tokenizer)\n",
                name, g->tokenizer ? "a BPE tokenizer" : "bytes", t ? "this --tokenizer" : "bytes");
        exit(2);
    }
    if (t && g->cfg.vocab_size != decar_tokenizer_vocab(t)) {
        fprintf(stderr, "decar: %s has %d tokens, the tokenizer %d\n", name, g->cfg.vocab_size,
                decar_tokenizer_vocab(t));
        exit(2);
    }
}
/* the tokens of text (bytes, or BPE); out needs len entries; returns their count */
static int64_t tok_text(const decar_tokenizer *t, const uint8_t *text, int64_t len, int32_t *out) {
    int64_t i;
    if (t) return decar_tokenizer_encode(t, text, len, out);
    for (i = 0; i < len; i++) out[i] = text[i];
    return len;
}
static int32_t tok_eot(const decar_tokenizer *t) {
    return t ? t->eot : DECAR_TOK_EOT;
}

/* ---- outputs -----------------------------------------------------------------------------------------------------
   A command's result files are built in memory and committed together at its end (decar_write_files_atomic: exclusive
   temporaries, fsync, rename, directory fsync), so a command that fails leaves no file behind, and a command killed
   midway leaves the previous files intact. Output locations are checked before any work. */
typedef struct {
    int n, cap;
    char **path;
    char **buf;
    size_t *len;
    FILE *f;
} outset;
static void out_grow(outset *os) {
    if (os->n < os->cap) return;
    os->cap = os->cap ? 2 * os->cap : 16;
    os->path = (char **)realloc(os->path, (size_t)os->cap * sizeof(char *));
    os->buf = (char **)realloc(os->buf, (size_t)os->cap * sizeof(char *));
    os->len = (size_t *)realloc(os->len, (size_t)os->cap * sizeof(size_t));
    if (!os->path || !os->buf || !os->len) {
        fprintf(stderr, "decar: no memory for the outputs\n");
        exit(1);
    }
}
/* a text output: returns a stream into memory; out_close adds it to the set under `path` */
static FILE *out_text(outset *os) {
    out_grow(os);
    os->buf[os->n] = NULL;
    os->len[os->n] = 0;
    os->f = open_memstream(&os->buf[os->n], &os->len[os->n]);
    if (!os->f) {
        fprintf(stderr, "decar: no memory for an output\n");
        exit(1);
    }
    return os->f;
}
static void out_close(outset *os, const char *path) {
    if (fclose(os->f)) {
        fprintf(stderr, "decar: no memory for %s\n", path);
        exit(1);
    }
    os->path[os->n++] = strdup(path);
}
static void out_add(outset *os, const char *path, void *buf, size_t len) { /* takes buf (malloc'd) */
    out_grow(os);
    os->path[os->n] = strdup(path);
    os->buf[os->n] = (char *)buf;
    os->len[os->n] = len;
    os->n++;
}
/* Output folders are created as needed (like mkdir -p) and checked before any work: the nearest existing ancestor
   of what will be created must be a writable directory. dir_of: the directory part of a path ("." for none). */
static void dir_of(const char *path, char *dir, size_t cap) {
    char *slash;
    snprintf(dir, cap, "%s", path);
    while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/') dir[strlen(dir) - 1] = 0;
    slash = strrchr(dir, '/');
    if (slash) {
        if (slash == dir)
            slash[1] = 0;
        else
            *slash = 0;
    } else
        strcpy(dir, ".");
}
/* 0 if dir exists as a directory or can be made: its nearest existing ancestor is a writable directory */
static int dir_creatable(const char *dir, char *why, size_t cap) {
    struct stat sb;
    char cur[4096], up[4096];
    snprintf(cur, sizeof cur, "%s", dir);
    for (;;) {
        if (!stat(cur, &sb)) {
            if (!S_ISDIR(sb.st_mode)) {
                snprintf(why, cap, "'%s' is not a directory", cur);
                return -1;
            }
            if (access(cur, W_OK)) {
                snprintf(why, cap, "directory '%s' is not writable", cur);
                return -1;
            }
            return 0;
        }
        dir_of(cur, up, sizeof up);
        if (!strcmp(up, cur)) {
            snprintf(why, cap, "no existing parent of '%s'", dir);
            return -1;
        }
        snprintf(cur, sizeof cur, "%s", up);
    }
}
/* the directories this run created (mkdir_p), so a failed commit can remove them again: nothing new left behind */
static char *made_dirs[64];
static int n_made_dirs;
/* mkdir -p */
static int mkdir_p(const char *dir) {
    char up[4096];
    struct stat sb;
    if (!stat(dir, &sb)) return S_ISDIR(sb.st_mode) ? 0 : -1;
    dir_of(dir, up, sizeof up);
    if (strcmp(up, dir) && mkdir_p(up)) return -1;
    if (mkdir(dir, 0755)) return access(dir, W_OK) ? -1 : 0;
    if (n_made_dirs < 64) made_dirs[n_made_dirs++] = strdup(dir);
    return 0;
}
/* remove the directories made by this run, deepest first (rmdir: only while they are empty) */
static void unmake_dirs(void) {
    while (n_made_dirs > 0) {
        n_made_dirs--;
        if (made_dirs[n_made_dirs]) (void)rmdir(made_dirs[n_made_dirs]);
        free(made_dirs[n_made_dirs]);
    }
}
/* output folders wait until the inputs are known good: out_file_check notes them, out_make_dirs makes them */
static char *pending_dirs[16];
static int n_pending_dirs;
static void out_make_dirs(void) {
    int i;
    for (i = 0; i < n_pending_dirs; i++) {
        if (mkdir_p(pending_dirs[i])) {
            fprintf(stderr, "decar: cannot create directory '%s'\n", pending_dirs[i]);
            unmake_dirs();
            exit(1);
        }
        free(pending_dirs[i]);
    }
    n_pending_dirs = 0;
}
/* the directory `dir` exists or can be made; out_commit makes it */
static void out_dir_check(const char *cmd, const char *dir) {
    char why[4200];
    if (strlen(dir) > 3000) {
        fprintf(stderr, "decar %s: output path too long (%lu characters)\n", cmd, (unsigned long)strlen(dir));
        exit(2);
    }
    if (dir_creatable(dir, why, sizeof why)) {
        fprintf(stderr, "decar %s: cannot use '%s' as the output directory: %s\n", cmd, dir, why);
        exit(1);
    }
}
/* the file `path` can be written: not a directory, and its directory exists or can be made (made here) */
static void out_file_check(const char *cmd, const char *path) {
    struct stat sb;
    char dir[4096], why[4200];
    if (strlen(path) > 3000) {
        fprintf(stderr, "decar %s: output path too long (%lu characters)\n", cmd, (unsigned long)strlen(path));
        exit(2);
    }
    if (!*path || (path[strlen(path) - 1] == '/') || (!stat(path, &sb) && S_ISDIR(sb.st_mode))) {
        fprintf(stderr, "decar %s: output '%s' is a directory, not a file name\n", cmd, path);
        exit(1);
    }
    dir_of(path, dir, sizeof dir);
    if (dir_creatable(dir, why, sizeof why)) {
        fprintf(stderr, "decar %s: cannot write '%s': %s\n", cmd, path, why);
        exit(1);
    }
    if (n_pending_dirs < 16) pending_dirs[n_pending_dirs++] = strdup(dir); /* made by out_make_dirs, later */
}
static void out_commit(outset *os, const char *dir) {
    decar_error e;
    int i;
    out_make_dirs();
    if (dir && mkdir_p(dir)) {
        fprintf(stderr, "decar: cannot create directory '%s'\n", dir);
        unmake_dirs();
        exit(1);
    }
    if (decar_write_files_atomic(os->n, (const char *const *)os->path, (const void *const *)os->buf, os->len, &e)) {
        unmake_dirs(); /* the folders made for these outputs go too: a failure leaves nothing new */
        die("writing outputs", &e);
    }
    for (i = 0; i < os->n; i++) {
        free(os->path[i]);
        free(os->buf[i]);
    }
    free(os->path);
    free(os->buf);
    free(os->len);
    memset(os, 0, sizeof *os);
}

/* a text field of a CSV row as RFC 4180 has it: as it is, or in double quotes (with quotes doubled) when it holds a
   comma, a quote or a line end (labels, script and domain names come from the user and their data) */
static void csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
/* the first four fields of a result row: label, router, top-k, the domain or script the row is about */
static void csv_row_head(FILE *f, const char *label, const char *route, int tk, const char *name) {
    csv_str(f, label);
    fprintf(f, ",%s,%d,", route, tk);
    csv_str(f, name);
}
/* the start of the field after the one at p (NULL: p holds the last field); a quoted field may hold commas */
static const char *csv_next(const char *p) {
    if (*p == '"') { /* to the closing quote: a doubled quote "" is one quote inside the field */
        for (p++; *p && !(*p == '"' && p[1] != '"'); p++)
            if (*p == '"') p++;
    }
    p = strchr(p, ',');
    return p ? p + 1 : NULL;
}
/* append to a CSV, writing its header first when the file is new; exits on failure */
static FILE *csv_append(const char *path, const char *header) {
    FILE *t = fopen(path, "r"), *f;
    int exists = t != NULL;
    if (t) fclose(t);
    if (!(f = fopen(path, "a"))) {
        fprintf(stderr, "decar: cannot write %s\n", path);
        exit(1);
    }
    if (!exists) fprintf(f, "%s\n", header);
    return f;
}

/* ---- train --------------------------------------------------------------------------------------------------- */
static decar_dfm dfm_schedule(const decar_gpt_config *c) { /* the schedule decar train uses: kappa(t) = t */
    decar_dfm dfm;
    dfm.kappa_pow = 1;
    dfm.t_max = 0;
    dfm.mask_token = decar_gpt_mask(c);
    return dfm;
}
/* what decar train prints and writes after each step: progress, validation, the log, checkpoints */
typedef struct {
    decar_gpt *g;
    int B, T, steps, quiet, ckpt_every;
    int64_t start;
    double t0, last_print;
    FILE *log;
    const char *out, *meta;
} train_view;
static int train_step_done(void *user, const decar_train_event *ev) {
    train_view *v = (train_view *)user;
    double el = now_s() - v->t0;
    decar_error e;
    if (!v->quiet && (el - v->last_print > 1.0 || ev->step == v->steps)) {
        char eta[32];
        double done = (double)(ev->step - v->start), tps = done * v->B * v->T / (el > 1e-9 ? el : 1e-9);
        fmt_eta(el / done * (double)(v->steps - ev->step), eta);
        fprintf(stderr, "\rstep %6lld/%d | loss %.4f | lr %.2e | %7.0f tok/s | %s left   ", (long long)ev->step,
                v->steps, ev->loss_ema, ev->lr, tps, eta);
        v->last_print = el;
    }
    if (ev->validated && !v->quiet)
        fprintf(stderr, "\nstep %lld: train %.4f val %.4f (%.4f bits/token)\n", (long long)ev->step, ev->loss_ema,
                ev->val_loss, ev->val_loss / log(2.0));
    if (ev->validated && v->log) {
        fprintf(v->log, "%lld,%lld,%.5f,%.5f,%.2f\n", (long long)ev->step, (long long)ev->step * v->B * v->T,
                ev->loss_ema, ev->val_loss, now_s() - v->t0);
        fflush(v->log);
    }
    if (v->ckpt_every && ev->step % v->ckpt_every == 0 && ev->step < v->steps &&
        decar_gpt_save(v->g, v->out, v->meta, &e))
        die("checkpoint", &e);
    return 0;
}

/* the model decar train trains: --resume (the checkpoint at --out, its optimizer and data sampler), --init (another
   checkpoint's weights, fresh optimizer: BTM branching), or a new one from the size options */
static void train_model(decar_gpt *g, opt *o, int n, int objective, const decar_tokenizer *tk, int B, int T) {
    decar_error e;
    const char *out = S(o, n, "out");
    if (!strcmp(S(o, n, "resume"), "1")) {
        load_model(g, out);
        tok_check(g, tk, out);
        if (g->cfg.causal != (objective == 0)) {
            fprintf(stderr, "decar train: %s was trained with the other objective\n", out);
            exit(2);
        }
        if (g->cfg.seq_len < T) {
            fprintf(stderr, "decar train: %s has seq_len %d < --seq %d\n", out, g->cfg.seq_len, T);
            exit(2);
        }
        memory_check("train", &g->cfg, B, T);
        fprintf(stderr, "resuming %s at step %lld\n", out, (long long)g->step);
    } else if (S(o, n, "init")) {
        load_model(g, S(o, n, "init"));
        if (g->qtype)
            fail(2, "decar train: --init %s is %s-quantized, a model for inference: start from the float checkpoint\n",
                 S(o, n, "init"), decar_qtype_name(g->qtype));
        tok_check(g, tk, S(o, n, "init"));
        if (g->cfg.causal != (objective == 0)) {
            fprintf(stderr, "decar train: --init %s was trained with the other objective (use --objective %s)\n",
                    S(o, n, "init"), g->cfg.causal ? "ar" : "dfm");
            exit(2);
        }
        if (g->cfg.seq_len < T) {
            fprintf(stderr, "decar train: --init %s has seq_len %d < --seq %d\n", S(o, n, "init"), g->cfg.seq_len, T);
            exit(2);
        }
        if (g->cfg.n_prefix) {
            fprintf(stderr, "decar train: --init %s is an image captioner (train it with decar vtrain)\n",
                    S(o, n, "init"));
            exit(2);
        }
        memory_check("train", &g->cfg, B, T);
        fresh_optimizer(g);
        {
            decar_rng r;
            decar_rng_seed(&r, (uint64_t)I(o, n, "seed", 0, 1L << 62));
            g->rng_state = r.s;
        }
    } else {
        decar_gpt_config c = decar_gpt_default_config();
        c = decar_gpt_config_of((int)I(o, n, "layers", 1, DECAR_MAX_LAYERS), (int)I(o, n, "heads", 1, 1024),
                                (int)I(o, n, "dim", 1, 65536), T);
        c.vocab_size = tk ? decar_tokenizer_vocab(tk) : DECAR_BYTE_VOCAB;
        c.causal = objective == 0;
        if (decar_gpt_check_config(&c, &e)) {
            fprintf(stderr, "decar train: %s\n", e.msg);
            exit(2);
        }
        memory_check("train", &c, B, T);
        if (decar_gpt_init(g, &c, (uint64_t)I(o, n, "seed", 0, 1L << 62), &e)) die("init", &e);
        g->tokenizer = tk ? tk->fingerprint : 0;
        {
            decar_rng r;
            decar_rng_seed(&r, (uint64_t)I(o, n, "seed", 0, 1L << 62) ^ 0xda7a);
            g->rng_state = r.s;
        }
    }
}
/* AdamW and its schedule from the options: warmup -1 = steps / 20 */
static decar_opt train_opt(opt *o, int n, int steps) {
    decar_opt op = decar_opt_default();
    op.lr = (float)F(o, n, "lr", 0, 10);
    op.min_lr = (float)F(o, n, "min-lr", 0, 10);
    op.weight_decay = (float)F(o, n, "wd", 0, 10);
    op.grad_clip = (float)F(o, n, "clip", 0, 1e9);
    op.total_steps = steps;
    op.warmup_steps = (int)I(o, n, "warmup", -1, 100000000);
    if (op.warmup_steps < 0) op.warmup_steps = steps / 20 > 0 ? steps / 20 : 1;
    return op;
}
/* the training log: a new CSV with its header, or appended to when a run resumes */
static FILE *open_log(const char *path, int append) {
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) {
        fprintf(stderr, "decar train: cannot write %s\n", path);
        exit(1);
    }
    if (!append) fprintf(f, "step,tokens,train_loss,val_loss,seconds\n");
    return f;
}
/* decar_train with the command's view of it (progress, log, checkpoints); a failed run removes the log it created */
static void train_run(decar_gpt *g, decar_ctx *ctx, const decar_data *d, const decar_opt *op, const decar_dfm *dfm,
                      opt *o, int n, FILE *logf, int new_log, const char *meta) {
    train_view tv;
    decar_train_opts to;
    decar_error e;
    tv.g = g;
    tv.B = to.batch = (int)I(o, n, "batch", 1, 4096);
    tv.T = to.seq_len = (int)I(o, n, "seq", 2, 1 << 16);
    tv.steps = to.steps = (int)I(o, n, "steps", 0, 100000000);
    tv.quiet = (int)I(o, n, "quiet", 0, 1);
    tv.ckpt_every = (int)I(o, n, "ckpt-every", 0, 1 << 30);
    tv.start = g->step;
    tv.t0 = now_s();
    tv.last_print = 0;
    tv.log = logf;
    tv.out = S(o, n, "out");
    tv.meta = meta;
    to.dfm = dfm;
    to.val_every = (int)I(o, n, "val-every", 0, 1 << 30);
    to.val_batches = (int)I(o, n, "val-batches", 1, 100000);
    if (!decar_train(g, ctx, d, op, &to, train_step_done, &tv, &e)) return;
    fprintf(stderr, "\ndecar train: %s\n", e.msg);
    if (logf) fclose(logf);
    if (logf && new_log) remove(S(o, n, "log"));
    exit(1);
}
static void train_provenance(char *meta, size_t cap, const decar_data *d, const decar_tokenizer *tk, opt *o, int n,
                             const char *cmd); /* the lifecycle's part, with decar join below */
static const char *g_prov_cmd = "train"; /* the command recorded in prov_version: train, or join */
static int cmd_train(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "data", NULL, 0, 0 }, { "docs", NULL, 0, 0 }, { "ext", ".txt", 0, 0 },
                { "out", "model.safetensors", 0, 0 },
                { "resume", "0", "1: continue from --out (weights, optimizer, step, data rng)", 0 },
                { "init", NULL, 0, 0 },
                { "objective", "ar", "ar (next-token) or dfm (masked discrete flow matching)", 0 },
                { "steps", "1000", 0, 0 }, { "batch", "8", 0, 0 }, { "seq", "256", "tokens per sequence", 0 },
                { "layers", "4", 0, 0 }, { "heads", "4", 0, 0 }, { "dim", "256", 0, 0 }, { "lr", "1e-3", 0, 0 },
                { "min-lr", "1e-4", "final learning rate (cosine)", 0 },
                { "warmup", "-1", "warmup steps (-1: steps/20)", 0 },
                { "wd", "0.1", "AdamW weight decay (2-D weights only)", 0 }, { "clip", "1.0", "gradient-norm clip", 0 },
                { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 }, { "precision", "fp32", 0, 0 },
                { "val-permille", VAL_PERMILLE, 0, 0 },
                { "val-every", "200", "validation loss every N steps (0: off)", 0 },
                { "val-batches", "8", "batches per validation", 0 },
                { "ckpt-every", "0", "checkpoint every N steps (0: only at the end)", 0 }, { "log", NULL, 0, 0 },
                { "quiet", "0", 0, 0 }, { "tokenizer", NULL, 0, 0 }, { "device", "cpu", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), B, T, steps, objective, quiet;
    const char *prec;
    decar_data d;
    decar_gpt g;
    decar_ctx *ctx;
    decar_opt op;
    decar_error e;
    decar_dfm dfm;
    double t0;
    FILE *logf = NULL;
    const char *out;
    char meta[4096];
    int new_log = 0;
    const decar_tokenizer *tk;
    parse_opts(argc, argv, o, n, "train", "--data DIR|FILE [options]");
    objective = !strcmp(S(o, n, "objective"), "dfm") ? 1 : !strcmp(S(o, n, "objective"), "ar") ? 0 : -1;
    if (objective < 0) fail(2, "decar train: --objective must be ar or dfm\n");
    B = (int)I(o, n, "batch", 1, 4096);
    T = (int)I(o, n, "seq", 2, 1 << 16);
    steps = (int)I(o, n, "steps", 0, 100000000);
    quiet = (int)I(o, n, "quiet", 0, 1);
    op = train_opt(o, n, steps);
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    prec = precision_opt(o, n);
    out = REQ(o, n, "out");
    out_file_check("train", out);
    if (S(o, n, "log")) out_file_check("train", S(o, n, "log"));
    load_data(&d, REQ(o, n, "data"), S(o, n, "docs"), S(o, n, "ext"), (int)I(o, n, "val-permille", 0, 1000));
    tk = tok_open(S(o, n, "tokenizer"));
    if (tk && decar_data_tokenize(&d, tk, &e)) die("tokenizing", &e);
    if (d.stream_len[0] < (int64_t)T + 2)
        fail(1, "decar train: only %lld training tokens, need more than seq %d\n", (long long)d.stream_len[0], T);
    train_model(&g, o, n, objective, tk, B, T);
    gpt_device(&g, S(o, n, "device"));
    out_make_dirs(); /* the data, tokenizer and model are known good: now the output folders */
    ctx = decar_ctx_new(0);
    dfm = dfm_schedule(&g.cfg);
    new_log = g.step == 0;
    logf = S(o, n, "log") ? open_log(S(o, n, "log"), !new_log) : NULL;
    if (!quiet)
        fprintf(
            stderr,
            "train %s: %lu params, %d docs (%lld train / %lld val tokens), B=%d T=%d, %d steps, device %s, simd %s, "
            "products %s, %d threads\n",
            objective ? "dfm" : "ar", (unsigned long)g.n_params, d.n_docs, (long long)d.stream_len[0],
            (long long)d.stream_len[1], B, T, steps, decar_device_name(decar_gpt_device(&g)), decar_simd_name(), prec,
            decar_get_threads());
    sprintf(meta, "\"objective\":\"%s\",\"precision\":\"%s\"", objective ? "dfm" : "ar", S(o, n, "precision"));
    train_provenance(meta, sizeof meta, &d, tk, o, n, g_prov_cmd);
    t0 = now_s();
    train_run(&g, ctx, &d, &op, objective ? &dfm : NULL, o, n, logf, new_log, meta);
    if (decar_gpt_save(&g, out, meta, &e)) die("checkpoint", &e);
    if (!quiet) fprintf(stderr, "saved %s (%.1f s)\n", out, now_s() - t0);
    if (logf) fclose(logf);
    decar_ctx_free(ctx);
    decar_gpt_free(&g);
    decar_data_free(&d);
    return 0;
}

/* ---- the ensemble: one mechanism for one model (sample) and many (generate) ---------------------------------- */
typedef struct {
    decar_ensemble en;
    decar_gpt *models;
    decar_featurizer feat;
    int have_router;
    float *xf;
    int64_t xrows, xcols; /* external routing features (.npy): one row per document, or the prompt's */
    decar_lm_router lmr;  /* R6: --router-lms, one small LM per cluster */
    decar_gpt *lms;
} ens_t;
/* the feature function of a router built from external features: the row of the document being featurized (the
   library sets feat.doc while it evaluates documents), or the prompt's one row */
static int ext_feature(void *user, const uint8_t *text, int64_t len, float *out) {
    ens_t *E = (ens_t *)user;
    int64_t row = E->xrows == 1 ? 0 : E->feat.doc;
    (void)text;
    (void)len;
    if (row < 0 || row >= E->xrows) return DECAR_ERR_ARG;
    memcpy(out, E->xf + row * E->xcols, (size_t)E->xcols * sizeof(float));
    return 0;
}
/* Routing follows its features: a router made from --features needs the same encoder's features of what it routes
   (path: a .npy with `rows` rows), and a tf-idf router refuses them. uses: the routers in use read features. */
static void ens_features(ens_t *E, const char *path, int64_t rows, int uses, const char *flag) {
    int external = E->have_router && !E->feat.idf;
    decar_error e;
    void *buf;
    size_t len;
    int64_t i;
    if (path && !E->have_router) {
        fprintf(stderr, "decar: %s needs --router (the router that was built from these features)\n", flag);
        exit(2);
    }
    if (path && !external) {
        fprintf(stderr, "decar: the router was built from the built-in text features: %s does not apply\n", flag);
        exit(2);
    }
    if (!path) {
        if (external && uses) {
            fprintf(stderr,
                    "decar: the router was built from external features (cluster --features): give them with %s "
                    "FILE.npy, or route with bayes or uniform\n",
                    flag);
            exit(2);
        }
        return;
    }
    if (decar_read_file(path, &buf, &len, &e) || decar_npy_parse(buf, len, &E->xf, &E->xrows, &E->xcols, &e))
        die(flag, &e);
    free(buf);
    if (E->xrows != rows || E->xcols != E->en.router.d) {
        fprintf(stderr, "decar: %s is (%lld, %lld): need %lld rows of the router's %d features\n", path,
                (long long)E->xrows, (long long)E->xcols, (long long)rows, E->en.router.d);
        exit(2);
    }
    for (i = 0; i < rows; i++) decar_l2_normalize(E->xf + i * E->xcols, (int)E->xcols); /* as cluster normalised them */
    E->feat.fn = ext_feature;
    E->feat.user = E;
}
/* a list of checkpoints: "a,b,-" or "@FILE" with one per line (a manifest: add or remove one by editing a line) */
static void read_list(const char *spec, const char *flag, char ***list, int *k) {
    decar_error e;
    if (spec[0] == '@') {
        void *buf;
        size_t len;
        if (decar_read_file(spec + 1, &buf, &len, &e)) die(flag, &e);
        if (decar_list_parse((const char *)buf, len, '\n', list, k, &e))
            fail(2, "decar: %s %s: %s\n", flag, spec + 1, e.msg);
        free(buf);
    } else if (decar_list_parse(spec, strlen(spec), ',', list, k, &e)) {
        fail(2, "decar: %s: %s\n", flag, e.msg);
    }
}
/* an expert set: "a.safetensors,b.safetensors,-" (aligned with the router's clusters; '-' = missing), or "@FILE"
   with one checkpoint per line (an expert-set manifest: add or remove an expert by editing one line) */
static void ens_open(ens_t *E, const char *experts, const char *router, const char *route, int top_k, double temp,
                     int route_every, int skip_missing, const char *tokenizer) {
    char **list;
    int k = 0, j, loaded = 0;
    decar_error e;
    memset(E, 0, sizeof *E);
    read_list(experts, "--experts", &list, &k);
    E->models = (decar_gpt *)calloc((size_t)k, sizeof(decar_gpt));
    E->en.experts = (decar_gpt **)calloc((size_t)k, sizeof(decar_gpt *));
    if (!E->models || !E->en.experts) {
        fprintf(stderr, "decar: no memory for %d experts\n", k);
        exit(1);
    }
    E->en.k = k;
    for (j = 0; j < k; j++) {
        const char *tok = list[j];
        if (!strcmp(tok, "-")) continue;
        if (decar_gpt_load(&E->models[j], tok, &e)) {
            if (!skip_missing) {
                fprintf(stderr, "decar: expert %d: %s (use --skip-missing 1 to continue without it)\n", j, e.msg);
                exit(1);
            }
            fprintf(stderr, "decar: warning: expert %d skipped: %s\n", j, e.msg);
            continue;
        }
        if (decar_gpt_check_kind(&E->models[j], tok, DECAR_NEED_LM, &e)) fail(2, "decar: expert %d: %s\n", j, e.msg);
        E->en.experts[j] = &E->models[j];
        loaded++;
    }
    if (!loaded) {
        fprintf(stderr, "decar: none of the %d experts could be loaded\n", k);
        exit(1);
    }
    if (tokenizer && !*tokenizer) { /* "": any tokenizer, as long as the experts share one (averaging) */
        for (j = 0; j < k; j++)
            if (E->en.experts[j] && E->models[j].tokenizer != E->models[0].tokenizer) {
                fprintf(stderr, "decar: experts 0 and %d were trained with different tokenizers\n", j);
                exit(2);
            }
    } else {
        E->en.tok = tok_open(tokenizer);
        for (j = 0; j < k; j++)
            if (E->en.experts[j]) tok_check(&E->models[j], E->en.tok, list[j]);
    }
    { /* one objective and one vocabulary across the set: an AR expert cannot be mixed with a DFM expert */
        int first = -1;
        for (j = 0; j < k; j++)
            if (E->en.experts[j]) {
                if (first < 0) {
                    first = j;
                    continue;
                }
                if (E->models[j].cfg.causal != E->models[first].cfg.causal ||
                    E->models[j].cfg.vocab_size != E->models[first].cfg.vocab_size) {
                    fprintf(stderr, "decar: expert %d (%s) and expert %d (%s) differ in objective or vocabulary\n",
                            first, list[first], j, list[j]);
                    exit(2);
                }
            }
    }
    free(list);
    if (router) {
        if (decar_router_load(&E->en.router, &E->feat, router, &e)) die("loading router", &e);
        if (E->en.router.k != k) {
            fprintf(stderr, "decar: the router has %d clusters but %d experts were given\n", E->en.router.k, k);
            exit(2);
        }
        E->en.feat = &E->feat;
        E->have_router = 1;
    } else {
        E->en.router.k = k;
        E->en.router.prior = NULL;
    }
    E->en.router.kind = decar_route_name(route);
    if (!E->en.router.kind) {
        fprintf(stderr, "decar: unknown router '%s' (top1, cosine, cbtm, bayes, uniform, learned, smalltalk)\n", route);
        exit(2);
    }
    if (!router && decar_route_uses_features(E->en.router.kind) && E->en.router.kind != DECAR_ROUTE_LM) {
        fprintf(stderr, "decar: router '%s' needs --router FILE\n", route);
        exit(2);
    }
    if (E->en.router.kind == DECAR_ROUTE_LEARNED && !E->en.router.clf_w)
        fail(2, "decar: router 'learned' needs a router file with R5's classifier (decar cluster --learned N)\n");
    E->en.router.top_k = top_k;
    E->en.router.temp = (float)temp;
    E->en.route_every = route_every;
}
/* the config of the first loaded expert (ens_open checked that one exists and that all share objective and vocab) */
static const decar_gpt_config *ens_cfg(const ens_t *E) {
    int j;
    for (j = 0; j < E->en.k; j++)
        if (E->en.experts[j]) return &E->models[j].cfg;
    return &E->models[0].cfg;
}
static void ens_close(ens_t *E) {
    int j;
    for (j = 0; j < E->en.k; j++)
        if (E->en.experts[j]) decar_gpt_free(&E->models[j]);
    free(E->models);
    free(E->en.experts);
    if (E->have_router) {
        decar_router_free(&E->en.router);
        decar_feat_free(&E->feat);
    }
    free(E->xf);
    for (j = 0; j < E->lmr.k; j++) decar_gpt_free(&E->lms[j]);
    free(E->lms);
    free(E->lmr.lms);
    if (E->lmr.ctx) decar_ctx_free(E->lmr.ctx);
}
/* R6 (--router-lms A,B,..|@FILE): one small LM per cluster, aligned with the experts, whose losses on the text are the
   routing features of the router 'smalltalk'. The routers that read centroids need --router instead. */
static void ens_router_lms(ens_t *E, const char *spec) {
    char **list;
    int k = 0, j, kind = E->en.router.kind;
    decar_error e;
    if (!spec) {
        if (kind == DECAR_ROUTE_LM) fail(2, "decar: router 'smalltalk' needs --router-lms A,B,..|@FILE\n");
        return;
    }
    if (E->have_router) fail(2, "decar: --router and --router-lms are alternatives: give one\n");
    if (decar_route_uses_features(kind) && kind != DECAR_ROUTE_LM)
        fail(2, "decar: router '%s' reads a router file's centroids (--router); --router-lms serves 'smalltalk'\n",
             decar_route_label(kind));
    read_list(spec, "--router-lms", &list, &k);
    if (k != E->en.k) fail(2, "decar: %d router LMs for %d experts: give one per cluster\n", k, E->en.k);
    E->lms = (decar_gpt *)calloc((size_t)k, sizeof(decar_gpt));
    E->lmr.lms = (decar_gpt **)calloc((size_t)k, sizeof(decar_gpt *));
    for (j = 0; j < k; j++) {
        if (decar_gpt_load(&E->lms[j], list[j], &e)) die("router LM", &e);
        if (decar_gpt_check_kind(&E->lms[j], list[j], DECAR_NEED_LM, &e)) fail(2, "decar: router LM: %s\n", e.msg);
        tok_check(&E->lms[j], E->en.tok, list[j]);
        if (!E->lms[j].cfg.causal) fail(2, "decar: router LM %s is a DFM model: router LMs are causal\n", list[j]);
        E->lmr.lms[j] = &E->lms[j];
        E->lmr.k = j + 1;
    }
    free(list);
    E->lmr.tok = E->en.tok;
    E->lmr.max_tokens = 256;
    E->lmr.ctx = decar_ctx_new(0);
    E->feat.dim = k;
    E->feat.fn = decar_lm_router_fn;
    E->feat.user = &E->lmr;
    E->en.feat = &E->feat;
    E->en.router.d = k;
}
static void print_tokens(const decar_tokenizer *tk, const int32_t *t, int n) {
    int i;
    for (i = 0; i < n; i++) {
        const uint8_t *b;
        int l;
        if (t[i] == tok_eot(tk)) {
            fputs("\n<|eot|>\n", stdout);
            continue;
        }
        if (!tk) {
            if (t[i] < 256) putchar(t[i]);
            continue;
        }
        l = decar_tokenizer_decode(tk, t[i], &b);
        fwrite(b, 1, (size_t)l, stdout);
    }
}
static int generate_common(ens_t *E, const char *prompt, int n_new, double temp, int top_k, double top_p, uint64_t seed,
                           int show_experts) {
    int np = (int)strlen(prompt) + 1, i, len;
    int32_t *toks = (int32_t *)malloc((size_t)(np + n_new) * 4);
    int *act = (int *)malloc((size_t)(n_new + 1) * sizeof(int));
    decar_sample_opts so = decar_sample_opts_default();
    decar_error e;
    double t0;
    so.n_new = n_new;
    so.temp = temp;
    so.top_k = top_k;
    so.top_p = top_p;
    so.seed = seed;
    toks[0] = tok_eot(E->en.tok);
    np = 1 + (int)tok_text(E->en.tok, (const uint8_t *)prompt, np - 1, toks + 1);
    t0 = now_s();
    if (decar_ensemble_generate(&E->en, NULL, toks, np, &so, toks, &len, act, &e))
        die("generate", &e);
    print_tokens(E->en.tok, toks + 1, len - 1);
    printf("\n");
    fprintf(stderr, "[%d tokens in %.2f s, %.0f tok/s]\n", n_new, now_s() - t0, n_new / (now_s() - t0));
    if (show_experts) {
        int *cnt = (int *)calloc((size_t)E->en.k, sizeof(int));
        for (i = 0; i < n_new && cnt; i++)
            if (act[i] >= 0 && act[i] < E->en.k) cnt[act[i]]++;
        fprintf(stderr, "[top-weighted expert per token:");
        for (i = 0; i < E->en.k && cnt; i++)
            if (cnt[i]) fprintf(stderr, " e%d x%d", i, cnt[i]);
        fprintf(stderr, "]\n");
        free(cnt);
    }
    free(toks);
    free(act);
    return 0;
}

/* --device for every loaded expert */
static void ens_device(ens_t *E, const char *name) {
    int j;
    for (j = 0; j < E->en.k; j++)
        if (E->en.experts[j]) gpt_device(E->en.experts[j], name);
}
static int cmd_sample(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "model", NULL, 0, 0 }, { "prompt", "", 0, 0 }, { "n", "256", 0, 0 }, { "temp", "0.8", 0, 0 },
                { "top-k", "0", "keep the k most likely tokens (0: off)", 0 }, { "top-p", "0.95", 0, 0 },
                { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 }, { "tokenizer", NULL, 0, 0 },
                { "device", "cpu", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o);
    ens_t E;
    decar_error e;
    parse_opts(argc, argv, o, n, "sample", "--model CKPT [--prompt TEXT] [options]");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    ens_open(&E, REQ(o, n, "model"), NULL, "uniform", 1, 0.1, 0, 0, S(o, n, "tokenizer"));
    if (E.en.k != 1 || !E.en.experts[0])
        fail(2, "decar sample: --model takes one checkpoint (decar generate mixes several)\n");
    ens_device(&E, S(o, n, "device"));
    if (E.models[0].cfg.n_prefix)
        fail(2, "decar sample: %s is an image captioner (use decar caption)\n", S(o, n, "model"));
    if (!E.models[0].cfg.causal) { /* DFM model: fill n masks after the prompt, first-hitting order */
        const char *pr = S(o, n, "prompt");
        int N = (int)I(o, n, "n", 1, 1 << 20), np, T, i;
        decar_ctx *ctx = decar_ctx_new(0);
        int32_t *x = (int32_t *)malloc((strlen(pr) + (size_t)N + 1) * 4);
        decar_sample_opts so = decar_sample_opts_default(); /* first-hitting */
        np = (int)tok_text(E.en.tok, (const uint8_t *)pr, (int64_t)strlen(pr), x);
        T = np + N;
        if (T + 1 > E.models[0].cfg.seq_len) {
            N = E.models[0].cfg.seq_len - 1 - np;
            T = np + N;
            if (N < 1) fail(2, "decar sample: prompt too long\n");
        }
        for (i = np; i < T; i++) x[i] = decar_gpt_mask(&E.models[0].cfg);
        so.temp = F(o, n, "temp", 0.01, 100);
        so.seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
        if (decar_ensemble_fill(&E.en, ctx, x, T, &so, &e)) die("sample", &e);
        print_tokens(E.en.tok, x, T);
        printf("\n");
        free(x);
        decar_ctx_free(ctx);
    } else {
        generate_common(&E, S(o, n, "prompt"), (int)I(o, n, "n", 1, 1 << 20), F(o, n, "temp", 0.01, 100),
                        (int)I(o, n, "top-k", 0, 1 << 20), F(o, n, "top-p", 0.0, 1.0),
                        (uint64_t)I(o, n, "seed", 0, 1L << 62), 0);
    }
    ens_close(&E);
    return 0;
}

/* ---- scoring held-out documents (decar_docset, decar_gpt_score_docs, decar_ensemble_dfm_bound) ---------------- */
static void docset_build(decar_docset *ds, const decar_data *d, const decar_tokenizer *t) {
    decar_error e;
    if (decar_docset_build(ds, d, 1, t, &e)) die("held-out documents", &e);
}
/* the unigram byte model of the training documents on the held-out ones, in bits per byte: a reference line */
static double unigram_bits(const decar_data *d, const decar_docset *ds) {
    double cnt[256] = { 0 }, tot = 0, h = 0;
    int q;
    int64_t k;
    for (q = 0; q < d->n_docs; q++)
        for (k = 0; d->docs[q].split == 0 && k < d->docs[q].len; k++) {
            cnt[d->docs[q].bytes[k]] += 1;
            tot += 1;
        }
    for (q = 0; q < ds->n; q++) {
        const decar_doc *doc = &d->docs[ds->doc[q]];
        for (k = 0; k < doc->len; k++) h -= log2((cnt[doc->bytes[k]] + 0.5) / (tot + 128));
    }
    return h / (double)ds->bytes;
}

/* ---- quantize: int8 (Q8_0) or bf16 weights for inference ----------------------------------------------------- */
static int cmd_quantize(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "model", NULL, 0, 0 }, { "out", NULL, 0, 0 },
                { "dtype", "q8_0", "q8_0 (int8 with a float scale per 32 weights of a row) or bf16", 0 } };
    /* clang-format on */
    int n = NOPT(o), type, t, nq = 0;
    decar_gpt g;
    decar_error e;
    parse_opts(argc, argv, o, n, "quantize",
               "--model CKPT --out CKPT [--dtype q8_0|bf16]\nWrites the model with its "
               "weight matrices quantized, for sample, generate, eval and ens-eval.");
    if (decar_qtype_parse(S(o, n, "dtype"), &type) || type == DECAR_QNONE)
        fail(2, "decar quantize: --dtype must be q8_0 or bf16, not '%s'\n", S(o, n, "dtype"));
    out_file_check("quantize", REQ(o, n, "out"));
    if (decar_gpt_load(&g, REQ(o, n, "model"), &e)) die("quantize", &e);
    if (decar_gpt_check_kind(&g, REQ(o, n, "model"), DECAR_NEED_LM, &e)) fail(2, "decar quantize: %s\n", e.msg);
    if (decar_gpt_quantize(&g, type, &e)) die("quantize", &e);
    for (t = 0; t < g.n_tensors; t++) nq += g.q[t].type != DECAR_QNONE;
    out_make_dirs();
    if (decar_gpt_save(&g, REQ(o, n, "out"), NULL, &e)) die("quantize", &e);
    printf("%s: %d weight matrices as %s; weights %.2f MB (f32: %.2f MB)\n", REQ(o, n, "out"), nq,
           decar_qtype_name(type), decar_gpt_weight_bytes(&g) / 1e6, g.n_params * 4 / 1e6);
    decar_gpt_free(&g);
    return 0;
}

static int cmd_eval(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "model", NULL, 0, 0 }, { "data", NULL, 0, 0 }, { "docs", NULL, 0, 0 }, { "ext", ".txt", 0, 0 },
                { "val-permille", VAL_PERMILLE, 0, 0 }, { "score-batch", "8", 0, 0 }, { "mc", "2", 0, 0 },
                { "seed", "1", 0, 0 },
                { "threads", "0", 0, 0 }, { "precision", "fp32", 0, 0 },
                { "tokenizer", NULL, 0, 0 }, { "device", "cpu", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o);
    decar_data d;
    decar_docset ds;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_error e;
    ens_t E;
    const decar_gpt_config *c;
    parse_opts(argc, argv, o, n, "eval", "--model CKPT --data DIR [options]");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    precision_opt(o, n);
    ens_open(&E, REQ(o, n, "model"), NULL, "uniform", 1, 0.1, 0, 0, S(o, n, "tokenizer"));
    ens_device(&E, S(o, n, "device"));
    c = ens_cfg(&E);
    memory_check("eval", c, (int)I(o, n, "score-batch", 1, 4096), c->seq_len);
    load_data(&d, REQ(o, n, "data"), S(o, n, "docs"), S(o, n, "ext"), (int)I(o, n, "val-permille", 0, 1000));
    docset_build(&ds, &d, E.en.tok);
    if (ds.n == 0) fail(1, "decar eval: no held-out documents (raise --val-permille)\n");
    if (c->causal) {
        /* bits per byte = sum_i -ln p(x_i | x_<i) / (bytes ln 2) */
        float *nll = (float *)malloc((size_t)ds.total * 4 + 4);
        double s = 0;
        int64_t i;
        if (decar_gpt_score_docs(E.en.experts[0], ctx, &ds, (int)I(o, n, "score-batch", 1, 4096), nll, &e))
            die("eval", &e);
        for (i = 0; i < ds.total; i++) s += nll[i];
        printf("held-out: %d documents, %lld bytes (%lld tokens), %.4f bits per byte (unigram byte model: %.4f)\n",
               ds.n, (long long)ds.bytes, (long long)ds.total, s / (double)ds.bytes / log(2.0), unigram_bits(&d, &ds));
        free(nll);
    } else {
        decar_dfm dfm = dfm_schedule(c);
        decar_dfm_bound_opts bo = decar_dfm_bound_opts_default();
        double se, m;
        bo.dfm = &dfm;
        bo.n_mc = (int)I(o, n, "mc", 1, 1000);
        bo.seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
        if (decar_ensemble_dfm_bound(&E.en, ctx, &ds, &bo, &m, &se, NULL, &e)) die("eval", &e);
        printf("held-out: %d documents, %lld bytes, DFM bound %.4f +- %.4f bits per byte\n", ds.n, (long long)ds.bytes,
               m, se);
    }
    ens_close(&E);
    decar_data_free(&d);
    decar_ctx_free(ctx);
    decar_docset_free(&ds);
    return 0;
}

/* ---- cluster: features -> balanced k-means -> shards ---------------------------------------------------------- */
static void write_list(outset *os, const char *path, const decar_data *d, const int *lab, int k, int only_split) {
    FILE *f = out_text(os);
    int i;
    for (i = 0; i < d->n_docs; i++)
        if (lab[i] == k && (only_split < 0 || d->docs[i].split == only_split)) {
            const char *nm = d->docs[i].name, *hash = strchr(nm, '#');
            if (hash && i > 0 && !strncmp(d->docs[i - 1].name, nm, (size_t)(hash - nm)) && lab[i - 1] == k &&
                d->docs[i - 1].name[hash - nm] == '#')
                continue;
            fprintf(f, "%.*s\n", hash ? (int)(hash - nm) : (int)strlen(nm), nm);
        }
    out_close(os, path);
}
/* a random split with the shards' sizes (in training documents), for the baseline: random_j.txt */
static void write_random_split(outset *os, const char *out, const decar_data *d, const int *lab, int K) {
    int *rl = (int *)malloc((size_t)d->n_docs * sizeof(int)), *perm = (int *)malloc((size_t)d->n_docs * sizeof(int));
    int *sz = (int *)calloc((size_t)K, sizeof(int)), q = 0, i, j;
    char path[4096];
    decar_rng r;
    decar_rng_seed(&r, 99);
    for (i = 0; i < d->n_docs; i++) {
        perm[i] = i;
        if (d->docs[i].split == 0) sz[lab[i]]++;
    }
    for (i = d->n_docs - 1; i > 0; i--) { /* Fisher-Yates */
        int t = (int)(decar_rng_u32(&r) % (uint32_t)(i + 1)), x = perm[i];
        perm[i] = perm[t];
        perm[t] = x;
    }
    for (j = 0; j < K; j++)
        for (i = 0; i < sz[j] && q < d->n_docs; q++)
            if (d->docs[perm[q]].split == 0) {
                rl[perm[q]] = j;
                i++;
            }
    for (i = 0; i < d->n_docs; i++)
        if (d->docs[i].split != 0) rl[i] = lab[i];
    for (; q < d->n_docs; q++)
        if (d->docs[perm[q]].split == 0) rl[perm[q]] = 0;
    for (j = 0; j < K; j++) {
        snprintf(path, sizeof path, "%s/random_%d.txt", out, j);
        write_list(os, path, d, rl, j, -1);
    }
    free(rl);
    free(perm);
    free(sz);
}
/* clusters.txt: purity and NMI of the shards against the domain folders, and the counts; returns the NMI */
static double write_cluster_stats(outset *os, const char *out, const decar_data *d, const int *lab, int K,
                                  double *pur) {
    int L = d->n_labels, i, j, m = 0;
    int *cnt = (int *)calloc((size_t)K * (L + 1), sizeof(int));
    int *la = (int *)malloc((size_t)d->n_docs * sizeof(int)), *da = (int *)malloc((size_t)d->n_docs * sizeof(int));
    char path[4096];
    double v;
    FILE *f;
    for (i = 0; i < d->n_docs; i++)
        if (lab[i] >= 0) { /* the clustered documents */
            la[m] = lab[i];
            da[m++] = d->docs[i].label < 0 ? 0 : d->docs[i].label;
            cnt[lab[i] * (L + 1) + (d->docs[i].label < 0 ? L : d->docs[i].label)]++;
        }
    v = decar_nmi(la, da, m, K, L > 0 ? L : 1, pur);
    f = out_text(os);
    fprintf(f, "purity %.4f nmi %.4f\ncluster", *pur, v);
    for (j = 0; j < L; j++) fprintf(f, " %s", d->label_names[j]);
    fprintf(f, "\n");
    for (i = 0; i < K; i++) {
        fprintf(f, "%d", i);
        for (j = 0; j < L; j++) fprintf(f, " %d", cnt[i * (L + 1) + j]);
        fprintf(f, "\n");
    }
    snprintf(path, sizeof path, "%s/clusters.txt", out);
    out_close(os, path);
    free(cnt);
    free(la);
    free(da);
    return v;
}
/* everything cluster writes: features.npy, router.safetensors, shard_j.txt, manifest.tsv, random_j.txt,
   clusters.txt, documents.txt (the row order of features.npy), and with a base share base.txt / finetune.txt */
static double write_partition(outset *os, const char *out, const decar_data *d, const decar_router *rt,
                              const decar_featurizer *fz, const float *X, int dim, const int *lab, double *pur) {
    int K = rt->k, i, j, *nd = (int *)calloc((size_t)K * 2, sizeof(int)),
        *role = (int *)malloc((size_t)d->n_docs * sizeof(int));
    char path[4096];
    void *buf;
    size_t len;
    decar_error e;
    double v;
    FILE *f;
    snprintf(path, sizeof path, "%s/features.npy", out);
    if (decar_npy_build(X, d->n_docs, dim, &buf, &len)) {
        fprintf(stderr, "decar cluster: no memory for %s\n", path);
        exit(1);
    }
    out_add(os, path, buf, len);
    snprintf(path, sizeof path, "%s/router.safetensors", out);
    if (decar_router_save_mem(rt, fz, &buf, &len, &e)) die("router", &e);
    out_add(os, path, buf, len);
    for (j = 0; j < K; j++) {
        snprintf(path, sizeof path, "%s/shard_%d.txt", out, j);
        write_list(os, path, d, lab, j, -1);
    }
    f = out_text(os); /* manifest: what each expert will train on, and its prior */
    for (i = 0; i < d->n_docs; i++)
        if (lab[i] >= 0) nd[lab[i] * 2 + d->docs[i].split]++;
    fprintf(f, "cluster\tshard\ttrain_docs\theldout_docs\tprior\trouter\n");
    for (j = 0; j < K; j++)
        fprintf(f, "%d\tshard_%d.txt\t%d\t%d\t%.6f\trouter.safetensors\n", j, j, nd[j * 2], nd[j * 2 + 1],
                rt->prior[j]);
    snprintf(path, sizeof path, "%s/manifest.tsv", out);
    out_close(os, path);
    write_random_split(os, out, d, lab, K);
    v = write_cluster_stats(os, out, d, lab, K, pur);
    for (i = 0; i < d->n_docs; i++) role[i] = d->docs[i].split == 2 ? 0 : d->docs[i].split == 0 ? 1 : -1;
    for (i = 0; i < d->n_docs && role[i] != 0; i++) {
    }
    if (i < d->n_docs) { /* base.txt: the base model's documents; finetune.txt: every clustered training document */
        snprintf(path, sizeof path, "%s/base.txt", out);
        write_list(os, path, d, role, 0, -1);
        snprintf(path, sizeof path, "%s/finetune.txt", out);
        write_list(os, path, d, role, 1, -1);
    }
    f = out_text(os);
    for (i = 0; i < d->n_docs; i++) fprintf(f, "%s\n", d->docs[i].name);
    snprintf(path, sizeof path, "%s/documents.txt", out);
    out_close(os, path);
    free(nd);
    free(role);
    return v;
}
/* the shards' sizes against balanced k-means' capacity ceil(N / K), and the base share */
static void shard_report(const decar_data *d, const int32_t *lab, int K, int n_base) {
    int *cnt = (int *)calloc((size_t)K, sizeof(int)), i, nt = 0, mx = 0;
    for (i = 0; i < d->n_docs; i++) {
        if (d->docs[i].split != 0) continue;
        nt++;
        cnt[lab[i]]++;
        mx = cnt[lab[i]] > mx ? cnt[lab[i]] : mx;
    }
    fprintf(stderr, "partition: %d training documents, K=%d, largest cluster %d (capacity %d)\n", nt, K, mx,
            (nt + K - 1) / K);
    if (n_base)
        fprintf(stderr, "base share: %d training documents set aside (base.txt), %d clustered (finetune.txt)\n", n_base,
                nt);
    free(cnt);
}
/* R5, the learned router: fitted on the training documents' features and those of their prefixes (what routing sees
   while it generates), or of noised windows of `window` bytes (DFM: what routing sees of x_t), or on the given feature
   rows when the features are external (no prefixes to featurize) */
static void fit_learned(decar_router *rt, const decar_featurizer *fz, const decar_data *d, const int32_t *lab,
                        const float *X, int n_prefix, int window, uint64_t seed) {
    decar_error e;
    double acc = 0;
    int i, n = 0;
    if (n_prefix <= 0) return;
    if (X && window > 0) fail(2, "decar cluster: --learned-window needs the text's features (not --features)\n");
    rt->fit_noise = window;
    if (!X) {
        if (decar_router_fit_docs(rt, fz, d, lab, n_prefix, 200, seed, &acc, &e)) die("learned router", &e);
    } else {
        float *Xt = (float *)malloc((size_t)d->n_docs * rt->d * sizeof(float) + 4);
        int32_t *yt = (int32_t *)malloc((size_t)d->n_docs * sizeof(int32_t) + 4);
        for (i = 0; i < d->n_docs; i++)
            if (d->docs[i].split == 0) {
                memcpy(Xt + (int64_t)n * rt->d, X + (int64_t)i * rt->d, (size_t)rt->d * sizeof(float));
                yt[n++] = lab[i];
            }
        if (decar_router_fit(rt, Xt, yt, n, 200, 0.05f, &acc, &e)) die("learned router", &e);
        free(Xt);
        free(yt);
    }
    fprintf(stderr, "R5 (learned router): training accuracy %.3f\n", acc);
}
/* --method smalltalk: the partition made by K small router LMs (decar_smalltalk_partition; 1 layer, d 32, context 64,
   batch 8, each document's first 64 bytes: what R6 then scores) instead of k-means. The held-out documents go where
   R6 routes them (the LM of least prefix loss), the router file's centroids become each segment's normalised mean
   feature, its counts the segments' training documents and its prior their shares (so R1-R5 can be compared on the
   same experts), and the LMs are written to
   OUT/router_lm_K.safetensors with OUT/router_lms.txt listing them for --router-lms. */
static void smalltalk_partition(outset *os, const char *out, const decar_data *d, decar_router *rt, const float *X,
                                int dim, int32_t *lab, opt *o, int n) {
    int rounds = (int)I(o, n, "rounds", 1, 1000), steps = (int)I(o, n, "lm-steps", 1, 1 << 24);
    decar_smalltalk_opts so = decar_smalltalk_opts_default(rt->k); /* batch 8 */
    decar_gpt_config c = decar_gpt_config_of(1, 2, 32, 64);
    decar_gpt *lms = (decar_gpt *)calloc((size_t)rt->k, sizeof(decar_gpt));
    decar_gpt **lp = (decar_gpt **)calloc((size_t)rt->k, sizeof(decar_gpt *));
    decar_lm_router lr;
    decar_error e;
    double flops, nt, t0 = now_s(), *sum = (double *)calloc((size_t)rt->k * dim + rt->k, sizeof(double));
    float *loss = (float *)malloc((size_t)rt->k * sizeof(float));
    char path[4096];
    FILE *f;
    int i, j, q, K = rt->k;
    so.rounds = rounds;
    so.steps = steps;
    so.prefix = c.seq_len; /* each document's first seq_len bytes: what R6 then scores */
    so.seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
    if (rt->n_fine > 0) fail(2, "decar cluster: --method smalltalk makes no fine clusters (drop --two-stage)\n");
    if (decar_smalltalk_partition(d, &c, &so, lms, lab, &flops, &e)) die("smalltalk", &e);
    for (j = 0; j < K; j++) lp[j] = &lms[j];
    lr.k = K;
    lr.lms = lp;
    lr.tok = NULL;
    lr.max_tokens = c.seq_len; /* what the partition scored: each document's first seq_len bytes */
    lr.ctx = decar_ctx_new(0);
    for (i = 0; i < d->n_docs; i++) {
        if (d->docs[i].split == 1) { /* R6: the LM whose loss on the prefix is least (feature_k = -loss_k) */
            if (decar_lm_router_fn(&lr, d->docs[i].bytes, d->docs[i].len, loss)) fail(1, "decar cluster: routing\n");
            for (j = 1, lab[i] = 0; j < K; j++)
                if (loss[j] > loss[lab[i]]) lab[i] = j;
        }
        if (d->docs[i].split != 0 || lab[i] < 0) continue;
        for (q = 0; q < dim; q++) sum[(int64_t)lab[i] * dim + q] += X[(int64_t)i * dim + q];
        sum[(int64_t)K * dim + lab[i]] += 1.0;
    }
    /* mu_k = normalise(sum of segment k's features); count_k its training documents; pi_k = count_k / N_train */
    for (j = 0, nt = 0.0; j < K; j++) nt += sum[(int64_t)K * dim + j];
    for (j = 0; j < K; j++) {
        for (q = 0; q < dim; q++) rt->centroids[(int64_t)j * dim + q] = (float)sum[(int64_t)j * dim + q];
        decar_l2_normalize(rt->centroids + (int64_t)j * dim, dim);
        rt->prior[j] = (float)(sum[(int64_t)K * dim + j] / nt);
        if (rt->count) rt->count[j] = (float)sum[(int64_t)K * dim + j];
    }
    for (j = 0; j < K; j++) { /* the checkpoints first: out_text's stream must be the last entry while it is open */
        void *buf;
        size_t len;
        if (decar_gpt_save_mem(&lms[j], 0, NULL, &buf, &len, &e)) die("router LM", &e);
        snprintf(path, sizeof path, "%s/router_lm_%d.safetensors", out, j);
        out_add(os, path, buf, len);
    }
    f = out_text(os);
    for (j = 0; j < K; j++) fprintf(f, "%s/router_lm_%d.safetensors\n", out, j);
    snprintf(path, sizeof path, "%s/router_lms.txt", out);
    out_close(os, path);
    f = out_text(os); /* the partition's cost, for the result tables */
    fprintf(f, "method\trounds\tlm_steps\tlm_params\tflops\nsmalltalk\t%d\t%d\t%lu\t%.4e\n", rounds, steps,
            (unsigned long)lms[0].n_params, flops);
    snprintf(path, sizeof path, "%s/partition.tsv", out);
    out_close(os, path);
    fprintf(stderr, "smalltalk: %d router LMs (%lu parameters each), %d rounds of %d steps: %.3e FLOPs (%.1f s)\n", K,
            (unsigned long)lms[0].n_params, rounds, steps, flops, now_s() - t0);
    for (j = 0; j < K; j++) decar_gpt_free(&lms[j]);
    decar_ctx_free(lr.ctx);
    free(lms);
    free(lp);
    free(sum);
    free(loss);
}
static int cmd_cluster(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "data", NULL, 0, 0 }, { "out", NULL, 0, 0 }, { "k", "4", 0, 0 }, { "ext", ".txt", 0, 0 },
                { "val-permille", VAL_PERMILLE, 0, 0 }, { "feat-dim", "128", 0, 0 }, { "features", NULL, 0, 0 },
                { "balanced", "1", "1: hard capacity ceil(N/K); 0: plain spherical k-means", 0 },
                { "two-stage", "0", "F > 0: F fine clusters, then balanced k-means of them", 0 },
                { "iters", "30", 0, 0 }, { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 },
                { "learned", "2", "R5: prefixes per training document the learned router is fitted on as well as the "
                  "whole document (0: no learned router)", 0 },
                { "learned-window", "0", "R5 for DFM experts: W > 0 fits it on noised windows of W bytes (each byte "
                  "revealed with probability u ~ U(0,1): the x_t a DFM router sees) instead of prefixes", 0 },
                { "base-permille", "0", "training documents per 1000 set aside for a base model (by a hash of the "
                  "file name): not clustered; written to base.txt, the rest to finetune.txt", 0 },
                { "method", "kmeans", "kmeans (spherical balanced k-means of the features) or smalltalk (K small "
                  "router LMs partition the documents by balanced EM on their prefix loss)", 0 },
                { "rounds", "3", "smalltalk: EM rounds", 0 },
                { "lm-steps", "100", "smalltalk: each router LM's training steps per round", 0 } };
    /* clang-format on */
    int n = NOPT(o), dim = 0, n_base, smalltalk;
    int32_t *lab;
    decar_data d;
    decar_featurizer fz;
    decar_router rt;
    decar_cluster_opts co;
    decar_error e;
    float *X = NULL, *Xin = NULL;
    int64_t rows = 0, cols = 0;
    double t0 = now_s(), pur, v;
    const char *out;
    outset os;
    memset(&os, 0, sizeof os);
    parse_opts(argc, argv, o, n, "cluster", "--data DIR --out DIR [--k K] [options]");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    out = REQ(o, n, "out");
    out_dir_check("cluster", out);
    co = decar_cluster_opts_default((int)I(o, n, "k", 1, 1 << 20));
    co.kmeans.iters = (int)I(o, n, "iters", 1, 100000);
    co.kmeans.balanced = (int)I(o, n, "balanced", 0, 1);
    co.kmeans.seed = co.feat_seed = (uint64_t)I(o, n, "seed", 0, 1L << 62); /* k-means and tf-idf's projection */
    co.kmeans.n_fine = (int)I(o, n, "two-stage", 0, 1 << 20);
    co.feat_dim = (int)I(o, n, "feat-dim", 1, 4096);
    if ((smalltalk = !strcmp(S(o, n, "method"), "smalltalk")) == 0 && strcmp(S(o, n, "method"), "kmeans"))
        fail(2, "decar cluster: --method must be kmeans or smalltalk, not '%s'\n", S(o, n, "method"));
    load_data(&d, REQ(o, n, "data"), NULL, S(o, n, "ext"), (int)I(o, n, "val-permille", 0, 1000));
    /* the paper's setting: a general share of the training documents pretrains a base model and is not clustered */
    n_base = decar_data_base_share(&d, (int)I(o, n, "base-permille", 0, 999));
    if (S(o, n, "features")) { /* an encoder's features, one row per document in documents.txt order */
        void *buf;
        size_t len;
        if (decar_read_file(S(o, n, "features"), &buf, &len, &e) || decar_npy_parse(buf, len, &Xin, &rows, &cols, &e))
            die("features", &e);
        free(buf);
        if (rows != d.n_docs)
            fail(1, "decar cluster: %s has %lld rows for %d documents\n", S(o, n, "features"), (long long)rows,
                 d.n_docs);
        co.features = Xin; /* instead of tf-idf */
        co.features_dim = (int)cols;
    }
    lab = (int32_t *)malloc((size_t)d.n_docs * sizeof(int32_t));
    if (decar_cluster_docs(&d, &co, &fz, &rt, &X, &dim, lab, &e)) die("cluster", &e);
    if (smalltalk) smalltalk_partition(&os, out, &d, &rt, X, dim, lab, o, n);
    shard_report(&d, lab, co.kmeans.k, n_base);
    fit_learned(&rt, &fz, &d, lab, Xin ? X : NULL, (int)I(o, n, "learned", 0, 64),
                (int)I(o, n, "learned-window", 0, 1 << 24), co.kmeans.seed);
    v = write_partition(&os, out, &d, &rt, &fz, X, dim, lab, &pur);
    out_commit(&os, out);
    printf("clusters: K=%d purity %.4f NMI %.4f against %d domain folders (%.1f s); wrote "
           "%s/{router.safetensors,manifest.tsv,shard_*.txt,random_*.txt,features.npy,clusters.txt,documents.txt}\n",
           co.kmeans.k, pur, v, d.n_labels, now_s() - t0, out);
    decar_router_free(&rt);
    free(lab);
    free(X);
    free(Xin);
    decar_feat_free(&fz);
    decar_data_free(&d);
    return 0;
}

/* ---- ens-eval: every router x top-k from one table of per-expert log-probs ------------------------------------- */
/* --route and --route-k, checked before any work: kinds[nr] (DECAR_ROUTE_*), tks[nt] in [1, K] (0 in the list = K) */
static void parse_grid(const char *routers, const char *topks, int K, int have_router, int **kinds, int *nr, int **tks,
                       int *nt) {
    char **it;
    int m, i;
    decar_error e;
    if (decar_list_parse(routers, strlen(routers), ',', &it, &m, &e)) {
        fprintf(stderr, "decar ens-eval: --route: %s\n", e.msg);
        exit(2);
    }
    *kinds = (int *)malloc((size_t)m * sizeof(int));
    *nr = m;
    for (i = 0; i < m; i++) {
        int kind = decar_route_name(it[i]);
        if (!kind) {
            fprintf(stderr,
                    "decar ens-eval: unknown router '%s' (top1, cosine, cbtm, bayes, uniform, learned, smalltalk)\n",
                    it[i]);
            exit(2);
        }
        /* have_router: 0 none, 1 a router file, 2 one with R5's classifier, 3 router LMs (--router-lms) */
        if (kind == DECAR_ROUTE_LM && have_router != 3)
            fail(2, "decar ens-eval: router 'smalltalk' needs --router-lms A,B,..|@FILE\n");
        if (decar_route_uses_features(kind) && kind != DECAR_ROUTE_LM && (have_router == 0 || have_router == 3))
            fail(2, "decar ens-eval: router '%s' needs --router FILE\n", it[i]);
        if (kind == DECAR_ROUTE_LEARNED && have_router != 2)
            fail(2, "decar ens-eval: router 'learned' needs a router file with R5's classifier (decar cluster "
                    "--learned N)\n");
        (*kinds)[i] = kind;
    }
    free(it);
    if (decar_list_parse(topks, strlen(topks), ',', &it, &m, &e)) {
        fprintf(stderr, "decar ens-eval: --route-k: %s\n", e.msg);
        exit(2);
    }
    *tks = (int *)malloc((size_t)m * sizeof(int));
    *nt = m;
    for (i = 0; i < m; i++) {
        char *end;
        long v = strtol(it[i], &end, 10);
        if (*end || v < 0) {
            fprintf(stderr, "decar ens-eval: --route-k entry '%s' is not a count (0 = all experts)\n", it[i]);
            exit(2);
        }
        (*tks)[i] = v == 0 || v > K ? K : (int)v;
    }
    free(it);
}
/* Rows of the table: the whole held-out set, then each domain, from per-document bits (sum_q bits_q / sum_q bytes_q).
   se >= 0: the DFM bound's standard error. */
static void ens_rows(FILE *csv, const char *label, int kind, int tk, const decar_data *d, const decar_docset *ds,
                     const double *bits, double se, int domains) {
    int nd = d->n_labels > 0 ? d->n_labels : 1;
    double *dom_s = (double *)calloc((size_t)nd, sizeof(double)), tot = 0;
    int64_t *dom_n = (int64_t *)calloc((size_t)nd, sizeof(int64_t));
    const char *rs = kind ? decar_route_label(kind) : "oracle";
    int q, j;
    for (q = 0; q < ds->n; q++) {
        const decar_doc *doc = &d->docs[ds->doc[q]];
        int dl = doc->label < 0 ? 0 : doc->label;
        tot += bits[q];
        dom_s[dl] += bits[q];
        dom_n[dl] += decar_docset_doc_bytes(ds, q);
    }
    if (se >= 0)
        printf("%-10s %-8s %5d  %.4f +- %.4f (DFM bound)\n", label, rs, tk, tot / (double)ds->bytes, se);
    else
        printf("%-10s %-8s %5d  %.4f\n", label, rs, tk, tot / (double)ds->bytes);
    if (csv) {
        csv_row_head(csv, label, rs, tk, "all");
        fprintf(csv, ",%.5f,%lld\n", tot / (double)ds->bytes, (long long)ds->bytes);
    }
    for (j = 0; j < nd; j++) {
        const char *dn = d->n_labels ? d->label_names[j] : "all";
        if (!dom_n[j]) continue;
        if (domains) printf("%-10s %-8s %5s    %-12s %.4f\n", "", "", "", dn, dom_s[j] / dom_n[j]);
        if (csv && d->n_labels) {
            csv_row_head(csv, label, rs, tk, dn);
            fprintf(csv, ",%.5f,%lld\n", dom_s[j] / dom_n[j], (long long)dom_n[j]);
        }
    }
    free(dom_s);
    free(dom_n);
}

/* The evidence of ens-eval. --oracle 1 adds the oracle's row (each document to the expert with the fewest bits on
   it, in hindsight) and prints each router's agreement with it: the share of documents whose whole-text top-1 choice
   is the oracle's expert. --doc-bits FILE appends every row's bits per document, which decar compare turns into
   bootstrap intervals, paired ratios over seeds and the decomposition of the gap to dense. */
typedef struct {
    FILE *docs;      /* --doc-bits, or NULL */
    int32_t *best;   /* (ds->n) the oracle's expert of each document; NULL without --oracle */
    int32_t *choice; /* (ds->n) the current row's top-1 choice of each document */
} evidence_t;
#define DOC_BITS_HEADER "model,router,topk,domain,doc,bytes,bits,choice,route"
#define DOC_BITS_READ "model,router,topk,domain,doc,bytes,bits,choice"
/* the route column: the expert of largest weight at each point where scoring routes (token 0 and every route_every
   tokens, joined by '.'; "-" for Bayes, which routes at every token): what decides whether a document's score can
   change when an expert joins or leaves */
static void route_seq(FILE *f, ens_t *E, const decar_data *d, const decar_docset *ds, int q, int kind) {
    const decar_doc *doc = &d->docs[ds->doc[q]];
    double *w = (double *)malloc((size_t)E->en.k * sizeof(double));
    decar_error e;
    int64_t i, ntok = ds->off[q + 1] - ds->off[q];
    int j;
    if (kind == DECAR_ROUTE_BAYES || kind == 0 || !E->en.route_every) fputc('-', f);
    if (E->en.feat) E->en.feat->doc = ds->doc[q];
    for (i = 0; i < ntok && kind != DECAR_ROUTE_BAYES && kind != 0 && E->en.route_every; i += E->en.route_every) {
        int64_t before = i > 0 ? ds->end[ds->off[q] + i - 1] : 0;
        int best = 0;
        if (decar_ensemble_route(&E->en, doc->bytes, before, w, &e)) die("ens-eval --doc-bits", &e);
        for (j = 1; j < E->en.k; j++) best = w[j] > w[best] ? j : best;
        fprintf(f, "%s%d", i ? "." : "", best);
    }
    free(w);
}
static void evidence_rows(evidence_t *ev, ens_t *E, decar_ctx *ctx, const decar_data *d, const decar_docset *ds,
                          float **nll, const char *label, int kind, int tk, const double *bits, int B) {
    decar_error e;
    int q, agree = 0, have_choice = ev->best && kind != DECAR_ROUTE_UNIFORM;
    if (kind == 0) /* the oracle's own row: its choices are the best experts */
        memcpy(ev->choice, ev->best, (size_t)ds->n * sizeof(int32_t));
    else if (have_choice && decar_ensemble_doc_choice(&E->en, ctx, d, ds, B, nll, ev->choice, &e))
        die("ens-eval: routing the documents", &e);
    for (q = 0; q < ds->n && have_choice; q++) agree += ev->choice[q] == ev->best[q];
    if (have_choice && kind)
        printf("%-10s %-8s %5s    agrees with the oracle on %d of %d documents (%.1f%%)\n", "", "", "", agree, ds->n,
               100.0 * agree / ds->n);
    for (q = 0; q < ds->n && ev->docs; q++) {
        const decar_doc *doc = &d->docs[ds->doc[q]];
        csv_row_head(ev->docs, label, kind ? decar_route_label(kind) : "oracle", tk,
                     d->n_labels && doc->label >= 0 ? d->label_names[doc->label] : "all");
        fputc(',', ev->docs);
        csv_str(ev->docs, doc->name);
        fprintf(ev->docs, ",%lld,%.17g,%d,", (long long)decar_docset_doc_bytes(ds, q), bits[q],
                have_choice || !kind ? (int)ev->choice[q] : -1); /* bits exactly: identical scores tell apart */
        route_seq(ev->docs, E, d, ds, q, kind);
        fputc('\n', ev->docs);
    }
}

/* --same-base 1: every expert of the list records the same base model (prov_base) */
static void same_base(const char *spec) {
    char **list, first[65] = "";
    int k = 0, j, have = 0;
    decar_error e;
    read_list(spec, "--experts", &list, &k);
    for (j = 0; j < k; j++) {
        void *buf;
        size_t len;
        decar_provenance p;
        if (!strcmp(list[j], "-")) continue;
        if (decar_read_file(list[j], &buf, &len, &e) || decar_provenance_read(&p, buf, len, &e)) die("--experts", &e);
        free(buf);
        if (have && strcmp(p.base, first))
            fail(2, "decar: expert %d (%s) starts from base %s, another expert from %s (--same-base 1)\n", j, list[j],
                 p.base, first);
        strcpy(first, p.base);
        have = 1;
    }
    free(list);
}
/* one row of ens-eval (router kind, top-k): the library's score of the held-out documents, printed by ens_rows.
   top1 is one expert by definition, uniform weights (and DFM's document-level Bayes bound) have no ranking to
   truncate, and each top-k runs once per router (done_k: the top-k values already run for this router). */
static void ens_eval_one(ens_t *E, decar_ctx *ctx, const decar_data *d, const decar_docset *ds, opt *o, int n, int kind,
                         int tk, char *done_k, float **nll, FILE *csv, evidence_t *ev) {
    double t0 = now_s(), se = -1, mean;
    double *bits = (double *)malloc((size_t)ds->n * sizeof(double) + 1);
    decar_dfm dfm = dfm_schedule(ens_cfg(E));
    decar_dfm_bound_opts bo = decar_dfm_bound_opts_default(); /* seed 1 */
    decar_error e;
    int K = E->en.k, rc;
    bo.dfm = &dfm;
    /* DFM's bayes row is the document-level Bayes bound over every expert (no top-k) */
    if ((kind == DECAR_ROUTE_TOP1 && tk > 1) || (kind == DECAR_ROUTE_UNIFORM && tk < K) || done_k[tk] ||
        (kind == DECAR_ROUTE_BAYES && !ens_cfg(E)->causal && tk < K)) {
        free(bits);
        return;
    }
    done_k[tk] = 1;
    E->en.router.kind = kind;
    E->en.router.top_k = tk;
    if (!ens_cfg(E)->causal) {
        bo.n_mc = (int)I(o, n, "mc", 1, 1000);
        rc = decar_ensemble_dfm_bound(&E->en, ctx, ds, &bo, &mean, &se, bits, &e);
    } else {
        rc = decar_ensemble_score_docs(&E->en, ctx, d, ds, (int)I(o, n, "score-batch", 1, 4096), nll, bits, &e);
    }
    if (rc == DECAR_ERR_ARG && strstr(e.msg, "missing experts")) /* a row this expert set cannot have */
        printf("%-10s %-8s %5d  -  (%s)\n", S(o, n, "label"), decar_route_label(kind), tk, e.msg);
    else if (rc)
        die("ens-eval", &e);
    else {
        ens_rows(csv, S(o, n, "label"), kind, tk, d, ds, bits, se, !strcmp(S(o, n, "domains"), "1"));
        evidence_rows(ev, E, ctx, d, ds, nll, S(o, n, "label"), kind, tk, bits, (int)I(o, n, "score-batch", 1, 4096));
    }
    if (!rc) fprintf(stderr, "[%s top-%d: %.1f s]\n", decar_route_label(kind), tk, now_s() - t0);
    free(bits);
}

/* --doc-bytes, --doc-bits and --oracle: the held-out documents cut to their first N bytes, the per-document CSV
   opened, and the oracle's row scored and printed before the routers' rows */
static void evidence_open(evidence_t *ev, ens_t *E, decar_ctx *ctx, const decar_data *d, decar_docset *ds, opt *o,
                          int n, float **nll, FILE *csv) {
    memset(ev, 0, sizeof *ev);
    if (I(o, n, "oracle", 0, 1) && !ens_cfg(E)->causal)
        fail(2, "decar ens-eval: --oracle needs AR experts (a DFM bound has no oracle yet)\n");
    decar_docset_truncate(ds, I(o, n, "doc-bytes", 0, 1L << 40));
    if (S(o, n, "doc-bits")) ev->docs = csv_append(S(o, n, "doc-bits"), DOC_BITS_HEADER);
    ev->choice = (int32_t *)malloc((size_t)ds->n * sizeof(int32_t) + 1);
    if (I(o, n, "oracle", 0, 1)) {
        double *bits = (double *)malloc((size_t)ds->n * sizeof(double) + 1);
        decar_error e;
        ev->best = (int32_t *)malloc((size_t)ds->n * sizeof(int32_t) + 1);
        if (decar_ensemble_oracle_docs(&E->en, ctx, ds, (int)I(o, n, "score-batch", 1, 4096), nll, bits, ev->best, &e))
            die("ens-eval: the oracle", &e);
        ens_rows(csv, S(o, n, "label"), 0, 1, d, ds, bits, -1, !strcmp(S(o, n, "domains"), "1"));
        evidence_rows(ev, E, ctx, d, ds, nll, S(o, n, "label"), 0, 1, bits, 1);
        free(bits);
    }
}
static void evidence_close(evidence_t *ev) {
    if (ev->docs) fclose(ev->docs);
    free(ev->best);
    free(ev->choice);
}

static int cmd_ens_eval(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 }, { "router", NULL, 0, 0 }, { "data", NULL, 0, 0 }, { "ext", ".txt", 0, 0 },
                { "val-permille", VAL_PERMILLE, 0, 0 }, { "route", "cosine", 0, 0 },
                { "route-k", "0", 0, 0 }, { "route-temp", "0.1", 0, 0 }, { "route-every", "128", 0, 0 },
                { "label", "ensemble", 0, 0 }, { "csv", NULL, 0, 0 }, { "domains", "1", "1: per-domain breakdown", 0 },
                { "skip-missing", "0", 0, 0 }, { "score-batch", "8", 0, 0 }, { "mc", "2", 0, 0 },
                { "threads", "0", 0, 0 }, { "precision", "fp32", 0, 0 },
                { "route-features", NULL, 0, 0 }, { "tokenizer", NULL, 0, 0 }, { "router-lms", NULL, 0, 0 },
                { "device", "cpu", 0, 0 }, { "oracle", "0", 0, 0 }, { "doc-bits", NULL, 0, 0 },
                { "doc-bytes", "0", 0, 0 }, { "same-base", "0", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), K, j, ri, ti, *kinds, nr, *tks, ntk, uses = 0;
    evidence_t ev;
    ens_t E;
    decar_data d;
    decar_docset ds;
    decar_ctx *ctx = decar_ctx_new(0);
    float **nll;
    char *done_k;
    FILE *csv = NULL;
    parse_opts(argc, argv, o, n, "ens-eval",
               "--experts A,B,.. --router FILE --data DIR [options]\n"
               "--route and --route-k also take comma-separated lists: every router is scored at every top-k");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    precision_opt(o, n);
    if (S(o, n, "csv")) out_file_check("ens-eval", S(o, n, "csv"));
    if (S(o, n, "doc-bits")) out_file_check("ens-eval", S(o, n, "doc-bits"));
    if (!strcmp(S(o, n, "same-base"), "1")) same_base(REQ(o, n, "experts"));
    ens_open(&E, REQ(o, n, "experts"), S(o, n, "router"), "uniform", 1, F(o, n, "route-temp", 1e-6, 1e6),
             (int)I(o, n, "route-every", 1, 1 << 30), (int)I(o, n, "skip-missing", 0, 1), S(o, n, "tokenizer"));
    K = E.en.k;
    ens_device(&E, S(o, n, "device"));
    memory_check("ens-eval", ens_cfg(&E), (int)I(o, n, "score-batch", 1, 4096), ens_cfg(&E)->seq_len);
    load_data(&d, REQ(o, n, "data"), NULL, S(o, n, "ext"), (int)I(o, n, "val-permille", 0, 1000));
    docset_build(&ds, &d, E.en.tok);
    if (ds.n == 0) fail(1, "decar ens-eval: no held-out documents\n");
    /* the routers x top-k grid, then the features its routers read */
    ens_router_lms(&E, S(o, n, "router-lms"));
    parse_grid(S(o, n, "route"), S(o, n, "route-k"), K,
               E.lmr.k         ? 3
               : E.have_router ? 1 + (E.en.router.clf_w != NULL)
                               : 0,
               &kinds, &nr, &tks, &ntk);
    for (j = 0; j < nr; j++) uses |= decar_route_uses_features(kinds[j]);
    ens_features(&E, S(o, n, "route-features"), d.n_docs, uses, "--route-features");
    nll = (float **)calloc((size_t)K, sizeof(float *)); /* each expert's scores, shared by every row */
    done_k = (char *)malloc((size_t)K + 1);
    if (S(o, n, "csv")) csv = csv_append(S(o, n, "csv"), "model,router,topk,domain,bits_per_byte,bytes");
    printf("%-10s %-8s %5s  %s\n", "model", "router", "top-k", "bits/byte (held-out, per domain below)");
    evidence_open(&ev, &E, ctx, &d, &ds, o, n, nll, csv);
    for (ri = 0; ri < nr; ri++)
        for (ti = 0; ti < ntk; ti++) {
            if (ti == 0) memset(done_k, 0, (size_t)K + 1);
            ens_eval_one(&E, ctx, &d, &ds, o, n, kinds[ri], tks[ti], done_k, nll, csv, &ev);
        }
    evidence_close(&ev);
    if (csv) fclose(csv);
    decar_nll_tables_free(nll, K);
    free(nll);
    free(kinds);
    free(done_k);
    free(tks);
    ens_close(&E);
    decar_data_free(&d);
    decar_docset_free(&ds);
    decar_ctx_free(ctx);
    return 0;
}

static int cmd_generate(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 }, { "router", NULL, 0, 0 }, { "route", "cosine", 0, 0 },
                { "route-k", "0", 0, 0 }, { "route-temp", "0.1", 0, 0 }, { "route-every", "128", 0, 0 },
                { "prompt", "", 0, 0 }, { "n", "256", 0, 0 }, { "temp", "0.8", 0, 0 }, { "top-p", "0.95", 0, 0 },
                { "seed", "1", 0, 0 }, { "skip-missing", "0", 0, 0 }, { "threads", "0", 0, 0 },
                { "route-features", NULL, 0, 0 }, { "tokenizer", NULL, 0, 0 }, { "router-lms", NULL, 0, 0 },
                { "device", "cpu", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o);
    ens_t E;
    parse_opts(argc, argv, o, n, "generate",
               "--experts A,B,.. [--router FILE] [options]\n"
               "Re-routing reads at most the last 4096 tokens of the text so far, so time stays linear in --n.");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    /* --route-k 0 = all experts, as --help says (the router keeps every one) */
    ens_open(&E, REQ(o, n, "experts"), S(o, n, "router"), S(o, n, "route"),
             I(o, n, "route-k", 0, 1 << 30) ? (int)I(o, n, "route-k", 0, 1 << 30) : 1 << 30,
             F(o, n, "route-temp", 1e-6, 1e6), (int)I(o, n, "route-every", 0, 1 << 30),
             (int)I(o, n, "skip-missing", 0, 1), S(o, n, "tokenizer"));
    ens_device(&E, S(o, n, "device"));
    ens_router_lms(&E, S(o, n, "router-lms"));
    ens_features(&E, S(o, n, "route-features"), 1, decar_route_uses_features(E.en.router.kind), "--route-features");
    if (!E.en.experts[0] || !E.models[0].cfg.causal) {
        int j;
        for (j = 0; j < E.en.k; j++)
            if (E.en.experts[j] && !E.models[j].cfg.causal)
                fail(2, "decar generate: expert %d is a DFM model: use decar infill\n", j);
    }
    generate_common(&E, S(o, n, "prompt"), (int)I(o, n, "n", 1, 1 << 20), F(o, n, "temp", 0.01, 100), 0,
                    F(o, n, "top-p", 0, 1), (uint64_t)I(o, n, "seed", 0, 1L << 62), 1);
    ens_close(&E);
    return 0;
}

static int cmd_infill(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 }, { "router", NULL, 0, 0 }, { "route", "cosine", 0, 0 },
                { "route-k", "0", 0, 0 }, { "text", NULL, "text with holes marked by '_'", 0 },
                { "sampler", "first-hit", "euler, first-hit or l2r", 0 },
                { "euler-steps", "64", "steps of the Euler sampler", 0 }, { "temp", "0.8", 0, 0 },
                { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 }, { "route-features", NULL, 0, 0 },
                { "tokenizer", NULL, 0, 0 }, { "router-lms", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), T, i, sm;
    ens_t E;
    const char *txt;
    int32_t *x;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_sample_opts so = decar_sample_opts_default();
    decar_error e;
    int tk;
    parse_opts(argc, argv, o, n, "infill", "--experts A,B,.. --text 'The _____ of the ____' [options]");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    sm = !strcmp(S(o, n, "sampler"), "euler")       ? DECAR_DFM_EULER
         : !strcmp(S(o, n, "sampler"), "first-hit") ? DECAR_DFM_FIRST_HIT
         : !strcmp(S(o, n, "sampler"), "l2r")       ? DECAR_DFM_L2R
                                                    : -1;
    if (sm < 0) fail(2, "decar infill: --sampler must be euler, first-hit or l2r\n");
    tk = (int)I(o, n, "route-k", 0, 1 << 30);
    ens_open(&E, REQ(o, n, "experts"), S(o, n, "router"), S(o, n, "route"), tk ? tk : 1 << 30, 0.1, 0, 0,
             S(o, n, "tokenizer"));
    ens_router_lms(&E, S(o, n, "router-lms"));
    ens_features(&E, S(o, n, "route-features"), 1, decar_route_uses_features(E.en.router.kind), "--route-features");
    txt = REQ(o, n, "text");
    x = (int32_t *)malloc((strlen(txt) + 1) * 4);
    for (i = 0, T = 0; txt[i];) { /* each '_' is one masked token; the text between holes is tokenized */
        int j = i;
        if (txt[i] == '_') {
            x[T++] = decar_gpt_mask(ens_cfg(&E));
            i++;
            continue;
        }
        while (txt[j] && txt[j] != '_') j++;
        T += (int)tok_text(E.en.tok, (const uint8_t *)txt + i, j - i, x + T);
        i = j;
    }
    so.sampler = sm;
    so.n_steps = (int)I(o, n, "euler-steps", 1, 1 << 20);
    so.temp = F(o, n, "temp", 0.01, 100);
    so.seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
    if (decar_ensemble_fill(&E.en, ctx, x, T, &so, &e)) die("infill", &e);
    print_tokens(E.en.tok, x, T);
    printf("\n");
    free(x);
    ens_close(&E);
    decar_ctx_free(ctx);
    return 0;
}

/* ---- gen-eval: sample quality of an ensemble, AR or DFM (decar_score_samples) ---------------------------------- */
/* one row: its samples (n_s, T) scored by the scorer, printed and appended to the CSV */
static void gen_eval_row(FILE *csv, const char *label, const char *sampler, int steps, decar_gpt *scorer,
                         decar_ctx *ctx, const decar_tokenizer *tok, const int32_t *x, int n_s, int T, double t0) {
    decar_sample_quality q;
    decar_error e;
    if (decar_score_samples(scorer, ctx, tok, x, n_s, T, &q, NULL, &e)) die("gen-eval", &e);
    printf("%-12s %-9s %6d %7d %9.4f %9.3f %8.4f %8.1f\n", label, sampler, steps, q.n_scored, q.bits_per_byte,
           q.gen_ppl, q.entropy, now_s() - t0);
    if (csv)
        fprintf(csv, "%s,%s,%d,%d,%d,%.6f,%.6f,%.6f,%lld,%.3f\n", label, sampler, steps, q.n_scored, T,
                q.bits_per_byte, q.gen_ppl, q.entropy, (long long)q.bytes, now_s() - t0);
    fflush(stdout);
}
/* the table's header, and the CSV (path: NULL for none) opened for appending rows */
static FILE *gen_eval_open(const char *path) {
    printf("%-12s %-9s %6s %7s %9s %9s %8s %8s\n", "label", "sampler", "steps", "samples", "bits/B", "gen.ppl",
           "entropy", "seconds");
    if (!path) return NULL;
    return csv_append(path, "label,sampler,steps,samples,tokens,bits_per_byte,gen_ppl,entropy,bytes,seconds");
}
/* the reference row 'data': the held-out documents' first T tokens (EOT after a shorter one), scored the same way */
static void gen_eval_data(FILE *csv, const char *path, int val_permille, decar_gpt *scorer, decar_ctx *ctx,
                          const decar_tokenizer *tok, int T) {
    decar_data d;
    decar_docset ds;
    decar_error e;
    int q;
    double t0 = now_s();
    int32_t *xd;
    load_data(&d, path, NULL, ".txt", val_permille);
    if (decar_data_tokenize(&d, tok, &e) || decar_docset_build(&ds, &d, 1, tok, &e)) die("gen-eval", &e);
    if (ds.n < 1) fail(1, "decar gen-eval: %s has no held-out documents\n", path);
    if (!(xd = (int32_t *)malloc((size_t)ds.n * T * sizeof(int32_t))))
        fail(1, "decar gen-eval: no memory for %d documents of %d tokens\n", ds.n, T);
    for (q = 0; q < ds.n; q++) {
        int64_t len = ds.off[q + 1] - ds.off[q], i;
        for (i = 0; i < T; i++) xd[(int64_t)q * T + i] = i < len ? ds.tok[ds.off[q] + i] : ds.eot;
    }
    gen_eval_row(csv, "data", "-", 0, scorer, ctx, tok, xd, ds.n, T, t0);
    free(xd);
    decar_docset_free(&ds);
    decar_data_free(&d);
}
/* n_s unconditional samples x (n_s, T), sample s from seed + s: DFM experts fill T masks (so's sampler), AR experts
   generate T tokens after an EOT */
static void gen_eval_samples(ens_t *E, decar_ctx *ctx, decar_sample_opts so, int dfm, int32_t *x, int n_s, int T,
                             uint64_t seed) {
    decar_error e;
    int s, i, n_out = 0;
    int32_t prompt = tok_eot(E->en.tok), *out = (int32_t *)malloc((size_t)(T + 1) * sizeof(int32_t));
    double t0 = now_s();
    for (s = 0; s < n_s; s++) {
        int32_t *xs = x + (int64_t)s * T;
        so.seed = seed + (uint64_t)s;
        if (dfm) {
            for (i = 0; i < T; i++) xs[i] = decar_gpt_mask(ens_cfg(E));
            if (decar_ensemble_fill(&E->en, ctx, xs, T, &so, &e)) die("gen-eval", &e);
        } else {
            if (decar_ensemble_generate(&E->en, NULL, &prompt, 1, &so, out, &n_out, NULL, &e)) die("gen-eval", &e);
            memcpy(xs, out + 1, (size_t)T * sizeof(int32_t));
        }
        if (isatty(2)) fprintf(stderr, "\r[sample %d of %d, %.1f s]", s + 1, n_s, now_s() - t0);
    }
    if (isatty(2)) fprintf(stderr, "\r%40s\r", "");
    free(out);
}
/* the scorer: an AR model of the experts' tokenizer */
static void gen_eval_scorer(decar_gpt *g, const char *path, const decar_tokenizer *tok) {
    load_model(g, path);
    tok_check(g, tok, path);
    if (!g->cfg.causal) fail(2, "decar gen-eval: the scorer %s is a DFM model; it must be AR\n", path);
}
/* 1 for DFM experts, 0 for AR ones; exits when they mix or T tokens + EOT exceed a DFM expert's context */
static int gen_eval_kind(const ens_t *E, int T) {
    int j, dfm = !ens_cfg(E)->causal;
    for (j = 0; j < E->en.k; j++)
        if (E->en.experts[j] && E->models[j].cfg.causal == dfm) fail(2, "decar gen-eval: the experts mix AR and DFM\n");
    if (dfm && T + 1 > ens_cfg(E)->seq_len)
        fail(2, "decar gen-eval: --n %d tokens + EOT exceed the DFM experts' context (%d): pass --n %d or less\n", T,
             ens_cfg(E)->seq_len, ens_cfg(E)->seq_len - 1);
    return dfm;
}
/* "euler" -> DECAR_DFM_EULER, ...; exits on another name */
static int gen_eval_sampler(const char *name) {
    if (!strcmp(name, "euler")) return DECAR_DFM_EULER;
    if (!strcmp(name, "first-hit")) return DECAR_DFM_FIRST_HIT;
    if (!strcmp(name, "l2r")) return DECAR_DFM_L2R;
    fail(2, "decar gen-eval: --sampler takes euler, first-hit or l2r, not '%s'\n", name);
}
static int cmd_gen_eval(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 }, { "router", NULL, 0, 0 }, { "route", "cosine", 0, 0 },
                { "route-k", "0", 0, 0 }, { "route-temp", "0.1", 0, 0 }, { "route-every", "128", 0, 0 },
                { "scorer", NULL, "the AR model that scores the samples (the dense model: generative perplexity)", 0 },
                { "samples", "16", "samples per row (seeds seed, seed + 1, ..)", 0 }, { "n", "256", 0, 0 },
                { "sampler", "first-hit", "euler, first-hit or l2r", 0 },
                { "euler-steps", "64", "steps of the Euler sampler", 0 },
                { "temp", "0.8", 0, 0 }, { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 }, { "label", "ensemble", 0, 0 },
                { "csv", NULL, 0, 0 }, { "data", NULL, 0, 0 }, { "val-permille", VAL_PERMILLE, 0, 0 },
                { "tokenizer", NULL, 0, 0 }, { "router-lms", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), T, ns, dfm;
    ens_t E;
    decar_gpt scorer;
    decar_ctx *ctx = decar_ctx_new(0);
    decar_sample_opts so = decar_sample_opts_default();
    FILE *csv;
    int32_t *x;
    char *list, *name, *save = NULL;
    parse_opts(argc, argv, o, n, "gen-eval",
               "--experts A,B,.. --scorer DENSE_AR [--router FILE] [options]\n"
               "Unconditional samples of --n tokens. DFM experts: --sampler and --euler-steps take comma-separated "
               "lists, a row each; AR experts sample left to right. --data adds a row 'data': the held-out documents' "
               "first --n tokens, scored the same way. Columns: label, sampler, steps, samples scored, the scorer's "
               "bits per byte and perplexity per token of the samples, their mean unigram entropy (bits), seconds. "
               "Sample at --temp 1 for the papers' number.");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    T = (int)I(o, n, "n", 1, 1 << 20);
    ns = (int)I(o, n, "samples", 1, 1 << 20);
    ens_open(&E, REQ(o, n, "experts"), S(o, n, "router"), S(o, n, "route"),
             I(o, n, "route-k", 0, 1 << 30) ? (int)I(o, n, "route-k", 0, 1 << 30) : 1 << 30,
             F(o, n, "route-temp", 1e-6, 1e6), (int)I(o, n, "route-every", 0, 1 << 30), 0, S(o, n, "tokenizer"));
    ens_router_lms(&E, S(o, n, "router-lms"));
    gen_eval_scorer(&scorer, REQ(o, n, "scorer"), E.en.tok);
    dfm = gen_eval_kind(&E, T);
    if (!(x = (int32_t *)malloc((size_t)ns * T * sizeof(int32_t))))
        fail(1, "decar gen-eval: no memory for %d samples of %d tokens\n", ns, T);
    so.temp = F(o, n, "temp", 0.01, 100);
    so.kappa_pow = dfm_schedule(ens_cfg(&E)).kappa_pow;
    so.n_new = T;
    so.top_p = 1.0; /* plain sampling, as the DFM samplers do */
    csv = gen_eval_open(S(o, n, "csv"));
    if (S(o, n, "data"))
        gen_eval_data(csv, S(o, n, "data"), (int)I(o, n, "val-permille", 0, 1000), &scorer, ctx, E.en.tok, T);
    list = strdup(dfm ? S(o, n, "sampler") : "l2r");
    for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) { /* a row per sampler, steps */
        char *steps = strdup(dfm && !strcmp(name, "euler") ? S(o, n, "euler-steps") : "0"), *st, *save2 = NULL;
        so.sampler = dfm ? gen_eval_sampler(name) : DECAR_DFM_L2R;
        for (st = strtok_r(steps, ",", &save2); st; st = strtok_r(NULL, ",", &save2)) {
            double t0 = now_s();
            char *end;
            long v = strtol(st, &end, 10);
            if (*end || v < 0 || v > (1 << 20) || (dfm && so.sampler == DECAR_DFM_EULER && v < 1))
                fail(2, "decar gen-eval: --euler-steps takes step counts from 1 to 2^20, not '%s'\n", st);
            so.n_steps = (int)v;
            gen_eval_samples(&E, ctx, so, dfm, x, ns, T, (uint64_t)I(o, n, "seed", 0, 1L << 62));
            gen_eval_row(csv, S(o, n, "label"), dfm ? name : "ar", so.sampler == DECAR_DFM_EULER ? so.n_steps : T,
                         &scorer, ctx, E.en.tok, x, ns, T, t0);
        }
        free(steps);
    }
    free(list);
    free(x);
    if (csv) fclose(csv);
    decar_gpt_free(&scorer);
    ens_close(&E);
    decar_ctx_free(ctx);
    return 0;
}

/* ---- compare: intervals, paired ratios, seeds and the oracle decomposition from ens-eval --doc-bits ------------ */
typedef struct {
    char *model, *router;
    int topk, seen;   /* seen: the files (seeds) that hold this row */
    double **bits;    /* (seeds) -> (docs) */
    int32_t **choice; /* (seeds) -> (docs) the row's top-1 expert of each document (-1: none) */
} crow;
typedef struct {
    int nseed, ndoc, nrow;
    char **doc, **dom; /* (ndoc) the documents and their domains, in the first file's order */
    double *bytes;     /* (ndoc) */
    crow *row;
} cset;
/* split a CSV line in place into at most max fields (RFC 4180 quotes removed); returns the count */
static int csv_split(char *line, char **f, int max) {
    int n = 0;
    char *r = line, *w;
    line[strcspn(line, "\r\n")] = 0;
    while (n < max) {
        f[n++] = w = r;
        if (*r == '"') { /* a quoted field: "" is one quote */
            for (r++; *r && !(*r == '"' && r[1] != '"'); r++) {
                if (*r == '"') r++;
                *w++ = *r;
            }
            if (*r == '"') r++;
        } else
            while (*r && *r != ',') *w++ = *r++;
        if (*r != ',') {
            *w = 0;
            break;
        }
        r++;
        *w = 0;
    }
    return n;
}
static crow *cset_find(const cset *cs, const char *model, const char *router, int topk) {
    int i;
    for (i = 0; i < cs->nrow; i++)
        if (!strcmp(cs->row[i].model, model) && (!router || !strcmp(cs->row[i].router, router)) &&
            (topk < 0 || cs->row[i].topk == topk))
            return &cs->row[i];
    return NULL;
}
static crow *cset_row(cset *cs, const char *model, const char *router, int topk) {
    crow *r = cset_find(cs, model, router, topk);
    if (r) return r;
    cs->row = (crow *)realloc(cs->row, (size_t)(cs->nrow + 1) * sizeof(crow));
    cs->row[cs->nrow].model = strdup(model);
    cs->row[cs->nrow].router = strdup(router);
    cs->row[cs->nrow].topk = topk;
    cs->row[cs->nrow].seen = 0;
    cs->row[cs->nrow].bits = (double **)calloc((size_t)cs->nseed, sizeof(double *));
    cs->row[cs->nrow].choice = (int32_t **)calloc((size_t)cs->nseed, sizeof(int32_t *));
    return &cs->row[cs->nrow++];
}
/* one document of a row: the first row of the first file lists the documents; every other row of every file must
   list exactly those, in that order (the same --data, --val-permille and --doc-bytes) */
static void cset_doc(cset *cs, crow *r, int s, int at, char **fl, double bits, const char *path, long ln) {
    double bytes = strtod(fl[5], NULL);
    if (s == 0 && r == &cs->row[0]) {
        cs->doc = (char **)realloc(cs->doc, (size_t)(at + 1) * sizeof(char *));
        cs->dom = (char **)realloc(cs->dom, (size_t)(at + 1) * sizeof(char *));
        cs->bytes = (double *)realloc(cs->bytes, (size_t)(at + 1) * sizeof(double));
        cs->doc[at] = strdup(fl[4]);
        cs->dom[at] = strdup(fl[3]);
        cs->bytes[at] = bytes;
        cs->ndoc = at + 1;
    } else if (at >= cs->ndoc || strcmp(cs->doc[at], fl[4]) || cs->bytes[at] != bytes)
        fail(1, "decar compare: %s:%ld: document %d is %s, the first file has %s there: compare needs the same "
                "held-out documents (--data, --val-permille, --doc-bytes)\n",
             path, ln, at, fl[4], at < cs->ndoc ? cs->doc[at] : "none");
    r->bits[s] = (double *)realloc(r->bits[s], (size_t)(at + 1) * sizeof(double));
    r->choice[s] = (int32_t *)realloc(r->choice[s], (size_t)(at + 1) * sizeof(int32_t));
    r->bits[s][at] = bits;
    r->choice[s][at] = atoi(fl[7]);
}
static void cset_read(cset *cs, const char *path, int s) {
    FILE *f = fopen(path, "r");
    char *line = NULL, *fl[8];
    size_t cap = 0;
    long ln = 0;
    crow *cur = NULL;
    int at = 0;
    if (!f) fail(1, "decar compare: cannot read %s\n", path);
    while (getline(&line, &cap, f) > 0) {
        char *end;
        double bits;
        if (ln++ == 0) {
            if (strncmp(line, DOC_BITS_READ, strlen(DOC_BITS_READ))) /* the columns compare reads; more may follow */
                fail(1, "decar compare: %s is not a --doc-bits file (its header does not start %s)\n", path,
                     DOC_BITS_READ);
            continue;
        }
        if (csv_split(line, fl, 8) != 8) fail(1, "decar compare: %s:%ld: expected 8 fields\n", path, ln);
        bits = strtod(fl[6], &end);
        if (*end || end == fl[6] || !(bits >= 0 && bits < 1e300))
            fail(1, "decar compare: %s:%ld: bits '%s' is not a finite number\n", path, ln, fl[6]);
        if (!cur || strcmp(cur->model, fl[0]) || strcmp(cur->router, fl[1]) || cur->topk != atoi(fl[2])) {
            if (cur && at != cs->ndoc)
                fail(1, "decar compare: %s: row %s %s has %d documents, not %d\n", path, cur->model, cur->router, at,
                     cs->ndoc);
            cur = cset_row(cs, fl[0], fl[1], atoi(fl[2]));
            if (cur->seen++ != s)
                fail(1, "decar compare: %s: row %s %s %d appears twice\n", path, fl[0], fl[1], cur->topk);
            at = 0;
        }
        cset_doc(cs, cur, s, at++, fl, bits, path, ln);
    }
    if (cur && at != cs->ndoc)
        fail(1, "decar compare: %s: row %s %s has %d documents, not %d\n", path, cur->model, cur->router, at,
             cs->ndoc);
    if (!cur) fail(1, "decar compare: %s holds no rows\n", path);
    free(line);
    fclose(f);
}
/* one interval over the documents idx (n): est [lo, hi] of sum a / sum b per seed, averaged over the seeds, by
   decar_bootstrap_ratio (b NULL: the bytes, so bits per byte; else a paired ratio to row b), and the per-seed
   ratios' range */
typedef struct {
    double est, lo, hi, smin, smax;
} cstat;
static cstat cset_ci(const cset *cs, const crow *a, const crow *b, const int *idx, int n, int draws, uint64_t seed) {
    double *A = (double *)malloc((size_t)cs->nseed * (size_t)n * sizeof(double) + 1);
    double *Bv = (double *)malloc((size_t)cs->nseed * (size_t)n * sizeof(double) + 1);
    cstat st;
    decar_bootstrap_opts bo = decar_bootstrap_opts_default(); /* alpha 0.05: 95% intervals */
    decar_interval ci;
    decar_error e;
    int sd, i;
    bo.draws = draws;
    bo.seed = seed;
    st.smin = INFINITY;
    st.smax = -INFINITY;
    for (sd = 0; sd < cs->nseed; sd++) {
        double ta = 0.0, tb = 0.0;
        for (i = 0; i < n; i++) {
            A[(size_t)sd * n + i] = a->bits[sd][idx[i]];
            Bv[(size_t)sd * n + i] = b ? b->bits[sd][idx[i]] : cs->bytes[idx[i]];
            ta += A[(size_t)sd * n + i];
            tb += Bv[(size_t)sd * n + i];
        }
        st.smin = fmin(st.smin, ta / tb);
        st.smax = fmax(st.smax, ta / tb);
    }
    if (decar_bootstrap_ratio(A, Bv, n, cs->nseed, &bo, &ci, &e)) die("compare", &e);
    st.est = ci.est;
    st.lo = ci.lo;
    st.hi = ci.hi;
    free(A);
    free(Bv);
    return st;
}
/* the share of documents (over seeds) on which row r's top-1 choice is the oracle's; -1 when either has none */
static double cset_agree(const cset *cs, const crow *r, const int *idx, int n) {
    const crow *o = cset_find(cs, r->model, "oracle", 1);
    int sd, i;
    long hit = 0;
    if (!o || o == r || r->choice[0][idx[0]] < 0) return -1.0;
    for (sd = 0; sd < cs->nseed; sd++)
        for (i = 0; i < n; i++) hit += r->choice[sd][idx[i]] == o->choice[sd][idx[i]];
    return (double)hit / ((double)n * cs->nseed);
}
static int cset_pick(const cset *cs, const char *dom, int *idx) {
    int q, n = 0;
    for (q = 0; q < cs->ndoc; q++)
        if (!dom || !strcmp(cs->dom[q], dom)) idx[n++] = q;
    return n;
}
/* document j is the first of a named domain (so each domain is reported once; "all" is the whole set) */
static int cset_domain_first(const cset *cs, int j) {
    int k;
    for (k = 0; k < j; k++)
        if (!strcmp(cs->dom[k], cs->dom[j])) return 0;
    return strcmp(cs->dom[j], "all") != 0;
}
static void compare_csv(FILE *f, const crow *r, const char *dom, int nseed, int n, cstat b, cstat q, double agree) {
    csv_row_head(f, r->model, r->router, r->topk, dom);
    fprintf(f, ",%d,%d,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.4f\n", nseed, n, b.est, b.lo, b.hi, q.est, q.lo, q.hi,
            q.smin, q.smax, agree);
}
/* the main table: every row's bits per byte and its paired ratio to the reference, over all documents; the CSV
   also gets every domain */
static void compare_table(const cset *cs, const crow *ref, int draws, uint64_t seed, FILE *md, FILE *csv, int domains) {
    int *idx = (int *)malloc((size_t)cs->ndoc * sizeof(int)), i, n = cset_pick(cs, NULL, idx), j;
    fprintf(md, "| model | router | top-k | bits/byte (95%% CI) | / %s (paired 95%% CI) | per-seed ratios | "
                "agrees with the oracle |\n|---|---|---|---|---|---|---|\n",
            ref->model);
    for (i = 0; i < cs->nrow; i++) {
        const crow *r = &cs->row[i];
        cstat b = cset_ci(cs, r, NULL, idx, n, draws, seed), q = cset_ci(cs, r, ref, idx, n, draws, seed);
        double ag = cset_agree(cs, r, idx, n);
        char agree[32] = "-";
        if (ag >= 0) snprintf(agree, sizeof agree, "%.1f%%", 100.0 * ag);
        fprintf(md, "| %s | %s | %d | %.4f (%.4f-%.4f) | %.4f (%.4f-%.4f) | %.4f-%.4f | %s |\n", r->model, r->router,
                r->topk, b.est, b.lo, b.hi, q.est, q.lo, q.hi, q.smin, q.smax, agree);
        if (!csv) continue;
        compare_csv(csv, r, "all", cs->nseed, n, b, q, ag);
        for (j = 0; j < cs->ndoc && domains; j++) { /* each domain once, at its first document */
            int m;
            if (!cset_domain_first(cs, j)) continue;
            m = cset_pick(cs, cs->dom[j], idx);
            compare_csv(csv, r, cs->dom[j], cs->nseed, m, cset_ci(cs, r, NULL, idx, m, draws, seed),
                        cset_ci(cs, r, ref, idx, m, draws, seed), cset_agree(cs, r, idx, m));
        }
        n = cset_pick(cs, NULL, idx);
    }
    free(idx);
}
/* the gap to the reference, split at the oracle: oracle / ref (the experts are weaker or stronger) times
   router / oracle (routing loses), per domain, for every model that has an oracle row and a row of this router */
static void compare_decompose(const cset *cs, const crow *ref, const char *router, int draws, uint64_t seed, FILE *md) {
    int *idx = (int *)malloc((size_t)cs->ndoc * sizeof(int) + 1), i, j;
    fprintf(md, "\n| model | domain | documents | %s bits/byte | experts: oracle / %s | routing: %s / oracle | "
                "total: %s / %s |\n|---|---|---|---|---|---|---|\n",
            ref->model, ref->model, router, router, ref->model);
    for (i = 0; i < cs->nrow; i++) {
        const crow *o = &cs->row[i], *r;
        if (strcmp(o->router, "oracle") || !(r = cset_find(cs, o->model, router, -1))) continue;
        for (j = -1; j < cs->ndoc; j++) { /* j = -1: all documents; then each domain at its first document */
            int n;
            cstat rb, ox, ro, rr;
            if (j >= 0 && !cset_domain_first(cs, j)) continue;
            n = cset_pick(cs, j < 0 ? NULL : cs->dom[j], idx);
            rb = cset_ci(cs, ref, NULL, idx, n, draws, seed);
            ox = cset_ci(cs, o, ref, idx, n, draws, seed);
            ro = cset_ci(cs, r, o, idx, n, draws, seed);
            rr = cset_ci(cs, r, ref, idx, n, draws, seed);
            fprintf(md, "| %s | %s | %d | %.4f | %.4f (%.4f-%.4f) | %.4f (%.4f-%.4f) | %.4f (%.4f-%.4f) |\n", o->model,
                    j < 0 ? "all" : cs->dom[j], n, rb.est, ox.est, ox.lo, ox.hi, ro.est, ro.lo, ro.hi, rr.est, rr.lo,
                    rr.hi);
        }
    }
    free(idx);
}

static int cmd_compare(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "doc-bits", NULL, 0, 0 }, { "ref", "dense", "the reference model's label: ratios are to it", 0 },
                { "decompose", "top1", "router whose gap to the reference is split at the oracle", 0 },
                { "draws", "2000", "bootstrap draws", 0 }, { "seed", "1", 0, 0 }, { "out", NULL, 0, 0 },
                { "csv", NULL, 0, 0 }, { "domains", "1", "1: per-domain breakdown", 0 } };
    /* clang-format on */
    int n = NOPT(o), i;
    char **files;
    cset cs;
    const crow *ref;
    outset os;
    FILE *md = stdout, *csv = NULL;
    parse_opts(argc, argv, o, n, "compare",
               "--doc-bits A.csv,B.csv,.. [--ref dense] [--out table.md] [--csv summary.csv]\n"
               "  e.g. decar compare --doc-bits runs/s1/docs.csv,runs/s2/docs.csv --ref dense-ft --out table.md\n"
               "  one file per seed (ens-eval --doc-bits), all over the same held-out documents");
    memset(&cs, 0, sizeof cs);
    read_list(REQ(o, n, "doc-bits"), "--doc-bits", &files, &cs.nseed);
    if (cs.nseed < 1) fail(2, "decar compare: --doc-bits names no file\n");
    for (i = 0; i < cs.nseed; i++) cset_read(&cs, files[i], i);
    for (i = 0; i < cs.nrow; i++)
        if (cs.row[i].seen != cs.nseed)
            fail(1, "decar compare: row %s %s %d is in %d of the %d files: every seed needs the same rows\n",
                 cs.row[i].model, cs.row[i].router, cs.row[i].topk, cs.row[i].seen, cs.nseed);
    if (!(ref = cset_find(&cs, REQ(o, n, "ref"), NULL, -1)))
        fail(2, "decar compare: no row is labelled '%s' (--ref)\n", S(o, n, "ref"));
    if (S(o, n, "out")) out_file_check("compare", S(o, n, "out"));
    if (S(o, n, "csv")) {
        out_file_check("compare", S(o, n, "csv"));
        csv = csv_append(S(o, n, "csv"), "model,router,topk,domain,seeds,docs,bits_per_byte,bpb_lo,bpb_hi,ratio,"
                                         "ratio_lo,ratio_hi,seed_ratio_min,seed_ratio_max,agree");
    }
    memset(&os, 0, sizeof os);
    if (S(o, n, "out")) md = out_text(&os); /* written whole at the end: a temporary, then rename */
    fprintf(md, "%d held-out documents, %d seed%s; 95%% intervals from %ld bootstrap draws over documents (the same "
                "draws for both sides of a ratio, every seed)\n\n",
            cs.ndoc, cs.nseed, cs.nseed > 1 ? "s (mean of the per-seed values)" : "", I(o, n, "draws", 10, 1000000));
    compare_table(&cs, ref, (int)I(o, n, "draws", 10, 1000000), (uint64_t)I(o, n, "seed", 0, 1L << 62), md, csv,
                  (int)I(o, n, "domains", 0, 1));
    if (I(o, n, "domains", 0, 1))
        compare_decompose(&cs, ref, S(o, n, "decompose"), (int)I(o, n, "draws", 10, 1000000),
                          (uint64_t)I(o, n, "seed", 0, 1L << 62), md);
    if (md != stdout) {
        out_close(&os, S(o, n, "out"));
        out_commit(&os, NULL);
    }
    if (csv) fclose(csv);
    free(files);
    return 0;
}

static int cmd_average(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 }, { "weights", NULL, "comma-separated weights (default uniform)", 0 },
                { "out", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), K, j;
    size_t i;
    ens_t E;
    decar_gpt avg;
    decar_error e;
    double *w;
    parse_opts(argc, argv, o, n, "average", "--experts A,B,.. --out CKPT [--weights w1,w2,..]");
    out_file_check("average", REQ(o, n, "out"));
    ens_open(&E, REQ(o, n, "experts"), NULL, "uniform", 1, 0.1, 0, 0, "");
    K = E.en.k;
    for (j = 0; j < K; j++)
        if (!E.en.experts[j]) fail(2, "decar average: expert %d is missing ('-'): averaging needs every expert\n", j);
    w = (double *)malloc((size_t)K * sizeof(double));
    for (j = 0; j < K; j++) w[j] = 1.0 / K;
    if (S(o, n, "weights")) { /* exactly K finite weights with a positive sum, normalised to sum 1 */
        char **it;
        int nw;
        double sum = 0;
        if (decar_list_parse(S(o, n, "weights"), strlen(S(o, n, "weights")), ',', &it, &nw, &e))
            fail(2, "decar average: --weights: %s\n", e.msg);
        if (nw != K) fail(2, "decar average: %d weights for %d experts\n", nw, K);
        for (j = 0; j < K; j++) {
            char *end;
            w[j] = strtod(it[j], &end);
            if (*end || !isfinite(w[j])) fail(2, "decar average: weight %d '%s' is not a finite number\n", j, it[j]);
            sum += w[j];
        }
        free(it);
        if (!(sum > 0)) fail(2, "decar average: the weights sum to %g: they must sum to a positive number\n", sum);
        for (j = 0; j < K; j++) w[j] /= sum;
    }
    for (j = 1; j < K; j++)
        if (memcmp(&E.models[j].cfg, &E.models[0].cfg, sizeof(decar_gpt_config)))
            fail(2, "decar average: expert %d has another config\n", j);
    if (decar_gpt_init(&avg, &E.models[0].cfg, 0, &e)) die("average", &e);
    avg.tokenizer = E.models[0].tokenizer;
    for (i = 0; i < avg.n_params; i++) {
        double s = 0;
        for (j = 0; j < K; j++) s += w[j] * E.models[j].params[i];
        avg.params[i] = (float)s;
    }
    for (i = 0; i < avg.n_params; i++)
        if (!isfinite(avg.params[i]))
            fail(1, "decar average: the average overflows at parameter %lu\n", (unsigned long)i);
    out_make_dirs();
    if (decar_gpt_save(&avg, REQ(o, n, "out"), NULL, &e)) die("average", &e);
    decar_gpt_free(&avg);
    ens_close(&E);
    free(w);
    return 0;
}

/* ---- plot: SVG of columns of CSV files (training logs by default) ----------------------------------------------- */
/* column index of name in a CSV header line (-1: none) */
static int csv_column(const char *header, const char *name) {
    size_t len = strlen(name);
    const char *p = header;
    int c = 0;
    for (;;) {
        if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == '\n' || p[len] == '\r' || !p[len])) return c;
        if (!(p = csv_next(p))) return -1;
        c++;
    }
}
/* field c of a CSV line as a number in *v (nan and inf as strtod reads them); 1 when the field is missing or is not
   a number */
static int csv_number(const char *line, int c, double *v) {
    const char *p = line;
    char *end;
    while (c-- > 0)
        if (!(p = csv_next(p))) return 1;
    *v = strtod(p, &end);
    return end == p || (*end && *end != ',' && *end != '\n' && *end != '\r');
}
/* The rows of a CSV with a header as points (column x, column y); rows where either is missing or not finite are
   skipped (a training log has no validation loss at most steps). Columns named *_loss are nats (decar train --log)
   and are read as bits. */
static int read_csv_xy_f(FILE *f, const char *path, const char *x, const char *y, series *s) {
    char *line = NULL;
    size_t cap = 0;
    int rows = 0, cx, cy;
    s->name = path;
    cx = read_line(f, &line, &cap) ? csv_column(line, x) : -1;
    cy = cx >= 0 ? csv_column(line, y) : -1;
    if (cx < 0 || cy < 0) {
        fclose(f);
        free(line);
        fprintf(stderr, "decar plot: %s has no header with columns %s and %s\n", path, x, y);
        return 1;
    }
    while (read_line(f, &line, &cap)) {
        double vx, vy;
        rows++;
        if (csv_number(line, cx, &vx) || csv_number(line, cy, &vy)) {
            fclose(f);
            free(line);
            fprintf(stderr, "decar plot: %s line %d has no number in column %s or %s\n", path, rows + 1, x, y);
            return 1;
        }
        if (!isfinite(vx) || !isfinite(vy)) continue;
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 256;
            s->x = (double *)realloc(s->x, (size_t)s->cap * 8);
            s->y = (double *)realloc(s->y, (size_t)s->cap * 8);
            if (!s->x || !s->y) {
                fprintf(stderr, "decar plot: no memory\n");
                fclose(f);
                free(line);
                return 1;
            }
        }
        s->x[s->n] = vx;
        s->y[s->n] = strlen(y) > 5 && !strcmp(y + strlen(y) - 5, "_loss") ? vy / log(2.0) : vy;
        s->n++;
    }
    fclose(f);
    free(line);
    return 0;
}
/* read_csv_xy_f on the file at path (the CSV reader takes a stream: tests/fuzz/fuzz_csv.c gives it memory) */
static int read_csv_xy(const char *path, const char *x, const char *y, series *s) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "decar plot: cannot read %s\n", path);
        return 1;
    }
    return read_csv_xy_f(f, path, x, y, s);
}
/* the axes of decar plot from its options: titles default to a training-log plot, or to the column names */
static plot_axes plot_axes_of(opt *o, int n) {
    plot_axes ax;
    int logs = !strcmp(S(o, n, "x"), "tokens") && !strcmp(S(o, n, "y"), "val_loss");
    const char *title =
        logs ? "validation loss vs training tokens (each model's own held-out documents)" : S(o, n, "y");
    ax.title = S(o, n, "title") ? S(o, n, "title") : title;
    ax.xlabel = S(o, n, "xlabel") ? S(o, n, "xlabel") : logs ? "training tokens" : S(o, n, "x");
    ax.ylabel = S(o, n, "ylabel") ? S(o, n, "ylabel") : logs ? "validation loss (bits per token)" : S(o, n, "y");
    ax.logx = (int)I(o, n, "logx", 0, 1);
    ax.colors = (int)I(o, n, "colors", 1, 10);
    ax.has_hline = S(o, n, "hline") != NULL;
    ax.hline = ax.has_hline ? F(o, n, "hline", -1e30, 1e30) : 0;
    return ax;
}
/* --band LO,HI: the two columns read like y, point by point beside it (the same rows must be finite in all three) */
static void plot_band(const char *file, const char *x, const char *y, const char *band, series *s) {
    series lo, hi;
    char name[2][256];
    const char *comma = strchr(band, ',');
    int k;
    if (!comma || comma == band || !comma[1] || (size_t)(comma - band) >= sizeof name[0] || strlen(comma) > 256)
        fail(2, "decar plot: --band must be two column names LO,HI, not '%s'\n", band);
    if (strlen(y) > 5 && !strcmp(y + strlen(y) - 5, "_loss")) /* y would be drawn in bits, the band in its units */
        fail(2, "decar plot: --band with a *_loss column as y is not supported\n");
    snprintf(name[0], sizeof name[0], "%.*s", (int)(comma - band), band);
    snprintf(name[1], sizeof name[1], "%s", comma + 1);
    memset(&lo, 0, sizeof lo);
    memset(&hi, 0, sizeof hi);
    if (read_csv_xy(file, x, name[0], &lo) || read_csv_xy(file, x, name[1], &hi)) exit(1);
    if (lo.n != s->n || hi.n != s->n)
        fail(1, "decar plot: %s: the band's columns have other rows than the line's\n", file);
    for (k = 0; k < s->n; k++)
        if (lo.x[k] != s->x[k] || hi.x[k] != s->x[k] || !(lo.y[k] <= hi.y[k]))
            fail(1, "decar plot: %s: row %d's band is not an interval at the line's x\n", file, k + 1);
    s->lo = lo.y;
    s->hi = hi.y;
    free(lo.x);
    free(hi.x);
}
static int cmd_plot(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "out", NULL, 0, 0 },
                { "labels", NULL, "what each line is, in the order of the CSVs (default: the file names)", 0 },
                { "x", "tokens", "the x column of every CSV (a header name)", 0 },
                { "y", "val_loss", "the y column (a *_loss column is nats, drawn in bits)", 0 },
                { "logx", "0", "1: logarithmic x axis", 0 },
                { "hline", NULL, "a dashed horizontal reference line at this y", 0 },
                { "colors", "10", "colours cycled (1-10); later cycles: dashed, solid; squares from the 3rd", 0 },
                { "title", NULL, "the plot's title", 0 }, { "xlabel", NULL, "the x axis title", 0 },
                { "ylabel", NULL, "the y axis title", 0 },
                { "band", NULL, "two columns LO,HI drawn as a shaded band around each line (an interval)", 0 } };
    /* clang-format on */
    int n = NOPT(o), i, k, nf = 0, no = 0, n_labels = 0;
    char **opts = (char **)calloc((size_t)argc + 1, sizeof(char *));
    char **files = (char **)calloc((size_t)argc + 1, sizeof(char *));
    char **labels = NULL;
    series *sr = (series *)calloc((size_t)argc + 1, sizeof(series));
    plot_axes ax;
    outset os;
    memset(&os, 0, sizeof os);
    for (i = 0; i < argc; i++) { /* options (with their values) apart from the CSV files */
        int is_opt = !strncmp(argv[i], "--", 2) || !strcmp(argv[i], "-h");
        if (is_opt) opts[no++] = argv[i];
        if (is_opt && i + 1 < argc && strcmp(argv[i], "--help") && strcmp(argv[i], "-h")) opts[no++] = argv[++i];
        if (!is_opt) files[nf++] = argv[i];
    }
    parse_opts(no, opts, o, n, "plot",
               "--out FILE.svg [options] A.csv [B.csv ...]\nOne line per CSV: column --y "
               "against column --x. By default the CSVs are training logs (decar train --log) and the plot is "
               "validation loss (bits per token) against training tokens.");
    out_file_check("plot", REQ(o, n, "out"));
    if (!nf) fail(2, "decar plot: need at least one CSV to plot (see --help)\n");
    if (S(o, n, "labels")) {
        decar_error e;
        if (decar_list_parse(S(o, n, "labels"), strlen(S(o, n, "labels")), ',', &labels, &n_labels, &e))
            fail(2, "decar plot: --labels: %s\n", e.msg);
        if (n_labels != nf) fail(2, "decar plot: %d labels for %d CSVs\n", n_labels, nf);
    }
    for (i = 0, k = 0; i < nf; i++) {
        const char *base = strrchr(files[i], '/');
        if (read_csv_xy(files[i], S(o, n, "x"), S(o, n, "y"), &sr[i])) return 1;
        sr[i].name = labels ? labels[i] : base ? base + 1 : files[i];
        k += sr[i].n;
        if (S(o, n, "band")) plot_band(files[i], S(o, n, "x"), S(o, n, "y"), S(o, n, "band"), &sr[i]);
    }
    if (!k)
        fail(1, "decar plot: the CSVs hold no finite (%s, %s) (train with --val-every N)\n", S(o, n, "x"),
             S(o, n, "y"));
    ax = plot_axes_of(o, n);
    for (i = 0; ax.logx && i < nf; i++)
        for (k = 0; k < sr[i].n; k++)
            if (!(sr[i].x[k] > 0)) fail(2, "decar plot: --logx 1 but %s has x = %g\n", files[i], sr[i].x[k]);
    svg_plot(out_text(&os), sr, nf, &ax);
    out_close(&os, REQ(o, n, "out"));
    out_commit(&os, NULL);
    for (i = 0; i < nf; i++) {
        free(sr[i].x);
        free(sr[i].y);
        free(sr[i].lo);
        free(sr[i].hi);
    }
    free(sr);
    free(labels);
    free(opts);
    free(files);
    return 0;
}

/* ---- vision: image-conditioned experts (LLaVA-style prefix) ----------------------------------------------------
   Data: a directory with images_32x32_u8.bin (n x 32 x 32 bytes), captions.txt (n lines, LF or CRLF), and optional
   labels.txt (the script of each image; at most 32 names) and meta.tsv (index, codepoint, char, label, font,
   caption). Held-out rule (decar_images_split, font as the group, at least 20 test images per script): of the
   images that share a caption, the one of least hash(font, caption) is a test image (an unseen rendering of a seen
   character); a script left with fewer than 20 gets hash-chosen images (unseen characters). Features for
   clustering and routing: the image's pixels, centered by the training mean, through a seeded random Gaussian
   projection to dim, L2-normalised (raw-pixel features: no encoder to train first, and the router is one matrix-vector
   product; a random projection keeps cosines like PCA would without an eigen-solver). */
#define VSIDE 32
#define VPATCH 8
typedef struct {
    decar_images im;
    int *label, *test, n_labels;
    char names[32][32];
    float *feat;
    int P, Dp;
} vdata;
/* the prefix of image i: its 16 patches of 8x8 pixels, or (--features) P vectors of Dp floats from an encoder */
static void vprefix(const vdata *v, int i, float *out) {
    if (v->feat)
        memcpy(out, v->feat + (size_t)i * v->P * v->Dp, (size_t)v->P * v->Dp * sizeof(float));
    else
        decar_image_patches(v->im.pixels + (size_t)i * VSIDE * VSIDE, VSIDE, VPATCH, out);
}
/* --prefix-features F.npy --prefix-len P: one row per image, P * Dp columns (e.g. CLIP features, P = 1) */
static void vdata_features(vdata *v, const char *path, int P) {
    void *buf;
    size_t len;
    decar_error e;
    int64_t rows, cols;
    v->P = (VSIDE / VPATCH) * (VSIDE / VPATCH);
    v->Dp = VPATCH * VPATCH;
    if (!path) return;
    if (decar_read_file(path, &buf, &len, &e) || decar_npy_parse(buf, len, &v->feat, &rows, &cols, &e))
        die("image features", &e);
    free(buf);
    if (rows != v->im.n || P < 1 || cols % P) {
        fprintf(stderr,
                "decar: %s is (%lld, %lld): need one row per image (%d) and columns divisible by --prefix-len %d\n",
                path, (long long)rows, (long long)cols, v->im.n, P);
        exit(1);
    }
    v->P = P;
    v->Dp = (int)(cols / P);
}
static void vdata_load(vdata *v, const char *dir) {
    char p1[4096], p2[4096];
    decar_error e;
    FILE *f;
    int i, n;
    char *line = NULL;
    size_t cap = 0;
    char **font;
    snprintf(p1, sizeof p1, "%s/images_32x32_u8.bin", dir);
    snprintf(p2, sizeof p2, "%s/captions.txt", dir);
    if (decar_images_load(&v->im, p1, p2, VSIDE, &e)) die("images", &e);
    n = v->im.n;
    v->label = (int *)calloc((size_t)n, sizeof(int));
    v->test = (int *)calloc((size_t)n, sizeof(int));
    v->n_labels = 0;
    font = (char **)calloc((size_t)n, sizeof(char *));
    snprintf(p1, sizeof p1, "%s/labels.txt", dir);
    if ((f = fopen(p1, "r"))) {
        for (i = 0; i < n && read_line(f, &line, &cap); i++) {
            int j;
            line[strcspn(line, "\n")] = 0;
            for (j = 0; j < v->n_labels; j++)
                if (!strcmp(v->names[j], line)) break;
            if (j == 32) {
                fprintf(stderr, "decar: %s names more than 32 scripts (labels)\n", p1);
                exit(1);
            }
            if (j == v->n_labels) {
                snprintf(v->names[j], 32, "%.31s", line);
                v->n_labels++;
            }
            v->label[i] = j;
        }
        fclose(f);
        if (i != n) {
            fprintf(stderr, "decar: %s has %d lines for %d images\n", p1, i, n);
            exit(1);
        }
    } else {
        v->n_labels = 1;
        strcpy(v->names[0], "all");
    }
    snprintf(p1, sizeof p1, "%s/meta.tsv", dir);
    if ((f = fopen(p1, "r"))) { /* font column */
        read_line(f, &line, &cap); /* the header */
        while (read_line(f, &line, &cap)) {
            int idx = atoi(line), c = 0;
            char *s = line, *t;
            while (c < 4 && (s = strchr(s, '\t'))) {
                s++;
                c++;
            }
            if (!s || idx < 0 || idx >= n) continue;
            t = strchr(s, '\t');
            if (t) *t = 0;
            free(font[idx]); /* a repeated index: the last row wins */
            font[idx] = strdup(s);
        }
        fclose(f);
    }
    free(line);
    if (decar_images_split(&v->im, (const char *const *)font, v->label, v->n_labels, 20, v->test, &e))
        die("held-out split", &e);
    for (i = 0; i < n; i++) free(font[i]);
    free(font);
}
/* a subset file: one image index per line, each in [0, n) */
static int read_indices(const char *path, int n, int **out) {
    void *buf;
    size_t len;
    char **it;
    int m, i;
    decar_error e;
    if (decar_read_file(path, &buf, &len, &e) || decar_list_parse((const char *)buf, len, '\n', &it, &m, &e))
        die("subset", &e);
    free(buf);
    *out = (int *)malloc((size_t)m * sizeof(int));
    for (i = 0; i < m; i++) {
        char *end;
        long x = strtol(it[i], &end, 10);
        if (*end || x < 0 || x >= n) {
            fprintf(stderr, "decar: %s line %d: '%s' is not an image index in [0, %d)\n", path, i + 1, it[i], n);
            exit(1);
        }
        (*out)[i] = (int)x;
    }
    free(it);
    return m;
}
/* a batch of captions: ids [EOT cap...] targets [cap... EOT], padded with -1 to the longest in the batch */
static int vbatch(const vdata *v, const int *idx, int B, int32_t *ids, int32_t *tg, float *pre, int Tmax) {
    int b, T = 2;
    for (b = 0; b < B; b++) {
        int L = (int)strlen(v->im.captions[idx[b]]) + 1;
        if (L > T) T = L;
    }
    if (T > Tmax) T = Tmax;
    decar_caption_rows((const char *const *)v->im.captions, idx, B, T, ids, tg);
    for (b = 0; b < B; b++) vprefix(v, idx[b], pre + (size_t)b * v->P * v->Dp);
    return T;
}

/* vrouter.safetensors (centroids, prior, the pixel mean), shard_j.txt (training image indices) and random_j.txt (a
   random split of the same sizes) */
/* routing by external features (decar vcluster --features, decar caption --route-features): image `row`'s row of X */
typedef struct {
    float *X;
    int64_t rows, cols;
    int row;
} vrow_feat;
static int vrow_feature(void *user, const uint8_t *text, int64_t len, float *out) {
    vrow_feat *f = (vrow_feat *)user;
    (void)text;
    (void)len;
    if (f->row < 0 || f->row >= f->rows) return DECAR_ERR_ARG;
    memcpy(out, f->X + (size_t)f->row * f->cols, (size_t)f->cols * sizeof(float));
    return DECAR_OK;
}
/* a .npy of one row per image, its rows L2-normalised (as the router's k-means saw them) */
static void vrow_load(vrow_feat *f, const char *path, int n_images) {
    void *buf;
    size_t len;
    decar_error e;
    int64_t i;
    memset(f, 0, sizeof *f);
    if (decar_read_file(path, &buf, &len, &e) || decar_npy_parse(buf, len, &f->X, &f->rows, &f->cols, &e))
        die(path, &e);
    free(buf);
    if (f->rows != n_images || f->cols < 1 || f->cols > 65536)
        fail(1, "decar: %s is (%lld, %lld): need one row per image (%d)\n", path, (long long)f->rows,
             (long long)f->cols, n_images);
    for (i = 0; i < f->rows; i++) decar_l2_normalize(f->X + i * f->cols, (int)f->cols);
}
static void write_vshards(outset *os, const char *out, const vdata *v, const decar_router *rt, const float *mean,
                          uint64_t seed, const int *lab, int external) {
    int K = rt->k, dim = rt->d, i, j;
    const float *C = rt->centroids;
    decar_error e;
    char path[4096];
    { /* router file: centroids, prior, the pixel mean; shards of training image indices; a random split of equal sizes
       */
        decar_st_tensor t[5];
        void *buf;
        size_t len;
        char meta[256];
        int learned = rt->clf_w && rt->clf_b; /* R5's classifier, when decar_router_fit made one */
        int *sz = (int *)calloc((size_t)K, sizeof(int)), *perm, pos = 0;
        decar_rng r;
        for (i = 0; i < v->im.n; i++)
            if (!v->test[i]) {
                sz[lab[i]]++;
            }
        t[0] = decar_st_tensor_of("centroids", K, dim, C);
        t[1] = decar_st_tensor_of("prior", K, 0, rt->prior);
        t[2] = decar_st_tensor_of("pixel_mean", VSIDE * VSIDE, 0, mean);
        t[3] = decar_st_tensor_of("clf_w", K, dim, rt->clf_w);
        t[4] = decar_st_tensor_of("clf_b", K, 0, rt->clf_b);
        snprintf(meta, sizeof meta,
                 "\"k\":\"%d\",\"dim\":\"%d\",\"feat_seed\":\"%llu\",\"features\":\"%s\",\"learned\":\"%d\"", K, dim,
                 (unsigned long long)seed, external ? "external" : "pixels", learned);
        snprintf(path, sizeof path, "%s/vrouter.safetensors", out);
        if (decar_st_save_mem(t, learned ? 5 : 3, meta, &buf, &len, &e)) die("router", &e);
        out_add(os, path, buf, len);
        perm = (int *)malloc((size_t)v->im.n * sizeof(int));
        decar_rng_seed(&r, 99);
        for (i = 0; i < v->im.n; i++) perm[i] = i;
        for (i = v->im.n - 1; i > 0; i--) {
            int q = (int)(decar_rng_u32(&r) % (uint32_t)(i + 1)), x = perm[i];
            perm[i] = perm[q];
            perm[q] = x;
        }
        for (j = 0; j < K; j++) {
            int q, c = 0;
            FILE *f = out_text(os);
            for (i = 0; i < v->im.n; i++)
                if (!v->test[i] && lab[i] == j) fprintf(f, "%d\n", i);
            snprintf(path, sizeof path, "%s/shard_%d.txt", out, j);
            out_close(os, path);
            f = out_text(os);
            for (q = pos; q < v->im.n && c < sz[j]; q++)
                if (!v->test[perm[q]]) {
                    fprintf(f, "%d\n", perm[q]);
                    c++;
                }
            pos = q;
            snprintf(path, sizeof path, "%s/random_%d.txt", out, j);
            out_close(os, path);
        }
        free(sz);
        free(perm);
    }
}
/* the raw-pixel projection (VSIDE^2, dim), drawn once from its seed (decar_pixel_projection) */
static float *vprojection(int dim, uint64_t seed) {
    float *rt = (float *)malloc((size_t)VSIDE * VSIDE * dim * 4);
    if (!rt) fail(1, "decar: out of memory for a %d-dimensional pixel projection\n", dim);
    decar_pixel_projection(rt, VSIDE * VSIDE, dim, seed);
    return rt;
}
/* the images of one part of the split (held_out: test != 0; else the training images), in order: their indices into
   idx and, when X is given, their rows of X (n, d) into rows (either may be NULL); returns how many there are */
static int vpart(const vdata *v, int held_out, const float *X, int64_t d, float *rows, int *idx) {
    int i, m = 0;
    for (i = 0; i < v->im.n; i++) {
        if ((v->test[i] != 0) != (held_out != 0)) continue;
        if (idx) idx[m] = i;
        if (X && rows) memcpy(rows + (size_t)m * d, X + (size_t)i * d, (size_t)d * sizeof(float));
        m++;
    }
    return m;
}
/* raw-pixel features of every image (X) and of the training images (Xt), centred by the training images' mean;
   returns the number of training images */
static int vfeatures(const vdata *v, int dim, uint64_t seed, float **mean_out, float **X_out, float **Xt_out) {
    int i, nt = 0;
    float *mean, *X, *Xt, *rt;
    mean = (float *)calloc(VSIDE * VSIDE, 4);
    for (i = 0; i < v->im.n; i++)
        if (!v->test[i]) {
            int p;
            nt++;
            for (p = 0; p < VSIDE * VSIDE; p++) mean[p] += v->im.pixels[(size_t)i * VSIDE * VSIDE + p] / 255.0f;
        }
    for (i = 0; i < VSIDE * VSIDE; i++) mean[i] /= nt > 0 ? nt : 1;
    X = (float *)malloc((size_t)v->im.n * dim * 4);
    Xt = (float *)malloc((size_t)nt * dim * 4);
    rt = vprojection(dim, seed);
    for (i = 0; i < v->im.n; i++)
        decar_pixel_features(v->im.pixels + (size_t)i * VSIDE * VSIDE, VSIDE * VSIDE, mean, dim, rt,
                             X + (size_t)i * dim);
    vpart(v, 0, X, dim, Xt, NULL);
    free(rt);
    *mean_out = mean;
    *X_out = X;
    *Xt_out = Xt;
    return nt;
}
/* vclusters.txt and the summary line: purity and NMI of the image clusters against the scripts */
/* --features F.npy: one row per image (an encoder's embeddings, decar clip --embed), L2-normalised; the pixel
   mean of the router file is zeros (unused) */
static int vfeatures_ext(const vdata *v, const char *path, int *dim, float **mean_out, float **X_out, float **Xt_out) {
    vrow_feat f;
    int nt;
    vrow_load(&f, path, v->im.n);
    *dim = (int)f.cols;
    *mean_out = (float *)calloc(VSIDE * VSIDE, 4);
    *Xt_out = (float *)malloc((size_t)v->im.n * f.cols * 4);
    nt = vpart(v, 0, f.X, f.cols, *Xt_out, NULL);
    *X_out = f.X;
    return nt;
}
static void write_vstats(outset *os, const char *out, const vdata *v, const int *lab, int K) {
    int i, j;
    char path[4096];
    {
        double pur, v2 = decar_nmi(lab, v->label, v->im.n, K, v->n_labels, &pur);
        int tests[3] = { 0, 0, 0 };
        for (i = 0; i < v->im.n; i++) tests[v->test[i]]++;
        printf("vision clusters: K=%d purity %.4f NMI %.4f against %d scripts; %d train, %d test (%d unseen "
               "renderings, %d unseen characters)\n",
               K, pur, v2, v->n_labels, tests[0], tests[1] + tests[2], tests[1], tests[2]);
        {
            FILE *f = out_text(os);
            int *cnt = (int *)calloc((size_t)K * v->n_labels, sizeof(int));
            fprintf(f, "purity %.4f nmi %.4f\ncluster", pur, v2);
            for (j = 0; j < v->n_labels; j++) fprintf(f, " %s", v->names[j]);
            fprintf(f, "\n");
            for (i = 0; i < v->im.n; i++) cnt[lab[i] * v->n_labels + v->label[i]]++;
            for (i = 0; i < K; i++) {
                fprintf(f, "%d", i);
                for (j = 0; j < v->n_labels; j++) fprintf(f, " %d", cnt[i * v->n_labels + j]);
                fprintf(f, "\n");
            }
            snprintf(path, sizeof path, "%s/vclusters.txt", out);
            out_close(os, path);
            free(cnt);
        }
        out_commit(os, out);
    }
}
static int cmd_vcluster(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "images", NULL, 0, 0 }, { "out", NULL, 0, 0 }, { "k", "4", 0, 0 }, { "feat-dim", "64", 0, 0 },
                { "seed", "1", 0, 0 }, { "iters", "30", 0, 0 }, { "features", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), K, dim, i, *lab;
    vdata v;
    float *mean, *X, *Xt;
    decar_kmeans_opts ko;
    decar_router rt;
    decar_error e;
    uint64_t seed;
    const char *out;
    outset os;
    memset(&os, 0, sizeof os);
    parse_opts(argc, argv, o, n, "vcluster", "--images DIR --out DIR [--k K]");
    K = (int)I(o, n, "k", 1, 1 << 20);
    dim = (int)I(o, n, "feat-dim", 1, 4096);
    seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
    out = REQ(o, n, "out");
    out_dir_check("vcluster", out);
    memset(&v, 0, sizeof v);
    vdata_load(&v, REQ(o, n, "images"));
    int nt = S(o, n, "features") ? vfeatures_ext(&v, S(o, n, "features"), &dim, &mean, &X, &Xt)
                                 : vfeatures(&v, dim, seed, &mean, &X, &Xt);
    ko = decar_kmeans_default(K);
    ko.iters = (int)I(o, n, "iters", 1, 10000);
    ko.seed = seed;
    if (decar_router_build(&rt, Xt, nt, dim, &ko, NULL, &e)) die("vcluster", &e);
    lab = (int *)malloc((size_t)v.im.n * sizeof(int));
    for (i = 0; i < v.im.n; i++) lab[i] = decar_router_assign(&rt, X + (size_t)i * dim);
    { /* R5, the learned router: softmax regression of the training images' features onto their shards */
        int32_t *yt = (int32_t *)malloc((size_t)nt * sizeof(int32_t) + 4);
        int j = 0;
        double acc = 0;
        for (i = 0; i < v.im.n; i++)
            if (!v.test[i]) yt[j++] = lab[i];
        if (decar_router_fit(&rt, Xt, yt, nt, 200, 0.05f, &acc, &e)) die("learned router", &e);
        fprintf(stderr, "R5 (learned router): training accuracy %.3f\n", acc);
        free(yt);
    }
    write_vshards(&os, out, &v, &rt, mean, seed, lab, S(o, n, "features") != NULL);
    write_vstats(&os, out, &v, lab, K);
    free(mean);
    free(X);
    free(Xt);
    decar_router_free(&rt);
    free(lab);
    return 0;
}

/* steps of B random training images (of idx[m]) as [prefix, EOT caption] -> [caption EOT], with progress and log */
static void vtrain_loop(decar_gpt *g, decar_ctx *ctx, const decar_opt *op, const vdata *v, const int *idx, int m, int B,
                        int steps, int Tmax, uint64_t seed, FILE *logf, int verbose) {
    int32_t *ids = (int32_t *)malloc((size_t)B * Tmax * 4), *tg = (int32_t *)malloc((size_t)B * Tmax * 4);
    float *pre = (float *)malloc((size_t)B * v->P * v->Dp * 4), *pick_pre = pre;
    int *pick = (int *)malloc((size_t)B * sizeof(int)), s;
    double t0 = now_s(), last = 0, ema = -1;
    decar_rng r;
    decar_rng_seed(&r, seed ^ 0x1a6e);
    for (s = 0; s < steps; s++) {
        int T;
        float loss;
        int b;
        for (b = 0; b < B; b++) pick[b] = idx[decar_rng_u32(&r) % (uint32_t)m];
        T = vbatch(v, pick, B, ids, tg, pick_pre, Tmax);
        loss = decar_gpt_train_step_prefix(g, ctx, op, pre, ids, tg, NULL, B, T);
        if (loss != loss) fail(1, "decar vtrain: %s\n", decar_ctx_error(ctx));
        ema = ema < 0 ? loss : 0.95 * ema + 0.05 * loss;
        if (verbose && (now_s() - t0 - last > 1 || s + 1 == steps)) {
            char eta[32];
            fmt_eta((now_s() - t0) / (s + 1) * (steps - s - 1), eta);
            last = now_s() - t0;
            fprintf(stderr, "\rstep %5d/%d | loss %.4f | %5.1f img/s | %s left  ", s + 1, steps, ema,
                    (s + 1) * B / (now_s() - t0), eta);
        }
        if (logf && ((s + 1) % (steps / 10 > 0 ? steps / 10 : 1) == 0))
            fprintf(logf, "%d,%d,%.5f,%.5f,%.2f\n", s + 1, (s + 1) * B, ema, ema, now_s() - t0);
    }
    free(ids);
    free(tg);
    free(pre);
    free(pick);
}
/* the captioner decar vtrain trains: a new one of config c, or --init's weights (a base captioner fine-tuned, as the
   text pipeline's experts branch from a base model) with a fresh optimizer; --init must read the same image input */
static void vtrain_model(decar_gpt *g, const decar_gpt_config *c, const char *init, uint64_t seed, int B) {
    decar_error e;
    decar_rng r;
    if (!init) {
        if (decar_gpt_check_config(c, &e)) fail(2, "decar vtrain: %s\n", e.msg);
        memory_check("vtrain", c, B, c->seq_len);
        if (decar_gpt_init(g, c, seed, &e)) die("init", &e);
        return;
    }
    load_model(g, init);
    if (g->qtype) fail(2, "decar vtrain: --init %s is quantized: start from the float checkpoint\n", init);
    if (!g->cfg.causal || g->cfg.n_prefix != c->n_prefix || g->cfg.d_prefix != c->d_prefix ||
        g->cfg.seq_len < c->seq_len || g->cfg.vocab_size != DECAR_BYTE_VOCAB)
        fail(2,
             "decar vtrain: --init %s is not a captioner of a %d x %d image prefix (train the base with decar "
             "vtrain and the same --prefix-features and --prefix-len)\n",
             init, c->n_prefix, c->d_prefix);
    memory_check("vtrain", &g->cfg, B, c->seq_len);
    fresh_optimizer(g);
    decar_rng_seed(&r, seed);
    g->rng_state = r.s;
}
static int cmd_vtrain(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "images", NULL, 0, 0 },
                { "subset", NULL, "file of training image indices (default: every training image)", 0 },
                { "out", "captioner.safetensors", 0, 0 }, { "steps", "1000", 0, 0 }, { "batch", "32", 0, 0 },
                { "layers", "3", 0, 0 }, { "heads", "4", 0, 0 }, { "dim", "128", 0, 0 },
                { "proj", "mlp", "projector: mlp (LLaVA-1.5) or linear", 0 }, { "lr", "2e-3", 0, 0 },
                { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 }, { "precision", "fp32", 0, 0 },
                { "log", NULL, 0, 0 }, { "quiet", "0", 0, 0 },
                { "prefix-features", NULL, 0, 0 }, { "prefix-len", "1", 0, 0 }, { "init", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), *idx, m, i, B, steps, Tmax = 100;
    vdata v;
    decar_gpt g;
    decar_gpt_config c = decar_gpt_default_config();
    decar_error e;
    decar_opt op = decar_opt_default();
    decar_ctx *ctx = decar_ctx_new(0);
    FILE *logf = NULL;
    parse_opts(argc, argv, o, n, "vtrain", "--images DIR [--subset FILE] [options]");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    precision_opt(o, n);
    out_file_check("vtrain", REQ(o, n, "out"));
    if (S(o, n, "log")) out_file_check("vtrain", S(o, n, "log"));
    memset(&v, 0, sizeof v);
    vdata_load(&v, REQ(o, n, "images"));
    vdata_features(&v, S(o, n, "prefix-features"), (int)I(o, n, "prefix-len", 1, 4096));
    if (S(o, n, "subset"))
        m = read_indices(S(o, n, "subset"), v.im.n, &idx);
    else {
        idx = (int *)malloc((size_t)v.im.n * sizeof(int));
        for (i = 0, m = 0; i < v.im.n; i++)
            if (!v.test[i]) idx[m++] = i;
    }
    if (m == 0) fail(1, "decar vtrain: no training images\n");
    B = (int)I(o, n, "batch", 1, 4096);
    steps = (int)I(o, n, "steps", 0, 100000000);
    c.n_layer = (int)I(o, n, "layers", 1, 64);
    c.n_head = (int)I(o, n, "heads", 1, 1024);
    c.d_model = (int)I(o, n, "dim", 1, 65536);
    c.n_prefix = v.P;
    c.d_prefix = v.Dp;
    c.seq_len = c.n_prefix + Tmax;
    c.d_proj_hidden = !strcmp(S(o, n, "proj"), "mlp") ? c.d_model : 0;
    vtrain_model(&g, &c, S(o, n, "init"), (uint64_t)I(o, n, "seed", 0, 1L << 62), B);
    op.lr = (float)F(o, n, "lr", 0, 10);
    op.total_steps = steps;
    op.warmup_steps = steps / 20 > 0 ? steps / 20 : 1;
    op.min_lr = op.lr / 10;
    out_make_dirs(); /* the images and the model are known good: now the output folders */
    if (S(o, n, "log")) {
        logf = fopen(S(o, n, "log"), "w");
        if (logf) fprintf(logf, "step,tokens,train_loss,val_loss,seconds\n");
    }
    vtrain_loop(&g, ctx, &op, &v, idx, m, B, steps, Tmax, (uint64_t)I(o, n, "seed", 0, 1L << 62), logf,
                !strcmp(S(o, n, "quiet"), "0"));
    if (logf) fclose(logf);
    out_make_dirs();
    if (decar_gpt_save(&g, REQ(o, n, "out"), "\"task\":\"caption\"", &e)) die("save", &e);
    if (!strcmp(S(o, n, "quiet"), "0")) fprintf(stderr, "\n");
    printf("saved %s: %lu params, %d steps of %d images\n", S(o, n, "out"), (unsigned long)g.n_params, steps, B);
    free(idx);
    decar_gpt_free(&g);
    decar_ctx_free(ctx);
    decar_images_free(&v.im);
    return 0;
}

/* the vision router file (decar vcluster): centroids (K, dim), prior (K), pixel_mean (side^2); the image
   featurizer reads the pixels of the image being captioned (pf->image) through the featurizer interface */
/* the router of decar vcluster: centroids, prior, and what it routes by: pixel features (the pixel mean and the
   projection's seed) or external features (rf: --route-features, the features it was clustered from) */
static void vrouter_load(ens_t *E, const char *path, decar_pixel_featurizer *pf, float **mean, vrow_feat *rf) {
    void *buf;
    size_t len;
    decar_error e;
    char vv[64], ext[16];
    int K = E->en.k, dim, external;
    if (decar_read_file(path, &buf, &len, &e)) die("router", &e);
    if (decar_meta_get(buf, len, "dim", vv, sizeof vv) || (dim = atoi(vv)) < 1 || dim > 65536 ||
        decar_meta_get(buf, len, "feat_seed", vv, sizeof vv)) {
        fprintf(stderr, "decar caption: %s is not a vision router file (decar vcluster writes one)\n", path);
        exit(1);
    }
    external = decar_meta_get(buf, len, "features", ext, sizeof ext) == 0 && !strcmp(ext, "external");
    if (external && (!rf->X || rf->cols != dim))
        fail(2,
             "decar caption: %s routes by the features it was clustered from: give them with --route-features "
             "(%d columns)\n",
             path, dim);
    if (!external && rf->X)
        fail(2, "decar caption: %s routes by pixel features: --route-features does not apply\n", path);
    if ((size_t)K * dim * 4 > len) {
        fprintf(stderr, "decar caption: %s cannot hold %d centroids of dimension %d (does its K match the experts?)\n",
                path, K, dim);
        exit(1);
    }
    E->en.router.centroids = (float *)malloc((size_t)K * dim * 4);
    E->en.router.prior = (float *)malloc((size_t)K * 4);
    *mean = (float *)malloc(VSIDE * VSIDE * 4);
    if (decar_st_get(buf, len, "centroids", E->en.router.centroids, (int64_t)K * dim, &e) ||
        decar_st_get(buf, len, "pixel_mean", *mean, VSIDE * VSIDE, &e) ||
        decar_st_get(buf, len, "prior", E->en.router.prior, K, &e))
        die("router (does its K match the experts?)", &e);
    if (decar_meta_get(buf, len, "learned", ext, sizeof ext) == 0 && !strcmp(ext, "1")) { /* R5's classifier */
        E->en.router.clf_w = (float *)malloc((size_t)K * dim * 4);
        E->en.router.clf_b = (float *)malloc((size_t)K * 4);
        if (decar_st_get(buf, len, "clf_w", E->en.router.clf_w, (int64_t)K * dim, &e) ||
            decar_st_get(buf, len, "clf_b", E->en.router.clf_b, K, &e))
            die("router's learned classifier", &e);
    }
    free(buf);
    E->en.router.d = dim;
    pf->n_pixels = VSIDE * VSIDE;
    pf->dim = dim;
    pf->mean = *mean;
    pf->rt = external ? NULL : vprojection(dim, strtoull(vv, NULL, 10)); /* drawn once from the router's seed */
    E->feat.dim = dim;
    E->feat.fn = external ? vrow_feature : decar_pixel_feature_fn;
    E->feat.user = external ? (void *)rf : (void *)pf;
    E->en.feat = &E->feat;
}
/* the caption scores, in total and per script: bits, bytes, exact matches, images */
typedef struct {
    double bits, bytes, exact, n;
} capstat;
static void capstat_add(capstat *s, double bits, int bytes, int exact) {
    s->bits += bits;
    s->bytes += bytes;
    s->exact += exact;
    s->n += 1;
}
static void cap_csv(const char *path, const char *label, const char *route, int tk, const vdata *v, const capstat *s) {
    FILE *csv = csv_append(path, "model,router,topk,script,bits_per_byte,exact_match,images");
    int j;
    csv_row_head(csv, label, route, tk, "all");
    fprintf(csv, ",%.5f,%.4f,%d\n", s[0].bits / s[0].bytes, s[0].exact / s[0].n, (int)s[0].n);
    for (j = 0; j < (v->n_labels > 1 ? v->n_labels : 0); j++) { /* per script, where there are scripts */
        const capstat *t = &s[j + 1];
        if (t->n == 0) continue;
        csv_row_head(csv, label, route, tk, v->names[j]);
        fprintf(csv, ",%.5f,%.4f,%d\n", t->bits / t->bytes, t->exact / t->n, (int)t->n);
    }
    fclose(csv);
}

/* captioners that take this data's prefix, routed once by the image (its pixel features), stopping at EOT */
static void caption_setup(ens_t *E, const vdata *v, const char *router, const char *route, int tk,
                          decar_pixel_featurizer *pf, float **mean, vrow_feat *rf, const char *route_features) {
    int j, kind = decar_route_name(route);
    if (kind != DECAR_ROUTE_TOP1 && kind != DECAR_ROUTE_COSINE && kind != DECAR_ROUTE_UNIFORM &&
        kind != DECAR_ROUTE_LEARNED)
        fail(2, "decar caption: --route must be top1, cosine, learned or uniform\n");
    memset(rf, 0, sizeof *rf);
    if (route_features) vrow_load(rf, route_features, v->im.n);
    for (j = 0; j < E->en.k; j++)
        if (!E->en.experts[j] || E->en.experts[j]->cfg.n_prefix != v->P || E->en.experts[j]->cfg.d_prefix != v->Dp) {
            fprintf(stderr,
                    "decar caption: expert %d does not take a prefix of %d x %d (train it with decar vtrain and the "
                    "same --prefix-features)\n",
                    j, v->P, v->Dp);
            exit(2);
        }
    memset(pf, 0, sizeof *pf);
    if (router)
        vrouter_load(E, router, pf, mean, rf);
    else if (kind != DECAR_ROUTE_UNIFORM) {
        fprintf(stderr, "decar caption: --route %s needs --router\n", decar_route_label(kind));
        exit(2);
    }
    E->en.route_every = 0;
    if (kind == DECAR_ROUTE_LEARNED && !E->en.router.clf_w)
        fail(2, "decar caption: --route learned needs a router file with R5's classifier (decar vcluster fits one)\n");
    E->en.router.kind = kind;
    E->en.router.top_k = tk;
}

/* ---- decar clip: a CLIP-style image-text encoder pair on an image set (decar_clip in the library) -------------- */
/* the text positions of the longest caption, [EOT caption EOT] (decar_clip_text_ids): at least 3 */
static int clip_text_len(const vdata *v) {
    int i, T = 3;
    for (i = 0; i < v->im.n; i++) {
        int need = (int)strlen(v->im.captions[i]) + 2;
        T = need > T ? need : T;
    }
    return T;
}
/* the side of the image tower's patches: P = (32 / side)^2 patches of side^2 pixels (a loaded pair's own; a pair
   made for other images is refused) */
static int clip_patch_side(const decar_clip *m) {
    int P = m->img.cfg.n_prefix, Dp = m->img.cfg.d_prefix, side = 1;
    while (side < VSIDE && side * side < Dp) side++;
    if (side * side != Dp || VSIDE % side || (VSIDE / side) * (VSIDE / side) != P)
        fail(1, "decar clip: the encoder reads %d patches of %d pixels: not a %dx%d image's square patches\n", P, Dp,
             VSIDE, VSIDE);
    return side;
}
/* every image's patches (n, P, ps * ps), P = (32 / ps)^2, and every caption's text ids (n, T) */
static void clip_inputs(const vdata *v, int T, int ps, float **pat, int32_t **ids) {
    int i, P = (VSIDE / ps) * (VSIDE / ps);
    *pat = (float *)malloc((size_t)v->im.n * P * ps * ps * sizeof(float));
    *ids = (int32_t *)malloc((size_t)v->im.n * T * sizeof(int32_t));
    if (!*pat || !*ids) fail(1, "decar clip: no memory for %d images\n", v->im.n);
    for (i = 0; i < v->im.n; i++) {
        decar_image_patches(v->im.pixels + (size_t)i * VSIDE * VSIDE, VSIDE, ps, *pat + (size_t)i * P * ps * ps);
        decar_clip_text_ids(v->im.captions[i], T, *ids + (size_t)i * T);
    }
}
/* the share of n images with a hit (hit[i * stride] is 0 or 1) and its 95% interval: a bootstrap over the images
   (decar_bootstrap_ratio of the hits to ones) */
static decar_interval share_ci(const int *hit, int stride, int n) {
    double *a = (double *)malloc((size_t)n * 2 * sizeof(double) + 8), *b;
    decar_bootstrap_opts bo = decar_bootstrap_opts_default();
    decar_interval ci;
    decar_error e;
    int q;
    if (!a) fail(1, "decar: no memory\n");
    b = a + n;
    for (q = 0; q < n; q++) a[q] = hit[(size_t)q * stride], b[q] = 1.0;
    if (decar_bootstrap_ratio(a, b, n, 1, &bo, &ci, &e)) die("share interval", &e);
    free(a);
    return ci;
}
/* held-out retrieval: image -> caption top-1 / top-5 among the held-out captions (a caption shared by several images
   counts once), the retrieved caption's script, and the symmetric InfoNCE of the held-out pairs at the model's
   scale exp(tau): L = (1/2n) sum_i [-log softmax_j(s q_i . k_j)_i - log softmax_j(s k_i . q_j)_i] */
typedef struct {
    double top1, top5, script, loss;
    int n;
    int lab_n[32], lab_ok[32]; /* per script of the held-out image: images, and those whose retrieved caption has it */
    int *hit;                  /* or NULL: per held-out image i, hit[3 i + 0/1/2] = top-1 / top-5 / script right */
} clip_stats;
static void clip_stats_of(const vdata *v, const float *ie, const float *te, int C, double scale, clip_stats *st,
                          int **ti_out, float **q_out) {
    int i, j, nt = 0, *ti = (int *)malloc((size_t)v->im.n * sizeof(int) + 4), *grp = NULL, *rank = NULL, *top = NULL;
    float *qi = NULL, *kt = NULL;
    double *sim;
    int *hit = st->hit; /* kept: the caller's array, or NULL */
    memset(st, 0, sizeof *st);
    st->hit = hit;
    if (!ti) fail(1, "decar clip: no memory\n");
    nt = vpart(v, 1, NULL, 0, NULL, ti);
    grp = (int *)calloc((size_t)(nt + 1) * 3, sizeof(int));
    qi = (float *)calloc((size_t)(nt + 1) * C * 2, sizeof(float));
    if (!ti || !grp || !qi) fail(1, "decar clip: no memory\n");
    rank = grp + nt + 1;
    top = rank + nt + 1;
    kt = qi + (size_t)(nt + 1) * C;
    for (i = 0; i < nt; i++) {
        memcpy(qi + (size_t)i * C, ie + (size_t)ti[i] * C, (size_t)C * sizeof(float));
        memcpy(kt + (size_t)i * C, te + (size_t)ti[i] * C, (size_t)C * sizeof(float));
        for (j = 0, grp[i] = i; j < i; j++) /* the first held-out image with this caption names the group */
            if (!strcmp(v->im.captions[ti[j]], v->im.captions[ti[i]])) {
                grp[i] = grp[j];
                break;
            }
    }
    decar_retrieval(qi, kt, grp, nt, C, rank, top);
    sim = (double *)malloc((size_t)nt * nt * sizeof(double) + 8);
    if (!sim) fail(1, "decar clip: no memory\n");
    for (i = 0; i < nt; i++) /* sim[i][j] = s q_i . k_j */
        for (j = 0; j < nt; j++) {
            double d = 0;
            int c;
            for (c = 0; c < C; c++) d += (double)qi[(size_t)i * C + c] * kt[(size_t)j * C + c];
            sim[(size_t)i * nt + j] = scale * d;
        }
    for (i = 0; i < nt; i++) {
        double mq = -1e300, mk = -1e300, zq = 0, zk = 0;
        int h1 = rank[i] == 0, h5 = rank[i] < 5, hs = v->label[ti[top[i]]] == v->label[ti[i]];
        st->top1 += h1;
        st->top5 += h5;
        st->script += hs;
        if (hit) {
            hit[3 * i + 0] = h1;
            hit[3 * i + 1] = h5;
            hit[3 * i + 2] = hs;
        }
        if (v->label[ti[i]] >= 0 && v->label[ti[i]] < 32) {
            st->lab_n[v->label[ti[i]]]++;
            st->lab_ok[v->label[ti[i]]] += hs;
        }
        /* image i against every caption (row i), caption i against every image (column i), as log-sum-exp */
        for (j = 0; j < nt; j++) {
            mq = sim[(size_t)i * nt + j] > mq ? sim[(size_t)i * nt + j] : mq;
            mk = sim[(size_t)j * nt + i] > mk ? sim[(size_t)j * nt + i] : mk;
        }
        for (j = 0; j < nt; j++) {
            zq += exp(sim[(size_t)i * nt + j] - mq);
            zk += exp(sim[(size_t)j * nt + i] - mk);
        }
        st->loss += 0.5 * (mq + log(zq) + mk + log(zk)) - sim[(size_t)i * nt + i];
    }
    free(sim);
    st->n = nt;
    nt = nt ? nt : 1;
    st->top1 /= nt;
    st->top5 /= nt;
    st->script /= nt;
    st->loss /= nt;
    free(grp);
    if (ti_out)
        *ti_out = ti;
    else
        free(ti);
    if (q_out)
        *q_out = qi;
    else
        free(qi);
}
/* clip_train's settings (decar clip's options) */
typedef struct {
    int B, steps, val_every, augment, shift, verbose;
    double scale, stroke; /* decar_image_augment's strengths (with shift) */
    uint64_t seed;
    FILE *log; /* the retrieval curve: step,tokens,train_loss,val_loss,seconds,top1,top5,script (or NULL) */
} clip_train_opts;
/* the held-out pairs embedded and scored (clip_stats_of): one point of the retrieval curve */
static void clip_val(decar_clip *m, decar_ctx *ctx, const vdata *v, const float *pat, const int32_t *ids, int T,
                     clip_stats *st) {
    int C = m->img.cfg.d_model;
    float *ie = (float *)malloc((size_t)v->im.n * C * sizeof(float)), *te = (float *)malloc((size_t)v->im.n * C * 4);
    decar_error e;
    if (!ie || !te) fail(1, "decar clip: no memory for the embeddings\n");
    if (decar_clip_embed(m, ctx, pat, ids, v->im.n, T, 64, ie, te, NULL, &e)) die("clip", &e);
    clip_stats_of(v, ie, te, C, exp(m->tau), st, NULL, NULL);
    free(ie);
    free(te);
}
/* steps of B random training images with their captions (augmented: decar_image_augment with co's shift, scale and
   stroke), the held-out retrieval every val_every steps (and at the end); a progress line */
static void clip_train(decar_clip *m, const vdata *v, const float *pat, const int32_t *ids, int T, const decar_opt *op,
                       const clip_train_opts *co) {
    int P = m->img.cfg.n_prefix, Dp = m->img.cfg.d_prefix, *tr = (int *)malloc((size_t)v->im.n * sizeof(int));
    int nt, s, b, B = co->B, ps = clip_patch_side(m);
    float *bp = (float *)malloc((size_t)B * P * Dp * sizeof(float));
    int32_t *bi = (int32_t *)malloc((size_t)B * T * sizeof(int32_t));
    uint8_t *aug = (uint8_t *)malloc(VSIDE * VSIDE);
    if (!tr || !bp || !bi || !aug) fail(1, "decar clip: no memory for a batch of %d\n", co->B);
    decar_ctx *ctx = decar_ctx_new(0);
    double t0 = now_s(), last = 0, ema = -1;
    clip_stats st;
    decar_rng r, ra;
    memset(&st, 0, sizeof st);
    decar_rng_seed(&r, co->seed ^ 0xc11b);
    decar_rng_seed(&ra, co->seed ^ 0xa06);
    nt = vpart(v, 0, NULL, 0, NULL, tr);
    if (nt < 2) fail(1, "decar clip: %d training images: a contrastive batch needs two or more\n", nt);
    B = B < nt ? B : nt; /* a batch of distinct images: at most the training set */
    for (s = 0; s < co->steps; s++) {
        float loss;
        for (b = 0; b < B; b++) { /* B distinct training images: a partial Fisher-Yates shuffle */
            int j = b + (int)(decar_rng_u32(&r) % (uint32_t)(nt - b)), k = tr[j];
            tr[j] = tr[b];
            tr[b] = k;
            if (co->augment) {
                const uint8_t *im = v->im.pixels + (size_t)k * VSIDE * VSIDE;
                decar_image_augment(aug, im, VSIDE, co->shift, co->scale, co->stroke, &ra);
                decar_image_patches(aug, VSIDE, ps, bp + (size_t)b * P * Dp);
            } else {
                memcpy(bp + (size_t)b * P * Dp, pat + (size_t)k * P * Dp, (size_t)P * Dp * sizeof(float));
            }
            memcpy(bi + (size_t)b * T, ids + (size_t)k * T, (size_t)T * sizeof(int32_t));
        }
        loss = decar_clip_train_step(m, ctx, op, bp, bi, B, T);
        if (loss != loss) fail(1, "decar clip: %s\n", decar_ctx_error(ctx));
        ema = ema < 0 ? loss : 0.95 * ema + 0.05 * loss;
        if (co->val_every > 0 && ((s + 1) % co->val_every == 0 || s + 1 == co->steps)) {
            clip_val(m, ctx, v, pat, ids, T, &st);
            if (co->log) {
                fprintf(co->log, "%d,%lld,%.6f,%.6f,%.3f,%.6f,%.6f,%.6f\n", s + 1, (long long)(s + 1) * B, ema,
                        st.loss, now_s() - t0, st.top1, st.top5, st.script);
                fflush(co->log);
            }
        }
        if (co->verbose && (now_s() - t0 - last > 1 || s + 1 == co->steps)) {
            char eta[32];
            fmt_eta((now_s() - t0) / (s + 1) * (co->steps - s - 1), eta);
            last = now_s() - t0;
            fprintf(stderr, "\rstep %5d/%d | InfoNCE %.4f | held-out top-5 %.1f%% script %.1f%% | %6.1f pairs/s | %s "
                    "left  ", s + 1, co->steps, ema, 100 * st.top5, 100 * st.script, (s + 1) * B / (now_s() - t0), eta);
        }
    }
    if (co->verbose && co->steps) fprintf(stderr, "\n");
    if (co->log) fclose(co->log);
    free(tr);
    free(bp);
    free(bi);
    free(aug);
    decar_ctx_free(ctx);
}
/* the retrieval figure: the first held-out image of each script (at most 12), with its three nearest held-out
   captions by the cosine of the embeddings (green: the image's own caption, which is also written in grey below) */
static void clip_figure(outset *os, const char *path, const vdata *v, const int *ti, int nt, const float *qi,
                        const float *kt, int C) {
    FILE *f;
    int r = 0, q, j, k, rows = 0, *seen = (int *)calloc((size_t)v->n_labels + 2, sizeof(int));
    uint8_t png[64 + 64 * 65 + 64];
    for (q = 0; q < nt; q++) rows += !seen[v->label[ti[q]] + 1]++;
    memset(seen, 0, ((size_t)v->n_labels + 2) * sizeof(int));
    f = out_text(os);
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='760' height='%d' font-family='monospace' "
            "font-size='11'>\n<rect width='100%%' height='100%%' fill='white'/>\n<text x='10' y='18' "
            "font-size='13' font-family='sans-serif'>CLIP retrieval: held-out images and their top-3 held-out "
            "captions (cosine; green = the image's own caption)</text>\n",
            34 + (rows < 12 ? rows : 12) * 78);
    for (q = 0; q < nt && r < 12; q++) {
        int best[3] = { -1, -1, -1 }, y0 = 30 + r * 78;
        float bs[3] = { -2, -2, -2 };
        if (seen[v->label[ti[q]] + 1]++) continue;
        for (j = 0; j < nt; j++) { /* s_j = <q_q, k_j>: insert into the top 3 */
            float s = 0;
            for (k = 0; k < C; k++) s += qi[(size_t)q * C + k] * kt[(size_t)j * C + k];
            for (k = 3; k > 0 && s > bs[k - 1]; k--)
                if (k < 3) bs[k] = bs[k - 1], best[k] = best[k - 1];
            if (k < 3) bs[k] = s, best[k] = j;
        }
        fprintf(f,
                "<image x='10' y='%d' width='64' height='64' style='image-rendering:pixelated' "
                "href='data:image/png;base64,",
                y0);
        b64(f, png, png_gray(v->im.pixels + (size_t)ti[q] * VSIDE * VSIDE, VSIDE, VSIDE, png));
        fprintf(f, "'/>\n");
        for (k = 0; k < 3 && best[k] >= 0; k++) {
            const char *cap = v->im.captions[ti[best[k]]];
            fprintf(f, "<text x='90' y='%d' fill='%s'>%d. %.3f  ", y0 + 14 + 16 * k,
                    strcmp(cap, v->im.captions[ti[q]]) ? "#000" : "#080", k + 1, bs[k]);
            xml_text(f, cap, 80);
            fprintf(f, "</text>\n");
        }
        fprintf(f, "<text x='90' y='%d' fill='#888'>true: ", y0 + 62);
        xml_text(f, v->im.captions[ti[q]], 80);
        fprintf(f, "</text>\n");
        r++;
    }
    fprintf(f, "</svg>\n");
    out_close(os, path); /* committed with the command's other outputs */
    free(seen);
}
/* what the image tower separates without the text tower: each held-out image's nearest training image by the cosine
   of the embeddings (decar_nearest: they are unit rows), and whether it has the same caption and the same script */
static void clip_nearest_train(const vdata *v, const float *ie, int C) {
    int i, nq, nk, same_cap = 0, same_lab = 0;
    int *qi = (int *)malloc((size_t)v->im.n * sizeof(int) + 4), *ki = (int *)malloc((size_t)v->im.n * sizeof(int) + 4);
    float *q = (float *)malloc((size_t)v->im.n * C * sizeof(float) + 4);
    float *k = (float *)malloc((size_t)v->im.n * C * sizeof(float) + 4);
    if (!qi || !ki || !q || !k) fail(1, "decar clip: no memory\n");
    nq = vpart(v, 1, ie, C, q, qi);
    nk = vpart(v, 0, ie, C, k, ki);
    for (i = 0; i < nq && nk > 0; i++) {
        int j = ki[decar_nearest(q + (size_t)i * C, k, nk, C)];
        same_cap += !strcmp(v->im.captions[j], v->im.captions[qi[i]]);
        same_lab += v->label[j] == v->label[qi[i]];
    }
    nq = nq ? nq : 1;
    printf("image -> nearest training image (the image tower alone, no text): the same caption %.1f%%, the same script "
           "%.1f%%\n", 100.0 * same_cap / nq, 100.0 * same_lab / nq);
    printf("RESULT clip_nn_caption %.4f\nRESULT clip_nn_script %.4f\n", (double)same_cap / nq, (double)same_lab / nq);
    free(qi), free(ki), free(q), free(k);
}
/* zero-shot retrieval over the held-out images (decar_retrieval): each image against every held-out caption (top-1,
   top-5; the same caption rendered twice counts once), and the script of the caption it retrieves against its own */
static void clip_retrieval(outset *os, const vdata *v, const float *ie, const float *te, int C, double scale,
                           const char *figure) {
    clip_stats st;
    int *ti;
    float *qi;
    decar_interval c1 = { 0, 0, 0 }, c5 = c1, cs = c1;
    st.hit = (int *)malloc((size_t)v->im.n * 3 * sizeof(int) + 4);
    if (!st.hit) fail(1, "decar clip: no memory\n");
    clip_stats_of(v, ie, te, C, scale, &st, &ti, &qi);
    if (st.n > 0) { /* each share from the per-image hits, with its 95% interval over the held-out images */
        c1 = share_ci(st.hit + 0, 3, st.n);
        c5 = share_ci(st.hit + 1, 3, st.n);
        cs = share_ci(st.hit + 2, 3, st.n);
    }
    printf("clip retrieval over %d held-out images: image -> caption top-1 %.1f%% (95%% interval %.1f-%.1f%%), top-5 "
           "%.1f%% (%.1f-%.1f%%; chance %.2f%%); image -> script (the retrieved caption's) %.1f%% (%.1f-%.1f%%); "
           "held-out InfoNCE %.4f\n",
           st.n, 100 * c1.est, 100 * c1.lo, 100 * c1.hi, 100 * c5.est, 100 * c5.lo, 100 * c5.hi,
           100.0 / (st.n ? st.n : 1), 100 * cs.est, 100 * cs.lo, 100 * cs.hi, st.loss);
    if (v->n_labels > 1) { /* the script of the retrieved caption, per script of the held-out image */
        int j;
        printf("the retrieved caption's script is right, per script:");
        for (j = 0; j < v->n_labels && j < 32; j++)
            if (st.lab_n[j]) printf(" %s %.1f%% (%d)", v->names[j], 100.0 * st.lab_ok[j] / st.lab_n[j], st.lab_n[j]);
        printf("\n");
    }
    printf("RESULT clip_top1 %.4f\nRESULT clip_top5 %.4f\nRESULT clip_script %.4f\n", st.top1, st.top5, st.script);
    clip_nearest_train(v, ie, C);
    if (figure) clip_figure(os, figure, v, ti, st.n, qi, qi + (size_t)(st.n + 1) * C, C);
    free(ti), free(qi), free(st.hit);
}
/* an .npy output added to the command's set (written with the others, all or none) */
static void out_npy(outset *os, const char *path, const float *x, int64_t rows, int64_t cols) {
    void *buf;
    size_t len;
    if (decar_npy_build(x, rows, cols, &buf, &len)) fail(1, "decar: no memory for %s\n", path);
    out_add(os, path, buf, len);
}
/* clip_train's settings from clip's options; the log (the retrieval curve) opened with its header */
static const clip_train_opts *clip_opts(opt *o, int n, int steps) {
    static clip_train_opts co;
    co.B = (int)I(o, n, "batch", 2, 4096);
    co.steps = steps;
    co.val_every = (int)I(o, n, "val-every", 0, 1 << 30);
    co.augment = (int)I(o, n, "augment", 0, 1);
    co.shift = (int)I(o, n, "augment-shift", 0, VSIDE / 2);
    co.scale = F(o, n, "augment-scale", 0, 0.9);
    co.stroke = F(o, n, "augment-stroke", 0, 1);
    co.verbose = !strcmp(S(o, n, "quiet"), "0");
    co.seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
    co.log = S(o, n, "log") ? fopen(S(o, n, "log"), "w") : NULL;
    if (S(o, n, "log") && !co.log) fail(1, "decar clip: cannot write %s\n", S(o, n, "log"));
    if (co.log) fprintf(co.log, "step,tokens,train_loss,val_loss,seconds,top1,top5,script\n");
    return &co;
}
/* clip's outputs, every one checked before the images are read or anything trained (all are written together at the
   end: the encoder pair, the embeddings, the patch features, the figure) */
static void clip_out_check(opt *o, int n) {
    if (S(o, n, "out")) out_dir_check("clip", S(o, n, "out"));
    if (S(o, n, "figure")) out_file_check("clip", S(o, n, "figure"));
    if (S(o, n, "embed")) out_file_check("clip", S(o, n, "embed"));
    if (S(o, n, "patches")) out_file_check("clip", S(o, n, "patches"));
}
/* the encoder pair's two files added to the command's outputs */
static void out_clip(outset *os, const decar_clip *m, const char *dir) {
    void *b[2];
    size_t l[2];
    char p[4200];
    decar_error e;
    if (decar_clip_save_mem(m, b, l, &e)) die("clip", &e);
    snprintf(p, sizeof p, "%s/image.safetensors", dir);
    out_add(os, p, b[0], l[0]);
    snprintf(p, sizeof p, "%s/text.safetensors", dir);
    out_add(os, p, b[1], l[1]);
}
/* with --model a trained pair is only read: an option that shapes training would be silently ignored: refused; with
   --init the pair's own shape is trained on: an option that shapes the towers is refused */
static void clip_model_opts(opt *o, int n) {
    static const char *train_only[] = { "layers", "heads", "dim", "patch", "steps", "batch", "lr", "seed", "val-every",
                                        "log", "augment", "augment-shift", "augment-scale", "augment-stroke",
                                        "logit-scale" };
    size_t i, shape = 4; /* the first four shape the towers */
    size_t refused = S(o, n, "model") ? sizeof train_only / sizeof *train_only : S(o, n, "init") ? shape : 0;
    if (S(o, n, "model") && S(o, n, "init")) fail(2, "decar clip: --model reads a pair, --init trains one: not both\n");
    for (i = 0; i < refused; i++)
        if (given(o, n, train_only[i]))
            fail(2, "decar clip: --%s %s; with --%s it has no use\n", train_only[i],
                 i < shape ? "shapes a new encoder" : "trains an encoder", S(o, n, "model") ? "model" : "init");
}
/* an encoder pair trained on v with the options' schedule: a new one (fresh: the options' towers, P = (32 / ps)^2
   patches, texts of T positions) or m as loaded (--init: its towers, patches and logit scale unless --logit-scale; a
   fresh optimizer, as decar train --init) */
static void clip_fit(decar_clip *m, int fresh, opt *o, int n, const vdata *v, const float *pat, const int32_t *ids,
                     int T, int ps) {
    decar_opt op = decar_opt_default();
    decar_error e;
    int steps = (int)I(o, n, "steps", 0, 100000000);
    if (fresh && decar_clip_init(m, (int)I(o, n, "layers", 1, 64), (int)I(o, n, "heads", 1, 1024),
                                 (int)I(o, n, "dim", 1, 65536), (VSIDE / ps) * (VSIDE / ps), ps * ps, T - 2,
                                 (uint64_t)I(o, n, "seed", 0, 1L << 62), &e))
        die("clip", &e);
    if (!fresh) { /* a loaded pair: its saved steps and AdamW moments set aside, the schedule starts again */
        if (m->img.qtype || m->txt.qtype)
            fail(2, "decar clip: --init %s is %s-quantized, for inference: start from the float pair\n",
                 S(o, n, "init"), decar_qtype_name(m->img.qtype ? m->img.qtype : m->txt.qtype));
        fresh_optimizer(&m->img);
        fresh_optimizer(&m->txt);
        m->tau_m = 0.0f;
        m->tau_v = 0.0f;
    }
    if (S(o, n, "logit-scale")) m->tau = (float)log(F(o, n, "logit-scale", 1, 100)); /* learned from here */
    op.lr = (float)F(o, n, "lr", 0, 10);
    op.total_steps = steps;
    op.warmup_steps = steps / 20 > 0 ? steps / 20 : 1;
    op.min_lr = op.lr / 10;
    clip_train(m, v, pat, ids, T, &op, clip_opts(o, n, steps));
}
static int cmd_clip(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "images", NULL, 0, 0 }, { "out", NULL, 0, 0 }, { "model", NULL, 0, 0 },
                { "init", NULL, 0, 0 },
                { "steps", "2000", 0, 0 },
                { "batch", "64", 0, 0 }, { "layers", "2", 0, 0 }, { "heads", "4", 0, 0 }, { "dim", "128", 0, 0 },
                { "lr", "1e-3", 0, 0 }, { "seed", "1", 0, 0 }, { "threads", "0", 0, 0 }, { "precision", "fp32", 0, 0 },
                { "quiet", "0", 0, 0 }, { "val-every", "200", "validation loss every N steps (0: off)", 0 },
                { "log", NULL, 0, 0 },
                { "augment", "0", "1: each training image augmented (decar_image_augment: the three options "
                  "below); 0: as it is", 0 },
                { "augment-shift", "1", "augmentation: a shift of up to this many pixels each way", 0 },
                { "augment-scale", "0.05", "augmentation: a scale of 1 +- up to this", 0 },
                { "augment-stroke", "0.25", "augmentation: the chance of strokes one pixel thicker or thinner", 0 },
                { "logit-scale", NULL, "the InfoNCE logit scale exp(tau) to start from, in [1, 100] (default: "
                  "CLIP's 1 / 0.07); learned from there", 0 },
                { "patch", "8", "the image tower's patch side in pixels (1, 2, 4, 8, 16 or 32): (32 / patch)^2 "
                  "positions", 0 },
                { "embed", NULL, "write every image's embedding here (.npy, n x dim): clustering and routing", 0 },
                { "patches", NULL, "write every image's patch features here (.npy, n x P dim, P = (32 / patch)^2): "
                "captioners' input (decar vtrain --prefix-features F --prefix-len P)", 0 },
                { "figure", NULL, "write an SVG of held-out images and the captions they retrieve here", 0 } };
    /* clang-format on */
    int n = NOPT(o), T, C, ps, P;
    vdata v;
    decar_clip m;
    decar_error e;
    decar_ctx *ctx = decar_ctx_new(0);
    float *pat, *ie, *te, *pe = NULL;
    int32_t *ids;
    outset os;
    parse_opts(argc, argv, o, n, "clip",
               "--images DIR --out DIR [--init DIR] [options] | --images DIR --model DIR --embed F.npy");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    precision_opt(o, n);
    clip_model_opts(o, n);
    if (!S(o, n, "out") == !S(o, n, "model")) fail(2, "decar clip: give --out (train) or --model (use one)\n");
    clip_out_check(o, n);
    ps = (int)I(o, n, "patch", 1, VSIDE); /* a new pair's; a saved pair reads its own */
    if (VSIDE % ps) fail(2, "decar clip: --patch %d does not divide the %d-pixel side\n", ps, VSIDE);
    memset(&os, 0, sizeof os);
    memset(&v, 0, sizeof v);
    vdata_load(&v, REQ(o, n, "images"));
    /* T: [EOT caption EOT] of the longest caption (decar_clip_text_ids); a new pair's context at most 128, a saved
       pair's its own (seq_len positions; a 0.6 pair's [.. text EOT] one fewer) */
    T = clip_text_len(&v);
    if (S(o, n, "model") || S(o, n, "init")) {
        if (decar_clip_load(&m, S(o, n, "model") ? S(o, n, "model") : S(o, n, "init"), &e)) die("clip", &e);
        T = T > m.txt.cfg.seq_len + m.left_padded ? m.txt.cfg.seq_len + m.left_padded : T;
        ps = clip_patch_side(&m);
    } else {
        T = T > 128 ? 128 : T;
    }
    P = (VSIDE / ps) * (VSIDE / ps);
    clip_inputs(&v, T, ps, &pat, &ids);
    if (!S(o, n, "model")) {
        clip_fit(&m, !S(o, n, "init"), o, n, &v, pat, ids, T, ps);
        out_clip(&os, &m, S(o, n, "out"));
    }
    C = m.img.cfg.d_model;
    ie = (float *)malloc((size_t)v.im.n * C * sizeof(float));
    te = (float *)malloc((size_t)v.im.n * C * sizeof(float));
    if (S(o, n, "patches")) pe = (float *)malloc((size_t)v.im.n * P * C * sizeof(float));
    if (!ie || !te || (S(o, n, "patches") && !pe)) fail(1, "decar clip: no memory for the embeddings\n");
    if (decar_clip_embed(&m, ctx, pat, ids, v.im.n, T, 64, ie, te, pe, &e)) die("clip", &e);
    clip_retrieval(&os, &v, ie, te, C, exp(m.tau), S(o, n, "figure"));
    if (S(o, n, "embed")) out_npy(&os, S(o, n, "embed"), ie, v.im.n, C);
    if (pe) out_npy(&os, S(o, n, "patches"), pe, v.im.n, (int64_t)P * C);
    out_commit(&os, S(o, n, "out"));
    free(pat), free(ids), free(ie), free(te), free(pe);
    decar_clip_free(&m);
    decar_ctx_free(ctx);
    decar_images_free(&v.im);
    return 0;
}
/* one row of decar caption per held-out image q (the routed ensemble, or the oracle: each image to the expert with the
   fewest bits on its caption, decar_ensemble_caption_experts, and that expert's greedy caption): its caption bits,
   scored bytes, top-1 expert (-1: none) and exact match, for --doc-bits and the exact-match interval; st the totals,
   per script in st[1 + label] */
typedef struct {
    int *bytes, *choice, *exact;
    double *bits;
    capstat *st;
} caprow;
typedef struct {
    int n, oracle, *img; /* images captioned, --oracle, each one's index */
    caprow row, orc;     /* the routed row and the oracle's */
} capdocs;
static void caprow_init(caprow *r, int nt, int n_labels) {
    r->bytes = (int *)calloc((size_t)nt * 3 + 1, sizeof(int));
    r->bits = (double *)calloc((size_t)nt + 1, sizeof(double));
    r->st = (capstat *)calloc((size_t)n_labels + 1, sizeof(capstat));
    if (!r->bytes || !r->bits || !r->st) fail(1, "decar caption: no memory for %d images\n", nt);
    r->choice = r->bytes + nt;
    r->exact = r->choice + nt;
}
static void caprow_free(caprow *r) {
    free(r->bytes);
    free(r->bits);
    free(r->st);
}
static void caprow_add(caprow *r, int q, int label, double bits, int bytes, int choice, int exact) {
    r->bits[q] = bits;
    r->bytes[q] = bytes;
    r->choice[q] = choice;
    r->exact[q] = exact;
    capstat_add(&r->st[0], bits, bytes, exact);
    capstat_add(&r->st[label + 1], bits, bytes, exact);
}
/* the oracle on image i (prefix pre): every expert's bits, the argmin, its greedy caption from that expert alone */
static void caption_oracle(ens_t *E, decar_ctx *ctx, const vdata *v, int i, const float *pre, caprow *r, int q) {
    int K = E->en.k, j, best = -1, scored, ex;
    double *bk = (double *)malloc((size_t)K * sizeof(double));
    char gen[128];
    decar_caption_result cr;
    decar_ensemble one;
    decar_error e;
    if (!bk) fail(1, "decar caption: no memory\n");
    if (decar_ensemble_caption_experts(&E->en, ctx, pre, v->im.captions[i], bk, &scored, &e)) die("caption", &e);
    for (j = 0; j < K; j++)
        if (E->en.experts[j] && (best < 0 || bk[j] < bk[best])) best = j;
    one = decar_ensemble_of(&E->en.experts[best], 1); /* the oracle's expert alone, for its greedy caption */
    if ((ex = decar_ensemble_caption(&one, ctx, pre, v->im.captions[i], gen, 128, &cr, &e)) < 0) die("caption", &e);
    caprow_add(r, q, v->label[i], bk[best], scored, best, ex);
    free(bk);
}
/* the first nt held-out images captioned under the routed ensemble (decar_ensemble_caption; routing reads the image
   through en.feat) into cd->row, the oracle's into cd->orc, the sheet; returns how many captions were cut to the
   context */
static int caption_all(ens_t *E, decar_ctx *ctx, const vdata *v, int nt, decar_pixel_featurizer *pf, vrow_feat *rf,
                       capdocs *cd, sheet_t *sh) {
    int i, q, cut = 0, uniform = E->en.router.kind == DECAR_ROUTE_UNIFORM;
    float *pre = (float *)malloc((size_t)v->P * v->Dp * sizeof(float));
    if (!pre) fail(1, "decar caption: no memory\n");
    for (i = 0, q = 0; i < v->im.n && q < nt; i++) {
        char gen[128];
        decar_caption_result r;
        decar_error e;
        int ex;
        if (!v->test[i]) continue;
        pf->image = v->im.pixels + (size_t)i * VSIDE * VSIDE;
        rf->row = i;
        vprefix(v, i, pre);
        if ((ex = decar_ensemble_caption(&E->en, ctx, pre, v->im.captions[i], gen, 128, &r, &e)) < 0)
            die("caption", &e);
        cut += r.scored < (int)strlen(v->im.captions[i]);
        cd->img[q] = i;
        caprow_add(&cd->row, q, v->label[i], r.bits, r.scored, uniform ? -1 : r.best, ex);
        if (cd->oracle) caption_oracle(E, ctx, v, i, pre, &cd->orc, q);
        sheet_add(sh, q++, pf->image, VSIDE, gen, v->im.captions[i], ex, r.best, r.w_best);
    }
    cd->n = q;
    free(pre);
    return cut;
}
/* one row of decar caption's result: bits per byte, exact match with its interval */
static void caption_print(const char *label, const char *route, int tk, const caprow *r, int n) {
    decar_interval ci = share_ci(r->exact, 1, n);
    printf("%-14s %-7s top-%d: caption %.4f bits/byte, exact match %.1f%% (95%% interval %.1f-%.1f%%; %d held-out "
           "images)\n",
           label, route, tk, r->st[0].bits / r->st[0].bytes, 100 * ci.est, 100 * ci.lo, 100 * ci.hi, n);
}
/* --doc-bits: every image of the row (and of the oracle's), as ens-eval writes documents (decar compare reads them):
   model,router,topk,domain (the script),doc (the image's index),bytes,bits,choice,route (the top-1 expert, "-" for
   uniform) and exact (1 when the greedy caption is the caption) */
static void caption_doc_rows(FILE *f, const vdata *v, const char *label, const char *route, int tk, const capdocs *cd,
                             const caprow *r) {
    int q;
    for (q = 0; q < cd->n; q++) {
        csv_row_head(f, label, route, tk, v->n_labels > 1 ? v->names[v->label[cd->img[q]]] : "all");
        fprintf(f, ",%d,%d,%.17g,%d,", cd->img[q], r->bytes[q], r->bits[q], r->choice[q]);
        if (r->choice[q] < 0)
            fputc('-', f);
        else
            fprintf(f, "%d", r->choice[q]);
        fprintf(f, ",%d\n", r->exact[q]);
    }
}
/* decar caption's results: the row (and the oracle's) printed and appended to --csv, every image to --doc-bits;
   a note on stderr when `cut` captions were longer than the experts' context */
static void caption_report(opt *o, int n, const vdata *v, const ens_t *E, int tk, const capdocs *cd, int cut) {
    int i, agree = 0;
    FILE *docs;
    if (cut)
        fprintf(stderr,
                "decar caption: %d captions longer than the experts' context were scored on their first bytes\n", cut);
    caption_print(S(o, n, "label"), S(o, n, "route"), tk, &cd->row, cd->n);
    if (cd->oracle) {
        caption_print(S(o, n, "label"), "oracle", 1, &cd->orc, cd->n);
        for (i = 0; i < cd->n; i++) agree += cd->row.choice[i] == cd->orc.choice[i];
        if (E->en.router.kind != DECAR_ROUTE_UNIFORM)
            printf("%-14s %-7s        the row's top-1 expert is the oracle's on %d of %d images (%.1f%%)\n", "", "",
                   agree, cd->n, 100.0 * agree / cd->n);
    }
    if (S(o, n, "csv")) cap_csv(S(o, n, "csv"), S(o, n, "label"), S(o, n, "route"), tk, v, cd->row.st);
    if (S(o, n, "csv") && cd->oracle) cap_csv(S(o, n, "csv"), S(o, n, "label"), "oracle", 1, v, cd->orc.st);
    if (!S(o, n, "doc-bits")) return;
    docs = csv_append(S(o, n, "doc-bits"), DOC_BITS_HEADER ",exact");
    caption_doc_rows(docs, v, S(o, n, "label"), decar_route_label(E->en.router.kind), tk, cd, &cd->row);
    if (cd->oracle) caption_doc_rows(docs, v, S(o, n, "label"), "oracle", 1, cd, &cd->orc);
    fclose(docs);
}
static int cmd_caption(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 }, { "router", NULL, 0, 0 }, { "route", "cosine", 0, 0 },
                { "route-k", "0", 0, 0 }, { "route-temp", "0.1", 0, 0 }, { "images", NULL, 0, 0 },
                { "label", "ensemble", 0, 0 }, { "csv", NULL, 0, 0 },
                { "sheet", NULL, "write an SVG contact sheet of test images here", 0 },
                { "max", "0", "caption at most this many test images (0: all)", 0 }, { "threads", "0", 0, 0 },
                { "prefix-features", NULL, 0, 0 }, { "prefix-len", "1", 0, 0 }, { "route-features", NULL, 0, 0 },
                { "doc-bits", NULL, 0, 0 }, { "oracle", "0", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), i, nt = 0, tk, maxn, cut;
    capdocs cd;
    vdata v;
    ens_t E;
    decar_pixel_featurizer pf;
    vrow_feat rf;
    float *mean = NULL;
    decar_ctx *ctx = decar_ctx_new(0);
    sheet_t sh;
    outset os;
    parse_opts(argc, argv, o, n, "caption",
               "--experts A,B,.. --images DIR [--router R --route top1|cosine|learned --route-k k] [--sheet out.svg]");
    decar_set_threads((int)I(o, n, "threads", 0, 1024));
    memset(&v, 0, sizeof v);
    memset(&pf, 0, sizeof pf);
    vdata_load(&v, REQ(o, n, "images"));
    vdata_features(&v, S(o, n, "prefix-features"), (int)I(o, n, "prefix-len", 1, 4096));
    if (S(o, n, "sheet")) out_file_check("caption", S(o, n, "sheet"));
    if (S(o, n, "csv")) out_file_check("caption", S(o, n, "csv"));
    if (S(o, n, "doc-bits")) out_file_check("caption", S(o, n, "doc-bits"));
    ens_open(&E, REQ(o, n, "experts"), NULL, "uniform", 1, 0.1, 0, 0, NULL);
    tk = (int)I(o, n, "route-k", 0, 1 << 20); /* 0 = all experts, as --help says */
    if (tk == 0) tk = E.en.k;
    caption_setup(&E, &v, S(o, n, "router"), S(o, n, "route"), tk, &pf, &mean, &rf, S(o, n, "route-features"));
    E.en.router.temp = (float)F(o, n, "route-temp", 1e-6, 1e6);
    maxn = (int)I(o, n, "max", 0, 1 << 30);
    for (i = 0; i < v.im.n; i++) nt += v.test[i] && (maxn == 0 || nt < maxn);
    if (nt == 0) fail(1, "decar caption: no held-out images to caption\n");
    cd.oracle = (int)I(o, n, "oracle", 0, 1);
    cd.img = (int *)calloc((size_t)nt, sizeof(int));
    if (!cd.img) fail(1, "decar caption: no memory\n");
    caprow_init(&cd.row, nt, v.n_labels);
    caprow_init(&cd.orc, nt, v.n_labels);
    memset(&os, 0, sizeof os);
    sheet_open(&sh, S(o, n, "sheet") ? out_text(&os) : NULL, S(o, n, "label"));
    cut = caption_all(&E, ctx, &v, nt, &pf, &rf, &cd, &sh);
    sheet_close(&sh);
    if (sh.f) {
        out_close(&os, S(o, n, "sheet"));
        out_commit(&os, NULL);
    }
    caption_report(o, n, &v, &E, tk, &cd, cut);
    free(cd.img);
    caprow_free(&cd.row);
    caprow_free(&cd.orc);
    free(mean);
    free((void *)pf.rt);
    free(rf.X);
    E.have_router = 1; /* vrouter_load's centroids and prior go with the router */
    ens_close(&E);
    decar_ctx_free(ctx);
    decar_images_free(&v.im);
    free(v.label);
    free(v.test);
    return 0;
}

/* ---- export / import: weights-only checkpoints and the Hugging Face GPT-2 format -------------------------------- */
static int cmd_export(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "model", NULL, 0, 0 },
                { "format", "hf", "hf (DIR/model.safetensors + DIR/config.json for GPT2LMHeadModel) or weights (a "
                  "decar checkpoint without the optimizer state)", 0 },
                { "out", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o);
    decar_gpt g;
    decar_error e;
    const char *fmt, *out;
    parse_opts(argc, argv, o, n, "export", "--model CKPT --format hf|weights --out DIR|FILE");
    fmt = S(o, n, "format");
    out = REQ(o, n, "out");
    if (strcmp(fmt, "hf") && strcmp(fmt, "weights")) fail(2, "decar export: --format must be hf or weights\n");
    if (!strcmp(fmt, "hf"))
        out_dir_check("export", out);
    else
        out_file_check("export", out);
    load_model(&g, REQ(o, n, "model"));
    if (!strcmp(fmt, "hf")) { /* both files built first, then committed together (the directory made then) */
        void *st;
        size_t len;
        char *cfg, path[4096];
        outset os;
        memset(&os, 0, sizeof os);
        if (decar_gpt_export_hf_mem(&g, &st, &len, &cfg, &e)) die("export", &e);
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        out_add(&os, path, st, len);
        snprintf(path, sizeof path, "%s/config.json", out);
        out_add(&os, path, cfg, strlen(cfg));
        out_commit(&os, out);
        printf(
            "wrote %s/model.safetensors and %s/config.json (GPT2LMHeadModel; input: token 256 then the text's bytes)\n",
            out, out);
    } else {
        void *buf;
        size_t len;
        out_make_dirs();
        if (decar_gpt_save_mem(&g, 0, NULL, &buf, &len, &e) || decar_write_file_atomic(out, buf, len, &e))
            die("export", &e);
        free(buf);
        printf("wrote %s (weights only, %lu parameters)\n", out, (unsigned long)g.n_params);
    }
    decar_gpt_free(&g);
    return 0;
}
static int cmd_import(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "hf", NULL, "directory with model.safetensors + config.json of a GPT-2 (GPT2LMHeadModel)", 0 },
                { "out", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o);
    decar_gpt g;
    decar_error e;
    parse_opts(argc, argv, o, n, "import", "--hf DIR --out CKPT");
    out_file_check("import", REQ(o, n, "out"));
    if (decar_gpt_import_hf(&g, REQ(o, n, "hf"), &e)) die("import", &e);
    out_make_dirs();
    if (decar_gpt_save(&g, REQ(o, n, "out"), NULL, &e)) die("import", &e);
    printf("wrote %s (%d layers, d_model %d, vocab %d, context %d)\n", REQ(o, n, "out"), g.cfg.n_layer, g.cfg.d_model,
           g.cfg.vocab_size, g.cfg.seq_len);
    decar_gpt_free(&g);
    return 0;
}

/* ---- tokenizer: train a byte-level BPE on the training documents, write GPT-2's vocab.json + merges.txt ---------- */
static int cmd_tokenizer(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "data", NULL, 0, 0 }, { "ext", ".txt", 0, 0 }, { "val-permille", VAL_PERMILLE, 0, 0 },
                { "out", NULL, 0, 0 },
                { "vocab", "1024", "tokens: 256 bytes + merges + the end-of-document token", 0 },
                { "sample-mb", "8", "learn the merges from at most this many MB of training documents (every k-th "
                  "document)", 0 },
                { "tokenizer", NULL, 0, 0 },
                { "encode", NULL, "with --tokenizer: print the token ids of this text (and nothing is trained)", 0 } };
    /* clang-format on */
    int n = NOPT(o), i, nt = 0, step;
    decar_data d;
    decar_tokenizer t;
    decar_error e;
    decar_doc *train;
    int64_t total = 0, lim, heldb = 0, heldt = 0;
    int32_t *ids;
    const char *out;
    double t0 = now_s();
    parse_opts(argc, argv, o, n, "tokenizer", "--data DIR --out DIR [--vocab N]   or   --tokenizer DIR --encode TEXT");
    if (S(o, n, "encode")) {
        const decar_tokenizer *tk = tok_open(REQ(o, n, "tokenizer"));
        const char *txt = S(o, n, "encode");
        int64_t m, q;
        ids = (int32_t *)malloc((strlen(txt) + 1) * 4);
        m = decar_tokenizer_encode(tk, (const uint8_t *)txt, (int64_t)strlen(txt), ids);
        for (q = 0; q < m; q++) printf("%s%d", q ? " " : "", ids[q]);
        printf("\n");
        free(ids);
        return 0;
    }
    out = REQ(o, n, "out");
    out_dir_check("tokenizer", out);
    load_data(&d, REQ(o, n, "data"), NULL, S(o, n, "ext"), (int)I(o, n, "val-permille", 0, 1000));
    lim = (int64_t)I(o, n, "sample-mb", 1, 1 << 20) << 20;
    for (i = 0; i < d.n_docs; i++)
        if (d.docs[i].split == 0) total += d.docs[i].len;
    step = (int)(total / lim + 1);
    train = (decar_doc *)malloc((size_t)d.n_docs * sizeof(decar_doc));
    for (i = 0; i < d.n_docs; i++)
        if (d.docs[i].split == 0 && (i % step) == 0) train[nt++] = d.docs[i];
    if (!nt) fail(1, "decar tokenizer: no training documents\n");
    if (decar_tokenizer_train(&t, train, nt, (int)I(o, n, "vocab", 257, 1 << 20), &e)) die("tokenizer", &e);
    for (i = 0; i < d.n_docs; i++)
        if (d.docs[i].split == 1) { /* compression on the held-out documents */
            ids = (int32_t *)malloc((size_t)(d.docs[i].len + 1) * 4);
            heldt += decar_tokenizer_encode(&t, d.docs[i].bytes, d.docs[i].len, ids);
            heldb += d.docs[i].len;
            free(ids);
        }
    if (mkdir_p(out)) fail(1, "decar tokenizer: cannot create directory '%s'\n", out);
    if (decar_tokenizer_save(&t, out, &e)) die("tokenizer", &e);
    printf("tokenizer: %d tokens (%d merges) from %d documents in %.1f s; held-out: %.3f bytes per token; wrote "
           "%s/vocab.json, %s/merges.txt\n",
           t.n_tokens, t.n_merges, nt, now_s() - t0, heldt ? (double)heldb / heldt : 0.0, out, out);
    free(train);
    decar_tokenizer_free(&t);
    decar_data_free(&d);
    return 0;
}

/* ---- the lifecycle: join, leave, manifest (decar.h section 16) ------------------------------------------------- */
/* set by decar join before it runs decar train: the experts a branched start was averaged from (prov_parents) */
static char g_prov_parents[700];
/* the provenance decar train writes into a checkpoint's metadata (after `meta`, which holds the objective) */
static void train_provenance(char *meta, size_t cap, const decar_data *d, const decar_tokenizer *tk, opt *o, int n,
                             const char *cmd) {
    decar_provenance p;
    decar_error e;
    size_t used = strlen(meta);
    decar_provenance_of_data(&p, d, tk);
    if (S(o, n, "init") && decar_file_sha256(S(o, n, "init"), p.base, &e)) die("--init", &e);
    strcpy(p.parents, g_prov_parents);
    snprintf(p.config, sizeof p.config,
             "objective=%s layers=%s heads=%s dim=%s seq=%s batch=%s steps=%s lr=%s min_lr=%s warmup=%s wd=%s clip=%s "
             "val_permille=%s ext=%s",
             S(o, n, "objective"), S(o, n, "layers"), S(o, n, "heads"), S(o, n, "dim"), S(o, n, "seq"),
             S(o, n, "batch"), S(o, n, "steps"), S(o, n, "lr"), S(o, n, "min-lr"), S(o, n, "warmup"), S(o, n, "wd"),
             S(o, n, "clip"), S(o, n, "val-permille"), S(o, n, "ext"));
    p.seed = (uint64_t)I(o, n, "seed", 0, 1L << 62);
    snprintf(p.version, sizeof p.version, "decar %s %s", DECAR_VERSION, cmd);
    if (used + 2 >= cap) fail(1, "decar train: metadata too long\n");
    meta[used] = ',';
    if (decar_provenance_meta(&p, meta + used + 1, cap - used - 1, &e)) die("provenance", &e);
}
/* the options of decar join that decar train does not have; the rest of the command line trains the expert */
static int join_own(const char *name) {
    return !strcmp(name, "--router") || !strcmp(name, "--router-out") || !strcmp(name, "--branch") ||
           !strcmp(name, "--experts");
}
/* decar join --help: join's options, then decar train's parser on the rest of the command line (it rejects an
   option neither command has, and prints train's options) */
static void join_help(opt *o, int n, int nt, char **targv) {
    printf("usage: decar join --router FILE --router-out FILE --data DIR [--docs LIST] --out CKPT [--init BASE | "
           "--branch N --experts LIST] [decar train's options]\n\n"
           "trains one expert on the new party's documents (decar train), then writes a router that includes it: its "
           "centroid, the prior by document counts, R5 refitted (decar.h section 16)\n\noptions:\n");
    print_options(o, n);
    printf("\nexample: %s\n\ntraining options, as decar train's:\n", command_example("join"));
    cmd_train(nt, targv);
}
/* the value of --name on a command line (the last one given), or def */
static const char *arg_of(int argc, char **argv, const char *name, const char *def) {
    int i;
    for (i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) def = argv[i + 1];
    return def;
}
/* BTM branching for decar join: the new documents' centroid, the `branch` nearest experts, their average (weights as
   the cosine router's) written to tmp; their file hashes go to the new expert's prov_parents */
static void join_branch(const decar_router *r, const decar_featurizer *fz, const decar_data *d, const char *experts,
                        int branch, const char *tmp) {
    char **list;
    int k = 0, j, m, *idx = (int *)malloc((size_t)r->k * sizeof(int));
    double *w = (double *)malloc((size_t)r->k * sizeof(double));
    decar_gpt *models = (decar_gpt *)calloc((size_t)r->k, sizeof(decar_gpt)), **mp, avg;
    float *X, *mu = (float *)calloc((size_t)r->d, sizeof(float));
    int64_t nx, q;
    size_t used = 0;
    decar_error e;
    read_list(experts, "--experts", &list, &k);
    if (k != r->k) fail(2, "decar join: %d experts for a router of %d clusters\n", k, r->k);
    if (decar_docs_features(fz, d, 0, 0, 0, &X, &nx, NULL, NULL, &e)) die("join", &e);
    /* mu = sum_i x_i / |sum_i x_i|, the new cluster's centroid */
    for (q = 0; q < nx * r->d; q++) mu[q % r->d] += X[q];
    decar_l2_normalize(mu, r->d);
    m = decar_router_nearest(r, mu, branch, 0.1f, idx, w);
    mp = (decar_gpt **)malloc((size_t)m * sizeof(decar_gpt *));
    fprintf(stderr, "join: branching from");
    for (j = 0; j < m; j++) {
        char h[65];
        if (!strcmp(list[idx[j]], "-")) fail(2, "decar join: expert %d is missing ('-')\n", idx[j]);
        load_model(&models[j], list[idx[j]]);
        mp[j] = &models[j];
        if (decar_file_sha256(list[idx[j]], h, &e)) die("--experts", &e);
        if (used + 66 >= sizeof g_prov_parents) fail(2, "decar join: --branch %d: too many parents\n", branch);
        used += (size_t)snprintf(g_prov_parents + used, sizeof g_prov_parents - used, "%s%s", j ? "," : "", h);
        fprintf(stderr, " expert %d (w %.3f)", idx[j], w[j]);
    }
    fprintf(stderr, "\n");
    if (decar_gpt_average(&avg, mp, w, m, &e) || decar_gpt_save(&avg, tmp, NULL, &e)) die("join: averaging", &e);
    decar_gpt_free(&avg);
    for (j = 0; j < m; j++) decar_gpt_free(&models[j]);
    free(models);
    free(mp);
    free(idx);
    free(w);
    free(X);
    free(mu);
    free(list);
}
static int cmd_join(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "router", NULL, 0, 0 }, { "router-out", NULL, 0, 0 }, { "experts", NULL, 0, 0 },
                { "branch", "0", "N > 0: start from the average of the N experts nearest to the new documents (BTM "
                  "branching; weights as the cosine router's; needs --experts); 0: --init or from scratch", 0 } };
    /* clang-format on */
    int n = NOPT(o), i, nt = 0, no = 0, branch, K0;
    char **targv = (char **)calloc((size_t)argc + 4, sizeof(char *)), **oargv = (char **)calloc((size_t)argc + 1, 8);
    char tmp[4200];
    const char *data, *out;
    decar_router r;
    decar_featurizer fz;
    decar_data d;
    decar_error e;
    /* the command line split: join's own options, and decar train's (the rest) */
    for (i = 0; i < argc; i++) {
        if (!join_own(argv[i])) {
            targv[nt++] = argv[i];
            continue;
        }
        oargv[no++] = argv[i];
        if (i + 1 < argc) oargv[no++] = argv[++i];
    }
    parse_opts(no, oargv, o, n, "join", "--router FILE --router-out FILE --data DIR --out CKPT [options]");
    for (i = 0; i < nt; i++)
        if (!strcmp(targv[i], "--help") || !strcmp(targv[i], "-h")) join_help(o, n, nt, targv);
    branch = (int)I(o, n, "branch", 0, 1 << 20);
    data = arg_of(nt, targv, "--data", NULL);
    out = arg_of(nt, targv, "--out", NULL);
    if (!data || !out) fail(2, "decar join: --data and --out (the new expert's checkpoint) are required\n");
    if (branch && arg_of(nt, targv, "--init", NULL)) fail(2, "decar join: --branch and --init are alternatives\n");
    if (branch && !S(o, n, "experts")) fail(2, "decar join: --branch needs --experts (the ensemble's checkpoints)\n");
    out_file_check("join", REQ(o, n, "router-out"));
    if (decar_router_load(&r, &fz, REQ(o, n, "router"), &e)) die("loading router", &e);
    if (!fz.idf)
        fail(2, "decar join: the router was built from external features: join through the library "
                "(decar_router_join_features) with the new documents' features\n");
    K0 = r.k;
    load_data(&d, data, arg_of(nt, targv, "--docs", NULL), arg_of(nt, targv, "--ext", ".txt"),
              (int)strtol(arg_of(nt, targv, "--val-permille", VAL_PERMILLE), NULL, 10));
    snprintf(tmp, sizeof tmp, "%s.branch.tmp", out);
    if (branch) {
        join_branch(&r, &fz, &d, S(o, n, "experts"), branch, tmp);
        targv[nt++] = (char *)"--init";
        targv[nt++] = tmp;
    }
    /* 1. the expert: decar train on the party's documents, with its provenance */
    g_prov_cmd = "join";
    cmd_train(nt, targv);
    if (branch) remove(tmp);
    /* 2. the router with one more cluster: its centroid, the prior by counts, R5 refitted */
    if (decar_router_join(&r, &fz, &d, &e) || decar_router_save(&r, &fz, S(o, n, "router-out"), &e)) die("join", &e);
    printf("joined: expert %d = %s (%.0f training documents); %s has %d clusters (prior %.4f%s)\n", K0, out,
           (double)r.count[K0], S(o, n, "router-out"), r.k, (double)r.prior[K0], r.clf_w ? ", R5 refitted" : "");
    decar_router_free(&r);
    decar_feat_free(&fz);
    decar_data_free(&d);
    free(targv);
    free(oargv);
    return 0;
}
static int cmd_leave(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "router", NULL, 0, 0 }, { "router-out", NULL, 0, 0 },
                { "remove", NULL, "the index of the expert that leaves (0-based, as in the router and --experts)", 0 },
                { "experts", NULL, 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), j, k = 0;
    long rm;
    decar_router r;
    decar_featurizer fz;
    decar_error e;
    char **list = NULL;
    parse_opts(argc, argv, o, n, "leave", "--router FILE --remove J --router-out FILE [--experts LIST]");
    out_file_check("leave", REQ(o, n, "router-out"));
    rm = I(o, n, "remove", -1000000000L, 1000000000L);
    if (decar_router_load(&r, &fz, REQ(o, n, "router"), &e)) die("loading router", &e);
    if (S(o, n, "experts")) {
        read_list(S(o, n, "experts"), "--experts", &list, &k);
        if (k != r.k) fail(2, "decar leave: %d experts for a router of %d clusters\n", k, r.k);
    }
    if (decar_router_leave(&r, (int)rm, &e)) fail(2, "decar leave: %s\n", e.msg);
    if (decar_router_save(&r, &fz, REQ(o, n, "router-out"), &e)) die("leave", &e);
    fprintf(stderr, "left: expert %ld; %s has %d clusters%s\n", rm, S(o, n, "router-out"), r.k,
            r.clf_w ? " (R5 refitted)" : "");
    for (j = 0; j < k; j++) /* the remaining experts, one per line: the new --experts @FILE */
        if (j != rm) printf("%s\n", list[j]);
    free(list);
    decar_router_free(&r);
    decar_feat_free(&fz);
    return 0;
}
/* an ensemble's manifest: what made each expert (its provenance), and whether they can be combined */
static int cmd_manifest(int argc, char **argv) {
    /* clang-format off */
    opt o[] = { { "experts", NULL, 0, 0 },
                { "same-base", "0", 0, 0 } };
    /* clang-format on */
    int n = NOPT(o), k = 0, j, bad = 0;
    char **list;
    decar_error e;
    char(*base)[65];
    char tok0[32] = "", voc0[32] = "";
    parse_opts(argc, argv, o, n, "manifest", "--experts A,B,..|@FILE [--same-base 1]");
    read_list(REQ(o, n, "experts"), "--experts", &list, &k);
    base = (char(*)[65])calloc((size_t)k + 1, 65);
    printf("expert\tfile\tsha256\tvocab\ttokenizer\tbase\tshards\tdocs\tseed\tversion\tparents\tconfig\n");
    for (j = 0; j < k; j++) {
        void *buf;
        size_t len;
        uint8_t dg[32];
        char h[65], voc[32] = "?", tok[32] = "bytes";
        decar_provenance p;
        if (!strcmp(list[j], "-")) {
            printf("%d\t-\n", j);
            continue;
        }
        if (decar_read_file(list[j], &buf, &len, &e)) die("manifest", &e);
        decar_sha256(buf, len, dg);
        decar_sha256_hex(dg, h);
        if (decar_provenance_read(&p, buf, len, &e)) fail(1, "decar manifest: %s: %s\n", list[j], e.msg);
        decar_meta_get(buf, len, "vocab_size", voc, sizeof voc);
        decar_meta_get(buf, len, "tokenizer", tok, sizeof tok);
        free(buf);
        printf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%llu\t%s\t%s\t%s\n", j, list[j], h, voc, p.tokenizer, p.base, p.shards,
               p.docs, (unsigned long long)p.seed, p.version, *p.parents ? p.parents : "-", p.config);
        /* one tokenizer and one vocabulary (as every command that combines experts requires), one base on request */
        if (!*voc0) {
            strcpy(voc0, voc);
            strcpy(tok0, tok);
            strcpy(base[0], p.base);
        } else {
            if (strcmp(voc, voc0) || strcmp(tok, tok0)) {
                fprintf(stderr, "decar manifest: expert %d (%s) has another tokenizer or vocabulary than the first\n",
                        j, list[j]);
                bad = 1;
            }
            if (!strcmp(S(o, n, "same-base"), "1") && strcmp(p.base, base[0])) {
                fprintf(stderr, "decar manifest: expert %d (%s) starts from base %s, the first from %s\n", j, list[j],
                        p.base, base[0]);
                bad = 1;
            }
        }
    }
    free(base);
    free(list);
    if (bad) fprintf(stderr, "decar manifest: these experts cannot be combined\n");
    return bad ? 2 : 0;
}

/* decar --help: every command, from the one table of them */
static void usage(FILE *f) {
    int i;
    fprintf(f, "usage: decar <command> [options]   (decar <command> --help for its options; decar --version)\n"
               "commands:\n");
    for (i = 0; i < (int)(sizeof commands / sizeof commands[0]); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].what);
}
int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = { { "train", cmd_train },       { "sample", cmd_sample },     { "eval", cmd_eval },
                 { "cluster", cmd_cluster },   { "ens-eval", cmd_ens_eval }, { "generate", cmd_generate },
                 { "infill", cmd_infill },     { "average", cmd_average },   { "plot", cmd_plot },
                 { "vcluster", cmd_vcluster }, { "vtrain", cmd_vtrain },     { "caption", cmd_caption },
                 { "export", cmd_export },     { "import", cmd_import },     { "tokenizer", cmd_tokenizer },
                 { "quantize", cmd_quantize }, { "clip", cmd_clip },           { "compare", cmd_compare },
                 { "join", cmd_join },         { "leave", cmd_leave },       { "manifest", cmd_manifest },
                 { "gen-eval", cmd_gen_eval } };
    int i;
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("decar %s (simd %s)\n", DECAR_VERSION, decar_simd_name());
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (i = 0; i < (int)(sizeof cmds / sizeof cmds[0]); i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 2, argv + 2);
    usage(stderr);
    fprintf(stderr, "decar: unknown command '%s'\n", argv[1]);
    return 2;
}
