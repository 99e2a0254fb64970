//! The pids controller: the same files on v1 and v2.

use serde::Serialize;

use super::{mismatch, no_explanation, no_note, one, with, At, Controller, Flag, KnobDef, Read};
use crate::cgroup::knob::{self, Knob, Value, PID_MAX_LIMIT};
use crate::cgroup::parse;
use crate::cgroup::stats::Limit;
use crate::cgroup::write::v2_limit;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    pub current: Option<u64>,
    pub max: Option<Limit>,
    /// `pids.events` `max`: forks refused because of `pids.max`.
    pub max_events: Option<u64>,
}

/// The published pids part of a group (`groups[].pids` in the JSON).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PidsView {
    pub current: Option<u64>,
    /// null when unlimited.
    pub max: Option<u64>,
    /// Forks refused because of pids.max (cumulative).
    pub max_events: Option<u64>,
}

impl PidsView {
    pub fn levels(p: &PidsStats) -> PidsView {
        PidsView {
            current: p.current,
            max: p.max.and_then(Limit::value),
            max_events: p.max_events,
        }
    }
}

pub const CONTROLLER: Controller = Controller {
    name: "pids",
    v1_names: &["pids"],
    v2_enable: true,
    knobs: KNOBS,
    explain: no_explanation,
    note: no_note,
    restore: &[],
    reads: &[
        Read {
            at: At::Any("pids"),
            file: "pids.current",
            slow: false,
            apply: |t, s| s.pids.current = with(t, parse::single_u64),
        },
        Read {
            at: At::Any("pids"),
            file: "pids.max",
            slow: true,
            apply: |t, s| s.pids.max = with(t, parse::v2_limit),
        },
        Read {
            at: At::Any("pids"),
            file: "pids.events",
            slow: true,
            apply: |t, s| s.pids.max_events = with(t, |t| parse::flat_key(t, "max")),
        },
    ],
};

// ---- knobs ----------------------------------------------------------------

#[allow(non_upper_case_globals)]
impl Knob {
    pub const Pids: Knob = Knob("pids");
}

const KNOBS: &[KnobDef] = &[KnobDef {
    knob: Knob::Pids,
    aliases: &["pids.max"],
    syntax: "a whole number or max",
    flag: Some(Flag {
        name: "pids",
        help: "Maximum number of processes/threads",
    }),
    launch: true,
    errors: &[],
    parse: |v, _| {
        if knob::is_max(v) {
            return Ok(Value::Count(Limit::Max));
        }
        let n: u64 = v.parse().map_err(|_| "not a whole number")?;
        // The kernel refuses pids.max ≥ PIDS_MAX = PID_MAX_LIMIT + 1
        // (EINVAL); PID_MAX_LIMIT is 4194304 on 64-bit kernels.
        if n > PID_MAX_LIMIT {
            return Err(format!(
                "the kernel's largest pids.max is {PID_MAX_LIMIT} (use max for no limit)"
            )
            .into());
        }
        Ok(Value::Count(Limit::Value(n)))
    },
    plan: |layout, group, s, _| {
        let Value::Count(l) = s.value else {
            return Err(mismatch(s));
        };
        let (dir, _) = layout.knob_dir(group, "pids", s.knob)?;
        Ok(one(s.knob, dir.join("pids.max"), v2_limit(l)))
    },
    order: |_, _| 5,
    current: |g| {
        Some(Value::Count(match g.pids.max {
            Some(n) => Limit::Value(n),
            None if g.pids.current.is_some() => Limit::Max,
            None => return None,
        }))
    },
}];
