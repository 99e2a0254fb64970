//! issue 12: the README's tables are the code's. The readings table names
//! exactly the files the controllers declare reading (per version), and the
//! JSON schema table exactly the fields `cgdash snapshot --json` prints: a
//! row renamed, deleted or forgotten fails here. (The knob table is checked
//! by hc_knobs.rs.)

use std::collections::BTreeSet;

use cgdash::cgroup::controllers::{all_reads, At};
use cgdash::cgroup::{Pressure, Psi, PsiLine};
use cgdash::model::{GroupSnapshot, ProcessSnapshot, Snapshot};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The rows of the table whose header starts with `header`, in the section
/// after `section`, split into cells.
fn table(section: &str, header: &str) -> Vec<Vec<String>> {
    let text = readme();
    let after = text
        .split(section)
        .nth(1)
        .unwrap_or_else(|| panic!("README has no {section:?}"));
    let rows: Vec<Vec<String>> = after
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            row.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "README: no table {header:?} after {section:?}"
    );
    rows
}

/// The backticked tokens of a cell, outside parentheses.
fn ticked(cell: &str) -> Vec<String> {
    let mut depth = 0;
    let outside: String = cell
        .chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => return depth == 0,
            }
            false
        })
        .collect();
    outside
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// File names among a cell's backticked tokens (`cpu.stat`, not `nr_periods`).
fn files(cell: &str) -> BTreeSet<String> {
    // Keys and notes may sit in parentheses too: files only, anywhere.
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.contains('.') && !t.contains(' '))
        .map(str::to_string)
        .collect()
}

#[test]
fn hc_readme_readings_table_is_the_declared_reads() {
    let (mut v1, mut v2) = (BTreeSet::new(), BTreeSet::new());
    for row in table("What cgdash reads, per version:", "| reading |") {
        assert_eq!(row.len(), 3, "{row:?}");
        let a = files(&row[1]);
        let b = if row[2] == "same" {
            a.clone()
        } else {
            files(&row[2])
        };
        v1.extend(a);
        v2.extend(b);
    }
    let (mut d1, mut d2) = (BTreeSet::new(), BTreeSet::new());
    for r in all_reads() {
        let file = r.file.to_string();
        match r.at {
            At::V1(_) => {
                d1.insert(file);
            }
            At::Any(_) => {
                d1.insert(file.clone());
                d2.insert(file);
            }
            At::V2(_) | At::UnifiedUnlessV1(_) | At::PureV2UnlessV1(_) | At::Unified => {
                d2.insert(file);
            }
        }
    }
    assert_eq!(v1, d1, "README's v1 readings vs the controllers' v1 reads");
    assert_eq!(v2, d2, "README's v2 readings vs the controllers' v2 reads");
}

/// `a.{b,c}.d` → `a.b.d`, `a.c.d`.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else {
        return vec![path.to_string()];
    };
    let close = open + path[open..].find('}').expect("closing brace");
    path[open + 1..close]
        .split(',')
        .flat_map(|alt| expand(&format!("{}{alt}{}", &path[..open], &path[close + 1..])))
        .collect()
}

/// Every leaf path of a JSON value: `groups[].cpu.usage_percent`, …
fn leaves(v: &serde_json::Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                leaves(x, &format!("{at}[]"), out);
            }
        }
        _ => {
            out.insert(at.to_string());
        }
    }
}

#[test]
fn hc_readme_json_table_is_the_schema() {
    let mut documented = BTreeSet::new();
    for row in table(
        "## `cgdash snapshot` and its JSON schema",
        "| field | meaning |",
    ) {
        let mut base = String::new();
        for t in ticked(&row[0]) {
            let full = match t.strip_prefix('.') {
                Some(rel) => format!("{base}.{rel}"),
                None => t.clone(),
            };
            if let Some((parent, _)) = full.rsplit_once('.') {
                base = parent.to_string();
            }
            documented.extend(expand(&full));
        }
    }
    // A snapshot with one group and one process, its optional objects
    // present (a null object would hide its fields): what --json prints.
    let line = Some(PsiLine::default());
    let psi = Some(Psi {
        some: line,
        full: line,
    });
    let group = GroupSnapshot {
        pressure: Some(Box::new(Pressure {
            cpu: psi,
            memory: psi,
            io: psi,
        })),
        // `snapshot --periods`' list, present only when asked for.
        cpu: cgdash::model::CpuView {
            periods: Some(vec![Default::default()]),
            ..Default::default()
        },
        // One device and one limit, or their fields would print nothing.
        io: cgdash::model::IoView {
            devices: vec![Default::default()],
            limits: vec![Default::default()],
            ..Default::default()
        },
        // A group in a network namespace of its own, with an interface.
        net: Some(Box::new(cgdash::model::NetView {
            interfaces: vec![Default::default()],
            ..Default::default()
        })),
        ..Default::default()
    };
    let snap = Snapshot {
        groups: vec![group],
        // Its I/O present (the dashboard leaves it null while not shown).
        processes: vec![ProcessSnapshot {
            io: Some(Default::default()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut printed = BTreeSet::new();
    leaves(&serde_json::to_value(&snap).unwrap(), "", &mut printed);
    assert!(printed.contains("groups[].cpu.burst_us"), "{printed:?}");
    let missing: Vec<_> = printed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&printed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README's JSON table vs the schema: not documented {missing:?}; documented but not printed {extra:?}"
    );
}
