//! Command-line definitions (the contract in DESIGN.md). No logic here.
//! build.rs compiles this file too (the completion scripts and the man page
//! come from these definitions): it may use only clap and std.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "cgdash",
    version,
    about = "See, launch and change what cgroups and namespaces do to a workload"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Refresh interval of the dashboard (e.g. 1s, 500ms).
    #[arg(long, global = true, value_parser = parse_interval, default_value = "1s")]
    pub interval: Duration,
    /// How processes are read: ebpf (the kernel names the processes that ran; root + BTF),
    /// proc (/proc), auto (ebpf when it loads, else proc) [env: CGDASH_SAMPLER] [default: auto].
    #[arg(long, global = true, value_enum, value_name = "PATH")]
    pub sampler: Option<SamplerArg>,
    /// Dashboard: select this group when it appears (a path or KIND:NAME, e.g. docker:web).
    #[arg(long)]
    pub group: Option<String>,
    #[command(flatten)]
    pub names: NameArgs,
}

/// `--sampler`: which path reads the processes (issue 18).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerArg {
    Auto,
    Proc,
    Ebpf,
}

/// Where the container engines keep the metadata group names come from.
/// Each flag falls back to its environment variable, then to the engine's default.
#[derive(Args, Debug, Clone, Default)]
pub struct NameArgs {
    /// Docker's data root [env: CGDASH_DOCKER_ROOT] [default: /var/lib/docker].
    #[arg(long, value_name = "DIR")]
    pub docker_root: Option<PathBuf>,
    /// Podman's (and CRI-O's) storage root [env: CGDASH_PODMAN_ROOT] [default: /var/lib/containers/storage].
    #[arg(long, value_name = "DIR")]
    pub podman_root: Option<PathBuf>,
    /// Podman's (and CRI-O's) storage run root [env: CGDASH_PODMAN_RUNROOT] [default: /run/containers/storage].
    #[arg(long, value_name = "DIR")]
    pub podman_runroot: Option<PathBuf>,
    /// containerd's state directory [env: CGDASH_CONTAINERD_ROOT] [default: /run/containerd].
    #[arg(long, value_name = "DIR")]
    pub containerd_root: Option<PathBuf>,
    /// The kubelet's pod log directory [env: CGDASH_POD_LOG_ROOT] [default: /var/log/pods].
    #[arg(long, value_name = "DIR")]
    pub pod_log_root: Option<PathBuf>,
}

/// The forms `cgdash limits --as` prints.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitsForm {
    /// cgdash set GROUP KNOB=VALUE…
    Set,
    Docker,
    Podman,
    Systemctl,
    Cgset,
    /// cgdash run --cpu … -- CMD
    Run,
}

#[derive(Args, Debug, Clone)]
pub struct LimitsArgs {
    /// Group path or KIND:NAME (docker:web, podman:api, pod:NS/NAME, unit:nginx.service, cgdash:NAME).
    pub group: String,
    /// Print the limits as these commands.
    #[arg(long = "as", value_enum, default_value_t = LimitsForm::Set)]
    pub form: LimitsForm,
    /// Read cgroups from this directory (laid out like /sys/fs/cgroup) instead of the mounts.
    #[arg(long)]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub names: NameArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Launch a built-in workload in its own namespaces and cgroup and open the dashboard on it.
    Demo {
        #[arg(value_enum, default_value_t = DemoKind::Cpu)]
        kind: DemoKind,
        /// Run this image's own command (docker save / OCI archive or layout) under the demo's limits.
        #[arg(long, value_name = "REF")]
        image: Option<PathBuf>,
    },
    /// Launch CMD isolated in namespaces, limited by its own cgroup; exit code = CMD's.
    Run(Box<RunArgs>),
    /// List the image cache of `run --image` (size, last use); `images prune` removes unused entries.
    Images(ImagesArgs),
    /// Print one sample (two reads, rates over the interval) as a table or JSON.
    Snapshot(SnapshotArgs),
    /// Serve the groups as Prometheus metrics with cAdvisor's names (GET /metrics), e.g. for a Prometheus server.
    Export(ExportArgs),
    /// Change limits of an existing group, e.g. `cgdash set cgdash/demo cpu=50% memory=256M`.
    Set {
        /// Group path relative to the hierarchy root (e.g. cgdash/demo), or KIND:NAME (docker:web, podman:api, pod:NS/NAME, unit:nginx.service, cgdash:NAME).
        group: String,
        // The help lists the declared knobs (`set_help`).
        #[arg(required = true, value_name = "KNOB=VALUE", help = set_help())]
        settings: Vec<String>,
        #[command(flatten)]
        names: NameArgs,
    },
    /// Print a group's current limits, or as the commands of its owner (`--as docker|podman|systemctl|cgset|run`).
    Limits(LimitsArgs),
    /// Built-in workloads (used by demos and tests): a CPU burner, a memory ramp, bursty threads, a direct-I/O writer, a fork storm.
    Stress(StressArgs),
    /// Print a shell completion script, e.g. `cgdash completions bash > ~/.local/share/bash-completion/completions/cgdash`.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page (roff, every command in one page), e.g. `cgdash man | man -l -`.
    Man,
}

