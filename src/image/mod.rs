//! Container images for `cgdash run --image` (issue 17): a `docker save`
//! tarball, an OCI image archive or an OCI layout directory becomes a rootfs
//! and a process config for the launcher.
//!
//! ```text
//! source.rs   find the image in the archive / layout (manifest, config, layers)
//! extract.rs  unpack its layers, hostile-input safe, into a fresh directory
//! cache.rs    the content-addressed cache (one flattened tree per image config
//!             digest), its locks, `cgdash images` and `images prune`
//! run.rs      per run: a writable layer (overlayfs, or a copy), /etc/hosts and
//!             /etc/resolv.conf, and the image config turned into a LaunchSpec
//! ```
//!
//! Nothing here runs in the dashboard's refresh path: only when a workload
//! is started from an image, or by `cgdash images`.

pub mod cache;
pub mod config;
pub mod extract;
pub mod fsops;
pub mod run;
pub mod source;

pub use cache::{cache_dir, CacheEntry};
pub use extract::{Extractor, Limits};
pub use run::{prepare, ImageRun, Writable};
pub use source::Source;

/// What went wrong with an image, and whose fault it is (exit code).
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct ImageError {
    pub kind: ErrorKind,
    pub msg: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not an image, a missing or corrupt member, an ambiguous name: exit 2.
    BadInput,
    /// An entry refused by the extraction rules (hostile or absurd): exit 2.
    Refused,
    /// The system refused (disk full, permissions): exit 125.
    System,
}

impl ImageError {
    pub fn bad(msg: impl Into<String>) -> ImageError {
        ImageError {
            kind: ErrorKind::BadInput,
            msg: msg.into(),
        }
    }
    pub fn unsafe_entry(msg: impl Into<String>) -> ImageError {
        ImageError {
            kind: ErrorKind::Refused,
            msg: msg.into(),
        }
    }
    pub fn system(msg: impl Into<String>) -> ImageError {
        ImageError {
            kind: ErrorKind::System,
            msg: msg.into(),
        }
    }
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::BadInput | ErrorKind::Refused => 2,
            ErrorKind::System => 125,
        }
    }
}
