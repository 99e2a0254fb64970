//! Unpacking image layers, which are hostile input: a layer is a tar stream
//! (plain, gzip or zstd) that anyone can craft. The rules, after reading how
//! docker's pkg/archive, containers/storage, umoci and youki handle it:
//!
//! - Names are relative paths of plain components: an absolute name or a
//!   `..` component is refused (a leading `./` is fine).
//! - Every write goes through [`fsops`]: each parent directory is opened with
//!   `O_NOFOLLOW` from the root's descriptor, so a symlink in a parent — made
//!   by an earlier entry or layer, pointing anywhere — is refused, never
//!   followed. Files are created with `O_EXCL | O_NOFOLLOW` after removing
//!   what was there.
//! - A symlink's target is stored as is (it is resolved inside the container
//!   after pivot_root, where an absolute target means the image's own `/`),
//!   but a relative target that climbs above the image's root is refused: it
//!   can only be meant to reach the host. A hard link's target must be an
//!   existing non-directory inside the tree, reached the same no-symlink way.
//! - Device nodes are refused unless [`Limits::devices`] (root only); fifos
//!   are fine.
//! - Bomb limits: entries, bytes per file, bytes in all, name length, and
//!   the metadata read before each entry (GNU long names and PAX headers,
//!   which the tar crate reads into memory).
//! - OCI whiteouts: `.wh.NAME` removes NAME of the lower layers;
//!   `.wh..wh..opq` empties its directory of everything lower layers put
//!   there (entries of the same layer stay, in whatever order they come).
//! - The caller extracts into a fresh directory and removes it on any error,
//!   so a refused image leaves nothing behind.
//!
//! Ownership is applied as root; without root everything belongs to the
//! caller, which the launcher maps to root inside the user namespace.
//! Directory modes are applied at the end, so a read-only directory can
//! still be filled by later entries and layers.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::fsops::{self, cstr};
use super::ImageError;

/// Bomb limits and policy for extraction.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Entries in all layers together.
    pub max_entries: u64,
    /// Bytes of one file.
    pub max_file_bytes: u64,
    /// Bytes of all layers together (uncompressed).
    pub max_total_bytes: u64,
    /// Length of an entry's name or link target.
    pub max_name: usize,
    /// Bytes of metadata (headers, long names, PAX records) before one entry.
    pub max_header_bytes: u64,
    /// Create device nodes (else an image with one is refused).
    pub devices: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_file_bytes: 16 << 30,
            max_total_bytes: 64 << 30,
            max_name: 4096,
            max_header_bytes: 1 << 20,
            devices: false,
        }
    }
}

/// What an extraction produced.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

/// Wraps a layer blob: recognises gzip and zstd by their magic numbers (media
/// types lie more often than magic numbers) and returns the tar stream.
pub fn decompress<'a>(mut r: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = r.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = io::Cursor::new(magic[..n].to_vec());
    let chained: Box<dyn Read + 'a> = Box::new(head.chain(r));
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(chained)
                .map_err(|e| io::Error::other(format!("zstd: {e}")))?,
        )
    } else {
        chained
    })
}

/// Counts what the tar reader consumes and enforces the byte budgets, and
/// hashes it (the layer's diff_id is the sha256 of the uncompressed tar).
struct Metered<R> {
    inner: R,
    state: Rc<Meter>,
    hash: Sha256,
}

#[derive(Default)]
struct Meter {
    total: Cell<u64>,
    max_total: Cell<u64>,
    /// Bytes read since the extractor asked for the next entry.
    header: Cell<u64>,
    max_header: Cell<u64>,
    in_header: Cell<bool>,
    tripped: Cell<Option<&'static str>>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let s = &self.state;
        s.total.set(s.total.get() + n as u64);
        if s.total.get() > s.max_total.get() {
            s.tripped.set(Some("total size"));
            return Err(io::Error::other("size limit"));
        }
        if s.in_header.get() {
            s.header.set(s.header.get() + n as u64);
            if s.header.get() > s.max_header.get() {
                s.tripped.set(Some("header size"));
                return Err(io::Error::other("header limit"));
            }
        }
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Extraction state across the layers of one image.
pub struct Extractor {
    root: OwnedFd,
    root_path: PathBuf,
    limits: Limits,
    as_root: bool,
    stats: Stats,
    /// Directory attributes applied at the end: path → (mode, uid, gid).
    dir_attrs: HashMap<PathBuf, (u32, u32, u32)>,
    /// Paths written by the layer being applied (opaque whiteouts keep them).
    this_layer: HashSet<PathBuf>,
}

fn refuse(entry: &Path, why: impl std::fmt::Display) -> ImageError {
    ImageError::unsafe_entry(format!("entry {:?}: {why}", entry.display().to_string()))
}

impl Extractor {
    /// Starts extracting into `root`, an existing empty directory.
    pub fn new(root: &Path, limits: Limits) -> Result<Extractor, ImageError> {
        let fd = fsops::open_dir(root)
            .map_err(|e| ImageError::system(format!("opening {}: {e}", root.display())))?;
        Ok(Extractor {
            root: fd,
            root_path: root.to_path_buf(),
            limits,
            as_root: nix::unistd::geteuid().is_root(),
            stats: Stats::default(),
            dir_attrs: HashMap::new(),
            this_layer: HashSet::new(),
        })
    }

