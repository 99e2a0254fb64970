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
    // All or nothing across both kinds: the cgroup knobs are planned
    // (validated, no write) before any rate is set; the rates go first (all
    // or nothing among themselves, the old ones read back from the kernel);
    // if the kernel then refuses a cgroup write, the rates are put back.
    if !parsed.is_empty() && net.is_some() {
        if let Err(e) = layout.plan(&group, &parsed) {
            return Ok(cgroup_refused(&e));
        }
    }
    let mut net_done = Vec::new();
    if let Some((st, ns)) = &net {
        match apply_net(&group, &net_settings, st, ns) {
            Ok(done) => net_done = done,
            Err(code) => return Ok(code),
        }
    }
    if parsed.is_empty() {
        return Ok(ExitCode::SUCCESS);
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
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // The rates this call set, put back (newest first).
            let mut rb = cgdash::net::rate::RateRollback::default();
            if let (Some((st, ns)), false) = (&net, net_done.is_empty()) {
                let mut io = cgdash::net::rate::Kernel {
                    group: &group,
                    state: st,
                    netns: ns,
                };
                rb = cgdash::net::rate::restore_rates(&mut io, &net_done);
            }
            Ok(cgroup_refused_and(&e, &rb))
        }
    }
}

/// Says why the cgroup knobs were not (all) written; the exit code.
fn cgroup_refused(e: &cgroup::CgroupError) -> ExitCode {
    cgroup_refused_and(e, &Default::default())
}

/// [`cgroup_refused`], after the rates of the same `set` were put back
/// (`net`: what became of them).
fn cgroup_refused_and(e: &cgroup::CgroupError, net: &cgdash::net::rate::RateRollback) -> ExitCode {
    say(&e.to_string());
    for k in &net.restored {
        say(&format!("{} put back as it was", k.name()));
    }
    for (k, old, why) in &net.left_changed {
        say(&format!(
            "LEFT CHANGED: {} (was {}; {why})",
            k.name(),
            cgdash::net::rate::setting_text(*k, *old)
        ));
    }
    if e.is_bad_input() || matches!(e, cgroup::CgroupError::NoSuchGroup(_)) {
        // A value the group's other limits rule out (found while
        // planning, before any write), or a group that isn't there
        // (as for snapshot --group): bad input.
        say("nothing was changed");
        return ExitCode::from(2);
    }
    if e.errno() == Some(libc::EACCES) && !nix::unistd::geteuid().is_root() {
        say("`set` needs root, or a group delegated to you (owned cgroup files)");
    }
    if e.left_changed().is_empty() && net.left_changed.is_empty() {
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
    ExitCode::from(1)
}

/// Sets the `net.*` knobs (traffic control on the veth), all or nothing,
/// one line each; `Err`: the exit code after a refusal (said on stderr).
fn apply_net(
    group: &str,
    settings: &[(cgdash::net::NetKnob, Option<u64>)],
    st: &cgdash::net::NetState,
    ns: &std::path::Path,
) -> Result<Vec<cgdash::net::rate::RateChange>, ExitCode> {
    let mut io = cgdash::net::rate::Kernel {
        group,
        state: st,
        netns: ns,
    };
    let done = match cgdash::net::rate::apply_rates(&mut io, settings) {
        Ok(d) => d,
        Err(e) => {
            say(&e.to_string());
            if e.left_changed.is_empty() {
                say("nothing was changed");
            }
            return Err(ExitCode::from(1));
        }
    };
    for c in &done {
        let dev = match c.knob {
            cgdash::net::NetKnob::RateIn => st.veth.clone(),
            cgdash::net::NetKnob::RateOut => "eth0 (in the workload)".into(),
        };
        let what = if c.new.is_some() {
            "tbf qdisc"
        } else {
            "no qdisc"
        };
        let line = format!(
            "{}: {} ({dev} ← {what})",
            cgroup::display_path(group),
            cgdash::net::rate::setting_text(c.knob, c.new)
        );
        if print_stdout(&format!("{}\n", escape_controls(&line))).is_err() {
            return Err(ExitCode::from(1));
        }
    }
    Ok(done)
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
