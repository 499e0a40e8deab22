//! The article's claims (each method's `published()`), each marked by what these records
//! measured: confirmed, refuted, or not measurable here — with the figure that decides it.
//!
//! - Accuracy ("QLoRA loses ~1–2%"): the claim is a range of differences from full fine-tuning
//!   (`accuracy_delta_points`). Refuted when the 95% interval of the measured difference misses
//!   the range; confirmed when it meets the range and its half-width is at most
//!   [`RESOLVING_HALF_WIDTH`] points (the claim's own scale) — the figure then says whether the
//!   interval also holds no loss at all (consistent with the claim rather than proof of a loss)
//!   and what loss it rules out; otherwise not measurable here.
//! - Parameters updated ("~1–5%"): the measured trainable share of each model.
//! - Peak memory of a 7B model on a GPU ("LoRA 24–32 GB"): GPU cells of a model of 6B
//!   parameters or more, by the device's view (NVML); without one, not measurable here, with
//!   ftbench's estimate for Llama-2-7B at the article's settings beside it.

use super::accuracy::AccuracyRow;
use super::frame::GroupStats;
use super::rows::Row;
use crate::method::Method;
use serde::Serialize;

/// The widest 95% half-width, in points, that can tell a 1–2 point claim apart.
pub const RESOLVING_HALF_WIDTH: f64 = 3.0;

#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub method: String,
    /// The article's words.
    pub claim: String,
    /// Where it was checked (model, task).
    pub on: String,
    /// `confirmed`, `refuted` or `not measurable here`.
    pub status: String,
    /// The figure that decides it.
    pub figure: String,
}

use super::rows::{short_model as short, signed_points as pts};

/// Whether a measured interval [lo, hi] (points) supports a claimed range [a, b].
pub fn judge(lo: f64, hi: f64, claim: (f64, f64)) -> &'static str {
    if hi < claim.0 || lo > claim.1 {
        "refuted"
    } else if (hi - lo) / 2.0 <= RESOLVING_HALF_WIDTH {
        "confirmed"
    } else {
        "not measurable here"
    }
}

fn accuracy_claims(m: Method, range: (f64, f64), accuracy: &[AccuracyRow], out: &mut Vec<Claim>) {
    let p = m.published().expect("claims are of published methods");
    let mine: Vec<&AccuracyRow> = accuracy
        .iter()
        .filter(|a| a.method == m.as_str() && a.trained_on == a.eval_task && a.vs_full.is_some())
        .collect();
    for a in &mine {
        let d = a.vs_full.expect("filtered");
        let (lo, hi) = (100.0 * d.low, 100.0 * d.high);
        let status = judge(lo, hi, range);
        let half = (hi - lo) / 2.0;
        let why = match status {
            "refuted" if hi < range.0 => format!("it loses more than claimed (interval [{}, {}])", pts(lo), pts(hi)),
            "refuted" => format!("it loses less than claimed (interval [{}, {}])", pts(lo), pts(hi)),
            "confirmed" if lo >= range.0 && hi <= range.1 => format!("the interval [{}, {}] lies inside the claimed range", pts(lo), pts(hi)),
            "confirmed" => format!(
                "the interval [{}, {}] meets the claimed range{}{}",
                pts(lo),
                pts(hi),
                if lo < 0.0 { format!("; a loss larger than {:.1} points is ruled out", -lo) } else { String::new() },
                if hi >= 0.0 && range.1 < 0.0 { "; the interval also holds no loss at all: consistent with the claim, not proof of a loss" } else { "" }
            ),
            _ => format!(
                "the interval [{}, {}] (±{half:.1}) is wider than the claim's scale (±{RESOLVING_HALF_WIDTH:.0}); smallest detectable difference {:.1}",
                pts(lo),
                pts(hi),
                100.0 * d.mde
            ),
        };
        out.push(Claim {
            method: m.label().into(),
            claim: format!("accuracy loss vs full: {}", p.accuracy_loss),
            on: format!("{} · {}", short(&a.model), a.eval_task),
            status: status.into(),
            figure: format!(
                "Δ {} points over {} seed(s) × {} items: {why}",
                pts(100.0 * d.mean),
                d.pairs,
                a.items
            ),
        });
    }
    if mine.is_empty() {
        out.push(Claim {
            method: m.label().into(),
            claim: format!("accuracy loss vs full: {}", p.accuracy_loss),
            on: "–".into(),
            status: "not measurable here".into(),
            figure: "no real task scored both this method and full fine-tuning of the same model".into(),
        });
    }
}

