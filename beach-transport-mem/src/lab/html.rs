//! The report as one self-contained HTML page (`beach sim --report`): the tables and inline
//! SVG charts (latency over virtual time per variant with the events marked, actors per
//! node per placement, recovery after each event), and the JSON document inside. No script,
//! no font, no network: it opens anywhere, offline, the same every time.

use std::fmt::Write as _;

use super::report::{Report, Table};

/// One colour per variant, told apart in print too.
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// Escapes text for HTML and SVG.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|v| *v >= max).unwrap_or(10.0 * p)
}

const W: f64 = 860.0;
const H: f64 = 280.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;

/// The frame of a chart: axes, y grid with labels, the y unit.
fn frame(out: &mut String, class: &str, title: &str, y_max: f64, y_unit: &str) {
    let _ = write!(
        out,
        r#"<figure><figcaption>{t}</figcaption><svg class="chart {class}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = esc(title)
    );
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let y = H - BOTTOM - (H - TOP - BOTTOM) * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11">{v}</text>"##,
            x2 = W - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            v = trim(v),
        );
    }
    let _ = write!(
        out,
        r#"<text x="12" y="{y}" font-size="11" transform="rotate(-90 12 {y})" text-anchor="middle">{u}</text>"#,
        y = H / 2.0,
        u = esc(y_unit)
    );
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// A line per series over seconds, with vertical markers.
fn line_chart(
    title: &str,
    y_unit: &str,
    series: &[(String, Vec<f64>)],
    markers: &[(f64, String)],
) -> String {
    let mut out = String::new();
    let len = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(2);
    let y_max = nice(series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max));
    frame(&mut out, "lines", title, y_max, y_unit);
    let x = |i: f64| LEFT + (W - LEFT - RIGHT) * i / (len - 1) as f64;
    let y = |v: f64| H - BOTTOM - (H - TOP - BOTTOM) * (v / y_max);
    for (at, label) in markers {
        let _ = write!(
            out,
            r##"<line class="event" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{b}" stroke="#555" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{ty}" font-size="10" fill="#555">{l}</text>"##,
            x = x(*at),
            b = H - BOTTOM,
            tx = x(*at) + 3.0,
            ty = TOP + 10.0,
            l = esc(label),
        );
    }
    for (i, (name, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(j, v)| format!("{:.1},{:.1}", x(j as f64), y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" fill="none" stroke="{c}" stroke-width="1.6" points="{p}"><title>{n}</title></polyline>"#,
            c = colour(i),
            p = points.join(" "),
            n = esc(name),
        );
    }
    for s in (0..len).step_by((len / 10).max(1)) {
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{y}" font-size="11" text-anchor="middle">{s} s</text>"#,
            x = x(s as f64),
            y = H - BOTTOM + 16.0,
        );
    }
    out.push_str("</svg></figure>");
    out
}

/// Bars per group, one per series.
fn bar_chart(
    title: &str,
    y_unit: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let mut out = String::new();
    let y_max = nice(series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max));
    frame(&mut out, "bars", title, y_max, y_unit);
    let group_w = (W - LEFT - RIGHT) / groups.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (g, label) in groups.iter().enumerate() {
        let gx = LEFT + group_w * g as f64 + group_w * 0.1;
        for (i, (name, values)) in series.iter().enumerate() {
            let v = values.get(g).copied().unwrap_or(0.0);
            let h = (H - TOP - BOTTOM) * (v / y_max);
            let _ = write!(
                out,
                r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{n}: {v}</title></rect>"#,
                x = gx + bar_w * i as f64,
                y = H - BOTTOM - h,
                w = (bar_w - 1.0).max(1.0),
                c = colour(i),
                n = esc(name),
                v = trim(v),
            );
        }
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{y}" font-size="11" text-anchor="middle">{l}</text>"#,
            x = gx + group_w * 0.4,
            y = H - BOTTOM + 16.0,
            l = esc(label),
        );
    }
    out.push_str("</svg></figure>");
    out
}

