//! Issue 18 (peak RSS, startup CPU): the eBPF object is relocated against
//! a minimal BTF built from the kernel's raw blob
//! (`process::ebpf::minimal_btf`) instead of a parse of all its types, and
//! loaded without aya's `EbpfLoader` (which parses the kernel's BTF when
//! made, and probes the kernel's features).
//!
//! - The minimal BTF is exact: the object relocated by aya-obj against it
//!   and against the full kernel BTF has the same instructions, every
//!   program (on this host's kernel and on the v2 VM's, whose task_struct
//!   is laid out differently).
//! - The load mounts nothing (until session 21 it hid the BTF from aya's
//!   loader in a mount namespace of its own), says it used the minimal
//!   BTF, and what it made works: a pass names this process, the `.bss`
//!   counter of lost exits reads 0.

mod common;

use std::collections::{BTreeMap, HashSet};

use aya::{Btf, Endianness};
use cgdash::process::ebpf::{self, KernelBtf, Ran, Tasks};

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Live (root) and the kernel has BTF; a skip is a failure under
/// `CGDASH_LIVE_TESTS=required`.
fn btf_here(test: &str) -> bool {
    if common::live(test).is_none() {
        return false;
    }
    if std::path::Path::new(BTF_PATH).exists() {
        return true;
    }
    let required = std::env::var("CGDASH_LIVE_TESTS").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "{test}: no {BTF_PATH} but CGDASH_LIVE_TESTS=required"
    );
    eprintln!("SKIP {test}: no {BTF_PATH}");
    false
}

type Insns = BTreeMap<String, Vec<(u8, u8, u8, i16, i32)>>;

/// Every function of the object, by name, after relocation against `btf`
/// (`None`: not relocated).
fn relocated(btf: Option<&Btf>) -> Insns {
    let mut obj = aya_obj::Object::parse(ebpf::object()).expect("the object parses");
    if let Some(btf) = btf {
        obj.relocate_btf(btf).expect("relocation");
    }
    obj.functions
        .values()
        .map(|f| {
            let insns = f
                .instructions
                .iter()
                .map(|i| (i.code, i.dst_reg(), i.src_reg(), i.off, i.imm))
                .collect();
            (f.name.clone(), insns)
        })
        .collect()
}

#[test]
fn minimal_btf_relocates_the_object_exactly_as_the_full_one() {
    if !btf_here("minimal_btf_relocates_the_object_exactly_as_the_full_one") {
        return;
    }
    let full = Btf::from_sys_fs().expect("full kernel BTF");
    let blob = ebpf::minimal_btf(BTF_PATH).expect("minimal BTF");
    let min = Btf::parse(&blob, Endianness::default()).expect("aya parses the minimal BTF");
    let raw_len = std::fs::metadata(BTF_PATH).map(|m| m.len()).unwrap_or(0);
    eprintln!("kernel BTF {raw_len} bytes; minimal {} bytes", blob.len());

    let before = relocated(None);
    let by_full = relocated(Some(&full));
    let by_min = relocated(Some(&min));
    assert_eq!(by_full.len(), before.len());
    assert!(
        by_full.contains_key("tasks") && by_full.contains_key("freed"),
        "both programs: {:?}",
        by_full.keys().collect::<Vec<_>>()
    );
    // Not vacuous: relocation changed instructions, and none of them is
    // aya's poison (a relocation it could not resolve).
    let changed: usize = before
        .iter()
        .map(|(name, insns)| {
            insns
                .iter()
                .zip(&by_full[name])
                .filter(|(a, b)| a != b)
                .count()
        })
        .sum();
    assert!(changed >= 10, "only {changed} instructions relocated");
    // Before 6.2 `mm->rss_stat` is a struct of atomics, not the array of
    // percpu counters the iterator reads: those reads (three) are poisoned,
    // behind the field-exists check that skips them there. Nothing else
    // may fail to relocate.
    let rss_is_struct = full
        .id_by_type_name_kind("mm_rss_stat", aya_obj::btf::BtfKind::Struct)
        .is_ok();
    for (name, insns) in &by_full {
        let poisoned = insns.iter().filter(|i| i.4 == 0xBAD2310).count();
        let allowed = if name == "tasks" && rss_is_struct {
            3
        } else {
            0
        };
        assert!(
            poisoned <= allowed,
            "{name}: {poisoned} relocations failed against the full BTF (allowed {allowed})"
        );
    }
    for (name, insns) in &by_full {
        let other = &by_min[name];
        assert_eq!(insns.len(), other.len(), "{name}");
        for (at, (a, b)) in insns.iter().zip(other).enumerate() {
            assert_eq!(
                a, b,
                "{name}, instruction {at}: full BTF {a:?}, minimal {b:?}"
            );
        }
    }
    eprintln!("{changed} instructions relocated, the same against both");
}

