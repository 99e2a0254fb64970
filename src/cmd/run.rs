use std::process::ExitCode;
use std::time::Duration;

use crate::cli::RunArgs;

pub fn run(_args: RunArgs, _interval: Duration) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cgdash run` is not built yet (issue 4)")
}
