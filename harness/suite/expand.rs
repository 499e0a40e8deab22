//! Grid expansion: the cartesian product of the axes, less the excluded cells, each resolved
//! to a full configuration with a stable id.

use super::knobs::{IdKnobs, Knobs, Point};
use super::schema::Suite;
use crate::method::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One fully resolved configuration of the grid: what one child process runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Stable id: a hash of everything below but `label` (same config, same id, in any suite).
    pub id: String,
    /// The values of the axes that vary in this suite, for people.
    pub label: String,
    pub model: String,
    pub method: Method,
    pub hardware: String,
    pub seed: u64,
    pub knobs: Knobs,
}

/// The parts of a cell that its id hashes, in a fixed order.
#[derive(Serialize)]
struct Identity<'a> {
    model: &'a str,
    method: Method,
    hardware: &'a str,
    seed: u64,
    knobs: IdKnobs<'a>,
}

impl Cell {
    fn compute_id(&self) -> String {
        let identity = Identity {
            model: &self.model,
            method: self.method,
            hardware: &self.hardware,
            seed: self.seed,
            knobs: IdKnobs(&self.knobs),
        };
        let bytes = serde_json::to_vec(&identity).expect("cell identity serializes");
        let digest = Sha256::digest(&bytes);
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Cell {
    /// The id this ftbench computes for the cell's configuration as it reads it: `id` itself for
    /// a record of this ftbench; for a record of another version, the configuration with every
    /// knob the record predates at the value that ftbench ran with (`Knobs::before_added`) and
    /// the knobs its method does not read reset. `compare` matches records by it, so a cell is
    /// matched across ftbench versions exactly when the two ran the same configuration.
    pub fn configuration_id(&self) -> String {
        let mut c = self.clone();
        c.knobs.normalize_for(c.method);
        c.compute_id()
    }
}

type KeyError = (String, String);

/// Expands the suite into its cells. Errors are (key path, message).
pub fn expand(suite: &Suite) -> Result<Vec<Cell>, KeyError> {
    let g = &suite.grid;
    let mut axes: Vec<(String, Vec<Point>)> = Vec::new();
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
        axes.push((
            "models".into(),
            g.models
                .iter()
                .map(|m| Point {
                    model: Some(m.clone()),
                    ..Default::default()
                })
                .collect(),
        ));
    }
    if !g.methods.is_empty() {
        axes.push((
            "methods".into(),
            g.methods
                .iter()
                .map(|m| Point {
                    method: Some(*m),
                    ..Default::default()
                })
                .collect(),
        ));
    }
    if !g.hardware.is_empty() {
        for (i, h) in g.hardware.iter().enumerate() {
            check_hardware(h).map_err(|e| (format!("grid.hardware[{i}]"), e))?;
        }
        axes.push((
            "hardware".into(),
            g.hardware
                .iter()
                .map(|h| Point {
                    hardware: Some(h.clone()),
                    ..Default::default()
                })
                .collect(),
        ));
    }
    for (name, points) in &g.together {
        let key = format!("grid.together.{name}");
        list(&format!("together.{name}"), points.len())?;
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
        axes.push((format!("together.{name}"), points.clone()));
    }
    for (name, points) in g.knob_axes() {
        list(name, points.len())?;
        axes.push((name.to_string(), points));
    }
    if !g.seeds.is_empty() {
        axes.push((
            "seeds".into(),
            g.seeds
                .iter()
                .map(|s| Point {
                    seed: Some(*s),
                    ..Default::default()
                })
                .collect(),
        ));
    }

    // Each field comes from at most one axis; a list axis holds no value twice.
    let mut owner: BTreeMap<&'static str, String> = BTreeMap::new();
    for (axis, points) in &axes {
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
    // The grid's size before anything is expanded.
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
    for (field, axis) in [("model", "models"), ("method", "methods")] {
        if !owner.contains_key(field) {
            return Err((
                format!("grid.{axis}"),
                format!("missing: list at least one {field} (or set `{field}` in a together axis)"),
            ));
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
    for (i, p) in suite.exclude.iter().enumerate() {
        if p.names().is_empty() {
            return Err((format!("exclude[{i}]"), "an empty pattern would exclude every cell".into()));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for combo in combos {
        let mut point = Point::default();
        let mut label = Vec::new();
        for ((axis, points), &i) in axes.iter().zip(&combo) {
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
        if let Err((knob, msg)) = cell.knobs.check() {
            let key = if owner.contains_key(knob) {
                format!("grid.{}", owner[knob])
            } else {
                format!("defaults.{knob}")
            };
            return Err((key, format!("cell [{}]: {knob} {msg}", cell.label)));
        }
        cell.knobs.normalize_for(cell.method);
        cell.id = cell.compute_id();
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
