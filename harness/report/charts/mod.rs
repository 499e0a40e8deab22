//! Charts with plotters, as SVG text: peak memory per method and model against common GPU
//! capacities, accuracy against memory (Pareto view), tokens/s, training-loss curves, and the
//! estimate against the measured memory. Every chart renders, with a note when it has no data.

mod bars;
mod forest;
mod loss;
mod scatter;
mod serving;

pub use bars::{memory, throughput};
pub use forest::forest;
pub use loss::{eval_curves, loss_curves};
pub use scatter::{estimate_vs_measured, pareto};
pub use serving::serving;

use super::accuracy::AccuracyRow;
use super::frame::GroupStats;
use super::rows::Row;
use crate::record::Record;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One chart: its file name, title, what it shows, and its SVG.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    pub file: String,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// GPU memory capacities drawn on the memory chart, GB.
pub const GPU_CAPACITIES_GB: &[f64] = &[8.0, 12.0, 24.0, 40.0, 80.0, 141.0];

const W: u32 = 960;
const H: u32 = 440;
pub(super) const FONT: &str = "sans-serif";

pub(super) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// The method's colour (`FineTuning::color`); grey for a name this ftbench does not know.
pub fn method_color(method: &str) -> RGBColor {
    let (r, g, b) = crate::method::Method::lookup(method).map_or((0x80, 0x80, 0x80), |m| m.color());
    RGBColor(r, g, b)
}

pub(super) const GREY: RGBColor = RGBColor(0x70, 0x70, 0x78);
pub(super) const LIGHT: RGBColor = RGBColor(0xb8, 0xb8, 0xc0);

/// Renders into an SVG string: `draw` gets the area below the title.
pub(super) fn render(title: &str, draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>) -> Result<String> {
    render_sized(title, (W, H), draw)
}

/// `render` at another size (a chart whose height grows with its rows).
pub(super) fn render_sized(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let area = root.titled(title, (FONT, 18)).map_err(err)?;
        draw(&area)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

pub(super) fn no_data(area: &DrawingArea<SVGBackend, Shift>, what: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 16).into_font())
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(what.to_string(), (w as i32 / 2, h as i32 / 2), style))
        .map_err(err)
}

/// GB as a short label: "141 GB", "1.5 GB", "20 MB", "2.5 MB" (3 significant digits at most).
pub(super) fn gb_label(v: f64) -> String {
    let (x, unit) = if v >= 1.0 { (v, "GB") } else { (v * 1000.0, "MB") };
    let digits = if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    let t = format!("{x:.digits$}");
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    };
    format!("{t} {unit}")
}

/// Tick values for a log axis over [lo, hi]: powers of ten, else 1-2-5 steps, else 1..9 steps,
/// else (a narrow range) evenly spaced round values.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mults: [&[f64]; 3] = [&[1.0], &[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]];
    for m in mults {
        let ticks: Vec<f64> = (k0..=k1)
            .flat_map(|k| m.iter().map(move |x| x * 10f64.powi(k)))
            .filter(|t| *t >= lo && *t <= hi)
            .collect();
        if ticks.len() >= 3 {
            return ticks;
        }
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

pub(super) const LIGHTER: RGBColor = RGBColor(0xf3, 0xf3, 0xf6);

/// Every chart's mesh in the report's style: a light major grid and the report's fonts.
pub(super) trait HouseStyle {
    fn house_style(&mut self) -> &mut Self;
}

impl<X, Y, XT, YT, DB> HouseStyle for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = XT> + plotters::coord::ranged1d::ValueFormatter<XT>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = YT> + plotters::coord::ranged1d::ValueFormatter<YT>,
    DB: DrawingBackend,
{
    fn house_style(&mut self) -> &mut Self {
        self.bold_line_style(LIGHTER).label_style((FONT, 12)).axis_desc_style((FONT, 13))
    }
}

pub(super) use crate::report::rows::short_model;

/// A log range that covers `values` with some room, never empty.
pub(super) fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.01, 1.0);
    }
    (lo / 1.6, hi * 1.6)
}

pub(super) fn lin_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.12).max(hi.abs() * 0.02).max(0.5);
    (lo - pad, hi + pad)
}

/// A chart on `area` with a log x axis over `xs` (1-2-5 ticks) and a linear y axis over `ys`,
/// in the scatter charts' margins.
pub(super) fn log_x_chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    xs: (f64, f64),
    ys: (f64, f64),
) -> Result<
    ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::combinators::WithKeyPoints<LogCoord<f64>>, plotters::coord::types::RangedCoordf64>,
    >,
> {
    ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((xs.0..xs.1).log_scale().with_key_points(log_ticks(xs.0, xs.1)), ys.0..ys.1)
        .map_err(err)
}

/// Every chart of a report, in page order.
/// The house legend: white box, light border, at `position`.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(LIGHT)
        .label_font((FONT, 12))
        .draw()
}

pub fn all(
    groups: &[GroupStats],
    records: &[Record],
    rows: &[Row],
    accuracy: &[AccuracyRow],
    serving_rows: &[crate::report::serving::ServingRow],
) -> Result<Vec<Chart>> {
    let mut charts = forest(accuracy)?;
    charts.extend(pareto(groups, rows)?);
    charts.extend([memory(groups)?, throughput(groups)?]);
    charts.extend(loss_curves(records, rows)?);
    charts.extend(eval_curves(records, rows)?);
    charts.push(estimate_vs_measured(rows)?);
    charts.extend(serving(serving_rows)?);
    Ok(charts)
}

#[cfg(test)]
mod tests {
    use super::{gb_label, log_ticks};

    #[test]
    fn labels_and_ticks() {
        assert_eq!(gb_label(141.0), "141 GB");
        assert_eq!(gb_label(1.5), "1.5 GB");
        assert_eq!(gb_label(0.02), "20 MB");
        assert_eq!(gb_label(0.0025), "2.5 MB");
        assert_eq!(log_ticks(0.001, 200.0), vec![0.001, 0.01, 0.1, 1.0, 10.0, 100.0]);
        assert_eq!(log_ticks(3.0, 60.0), vec![5.0, 10.0, 20.0, 50.0]);
        let narrow = log_ticks(0.019, 0.021);
        assert!(
            narrow.len() >= 3 && narrow.iter().all(|t| (0.019..=0.021).contains(t)),
            "{narrow:?}"
        );
    }
}
