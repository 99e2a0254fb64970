//! containerd: each task's OCI bundle is `<state>/io.containerd.runtime.v2.
//! task/<namespace>/<id>/config.json` (v1 shim: `io.containerd.runtime.v1.
//! linux/…`). Its CRI plugin annotates pods' containers
//! (`io.kubernetes.cri.container-name`, `sandbox-name`,
//! `sandbox-namespace`, `image-name`, `container-type`); nerdctl names its
//! own (`nerdctl/name`).
//!
//! Kubelet: `/var/log/pods/<namespace>_<pod>_<uid>/<container>/` names every
//! pod by its uid, whatever the runtime (namespaces and pod names are DNS
//! labels: no `_` in them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::meta::{read_json, some, Meta, OciConfig, FILE_CAP};

const TASK_DIRS: [&str; 2] = [
    "io.containerd.runtime.v2.task",
    "io.containerd.runtime.v1.linux",
];

/// The bundle annotations of container `id` under containerd state `root`.
pub fn read(root: &Path, id: &str) -> Option<Meta> {
    for t in TASK_DIRS {
        let Ok(namespaces) = std::fs::read_dir(root.join(t)) else {
            continue;
        };
        for ns in namespaces.filter_map(|e| e.ok()) {
            let p = ns.path().join(id).join("config.json");
            if let Some(c) = read_json::<OciConfig>(&p, FILE_CAP) {
                return Some(annotations(c));
            }
        }
    }
    None
}

fn annotations(c: OciConfig) -> Meta {
    let a = c.annotations.unwrap_or_default();
    let get = |k: &str| some(a.get(k));
    let infra = get("io.kubernetes.cri.container-type").as_deref() == Some("sandbox");
    let pod = get("io.kubernetes.cri.sandbox-name");
    let name = if infra {
        pod.clone()
    } else {
        get("io.kubernetes.cri.container-name").or_else(|| get("nerdctl/name"))
    };
    Meta {
        name,
        image: get("io.kubernetes.cri.image-name"),
        pod,
        namespace: get("io.kubernetes.cri.sandbox-namespace"),
        infra,
    }
}

/// Pods by uid, from the kubelet's log directories: `(namespace, pod)`.
/// Re-listed when a uid is not found (at most once per tick).
#[derive(Default)]
pub struct Pods {
    by_uid: HashMap<String, (String, String)>,
    listed_at: Option<u64>,
}

impl Pods {
    pub fn get(&mut self, root: &PathBuf, uid: &str, tick: u64) -> Option<(String, String)> {
        if let Some(p) = self.by_uid.get(uid) {
            return Some(p.clone());
        }
        if self.listed_at == Some(tick) {
            return None;
        }
        self.listed_at = Some(tick);
        self.by_uid.clear();
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let mut parts = name.splitn(3, '_');
            if let (Some(ns), Some(pod), Some(uid)) = (parts.next(), parts.next(), parts.next()) {
                self.by_uid
                    .insert(uid.to_string(), (ns.to_string(), pod.to_string()));
            }
        }
        self.by_uid.get(uid).cloned()
    }
}
