#!/bin/bash
# The bad-input catalogue (`make test`): every case is something a user or a broken disk could hand to decar. Each must
# give a non-zero exit status below 126 (no signal), a message on stderr whose last line starts with "decar" and names
# the problem (a keyword per case), and leave no file behind: the scratch output directory stays empty and no
# temporary file remains. Usage: tests/bad_inputs.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
D=$B/badcat                # fixtures
O=$B/badcat_out            # scratch output directory: must stay empty
rm -rf "$D" "$O"; mkdir -p "$D/corpus/a" "$D/corpus/b" "$D/corpus/c" "$D/bin" "$D/empty" "$O"
X=$B/decar
# ---- fixtures: a small corpus, an AR and a DFM model, a router of K=2, and the hostile files of tests/mkbad.c
split -b 1500 -d -a 3 --additional-suffix=.txt LICENSE "$D/corpus/a/l"
split -b 1500 -d -a 3 --additional-suffix=.txt README.md "$D/corpus/b/r"
split -b 1500 -d -a 3 --additional-suffix=.txt Makefile "$D/corpus/c/m"
head -c 3000 /dev/urandom | tr '\n' 'x' > "$D/bin/noise.txt"; printf 'a\0b' >> "$D/bin/noise.txt"
TR="--steps 2 --layers 1 --dim 16 --heads 2 --seq 16 --batch 2 --quiet 1 --val-every 0"
$X train --data "$D/corpus" $TR --out "$D/ar.safetensors" --val-every 1 --log "$D/log_ok.csv" || { echo "FAILED: fixture"; exit 1; }
$X train --data "$D/corpus" $TR --objective dfm --out "$D/dfm.safetensors" || exit 1
$X train --data "$D/corpus" --steps 2 --layers 1 --dim 16 --heads 2 --seq 8 --batch 2 --quiet 1 --val-every 0 --out "$D/ar8.safetensors" || exit 1
$X cluster --data "$D/corpus" --out "$D/k2" --k 2 --feat-dim 16 > /dev/null || exit 1
$B/mkbad "$D" "$D/ar.safetensors" "$D/k2/router.safetensors" || exit 1
printf '%s\n\n%s\n' "$D/ar.safetensors" "$D/ar.safetensors" > "$D/manifest_blank.txt"
for i in $(seq 1100); do echo "$D/ar.safetensors"; done > "$D/manifest_1100.txt"
for i in $(seq 1100); do echo "-"; done > "$D/manifest_1100_missing.txt"
printf 'a/l000.txt\n\na/l001.txt\n' > "$D/docs_blank.txt"
printf '../../etc/passwd\n' > "$D/docs_dotdot.txt"
printf 'a/nope.txt\n' > "$D/docs_missing.txt"
printf 'step,tokens,train_loss,val_loss,seconds\n1,2,3\n' > "$D/log_bad.csv"
printf 'hello\n' > "$D/notalog.csv"
mkdir -p "$D/img"; head -c 1500 /dev/zero > "$D/img/images_32x32_u8.bin"; printf 'A\nB\n' > "$D/img/captions.txt"
mkdir -p "$D/img3"; head -c 2048 /dev/zero > "$D/img3/images_32x32_u8.bin"; printf 'A\nB\n' > "$D/img3/captions.txt"
mkdir -p "$D/img2"; head -c 2048 /dev/zero > "$D/img2/images_32x32_u8.bin"; printf 'A\nB\nC\n' > "$D/img2/captions.txt"
printf '0\n1\n' > "$D/img_subset_ok.txt"; printf '0\nx\n' > "$D/img_subset_bad.txt"; printf '7\n' > "$D/img_subset_range.txt"
touch "$D/afile"
A=$D/ar.safetensors; F=$D/dfm.safetensors; R=$D/k2/router.safetensors; C=$D/corpus

pass=0; fail=0
# case NAME KEYWORD cmd...: the command must fail cleanly and say KEYWORD (case-insensitive)
case_() {
  local name=$1 kw=$2; shift 2
  local err rc last
  err=$("$@" 2>&1 >/dev/null); rc=$?
  last=$(printf '%s\n' "$err" | grep -v '^\s*$' | tail -1)
  local why=""
  if [ $rc -eq 0 ]; then why="exit 0"
  elif [ $rc -ge 126 ]; then why="exit $rc (signal?)"
  elif [[ "$last" != decar* ]]; then why="last stderr line does not start with 'decar': $last"
  elif ! printf '%s' "$last" | grep -qi -- "$kw"; then why="message does not say '$kw': $last"
  elif [ -n "$(ls -A "$O")" ]; then why="left files in the output directory: $(ls -A "$O" | head -3 | tr '\n' ' ')"
  elif [ -n "$(find "$D" "$O" -name '*.tmp*' | head -1)" ]; then why="left a temporary file: $(find "$D" "$O" -name '*.tmp*' | head -1)"
  fi
  if [ -n "$why" ]; then echo "FAILED bad input [$name]: $why"; fail=$((fail + 1)); else pass=$((pass + 1)); fi
  rm -rf "$O"; mkdir -p "$O"
}
# ---- checkpoints (through sample, eval, generate, train --init / --resume)
for f in ckpt_empty ckpt_trunc7 ckpt_trunc100 ckpt_trunc_half ckpt_trunc_last ckpt_trailing ckpt_hl_huge ckpt_huge_header; do
  case_ "sample $f" "safetensors\|truncated\|checkpoint\|CRC\|metadata\|corrupt" $X sample --model "$D/$f.safetensors" --n 2
