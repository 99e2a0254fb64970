//! The knob grammar shared by `cgdash set`, `cgdash run --cpu …`, the
//! dashboard's editor and config files: names, value syntax, validation.
//!
//! Parsing happens before anything is written. It is pure given a [`Host`]
//! (the one fact about the machine validation needs: its CPU count); the
//! `parse*` shorthands use this machine, the `*_on` forms take the host as a
//! value so tests can fix it. Translating a parsed value into v1 or v2 files
//! lives in `write.rs` (one place).

use std::fmt;

use super::controllers::{all_defs, KnobDef};
use super::stats::Limit;

/// A cgdash knob (the same name on v1, v2 and hybrid hosts). Each is
/// declared once, by its controller (`controllers/*.rs`: a [`KnobDef`] and
/// an associated constant such as `Knob::Cpu`); its name, aliases, grammar,
/// translation, write order and editor value all come from that declaration.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Knob(pub(crate) &'static str);

impl Knob {
    /// Every knob, in declaration order (controllers' order, then each
    /// controller's): the order of the editor's fields and of the README table.
    pub fn all() -> impl Iterator<Item = Knob> {
        all_defs().map(|d| d.knob)
    }

    /// Its declaration.
    pub fn def(self) -> &'static KnobDef {
        all_defs()
            .find(|d| d.knob == self)
            .expect("every Knob constant is declared by its controller")
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    /// Accepts the cgdash name and the aliases its controller declares
    /// (`memory.max`, `pids.max`, docker's `cpus`, …).
    pub fn from_name(name: &str) -> Option<Knob> {
        let n = name.trim().to_ascii_lowercase();
        all_defs()
            .find(|d| d.knob.0 == n || d.aliases.contains(&n.as_str()))
            .map(|d| d.knob)
    }

    /// What the value looks like, for error messages and the editor's hints.
    pub fn syntax(self) -> &'static str {
        self.def().syntax
    }

    fn index(self) -> usize {
        Knob::all().position(|k| k == self).unwrap_or(usize::MAX)
    }
}

/// `cgdash run --FLAG VALUE`s as `KNOB=VALUE` (the flag's knob is the one
/// declaring it); an undeclared flag is passed as is (and refused).
pub fn settings_from_flags(flags: &[(&str, &str)]) -> Vec<String> {
    flags
        .iter()
        .map(|(flag, v)| {
            let name = all_defs()
                .find(|d| d.flag.is_some_and(|f| f.name == *flag))
                .map_or(*flag, |d| d.knob.name());
            format!("{name}={v}")
        })
        .collect()
}

/// The known knobs, comma-separated (for errors and help).
pub fn known_knobs() -> String {
    Knob::all().map(Knob::name).collect::<Vec<_>>().join(", ")
}

impl fmt::Debug for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialOrd for Knob {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Knob {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index().cmp(&other.index())
    }
}

/// Why a well-formed-looking value is refused by a knob's grammar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed or out of the kernel's range (the error adds the syntax).
    Bad(String),
    /// Well-formed, but meaningless on this host (a CPU quota above its CPUs).
    AboveHost(String),
}

impl From<String> for Refusal {
    fn from(why: String) -> Refusal {
        Refusal::Bad(why)
    }
}

impl From<&str> for Refusal {
    fn from(why: &str) -> Refusal {
        Refusal::Bad(why.to_string())
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What validation needs to know about the machine the value is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// Online CPUs. A CPU quota above `cpus × 100 %` limits nothing.
    pub cpus: u32,
}

impl Host {
    /// This machine: its online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`, not
    /// `available_parallelism`, which shrinks with cgdash's own cgroup quota
    /// and affinity while the limit being set is for another group).
    pub fn this() -> Host {
        // SAFETY: sysconf has no memory-safety preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Host {
            cpus: u32::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1),
        }
    }
}

/// CPU quota as typed by the user, in hundredths of a percent of one CPU
/// (percent as f64 would also do, but a fixed point keeps `Eq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuQuota {
    Max,
    /// Hundredths of a percent of one CPU: 20% = 2000, 1.5 cores = 15000.
    CentiPercent(u64),
}

impl CpuQuota {
    pub fn from_percent(p: f64) -> CpuQuota {
        CpuQuota::CentiPercent((p * 100.0).round() as u64)
    }

    pub fn percent(self) -> Option<f64> {
        match self {
            CpuQuota::Max => None,
            CpuQuota::CentiPercent(c) => Some(c as f64 / 100.0),
        }
    }

