//! The balance chart: an inline SVG line drawn on the server (no script, no library), one currency.

use finconn_core::console::BalancePoint;

use super::human_time;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// The currencies present in `points`, in first-seen order.
pub fn currencies(points: &[BalancePoint]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in points {
        for (c, _) in &p.current {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    out
}

/// The SVG for `currency`, or `None` without a point in it. Every value and label is a number or a date
/// formatted here: nothing from input reaches the markup unescaped.
pub fn svg(points: &[BalancePoint], currency: &str) -> Option<String> {
    let series: Vec<(i64, i64)> =
        points.iter().filter_map(|p| p.current.iter().find(|(c, _)| c == currency).map(|(_, v)| (p.at, *v))).collect();
    let (first, last) = (series.first()?, series.last()?);
    let (t0, t1) = (first.0, last.0.max(first.0 + 1));
    let lo = series.iter().map(|s| s.1).min().unwrap_or(0).min(0);
    let hi = series.iter().map(|s| s.1).max().unwrap_or(0).max(lo + 1);
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * (W - LEFT - RIGHT);
    let y = |v: i64| TOP + (hi - v) as f64 / (hi - lo) as f64 * (H - TOP - BOTTOM);
    let money = |v: i64| finconn_core::link::format_amount(v, currency);
    let mut out = String::new();
    let title = format!(
        "Current balance in {}, {} refreshes from {} to {}",
        currency.to_uppercase(),
        series.len(),
        human_time(first.0),
        human_time(last.0)
    );
    out.push_str(&format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{title}\" \
         data-testid=\"balance-chart\" data-points=\"{}\" preserveAspectRatio=\"xMidYMid meet\">",
        series.len()
    ));
    // Axes and the zero line.
    out.push_str(&format!(
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
        H - BOTTOM,
        y(lo),
        W - RIGHT,
        y(lo)
    ));
    for v in [hi, lo] {
        out.push_str(&format!(
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y(v) + 4.0,
            money(v)
        ));
    }
    out.push_str(&format!(
        "<text class=\"label\" x=\"{LEFT}\" y=\"{:.1}\">{}</text>",
        H - 12.0,
        &human_time(first.0)[..10]
    ));
    if series.len() > 1 {
        out.push_str(&format!(
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            H - 12.0,
            &human_time(last.0)[..10]
        ));
        let pts: Vec<String> = series.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
        out.push_str(&format!("<polyline class=\"line\" points=\"{}\"/>", pts.join(" ")));
    }
    for (t, v) in &series {
        out.push_str(&format!(
            "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{}: {}</title></circle>",
            if series.len() == 1 { (LEFT + W - RIGHT) / 2.0 } else { x(*t) },
            y(*v),
            human_time(*t),
            money(*v)
        ));
    }
    out.push_str("</svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_dot_per_refresh_and_a_line_between() {
        let points = vec![
            BalancePoint { at: 1_700_000_000, current: vec![("usd".into(), 10_000)] },
            BalancePoint { at: 1_700_086_400, current: vec![("usd".into(), 12_500)] },
        ];
        let drawn = svg(&points, "usd").unwrap();
        assert_eq!(drawn.matches("<circle").count(), 2);
        assert!(drawn.contains("<polyline"));
        assert!(drawn.contains("125.00 USD"));
        assert!(svg(&points, "eur").is_none());
    }
}
