//! Forest plots: per task, each trained configuration's difference from full fine-tuning and
//! from the untrained model, in points, with its 95% interval as whiskers and a zero line — the
//! picture of the article's accuracy claim.

use super::{err, method_color, no_data, render_sized, short_model, Chart, HouseStyle, FONT, GREY, LIGHT};
use crate::report::accuracy::{AccuracyRow, Delta};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const ROW_PX: u32 = 30;
const LABEL_PX: u32 = 300;

/// A row's label: model, method and the knobs that tell its configuration apart (`settings`,
/// shown only where one method has several configurations), at most 44 characters.
fn label(a: &AccuracyRow, models: usize, settings: &str) -> String {
    let method = crate::method::Method::lookup(&a.method).map_or(a.method.clone(), |m| m.label().to_string());
    let model = if models > 1 {
        format!("{} · ", short_model(&a.model))
    } else {
        String::new()
    };
    let full = if settings.is_empty() {
        format!("{model}{method}")
    } else {
        format!("{model}{method} {settings}")
    };
    if full.chars().count() > 44 {
        format!("{}…", full.chars().take(43).collect::<String>())
    } else {
        full
    }
}

/// One forest plot per task trained and scored here.
pub fn forest(rows: &[AccuracyRow]) -> Result<Vec<Chart>> {
    let mut tasks: Vec<&str> = Vec::new();
    for a in rows
        .iter()
        .filter(|a| a.trained_on == a.eval_task && (a.vs_full.is_some() || a.vs_base.is_some()))
    {
        if !tasks.contains(&a.eval_task.as_str()) {
            tasks.push(&a.eval_task);
        }
    }
    tasks
        .iter()
        .enumerate()
        .map(|(k, task)| {
            let mine: Vec<&AccuracyRow> = rows
                .iter()
                .filter(|a| a.eval_task == *task && a.trained_on == *task && (a.vs_full.is_some() || a.vs_base.is_some()))
                .collect();
            chart(k, task, &mine)
        })
        .collect()
}

fn chart(k: usize, task: &str, mine: &[&AccuracyRow]) -> Result<Chart> {
    let mut models: Vec<&str> = mine.iter().map(|a| a.model.as_str()).collect();
    models.dedup();
    let n = mine.len();
    let height = 110 + ROW_PX * n as u32;
    let title = format!("Difference in score, {task}");
    let deltas = || mine.iter().flat_map(|a| [a.vs_full, a.vs_base]).flatten();
    let lo = deltas().map(|d| 100.0 * d.low).fold(0.0f64, f64::min);
    let hi = deltas().map(|d| 100.0 * d.high).fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.06).max(1.0);
    let svg = render_sized(&title, (960, height), |area| {
        if mine.is_empty() {
            return no_data(area, "no trained configuration with a difference to plot");
        }
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(LABEL_PX)
            .build_cartesian_2d((lo - pad)..(hi + pad), -0.6..(n as f64 - 0.4))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("difference in points (percentage points of the task's score), 95% interval")
            .x_label_formatter(&|v| format!("{v:+.0}"))
            .light_line_style(WHITE)
            .house_style()
            .draw()
            .map_err(err)?;
        guides(&mut chart, (lo - pad, hi + pad), n)?;
        let offset = area.get_base_pixel();
        let knobs: Vec<&std::collections::BTreeMap<String, String>> = mine.iter().map(|a| &a.knobs).collect();
        let settings = crate::report::rows::differing_knobs(&knobs, &[crate::report::rows::NOT_SETTINGS, &["lr"]].concat());
        let repeated = |a: &AccuracyRow| mine.iter().filter(|b| b.model == a.model && b.method == a.method).count() > 1;
        let left = chart.backend_coord(&(lo - pad, 0.0)).0;
        for (i, a) in mine.iter().enumerate() {
            // The first row at the top.
            let y = (n - 1 - i) as f64;
            let color = method_color(&a.method);
            if i % 2 == 1 {
                chart
                    .draw_series([Rectangle::new(
                        [(lo - pad, y - 0.5), (hi + pad, y + 0.5)],
                        RGBColor(0xf7, 0xf7, 0xfa).filled(),
                    )])
                    .map_err(err)?;
            }
            whisker(&mut chart, a.vs_full, y + 0.14, color.filled(), true)?;
            whisker(&mut chart, a.vs_base, y - 0.14, color.stroke_width(2), false)?;
            let (_, py) = chart.backend_coord(&(0.0, y));
            let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            let shown = if repeated(a) { settings[i].as_str() } else { "" };
            area.draw(&Text::new(
                label(a, models.len(), shown),
                (left - offset.0 - 10, py - offset.1),
                style,
            ))
            .map_err(err)?;
        }
        legend(area, left - offset.0)
    })?;
    Ok(Chart {
        file: format!("forest-{}.svg", k + 1),
        title,
        caption: format!(
            "{task}: each trained configuration's difference in score from full fine-tuning of the same model \
             (filled circle) and from the untrained model (hollow square), in points, with the 95% interval over \
             seeds and items (see Accuracy). Left of the zero line the method scores lower; an interval that \
             crosses zero is within noise. Light lines: the band of ±{:.0} points, the scale of the article's \
             \"~1–2%\" claim.",
            super::super::claims::RESOLVING_HALF_WIDTH
        ),
        svg,
    })
}

