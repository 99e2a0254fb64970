//! `KIND:NAME` on the command line: `docker:web`, `podman:api`,
//! `pod:NAMESPACE/NAME`, `unit:nginx.service`, `cgdash:demo`, … → the
//! group's path. Unknown or ambiguous names are errors listing the
//! candidates (bad input: exit 2). A leading `/` makes an argument a path
//! whatever it looks like (`/docker:web` is the group named so).

use std::fmt;

use super::{kind, Resolver, Roots};
use crate::cgroup::{display_path, validate_group_name, Layout};
use crate::model::Identity;

/// A parsed `KIND:NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The word before the colon, normalised (`crio` → `cri-o`, …).
    pub kind: &'static str,
    pub name: String,
}

/// The words `KIND:` accepts, and the identity kinds each matches.
const SPEC_KINDS: &[(&str, &[&str], &[&str])] = &[
    ("docker", &[], &[kind::DOCKER]),
    ("podman", &[], &[kind::PODMAN]),
    ("containerd", &[], &[kind::CONTAINERD]),
    ("cri-o", &["crio"], &[kind::CRIO]),
    ("pod", &["k8s"], &[kind::K8S_POD, kind::PODMAN_POD]),
    ("unit", &["systemd"], &[]),
    ("lxc", &[], &[kind::LXC]),
    ("nspawn", &["machine"], &[kind::NSPAWN]),
    ("cgdash", &[], &[kind::CGDASH]),
];

