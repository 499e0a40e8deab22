//! Curves per model and task trained on, the methods overlaid: the training loss at every step
//! (`loss-N.svg`) and, where cells evaluated during training (`eval_every`), the held-out score
//! (or loss) at each evaluation (`eval-N.svg`).

use super::{draw_legend, err, lin_range, method_color, no_data, render, short_model, Chart, HouseStyle};
use crate::record::Record;
use crate::report::rows::Row;
use anyhow::Result;
use plotters::prelude::*;

/// One cell's curve.
struct Line {
    method: String,
    /// Its legend entry (the method, with the status of a cell that did not end ok).
    label: String,
    ok: bool,
    pts: Vec<(f64, f64)>,
}

/// The (model, task) pairs of the cells `has` keeps, in sorted order.
fn keys<'a>(records: &'a [Record], rows: &'a [Row], has: impl Fn(&Record) -> bool) -> Vec<(&'a str, &'a str)> {
    let mut keys: Vec<(&str, &str)> = records
        .iter()
        .zip(rows)
        .filter(|(r, _)| has(r))
        .map(|(r, row)| (r.cell.model.as_str(), row.task.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn line(row: &Row, pts: Vec<(f64, f64)>) -> Line {
    Line {
        method: row.method.clone(),
        label: if row.ok() {
            row.method.clone()
        } else {
            format!("{} ({})", row.method, row.status)
        },
        ok: row.ok(),
        pts,
    }
}

/// A chart of lines coloured by method (dashed: cells that did not end ok).
fn curves(title: &str, y_desc: &str, lines: &[Line], empty: &str) -> Result<String> {
    render(title, |area| {
        if lines.iter().all(|l| l.pts.is_empty()) {
            return no_data(area, empty);
        }
        let max_x = lines.iter().flat_map(|l| l.pts.iter().map(|p| p.0)).fold(1.0f64, f64::max);
        let (lo, hi) = lin_range(lines.iter().flat_map(|l| l.pts.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max_x + 0.5, lo.max(0.0)..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("optimizer step")
            .y_desc(y_desc)
            .x_labels((max_x as usize + 1).min(12))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .house_style()
            .draw()
            .map_err(err)?;
        let mut labelled = std::collections::BTreeSet::new();
        for l in lines {
            let color = method_color(&l.method);
            let anno = if l.ok {
                chart
                    .draw_series(LineSeries::new(l.pts.clone(), color.stroke_width(2)))
                    .map_err(err)?
            } else {
                chart
                    .draw_series(DashedLineSeries::new(l.pts.clone(), 6, 4, color.stroke_width(2)))
                    .map_err(err)?
            };
            if labelled.insert(l.label.clone()) {
                anno.label(l.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(err)
    })
}

/// Training loss per step, one chart per model and task trained on, a line per cell (colour:
/// method; the methods overlaid). Cells that did not end ok are drawn dashed.
pub fn loss_curves(records: &[Record], rows: &[Row]) -> Result<Vec<Chart>> {
    let mut keys = keys(records, rows, |r| !r.steps.is_empty());
    if keys.is_empty() {
        keys = records.iter().map(|r| (r.cell.model.as_str(), "")).take(1).collect();
    }
    let mut charts = Vec::new();
    for (k, (model, task)) in keys.iter().enumerate() {
        let lines: Vec<Line> = records
            .iter()
            .zip(rows)
            .filter(|(r, row)| r.cell.model == *model && row.task == *task && !r.steps.is_empty())
            .map(|(r, row)| {
                line(
                    row,
                    r.steps
                        .iter()
                        .filter(|s| s.loss.is_finite())
                        .map(|s| (s.step as f64, s.loss))
                        .collect(),
                )
            })
            .collect();
        let title = format!("Training loss — {} · {task}", short_model(model));
        let svg = curves(&title, "training loss", &lines, "no cell of this model recorded a step")?;
        charts.push(Chart {
            file: format!("loss-{}.svg", k + 1),
            title,
            caption: format!(
                "Training loss at every optimizer step of every cell of {model} trained on {task} (colour: \
                 method; one line per seed and configuration; dashed: a cell that did not end ok)."
            ),
            svg,
        });
    }
    Ok(charts)
}

/// The held-out evaluations during training (`eval_every`), one chart per model and task, a
/// line per cell: the task's score where every point has one, else the held-out loss.
pub fn eval_curves(records: &[Record], rows: &[Row]) -> Result<Vec<Chart>> {
    let mut charts = Vec::new();
    for (k, (model, task)) in keys(records, rows, |r| !r.curve.is_empty()).iter().enumerate() {
        let cells: Vec<(&Record, &Row)> = records
            .iter()
            .zip(rows)
            .filter(|(r, row)| r.cell.model == *model && row.task == *task && !r.curve.is_empty())
            .collect();
        let scored = cells.iter().all(|(r, _)| r.curve.iter().all(|p| p.metric.is_some()));
        let metric = cells
            .iter()
            .find_map(|(r, _)| r.curve.iter().find_map(|p| p.metric_name.clone()))
            .unwrap_or_else(|| "score".into());
        let lines: Vec<Line> = cells
            .iter()
            .map(|(r, row)| {
                let y = |p: &crate::record::CurvePoint| if scored { p.metric.map_or(f64::NAN, |m| 100.0 * m) } else { p.loss };
                line(
                    row,
                    r.curve.iter().map(|p| (p.step as f64, y(p))).filter(|p| p.1.is_finite()).collect(),
                )
            })
            .collect();
        let items = cells.first().and_then(|(r, _)| r.curve.first()).map_or(0, |p| p.items);
        let title = format!(
            "Held-out {} during training — {} · {task}",
            if scored { metric.as_str() } else { "loss" },
            short_model(model)
        );
        let y_desc = if scored { format!("{metric}, %") } else { "held-out loss".into() };
        let svg = curves(&title, &y_desc, &lines, "no evaluation during training")?;
        charts.push(Chart {
            file: format!("eval-{}.svg", k + 1),
            title,
            caption: format!(
                "The {} on the first {items} held-out items at each evaluation during training (eval_every) of \
                 every cell of {model} trained on {task} (colour: method; one line per seed and configuration).",
                if scored { metric.as_str() } else { "held-out loss" }
            ),
            svg,
        });
    }
    Ok(charts)
}
