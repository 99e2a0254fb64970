//! What to launch ([`LaunchSpec`]) and the checks made before anything is
//! created: name, namespaces, command lookup (host PATH or inside the rootfs).

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::LaunchError;
use crate::cgroup::Setting;

/// The namespaces cgdash creates for a workload. By default all but `User`
/// (created only when not root); `LaunchSpec::share` opts out per namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    Pid,
    Mount,
    Uts,
    Ipc,
    Net,
    Cgroup,
    User,
}

impl Namespace {
    pub const ALL: [Namespace; 7] = [
        Namespace::Pid,
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Cgroup,
        Namespace::User,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Namespace::Pid => "pid",
            Namespace::Mount => "mount",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::User => "user",
        }
    }

    /// Parses a `--share` item (`mnt` and `ns` are accepted for mount).
    pub fn parse(s: &str) -> Result<Namespace, LaunchError> {
        let s = s.trim().to_ascii_lowercase();
        Ok(match s.as_str() {
            "pid" => Namespace::Pid,
            "mount" | "mnt" | "ns" => Namespace::Mount,
            "uts" | "hostname" => Namespace::Uts,
            "ipc" => Namespace::Ipc,
            "net" | "network" => Namespace::Net,
            "cgroup" => Namespace::Cgroup,
            "user" => Namespace::User,
            _ => return Err(LaunchError::UnknownNamespace(s)),
        })
    }

    /// Parses a whole `--share` list.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Namespace>, LaunchError> {
        items
            .iter()
            .filter(|s| !s.as_ref().trim().is_empty())
            .map(|s| Namespace::parse(s.as_ref()))
            .collect()
    }
}

/// Where the workload's stdin/stdout/stderr go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StdioMode {
    /// The caller's terminal (`cgdash run`). The workload stays in the
    /// caller's process group, so it can read the terminal and gets Ctrl-C.
    #[default]
    Inherit,
    /// `/dev/null`, in a session of its own (the dashboard owns the terminal).
    Null,
    /// Like `Null`, but stdout and stderr go to this file descriptor (a pipe
    /// the dashboard keeps the last lines of). `launch` duplicates it; the
    /// caller keeps it open until `launch` returns, then closes its copy.
    Pipe(std::os::fd::RawFd),
}

impl StdioMode {
    /// Whether the workload gets a session of its own, away from the terminal.
    pub fn detached(self) -> bool {
        matches!(self, StdioMode::Null | StdioMode::Pipe(_))
    }
}

/// Everything `launch` needs. Build it with [`LaunchSpec::new`] and set the
/// fields you need, so new fields don't break callers.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// Group name under `cgdash/`; default: the command's name plus a number.
    pub name: Option<String>,
    /// Program and arguments. A name without `/` is looked up in PATH (or in
    /// the rootfs's /bin, /usr/bin, … when `rootfs` is set).
    pub command: Vec<String>,
    /// Limits written to the group before the workload starts.
    pub settings: Vec<Setting>,
    /// Namespaces to share with the caller instead of creating.
    pub share: Vec<Namespace>,
    /// Hostname in the new uts namespace (default: the name).
    pub hostname: Option<String>,
    /// Directory tree to pivot_root into.
    pub rootfs: Option<PathBuf>,
    /// Leave the group in place after the workload exits.
    pub keep: bool,
    pub stdio: StdioMode,
    /// The cgdash binary that runs the `cgdash-launch` helper. Default
    /// `/proc/self/exe`, which is right for the cgdash binary itself; other
    /// programs linking the library (tests) point it at a cgdash binary.
    pub helper: Option<PathBuf>,
    /// Keep every capability (see `caps.rs`) and allow privilege gains by
    /// exec. Off by default: a root workload with `CAP_SYS_ADMIN` can mount
    /// a fresh cgroupfs and lift its own limits.
    pub privileged: bool,
    /// The workload's environment (`KEY=VALUE`); `None` inherits the caller's.
    /// Set from an image's config (`--image`).
    pub env: Option<Vec<String>>,
    /// Working directory inside (made if missing); default `/` with a rootfs.
    pub cwd: Option<String>,
    /// Run as (uid, gid, supplementary groups) inside; `None` keeps root.
    pub user: Option<(u32, u32, Vec<u32>)>,
    /// Mount an overlay on `rootfs` first (an image's writable layer).
    pub overlay: Option<Overlay>,
    /// Stem of the default name instead of the command's (`--image`: the
    /// image's name, so the dashboard shows `app-1`).
    pub name_stem: Option<String>,
    /// `--net veth`: a veth pair on a cgdash bridge (needs root and a
    /// network namespace of its own); `None`: `lo` only, or the host's.
    pub net: Option<crate::net::VethSpec>,
    /// With `net`: the workload's `/etc/hosts` as a host path (an image
    /// run's writable tree), to get `ADDR HOSTNAME` once the address is known.
    pub etc_hosts: Option<PathBuf>,
}