done
case_ "bit flip" "CRC" $X sample --model "$D/ckpt_bitflip.safetensors"
case_ "bad json" "JSON" $X sample --model "$D/ckpt_badjson.safetensors"
case_ "no metadata" "metadata" $X sample --model "$D/ckpt_no_meta.safetensors"
case_ "config of gigabytes in 200 bytes" "lacks tensor" $X sample --model "$D/ckpt_bigconfig.safetensors"
case_ "d_model not a multiple of n_head" "multiple of n_head" $X sample --model "$D/ckpt_bad_config.safetensors"
case_ "negative vocab" "vocab_size" $X sample --model "$D/ckpt_neg_config.safetensors"
case_ "overlapping tensors" "overlap" $X sample --model "$D/ckpt_overlap.safetensors"
case_ "duplicate tensor" "twice" $X sample --model "$D/ckpt_dup.safetensors"
case_ "offsets outside" "outside" $X sample --model "$D/ckpt_offsets_out.safetensors"
case_ "shape vs bytes" "bytes for its shape" $X sample --model "$D/ckpt_shape_mismatch.safetensors"
case_ "negative offset" "JSON\|outside" $X sample --model "$D/ckpt_neg_offset.safetensors"
case_ "NaN weight" "NaN" $X sample --model "$D/ckpt_nan.safetensors"
case_ "missing tensor" "lacks tensor" $X sample --model "$D/ckpt_missing_tensor.safetensors"
case_ "F16 tensor" "F32" $X sample --model "$D/ckpt_f16.safetensors"
case_ "not a checkpoint" "safetensors" $X sample --model LICENSE
case_ "a directory as checkpoint" "cannot\|read" $X sample --model "$D"
case_ "missing checkpoint" "cannot open" $X sample --model "$D/none.safetensors"
case_ "eval truncated" "truncated\|does not fit" $X eval --model "$D/ckpt_trunc_half.safetensors" --data $C
case_ "init NaN" "NaN" $X train --data $C $TR --init "$D/ckpt_nan.safetensors" --out "$O/x.safetensors"
case_ "init other objective" "other objective" $X train --data $C $TR --init $F --out "$O/x.safetensors"
case_ "init shorter context" "seq_len" $X train --data $C $TR --seq 16 --init "$D/ar8.safetensors" --out "$O/x.safetensors"
case_ "resume missing" "cannot open" $X train --data $C $TR --resume 1 --out "$O/x.safetensors"
case_ "resume other objective" "other objective" $X train --data $C $TR --objective dfm --resume 1 --out $A
case_ "sample two models" "one checkpoint" $X sample --model $A,$A
case_ "vocab of 10" "vocabulary" $X sample --model "$D/ckpt_vocab10.safetensors" --n 2
# ---- expert lists and manifests
case_ "empty slot" "empty" $X generate --experts $A,,$A --route uniform --n 2
case_ "leading comma" "empty" $X generate --experts ,$A --route uniform --n 2
case_ "manifest blank line" "empty" $X generate --experts "@$D/manifest_blank.txt" --route uniform --n 2
case_ "manifest empty" "no entries" $X generate --experts "@$D/manifest_empty.txt" --route uniform --n 2
case_ "manifest binary" "NUL" $X generate --experts "@$D/manifest_binary.txt" --route uniform --n 2
case_ "manifest missing" "cannot open" $X generate --experts "@$D/none.txt" --route uniform --n 2
case_ "all experts missing" "none of the" $X generate --experts -,- --route uniform --n 2
case_ "1100 missing experts" "none of the" $X generate --experts "@$D/manifest_1100_missing.txt" --route uniform --n 2
case_ "1100 experts, router of 2" "clusters" $X generate --experts "@$D/manifest_1100.txt" --router $R --n 2
case_ "router K vs experts" "clusters" $X generate --experts $A,$A,$A --router $R --n 2
case_ "AR and DFM mixed" "differ" $X generate --experts $A,$F --route uniform --n 2
case_ "generate with DFM" "infill" $X generate --experts $F,$F --route uniform --n 2
case_ "missing expert" "cannot open" $X generate --experts $A,"$D/none.safetensors" --route uniform --n 2
case_ "bad expert in ens-eval" "NaN" $X ens-eval --experts $A,"$D/ckpt_nan.safetensors" --router $R --data $C
case_ "router needs file" "needs --router" $X generate --experts $A,$A --route cosine --n 2
case_ "unknown route" "unknown router" $X generate --experts $A,$A --route nearest --n 2
case_ "ens-eval unknown router" "unknown router" $X ens-eval --experts $A,$A --router $R --data $C --route top1,foo
case_ "ens-eval bad topk" "not a count" $X ens-eval --experts $A,$A --router $R --data $C --route-k 1,two
case_ "ens-eval negative topk" "not a count" $X ens-eval --experts $A,$A --router $R --data $C --route-k -1
case_ "ens-eval router needs file" "needs --router" $X ens-eval --experts $A,$A --data $C --route cosine
case_ "ens-eval DFM oracle" "no oracle" $X ens-eval --experts $F,$F --router $R --data $C --oracle 1
case_ "ens-eval csv under a file" "not a directory" $X ens-eval --experts $A,$A --router $R --data $C --csv "$D/afile/x.csv"
# ---- routers
case_ "router truncated" "router\|truncated\|does not fit" $X generate --experts $A,$A --router "$D/router_trunc.safetensors" --n 2
case_ "router k=0" "router file" $X generate --experts $A,$A --router "$D/router_k0.safetensors" --n 2
case_ "router huge k" "router" $X generate --experts $A,$A --router "$D/router_hugek.safetensors" --n 2
case_ "router no metadata" "router file" $X generate --experts $A,$A --router "$D/router_nometa.safetensors" --n 2
case_ "checkpoint as router" "router file" $X generate --experts $A,$A --router $A --n 2
case_ "router missing" "cannot open" $X generate --experts $A,$A --router "$D/none.safetensors" --n 2
$X cluster --data "$C" --out "$D/kx" --k 2 --features "$D/k2/features.npy" > /dev/null 2>&1 || { echo "FAILED: fixture kx"; exit 1; }
case_ "external router, no features" "external features" $X generate --experts $A,$A --router "$D/kx/router.safetensors" --n 2
case_ "external router, ens-eval without features" "external features" $X ens-eval --experts $A,$A --router "$D/kx/router.safetensors" --data $C
case_ "external features, wrong shape" "rows" $X generate --experts $A,$A --router "$D/kx/router.safetensors" --n 2 --route-features "$D/k2/features.npy"
case_ "tf-idf router, external features" "does not apply" $X ens-eval --experts $A,$A --router $R --data $C --route-features "$D/k2/features.npy"
# ---- average
case_ "average weights sum 0" "sum to" $X average --experts $A,$A --weights 1,-1 --out "$O/avg.safetensors"
case_ "average weights NaN" "finite" $X average --experts $A,$A --weights nan,1 --out "$O/avg.safetensors"
case_ "average weights count" "2 experts" $X average --experts $A,$A --weights 1,1,1 --out "$O/avg.safetensors"
case_ "average weights junk" "finite" $X average --experts $A,$A --weights 1,x --out "$O/avg.safetensors"
case_ "average empty weight" "empty" $X average --experts $A,$A --weights 1,,1 --out "$O/avg.safetensors"
case_ "average missing expert" "missing" $X average --experts $A,- --out "$O/avg.safetensors"
case_ "average other config" "another config" $X average --experts $A,"$D/ar8.safetensors" --out "$O/avg.safetensors"
case_ "average overflow" "overflow" $X average --experts "$D/ckpt_huge_weights.safetensors",$A --weights 10,-9 --out "$O/avg.safetensors"
case_ "average out under a file" "not a directory" $X average --experts $A,$A --out "$D/afile/dir/avg.safetensors"
case_ "average out is dir" "directory" $X average --experts $A,$A --out "$O/"
# ---- features (.npy) for cluster
for f in feat_garbage feat_trunc feat_fortran feat_int feat_3d feat_nan feat_huge_shape; do
  case_ "cluster $f" "npy\|truncated\|order\|dtype\|2-D\|NaN\|shape\|magic\|features" $X cluster --data $C --out "$O/c" --k 2 --features "$D/$f.npy"
