//! `cgdash set GROUP KNOB=VALUE…`: validate everything, then write, all or nothing.

use std::process::ExitCode;

use cgdash::cgroup::{self, knob, Layout};

pub fn run(group: &str, settings: &[String]) -> anyhow::Result<ExitCode> {
    let parsed = match knob::parse_settings(settings) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                eprintln!("cgdash: {e}");
            }
            eprintln!("cgdash: nothing was written");
            return Ok(ExitCode::from(2));
        }
    };
    let group = match cgroup::validate_group_name(group) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cgdash: {e}");
            eprintln!("cgdash: nothing was written");
            return Ok(ExitCode::from(2)); // bad input, as for a bad value
        }
    };
    let layout = Layout::detect()?;
    match layout.apply(&group, &parsed) {
        Ok(applied) => {
            for a in applied {
                let files: Vec<String> = a
                    .writes
                    .iter()
                    .map(|w| format!("{} ← {}", w.path.display(), w.contents))
                    .collect();
                println!(
                    "{}: {} ({})",
                    cgroup::display_path(&group),
                    a.setting,
                    files.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("cgdash: {e}");
            if e.errno() == Some(libc::EACCES) && !nix::unistd::geteuid().is_root() {
                eprintln!(
                    "cgdash: `set` needs root, or a group delegated to you (owned cgroup files)"
                );
            }
            eprintln!("cgdash: nothing was changed");
            Ok(ExitCode::from(1))
        }
    }
}
