//! Names for groups cgdash did not make (issue 13): who runs a group
//! (docker, podman, containerd, CRI-O, a Kubernetes pod, a systemd unit,
//! LXC, nspawn, cgdash itself) and under what name, without asking any
//! daemon: the group's path says which engine and which container id
//! (`pattern`), the engine's own metadata on disk says the rest (`docker`,
//! `storage` for podman and CRI-O, `containerd` for containerd and the
//! kubelet's pod directories).
//!
//! A [`Resolver`] keeps what it found per group (path + inode), so names
//! are read when a group appears, not every tick: the per-refresh cost is a
//! hash lookup per group. A container whose metadata is not readable yet
//! is tried again a few times, further apart each time.
//!
//! Helper groups are marked by their kind so a view can fold them under
//! what they serve: `conmon` (podman's and CRI-O's container monitors:
//! same `container_id` and `name` as the container), `k8s-infra` (a pod's
//! sandbox / pause container: `name` and `pod` are the pod's),
//! `lxc-monitor` (same `name` as its `lxc` container). A group below a
//! container's group (e.g. podman's `libpod-<id>.scope/container`) has the
//! container's identity with `name` = `<container>/<rest of the path>`.

pub mod containerd;
pub mod docker;
pub mod lookup;
pub mod meta;
pub mod owner;
pub mod pattern;
pub mod storage;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::model::Identity;
use meta::Meta;
use pattern::Part;

pub use lookup::{find_group, resolve_group_arg, LookupError, Spec};
pub use owner::owner_hint;

/// The kinds (`Identity::kind`).
pub mod kind {
    pub const DOCKER: &str = "docker";
    pub const PODMAN: &str = "podman";
    pub const PODMAN_POD: &str = "podman-pod";
    pub const CONTAINERD: &str = "containerd";
    pub const CRIO: &str = "cri-o";
    pub const K8S_POD: &str = "k8s-pod";
    pub const K8S_INFRA: &str = "k8s-infra";
    pub const CONMON: &str = "conmon";
    pub const LXC: &str = "lxc";
    pub const LXC_MONITOR: &str = "lxc-monitor";
    pub const NSPAWN: &str = "nspawn";
    pub const SYSTEMD_UNIT: &str = "systemd-unit";
    pub const SYSTEMD_SLICE: &str = "systemd-slice";
    pub const SYSTEMD_SCOPE: &str = "systemd-scope";
    pub const CGDASH: &str = "cgdash";
}

/// Where the engines keep their metadata. Defaults are the engines' own
/// defaults for a root daemon; `cgdash --docker-root …` and the
/// `CGDASH_*_ROOT` variables change them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    /// Docker's `--data-root`.
    pub docker: PathBuf,
    /// containers/storage roots (podman, CRI-O): graph roots and run roots.
    pub storage: Vec<PathBuf>,
    /// containerd's state directory (`--state`).
    pub containerd: PathBuf,
    /// The kubelet's pod log directory.
    pub pod_logs: PathBuf,
}

impl Default for Roots {
    fn default() -> Roots {
        Roots {
            docker: "/var/lib/docker".into(),
            storage: vec![
                "/var/lib/containers/storage".into(),
                "/run/containers/storage".into(),
            ],
            containerd: "/run/containerd".into(),
            pod_logs: "/var/log/pods".into(),
        }
    }
}

/// The command-line flags of [`Roots`], each falling back to its
/// environment variable, then to the default.
#[derive(Clone, Debug, Default)]
pub struct RootFlags {
    pub docker: Option<PathBuf>,
    pub podman_root: Option<PathBuf>,
    pub podman_runroot: Option<PathBuf>,
    pub containerd: Option<PathBuf>,
    pub pod_logs: Option<PathBuf>,
}

impl Roots {
    /// Roots from flags, then `CGDASH_DOCKER_ROOT`, `CGDASH_PODMAN_ROOT`,
    /// `CGDASH_PODMAN_RUNROOT`, `CGDASH_CONTAINERD_ROOT`,
    /// `CGDASH_POD_LOG_ROOT`, then the defaults.
    pub fn from_flags(f: &RootFlags) -> Roots {
        Roots::from_flags_env(f, &|k| std::env::var_os(k).filter(|v| !v.is_empty()))
    }