    /// Applies one layer (a tar stream, possibly compressed). With
    /// `diff_id` (`sha256:HEX`), the uncompressed stream must hash to it.
    pub fn apply(
        &mut self,
        layer: Box<dyn Read + '_>,
        diff_id: Option<&str>,
        what: &str,
    ) -> Result<(), ImageError> {
        let tar_stream =
            decompress(layer).map_err(|e| ImageError::bad(format!("{what}: cannot read: {e}")))?;
        let meter = Rc::new(Meter::default());
        meter
            .max_total
            .set(self.limits.max_total_bytes.saturating_sub(self.stats.bytes));
        meter.max_header.set(self.limits.max_header_bytes);
        let mut metered = Metered {
            inner: tar_stream,
            state: meter.clone(),
            hash: Sha256::new(),
        };
        self.this_layer.clear();
        let before = self.stats.bytes;
        {
            let mut ar = tar::Archive::new(&mut metered);
            let mut entries = ar.entries().map_err(|e| self.io_err(what, &meter, e))?;
            loop {
                meter.in_header.set(true);
                meter.header.set(0);
                let next = entries.next();
                meter.in_header.set(false);
                let Some(entry) = next else { break };
                let mut entry = entry.map_err(|e| self.io_err(what, &meter, e))?;
                self.stats.entries += 1;
                if self.stats.entries > self.limits.max_entries {
                    let p = entry.path().map(|p| p.into_owned()).unwrap_or_default();
                    return Err(refuse(
                        &p,
                        format!(
                            "more than {} entries in the image (limit)",
                            self.limits.max_entries
                        ),
                    ));
                }
                self.entry(&mut entry, &meter, what)?;
                // Whatever the entry did not read (data of links, dirs)
                // still counts and is hashed.
                io::copy(&mut entry, &mut io::sink()).map_err(|e| self.io_err(what, &meter, e))?;
            }
        }
        // The tar end marker may be followed by padding: part of the diff_id.
        io::copy(&mut metered, &mut io::sink()).map_err(|e| self.io_err(what, &meter, e))?;
        self.stats.bytes = before + meter.total.get();
        if let Some(want) = diff_id {
            let got = format!("sha256:{:x}", metered.hash.clone().finalize());
            if !want.eq_ignore_ascii_case(&got) {
                return Err(ImageError::bad(format!(
                    "{what}: content is {got}, but the image config says {want} (corrupt or tampered archive)"
                )));
            }
        }
        Ok(())
    }

    fn io_err(&self, what: &str, meter: &Meter, e: io::Error) -> ImageError {
        match meter.tripped.get() {
            Some("total size") => ImageError::unsafe_entry(format!(
                "{what}: the image unpacks to more than {} bytes (limit)",
                self.limits.max_total_bytes
            )),
            Some(_) => ImageError::unsafe_entry(format!(
                "{what}: more than {} bytes of tar headers for one entry (limit)",
                self.limits.max_header_bytes
            )),
            None => ImageError::bad(format!("{what}: not a valid layer: {e}")),
        }
    }

