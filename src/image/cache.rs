//! The image cache: `/var/lib/cgdash/images` as root, else
//! `$XDG_DATA_HOME/cgdash/images` (`~/.local/share/cgdash/images`);
//! `CGDASH_IMAGE_CACHE` overrides both.
//!
//! ```text
//! sha256-HEX/          one image, named by the digest of its config JSON
//!   rootfs/            its layers, flattened (shared read-only by all runs)
//!   meta.json          names, size, entries, when it was unpacked
//!   lock               runs hold a shared flock on it while they run
//!   last-use           touched by every run (its mtime is the "last use")
//! tmp-HEX-PID-N/       an extraction under way (exclusive flock on its lock);
//!                      renamed to sha256-HEX/ when complete
//! runs/NAME-PID-N/     a run's writable layer (upper/ work/ merged/, or
//!                      rootfs/ when copied); exclusive flock on its lock
//!                      while the run lasts; `kept` marks a --keep run
//! ```
//!
//! "In use" is a held flock: the cgdash that launched the run holds it (the
//! fd is in the run's guard, which the Workload owns), and the kernel drops
//! it when that process dies — even by SIGKILL, when the lifeline pipe ends
//! the workload too. So prune never removes what a live run uses, and always
//! can remove what a killed cgdash left.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::extract::{Extractor, Limits, Stats};
use super::source::{Found, Source};
use super::{fsops, ImageError};

/// The cache directory for this user.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CGDASH_IMAGE_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/cgdash/images");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
            PathBuf::from(home).join(".local/share")
        });
    data.join("cgdash/images")
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    pub names: Vec<String>,
    pub source: String,
    pub bytes: u64,
    pub entries: u64,
    pub unpacked: u64,
    /// Seconds the extraction took.
    pub seconds: f64,
}

/// One cached image, for `cgdash images`.
#[derive(Clone, Debug, Serialize)]
pub struct CacheEntry {
    pub dir: PathBuf,
    pub meta: Meta,
    /// Disk usage of the unpacked tree.
    pub disk_bytes: u64,
    /// Unix seconds of the last run from it.
    pub last_use: Option<u64>,
    pub in_use: bool,
}

pub(crate) fn flock(f: &File, how: libc::c_int) -> bool {
    // SAFETY: flock on a valid fd.
    unsafe { libc::flock(f.as_raw_fd(), how) == 0 }
}

fn open_lock(p: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
}

fn entry_dir(cache: &Path, id: &str) -> PathBuf {
    cache.join(id.replace(':', "-"))
}

fn mkdirs(p: &Path) -> Result<(), ImageError> {
    std::fs::create_dir_all(p)
        .map_err(|e| ImageError::system(format!("creating {}: {e}", p.display())))
}

/// Creates the cache directory, private (0700): it holds images' set-uid
/// programs and what root workloads wrote in their layers (they keep
/// CAP_FSETID), which other users must not reach and execute on the host —
/// as docker keeps /var/lib/docker private. Runs never need the way in:
/// after pivot_root the tree's ancestors are out of reach anyway.
fn private_cache(cache: &Path) -> Result<(), ImageError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    mkdirs(cache)?;
    let m = std::fs::metadata(cache)
        .map_err(|e| ImageError::system(format!("{}: {e}", cache.display())))?;
    if m.mode() & 0o077 != 0 && m.uid() == nix::unistd::geteuid().as_raw() {
        std::fs::set_permissions(cache, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| ImageError::system(format!("chmod 700 {}: {e}", cache.display())))?;
    }
    Ok(())
}

/// A cached image in use by this process: a shared lock on it.
#[derive(Debug)]
pub struct Held {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub meta: Meta,
    /// Whether it was already unpacked (a cache hit).
    pub hit: bool,
    _lock: File,
}

