use std::process::ExitCode;
use std::time::Duration;

pub fn run(_interval: Duration) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the dashboard is not built yet (issue 5)")
}
