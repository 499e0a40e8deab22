//! Answer extraction and normalisation for generative exact match.
//!
//! Normalisation is SQuAD's (as lm-evaluation-harness and TriviaQA's scorer use it): lower
//! case, punctuation removed, the articles a/an/the removed, whitespace collapsed. Numbers are
//! compared as numbers: thousands separators, a leading `$` and a trailing `.0…` do not count.

use crate::data::Extract;

/// Cuts `output` at the first of `stop` (the stop sequence is not part of the answer).
pub fn cut_at_stop<'a>(output: &'a str, stop: &[String]) -> &'a str {
    let end = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| output.find(s.as_str()))
        .min()
        .unwrap_or(output.len());
    &output[..end]
}

/// SQuAD normalisation.
pub fn normalize(text: &str) -> String {
    let lower: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' })
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A number as text, canonical: "1,234.50" → "1234.5", "$18" → "18", "-3.0" → "-3".
pub fn canonical_number(text: &str) -> Option<String> {
    let t = text.trim().trim_start_matches('$').replace(',', "");
    let t = t.trim_end_matches('.');
    let v: f64 = t.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some(if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    })
}

/// Every number in the text, in order (digits with optional sign, `,` groups and decimals).
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() || (b[i] == '-' && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_digit() || ((b[j] == ',' || b[j] == '.') && b.get(j + 1).is_some_and(|c| c.is_ascii_digit()))) {
            j += 1;
        }
        out.extend(canonical_number(&b[i..j].iter().collect::<String>()));
        i = j;
    }
    out
}

/// The answer in the (already stop-cut) output, as `extract` says.
pub fn extract(output: &str, how: Extract) -> String {
    match how {
        Extract::Whole => output.trim().to_string(),
        Extract::Number => {
            let lower = output.to_lowercase();
            for marker in ["####", "the answer is"] {
                if let Some(p) = lower.rfind(marker) {
                    if let Some(n) = numbers(&output[p + marker.len()..]).into_iter().next() {
                        return n;
                    }
                }
            }
            numbers(output).pop().unwrap_or_default()
        }
    }
}

/// Whether an extracted answer matches any gold answer: as numbers when both are numbers,
/// else after normalisation. An empty answer never matches.
pub fn matches_any(answer: &str, gold: &[String]) -> bool {
    let norm = normalize(answer);
    if norm.is_empty() {
        return false;
    }
    let num = canonical_number(answer);
    gold.iter().any(|g| match (&num, canonical_number(g)) {
        (Some(a), Some(b)) => *a == b,
        _ => normalize(g) == norm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn stop_sequences_cut_at_the_earliest() {
        let stop = s(&["\n", "Question:"]);
        assert_eq!(cut_at_stop(" Paris Question: x\nmore", &stop), " Paris ");
        assert_eq!(cut_at_stop(" Paris\nQuestion:", &stop), " Paris");
        assert_eq!(cut_at_stop("no stop here", &stop), "no stop here");
        assert_eq!(cut_at_stop("\nall cut", &stop), "");
        assert_eq!(cut_at_stop("x", &s(&[""])), "x", "an empty stop sequence cuts nothing");
    }

    #[test]
    fn normalisation_and_aliases() {
        assert_eq!(normalize("  The Eiffel-Tower!  "), "eiffel tower");
        assert!(matches_any("the Beatles.", &s(&["Beatles"])));
        assert!(matches_any("Justin  Timberlake", &s(&["JT", "Justin Timberlake"])), "any alias");
        assert!(!matches_any("Paris, France", &s(&["Paris"])));
        assert!(!matches_any("", &s(&[""])), "an empty output never matches, not even an empty gold");
        assert!(!matches_any("  ...  ", &s(&["..."])), "punctuation alone normalises to nothing");
    }

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(matches_any("1,000", &s(&["1000"])));
        assert!(matches_any("$18", &s(&["18"])));
        assert!(matches_any("18.0", &s(&["18"])));
        assert!(!matches_any("18.5", &s(&["18"])));
        assert_eq!(canonical_number("-3.50"), Some("-3.5".into()));
        assert_eq!(canonical_number("abc"), None);
    }

    #[test]
    fn gsm8k_extraction() {
        assert_eq!(extract(" She makes 9 * 2 = $18 a day.\n#### 18", Extract::Number), "18");
        assert_eq!(extract(" 3 + 2 = 5. So the answer is 5.", Extract::Number), "5");
        assert_eq!(extract(" 1,234 apples and 7 pears", Extract::Number), "7", "else the last number");
        assert_eq!(extract(" no number", Extract::Number), "");
        assert_eq!(extract("  dcba  ", Extract::Whole), "dcba");
    }
}
