//! `cgdash run [limits] [isolation] [--name N] [--keep] -- CMD [ARGS…]`.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cgdash::cgroup::{knob, Layout};
use cgdash::launch::{self, LaunchSpec, Namespace, StdioMode, WorkloadExit};
use nix::sys::signal::{SigSet, Signal};

use crate::cli::RunArgs;

/// After the first Ctrl-C/SIGTERM, how long the workload gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs, _interval: Duration) -> anyhow::Result<ExitCode> {
    let settings = match knob::parse_settings(&knob::settings_from_flags(&args.limits.as_flags())) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                cgdash::errln!("cgdash: {e}");
            }
            cgdash::errln!("cgdash: nothing was started");
            return Ok(ExitCode::from(2));
        }
    };
    let mut share = match Namespace::parse_list(&args.isolation.share) {
        Ok(s) => s,
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let net = match net_spec(&args.network, &mut share) {
        Ok(n) => n,
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            cgdash::errln!("cgdash: nothing was started");
            return Ok(ExitCode::from(2));
        }
    };
    let layout = Layout::detect().context("finding the cgroup hierarchies")?;
    for g in launch::cleanup_stale(&layout) {
        cgdash::errln!("cgdash: removed {g}, left behind by a cgdash that could not clean up");
    }
    let mut spec = LaunchSpec::new(args.command.clone());
    spec.name = args.name.clone();
    spec.settings = settings;
    spec.share = share;
    spec.net = net;
    spec.hostname = args.isolation.hostname.clone();
    spec.rootfs = args.isolation.rootfs.clone();
    spec.keep = args.keep;
    spec.privileged = args.privileged;
    spec.stdio = StdioMode::Inherit;
    // --image: the image becomes the rootfs and the process config; the
    // run (writable layer, cache lock) is attached to the workload below.
    let mut image_run = None;
    if let Some(image) = &args.image {
        match cgdash::image::prepare(&mut spec, image, args.image_name.as_deref(), &args.command) {
            Ok(r) => {
                // Once per image: says where the first start's time went
                // (and that later starts reuse the cache).
                if !r.cache_hit {
                    cgdash::errln!(
                        "cgdash: unpacked {} in {:.1}s ({} writable layer)",
                        r.image,
                        r.unpack_seconds,
                        r.writable.name()
                    );
                }
                for n in &r.notes {
                    cgdash::errln!("cgdash: note: {n}");
                }
                image_run = Some(r);
            }
            Err(e) => {
                cgdash::errln!("cgdash: {e}");
                cgdash::errln!("cgdash: nothing was started");
                return Ok(ExitCode::from(e.exit_code()));
            }
        }
    }
    if args.tui {
        return run_in_dashboard(&layout, spec, image_run, _interval);
    }

    // Block the stop signals before launching, so one arriving in between is
    // not lost; they are read synchronously below. (The helper is spawned
    // with a clean mask: std resets it in the child.)
    let mut stop = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        stop.add(s);
    }
    stop.thread_block().context("blocking signals")?;

    let mut w = match launch::launch(&layout, &spec) {
        Ok(w) => w,
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            cgdash::errln!("cgdash: nothing was left behind");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    for n in w.notes() {
        cgdash::errln!("cgdash: note: {n}");
    }
    if let (Some(n), Some(v)) = (w.net(), &spec.net) {
        let ports: Vec<String> = v
            .publish
            .iter()
            .map(|p| format!(" {} → {}:{}", p.host, n.addr, p.port))
            .collect();
        cgdash::errln!(
            "cgdash: eth0 {}/{} on {} ({}){}{}",
            n.addr,
            n.prefix,
            n.bridge,
            n.veth,
            if ports.is_empty() { "" } else { "; published" },
            ports.join(",")
        );
    }
    let kept_layer = image_run
        .as_ref()
        .filter(|r| r.keep)
        .map(|r| r.run_dir.clone());
    if let Some(r) = image_run {
        w.attach(Box::new(r));
    }
    // Tell a person (not a script) where to look and what to `cgdash set`.
    if std::io::stderr().is_terminal() && !w.group().is_empty() {
        let limits: Vec<String> = spec.settings.iter().map(|s| s.to_string()).collect();
        cgdash::errln!(
            "cgdash: {} runs in {} (pid {}{}{})",
            spec.command[0],
            w.group(),
            w.pid(),
            if limits.is_empty() { "" } else { "; " },
            limits.join(", ")
        );
    }
    let mut first_stop: Option<Instant> = None;
    let exit = loop {
        if let Some(e) = w.try_wait()? {
            break e;
        }
        // Ctrl-Z stopped the workload: stop with it (the shell gets the
        // terminal back), and on `fg` resume it.
        w.follow_stop();
        // Ctrl-C reached only the workload: if its group is frozen, thaw it.
        w.thaw_if_interrupted();
        if let Some((sig, from_terminal)) = wait_signal(&stop, Duration::from_millis(100)) {
            // Forward; the workload decides how to stop. A second Ctrl-C or
            // the grace period running out makes it a SIGKILL. A terminal's
            // signal already reached the workload (same process group), so
            // only signals sent by a process are forwarded; the terminal's
            // is pending there, so thaw a frozen group for it to take effect
            // (`signal` thaws first by itself).
            if first_stop.is_some() {
                w.signal(Signal::SIGKILL);
            } else {
                first_stop = Some(Instant::now());
                if from_terminal {
                    w.thaw();
                } else {
                    w.signal(sig);
                }
            }
        }
        if first_stop.is_some_and(|t| t.elapsed() > STOP_GRACE) {
            w.signal(Signal::SIGKILL);
        }
    };
    report_limits_hit(&layout, w.group(), exit);
    let group = w.group().to_string();
    let keep = args.keep;
    if let Err(e) = w.cleanup() {
        cgdash::errln!("cgdash: {e}");
    } else if keep && !group.is_empty() {
        cgdash::errln!("cgdash: kept {group} (remove it with rmdir in each hierarchy, or reuse it with `cgdash set`)");
    }
    if let Some(d) = kept_layer {
        cgdash::errln!(
            "cgdash: kept the image run's writable layer in {}",
            d.display()
        );
    }
    Ok(ExitCode::from(exit.code().clamp(0, 255) as u8))
}