    /// Quota in µs for a given period (the kernel's unit on both versions).
    pub fn quota_us(self, period_us: u64) -> Limit {
        match self {
            CpuQuota::Max => Limit::Max,
            CpuQuota::CentiPercent(c) => {
                Limit::Value(((c as u128 * period_us as u128 + 5_000) / 10_000) as u64)
            }
        }
    }
}

/// A validated value for one knob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Cpu(CpuQuota),
    /// µs
    CpuPeriod(u64),
    /// v2 scale, 1–10000
    CpuWeight(u64),
    Bytes(Limit),
    Count(Limit),
    List(String),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Cpu(CpuQuota::Max) => f.write_str("max"),
            Value::Cpu(CpuQuota::CentiPercent(c)) => {
                write!(f, "{}%", format_decimal(*c as f64 / 100.0))
            }
            Value::CpuPeriod(us) => {
                if us.is_multiple_of(1000) {
                    write!(f, "{}ms", us / 1000)
                } else {
                    write!(f, "{us}us")
                }
            }
            Value::CpuWeight(w) => write!(f, "{w}"),
            Value::Bytes(Limit::Max) | Value::Count(Limit::Max) => f.write_str("max"),
            Value::Bytes(Limit::Value(b)) => f.write_str(&format_size(*b)),
            Value::Count(Limit::Value(n)) => write!(f, "{n}"),
            Value::List(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One `KNOB=VALUE`, parsed and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub knob: Knob,
    pub value: Value,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.knob, self.value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    #[error("`{0}` is not KNOB=VALUE (e.g. cpu=50%)")]
    NotAssignment(String),
    #[error("unknown knob `{0}`; known knobs: {known}", known = known_knobs())]
    UnknownKnob(String),
    #[error("invalid value `{value}` for {knob}: {why}; expected {}", knob.syntax())]
    BadValue {
        knob: Knob,
        value: String,
        why: String,
    },
    /// Well-formed, but meaningless on this host (a CPU quota above its CPUs).
    #[error("invalid value `{value}` for {knob}: {why}")]
    AboveHost {
        knob: Knob,
        value: String,
        why: String,
    },
    #[error("{0} is given twice")]
    Duplicate(Knob),
}

impl Setting {
    /// Parses `KNOB=VALUE` for this machine.
    pub fn parse(s: &str) -> Result<Setting, KnobError> {
        Setting::parse_on(s, Host::this())
    }

    /// Parses `KNOB=VALUE` for `host`.
    pub fn parse_on(s: &str, host: Host) -> Result<Setting, KnobError> {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| KnobError::NotAssignment(s.to_string()))?;
        let knob =
            Knob::from_name(name).ok_or_else(|| KnobError::UnknownKnob(name.trim().to_string()))?;
        Setting::parse_value_on(knob, value, host)
    }

    /// Parses the value for a known knob on this machine (what the editor uses).
    pub fn parse_value(knob: Knob, raw: &str) -> Result<Setting, KnobError> {
        Setting::parse_value_on(knob, raw, Host::this())
    }

    /// Parses a value the kernel already holds (an editor's undo entry): the
    /// syntax is checked but not whether it fits this host, so a quota set
    /// by someone else (say 400 % on 2 CPUs) can still be restored.
    pub fn parse_current(knob: Knob, raw: &str) -> Result<Setting, KnobError> {
        Setting::parse_value_on(knob, raw, Host { cpus: u32::MAX })
    }

    /// Parses the value for a known knob, for `host`.
    pub fn parse_value_on(knob: Knob, raw: &str, host: Host) -> Result<Setting, KnobError> {
        let v = raw.trim();
        let bad = |why: &str| KnobError::BadValue {
            knob,
            value: raw.to_string(),
            why: why.to_string(),
        };
        if v.is_empty() {
            return Err(bad("empty"));
        }
        let value = (knob.def().parse)(v, host).map_err(|r| match r {
            Refusal::Bad(why) => bad(&why),
            Refusal::AboveHost(why) => KnobError::AboveHost {
                knob,
                value: raw.to_string(),
                why,
            },
        })?;
        Ok(Setting { knob, value })
    }
}

/// Parses many `KNOB=VALUE`s, all of them, before anything is written.
/// Returns every error, not just the first, so a user fixes them in one go.
pub fn parse_settings<S: AsRef<str>>(args: &[S]) -> Result<Vec<Setting>, Vec<KnobError>> {
    parse_settings_on(args, Host::this())
}

