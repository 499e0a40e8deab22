//! Bar charts: peak memory (log scale, GPU capacities) and tokens/s (one panel per model).

use super::{err, gb_label, log_ticks, method_color, no_data, render, short_model, Chart, HouseStyle, FONT, GPU_CAPACITIES_GB, GREY};
use crate::report::frame::{GroupStats, Stat};
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A bar: one configuration's median with its min–max over seeds.
struct Bar {
    model: String,
    method: String,
    stat: Stat,
}

fn bars(groups: &[GroupStats], pick: impl Fn(&GroupStats) -> Stat) -> Vec<Bar> {
    groups
        .iter()
        .filter(|g| g.ok > 0 && pick(g).median.is_some())
        .map(|g| Bar {
            model: g.model.clone(),
            method: g.method.clone(),
            stat: pick(g),
        })
        .collect()
}

/// A bar's label: the method's name, numbered where one model has several
/// configurations of the method (their settings are in the summary table): labels never carry
/// a configuration string, which overprints its neighbours.
fn bar_label(data: &[&Bar], i: usize) -> String {
    let b = data[i];
    // The registry name ("full", "qlora"): the report's long labels do not fit under a bar.
    let label = b.method.clone();
    let same: Vec<usize> = (0..data.len())
        .filter(|&j| data[j].model == b.model && data[j].method == b.method)
        .collect();
    if same.len() > 1 {
        format!("{label} {}", same.iter().position(|&j| j == i).unwrap_or(0) + 1)
    } else {
        label
    }
}

/// Draws bars (median, whiskers min–max, colour by method) on an x axis of bar indices, and
/// labels under the plot: the method (and configuration) under each bar, the model under
/// each run of bars of one model.
fn draw_bars<'a, 's: 'a, Y>(
    area: &DrawingArea<SVGBackend<'s>, Shift>,
    chart: &mut ChartContext<'a, SVGBackend<'s>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    data: &[&Bar],
    floor: f64,
) -> Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    let mut methods: Vec<&str> = data.iter().map(|b| b.method.as_str()).collect();
    methods.dedup();
    let mut seen = std::collections::BTreeSet::new();
    for method in methods {
        if !seen.insert(method) {
            continue;
        }
        let color = method_color(method);
        let items: Vec<(usize, &Bar)> = data.iter().copied().enumerate().filter(|(_, b)| b.method == method).collect();
        chart
            .draw_series(items.iter().map(|(i, b)| {
                let x = *i as f64;
                Rectangle::new(
                    [(x - 0.32, floor), (x + 0.32, b.stat.median.unwrap_or(floor))],
                    color.mix(0.85).filled(),
                )
            }))
            .map_err(err)?;
        for (i, b) in &items {
            if let (Some(lo), Some(hi)) = (b.stat.min, b.stat.max) {
                if hi > lo {
                    let x = *i as f64;
                    let s = BLACK.stroke_width(1);
                    chart
                        .draw_series([
                            PathElement::new(vec![(x, lo), (x, hi)], s),
                            PathElement::new(vec![(x - 0.08, lo), (x + 0.08, lo)], s),
                            PathElement::new(vec![(x - 0.08, hi), (x + 0.08, hi)], s),
                        ])
                        .map_err(err)?;
                }
            }
        }
    }
    // Labels under the plotting area, in pixels of the whole chart.
    let bottom = chart.backend_coord(&(0.0, floor)).1;
    let under = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let offset = area.get_base_pixel();
    for i in 0..data.len() {
        let (x, _) = chart.backend_coord(&(i as f64, floor));
        let text = bar_label(data, i);
        area.draw(&Text::new(text, (x - offset.0, bottom - offset.1 + 6), under.clone()))
            .map_err(err)?;
    }
    let mut start = 0;
    for i in 1..=data.len() {
        if i == data.len() || data[i].model != data[start].model {
            let (x0, _) = chart.backend_coord(&(start as f64, floor));
            let (x1, _) = chart.backend_coord(&((i - 1) as f64, floor));
            let style = TextStyle::from((FONT, 13).into_font().style(FontStyle::Bold)).pos(Pos::new(HPos::Center, VPos::Top));
            area.draw(&Text::new(
                short_model(&data[start].model),
                ((x0 + x1) / 2 - offset.0, bottom - offset.1 + 24),
                style,
            ))
            .map_err(err)?;
            start = i;
        }
    }
    Ok(())
}

