//! The object as relocated for this kernel, kept for the next start
//! (issue 18, startup). Making it walks all of the kernel's ~130,000 BTF
//! types for the minimal BTF (~3 ms of a ~11 ms load on 6.18), then
//! parses and relocates the object against that (~0.25 ms), but the
//! kernel's BTF does not change until the next boot, nor the object until
//! cgdash changes: what one start made serves the next.
//!
//! One file, [`NAME`], in cgdash's private state directory (`/run/cgdash`
//! for root, who alone loads the programs: a tmpfs, gone at reboot, checked
//! like the launcher's state files: a real directory, root's, not writable
//! by others). It carries a key — FNV-1a of the object, the boot id, the
//! kernel BTF's size and the attach names — and a file with another key,
//! cut short or unreadable is ignored and written afresh. What it holds:
//! the iterator's attach id ([`super::btf_min::build`] finds it) and the
//! relocated object (`prepared`, encoded).

use std::hash::Hasher;
use std::io::{Read, Write};
use std::path::Path;

use crate::fnv::Fnv;

pub(super) const NAME: &str = "programs.bin";
/// The file earlier versions kept (the minimal BTF alone): removed when
/// this one is written.
const OLD_NAME: &str = "btf-min.bin";
const MAGIC: &[u8; 8] = b"CGDPRG01";
/// Far above a real one (~5 KB on 6.18): a bigger file is not ours.
const MAX: u64 = 4 << 20;

/// What is kept: the attach ids and the encoded relocated object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Kept {
    pub attach_ids: Vec<u32>,
    pub blob: Vec<u8>,
}

/// The key for `object` against the kernel BTF at `btf_path` on this boot
/// (`None` when the boot id or the BTF's size can't be read: no caching).
pub(super) fn key(object: &[u8], btf_path: &str, attach: &[(&str, u32)]) -> Option<u64> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let len = std::fs::metadata(btf_path).ok()?.len();
    let mut h = Fnv::default();
    h.write(object);
    // What relocates it (aya-obj's version comes with cgdash's).
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write(boot.trim().as_bytes());
    h.write(&len.to_le_bytes());
    for (name, kind) in attach {
        h.write(name.as_bytes());
        h.write(&kind.to_le_bytes());
    }
    Some(h.finish())
}

/// The [`Kept`] under `key` in `dir`, if there is one.
pub(super) fn read(dir: &Path, key: u64) -> Option<Kept> {
    let mut f = crate::launch::open_private(&dir.join(NAME))?;
    let meta = f.metadata().ok()?;
    if meta.len() > MAX {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes).ok()?;
    decode(&bytes, key)
}

/// Keeps `kept` under `key` in `dir`: a new file renamed over the old one,
/// so a reader sees the old file or the new one, never half of one. A
/// failure leaves no file behind and is not an error (the next start
/// builds it again).
pub(super) fn write(dir: &Path, key: u64, kept: &Kept) {
    let tmp = dir.join(format!("{NAME}.{}.tmp", std::process::id()));
    let written = crate::launch::create_private(&tmp)
        .and_then(|mut f| f.write_all(&encode(key, kept)))
        .and_then(|()| std::fs::rename(&tmp, dir.join(NAME)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let _ = std::fs::remove_file(dir.join(OLD_NAME));
}

fn encode(key: u64, kept: &Kept) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + 4 * kept.attach_ids.len() + kept.blob.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&(kept.attach_ids.len() as u32).to_le_bytes());
    for id in &kept.attach_ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    out.extend_from_slice(&(kept.blob.len() as u32).to_le_bytes());
    out.extend_from_slice(&kept.blob);
    out
}

fn decode(bytes: &[u8], key: u64) -> Option<Kept> {
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if u64::from_le_bytes(take(8)?.try_into().ok()?) != key {
        return None;
    }
    let n = word(take(4)?) as usize;
    if n > 16 {
        return None;
    }
    let attach_ids = (0..n)
        .map(|_| take(4).map(word))
        .collect::<Option<Vec<u32>>>()?;
    let len = word(take(4)?) as usize;
    let blob = take(len)?.to_vec();
    if !rest.is_empty() {
        return None;
    }
    Some(Kept { blob, attach_ids })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min() -> Kept {
        Kept {
            blob: (0..300u32).map(|i| (i % 251) as u8).collect(),
            attach_ids: vec![64_123],
        }
    }

    #[test]
    fn what_is_written_is_read_back_under_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), 7).is_none(), "nothing yet");
        write(dir.path(), 7, &min());
        let back = read(dir.path(), 7).expect("read back");
        assert_eq!((back.blob, back.attach_ids), (min().blob, min().attach_ids));
        assert!(read(dir.path(), 8).is_none(), "another key");
        // Rewritten under another key: the old one is gone.
        write(dir.path(), 8, &min());
        assert!(read(dir.path(), 7).is_none());
        assert!(read(dir.path(), 8).is_some());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [NAME], "one file, no temporary left");
        // An earlier version's file goes when this one is written.
        std::fs::write(dir.path().join(OLD_NAME), b"old").unwrap();
        write(dir.path(), 8, &min());
        assert!(!dir.path().join(OLD_NAME).exists(), "the old file is left");
    }

    #[test]
    fn a_damaged_file_is_not_taken() {
        let bytes = encode(7, &min());
        assert!(decode(&bytes, 7).is_some());
        for cut in [0, 7, 8, 15, 20, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], 7).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, 7).is_none(), "a byte too many");
        let mut magic = bytes.clone();
        magic[0] ^= 1;
        assert!(decode(&magic, 7).is_none(), "not our magic");
        // A symlink where the file should be is not followed.
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &bytes).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join(NAME)).unwrap();
        assert!(read(dir.path(), 7).is_none(), "through a symlink");
    }

    #[test]
    fn the_key_changes_with_the_object_and_the_attach_names() {
        let Some(a) = key(b"object", "/proc/self/stat", &[("f", 12)]) else {
            return; // no boot id here
        };
        assert_eq!(key(b"object", "/proc/self/stat", &[("f", 12)]), Some(a));
        assert_ne!(key(b"objecT", "/proc/self/stat", &[("f", 12)]), Some(a));
        assert_ne!(key(b"object", "/proc/self/stat", &[("g", 12)]), Some(a));
        assert_eq!(key(b"object", "/nonexistent", &[("f", 12)]), None);
    }
}