done
case_ "features rows vs documents" "rows for" $X cluster --data $C --out "$O/c" --k 2 --features "$D/feat_rows2.npy"
case_ "features zero columns" "columns\|shape\|npy" $X cluster --data $C --out "$O/c" --k 2 --features "$D/feat_zero_cols.npy"
case_ "features missing" "cannot open" $X cluster --data $C --out "$O/c" --k 2 --features "$D/none.npy"
# ---- cluster: K, outputs
case_ "K larger than the data" "larger than the data" $X cluster --data $C --out "$O/c" --k 5000
case_ "K = 0" "must be an integer" $X cluster --data $C --out "$O/c" --k 0
case_ "K negative" "must be an integer" $X cluster --data $C --out "$O/c" --k -3
case_ "two-stage fine < K" "fine clusters\|larger than" $X cluster --data $C --out "$O/c" --k 4 --two-stage 2
case_ "cluster out is a file" "not a directory" $X cluster --data $C --out "$D/afile" --k 2
case_ "cluster out deep under a file" "not a directory" $X cluster --data $C --out "$D/afile/a/b" --k 2
case_ "cluster out under a file" "not a directory" $X cluster --data $C --out "$D/afile/sub" --k 2
case_ "cluster empty data" "no text documents" $X cluster --data "$O" --out "$O/c" --k 2
# ---- data
case_ "data missing" "no such file" $X train --data "$D/none" $TR --out "$O/x.safetensors"
case_ "data empty dir" "no text documents" $X train --data "$O" $TR --out "$O/x.safetensors"
case_ "data only binary" "no text documents" $X train --data "$D/bin" $TR --out "$O/x.safetensors"
case_ "docs blank line" "empty" $X train --data $C --docs "$D/docs_blank.txt" $TR --out "$O/x.safetensors"
case_ "docs outside root" "not a path inside" $X train --data $C --docs "$D/docs_dotdot.txt" $TR --out "$O/x.safetensors"
case_ "docs missing file" "cannot open" $X train --data $C --docs "$D/docs_missing.txt" $TR --out "$O/x.safetensors"
case_ "docs list missing" "cannot open" $X train --data $C --docs "$D/none.txt" $TR --out "$O/x.safetensors"
case_ "docs empty list" "no entries" $X train --data $C --docs "$D/manifest_empty.txt" $TR --out "$O/x.safetensors"
case_ "too few tokens" "training tokens" $X train --data $C/a/l000.txt --seq 4096 --steps 1 --out "$O/x.safetensors"
case_ "eval no held-out" "held-out" $X eval --model $A --data $C --val-permille 0
# ---- flags
case_ "steps negative" "must be an integer" $X train --data $C --steps -1 --out "$O/x.safetensors"
case_ "batch 0" "must be an integer" $X train --data $C --batch 0 --out "$O/x.safetensors"
case_ "seq 1" "must be an integer" $X train --data $C --seq 1 --out "$O/x.safetensors"
case_ "lr NaN" "must be a number" $X train --data $C --lr nan --out "$O/x.safetensors"
case_ "lr inf" "must be a number" $X train --data $C --lr inf --out "$O/x.safetensors"
case_ "lr junk" "must be a number" $X train --data $C --lr 1e-3x --out "$O/x.safetensors"
case_ "heads do not divide dim" "multiple of n_head" $X train --data $C $TR --dim 30 --heads 4 --out "$O/x.safetensors"
case_ "a model larger than memory" "GB" $X train --data $C --dim 8192 --layers 24 --heads 8 --steps 1 --out "$O/x.safetensors"
case_ "a batch larger than memory" "GB" $X train --data $C --batch 4096 --seq 2048 --steps 1 --out "$O/x.safetensors"
case_ "layers 0" "must be an integer" $X train --data $C --layers 0 --out "$O/x.safetensors"
case_ "val-permille 2000" "must be an integer" $X train --data $C --val-permille 2000 --out "$O/x.safetensors"
case_ "threads -1" "must be an integer" $X train --data $C --threads -1 --out "$O/x.safetensors"
case_ "bad objective" "ar or dfm" $X train --data $C --objective xyz --out "$O/x.safetensors"
case_ "unknown option" "unknown option" $X train --data $C --frob 1
case_ "missing value" "needs a value" $X train --data
case_ "positional argument" "unexpected argument" $X train oops
case_ "temp 0" "must be a number" $X sample --model $A --temp 0
case_ "top-p 2" "must be a number" $X sample --model $A --top-p 2
case_ "n 0" "must be an integer" $X sample --model $A --n 0
case_ "bad sampler" "sampler" $X infill --experts $F --text "a__b" --sampler nope
case_ "infill too long" "seq_len" $X infill --experts $F --route bayes --text "$(head -c 100 /dev/zero | tr '\0' '_')"
case_ "unknown command" "unknown command" $X frobnicate
# ---- outputs
case_ "train out under a file" "not a directory" $X train --data $C $TR --out "$D/afile/x.safetensors"
case_ "train out is dir" "directory" $X train --data $C $TR --out "$O"
case_ "train log under a file" "not a directory" $X train --data $C $TR --out "$O/x.safetensors" --log "$D/afile/l.csv"
case_ "plot out under a file" "not a directory" $X plot --out "$D/afile/p.svg" "$D/log_ok.csv"
case_ "plot bad log" "line 2" $X plot --out "$O/p.svg" "$D/log_bad.csv"
case_ "plot not a log" "no header with columns" $X plot --out "$O/p.svg" "$D/notalog.csv"
case_ "plot no logs" "at least one" $X plot --out "$O/p.svg"
case_ "plot missing log" "cannot read" $X plot --out "$O/p.svg" "$D/none.csv"
case_ "plot labels vs logs" "labels for" $X plot --out "$O/p.svg" --labels a,b "$D/log_ok.csv"
# ---- Hugging Face interchange
mkdir -p "$D/hf_relu" "$D/hf_nocfg"; $X export --model $A --format hf --out "$D/hf_relu" > /dev/null || exit 1
sed -i 's/gelu_new/relu/' "$D/hf_relu/config.json"; cp "$D/hf_relu/model.safetensors" "$D/hf_nocfg/"
case_ "export DFM as GPT-2" "DFM" $X export --model $F --format hf --out "$O/hf"
case_ "export bad format" "hf or weights" $X export --model $A --format onnx --out "$O/hf"
case_ "export truncated" "truncated\|does not fit" $X export --model "$D/ckpt_trunc_half.safetensors" --format weights --out "$O/w.safetensors"
case_ "import other activation" "activation" $X import --hf "$D/hf_relu" --out "$O/x.safetensors"
case_ "import without config" "cannot open" $X import --hf "$D/hf_nocfg" --out "$O/x.safetensors"
case_ "import a decar checkpoint dir" "cannot open" $X import --hf "$D" --out "$O/x.safetensors"
# ---- tokenizers
$X tokenizer --data "$C" --out "$D/tok" --vocab 300 > /dev/null || { echo "FAILED: fixture tok"; exit 1; }
$X train --data "$C" $TR --tokenizer "$D/tok" --out "$D/bpe.safetensors" || { echo "FAILED: fixture bpe"; exit 1; }
mkdir -p "$D/tok_bad" "$D/tok_nomerges"; printf '{"a": 0}' > "$D/tok_bad/vocab.json"; cp "$D/tok/merges.txt" "$D/tok_bad/"
cp "$D/tok/vocab.json" "$D/tok_nomerges/"
mkdir -p "$D/tok_badmerge"; cp "$D/tok/vocab.json" "$D/tok_badmerge/"; printf '#version: 0.2\nzzzz qqqq\n' > "$D/tok_badmerge/merges.txt"
case_ "BPE model without its tokenizer" "tokenizer" $X sample --model "$D/bpe.safetensors" --n 2
case_ "byte model with a tokenizer" "tokenizer" $X eval --model $A --data $C --tokenizer "$D/tok"
case_ "BPE experts without the tokenizer" "tokenizer" $X ens-eval --experts "$D/bpe.safetensors","$D/bpe.safetensors" --data $C --route uniform
case_ "tokenizer missing" "cannot open" $X train --data $C $TR --tokenizer "$D/none" --out "$O/x.safetensors"
case_ "tokenizer without merges" "cannot open" $X train --data $C $TR --tokenizer "$D/tok_nomerges" --out "$O/x.safetensors"
case_ "tokenizer vocab too small" "tokens" $X train --data $C $TR --tokenizer "$D/tok_bad" --out "$O/x.safetensors"
case_ "tokenizer merge of unknown tokens" "merges.txt" $X train --data $C $TR --tokenizer "$D/tok_badmerge" --out "$O/x.safetensors"
case_ "tokenizer vocab below 257" "must be an integer" $X tokenizer --data $C --out "$O/t" --vocab 100
case_ "tokenizer out is a file" "not a directory" $X tokenizer --data $C --out "$D/afile"
case_ "encode without a tokenizer" "required" $X tokenizer --encode "abc"
# ---- images
case_ "images bad size" "whole number" $X vtrain --images "$D/img" --steps 1 --out "$O/v.safetensors"
case_ "images vs captions" "captions" $X vtrain --images "$D/img2" --steps 1 --out "$O/v.safetensors"
case_ "images missing" "cannot open" $X vtrain --images "$D/none" --steps 1 --out "$O/v.safetensors"
case_ "vcluster out is a file" "not a directory" $X vcluster --images "$D/img2" --out "$D/afile"
case_ "caption with a text model" "prefix" $X caption --experts $A --route uniform --images "$D/img3"
# ---- quantized checkpoints
$X quantize --model $A --out "$D/q8.safetensors" > /dev/null || { echo "FAILED: fixture q8"; exit 1; }
head -c 1000 "$D/q8.safetensors" > "$D/q8_cut.safetensors"
sed 's/"quant":"q8_0"/"quant":"q4_7"/' "$D/q8.safetensors" > "$D/q_unknown.safetensors"
case_ "quantize unknown dtype" "q8_0 or bf16" $X quantize --model $A --out "$O/q.safetensors" --dtype int4
case_ "quantize twice, another type" "already quantized" $X quantize --model "$D/q8.safetensors" --out "$O/q.safetensors" --dtype bf16
case_ "quantize a missing model" "cannot open" $X quantize --model "$D/none.safetensors" --out "$O/q.safetensors"
case_ "quantized checkpoint truncated" "truncated" $X sample --model "$D/q8_cut.safetensors" --n 2
case_ "quantized checkpoint, unknown quantization" "unknown quantization" $X sample --model "$D/q_unknown.safetensors" --n 2
case_ "training a quantized model" "inference" $X train --data $C $TR --init "$D/q8.safetensors" --out "$O/x.safetensors"
# ---- second round (issue 32): the newer formats and outputs held to the same standard
# case_in DIR NAME KEYWORD cmd...: as case_, for a command whose outputs go into the existing DIR: DIR must be left
# exactly as it was (no file added, removed or changed: all or nothing), besides the usual checks
case_in() {
  local dir=$1 before after; shift
  before=$(find "$dir" -printf '%p %s %T@\n' | sort)
  case_ "$@"
  after=$(find "$dir" -printf '%p %s %T@\n' | sort)
  if [ "$before" != "$after" ]; then
    echo "FAILED bad input [$1]: $dir changed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -2 | tr '\n' ' ')"
    fail=$((fail + 1)); pass=$((pass - 1))
  fi
}
# BPE files: a merges.txt line longer than the whole vocab.json (a heap overrun before), ids that are no ids
for n in 10000 300000; do
  mkdir -p "$D/tok_long$n"; cp "$D/tok/vocab.json" "$D/tok_long$n/"
  { echo '#version: 0.2'; head -c $n /dev/zero | tr '\0' 'a'; echo ' b'; } > "$D/tok_long$n/merges.txt"
  case_ "merges.txt line of $n bytes (train)" "merges.txt" $X train --data $C $TR --tokenizer "$D/tok_long$n" --out "$O/x.safetensors"
