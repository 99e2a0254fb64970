//! The two exposition formats Prometheus scrapes, written by hand (a few
//! dozen lines; the client libraries would pull in a web of crates):
//!
//! - the text format 0.0.4 (`text/plain; version=0.0.4`), the default;
//! - OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`), when
//!   the scraper's `Accept` prefers it (Prometheus 2.x asks for it first).
//!
//! The differences that matter here, per the two specifications:
//! - OpenMetrics names a counter *family* without `_total` in `# TYPE`,
//!   `# HELP` and `# UNIT`, and its samples with `_total`; 0.0.4 uses the
//!   sample name everywhere.
//! - `# UNIT` exists only in OpenMetrics, and the family name must end in
//!   `_<unit>`.
//! - OpenMetrics escapes `"` in HELP as well (`\\`, `\n`, `\"`); 0.0.4 only
//!   `\\` and `\n`. Label values escape `\\`, `"` and `\n` in both.
//! - OpenMetrics ends with `# EOF`.
//! - A counter whose name lacks `_total` (cAdvisor's
//!   `container_memory_failcnt`) can't be an OpenMetrics counter without
//!   renaming it; it is typed `unknown` there, so the name dashboards use
//!   stays the same in both formats.

use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Picks the format from an `Accept` header: OpenMetrics when the client
    /// lists it with a q-value at least that of `text/plain` (and above 0);
    /// the text format otherwise (no header, `*/*`, anything else).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut om, mut text) = (None::<f64>, None::<f64>);
        for part in accept.split(',') {
            let mut params = part.split(';');
            let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0;
            for p in params {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            let slot = match media.as_str() {
                "application/openmetrics-text" => &mut om,
                "text/plain" => &mut text,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old: f64| old.max(q)));
        }
        match om {
            Some(q) if q > 0.0 && q >= text.unwrap_or(0.0) => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
}

/// One metric family: its sample name as in the 0.0.4 format (counters end
/// in `_total`, except cAdvisor's `container_memory_failcnt`).
#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Type,
    /// OpenMetrics unit (`seconds`, `bytes`): the family name ends in it.
    pub unit: Option<&'static str>,
}

impl Family {
    /// The family name OpenMetrics uses in its metadata lines.
    fn om_name(&self) -> &'static str {
        match self.kind {
            Type::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            Type::Gauge => self.name,
        }
    }

    fn om_type(&self) -> &'static str {
        match self.kind {
            Type::Counter if self.name.ends_with("_total") => "counter",
            Type::Counter => "unknown",
            Type::Gauge => "gauge",
        }
    }
}

/// Writes one exposition: [`Encoder::family`] then its samples, family by
/// family (a family's samples must be contiguous), then [`Encoder::finish`].
pub struct Encoder {
    pub format: Format,
    out: String,
    family: Option<Family>,
}

impl Encoder {
    pub fn new(format: Format, capacity: usize) -> Encoder {
        Encoder {
            format,
            out: String::with_capacity(capacity),
            family: None,
        }
    }

