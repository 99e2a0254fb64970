//! issue 16, "Done when": `cgdash demo io` shows a writer at 5 MB/s in the
//! groups panel, `set` raises it live, and the I/O microscope's `w` key
//! halves it with the chart following. The real binary in tmux at
//! 200×50 (run under `flock /tmp/cgdash-demo.lock`: the demo's group).
//! Host only (vm/run-tests.sh skips it): the demo writes in /var/tmp,
//! which the VM's initramfs has on no disk.

mod common;
mod tmux;

use std::time::Duration;

use tmux::Tmux;

const SEC: Duration = Duration::from_secs(1);

/// The IO W/s cell of the row whose group name is `leaf`, in MiB/s.
fn io_write(screen: &str, leaf: &str) -> Option<f64> {
    let header = screen.lines().find(|l| l.contains("IO W/s"))?;
    let col = header[..header.find("IO W/s")?].chars().count();
    let row = screen
        .lines()
        .find(|l| l.contains(&format!(" {leaf} ")) && l.contains('│'))?;
    let cell: String = row.chars().skip(col).take(7).collect();
    let cell = cell.trim();
    let (num, mult) = match cell.chars().last()? {
        'M' => (&cell[..cell.len() - 1], 1.0),
        'K' => (&cell[..cell.len() - 1], 1.0 / 1024.0),
        'G' => (&cell[..cell.len() - 1], 1024.0),
        _ => (cell, 1.0 / (1024.0 * 1024.0)),
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}

#[test]
fn io_demo_writer_held_at_5m_and_raised_live() {
    let Some(layout) = common::live("io_demo_writer_held_at_5m_and_raised_live") else {
        return;
    };
    let Some(t) = Tmux::start(
        "iodemo",
        200,
        50,
        &[("TERM", "xterm-256color")],
        &[common::cgdash_bin(), "demo", "io"],
    ) else {
        return;
    };
    let s = t
        .wait_for(15 * SEC, |s| s.contains("direct-I/O writer in "))
        .unwrap_or_else(|s| panic!("the demo did not start:\n{s}"));
    let i = s.find("direct-I/O writer in ").unwrap() + "direct-I/O writer in ".len();
    let group = s[i..].split(' ').next().unwrap().to_string();
    assert!(group.starts_with("cgdash/demo"), "{group}");
    let leaf = group.rsplit('/').next().unwrap().to_string();
    // Held at 5M/s (the first rate appears after two samples).
    t.wait_for(15 * SEC, |s| {
        io_write(s, &leaf).is_some_and(|r| (r - 5.0).abs() <= 0.5)
    })
    .unwrap_or_else(|s| panic!("IO W/s of {leaf} is not 5M:\n{s}"));
    // Raised live with `set`: the column follows within a few refreshes.
    let (code, out, err) = common::cgdash(&["set", &group, "io.write_bps=/var/tmp:20M"]);
    assert_eq!(code, 0, "{out}{err}");
    t.wait_for(6 * SEC, |s| {
        io_write(s, &leaf).is_some_and(|r| (r - 20.0).abs() <= 2.0)
    })
    .unwrap_or_else(|s| panic!("IO W/s of {leaf} did not follow to 20M:\n{s}"));
    // The demo opens on the I/O microscope; `w` halves the limit (20M →
    // 10M): the write chart's limit line and the column follow.
    // (Limits are slow-moving files, re-read every 5th refresh: a change
    // made by another program shows within 5 s; wait for it before `w`.)
    t.wait_for(8 * SEC, |s| {
        s.contains("I/O microscope · ") && s.contains("limit 20M/s")
    })
    .unwrap_or_else(|s| panic!("the microscope does not show the 20M limit:\n{s}"));
    t.key("w");
    t.wait_for(6 * SEC, |s| {
        s.contains("limit 10M/s") && io_write(s, &leaf).is_some_and(|r| (r - 10.0).abs() <= 1.0)
    })
    .unwrap_or_else(|s| panic!("w did not bring {leaf} to 10M:\n{s}"));
    t.key("q");
    let h = layout
        .hierarchy("blkio")
        .or_else(|| layout.hierarchy("io"))
        .unwrap();
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !h.dir(&group).exists()
    });
    assert!(gone, "{group} left behind after q");
}
