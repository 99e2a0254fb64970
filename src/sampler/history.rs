//! Per-group history for the dashboard's charts: bounded rings, one value
//! per recorded snapshot, run-length encoded per series.

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
            buf: VecDeque::new(),
            capacity,
        }
    }

    pub fn push(&mut self, v: T) {
        if self.buf.len() == self.capacity {
            self.buf.pop_front();
        } else if self.buf.len() == self.buf.capacity() {
            // Grow by doubling, but never past the capacity (VecDeque alone
            // would round 300 up to 512).
            let more = self.buf.len().max(8).min(self.capacity - self.buf.len());
            self.buf.reserve_exact(more);
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

/// A ring of optional numbers for a chart, run-length encoded: an idle
/// group's series (0 % CPU, the same limit, the same memory for minutes)
/// is a run or two, not one slot per sample — hundreds of groups times
/// minutes of history stay small. Values are kept as f32 (a chart needs no
/// more: bytes within 1e-7 relative).
#[derive(Clone, Debug)]
pub struct Series {
    /// (value, repeat count); NaN stands for `None`.
    runs: VecDeque<(f32, u32)>,
    len: usize,
    capacity: usize,
}

impl Series {
    pub fn new(capacity: usize) -> Series {
        Series {
            runs: VecDeque::new(),
            len: 0,
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, v: Option<f64>) {
        let x = v.map_or(f32::NAN, |v| v as f32);
        match self.runs.back_mut() {
            Some((y, n)) if y.to_bits() == x.to_bits() || (y.is_nan() && x.is_nan()) => *n += 1,
            _ => self.runs.push_back((x, 1)),
        }
        self.len += 1;
        if self.len > self.capacity {
            if let Some((_, n)) = self.runs.front_mut() {
                *n -= 1;
                if *n == 0 {
                    self.runs.pop_front();
                }
            }
            self.len -= 1;
        }
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        self.runs
            .iter()
            .flat_map(|&(x, n)| std::iter::repeat_n(x, n as usize))
            .map(|x| (!x.is_nan()).then_some(f64::from(x)))
    }

    /// The newest value (`None` when empty).
    pub fn last(&self) -> Option<Option<f64>> {
        self.runs
            .back()
            .map(|&(x, _)| (!x.is_nan()).then_some(f64::from(x)))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Runs stored (memory use is proportional to this, not to `len`).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

/// One group's series, all the same length: one entry per recorded
/// snapshot in which the group existed, i.e. the newest `len()` of
/// [`History::timestamps`] (a group missing from a snapshot is dropped).
#[derive(Clone, Debug)]
pub struct GroupHistory {
    pub cpu_percent: Series,
    pub cpu_limit_percent: Series,
    pub throttled_percent: Series,
    pub throttled_periods_percent: Series,
    pub memory_bytes: Series,
    pub memory_max_bytes: Series,
    pub memory_high_bytes: Series,
    /// Disk I/O, bytes/s, and the write limit (all disks' `write_bps`
    /// added up; none when no disk has one).
    pub io_read_bps: Series,
    pub io_write_bps: Series,
    pub io_write_limit_bps: Series,
    /// The read limit, as the write one (the I/O microscope).
    pub io_read_limit_bps: Series,
    /// Dirty page cache and page cache under writeback (`memory.stat`).
    pub memory_dirty_bytes: Series,
    pub memory_writeback_bytes: Series,
    /// Network bytes/s received and sent (all interfaces but `lo`), and
    /// the bandwidth limits (`net.rate_in`, `net.rate_out`).
    pub net_rx_bps: Series,
    pub net_tx_bps: Series,
    pub net_rate_in: Series,
    pub net_rate_out: Series,
    /// The group's identity when recorded; another id means a new group.
    id: Option<u64>,
    /// `History::generation` of the last snapshot that had this group.
    seen: u64,
}

impl GroupHistory {
    fn new(capacity: usize, id: Option<u64>) -> GroupHistory {
        GroupHistory {
            cpu_percent: Series::new(capacity),
            cpu_limit_percent: Series::new(capacity),
            throttled_percent: Series::new(capacity),
            throttled_periods_percent: Series::new(capacity),
            memory_bytes: Series::new(capacity),
            memory_max_bytes: Series::new(capacity),
            memory_high_bytes: Series::new(capacity),
            io_read_bps: Series::new(capacity),
            io_write_bps: Series::new(capacity),
            io_write_limit_bps: Series::new(capacity),
            io_read_limit_bps: Series::new(capacity),
            memory_dirty_bytes: Series::new(capacity),
            memory_writeback_bytes: Series::new(capacity),
            net_rx_bps: Series::new(capacity),
            net_tx_bps: Series::new(capacity),
            net_rate_in: Series::new(capacity),
            net_rate_out: Series::new(capacity),
            id,
            seen: 0,
        }
    }

    fn push(&mut self, g: &GroupSnapshot) {
        let bytes = |v: Option<u64>| v.map(|b| b as f64);
        self.cpu_percent.push(g.cpu.usage_percent);
        self.cpu_limit_percent.push(g.cpu.limit_percent);
        self.throttled_percent.push(g.cpu.throttled_percent);
        self.throttled_periods_percent
            .push(g.cpu.throttled_periods_percent);
        self.memory_bytes.push(bytes(g.memory.current_bytes));
        self.memory_max_bytes.push(bytes(g.memory.max_bytes));
        self.memory_high_bytes.push(bytes(g.memory.high_bytes));
        self.io_read_bps.push(g.io.read_bytes_per_s);
        self.io_write_bps.push(g.io.write_bytes_per_s);
        self.io_write_limit_bps.push(write_limit(g));
        self.io_read_limit_bps.push(read_limit(g));
        self.memory_dirty_bytes.push(bytes(g.memory.dirty_bytes));
        self.memory_writeback_bytes
            .push(bytes(g.memory.writeback_bytes));
        let net = g.net.as_ref();
        self.net_rx_bps.push(net.and_then(|n| n.rx_bytes_per_s));
        self.net_tx_bps.push(net.and_then(|n| n.tx_bytes_per_s));
        self.net_rate_in.push(bytes(net.and_then(|n| n.rate_in)));
        self.net_rate_out.push(bytes(net.and_then(|n| n.rate_out)));
    }

    pub fn len(&self) -> usize {
        self.cpu_percent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cpu_percent.is_empty()
    }
}

/// The group's write limit, bytes/s: every disk's `write_bps` added up.
pub fn write_limit(g: &GroupSnapshot) -> Option<f64> {
    g.io.limits
        .iter()
        .filter_map(|l| l.write_bps)
        .map(|b| b as f64)
        .reduce(|a, b| a + b)
}

/// The group's read limit, bytes/s: every disk's `read_bps` added up.
pub fn read_limit(g: &GroupSnapshot) -> Option<f64> {
    g.io.limits
        .iter()
        .filter_map(|l| l.read_bps)
        .map(|b| b as f64)
        .reduce(|a, b| a + b)
}

/// Histories of every group seen in the recorded snapshots, by path (as in
/// `GroupSnapshot::path`). A group missing from a snapshot is dropped at
/// once (it was removed); one recreated under the same path (new id) starts
/// a fresh history.
#[derive(Clone, Debug)]
pub struct History {
    capacity: usize,
    /// When each recorded snapshot was taken (shared by every group).
    timestamps: Ring<u64>,
    /// Boxed: a history is ~840 bytes (17 series) and a map's table has
    /// up to twice as many slots as entries (1,007 groups: 2,048 slots), so
    /// inline values cost 1.77 MB where boxed ones cost 0.9 (issue 18,
    /// heaptrack at 1,000 groups).
    groups: HashMap<String, Box<GroupHistory>>,
    /// Timestamp of the last recorded snapshot, to ignore the same one twice.
    last_ms: Option<u64>,
    generation: u64,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            capacity: capacity.max(1),
            timestamps: Ring::new(capacity),
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
        self.timestamps.push(snap.timestamp_ms);
        let (cap, gen) = (self.capacity, self.generation);
        for g in &snap.groups {
            match self.groups.get_mut(&g.path) {
                Some(h) if h.id == g.id => {
                    h.push(g);
                    h.seen = gen;
                }
                _ => {
                    let mut h = Box::new(GroupHistory::new(cap, g.id));
                    h.push(g);
                    h.seen = gen;
                    self.groups.insert(g.path.clone(), h);
                }
            }
        }
        self.groups.retain(|_, h| h.seen == gen);
    }

    pub fn get(&self, path: &str) -> Option<&GroupHistory> {
        self.groups.get(path).map(|h| &**h)
    }

    /// The timestamps (ms) of `h`'s points, oldest first.
    pub fn timestamps(&self, h: &GroupHistory) -> impl Iterator<Item = u64> + '_ {
        let skip = self.timestamps.len().saturating_sub(h.len());
        self.timestamps.iter().skip(skip).copied()
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

    #[test]
    fn series_runs_expand_to_the_values_pushed() {
        let mut s = Series::new(5);
        assert_eq!((s.len(), s.last()), (0, None));
        let vals = [
            Some(0.0),
            Some(0.0),
            None,
            None,
            Some(2.5),
            Some(0.0),
            Some(0.0),
        ];
        for v in vals {
            s.push(v);
        }
        // The last 5, oldest first, in 3 runs.
        assert_eq!(s.iter().collect::<Vec<_>>(), vals[2..].to_vec());
        assert_eq!((s.len(), s.runs(), s.last()), (5, 3, Some(Some(0.0))));
        // An idle series of any length is one run.
        let mut idle = Series::new(300);
        for _ in 0..1000 {
            idle.push(Some(0.0));
        }
        assert_eq!((idle.len(), idle.runs()), (300, 1));
        // Bytes in f32: within 1e-7 relative.
        let mut b = Series::new(2);
        b.push(Some(123_456_789_012.0));
        let got = b.last().flatten().unwrap();
        assert!((got - 123_456_789_012.0).abs() / 123_456_789_012.0 < 1e-7);
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
        let cpu: Vec<_> = a.cpu_percent.iter().collect();
        assert_eq!(cpu, vec![Some(20.0), Some(30.0)]);
        assert_eq!(h.timestamps(a).collect::<Vec<_>>(), vec![2000, 3000]);
        assert_eq!(a.memory_bytes.last(), Some(Some(20.0)));

        // `a` removed and recreated (new inode): a fresh history.
        h.record(&snap(4000, &[("/", 1, 70.0), ("a", 9, 1.0)]));
        let a = h.get("a").expect("a");
        assert_eq!(a.cpu_percent.iter().collect::<Vec<_>>(), vec![Some(1.0)]);
        assert_eq!(h.timestamps(a).collect::<Vec<_>>(), vec![4000]);

        // `a` gone: dropped.
        h.record(&snap(5000, &[("/", 1, 70.0)]));
        assert!(h.get("a").is_none());
        assert_eq!(h.get("/").map(GroupHistory::len), Some(2));
        assert_eq!(h.len(), 1);
    }
}
