//! Reading the engines' metadata files: bounded, never blocking, never an
//! error. A file that is missing, unreadable, not a regular file, larger
//! than its cap, truncated or not JSON gives `None`: the group keeps its path.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// One container's file (docker's config.v2.json, an OCI config.json with
/// its seccomp profile: tens of KiB).
pub const FILE_CAP: u64 = 4 << 20;
/// A whole store's list (containers.json: ~1 KiB per container).
pub const LIST_CAP: u64 = 64 << 20;

/// The bytes of `path` if it is a regular file of at most `cap` bytes.
/// Opened non-blocking: a FIFO planted where a config should be doesn't
/// stall the sampler (and isn't read: not a regular file).
pub fn read_capped(path: &Path, cap: u64) -> Option<Vec<u8>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let md = f.metadata().ok()?;
    if !md.is_file() || md.len() > cap {
        return None;
    }
    let mut buf = Vec::with_capacity(md.len() as usize);
    // A file growing past the cap while read is cut at cap + 1 and refused.
    (&mut f as &mut File)
        .take(cap + 1)
        .read_to_end(&mut buf)
        .ok()?;
    (buf.len() as u64 <= cap).then_some(buf)
}

/// `path` parsed as JSON into `T`, or `None` (see the module's rules).
pub fn read_json<T: DeserializeOwned>(path: &Path, cap: u64) -> Option<T> {
    let bytes = read_capped(path, cap)?;
    serde_json::from_slice(&bytes).ok()
}

/// What an engine's metadata says about one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub name: Option<String>,
    pub image: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    /// A pod's sandbox ("pause", "infra") container rather than a workload.
    pub infra: bool,
}

/// An OCI runtime bundle's `config.json`: only its annotations matter here.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OciConfig {
    pub annotations: Option<HashMap<String, String>>,
}

/// Kubernetes' names, from a kubelet-made container name
/// `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` (dockershim, cri-o's
/// storage names): `(container, pod, namespace)`.
pub fn kubelet_name(name: &str) -> Option<(String, String, String)> {
    let rest = name.trim_start_matches('/').strip_prefix("k8s_")?;
    let parts: Vec<&str> = rest.split('_').collect();
    if parts.len() < 5 {
        return None;
    }
    Some((parts[0].into(), parts[1].into(), parts[2].into()))
}

/// Empty strings are no value.
pub fn some(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        std::fs::write(&p, br#"{"annotations":{"a":"b"}}"#).unwrap();
        let c: OciConfig = read_json(&p, 100).unwrap();
        assert_eq!(c.annotations.unwrap()["a"], "b");
        assert!(read_capped(&p, 10).is_none(), "over the cap");
        std::fs::write(&p, br#"{"annotations":{"a":"#).unwrap();
        assert!(read_json::<OciConfig>(&p, 100).is_none(), "truncated");
        std::fs::write(&p, b"\x00\x01 not json").unwrap();
        assert!(read_json::<OciConfig>(&p, 100).is_none(), "not JSON");
        assert!(read_capped(&d.path().join("missing"), 100).is_none());
        assert!(read_capped(d.path(), 100).is_none(), "a directory");
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(
            read_capped(&fifo, 100).is_none(),
            "a FIFO: no stall, no read"
        );
    }

    #[test]
    fn kubelet_names() {
        assert_eq!(
            kubelet_name("/k8s_nginx_web-5d8f_default_0b1c-2d3e_0"),
            Some(("nginx".into(), "web-5d8f".into(), "default".into()))
        );
        assert_eq!(kubelet_name("k8s_POD_x_y"), None);
        assert_eq!(kubelet_name("web"), None);
    }
}
