//! `cgdash snapshot`: two reads `--interval` apart, printed as a table or as
//! the documented JSON (`model::Snapshot`).
//!
//! Names and command lines are printed with control characters escaped
//! (`output::escape_controls`): any user chooses their argv.
//!
//! With `--root PATH` the groups come from PATH and `processes` is empty:
//! `/proc` describes the host's hierarchy, not the tree under PATH.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cgdash::cgroup::controllers::cpu::PeriodView;
use cgdash::cgroup::{self, knob::format_size, Layout};
use cgdash::model::{GroupSnapshot, ProcessSnapshot, Snapshot};
use cgdash::names::{self, lookup::label, Resolver};
use cgdash::output::{self, escape_controls};
use cgdash::sampler::periods::{self, Watch};
use cgdash::sampler::Sampler;

use crate::cli::SnapshotArgs;

/// Processes shown in the table (the JSON has all of them).
const TOP_PROCESSES: usize = 15;

pub fn run(args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    let mut sampler = match &args.root {
        Some(root) => Sampler::cgroups_only(
            Layout::from_root(root).with_context(|| format!("--root {}", root.display()))?,
        ),
        None => Sampler::new(Layout::detect()?, PathBuf::from("/proc"))?,
    };
    if let Err(e) = sampler.choose(cgdash::sampler::choice()) {
        cgdash::errln!("cgdash: {e}");
        return Ok(ExitCode::from(1));
    }
    let roots = crate::cmd::limits::roots(&args.names);
    sampler.set_names(Some(Resolver::new(roots.clone())));
    // A one-shot: each process's `/proc/PID/io` is read on both samples.
    sampler.set_process_io(true);
    if let Some(g) = &args.group {
        // A bad or unknown --group (path or KIND:NAME) is bad input: exit 2 (README).
        let g = match names::resolve_group_arg(sampler.layout(), &roots, g) {
            Ok(g) => g,
            Err(e) => {
                cgdash::errln!("cgdash: --group: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        if !sampler.layout().group_exists(&g) {
            cgdash::errln!(
                "cgdash: group `{}` does not exist",
                cgroup::display_path(&g)
            );
            return Ok(ExitCode::from(2));
        }
        sampler.set_group_filter(Some(&g));
    }
    let first = sampler.sample();
    // `--periods`: a period sampler on each group with a quota, for the interval.
    let watches: Vec<Watch> = if args.periods && args.root.is_none() {
        first
            .groups
            .iter()
            .filter(|g| g.cpu.quota_us.is_some())
            .take(MAX_PERIOD_GROUPS)
            .map(|g| {
                Watch::start(
                    sampler.layout().clone(),
                    &cgroup::normalize_path(&g.path),
                    periods::INTERVAL,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    drop(first);
    std::thread::sleep(args.interval);
    let mut snap = sampler.sample();
    for w in watches {
        let r = w.report();
        let path = cgroup::display_path(&w.group).to_string();
        if let Some(g) = snap.groups.iter_mut().find(|g| g.path == path) {
            g.cpu.periods = Some(
                r.periods
                    .iter()
                    .map(|p| PeriodView {
                        used_us: p.used_ns / 1000,
                        throttled: p.throttled,
                        burst_us: p.burst_ns / 1000,
                    })
                    .collect(),
            );
        }
    }
    if args.root.is_none() {
        fill_runnable(sampler.layout(), &mut snap.groups);
    }
    // Out of descriptors, or a hierarchy / `/proc` unreadable: the lists
    // would be short (or empty) with nothing to say so. No output.
    if let Some(p) = sampler.problem() {
        anyhow::bail!("incomplete sample, nothing printed: {p}");
    }
    let text = if args.json {
        // serde escapes C0 controls; escape_json the rest (DEL, C1, bidi).
        let t = serde_json::to_string_pretty(&snap)?;
        format!("{}\n", output::escape_json(&t))
    } else {
        table(&snap)
    };
    // `snapshot | head` closes the pipe early: a quiet exit, not a panic.
    output::stdout_status(output::print_stdout(&text))
}

/// Groups `--periods` reads at most (a thread each).
const MAX_PERIOD_GROUPS: usize = 64;

/// `cpu.runnable_threads`: threads in state R in each group and below.
fn fill_runnable(layout: &Layout, groups: &mut [GroupSnapshot]) {
    let direct: Vec<Option<u64>> = groups
        .iter()
        .map(|g| periods::runnable_direct(layout, &cgroup::normalize_path(&g.path)))
        .collect();
    let paths: Vec<String> = groups.iter().map(|g| g.path.clone()).collect();
    for g in groups.iter_mut() {
        let prefix = format!("{}/", g.path);
        let mut sum = None;
        for (p, d) in paths.iter().zip(&direct) {
            if g.path == "/" || *p == g.path || p.starts_with(&prefix) {
                if let Some(d) = d {
                    sum = Some(sum.unwrap_or(0) + d);
                }
            }
        }
        g.cpu.runnable_threads = sum;
    }
}

fn table(s: &Snapshot) -> String {
    let mut out = String::new();
    let mode = s.mode.map(|m| m.to_string()).unwrap_or_else(|| "?".into());
    let mem = s
        .memory_total_bytes
        .map(format_size)
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "{}  cgroup {mode}  {} CPUs  {mem} memory  rates over {} ms",
        escape_controls(&s.host),
        s.cpus,
        s.interval_ms
    );
    out.push('\n');
    let w = s
        .groups
        .iter()
        .map(|g| escape_controls(&g.path).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    let nw = s
        .groups
        .iter()
        .map(|g| escape_controls(&name_cell(g)).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, NAME_WIDTH);
    let _ = writeln!(
        out,
        "{:<w$}  {:<nw$}  {:>6}  {:>6}  {:>5}  {:>7}  {:>9}  {:>5}  {:>3}  {:>6}  {:>6}  {:>8}  {:>8}",
        "PATH",
        "NAME",
        "CPU%",
        "LIMIT",
        "THR%",
        "MEM",
        "MEM LIMIT",
        "PIDS",
        "OOM",
        "IO R/s",
        "IO W/s",
        "NET RX/s",
        "NET TX/s"
    );
    for g in &s.groups {
        let _ = writeln!(out, "{}", group_row(g, w, nw));
    }
    if !s.processes.is_empty() {
        let mut procs: Vec<&ProcessSnapshot> = s.processes.iter().collect();
        procs.sort_by(|a, b| {
            b.cpu_percent
                .unwrap_or(-1.0)
                .total_cmp(&a.cpu_percent.unwrap_or(-1.0))
                .then(b.rss_bytes.cmp(&a.rss_bytes))
        });
        let _ = writeln!(
            out,
            "\n{:>7}  {:<9} S  {:>6}  {:>6}  {:>4}  {:>6}  {:>6}  {:<24}  COMMAND",
            "PID", "USER", "CPU%", "RSS", "THR", "IO R/s", "IO W/s", "CGROUP"
        );
        for p in procs.iter().take(TOP_PROCESSES) {
            let _ = writeln!(
                out,
                "{:>7}  {:<9} {}  {:>6}  {:>6}  {:>4}  {:>6}  {:>6}  {:<24}  {}",
                p.pid,
                clip_right(&escape_controls(&p.user), 9),
                p.state,
                pct(p.cpu_percent),
                format_size(p.rss_bytes),
                p.threads,
                rate(p.io.and_then(|i| i.read_bytes_per_s)),
                rate(p.io.and_then(|i| i.write_bytes_per_s)),
                clip_left(&escape_controls(&p.cgroup), 24),
                clip_right(&escape_controls(&p.command), 80)
            );
        }
        if procs.len() > TOP_PROCESSES {
            let _ = writeln!(
                out,
                "({} more processes; --json lists all)",
                procs.len() - TOP_PROCESSES
            );
        }
    }
    out
}

/// Widest NAME column; longer names keep their start.
const NAME_WIDTH: usize = 40;

/// `kind:name` (what `--group` and `set` take), the short container id of
/// a container with no name yet, `-` for a group no one named.
fn name_cell(g: &GroupSnapshot) -> String {
    let i = &g.identity;
    label(i)
        .or_else(|| {
            let id = i.container_id.as_deref()?;
            Some(format!("{}:{id}", i.kind.as_deref().unwrap_or("container")))
        })
        .unwrap_or_else(|| "-".into())
}

fn group_row(g: &GroupSnapshot, w: usize, nw: usize) -> String {
    let limit = g
        .cpu
        .limit_percent
        .map(|l| format!("{}%", cgroup::knob::format_decimal(l)))
        .unwrap_or_else(|| "-".into());
    let pids = match (g.pids.current, g.pids.max) {
        (Some(c), Some(m)) => format!("{c}/{m}"),
        (Some(c), None) => c.to_string(),
        _ => "-".into(),
    };
    let io = rate;
    // `-`: in the host's namespace; `shared`: another group carries it.
    let net = |f: fn(&cgdash::model::NetView) -> Option<f64>| match &g.net {
        Some(n) if n.shared_with.is_some() => "shared".to_string(),
        Some(n) => io(f(n)),
        None => "-".into(),
    };
    format!(
        "{:<w$}  {:<nw$}  {:>6}  {:>6}  {:>5}  {:>7}  {:>9}  {:>5}  {:>3}  {:>6}  {:>6}  {:>8}  {:>8}",
        clip_left(&escape_controls(&g.path), w),
        clip_right(&escape_controls(&name_cell(g)), nw),
        pct(g.cpu.usage_percent),
        limit,
        pct(g.cpu.throttled_percent),
        g.memory
            .current_bytes
            .map(format_size)
            .unwrap_or_else(|| "-".into()),
        g.memory
            .max_bytes
            .map(format_size)
            .unwrap_or_else(|| "-".into()),
        pids,
        g.memory
            .oom_kills
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into()),
        io(g.io.read_bytes_per_s),
        io(g.io.write_bytes_per_s),
        net(|n| n.rx_bytes_per_s),
        net(|n| n.tx_bytes_per_s),
    )
}

/// Bytes per second as a size (`5.0M`), `-` when unknown.
fn rate(r: Option<f64>) -> String {
    r.map(|r| format_size(r.round() as u64))
        .unwrap_or_else(|| "-".into())
}

fn pct(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

/// Keeps the end of a long path (the group's own name is the interesting part).
fn clip_left(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - w + 1).collect();
    format!("…{tail}")
}

fn clip_right(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let head: String = s.chars().take(w - 1).collect();
    format!("{head}…")
}
