//! Where an image comes from: a `docker save` tarball (manifest.json, with or
//! without an OCI layout beside it), an OCI image archive (a tar of an OCI
//! layout: `podman save --format oci-archive`) or an OCI image layout
//! directory (`--format oci-dir`). An archive is indexed once (name →
//! offset and size of each member, from the tar headers) and its blobs are
//! then read in place, without unpacking the outer tar anywhere.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::config::ImageConfig;
use super::ImageError;

/// JSON documents (manifests, configs) larger than this are refused.
const MAX_JSON: u64 = 16 << 20;

/// Members of an outer archive (generous: one per blob and a few more).
const MAX_MEMBERS: usize = 100_000;

enum Store {
    Dir(PathBuf),
    Tar {
        file: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
}

/// One image found in a source, ready to unpack.
#[derive(Debug, Clone)]
pub struct Found {
    /// Names the archive gives it (`repo:tag`), possibly none.
    pub names: Vec<String>,
    /// `sha256:HEX` of the config JSON: the image's identity (its cache key).
    pub id: String,
    pub config: ImageConfig,
    /// Member names of the layer blobs, bottom first, with their diff_ids.
    pub layers: Vec<(String, String)>,
}

/// An opened image source (archive or layout directory).
pub struct Source {
    store: Store,
    path: PathBuf,
}

fn normal(name: &str) -> Option<String> {
    let p = Path::new(name);
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(s) => out.push(s.to_str()?.to_string()),
            _ => return None,
        }
    }
    (!out.is_empty()).then(|| out.join("/"))
}

/// `sha256:HEX` → `blobs/sha256/HEX`, refusing anything but hex digits.
fn blob_path(digest: &str) -> Result<String, ImageError> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| ImageError::bad(format!("bad digest {digest:?}")))?;
    if alg.is_empty()
        || !alg.chars().all(|c| c.is_ascii_alphanumeric())
        || hex.is_empty()
        || !hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(ImageError::bad(format!("bad digest {digest:?}")));
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

