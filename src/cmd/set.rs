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
    // `net.*` knobs are traffic control on a --net veth workload's veth,
    // not cgroup files: split them off, check both kinds before any write.
    let mut net_settings = Vec::new();
    let mut cgroup_settings = Vec::new();
    let mut net_errors = Vec::new();
    for s in settings {
        match cgdash::net::parse_setting(s) {
            Ok(Some(n)) => net_settings.push(n),
            Ok(None) => cgroup_settings.push(s.clone()),
            Err(e) => net_errors.push(e),
        }
    }
    let parsed = match knob::parse_settings(&cgroup_settings) {
        Ok(p) if net_errors.is_empty() => p,
        other => {
            for e in &net_errors {
                say(e);
            }
            for e in other.err().unwrap_or_default() {
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
    let net = if net_settings.is_empty() {
        None
    } else {
        match cgdash::launch::net_of_group(&group) {
            Ok(n) => Some(n),
            Err(why) => {
                let k = net_settings[0].0.name();
                say(&format!(
                    "{k} works only for workloads started with --net veth: {why}"
                ));
                say("nothing was written");
                return Ok(ExitCode::from(2));
            }
        }
    };
    if parsed.is_empty() {
        return Ok(apply_net(&group, &net_settings, net.as_ref()));
    }
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
            Ok(apply_net(&group, &net_settings, net.as_ref()))
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

/// Sets the `net.*` knobs (traffic control on the veth), one line each.
fn apply_net(
    group: &str,
    settings: &[(cgdash::net::NetKnob, Option<u64>)],
    net: Option<&(cgdash::net::NetState, std::path::PathBuf)>,
) -> ExitCode {
    let Some((st, ns)) = net else {
        return ExitCode::SUCCESS;
    };
    for (k, rate) in settings {
        let value = rate.map_or("max".to_string(), knob::format_size);
        let dev = match k {
            cgdash::net::NetKnob::RateIn => st.veth.clone(),
            cgdash::net::NetKnob::RateOut => "eth0 (in the workload)".into(),
        };
        match cgdash::net::set_rate(st, ns, *k, *rate) {
            Ok(()) => {
                cgdash::launch::record_net_rate(group, *k, *rate);
                let what = if rate.is_some() {
                    "tbf qdisc"
                } else {
                    "no qdisc"
                };
                let line = format!(
                    "{}: {}={value} ({dev} ← {what})",
                    cgroup::display_path(group),
                    k.name()
                );
                if print_stdout(&format!("{}\n", escape_controls(&line))).is_err() {
                    return ExitCode::from(1);
                }
            }
            Err(e) => {
                say(&format!("{}={value}: {e}", k.name()));
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
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