/// An overlay mounted by the workload's init, in its own mount namespace (so
/// it never outlives the workload): `lower` read-only, writes go to `upper`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// `userxattr`: needed for an overlay mounted in a user namespace.
    pub userxattr: bool,
}

impl Overlay {
    /// The mount options; `None` when a path holds a character the option
    /// syntax cannot carry (`,` `:` or a newline).
    pub fn options(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (k, p) in [
            ("lowerdir", &self.lower),
            ("upperdir", &self.upper),
            ("workdir", &self.work),
        ] {
            let s = p.to_str()?;
            if s.contains([',', ':', '\\', '\n']) {
                return None;
            }
            parts.push(format!("{k}={s}"));
        }
        if self.userxattr {
            parts.push("userxattr".into());
        }
        Some(parts.join(","))
    }
}

impl LaunchSpec {
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> LaunchSpec {
        LaunchSpec {
            name: None,
            command: command.into_iter().map(Into::into).collect(),
            settings: Vec::new(),
            share: Vec::new(),
            hostname: None,
            rootfs: None,
            keep: false,
            stdio: StdioMode::Inherit,
            helper: None,
            privileged: false,
            env: None,
            cwd: None,
            user: None,
            overlay: None,
            name_stem: None,
            net: None,
            etc_hosts: None,
        }
    }

    /// Whether namespace `ns` is created for the workload (as `euid_root` or not).
    pub fn creates(&self, ns: Namespace, euid_root: bool) -> bool {
        if ns == Namespace::User && euid_root {
            return false;
        }
        !self.share.contains(&ns)
    }
}

/// What the parent hands the `cgdash-launch` helper (as JSON, in the
/// environment: see `HELPER_ARGV0` and `SPEC_ENV`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelperSpec {
    pub name: String,
    /// argv of the workload; `exe` is the resolved program (as seen after
    /// pivot_root when there is a rootfs).
    pub argv: Vec<String>,
    pub exe: String,
    pub namespaces: Vec<Namespace>,
    pub hostname: Option<String>,
    pub rootfs: Option<PathBuf>,
    /// Map this uid/gid to root in a new user namespace.
    pub map_user: Option<(u32, u32)>,
    /// Cgroup hierarchies to mount inside (v1 options or `cgroup2`), as
    /// `(fstype, options, path relative to /sys/fs/cgroup)`.
    pub cgroup_mounts: Vec<(String, String, String)>,
    pub new_session: bool,
    /// stdin is the caller's terminal and the caller is in its foreground:
    /// the workload gets a process group of its own and the terminal, so
    /// Ctrl-C and job control reach it (and only it), as if run directly.
    pub foreground_tty: bool,
    /// The workload keeps every capability (`--privileged`).
    pub privileged: bool,
    /// Environment of the workload (`None`: inherited).
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub user: Option<(u32, u32, Vec<u32>)>,
    #[serde(default)]
    pub overlay: Option<Overlay>,
    /// The launcher sets up a veth in the new network namespace: the helper
    /// says `netns` and waits for one byte on the lifeline before going on.
    #[serde(default)]
    pub wait_net: bool,
    /// fd the helper and init report on (lines, see `status.rs`).
    pub status_fd: i32,
    /// fd that reaches EOF when the launching process dies.
    pub lifeline_fd: i32,
}

/// Checks a workload name: it becomes a directory (`cgdash/NAME`) and a
/// state file name, so only a safe alphabet.
pub fn validate_name(name: &str) -> Result<(), LaunchError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(LaunchError::BadName(name.to_string()))
    }
}