done
case_ "merges.txt line longer than vocab.json (encode)" "merges.txt" $X tokenizer --tokenizer "$D/tok_long10000" --encode abc
case_ "merges.txt line longer than vocab.json (eval)" "merges.txt" $X eval --model "$D/bpe.safetensors" --data $C --tokenizer "$D/tok_long10000"
mkdir -p "$D/tok_neg" "$D/tok_str" "$D/tok_frac" "$D/tok_dupkey"
for t in tok_neg tok_str tok_frac tok_dupkey; do cp "$D/tok/merges.txt" "$D/$t/"; done
sed 's/: 5,/: -5,/' "$D/tok/vocab.json" > "$D/tok_neg/vocab.json"
sed 's/: 5,/: "5",/' "$D/tok/vocab.json" > "$D/tok_str/vocab.json"
sed 's/: 5,/: 5.5,/' "$D/tok/vocab.json" > "$D/tok_frac/vocab.json"
sed 's/^{/{"a": 5, /' "$D/tok/vocab.json" > "$D/tok_dupkey/vocab.json"
case_ "vocab.json negative id" "negative id" $X tokenizer --tokenizer "$D/tok_neg" --encode abc
case_ "vocab.json id a string" "whole number" $X tokenizer --tokenizer "$D/tok_str" --encode abc
case_ "vocab.json id a fraction" "vocab.json" $X tokenizer --tokenizer "$D/tok_frac" --encode abc
case_ "vocab.json duplicate key" "repeated\|repeats" $X tokenizer --tokenizer "$D/tok_dupkey" --encode abc
printf '{"a": 0}x' > "$D/tok_bad/vocab.json"
case_ "vocab.json trailing bytes" "vocab.json" $X tokenizer --tokenizer "$D/tok_bad" --encode abc
# config.json: one JSON reader (top-level keys only, the last duplicate wins, the whole text one object)
$X export --model $A --format hf --out "$D/hf_ok" > /dev/null || exit 1
hfcase() { # hfcase NAME KEYWORD PYTHON-EXPRESSION-OF-c (the exported config.json text)
  mkdir -p "$D/$1"; cp "$D/hf_ok/model.safetensors" "$D/$1/"
  python3 -c "import sys; c = open(sys.argv[1]).read(); open(sys.argv[2], 'w').write($3)" "$D/hf_ok/config.json" "$D/$1/config.json"
  case_ "import $1" "$2" $X import --hf "$D/$1" --out "$O/x.safetensors"
}
hfcase hf_nested_only 'lacks a valid "n_head"' "c.replace('\"n_head\": 2,', '\"inner\": {\"n_head\": 2},')"
hfcase hf_key_object 'lacks a valid "n_head"' "c.replace('\"n_head\": 2,', '\"n_head\": {\"n_head\": 2},')"
hfcase hf_dup_last_wins "multiple of n_head 3" "c.replace('\"n_head\": 2,', '\"n_head\": 2, \"n_head\": 3,')"
hfcase hf_trailing "well-formed" "c + 'x'"
hfcase hf_two_objects "well-formed" "c + c"
hfcase hf_array "well-formed" "'[' + c + ']'"
hfcase hf_deep "well-formed" "c.replace('{', '{\"deep\": ' + '[' * 5000 + ']' * 5000 + ',', 1)"
hfcase hf_unterminated "well-formed" "c[:-5]"
hfcase hf_negative 'lacks a valid "n_layer"' "c.replace('\"n_layer\": 1,', '\"n_layer\": -1,')"
hfcase hf_huge 'lacks a valid "n_embd"' "c.replace('\"n_embd\": 16,', '\"n_embd\": 99999999999999999999,')"
hfcase hf_control_char "well-formed" "c.replace('gpt2', 'gp\\x01t2')"
# quantized checkpoints: scales and dequantized values finite on load, a forward that overflows refused
for f in q8_scale_inf q8_scale_nan; do case_ "$f" "NaN\|Inf" $X sample --model "$D/$f.safetensors" --n 2; done
case_ "q8_0 scale x 127 overflows" "dequantizes to NaN or Inf" $X eval --model "$D/q8_scale_huge.safetensors" --data $C --val-permille 500
case_ "q8_0 forward overflows (eval)" "NaN or Inf" $X eval --model "$D/q8_scale_big.safetensors" --data $C --val-permille 500
case_ "q8_0 forward overflows (ens-eval)" "NaN or Inf" $X ens-eval --experts "$D/q8_scale_big.safetensors" --route uniform --data $C --val-permille 500 --domains 0
mkdir -p "$D/img40"; head -c 40960 /dev/urandom > "$D/img40/images_32x32_u8.bin"; seq 40 | sed 's/^/caption /' > "$D/img40/captions.txt"
case_ "vtrain from a quantized model" "quantized" $X vtrain --images "$D/img40" --init "$D/q8.safetensors" --steps 1 --out "$O/v.safetensors"
# a checkpoint's kind: a CLIP tower is an encoder, refused by every command that reads a language model
T=$D/ckpt_clip_text.safetensors
case_ "sample a CLIP text tower" "CLIP" $X sample --model $T --n 2
case_ "eval a CLIP text tower" "CLIP" $X eval --model $T --data $C
case_ "generate with a CLIP text tower" "CLIP" $X generate --experts $A,$T --route uniform --n 2
case_ "ens-eval with a CLIP text tower" "CLIP" $X ens-eval --experts $T,$A --route uniform --data $C
case_ "average with a CLIP text tower" "CLIP" $X average --experts $A,$T --out "$O/avg.safetensors"
case_ "train --init a CLIP text tower" "CLIP" $X train --data $C $TR --init $T --out "$O/x.safetensors"
case_ "quantize a CLIP text tower" "CLIP" $X quantize --model $T --out "$O/q.safetensors"
case_ "export a CLIP text tower" "CLIP" $X export --model $T --format hf --out "$O/hf"
case_ "caption with a CLIP text tower" "CLIP" $X caption --experts $T --route uniform --images "$D/img3"
case_ "router LM a CLIP text tower" "CLIP" $X generate --experts $A,$A --route smalltalk --router-lms $A,$T --n 2
case_ "unknown checkpoint kind" "clip_tower" $X sample --model "$D/ckpt_clip_unknown.safetensors" --n 2
mkdir -p "$D/clip_lms"; cp $A "$D/clip_lms/image.safetensors"; cp $A "$D/clip_lms/text.safetensors"
case_ "clip --model of two language models" "not a CLIP encoder pair" $X clip --images "$D/img3" --model "$D/clip_lms" --embed "$O/e.npy"
# plot: CSV rows of any length (a long row is one row, never phantom points)
{ echo "step,tokens,train_loss,val_loss,seconds,note"; echo "1,64,5,5,1,$(head -c 9000 /dev/zero | tr '\0' '7')"
  echo "2,128,5,5,1,y"; echo "3,x,5,5,1,y"; } > "$D/log_long.csv"
