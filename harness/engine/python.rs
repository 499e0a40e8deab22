//! The Python that runs the PyTorch engine: `$FTBENCH_PYTHON`, else the project's pinned virtual
//! environment (`.venv-engines`, made by scripts/setup-engines.sh), else `python3` on the PATH;
//! and what it has installed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The engine program, carried in the binary and written beside each job (a binary copied to a
/// cluster node needs no source tree).
pub const PROGRAM: &str = include_str!("../../engines/pytorch.py");

/// The interpreter, and where the choice came from.
pub fn interpreter() -> (PathBuf, &'static str) {
    if let Some(p) = std::env::var_os("FTBENCH_PYTHON").filter(|p| !p.is_empty()) {
        return (PathBuf::from(p), "$FTBENCH_PYTHON");
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-engines/bin/python");
    if venv.exists() {
        return (venv, "the project's .venv-engines");
    }
    (PathBuf::from("python3"), "python3 on the PATH")
}

const PROBE: &str = "import json, platform, torch, transformers, peft, bitsandbytes, safetensors\n\
print(json.dumps({'python': platform.python_version(), 'torch': torch.__version__, 'transformers': transformers.__version__, \
'peft': peft.__version__, 'bitsandbytes': bitsandbytes.__version__, 'cuda': torch.version.cuda or 'none'}))";

/// The libraries the engine needs and their versions, or why they cannot be used here.
pub fn versions() -> Result<BTreeMap<String, String>, String> {
    let (py, from) = interpreter();
    let out = Command::new(&py).args(["-c", PROBE]).output().map_err(|e| {
        format!(
            "cannot run {} ({from}): {e}; run scripts/setup-engines.sh or set FTBENCH_PYTHON",
            py.display()
        )
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim();
        return Err(format!(
            "{} ({from}) cannot import the engine's libraries: {last}; run scripts/setup-engines.sh or set FTBENCH_PYTHON",
            py.display()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    let mut v: BTreeMap<String, String> =
        serde_json::from_str(line).map_err(|e| format!("{}: unexpected probe output `{line}`: {e}", py.display()))?;
    v.insert("interpreter".into(), py.display().to_string());
    Ok(v)
}
