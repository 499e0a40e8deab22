#!/usr/bin/env bash
# The PyTorch engine's pinned virtual environment (engines/requirements.txt) in .venv-engines,
# which ftbench finds by itself (`ftbench list` says whether the engine is usable). Installing
# takes ~4 min and ~5.8 GB (PyPI's torch brings its CUDA libraries). Idempotent: a venv that
# already imports every pinned version is kept.
#
#   scripts/setup-engines.sh            # .venv-engines from PyPI
#   FTBENCH_PYTHON=/path/to/python ...  # or point ftbench at an interpreter that has them (a GPU
#                                       # machine's own PyTorch + PEFT + bitsandbytes)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-engines
want=$(grep -E '^[a-z]' engines/requirements.txt | tr '\n' ' ')
check='import importlib.metadata as m, sys
want = dict(l.split("==") for l in sys.argv[1:])
bad = [f"{k} {m.version(k)} (want {v})" for k, v in want.items() if m.version(k).split("+")[0] != v]
sys.exit(", ".join(bad) if bad else 0)'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" $want 2>/dev/null; then
    echo "$venv: up to date ($want)"
    exit 0
fi
if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 needs its venv package.
    rm -rf "$venv"
    apt-get update && apt-get install -y --no-install-recommends python3-venv
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r engines/requirements.txt
"$venv/bin/python" -c "$check" $want
echo "$venv: installed ($want)"
