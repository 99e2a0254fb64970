//! One module per controller. Each declares, for its v1 and v2 forms, the
//! files it reads and how each fills [`GroupStats`] ([`Read`]). Everything
//! else is driven by these tables: the fresh reader (`read.rs`) and the
//! sampler's cached reader (`reader.rs`) both resolve the same declarations
//! with [`plan_group`] and feed every file's text through the same `apply`
//! functions, so the two can't drift apart (`tests/hc_readers.rs` checks
//! they agree on v1, co-mounted v1, v2 and hybrid trees, tick by tick).
//!
//! Adding a reading is one [`Read`] line in its controller's file; adding a
//! controller is one module and one entry in [`CONTROLLERS`].

pub mod cpu;
pub mod cpuset;
pub mod freezer;
pub mod io;
pub mod memory;
pub mod pids;

use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::knob::{Host, Knob, Refusal, Setting, Value};
use super::layout::{Layout, Mode, Version};
use super::parse;
use super::roots::Roots;
use super::stats::GroupStats;
use super::write::{Applied, FileWrite};
use crate::model::GroupSnapshot;

/// Fills fields of `GroupStats` from one file's text; `None`: the file is
/// missing or unreadable (its fields become `None`: unknown, never 0).
pub type Apply = fn(Option<&str>, &mut GroupStats);

/// Where a declared file lives for a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// The controller's hierarchy, when it is a v1 mount holding the group.
    V1(&'static str),
    /// The controller's hierarchy, when it is the v2 one holding the group.
    V2(&'static str),
    /// The controller's hierarchy holding the group, either version.
    Any(&'static str),
    /// The unified hierarchy (group directory or not), unless the controller
    /// is a v1 mount holding the group (v1 `cpuacct` wins over v2 `cpu.stat`).
    UnifiedUnlessV1(&'static str),
    /// The unified hierarchy on a pure v2 host, unless the controller is a v1
    /// mount holding the group (the v2 freezer: `cgroup.events`).
    PureV2UnlessV1(&'static str),
    /// The unified hierarchy (group directory or not): PSI, also on hybrid.
    Unified,
}

/// One file a controller reads and what it fills.
pub struct Read {
    pub at: At,
    pub file: &'static str,
    /// Slow-moving (a limit, a peak, PSI, the freezer): the cached reader
    /// re-reads it every few ticks instead of every tick.
    pub slow: bool,
    pub apply: Apply,
}

/// A controller: its name (as in `/proc/cgroups`), its readings, its knobs,
/// and how a file it writes is restored after a refused multi-knob write.
pub struct Controller {
    pub name: &'static str,
    /// The v1 controllers (mount options) that serve it: `cpu` and `cpuacct`.
    pub v1_names: &'static [&'static str],
    /// Whether a v2 parent must enable it (`+name` in `cgroup.subtree_control`)
    /// for a child group to get its files (the v2 freezer is built in).
    pub v2_enable: bool,
    pub reads: &'static [Read],
    pub knobs: &'static [KnobDef],
    /// `(file, restore form)`: old contents → what the kernel accepts back,
    /// for files whose reading can't simply be written back.
    pub restore: &'static [(&'static str, Restore)],
    /// A refusal of one of its writes explained with the numbers the errno
    /// alone hides (v1 memory: which of memory and memory+swap is in the
    /// way), if it can; else the knob's declared words.
    pub explain: fn(&FileWrite, i32) -> Option<String>,
    /// What to tell the user about an applied setting besides the files
    /// written (v1 io throttles direct I/O only), if anything: `set`
    /// prints it, the dashboard's status line shows it.
    pub note: fn(&Applied) -> Option<String>,
}

/// [`Controller::note`] for controllers with nothing to add.
pub(crate) fn no_note(_: &Applied) -> Option<String> {
    None
}

/// The notes of an applied call, each once.
pub fn notes(applied: &[Applied]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in applied
        .iter()
        .filter_map(|a| (controller_of(a.setting.knob)?.note)(a))
    {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// [`Controller::explain`] for controllers whose declared words suffice.
pub(crate) fn no_explanation(_: &FileWrite, _: i32) -> Option<String> {
    None
}

/// One knob: everything about it that is not the same for every knob.
pub struct KnobDef {
    pub knob: Knob,
    /// Other names accepted for it (`memory.max`, docker's `cpus`, …).
    pub aliases: &'static [&'static str],
    /// What the value looks like (errors, the editor's hint, `--help`).
    pub syntax: &'static str,
    /// `cgdash run --FLAG`, if it has one. `cli.rs` builds the flag from
    /// this at run time, and build.rs reads it from this file's source for
    /// the man page and completions: write it as `Some(Flag { name: "…",
    /// help: "…" })` with string literals (build.rs fails otherwise).
    pub flag: Option<Flag>,
    /// Whether the launch dialog (`n`) has a field for it (the editor, `e`,
    /// has every knob). A refused knob without one marks the field of its
    /// controller's first knob that has one ([`launch_field`]).
    pub launch: bool,
    /// What the kernel's refusals mean for this knob, `(errno, words)`:
    /// `cgdash set`'s and the editor's errors say these; other errnos get
    /// the generic words (`error::explain_write_errno`).
    pub errors: &'static [(i32, &'static str)],
    /// The grammar and range: the trimmed, non-empty text → a value, or why not.
    pub parse: fn(&str, Host) -> Result<Value, Refusal>,
    /// The v1/v2 translation: the file writes of one setting for `group`
    /// (all the call's settings given, for knobs that depend on another).
    pub plan: Plan,
    /// Where its writes go among the call's (lower first; the whole plan
    /// given, for orders that depend on the direction of a change).
    pub order: fn(&Applied, &[Applied]) -> u8,
    /// The current value, from a published snapshot (the editor's prefill).
    pub current: fn(&GroupSnapshot) -> Option<Value>,
}

