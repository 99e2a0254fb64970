//! `cgdash demo [cpu|memory|pids|io|throttle]`: a built-in workload launched in its own
//! namespaces and cgroup (`cgdash/demo`; `throttle`: `cgdash/demo-throttle`,
//! opened on the throttling microscope), with the dashboard focused on it.
//! Quitting (q, Ctrl-C, SIGTERM, SIGHUP) stops it and removes its group.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cgdash::cgroup::knob::{parse_settings, Setting};
use cgdash::cgroup::{Layout, Version};
use cgdash::launch::{self, LaunchError, LaunchSpec, StdioMode, Workload};

use super::dashboard::{self, Options};
use crate::cli::DemoKind;

/// What each demo runs and how it is limited.
struct Demo {
    /// The group's name under `cgdash/` (`demo-PID` if taken).
    name: &'static str,
    /// Arguments of `cgdash` itself (the built-in stress workloads).
    args: Vec<String>,
    limits: Vec<&'static str>,
    title: String,
}

fn demo(kind: DemoKind, exe: &str) -> Demo {
    let own = |a: &[&str]| {
        let mut v = vec![exe.to_string()];
        v.extend(a.iter().map(|s| s.to_string()));
        v
    };
    match kind {
        DemoKind::Cpu => Demo {
            name: "demo",
            args: own(&["stress", "cpu", "--workers", "1"]),
            limits: vec!["cpu=20%"],
            title: "demo: one CPU burner in cgdash/demo, started at a 20% quota — press + / - to change the quota · ? help · q quit".into(),
        },
        DemoKind::Memory => Demo {
            name: "demo",
            // The ramp is restarted after each OOM kill, so kills keep coming.
            args: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!(
                    "while :; do '{exe}' stress memory --rate 64M --ceiling 1G; sleep 1; done"
                ),
            ],
            limits: vec!["memory=256M"],
            title: "demo: memory ramp in cgdash/demo vs memory.max=256M, restarted after each OOM kill · m / M halve / double · q quit".into(),
        },
        DemoKind::Io => Demo {
            name: "demo",
            // Direct writes, unpaced: the io.write_bps limit holds them
            // (v1 throttles direct I/O only). The file is unlinked at once.
            args: own(&["stress", "io", "--dir", IO_DIR, "--size", "64M"]),
            // Leaked once per run: the limits are &'static like the others'.
            limits: vec![Box::leak(format!("io.write_bps={IO_DIR}:5M").into_boxed_str())],
            // The keys first: an 80-column title bar shows only its start.
            title: format!("demo: W / w double / halve the write limit, io.write_bps={IO_DIR}:5M, of a direct-I/O writer in cgdash/demo · e edit (or cgdash set cgdash/demo io.write_bps={IO_DIR}:20M) · q quit"),
        },
        DemoKind::Throttle => Demo {
            name: "demo-throttle",
            args: own(&[
                "stress", "bursty", "--threads", "8", "--burst", "12ms", "--every", "250ms",
            ]),
            limits: vec!["cpu=50%"],
            title: THROTTLE_TITLE.into(),
        },
        // Built by `run_net` (two workloads); this entry is its server.
        DemoKind::Net => Demo {
            name: "demo-net",
            args: own(&[
                "stress", "serve", "--listen", "0.0.0.0:8080", "--work", "15ms", "--bytes", "64K",
            ]),
            limits: vec!["cpu=20%"],
            title: String::new(),
        },
        DemoKind::Pids => Demo {
            name: "demo",
            args: own(&["stress", "fork", "--max", "1000"]),
            limits: vec!["pids=64"],
            title: "demo: a fork storm in cgdash/demo held at pids.max=64 — e to edit the limit · q quit".into(),
        },
    }
}

