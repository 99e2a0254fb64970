//! Owners: the engine or service manager that made a group, may rewrite
//! its limits (`docker update`, a restart, `systemctl daemon-reload`) and
//! keeps its own record of them (`docker inspect` still shows the old
//! limit after a direct write). cgdash writes the kernel's files; this
//! says so, and gives the owner's command that makes the change stick.
//!
//! Flags checked against the tools' own help on this machine (docker 28.2
//! `docker update --help`, podman 4.3 `podman update --help`) and systemd's
//! resource-control properties. Where a knob has no equivalent the line
//! says so instead of guessing.

use crate::cgroup::knob::{weight_to_shares, CpuQuota, Knob, Setting, Value};
use crate::cgroup::{Layout, Limit};
use crate::model::Identity;

use super::kind;

/// The forms `cgdash limits --as` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `cgdash set GROUP KNOB=VALUE…`
    Set,
    Docker,
    Podman,
    Systemctl,
    Cgset,
    /// `cgdash run --cpu … -- CMD`
    Run,
}

/// What the translation needs to know beyond the settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// The cpu controller is v2's (the engines turn shares into a weight).
    pub cpu_v2: bool,
    /// The group's memory limit now (docker's `--memory-swap` is memory +
    /// swap, so a swap setting alone needs it).
    pub memory_now: Option<u64>,
    /// How the container's CPU limit was given to docker (its
    /// `hostconfig.json`): docker refuses to switch between the two.
    pub docker_cpu: CpuStyle,
}

/// How a docker container's CPU limit was set: `docker update` refuses
/// `--cpus` for a container made with `--cpu-quota`/`--cpu-period`
/// ("Conflicting options: Nano CPUs cannot be updated as CPU Quota has
/// already been set") and the reverse (checked with docker 28).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CpuStyle {
    /// Neither (or not known): `--cpus`.
    #[default]
    Unset,
    /// `--cpus` (`NanoCpus`).
    Cpus,
    /// `--cpu-quota` / `--cpu-period`, with the container's period (µs, 0 = default).
    Quota { period_us: u64 },
}

/// A command line's pieces and the knobs it could not express.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub lines: Vec<String>,
    /// `knob=value: why` for each setting with no (or only a partial) equivalent.
    pub missing: Vec<String>,
}