/// The `KIND:` words, for messages and help.
pub fn spec_kinds() -> String {
    SPEC_KINDS
        .iter()
        .map(|(k, _, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Spec {
    /// `KIND:NAME` with a known kind and a non-empty name; anything else
    /// (a path) is `None`.
    pub fn parse(arg: &str) -> Option<Spec> {
        let (k, name) = arg.split_once(':')?;
        let k = k.to_ascii_lowercase();
        let (kind, _, _) = SPEC_KINDS
            .iter()
            .find(|(w, aliases, _)| *w == k || aliases.contains(&k.as_str()))?;
        let name = name.trim();
        (!name.is_empty()).then(|| Spec {
            kind,
            name: name.to_string(),
        })
    }

    fn kinds(&self) -> &'static [&'static str] {
        SPEC_KINDS
            .iter()
            .find(|(w, _, _)| *w == self.kind)
            .map_or(&[], |(_, _, k)| k)
    }

    /// Whether the group `path` with `identity` is the one named.
    pub fn matches(&self, path: &str, i: &Identity) -> bool {
        let q = self.name.as_str();
        if self.kind == "unit" {
            return i
                .unit
                .as_deref()
                .is_some_and(|u| u == q || u.strip_suffix(".service") == Some(q));
        }
        let Some(k) = i.kind.as_deref() else {
            return false;
        };
        if !self.kinds().contains(&k) {
            return false;
        }
        let name = i.name.as_deref();
        if name == Some(q) {
            return true;
        }
        let (pod, ns) = (i.pod.as_deref(), i.namespace.as_deref());
        if k == kind::K8S_POD {
            return ns.zip(name).is_some_and(|(ns, n)| q == format!("{ns}/{n}"));
        }
        if let (Some(pod), Some(n)) = (pod, name) {
            if q == format!("{pod}/{n}") || ns.is_some_and(|ns| q == format!("{ns}/{pod}/{n}")) {
                return true;
            }
        }
        // A container id prefix, as the engines' CLIs take it.
        let hex = q.len() >= 4 && q.bytes().all(|b| b.is_ascii_hexdigit());
        if hex {
            let last = path.rsplit('/').next().unwrap_or("");
            return i.container_id.as_deref().is_some_and(|c| c.starts_with(q))
                && (q.len() <= 12 || last.contains(q));
        }
        false
    }
}

/// What a group is called on the command line: `docker:web`,
/// `pod:NAMESPACE/NAME`, `containerd:NS/POD/NAME`, `unit:cron.service`;
/// `None` when it has no name. Helper groups (conmon, monitors, sandboxes)
/// get their kind as the word, for display only.
pub fn label(i: &Identity) -> Option<String> {
    let k = i.kind.as_deref()?;
    let name = i.name.as_deref()?;
    Some(match k {
        kind::SYSTEMD_UNIT | kind::SYSTEMD_SLICE | kind::SYSTEMD_SCOPE => format!("unit:{name}"),
        kind::K8S_POD => match i.namespace.as_deref() {
            Some(ns) => format!("pod:{ns}/{name}"),
            None => format!("pod:{name}"),
        },
        kind::PODMAN_POD => format!("pod:{name}"),
        _ => match (i.namespace.as_deref(), i.pod.as_deref()) {
            (Some(ns), Some(pod)) if k != kind::K8S_INFRA => format!("{k}:{ns}/{pod}/{name}"),
            _ => format!("{k}:{name}"),
        },
    })
}

/// Why a `KIND:NAME` names no single group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// Not a valid group path (neither a known `KIND:NAME`).
    BadPath(String),
    /// Nothing of that kind has that name; `candidates`: what there is.
    Unknown {
        spec: String,
        candidates: Vec<String>,
    },
    /// Several groups have that name: `(label, path)` of each.
    Ambiguous {
        spec: String,
        matches: Vec<(String, String)>,
    },
}

/// At most this many candidates are listed.
const LIST_MAX: usize = 20;

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::BadPath(e) => f.write_str(e),
            LookupError::Unknown { spec, candidates } => {
                write!(f, "no group is `{spec}`")?;
                if candidates.is_empty() {
                    write!(
                        f,
                        " (none of that kind here; KIND is one of {})",
                        spec_kinds()
                    )
                } else {
                    let more = candidates.len().saturating_sub(LIST_MAX);
                    let list: Vec<&str> = candidates
                        .iter()
                        .take(LIST_MAX)
                        .map(String::as_str)
                        .collect();
                    write!(f, "; there are: {}", list.join(", "))?;
                    if more > 0 {
                        write!(f, " and {more} more")?;
                    }
                    Ok(())
                }
            }
            LookupError::Ambiguous { spec, matches } => {
                write!(
                    f,
                    "`{spec}` names {} groups; give one by path:",
                    matches.len()
                )?;
                for (label, path) in matches.iter().take(LIST_MAX) {
                    write!(f, "\n  {path}  ({label})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LookupError {}

/// The group (internal path form) `spec` names among `layout`'s groups.
pub fn find_group(layout: &Layout, roots: &Roots, spec: &Spec) -> Result<String, LookupError> {
    let text = format!("{}:{}", spec.kind, spec.name);
    let mut resolver = Resolver::new(roots.clone());
    let mut matches: Vec<(String, Identity)> = Vec::new();
    let mut candidates = Vec::new();
    let groups = layout.list_groups();
    // Twice: a pod's group is named from its containers' metadata when
    // the kubelet's directories don't name it, and they come after it.
    for g in &groups {
        resolver.identity(g, None);
    }
    for g in groups {
        let i = resolver.identity(&g, None);
        if spec.matches(&g, &i) {
            // A sub-group of a match (`libpod-<id>.scope/container`) is
            // part of it, not another candidate.
            let inside = matches.iter().any(|(m, _)| {
                g.strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            });
            if !inside {
                matches.push((g, Identity::clone(&i)));
            }
        } else if let Some(l) = label(&i) {
            let same_kind = match spec.kind {
                "unit" => i.unit.is_some() && l.starts_with("unit:"),
                _ => i.kind.as_deref().is_some_and(|k| spec.kinds().contains(&k)),
            };
            // Sub-groups (`web/container`) are not names to offer.
            let top = !i.name.as_deref().is_some_and(|n| n.contains('/'))
                || i.kind.as_deref() == Some(kind::SYSTEMD_UNIT);
            if same_kind && top && !candidates.contains(&l) {
                candidates.push(l);
            }
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0).0),
        0 => Err(LookupError::Unknown {
            spec: text,
            candidates,
        }),
        _ => Err(LookupError::Ambiguous {
            spec: text,
            matches: matches
                .into_iter()
                .map(|(p, i)| (label(&i).unwrap_or_default(), display_path(&p).to_string()))
                .collect(),
        }),
    }
}

/// A command's GROUP argument: a `KIND:NAME` (see [`Spec`]) or a path.
/// Returns the group's internal path form.
pub fn resolve_group_arg(layout: &Layout, roots: &Roots, arg: &str) -> Result<String, LookupError> {
    if !arg.starts_with('/') {
        if let Some(spec) = Spec::parse(arg) {
            return find_group(layout, roots, &spec);
        }
    }
    validate_group_name(arg).map_err(|e| LookupError::BadPath(e.to_string()))
}
