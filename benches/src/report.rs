//! Figures, the targets they are held to, the printed table and `results.json`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

/// A bound a figure must stay within.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The value must be at most this.
    AtMost(f64),
    /// The value must be at least this.
    AtLeast(f64),
}

impl Bound {
    fn is_met_by(self, value: f64) -> bool {
        match self {
            Bound::AtMost(limit) => value <= limit,
            Bound::AtLeast(limit) => value >= limit,
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// A dotted name: `<figure>.<what>.<size>`, stable across runs.
    pub name: String,
    /// The measured value; `None` when the figure was skipped.
    pub value: Option<f64>,
    /// The unit of `value` (and of the target).
    pub unit: &'static str,
    /// What the value is compared with, in words: a target (with its bound) or a
    /// baseline for the reader (from shared/BASELINES.md, or measured in this run).
    pub compared_with: Option<String>,
    /// The bound of a target; `None` for figures that are information only.
    pub target: Option<Bound>,
    /// Whether the target is met; `None` without a target or when skipped.
    pub met: Option<bool>,
    /// Why the figure was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Figure {
    /// A figure given for information, with no target.
    pub fn info(name: impl Into<String>, value: f64, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            value: Some(value),
            unit,
            compared_with: None,
            target: None,
            met: None,
            skipped: None,
        }
    }

    /// A figure held to a target; `met` is decided here.
    pub fn target(
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        bound: Bound,
        description: impl Into<String>,
    ) -> Figure {
        Figure {
            met: Some(bound.is_met_by(value)),
            target: Some(bound),
            compared_with: Some(description.into()),
            ..Figure::info(name, value, unit)
        }
    }

    /// A figure that could not be measured here, and why.
    pub fn skipped(name: impl Into<String>, unit: &'static str, reason: impl Into<String>) -> Figure {
        Figure {
            value: None,
            skipped: Some(reason.into()),
            ..Figure::info(name, 0.0, unit)
        }
    }

    /// The same figure with a baseline for the reader (no pass/miss).
    pub fn baseline(mut self, description: impl Into<String>) -> Figure {
        self.compared_with = Some(description.into());
        self
    }

    fn result(&self) -> &'static str {
        match (self.skipped.is_some(), self.met) {
            (true, _) => "skipped",
            (false, Some(true)) => "pass",
            (false, Some(false)) => "MISS",
            (false, None) => "",
        }
    }
}

/// The figures of one run, in the order measured.
#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    /// Adds a figure and prints it at once, so a long run shows progress.
    pub fn add(&mut self, figure: Figure) {
        eprintln!("  {}", row(&figure));
        self.figures.push(figure);
    }

    /// The figures so far.
    pub fn figures(&self) -> &[Figure] {
        &self.figures
    }

    /// The whole table, aligned, with a header.
    pub fn table(&self) -> String {
        let name_width = self
            .figures
            .iter()
            .map(|figure| figure.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut table = String::new();
        let _ = writeln!(
            table,
            "{:<name_width$}  {:>14}  {:<10}  {:<52}  result",
            "figure", "value", "unit", "target / baseline"
        );
        let _ = writeln!(table, "{}", "-".repeat(name_width + 90));
        for figure in &self.figures {
            let _ = writeln!(
                table,
                "{:<name_width$}  {:>14}  {:<10}  {:<52}  {}",
                figure.name,
                figure.value.map_or_else(|| "-".to_owned(), format_value),
                figure.unit,
                figure
                    .compared_with
                    .as_deref()
                    .or(figure.skipped.as_deref())
                    .unwrap_or(""),
                figure.result()
            );
        }
        table
    }

    /// How many targets were missed.
    pub fn missed(&self) -> usize {
        self.figures
            .iter()
            .filter(|figure| figure.met == Some(false))
            .count()
    }

    /// Writes the figures as a JSON array to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(directory) = path.parent() {
            std::fs::create_dir_all(directory)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&self.figures)?)?;
        Ok(())
    }
}

fn row(figure: &Figure) -> String {
    format!(
        "{}: {} {}  [{}] {}",
        figure.name,
        figure.value.map_or_else(|| "-".to_owned(), format_value),
        figure.unit,
        figure
            .compared_with
            .as_deref()
            .or(figure.skipped.as_deref())
            .unwrap_or(""),
        figure.result()
    )
}

/// Three significant digits for small values; thousands grouped for large ones.
pub fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 10_000.0 {
        group_thousands(value.round() as i64)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn group_thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// A count of rules as written in figure names: `10k`, `1M`, `10M`.
pub fn size_label(count: u64) -> String {
    match count {
        count if count >= 1_000_000 && count.is_multiple_of(1_000_000) => {
            format!("{}M", count / 1_000_000)
        }
        count if count >= 1_000 && count.is_multiple_of(1_000) => format!("{}k", count / 1_000),
        count => count.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_sizes_print_readably() {
        assert_eq!(format_value(12_345_678.0), "12,345,678");
        assert_eq!(format_value(38.25), "38.2");
        assert_eq!(format_value(0.0712), "0.071");
        assert_eq!(size_label(10_000), "10k");
        assert_eq!(size_label(10_000_000), "10M");
        assert_eq!(size_label(1_500), "1500");
    }

    #[test]
    fn targets_decide_pass_or_miss() {
        assert_eq!(
            Figure::target("a", 3.0, "ns", Bound::AtMost(2.0), "").met,
            Some(false)
        );
        assert_eq!(
            Figure::target("b", 3.0, "x", Bound::AtLeast(2.0), "").met,
            Some(true)
        );
        assert_eq!(Figure::info("c", 1.0, "ns").met, None);
    }
}