/// A default name stem from the command: its file name, reduced to the safe alphabet.
pub fn name_stem(command: &str) -> String {
    let base = command.rsplit('/').next().unwrap_or(command);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let s = s.trim_start_matches(['.', '-']).to_string();
    if s.is_empty() {
        "workload".into()
    } else {
        s
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds the program on the host: a path is taken as is, a bare name is
/// searched in `PATH`. Returns the absolute path to exec.
pub fn resolve_host(command: &str) -> Result<PathBuf, LaunchError> {
    if command.contains('/') {
        let p = PathBuf::from(command);
        if !p.exists() {
            return Err(LaunchError::CommandNotFound(command.to_string()));
        }
        if !is_executable(&p) {
            return Err(LaunchError::NotExecutable(p));
        }
        return Ok(std::path::absolute(&p).unwrap_or(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut found_non_exec = None;
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(command);
        if is_executable(&cand) {
            return Ok(std::path::absolute(&cand).unwrap_or(cand));
        }
        if cand.is_file() && found_non_exec.is_none() {
            found_non_exec = Some(cand);
        }
    }
    match found_non_exec {
        Some(p) => Err(LaunchError::NotExecutable(p)),
        None => Err(LaunchError::CommandNotFound(command.to_string())),
    }
}

/// Directories searched for a bare command name inside a rootfs.
const ROOTFS_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Checks that `rootfs` is a usable tree.
pub fn check_rootfs(rootfs: &Path) -> Result<PathBuf, LaunchError> {
    let bad = |why: &str| LaunchError::BadRootfs {
        path: rootfs.to_path_buf(),
        why: why.to_string(),
    };
    let meta = std::fs::metadata(rootfs).map_err(|e| bad(&e.to_string()))?;
    if !meta.is_dir() {
        return Err(bad("not a directory"));
    }
    let abs = std::fs::canonicalize(rootfs).map_err(|e| bad(&e.to_string()))?;
    if abs == Path::new("/") {
        return Err(bad(
            "the host's / is not a separate tree (leave out --rootfs instead)",
        ));
    }
    Ok(abs)
}

/// Finds the program inside `rootfs` and returns its path as the workload
/// will see it after pivot_root (e.g. `/bin/sh`). Symlinks are followed
/// inside the tree, the way they resolve after the pivot.
pub fn resolve_in_rootfs(rootfs: &Path, command: &str) -> Result<String, LaunchError> {
    let candidates: Vec<String> = if command.contains('/') {
        vec![if command.starts_with('/') {
            command.to_string()
        } else {
            format!("/{command}")
        }]
    } else {
        ROOTFS_PATH
            .iter()
            .map(|d| format!("{d}/{command}"))
            .collect()
    };
    for c in &candidates {
        if let Some(host) = follow_in_root(rootfs, c) {
            if is_executable(&host) {
                return Ok(c.clone());
            }
            if host.is_file() {
                return Err(LaunchError::NotExecutable(host));
            }
        }
    }
    Err(LaunchError::CommandNotInRootfs {
        command: command.to_string(),
        rootfs: rootfs.to_path_buf(),
        looked: candidates.join(", "),
    })
}

/// Resolves `inner` (absolute, as seen inside the rootfs) to a host path,
/// following symlinks relative to the rootfs. `None` if it does not exist.
fn follow_in_root(root: &Path, inner: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = split_rev(inner);
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let mut host = root.to_path_buf();
        for p in &parts {
            host.push(p);
        }
        host.push(&part);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            let t = target.to_string_lossy().into_owned();
            if target.is_absolute() {
                parts.clear();
            }
            todo.extend(split_rev(&t));
        } else {
            parts.push(part);
        }
    }
    let mut host = root.to_path_buf();
    for p in &parts {
        host.push(p);
    }
    host.exists().then_some(host)
}

fn split_rev(p: &str) -> Vec<String> {
    let mut v: Vec<String> = Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("demo").is_ok());
        assert!(validate_name("test-123-x.y_z").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a b", "..", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(name_stem("/usr/bin/python3"), "python3");
        assert_eq!(name_stem("a b"), "a-b");
        assert_eq!(name_stem("..."), "workload");
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            Namespace::parse_list(&["net", "IPC", "mnt"]).unwrap(),
            vec![Namespace::Net, Namespace::Ipc, Namespace::Mount]
        );
        assert!(Namespace::parse("nope").is_err());
        let mut s = LaunchSpec::new(["true"]);
        assert!(s.creates(Namespace::Net, true));
        assert!(!s.creates(Namespace::User, true));
        assert!(s.creates(Namespace::User, false));
        s.share.push(Namespace::Net);
        assert!(!s.creates(Namespace::Net, true));
    }

    #[test]
    fn rootfs_lookup_follows_links_inside_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        let bb = root.join("bin/busybox");
        std::fs::write(&bb, b"#!").unwrap();
        std::fs::set_permissions(&bb, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
        // An absolute link must resolve inside the tree, not on the host.
        std::os::unix::fs::symlink("/bin/busybox", root.join("usr/bin/env")).unwrap();
        std::fs::write(root.join("bin/data"), b"x").unwrap();
        assert_eq!(resolve_in_rootfs(root, "sh").unwrap(), "/bin/sh");
        assert_eq!(resolve_in_rootfs(root, "/bin/sh").unwrap(), "/bin/sh");
        assert_eq!(resolve_in_rootfs(root, "env").unwrap(), "/usr/bin/env");
        assert!(matches!(
            resolve_in_rootfs(root, "bash"),
            Err(LaunchError::CommandNotInRootfs { .. })
        ));
        assert!(matches!(
            resolve_in_rootfs(root, "/bin/data"),
            Err(LaunchError::NotExecutable(_))
        ));
        assert!(check_rootfs(&root.join("bin/sh")).is_err());
        assert!(check_rootfs(Path::new("/nonexistent-cgdash")).is_err());
        assert!(check_rootfs(Path::new("/")).is_err());
    }

    #[test]
    fn host_lookup() {
        assert!(resolve_host("sh").unwrap().is_absolute());
        assert!(matches!(
            resolve_host("cgdash-no-such-command"),
            Err(LaunchError::CommandNotFound(_))
        ));
        assert!(matches!(
            resolve_host("/nonexistent/x"),
            Err(LaunchError::CommandNotFound(_))
        ));
    }
}