impl Source {
    /// Opens `path`: a directory is an OCI layout, a file an archive.
    pub fn open(path: &Path) -> Result<Source, ImageError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ImageError::bad(format!("image {}: {e}", path.display())))?;
        let store = if meta.is_dir() {
            Store::Dir(path.to_path_buf())
        } else {
            Store::Tar {
                file: path.to_path_buf(),
                members: index(path)?,
            }
        };
        Ok(Source {
            store,
            path: path.to_path_buf(),
        })
    }

    fn has(&self, name: &str) -> bool {
        match &self.store {
            Store::Dir(d) => d.join(name).is_file(),
            Store::Tar { members, .. } => members.contains_key(name),
        }
    }

    /// Reads a member (bounded by `limit` bytes).
    pub fn open_member(&self, name: &str) -> Result<Box<dyn Read>, ImageError> {
        let clean = normal(name).ok_or_else(|| {
            ImageError::bad(format!("{}: bad member name {name:?}", self.path.display()))
        })?;
        let missing = || {
            ImageError::bad(format!(
                "{}: {clean} is missing from the image",
                self.path.display()
            ))
        };
        match &self.store {
            Store::Dir(d) => {
                let f = File::open(d.join(&clean)).map_err(|_| missing())?;
                Ok(Box::new(io::BufReader::with_capacity(256 << 10, f)))
            }
            Store::Tar { file, members } => {
                let (off, len) = *members.get(&clean).ok_or_else(missing)?;
                let mut f = File::open(file)
                    .map_err(|e| ImageError::bad(format!("{}: {e}", file.display())))?;
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| ImageError::bad(format!("{}: {e}", file.display())))?;
                Ok(Box::new(io::BufReader::with_capacity(
                    256 << 10,
                    f.take(len),
                )))
            }
        }
    }

    fn read_json_bytes(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let mut v = Vec::new();
        self.open_member(name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut v)
            .map_err(|e| ImageError::bad(format!("{}: {name}: {e}", self.path.display())))?;
        if v.len() as u64 > MAX_JSON {
            return Err(ImageError::bad(format!(
                "{}: {name} is larger than {MAX_JSON} bytes",
                self.path.display()
            )));
        }
        Ok(v)
    }

    fn json<T: for<'a> Deserialize<'a>>(&self, name: &str) -> Result<T, ImageError> {
        let b = self.read_json_bytes(name)?;
        serde_json::from_slice(&b)
            .map_err(|e| ImageError::bad(format!("{}: {name}: {e}", self.path.display())))
    }

    /// The images this source holds.
    pub fn images(&self) -> Result<Vec<Found>, ImageError> {
        if self.has("manifest.json") {
            return self.docker_images();
        }
        if self.has("index.json") {
            return self.oci_images();
        }
        Err(ImageError::bad(format!(
            "{}: neither a docker archive (manifest.json) nor an OCI layout (index.json)",
            self.path.display()
        )))
    }

    /// Picks one image: by `want` (`name[:tag]`) or the only one.
    pub fn pick(&self, want: Option<&str>) -> Result<Found, ImageError> {
        let all = self.images()?;
        let listed = || {
            let names: Vec<String> = all
                .iter()
                .map(|f| {
                    if f.names.is_empty() {
                        f.id.clone()
                    } else {
                        f.names.join(", ")
                    }
                })
                .collect();
            names.join("; ")
        };
        match want {
            Some(w) => {
                let hits: Vec<&Found> = all
                    .iter()
                    .filter(|f| f.names.iter().any(|n| name_matches(n, w)) || f.id.ends_with(w))
                    .collect();
                match hits.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(ImageError::bad(format!(
                        "{}: no image named {w} (it has: {})",
                        self.path.display(),
                        listed()
                    ))),
                    _ => Err(ImageError::bad(format!(
                        "{}: several images match {w} ({})",
                        self.path.display(),
                        listed()
                    ))),
                }
            }
            None => match all.len() {
                1 => Ok(all.into_iter().next().expect("one image")),
                0 => Err(ImageError::bad(format!(
                    "{}: the archive holds no image",
                    self.path.display()
                ))),
                _ => Err(ImageError::bad(format!(
                    "{}: the archive holds {} images, pick one with --image-name ({})",
                    self.path.display(),
                    all.len(),
                    listed()
                ))),
            },
        }
    }

    fn config(
        &self,
        member: &str,
        digest: Option<&str>,
    ) -> Result<(String, ImageConfig), ImageError> {
        let bytes = self.read_json_bytes(member)?;
        let got = format!("sha256:{:x}", Sha256::digest(&bytes));
        if let Some(d) = digest {
            if !d.eq_ignore_ascii_case(&got) {
                return Err(ImageError::bad(format!(
                    "{}: config {member} is {got}, the manifest says {d} (corrupt or tampered)",
                    self.path.display()
                )));
            }
        }
        let cfg: ImageConfig = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::bad(format!("{}: {member}: {e}", self.path.display())))?;
        Ok((got, cfg))
    }

    fn docker_images(&self) -> Result<Vec<Found>, ImageError> {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers", default)]
            layers: Vec<String>,
        }
        let entries: Vec<Entry> = self.json("manifest.json")?;
        let mut out = Vec::new();
        for e in entries {
            // `blobs/sha256/HEX` (docker 25+) or `HEX.json` (older): both
            // name the config by its digest.
            let base = e.config.rsplit('/').next().unwrap_or(&e.config);
            let hex = base.trim_end_matches(".json");
            let digest = (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| format!("sha256:{hex}"));
            let (id, config) = self.config(&e.config, digest.as_deref())?;
            out.push(self.found(e.repo_tags.unwrap_or_default(), id, config, e.layers)?);
        }
        Ok(out)
    }

    fn found(
        &self,
        names: Vec<String>,
        id: String,
        config: ImageConfig,
        layers: Vec<String>,
    ) -> Result<Found, ImageError> {
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != layers.len() {
            return Err(ImageError::bad(format!(
                "{}: the manifest lists {} layers, the config {} diff_ids",
                self.path.display(),
                layers.len(),
                diff_ids.len()
            )));
        }
        let layers = layers.into_iter().zip(diff_ids.iter().cloned()).collect();
        Ok(Found {
            names,
            id,
            config,
            layers,
        })
    }

    fn oci_images(&self) -> Result<Vec<Found>, ImageError> {
        let index: Index = self.json("index.json")?;
        let mut out = Vec::new();
        for d in index.manifests {
            let names = d.names();
            if let Some(m) = self.resolve_manifest(&d, 0)? {
                let (id, config) =
                    self.config(&blob_path(&m.config.digest)?, Some(&m.config.digest))?;
                let layers = m
                    .layers
                    .iter()
                    .map(|l| blob_path(&l.digest))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(self.found(names, id, config, layers)?);
            }
        }
        Ok(out)
    }

    /// A descriptor → its image manifest, choosing this machine's platform
    /// in a multi-platform index. `None` for one that has none for us.
    fn resolve_manifest(&self, d: &Descriptor, depth: u32) -> Result<Option<Manifest>, ImageError> {
        if depth > 4 {
            return Err(ImageError::bad(format!(
                "{}: index nesting too deep",
                self.path.display()
            )));
        }
        let path = blob_path(&d.digest)?;
        let bytes = self.read_json_bytes(&path)?;
        let got = format!("sha256:{:x}", Sha256::digest(&bytes));
        if !d.digest.eq_ignore_ascii_case(&got) {
            return Err(ImageError::bad(format!(
                "{}: {path} is {got}, not {} (corrupt or tampered)",
                self.path.display(),
                d.digest
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::bad(format!("{}: {path}: {e}", self.path.display())))?;
        if v.get("manifests").is_some() {
            let idx: Index = serde_json::from_value(v)
                .map_err(|e| ImageError::bad(format!("{}: {path}: {e}", self.path.display())))?;
            let arch = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                a => a,
            };
            let mine = idx.manifests.iter().find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            });
            let pick = mine.or(if idx.manifests.len() == 1 {
                idx.manifests.first()
            } else {
                None
            });
            return match pick {
                Some(m) => self.resolve_manifest(m, depth + 1),
                None => Ok(None),
            };
        }
        serde_json::from_value(v)
            .map(Some)
            .map_err(|e| ImageError::bad(format!("{}: {path}: {e}", self.path.display())))
    }
}

