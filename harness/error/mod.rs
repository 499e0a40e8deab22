//! Errors a user can act on, as types the cell's process reports (runner/failure.rs): bad input
//! names the file and, where there is one, the key or line. Every layer may raise one; it sits
//! below them all and depends on nothing.

use std::fmt;

/// An input that cannot be used: a missing or corrupt model file, a malformed dataset line, a
/// bad adapter folder. Raised as an `anyhow::Error`; the child finds it in the error's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct BadInput {
    /// The file (or folder) at fault.
    pub file: String,
    /// Where in it: a key path, `line N`, a tensor name.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl BadInput {
    pub fn new(file: impl fmt::Display, key: Option<String>, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(BadInput {
            file: file.to_string(),
            key,
            message: message.into(),
        })
    }

    /// `e` as bad input in `file`, unless its chain already holds a `BadInput` (kept as it is).
    pub fn in_file(e: anyhow::Error, file: impl fmt::Display) -> anyhow::Error {
        if BadInput::find(&e).is_some() {
            return e;
        }
        BadInput::new(file, None, format!("{e:#}"))
    }

    /// The first `BadInput` in an error's chain of causes.
    pub fn find(e: &anyhow::Error) -> Option<&BadInput> {
        e.chain().find_map(|c| c.downcast_ref::<BadInput>())
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A message that already names the file (a wrapped loader error) is shown as it is.
        match &self.key {
            _ if self.message.contains(&self.file) => f.write_str(&self.message),
            Some(k) => write!(f, "{}: {k}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for BadInput {}

/// A setting the cell's engine cannot run (`engine: pytorch` with an optimizer PyTorch has no
/// implementation of, say): refused by name, never approximated.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    /// The knob whose value the engine refuses.
    pub key: String,
    pub message: String,
}

impl Unsupported {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Unsupported {
            key: key.into(),
            message: message.into(),
        })
    }

    /// The first `Unsupported` in an error's chain of causes.
    pub fn find(e: &anyhow::Error) -> Option<&Unsupported> {
        e.chain().find_map(|c| c.downcast_ref::<Unsupported>())
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "knob `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for Unsupported {}

/// An allocation that failed in a process the cell ran (another engine's `MemoryError` or
/// `torch.OutOfMemoryError`): the record's status is `oom`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfMemory {
    pub message: String,
}

impl OutOfMemory {
    pub fn find(e: &anyhow::Error) -> Option<&OutOfMemory> {
        e.chain().find_map(|c| c.downcast_ref::<OutOfMemory>())
    }
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "out of memory: {}", self.message)
    }
}

impl std::error::Error for OutOfMemory {}