/// Quotes a shell word when it needs it.
pub fn sh(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,%@+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Bytes in the engines' size syntax: `256m`, `1g`, or plain bytes.
fn engine_size(b: u64) -> String {
    for (unit, s) in [(1u64 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")] {
        if b >= unit && b.is_multiple_of(unit) {
            return format!("{}{s}", b / unit);
        }
    }
    b.to_string()
}

/// Cores from hundredths of a percent, as `--cpus` takes them (`0.5`).
fn cores(centi: u64) -> String {
    let s = format!("{:.4}", centi as f64 / 10_000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The `--cpu-shares` that gives cpu.weight `w`: on v2 runc turns shares
/// into a weight as `1 + (shares - 2) * 9999 / 262142`; on v1 the shares
/// are written as they are (cgdash's own 100 ⇄ 1024 scale).
fn shares_for(w: u64, cpu_v2: bool) -> u64 {
    if cpu_v2 {
        // The smallest shares whose runc weight is w.
        ((w.saturating_sub(1)) * 262_142).div_ceil(9_999) + 2
    } else {
        weight_to_shares(w)
    }
}

fn find(settings: &[Setting], knob: Knob) -> Option<&Value> {
    settings.iter().find(|s| s.knob == knob).map(|s| &s.value)
}

/// `docker update` / `podman update` flags for `settings`.
fn engine(tool: &str, target: &str, settings: &[Setting], cx: Context) -> Rendered {
    let mut flags: Vec<String> = Vec::new();
    let mut r = Rendered::default();
    let mut extra = Vec::new();
    let period = find(settings, Knob::CpuPeriod);
    // Only docker's record is read; podman's is not (Unset there).
    let style = if tool == "docker" {
        cx.docker_cpu
    } else {
        CpuStyle::Unset
    };
    for s in settings {
        let no = |why: &str| format!("{s}: {why}");
        match (s.knob, &s.value) {
            (Knob::Cpu, Value::Cpu(CpuQuota::CentiPercent(c))) => match (period, style) {
                // --cpus and --cpu-period are refused together.
                (Some(Value::CpuPeriod(p)), _) => {
                    let q = (*c as u128 * *p as u128 / 10_000) as u64;
                    flags.push(format!("--cpu-quota {q}"));
                }
                (_, CpuStyle::Quota { period_us }) => {
                    let p = if period_us == 0 { 100_000 } else { period_us };
                    let q = (*c as u128 * p as u128 / 10_000) as u64;
                    flags.push(format!("--cpu-quota {q}"));
                }
                _ => flags.push(format!("--cpus {}", cores(*c))),
            },
            (Knob::Cpu, Value::Cpu(CpuQuota::Max)) => {
                // Checked with docker 28: accepted even after --cpus, and
                // the kernel's quota goes; `--cpus 0` changes nothing.
                flags.push("--cpu-quota -1".into());
                if style == CpuStyle::Cpus {
                    r.missing.push(no(&format!(
                        "--cpu-quota -1 lifts the kernel's quota, but the --cpus limit stays \
                         in {tool}'s record (inspect: NanoCpus) and comes back when the container restarts"
                    )))
                }
            }
            (Knob::CpuPeriod, Value::CpuPeriod(_)) if style == CpuStyle::Cpus => r.missing.push(no(
                &format!("no equivalent: `{tool} update` refuses --cpu-period for a container made with --cpus"),
            )),
            (Knob::CpuPeriod, Value::CpuPeriod(p)) => flags.push(format!("--cpu-period {p}")),
            (Knob::CpuWeight, Value::CpuWeight(w)) => {
                flags.push(format!("--cpu-shares {}", shares_for(*w, cx.cpu_v2)))
            }
            (Knob::CpuBurst, _) => r.missing.push(no(&format!("no equivalent: `{tool} update` has no burst flag"))),
            (Knob::Memory, Value::Bytes(Limit::Value(b))) => {
                flags.push(format!("--memory {}", engine_size(*b)))
            }
            (Knob::Memory, Value::Bytes(Limit::Max)) => r.missing.push(no(&format!(
                "no equivalent: `{tool} update --memory` refuses -1 (no unlimited)"
            ))),
            (Knob::MemoryHigh, _) => r.missing.push(no(&format!(
                "no equivalent: {tool} has no memory.high (--memory-reservation is memory.low on v2, the soft limit on v1)"
            ))),
            (Knob::MemorySwap, Value::Bytes(Limit::Max)) => flags.push("--memory-swap -1".into()),
            (Knob::MemorySwap, Value::Bytes(Limit::Value(swap))) => {
                let mem = match find(settings, Knob::Memory) {
                    Some(Value::Bytes(Limit::Value(m))) => Some(*m),
                    Some(_) => None,
                    None => cx.memory_now,
                };
                match mem {
                    Some(m) => {
                        if find(settings, Knob::Memory).is_none() {
                            flags.push(format!("--memory {}", engine_size(m)));
                        }
                        // memory + swap, not swap alone.
                        flags.push(format!("--memory-swap {}", engine_size(m + swap)));
                    }
                    None => r.missing.push(no(&format!(
                        "no equivalent without a memory limit: {tool}'s --memory-swap is memory + swap"
                    ))),
                }
            }
            (Knob::Pids, v) if tool == "docker" => flags.push(match v {
                Value::Count(Limit::Value(n)) => format!("--pids-limit {n}"),
                _ => "--pids-limit -1".into(),
            }),
            (Knob::Pids, _) => r.missing.push(no(
                "no equivalent: `podman update` 4.x has no --pids-limit (newer podman: check `podman update --help`)",
            )),
            (Knob::CpusetCpus, Value::List(l)) => flags.push(format!("--cpuset-cpus {}", sh(l))),
            (Knob::CpusetMems, Value::List(l)) => flags.push(format!("--cpuset-mems {}", sh(l))),
            (Knob::Freeze, Value::Bool(b)) => {
                let verb = if *b { "pause" } else { "unpause" };
                extra.push(format!("{tool} {verb} {}", sh(target)));
            }
            _ => r.missing.push(no("no equivalent")),
        }
    }
    if !flags.is_empty() {
        r.lines
            .push(format!("{tool} update {} {}", flags.join(" "), sh(target)));
    }
    r.lines.extend(extra);
    r
}

/// `systemctl set-property --runtime UNIT …` for `settings`.
fn systemctl(unit: &str, settings: &[Setting]) -> Rendered {
    let mut props = Vec::new();
    let mut r = Rendered::default();
    let mut extra = Vec::new();
    let size = |l: &Limit| match l {
        Limit::Max => "infinity".to_string(),
        Limit::Value(b) => b.to_string(),
    };
    for s in settings {
        match (s.knob, &s.value) {
            (Knob::Cpu, Value::Cpu(CpuQuota::Max)) => props.push("CPUQuota=".to_string()),
            (Knob::Cpu, Value::Cpu(CpuQuota::CentiPercent(c))) => {
                props.push(format!("CPUQuota={}%", cores(*c * 100)))
            }
            (Knob::CpuPeriod, Value::CpuPeriod(p)) => {
                props.push(format!("CPUQuotaPeriodSec={}ms", cores(*p * 10)))
            }
            (Knob::CpuWeight, Value::CpuWeight(w)) => props.push(format!("CPUWeight={w}")),
            (Knob::Memory, Value::Bytes(l)) => props.push(format!("MemoryMax={}", size(l))),
            (Knob::MemoryHigh, Value::Bytes(l)) => props.push(format!("MemoryHigh={}", size(l))),
            (Knob::MemorySwap, Value::Bytes(l)) => props.push(format!("MemorySwapMax={}", size(l))),
            (Knob::Pids, Value::Count(l)) => props.push(format!("TasksMax={}", size(l))),
            (Knob::CpusetCpus, Value::List(l)) => props.push(format!("AllowedCPUs={l}")),
            (Knob::CpusetMems, Value::List(l)) => props.push(format!("AllowedMemoryNodes={l}")),
            (Knob::Freeze, Value::Bool(b)) => {
                let verb = if *b { "freeze" } else { "thaw" };
                extra.push(format!("systemctl {verb} {}", sh(unit)));
            }
            _ => r.missing.push(format!(
                "{s}: no equivalent: systemd has no property for it"
            )),
        }
    }
    if !props.is_empty() {
        let props: Vec<String> = props.iter().map(|p| sh(p)).collect();
        r.lines.push(format!(
            "systemctl set-property --runtime {} {}",
            sh(unit),
            props.join(" ")
        ));
    }
    r.lines.extend(extra);
    r
}

/// `cgset -r FILE=VALUE GROUP` lines: the files cgdash would write, from
/// its own translation for this host (`Layout::plan`).
fn cgset(layout: &Layout, group: &str, settings: &[Setting]) -> Rendered {
    let mut r = Rendered::default();
    let writes = match layout.plan(group, settings) {
        Ok(a) => a,
        Err(e) => {
            r.missing.push(format!("cannot translate: {e}"));
            return r;
        }
    };
    for w in writes.iter().flat_map(|a| a.writes.iter()) {
        let file = w.path.file_name().map(|f| f.to_string_lossy().into_owned());
        let Some(file) = file else { continue };
        r.lines.push(format!(
            "cgset -r {} {}",
            sh(&format!("{file}={}", w.contents.trim_end())),
            sh(group)
        ));
    }
    r
}

/// `cgdash run --name NAME --cpu … -- CMD`.
fn run(name: &str, settings: &[Setting]) -> Rendered {
    let mut r = Rendered::default();
    let mut flags = Vec::new();
    for s in settings {
        match s.knob.def().flag {
            Some(flag) => flags.push(format!("--{} {}", flag.name, sh(&s.value.to_string()))),
            None => r.missing.push(format!(
                "{s}: no equivalent: `cgdash run` has no flag for it"
            )),
        }
    }
    r.lines.push(
        format!("cgdash run --name {} {} -- CMD", sh(name), flags.join(" ")).replace("  ", " "),
    );
    r
}

/// The name an engine's CLI takes for the container: its name, else its id.
fn container_ref(i: &Identity) -> Option<String> {
    i.name
        .as_deref()
        .filter(|n| !n.contains('/'))
        .or(i.container_id.as_deref())
        .map(str::to_string)
}

/// The unit systemctl takes: the identity's, else the group's last
/// component if it is a unit name.
fn unit_of(i: &Identity, group: &str) -> Option<String> {
    if let Some(u) = i.unit.as_deref() {
        return Some(u.to_string());
    }
    let last = group.trim_matches('/').rsplit('/').next()?;
    [".service", ".scope", ".slice"]
        .iter()
        .any(|s| last.ends_with(s))
        .then(|| last.to_string())
}

/// `settings` for group `group` (identity `i`) as `form`'s commands.
pub fn render(
    form: Form,
    layout: &Layout,
    group: &str,
    i: &Identity,
    settings: &[Setting],
    cx: Context,
) -> Rendered {
    let group = group.trim_matches('/');
    match form {
        Form::Set => {
            let target = super::lookup::label(i)
                .filter(|l| !l.contains('/') || l.starts_with("pod:"))
                .unwrap_or_else(|| crate::cgroup::display_path(group).to_string());
            let kv: Vec<String> = settings.iter().map(|s| sh(&s.to_string())).collect();
            Rendered {
                lines: vec![format!("cgdash set {} {}", sh(&target), kv.join(" "))],
                missing: Vec::new(),
            }
        }
        Form::Docker | Form::Podman => {
            let tool = if form == Form::Docker {
                "docker"
            } else {
                "podman"
            };
            let target = container_ref(i).unwrap_or_else(|| "CONTAINER".into());
            engine(tool, &target, settings, cx)
        }
        Form::Systemctl => {
            let unit = unit_of(i, group).unwrap_or_else(|| "UNIT".into());
            systemctl(&unit, settings)
        }
        Form::Cgset => cgset(layout, group, settings),
        Form::Run => {
            let name = i
                .name
                .as_deref()
                .map(|n| n.replace('/', "-"))
                .unwrap_or_else(|| group.rsplit('/').next().unwrap_or("workload").to_string());
            run(&name, settings)
        }
    }
}

/// The form an owner's own tool takes, by kind.
fn owner_form(i: &Identity) -> Option<(Form, &'static str)> {
    match i.kind.as_deref()? {
        kind::DOCKER => Some((Form::Docker, "docker")),
        kind::PODMAN => Some((Form::Podman, "podman")),
        kind::SYSTEMD_UNIT | kind::SYSTEMD_SLICE | kind::SYSTEMD_SCOPE | kind::NSPAWN => {
            Some((Form::Systemctl, "systemd"))
        }
        _ => None,
    }
}

/// A note for a write of `settings` to a group owned by someone else, with
/// the owner's command; `None` for groups no one else owns (cgdash's,
/// unnamed ones). For `cgdash set` and the dashboard's editor.
pub fn owner_hint(i: &Identity, settings: &[Setting]) -> Option<String> {
    owner_hint_with(i, settings, Context::default())
}

/// [`owner_hint`] with what the translation needs to know about the group.
pub fn owner_hint_with(i: &Identity, settings: &[Setting], cx: Context) -> Option<String> {
    let k = i.kind.as_deref()?;
    let who = super::lookup::label(i).unwrap_or_else(|| k.to_string());
    let pod_owned = i.pod.is_some() && i.namespace.is_some();
    let mut note = match k {
        _ if pod_owned || k == kind::K8S_POD => format!(
            "note: {who} belongs to Kubernetes: the kubelet and the runtime may rewrite this \
             limit, and the pod spec still says the old one; to keep it, change the pod's \
             resources (kubectl)"
        ),
        kind::DOCKER | kind::PODMAN => format!(
            "note: {who} is {k}'s: `{k} inspect` still shows the old limits and `{k} update` \
             or a restart may put them back; to make it stick:"
        ),
        kind::SYSTEMD_UNIT | kind::SYSTEMD_SLICE | kind::SYSTEMD_SCOPE | kind::NSPAWN => format!(
            "note: {who} is systemd's: `systemctl daemon-reload` or a restart may put its \
             configured limits back; to make it stick (until reboot; without --runtime: for good):"
        ),
        kind::CONMON | kind::K8S_INFRA | kind::LXC_MONITOR => format!(
            "note: {who} is an engine's helper group, not the workload: limit the container itself"
        ),
        kind::CONTAINERD | kind::CRIO | kind::LXC | kind::PODMAN_POD => format!(
            "note: {who} is {k}'s: it may rewrite this limit and its own record keeps the old one"
        ),
        _ => return None,
    };
    if pod_owned || k == kind::K8S_POD {
        return Some(note);
    }
    if let Some((form, _)) = owner_form(i) {
        let r = match form {
            Form::Docker | Form::Podman => {
                let tool = if form == Form::Docker {
                    "docker"
                } else {
                    "podman"
                };
                let target = container_ref(i).unwrap_or_else(|| "CONTAINER".into());
                engine(tool, &target, settings, cx)
            }
            _ => systemctl(i.unit.as_deref().unwrap_or("UNIT"), settings),
        };
        for l in &r.lines {
            note.push_str("\n  ");
            note.push_str(l);
        }
        for m in &r.missing {
            note.push_str("\n  # ");
            note.push_str(m);
        }
    }
    Some(note)
}