/// A `cgdash run` flag: `--NAME VALUE`, with its `--help` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub help: &'static str,
}

/// Old contents of a file (its path and the contents being written given:
/// a per-device file is restored for the device written) → the form
/// written back.
pub type Restore = fn(&Path, &str, &str) -> String;

pub type Plan = fn(&Layout, &str, &Setting, &[Setting]) -> Result<Vec<FileWrite>, CgroupError>;

/// Whether cgdash reads or writes v1 controller `name` (others, like
/// devices, blkio or named hierarchies such as `name=systemd`, are ignored).
pub fn known_v1(name: &str) -> bool {
    CONTROLLERS.iter().any(|c| c.v1_names.contains(&name))
}

/// The controllers a launched workload's group gets on v2, when offered.
pub fn v2_enabled() -> impl Iterator<Item = &'static str> {
    CONTROLLERS.iter().filter(|c| c.v2_enable).map(|c| c.name)
}

/// Every declared knob, in order.
pub fn all_defs() -> impl Iterator<Item = &'static KnobDef> {
    CONTROLLERS.iter().flat_map(|c| c.knobs.iter())
}

/// The controller declaring `knob`.
pub fn controller_of(knob: Knob) -> Option<&'static Controller> {
    CONTROLLERS
        .iter()
        .copied()
        .find(|c| c.knobs.iter().any(|d| d.knob == knob))
}

/// The launch dialog's field for `knob`: its own, else its controller's
/// first (a refused `cpu.period` is about the CPU field), else none.
pub fn launch_field(knob: Knob) -> Option<Knob> {
    if knob.def().launch {
        return Some(knob);
    }
    controller_of(knob)?
        .knobs
        .iter()
        .find(|d| d.launch)
        .map(|d| d.knob)
}

/// The knobs with a field in the launch dialog, in declaration order.
pub fn launch_knobs() -> impl Iterator<Item = Knob> {
    all_defs().filter(|d| d.launch).map(|d| d.knob)
}

/// The restore form of `path`'s old contents, if its controller declares one.
pub fn restore_form(path: &Path, old: &str, new: &str) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    CONTROLLERS
        .iter()
        .flat_map(|c| c.restore.iter())
        .find(|(f, _)| *f == file)
        .map(|(_, r)| r(path, old, new))
}