type Plot<'a, 's> =
    ChartContext<'a, SVGBackend<'s>, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// The zero line over the `n` rows, and the ±`RESOLVING_HALF_WIDTH` band where it falls inside
/// the x range.
fn guides(chart: &mut Plot, x: (f64, f64), n: usize) -> Result<()> {
    let (bottom, top) = (-0.6, n as f64 - 0.4);
    chart
        .draw_series([PathElement::new(vec![(0.0, bottom), (0.0, top)], GREY.stroke_width(1))])
        .map_err(err)?;
    let band = super::super::claims::RESOLVING_HALF_WIDTH;
    for b in [-band, band].into_iter().filter(|b| *b > x.0 && *b < x.1) {
        chart
            .draw_series(DashedLineSeries::new(vec![(b, bottom), (b, top)], 4, 4, LIGHT.stroke_width(1)))
            .map_err(err)?;
    }
    Ok(())
}

/// The legend, above the plot, one line starting at pixel `x` of the area.
fn legend(area: &DrawingArea<SVGBackend, plotters::coord::Shift>, x: i32) -> Result<()> {
    let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let y = 4;
    area.draw(&Circle::new((x + 6, y + 6), 5, GREY.filled())).map_err(err)?;
    area.draw(&Text::new(
        "vs full fine-tuning (same seeds, same items)",
        (x + 16, y + 6),
        style.clone(),
    ))
    .map_err(err)?;
    area.draw(&Rectangle::new([(x + 322, y + 2), (x + 330, y + 10)], GREY.stroke_width(2)))
        .map_err(err)?;
    area.draw(&Text::new("vs the untrained model", (x + 338, y + 6), style))
        .map_err(err)?;
    Ok(())
}

/// A marker at the difference with a horizontal whisker over its interval.
fn whisker(chart: &mut Plot, d: Option<Delta>, y: f64, style: ShapeStyle, circle: bool) -> Result<()> {
    let Some(d) = d else { return Ok(()) };
    let (m, lo, hi) = (100.0 * d.mean, 100.0 * d.low, 100.0 * d.high);
    let line = ShapeStyle {
        color: style.color,
        filled: false,
        stroke_width: 2,
    };
    chart
        .draw_series([
            PathElement::new(vec![(lo, y), (hi, y)], line),
            PathElement::new(vec![(lo, y - 0.08), (lo, y + 0.08)], line),
            PathElement::new(vec![(hi, y - 0.08), (hi, y + 0.08)], line),
        ])
        .map_err(err)?;
    if circle {
        chart.draw_series([Circle::new((m, y), 6, style)]).map_err(err)?;
    } else {
        chart
            .draw_series([EmptyElement::at((m, y)) + Rectangle::new([(-5, -5), (5, 5)], WHITE.filled())])
            .map_err(err)?;
        chart
            .draw_series([EmptyElement::at((m, y)) + Rectangle::new([(-5, -5), (5, 5)], style)])
            .map_err(err)?;
    }
    Ok(())
}
