//! The cpuset controller: the CPUs and memory nodes a group may use.

use super::{At, Controller, Read};

fn list(t: Option<&str>) -> Option<String> {
    t.map(|t| t.trim().to_string())
}

pub const CONTROLLER: Controller = Controller {
    name: "cpuset",
    reads: &[
        Read {
            at: At::Any("cpuset"),
            file: "cpuset.cpus",
            slow: true,
            apply: |t, s| s.cpuset.cpus = list(t),
        },
        Read {
            at: At::Any("cpuset"),
            file: "cpuset.mems",
            slow: true,
            apply: |t, s| s.cpuset.mems = list(t),
        },
        Read {
            at: At::V1("cpuset"),
            file: "cpuset.effective_cpus",
            slow: true,
            apply: |t, s| s.cpuset.effective_cpus = list(t),
        },
        Read {
            at: At::V2("cpuset"),
            file: "cpuset.cpus.effective",
            slow: true,
            apply: |t, s| s.cpuset.effective_cpus = list(t),
        },
    ],
};
