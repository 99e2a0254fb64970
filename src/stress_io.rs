//! `cgdash stress io`: direct writes at a given rate (or as fast as the
//! disk and the group's limit allow) to a bounded temporary file — the
//! workload the io limits act on, on cgroup v1 as well (v1 throttles only
//! direct I/O: page-cache writes are written back by the kernel, charged
//! to no group).
//!
//! The file is created in `--dir` and unlinked as soon as it is open, so it
//! is gone when the process ends however it ends; it never grows past
//! `--size` (writes wrap around to its start).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::knob::format_size;
use crate::stress::StressError;

/// O_DIRECT wants the buffer, offset and length aligned to the logical
/// block size (512 or 4096): 4096 fits both.
const ALIGN: usize = 4096;

/// What to run.
#[derive(Clone, Debug)]
pub struct IoPlan {
    /// Bytes per second; `None`: unpaced (the group's limit paces it).
    pub rate: Option<u64>,
    /// Bytes per write (a multiple of 4K).
    pub block: u64,
    /// The file's largest size.
    pub size: u64,
    pub dir: PathBuf,
    pub duration: Option<Duration>,
}

/// A 4K-aligned, zeroed buffer (O_DIRECT refuses others with EINVAL).
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Option<Aligned> {
        let layout = Layout::from_size_align(len, ALIGN).ok()?;
        // SAFETY: len > 0 (checked by the caller), the layout is valid.
        let ptr = unsafe { alloc_zeroed(layout) };
        (!ptr.is_null()).then_some(Aligned { ptr, layout })
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is a live allocation of layout.size() initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Runs the writer; returns the bytes written.
pub fn write(plan: &IoPlan, progress: &mut dyn FnMut(String)) -> Result<u64, StressError> {
    let invalid = |s: String| StressError::Invalid(s);
    if plan.block == 0 || !plan.block.is_multiple_of(ALIGN as u64) || plan.block > 64 << 20 {
        return Err(invalid(format!(
            "--block must be a multiple of 4K up to 64M, not {}",
            format_size(plan.block)
        )));
    }
    if plan.size < plan.block {
        return Err(invalid("--size must be at least one --block".into()));
    }
    if plan.rate == Some(0) {
        return Err(invalid("--write-rate must be above 0 (or max)".into()));
    }
    let path = temp_path(&plan.dir);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .map_err(|e| {
            invalid(match e.raw_os_error() {
                Some(libc::EINVAL) => format!(
                    "{}: this filesystem has no direct I/O (tmpfs?): give --dir on a disk",
                    plan.dir.display()
                ),
                _ => format!("cannot create a file in {}: {e}", plan.dir.display()),
            })
        })?;
    // Gone from the directory now: nothing is left behind, however we end.
    let _ = std::fs::remove_file(&path);
    let buf = Aligned::new(plan.block as usize)
        .ok_or_else(|| invalid("cannot allocate the write buffer".into()))?;
    progress(format!(
        "stress io: direct writes of {} at {} to an unlinked file in {} (at most {}){}",
        format_size(plan.block),
        plan.rate
            .map(|r| format!("{}/s", format_size(r)))
            .unwrap_or_else(|| "full speed (the group's limit paces it)".into()),
        plan.dir.display(),
        format_size(plan.size),
        plan.duration
            .map(|d| format!(" for {d:?}"))
            .unwrap_or_default()
    ));
    let start = Instant::now();
    let end = plan.duration.map(|d| start + d);
    let blocks = plan.size / plan.block;
    let (mut total, mut n) = (0u64, 0u64);
    let (mut last, mut last_total) = (Instant::now(), 0u64);
    while end.is_none_or(|e| Instant::now() < e) {
        if let Some(rate) = plan.rate {
            // Paced from the start: write when the budget allows it.
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                let wait = match end {
                    Some(e) => wait.min(e.saturating_duration_since(Instant::now())),
                    None => wait,
                };
                std::thread::sleep(wait.min(Duration::from_millis(200)));
                continue;
            }
        }
        let offset = (n % blocks) * plan.block;
        file.write_all_at(buf.as_slice(), offset).map_err(|e| {
            StressError::Invalid(format!(
                "direct write to the file in {}: {e}",
                plan.dir.display()
            ))
        })?;
        total += plan.block;
        n += 1;
        if last.elapsed() >= Duration::from_secs(1) {
            let rate = (total - last_total) as f64 / last.elapsed().as_secs_f64();
            progress(format!(
                "stress io: {}/s ({} written)",
                format_size(rate as u64),
                format_size(total)
            ));
            (last, last_total) = (Instant::now(), total);
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    progress(format!(
        "stress io: done ({} written, {}/s on average)",
        format_size(total),
        format_size((total as f64 / secs) as u64)
    ));
    Ok(total)
}

fn temp_path(dir: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(".cgdash-stress-io-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stress_is_paced_bounded_and_leaves_nothing() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let plan = IoPlan {
            rate: Some(4 << 20),
            block: 256 << 10,
            size: 1 << 20,
            dir: dir.path().to_path_buf(),
            duration: Some(Duration::from_millis(1500)),
        };
        let mut lines = Vec::new();
        match write(&plan, &mut |l| lines.push(l)) {
            Ok(total) => {
                // 4M/s for 1.5 s, paced: about 6M, never much more.
                assert!(total <= 7 << 20, "{total}: {lines:?}");
                assert!(total >= 4 << 20, "{total}: {lines:?}");
            }
            // A filesystem without direct I/O: said so.
            Err(e) => assert!(e.to_string().contains("direct I/O"), "{e}"),
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the file is removed"
        );
        let bad = IoPlan {
            block: 1000,
            ..plan.clone()
        };
        assert!(write(&bad, &mut |_| {}).is_err());
        let bad = IoPlan { size: 4096, ..plan };
        assert!(write(&bad, &mut |_| {}).is_err());
    }
}
