//! Image layers are hostile input (issue 17): crafted archives for each way
//! out of the tree and each bomb, built here byte by byte (the tar crate's
//! own builder refuses `..`, so names are written into raw headers). Each
//! must be refused with the entry named, write nothing outside the
//! extraction directory, and (through the cache) leave no partial tree.
//! Plus what a real layer needs: whiteouts, opaque directories, hard links,
//! symlinks, modes, owners, gzip and zstd.
//!
//! No engines and no cgroups are needed; the ownership test needs root, so
//! it goes through `common::live`, which also makes the VM run this binary.

mod common;
mod image_util;

use image_util::oci_dir;

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cgdash::image::cache;
use cgdash::image::extract::{Extractor, Limits};

/// One tar member with a raw (unchecked) name.
struct E<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    link: &'a [u8],
    data: &'a [u8],
    mode: u32,
    uid: u64,
}

fn e<'a>(name: &'a str, kind: tar::EntryType) -> E<'a> {
    E {
        name: name.as_bytes(),
        kind,
        link: b"",
        data: b"",
        mode: if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        },
        uid: 0,
    }
}
fn file<'a>(name: &'a str, data: &'a [u8]) -> E<'a> {
    E {
        data,
        ..e(name, tar::EntryType::Regular)
    }
}
fn dir(name: &str) -> E<'_> {
    e(name, tar::EntryType::Directory)
}
fn symlink<'a>(name: &'a str, target: &'a str) -> E<'a> {
    E {
        link: target.as_bytes(),
        ..e(name, tar::EntryType::Symlink)
    }
}
fn hardlink<'a>(name: &'a str, target: &'a str) -> E<'a> {
    E {
        link: target.as_bytes(),
        ..e(name, tar::EntryType::Link)
    }
}