/// A setting whose value is of another knob's kind (a bug, not user input).
pub(crate) fn mismatch(s: &Setting) -> CgroupError {
    CgroupError::Unsupported {
        knob: s.knob,
        why: format!("value {} does not fit this knob", s.value),
    }
}

/// A plan step of a single file write.
pub(crate) fn one(knob: Knob, path: PathBuf, contents: impl Into<String>) -> Vec<FileWrite> {
    vec![FileWrite {
        knob,
        path,
        contents: contents.into(),
    }]
}

/// Every controller cgdash knows, in the order their readings apply.
pub const CONTROLLERS: [&Controller; 6] = [
    &cpu::CONTROLLER,
    &memory::CONTROLLER,
    &pids::CONTROLLER,
    &cpuset::CONTROLLER,
    &freezer::CONTROLLER,
    &io::CONTROLLER,
];

/// Readings that belong to no controller: per-group PSI (v2; also on hybrid).
const CORE_READS: &[Read] = &[
    Read {
        at: At::Unified,
        file: "cpu.pressure",
        slow: true,
        apply: |t, s| psi(t, s, |p| &mut p.cpu),
    },
    Read {
        at: At::Unified,
        file: "memory.pressure",
        slow: true,
        apply: |t, s| psi(t, s, |p| &mut p.memory),
    },
    Read {
        at: At::Unified,
        file: "io.pressure",
        slow: true,
        apply: |t, s| psi(t, s, |p| &mut p.io),
    },
];

fn psi(
    t: Option<&str>,
    s: &mut GroupStats,
    field: fn(&mut super::stats::Pressure) -> &mut Option<super::stats::Psi>,
) {
    match t {
        Some(t) => {
            *field(s.pressure.get_or_insert_with(Default::default)) = Some(parse::pressure(t))
        }
        None => {
            if let Some(p) = s.pressure.as_mut() {
                *field(p) = None;
            }
        }
    }
}

/// Every declared reading, controllers first, then PSI.
pub fn all_reads() -> impl Iterator<Item = &'static Read> {
    CONTROLLERS
        .iter()
        .flat_map(|c| c.reads.iter())
        .chain(CORE_READS.iter())
}

/// One file to read for a group, and every declaration it serves (a file
/// two controllers declare, like v2 `cpu.stat`, is read once).
pub struct PlannedRead {
    pub path: PathBuf,
    pub slow: bool,
    pub applies: Vec<Apply>,
    /// The primary hierarchy's `cgroup.procs` (the group's process list;
    /// its declaration only counts the lines into `nprocs`).
    pub procs: bool,
    /// Its directory in [`GroupPlan::dirs`], and its name there.
    dir: usize,
    file: &'static str,
}

impl PlannedRead {
    /// The file's name in its directory (`cpu.max`).
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// Feeds the file's text (`None`: missing) through every declaration.
    pub fn apply(&self, text: Option<&str>, s: &mut GroupStats) {
        for a in &self.applies {
            a(text, s);
        }
    }
}

/// Which hierarchies (bit `i`: `layout.hierarchies[i]`) hold a group, as the
/// walk that found it saw them; `None`: unknown (each one is probed).
pub type Found = Option<u64>;

/// The files of one group to read, and its directories: each opened once
/// (`O_PATH`), its files then opened relative to it (`openat`: no path walk
/// through cgroupfs per file; issue 18). A directory the walk did not see,
/// or that fails to open with ENOENT, is missing: its files are not opened
/// at all. The descriptors live as long as the plan (one group's read).
pub struct GroupPlan {
    pub reads: Vec<PlannedRead>,
    /// The CFS bandwidth files that matter only with a quota (see
    /// `reader::quota_only`) are left unread where the quota read before
    /// them says there is none (the dashboard's reader).
    pub quota_only_with_quota: bool,
    /// Read after `reads` (when the group is in the primary hierarchy).
    pub procs: Option<PlannedRead>,
    dirs: Vec<PlanDir>,
    /// The directory whose inode identifies the group: the primary
    /// hierarchy's if the group is there, else the first that has it.
    id_dir: Option<usize>,
    /// The hierarchies looked at (bit `i`: `layout.hierarchies[i]`), and
    /// those of them that hold the group.
    looked: u64,
    held: u64,
}