fn legend(names: &[String]) -> String {
    let mut out = String::from(r#"<p class="legend">"#);
    for (i, n) in names.iter().enumerate() {
        let _ = write!(out, r#"<span><i style="background:{}"></i>{}</span> "#, colour(i), esc(n));
    }
    out.push_str("</p>");
    out
}

/// A table of the report under its title.
fn table(id: &str, t: &Table) -> String {
    let mut out = format!("<h2>{}</h2><table id=\"{id}\"><tr>", esc(t.title));
    let class = |i: usize| if i < t.labels { " class=\"label\"" } else { "" };
    for (i, h) in t.headings.iter().enumerate() {
        let _ = write!(out, "<th{}>{}</th>", class(i), esc(h));
    }
    out.push_str("</tr>");
    for row in &t.rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(out, "<td{}>{}</td>", class(i), esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

impl Report {
    /// The report as a self-contained HTML page.
    pub fn html(&self) -> String {
        let names: Vec<String> = self.variants.iter().map(|v| v.name.clone()).collect();
        let markers: Vec<(f64, String)> =
            self.events.iter().map(|e| (e.at_s, e.label.clone())).collect();
        let p99: Vec<(String, Vec<f64>)> =
            self.variants.iter().map(|v| (v.name.clone(), v.series.p99_ms.clone())).collect();
        let p50: Vec<(String, Vec<f64>)> =
            self.variants.iter().map(|v| (v.name.clone(), v.series.p50_ms.clone())).collect();
        // Actors per node depend on the placement only: one series per placement.
        let mut placements: Vec<(String, Vec<f64>)> = Vec::new();
        for v in &self.variants {
            if !placements.iter().any(|p| p.0 == v.placement) {
                let per = v.spread.actors_per_node.iter().map(|&a| a as f64).collect();
                placements.push((v.placement.clone(), per));
            }
        }
        let nodes = placements.iter().map(|p| p.1.len()).max().unwrap_or(0);
        let node_labels: Vec<String> = (0..nodes).map(|i| format!("node {i}")).collect();
        let placement_names: Vec<String> = placements.iter().map(|p| p.0.clone()).collect();
        let recovery: Vec<(String, Vec<f64>)> = self
            .variants
            .iter()
            .map(|v| (v.name.clone(), v.recovery.iter().map(|r| r.requests_ok_after_ms).collect()))
            .collect();
        let event_labels: Vec<String> =
            self.events.iter().map(|e| format!("{:.0} s: {}", e.at_s, e.label)).collect();

        let mut body = String::new();
        let _ = write!(
            body,
            "<h1>{}</h1><p>{} nodes, {} s of requests in virtual time, seed {}. Every variant ran on a fresh cluster from the same seed.</p>",
            esc(&self.scenario),
            self.nodes,
            self.duration_s,
            self.seed
        );
        body.push_str(&table("requests", &self.requests_table()));
        body.push_str("<h2>Latency over virtual time</h2>");
        body.push_str(&legend(&names));
        body.push_str(&line_chart(
            "p99 latency of the requests sent in each second of virtual time",
            "p99 ms",
            &p99,
            &markers,
        ));
        body.push_str(&line_chart(
            "median latency of the requests sent in each second of virtual time",
            "p50 ms",
            &p50,
            &markers,
        ));
        body.push_str(&table("spread", &self.spread_table()));
        body.push_str(&legend(&placement_names));
        body.push_str(&bar_chart(
            "actors per node after the spawn phase",
            "actors",
            &node_labels,
            &placements,
        ));
        if !self.events.is_empty() {
            body.push_str(&table("recovery", &self.recovery_table()));
            body.push_str(&legend(&names));
            body.push_str(&bar_chart(
                "time from each event until every request succeeds again",
                "ms",
                &event_labels,
                &recovery,
            ));
        }
        let json = serde_json::to_string(self).unwrap_or_default().replace("</", "<\\/");
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>beach sim: {title}</title><style>{STYLE}</style></head><body>{body}<script type=\"application/json\" id=\"report-data\">{json}</script></body></html>\n",
            title = esc(&self.scenario),
        )
    }
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1120px;color:#222}\
table{border-collapse:collapse;margin:8px 0 20px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}\
.label{text-align:left}.legend span{margin-right:14px;white-space:nowrap}\
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}svg.chart{display:block;margin:4px 0 16px}\
figure{margin:0}figcaption{font-weight:600;margin-top:8px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers_and_text_is_escaped() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(3.2), 5.0);
        assert_eq!(nice(17.0), 20.0);
        assert_eq!(nice(100.0), 100.0);
        assert_eq!(esc("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
    }
}