/// Peak process RSS per configuration (median, min–max over seeds), log scale, with dashed
/// lines at common GPU capacities.
pub fn memory(groups: &[GroupStats]) -> Result<Chart> {
    let data = bars(groups, |g| g.peak_rss_gb);
    let svg = render("Peak memory per method and model", |area| {
        if data.is_empty() {
            return no_data(area, "no cell ended ok: nothing to plot");
        }
        let lowest = data
            .iter()
            .filter_map(|b| b.stat.min.or(b.stat.median))
            .fold(f64::INFINITY, f64::min);
        let floor = (lowest / 3.0).max(1e-4);
        let top = 141.0 * 1.6;
        let n = data.len() as f64;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.6..n - 0.4, (floor..top).log_scale().with_key_points(log_ticks(floor, top)))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("peak process RSS (CPU), GB — log scale")
            .y_label_formatter(&|v| gb_label(*v))
            .house_style()
            .draw()
            .map_err(err)?;
        for &c in GPU_CAPACITIES_GB {
            chart
                .draw_series(DashedLineSeries::new(vec![(-0.6, c), (n - 0.4, c)], 6, 4, GREY.stroke_width(1)))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{c:.0} GB GPU"),
                    (n - 0.45, c),
                    TextStyle::from((FONT, 11).into_font())
                        .color(&GREY)
                        .pos(Pos::new(HPos::Right, VPos::Bottom)),
                )))
                .map_err(err)?;
        }
        draw_bars(area, &mut chart, &data.iter().collect::<Vec<_>>(), floor)
    })?;
    Ok(Chart {
        file: "memory.svg".into(),
        title: "Peak memory".into(),
        caption: "Peak process RSS of each configuration's cells (bar: median over seeds; whisker: min–max), \
                  GB on a log scale. Dashed lines: GPU memory of common cards (8, 12, 24, 40, 80, 141 GB) — \
                  a CPU process's RSS is not a GPU's memory, but it says which class of card the run's \
                  tensors would need."
            .into(),
        svg,
    })
}

/// Tokens/s per configuration (median, min–max over seeds).
pub fn throughput(groups: &[GroupStats]) -> Result<Chart> {
    let data = bars(groups, |g| g.tokens_per_s);
    let svg = render("Training throughput per method and model", |area| {
        if data.is_empty() {
            return no_data(area, "no cell ended ok: nothing to plot");
        }
        // One panel per model, each on its own linear scale: models differ by orders of magnitude.
        let mut models: Vec<&str> = data.iter().map(|b| b.model.as_str()).collect();
        models.dedup();
        let panels = area.split_evenly((1, models.len()));
        for (panel, model) in panels.iter().zip(&models) {
            let mine: Vec<&Bar> = data.iter().filter(|b| b.model == *model).collect();
            let top = mine.iter().filter_map(|b| b.stat.max.or(b.stat.median)).fold(0.0, f64::max) * 1.15;
            let n = mine.len() as f64;
            let mut chart = ChartBuilder::on(panel)
                .margin(12)
                .x_label_area_size(48)
                .y_label_area_size(64)
                .build_cartesian_2d(-0.6..n - 0.4, 0.0..top.max(1e-9))
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc("tokens / s (median steady step)")
                .y_label_formatter(&|v| format!("{v:.0}"))
                .light_line_style(WHITE)
                .house_style()
                .draw()
                .map_err(err)?;
            draw_bars(panel, &mut chart, &mine, 0.0)?;
        }
        Ok(())
    })?;
    Ok(Chart {
        file: "throughput.svg".into(),
        title: "Tokens per second".into(),
        caption: "Training tokens per second (every input token of an update ÷ the median steady step time; \
                  warm-up steps excluded), one panel per model, each on its own scale. Bar: median over seeds; \
                  whisker: min–max."
            .into(),
        svg,
    })
}