/// Makes sure `found` is unpacked in `cache` and takes a shared lock on it.
pub fn ensure(
    cache: &Path,
    src: &Source,
    found: &Found,
    source_name: &str,
    limits: &Limits,
) -> Result<Held, ImageError> {
    let dir = entry_dir(cache, &found.id);
    for _ in 0..3 {
        let mut hit = true;
        if !dir.join("meta.json").is_file() {
            unpack(cache, src, found, source_name, limits, &dir)?;
            hit = false;
        }
        let lock = match File::open(dir.join("lock")) {
            Ok(f) => f,
            Err(_) => continue, // pruned in between: unpack again
        };
        flock(&lock, libc::LOCK_SH);
        // A prune that held it exclusively may have removed it meanwhile.
        let Ok(text) = std::fs::read_to_string(dir.join("meta.json")) else {
            continue;
        };
        let meta: Meta = serde_json::from_str(&text)
            .map_err(|e| ImageError::system(format!("{}/meta.json: {e}", dir.display())))?;
        let _ = File::create(dir.join("last-use"));
        return Ok(Held {
            rootfs: dir.join("rootfs"),
            dir,
            meta,
            hit,
            _lock: lock,
        });
    }
    Err(ImageError::system(format!(
        "{}: removed while starting (a concurrent prune?)",
        dir.display()
    )))
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn unpack(
    cache: &Path,
    src: &Source,
    found: &Found,
    source_name: &str,
    limits: &Limits,
    dest: &Path,
) -> Result<(), ImageError> {
    private_cache(cache)?;
    let hex: String = found
        .id
        .rsplit(':')
        .next()
        .unwrap_or("")
        .chars()
        .take(16)
        .collect();
    let tmp = cache.join(unique(&format!("tmp-{hex}")));
    std::fs::create_dir(&tmp)
        .map_err(|e| ImageError::system(format!("creating {}: {e}", tmp.display())))?;
    // Removes the partial tree on every error path.
    struct Partial<'a>(&'a Path, bool);
    impl Drop for Partial<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = fsops::remove_tree(self.0);
            }
        }
    }
    let mut partial = Partial(&tmp, false);
    let lock = open_lock(&tmp.join("lock"))
        .map_err(|e| ImageError::system(format!("{}/lock: {e}", tmp.display())))?;
    flock(&lock, libc::LOCK_EX);
    let rootfs = tmp.join("rootfs");
    mkdirs(&rootfs)?;
    let t0 = std::time::Instant::now();
    let stats: Stats = {
        let mut x = Extractor::new(&rootfs, limits.clone())?;
        for (i, (member, diff_id)) in found.layers.iter().enumerate() {
            let what = format!("layer {} of {} ({member})", i + 1, found.layers.len());
            x.apply(src.open_member(member)?, Some(diff_id), &what)?;
        }
        x.finish()?
    };
    let meta = Meta {
        id: found.id.clone(),
        names: found.names.clone(),
        source: source_name.to_string(),
        bytes: stats.bytes,
        entries: stats.entries,
        unpacked: now(),
        seconds: t0.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| ImageError::system(e.to_string()))?;
    let mut f = File::create(tmp.join("meta.json"))
        .map_err(|e| ImageError::system(format!("{}/meta.json: {e}", tmp.display())))?;
    f.write_all(&json)
        .map_err(|e| ImageError::system(format!("{}/meta.json: {e}", tmp.display())))?;
    match std::fs::rename(&tmp, dest) {
        Ok(()) => partial.1 = true,
        // Another cgdash unpacked the same image first: use that one.
        Err(_) if dest.join("meta.json").is_file() => {}
        Err(e) => {
            return Err(ImageError::system(format!(
                "renaming {} to {}: {e}",
                tmp.display(),
                dest.display()
            )))
        }
    }
    drop(lock);
    Ok(())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn in_use(lock: &Path) -> bool {
    match File::open(lock) {
        Ok(f) => {
            let free = flock(&f, libc::LOCK_EX | libc::LOCK_NB);
            if free {
                flock(&f, libc::LOCK_UN);
            }
            !free
        }
        Err(_) => false,
    }
}

