//! Entry point: parse the command line and dispatch. Business logic lives in
//! the library (`cgdash::…`) and in `cmd/*`, one file per command.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod cmd;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => cmd::dashboard::run(cli.interval),
        Some(Command::Demo { kind }) => cmd::demo::run(kind, cli.interval),
        Some(Command::Run(args)) => cmd::run::run(*args, cli.interval),
        Some(Command::Snapshot(args)) => cmd::snapshot::run(args),
        Some(Command::Set { group, settings }) => cmd::set::run(&group, &settings),
        Some(Command::Stress(args)) => cmd::stress::run(args),
        Some(Command::Launch { args }) => cmd::run::internal(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cgdash: {e:#}");
            ExitCode::from(1)
        }
    }
}
