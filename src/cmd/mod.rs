//! One file per subcommand: argument handling and output, no business logic.

pub mod completions;
pub mod dashboard;
pub mod demo;
pub mod run;
pub mod set;
pub mod snapshot;
pub mod stress;

use std::io::{self, Write as _};

/// Writes `text` to stdout and flushes it. Unlike `print!`/`println!`, which
/// panic (and so abort: `panic = "abort"`) when stdout is full, closed or a
/// broken pipe, this returns the error for the caller to report.
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