/// Whether archive name `have` (e.g. `localhost/app:latest`,
/// `docker.io/library/app:latest`, or a bare tag from an OCI ref.name)
/// answers to `want` (`app`, `app:latest`, `localhost/app:1`).
pub fn name_matches(have: &str, want: &str) -> bool {
    let want_tagged = if want.rsplit('/').next().is_some_and(|l| l.contains(':')) {
        want.to_string()
    } else {
        format!("{want}:latest")
    };
    have == want
        || have == want_tagged
        || have.ends_with(&format!("/{want_tagged}"))
        || have.ends_with(&format!("/{want}"))
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

impl Descriptor {
    fn names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for k in [
            "io.containerd.image.name",
            "org.opencontainers.image.ref.name",
        ] {
            if let Some(n) = self.annotations.get(k) {
                if !v.contains(n) {
                    v.push(n.clone());
                }
            }
        }
        v
    }
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// Indexes the members of an (uncompressed) tar: name → (offset, size).
fn index(path: &Path) -> Result<HashMap<String, (u64, u64)>, ImageError> {
    let bad = |e: &dyn std::fmt::Display| {
        ImageError::bad(format!(
            "{}: not an image archive (a tar from docker save / podman save): {e}",
            path.display()
        ))
    };
    let f = File::open(path).map_err(|e| ImageError::bad(format!("{}: {e}", path.display())))?;
    let mut ar = tar::Archive::new(io::BufReader::new(f));
    let mut members = HashMap::new();
    for e in ar.entries_with_seek().map_err(|e| bad(&e))? {
        let e = e.map_err(|e| bad(&e))?;
        if members.len() >= MAX_MEMBERS {
            return Err(bad(&format!("more than {MAX_MEMBERS} members")));
        }
        if !matches!(
            e.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let name = e.path().map_err(|e| bad(&e))?;
        if let Some(n) = normal(&name.to_string_lossy()) {
            members.insert(n, (e.raw_file_position(), e.size()));
        }
    }
    if members.is_empty() {
        return Err(bad(&"no files in it"));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match() {
        assert!(name_matches("localhost/app:latest", "app"));
        assert!(name_matches("localhost/app:latest", "app:latest"));
        assert!(name_matches("docker.io/library/app:1", "app:1"));
        assert!(!name_matches("localhost/app:1", "app"));
        assert!(!name_matches("localhost/myapp:latest", "app"));
        assert!(name_matches("latest", "latest"));
    }

    #[test]
    fn digests() {
        assert_eq!(blob_path("sha256:abc").unwrap(), "blobs/sha256/abc");
        assert!(blob_path("sha256:../x").is_err());
        assert!(blob_path("nocolon").is_err());
    }
}
