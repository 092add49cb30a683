//! Server-rendered SVG charts for the reports: a stacked bar chart (the aged
//! balance: one bar per bucket, one chart per currency), a line chart (the
//! overdue amount over time) and a bar chart (counts: reminders, replies).
//!
//! Pure functions returning a string that a page embeds as is: no script,
//! no external font or style (the generic `sans-serif` family), every text
//! escaped. Each chart is accessible: `role="img"`, an `aria-label`, and a
//! `<title>` and a `<desc>` as first children; every bar and point carries
//! its own `<title>` (label and value, shown as a tooltip by browsers).
//!
//! Values are integers: minor units of one currency for amounts (formatted
//! with the currency's exponent: [`Scale`]), or plain counts. Pixel
//! positions are floating point, which is fine for drawing and never used
//! for money.

use std::fmt::Write as _;

use relance_domain::money::format_minor;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 56.0;
/// Colour-blind-safe palette (Okabe–Ito), cycled.
const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

/// How values are written in labels: minor units with `exponent` decimals,
/// followed by `unit` (a currency code) when not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub exponent: u8,
    pub unit: String,
}

impl Scale {
    /// Plain counts.
    pub fn count() -> Scale {
        Scale { exponent: 0, unit: String::new() }
    }

    /// Amounts of a currency.
    pub fn money(currency: relance_domain::money::Currency) -> Scale {
        Scale { exponent: currency.exponent(), unit: currency.code().to_string() }
    }

    fn text(&self, v: i64) -> String {
        let n = format_minor(v, self.exponent);
        if self.unit.is_empty() { n } else { format!("{n} {}", self.unit) }
    }
}

/// One named series of values, one per category (or per point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

/// What every chart says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    /// Short name: the `<title>` and the `aria-label`.
    pub title: String,
    /// A sentence saying what the chart shows: the `<desc>`.
    pub desc: String,
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The vertical scale: values from `low` (≤ 0) to `high` (≥ 0) over the plot.
struct Axis {
    low: i64,
    high: i64,
}

impl Axis {
    fn new(low: i64, high: i64) -> Axis {
        let (low, high) = (low.min(0), high.max(0));
        if low == high { Axis { low, high: high.saturating_add(1) } } else { Axis { low, high } }
    }
    fn span(&self) -> f64 {
        self.high as f64 - self.low as f64
    }
    fn plot_height() -> f64 {
        HEIGHT - TOP - BOTTOM
    }
    /// The y coordinate of a value.
    fn y(&self, v: i64) -> f64 {
        TOP + (self.high as f64 - v as f64) / self.span() * Axis::plot_height()
    }
    /// The height in pixels of a length of `v`.
    fn length(&self, v: i64) -> f64 {
        (v as f64).abs() / self.span() * Axis::plot_height()
    }
}

fn open(out: &mut String, caption: &Caption) {
    let title = escape(&caption.title);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(out, "<title>{title}</title><desc>{}</desc>", escape(&caption.desc));
}