fn params_claims(m: Method, groups: &[GroupStats], out: &mut Vec<Claim>) {
    let p = m.published().expect("claims are of published methods");
    let (a, b) = p.params_updated_percent;
    let mut seen = Vec::new();
    for g in groups.iter().filter(|g| g.method == m.as_str() && g.ok > 0) {
        let Some(t) = g.trainable_percent else { continue };
        if seen.contains(&g.model) {
            continue;
        }
        seen.push(g.model.clone());
        // "~": a tenth of the range's ends either way still reads as the claim.
        let ok = t >= a * 0.9 && t <= b * 1.1;
        out.push(Claim {
            method: m.label().into(),
            claim: format!("parameters updated: {}", p.params_updated),
            on: short(&g.model),
            status: if ok { "confirmed" } else { "refuted" }.into(),
            figure: format!("{t:.2}% of the parameters train at this model's size"),
        });
    }
}

fn memory_claims(m: Method, rows: &[Row], out: &mut Vec<Claim>) {
    let p = m.published().expect("claims are of published methods");
    let (a, b) = p.vram_gb;
    let seven: Vec<&Row> = rows
        .iter()
        .filter(|r| r.method == m.as_str() && r.status == "ok" && r.params_total.unwrap_or(0) >= 6_000_000_000)
        .filter(|r| r.gpu_nvml_peak_gb.is_some())
        .collect();
    let claim = format!("peak memory of a 7B model: {a:.0}–{b:.0} GB (GPU)");
    match seven.first() {
        Some(r) => {
            let gb = r.gpu_nvml_peak_gb.expect("filtered");
            out.push(Claim {
                method: m.label().into(),
                claim,
                on: format!("{} on {}", short(&r.model), r.device),
                status: if gb >= a && gb <= b { "confirmed" } else { "refuted" }.into(),
                figure: format!(
                    "{gb:.1} GB device used (NVML) at batch {} × {}, {}",
                    r.batch_size, r.seq_len, r.compute_dtype
                ),
            });
        }
        None => {
            let est = super::article::seven_b(m).map(|s| s.device_gb);
            out.push(Claim {
                method: m.label().into(),
                claim,
                on: "–".into(),
                status: "not measurable here".into(),
                figure: match est {
                    Some(e) => format!(
                        "no GPU cell of a 7B model in these records; ftbench's estimate for Llama-2-7B at the article's settings: {e:.1} GB ({} the claim)",
                        if e >= a && e <= b { "inside" } else { "outside" }
                    ),
                    None => "no GPU cell of a 7B model in these records".into(),
                },
            });
        }
    }
}

/// Every claim of every method the article makes one for, in registry order.
pub fn claims(accuracy: &[AccuracyRow], groups: &[GroupStats], rows: &[Row]) -> Vec<Claim> {
    let mut out = Vec::new();
    for m in Method::all().filter(|m| m.published().is_some()) {
        let p = m.published().expect("filtered");
        if let Some(range) = p.accuracy_delta_points {
            accuracy_claims(m, range, accuracy, &mut out);
        }
        params_claims(m, groups, &mut out);
        memory_claims(m, rows, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn a_claim_is_judged_by_where_and_how_wide_the_interval_is() {
        let qlora = (-2.0, -1.0);
        assert_eq!(judge(-9.4, 8.3, qlora), "not measurable here");
        assert_eq!(judge(-3.0, 1.0, qlora), "confirmed");
        assert_eq!(judge(-8.0, -3.0, qlora), "refuted", "loses more than claimed");
        assert_eq!(judge(0.5, 4.0, qlora), "refuted", "loses less than claimed");
        let lora = (-1.0, f64::INFINITY);
        assert_eq!(judge(-0.5, 5.0, lora), "confirmed");
        assert_eq!(judge(-6.0, -2.0, lora), "refuted");
    }
}
