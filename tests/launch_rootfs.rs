//! Live: `--rootfs` with a busybox-static tree — the workload sees only that
//! tree, with /proc, a minimal /dev and /tmp. Needs `busybox` (static) on the
//! host: `apt-get install busybox-static`. Run: `cargo test --test launch_rootfs`.

mod common;
mod launch_util;

use std::collections::BTreeSet;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use launch_util::{cgdash, unique, Cleanup};

/// A statically linked busybox, or why there is none.
fn busybox() -> Result<PathBuf, String> {
    for p in ["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"] {
        let p = PathBuf::from(p);
        if let Ok(bin) = std::fs::read(&p) {
            if has_interp(&bin) {
                return Err(format!(
                    "{} is dynamically linked (install busybox-static)",
                    p.display()
                ));
            }
            return Ok(p);
        }
    }
    Err("busybox not found (apt-get install busybox-static)".into())
}

/// Whether an ELF64 binary has a PT_INTERP program header (is dynamically
/// linked: it would need the host's loader, absent from the tree).
fn has_interp(elf: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        return true; // not a 64-bit ELF: don't trust it
    }
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, num) = (u16_at(0x36), u16_at(0x38));
    (0..num).any(|i| {
        let o = phoff + i * size;
        elf.get(o..o + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

/// bin/ with busybox and a few applet links, and a marker file.
fn make_tree(dir: &Path, bb: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(bb, bin.join("busybox")).unwrap();
    std::fs::set_permissions(bin.join("busybox"), std::fs::Permissions::from_mode(0o755)).unwrap();
    for applet in ["sh", "ls", "cat", "echo", "sleep", "hostname"] {
        symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::write(dir.join("marker-cgdash"), b"inside the tree\n").unwrap();
}

fn listing(s: &str) -> BTreeSet<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn rootfs_shows_only_the_tree() {
    let Some(layout) = common::live("rootfs_shows_only_the_tree") else {
        return;
    };
    let bb = match busybox() {
        Ok(b) => b,
        Err(why) => {
            if std::env::var("CGDASH_LIVE_TESTS").as_deref() == Ok("required") {
                panic!("rootfs_shows_only_the_tree: {why}");
            }
            eprintln!("SKIP rootfs_shows_only_the_tree: {why}");
            return;
        }
    };
    let tree = tempfile::tempdir().unwrap();
    make_tree(tree.path(), &bb);
    let name = unique("rootfs");
    let cleanup = Cleanup::new(&layout, &name);
    let root = tree.path().to_str().unwrap();

    let out = cgdash(
        &[
            "run", "--name", &name, "--rootfs", root, "--", "/bin/sh", "-c", "ls /",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out:?}");
    eprintln!("ls / inside: {}", out.stdout.trim());
    // Only the tree (plus the mount points cgdash adds): nothing of the host.
    assert_eq!(
        listing(&out.stdout),
        listing("bin dev marker-cgdash proc sys tmp"),
        "{out:?}"
    );

    let script = "echo pid=$$; cat /marker-cgdash; ls /dev; echo x > /tmp/t && cat /tmp/t; \
                  ls /sys/class/net; \
                  echo hi > /dev/null && echo devnull-ok";
    let out = cgdash(
        &[
            "run", "--name", &name, "--rootfs", root, "--", "sh", "-c", script,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let o = &out.stdout;
    assert!(o.contains("pid=2"), "{o}");
    assert!(o.contains("inside the tree"), "{o}");
    for d in ["null", "zero", "full", "random", "urandom"] {
        assert!(
            o.split_whitespace().any(|w| w == d),
            "/dev/{d} missing: {o}"
        );
    }
    assert!(
        o.contains("devnull-ok") && o.lines().any(|l| l == "x"),
        "{o}"
    );
    assert!(o.lines().any(|l| l == "lo"), "{o}");
    // Nothing was mounted into the tree on the host's side.
    assert!(std::fs::read_dir(tree.path().join("proc"))
        .unwrap()
        .next()
        .is_none());
    assert!(std::fs::read_dir(tree.path().join("dev"))
        .unwrap()
        .next()
        .is_none());

    // A command the tree lacks: clear error, nothing left.
    let out = cgdash(
        &["run", "--name", &name, "--rootfs", root, "--", "bash"],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 127, "{out:?}");
    assert!(out.stderr.contains("not found in the rootfs"), "{out:?}");
    assert!(!layout.group_exists(&cleanup.group()));
}