case_ "plot: long row, then junk on line 4" "line 4" $X plot --out "$O/p.svg" "$D/log_long.csv"
{ printf 'step,tokens,train_loss,val_loss,seconds'; head -c 9000 /dev/zero | tr '\0' ' '; echo; echo "1,2,3"; } > "$D/log_longhead.csv"
case_ "plot: long header, short row" "line 2" $X plot --out "$O/p.svg" "$D/log_longhead.csv"
printf 'step,tokens,val_loss\n1,2\0,3\n' > "$D/log_nul.csv"
case_ "plot: NUL in a row" "line 2" $X plot --out "$O/p.svg" "$D/log_nul.csv"
# multi-file outputs: all or nothing (a directory where a later file goes is found before the first rename)
mkdir -p "$D/cl_dir/shard_1.txt"
case_in "$D/cl_dir" "cluster with shard_1.txt a directory" "nothing was written" $X cluster --data $C --out "$D/cl_dir" --k 2 --feat-dim 16
mkdir -p "$D/tok_out/merges.txt"
case_in "$D/tok_out" "tokenizer with merges.txt a directory" "nothing was written" $X tokenizer --data $C --out "$D/tok_out" --vocab 300
mkdir -p "$D/hf_out/config.json"
case_in "$D/hf_out" "export with config.json a directory" "nothing was written" $X export --model $A --format hf --out "$D/hf_out"
mkdir -p "$D/vc_out/vrouter.safetensors"
case_in "$D/vc_out" "vcluster with its router path a directory" "nothing was written" $X vcluster --images "$D/img40" --out "$D/vc_out" --k 2
# folders made only once the inputs are good; nothing trained before an output is known writable
case_ "train on missing data, deep output" "no such file" $X train --data "$D/none" $TR --out "$O/new/deep/x.safetensors" --log "$O/logs/l.csv"
case_ "train, bad tokenizer, deep output" "cannot open" $X train --data $C $TR --tokenizer "$D/none" --out "$O/new/x.safetensors"
case_ "vtrain on missing images, deep output" "cannot open" $X vtrain --images "$D/none" --steps 1 --out "$O/new/v.safetensors"
case_ "quantize a missing model, deep output" "cannot open" $X quantize --model "$D/none.safetensors" --out "$O/new/q.safetensors"
case_ "import without config, deep output" "cannot open" $X import --hf "$D/hf_nocfg" --out "$O/new/x.safetensors"
case_ "clip --embed unwritable (before training)" "not a directory" $X clip --images "$D/img3" --out "$O/enc" --steps 1 --embed "$D/afile/e.npy"
case_ "clip --patches unwritable (before training)" "not a directory" $X clip --images "$D/img3" --out "$O/enc" --steps 1 --patches "$D/afile/p.npy"
case_ "clip --patch not dividing the image" "does not divide" $X clip --images "$D/img3" --out "$O/enc" --steps 1 --patch 5
case_ "clip --patch with --model" "no use" $X clip --images "$D/img3" --model "$O/enc" --patch 4 --embed "$O/e.npy"
case_ "clip --init with a shape option" "shapes a new encoder" $X clip --images "$D/img3" --init "$O/enc" \
  --out "$O/enc2" --dim 64
