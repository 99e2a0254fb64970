//! issue 12: a kernel refusal is explained in the words the knob's
//! controller declares for that errno (`KnobDef::errors`), against the real
//! kernel (root; v1 on the host, v2 in the VM).

mod common;

use cgdash::cgroup::{Knob, Version};
use common::{cgdash, TestGroup};

/// The errno in `… (Invalid argument (os error 22))`.
fn os_error(stderr: &str) -> Option<i32> {
    let (_, rest) = stderr.rsplit_once("(os error ")?;
    rest.split(')').next()?.parse().ok()
}

#[test]
fn hc_refusals_say_the_knobs_own_words() {
    let Some(l) = common::live("hc_refusals_say_the_knobs_own_words") else {
        return;
    };
    let h = l
        .hierarchy("cpuset")
        .expect("a cpuset controller (the host's v1 mount, the VM's v2 root)");
    let v1 = h.version == Version::V1;
    let parent = TestGroup::new(&l, "errno");
    // A CPU this machine does not have: EINVAL or ERANGE (the kernel's
    // choice), each with cpuset.cpus' own words; nothing changed.
    let dir = h.dir(&parent.path);
    let before = std::fs::read_to_string(dir.join("cpuset.cpus")).unwrap();
    let (code, out, err) = cgdash(&["set", &parent.path, "cpuset.cpus=1000"]);
    assert_eq!(code, 1, "{out}{err}");
    let errno = os_error(&err).unwrap_or_else(|| panic!("no errno in {err}"));
    let (_, words) = Knob::CpusetCpus
        .def()
        .errors
        .iter()
        .find(|(e, _)| *e == errno)
        .unwrap_or_else(|| panic!("cpuset.cpus declares nothing for errno {errno}: {err}"));
    assert!(err.contains(words), "{err}");
    eprintln!("cpuset.cpus=1000: errno {errno}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("cpuset.cpus")).unwrap(),
        before
    );

    // v1: a child's CPUs must be a subset of its parent's, refused with
    // EACCES (not a permission problem: we are root); v2 allows any list
    // (the effective set is the intersection).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if v1 && cpus >= 2 {
        parent.apply(&["cpuset.cpus=0"]).expect("cpuset.cpus=0");
        let child = TestGroup::new(&l, "errno/child");
        let (code, out, err) = cgdash(&["set", &child.path, "cpuset.cpus=1"]);
        assert_eq!(code, 1, "{out}{err}");
        assert_eq!(os_error(&err), Some(libc::EACCES), "{err}");
        assert!(!err.contains("needs root"), "{err}");
        assert!(
            err.contains("not a subset of the parent's cpuset.cpus"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(h.dir(&child.path).join("cpuset.cpus"))
                .unwrap()
                .trim(),
            "0"
        );
    }
}
