//! Grid expansion: the cartesian product of the axes, less the excluded cells, each resolved
//! to a full configuration with a stable id.

use super::cell::Cell;
use super::knobs::{Knobs, Point};
use super::schema::Suite;
use std::collections::BTreeMap;

type KeyError = (String, String);

type Axes = Vec<(String, Vec<Point>)>;

/// Expands the suite into its cells. Errors are (key path, message).
pub fn expand(suite: &Suite) -> Result<Vec<Cell>, KeyError> {
    let axes = axes(suite)?;
    let owner = owners(&axes)?;
    check_size(suite, &axes)?;
    for (field, axis) in [("model", "models"), ("method", "methods")] {
        if !owner.contains_key(field) {
            return Err((
                format!("grid.{axis}"),
                format!("missing: list at least one {field} (or set `{field}` in a together axis)"),
            ));
        }
    }
    for (i, p) in suite.exclude.iter().enumerate() {
        if p.names().is_empty() {
            return Err((format!("exclude[{i}]"), "an empty pattern would exclude every cell".into()));
        }
    }
    // Cartesian product, first axis outermost (seeds innermost).
    let mut combos: Vec<Vec<usize>> = vec![vec![]];
    for (_, points) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c| (0..points.len()).map(move |i| [c.clone(), vec![i]].concat()))
            .collect();
    }
    let mut cells = Vec::new();
    let mut exclude_hits = vec![0usize; suite.exclude.len()];
    let mut seen = std::collections::BTreeSet::new();
    for combo in combos {
        let cell = cell_of(suite, &axes, &combo);
        let mut excluded = false;
        for (j, pat) in suite.exclude.iter().enumerate() {
            if matches(&cell, pat) {
                exclude_hits[j] += 1;
                excluded = true;
            }
        }
        if excluded {
            continue;
        }
        let cell = resolved(cell, &owner)?;
        // Cells that differ only in knobs their method ignores run once (the first label names it).
        if seen.insert(cell.id.clone()) {
            cells.push(cell);
        }
    }
    if let Some(j) = exclude_hits.iter().position(|&n| n == 0) {
        return Err((format!("exclude[{j}]"), "this pattern matches no cell of the grid (a typo?)".into()));
    }
    if cells.is_empty() {
        return Err(("exclude".into(), "every cell of the grid is excluded".into()));
    }
    Ok(cells)
}

/// Every axis of the grid as points, each checked: no empty list, model specs and hardware that
/// parse, together points that set the same fields.
fn axes(suite: &Suite) -> Result<Axes, KeyError> {
    let g = &suite.grid;
    let mut axes: Axes = Vec::new();
    let list = |key: &str, n: usize| -> Result<(), KeyError> {
        if n == 0 {
            return Err((format!("grid.{key}"), "expected at least one value, found an empty list".into()));
        }
        Ok(())
    };
    if !g.models.is_empty() {
        for (i, m) in g.models.iter().enumerate() {
            crate::load::ModelSpec::parse(m).map_err(|e| (format!("grid.models[{i}]"), e))?;
        }
        let points = g.models.iter().map(|m| Point {
            model: Some(m.clone()),
            ..Default::default()
        });
        axes.push(("models".into(), points.collect()));
    }
    if !g.methods.is_empty() {
        let points = g.methods.iter().map(|m| Point {
            method: Some(*m),
            ..Default::default()
        });
        axes.push(("methods".into(), points.collect()));
    }
    if !g.hardware.is_empty() {
        for (i, h) in g.hardware.iter().enumerate() {
            check_hardware(h).map_err(|e| (format!("grid.hardware[{i}]"), e))?;
        }
        let points = g.hardware.iter().map(|h| Point {
            hardware: Some(h.clone()),
            ..Default::default()
        });
        axes.push(("hardware".into(), points.collect()));
    }
    for (name, points) in &g.together {
        list(&format!("together.{name}"), points.len())?;
        check_together(name, points)?;
        axes.push((format!("together.{name}"), points.clone()));
    }
    for (name, points) in g.knob_axes() {
        list(name, points.len())?;
        axes.push((name.to_string(), points));
    }
    if !g.seeds.is_empty() {
        let points = g.seeds.iter().map(|s| Point {
            seed: Some(*s),
            ..Default::default()
        });
        axes.push(("seeds".into(), points.collect()));
    }
    Ok(axes)
}

/// A together axis: every point sets the same fields, at least one; its models and hardware parse.
fn check_together(name: &str, points: &[Point]) -> Result<(), KeyError> {
    let key = format!("grid.together.{name}");
    let fields = points[0].names();
    if fields.is_empty() {
        return Err((format!("{key}[0]"), "expected a point that sets at least one field".into()));
    }
    for (i, p) in points.iter().enumerate() {
        if p.names() != fields {
            return Err((
                format!("{key}[{i}]"),
                format!(
                    "every point of a together axis must set the same fields; [0] sets {fields:?}, [{i}] sets {:?}",
                    p.names()
                ),
            ));
        }
        if let Some(m) = &p.model {
            crate::load::ModelSpec::parse(m).map_err(|e| (format!("{key}[{i}].model"), e))?;
        }
        if let Some(h) = &p.hardware {
            check_hardware(h).map_err(|e| (format!("{key}[{i}].hardware"), e))?;
        }
    }
    Ok(())
}

