//! Per-group history for the dashboard's charts: fixed-size rings, one value
//! per recorded snapshot.

use std::collections::{HashMap, VecDeque};

use crate::model::{GroupSnapshot, Snapshot};

/// Keeps the last `capacity` values pushed.
#[derive(Clone, Debug)]
pub struct Ring<T> {
    buf: VecDeque<T>,
    capacity: usize,
}

impl<T: Clone> Ring<T> {
    /// A ring of at least one slot.
    pub fn new(cap: usize) -> Self {
        let capacity = cap.max(1);
        Ring {
            buf: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub fn push(&mut self, v: T) {
        if self.buf.len() == self.capacity {
            self.buf.pop_front();
        }
        self.buf.push_back(v);
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.buf.iter()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The newest value.
    pub fn last(&self) -> Option<&T> {
        self.buf.back()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// One group's series, all the same length (one entry per recorded snapshot
/// in which the group existed).
#[derive(Clone, Debug)]
pub struct GroupHistory {
    pub timestamp_ms: Ring<u64>,
    pub cpu_percent: Ring<Option<f64>>,
    pub cpu_limit_percent: Ring<Option<f64>>,
    pub throttled_percent: Ring<Option<f64>>,
    pub throttled_periods_percent: Ring<Option<f64>>,
    pub memory_bytes: Ring<Option<u64>>,
    pub memory_max_bytes: Ring<Option<u64>>,
    pub memory_high_bytes: Ring<Option<u64>>,
    /// The group's identity when recorded; another id means a new group.
    id: Option<u64>,
    /// `History::generation` of the last snapshot that had this group.
    seen: u64,
}

impl GroupHistory {
    fn new(capacity: usize, id: Option<u64>) -> GroupHistory {
        GroupHistory {
            timestamp_ms: Ring::new(capacity),
            cpu_percent: Ring::new(capacity),
            cpu_limit_percent: Ring::new(capacity),
            throttled_percent: Ring::new(capacity),
            throttled_periods_percent: Ring::new(capacity),
            memory_bytes: Ring::new(capacity),
            memory_max_bytes: Ring::new(capacity),
            memory_high_bytes: Ring::new(capacity),
            id,
            seen: 0,
        }
    }

    fn push(&mut self, timestamp_ms: u64, g: &GroupSnapshot) {
        self.timestamp_ms.push(timestamp_ms);
        self.cpu_percent.push(g.cpu.usage_percent);
        self.cpu_limit_percent.push(g.cpu.limit_percent);
        self.throttled_percent.push(g.cpu.throttled_percent);
        self.throttled_periods_percent
            .push(g.cpu.throttled_periods_percent);
        self.memory_bytes.push(g.memory.current_bytes);
        self.memory_max_bytes.push(g.memory.max_bytes);
        self.memory_high_bytes.push(g.memory.high_bytes);
    }

    pub fn len(&self) -> usize {
        self.timestamp_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamp_ms.is_empty()
    }
}

/// Histories of every group seen in the recorded snapshots, by path (as in
/// `GroupSnapshot::path`). A group missing from a snapshot is dropped at
/// once (it was removed); one recreated under the same path (new id) starts
/// a fresh history.
#[derive(Clone, Debug)]
pub struct History {
    capacity: usize,
    groups: HashMap<String, GroupHistory>,
    /// Timestamp of the last recorded snapshot, to ignore the same one twice.
    last_ms: Option<u64>,
    generation: u64,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            capacity: capacity.max(1),
            groups: HashMap::new(),
            last_ms: None,
            generation: 0,
        }
    }

    /// Appends one point per group. Recording the same snapshot twice (same
    /// timestamp) is a no-op, so callers can record whatever they receive.
    pub fn record(&mut self, snap: &Snapshot) {
        if self.last_ms == Some(snap.timestamp_ms) {
            return;
        }
        self.last_ms = Some(snap.timestamp_ms);
        self.generation += 1;
        let (cap, gen) = (self.capacity, self.generation);
        for g in &snap.groups {
            match self.groups.get_mut(&g.path) {
                Some(h) if h.id == g.id => {
                    h.push(snap.timestamp_ms, g);
                    h.seen = gen;
                }
                _ => {
                    let mut h = GroupHistory::new(cap, g.id);
                    h.push(snap.timestamp_ms, g);
                    h.seen = gen;
                    self.groups.insert(g.path.clone(), h);
                }
            }
        }
        self.groups.retain(|_, h| h.seen == gen);
    }

    pub fn get(&self, path: &str) -> Option<&GroupHistory> {
        self.groups.get(path)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of groups with a history.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_values() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        assert_eq!(r.last(), None);
        for i in 1..=5 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(r.iter().rev().copied().collect::<Vec<_>>(), vec![5, 4, 3]);
        assert_eq!((r.len(), r.capacity(), r.last()), (3, 3, Some(&5)));
        assert_eq!(Ring::<u8>::new(0).capacity(), 1);
    }

    fn snap(ts: u64, groups: &[(&str, u64, f64)]) -> Snapshot {
        let mut s = Snapshot {
            timestamp_ms: ts,
            ..Default::default()
        };
        for &(path, id, cpu) in groups {
            let mut g = GroupSnapshot {
                path: path.to_string(),
                id: Some(id),
                ..Default::default()
            };
            g.cpu.usage_percent = Some(cpu);
            g.memory.current_bytes = Some(id * 10);
            s.groups.push(g);
        }
        s
    }

    #[test]
    fn history_follows_groups() {
        let mut h = History::new(2);
        h.record(&snap(1000, &[("/", 1, 50.0), ("a", 2, 10.0)]));
        h.record(&snap(1000, &[("/", 1, 50.0), ("a", 2, 10.0)])); // same snapshot again
        h.record(&snap(2000, &[("/", 1, 60.0), ("a", 2, 20.0)]));
        h.record(&snap(3000, &[("/", 1, 70.0), ("a", 2, 30.0)]));
        let a = h.get("a").expect("a");
        assert_eq!(a.len(), 2);
        let cpu: Vec<_> = a.cpu_percent.iter().copied().collect();
        assert_eq!(cpu, vec![Some(20.0), Some(30.0)]);
        assert_eq!(a.timestamp_ms.last(), Some(&3000));
        assert_eq!(a.memory_bytes.last(), Some(&Some(20)));

        // `a` removed and recreated (new inode): a fresh history.
        h.record(&snap(4000, &[("/", 1, 70.0), ("a", 9, 1.0)]));
        let a = h.get("a").expect("a");
        assert_eq!(
            a.cpu_percent.iter().copied().collect::<Vec<_>>(),
            vec![Some(1.0)]
        );

        // `a` gone: dropped.
        h.record(&snap(5000, &[("/", 1, 70.0)]));
        assert!(h.get("a").is_none());
        assert_eq!(h.get("/").map(GroupHistory::len), Some(2));
        assert_eq!(h.len(), 1);
    }
}
