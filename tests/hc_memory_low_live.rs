//! issue 12, "Done when": `memory.low`, added in controllers/memory.rs alone,
//! works end to end against the real kernel (root): `set` writes it on v2 and
//! `snapshot --json` reads it back (`groups[].memory.low_bytes`); v1 has no
//! such file and refuses it with the reason, writing nothing.

mod common;

use std::fs;

use cgdash::cgroup::Version;
use common::{cgdash, TestGroup};

#[test]
fn hc_memory_low_live() {
    let Some(l) = common::live("hc_memory_low_live") else {
        return;
    };
    let h = l.hierarchy("memory").expect("memory controller");
    let g = TestGroup::new(&l, "low");
    let dir = h.dir(&g.path);
    if h.version == Version::V1 {
        let (code, _, err) = cgdash(&["set", &g.path, "memory=64M", "memory.low=16M"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("only on cgroup v2"), "{err}");
        assert_ne!(
            fs::read_to_string(dir.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            (64u64 << 20).to_string(),
            "nothing of the call is written"
        );
        return;
    }
    let (code, out, err) = cgdash(&["set", &g.path, "memory.low=16M"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        fs::read_to_string(dir.join("memory.low")).unwrap().trim(),
        (16u64 << 20).to_string()
    );
    let (code, out, err) = cgdash(&[
        "snapshot",
        "--json",
        "--interval",
        "100ms",
        "--group",
        &g.path,
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let gs = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == g.path.as_str())
        .unwrap_or_else(|| panic!("{} not in {out}", g.path));
    assert_eq!(gs["memory"]["low_bytes"], 16u64 << 20, "{}", gs["memory"]);
}