struct PlanDir {
    path: PathBuf,
    state: DirState,
    /// Its hierarchy (`layout.hierarchies[hierarchy]`).
    hierarchy: usize,
}

enum DirState {
    /// Opened: its files are opened relative to it.
    Fd(std::fs::File),
    /// There, but its descriptor could not be had (EMFILE, …): its files
    /// are opened by full path.
    Path,
    /// Not there (the unified directory of a group made only in v1
    /// hierarchies): its files are not opened.
    Missing,
}

impl GroupPlan {
    /// Opens a planned file: relative to its directory, by path if that
    /// could not be opened, not at all (NotFound) if it is missing.
    /// The hierarchy a planned file is in (`layout.hierarchies[i]`), and
    /// its name: what finds it again with no path kept
    /// (`Hierarchy::dir(group)` joined with the name).
    pub fn place(&self, r: &PlannedRead) -> (usize, &'static str) {
        (self.dirs[r.dir].hierarchy, r.file)
    }

    pub fn open(&self, r: &PlannedRead) -> std::io::Result<std::fs::File> {
        use std::os::fd::AsRawFd;
        match &self.dirs[r.dir].state {
            DirState::Fd(d) => {
                let name = std::ffi::CString::new(r.file).map_err(std::io::Error::other)?;
                super::roots::raw_open(d.as_raw_fd(), &name, libc::O_RDONLY)
            }
            DirState::Path => std::fs::File::open(&r.path),
            DirState::Missing => Err(std::io::ErrorKind::NotFound.into()),
        }
    }

    /// The hierarchies the plan looked at (bit `i`: `layout.hierarchies[i]`)
    /// and those of them that hold the group: what a later walk's [`Found`]
    /// is compared with.
    pub fn held(&self) -> (u64, u64) {
        (self.looked, self.held)
    }

    /// The directory whose inode identifies the group; `None`: it is in no
    /// hierarchy.
    pub fn id_dir(&self) -> Option<&Path> {
        self.id_dir.map(|i| self.dirs[i].path.as_path())
    }

    /// The group's id: the inode of [`GroupPlan::id_dir`] (`fstat` of the
    /// open directory, no path walk); `None`: it is in no hierarchy (or
    /// vanished since).
    pub fn id(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let d = &self.dirs[self.id_dir?];
        match &d.state {
            DirState::Fd(f) => f.metadata().ok().map(|m| m.ino()),
            DirState::Path => std::fs::metadata(&d.path)
                .ok()
                .filter(|m| m.is_dir())
                .map(|m| m.ino()),
            DirState::Missing => None,
        }
    }
}

/// The files of `group` this layout reads, in declaration order, with
/// duplicates merged: what both readers read. `found`: the hierarchies the
/// walk saw it in (`None`: probe each one).
pub fn plan_group(layout: &Layout, group: &str, found: Found) -> GroupPlan {
    plan_of(all_reads(), layout, group, found, &Roots::default())
}

/// [`plan_group`], each directory opened from its hierarchy's mount where
/// `roots` holds it (no walk of the mount's own path; the sampler's reader).
pub fn plan_group_in(layout: &Layout, group: &str, found: Found, roots: &Roots) -> GroupPlan {
    plan_of(all_reads(), layout, group, found, roots)
}

