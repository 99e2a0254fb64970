//! The freezer: a v1 controller; on v2 built into every non-root group
//! (`cgroup.freeze`, `cgroup.events`), read on pure v2 hosts only (on hybrid
//! hosts the unified hierarchy holds no processes to freeze).

use std::fs;
use std::path::Path;

use super::{mismatch, no_explanation, no_note, one, with, At, Controller, KnobDef, Read};
use crate::cgroup::knob::{Knob, Value};
use crate::cgroup::layout::Mode;
use crate::cgroup::parse;
use crate::cgroup::write::{not_mounted, require_file};

pub const CONTROLLER: Controller = Controller {
    name: "freezer",
    v1_names: &["freezer"],
    v2_enable: false,
    knobs: KNOBS,
    explain: no_explanation,
    note: no_note,
    restore: &[("freezer.state", restore_state)],
    reads: &[
        Read {
            at: At::V1("freezer"),
            file: "freezer.state",
            slow: true,
            apply: |t, s| s.frozen = with(t, parse::v1_freezer_state),
        },
        // `cgroup.freeze` is only the request; `cgroup.events` `frozen` says
        // whether the group *is* frozen (like v1's freezer.state) and wins
        // when present (it is applied after).
        Read {
            at: At::PureV2UnlessV1("freezer"),
            file: "cgroup.freeze",
            slow: true,
            apply: |t, s| s.frozen = t.map(|t| t.trim() == "1"),
        },
        Read {
            at: At::PureV2UnlessV1("freezer"),
            file: "cgroup.events",
            slow: true,
            apply: |t, s| {
                if let Some(f) = with(t, |t| parse::flat_key(t, "frozen")) {
                    s.frozen = Some(f == 1);
                }
            },
        },
    ],
};

// ---- knobs ----------------------------------------------------------------

#[allow(non_upper_case_globals)]
impl Knob {
    pub const Freeze: Knob = Knob("freeze");
}

const KNOBS: &[KnobDef] = &[KnobDef {
    knob: Knob::Freeze,
    aliases: &["frozen"],
    syntax: "true or false",
    flag: None,
    launch: false,
    errors: &[],
    parse: |v, _| {
        Ok(Value::Bool(match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "frozen" => true,
            "false" | "0" | "no" | "off" | "thawed" => false,
            _ => return Err("not a boolean".into()),
        }))
    },
    plan: |layout, group, s, _| {
        let Value::Bool(b) = s.value else {
            return Err(mismatch(s));
        };
        if let Some(dir) = layout.v1_dir(group, "freezer") {
            Ok(one(
                s.knob,
                dir.join("freezer.state"),
                if b { "FROZEN" } else { "THAWED" },
            ))
        } else if let Some(u) = layout.unified().filter(|_| layout.mode == Mode::V2) {
            let dir = u.dir(group);
            require_file(
                &dir,
                "cgroup.freeze",
                s.knob,
                "this kernel has no cgroup v2 freezer (needs 5.2+)",
            )?;
            Ok(one(
                s.knob,
                dir.join("cgroup.freeze"),
                if b { "1" } else { "0" },
            ))
        } else {
            Err(not_mounted(s.knob, "freezer"))
        }
    },
    order: |_, _| 5,
    current: |g| Some(Value::Bool(g.frozen?)),
}];

/// v1 `freezer.state` reads FROZEN/FREEZING also when only an ancestor is
/// frozen, and FREEZING can't be written: the group's own request is
/// `freezer.self_freezing`, so that is what goes back (FREEZING → FROZEN
/// when that file is missing: the freeze was under way, undoing it would
/// thaw what someone else froze).
fn restore_state(path: &Path, old: &str, _new: &str) -> String {
    let own = path
        .parent()
        .and_then(|d| fs::read_to_string(d.join("freezer.self_freezing")).ok());
    match own.as_deref().map(str::trim) {
        Some("1") => "FROZEN".into(),
        Some("0") => "THAWED".into(),
        _ if old == "FREEZING" => "FROZEN".into(),
        _ => old.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::cgroup::knob::{parse_settings_on, Host};
    use crate::cgroup::Layout;
    use std::fs;

    fn put(dir: &std::path::Path, file: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    fn writes(l: &Layout, arg: &str) -> Result<Vec<(String, String)>, String> {
        let s = parse_settings_on(&[arg], Host { cpus: 1 }).unwrap();
        l.plan("g", &s)
            .map(|p| {
                p[0].writes
                    .iter()
                    .map(|w| {
                        let f = w.path.file_name().unwrap().to_string_lossy();
                        (f.into_owned(), w.contents.clone())
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn hc_freeze_translates_per_version() {
        let v2 = tempfile::tempdir().unwrap();
        put(v2.path(), "cgroup.controllers", "cpu\n");
        put(v2.path(), "cgroup.procs", "");
        put(&v2.path().join("g"), "cgroup.procs", "");
        put(&v2.path().join("g"), "cgroup.freeze", "0\n");
        let l = Layout::from_root(v2.path()).unwrap();
        let one = |f: &str, c: &str| Ok(vec![(f.to_string(), c.to_string())]);
        assert_eq!(writes(&l, "freeze=true"), one("cgroup.freeze", "1"));
        assert_eq!(writes(&l, "freeze=false"), one("cgroup.freeze", "0"));
        fs::remove_file(v2.path().join("g/cgroup.freeze")).unwrap();
        assert!(writes(&l, "freeze=true").unwrap_err().contains("5.2"));

        let v1 = tempfile::tempdir().unwrap();
        for d in ["freezer", "freezer/g"] {
            put(&v1.path().join(d), "cgroup.procs", "");
            put(&v1.path().join(d), "freezer.state", "THAWED\n");
        }
        let l = Layout::from_root(v1.path()).unwrap();
        assert_eq!(writes(&l, "freeze=true"), one("freezer.state", "FROZEN"));
        assert_eq!(writes(&l, "freeze=false"), one("freezer.state", "THAWED"));
    }
}
