//! The registries: every method a suite can name (in the order reports list them) and every LoRA
//! initialisation. A new method or initialisation is one line here (and its own file).

use super::kind::{FineTuning, Method};
use super::lora_init::{Gaussian, Init, Kaiming, LoraInit};

/// Every method a suite can name, in the order reports list them.
pub static METHODS: &[&dyn FineTuning] = &[
    &super::base::Base,
    &super::full::Full,
    &super::lora::Lora,
    &super::qlora::Qlora,
    &super::dora::Dora,
    &super::qdora::Qdora,
    &super::lora_plus::LoraPlus,
];

impl Method {
    /// The registered method called `name`; the error lists every name.
    pub fn lookup(name: &str) -> std::result::Result<Method, String> {
        METHODS.iter().find(|m| m.name() == name).map(|m| Method(*m)).ok_or_else(|| {
            let known: Vec<&str> = METHODS.iter().map(|m| m.name()).collect();
            format!("unknown method `{name}`: expected one of {}", known.join(", "))
        })
    }

    /// The registered method called `name`; panics on an unknown name (for names written in
    /// the source, such as tests and the article's settings).
    pub fn named(name: &str) -> Method {
        Method::lookup(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every registered method.
    pub fn all() -> impl Iterator<Item = Method> {
        METHODS.iter().map(|m| Method(*m))
    }

    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }

    pub(super) fn index(&self) -> usize {
        METHODS.iter().position(|m| m.name() == self.name()).unwrap_or(usize::MAX)
    }
}

impl PartialOrd for Method {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Method {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index().cmp(&other.index())
    }
}
impl<'de> serde::Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // A visitor, so the error is raised inside the deserializer and carries its position.
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Method;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a method name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Method, E> {
                Method::lookup(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Name)
    }
}

/// The method-specific knobs of every registered method, each once.
pub fn method_knobs() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for m in METHODS {
        for k in m.knobs() {
            if !v.contains(&k) {
                v.push(k);
            }
        }
    }
    v
}

/// Every initialisation a suite can name; the first is the default. One entry per line.
#[rustfmt::skip]
pub static LORA_INITS: &[&dyn LoraInit] = &[
    &Kaiming,
    &Gaussian,
    &super::pissa::Pissa,
];

impl Init {
    /// The registered initialisation called `name`; the error lists every name.
    pub fn lookup(name: &str) -> std::result::Result<Init, String> {
        LORA_INITS.iter().find(|i| i.name() == name).map(|i| Init(*i)).ok_or_else(|| {
            let known: Vec<&str> = LORA_INITS.iter().map(|i| i.name()).collect();
            format!("unknown LoRA initialisation `{name}`: expected one of {}", known.join(", "))
        })
    }

    /// The one whose PEFT `init_lora_weights` is `v` (an adapter's config; absent = true).
    pub fn of_peft(v: &serde_json::Value) -> std::result::Result<Init, String> {
        LORA_INITS.iter().find(|i| i.peft_value() == *v).map(|i| Init(*i)).ok_or_else(|| {
            let known: Vec<String> = LORA_INITS.iter().map(|i| i.peft_value().to_string()).collect();
            format!(
                "init_lora_weights {v} is not one ftbench builds (expected one of {})",
                known.join(", ")
            )
        })
    }

    pub fn default_init() -> Init {
        Init(LORA_INITS[0])
    }
}
