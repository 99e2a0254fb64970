//! The cgroup layer: finding hierarchies, reading groups, writing knobs,
//! creating and removing groups. Knows nothing about the UI.
//!
//! A [`Layout`] is the set of mounted hierarchies. It is built from
//! `/proc/self/mountinfo` ([`Layout::detect`]) or from a directory
//! ([`Layout::from_root`], used by `--root` and by fixture-tree tests), so the
//! same code runs on the host and on fake trees.

pub mod controllers;
mod error;
pub mod knob;
mod layout;
mod manage;
pub mod parse;
mod read;
mod reader;
pub(crate) use reader::pread_all;
mod roots;
pub use roots::Roots;
mod stats;
mod watch;
mod write;

pub use error::{explain_write_errno, CgroupError};
pub use knob::{CpuQuota, Knob, KnobError, Setting, Value};
pub use layout::{Hierarchy, Layout, Mode, Version};
pub use manage::primary_path_of;
pub use reader::{GroupReader, Need, Needs};
pub use stats::*;
pub use write::{Applied, FileWrite, LeftChanged, Rollback};

/// Checks a user-supplied group name: relative, no `..`, no empty components.
/// Returns the normalised form (`""` for the root).
pub fn validate_group_name(name: &str) -> Result<String, CgroupError> {
    let n = normalize_path(name);
    if n.is_empty() {
        return Ok(n);
    }
    if n.split('/')
        .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
    {
        return Err(CgroupError::BadGroupName(name.to_string()));
    }
    Ok(n)
}
