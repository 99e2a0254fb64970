//! containers/storage, the store podman and CRI-O share: each graph driver
//! keeps the list of its containers in `<root>/<driver>-containers/
//! containers.json` (`id`, `names`, `metadata`: a JSON string podman and
//! CRI-O fill with `image-name`, CRI-O also `pod-name`, `metadata-name`),
//! and containers created as volatile (podman's transient store) in
//! `volatile-containers.json`, beside it or under the run root. The driver
//! is whatever the store was set up with: `overlay`, `vfs` (checked:
//! `podman --storage-driver vfs` writes `<root>/vfs-containers/
//! containers.json`), `btrfs`, …: every `*-containers` directory is read.
//!
//! CRI-O also writes each container's OCI bundle `config.json` under
//! `<driver>-containers/<id>/userdata/`, with the pod's names as annotations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::meta::{kubelet_name, read_json, some, Meta, OciConfig, FILE_CAP, LIST_CAP};

#[derive(Deserialize)]
struct Stored {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    metadata: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StoredMeta {
    #[serde(rename = "image-name")]
    image_name: String,
    #[serde(rename = "pod-name")]
    pod_name: String,
    #[serde(rename = "metadata-name")]
    metadata_name: String,
}

/// Every list file under the roots, with what identifies its version.
type Signature = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// The containers of every store under the roots, by full id; re-read when
/// one of the list files changed (checked at most once per `tick`).
#[derive(Default)]
pub struct Index {
    by_id: HashMap<String, Meta>,
    signature: Signature,
    checked_at: Option<u64>,
}

fn list_files(roots: &[PathBuf]) -> Signature {
    let mut out = Vec::new();
    for root in roots {
        let Ok(dir) = std::fs::read_dir(root) else {
            continue;
        };
        let mut stores: Vec<PathBuf> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with("-containers"))
            .map(|e| e.path())
            .collect();
        stores.sort();
        for s in stores {
            for f in ["containers.json", "volatile-containers.json"] {
                let p = s.join(f);
                let version = std::fs::metadata(&p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())));
                if version.is_some() {
                    out.push((p, version));
                }
            }
        }
    }
    out
}

fn meta_of(c: &Stored) -> Meta {
    let sm: StoredMeta = serde_json::from_str(&c.metadata).unwrap_or_default();
    let name = c.names.first().cloned();
    let mut m = Meta {
        name: name.clone().filter(|n| !n.is_empty()),
        image: Some(sm.image_name).filter(|s| !s.is_empty()),
        pod: Some(sm.pod_name).filter(|s| !s.is_empty()),
        ..Meta::default()
    };
    if let Some((container, pod, ns)) = name.as_deref().and_then(kubelet_name) {
        m.infra = container == "POD";
        m.name = Some(if m.infra { pod.clone() } else { container });
        m.pod = m.pod.or(Some(pod));
        m.namespace = Some(ns);
    } else if !sm.metadata_name.is_empty() {
        m.name = Some(sm.metadata_name);
    }
    m
}

impl Index {
    /// Re-reads the lists if any changed since the last check (not more
    /// than once per `tick`).
    fn refresh(&mut self, roots: &[PathBuf], tick: u64) {
        if self.checked_at == Some(tick) {
            return;
        }
        self.checked_at = Some(tick);
        let sig = list_files(roots);
        if sig == self.signature {
            return;
        }
        self.by_id.clear();
        for (path, _) in &sig {
            let list: Vec<Stored> = read_json(path, LIST_CAP).unwrap_or_default();
            for c in &list {
                self.by_id.insert(c.id.clone(), meta_of(c));
            }
        }
        self.signature = sig;
    }

    /// The stored metadata of container `id`, reading the lists if needed.
    pub fn get(&mut self, roots: &[PathBuf], id: &str, tick: u64) -> Option<Meta> {
        self.refresh(roots, tick);
        self.by_id.get(id).cloned()
    }
}

/// CRI-O's bundle annotations for container `id`, from any store.
pub fn crio_config(roots: &[PathBuf], id: &str) -> Option<Meta> {
    for root in roots {
        let Ok(dir) = std::fs::read_dir(root) else {
            continue;
        };
        for e in dir.filter_map(|e| e.ok()) {
            if !e.file_name().to_string_lossy().ends_with("-containers") {
                continue;
            }
            let p = e.path().join(id).join("userdata").join("config.json");
            if let Some(m) = crio_annotations(&p) {
                return Some(m);
            }
        }
    }
    None
}

fn crio_annotations(path: &Path) -> Option<Meta> {
    let c: OciConfig = read_json(path, FILE_CAP)?;
    let a = c.annotations?;
    let get = |k: &str| some(a.get(k));
    let infra = get("io.kubernetes.cri-o.ContainerType").as_deref() == Some("sandbox");
    let pod = get("io.kubernetes.pod.name");
    let name = if infra {
        pod.clone()
    } else {
        get("io.kubernetes.container.name")
    };
    // Not CRI-O's (podman's own bundles carry no pod names).
    name.as_ref()?;
    Some(Meta {
        name,
        image: get("io.kubernetes.cri-o.ImageName").or_else(|| get("io.kubernetes.cri-o.Image")),
        pod,
        namespace: get("io.kubernetes.pod.namespace"),
        infra,
    })
}
