#!/bin/sh
# Regenerates the tiny models and their golden predictions with Debian's fasttext CLI
# (apt-get install -y fasttext). tiny.train holds 600 gettext messages in five languages.
set -eu
cd "$(dirname "$0")"
fasttext supervised -input tiny.train -output tiny -dim 4 -bucket 500 -minn 2 -maxn 4 \
  -epoch 25 -lr 1.0 -minCount 1 -loss hs -thread 1 -seed 1 -verbose 0
# -qout needs >= 256 labels, so quantized outputs are covered by the live CLI test.
fasttext quantize -input tiny.train -output tiny -qnorm -cutoff 300 -dsub 2 -verbose 0
rm -f tiny.vec
sed 's/^__label__[a-z]* //' tiny.train | head -60 > tiny.queries
fasttext predict-prob tiny.bin tiny.queries 5 > tiny.bin.golden
fasttext predict-prob tiny.ftz tiny.queries 5 > tiny.ftz.golden
# The crafted broken files (badmagic.bin, version13.bin, loss9.bin, skipgram.bin,
# truncated.ftz) are the first 200 bytes of tiny.bin with one header field changed,
# and the first 5000 bytes of tiny.ftz; see fasttext_test.go for what each must report.
