#!/usr/bin/env bash
# ollama-build.sh — build the pinned Ollama (from its Go module, with cgo) and
# tinygguf (writes the tests' tiny random-weight model with Ollama's GGUF
# writer), both from the tool module in .ci/ollama, which keeps Ollama out of
# polyglot's own dependency graph.
#
# Idempotent: the binaries are cached in $POLYGLOT_CI_CACHE/ollama-VERSION-KEY
# (default $HOME/.cache/polyglot-ci), keyed by the tool module's files, and
# rebuilt only when missing. Prints the shell lines that export their paths:
#   eval "$(bash .ci/ollama-build.sh)"
# Needs gcc/g++ and Debian's nlohmann-json3-dev and libstb-dev (Ollama's
# module zip leaves out llama.cpp's vendor/ folder); miniaudio, which Debian 12
# does not package, is replaced by the header in .ci/ollama/include.
set -euo pipefail
cd "$(dirname "$0")/ollama"

log() { echo "ollama-build: $*" >&2; }

version=$(awk '$1 == "require" && $2 == "github.com/ollama/ollama" {print $3}' go.mod)
[[ -n $version ]] || { log "go.mod does not require github.com/ollama/ollama"; exit 1; }
key=$(cat go.mod go.sum tinygguf/*.go include/miniaudio/*.h | sha256sum | cut -c1-12)
cache=${POLYGLOT_CI_CACHE:-$HOME/.cache/polyglot-ci}
dir=$cache/ollama-$version-$key

for h in /usr/include/nlohmann/json.hpp /usr/include/stb/stb_image.h; do
  [[ -f $h ]] || { log "missing $h: apt-get install nlohmann-json3-dev libstb-dev"; exit 1; }
done

if [[ -x $dir/ollama && -x $dir/tinygguf ]]; then
  log "cached: $dir"
else
  log "building Ollama $version into $dir (cgo; several minutes on 2 cores)"
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  export GOFLAGS=-mod=mod CGO_ENABLED=1 CGO_CPPFLAGS="-I$PWD/include"
  # The version Ollama reports (a module build leaves it at 0.0.0).
  nice -n 10 go build -trimpath -ldflags "-X github.com/ollama/ollama/version.Version=${version#v}" \
    -o "$tmp/ollama" github.com/ollama/ollama
  nice -n 10 go build -trimpath -o "$tmp/tinygguf" ./tinygguf
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
  log "built in $(($(date +%s) - start))s"
fi
"$dir/ollama" --version >&2 || true
echo "export POLYGLOT_OLLAMA_BIN=$dir/ollama POLYGLOT_TINYGGUF_BIN=$dir/tinygguf"