/// Which axis sets each field: each field comes from at most one axis, and a list axis holds no
/// value twice.
fn owners(axes: &Axes) -> Result<BTreeMap<&'static str, String>, KeyError> {
    let mut owner: BTreeMap<&'static str, String> = BTreeMap::new();
    for (axis, points) in axes {
        for field in points[0].names() {
            if let Some(prev) = owner.insert(field, axis.clone()) {
                return Err((
                    format!("grid.{axis}"),
                    format!("`{field}` is already set by grid.{prev}; set each field in one axis only"),
                ));
            }
        }
        let mut values = std::collections::HashMap::new();
        for (i, p) in points.iter().enumerate() {
            let key = serde_json::to_string(p).unwrap_or_default();
            if let Some(first) = values.insert(key, i) {
                return Err((
                    format!("grid.{axis}[{i}]"),
                    format!("this value is listed twice (first at [{first}])"),
                ));
            }
        }
    }
    Ok(owner)
}

/// The grid's size, checked against `max_cells` before anything is expanded.
fn check_size(suite: &Suite, axes: &Axes) -> Result<(), KeyError> {
    let limit = suite.max_cells.unwrap_or(super::schema::DEFAULT_MAX_CELLS);
    let sizes: Vec<String> = axes.iter().map(|(a, p)| format!("{a} {}", p.len())).collect();
    let total = axes.iter().try_fold(1u64, |n, (_, p)| n.checked_mul(p.len() as u64));
    if total.is_none_or(|t| t > limit) {
        return Err((
            "grid".into(),
            format!(
                "expands to {} cells ({}), more than max_cells = {limit}; set `max_cells:` at the top of the suite to allow more",
                total.map_or("more than 2^64".to_string(), |t| t.to_string()),
                sizes.join(" × ")
            ),
        ));
    }
    Ok(())
}

/// The cell of one point of the product (id and normalisation come in `resolved`).
fn cell_of(suite: &Suite, axes: &Axes, combo: &[usize]) -> Cell {
    let mut point = Point::default();
    let mut label = Vec::new();
    for ((axis, points), &i) in axes.iter().zip(combo) {
        let p = &points[i];
        merge(&mut point, p);
        if points.len() > 1 {
            label.push(describe(axis, p));
        }
    }
    let mut knobs = Knobs::default();
    knobs.apply(&suite.defaults);
    knobs.apply(&point.knobs());
    let mut cell = Cell {
        id: String::new(),
        label: String::new(),
        model: point.model.clone().expect("model axis checked above"),
        method: point.method.expect("method axis checked above"),
        hardware: point.hardware.clone().unwrap_or_else(|| "cpu".into()),
        seed: point.seed.unwrap_or(0),
        knobs,
    };
    cell.label = if label.is_empty() {
        format!("{} · {}", cell.model, cell.method)
    } else {
        label.join(" · ")
    };
    cell
}

/// The cell checked through its plan (an error names the axis or default that set the knob),
/// its knobs normalised for its method, its id computed.
fn resolved(mut cell: Cell, owner: &BTreeMap<&'static str, String>) -> Result<Cell, KeyError> {
    if let Err((knob, msg)) = cell.plan() {
        let key = match owner.get(knob.as_str()) {
            Some(axis) => format!("grid.{axis}"),
            None if matches!(knob.as_str(), "model" | "hardware") => format!("grid.{knob}"),
            None => format!("defaults.{knob}"),
        };
        return Err((key, format!("cell [{}]: {knob} {msg}", cell.label)));
    }
    cell.knobs.normalize_for(cell.method);
    cell.id = cell.compute_id();
    Ok(cell)
}

fn check_hardware(h: &str) -> Result<(), String> {
    crate::model::DeviceSpec::parse(h).map(|_| ())
}

fn merge(into: &mut Point, p: &Point) {
    let merged = serde_json::to_value(&*into).and_then(|mut a| {
        let b = serde_json::to_value(p)?;
        if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
            a.extend(b.clone());
        }
        serde_json::from_value(a)
    });
    *into = merged.expect("points merge: fields are disjoint and of known types");
}

fn describe(axis: &str, p: &Point) -> String {
    // `base` trains nothing: a point's training knobs do not apply to it, so its label leaves
    // them out.
    let p = &match p.method {
        Some(m) if !m.trains() => Point {
            method: p.method,
            model: p.model.clone(),
            ..Default::default()
        },
        _ => p.clone(),
    };
    let v = serde_json::to_value(p).unwrap_or_default();
    let fields: Vec<String> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    match axis {
        "models" | "methods" | "hardware" => v
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => fields.join(","),
    }
}

fn matches(cell: &Cell, pat: &Point) -> bool {
    pat.model.as_ref().map_or(true, |m| *m == cell.model)
        && pat.method.map_or(true, |m| m == cell.method)
        && pat.hardware.as_ref().map_or(true, |h| *h == cell.hardware)
        && pat.seed.map_or(true, |s| s == cell.seed)
        && cell.knobs.matches(&pat.knobs())
}
