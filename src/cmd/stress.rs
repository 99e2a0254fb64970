use std::process::ExitCode;

use crate::cli::StressArgs;

pub fn run(_args: StressArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cgdash stress` is not built yet (issue 4)")
}