/// [`plan_group`] for the given declarations. A file declared by a fast
/// and a slow reading is fast: read every tick, or the fast one goes stale.
fn plan_of<'a>(
    reads: impl Iterator<Item = &'a Read>,
    layout: &Layout,
    group: &str,
    found: Found,
    roots: &Roots,
) -> GroupPlan {
    let mut out: Vec<PlannedRead> = Vec::new();
    // Each place resolved once, each hierarchy's directory opened once
    // however many places name it (`V1("cpu")`, `Any("cpu")`,
    // `Any("cpuacct")` are one directory on a hybrid host; issue 18).
    let mut places: Vec<(At, Option<usize>)> = Vec::with_capacity(8);
    let mut dirs = Dirs::new(layout, group, found, roots);
    for r in reads {
        let dir = match places.iter().find(|(at, _)| *at == r.at) {
            Some((_, d)) => *d,
            None => {
                let d = resolve(&mut dirs, r.at);
                places.push((r.at, d));
                d
            }
        };
        let Some(dir) = dir else {
            continue;
        };
        match out.iter_mut().find(|p| p.dir == dir && p.file == r.file) {
            Some(p) => {
                p.slow &= r.slow;
                p.applies.push(r.apply);
            }
            None => out.push(PlannedRead {
                path: dirs.dirs[dir].path.join(r.file),
                slow: r.slow,
                applies: vec![r.apply],
                procs: false,
                dir,
                file: r.file,
            }),
        }
    }
    // The id: the primary hierarchy's directory, else the first that has it.
    let primary = dirs.index_of(layout.primary());
    let id_dir = std::iter::once(primary)
        .chain(0..layout.hierarchies.len())
        .find_map(|i| dirs.get(i));
    let procs = dirs.get(primary).map(|dir| PlannedRead {
        path: dirs.dirs[dir].path.join("cgroup.procs"),
        slow: false,
        applies: vec![|t, s| s.nprocs = t.map(parse::count_lines)],
        procs: true,
        dir,
        file: "cgroup.procs",
    });
    let (mut looked, mut held) = (0, 0);
    for (i, e) in dirs.by_hierarchy.iter().enumerate() {
        if let Some(e) = e {
            looked |= 1 << i;
            if !matches!(dirs.dirs[*e].state, DirState::Missing) {
                held |= 1 << i;
            }
        }
    }
    GroupPlan {
        reads: out,
        quota_only_with_quota: false,
        procs,
        dirs: dirs.dirs,
        id_dir,
        looked,
        held,
    }
}

/// A group's directory per hierarchy, each looked up (and opened) once.
struct Dirs<'l> {
    layout: &'l Layout,
    group: &'l str,
    found: Found,
    roots: &'l Roots,
    dirs: Vec<PlanDir>,
    /// Per hierarchy: not looked up yet, or its entry in `dirs`.
    by_hierarchy: Vec<Option<usize>>,
}

impl<'l> Dirs<'l> {
    fn new(layout: &'l Layout, group: &'l str, found: Found, roots: &'l Roots) -> Dirs<'l> {
        Dirs {
            layout,
            group,
            found,
            roots,
            dirs: Vec::with_capacity(4),
            by_hierarchy: vec![None; layout.hierarchies.len()],
        }
    }

    fn index_of(&self, h: &crate::cgroup::Hierarchy) -> usize {
        self.layout
            .hierarchies
            .iter()
            .position(|x| std::ptr::eq(x, h))
            .expect("a hierarchy of this layout")
    }

    /// The entry of hierarchy `i`'s directory of the group, missing or not.
    fn entry(&mut self, i: usize) -> usize {
        if let Some(e) = self.by_hierarchy[i] {
            return e;
        }
        let path = self.layout.hierarchies[i].dir(self.group);
        let state = if self.found.is_some_and(|f| f & (1 << i) == 0) {
            DirState::Missing
        } else {
            let flags = libc::O_PATH | libc::O_DIRECTORY;
            match self.roots.open_in(self.layout, i, self.group, None, flags) {
                Ok(f) => DirState::Fd(f),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    DirState::Missing
                }
                // No descriptor to spare (or another refusal): the
                // directory's files by path, as a `stat` says.
                Err(_) if path.is_dir() => DirState::Path,
                Err(_) => DirState::Missing,
            }
        };
        self.dirs.push(PlanDir {
            path,
            state,
            hierarchy: i,
        });
        let e = self.dirs.len() - 1;
        self.by_hierarchy[i] = Some(e);
        e
    }

    /// Hierarchy `i`'s directory of the group, if it is there.
    fn get(&mut self, i: usize) -> Option<usize> {
        let e = self.entry(i);
        (!matches!(self.dirs[e].state, DirState::Missing)).then_some(e)
    }