/// Where `demo io` writes: a directory on a disk on most systems (/tmp
/// may be tmpfs, which has no direct I/O and no disk to limit).
const IO_DIR: &str = "/var/tmp";
/// The throttle demo's hint: what to press, and what each does.
///
/// The shape: 8 × 12 ms = 96 ms of work at once, above the 50 ms quota (so
/// every burst is throttled, wherever it starts within a period) and within
/// quota + the largest burst the kernel allows (burst ≤ quota: 100 ms), so
/// `b` makes every burst fit, wherever it starts. 250 ms between bursts
/// keeps the average (38 %) below the quota and lets the burst budget refill.
/// The 8 × 15 ms (120 ms) cannot fit in 100 ms: after `b` it was
/// still throttled in one period of three when a burst began early in a
/// period (the timer's phase, fixed for a run: 300 ms is three periods).
const THROTTLE_TITLE: &str = "demo throttle: 8 threads × 12 ms every 250 ms, 50% quota — b allow a burst · [ ] period · + quota · q quit";

fn has_swap() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("SwapTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .is_some_and(|kb| kb > 0)
}

fn start(
    layout: &Layout,
    d: &Demo,
    extra: &[&str],
    image: Option<&std::path::Path>,
) -> Result<Workload, LaunchError> {
    let mut limits: Vec<&str> = d.limits.clone();
    limits.extend_from_slice(extra);
    let settings: Vec<Setting> = parse_settings(&limits).map_err(LaunchError::BadLimits)?;
    let mut last = None;
    // `demo` unless another demo runs; then `demo-PID`.
    for name in [
        d.name.to_string(),
        format!("{}-{}", d.name, std::process::id()),
    ] {
        let mut spec = LaunchSpec::new(d.args.clone());
        spec.name = Some(name);
        spec.settings = settings.clone();
        spec.stdio = StdioMode::Null;
        // --image: the image's own command under this demo's limits.
        let run = match image {
            Some(i) => Some(
                cgdash::image::prepare(&mut spec, i, None, &[])
                    .map_err(|e| LaunchError::Setup(e.to_string()))?,
            ),
            None => None,
        };
        match launch::launch(layout, &spec) {
            Err(e @ LaunchError::NameTaken(_)) => last = Some(e),
            Ok(mut w) => {
                if let Some(r) = run {
                    w.attach(Box::new(r));
                }
                return Ok(w);
            }
            other => return other,
        }
    }
    Err(last.unwrap_or(LaunchError::NoCommand))
}

pub fn run(
    kind: DemoKind,
    image: Option<std::path::PathBuf>,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    dashboard::need_terminal()?;
    if let Some(why) = dashboard::read_only_reason() {
        anyhow::bail!("`cgdash demo` creates a cgroup and namespaces: {why}. Run it as root (sudo cgdash demo).");
    }
    let layout = Layout::detect().context("finding the cgroup hierarchies")?;
    for g in launch::cleanup_stale(&layout) {
        cgdash::errln!("cgdash: removed {g}, left behind by a cgdash that was killed");
    }
    let exe = std::env::current_exe().context("finding the cgdash binary")?;
    let d = demo(kind, &exe.to_string_lossy());
    if kind == DemoKind::Net {
        if image.is_some() {
            anyhow::bail!("`demo net` runs its own server: --image is not for it");
        }
        return run_net(&layout, d, &exe.to_string_lossy(), interval);
    }
    let mut extra: Vec<&str> = Vec::new();
    if kind == DemoKind::Memory && layout.version_of("memory") == Some(Version::V2) {
        // v2 throttles (reclaims) above memory.high before max OOM-kills.
        extra.push("memory.high=192M");
    }
    let w = if kind == DemoKind::Memory && has_swap() {
        // Without swap limited too, the ramp would swap instead of being OOM-killed.
        let mut with_swap = extra.clone();
        with_swap.push("memory.swap=0");
        start(&layout, &d, &with_swap, image.as_deref())
            .or_else(|_| start(&layout, &d, &extra, image.as_deref()))
    } else {
        start(&layout, &d, &extra, image.as_deref())
    }
    .context("starting the demo workload")?;
    let mut opts = Options::new(interval);
    opts.focus = Some(w.group().to_string());
    let wanted = format!("cgdash/{}", d.name);
    opts.title = Some(if w.group() == wanted {
        d.title
    } else {
        d.title.replace(&wanted, w.group())
    });
    opts.microscope = kind == DemoKind::Throttle;
    opts.io_microscope = kind == DemoKind::Io;
    if let Some(i) = &image {
        let t = opts.title.take().unwrap_or_default();
        let rest = t
            .split_once(" — ")
            .or(t.split_once(" · "))
            .map(|x| x.1)
            .unwrap_or("");
        opts.title = Some(format!(
            "demo: image {} in {} — {rest}",
            i.display(),
            w.group()
        ));
    }
    opts.ask_on_quit = false;
    opts.workloads.push(w);
    dashboard::run_with(opts)
}

