//! `cgdash stress cpu|memory|fork`: the built-in workloads (see `cgdash::stress`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use cgdash::cgroup::{knob, Limit};
use cgdash::stress;

use crate::cli::{StressArgs, StressKind};

fn print(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn size(flag: &str, v: &str) -> anyhow::Result<u64> {
    match knob::parse_size(v) {
        Ok(Limit::Value(b)) => Ok(b),
        Ok(Limit::Max) => bail!("--{flag} needs a size, not `{v}`"),
        Err(e) => bail!("invalid --{flag} `{v}`: {e}"),
    }
}

pub fn run(args: StressArgs) -> anyhow::Result<ExitCode> {
    let mut p = print;
    match args.kind {
        StressKind::Cpu { workers, duration } => {
            stress::cpu(workers, duration, &mut p).context("stress cpu")?
        }
        StressKind::Memory {
            rate,
            ceiling,
            duration,
        } => stress::memory(
            size("rate", &rate)?,
            size("ceiling", &ceiling)?,
            duration,
            &mut p,
        )
        .context("stress memory")?,
        StressKind::Fork { max, duration } => {
            stress::fork_storm(max, duration, &mut p).context("stress fork")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
