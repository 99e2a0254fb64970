//! issue 12 #3: knob names are spelled once (the controllers' `KnobDef`s);
//! the README's knob table, the `set` error listing known knobs and the
//! editor's fields must agree with them. (The `run` flags and `set --help`
//! are checked in src/cli.rs, which the library can't see.)

use cgdash::app::form::EditForm;
use cgdash::cgroup::knob::{known_knobs, Knob, Setting};
use cgdash::model::GroupSnapshot;

/// The first cells of the README's "## Knobs" table, as backticked tokens
/// (flags like `--cpus` aside).
fn readme_rows() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Knobs\n")
        .nth(1)
        .expect("README has a ## Knobs section");
    let table = section
        .lines()
        .skip_while(|l| !l.starts_with("| knob |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    table
        .map(|row| {
            let first = row.split('|').nth(1).unwrap_or("");
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|t| !t.starts_with('-'))
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn hc_readme_knob_table_matches_the_declared_knobs() {
    let mut names = Vec::new();
    for row in readme_rows() {
        assert!(!row.is_empty(), "a README knob row names no knob");
        let here: Vec<Knob> = row
            .iter()
            .map(|t| {
                Knob::from_name(t).unwrap_or_else(|| {
                    panic!("README's knob table names `{t}`, which no controller declares")
                })
            })
            .collect();
        for (t, k) in row.iter().zip(&here) {
            if t == k.name() {
                names.push(k.name().to_string());
            } else {
                assert!(
                    row.iter().any(|o| o == k.name()),
                    "README: alias `{t}` in a row without its knob `{}`",
                    k.name()
                );
            }
        }
    }
    let declared: Vec<String> = Knob::all().map(|k| k.name().to_string()).collect();
    assert_eq!(
        names, declared,
        "README knob table vs the controllers' knobs, in order"
    );
}

#[test]
fn hc_unknown_knob_error_and_editor_list_every_knob() {
    let e = Setting::parse("bogus=1").unwrap_err().to_string();
    assert!(
        e.ends_with(&format!("known knobs: {}", known_knobs())),
        "{e}"
    );
    for k in Knob::all() {
        assert!(known_knobs().split(", ").any(|n| n == k.name()));
        // Every name and alias parses to its knob.
        assert_eq!(Knob::from_name(k.name()), Some(k));
        for a in k.def().aliases {
            assert_eq!(Knob::from_name(a), Some(k), "alias {a}");
        }
    }
    let form = EditForm::new(&GroupSnapshot::default());
    assert_eq!(
        form.knobs,
        Knob::all().collect::<Vec<_>>(),
        "the editor's fields"
    );
}
