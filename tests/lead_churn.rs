//! Launches share the parent `cgdash/`: one cgdash's cleanup may remove it
//! (`remove_parent_if_empty`) while another is creating a group under it.
//! Creation must start over, not fail — on v2 the race hits the parent's
//! `cgroup.subtree_control` write, on v1 the cpuset fill.

mod common;

use std::time::{Duration, Instant};

/// Two threads create and remove groups under one shared parent, each
/// removing the parent when it is empty, as cgdash does after a workload.
#[test]
fn creating_under_a_parent_another_cleanup_removes_never_fails() {
    let Some(layout) = common::live("creating_under_a_parent_another_cleanup_removes_never_fails")
    else {
        return;
    };
    let top = format!("cgdash-test-{}", std::process::id());
    let shared = format!("{top}/lc-shared");
    let deadline = Instant::now() + Duration::from_secs(60);
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (layout, shared) = (&layout, &shared);
                s.spawn(move || {
                    let mut errors = Vec::new();
                    for i in 0..150 {
                        if Instant::now() > deadline {
                            break;
                        }
                        let g = format!("{shared}/lc-{t}-{i}");
                        match layout.create_group(&g) {
                            Ok(()) => {
                                let _ = layout.remove_group(&g, Duration::from_secs(2));
                            }
                            Err(e) => errors.push(format!("{g}: {e}")),
                        }
                        layout.remove_parent_if_empty(shared);
                    }
                    errors
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let _ = layout.remove_group(&top, Duration::from_secs(3));
    assert!(failures.is_empty(), "creations failed: {failures:#?}");
}
