//! Running a sampler on its own thread, publishing only the latest snapshot.
//!
//! A std thread, not a tokio task: sampling is blocking file I/O and must
//! never delay the UI's event loop. The `watch` channel keeps no backlog: a
//! slow reader just sees the newest snapshot.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Sampler;
use crate::model::{Snapshot, SCHEMA_VERSION};

/// The first rates come this soon after start instead of a full interval
/// later: the dashboard's first frame waits for them
/// (`event_loop::first_with_rates`), so this is also about when it shows.
/// top's own first frame comes after a second sample 150 ms in.
const FIRST_INTERVAL: Duration = Duration::from_millis(150);

enum Msg {
    Resample,
    SetInterval(Duration),
    ProcessIo(bool),
    LazyCommands(bool),
}

/// Controls a sampler thread; dropping it stops the thread.
pub struct SamplerHandle {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    /// The last sample's `Sampler::problem`.
    problem: Arc<Mutex<Option<String>>>,
}

impl SamplerHandle {
    /// Sample now instead of at the next tick (e.g. right after writing a
    /// limit, so the new value shows at once). Rates of that sample are over
    /// the shorter interval since the previous one.
    pub fn resample(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Resample);
        }
    }

    /// Why the latest snapshot may be incomplete (see `Sampler::problem`).
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().map(|p| p.clone()).unwrap_or(None)
    }

    /// Reads `/proc/PID/io` of every process, or stops (see
    /// `Sampler::set_process_io`). Turned on, the next sample is taken now
    /// (rates need two readings), without re-reading the groups afresh.
    pub fn set_process_io(&self, on: bool) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::ProcessIo(on));
        }
    }

    /// Leaves command lines unread until shown, or reads them all (see
    /// `Sampler::set_lazy_commands`). Turned off, the next sample is taken
    /// now: a filter typed or a sort by command waits one sample, not a tick.
    pub fn set_lazy_commands(&self, on: bool) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::LazyCommands(on));
        }
    }

    /// Changes the time between samples from the next tick on.
    pub fn set_interval(&self, interval: Duration) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::SetInterval(interval));
        }
    }
}

impl Drop for SamplerHandle {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which then exits.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts sampling every `interval` on a new thread. The receiver first holds
/// an empty snapshot (`timestamp_ms == 0`, no groups); the first real one
/// follows immediately (rates `None`), the first with rates ~150 ms later.
/// The thread stops when the handle is dropped or every receiver is gone.
pub fn spawn(
    sampler: Sampler,
    interval: Duration,
) -> (watch::Receiver<Arc<Snapshot>>, SamplerHandle) {
    let empty = Snapshot {
        schema: SCHEMA_VERSION,
        ..Default::default()
    };
    let (snap_tx, snap_rx) = watch::channel(Arc::new(empty));
    let (tx, rx) = mpsc::channel();
    let problem = Arc::new(Mutex::new(None));
    let shared = Arc::clone(&problem);
    let thread = std::thread::Builder::new()
        .name("cgdash-sampler".into())
        .spawn(move || run(sampler, interval, snap_tx, rx, &shared));
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            // Without a thread the receiver keeps the empty snapshot; say why once.
            crate::errln!("cgdash: cannot start the sampler thread: {e}");
            None
        }
    };
    (
        snap_rx,
        SamplerHandle {
            tx: Some(tx),
            thread,
            problem,
        },
    )
}

fn run(
    mut sampler: Sampler,
    mut interval: Duration,
    out: watch::Sender<Arc<Snapshot>>,
    rx: mpsc::Receiver<Msg>,
    problem: &Mutex<Option<String>>,
) {
    let mut next_wait = FIRST_INTERVAL.min(interval);
    // The snapshot before the one published last: by the next sample the
    // dashboard has let go of it, and its vectors are filled again.
    let mut previous: Option<Arc<Snapshot>> = None;
    loop {
        // The cadence counts from the start of a sample, so a slow sample
        // (thousands of processes) doesn't stretch the refresh interval.
        let started = Instant::now();
        if let Some(old) = previous.take().and_then(|s| Arc::try_unwrap(s).ok()) {
            sampler.recycle(old);
        }
        let snap = sampler.sample();
        // Before the snapshot is published: its reader then sees this one's.
        if let Ok(mut p) = problem.lock() {
            *p = sampler.problem();
        }
        if out.is_closed() {
            return; // every receiver dropped
        }
        previous = Some(out.send_replace(Arc::new(snap)));
        // …but a sample slower than the interval still leaves a pause, so
        // the sampler never spins on a huge machine.
        let deadline = (started + next_wait).max(Instant::now() + next_wait / 4);
        next_wait = interval;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                // Something changed (a write, a launch): read it all afresh.
                Ok(Msg::Resample) => {
                    sampler.invalidate();
                    break;
                }
                // Rates of I/O need two readings: the next sample, now, gives
                // the first. Nothing else changed: no `invalidate` (that
                // re-reads every group's files from scratch, ~a first
                // sample's cost at 1,000 groups; issue 18).
                Ok(Msg::ProcessIo(on)) => {
                    sampler.set_process_io(on);
                    if on {
                        break;
                    }
                }
                Ok(Msg::LazyCommands(on)) => {
                    sampler.set_lazy_commands(on);
                    if !on {
                        break;
                    }
                }
                Ok(Msg::SetInterval(d)) => {
                    interval = d.max(Duration::from_millis(10));
                    next_wait = interval;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Layout;

    /// Waits (generously: a loaded 2-core machine) for a snapshot newer
    /// than the last one seen.
    fn next(rx: &mut watch::Receiver<Arc<Snapshot>>) -> bool {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if rx.has_changed().unwrap_or(false) {
                rx.mark_unchanged();
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn turning_process_io_on_samples_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (f, t) in [
            ("cgroup.controllers", "cpu\n"),
            ("cgroup.procs", "1\n"),
            ("cpu.stat", "usage_usec 1\n"),
        ] {
            std::fs::write(dir.path().join(f), t).expect("write");
        }
        let sampler = Sampler::cgroups_only(Layout::from_root(dir.path()).expect("layout"));
        // An hour between samples: any sample past the first two is asked for.
        let (mut rx, handle) = spawn(sampler, Duration::from_secs(3600));
        assert!(next(&mut rx), "the first sample");
        if rx.borrow().timestamp_ms == 0 {
            assert!(next(&mut rx), "the first real sample");
        }
        assert!(next(&mut rx), "the one FIRST_INTERVAL later");
        // Off: nothing to read afresh, no sample.
        handle.set_process_io(false);
        std::thread::sleep(Duration::from_millis(300));
        assert!(!rx.has_changed().unwrap(), "turning it off samples nothing");
        // On: rates need two readings, the next one now.
        handle.set_process_io(true);
        assert!(next(&mut rx), "a sample at once, not an hour later");
    }
}
