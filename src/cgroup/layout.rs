//! Which cgroup hierarchies exist and where: v1 (one per controller or
//! co-mounted like `cpu,cpuacct`), v2 (unified), or hybrid (both).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::controllers::known_v1;
use super::error::CgroupError;
use super::parse;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    V1,
    V2,
    Hybrid,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::V1 => "v1",
            Mode::V2 => "v2",
            Mode::Hybrid => "hybrid",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub version: Version,
    /// Where it is mounted (e.g. `/sys/fs/cgroup/cpu`).
    pub mount: PathBuf,
    /// v1: the controllers of this mount; v2: those in the root's `cgroup.controllers`.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of `group` (relative path, `""` = root) in this hierarchy.
    pub fn dir(&self, group: &str) -> PathBuf {
        if group.is_empty() {
            self.mount.clone()
        } else {
            self.mount.join(group)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub mode: Mode,
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    /// Reads `/proc/self/mountinfo`.
    pub fn detect() -> Result<Layout, CgroupError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Layout::from_mountinfo(&text).ok_or_else(|| CgroupError::NoCgroupFs(path.to_path_buf()))
    }

    /// Builds a layout from mountinfo text. `None` when it has no cgroup mount
    /// with a controller cgdash knows.
    pub fn from_mountinfo(text: &str) -> Option<Layout> {
        let mut hs: Vec<Hierarchy> = Vec::new();
        for m in parse::mountinfo(text) {
            let h = match m.fstype.as_str() {
                "cgroup2" => Hierarchy {
                    version: Version::V2,
                    controllers: v2_controllers(&m.mount_point),
                    mount: m.mount_point,
                },
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| known_v1(o))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue; // named hierarchy (name=systemd) or devices/blkio only
                    }
                    Hierarchy {
                        version: Version::V1,
                        mount: m.mount_point,
                        controllers,
                    }
                }
                _ => continue,
            };
            // The same hierarchy mounted twice (bind mounts): keep the first.
            if hs
                .iter()
                .any(|o| o.version == h.version && o.controllers == h.controllers)
            {
                continue;
            }
            hs.push(h);
        }
        Layout::from_hierarchies(hs)
    }

    /// Builds a layout from a directory laid out like `/sys/fs/cgroup`:
    /// a v2 root itself, or v1 controller directories (`cpu`, `cpu,cpuacct`,
    /// …) plus optionally `unified` (hybrid).
    pub fn from_root(root: &Path) -> Result<Layout, CgroupError> {
        if root.join("cgroup.controllers").exists() {
            return Layout::from_hierarchies(vec![Hierarchy {
                version: Version::V2,
                controllers: v2_controllers(root),
                mount: root.to_path_buf(),
            }])
            .ok_or_else(|| CgroupError::NotACgroupRoot(root.to_path_buf()));
        }
        let entries = fs::read_dir(root).map_err(|source| CgroupError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let mut names: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            // `cpu -> cpu,cpuacct` symlinks on co-mounted hosts name the same mount.
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        names.sort();
        let mut hs = Vec::new();
        for (name, path) in names {
            if path.join("cgroup.controllers").exists() {
                hs.push(Hierarchy {
                    version: Version::V2,
                    controllers: v2_controllers(&path),
                    mount: path,
                });
            } else if path.join("cgroup.procs").exists() {
                let controllers: Vec<String> = name
                    .split(',')
                    .filter(|o| known_v1(o))
                    .map(str::to_string)
                    .collect();
                if !controllers.is_empty() {
                    hs.push(Hierarchy {
                        version: Version::V1,
                        mount: path,
                        controllers,
                    });
                }
            }
        }
        Layout::from_hierarchies(hs).ok_or_else(|| CgroupError::NotACgroupRoot(root.to_path_buf()))
    }

    fn from_hierarchies(hierarchies: Vec<Hierarchy>) -> Option<Layout> {
        let v1 = hierarchies.iter().any(|h| h.version == Version::V1);
        let v2 = hierarchies.iter().any(|h| h.version == Version::V2);
        let mode = match (v1, v2) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::V1,
            (false, true) => Mode::V2,
            (false, false) => return None,
        };
        Some(Layout { mode, hierarchies })
    }

    /// The hierarchy that serves `controller`: a v1 mount that has it, else the
    /// v2 hierarchy if its root offers it.
    pub fn hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.version == Version::V1 && h.has(controller))
            .or_else(|| {
                self.hierarchies
                    .iter()
                    .find(|h| h.version == Version::V2 && h.has(controller))
            })
    }

    /// The unified (v2) hierarchy, if mounted (on hybrid hosts: `…/unified`).
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.version == Version::V2)
    }

    /// The hierarchy whose paths name a process's group: `cpu` on v1 (the one
    /// users limit), else the first v1 mount; the unified one on v2.
    pub fn primary(&self) -> &Hierarchy {
        self.hierarchy("cpu")
            .filter(|h| h.version == Version::V1 || self.mode == Mode::V2)
            .or_else(|| self.hierarchies.iter().find(|h| h.version == Version::V1))
            .unwrap_or(&self.hierarchies[0])
    }

    /// Hierarchies cgdash walks to list groups: every v1 mount with a known
    /// controller, and the unified one.
    pub fn walked(&self) -> impl Iterator<Item = &Hierarchy> {
        self.hierarchies.iter()
    }

    /// Which version serves `controller` (for translating knobs).
    pub fn version_of(&self, controller: &str) -> Option<Version> {
        self.hierarchy(controller).map(|h| h.version)
    }
}

/// Controllers available at a v2 hierarchy's root. A missing file (fixture
/// without it) means none.
fn v2_controllers(mount: &Path) -> Vec<String> {
    let mut c: Vec<String> = fs::read_to_string(mount.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    c.sort();
    c
}
