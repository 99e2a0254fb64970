//! The pids controller: the same files on v1 and v2.

use super::{with, At, Controller, Read};
use crate::cgroup::parse;

pub const CONTROLLER: Controller = Controller {
    name: "pids",
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