/// The y axis: a line, the zero line and labels at the top, zero and bottom.
fn y_axis(out: &mut String, axis: &Axis, scale: &Scale) {
    let right = WIDTH - RIGHT;
    let bottom = TOP + Axis::plot_height();
    let _ = write!(out, r##"<g class="axis" stroke="#555"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>"##);
    let zero = axis.y(0);
    let _ = write!(out, r#"<line x1="{LEFT}" y1="{zero:.2}" x2="{right}" y2="{zero:.2}"/></g>"#);
    let mut ticks = vec![axis.high, 0];
    if axis.low < 0 {
        ticks.push(axis.low);
    }
    for v in ticks {
        let _ = write!(
            out,
            r##"<text x="{}" y="{:.2}" text-anchor="end" dominant-baseline="middle" fill="#333">{}</text>"##,
            LEFT - 6.0,
            axis.y(v),
            escape(&scale.text(v))
        );
    }
}

fn x_label(out: &mut String, x: f64, label: &str) {
    let _ = write!(
        out,
        r##"<text x="{x:.2}" y="{:.2}" text-anchor="middle" fill="#333">{}</text>"##,
        TOP + Axis::plot_height() + 16.0,
        escape(label)
    );
}

fn legend(out: &mut String, names: &[&str]) {
    if names.len() < 2 {
        return;
    }
    let y = HEIGHT - 14.0;
    let step = (WIDTH - LEFT - RIGHT) / names.len() as f64;
    for (i, name) in names.iter().enumerate() {
        let x = LEFT + step * i as f64;
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r##"<rect x="{x:.2}" y="{}" width="10" height="10" fill="{colour}"/><text x="{:.2}" y="{}" fill="#333">{}</text>"##,
            y - 9.0,
            x + 14.0,
            y,
            escape(name)
        );
    }
}

fn slot_width(n: usize) -> f64 {
    (WIDTH - LEFT - RIGHT) / n.max(1) as f64
}

/// A stacked bar chart: one bar per category, each series a segment of it
/// (positive values stacked up from zero, negative ones down). Missing values
/// count as zero. Each segment is a `<rect class="bar">` with
/// `data-category`, `data-series` and `data-value` (the raw integer).
pub fn stacked_bar_chart(caption: &Caption, categories: &[String], series: &[Series], scale: &Scale) -> String {
    let value = |s: &Series, c: usize| s.values.get(c).copied().unwrap_or(0);
    let (mut low, mut high) = (0i64, 0i64);
    for c in 0..categories.len() {
        let up: i64 = series.iter().map(|s| value(s, c).max(0)).fold(0, i64::saturating_add);
        let down: i64 = series.iter().map(|s| value(s, c).min(0)).fold(0, i64::saturating_add);
        high = high.max(up);
        low = low.min(down);
    }
    let axis = Axis::new(low, high);
    let mut out = String::new();
    open(&mut out, caption);
    y_axis(&mut out, &axis, scale);
    let slot = slot_width(categories.len());
    let bar = slot * 0.6;
    for (c, category) in categories.iter().enumerate() {
        let x = LEFT + slot * c as f64 + (slot - bar) / 2.0;
        let (mut up, mut down) = (0i64, 0i64);
        for (i, s) in series.iter().enumerate() {
            let v = value(s, c);
            if v == 0 {
                continue;
            }
            let (top, base) = if v > 0 {
                let base = up;
                up = up.saturating_add(v);
                (up, base)
            } else {
                let base = down;
                down = down.saturating_add(v);
                (base, down)
            };
            let _ = write!(
                out,
                r#"<rect class="bar" x="{x:.2}" y="{:.2}" width="{bar:.2}" height="{:.2}" fill="{}" data-category="{}" data-series="{}" data-value="{v}"><title>{}</title></rect>"#,
                axis.y(top),
                axis.length(top.saturating_sub(base)),
                PALETTE[i % PALETTE.len()],
                escape(category),
                escape(&s.name),
                escape(&format!("{category}, {}: {}", s.name, scale.text(v)))
            );
        }
        x_label(&mut out, x + bar / 2.0, category);
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

/// A bar chart of one series (counts): one `<rect class="bar">` per label
/// with `data-category` and `data-value`.
pub fn bar_chart(caption: &Caption, bars: &[(String, i64)], scale: &Scale) -> String {
    let categories: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    let series = [Series { name: caption.title.clone(), values: bars.iter().map(|(_, v)| *v).collect() }];
    stacked_bar_chart(caption, &categories, &series, scale)
}

/// A line chart: one `<polyline class="line">` per series over the x
/// labels, evenly spaced, and a `<circle class="point">` with `data-value`
/// and a `<title>` at each point.
pub fn line_chart(caption: &Caption, x_labels: &[String], series: &[Series], scale: &Scale) -> String {
    let all = series.iter().flat_map(|s| s.values.iter().copied());
    let (low, high) = all.fold((0i64, 0i64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let axis = Axis::new(low, high);
    let mut out = String::new();
    open(&mut out, caption);
    y_axis(&mut out, &axis, scale);
    let slot = slot_width(x_labels.len());
    let x_of = |i: usize| LEFT + slot * i as f64 + slot / 2.0;
    for (i, label) in x_labels.iter().enumerate() {
        x_label(&mut out, x_of(i), label);
    }
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let points: Vec<String> = s
            .values
            .iter()
            .take(x_labels.len())
            .enumerate()
            .map(|(i, v)| format!("{:.2},{:.2}", x_of(i), axis.y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{}" data-series="{}"/>"#,
            points.join(" "),
            escape(&s.name)
        );
        for (i, v) in s.values.iter().take(x_labels.len()).enumerate() {
            let label = x_labels.get(i).map(String::as_str).unwrap_or_default();
            let _ = write!(
                out,
                r#"<circle class="point" cx="{:.2}" cy="{:.2}" r="3" fill="{colour}" data-value="{v}"><title>{}</title></circle>"#,
                x_of(i),
                axis.y(*v),
                escape(&format!("{label}, {}: {}", s.name, scale.text(*v)))
            );
        }
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

// Amounts in the tests are written `major_minor` (`100_00` is 100.00).
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    use relance_domain::money::Currency;

    use super::*;

    /// An element of the parsed SVG: name, attributes, and the text of its
    /// `<title>` child when it has one.
    #[derive(Debug, Default, Clone)]
    struct El {
        name: String,
        attrs: Vec<(String, String)>,
        title: String,
    }

    impl El {
        fn attr(&self, k: &str) -> &str {
            self.attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("")
        }
        fn num(&self, k: &str) -> f64 {
            self.attr(k).parse().unwrap_or_else(|_| panic!("{k} of {self:?}"))
        }
    }

    /// Parses the whole document (failing on any XML error) into its elements.
    fn parse(svg: &str) -> Vec<El> {
        let mut reader = Reader::from_str(svg);
        let mut out: Vec<El> = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        let mut in_title = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    let el = element(&e);
                    in_title = el.name == "title";
                    out.push(el);
                    stack.push(out.len() - 1);
                }
                Event::Empty(e) => out.push(element(&e)),
                Event::End(_) => {
                    let closed = stack.pop().expect("balanced");
                    if out[closed].name == "title" {
                        in_title = false;
                        let text = out[closed].title.clone();
                        if let Some(parent) = stack.last() {
                            out[*parent].title = text;
                        }
                    }
                }
                Event::Text(t) if in_title => {
                    let text = t.xml10_content().into_owned();
                    if let Some(open) = stack.last() {
                        out[*open].title.push_str(&text);
                    }
                }
                Event::GeneralRef(r) if in_title => {
                    let name: &str = r.as_ref();
                    let text = quick_xml::escape::unescape(&format!("&{name};")).expect("entity").into_owned();
                    if let Some(open) = stack.last() {
                        out[*open].title.push_str(&text);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(stack.is_empty(), "every element closed");
        out
    }

    fn element(e: &quick_xml::events::BytesStart<'_>) -> El {
        let name = AsRef::<str>::as_ref(&e.name()).to_string();
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).expect("value").into_owned();
                (AsRef::<str>::as_ref(&a.key).to_string(), v)
            })
            .collect();
        El { name, attrs, title: String::new() }
    }

    fn caption(title: &str) -> Caption {
        Caption { title: title.into(), desc: "Open amounts by days past due.".into() }
    }

    #[test]
    fn stacked_bars_are_accessible_and_proportional() {
        let categories: Vec<String> = ["not due", "1-30", "> 90"].iter().map(|s| s.to_string()).collect();
        let series = [
            Series { name: "Retail <B2C>".into(), values: vec![100_00, 300_00, 0] },
            Series { name: "Wholesale & Co".into(), values: vec![200_00, -50_00, 400_00] },
        ];
        let svg = stacked_bar_chart(&caption("Aged balance, EUR"), &categories, &series, &Scale::money(Currency::EUR));
        let els = parse(&svg);
        let root = &els[0];
        assert_eq!(root.name, "svg");
        assert_eq!((root.attr("role"), root.attr("aria-label")), ("img", "Aged balance, EUR"));
        assert_eq!(els[1].name, "title", "the title comes first");
        assert_eq!(els[2].name, "desc");
        assert!(!svg.contains("<script") && !svg.contains("@import") && !svg.contains("url("));
        let bars: Vec<&El> = els.iter().filter(|e| e.attr("class") == "bar").collect();
        assert_eq!(bars.len(), 5, "zero values draw nothing");
        // Every height is proportional to its value: height / |value| is one constant.
        let ratio = bars[0].num("height") / 100_00.0;
        for b in &bars {
            let v = b.num("data-value").abs();
            assert!((b.num("height") - v * ratio).abs() < 0.02, "{b:?}");
        }
        // The tallest stack (400.00 in "> 90") fills the plot; the credit goes below zero.
        let tallest = bars.iter().find(|b| b.attr("data-category") == "> 90").unwrap();
        assert!((tallest.num("height") - Axis::plot_height() * 400.0 / 450.0).abs() < 0.02);
        let credit = bars.iter().find(|b| b.num("data-value") < 0.0).unwrap();
        let zero_y = bars.iter().find(|b| b.attr("data-category") == "1-30" && b.num("data-value") > 0.0).unwrap();
        assert!((credit.num("y") - (zero_y.num("y") + zero_y.num("height"))).abs() < 0.02, "starts at zero");
        // Stacked: the second segment of "not due" sits on the first.
        let first = bars
            .iter()
            .find(|b| b.attr("data-category") == "not due" && b.attr("data-series") == "Retail <B2C>")
            .unwrap();
        let second = bars
            .iter()
            .find(|b| b.attr("data-category") == "not due" && b.attr("data-series") != "Retail <B2C>")
            .unwrap();
        assert!((second.num("y") + second.num("height") - first.num("y")).abs() < 0.02);
        // Labels were escaped and read back intact.
        assert_eq!(first.title, "not due, Retail <B2C>: 100.00 EUR");
        assert!(svg.contains("Wholesale &amp; Co"));
    }

    #[test]
    fn line_chart_points_follow_the_values() {
        let x: Vec<String> = ["2026-01", "2026-02", "2026-03"].iter().map(|s| s.to_string()).collect();
        let series = [Series { name: "EUR".into(), values: vec![1_000_00, 900_00, 0] }];
        let svg = line_chart(&caption("Overdue \"over\" time"), &x, &series, &Scale::money(Currency::EUR));
        let els = parse(&svg);
        assert_eq!(els[0].attr("aria-label"), "Overdue \"over\" time");
        let points: Vec<&El> = els.iter().filter(|e| e.attr("class") == "point").collect();
        assert_eq!(points.len(), 3);
        let bottom = points[2].num("cy");
        let top = points[0].num("cy");
        assert!((top - TOP).abs() < 0.02, "the largest value is at the top");
        let drop = |p: &El| bottom - p.num("cy");
        assert!((drop(points[1]) / drop(points[0]) - 0.9).abs() < 1e-3, "900 is 90% of 1,000");
        assert!(points[0].num("cx") < points[1].num("cx"));
        assert_eq!(points[1].title, "2026-02, EUR: 900.00 EUR");
        assert_eq!(els.iter().filter(|e| e.name == "polyline").count(), 1);
    }

    #[test]
    fn count_bars_and_empty_charts_stay_well_formed() {
        let bars = vec![("email".to_string(), 30), ("sms".to_string(), 10), ("letter".to_string(), 0)];
        let svg = bar_chart(&caption("Reminders sent"), &bars, &Scale::count());
        let els = parse(&svg);
        let rects: Vec<&El> = els.iter().filter(|e| e.attr("class") == "bar").collect();
        assert_eq!(rects.len(), 2);
        assert!((rects[0].num("height") / rects[1].num("height") - 3.0).abs() < 1e-3, "30 is 3 × 10");
        assert!((rects[0].num("height") - Axis::plot_height()).abs() < 0.02);
        assert_eq!(rects[1].title, "sms, Reminders sent: 10");
        // Nothing to draw: still a valid, labelled image.
        let empty = parse(&bar_chart(&caption("Nothing\u{1}"), &[], &Scale::count()));
        assert_eq!(empty[0].attr("aria-label"), "Nothing ");
        let empty_line = parse(&line_chart(&caption("x"), &[], &[], &Scale::count()));
        assert_eq!(empty_line[0].name, "svg");
    }
}
