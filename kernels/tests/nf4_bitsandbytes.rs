//! Known-answer tests: ftbench's NF4 against bitsandbytes 0.50.2 (CPU, quant_type="nf4"), from
//! `tests/data/nf4_1.safetensors`, a copy of shared/testdata/nf4_1.safetensors (see
//! shared/testdata/README.md). Everything must match
//! bit for bit: packed codes, absmax, dequantized values and, with double quantization, the
//! 8-bit codes, offset, second-level absmax, the dynamic map and the end result.

use candle_core::{Device, Tensor};
use ftbench_kernels::nf4::{self, Absmax, DoubleQuant, Nf4Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn data_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nf4_1.safetensors"))
}

struct Case {
    name: String,
    rows: usize,
    cols: usize,
    blocksize: usize,
    blocksize2: usize,
}

/// The `cases` metadata: the safetensors header is an 8-byte little-endian length and JSON.
fn read_cases(path: &Path) -> Vec<Case> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let cases = header["__metadata__"]["cases"].as_str().expect("metadata `cases`");
    let cases: serde_json::Map<String, serde_json::Value> = serde_json::from_str(cases).unwrap();
    let mut out: Vec<Case> = cases
        .iter()
        .map(|(name, c)| {
            let shape: Vec<usize> = c["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(shape.len(), 2, "case {name}: 2-D shapes only");
            Case {
                name: name.clone(),
                rows: shape[0],
                cols: shape[1],
                blocksize: c["blocksize"].as_u64().unwrap() as usize,
                blocksize2: c["blocksize2"].as_u64().unwrap_or(256) as usize,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The tensors and cases (the file ships with the crate: these tests always run).
fn load() -> Option<(HashMap<String, Tensor>, Vec<Case>)> {
    let path = data_path();
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    Some((tensors, read_cases(&path)))
}

fn f32s(t: &HashMap<String, Tensor>, key: &str) -> Vec<f32> {
    t.get(key)
        .unwrap_or_else(|| panic!("missing tensor {key}"))
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn u8s(t: &HashMap<String, Tensor>, key: &str) -> Vec<u8> {
    t.get(key)
        .unwrap_or_else(|| panic!("missing tensor {key}"))
        .flatten_all()
        .unwrap()
        .to_vec1::<u8>()
        .unwrap()
}

/// Bitwise equality of f32 slices, reporting the first difference.
fn assert_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        let count = (0..got.len()).filter(|&i| got[i].to_bits() != want[i].to_bits()).count();
        panic!("{what}: {count} values differ, first at {i}: got {} want {}", got[i], want[i]);
    }
}

fn assert_bytes(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        let count = (0..got.len()).filter(|&i| got[i] != want[i]).count();
        panic!(
            "{what}: {count} bytes differ, first at {i}: got {:#04x} want {:#04x}",
            got[i], want[i]
        );
    }
}

#[test]
fn cases_are_described() {
    let Some((t, cases)) = load() else { return };
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for c in &cases {
        assert_eq!(t[&format!("{}.input", c.name)].dims(), &[c.rows, c.cols]);
        assert_eq!(c.blocksize2, nf4::DOUBLE_QUANT_BLOCKSIZE);
        // Element 5 of every input is exactly 0.
        assert_eq!(f32s(&t, &format!("{}.input", c.name))[5], 0.0);
    }
}

#[test]
fn plain_nf4_matches_bitsandbytes() {
    let Some((t, cases)) = load() else { return };
    for c in &cases {
        let k = |s: &str| format!("{}.{s}", c.name);
        let input = f32s(&t, &k("input"));
        let q = Nf4Tensor::quantize(&input, (c.rows, c.cols), c.blocksize, false).unwrap();
        assert_bytes(&format!("{}: packed", c.name), q.packed(), &u8s(&t, &k("packed")));
        let Absmax::Plain(absmax) = q.absmax() else {
            panic!("plain absmax expected")
        };
        assert_bits(&format!("{}: absmax", c.name), absmax, &f32s(&t, &k("absmax")));
        let want = f32s(&t, &k("dequant"));
        assert_bits(&format!("{}: dequant", c.name), &q.dequantize(), &want);
        // Zero stays zero (code 7).
        assert_eq!(q.code(5), 7, "{}", c.name);
        assert_eq!(q.dequantize()[5], 0.0);
        // Byte accounting.
        assert_eq!(q.packed_bytes(), c.rows * c.cols / 2);
        assert_eq!(q.constants_bytes(), 4 * (c.rows * c.cols).div_ceil(c.blocksize));
        // bitsandbytes' own bytes, dequantized here, give its values too; and via candle.
        let theirs = Nf4Tensor::from_parts(
            (c.rows, c.cols),
            c.blocksize,
            u8s(&t, &k("packed")),
            Absmax::Plain(f32s(&t, &k("absmax"))),
        )
        .unwrap();
        assert_bits(&format!("{}: dequant of bnb's bytes", c.name), &theirs.dequantize(), &want);
        let via_candle = Nf4Tensor::quantize_tensor(&t[&k("input")], c.blocksize, false).unwrap();
        assert_eq!(via_candle, q);
        let dt = q.dequantize_tensor(&Device::Cpu).unwrap();
        assert_bits(
            &format!("{}: dequant tensor", c.name),
            &dt.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &want,
        );
    }
}

#[test]
fn dynamic_map_matches_code2() {
    let Some((t, cases)) = load() else { return };
    for c in &cases {
        assert_bits(
            &format!("{}: code2", c.name),
            nf4::dynamic_map(),
            &f32s(&t, &format!("{}.dq.code2", c.name)),
        );
    }
}

#[test]
fn double_quant_matches_bitsandbytes() {
    let Some((t, cases)) = load() else { return };
    for c in &cases {
        let k = |s: &str| format!("{}.dq.{s}", c.name);
        let input = f32s(&t, &format!("{}.input", c.name));
        let q = Nf4Tensor::quantize(&input, (c.rows, c.cols), c.blocksize, true).unwrap();
        assert_bytes(&format!("{}: dq packed", c.name), q.packed(), &u8s(&t, &k("packed")));
        let Absmax::Double(d) = q.absmax() else {
            panic!("double-quantized absmax expected")
        };
        assert_eq!(d.blocksize2, c.blocksize2);
        assert_bits(&format!("{}: offset", c.name), &[d.offset], &f32s(&t, &k("offset")));
        assert_bytes(&format!("{}: absmax_q", c.name), &d.codes, &u8s(&t, &k("absmax_q")));
        assert_bits(&format!("{}: absmax2", c.name), &d.absmax2, &f32s(&t, &k("absmax2")));
        assert_bits(&format!("{}: code2", c.name), &d.code2[..], &f32s(&t, &k("code2")));
        let want = f32s(&t, &k("dequant"));
        assert_bits(&format!("{}: dq dequant", c.name), &q.dequantize(), &want);
        let blocks = (c.rows * c.cols).div_ceil(c.blocksize);
        assert_eq!(q.constants_bytes(), blocks + 4 * blocks.div_ceil(c.blocksize2) + 4);

        // The stored bitsandbytes state, assembled and dequantized here.
        let code2: [f32; 256] = f32s(&t, &k("code2")).try_into().unwrap();
        let theirs = DoubleQuant {
            codes: u8s(&t, &k("absmax_q")),
            absmax2: f32s(&t, &k("absmax2")),
            offset: f32s(&t, &k("offset"))[0],
            blocksize2: c.blocksize2,
            code2: Box::new(code2),
        };
        let theirs = Nf4Tensor::from_parts((c.rows, c.cols), c.blocksize, u8s(&t, &k("packed")), Absmax::Double(theirs)).unwrap();
        assert_bits(&format!("{}: dq dequant of bnb's state", c.name), &theirs.dequantize(), &want);

        // The offset is PyTorch's mean of the plain absmax values.
        let plain = f32s(&t, &format!("{}.absmax", c.name));
        assert_eq!(nf4::torch_mean_f32(&plain).to_bits(), d.offset.to_bits());
        let dq = DoubleQuant::quantize(&plain).unwrap();
        assert_eq!(&dq, d);
    }
}