/// [`parse_settings`] for `host`.
pub fn parse_settings_on<S: AsRef<str>>(
    args: &[S],
    host: Host,
) -> Result<Vec<Setting>, Vec<KnobError>> {
    let mut out: Vec<Setting> = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        match Setting::parse_on(a.as_ref(), host) {
            Ok(s) => {
                if out.iter().any(|o| o.knob == s.knob) {
                    errors.push(KnobError::Duplicate(s.knob));
                } else {
                    out.push(s);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The most pids a 64-bit kernel can have (`PID_MAX_LIMIT`), and so the
/// largest `pids.max` it accepts.
pub(crate) const PID_MAX_LIMIT: u64 = 4 * 1024 * 1024;

pub(crate) fn is_max(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "max" | "none" | "unlimited" | "inf" | "-1"
    )
}

pub(crate) fn parse_cpu(v: &str) -> Result<CpuQuota, String> {
    if is_max(v) {
        return Ok(CpuQuota::Max);
    }
    let (num, is_percent) = match v.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (v, false),
    };
    let x: f64 = num.parse().map_err(|_| "not a number".to_string())?;
    if !x.is_finite() || x <= 0.0 {
        return Err("must be greater than zero".into());
    }
    let percent = if is_percent { x } else { x * 100.0 };
    // The kernel's minimum quota is 1ms per period; with the default 100ms
    // period that is 1 %. Anything under 1 % would be refused.
    if percent < 1.0 {
        return Err("below the kernel's minimum of 1% (1ms per 100ms period)".into());
    }
    if percent > 100_000.0 {
        return Err("more than 1000 CPUs".into());
    }
    Ok(CpuQuota::from_percent(percent))
}

/// Why a well-formed quota `q` (typed as `v`) is no limit on `host`, if it
/// is not: above every CPU it limits nothing, and it is almost always a unit
/// slip (`cpu=20` is 20 cores, not 20 %), so it is refused with the guess.
pub(crate) fn cpu_above_host(v: &str, q: CpuQuota, host: Host) -> Option<String> {
    let percent = q.percent()?;
    let cpus = host.cpus.max(1);
    let ceiling = f64::from(cpus) * 100.0;
    if percent <= ceiling {
        return None;
    }
    let host_cpus = format!("this host's {cpus} CPU{}", if cpus == 1 { "" } else { "s" });
    Some(if v.ends_with('%') {
        format!(
            "{}% is {} CPUs, more than {host_cpus} (at most {}%): no limit at all",
            format_decimal(percent),
            format_decimal(percent / 100.0),
            format_decimal(ceiling)
        )
    } else {
        // Typed as cores: the same number as a percent is the likely intent
        // (offered as typed, when that fits the host).
        let hint = if percent / 100.0 <= ceiling {
            format!("; did you mean cpu={v}%?")
        } else {
            String::new()
        };
        format!(
            "{v} cores ({}%) is more than {host_cpus}: no limit at all{hint}",
            format_decimal(percent),
        )
    })
}

/// Durations: `100ms`, `50000us`, `1s`, bare numbers are µs (the kernel's unit).
pub fn parse_duration_us(v: &str) -> Result<u64, String> {
    let v = v.trim();
    let (num, mult) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        (v, 1.0)
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| "not a duration".to_string())?;
    if !x.is_finite() || x <= 0.0 {
        return Err("must be greater than zero".into());
    }
    Ok((x * mult).round() as u64)
}

/// Sizes: bytes, or K/M/G/T with optional `i`/`iB`/`B` — all binary (1K = 1024),
/// as in docker, systemd and the kernel's own documentation.
pub fn parse_size(v: &str) -> Result<Limit, String> {
    if is_max(v) {
        return Ok(Limit::Max);
    }
    let lower = v.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    if num.is_empty() {
        return Err("not a size".into());
    }
    let x: f64 = num.parse().map_err(|_| "not a number".to_string())?;
    let unit = unit.trim();
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("unknown unit `{unit}`")),
    };
    // "b" alone is bytes; "ib" without a prefix is nonsense.
    if unit == "ib" || unit == "i" {
        return Err(format!("unknown unit `{unit}`"));
    }
    let bytes = x * mult as f64;
    if !bytes.is_finite() || bytes > (1u64 << 62) as f64 {
        return Err("too large".into());
    }
    Ok(Limit::Value(bytes.round() as u64))
}

