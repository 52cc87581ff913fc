//! The alerts-per-day chart: an inline SVG of stacked bars, one per day, by severity. Only
//! numbers and dates this module writes go into it.

use std::fmt::Write as _;

use super::facts::Day;

/// Each severity's colour, lowest first (the messages' colours).
const COLOURS: [&str; 5] = ["#8a94a6", "#2f80ed", "#f2c94c", "#f2994a", "#d03b3b"];
const NAMES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// The bars of `days`, scaled to the busiest day.
pub(crate) fn bars(days: &[Day]) -> String {
    let (w, h, top, bottom) = (40.0, 150.0, 18.0, 22.0);
    let width = days.len() as f64 * w;
    let max = days
        .iter()
        .map(|d| d.counts.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"alerts per day by severity\" viewBox=\"0 0 {width} {}\" xmlns=\"http://www.w3.org/2000/svg\">",
        h + top + bottom
    );
    for (i, d) in days.iter().enumerate() {
        let x = i as f64 * w + 6.0;
        let total: u64 = d.counts.iter().sum();
        let mut y = top + h;
        let _ = write!(
            out,
            "<g class=\"day\" data-date=\"{}\" data-total=\"{total}\">",
            digits(&d.date)
        );
        for (s, n) in d.counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let bh = (*n as f64 / max * h).max(1.0);
            y -= bh;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{} {}: {n}</title></rect>",
                w - 12.0,
                COLOURS[s],
                digits(&d.date),
                NAMES[s]
            );
        }
        if total > 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{total}</text>",
                x + (w - 12.0) / 2.0,
                y - 3.0
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">{}</text></g>",
            x + (w - 12.0) / 2.0,
            top + h + 14.0,
            digits(&d.date)
        );
    }
    out.push_str("</svg><p class=\"legend\">");
    for (c, n) in COLOURS.iter().zip(NAMES).rev() {
        let _ = write!(
            out,
            "<svg width=\"10\" height=\"10\" aria-hidden=\"true\"><rect width=\"10\" height=\"10\" fill=\"{c}\"/></svg> {n} "
        );
    }
    out.push_str("</p>");
    out
}

/// The date as shown: its digits and dashes only.
fn digits(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_digit() || *c == '-')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_day_is_a_group_and_a_bar_per_severity_it_had() {
        let days = vec![
            Day {
                date: "12-01".into(),
                counts: [0, 0, 2, 0, 1],
            },
            Day {
                date: "12-02".into(),
                counts: [0; 5],
            },
        ];
        let svg = bars(&days);
        assert_eq!(svg.matches("<g class=\"day\"").count(), 2);
        assert_eq!(svg.matches("<rect x=").count(), 2);
        assert!(svg.contains("data-date=\"12-01\" data-total=\"3\""));
        assert!(svg.contains("12-01 critical: 1"));
    }
}