/// The server's bandwidth limit at the start (bytes/s out of it).
const NET_RATE: &str = "1M";
/// Requests per second the load sends: 10 × 15 ms of CPU = 15 % of a CPU,
/// just under the 20 % quota (so `-` makes it queue), and 10 × 64 KiB =
/// 640 KiB/s, under the 1 MiB/s rate (so halving it caps the throughput).
const NET_LOAD_RATE: &str = "10/s";

/// `demo net`: the server in `cgdash/demo-net` (--net veth, its port 8080
/// published on a free port of 127.0.0.1, cpu=20%, net.rate_out=1M) and
/// the load in `cgdash/demo-net-load` (the host's network, no limits),
/// reporting every 3 s; its reports show with `o`.
fn run_net(layout: &Layout, d: Demo, exe: &str, interval: Duration) -> anyhow::Result<ExitCode> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let mut net = cgdash::net::VethSpec::new(None, None).map_err(anyhow::Error::msg)?;
    net.publish.push(cgdash::net::Publish {
        host: std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port),
        port: 8080,
        proto: cgdash::net::Proto::Tcp,
    });
    net.rate_out = cgdash::net::parse_rate(NET_RATE).map_err(anyhow::Error::msg)?;
    let settings = parse_settings(&d.limits).map_err(LaunchError::BadLimits)?;
    let launch_named = |stem: &str, f: &dyn Fn(&mut LaunchSpec)| -> Result<Workload, LaunchError> {
        let mut last = None;
        for name in [stem.to_string(), format!("{stem}-{}", std::process::id())] {
            let mut spec = LaunchSpec::new(Vec::<String>::new());
            spec.name = Some(name);
            spec.stdio = StdioMode::Null;
            f(&mut spec);
            match launch::launch(layout, &spec) {
                Err(e @ LaunchError::NameTaken(_)) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(LaunchError::NoCommand))
    };
    let server = launch_named(d.name, &|spec| {
        spec.command = d.args.clone();
        spec.settings = settings.clone();
        spec.net = Some(net.clone());
    })
    .context("starting the demo server")?;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("output pipe")?;
    let target = format!("127.0.0.1:{port}");
    let load = launch_named("demo-net-load", &|spec| {
        spec.command = vec![
            "/bin/sh".into(),
            "-c".into(),
            format!(
                "sleep 1; while :; do '{exe}' stress load --target {target} --rate {NET_LOAD_RATE} --duration 3s; done"
            ),
        ];
        spec.share = vec![launch::Namespace::Net];
        spec.stdio = StdioMode::Pipe(std::os::fd::AsRawFd::as_raw_fd(&w));
    });
    drop(w);
    let load = load.context("starting the demo load")?;
    let mut opts = Options::new(interval);
    opts.focus = Some(server.group().to_string());
    opts.title = Some(format!(
        "demo net: HTTP server in {} (cpu=20%, net.rate_out={NET_RATE}, 127.0.0.1:{port}), loaded at {NET_LOAD_RATE} from {} — + / - quota · o on the load: latency · cgdash set {} net.rate_out=512K · q quit",
        server.group(),
        load.group(),
        server.group()
    ));
    opts.ask_on_quit = false;
    opts.outputs
        .push((cgdash::cgroup::display_path(load.group()).to_string(), r));
    opts.workloads.push(server);
    opts.workloads.push(load);
    dashboard::run_with(opts)
}
