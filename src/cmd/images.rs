//! `cgdash images [--json]` and `cgdash images prune`: the cache of
//! `run --image` (see src/image/cache.rs).

use std::process::ExitCode;
use std::time::SystemTime;

use cgdash::cgroup::knob::format_size;
use cgdash::image::cache;

use crate::cli::{ImagesAction, ImagesArgs};

fn ago(secs: Option<u64>) -> String {
    let Some(t) = secs else {
        return "never".into();
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(t);
    let d = now.saturating_sub(t);
    match d {
        0..=59 => format!("{d}s ago"),
        60..=3599 => format!("{}m ago", d / 60),
        3600..=86399 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

pub fn run(args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let dir = cache::cache_dir();
    match args.action {
        Some(ImagesAction::Prune) => {
            let p = match cache::prune(&dir) {
                Ok(p) => p,
                Err(e) => {
                    cgdash::errln!("cgdash: {e}");
                    return Ok(ExitCode::from(e.exit_code()));
                }
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                for r in &p.removed {
                    println!("removed {r}");
                }
                for r in &p.stale {
                    println!("removed leftover {r}");
                }
                for r in &p.in_use {
                    println!("kept {r} (in use by a running cgdash)");
                }
                println!("freed {}", format_size(p.freed_bytes));
            }
        }
        None => {
            let list = cache::list(&dir);
            let kept = cache::kept_runs(&dir);
            if args.json {
                let v = serde_json::json!({
                    "cache": dir,
                    "images": list,
                    "kept_runs": kept,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("no images in {}", dir.display());
            } else {
                println!(
                    "{:<19} {:<32} {:>9} {:>8} {:<10} IN USE",
                    "ID", "NAME", "SIZE", "ENTRIES", "LAST USE"
                );
                for e in &list {
                    let id: String = e.meta.id.chars().take(19).collect();
                    let name = e.meta.names.first().cloned().unwrap_or_else(|| "-".into());
                    println!(
                        "{:<19} {:<32} {:>9} {:>8} {:<10} {}",
                        id,
                        name,
                        format_size(e.disk_bytes),
                        e.meta.entries,
                        ago(e.last_use),
                        if e.in_use { "yes" } else { "no" }
                    );
                }
                println!("cache: {}", dir.display());
            }
            for k in kept {
                println!("kept run (--keep): {}", k.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
