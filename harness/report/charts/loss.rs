//! Training-loss curves: one chart per model and task trained on, a line per cell.

use super::{draw_legend, err, lin_range, method_color, no_data, render, short_model, Chart, HouseStyle};
use crate::record::Record;
use crate::report::rows::Row;
use anyhow::Result;
use plotters::prelude::*;

/// Training loss per step, one chart per model and task trained on, a line per cell (colour:
/// method; the methods overlaid). Cells that did not end ok are drawn dashed.
pub fn loss_curves(records: &[Record], rows: &[Row]) -> Result<Vec<Chart>> {
    let mut keys: Vec<(&str, &str)> = records
        .iter()
        .zip(rows)
        .filter(|(r, _)| !r.steps.is_empty())
        .map(|(r, row)| (r.cell.model.as_str(), row.task.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        keys = records.iter().map(|r| (r.cell.model.as_str(), "")).take(1).collect();
    }
    let mut charts = Vec::new();
    for (k, (model, task)) in keys.iter().enumerate() {
        let cells: Vec<(&Record, &Row)> = records
            .iter()
            .zip(rows)
            .filter(|(r, row)| r.cell.model == *model && row.task == *task && !r.steps.is_empty())
            .collect();
        let title = format!("Training loss — {} · {task}", short_model(model.rsplit('/').next().unwrap_or(model)));
        let svg = render(&title, |area| {
            if cells.is_empty() {
                return no_data(area, "no cell of this model recorded a step");
            }
            let max_step = cells
                .iter()
                .flat_map(|(r, _)| r.steps.iter().map(|s| s.step))
                .max()
                .unwrap_or(1)
                .max(1) as f64;
            let (lo, hi) = lin_range(cells.iter().flat_map(|(r, _)| r.steps.iter().map(|s| s.loss)));
            let mut chart = ChartBuilder::on(area)
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..max_step + 0.5, lo.max(0.0)..hi)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("optimizer step")
                .y_desc("training loss")
                .x_labels((max_step as usize + 1).min(12))
                .x_label_formatter(&|v| format!("{v:.0}"))
                .light_line_style(WHITE)
                .house_style()
                .draw()
                .map_err(err)?;
            let mut labelled = std::collections::BTreeSet::new();
            for (r, row) in &cells {
                let color = method_color(&row.method);
                let pts: Vec<(f64, f64)> = r
                    .steps
                    .iter()
                    .filter(|s| s.loss.is_finite())
                    .map(|s| (s.step as f64, s.loss))
                    .collect();
                let label = if row.ok() {
                    row.method.clone()
                } else {
                    format!("{} ({})", row.method, row.status)
                };
                let anno = if row.ok() {
                    chart.draw_series(LineSeries::new(pts, color.stroke_width(2))).map_err(err)?
                } else {
                    chart
                        .draw_series(DashedLineSeries::new(pts, 6, 4, color.stroke_width(2)))
                        .map_err(err)?
                };
                if labelled.insert(label.clone()) {
                    anno.label(label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
                }
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(err)
        })?;
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