fn mount_points(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn loading_parses_no_kernel_btf_and_mounts_nothing() {
    if !btf_here("loading_parses_no_kernel_btf_and_mounts_nothing") {
        return;
    }
    let tables = ["/proc/1/mountinfo", "/proc/self/mountinfo"];
    let before: Vec<Vec<String>> = tables.iter().map(|t| mount_points(t)).collect();
    let mut tasks = Tasks::load().expect("the eBPF path loads here");
    assert_eq!(tasks.kernel_btf(), &KernelBtf::Minimal);
    // The host's mount tables: nothing at /sys/kernel/btf, before or after.
    // Other lines may come and go meanwhile (the host is shared: other
    // tests mount), so only new lines are looked at, and none may be ours.
    for (t, old) in tables.iter().zip(&before) {
        let old: HashSet<&String> = old.iter().collect();
        let after = mount_points(t);
        for line in &after {
            assert!(
                !line.contains("/sys/kernel/btf"),
                "{t}: a mount at the kernel's BTF: {line}"
            );
            if !old.contains(line) {
                eprintln!("{t}: new meanwhile (not ours): {line}");
            }
        }
    }
    // And what it made works: a pass names tasks (this one's at least),
    // and the `.bss` map it made is the one the programs count in.
    let mut ran = Ran::default();
    tasks.pass(&mut ran).expect("a pass");
    assert!(
        ran.pids.contains_key(&(std::process::id() as i32)),
        "the first pass reports every task as new, this process too"
    );
    assert_eq!(tasks.lost_exits_counter().expect(".bss reads"), 0);
}

#[test]
fn the_next_load_takes_the_relocated_object_the_last_one_kept() {
    if !btf_here("the_next_load_takes_the_relocated_object_the_last_one_kept") {
        return;
    }
    // cgdash's own state directory (/run/cgdash as root): the first load
    // keeps the object relocated for this kernel there if it did not find
    // it, the next takes it (no BTF built, no object parsed).
    let kept = cgdash::launch::state_dir().join("programs.bin");
    let _ = std::fs::remove_file(&kept);
    let first = Tasks::load().expect("the eBPF path loads here");
    assert!(!first.btf_cached(), "nothing was kept, yet it was taken");
    drop(first);
    let mut second = Tasks::load().expect("and again");
    assert!(
        second.btf_cached(),
        "the second load relocated the object again"
    );
    assert_eq!(second.kernel_btf(), &KernelBtf::Minimal);
    let meta = std::fs::symlink_metadata(&kept).expect("the kept file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "root's alone");
    // What it loads is what a fresh relocation gives, against the minimal
    // BTF and against the kernel's full one alike.
    let fresh = ebpf::prepared_bytes(BTF_PATH, false).expect("prepared (minimal BTF)");
    let full = ebpf::prepared_bytes(BTF_PATH, true).expect("prepared (full BTF)");
    assert!(
        fresh == full,
        "the minimal BTF's relocation is not the full one's"
    );
    let bytes = std::fs::read(&kept).unwrap();
    assert!(
        bytes.ends_with(&fresh),
        "the kept object is not a fresh relocation's"
    );
    let mut ran = Ran::default();
    second.pass(&mut ran).expect("a pass");
    assert!(ran.pids.contains_key(&(std::process::id() as i32)));
    // The exit program (loaded with the kept code, its map descriptors
    // written in) reports a child gone.
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id() as i32;
    child.wait().unwrap();
    let mut gone = false;
    for _ in 0..50 {
        second.pass(&mut ran).expect("a pass");
        if ran.exits.iter().any(|&(p, _)| p == pid) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone, "the exit of {pid} was not reported");
}

#[test]
fn where_the_minimal_btf_cant_be_built_the_full_parse_serves_both_programs() {
    let test = "where_the_minimal_btf_cant_be_built_the_full_parse_serves_both_programs";
    if !btf_here(test) {
        return;
    }
    // The fallback: the kernel's BTF parsed in full serves the loader's
    // relocations and gives the iterator its attach id (no minimal BTF).
    let mut tasks = Tasks::load_parsing_the_kernels_btf().expect("the eBPF path loads here");
    assert_eq!(tasks.kernel_btf(), &KernelBtf::Parsed("asked to".into()));
    let mut ran = Ran::default();
    tasks.pass(&mut ran).expect("a pass");
    assert!(ran.pids.contains_key(&(std::process::id() as i32)));
    // The iterator names a process born since, and the exit program
    // reports it gone.
    let mut child = std::process::Command::new("sleep")
        .arg("0.2")
        .spawn()
        .expect("sleep");
    let pid = child.id() as i32;
    tasks.pass(&mut ran).expect("a pass");
    assert_eq!(
        ran.pids.get(&pid).map(|f| f & ebpf::flags::NEW),
        Some(ebpf::flags::NEW),
        "the child, new"
    );
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        tasks.pass(&mut ran).expect("a pass");
        if ran.exits.iter().any(|&(p, _)| p == pid) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit reported for {pid}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The pass names a process that did not change on its periodic slot,
/// `(pass + pid) % IDLE_EVERY == 0` (`flags::DUE`: the scanner's slot for
/// re-reading a sleeper's `stat`, which it then takes from the record), and
/// on no other pass; the pass's count is the object's, one per pass as the
/// loader counts them.
#[test]
fn a_sleeper_is_named_due_on_its_slot_and_no_other_pass() {
    if !btf_here("a_sleeper_is_named_due_on_its_slot_and_no_other_pass") {
        return;
    }
    use cgdash::process::IDLE_EVERY;
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let pid = sleeper.id() as i32;
    // Past its exec, asleep.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut tasks = Tasks::load().expect("the eBPF path loads here");
    let mut ran = Ran::default();
    tasks.pass(&mut ran).expect("a pass");
    assert_eq!((ran.pass, tasks.passes()), (1, 1));
    assert!(
        ran.pids.contains_key(&pid),
        "the first pass names every task"
    );
    // Its fields, where the kernel's RSS counters are read (6.2+).
    let fields_here = ran.taken(pid).is_some();
    let mut due = Vec::new();
    for _ in 0..IDLE_EVERY {
        tasks.pass(&mut ran).expect("a pass");
        assert_eq!(ran.pass, tasks.passes(), "the object's count, the loader's");
        if let Some(&why) = ran.pids.get(&pid) {
            assert_eq!(why, ebpf::flags::DUE, "pass {}: it did not run", ran.pass);
            assert_eq!(ran.taken(pid).is_some(), fields_here, "pass {}", ran.pass);
            due.push(ran.pass);
        }
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let slot: Vec<u64> = (2..=IDLE_EVERY + 1)
        .filter(|p| (p + pid as u64).is_multiple_of(IDLE_EVERY))
        .collect();
    assert_eq!(due, slot, "pid {pid}: named on these passes");
}
