//! Docker: `<data-root>/containers/<id>/config.v2.json`, which the daemon
//! writes when the container is created (moby's `container.Container`:
//! `Name` with its leading slash, `Config.Image` as the user gave it,
//! `Config.Labels`). Kubernetes' dockershim / cri-dockerd label their
//! containers `io.kubernetes.*`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::meta::{kubelet_name, read_json, some, Meta, FILE_CAP};

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfigV2 {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Config")]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerConfig {
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "Labels")]
    labels: Option<HashMap<String, String>>,
}

/// The metadata of container `id` under data root `root`, if readable.
pub fn read(root: &Path, id: &str) -> Option<Meta> {
    let path = root.join("containers").join(id).join("config.v2.json");
    let c: ConfigV2 = read_json(&path, FILE_CAP)?;
    let name = c.name.trim_start_matches('/').to_string();
    let config = c.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let label = |k: &str| some(labels.get(k));
    let mut m = Meta {
        name: Some(name.clone()).filter(|n| !n.is_empty()),
        image: Some(config.image).filter(|i| !i.is_empty()),
        pod: label("io.kubernetes.pod.name"),
        namespace: label("io.kubernetes.pod.namespace"),
        infra: label("io.kubernetes.docker.type").as_deref() == Some("podsandbox"),
    };
    if let Some(c) = label("io.kubernetes.container.name") {
        m.name = Some(c);
    } else if let Some((c, pod, ns)) = kubelet_name(&name) {
        m.name = Some(c);
        m.pod = m.pod.or(Some(pod));
        m.namespace = m.namespace.or(Some(ns));
    }
    if m.infra {
        m.name = m.pod.clone().or(m.name);
    }
    Some(m)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HostConfig {
    #[serde(rename = "NanoCpus")]
    nano_cpus: i64,
    #[serde(rename = "CpuQuota")]
    cpu_quota: i64,
    #[serde(rename = "CpuPeriod")]
    cpu_period: i64,
}

/// How container `id`'s CPU limit was given (its `hostconfig.json`), which
/// decides the `docker update` flag that docker accepts for it.
pub fn cpu_style(root: &Path, id: &str) -> super::owner::CpuStyle {
    use super::owner::CpuStyle;
    let path = root.join("containers").join(id).join("hostconfig.json");
    let Some(h) = read_json::<HostConfig>(&path, FILE_CAP) else {
        return CpuStyle::Unset;
    };
    if h.nano_cpus > 0 {
        CpuStyle::Cpus
    } else if h.cpu_quota != 0 || h.cpu_period != 0 {
        CpuStyle::Quota {
            period_us: u64::try_from(h.cpu_period).unwrap_or(0),
        }
    } else {
        CpuStyle::Unset
    }
}
