//! PiSSA (`lora_init: pissa`, harness/method/pissa.rs): PEFT's own initialisation of one layer
//! as the known answer, the model starting exactly where the base was, QPiSSA's smaller
//! quantization error, and an adapter ftbench trained loading into PEFT with the same logits.

mod common;

use candle_core::{DType, Device, Tensor};
use ftbench::method::{self, Init, InitInput, Method, MethodConfig};
use ftbench::model::{preset, random_weights};

fn data(path: &str) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path), &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

/// PEFT 0.21's `init_lora_weights="pissa"` on a 12 × 20 layer at rank 4 (tests/data/
/// pissa_peft_1.safetensors, tests/scripts/pissa_known_answer.py), plain and rsLoRA scaling: the
/// same residual and the same B·A; A and B themselves up to the sign of each singular pair (an
/// SVD's vectors are defined up to sign: PEFT's and faer's choices may differ).
#[test]
fn pissa_starts_as_peft_starts() {
    let d = data("tests/data/pissa_peft_1.safetensors");
    let pissa = Init::lookup("pissa").unwrap();
    for tag in ["", "rslora_"] {
        let scale = d[&format!("{tag}scaling")].to_vec1::<f32>().unwrap()[0] as f64;
        let i = pissa
            .init(&InitInput {
                name: "proj",
                weight: &d["weight"],
                rank: 4,
                scale,
                seed: 0,
            })
            .unwrap();
        let (pa, pb) = (&d[&format!("{tag}lora_A")], &d[&format!("{tag}lora_B")]);
        let residual = i.residual.as_ref().expect("PiSSA moves part of the weight into the adapter");
        assert!(max_diff(residual, &d[&format!("{tag}residual")]) < 1e-5, "{tag}residual");
        assert!(max_diff(&i.b.matmul(&i.a).unwrap(), &pb.matmul(pa).unwrap()) < 1e-5, "{tag}B·A");
        for k in 0..4 {
            let (a, peft_a) = (i.a.get(k).unwrap(), pa.get(k).unwrap());
            let sign = if (&a * &peft_a).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() < 0.0 {
                -1.0
            } else {
                1.0
            };
            assert!(max_diff(&(a * sign).unwrap(), &peft_a) < 1e-5, "{tag}A row {k}");
            let (b, peft_b) = (i.b.narrow(1, k, 1).unwrap(), pb.narrow(1, k, 1).unwrap());
            assert!(max_diff(&(b * sign).unwrap(), &peft_b) < 1e-5, "{tag}B column {k}");
        }
        // The layer starts where it was: residual + scale·B·A is the weight.
        let back = (residual + (i.b.matmul(&i.a).unwrap() * scale).unwrap()).unwrap();
        assert!(max_diff(&back, &d["weight"]) < 1e-5);
    }
}

fn logits(method: &str, init: &str) -> Tensor {
    let cfg = preset("tiny").unwrap();
    let mut w = random_weights(&cfg, 4, DType::F32, &Device::Cpu).unwrap();
    let mut mc = MethodConfig::defaults(Method::named(method), 0);
    mc.lora.init = Init::lookup(init).unwrap();
    mc.lora.rank = 8;
    let b = method::build(&cfg, &mut w, &mc, DType::F32, &Device::Cpu).unwrap();
    let ids = Tensor::new(&[[3u32, 17, 42, 5, 99, 64, 11, 8]], &Device::Cpu).unwrap();
    b.decoder.logits(&b.decoder.hidden_states(&ids).unwrap()).unwrap()
}

/// Before training, a PiSSA model is the base model (the adapter holds what the base gave up),
/// and under an NF4 base (QPiSSA) it is closer to the unquantized model than QLoRA is: the
/// principal components stay in f32 and only the residual is quantized (the paper's claim).
#[test]
fn the_model_starts_as_the_base_and_qpissa_quantizes_less_of_it() {
    let base = logits("base", "default");
    let lora = logits("lora", "pissa");
    assert!(
        max_diff(&lora, &base) < 1e-4,
        "PiSSA starts as the base: {}",
        max_diff(&lora, &base)
    );
    let qlora = max_diff(&logits("qlora", "default"), &base);
    let qpissa = max_diff(&logits("qlora", "pissa"), &base);
    eprintln!("max logit error against the f32 model at init: QLoRA {qlora:.4}, QPiSSA {qpissa:.4}");
    assert!(qpissa < qlora, "QPiSSA {qpissa} vs QLoRA {qlora}");
}

/// An adapter a `lora_init: pissa` cell trained and saved (tests/data/peft_pissa/adapter) says
/// `init_lora_weights: "pissa"`; ftbench reads it back as PiSSA (the residual rebuilt from the
/// base) and PEFT 0.21 loads it on the same base with the same logits
/// (tests/data/peft_pissa/peft_logits.safetensors, tests/scripts/peft_pissa.py).
#[test]
fn peft_loads_ftbenchs_pissa_adapter_and_gives_the_same_logits() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/data/peft_pissa/adapter");
    let info = method::load_adapter(&dir).unwrap();
    assert_eq!(info.lora.init.name(), "pissa", "the initialisation is read back");
    let base = root.join("tests/data/peft_dora/base");
    let (_, got, want) = common::logits_with_adapter(&base, &dir, &root.join("tests/data/peft_pissa/peft_logits.safetensors"));
    let diff = max_diff(&got, &want["logits"]);
    assert!(
        diff < 1e-4,
        "ftbench's logits with its PiSSA adapter differ from PEFT's by {diff:e}"
    );
    assert!(max_diff(&got, &want["base_logits"]) > 0.1, "the trained adapter changes the model");
}
