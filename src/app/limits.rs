//! Changing limits from the dashboard: the quick keys (`+`/`-`, `m`/`M`,
//! `f`), undo, and the bookkeeping of values written but not yet sampled.
//! Every write passes [`App::apply`], which refuses to freeze cgdash's own
//! group (or its shell's, its terminal's) and asks before the first write to
//! a group cgdash did not launch.

use super::form::EditForm;
use super::quick;
use super::{App, Effect, Marker, Overlay, StatusKind, MAX_MARKERS};
use crate::cgroup::knob::{Knob, Setting, Value};
use crate::cgroup::{CpuQuota, Limit};
use crate::net::NetKnob;

/// The network half of a change (issue 19): `net.rate_*` are traffic
/// control on a `--net veth` workload's veth, not cgroup files, so they are
/// written by an effect of their own ([`Effect::SetNet`]) — but asked for,
/// confirmed, undone and answered like the cgroup knobs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetChange {
    /// The rates to set (`None`: no limit).
    pub set: Vec<(NetKnob, Option<u64>)>,
    /// The rates that undo them (empty: not undoable).
    pub undo: Vec<(NetKnob, Option<u64>)>,
    /// What the status line calls it (`net.rate_out=1M`, `undo → …`).
    pub label: String,
}

impl NetChange {
    /// `set` with its undo, labelled `PREFIX` + `net.rate_out=1M …`.
    pub fn new(
        set: Vec<(NetKnob, Option<u64>)>,
        undo: Vec<(NetKnob, Option<u64>)>,
        prefix: &str,
    ) -> NetChange {
        let label = format!("{prefix}{}", rates_text(&set));
        NetChange { set, undo, label }
    }
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// `net.rate_in=2M net.rate_out=max`.
pub fn rates_text(rates: &[(NetKnob, Option<u64>)]) -> String {
    rates
        .iter()
        .map(|&(k, r)| crate::net::rate::setting_text(k, r))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A write held back until the user confirms it with `y` (the group was not
/// launched by cgdash: one stray key must not change a system group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteConfirm {
    /// Display form.
    pub group: String,
    pub settings: Vec<Setting>,
    pub undo: Option<Vec<Setting>>,
    /// `cpu=30%`, `undo → cpu=20%`.
    pub label: String,
    /// The editor the write came from, reopened if the write is refused.
    pub(super) form: Option<Box<EditForm>>,
    /// The group's owner (docker, podman, systemd) and the command that
    /// makes the change stick there, when someone else owns it.
    pub owner: Option<String>,
    /// The network knobs of the same change (confirmed with it).
    pub net: NetChange,
}

impl WriteConfirm {
    /// Everything the write changes, for the question (`cpu=30%
    /// net.rate_out=1M`).
    pub fn what(&self) -> String {
        match (self.settings.is_empty(), self.net.is_empty()) {
            (_, true) => self.label.clone(),
            (true, false) => self.net.label.clone(),
            (false, false) => format!("{} {}", self.label, self.net.label),
        }
    }
}

/// One undoable change, in the order the keys were pressed (not the order
/// the writes came back): its slot is taken when the write is asked for.
#[derive(Clone, Debug)]
pub(super) struct UndoEntry {
    pub(super) group: String,
    pub(super) settings: Vec<Setting>,
    /// The write's label, to match its answer.
    pub(super) label: String,
    /// The rates that undo the network half of a change (its own entry,
    /// same `batch` as the cgroup half: one `u` undoes both).
    pub(super) net: Vec<(NetKnob, Option<u64>)>,
    /// The kernel took the write: tells which of two entries with the same
    /// label a refusal removes.
    pub(super) written: bool,
    /// Entries asked for by one action (an editor submission with cgroup
    /// and network knobs) share it; `u` undoes them together.
    pub(super) batch: u64,
}

/// Values just written and not yet seen in a snapshot, so that `+ + +`
/// pressed within one refresh counts from 20 % to 50 %, not to 30 % three times.
#[derive(Clone, Debug, Default)]
pub(super) struct Pending {
    pub(super) cpu: Option<Option<f64>>,
    pub(super) memory: Option<Option<u64>>,
    pub(super) frozen: Option<bool>,
    /// Snapshots left before the guess is dropped, counted only once no
    /// write to the group is in flight.
    pub(super) ttl: u8,
    /// Writes asked for and not yet answered. While there are any, a sample
    /// that doesn't show the guess is simply older than the writes: with
    /// `+` ×8 queued, the resamples after the first answers used to use up
    /// the ttl, the guess was dropped, and the next keys counted from a stale
    /// value (8 × `+` from 20 % ended at 50 %, not 100 %).
    pub(super) in_flight: u32,
}

impl App {
    pub(super) fn on_applied(
        &mut self,
        group: String,
        label: String,
        undo: Option<Vec<Setting>>,
        result: Result<String, String>,
    ) {
        // The editor's write, answered: it no longer waits (reopened below
        // if refused).
        let stash = match &self.edit_stash {
            Some((l, f)) if *l == label && f.group == group => self.edit_stash.take(),
            _ => None,
        };
        if let Some(p) = self.pending.get_mut(&group) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        let owner = self
            .owner_notes
            .iter()
            .position(|(g, l, _)| *g == group && *l == label)
            .map(|i| self.owner_notes.remove(i).2);
        match result {
            Ok(detail) => {
                let text = match owner {
                    // The owner's note instead of the file written: the
                    // status line has room for one of them, and this one
                    // says what the user still has to do.
                    Some(note) => format!("{label} written · {note}"),
                    None if detail.is_empty() => format!("{group}: {label}"),
                    None => format!("{group}: {label} ({detail})"),
                };
                self.set_status(StatusKind::Ok, text);
                // (The network half answers without `undo`: its entry is
                // found by its label too; an undo's own write has no entry.)
                let _ = undo;
                if let Some(e) = self
                    .undo
                    .iter_mut()
                    .find(|e| !e.written && e.group == group && e.label == label)
                {
                    e.written = true;
                }
                if self.markers.len() == MAX_MARKERS {
                    self.markers.remove(0);
                }
                self.markers.push(Marker {
                    group,
                    timestamp_ms: self.snapshot.timestamp_ms,
                    label,
                });
            }
            Err(e) => {
                self.pending.remove(&group);
                if let Some(i) = self
                    .undo
                    .iter()
                    .position(|e| !e.written && e.group == group && e.label == label)
                {
                    self.undo.remove(i);
                }
                self.set_status(
                    StatusKind::Error,
                    format!("{group}: {label} not written: {e}"),
                );
                // The editor's write was refused: back to the form as typed.
                if let Some((_, form)) = stash {
                    if self.overlay == Overlay::None {
                        self.overlay = Overlay::Edit(form);
                    }
                }
            }
        }
    }

    /// Marks the field of `knob` in the reopened editor of `group`.
    pub(super) fn on_write_refused(&mut self, group: &str, knob: Knob) {
        if let Overlay::Edit(form) = &mut self.overlay {
            if form.group == group {
                form.mark_refused(knob);
            }
        }
    }

    /// Why freezing `group` (display form) is refused, if it is: cgdash, its
    /// shell or its terminal runs in it or below it.
    fn freeze_refusal(&self, group: &str) -> Option<String> {
        let protected = self.where_we_run.as_ref().map(|w| (w.0)())?;
        let hit = protected
            .iter()
            .find(|p| group == "/" || p.as_str() == group || p.starts_with(&format!("{group}/")))?;
        Some(if hit == group {
            format!(
                "{group}: not frozen — cgdash itself (or its shell or terminal) runs in this group"
            )
        } else {
            format!("{group}: not frozen — cgdash itself (or its shell or terminal) runs below it, in {hit}")
        })
    }

    pub(super) fn pending_mut(&mut self, path: &str) -> &mut Pending {
        let p = self.pending.entry(path.to_string()).or_default();
        p.ttl = 4;
        p
    }

    /// Every write of the dashboard goes through here (quick keys, editor,
    /// undo): refuses a freeze that would stop cgdash, holds a first write to
    /// a foreign group for confirmation, else asks the loop to write.
    pub(super) fn apply(
        &mut self,
        group: &str,
        settings: Vec<Setting>,
        undo: Option<Vec<Setting>>,
    ) -> Vec<Effect> {
        let label = settings
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        self.apply_labelled(group, settings, undo, label, None, NetChange::default())
    }

    /// The owner's note for writing `settings` to `group` (see
    /// `names::owner`), on one line: None for groups no one else owns.
    pub(super) fn owner_note(&self, group: &str, settings: &[Setting]) -> Option<String> {
        let g = self.snapshot.groups.iter().find(|g| g.path == group)?;
        g.identity.kind.as_ref()?;
        // On a key press, not per refresh: a docker container's
        // hostconfig.json is read here (which CPU flag docker accepts).
        let roots = self
            .names_roots
            .clone()
            .unwrap_or_else(|| crate::names::Roots::from_flags(&Default::default()));
        let cx = crate::names::owner::Context {
            cpu_v2: self.snapshot.mode == Some(crate::cgroup::Mode::V2),
            memory_now: g.memory.max_bytes,
            ..crate::names::Resolver::new(roots).owner_context(group)
        };
        let note = crate::names::owner::owner_hint_with(&g.identity, settings, cx)?;
        let note = note.strip_prefix("note: ").unwrap_or(&note);
        Some(
            note.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// [`App::apply`] with the status line's label, the editor to reopen
    /// if the write is refused, and the network half of the change.
    pub(super) fn apply_labelled(
        &mut self,
        group: &str,
        settings: Vec<Setting>,
        undo: Option<Vec<Setting>>,
        label: String,
        form: Option<Box<EditForm>>,
        net: NetChange,
    ) -> Vec<Effect> {
        let freezes = settings
            .iter()
            .any(|s| s.knob == Knob::Freeze && s.value == Value::Bool(true));
        if freezes {
            if let Some(why) = self.freeze_refusal(group) {
                self.set_status(StatusKind::Error, why);
                if let Some(form) = form {
                    self.overlay = Overlay::Edit(form);
                }
                return Vec::new();
            }
        }
        if !self.is_owned(group) && !self.confirmed.contains(group) {
            let owner = self.owner_note(group, &settings);
            self.overlay = Overlay::ConfirmWrite(Box::new(WriteConfirm {
                group: group.to_string(),
                settings,
                undo,
                label,
                form,
                owner,
                net,
            }));
            return Vec::new();
        }
        if let Some(form) = form {
            // Reopened if the cgroup half is refused, else if the network
            // half is (a change of network knobs only).
            let l = if settings.is_empty() {
                net.label.clone()
            } else {
                label.clone()
            };
            self.edit_stash = Some((l, form));
        }
        self.undo_batch += 1;
        let batch = self.undo_batch;
        if let Some(u) = undo.as_ref().filter(|u| !u.is_empty()) {
            self.undo.push(UndoEntry {
                group: group.to_string(),
                settings: u.clone(),
                net: Vec::new(),
                label: label.clone(),
                written: false,
                batch,
            });
        }
        if !net.undo.is_empty() {
            self.undo.push(UndoEntry {
                group: group.to_string(),
                settings: Vec::new(),
                net: net.undo.clone(),
                label: net.label.clone(),
                written: false,
                batch,
            });
        }
        let mut effects = Vec::new();
        let what = if net.is_empty() {
            label.clone()
        } else if settings.is_empty() {
            net.label.clone()
        } else {
            format!("{label} {}", net.label)
        };
        if !net.is_empty() {
            self.pending_mut(group).in_flight += 1;
            effects.push(Effect::SetNet {
                group: crate::cgroup::normalize_path(group),
                net: net.set,
                label: net.label.clone(),
            });
        }
        self.set_status(StatusKind::Info, format!("{group}: writing {what}…"));
        if settings.is_empty() {
            return effects;
        }
        for s in &settings {
            match &s.value {
                Value::Cpu(q) => self.pending_mut(group).cpu = Some(q.percent()),
                Value::Bytes(l) if s.knob == Knob::Memory => {
                    self.pending_mut(group).memory = Some(l.value())
                }
                Value::Bool(b) => self.pending_mut(group).frozen = Some(*b),
                _ => {}
            }
        }
        self.pending_mut(group).in_flight += 1;
        if let Some(note) = self.owner_note(group, &settings) {
            // Bounded: answers always come, but never let it grow.
            if self.owner_notes.len() >= 32 {
                self.owner_notes.remove(0);
            }
            self.owner_notes
                .push((group.to_string(), label.clone(), note));
        }
        let group = group.to_string();
        // The cgroup half first (as before the network knobs existed); one
        // writer per group keeps both in this order.
        effects.insert(
            0,
            Effect::Apply {
                group: crate::cgroup::normalize_path(&group),
                settings,
                label,
                undo,
            },
        );
        effects
    }

    /// `y` in the write confirmation: this group may be changed from now on.
    pub(super) fn confirm_write(&mut self, c: WriteConfirm) -> Vec<Effect> {
        self.confirmed.insert(c.group.clone());
        self.apply_labelled(&c.group, c.settings, c.undo, c.label, c.form, c.net)
    }

    pub(super) fn quick_cpu(&mut self, up: bool) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let current = match self.pending.get(&g.path).and_then(|p| p.cpu) {
            Some(c) => c,
            None => g.cpu.limit_percent,
        };
        match quick::cpu_step(current, up, self.snapshot.cpus) {
            Ok(q) => {
                let old = current.map(CpuQuota::from_percent).unwrap_or(CpuQuota::Max);
                let undo = vec![Setting {
                    knob: Knob::Cpu,
                    value: Value::Cpu(old),
                }];
                let new = vec![Setting {
                    knob: Knob::Cpu,
                    value: Value::Cpu(q),
                }];
                self.apply(&g.path, new, Some(undo))
            }
            Err(why) => {
                self.set_status(StatusKind::Info, format!("{}: {why}", g.path));
                Vec::new()
            }
        }
    }

    pub(super) fn quick_memory(&mut self, up: bool) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let current = match self.pending.get(&g.path).and_then(|p| p.memory) {
            Some(c) => c,
            None => g.memory.max_bytes,
        };
        let step = quick::memory_step(
            current,
            g.memory.current_bytes,
            self.snapshot.memory_total_bytes,
            up,
        );
        match step {
            Ok(l) => {
                let old = current.map(Limit::Value).unwrap_or(Limit::Max);
                let undo = vec![Setting {
                    knob: Knob::Memory,
                    value: Value::Bytes(old),
                }];
                let new = vec![Setting {
                    knob: Knob::Memory,
                    value: Value::Bytes(l),
                }];
                self.apply(&g.path, new, Some(undo))
            }
            Err(why) => {
                self.set_status(StatusKind::Info, format!("{}: {why}", g.path));
                Vec::new()
            }
        }
    }

    pub(super) fn quick_freeze(&mut self) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let current = self
            .pending
            .get(&g.path)
            .and_then(|p| p.frozen)
            .or(g.frozen);
        match current {
            Some(f) => {
                let undo = vec![Setting {
                    knob: Knob::Freeze,
                    value: Value::Bool(f),
                }];
                let new = vec![Setting {
                    knob: Knob::Freeze,
                    value: Value::Bool(!f),
                }];
                self.apply(&g.path, new, Some(undo))
            }
            None => {
                self.set_status(
                    StatusKind::Error,
                    format!("{}: no freezer for this group", g.path),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn undo(&mut self) -> Vec<Effect> {
        if !self.check_writable() {
            return Vec::new();
        }
        // The last change asked for, answered or not: writes to a group land
        // in the order they were asked for (one writer per group), so the
        // undo of a write still in flight lands after it. Skipping in-flight
        // writes instead made `+ + u` undo the wrong step whenever the
        // answers lagged behind the keys (a busy or slow machine).
        match self.undo.pop() {
            Some(e) => {
                // The other half of the same change (cgroup and network
                // knobs submitted together), if it was written too.
                let mut settings = e.settings;
                let mut net = e.net;
                while let Some(o) = self
                    .undo
                    .last()
                    .filter(|o| o.batch == e.batch && o.group == e.group)
                {
                    settings.extend(o.settings.iter().cloned());
                    net.extend(o.net.iter().copied());
                    self.undo.pop();
                }
                let label = settings
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                let label = format!("undo → {label}");
                let net = NetChange::new(net, Vec::new(), "undo → ");
                self.apply_labelled(&e.group, settings, None, label, None, net)
            }
            None => {
                self.set_status(StatusKind::Info, "nothing to undo");
                Vec::new()
            }
        }
    }
}

pub(super) fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 0.5,
        (None, None) => true,
        _ => false,
    }
}
