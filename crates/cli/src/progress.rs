//! The progress display on a terminal: a bar over the bytes of the inputs when their total
//! is known up front, else a running count.
//!
//! It is one line on stderr, redrawn in place (`\r`, erase line) at most every
//! [`REDRAW_EVERY`], at most [`MAX_WIDTH`] columns wide so that it never wraps on an
//! 80-column terminal (a wrapped line cannot be redrawn in place). Whoever prints another
//! line on stderr calls [`Progress::clear`] first; the bar comes back on the next update.

use std::time::{Duration, Instant};

/// How often the line is redrawn: often enough to look alive, rarely enough to cost nothing.
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// The widest line drawn.
const MAX_WIDTH: usize = 79;
/// Cells of the bar itself.
const BAR_CELLS: usize = 16;
/// No estimate of the time left before this much has passed: early rates mislead.
const ESTIMATE_AFTER: Duration = Duration::from_secs(2);

/// What has been done so far, and against what total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The bytes of all inputs, when known up front.
    pub total_bytes: Option<u64>,
    /// Bytes of the inputs handled so far.
    pub done_bytes: u64,
    /// Inputs handled so far.
    pub inputs: u64,
    /// New reports found so far.
    pub new_reports: u64,
}

/// A progress line on stderr.
#[derive(Debug)]
pub struct Progress {
    counts: Counts,
    started: Instant,
    /// When the line was last drawn; `None` when it is not on screen.
    drawn_at: Option<Instant>,
}

impl Progress {
    /// A display over `total_bytes` (a bar) or over an unknown total (a count).
    pub fn new(total_bytes: Option<u64>) -> Progress {
        Progress {
            counts: Counts {
                total_bytes,
                ..Counts::default()
            },
            started: Instant::now(),
            drawn_at: None,
        }
    }

    /// One more input handled: `walked_bytes` of the total, with `new_reports` in it.
    pub fn advance(&mut self, walked_bytes: u64, new_reports: u64) {
        let counts = &mut self.counts;
        counts.inputs += 1;
        counts.done_bytes = counts.done_bytes.saturating_add(walked_bytes);
        counts.new_reports += new_reports;
        let now = Instant::now();
        if self
            .drawn_at
            .is_none_or(|drawn_at| now.duration_since(drawn_at) >= REDRAW_EVERY)
        {
            eprint!("\r\x1b[K{}", render(&self.counts, now - self.started));
            self.drawn_at = Some(now);
        }
    }

    /// Takes the line off the screen, before another line is printed on stderr.
    pub fn clear(&mut self) {
        if self.drawn_at.take().is_some() {
            eprint!("\r\x1b[K");
        }
    }
}

/// The progress line: ` 45% [#######---------]  20.1/44.6 MiB  ETA 0:12  4500 inputs  4321
/// new reports` with a known total, `25 inputs  24 new reports  0:03` without. Parts are
/// dropped from the end (the least useful first) until it fits in [`MAX_WIDTH`].
pub fn render(counts: &Counts, elapsed: Duration) -> String {
    let mut parts = Vec::with_capacity(5);
    match counts.total_bytes {
        Some(total) => {
            // Files may grow while they are read (mail still arriving): never past 100%.
            let done = counts.done_bytes.min(total);
            let fraction = if total == 0 {
                1.0
            } else {
                done as f64 / total as f64
            };
            let filled = ((fraction * BAR_CELLS as f64) as usize).min(BAR_CELLS);
            parts.push(format!(
                "{:>3}% [{}{}]",
                (fraction * 100.0) as u32,
                "#".repeat(filled),
                "-".repeat(BAR_CELLS - filled)
            ));
            parts.push(sizes(done, total));
            if let Some(left) = time_left(fraction, elapsed) {
                parts.push(format!("ETA {}", clock(left)));
            }
            parts.push(plural(counts.inputs, "input", "inputs"));
            parts.push(plural(counts.new_reports, "new report", "new reports"));
        }
        None => {
            parts.push(plural(counts.inputs, "input", "inputs"));
            parts.push(plural(counts.new_reports, "new report", "new reports"));
            parts.push(clock(elapsed));
        }
    }
    let mut line = parts.join("  ");
    while line.chars().count() > MAX_WIDTH && parts.len() > 1 {
        parts.pop();
        line = parts.join("  ");
    }
    line
}

fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// `20.1/44.6 MiB`, both in the unit that suits the total.
fn sizes(done: u64, total: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if total < 1024 {
        return format!("{done}/{total} B");
    }
    let mut scale = 1024.0;
    let mut unit = 0;
    while total as f64 >= scale * 1024.0 && unit + 1 < UNITS.len() {
        scale *= 1024.0;
        unit += 1;
    }
    format!(
        "{:.1}/{:.1} {}",
        done as f64 / scale,
        total as f64 / scale,
        UNITS[unit]
    )
}

/// The time left at the rate so far, once there is a rate worth extrapolating.
fn time_left(fraction: f64, elapsed: Duration) -> Option<Duration> {
    if elapsed < ESTIMATE_AFTER || fraction <= 0.0 || fraction >= 1.0 {
        return None;
    }
    Some(elapsed.mul_f64((1.0 - fraction) / fraction))
}

/// `0:07`, `12:34`, `1:02:03`.
fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total_bytes: Option<u64>, done_bytes: u64, inputs: u64, new: u64) -> Counts {
        Counts {
            total_bytes,
            done_bytes,
            inputs,
            new_reports: new,
        }
    }

    #[test]
    fn bar_shows_share_of_bytes_sizes_time_left_and_counts() {
        assert_eq!(
            render(
                &counts(Some(46_800_000), 21_060_000, 4500, 4321),
                Duration::from_secs(10),
            ),
            " 45% [#######---------]  20.1/44.6 MiB  ETA 0:12  4500 inputs  4321 new reports"
        );
    }

    #[test]
    fn bar_fits_in_79_columns_by_dropping_the_last_parts() {
        assert_eq!(
            render(
                &counts(Some(400_000_000), 200_000_000, 123_456, 120_000),
                Duration::from_secs(3),
            ),
            " 50% [########--------]  190.7/381.5 MiB  ETA 0:03  123456 inputs"
        );
        let huge = render(
            &counts(
                Some(u64::MAX),
                u64::MAX / 3,
                123_456_789_012,
                98_765_432_109,
            ),
            Duration::from_secs(100_000),
        );
        assert!(huge.chars().count() <= MAX_WIDTH, "{huge}");
        assert!(huge.starts_with(" 33% [#####-----------]"), "{huge}");
    }

    #[test]
    fn bar_never_passes_full_and_shows_no_estimate_early_or_at_the_end() {
        assert_eq!(
            render(&counts(Some(100), 250, 3, 1), Duration::from_secs(5)),
            "100% [################]  100/100 B  3 inputs  1 new report"
        );
        assert_eq!(
            render(&counts(Some(0), 0, 0, 0), Duration::ZERO),
            "100% [################]  0/0 B  0 inputs  0 new reports"
        );
        assert_eq!(
            render(&counts(Some(2048), 512, 1, 0), Duration::from_secs(1)),
            " 25% [####------------]  0.5/2.0 KiB  1 input  0 new reports"
        );
    }

    #[test]
    fn unknown_total_shows_counts_and_elapsed_time() {
        assert_eq!(
            render(&counts(None, 5000, 25, 24), Duration::from_secs(3725)),
            "25 inputs  24 new reports  1:02:05"
        );
    }

    #[test]
    fn sizes_use_the_unit_of_the_total() {
        assert_eq!(sizes(0, 1023), "0/1023 B");
        assert_eq!(sizes(1536, 10 * 1024), "1.5/10.0 KiB");
        assert_eq!(sizes(1024, 1024 * 1024), "0.0/1.0 MiB");
        assert_eq!(sizes(3 << 30, 5 << 30), "3.0/5.0 GiB");
        assert_eq!(sizes(1 << 40, 1 << 50), "1.0/1024.0 TiB");
    }
}