/// Validates a cpuset list (`0-3,5`) and returns it normalised (no spaces).
pub(crate) fn parse_id_list(v: &str) -> Result<String, String> {
    let s: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| format!("`{part}` is not a number or range"))?;
        let b: u32 = b
            .parse()
            .map_err(|_| format!("`{part}` is not a number or range"))?;
        if a > b {
            return Err(format!("range `{part}` goes backwards"));
        }
    }
    Ok(s)
}

/// `268435456` → `256M`; exact binary units when they fit, else one decimal.
pub fn format_size(b: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (m, u) in UNITS {
        if b >= m {
            return if b.is_multiple_of(m) {
                format!("{}{u}", b / m)
            } else {
                format!("{}{u}", format_decimal(b as f64 / m as f64))
            };
        }
    }
    format!("{b}")
}

/// Up to one decimal, without a trailing `.0`.
pub fn format_decimal(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// v2 `cpu.weight` → v1 `cpu.shares`: default 100 ⇄ 1024, linear, clamped to
/// v1's range 2–262144. The single place this translation lives.
pub fn weight_to_shares(weight: u64) -> u64 {
    (weight * 1024 / 100).clamp(2, 262_144)
}

/// v1 `cpu.shares` → v2 `cpu.weight` (inverse of `weight_to_shares`, clamped 1–10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    ((shares * 100 + 512) / 1024).clamp(1, 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit tests run on whatever machine: fix the host.
    const FOUR: Host = Host { cpus: 4 };
    const TWO: Host = Host { cpus: 2 };

    fn ok(s: &str) -> Setting {
        Setting::parse_on(s, FOUR).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err_on(s: &str, host: Host) -> String {
        match Setting::parse_on(s, host) {
            Ok(v) => panic!("{s} should be refused on {host:?}, parsed as {v}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn hv_cpu_above_the_host_is_refused_with_a_guess() {
        // issue 11 #7: `cpu=20` on 2 CPUs was 20 cores (2000 %), no limit at all.
        let e = err_on("cpu=20", TWO);
        assert!(e.contains("did you mean cpu=20%?"), "{e}");
        assert!(e.contains("2000%") && e.contains("2 CPUs"), "{e}");
        let e = err_on("cpu=5000%", TWO);
        assert!(e.contains("50 CPUs") && e.contains("at most 200%"), "{e}");
        assert!(!e.contains("did you mean"), "5000% is no unit slip: {e}");
        // Too big even as a percent: no guess that is wrong too.
        let e = err_on("cpu=500", TWO);
        assert!(!e.contains("did you mean"), "{e}");
        assert!(matches!(
            Setting::parse_on("cpu=3", TWO),
            Err(KnobError::AboveHost {
                knob: Knob::Cpu,
                ..
            })
        ));
        // Up to every CPU is fine, and the same value fits a bigger host.
        assert_eq!(
            Setting::parse_on("cpu=2", TWO).map(|s| s.value),
            Ok(Value::Cpu(CpuQuota::CentiPercent(20_000)))
        );
        assert!(Setting::parse_on("cpu=200%", TWO).is_ok());
        assert!(Setting::parse_on("cpu=20", Host { cpus: 32 }).is_ok());
        assert!(Setting::parse_on("cpu=max", Host { cpus: 1 }).is_ok());
        // The editor and `run --cpu` go through parse_value / parse_settings.
        assert!(Setting::parse_value_on(Knob::Cpu, "5000%", TWO).is_err());
        let errs = parse_settings_on(&["cpu=20", "pids=5"], TWO).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        // An undo entry restores what the kernel held, whatever it was.
        assert!(Setting::parse_current(Knob::Cpu, "2000%").is_ok());
        assert!(Setting::parse_current(Knob::Cpu, "abc").is_err());
    }

    #[test]
    fn hv_cpus_is_dockers_quota_never_a_cpuset() {
        // issue 11 #8: docker's --cpus=0.5 is half a core of quota.
        assert_eq!(ok("cpus=0.5"), ok("cpu=50%"));
        assert_eq!(ok("cpus=1").knob, Knob::Cpu);
        assert_eq!(ok("cpus=1.5").to_string(), "cpu=150%");
        assert!(err_on("cpus=20", TWO).contains("did you mean cpu=20%?"));
        assert_eq!(ok("cpuset.cpus=1").knob, Knob::CpusetCpus);
        assert!(matches!(
            parse_settings_on(&["cpu=1", "cpus=1"], FOUR).unwrap_err()[..],
            [KnobError::Duplicate(Knob::Cpu)]
        ));
    }

    #[test]
    fn cpu_values() {
        assert_eq!(
            ok("cpu=20%").value,
            Value::Cpu(CpuQuota::CentiPercent(2000))
        );
        assert_eq!(
            ok("cpu=1.5").value,
            Value::Cpu(CpuQuota::CentiPercent(15000))
        );
        assert_eq!(
            ok("cpu=0.5").value,
            Value::Cpu(CpuQuota::CentiPercent(5000))
        );
        assert_eq!(ok("cpu=max").value, Value::Cpu(CpuQuota::Max));
        assert_eq!(
            CpuQuota::CentiPercent(2000).quota_us(100_000),
            Limit::Value(20_000)
        );
        assert_eq!(
            CpuQuota::CentiPercent(15000).quota_us(100_000),
            Limit::Value(150_000)
        );
        for bad in ["cpu=-5", "cpu=0", "cpu=abc", "cpu=0.5%", "cpu=", "cpu=nan"] {
            assert!(Setting::parse_on(bad, FOUR).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(Limit::Value(256 << 20)));
        assert_eq!(parse_size("200Mi"), Ok(Limit::Value(200 << 20)));
        assert_eq!(parse_size("200MiB"), Ok(Limit::Value(200 << 20)));
        assert_eq!(parse_size("1.5G"), Ok(Limit::Value(3 << 29)));
        assert_eq!(parse_size("4096"), Ok(Limit::Value(4096)));
        assert_eq!(parse_size("0"), Ok(Limit::Value(0)));
        assert_eq!(parse_size("max"), Ok(Limit::Max));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("-5M").is_err());
        assert!(parse_size("12i").is_err());
        assert_eq!(format_size(256 << 20), "256M");
        assert_eq!(format_size(3 << 29), "1.5G");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn other_knobs() {
        assert_eq!(ok("cpu.period=100ms").value, Value::CpuPeriod(100_000));
        assert_eq!(ok("cpu.period=50000").value, Value::CpuPeriod(50_000));
        assert!(Setting::parse("cpu.period=2s").is_err());
        assert_eq!(ok("cpu.weight=200").value, Value::CpuWeight(200));
        assert!(Setting::parse("cpu.weight=0").is_err());
        assert!(Setting::parse("cpu.weight=10001").is_err());
        assert_eq!(ok("pids=64").value, Value::Count(Limit::Value(64)));
        assert_eq!(ok("pids=max").value, Value::Count(Limit::Max));
        assert!(Setting::parse("pids=abc").is_err());
        // The kernel's own bound (measured: 4194305 is EINVAL on 6.1).
        assert!(ok("pids=4194304").value == Value::Count(Limit::Value(4_194_304)));
        assert!(Setting::parse("pids=4194305").is_err());
        assert_eq!(ok("cpuset.cpus=0-1, 3").value, Value::List("0-1,3".into()));
        assert!(Setting::parse("cpuset.cpus=3-1").is_err());
        assert!(Setting::parse("cpuset.cpus=a").is_err());
        assert_eq!(ok("freeze=true").value, Value::Bool(true));
        assert_eq!(ok("freeze=0").value, Value::Bool(false));
        assert_eq!(ok("memory.max=1G").knob, Knob::Memory);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Setting::parse("bogus=1").unwrap_err().to_string();
        assert!(e.contains("unknown knob `bogus`"), "{e}");
        let e = Setting::parse("memory=12Q").unwrap_err().to_string();
        assert!(
            e.contains("12Q") && e.contains("memory") && e.contains("unit"),
            "{e}"
        );
        assert!(matches!(
            Setting::parse("cpu"),
            Err(KnobError::NotAssignment(_))
        ));
        let errs = parse_settings_on(
            &["cpu=-5", "memory=12Q", "pids=abc", "cpu=1", "cpu=2"],
            FOUR,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "cpu=20%",
            "cpu=150%",
            "cpu=max",
            "cpu.period=100ms",
            "memory=256M",
            "pids=64",
            "freeze=true",
        ] {
            assert_eq!(ok(s).to_string(), s);
            assert_eq!(ok(&ok(s).to_string()), ok(s));
        }
    }

    #[test]
    fn weight_shares() {
        assert_eq!(weight_to_shares(100), 1024);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(weight_to_shares(1), 10);
        assert_eq!(weight_to_shares(10_000), 102_400);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        for w in [1, 50, 100, 200, 5000, 10_000] {
            assert_eq!(shares_to_weight(weight_to_shares(w)), w);
        }
    }
}
