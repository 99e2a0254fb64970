//! Setting the `net.rate_*` knobs of a running workload, all or nothing,
//! like the cgroup knobs (`cgroup::write`): the old rates are read back from
//! the kernel first (the restore form of a rate: its old tbf, or no qdisc),
//! and when one write is refused the ones already made in the call are put
//! back, newest first, each checked by reading it back.

use std::path::Path;

use super::{get_rate, set_rate, NetKnob, NetState};

/// One rate written: what it was before (to undo it) and what it is now
/// (`None`: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateChange {
    pub knob: NetKnob,
    pub old: Option<u64>,
    pub new: Option<u64>,
}

/// `net.rate_out=2M` / `net.rate_in=max`.
pub fn setting_text(knob: NetKnob, rate: Option<u64>) -> String {
    format!(
        "{}={}",
        knob.name(),
        rate.map_or("max".to_string(), crate::cgroup::knob::format_size)
    )
}

/// A refused rate, and what became of the rates written before it in the
/// same call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateError {
    pub knob: NetKnob,
    pub rate: Option<u64>,
    pub why: String,
    /// Written earlier in the call, then put back (read back to check).
    pub restored: Vec<NetKnob>,
    /// Written earlier in the call and not put back: knob, what it held
    /// before, why the restore failed.
    pub left_changed: Vec<(NetKnob, Option<u64>, String)>,
}

impl std::fmt::Display for RateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", setting_text(self.knob, self.rate), self.why)?;
        write_rollback(f, &self.restored, &self.left_changed)
    }
}

/// `; the earlier writes were undone (net.rate_in)`, or what was left changed.
fn write_rollback(
    f: &mut std::fmt::Formatter<'_>,
    restored: &[NetKnob],
    left: &[(NetKnob, Option<u64>, String)],
) -> std::fmt::Result {
    let names = |v: &[NetKnob]| v.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
    if !left.is_empty() {
        write!(f, "; UNDO FAILED, left changed: ")?;
        for (i, (k, old, why)) in left.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} was {} ({why})", k.name(), setting_text(*k, *old))?;
        }
        if !restored.is_empty() {
            write!(f, "; restored: {}", names(restored))?;
        }
    } else if !restored.is_empty() {
        write!(f, "; the earlier writes were undone ({})", names(restored))?;
    }
    Ok(())
}

/// What [`restore_rates`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateRollback {
    pub restored: Vec<NetKnob>,
    pub left_changed: Vec<(NetKnob, Option<u64>, String)>,
}

impl std::fmt::Display for RateRollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_rollback(f, &self.restored, &self.left_changed)
    }
}

/// The kernel's side of the knobs, so the all-or-nothing logic is tested
/// without a namespace (`Kernel` below is the real one).
pub trait RateIo {
    fn get(&mut self, knob: NetKnob) -> Result<Option<u64>, String>;
    fn set(&mut self, knob: NetKnob, rate: Option<u64>) -> Result<(), String>;
}

/// The workload's veth (`rate_in`) and `eth0` in its namespace (`rate_out`);
/// every change is recorded in its state file (what `snapshot` shows).
pub struct Kernel<'a> {
    pub group: &'a str,
    pub state: &'a NetState,
    pub netns: &'a Path,
}

impl RateIo for Kernel<'_> {
    fn get(&mut self, knob: NetKnob) -> Result<Option<u64>, String> {
        get_rate(self.state, self.netns, knob)
    }
    fn set(&mut self, knob: NetKnob, rate: Option<u64>) -> Result<(), String> {
        set_rate(self.state, self.netns, knob, rate)?;
        crate::launch::record_net_rate(self.group, knob, rate);
        Ok(())
    }
}

/// Sets every rate of `settings` in order; all or nothing (see the module
/// doc). A rate whose old value can't be read could not be restored: refused
/// before anything is written (unless it is the last one, which never needs
/// restoring).
pub fn apply_rates(
    io: &mut dyn RateIo,
    settings: &[(NetKnob, Option<u64>)],
) -> Result<Vec<RateChange>, RateError> {
    let mut old = Vec::with_capacity(settings.len());
    for (i, &(knob, rate)) in settings.iter().enumerate() {
        match io.get(knob) {
            Ok(r) => old.push(r),
            Err(_) if i + 1 == settings.len() => old.push(None),
            Err(why) => {
                return Err(RateError {
                    knob,
                    rate,
                    why: format!("reading its current value (to restore it): {why}"),
                    restored: Vec::new(),
                    left_changed: Vec::new(),
                })
            }
        }
    }
    let mut done: Vec<RateChange> = Vec::with_capacity(settings.len());
    for (&(knob, rate), &was) in settings.iter().zip(&old) {
        if let Err(why) = io.set(knob, rate) {
            let rb = restore_rates(io, &done);
            return Err(RateError {
                knob,
                rate,
                why,
                restored: rb.restored,
                left_changed: rb.left_changed,
            });
        }
        done.push(RateChange {
            knob,
            old: was,
            new: rate,
        });
    }
    Ok(done)
}