    /// Finishes: applies directory modes and owners, deepest first.
    pub fn finish(mut self) -> Result<Stats, ImageError> {
        let mut dirs: Vec<(PathBuf, (u32, u32, u32))> = self.dir_attrs.drain().collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (p, (mode, uid, gid)) in dirs {
            let comps: Vec<&OsStr> = p.iter().collect();
            let Ok(fd) = self.walk(&comps, false) else {
                continue; // replaced or removed by a later layer
            };
            if self.as_root {
                // SAFETY: a valid fd.
                unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) };
            }
            // SAFETY: a valid fd. After chown, which clears set-id bits.
            unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) };
        }
        Ok(self.stats)
    }

    /// Opens the directory `comps` (relative to the root) without following
    /// symlinks; with `create`, missing directories are made (tar streams
    /// may omit parents).
    fn walk(&self, comps: &[&OsStr], create: bool) -> io::Result<OwnedFd> {
        // SAFETY: F_DUPFD_CLOEXEC of our own root fd.
        let dup = unsafe { libc::fcntl(self.root.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        let mut cur = unsafe { OwnedFd::from_raw_fd(dup) };
        for c in comps {
            cur = match fsops::open_dir_at(cur.as_raw_fd(), c) {
                Ok(fd) => fd,
                Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                    fsops::mkdir_at(cur.as_raw_fd(), c, 0o755)?;
                    fsops::open_dir_at(cur.as_raw_fd(), c)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// The parent directory of `path`, refusing symlinks and non-directories
    /// on the way with a message that names the entry and the component.
    fn parent_of(&self, entry: &Path, comps: &[&OsStr]) -> Result<OwnedFd, ImageError> {
        let parent = &comps[..comps.len() - 1];
        self.walk(parent, true).map_err(|e| {
            let code = e.raw_os_error();
            if code == Some(libc::ELOOP) || code == Some(libc::ENOTDIR) {
                // Which component: find the first that is not a real directory.
                let mut sofar = PathBuf::new();
                for c in parent {
                    sofar.push(c);
                    let is_link = std::fs::symlink_metadata(self.root_path.join(&sofar))
                        .map(|m| m.file_type().is_symlink());
                    match is_link {
                        Ok(true) => {
                            return refuse(
                                entry,
                                format!(
                                    "its parent {} is a symlink (writing through it could leave the tree)",
                                    sofar.display()
                                ),
                            )
                        }
                        Ok(false) if !self.root_path.join(&sofar).is_dir() => {
                            return refuse(
                                entry,
                                format!("its parent {} is not a directory", sofar.display()),
                            )
                        }
                        _ => {}
                    }
                }
                refuse(entry, format!("cannot reach its parent: {e}"))
            } else {
                ImageError::system(format!(
                    "{}: creating the parent of {}: {e}",
                    self.root_path.display(),
                    entry.display()
                ))
            }
        })
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        meter: &Meter,
        what: &str,
    ) -> Result<(), ImageError> {
        let raw = entry.path_bytes().into_owned();
        let shown = PathBuf::from(OsStr::from_bytes(&raw));
        if raw.len() > self.limits.max_name {
            return Err(refuse(
                &PathBuf::from(String::from_utf8_lossy(&raw[..64]).into_owned() + "…"),
                format!("name longer than {} bytes (limit)", self.limits.max_name),
            ));
        }
        let rel = clean_name(&shown).map_err(|why| refuse(&shown, why))?;
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let Some(rel) = rel else {
            // The root itself ("./"): its attributes, nothing else.
            if kind.is_dir() {
                self.dir_attrs.insert(PathBuf::new(), (mode, uid, gid));
            }
            return Ok(());
        };
        let comps: Vec<&OsStr> = rel.iter().collect();
        let name = *comps.last().unwrap_or(&OsStr::new(""));

        // Whiteouts.
        if let Some(target) = name.as_bytes().strip_prefix(b".wh.") {
            let parent = self.parent_of(&shown, &comps)?;
            if target == b".wh..opq" {
                let dir_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
                self.opaque(parent.as_raw_fd(), &dir_rel).map_err(|e| {
                    ImageError::system(format!("{what}: opaque {}: {e}", shown.display()))
                })?;
            } else {
                let t = OsStr::from_bytes(target);
                if target.is_empty() || target == b"." || target == b".." {
                    return Err(refuse(&shown, "a whiteout of nothing"));
                }
                let victim = rel.with_file_name(t);
                if !self.this_layer.contains(&victim) {
                    fsops::remove_at(parent.as_raw_fd(), t).map_err(|e| {
                        ImageError::system(format!("{what}: whiteout {}: {e}", shown.display()))
                    })?;
                    self.forget(&victim);
                }
            }
            return Ok(());
        }

        let parent = self.parent_of(&shown, &comps)?;
        let pfd = parent.as_raw_fd();
        let sys = |e: io::Error| ImageError::system(format!("{what}: {}: {e}", shown.display()));
        let existing = fsops::lstat_at(pfd, name).map_err(sys)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match existing {
                    Some(st) if fsops::is_dir(&st) => {}
                    Some(_) => {
                        fsops::remove_at(pfd, name).map_err(sys)?;
                        fsops::mkdir_at(pfd, name, 0o700).map_err(sys)?;
                    }
                    None => fsops::mkdir_at(pfd, name, 0o700).map_err(sys)?,
                }
                self.dir_attrs.insert(rel.clone(), (mode, uid, gid));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                if existing.is_some() {
                    fsops::remove_at(pfd, name).map_err(sys)?;
                    self.forget(&rel);
                }
                let c = cstr(name).map_err(sys)?;
                // SAFETY: valid dirfd and C string; the fd is owned below.
                let fd = unsafe {
                    libc::openat(
                        pfd,
                        c.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o600 as libc::c_uint,
                    )
                };
                if fd < 0 {
                    return Err(sys(io::Error::last_os_error()));
                }
                // SAFETY: a fresh fd we own.
                let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
                let max = self.limits.max_file_bytes;
                let n =
                    io::copy(&mut (&mut *entry).take(max + 1), &mut f).map_err(|e| match meter
                        .tripped
                        .get()
                    {
                        Some(_) => self.io_err(what, meter, e),
                        None => sys(e),
                    })?;
                if n > max {
                    return Err(refuse(
                        &shown,
                        format!("file larger than {max} bytes (limit)"),
                    ));
                }
                if self.as_root {
                    // SAFETY: a valid fd.
                    unsafe { libc::fchown(f.as_raw_fd(), uid, gid) };
                }
                // SAFETY: a valid fd; after chown, which clears set-id bits.
                unsafe { libc::fchmod(f.as_raw_fd(), mode as libc::mode_t) };
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .ok_or_else(|| refuse(&shown, "a symlink without a target"))?;
                if target.len() > self.limits.max_name || target.is_empty() {
                    return Err(refuse(&shown, "symlink target empty or too long"));
                }
                if target.contains(&0) {
                    return Err(refuse(&shown, "NUL in the symlink target"));
                }
                let t = Path::new(OsStr::from_bytes(&target));
                if escapes(&rel, t) {
                    return Err(refuse(
                        &shown,
                        format!("symlink to {} climbs out of the image's root", t.display()),
                    ));
                }
                if existing.is_some() {
                    fsops::remove_at(pfd, name).map_err(sys)?;
                    self.forget(&rel);
                }
                let tc = cstr(t.as_os_str()).map_err(sys)?;
                let nc = cstr(name).map_err(sys)?;
                // SAFETY: valid C strings and dirfd.
                if unsafe { libc::symlinkat(tc.as_ptr(), pfd, nc.as_ptr()) } < 0 {
                    return Err(sys(io::Error::last_os_error()));
                }
                if self.as_root {
                    // SAFETY: valid dirfd and C string; does not follow the link.
                    unsafe {
                        libc::fchownat(pfd, nc.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW)
                    };
                }
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .ok_or_else(|| refuse(&shown, "a hard link without a target"))?;
                let tpath = PathBuf::from(OsStr::from_bytes(&target));
                let trel = match clean_name(&tpath) {
                    Ok(Some(r)) => r,
                    Ok(None) => return Err(refuse(&shown, "hard link to the root directory")),
                    Err(why) => {
                        return Err(refuse(
                            &shown,
                            format!("hard link to {}: {why}", tpath.display()),
                        ))
                    }
                };
                let tcomps: Vec<&OsStr> = trel.iter().collect();
                let tparent = self.parent_of(&shown, &tcomps).map_err(|_| {
                    refuse(
                        &shown,
                        format!(
                            "hard link target {} is not inside the tree",
                            tpath.display()
                        ),
                    )
                })?;
                let tname = *tcomps.last().unwrap_or(&OsStr::new(""));
                match fsops::lstat_at(tparent.as_raw_fd(), tname).map_err(sys)? {
                    None => {
                        return Err(refuse(
                            &shown,
                            format!("hard link target {} does not exist", tpath.display()),
                        ))
                    }
                    Some(st) if fsops::is_dir(&st) => {
                        return Err(refuse(
                            &shown,
                            format!("hard link to the directory {}", tpath.display()),
                        ))
                    }
                    Some(_) => {}
                }
                if trel == rel {
                    return Ok(()); // a link to itself: already there
                }
                if existing.is_some() {
                    fsops::remove_at(pfd, name).map_err(sys)?;
                    self.forget(&rel);
                }
                let tc = cstr(tname).map_err(sys)?;
                let nc = cstr(name).map_err(sys)?;
                // SAFETY: valid dirfds and C strings; flags 0: a symlink
                // target is linked itself, not followed.
                if unsafe { libc::linkat(tparent.as_raw_fd(), tc.as_ptr(), pfd, nc.as_ptr(), 0) }
                    < 0
                {
                    return Err(sys(io::Error::last_os_error()));
                }
            }
            T::Fifo | T::Char | T::Block => {
                let is_dev = !matches!(kind, T::Fifo);
                let (major, minor) = (
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                if is_dev && kind == T::Char && major == 0 && minor == 0 {
                    // overlayfs' own whiteout format (char 0/0): same meaning as .wh.NAME.
                    if !self.this_layer.contains(&rel) {
                        fsops::remove_at(pfd, name).map_err(sys)?;
                        self.forget(&rel);
                    }
                    return Ok(());
                }
                if is_dev && !self.limits.devices {
                    return Err(refuse(
                        &shown,
                        format!(
                            "device node {major}:{minor} (not allowed: a device node could open the host's hardware)"
                        ),
                    ));
                }
                if existing.is_some() {
                    fsops::remove_at(pfd, name).map_err(sys)?;
                    self.forget(&rel);
                }
                let ty = match kind {
                    T::Fifo => libc::S_IFIFO,
                    T::Char => libc::S_IFCHR,
                    _ => libc::S_IFBLK,
                };
                let nc = cstr(name).map_err(sys)?;
                let dev = libc::makedev(major, minor);
                // SAFETY: valid dirfd and C string.
                if unsafe {
                    libc::mknodat(pfd, nc.as_ptr(), ty | (mode & 0o777) as libc::mode_t, dev)
                } < 0
                {
                    return Err(sys(io::Error::last_os_error()));
                }
                if self.as_root {
                    // SAFETY: valid dirfd and C string.
                    unsafe {
                        libc::fchownat(pfd, nc.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW)
                    };
                }
            }
            // PAX globals, GNU volume labels, …: no file to make.
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(refuse(
                    &shown,
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                ))
            }
        }
        self.this_layer.insert(rel);
        Ok(())
    }

    /// An opaque directory: removes what lower layers put in `dir`, keeping
    /// what this layer already wrote (recursively).
    fn opaque(&mut self, dirfd: RawFd, dir: &Path) -> io::Result<()> {
        for n in fsops::list_dir(dirfd)? {
            let p = dir.join(&n);
            if !self.this_layer.contains(&p) {
                fsops::remove_at(dirfd, &n)?;
                self.forget(&p);
                continue;
            }
            if let Some(st) = fsops::lstat_at(dirfd, &n)? {
                if fsops::is_dir(&st) {
                    let sub = fsops::open_dir_at(dirfd, &n)?;
                    self.opaque(sub.as_raw_fd(), &p)?;
                }
            }
        }
        Ok(())
    }

    /// Drops remembered directory attributes at and below a removed path.
    fn forget(&mut self, p: &Path) {
        if !self.dir_attrs.is_empty() {
            self.dir_attrs.retain(|k, _| !k.starts_with(p));
        }
    }
}

/// Normalises an entry name: `None` for the root itself, an error for an
/// absolute name or a `..` component.
pub fn clean_name(p: &Path) -> Result<Option<PathBuf>, String> {
    if p.as_os_str().as_bytes().first() == Some(&b'/') {
        return Err("absolute name (entries must be relative to the image's root)".into());
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(s) => out.push(s),
            Component::ParentDir => return Err("`..` in the name (would leave the tree)".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute name (entries must be relative to the image's root)".into())
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Whether a symlink at `link` (relative to the root) with `target` climbs
/// above the root when resolved lexically. Absolute targets are the image's
/// own root after pivot_root, so they never climb.
pub fn escapes(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    false
}

/// The entry names of a path, for messages.
#[allow(dead_code)]
fn shown(p: &OsString) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(clean_name(Path::new("./a/b")).unwrap(), Some("a/b".into()));
        assert_eq!(clean_name(Path::new("./")).unwrap(), None);
        assert!(clean_name(Path::new("/etc/passwd")).is_err());
        assert!(clean_name(Path::new("a/../../x")).is_err());
        assert!(clean_name(Path::new("a/..")).is_err());
    }

    #[test]
    fn symlink_escapes() {
        assert!(!escapes(Path::new("bin/sh"), Path::new("busybox")));
        assert!(!escapes(Path::new("bin/sh"), Path::new("/bin/busybox")));
        assert!(!escapes(
            Path::new("usr/bin/x"),
            Path::new("../../bin/busybox")
        ));
        assert!(escapes(
            Path::new("usr/bin/x"),
            Path::new("../../../etc/shadow")
        ));
        assert!(escapes(Path::new("x"), Path::new("..")));
        assert!(escapes(Path::new("a/x"), Path::new("b/../../..")));
    }
}
