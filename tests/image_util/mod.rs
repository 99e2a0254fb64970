//! Shared by the image tests: an OCI image layout made by hand (no engine),
//! and a busybox tree as a layer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// An OCI layout directory with one image of `layers` (raw blobs, diff_ids
/// computed from `tars`), named `name`.
pub fn oci_dir(
    dir: &Path,
    name: &str,
    tars: &[Vec<u8>],
    blobs: &[Vec<u8>],
    config: serde_json::Value,
) {
    let b = dir.join("blobs/sha256");
    std::fs::create_dir_all(&b).unwrap();
    let put = |bytes: &[u8]| -> String {
        let hex = format!("{:x}", Sha256::digest(bytes));
        std::fs::write(b.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };
    let diff_ids: Vec<String> = tars
        .iter()
        .map(|t| format!("sha256:{:x}", Sha256::digest(t)))
        .collect();
    let mut cfg = config;
    cfg["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let cfg_d = put(&cfg_bytes);
    let layers: Vec<serde_json::Value> = blobs
        .iter()
        .map(|l| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": put(l), "size": l.len()})
        })
        .collect();
    let manifest = serde_json::json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg_bytes.len()},
        "layers": layers});
    let mb = serde_json::to_vec(&manifest).unwrap();
    let md = put(&mb);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mb.len(),
         "annotations": {"org.opencontainers.image.ref.name": name}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A statically linked busybox on the host, if any.
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A layer: /bin/busybox plus applet links, /etc/passwd and /etc/group
/// (root and a user `app` 1000:1000), a marker file.
pub fn busybox_layer(bb: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let add_dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, p, &[][..]).unwrap();
    };
    for d in ["bin", "etc", "tmp"] {
        add_dir(&mut b, d);
    }
    let bin = std::fs::read(bb).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bin.len() as u64);
    b.append_data(&mut h, "bin/busybox", &bin[..]).unwrap();
    for a in [
        "sh", "echo", "env", "cat", "ls", "id", "hostname", "pwd", "sleep", "touch", "mkdir",
        "true",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{a}"), "busybox")
            .unwrap();
    }
    let file = |b: &mut tar::Builder<Vec<u8>>, p: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, p, data).unwrap();
    };
    file(
        &mut b,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    );
    file(&mut b, "etc/group", b"root:x:0:\napp:x:1000:\n");
    file(&mut b, "marker-image", b"from the image\n");
    b.into_inner().unwrap()
}
