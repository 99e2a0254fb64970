//! `cgdash stress cpu|memory|bursty|io|fork|serve|load`: the built-in workloads (see `cgdash::stress`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use cgdash::cgroup::{knob, Limit};
use cgdash::stress;
use cgdash::stress_net;

use crate::cli::{StressArgs, StressKind};

fn print(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn size(flag: &str, v: &str) -> anyhow::Result<u64> {
    match knob::parse_size(v) {
        Ok(Limit::Value(b)) => Ok(b),
        Ok(Limit::Max) => Err(BadInput(format!("--{flag} needs a size, not `{v}`")).into()),
        Err(e) => Err(BadInput(format!("invalid --{flag} `{v}`: {e}")).into()),
    }
}

/// A byte count: `0`, `64K`, `1M` (`max` is not one).
fn byte_count(flag: &str, v: &str) -> anyhow::Result<u64> {
    if v.trim() == "0" {
        return Ok(0);
    }
    size(flag, v)
}

/// Bad input is exit 2 (README), other failures 1.
pub fn run(args: StressArgs) -> anyhow::Result<ExitCode> {
    match run_kind(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if is_bad_input(&e) => {
            cgdash::errln!("cgdash: {e:#}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e),
    }
}

fn is_bad_input(e: &anyhow::Error) -> bool {
    e.downcast_ref::<BadInput>().is_some()
        || matches!(
            e.downcast_ref::<stress::StressError>(),
            Some(stress::StressError::Invalid(_))
        )
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

/// MemTotal + SwapTotal from /proc/meminfo, bytes.
fn memory_and_swap() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = |key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some(kb("MemTotal:")?.saturating_add(kb("SwapTotal:").unwrap_or(0)) * 1024)
}

fn run_kind(args: StressArgs) -> anyhow::Result<()> {
    let mut p = print;
    match args.kind {
        StressKind::Cpu { workers, duration } => {
            stress::cpu(workers, duration, &mut p).context("stress cpu")?
        }
        StressKind::Memory {
            rate,
            ceiling,
            duration,
        } => {
            let ceiling = size("ceiling", &ceiling)?;
            if let Some(have) = memory_and_swap().filter(|&h| ceiling > h) {
                // Allowed (under a cgroup limit it never gets there), but
                // said: without one it is the OOM killer that stops it.
                p(format!(
                    "stress memory: note: --ceiling {} is more than this machine's memory and swap ({}): a memory limit or the OOM killer will stop it first",
                    knob::format_size(ceiling),
                    knob::format_size(have)
                ));
            }
            stress::memory(size("rate", &rate)?, ceiling, duration, &mut p)
                .context("stress memory")?
        }
        StressKind::Io {
            write_rate,
            size: file_size,
            block,
            dir,
            duration,
        } => {
            let rate = match knob::parse_size(&write_rate) {
                Ok(Limit::Value(r)) => Some(r),
                Ok(Limit::Max) => None,
                Err(e) => {
                    return Err(
                        BadInput(format!("invalid --write-rate `{write_rate}`: {e}")).into(),
                    )
                }
            };
            let plan = cgdash::stress_io::IoPlan {
                rate,
                block: size("block", &block)?,
                size: size("size", &file_size)?,
                dir,
                duration,
            };
            cgdash::stress_io::write(&plan, &mut p).context("stress io")?;
        }
        StressKind::Bursty {
            threads,
            burst,
            every,
            duration,
        } => stress::bursty(threads, burst, every, duration, &mut p).context("stress bursty")?,
        StressKind::Serve {
            listen,
            work,
            bytes,
            duration,
            udp,
        } => {
            let plan = stress_net::ServePlan {
                listen: stress_net::parse_addr("listen", &listen)?,
                work: stress_net::parse_work(&work)?,
                bytes: byte_count("bytes", &bytes)?,
                duration,
                udp,
            };
            stress_net::Server::bind(plan)?
                .run(&mut p)
                .context("stress serve")?;
        }
        StressKind::Load {
            target,
            rate,
            connections,
            duration,
            bytes,
            json,
        } => {
            let plan = stress_net::LoadPlan {
                target: stress_net::parse_addr("target", &target)?,
                rate: stress_net::parse_rate(&rate)?,
                connections,
                duration,
                bytes: bytes.map(|b| byte_count("bytes", &b)).transpose()?,
            };
            // With --json only the report goes to stdout.
            let mut quiet = |_: String| {};
            let progress: &mut dyn FnMut(String) = if json { &mut quiet } else { &mut p };
            let report = stress_net::load(&plan, progress).context("stress load")?;
            if json {
                p(serde_json::to_string_pretty(&report)?);
            } else {
                p(stress_net::report_table(&report));
            }
        }
        StressKind::Fork { max, duration } => {
            stress::fork_storm(max, duration, &mut p).context("stress fork")?;
        }
    }
    Ok(())
}
