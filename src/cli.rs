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
    /// Change limits of an existing group, e.g. `cgdash set cgdash/demo cpu=50% memory=256M`.
    Set {
        /// Group path relative to the hierarchy root (e.g. cgdash/demo).
        group: String,
        /// KNOB=VALUE pairs: cpu, cpu.period, cpu.weight, cpu.burst, memory, memory.high, memory.swap, pids, cpuset.cpus, cpuset.mems, freeze.
        #[arg(required = true, value_name = "KNOB=VALUE")]
        settings: Vec<String>,
    },
    /// Built-in workloads (used by demos and tests): a CPU burner, a memory ramp, a fork storm.
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
    /// `a/b` and `a/b/c`, not `a/bc`), and their processes.
    #[arg(long)]
    pub group: Option<String>,
}

/// Limits, with the same names and value syntax as `cgdash set`.
#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// CPU quota: percent of one CPU (20%) or cores (0.5, 1.5).
    #[arg(long)]
    pub cpu: Option<String>,
    /// CPU period (default 100ms).
    #[arg(long)]
    pub cpu_period: Option<String>,
    /// CPU weight, 1–10000 (default 100).
    #[arg(long)]
    pub cpu_weight: Option<String>,
    /// CPU burst: time the group may run beyond its quota from unused quota (50ms, 50% of the quota).
    #[arg(long)]
    pub cpu_burst: Option<String>,
    /// Memory limit (256M, 1G).
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory high watermark (v2 only).
    #[arg(long)]
    pub memory_high: Option<String>,
    /// Swap allowance (0 = no swap).
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes/threads.
    #[arg(long)]
    pub pids: Option<String>,
    /// CPUs the workload may run on (0-1).
    #[arg(long)]
    pub cpuset: Option<String>,
}

impl LimitArgs {
    /// The limits given, as `(flag, value)`: the knob each flag sets is
    /// declared by its controller (`KnobDef::flag`, mapped by
    /// `knob::settings_from_flags`), and a test checks that every declared
    /// flag is here and nothing else.
    pub fn as_flags(&self) -> Vec<(&'static str, &str)> {
        let pairs = [
            ("cpu", &self.cpu),
            ("cpu-period", &self.cpu_period),
            ("cpu-weight", &self.cpu_weight),
            ("cpu-burst", &self.cpu_burst),
            ("memory", &self.memory),
            ("memory-high", &self.memory_high),
            ("memory-swap", &self.memory_swap),
            ("pids", &self.pids),
            ("cpuset", &self.cpuset),
        ];
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect()
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

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub isolation: IsolationArgs,
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

/// The run flags and the `set` help agree with the knobs the controllers
/// declare (issue 12 #3). Not compiled into build.rs (no cfg(test) there).
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
            .filter_map(|k| k.def().flag.map(str::to_string))
            .collect();
        assert_eq!(here, declared, "run's limit flags vs KnobDef::flag");
        for k in Knob::all() {
            let Some(flag) = k.def().flag else { continue };
            let m = cmd
                .clone()
                .try_get_matches_from(["t", &format!("--{flag}"), "7"])
                .unwrap();
            let args = LimitArgs::from_arg_matches(&m).unwrap();
            assert_eq!(
                settings_from_flags(&args.as_flags()),
                vec![format!("{}=7", k.name())],
                "--{flag}"
            );
        }
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
            help.trim_end_matches('.'),
            format!("KNOB=VALUE pairs: {}", known_knobs()),
            "set's help vs the declared knobs"
        );
    }
}
