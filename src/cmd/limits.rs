//! `cgdash limits GROUP [--as FORM]`: a group's current limits as a
//! `cgdash set` line, or as the commands of an owner (`docker update`,
//! `podman update`, `systemctl set-property`, `cgset`) or a `cgdash run`
//! line, so a limit tuned live can be made permanent.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use cgdash::cgroup::knob::{CpuQuota, Knob, Setting, Value};
use cgdash::cgroup::{self, Layout, Limit};
use cgdash::model::GroupSnapshot;
use cgdash::names::owner::{self, Form};
use cgdash::names::{self, Resolver, RootFlags, Roots};
use cgdash::output::{self, escape_controls};
use cgdash::sampler::Sampler;

use crate::cli::{LimitsArgs, LimitsForm, NameArgs};

/// The data roots from the flags (then the environment, then defaults).
pub fn roots(a: &NameArgs) -> Roots {
    Roots::from_flags(&RootFlags {
        docker: a.docker_root.clone(),
        podman_root: a.podman_root.clone(),
        podman_runroot: a.podman_runroot.clone(),
        containerd: a.containerd_root.clone(),
        pod_logs: a.pod_log_root.clone(),
    })
}

/// The limits a group has that differ from "no limit" / the kernel's
/// default, in knob order (the values its knobs' editor prefill reads).
/// `root`: the root group's cpuset (`cpus`, `mems`): a group allowed
/// everything the root is (v1 copies it into every group) has no cpuset limit.
pub fn current_limits(g: &GroupSnapshot, root: (Option<&str>, Option<&str>)) -> Vec<Setting> {
    Knob::all()
        .filter_map(|knob| {
            let value = (knob.def().current)(g)?;
            let default = match (&value, knob) {
                (Value::Cpu(CpuQuota::Max), _) => true,
                (Value::Bytes(Limit::Max) | Value::Count(Limit::Max), _) => true,
                (Value::CpuPeriod(p), Knob::CpuPeriod) => *p == 100_000,
                (Value::CpuPeriod(b), Knob::CpuBurst) => *b == 0,
                (Value::CpuWeight(w), _) => *w == 100,
                (Value::List(l), Knob::CpusetCpus) => {
                    l.trim().is_empty() || Some(l.trim()) == root.0
                }
                (Value::List(l), Knob::CpusetMems) => {
                    l.trim().is_empty() || Some(l.trim()) == root.1
                }
                // io.*_bps/_iops with no device limited read `max`.
                (Value::List(l), _) => l.trim().is_empty() || l.trim() == "max",
                // The kernel's default io.weight (v2 and bfq alike).
                (Value::Count(Limit::Value(100)), Knob::IoWeight) => true,
                (Value::Bool(_), _) => true,
                _ => false,
            };
            (!default).then_some(Setting { knob, value })
        })
        .collect()
}

pub fn run(args: LimitsArgs) -> anyhow::Result<ExitCode> {
    let roots = roots(&args.names);
    let layout = match &args.root {
        Some(r) => Layout::from_root(r).with_context(|| format!("--root {}", r.display()))?,
        None => Layout::detect()?,
    };
    let group = match names::resolve_group_arg(&layout, &roots, &args.group) {
        Ok(g) => g,
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if !layout.group_exists(&group) {
        cgdash::errln!(
            "cgdash: group `{}` does not exist",
            cgroup::display_path(&group)
        );
        return Ok(ExitCode::from(2));
    }
    let mut sampler = Sampler::cgroups_only(layout.clone());
    let owner_cx = Resolver::new(roots.clone()).owner_context(&group);
    sampler.set_names(Some(Resolver::new(roots)));
    sampler.set_group_filter(Some(&group));
    let snap = sampler.sample();
    let path = cgroup::display_path(&group).to_string();
    let Some(g) = snap.groups.iter().find(|g| g.path == path) else {
        cgdash::errln!("cgdash: group `{path}` vanished while read");
        return Ok(ExitCode::from(2));
    };
    let top = layout.read_group("").map(|r| r.cpuset).unwrap_or_default();
    let root = (
        top.effective_cpus
            .as_deref()
            .or(top.cpus.as_deref())
            .map(str::trim),
        top.mems.as_deref().map(str::trim),
    );
    let settings = current_limits(g, root);
    let form = match args.form {
        LimitsForm::Set => Form::Set,
        LimitsForm::Docker => Form::Docker,
        LimitsForm::Podman => Form::Podman,
        LimitsForm::Systemctl => Form::Systemctl,
        LimitsForm::Cgset => Form::Cgset,
        LimitsForm::Run => Form::Run,
    };
    let mut text = String::new();
    if settings.is_empty() {
        let _ = writeln!(text, "# {path}: no limits (every knob at its default)");
    } else {
        let cx = owner::Context {
            cpu_v2: layout.version_of("cpu") == Some(cgroup::Version::V2),
            memory_now: g.memory.max_bytes,
            ..owner_cx
        };
        let r = owner::render(form, &layout, &group, &g.identity, &settings, cx);
        for l in &r.lines {
            let _ = writeln!(text, "{}", escape_controls(l));
        }
        for m in &r.missing {
            let _ = writeln!(text, "# {}", escape_controls(m));
        }
    }
    output::stdout_status(output::print_stdout(&text))
}