    pub fn from_flags_env(
        f: &RootFlags,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Roots {
        let d = Roots::default();
        let pick = |flag: &Option<PathBuf>, var: &str, default: PathBuf| {
            flag.clone()
                .or_else(|| env(var).map(PathBuf::from))
                .unwrap_or(default)
        };
        Roots {
            docker: pick(&f.docker, "CGDASH_DOCKER_ROOT", d.docker),
            storage: vec![
                pick(&f.podman_root, "CGDASH_PODMAN_ROOT", d.storage[0].clone()),
                pick(
                    &f.podman_runroot,
                    "CGDASH_PODMAN_RUNROOT",
                    d.storage[1].clone(),
                ),
            ],
            containerd: pick(&f.containerd, "CGDASH_CONTAINERD_ROOT", d.containerd),
            pod_logs: pick(&f.pod_logs, "CGDASH_POD_LOG_ROOT", d.pod_logs),
        }
    }
}

impl Resolver {
    /// What the owner's commands for group `path` depend on beyond the
    /// settings and the host (docker's CPU flag style); the caller fills
    /// `cpu_v2` and `memory_now`.
    pub fn owner_context(&self, path: &str) -> owner::Context {
        let key = path.trim_matches('/');
        let (parent, comp) = key.rsplit_once('/').unwrap_or(("", key));
        let docker_cpu = match pattern::classify(parent, comp) {
            Some(Part::Docker(id) | Part::BareId(id)) => {
                let root = match self.user_roots(parent) {
                    Some(u) => u.docker,
                    None => self.roots.docker.clone(),
                };
                docker::cpu_style(&root, &id)
            }
            _ => owner::CpuStyle::Unset,
        };
        owner::Context {
            docker_cpu,
            ..owner::Context::default()
        }
    }
}

/// Kinds whose sub-groups inherit the identity (`name/rest`).
fn inherits(kind: &str) -> bool {
    [
        kind::DOCKER,
        kind::PODMAN,
        kind::CONTAINERD,
        kind::CRIO,
        kind::K8S_INFRA,
        kind::LXC,
        kind::NSPAWN,
        kind::CGDASH,
    ]
    .contains(&kind)
}

/// Tries for a container whose metadata could not be read, `2^n` ticks
/// apart (1, 2, 4, … 32: about a minute at the default refresh).
const RETRIES: u32 = 6;

struct Cached {
    id: Option<u64>,
    /// Shared with every snapshot that shows the group.
    identity: Arc<Identity>,
    seen: u64,
    /// `(tick of the next try, tries so far)`: the metadata was missing.
    retry: Option<(u64, u32)>,
}

/// Group path → identity, resolved once per group (see the module doc).
pub struct Resolver {
    roots: Roots,
    cache: HashMap<String, Cached>,
    tick: u64,
    storage: storage::Index,
    /// Rootless podman's stores, by uid.
    user_storage: HashMap<u32, storage::Index>,
    /// uid → home directory (the password database; tests inject one).
    home_of: fn(u32) -> Option<PathBuf>,
    pods: containerd::Pods,
    /// Metadata reads done (files opened): for tests and the bench.
    reads: u64,
}

fn arc(s: Option<String>) -> Option<Arc<str>> {
    s.map(Arc::from)
}

fn short(id: &str) -> Option<Arc<str>> {
    Some(Arc::from(&id[..id.len().min(12)]))
}

impl Resolver {
    pub fn new(roots: Roots) -> Resolver {
        Resolver {
            roots,
            cache: HashMap::new(),
            tick: 1,
            storage: storage::Index::default(),
            user_storage: HashMap::new(),
            home_of: |uid| {
                let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid));
                user.ok().flatten().map(|u| u.dir)
            },
            pods: containerd::Pods::default(),
            reads: 0,
        }
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Looks home directories up with `f` instead of the password database.
    pub fn with_home_lookup(mut self, f: fn(u32) -> Option<PathBuf>) -> Resolver {
        self.home_of = f;
        self
    }

    /// The uid of a `user@<uid>.service` above `parent`: rootless engines
    /// run their containers in the user's own service manager.
    fn user_above(parent: &str) -> Option<u32> {
        parent.split('/').find_map(|c| {
            c.strip_prefix("user@")?
                .strip_suffix(".service")?
                .parse()
                .ok()
        })
    }

    /// A rootless user's data roots: docker's `~/.local/share/docker`,
    /// podman's `~/.local/share/containers/storage` and
    /// `/run/user/<uid>/containers` (the engines' rootless defaults).
    fn user_roots(&self, parent: &str) -> Option<Roots> {
        let uid = Self::user_above(parent)?;
        let home = (self.home_of)(uid)?;
        let share = home.join(".local/share");
        Some(Roots {
            docker: share.join("docker"),
            storage: vec![
                share.join("containers/storage"),
                PathBuf::from(format!("/run/user/{uid}/containers")),
            ],
            ..self.roots.clone()
        })
    }