    /// Starts a family: its HELP, TYPE (and UNIT in OpenMetrics) lines.
    pub fn family(&mut self, f: &Family) {
        self.family = Some(*f);
        let out = &mut self.out;
        match self.format {
            Format::Text => {
                let kind = match f.kind {
                    Type::Counter => "counter",
                    Type::Gauge => "gauge",
                };
                let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help, false));
                let _ = writeln!(out, "# TYPE {} {kind}", f.name);
            }
            Format::OpenMetrics => {
                let name = f.om_name();
                let _ = writeln!(out, "# TYPE {name} {}", f.om_type());
                if let Some(u) = f.unit {
                    debug_assert!(name.ends_with(&format!("_{u}")), "{name}: unit {u}");
                    let _ = writeln!(out, "# UNIT {name} {u}");
                }
                let _ = writeln!(out, "# HELP {name} {}", escape_help(f.help, true));
            }
        }
    }

    /// One sample of the current family. `labels` is already formatted
    /// (`a="x",b="y"`, values escaped by [`push_label`]); may be empty.
    pub fn sample(&mut self, labels: &str, value: f64) {
        let Some(f) = self.family else {
            debug_assert!(false, "sample before family");
            return;
        };
        self.out.push_str(f.name);
        if !labels.is_empty() {
            self.out.push('{');
            self.out.push_str(labels);
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// Ends the exposition (`# EOF` in OpenMetrics) and returns it.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// Appends `name="value"` (with a leading comma unless `out` is empty),
/// escaping the value as both formats require: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn escape_help(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// Numbers as both parsers read them: integers without a fraction,
/// `NaN` / `+Inf` / `-Inf`, the shortest round-tripping decimal otherwise
/// (exponent form for very large or small magnitudes).
pub fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e15) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: Family = Family {
        name: "container_cpu_usage_seconds_total",
        help: "Cumulative cpu time consumed in seconds.",
        kind: Type::Counter,
        unit: Some("seconds"),
    };
    const FAILCNT: Family = Family {
        name: "container_memory_failcnt",
        help: "Number of memory usage hits limits",
        kind: Type::Counter,
        unit: None,
    };
    const QUOTA: Family = Family {
        name: "container_spec_cpu_quota",
        help: "CPU quota of the container.",
        kind: Type::Gauge,
        unit: None,
    };

    fn expo(format: Format) -> String {
        let mut e = Encoder::new(format, 0);
        let mut l = String::new();
        push_label(&mut l, "id", "/a");
        e.family(&CPU);
        e.sample(&l, 1.5);
        e.family(&FAILCNT);
        e.sample(&l, 3.0);
        e.family(&QUOTA);
        e.sample("", 20000.0);
        e.finish()
    }

    #[test]
    fn text_0_0_4_uses_sample_names_and_has_no_eof_or_unit() {
        assert_eq!(
            expo(Format::Text),
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n\
             # TYPE container_cpu_usage_seconds_total counter\n\
             container_cpu_usage_seconds_total{id=\"/a\"} 1.5\n\
             # HELP container_memory_failcnt Number of memory usage hits limits\n\
             # TYPE container_memory_failcnt counter\n\
             container_memory_failcnt{id=\"/a\"} 3\n\
             # HELP container_spec_cpu_quota CPU quota of the container.\n\
             # TYPE container_spec_cpu_quota gauge\n\
             container_spec_cpu_quota 20000\n"
        );
    }

    #[test]
    fn openmetrics_names_families_without_total_and_ends_with_eof() {
        assert_eq!(
            expo(Format::OpenMetrics),
            "# TYPE container_cpu_usage_seconds counter\n\
             # UNIT container_cpu_usage_seconds seconds\n\
             # HELP container_cpu_usage_seconds Cumulative cpu time consumed in seconds.\n\
             container_cpu_usage_seconds_total{id=\"/a\"} 1.5\n\
             # TYPE container_memory_failcnt unknown\n\
             # HELP container_memory_failcnt Number of memory usage hits limits\n\
             container_memory_failcnt{id=\"/a\"} 3\n\
             # TYPE container_spec_cpu_quota gauge\n\
             # HELP container_spec_cpu_quota CPU quota of the container.\n\
             container_spec_cpu_quota 20000\n\
             # EOF\n"
        );
    }

    #[test]
    fn label_values_escape_backslash_quote_newline() {
        let mut l = String::new();
        push_label(&mut l, "id", "/a\\b\"c\nd}é");
        push_label(&mut l, "name", "");
        assert_eq!(l, r#"id="/a\\b\"c\nd}é",name="""#);
    }

    #[test]
    fn help_escapes_differ_between_the_formats() {
        let f = Family {
            name: "x",
            help: "a \\ \"b\"\nc",
            kind: Type::Gauge,
            unit: None,
        };
        let mut t = Encoder::new(Format::Text, 0);
        t.family(&f);
        assert!(t.finish().starts_with("# HELP x a \\\\ \"b\"\\nc\n"));
        let mut o = Encoder::new(Format::OpenMetrics, 0);
        o.family(&f);
        assert!(o.finish().contains("# HELP x a \\\\ \\\"b\\\"\\nc\n"));
    }

    #[test]
    fn values_round_trip_in_both_parsers_syntax() {
        let s = |v: f64| {
            let mut o = String::new();
            push_value(&mut o, v);
            o
        };
        assert_eq!(s(0.0), "0");
        assert_eq!(s(42.0), "42");
        assert_eq!(s(0.25), "0.25");
        assert_eq!(s(1e-9), "1e-9");
        assert_eq!(s(1.8446744073709552e19), "1.8446744073709552e19");
        assert_eq!(s(f64::NAN), "NaN");
        assert_eq!(s(f64::INFINITY), "+Inf");
        assert_eq!(s(f64::NEG_INFINITY), "-Inf");
        for v in [0.1, 123.456, 1e-9, 3.3e20] {
            assert_eq!(s(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn accept_header_negotiation() {
        use Format::*;
        // Prometheus 2.42's scrape Accept header.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), OpenMetrics);
        assert_eq!(Format::negotiate(None), Text);
        assert_eq!(Format::negotiate(Some("*/*")), Text);
        assert_eq!(Format::negotiate(Some("text/plain")), Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=0")),
            Text
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;q=1,application/openmetrics-text;q=0.5")),
            Text
        );
        assert_eq!(
            Format::negotiate(Some("Application/OpenMetrics-Text")),
            OpenMetrics
        );
    }
}
