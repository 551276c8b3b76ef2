//! Numbers as the summary writes them, in every rendering and in the advice wording:
//! `12,345`, `98.5%`, `+12.5%`, `+1.2 pts`.

/// `12,345`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `98.5%` from a rate between 0 and 1.
pub(crate) fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// `+12.5%`, `-3.0%`, `±0.0%` against `before` (which is not 0).
pub(crate) fn relative_change(now: u64, before: u64) -> String {
    let change = (now as f64 - before as f64) / before as f64 * 100.0;
    signed(change, "%")
}

/// `+1.2 pts` between two rates, or an empty string when one is missing.
pub(crate) fn point_change(now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(now), Some(before)) => signed((now - before) * 100.0, " pts"),
        _ => String::new(),
    }
}

fn signed(value: f64, unit: &str) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 {
        format!("±0.0{unit}")
    } else {
        format!("{rounded:+.1}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(percent(0.9876), "98.8%");
        assert_eq!(relative_change(110, 100), "+10.0%");
        assert_eq!(relative_change(50, 100), "-50.0%");
        assert_eq!(relative_change(100, 100), "±0.0%");
        assert_eq!(point_change(Some(0.95), Some(0.9)), "+5.0 pts");
        assert_eq!(point_change(Some(0.95), None), "");
    }
}