case_ "clip --init with --patch" "shapes a new encoder" $X clip --images "$D/img3" --init "$O/enc" --out "$O/enc2" \
  --patch 4
case_ "clip --init and --model" "not both" $X clip --images "$D/img3" --init "$O/enc" --model "$O/enc" --embed "$O/e.npy"
case_ "clip --init of two language models" "not a CLIP encoder pair" $X clip --images "$D/img3" --init "$D/clip_lms" --out "$O/enc2" --steps 1
case_ "clip --embed a directory" "directory" $X clip --images "$D/img3" --out "$O/enc" --steps 1 --embed "$O"
# messages that said something else
mkdir -p "$D/img0"; : > "$D/img0/images_32x32_u8.bin"; : > "$D/img0/captions.txt"
case_ "an empty image set" "empty" $X vtrain --images "$D/img0" --steps 1 --out "$O/v.safetensors"
case_ "no prompt, a model of 10 tokens" "start token" $X generate --experts "$D/ckpt_vocab10.safetensors" --route uniform --n 2
case_ "route-k beyond the list" "not a count" $X ens-eval --experts $A,$A --router $R --data $C --route-k x
# the scripts: every setting checked before any work, the variable named, exit 2, no output folder left
case_script() { # case_script NAME KEYWORD VAR=VALUE SCRIPT
  local name=$1 kw=$2 err rc
  err=$(env TINY=1 DATA="$C" OUT="$O/run" "$3" bash "scripts/$4" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 2 ]; then echo "FAILED bad setting [$name]: exit $rc, wanted 2: $(echo "$err" | tail -1)"; fail=$((fail + 1))
  elif ! echo "$err" | tail -1 | grep -q -- "$kw"; then echo "FAILED bad setting [$name]: message does not say '$kw': $(echo "$err" | tail -1)"; fail=$((fail + 1))
  elif [ -n "$(ls -A "$O")" ]; then echo "FAILED bad setting [$name]: left $(ls -A "$O")"; fail=$((fail + 1))
  else pass=$((pass + 1)); fi
  rm -rf "$O"; mkdir -p "$O"
}
for sc in scaling.sh pipeline.sh; do
  case_script "$sc KS empty" "KS=''" "KS=" $sc
  case_script "$sc KS blank" "KS=' '" "KS= " $sc
  case_script "$sc KS not a number" "KS=" "KS=2 x" $sc
  case_script "$sc KS zero" "KS=" "KS=0" $sc
  case_script "$sc LR junk" "LR=" "LR=fast" $sc
  case_script "$sc SEQ 1" "SEQ=" "SEQ=1" $sc
  case_script "$sc JOBS empty" "JOBS=" "JOBS=" $sc
  case_script "$sc DATA missing" "DATA=" "DATA=$D/none" $sc
  case_script "$sc OUT empty" "OUT=" "OUT=" $sc