/// A tar stream of `entries`, names and link targets written raw.
fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for en in entries {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            assert!(en.name.len() <= 100 && en.link.len() <= 100);
            g.name[..en.name.len()].copy_from_slice(en.name);
            g.linkname[..en.link.len()].copy_from_slice(en.link);
        }
        h.set_entry_type(en.kind);
        h.set_size(en.data.len() as u64);
        h.set_mode(en.mode);
        h.set_uid(en.uid);
        h.set_gid(en.uid);
        h.set_mtime(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(en.data);
        let pad = (512 - en.data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend([0u8; 1024]);
    out
}

/// A work area: `root/` to extract into, `outside/` with a sentinel that
/// nothing may touch.
struct Area {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn area() -> Area {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("sentinel"), b"untouched").unwrap();
    Area {
        root,
        outside,
        _tmp: tmp,
    }
}

impl Area {
    fn assert_outside_untouched(&self) {
        let names: Vec<String> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["sentinel"],
            "something was written outside the tree"
        );
        assert_eq!(
            std::fs::read(self.outside.join("sentinel")).unwrap(),
            b"untouched"
        );
        let parent: Vec<String> = std::fs::read_dir(self.root.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut parent = parent;
        parent.sort();
        assert_eq!(
            parent,
            ["outside", "root"],
            "something was written beside the tree"
        );
    }
}

/// Applies `layers` with `limits`; returns the error text, if any.
fn apply(root: &Path, layers: &[Vec<u8>], limits: Limits) -> Result<(), String> {
    let mut x = Extractor::new(root, limits).map_err(|e| e.to_string())?;
    for (i, l) in layers.iter().enumerate() {
        x.apply(
            Box::new(std::io::Cursor::new(l.clone())),
            None,
            &format!("layer {i}"),
        )
        .map_err(|e| e.to_string())?;
    }
    x.finish().map(|_| ()).map_err(|e| e.to_string())
}

/// Asserts that `layers` are refused with a message naming `entry`.
fn refused(layers: &[Vec<u8>], entry: &str, why: &str) -> Area {
    let a = area();
    let err = apply(&a.root, layers, Limits::default()).expect_err("must be refused");
    assert!(
        err.contains(&format!("{entry:?}")) && err.contains(why),
        "error should name {entry:?} and say {why:?}: {err}"
    );
    a.assert_outside_untouched();
    a
}

#[test]
fn dotdot_and_absolute_names_are_refused() {
    refused(
        &[tar_of(&[file("../outside/evil", b"x")])],
        "../outside/evil",
        "`..`",
    );
    refused(
        &[tar_of(&[file("a/../../outside/evil", b"x")])],
        "a/../../outside/evil",
        "`..`",
    );
    refused(
        &[tar_of(&[file("/tmp/cgdash-evil", b"x")])],
        "/tmp/cgdash-evil",
        "absolute",
    );
    assert!(!Path::new("/tmp/cgdash-evil").exists());
}

#[test]
fn symlinks_out_of_the_tree_are_refused() {
    refused(
        &[tar_of(&[symlink("link", "../outside")])],
        "link",
        "climbs out",
    );
    refused(
        &[tar_of(&[
            dir("a"),
            symlink("a/b", "../../outside/sentinel"),
        ])],
        "a/b",
        "climbs out",
    );
}

#[test]
fn writing_through_a_symlinked_parent_is_refused() {
    // The classic: an entry makes a symlink to the outside (absolute, so
    // allowed as a link: inside the container it means the image's own
    // path), a later entry writes through it.
    let a = area();
    let outside = a.outside.to_string_lossy().into_owned();
    let layer = tar_of(&[symlink("d", &outside), file("d/evil", b"x")]);
    let err = apply(&a.root, &[layer], Limits::default()).unwrap_err();
    assert!(
        err.contains("\"d/evil\"") && err.contains("parent d is a symlink"),
        "{err}"
    );
    a.assert_outside_untouched();

    // Across layers, and a directory entry and a hard link the same way.
    let a = area();
    let l1 = tar_of(&[symlink("d", &outside)]);
    let l2 = tar_of(&[dir("d/sub")]);
    let err = apply(&a.root, &[l1.clone(), l2], Limits::default()).unwrap_err();
    assert!(
        err.contains("\"d/sub\"") && err.contains("symlink"),
        "{err}"
    );
    a.assert_outside_untouched();

    let a = area();
    let l2 = tar_of(&[file("x", b"1"), hardlink("d/evil", "x")]);
    let err = apply(&a.root, &[l1.clone(), l2], Limits::default()).unwrap_err();
    assert!(
        err.contains("\"d/evil\"") && err.contains("symlink"),
        "{err}"
    );
    a.assert_outside_untouched();

    // A relative link inside the tree is no better as a parent.
    let a = area();
    let l = tar_of(&[dir("real"), symlink("alias", "real"), file("alias/f", b"x")]);
    let err = apply(&a.root, &[l], Limits::default()).unwrap_err();
    assert!(err.contains("\"alias/f\""), "{err}");
}

#[test]
fn hard_links_out_of_the_tree_are_refused() {
    refused(
        &[tar_of(&[hardlink("h", "../outside/sentinel")])],
        "h",
        "`..`",
    );
    refused(&[tar_of(&[hardlink("h", "/etc/passwd")])], "h", "absolute");
    // Through a symlinked directory inside the tree pointing out.
    let a = area();
    let outside = a.outside.to_string_lossy().into_owned();
    let l = tar_of(&[symlink("o", &outside), hardlink("h", "o/sentinel")]);
    let err = apply(&a.root, &[l], Limits::default()).unwrap_err();
    assert!(
        err.contains("\"h\"") && err.contains("not inside the tree"),
        "{err}"
    );
    a.assert_outside_untouched();
    assert_eq!(
        std::fs::metadata(a.outside.join("sentinel"))
            .unwrap()
            .nlink(),
        1
    );
    // To something that does not exist, and to a directory.
    refused(&[tar_of(&[hardlink("h", "nope")])], "h", "does not exist");
    refused(&[tar_of(&[dir("d"), hardlink("h", "d")])], "h", "directory");
}

#[test]
fn device_nodes_are_refused_unless_allowed() {
    let mut dev = e("dev/sda", tar::EntryType::Block);
    dev.mode = 0o660;
    let l = {
        let mut t = tar_of(&[dev]);
        // major 8 minor 0 in the GNU header's device fields (octal text).
        let mut h = tar::Header::from_byte_slice(&t[..512]).clone();
        h.set_device_major(8).unwrap();
        h.set_device_minor(0).unwrap();
        h.set_cksum();
        t[..512].copy_from_slice(h.as_bytes());
        t
    };
    refused(&[l], "dev/sda", "device node 8:0");
    // A fifo is harmless.
    let a = area();
    apply(
        &a.root,
        &[tar_of(&[e("fifo", tar::EntryType::Fifo)])],
        Limits::default(),
    )
    .unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(a.root.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn bombs_are_refused() {
    let small = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        l
    };
    // Too many entries.
    let a = area();
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let many: Vec<E> = names.iter().map(|n| file(n, b"")).collect();
    let err = apply(&a.root, &[tar_of(&many)], small(|l| l.max_entries = 20)).unwrap_err();
    assert!(
        err.contains("\"f20\"") && err.contains("more than 20 entries"),
        "{err}"
    );
    // One file too large.
    let a = area();
    let big = vec![7u8; 10_000];
    let err = apply(
        &a.root,
        &[tar_of(&[file("big", &big)])],
        small(|l| l.max_file_bytes = 4096),
    )
    .unwrap_err();
    assert!(
        err.contains("\"big\"") && err.contains("larger than 4096"),
        "{err}"
    );
    // All together too large (each file fine).
    let a = area();
    let chunk = vec![1u8; 3000];
    let l = tar_of(&[file("a", &chunk), file("b", &chunk), file("c", &chunk)]);
    let err = apply(&a.root, &[l], small(|l| l.max_total_bytes = 8000)).unwrap_err();
    assert!(err.contains("more than 8000 bytes"), "{err}");
    // A GNU long name of 2 MiB (the tar reader would hold it in memory).
    let a = area();
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(2 << 20);
    h.set_cksum();
    let mut l = h.as_bytes().to_vec();
    l.extend(std::iter::repeat_n(b'a', 2 << 20));
    l.extend(tar_of(&[file("x", b"")]));
    let err = apply(&a.root, &[l], Limits::default()).unwrap_err();
    assert!(err.contains("bytes of tar headers"), "{err}");
    // A long name over the name limit (PAX path, 5000 bytes).
    let a = area();
    let long = "d/".repeat(2500);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &long, &[][..]).unwrap();
    let l = b.into_inner().unwrap();
    let err = apply(&a.root, &[l], Limits::default()).unwrap_err();
    assert!(err.contains("name longer than 4096"), "{err}");
    // A gzip bomb: 64 MiB of zeros in one file, 64 KiB compressed.
    let a = area();
    let zeros = vec![0u8; 64 << 20];
    let raw = tar_of(&[file("zeros", &zeros)]);
    let gz = gzip(&raw);
    assert!(gz.len() < 200_000);
    let err = apply(&a.root, &[gz], small(|l| l.max_total_bytes = 1 << 20)).unwrap_err();
    assert!(err.contains("more than 1048576 bytes"), "{err}");
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    g.write_all(b).unwrap();
    g.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

#[test]
fn whiteouts_and_opaque_directories() {
    let a = area();
    let l1 = tar_of(&[
        dir("a"),
        file("a/x", b"x"),
        dir("a/sub"),
        file("a/sub/y", b"y"),
        dir("b"),
        file("b/z", b"z"),
        file("c", b"c"),
        dir("keep"),
        file("keep/k", b"k"),
    ]);
    // Layer 2 writes a/new BEFORE the opaque marker: it must survive it.
    let l2 = tar_of(&[
        file("a/new", b"n"),
        file("a/.wh..wh..opq", b""),
        file(".wh.c", b""),
        file("b/.wh.z", b""),
        file("keep/k2", b"k2"),
    ]);
    // Layer 3 brings c back as a directory.
    let l3 = tar_of(&[dir("c"), file("c/again", b"1")]);
    apply(&a.root, &[l1, gzip(&l2), zstd(&l3)], Limits::default()).unwrap();
    let r = &a.root;
    assert!(
        !r.join("a/x").exists() && !r.join("a/sub").exists(),
        "opaque dir kept lower content"
    );
    assert_eq!(std::fs::read(r.join("a/new")).unwrap(), b"n");
    assert!(!r.join("a/.wh..wh..opq").exists());
    assert!(!r.join("b/z").exists() && r.join("b").is_dir());
    assert!(!r.join(".wh.c").exists());
    assert_eq!(std::fs::read(r.join("c/again")).unwrap(), b"1");
    assert_eq!(std::fs::read(r.join("keep/k")).unwrap(), b"k");
    assert_eq!(std::fs::read(r.join("keep/k2")).unwrap(), b"k2");
    a.assert_outside_untouched();
}

#[test]
fn links_modes_and_owners() {
    let Some(_layout) = common::live("links_modes_and_owners") else {
        return;
    };
    let a = area();
    let mut suid = file("bin/su", b"#!/bin/sh\n");
    suid.mode = 0o4755;
    suid.uid = 0;
    let mut owned = file("home/u/f", b"mine");
    owned.uid = 1234;
    owned.mode = 0o600;
    let mut ro = dir("ro");
    ro.mode = 0o555;
    let l1 = tar_of(&[
        dir("bin"),
        suid,
        symlink("bin/sh", "su"),
        symlink("bin/abs", "/bin/su"),
        hardlink("bin/su2", "bin/su"),
        dir("home"),
        dir("home/u"),
        owned,
        ro,
        file("ro/inside", b"in a read-only dir"),
    ]);
    // Layer 2 writes into the read-only directory (modes apply at the end).
    let l2 = tar_of(&[file("ro/later", b"later")]);
    apply(&a.root, &[l1, l2], Limits::default()).unwrap();
    let r = &a.root;
    let m = std::fs::symlink_metadata(r.join("bin/su")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(m.nlink(), 2, "hard link kept");
    assert_eq!(std::fs::metadata(r.join("bin/su2")).unwrap().ino(), m.ino());
    assert_eq!(
        std::fs::read_link(r.join("bin/sh")).unwrap(),
        Path::new("su")
    );
    assert_eq!(
        std::fs::read_link(r.join("bin/abs")).unwrap(),
        Path::new("/bin/su")
    );
    let o = std::fs::metadata(r.join("home/u/f")).unwrap();
    assert_eq!((o.uid(), o.gid(), o.mode() & 0o777), (1234, 1234, 0o600));
    let d = std::fs::metadata(r.join("ro")).unwrap();
    assert_eq!(d.mode() & 0o777, 0o555);
    assert_eq!(std::fs::read(r.join("ro/later")).unwrap(), b"later");
}

fn cache_names(c: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(c)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_refused_image_leaves_no_partial_tree_in_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("img");
    let c = tmp.path().join("cache");
    let good = tar_of(&[dir("etc"), file("etc/a", b"a"), file("big", &[1u8; 5000])]);
    let bad = tar_of(&[file("ok-before", b"x"), file("../escape", b"x")]);
    oci_dir(
        &img,
        "localhost/bad:1",
        &[good.clone(), bad.clone()],
        &[good, bad],
        serde_json::json!({}),
    );
    let src = cgdash::image::Source::open(&img).unwrap();
    let found = src.pick(None).unwrap();
    let err = cache::ensure(&c, &src, &found, "img", &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("\"../escape\""), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        cache_names(&c),
        Vec::<String>::new(),
        "partial extraction left behind"
    );
    assert!(!tmp.path().join("escape").exists());
}

#[test]
fn a_tampered_layer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("img");
    let c = tmp.path().join("cache");
    let real = tar_of(&[file("a", b"real")]);
    let swapped = tar_of(&[file("a", b"fake")]);
    // diff_id of `real`, blob `swapped` (its blob digest is honest).
    oci_dir(&img, "t", &[real], &[swapped], serde_json::json!({}));
    let src = cgdash::image::Source::open(&img).unwrap();
    let found = src.pick(None).unwrap();
    let err = cache::ensure(&c, &src, &found, "img", &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("tampered"), "{err}");
    assert_eq!(cache_names(&c), Vec::<String>::new());
}

#[test]
fn archives_with_several_images_need_a_name() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let l = tar_of(&[file("a", b"1")]);
    oci_dir(
        &one,
        "localhost/app:latest",
        std::slice::from_ref(&l),
        std::slice::from_ref(&l),
        serde_json::json!({}),
    );
    // A second manifest in the same layout.
    let two = tmp.path().join("two");
    let l2 = tar_of(&[file("b", b"2")]);
    oci_dir(
        &two,
        "localhost/other:2",
        std::slice::from_ref(&l2),
        std::slice::from_ref(&l2),
        serde_json::json!({}),
    );
    for e in std::fs::read_dir(two.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), one.join("blobs/sha256").join(e.file_name())).unwrap();
    }
    let mut i1: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("index.json")).unwrap()).unwrap();
    let i2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(two.join("index.json")).unwrap()).unwrap();
    i1["manifests"]
        .as_array_mut()
        .unwrap()
        .push(i2["manifests"][0].clone());
    std::fs::write(one.join("index.json"), serde_json::to_vec(&i1).unwrap()).unwrap();
    let src = cgdash::image::Source::open(&one).unwrap();
    let err = src.pick(None).unwrap_err().to_string();
    assert!(
        err.contains("--image-name") && err.contains("localhost/other:2"),
        "{err}"
    );
    assert_eq!(
        src.pick(Some("other:2")).unwrap().names,
        ["localhost/other:2"]
    );
    assert_eq!(
        src.pick(Some("app")).unwrap().names,
        ["localhost/app:latest"]
    );
    assert!(src.pick(Some("nope")).is_err());
}
