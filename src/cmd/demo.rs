use std::process::ExitCode;
use std::time::Duration;

use crate::cli::DemoKind;

pub fn run(_kind: DemoKind, _interval: Duration) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cgdash demo` is not built yet (issue 5)")
}