/// `--tui`: the workload's output would garble the screen, so it goes to
/// /dev/null; the dashboard opens on its group, asks before quitting while it
/// runs, and stops it and removes its group when it ends.
fn run_in_dashboard(
    layout: &Layout,
    mut spec: LaunchSpec,
    image_run: Option<cgdash::image::ImageRun>,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    if let Some(why) = super::dashboard::read_only_reason() {
        anyhow::bail!(
            "--tui launches into a cgroup cgdash edits: {why}; run without --tui, or as root"
        );
    }
    super::dashboard::need_terminal()?;
    spec.stdio = StdioMode::Null;
    let mut w = match launch::launch(layout, &spec) {
        Ok(w) => w,
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            cgdash::errln!("cgdash: nothing was left behind");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    let what = match &image_run {
        Some(r) => format!("image {} ({})", r.image, spec.command.join(" ")),
        None => spec.command.join(" "),
    };
    if let Some(r) = image_run {
        w.attach(Box::new(r));
    }
    let mut opts = super::dashboard::Options::new(interval);
    opts.focus = Some(w.group().to_string());
    opts.title = Some(format!(
        "cgdash run: {what} in {} — + / - change the CPU quota · e edit limits · q quit (stops it)",
        w.group()
    ));
    opts.workloads.push(w);
    // The exit code is the command's (128+N if stopped by signal N, 143
    // when quitting stopped it), as without --tui.
    let (code, exits) = super::dashboard::run_with_exits(opts)?;
    Ok(match exits.first() {
        Some(Some(e)) => ExitCode::from(e.code().clamp(0, 255) as u8),
        _ => code,
    })
}

/// `--net`, `-p`, `--net-*` → the veth to make (`None`: lo only, or the
/// host's network, added to `share`). Every flag is checked here: nothing
/// is created for a bad one.
fn net_spec(
    a: &crate::cli::NetArgs,
    share: &mut Vec<Namespace>,
) -> Result<Option<cgdash::net::VethSpec>, String> {
    use cgdash::net::{self, NetMode};
    let mode = match a.net.as_deref() {
        Some(m) => NetMode::parse(m)?,
        None if share.contains(&Namespace::Net) => NetMode::Host,
        None => NetMode::None,
    };
    if mode != NetMode::Host && a.net.is_some() && share.contains(&Namespace::Net) {
        return Err(format!(
            "--net {} conflicts with --share net (which is --net host)",
            a.net.as_deref().unwrap_or_default()
        ));
    }
    if !matches!(mode, NetMode::Veth | NetMode::VethNat) {
        let veth_only = [
            (!a.publish.is_empty(), "-p"),
            (a.net_subnet.is_some(), "--net-subnet"),
            (a.net_bridge.is_some(), "--net-bridge"),
            (a.net_rate_in.is_some(), "--net-rate-in"),
            (a.net_rate_out.is_some(), "--net-rate-out"),
        ];
        if let Some((_, f)) = veth_only.iter().find(|(given, _)| *given) {
            return Err(format!("{f} works only with --net veth"));
        }
        if mode == NetMode::Host && !share.contains(&Namespace::Net) {
            share.push(Namespace::Net);
        }
        return Ok(None);
    }
    let mut v = net::VethSpec::new(a.net_subnet.as_deref(), a.net_bridge.as_deref())?;
    v.nat = mode == NetMode::VethNat;
    for p in &a.publish {
        v.publish.push(net::Publish::parse(p)?);
    }
    for (flag, val, dst) in [
        ("net.rate_in", &a.net_rate_in, &mut v.rate_in),
        ("net.rate_out", &a.net_rate_out, &mut v.rate_out),
    ] {
        if let Some(val) = val {
            *dst = net::parse_rate(val).map_err(|why| {
                format!(
                    "invalid value `{val}` for {flag}: {why}; expected {}",
                    net::NetKnob::SYNTAX
                )
            })?;
        }
    }
    Ok(Some(v))
}

/// Waits up to `timeout` for one of `set` (blocked) to arrive; says whether
/// the kernel sent it on a terminal's behalf (Ctrl-C, hangup).
fn wait_signal(set: &SigSet, timeout: Duration) -> Option<(Signal, bool)> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: zeroed siginfo is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset, siginfo and timespec.
    let r = unsafe { libc::sigtimedwait(set.as_ref(), &mut info, &ts) };
    let sig = Signal::try_from(r).ok()?;
    Some((sig, info.si_code == libc::SI_KERNEL))
}

/// Says why the workload ended when a limit did it (OOM kill, refused forks).
fn report_limits_hit(layout: &Layout, group: &str, exit: WorkloadExit) {
    if group.is_empty() {
        return;
    }
    let Some(st) = layout.read_group(group) else {
        return;
    };
    if let Some(n) = st.memory.events.oom_kill.filter(|n| *n > 0) {
        let limit = st
            .memory
            .max
            .and_then(|l| l.value())
            .map(|b| format!(" (memory limit {})", knob::format_size(b)))
            .unwrap_or_default();
        cgdash::errln!(
            "cgdash: the OOM killer killed {n} process(es) in {group}{limit}; the workload {exit}"
        );
    }
    if let Some(n) = st.pids.max_events.filter(|n| *n > 0) {
        cgdash::errln!("cgdash: {n} fork(s) in {group} were refused by pids.max");
    }
}

/// The launcher's helper process (cgdash re-executed as `cgdash-launch NAME`).
pub fn internal() -> ExitCode {
    let code = launch::helper_main();
    ExitCode::from(code.clamp(0, 255) as u8)
}
