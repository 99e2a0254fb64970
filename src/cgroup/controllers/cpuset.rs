//! The cpuset controller: the CPUs and memory nodes a group may use.

use serde::Serialize;

use super::{mismatch, no_explanation, no_note, one, At, Controller, Flag, KnobDef, Read};
use crate::cgroup::error::CgroupError;
use crate::cgroup::knob::{self, Host, Knob, Refusal, Setting, Value};
use crate::cgroup::layout::Layout;
use crate::cgroup::write::FileWrite;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpusetStats {
    pub cpus: Option<String>,
    pub mems: Option<String>,
    pub effective_cpus: Option<String>,
}

fn list(t: Option<&str>) -> Option<String> {
    t.map(|t| t.trim().to_string())
}

pub const CONTROLLER: Controller = Controller {
    name: "cpuset",
    v1_names: &["cpuset"],
    v2_enable: true,
    knobs: KNOBS,
    explain: no_explanation,
    note: no_note,
    restore: &[],
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

// ---- knobs ----------------------------------------------------------------

#[allow(non_upper_case_globals)]
impl Knob {
    pub const CpusetCpus: Knob = Knob("cpuset.cpus");
    pub const CpusetMems: Knob = Knob("cpuset.mems");
}

fn id_list(v: &str, _: Host) -> Result<Value, Refusal> {
    Ok(Value::List(knob::parse_id_list(v)?))
}

/// Same file name on v1 and v2: the knob's name.
fn plan(
    layout: &Layout,
    group: &str,
    s: &Setting,
    _: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let Value::List(list) = &s.value else {
        return Err(mismatch(s));
    };
    let (dir, _) = layout.knob_dir(group, "cpuset", s.knob)?;
    Ok(one(s.knob, dir.join(s.knob.name()), list.clone()))
}

const KNOBS: &[KnobDef] = &[
    KnobDef {
        knob: Knob::CpusetCpus,
        aliases: &[],
        syntax: "a CPU list like 0-1,3",
        flag: Some(Flag {
            name: "cpuset",
            help: "CPUs the workload may run on (0-1)",
        }),
        launch: false,
        // The kernel's reasons (kernel/cgroup/cpuset.c, validate_change
        // and update_cpumask): v1 refuses a list outside the parent's with
        // EACCES, not EINVAL; seen on the host's 6.1 (tests/hc_errno_live.rs).
        errors: &[
            (
                libc::EACCES,
                "not a subset of the parent's cpuset.cpus (cgroup v1 requires one), or no permission to write it",
            ),
            (libc::EINVAL, "names a CPU that is not online on this machine"),
            (libc::ERANGE, "names a CPU beyond this machine's largest CPU number"),
            (libc::EBUSY, "a child group uses a CPU this list leaves out (v1: children's cpuset.cpus must stay a subset)"),
            (libc::ENOSPC, "the group has processes and would be left without a CPU"),
        ],
        parse: id_list,
        plan,
        order: |_, _| 5,
        current: |g| {
            Some(Value::List(
                g.cpuset.cpus.clone().filter(|s| !s.is_empty())?,
            ))
        },
    },
    KnobDef {
        knob: Knob::CpusetMems,
        aliases: &["mems"],
        syntax: "a memory-node list like 0",
        flag: None,
        launch: false,
        errors: &[
            (
                libc::EACCES,
                "not a subset of the parent's cpuset.mems (cgroup v1 requires one), or no permission to write it",
            ),
            (libc::EINVAL, "names a memory node this machine does not have online"),
            (libc::ERANGE, "names a memory node beyond this machine's largest node number"),
            (libc::EBUSY, "a child group uses a memory node this list leaves out (v1: children's cpuset.mems must stay a subset)"),
            (libc::ENOSPC, "the group has processes and would be left without a memory node"),
        ],
        parse: id_list,
        plan,
        order: |_, _| 5,
        current: |g| {
            Some(Value::List(
                g.cpuset.mems.clone().filter(|s| !s.is_empty())?,
            ))
        },
    },
];
