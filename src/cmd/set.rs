//! `cgdash set GROUP KNOB=VALUE…`: validate everything, then write, all or nothing.

use std::process::ExitCode;

use cgdash::cgroup::{self, knob, Layout};
use cgdash::output::escape_controls;

pub fn run(group: &str, settings: &[String]) -> anyhow::Result<ExitCode> {
    let parsed = match knob::parse_settings(settings) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                cgdash::errln!("cgdash: {e}");
            }
            cgdash::errln!("cgdash: nothing was written");
            return Ok(ExitCode::from(2));
        }
    };
    let group = cgroup::validate_group_name(group)?;
    let layout = Layout::detect()?;
    match layout.apply(&group, &parsed) {
        Ok(applied) => {
            for a in applied {
                let files: Vec<String> = a
                    .writes
                    .iter()
                    .map(|w| format!("{} ← {}", w.path.display(), w.contents))
                    .collect();
                // Escaped: a group's name can hold terminal escapes.
                println!(
                    "{}",
                    escape_controls(&format!(
                        "{}: {} ({})",
                        cgroup::display_path(&group),
                        a.setting,
                        files.join(", ")
                    ))
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            cgdash::errln!("cgdash: {e}");
            if e.errno() == Some(libc::EACCES) && !nix::unistd::geteuid().is_root() {
                cgdash::errln!(
                    "cgdash: `set` needs root, or a group delegated to you (owned cgroup files)"
                );
            }
            cgdash::errln!("cgdash: nothing was changed");
            Ok(ExitCode::from(1))
        }
    }
}
