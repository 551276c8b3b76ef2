//! The charts of the HTML summary as inline SVG: a small writer of our own rather than a chart
//! library, because the three charts need a few rectangles, lines and labels each, and a
//! library's SVG backend brings fonts, styles or scripts a mail client would drop.
//!
//! Every chart is one `<svg role="img">` with a `<title>` and an `aria-label`, fixed pixel
//! sizes (mail clients ignore CSS sizing of SVG), and text labels beside every colour, so no
//! class is told by colour alone. All text is escaped here.

use crate::Classification;
use std::fmt::Write as _;

/// The charts' width in pixels: the summary's column is at most 640 px wide.
pub(crate) const WIDTH: u32 = 600;

/// The colour of a class: Okabe–Ito, distinguishable with the common colour-vision
/// deficiencies.
pub(crate) fn class_colour(class: Classification) -> &'static str {
    match class {
        Classification::Aligned => "#009E73",
        Classification::Forwarded => "#56B4E9",
        Classification::Misaligned => "#E69F00",
        Classification::Unauthenticated => "#D55E00",
    }
}

/// `&`, `<`, `>`, `"` and `'` escaped, control characters dropped: for SVG text and
/// attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An SVG document being written.
struct Svg {
    out: String,
}

impl Svg {
    fn new(height: u32, title: &str) -> Svg {
        let title = escape(title);
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{title}\" \
             font-family=\"Arial, Helvetica, sans-serif\" font-size=\"11\">\
             <title>{title}</title>"
        );
        Svg { out }
    }

    fn rect(&mut self, x: f64, y: f64, width: f64, height: f64, fill: &str) {
        let _ = write!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" \
             fill=\"{fill}\"/>"
        );
    }

    fn outline(&mut self, x: f64, y: f64, width: f64, height: f64) {
        let _ = write!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" \
             fill=\"none\" stroke=\"#999999\" stroke-dasharray=\"3 2\"/>"
        );
    }

    fn line(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\"/>",
            from.0, from.1, to.0, to.1
        );
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" fill=\"#333333\">{}</text>",
            escape(text)
        );
    }

    /// The class legend: a swatch and the class's name for each class.
    fn legend(&mut self, y: f64, classes: &[Classification]) {
        let mut x = 0.0;
        for class in classes {
            self.rect(x, y - 9.0, 10.0, 10.0, class_colour(*class));
            self.text(x + 14.0, y, "start", class.as_str());
            x += 22.0 + class.as_str().len() as f64 * 6.5;
        }
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// One day of the daily chart: its label, its messages by class (in [`Classification::ALL`]
/// order), and the previous period's messages on the same day of the period.
pub(crate) struct DayBar {
    /// `Mon 16`.
    pub label: String,
    /// Messages per class.
    pub classes: [u64; 4],
    /// The previous period's total on the matching day, when there is one.
    pub previous: Option<u64>,
}

/// The largest value on a scale starting at 0, rounded up to a readable figure (1, 2 or 5
/// times a power of ten); `u64::MAX` when no such figure fits (counts come from reports).
fn nice_max(value: u64) -> u64 {
    let value = value.max(1);
    let mut step = 1u64;
    while let Some(next) = step.checked_mul(10).filter(|next| *next <= value) {
        step = next;
    }
    [1, 2, 5, 10]
        .into_iter()
        .filter_map(|factor| step.checked_mul(factor))
        .find(|max| *max >= value)
        .unwrap_or(u64::MAX)
}

const LEFT: f64 = 44.0;
const PLOT_WIDTH: f64 = WIDTH as f64 - LEFT - 8.0;

/// The y-axis: gridlines and labels at 0, half and the top.
fn axis(svg: &mut Svg, top: f64, height: f64, labels: &[String; 3]) {
    for (index, label) in labels.iter().enumerate() {
        let y = top + height - height * index as f64 / 2.0;
        svg.line((LEFT, y), (LEFT + PLOT_WIDTH, y), "#dddddd");
        svg.text(LEFT - 4.0, y + 4.0, "end", label);
    }
}

/// Daily messages stacked by class, the previous period as a dashed outline per day.
pub(crate) fn daily_chart(title: &str, days: &[DayBar]) -> String {
    const TOP: f64 = 10.0;
    const PLOT_HEIGHT: f64 = 150.0;
    let mut svg = Svg::new(210, title);
    let largest = days
        .iter()
        .map(|day| {
            let total = day
                .classes
                .iter()
                .fold(0u64, |sum, n| sum.saturating_add(*n));
            total.max(day.previous.unwrap_or(0))
        })
        .max()
        .unwrap_or(0);
    let max = nice_max(largest);
    axis(
        &mut svg,
        TOP,
        PLOT_HEIGHT,
        &[
            "0".to_owned(),
            crate::numbers::thousands(max / 2),
            crate::numbers::thousands(max),
        ],
    );
    let slot = PLOT_WIDTH / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    // Every label when they fit, else every n-th.
    let label_every = (days.len() as f64 * 40.0 / PLOT_WIDTH).ceil().max(1.0) as usize;
    let scale = |value: u64| value as f64 / max as f64 * PLOT_HEIGHT;
    for (index, day) in days.iter().enumerate() {
        let x = LEFT + slot * index as f64 + (slot - bar) / 2.0;
        // Segments are placed by the running total, which saturates as the day's total does,
        // so a stack never rises above the scale (counts come from reports).
        let mut below = 0u64;
        for (class, messages) in Classification::ALL.iter().zip(day.classes) {
            let above = below.saturating_add(messages);
            let (bottom, top) = (scale(below), scale(above));
            below = above;
            if top > bottom {
                let y = TOP + PLOT_HEIGHT - top;
                svg.rect(x, y, bar, top - bottom, class_colour(*class));
            }
        }
        if let Some(previous) = day.previous.filter(|previous| *previous > 0) {
            let height = scale(previous);
            svg.outline(x, TOP + PLOT_HEIGHT - height, bar, height);
        }
        if index % label_every == 0 {
            svg.text(
                x + bar / 2.0,
                TOP + PLOT_HEIGHT + 14.0,
                "middle",
                &day.label,
            );
        }
    }
    svg.legend(200.0, &Classification::ALL);
    let x = 22.0
        + Classification::ALL
            .iter()
            .map(|class| 22.0 + class.as_str().len() as f64 * 6.5)
            .sum::<f64>();
    svg.outline(x - 8.0, 191.0, 10.0, 10.0);
    svg.text(x + 6.0, 200.0, "start", "previous period");
    svg.finish()
}

/// One week of the pass-rate chart.
pub(crate) struct WeekPoint {
    /// `W47`.
    pub label: String,
    /// DMARC pass, 0 to 1; `None` for a week without reports (a gap in the line).
    pub rate: Option<f64>,
}

/// DMARC pass % per week as a line, broken where a week has no reports.
pub(crate) fn weekly_chart(title: &str, weeks: &[WeekPoint]) -> String {
    const TOP: f64 = 10.0;
    const PLOT_HEIGHT: f64 = 120.0;
    let mut svg = Svg::new(160, title);
    axis(
        &mut svg,
        TOP,
        PLOT_HEIGHT,
        &["0%".to_owned(), "50%".to_owned(), "100%".to_owned()],
    );
    let slot = PLOT_WIDTH / weeks.len().max(1) as f64;
    let point = |index: usize, rate: f64| {
        (
            LEFT + slot * (index as f64 + 0.5),
            TOP + PLOT_HEIGHT - rate.clamp(0.0, 1.0) * PLOT_HEIGHT,
        )
    };
    let mut segment: Vec<(f64, f64)> = Vec::new();
    let mut segments = Vec::new();
    for (index, week) in weeks.iter().enumerate() {
        match week.rate {
            Some(rate) => segment.push(point(index, rate)),
            None => segments.push(std::mem::take(&mut segment)),
        }
        svg.text(
            LEFT + slot * (index as f64 + 0.5),
            TOP + PLOT_HEIGHT + 14.0,
            "middle",
            &week.label,
        );
    }
    segments.push(segment);
    for segment in segments.iter().filter(|segment| !segment.is_empty()) {
        let points: Vec<String> = segment
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            svg.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#0072B2\" stroke-width=\"2\"/>",
            points.join(" ")
        );
        for (x, y) in segment {
            let _ = write!(
                svg.out,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#0072B2\"/>"
            );
        }
    }
    svg.finish()
}

