//! One file per subcommand: argument handling and output, no business logic.

pub mod completions;
pub mod dashboard;
pub mod demo;
pub mod export;
pub mod images;
pub mod limits;
pub mod run;
pub mod set;
pub mod snapshot;
pub mod stress;