/// The shells clap_complete writes scripts for (build.rs makes them).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionShell {
    Bash,
    Elvish,
    Fish,
    Powershell,
    Zsh,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoKind {
    Cpu,
    Memory,
    Pids,
    Io,
    /// Bursty threads under a 50 % quota, on the throttling microscope.
    Throttle,
    /// An HTTP server (--net veth, published) under a CPU quota and net.rate_out, loaded from the host.
    Net,
}

#[derive(Args, Debug, Clone)]
pub struct SnapshotArgs {
    /// Print JSON (the documented schema) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time between the two reads the rates are computed from.
    #[arg(long, value_parser = parse_interval, default_value = "1s")]
    pub interval: Duration,
    /// Read cgroups from this directory (laid out like /sys/fs/cgroup) instead of the
    /// mounts; groups only (`processes` is empty: /proc describes the host's tree).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Only this group and the groups below it (whole path components: `a/b` matches
    /// `a/b` and `a/b/c`, not `a/bc`), and their processes; or KIND:NAME (docker:web).
    #[arg(long)]
    pub group: Option<String>,
    /// Add each group's CFS periods closed during the interval (`cpu.periods`: used µs,
    /// throttled, burst µs), read every few ms; groups with a CPU quota only.
    #[arg(long)]
    pub periods: bool,
    #[command(flatten)]
    pub names: NameArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Address to serve on (IP:PORT; port 0 picks a free one). Loopback unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:9789")]
    pub listen: String,
    /// Allow a non-loopback --listen address (e.g. 0.0.0.0:9789): the metrics name every
    /// group, container and image on the host, and the endpoint has no authentication.
    #[arg(long)]
    pub allow_remote: bool,
    /// Only this group and the groups below it (whole path components).
    #[arg(long)]
    pub group: Option<String>,
    /// Only groups of these kinds (docker,podman,containerd,cri-o,k8s-pod,systemd-unit,…).
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Only groups at most this many levels below the root (0 = the root only).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Scrapes closer together than this share one read of the groups.
    #[arg(long, value_parser = parse_interval, default_value = "1s")]
    pub min_interval: Duration,
    /// Read cgroups from this directory (laid out like /sys/fs/cgroup) instead of the mounts.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Where the engines' metadata is, for the `name`/`image`/`pod`/… labels.
    #[command(flatten)]
    pub names: NameArgs,
}

/// A knob as the command line shows it, declared by its controller
/// (`KnobDef::knob`, `KnobDef::flag` in src/cgroup/controllers/*.rs): `run`'s
/// limit flags and `set`'s list of knobs are built from these, so a new knob
/// needs no line here. This file can't see the declarations (build.rs
/// compiles it alone, with clap and std only), so whichever crate compiles
/// it hands them in as `crate::declared_knobs()`: cgdash from the
/// declarations themselves (main.rs), build.rs by reading the controllers'
/// source (for the man page and the completions, which it generates at
/// build time to keep the generators out of the binary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CliKnob {
    pub name: &'static str,
    /// `cgdash run --FLAG VALUE`, with its help line.
    pub flag: Option<(&'static str, &'static str)>,
}

/// `run`'s limit flags: `(flag, help)`, in declaration order.
fn run_flags() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::declared_knobs().iter().filter_map(|k| k.flag)
}

/// `set`'s help for KNOB=VALUE: every declared knob.
fn set_help() -> String {
    let names: Vec<&str> = crate::declared_knobs().iter().map(|k| k.name).collect();
    format!("KNOB=VALUE pairs: {}", names.join(", "))
}

/// `--cpu-period` → `CPU_PERIOD`, the placeholder clap's derive would show
/// (kept for the life of the process: clap wants `&'static str`).
fn value_name(flag: &str) -> &'static str {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            run_flags()
                .map(|(f, _)| f.to_ascii_uppercase().replace('-', "_"))
                .collect()
        })
        .iter()
        .find(|n| n.replace('_', "-").eq_ignore_ascii_case(flag))
        .map_or("VALUE", String::as_str)
}

