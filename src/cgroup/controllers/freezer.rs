//! The freezer: a v1 controller; on v2 built into every non-root group
//! (`cgroup.freeze`, `cgroup.events`), read on pure v2 hosts only (on hybrid
//! hosts the unified hierarchy holds no processes to freeze).

use super::{with, At, Controller, Read};
use crate::cgroup::parse;

pub const CONTROLLER: Controller = Controller {
    name: "freezer",
    reads: &[
        Read {
            at: At::V1("freezer"),
            file: "freezer.state",
            slow: true,
            apply: |t, s| s.frozen = with(t, parse::v1_freezer_state),
        },
        // `cgroup.freeze` is only the request; `cgroup.events` `frozen` says
        // whether the group *is* frozen (like v1's freezer.state) and wins
        // when present (it is applied after).
        Read {
            at: At::PureV2UnlessV1("freezer"),
            file: "cgroup.freeze",
            slow: true,
            apply: |t, s| s.frozen = t.map(|t| t.trim() == "1"),
        },
        Read {
            at: At::PureV2UnlessV1("freezer"),
            file: "cgroup.events",
            slow: true,
            apply: |t, s| {
                if let Some(f) = with(t, |t| parse::flat_key(t, "frozen")) {
                    s.frozen = Some(f == 1);
                }
            },
        },
    ],
};
