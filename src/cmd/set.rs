//! `cgdash set GROUP KNOB=VALUE…`: validate everything, then write, all or nothing.

use std::process::ExitCode;

use cgdash::cgroup::{self, knob, Layout};
use cgdash::names::{self, owner, Resolver, Roots};
use cgdash::output::{escape_controls, print_stdout};

/// One line on stderr, escaped. Not `eprintln!`: that panics (and aborts)
/// when stderr is gone, and a lost message must not turn into a crash after
/// a write.
fn say(line: &str) {
    cgdash::errln!("cgdash: {line}");
}

/// `roots`: where the engines' metadata is (`KIND:NAME` groups, the
/// owner's note).
pub fn run(group: &str, settings: &[String], roots: &Roots) -> anyhow::Result<ExitCode> {
    let parsed = match knob::parse_settings(settings) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                say(&e.to_string());
            }
            say("nothing was written");
            return Ok(ExitCode::from(2));
        }
    };
    let layout = Layout::detect()?;
    // A bad group name, or a KIND:NAME naming no single group, is bad
    // input (exit 2), like a bad value.
    let group = match names::resolve_group_arg(&layout, roots, group) {
        Ok(g) => g,
        Err(e) => {
            say(&e.to_string());
            say("nothing was written");
            return Ok(ExitCode::from(2));
        }
    };
    match layout.apply(&group, &parsed) {
        Ok(applied) => {
            let mut report = String::new();
            for a in &applied {
                let files: Vec<String> = a
                    .writes
                    .iter()
                    .map(|w| format!("{} ← {}", w.path.display(), w.contents))
                    .collect();
                // Escaped: a group's name can hold terminal escapes.
                let line = format!(
                    "{}: {} ({})",
                    cgroup::display_path(&group),
                    a.setting,
                    files.join(", ")
                );
                report.push_str(&escape_controls(&line));
                report.push('\n');
            }
            // What the files don't say (v1 io throttles direct I/O only).
            for n in cgroup::controllers::notes(&applied) {
                report.push_str(&escape_controls(&format!("note: {n}")));
                report.push('\n');
            }
            // The change is made whether or not anyone can read about it:
            // say so on stderr, and exit 1 for the lost output.
            if let Err(e) = print_stdout(&report) {
                say(&format!(
                    "cannot write to stdout: {e}; the change WAS made: {}",
                    applied
                        .iter()
                        .map(|a| a.setting.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
                return Ok(ExitCode::from(1));
            }
            if let Some(note) = owner_note(&layout, roots, &group, &parsed) {
                say(&note);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say(&e.to_string());
            if e.is_bad_input() || matches!(e, cgroup::CgroupError::NoSuchGroup(_)) {
                // A value the group's other limits rule out (found while
                // planning, before any write), or a group that isn't there
                // (as for snapshot --group): bad input.
                say("nothing was changed");
                return Ok(ExitCode::from(2));
            }
            if e.errno() == Some(libc::EACCES) && !nix::unistd::geteuid().is_root() {
                say("`set` needs root, or a group delegated to you (owned cgroup files)");
            }
            if e.left_changed().is_empty() {
                say("nothing was changed");
            } else {
                for l in e.left_changed() {
                    say(&format!(
                        "LEFT CHANGED: {} (was {:?}; write it back by hand)",
                        l.path.display(),
                        l.old
                    ));
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// The owner's note for a write to `group` (see `names::owner`).
fn owner_note(
    layout: &Layout,
    roots: &Roots,
    group: &str,
    settings: &[knob::Setting],
) -> Option<String> {
    let mut resolver = Resolver::new(roots.clone());
    let identity = resolver.identity(group, None);
    let cx = owner::Context {
        cpu_v2: layout.version_of("cpu") == Some(cgroup::Version::V2),
        memory_now: layout
            .read_group(group)
            .and_then(|g| g.memory.max)
            .and_then(cgroup::Limit::value),
        ..resolver.owner_context(group)
    };
    owner::owner_hint_with(&identity, settings, cx)
}
