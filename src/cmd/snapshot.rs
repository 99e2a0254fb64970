use std::process::ExitCode;

use crate::cli::SnapshotArgs;

pub fn run(_args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cgdash snapshot` is not built yet (issue 2)")
}