/// Puts `done` back (newest first), each read back to check: the undo of a
/// refused call, and of the network half of a `set` whose cgroup half the
/// kernel refused.
pub fn restore_rates(io: &mut dyn RateIo, done: &[RateChange]) -> RateRollback {
    let mut rb = RateRollback::default();
    for c in done.iter().rev() {
        let failure = match io.set(c.knob, c.old) {
            Err(e) => Some(format!("writing it back: {e}")),
            Ok(()) => match io.get(c.knob) {
                Ok(r) if r == c.old => None,
                Ok(r) => Some(format!(
                    "written back, but it reads {}",
                    setting_text(c.knob, r)
                )),
                Err(e) => Some(format!("written back, but reading it failed: {e}")),
            },
        };
        match failure {
            None => rb.restored.push(c.knob),
            Some(why) => rb.left_changed.push((c.knob, c.old, why)),
        }
    }
    rb
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Rates in memory; `refuse` makes a set of that knob to that rate fail.
    #[derive(Default)]
    struct Fake {
        now: HashMap<&'static str, Option<u64>>,
        refuse: Vec<(NetKnob, Option<u64>)>,
        unreadable: Vec<NetKnob>,
        log: Vec<String>,
    }

    impl RateIo for Fake {
        fn get(&mut self, knob: NetKnob) -> Result<Option<u64>, String> {
            if self.unreadable.contains(&knob) {
                return Err("no such device".into());
            }
            Ok(self.now.get(knob.name()).copied().flatten())
        }
        fn set(&mut self, knob: NetKnob, rate: Option<u64>) -> Result<(), String> {
            self.log.push(setting_text(knob, rate));
            if self.refuse.contains(&(knob, rate)) {
                return Err("Invalid argument".into());
            }
            self.now.insert(knob.name(), rate);
            Ok(())
        }
    }

    const M: u64 = 1 << 20;

    #[test]
    fn all_written_with_the_old_values_to_undo_them() {
        let mut f = Fake::default();
        f.now.insert("net.rate_in", Some(M));
        let done = apply_rates(
            &mut f,
            &[(NetKnob::RateIn, Some(2 * M)), (NetKnob::RateOut, Some(M))],
        )
        .unwrap();
        assert_eq!(
            done,
            vec![
                RateChange {
                    knob: NetKnob::RateIn,
                    old: Some(M),
                    new: Some(2 * M)
                },
                RateChange {
                    knob: NetKnob::RateOut,
                    old: None,
                    new: Some(M)
                },
            ]
        );
        // Undone, newest first: back where it was.
        let rb = restore_rates(&mut f, &done);
        assert_eq!(rb.restored, vec![NetKnob::RateOut, NetKnob::RateIn]);
        assert_eq!(f.get(NetKnob::RateIn), Ok(Some(M)));
        assert_eq!(f.get(NetKnob::RateOut), Ok(None));
    }

    #[test]
    fn a_refusal_restores_what_the_call_wrote() {
        let mut f = Fake {
            refuse: vec![(NetKnob::RateOut, Some(3 * M))],
            ..Fake::default()
        };
        let e = apply_rates(
            &mut f,
            &[
                (NetKnob::RateIn, Some(2 * M)),
                (NetKnob::RateOut, Some(3 * M)),
            ],
        )
        .unwrap_err();
        assert_eq!(f.get(NetKnob::RateIn), Ok(None));
        assert_eq!(e.restored, vec![NetKnob::RateIn]);
        assert_eq!(
            f.log,
            ["net.rate_in=2M", "net.rate_out=3M", "net.rate_in=max"]
        );
        assert_eq!(
            e.to_string(),
            "net.rate_out=3M: Invalid argument; the earlier writes were undone (net.rate_in)"
        );
    }

    #[test]
    fn a_failed_restore_is_named() {
        let mut f = Fake {
            refuse: vec![(NetKnob::RateOut, Some(3 * M)), (NetKnob::RateIn, None)],
            ..Fake::default()
        };
        let e = apply_rates(
            &mut f,
            &[
                (NetKnob::RateIn, Some(2 * M)),
                (NetKnob::RateOut, Some(3 * M)),
            ],
        )
        .unwrap_err();
        assert!(e.restored.is_empty());
        assert_eq!(e.left_changed.len(), 1);
        assert!(
            e.to_string().contains(
                "UNDO FAILED, left changed: net.rate_in was net.rate_in=max (writing it back: Invalid argument)"
            ),
            "{e}"
        );
    }

    #[test]
    fn an_unreadable_old_value_refuses_before_writing() {
        let mut f = Fake {
            unreadable: vec![NetKnob::RateIn],
            ..Fake::default()
        };
        let e = apply_rates(
            &mut f,
            &[(NetKnob::RateIn, Some(2 * M)), (NetKnob::RateOut, Some(M))],
        )
        .unwrap_err();
        assert!(e.why.contains("to restore it"), "{e}");
        assert!(f.log.is_empty(), "{:?}", f.log);
    }
}