/// One source of the top-sources chart.
pub(crate) struct SourceBar {
    /// The source IP.
    pub label: String,
    /// Its messages.
    pub messages: u64,
    /// Its class (colour and label).
    pub class: Classification,
}

/// The sources as horizontal bars by messages, each labelled with its IP, class and count.
pub(crate) fn sources_chart(title: &str, sources: &[SourceBar]) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 200.0;
    let height = (sources.len() as f64 * ROW) as u32 + 8;
    let mut svg = Svg::new(height, title);
    let max = sources
        .iter()
        .map(|source| source.messages)
        .max()
        .unwrap_or(0)
        .max(1);
    let room = WIDTH as f64 - LABEL - 170.0;
    for (index, source) in sources.iter().enumerate() {
        let y = 4.0 + index as f64 * ROW;
        svg.text(LABEL - 6.0, y + 13.0, "end", &source.label);
        let width = (source.messages as f64 / max as f64 * room).max(1.0);
        svg.rect(LABEL, y + 2.0, width, ROW - 6.0, class_colour(source.class));
        svg.text(
            LABEL + width + 6.0,
            y + 13.0,
            "start",
            &format!(
                "{} · {}",
                crate::numbers::thousands(source.messages),
                source.class
            ),
        );
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_up_to_readable_figures() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(401), 500);
        assert_eq!(nice_max(5_000), 5_000);
        assert_eq!(nice_max(u64::MAX), u64::MAX);
    }

    #[test]
    fn text_is_escaped_and_every_chart_has_a_title() {
        let chart = sources_chart(
            "Top <sources> & \"more\"",
            &[SourceBar {
                label: "<script>alert(1)</script>".to_owned(),
                messages: 3,
                class: Classification::Unauthenticated,
            }],
        );
        assert!(chart.contains("<title>Top &lt;sources&gt; &amp; &quot;more&quot;</title>"));
        assert!(chart.contains("aria-label=\"Top &lt;sources&gt;"));
        assert!(!chart.contains("<script"), "{chart}");
        assert!(
            chart.contains("3 · unauthenticated"),
            "the class is named, not only coloured"
        );
        assert!(chart.contains(class_colour(Classification::Unauthenticated)));
    }

    #[test]
    fn stacked_bars_scale_to_the_largest_day_and_outline_the_previous_period() {
        let days = [
            DayBar {
                label: "Mon 16".to_owned(),
                classes: [50, 0, 25, 25],
                previous: Some(200),
            },
            DayBar {
                label: "Tue 17".to_owned(),
                classes: [0, 0, 0, 0],
                previous: None,
            },
        ];
        let chart = daily_chart("Daily", &days);
        // 200 is the top of the scale: 150 px; 50 aligned messages are 37.5 px.
        assert!(
            chart.contains("height=\"37.5\" fill=\"#009E73\""),
            "{chart}"
        );
        assert!(chart.contains("height=\"150.0\" fill=\"none\""), "{chart}");
        assert!(
            !chart.contains("fill=\"#56B4E9\"/><rect"),
            "no empty forwarded segment"
        );
        for class in Classification::ALL {
            assert!(
                chart.contains(&format!(">{class}</text>")),
                "legend names {class}"
            );
        }
        assert!(chart.contains(">Mon 16<") && chart.contains(">Tue 17<"));
    }

    #[test]
    fn huge_counts_scale_without_overflow_or_nan() {
        let days = [
            DayBar {
                label: "Mon 16".to_owned(),
                classes: [u64::MAX, u64::MAX, 0, 1],
                previous: Some(u64::MAX),
            },
            DayBar {
                label: "Tue 17".to_owned(),
                classes: [0, 0, 0, 0],
                previous: Some(0),
            },
        ];
        let sources = [
            SourceBar {
                label: "192.0.2.1".to_owned(),
                messages: u64::MAX,
                class: Classification::Aligned,
            },
            SourceBar {
                label: "192.0.2.2".to_owned(),
                messages: 0,
                class: Classification::Forwarded,
            },
        ];
        for chart in [daily_chart("Daily", &days), sources_chart("Top", &sources)] {
            assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
            assert!(
                !chart.contains("=\"-"),
                "no negative size or position: {chart}"
            );
            assert!(chart.ends_with("</svg>"));
        }
        // The largest bar spans the plot; a source without messages still shows a sliver.
        let top = sources_chart("Top", &sources);
        assert!(top.contains("width=\"230.0\""), "{top}");
        assert!(top.contains("width=\"1.0\""), "{top}");
    }

    #[test]
    fn long_periods_label_every_nth_day_and_keep_every_bar() {
        let days: Vec<DayBar> = (0..90)
            .map(|index| DayBar {
                label: format!("D{index}"),
                classes: [1, 0, 0, 0],
                previous: None,
            })
            .collect();
        let chart = daily_chart("Ninety days", &days);
        assert_eq!(
            chart.matches("fill=\"#009E73\"/>").count(),
            90 + 1,
            "bars and legend"
        );
        // 548 px for 90 days: a label every 7th day, so labels do not overlap.
        assert!(chart.contains(">D0<") && chart.contains(">D7<") && !chart.contains(">D1<"));
        let labels = chart.matches("text-anchor=\"middle\"").count();
        assert_eq!(labels, 13, "{chart}");
    }

    #[test]
    fn every_class_has_its_own_colour() {
        let colours: std::collections::HashSet<&str> = Classification::ALL
            .iter()
            .map(|class| class_colour(*class))
            .collect();
        assert_eq!(colours.len(), 4);
        assert_eq!(escape("a\u{1b}[2J<b>"), "a[2J&lt;b&gt;", "controls dropped");
    }

    #[test]
    fn weeks_without_reports_break_the_line() {
        let weeks: Vec<WeekPoint> = [Some(1.0), Some(0.5), None, Some(0.9)]
            .into_iter()
            .enumerate()
            .map(|(index, rate)| WeekPoint {
                label: format!("W{index}"),
                rate,
            })
            .collect();
        let chart = weekly_chart("Pass", &weeks);
        assert_eq!(chart.matches("<polyline").count(), 2, "{chart}");
        assert_eq!(chart.matches("<circle").count(), 3);
        // 100% at the top of the plot (y = 10), 50% halfway (y = 70).
        assert!(chart.contains(",10.0 "), "{chart}");
        assert!(chart.contains(",70.0\""), "{chart}");
        let empty = weekly_chart("Pass", &[]);
        assert!(!empty.contains("<polyline"));
    }
}
