//! Entry point: parse the command line and dispatch. Business logic lives in
//! the library (`cgdash::…`) and in `cmd/*`, one file per command.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod cmd;

use cli::{Cli, Command};

/// The knobs as the command line shows them (cli.rs builds `run`'s limit
/// flags and `set`'s help from these), from the controllers' declarations.
/// build.rs has its own, read from the same declarations' source.
fn declared_knobs() -> &'static [cli::CliKnob] {
    static KNOBS: std::sync::OnceLock<Vec<cli::CliKnob>> = std::sync::OnceLock::new();
    KNOBS.get_or_init(|| {
        cgdash::cgroup::controllers::all_defs()
            .map(|d| cli::CliKnob {
                name: d.knob.name(),
                flag: d.flag.map(|f| (f.name, f.help)),
            })
            .collect()
    })
}

use cgdash::sampler::PathChoice;

fn main() -> ExitCode {
    tune_malloc();
    // The launcher re-executes cgdash as its helper under this argv[0]
    // (readable in ps), before any thread exists (see src/launch).
    if std::env::args_os()
        .next()
        .is_some_and(|a| a == cgdash::launch::HELPER_ARGV0)
    {
        return cmd::run::internal();
    }
    let cli = Cli::parse();
    // The commands that read every group and process (or launch) need a
    // few dozen descriptors: refuse to start with fewer rather than show
    // empty lists (`set`, `stress` and the launcher's helper need few).
    if matches!(
        cli.command,
        None | Some(
            Command::Demo { .. }
                | Command::Run(_)
                | Command::Snapshot(_)
                | Command::Limits(_)
                | Command::Export(_)
        )
    ) {
        if let Err(e) = cgdash::fds::ensure_minimum() {
            cgdash::errln!("cgdash: {e}");
            return ExitCode::from(1);
        }
        // Before any thread exists (see there).
        cgdash::fds::grow_table();
    }
    // `--sampler`, else CGDASH_SAMPLER, else auto (issue 18).
    let choice = match cli.sampler {
        Some(cli::SamplerArg::Auto) => Ok(PathChoice::Auto),
        Some(cli::SamplerArg::Proc) => Ok(PathChoice::Proc),
        Some(cli::SamplerArg::Ebpf) => Ok(PathChoice::Ebpf),
        None => PathChoice::from_env(),
    };
    match choice {
        Ok(c) => cgdash::sampler::set_choice(c),
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        None => cmd::dashboard::run_named(cli.interval, cli.group, cmd::limits::roots(&cli.names)),
        Some(Command::Demo { kind, image }) => cmd::demo::run(kind, image, cli.interval),
        Some(Command::Images(args)) => cmd::images::run(args),
        Some(Command::Run(args)) => cmd::run::run(*args, cli.interval),
        Some(Command::Snapshot(args)) => cmd::snapshot::run(args),
        Some(Command::Export(args)) => cmd::export::run(args),
        Some(Command::Set {
            group,
            settings,
            names,
        }) => cmd::set::run(&group, &settings, &cmd::limits::roots(&names)),
        Some(Command::Limits(args)) => cmd::limits::run(args),
        Some(Command::Stress(args)) => cmd::stress::run(args),
        Some(Command::Completions { shell }) => cmd::completions::completions(shell),
        Some(Command::Man) => cmd::completions::man(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Escaped (names in errors come from users), and no panic
            // when stderr is closed.
            cgdash::errln!("cgdash: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// glibc gives every thread that allocates its own arena (up to 8 per CPU),
/// each keeping its freed memory: the sampler thread builds the snapshots
/// the UI thread frees, so a second arena held ~5 MiB of the dashboard's
/// peak RSS. cgdash's threads allocate little and rarely at once: one arena.
///
/// And a fixed mmap threshold (glibc's default, 128 KiB): by default glibc
/// raises it to the size of each mmapped block freed, so after the first
/// tick the snapshots' row vectors (1–2 MB each at 10,000 processes) come
/// from the heap, whose freed middle is never given back. Mapped, a
/// snapshot's rows leave with it: at 10,000 / 1,000 the peak RSS went from
/// 22.5 to 20.7 MB (issue 18, `VmHWM` after 12 s, same load). The page
/// faults of a fresh mapping each tick are saved by the sampler filling
/// the vectors of the snapshot before last again (`Sampler::recycle`).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