/// Limits, with the same names and value syntax as `cgdash set`: one
/// `--FLAG` per knob whose controller declares one (see [`CliKnob`]).
#[derive(Debug, Clone, Default)]
pub struct LimitArgs {
    /// `(flag, value)` as given, in declaration order.
    given: Vec<(&'static str, String)>,
}

impl LimitArgs {
    /// The limits given, as `(flag, value)`: the knob each flag sets is
    /// the one declaring it (`knob::settings_from_flags`).
    pub fn as_flags(&self) -> Vec<(&'static str, &str)> {
        self.given.iter().map(|(f, v)| (*f, v.as_str())).collect()
    }
}

impl clap::FromArgMatches for LimitArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = LimitArgs::default();
        args.update_from_arg_matches(m)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        for (flag, _) in run_flags() {
            if let Ok(Some(v)) = m.try_get_one::<String>(flag) {
                self.given.retain(|(f, _)| *f != flag);
                self.given.push((flag, v.clone()));
            }
        }
        Ok(())
    }
}

impl Args for LimitArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(run_flags().map(|(flag, help)| {
            clap::Arg::new(flag)
                .long(flag)
                .help(help)
                .value_name(value_name(flag))
                .value_parser(clap::value_parser!(String))
                .action(clap::ArgAction::Set)
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct IsolationArgs {
    /// Namespaces to share with the host instead of creating: net,ipc,uts,pid,mount,cgroup,user.
    #[arg(long, value_delimiter = ',')]
    pub share: Vec<String>,
    /// Hostname inside the uts namespace (default: the name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Directory tree to pivot_root into (the workload's filesystem).
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
}

/// `run`'s network (issue 19): `--net none|veth|veth,nat|host`, ports, rates.
#[derive(Args, Debug, Clone, Default)]
pub struct NetArgs {
    /// The workload's network: none (its own namespace, lo only), veth (a veth
    /// pair on the cgdash bridge, eth0 with an address of the cgdash subnet),
    /// veth,nat (and outbound NAT through the host's address; needs
    /// net.ipv4.ip_forward=1), host (the host's network, same as --share net).
    #[arg(long, value_name = "none|veth|veth,nat|host")]
    pub net: Option<String>,
    /// Publish a port of a --net veth workload: [IP:]HOST_PORT:PORT[/tcp|/udp]
    /// (TCP unless /udp); on 127.0.0.1 unless an IP is given (0.0.0.0: every
    /// address). Repeatable.
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:]HOST_PORT:PORT[/udp]"
    )]
    pub publish: Vec<String>,
    /// The subnet of --net veth (default 10.213.0.0/24, or $CGDASH_NET_SUBNET).
    #[arg(long, value_name = "CIDR")]
    pub net_subnet: Option<String>,
    /// The bridge of --net veth (default cgdash0, or $CGDASH_NET_BRIDGE).
    #[arg(long, value_name = "NAME")]
    pub net_bridge: Option<String>,
    /// net.rate_in: bytes/s into a --net veth workload (10M, max).
    #[arg(long, value_name = "BYTES/S")]
    pub net_rate_in: Option<String>,
    /// net.rate_out: bytes/s out of a --net veth workload (10M, max).
    #[arg(long, value_name = "BYTES/S")]
    pub net_rate_out: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub isolation: IsolationArgs,
    #[command(flatten)]
    pub network: NetArgs,
    /// Name of the workload and its group (cgdash/NAME); default: the command's name plus a number.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep the group after the workload exits (with --image, its writable layer too).
    #[arg(long)]
    pub keep: bool,
    /// Run a container image: a `docker save` tarball, an OCI archive or an OCI
    /// layout directory. Its Entrypoint+Cmd run unless CMD is given (CMD
    /// replaces Cmd); Env, WorkingDir, User and Hostname are honoured.
    #[arg(long, value_name = "REF", conflicts_with = "rootfs")]
    pub image: Option<PathBuf>,
    /// Which image of a multi-image archive (NAME[:TAG]).
    #[arg(long, value_name = "NAME:TAG", requires = "image")]
    pub image_name: Option<String>,
    /// Open the dashboard on the workload while it runs.
    #[arg(long)]
    pub tui: bool,
    /// Keep every capability (e.g. CAP_SYS_ADMIN): a root workload can then
    /// mount cgroupfs and lift its own limits. Default: docker's set, no_new_privs.
    #[arg(long)]
    pub privileged: bool,
    /// The command and its arguments.
    #[arg(
        trailing_var_arg = true,
        required_unless_present = "image",
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub action: Option<ImagesAction>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ImagesAction {
    /// Remove cached images no running cgdash uses, and what killed runs left (kept runs stay).
    Prune,
}

#[derive(Args, Debug, Clone)]
pub struct StressArgs {
    #[command(subcommand)]
    pub kind: StressKind,
}

#[derive(Subcommand, Debug, Clone)]
pub enum StressKind {
    /// Burn CPU in N worker threads.
    Cpu {
        #[arg(long, default_value_t = 1)]
        workers: u32,
        /// Stop after this long (e.g. 30s); default: run until killed.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// Allocate and touch memory at RATE per second up to CEILING, then hold it.
    Memory {
        #[arg(long, default_value = "64M")]
        rate: String,
        #[arg(long, default_value = "1G")]
        ceiling: String,
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// Direct (O_DIRECT) writes to a temporary file of at most --size,
    /// removed when it ends: the workload I/O limits act on (v1 throttles
    /// direct I/O only).
    Io {
        /// Bytes per second (5M), or max: as fast as the disk and the
        /// group's limit allow.
        #[arg(long, default_value = "max")]
        write_rate: String,
        /// Largest size of the file (writes wrap around).
        #[arg(long, default_value = "64M")]
        size: String,
        /// Bytes per write, a multiple of 4K.
        #[arg(long, default_value = "1M")]
        block: String,
        /// Where the file goes: a directory on the disk to load (not tmpfs).
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// Bursty CPU work: N threads each burn BURST of CPU time at the same
    /// instants, every EVERY (what CFS quotas throttle while the average looks fine).
    Bursty {
        #[arg(long, default_value_t = 8)]
        threads: u32,
        /// CPU time each thread burns per burst (e.g. 15ms).
        #[arg(long, value_parser = parse_short, default_value = "15ms")]
        burst: Duration,
        /// Time between bursts (e.g. 300ms).
        #[arg(long, value_parser = parse_short, default_value = "300ms")]
        every: Duration,
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// A tiny HTTP/1.1 server: each request burns --work of CPU time (so its
    /// latency follows a CPU quota) and is answered with --bytes of body (so
    /// its throughput follows a bandwidth limit); `GET /?bytes=N` asks for N.
    Serve {
        /// Address and port to listen on (port 0: any free one, printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// CPU time burnt per request (2ms, 500us, 0).
        #[arg(long, default_value = "2ms")]
        work: String,
        /// Body bytes per response (64K, 1M, 0).
        #[arg(long, default_value = "0")]
        bytes: String,
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Also echo UDP datagrams on the same address and port.
        #[arg(long)]
        udp: bool,
    },
    /// Load an HTTP server (`stress serve`) at a fixed rate and report
    /// throughput and latency percentiles (from when each request was due).
    Load {
        /// IP:PORT of the server (no name lookup).
        #[arg(long)]
        target: String,
        /// Requests per second over all connections (100/s), or max (back-to-back).
        #[arg(long, default_value = "100/s")]
        rate: String,
        /// Connections (kept alive), requests spread round-robin over them.
        #[arg(long, default_value_t = 1)]
        connections: u32,
        /// How long to send; answers still due are awaited 2 s more.
        #[arg(long, value_parser = parse_duration, default_value = "10s")]
        duration: Duration,
        /// Ask for this many body bytes per response (default: the server's --bytes).
        #[arg(long)]
        bytes: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fork up to N sleeping children (bounded), reporting refused forks.
    Fork {
        #[arg(long, default_value_t = 1000)]
        max: u32,
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
    },
}

/// Longest refresh / sampling interval: a longer one is a typo (and a huge
/// one overflows the clock arithmetic: `1e30s` used to panic).
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest `stress … --duration` (without one a workload runs until killed).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// `1s`, `500ms`, `2.5s`, `1m`, or a bare number of seconds; 50ms–1h.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_bounded(s, MAX_INTERVAL, "1h")
}

/// A duration from 1ms to 1h (`stress bursty --burst/--every`).
pub fn parse_short(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = match t.strip_suffix("ms") {
        Some(n) => (n, 0.001),
        None => (t.strip_suffix('s').unwrap_or(t), 1.0),
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{t}` is not a duration (try 15ms or 1s)"))?;
    let secs = x * mult;
    if !(0.001..=3600.0).contains(&secs) {
        return Err(format!("`{t}` is out of range (1ms to 1h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// As [`parse_interval`], up to a week (`stress --duration`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_bounded(s, MAX_DURATION, "7 days")
}

fn parse_bounded(s: &str, max: Duration, max_text: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 1s or 500ms)"))?;
    if x.is_nan() || x <= 0.0 {
        return Err(format!("`{s}` must be greater than zero"));
    }
    let secs = x * mult;
    if secs < 0.05 {
        return Err(format!("`{s}` is too short (minimum 50ms)"));
    }
    // Checked before the conversion: `Duration::from_secs_f64` panics past
    // u64::MAX seconds (and on infinity).
    if secs > max.as_secs_f64() {
        return Err(format!("`{s}` is too long (maximum {max_text})"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded_not_panicking() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("1h").ok(), None, "no `h` unit");
        assert_eq!(parse_interval("60m"), Ok(MAX_INTERVAL));
        for huge in ["1e30s", "1e30", "inf", "1e300m", "61m"] {
            let e = parse_interval(huge).unwrap_err();
            assert!(e.contains("too long"), "{huge}: {e}");
        }
        assert!(parse_interval("NaN").is_err());
        assert_eq!(parse_duration("7d").ok(), None);
        assert_eq!(parse_duration("604800"), Ok(MAX_DURATION));
        assert!(parse_duration("1e30s").unwrap_err().contains("7 days"));
    }
}

/// The run flags and the `set` help are the knobs the controllers declare
/// (issue 12 #3), and build.rs read the same ones for the man page and the
/// completions. Not compiled into build.rs (no cfg(test) there).
#[cfg(test)]
mod hc_tests {
    use super::*;
    use cgdash::cgroup::knob::{known_knobs, settings_from_flags, Knob};
    use clap::{CommandFactory, FromArgMatches};

    #[test]
    fn hc_run_flags_are_the_declared_ones() {
        let cmd = LimitArgs::augment_args(clap::Command::new("t"));
        let here: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        let declared: Vec<String> = Knob::all()
            .filter_map(|k| k.def().flag.map(|f| f.name.to_string()))
            .collect();
        assert_eq!(here, declared, "run's limit flags vs KnobDef::flag");
        assert!(declared.contains(&"cpu-burst".to_string()));
        for k in Knob::all() {
            let Some(flag) = k.def().flag else { continue };
            let m = cmd
                .clone()
                .try_get_matches_from(["t", &format!("--{}", flag.name), "7"])
                .unwrap();
            let args = LimitArgs::from_arg_matches(&m).unwrap();
            assert_eq!(
                settings_from_flags(&args.as_flags()),
                vec![format!("{}=7", k.name())],
                "--{}",
                flag.name
            );
            let help = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(flag.name))
                .and_then(|a| a.get_help())
                .map(|h| h.to_string());
            assert_eq!(help.as_deref(), Some(flag.help), "--{}", flag.name);
        }
        // Through the whole command line, several at once, in declaration order.
        let cli = Cli::try_parse_from([
            "cgdash",
            "run",
            "--pids",
            "9",
            "--cpu-burst",
            "5ms",
            "--cpu",
            "20%",
            "true",
        ])
        .unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            settings_from_flags(&run.limits.as_flags()),
            ["cpu=20%", "cpu.burst=5ms", "pids=9"]
        );
        assert!(Cli::try_parse_from(["cgdash", "run", "--cpu.burst", "1", "true"]).is_err());
    }

    #[test]
    fn hc_set_help_lists_every_knob() {
        let cli = Cli::command();
        let set = cli.find_subcommand("set").unwrap();
        let help = set
            .get_arguments()
            .find(|a| a.get_id() == "settings")
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert_eq!(
            help,
            format!("KNOB=VALUE pairs: {}", known_knobs()),
            "set's help vs the declared knobs"
        );
    }

    /// build.rs can't compile the declarations: it reads them from the
    /// controllers' source. What it read is what the library declares.
    #[test]
    fn hc_build_reads_the_declarations() {
        let read = include_str!(concat!(env!("OUT_DIR"), "/declared_knobs.tsv"));
        let declared: String = Knob::all()
            .map(|k| {
                let (f, h) = k.def().flag.map_or(("", ""), |f| (f.name, f.help));
                format!("{}\t{f}\t{h}\n", k.name())
            })
            .collect();
        assert_eq!(read, declared);
        // And the man page and the completions have every flag.
        let man = include_str!(concat!(env!("OUT_DIR"), "/cgdash.1"));
        let bash = include_str!(concat!(env!("OUT_DIR"), "/completions.bash"));
        for k in Knob::all() {
            let Some(f) = k.def().flag else { continue };
            assert!(man.contains(&f.name.replace('-', "\\-")), "man: {}", f.name);
            assert!(bash.contains(&format!("--{}", f.name)), "bash: {}", f.name);
        }
        assert!(
            man.contains("cpu.burst, memory"),
            "set's knob list in the page"
        );
    }
}