done
case_script "scaling.sh BUDGETS 0" "BUDGETS=" "BUDGETS=0" scaling.sh
case_script "scaling.sh BUDGETS empty" "BUDGETS=" "BUDGETS=" scaling.sh
case_script "scaling.sh SIZES heads" "SIZES=" "SIZES=1:10:3" scaling.sh
case_script "scaling.sh BASE 0" "BASE=" "BASE=0" scaling.sh
case_script "pipeline.sh STEPS 0" "STEPS=" "STEPS=0" pipeline.sh
case_script "pipeline.sh STEPS 1 with a base" "STEPS=" "STEPS=1" pipeline.sh
case_script "pipeline.sh BPE abc" "BPE=" "BPE=abc" pipeline.sh
case_script "pipeline.sh BPE 100" "BPE=" "BPE=100" pipeline.sh
case_script "pipeline.sh DFM 2" "DFM=" "DFM=2" pipeline.sh
case_script "pipeline.sh BRANCH 1" "BRANCH=" "BRANCH=1" pipeline.sh
case_script "pipeline.sh DIM vs HEADS" "DIM=" "DIM=31" pipeline.sh
case_script "pipeline_vision.sh K 0" "K=" "K=0" pipeline_vision.sh
case_script "pipeline_vision.sh BATCH 1" "BATCH=" "BATCH=1" pipeline_vision.sh
# stale temporaries: a dead writer's "<target>.tmp.<pid>.<salt>" goes with the next write of the target; a live
# process's (this shell's) and a name of another form stay
sh -c 'exit 0' & dead=$!; wait $dead
mkdir -p "$D/stale"; cp $A "$D/stale/m.safetensors"
for t in "m.safetensors.tmp.$dead.1a2b" "m.safetensors.tmp.$$.1a2b" "m.safetensors.tmp.$dead.xyz"; do echo junk > "$D/stale/$t"; done
if $X quantize --model $A --out "$D/stale/m.safetensors" > /dev/null 2>&1 && [ ! -e "$D/stale/m.safetensors.tmp.$dead.1a2b" ] &&
  [ -e "$D/stale/m.safetensors.tmp.$$.1a2b" ] && [ -e "$D/stale/m.safetensors.tmp.$dead.xyz" ]; then pass=$((pass + 1))
else echo "FAILED: stale temporaries: $(ls "$D/stale" | tr '\n' ' ')"; fail=$((fail + 1)); fi
rm -rf "$D/stale"
total=$((pass + fail))
echo "bad-input catalogue: $total cases, $pass clean failures, $fail wrong"
[ $fail -eq 0 ] && [ $total -ge 100 ]