    /// The hierarchy serving `controller`, if the group is there.
    fn of(&mut self, controller: &str) -> Option<(Version, usize)> {
        let h = self.layout.hierarchy(controller)?;
        let i = self.index_of(h);
        Some((h.version, self.get(i)?))
    }

    /// The unified hierarchy's directory of the group, missing or not.
    fn unified(&mut self) -> Option<usize> {
        let u = self.layout.unified()?;
        let i = self.index_of(u);
        Some(self.entry(i))
    }
}

/// The directory a declaration's file is in for `group`, if it applies here.
fn resolve(dirs: &mut Dirs, at: At) -> Option<usize> {
    fn in_version(dirs: &mut Dirs, c: &str, v: Version) -> Option<usize> {
        dirs.of(c).filter(|(hv, _)| *hv == v).map(|(_, d)| d)
    }
    match at {
        At::V1(c) => in_version(dirs, c, Version::V1),
        At::V2(c) => in_version(dirs, c, Version::V2),
        At::Any(c) => dirs.of(c).map(|(_, d)| d),
        At::UnifiedUnlessV1(c) => match in_version(dirs, c, Version::V1) {
            Some(_) => None,
            None => dirs.unified(),
        },
        At::PureV2UnlessV1(c) => match in_version(dirs, c, Version::V1) {
            Some(_) => None,
            None if dirs.layout.mode == Mode::V2 => dirs.unified(),
            None => None,
        },
        At::Unified => dirs.unified(),
    }
}

/// Parses with `f`, `None` when the file is missing.
pub(crate) fn with<T>(t: Option<&str>, f: impl Fn(&str) -> Option<T>) -> Option<T> {
    t.and_then(f)
}

/// For the controllers' tests: the (file name, contents) pairs the plan for
/// `settings` on group `g` writes, in order, or the planner's error.
#[cfg(test)]
pub(crate) fn planned_writes(
    l: &crate::cgroup::Layout,
    settings: &[crate::cgroup::knob::Setting],
) -> Result<Vec<(String, String)>, String> {
    l.plan("g", settings)
        .map(|p| {
            p.iter()
                .flat_map(|a| &a.writes)
                .map(|w| {
                    let f = w.path.file_name().unwrap().to_string_lossy().into_owned();
                    (f, w.contents.clone())
                })
                .collect()
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that a fast and a slow reading share is read every tick (a
    /// kernel file holding both counters and limits, like `cpu.stat` may).
    #[test]
    fn hc_shared_file_is_fast_if_any_reading_is() {
        let t = tempfile::tempdir().unwrap();
        let put = |p: &Path, f: &str, c: &str| {
            std::fs::create_dir_all(p).unwrap();
            std::fs::write(p.join(f), c).unwrap();
        };
        put(t.path(), "cgroup.controllers", "cpu\n");
        put(t.path(), "cgroup.procs", "");
        put(&t.path().join("g"), "cgroup.procs", "");
        let layout = Layout::from_root(t.path()).unwrap();
        let read = |file: &'static str, slow: bool| Read {
            at: At::V2("cpu"),
            file,
            slow,
            apply: |_, _| {},
        };
        let decl = [
            read("both.slow-first", true),
            read("both.slow-first", false),
            read("both.fast-first", false),
            read("both.fast-first", true),
            read("slow.only", true),
            read("slow.only", true),
            read("fast.only", false),
        ];
        let plan = plan_of(decl.iter(), &layout, "g", None, &Roots::default());
        let got: Vec<(String, bool, usize)> = plan
            .reads
            .iter()
            .map(|p| {
                let f = p.path.file_name().unwrap().to_string_lossy().into_owned();
                (f, p.slow, p.applies.len())
            })
            .collect();
        let want = [
            ("both.slow-first", false, 2),
            ("both.fast-first", false, 2),
            ("slow.only", true, 2),
            ("fast.only", false, 1),
        ];
        assert_eq!(
            got,
            want.map(|(f, s, n)| (f.to_string(), s, n)),
            "(file, slow, declarations merged)"
        );
    }
}
