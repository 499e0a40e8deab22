//! Serving forms: per model and task, one panel per method, each form's score against its decode
//! speed (batch 1, KV cache), one labelled marker per form; the model as trained is the hollow
//! marker, so a form's move away from it reads at a glance. Labels are placed beside their
//! marker where they overprint no other label (forms of equal score and speed sit together).

use super::{err, lin_range, log_range, log_x_chart, method_color, render_sized, Chart, HouseStyle, FONT};
use crate::report::serving::ServingRow;
use anyhow::Result;
use plotters::prelude::*;

const PANEL_W: u32 = 480;
const PANEL_H: u32 = 320;

pub fn serving(rows: &[ServingRow]) -> Result<Vec<Chart>> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let k = (r.model.clone(), r.task.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.iter()
        .enumerate()
        .map(|(i, (model, task))| {
            let pts: Vec<&ServingRow> = rows.iter().filter(|r| r.model == *model && r.task == *task).collect();
            let mut methods: Vec<&str> = Vec::new();
            for r in &pts {
                if !methods.contains(&r.method.as_str()) {
                    methods.push(&r.method);
                }
            }
            let cols = methods.len().min(2) as u32;
            let grid_rows = methods.len().div_ceil(2) as u32;
            // One axis range for every panel, so panels compare.
            let xs = log_range(pts.iter().map(|r| r.decode_tokens_per_s));
            let ys = lin_range(pts.iter().map(|r| r.score));
            let title = format!("Serving forms — {model} · {task}: score against decode speed");
            let svg = render_sized(&title, (PANEL_W * cols, PANEL_H * grid_rows + 30), |area| {
                let panels = area.split_evenly((grid_rows as usize, cols as usize));
                for (panel, m) in panels.iter().zip(&methods) {
                    let mine: Vec<&ServingRow> = pts.iter().copied().filter(|r| r.method == *m).collect();
                    draw_panel(panel, m, &mine, xs, ys)?;
                }
                Ok(())
            })?;
            Ok(Chart {
                file: format!("serving-{}.svg", i + 1),
                title,
                caption: format!(
                    "Each serving form of each method: the held-out {} (mean over seeds) against decode tokens/s at batch 1 with the KV cache (log scale; the same axes in every panel). Hollow marker: the model as trained. Up is better, right is faster.",
                    pts.first().map_or("score", |r| r.metric.as_str())
                ),
                svg,
            })
        })
        .collect()
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    method: &str,
    pts: &[&ServingRow],
    xs: (f64, f64),
    ys: (f64, f64),
) -> Result<()> {
    let area = area.titled(method, (FONT, 14)).map_err(err)?;
    let mut chart = log_x_chart(&area, xs, ys)?;
    let scored = pts.first().is_some_and(|r| r.metric != "held-out loss");
    chart
        .configure_mesh()
        .x_desc("decode tokens/s — log")
        .y_desc(if scored { "score, %" } else { "held-out loss" })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .house_style()
        .draw()
        .map_err(err)?;
    let color = method_color(method);
    // Labels stay inside the plotting area; every marker is an obstacle for every label.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let bounds = (xr.start, yr.start, xr.end, yr.end);
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for r in pts {
        let at = (r.decode_tokens_per_s, r.score);
        let style = if r.form == crate::deploy::AS_TRAINED {
            color.stroke_width(2)
        } else {
            color.filled()
        };
        chart.draw_series(std::iter::once(Circle::new(at, 5, style))).map_err(err)?;
        let (px, py) = chart.backend_coord(&at);
        placed.push((px - 6, py - 6, px + 6, py + 6));
    }
    for r in pts {
        let at = (r.decode_tokens_per_s, r.score);
        let (px, py) = chart.backend_coord(&at);
        let (dx, dy) = label_offset(&r.form, (px, py), bounds, &mut placed);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at) + Text::new(r.form.clone(), (dx, dy), (FONT, 11).into_font().color(&BLACK)),
            ))
            .map_err(err)?;
    }
    Ok(())
}

/// Where a label goes relative to its marker at pixel `p`: the first spot near it (right, left,
/// centred; then further up and down) whose box, estimated from the text, lies inside `bounds`
/// and overprints no label or marker placed before — else the inside spot that overprints
/// fewest. The box is recorded.
fn label_offset(text: &str, p: (i32, i32), bounds: (i32, i32, i32, i32), placed: &mut Vec<(i32, i32, i32, i32)>) -> (i32, i32) {
    let (w, h) = (text.chars().count() as i32 * 7 + 4, 14);
    let boxed = |(dx, dy): (i32, i32)| (p.0 + dx, p.1 + dy, p.0 + dx + w, p.1 + dy + h);
    let hits = |b: &(i32, i32, i32, i32)| placed.iter().filter(|o| b.0 < o.2 && o.0 < b.2 && b.1 < o.3 && o.1 < b.3).count();
    let inside = |b: &(i32, i32, i32, i32)| b.0 >= bounds.0 && b.1 >= bounds.1 && b.2 <= bounds.2 && b.3 <= bounds.3;
    let spots: Vec<(i32, i32)> = [-7, 7, -21, 21, -35, 35, -49, 49]
        .iter()
        .flat_map(|&dy| [(8, dy), (-w - 8, dy), (-w / 2, if dy < 0 { dy - 7 } else { dy + 7 })])
        .collect();
    let spot = spots
        .iter()
        .copied()
        .filter(|s| inside(&boxed(*s)))
        .min_by_key(|s| hits(&boxed(*s)))
        .unwrap_or((8, -7));
    placed.push(boxed(spot));
    spot
}
