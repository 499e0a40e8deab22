//! Scatter charts: accuracy against memory (Pareto view) and the estimate against the measured memory.

use super::{
    draw_legend, err, gb_label, lin_range, log_range, log_ticks, method_color, no_data, render, short_model, Chart, HouseStyle, GREY,
};
use crate::report::frame::GroupStats;
use crate::report::rows::Row;
use anyhow::Result;
use plotters::prelude::*;

/// Draws one marker at a data point: the shape says the model (circle, triangle, square, cross).
macro_rules! marker {
    ($chart:expr, $shape:expr, $at:expr, $style:expr) => {{
        let (at, style): ((f64, f64), ShapeStyle) = ($at, $style);
        match $shape % 4 {
            0 => $chart.draw_series(std::iter::once(Circle::new(at, 5, style))),
            1 => $chart.draw_series(std::iter::once(TriangleMarker::new(at, 7, style))),
            2 => $chart.draw_series(std::iter::once(EmptyElement::at(at) + Rectangle::new([(-4, -4), (4, 4)], style))),
            _ => $chart.draw_series(std::iter::once(Cross::new(at, 5, style.stroke_width(2)))),
        }
        .map_err(err)?;
    }};
}

/// Per (model, task): the task's score (held-out token accuracy on a synthetic task) against
/// peak memory and against time per token, one marker per configuration coloured by method, with
/// whiskers min–max over seeds, the Pareto front on each, and a legend instead of point labels.
pub fn pareto(groups: &[GroupStats], rows: &[Row]) -> Result<Vec<Chart>> {
    // Each configuration's task, looked up once.
    let tasks: std::collections::BTreeMap<&str, &str> = rows.iter().map(|r| (r.config_id.as_str(), r.task.as_str())).collect();
    let task_of = |g: &GroupStats| tasks.get(g.config_id.as_str()).map(|t| t.to_string());
    let mut keys: Vec<(String, String)> = Vec::new();
    let usable = |g: &&GroupStats| g.ok > 0 && g.peak_rss_gb.median.is_some() && g.eval_token_accuracy.mean.is_some();
    for g in groups.iter().filter(usable) {
        let Some(t) = task_of(g) else { continue };
        if !keys.contains(&(g.model.clone(), t.clone())) {
            keys.push((g.model.clone(), t));
        }
    }
    if keys.is_empty() {
        let svg = super::render("Score against cost", |area| {
            no_data(area, "no cell ended ok with an evaluation: nothing to plot")
        })?;
        return Ok(vec![Chart {
            file: "pareto-1.svg".into(),
            title: "Score against cost".into(),
            caption: "No cell ended ok with an evaluation.".into(),
            svg,
        }]);
    }
    keys.iter()
        .enumerate()
        .map(|(k, (model, task))| {
            let pts: Vec<&GroupStats> = groups
                .iter()
                .filter(usable)
                .filter(|g| g.model == *model && task_of(g).as_deref() == Some(task.as_str()))
                .collect();
            let scored = pts.iter().all(|g| g.eval_score.mean.is_some());
            let title = format!("Score against cost — {} · {task}", short_model(model));
            let svg = render(&title, |area| {
                let (w, _) = area.dim_in_pixel();
                let (left, right) = area.split_horizontally(w / 2);
                panel(&left, &pts, scored, Cost::Memory)?;
                panel(&right, &pts, scored, Cost::TimePerToken)
            })?;
            Ok(Chart {
                file: format!("pareto-{}.svg", k + 1),
                title,
                caption: pareto_caption(scored),
                svg,
            })
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Cost {
    Memory,
    TimePerToken,
}

/// One panel: score against one cost, lower-left is cheaper, up is better.
fn panel(area: &DrawingArea<SVGBackend, plotters::coord::Shift>, pts: &[&GroupStats], scored: bool, cost: Cost) -> Result<()> {
    let acc = |g: &GroupStats| if scored { g.eval_score } else { g.eval_token_accuracy };
    let x_of = |g: &GroupStats| -> Option<(f64, f64, f64)> {
        match cost {
            Cost::Memory => Some((g.peak_rss_gb.median?, g.peak_rss_gb.min?, g.peak_rss_gb.max?)),
            // ms per token from tokens/s: the slowest run is the longest time.
            Cost::TimePerToken => Some((
                1000.0 / g.tokens_per_s.median?,
                1000.0 / g.tokens_per_s.max?,
                1000.0 / g.tokens_per_s.min?,
            )),
        }
    };
    let with_x: Vec<(&GroupStats, (f64, f64, f64))> = pts.iter().filter_map(|g| Some((*g, x_of(g)?))).collect();
    if with_x.is_empty() {
        return no_data(area, "no timed steps (the base model trains nothing)");
    }
    let xs = log_range(with_x.iter().flat_map(|(_, x)| [x.0, x.1, x.2]));
    let ys = lin_range(pts.iter().flat_map(|g| [acc(g).min, acc(g).max]).flatten().map(|a| 100.0 * a));
    let mut chart = super::log_x_chart(area, xs, ys)?;
    let x_desc = match cost {
        Cost::Memory => "peak memory (process RSS), GB — log",
        Cost::TimePerToken => "training time per token, ms — log",
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(if scored { "task score, %" } else { "held-out token accuracy, %" })
        .x_label_formatter(&|v| {
            if cost == Cost::Memory {
                gb_label(*v)
            } else {
                format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
            }
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .house_style()
        .draw()
        .map_err(err)?;
    let front = pareto_front(with_x.iter().filter_map(|(g, x)| Some((x.0, 100.0 * acc(g).mean?))).collect());
    if front.len() > 1 {
        chart
            .draw_series(DashedLineSeries::new(front, 5, 4, GREY.stroke_width(1)))
            .map_err(err)?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], GREY));
    }
    for (g, x) in &with_x {
        draw_point(&mut chart, g, acc(g), *x)?;
    }
    legend_entries(&mut chart, &with_x.iter().map(|(g, _)| g.method.clone()).collect::<Vec<_>>(), &[])?;
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight).map_err(err)
}

/// One configuration: its marker at (cost median, mean score) with min–max bars both ways.
fn draw_point<'a, 's: 'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'s>, Cartesian2d<X, Y>>,
    g: &GroupStats,
    acc: crate::report::frame::Stat,
    x: (f64, f64, f64),
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let Some(y) = acc.mean.map(|a| 100.0 * a) else {
        return Ok(());
    };
    let color = method_color(&g.method);
    let s = color.stroke_width(1);
    if let (Some(lo), Some(hi)) = (acc.min, acc.max) {
        chart
            .draw_series([PathElement::new(vec![(x.0, 100.0 * lo), (x.0, 100.0 * hi)], s)])
            .map_err(err)?;
    }
    chart.draw_series([PathElement::new(vec![(x.1, y), (x.2, y)], s)]).map_err(err)?;
    marker!(chart, 0usize, (x.0, y), color.filled());
    Ok(())
}

/// The Pareto front of (memory, accuracy) points: sorted by memory, each point more accurate than
/// every cheaper one, as a staircase.
fn pareto_front(mut sorted: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut front: Vec<(f64, f64)> = Vec::new();
    for p in sorted {
        if front.last().is_none_or(|l| p.1 > l.1) {
            if let Some(l) = front.last().copied() {
                front.push((p.0, l.1));
            }
            front.push(p);
        }
    }
    front
}

fn pareto_caption(scored: bool) -> String {
    format!(
        "{} (mean over seeds) against peak process RSS (left) and training time per token (right; from the \
         median steady step), medians over seeds, one marker per configuration coloured by method; bars = \
         min–max over seeds. The dashed line is the Pareto front: no configuration left of it scores higher. \
         The untrained model has no training time.",
        if scored {
            "The task's own score (multiple-choice acc or exact match)"
        } else {
            "Held-out token accuracy (a synthetic task has no task score)"
        }
    )
}

/// Legend entries: a coloured dot per method, a grey marker per model.
fn legend_entries<'a, 's: 'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'s>, Cartesian2d<X, Y>>,
    methods: &[String],
    models: &[String],
) -> Result<()>
where
    X: Ranged,
    Y: Ranged,
{
    let mut ms = methods.to_vec();
    ms.sort();
    ms.dedup();
    for m in ms {
        let color = method_color(&m);
        chart
            .draw_series(std::iter::empty::<Circle<(X::ValueType, Y::ValueType), i32>>())
            .map_err(err)?
            .label(m)
            .legend(move |(x, y)| Circle::new((x + 6, y), 5, color.filled()));
    }
    if models.len() > 1 {
        for (i, m) in models.iter().enumerate() {
            let anno = chart
                .draw_series(std::iter::empty::<Circle<(X::ValueType, Y::ValueType), i32>>())
                .map_err(err)?
                .label(short_model(m));
            let style = GREY.filled();
            match i % 4 {
                0 => anno.legend(move |(x, y)| Circle::new((x + 6, y), 5, style)),
                1 => anno.legend(move |(x, y)| TriangleMarker::new((x + 6, y), 7, style)),
                2 => anno.legend(move |(x, y)| Rectangle::new([(x + 2, y - 4), (x + 10, y + 4)], style)),
                _ => anno.legend(move |(x, y)| Cross::new((x + 6, y), 5, GREY.stroke_width(2))),
            };
        }
    }
    Ok(())
}

