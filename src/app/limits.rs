//! Changing limits from the dashboard: the quick keys (`+`/`-`, `m`/`M`,
//! `f`), undo, and the bookkeeping of values written but not yet sampled.

use super::quick;
use super::{App, Effect, Marker, StatusKind, MAX_MARKERS};
use crate::cgroup::knob::{Knob, Setting, Value};
use crate::cgroup::{CpuQuota, Limit};

#[derive(Clone, Debug)]
pub(super) struct UndoEntry {
    pub(super) group: String,
    pub(super) settings: Vec<Setting>,
}

/// Values just written and not yet seen in a snapshot, so that `+ + +`
/// pressed within one refresh counts from 20 % to 50 %, not to 30 % three times.
#[derive(Clone, Debug, Default)]
pub(super) struct Pending {
    pub(super) cpu: Option<Option<f64>>,
    pub(super) memory: Option<Option<u64>>,
    pub(super) frozen: Option<bool>,
    /// Snapshots left before the guess is dropped.
    pub(super) ttl: u8,
}

impl App {
    pub(super) fn on_applied(
        &mut self,
        group: String,
        label: String,
        undo: Option<Vec<Setting>>,
        result: Result<String, String>,
    ) {
        match result {
            Ok(detail) => {
                let text = if detail.is_empty() {
                    format!("{group}: {label}")
                } else {
                    format!("{group}: {label} ({detail})")
                };
                self.set_status(StatusKind::Ok, text);
                if let Some(settings) = undo.filter(|u| !u.is_empty()) {
                    self.undo.push(UndoEntry {
                        group: group.clone(),
                        settings,
                    });
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
                self.set_status(
                    StatusKind::Error,
                    format!("{group}: {label} not written: {e}"),
                );
            }
        }
    }

    pub(super) fn pending_mut(&mut self, path: &str) -> &mut Pending {
        let p = self.pending.entry(path.to_string()).or_default();
        p.ttl = 4;
        p
    }

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
        self.set_status(StatusKind::Info, format!("{group}: writing {label}…"));
        vec![Effect::Apply {
            group: crate::cgroup::normalize_path(group),
            settings,
            label,
            undo,
        }]
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
        match self.undo.pop() {
            Some(e) => {
                let mut fx = self.apply(&e.group, e.settings, None);
                if let Some(Effect::Apply { label, .. }) = fx.first_mut() {
                    *label = format!("undo → {label}");
                }
                fx
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
