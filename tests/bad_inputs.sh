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
case_ "ens-eval DFM bayes" "not available" $X ens-eval --experts $F,$F --router $R --data $C --route bayes
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
case_ "external features, wrong shape" "rows" $X generate --experts $A,$A --router "$D/kx/router.safetensors" --n 2 --prompt-features "$D/k2/features.npy"
case_ "tf-idf router, external features" "does not apply" $X ens-eval --experts $A,$A --router $R --data $C --features "$D/k2/features.npy"
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
case_ "topk 0 generate" "must be an integer" $X generate --experts $A,$A --route uniform --route-k 0
case_ "bad sampler" "sampler" $X infill --experts $F --text "a__b" --sampler nope
case_ "infill too long" "seq_len" $X infill --experts $F --text "$(head -c 100 /dev/zero | tr '\0' '_')"
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
total=$((pass + fail))
echo "bad-input catalogue: $total cases, $pass clean failures, $fail wrong"
[ $fail -eq 0 ] && [ $total -ge 100 ]
