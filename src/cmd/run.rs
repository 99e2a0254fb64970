use std::process::ExitCode;
use std::time::Duration;

use crate::cli::RunArgs;

pub fn run(_args: RunArgs, _interval: Duration) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cgdash run` is not built yet (issue 4)")
}

/// The hidden `__launch` entry point of the launcher's helper process.
pub fn internal(_args: Vec<String>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("internal launcher entry point is not built yet (issue 4)")
}