/// The cached images, most recently used first.
pub fn list(cache: &Path) -> Vec<CacheEntry> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(cache) else {
        return v;
    };
    for e in rd.flatten() {
        let dir = e.path();
        if !e.file_name().to_string_lossy().starts_with("sha256-") {
            continue;
        }
        let Some(meta) = std::fs::read_to_string(dir.join("meta.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Meta>(&t).ok())
        else {
            continue;
        };
        let last_use = std::fs::metadata(dir.join("last-use"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        v.push(CacheEntry {
            disk_bytes: fsops::du(&dir.join("rootfs")),
            in_use: in_use(&dir.join("lock")),
            dir,
            meta,
            last_use,
        });
    }
    v.sort_by_key(|e| std::cmp::Reverse(e.last_use));
    v
}

/// Kept run directories (`--keep`), for `cgdash images`.
pub fn kept_runs(cache: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(cache.join("runs")) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| p.join("kept").exists())
        .collect()
}

/// What prune did.
#[derive(Debug, Default, Serialize)]
pub struct Pruned {
    pub removed: Vec<String>,
    pub in_use: Vec<String>,
    pub freed_bytes: u64,
    /// Leftovers of killed runs and extractions that were removed.
    pub stale: Vec<String>,
}

/// Removes every cached image no running cgdash uses, and the leftovers of
/// killed runs and extractions (kept runs stay).
pub fn prune(cache: &Path) -> Result<Pruned, ImageError> {
    let mut out = Pruned::default();
    let Ok(rd) = std::fs::read_dir(cache) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = e.path();
        if !(name.starts_with("sha256-") || name.starts_with("tmp-")) {
            continue;
        }
        let Ok(lock) = open_lock(&dir.join("lock")) else {
            continue;
        };
        if !flock(&lock, libc::LOCK_EX | libc::LOCK_NB) {
            if name.starts_with("sha256-") {
                out.in_use.push(name);
            }
            continue;
        }
        let bytes = fsops::du(&dir);
        // Remove the meta first: a run that finds the lock afterwards sees
        // the image gone and unpacks it again.
        let _ = std::fs::remove_file(dir.join("meta.json"));
        fsops::remove_tree(&dir)
            .map_err(|e| ImageError::system(format!("removing {}: {e}", dir.display())))?;
        out.freed_bytes += bytes;
        if name.starts_with("tmp-") {
            out.stale.push(name);
        } else {
            out.removed.push(name);
        }
    }
    if let Ok(rd) = std::fs::read_dir(cache.join("runs")) {
        for e in rd.flatten() {
            let dir = e.path();
            if dir.join("kept").exists() {
                continue;
            }
            let Ok(lock) = open_lock(&dir.join("lock")) else {
                continue;
            };
            if flock(&lock, libc::LOCK_EX | libc::LOCK_NB) {
                out.freed_bytes += fsops::du(&dir);
                fsops::remove_tree(&dir)
                    .map_err(|e| ImageError::system(format!("removing {}: {e}", dir.display())))?;
                out.stale
                    .push(format!("runs/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    Ok(out)
}

/// A new run directory under `cache/runs`, exclusively locked.
pub(crate) fn new_run_dir(cache: &Path, stem: &str) -> Result<(PathBuf, File), ImageError> {
    private_cache(cache)?;
    let runs = cache.join("runs");
    mkdirs(&runs)?;
    let dir = runs.join(unique(stem));
    std::fs::create_dir(&dir)
        .map_err(|e| ImageError::system(format!("creating {}: {e}", dir.display())))?;
    let lock = open_lock(&dir.join("lock"))
        .map_err(|e| ImageError::system(format!("{}/lock: {e}", dir.display())))?;
    flock(&lock, libc::LOCK_EX);
    Ok((dir, lock))
}
