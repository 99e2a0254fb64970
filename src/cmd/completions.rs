//! `cgdash completions SHELL` and `cgdash man`: the scripts and the page
//! that build.rs generated from the clap definitions in `cli.rs` (so they list
//! exactly the commands and options the parser accepts), embedded.
//!
//! Written with one `write_all`: `cgdash man | head` must end quietly (exit 0)
//! while `cgdash man >/dev/full` must say what failed (exit 1).

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::CompletionShell;

macro_rules! generated {
    ($file:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/", $file))
    };
}

pub fn completions(shell: CompletionShell) -> anyhow::Result<ExitCode> {
    emit(match shell {
        CompletionShell::Bash => generated!("completions.bash"),
        CompletionShell::Elvish => generated!("completions.elvish"),
        CompletionShell::Fish => generated!("completions.fish"),
        CompletionShell::Powershell => generated!("completions.powershell"),
        CompletionShell::Zsh => generated!("completions.zsh"),
    })
}

pub fn man() -> anyhow::Result<ExitCode> {
    emit(generated!("cgdash.1"))
}

/// Stdout, where a closed pipe is the reader's choice, not an error.
fn emit(text: &str) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("writing to standard output"),
    }
}