/// The estimate made before each cell ran against its measured peak RSS above baseline.
pub fn estimate_vs_measured(rows: &[Row]) -> Result<Chart> {
    let pts: Vec<&Row> = rows
        .iter()
        .filter(|r| r.ok() && r.estimate_gb.is_some_and(|e| e > 0.0) && r.peak_rss_above_baseline_gb.is_some_and(|m| m > 0.0))
        .collect();
    let mut models: Vec<String> = pts.iter().map(|r| r.model.clone()).collect();
    models.sort();
    models.dedup();
    let svg = render("Estimated against measured memory", |area| {
        if pts.is_empty() {
            return no_data(area, "no cell ended ok with an estimate and a measured peak");
        }
        let (lo, hi) = log_range(pts.iter().flat_map(|r| [r.estimate_gb, r.peak_rss_above_baseline_gb]).flatten());
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("estimated before the run: tensor bytes + runtime, GB (log)")
            .y_desc("measured: peak RSS above baseline, GB (log)")
            .x_label_formatter(&|v| gb_label(*v))
            .y_label_formatter(&|v| gb_label(*v))
            .house_style()
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(vec![(lo, lo), (hi, hi)], 6, 4, GREY.stroke_width(1)))
            .map_err(err)?
            .label("estimate = measured")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], GREY));
        for r in &pts {
            let (Some(x), Some(y)) = (r.estimate_gb, r.peak_rss_above_baseline_gb) else {
                continue;
            };
            let shape = models.iter().position(|m| *m == r.model).unwrap_or(0);
            marker!(chart, shape, (x, y), method_color(&r.method).mix(0.85).filled());
        }
        legend_entries(&mut chart, &pts.iter().map(|r| r.method.clone()).collect::<Vec<_>>(), &models)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(err)
    })?;
    Ok(Chart {
        file: "estimate.svg".into(),
        title: "Estimate against measurement".into(),
        caption: "Each ok cell: the memory estimate stored before it ran (estimate.total_bytes: tensor bytes + \
                  threads and allocator) against its measured peak process RSS above the pre-load baseline, GB on \
                  log scales. On the dashed line the estimate is exact; above it the run took more than estimated."
            .into(),
        svg,
    })
}