    /// Resolutions done so far (a group appearing, or a retry): the
    /// per-tick cost is zero when this doesn't move.
    pub fn resolutions(&self) -> u64 {
        self.reads
    }

    /// Starts a tick: groups not seen since the previous `end_tick` are
    /// forgotten there.
    pub fn begin_tick(&mut self) {
        self.tick += 1;
    }

    /// Ends a tick: drops the groups that were not asked about in it.
    pub fn end_tick(&mut self) {
        let tick = self.tick;
        self.cache.retain(|_, c| c.seen == tick);
    }

    /// The identity of group `path` (either form: `/`, `a/b`, `/a/b/`)
    /// whose directory has inode `id`. Cached per path and inode.
    pub fn identity(&mut self, path: &str, id: Option<u64>) -> Arc<Identity> {
        let key = path.trim_matches('/');
        let tick = self.tick;
        if let Some(c) = self.cache.get_mut(key) {
            if c.id == id {
                c.seen = tick;
                match c.retry {
                    Some((at, _)) if at <= tick => {}
                    _ => return Arc::clone(&c.identity),
                }
            }
        }
        let tries = match self.cache.get(key) {
            Some(c) if c.id == id => c.retry.map_or(0, |r| r.1),
            _ => 0,
        };
        let (identity, incomplete) = self.resolve(key);
        let identity = Arc::new(identity);
        let retry = (incomplete && tries < RETRIES).then(|| (tick + (1u64 << tries), tries + 1));
        self.cache.insert(
            key.to_string(),
            Cached {
                id,
                identity: Arc::clone(&identity),
                seen: tick,
                retry,
            },
        );
        identity
    }

    /// The cached identity of `key`, or a fresh resolution (not cached:
    /// its inode is not known here).
    fn parent_identity(&mut self, key: &str) -> Identity {
        if let Some(c) = self.cache.get(key) {
            return Identity::clone(&c.identity);
        }
        self.resolve(key).0
    }

    /// The identity of `key` and whether it names a container whose
    /// metadata could not be read (worth another try).
    fn resolve(&mut self, key: &str) -> (Identity, bool) {
        if key.is_empty() {
            return (Identity::default(), false);
        }
        let (parent, comp) = key.rsplit_once('/').unwrap_or(("", key));
        match pattern::classify(parent, comp) {
            Some(part) => self.resolve_part(part, parent, comp),
            None => {
                let p = self.parent_identity(parent);
                if !p.kind.as_deref().is_some_and(inherits) {
                    return (Identity::default(), false);
                }
                let name = p.name.as_ref().map(|n| Arc::from(format!("{n}/{comp}")));
                (Identity { name, ..p }, false)
            }
        }
    }

    /// The pod uid of the nearest `K8sPod` ancestor of `parent`, and its path.
    fn pod_above(parent: &str) -> Option<(String, &str)> {
        let mut p = parent;
        while !p.is_empty() {
            let (up, comp) = p.rsplit_once('/').unwrap_or(("", p));
            if let Some(Part::K8sPod(uid)) = pattern::classify(up, comp) {
                return Some((uid, p));
            }
            p = up;
        }
        None
    }

    fn container(
        &mut self,
        kind: &str,
        id: &str,
        meta: Option<Meta>,
        comp: &str,
        parent: &str,
    ) -> (Identity, bool) {
        let found = meta.is_some();
        let mut m = meta.unwrap_or_default();
        let pod = Self::pod_above(parent);
        if let Some((uid, _)) = &pod {
            if m.pod.is_none() || m.namespace.is_none() {
                if let Some((ns, name)) = self.pods.get(&self.roots.pod_logs, uid, self.tick) {
                    m.pod = m.pod.or(Some(name));
                    m.namespace = m.namespace.or(Some(ns));
                }
            }
        }
        let kind = if m.infra && kind != kind::CONMON {
            kind::K8S_INFRA
        } else {
            kind
        };
        let identity = Identity {
            kind: Some(Arc::from(kind)),
            name: arc(m.name.clone()),
            image: arc(m.image),
            container_id: short(id),
            pod: arc(m.pod.clone()),
            namespace: arc(m.namespace.clone()),
            unit: comp.ends_with(".scope").then(|| Arc::from(comp)),
        };
        // The pod's group was resolved before its containers: name it from
        // theirs when the kubelet's directories did not.
        if let (Some((_, pod_path)), Some(pod), Some(ns)) = (&pod, m.pod, m.namespace) {
            if let Some(c) = self.cache.get_mut(*pod_path) {
                if c.identity.name.is_none() {
                    let i = Arc::make_mut(&mut c.identity);
                    i.name = Some(Arc::from(pod.as_str()));
                    i.pod = Some(Arc::from(pod.as_str()));
                    i.namespace = Some(Arc::from(ns.as_str()));
                }
            }
        }
        (identity, !found)
    }

    fn resolve_part(&mut self, part: Part, parent: &str, comp: &str) -> (Identity, bool) {
        let named = |kind: &str, name: &str, unit: bool| Identity {
            kind: Some(Arc::from(kind)),
            name: Some(Arc::from(name)),
            unit: unit.then(|| Arc::from(comp)),
            ..Identity::default()
        };
        let tick = self.tick;
        match part {
            Part::Docker(id) => {
                self.reads += 1;
                let m = match self.user_roots(parent) {
                    Some(u) => docker::read(&u.docker, &id),
                    None => docker::read(&self.roots.docker, &id),
                };
                self.container(kind::DOCKER, &id, m, comp, parent)
            }
            Part::Podman(id) | Part::PodmanConmon(Some(id)) => {
                self.reads += 1;
                let conmon = comp.starts_with("libpod-conmon-");
                let m = match Self::user_above(parent) {
                    Some(uid) => match self.user_roots(parent) {
                        Some(u) => {
                            let index = self.user_storage.entry(uid).or_default();
                            index.get(&u.storage, &id, tick)
                        }
                        None => None,
                    },
                    None => self.storage.get(&self.roots.storage, &id, tick),
                };
                let kind = if conmon { kind::CONMON } else { kind::PODMAN };
                self.container(kind, &id, m, comp, parent)
            }
            Part::PodmanConmon(None) => (named(kind::CONMON, "conmon", false), false),
            Part::PodmanPod(id) => {
                let short = &id[..id.len().min(12)];
                let mut i = named(kind::PODMAN_POD, short, true);
                i.pod = Some(Arc::from(short));
                (i, false)
            }
            Part::Containerd(id) => {
                self.reads += 1;
                let m = containerd::read(&self.roots.containerd, &id);
                self.container(kind::CONTAINERD, &id, m, comp, parent)
            }
            Part::Crio(id) | Part::CrioConmon(id) => {
                self.reads += 1;
                let conmon = comp.starts_with("crio-conmon-");
                let m = storage::crio_config(&self.roots.storage, &id)
                    .or_else(|| self.storage.get(&self.roots.storage, &id, tick));
                let kind = if conmon { kind::CONMON } else { kind::CRIO };
                self.container(kind, &id, m, comp, parent)
            }
            Part::BareId(id) => {
                self.reads += 1;
                let found = if let Some(m) = docker::read(&self.roots.docker, &id) {
                    Some((kind::DOCKER, m))
                } else if let Some(m) = containerd::read(&self.roots.containerd, &id) {
                    Some((kind::CONTAINERD, m))
                } else {
                    storage::crio_config(&self.roots.storage, &id)
                        .or_else(|| self.storage.get(&self.roots.storage, &id, tick))
                        .map(|m| (kind::CRIO, m))
                };
                match found {
                    Some((kind, m)) => self.container(kind, &id, Some(m), comp, parent),
                    None => {
                        // Some engine's container, not known (yet): its
                        // short id and, under a pod, the pod.
                        let (mut i, _) = self.container(kind::DOCKER, &id, None, comp, parent);
                        i.kind = None;
                        (i, true)
                    }
                }
            }
            Part::K8sPod(uid) => {
                let mut i = Identity {
                    kind: Some(Arc::from(kind::K8S_POD)),
                    unit: comp.ends_with(".slice").then(|| Arc::from(comp)),
                    ..Identity::default()
                };
                if let Some((ns, pod)) = self.pods.get(&self.roots.pod_logs, &uid, tick) {
                    i.name = Some(Arc::from(pod.as_str()));
                    i.pod = Some(Arc::from(pod));
                    i.namespace = Some(Arc::from(ns));
                }
                (i, false)
            }
            Part::Lxc(name) => (named(kind::LXC, &name, false), false),
            Part::LxcMonitor(name) => (named(kind::LXC_MONITOR, &name, false), false),
            Part::Machine(name) => (named(kind::NSPAWN, &name, true), false),
            Part::Unit(kind) => (named(kind, comp, true), false),
            Part::Cgdash(name) => (named(kind::CGDASH, &name, false), false),
        }
    }
}

#[cfg(test)]
mod tests;
