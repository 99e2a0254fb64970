//! `cgdash export`: the groups cgdash reads, as a Prometheus scrape target
//! with cAdvisor's metric names (issue 15).
//!
//! - [`format`]: the text format 0.0.4 and OpenMetrics 1.0 encoders;
//! - [`metrics`]: which metrics, their names, labels and sources;
//! - [`http`]: a bounded std HTTP server;
//! - [`Exporter`]: reads the groups at most once per `min_interval`, however
//!   many scrapers ask, and keeps the rendered bodies to share.
//!
//! Reads group files only (a `Sampler::cgroups_only`, plus `memory.stat`,
//! v1 `cpu.shares` and one `stat` of a new group's directory), and for the
//! network series `/proc/PID/net/dev` of one member per network namespace
//! other than the host's (a `stat` of it per member tells the namespaces
//! apart): no other `/proc/PID/*` file, since no per-process series is
//! exported.
//! Never writes to a cgroup.
//!
//! Counters are the kernel's, passed through: monotonic while the group
//! lives. A group removed and recreated under the same path is the *same
//! series restarting* (its counters drop to ~0, which `rate()` and
//! `increase()` read as a counter reset), not a new series with an inode
//! label: that is what cAdvisor does for a restarted unit, it keeps the
//! series set (and dashboards' selectors) stable, and an inode label would
//! add a series per recreation for ever. `cgdash_group_inode` shows the
//! change (`changes(cgdash_group_inode[1h])`).

pub mod format;
pub mod http;
pub mod metrics;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cgroup::{Layout, Version};
use crate::model::Snapshot;
use crate::sampler::Sampler;

use format::{Encoder, Format};
use metrics::{Extra, Machine, Row};

/// Which groups are exported (besides the sampler's `--group` prefix).
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Only groups whose `identity.kind` is one of these (empty: all).
    pub kinds: Vec<String>,
    /// Only groups at most this many components below the root (`/` is 0).
    pub depth: Option<usize>,
}

impl Filters {
    fn keep(&self, path: &str, kind: Option<&str>) -> bool {
        let internal = path.trim_matches('/');
        let depth = if internal.is_empty() {
            0
        } else {
            internal.split('/').count()
        };
        if self.depth.is_some_and(|d| depth > d) {
            return false;
        }
        self.kinds.is_empty() || kind.is_some_and(|k| self.kinds.iter().any(|x| x == k))
    }
}

struct State {
    sampler: Sampler,
    /// When the groups were last read.
    read_at: Option<Instant>,
    snapshot: Snapshot,
    extras: Vec<Extra>,
    /// The rendered bodies of `snapshot`, per format, once asked for.
    bodies: [Option<Arc<Vec<u8>>>; 2],
    /// path → (inode, start time): a group's start time is taken once.
    starts: HashMap<String, (Option<u64>, Option<f64>)>,
    reads: u64,
}

pub struct Exporter {
    state: Mutex<State>,
    min_interval: Duration,
    filters: Filters,
    machine: Machine,
}

/// After this long without a read, a scrape re-reads every kept file of
/// every group (limits too) rather than on the reader's every-fifth-tick
/// schedule, which at a 15 s scrape interval would leave limits 75 s stale.
const FULL_READ_AFTER: Duration = Duration::from_secs(5);

impl Exporter {
    pub fn new(sampler: Sampler, min_interval: Duration, filters: Filters) -> Exporter {
        let machine = Machine {
            labels: machine_labels(),
            cpus: 0,
            memory_bytes: None,
        };
        Exporter {
            state: Mutex::new(State {
                sampler,
                read_at: None,
                snapshot: Snapshot::default(),
                extras: Vec::new(),
                bodies: [None, None],
                starts: HashMap::new(),
                reads: 0,
            }),
            min_interval,
            filters,
            machine,
        }
    }

    /// Times the groups were read (tests: scrapes within `min_interval`
    /// share one read).
    pub fn reads(&self) -> u64 {
        self.state.lock().map(|s| s.reads).unwrap_or(0)
    }

    /// The exposition in `format`, from a read at most `min_interval` old.
    pub fn metrics(&self, format: Format) -> Arc<Vec<u8>> {
        let mut st = match self.state.lock() {
            Ok(s) => s,
            // A panic while sampling (abort in release builds): the state
            // is still a valid, if old, reading.
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        let fresh = st
            .read_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.min_interval);
        if !fresh {
            if st
                .read_at
                .is_none_or(|t| now.saturating_duration_since(t) >= FULL_READ_AFTER)
            {
                st.sampler.reader_mut().refresh_all_next();
            }
            st.snapshot = st.sampler.sample();
            st.read_at = Some(now);
            st.reads += 1;
            st.bodies = [None, None];
            let st = &mut *st;
            st.extras = extras(st.sampler.layout(), &st.snapshot, &mut st.starts);
        }
        let i = format as usize;
        if let Some(b) = &st.bodies[i] {
            return b.clone();
        }
        let body = Arc::new(self.render(&st, format).into_bytes());
        st.bodies[i] = Some(body.clone());
        body
    }

    fn render(&self, st: &State, format: Format) -> String {
        let snap = &st.snapshot;
        let rows: Vec<Row> = snap
            .groups
            .iter()
            .zip(&st.extras)
            .filter(|(g, _)| self.filters.keep(&g.path, g.identity.kind.as_deref()))
            .map(|(g, e)| Row {
                labels: metrics::labels(&g.path, &g.identity),
                group: g,
                extra: e,
            })
            .collect();
        let machine = Machine {
            labels: self.machine.labels.clone(),
            cpus: snap.cpus,
            memory_bytes: snap.memory_total_bytes,
        };
        let interval = (snap.interval_ms > 0).then(|| snap.interval_ms as f64 / 1000.0);
        let mut enc = Encoder::new(format, 4096 + rows.len() * 6000);
        metrics::render(
            &mut enc,
            &machine,
            &rows,
            st.sampler.problem().is_some(),
            interval,
        );
        enc.finish()
    }

    /// The HTTP routes: `/metrics`, `/`, `/healthz`; anything else 404.
    pub fn handler(self: Arc<Self>) -> http::Handler {
        let index = Arc::new(index_page().into_bytes());
        Arc::new(move |req: &http::Request| match req.path.as_str() {
            "/metrics" => {
                let format = Format::negotiate(req.accept.as_deref());
                http::Response {
                    status: 200,
                    content_type: format.content_type(),
                    body: self.metrics(format),
                    extra_headers: Vec::new(),
                }
            }
            "/" => http::Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: index.clone(),
                extra_headers: Vec::new(),
            },
            "/healthz" => http::Response::text(200, "ok\n"),
            _ => http::Response::text(404, "404 not found: try /metrics\n"),
        })
    }
}

/// The per-group readings the snapshot lacks, in `snap.groups` order.
fn extras(
    layout: &Layout,
    snap: &Snapshot,
    starts: &mut HashMap<String, (Option<u64>, Option<f64>)>,
) -> Vec<Extra> {
    let memory = layout.hierarchy("memory");
    let cpu_v1 = layout.hierarchy("cpu").filter(|h| h.version == Version::V1);
    let primary = layout.primary();
    let mut seen = std::collections::HashSet::with_capacity(snap.groups.len());
    let out = snap
        .groups
        .iter()
        .map(|g| {
            let path = g.path.trim_matches('/');
            let mut e = Extra::default();
            if let Some(h) = memory {
                if let Ok(text) = std::fs::read_to_string(h.dir(path).join("memory.stat")) {
                    mem_stat(&text, h.version, &mut e);
                }
            }
            e.shares = match cpu_v1 {
                Some(h) => std::fs::read_to_string(h.dir(path).join("cpu.shares"))
                    .ok()
                    .and_then(|t| t.trim().parse().ok()),
                None => g.cpu.weight.map(cadvisor_shares),
            };
            seen.insert(path);
            let slot = starts.entry(path.to_string()).or_insert((None, None));
            if slot.1.is_none() || slot.0 != g.id {
                *slot = (g.id, start_time(&primary.dir(path), primary.version));
            }
            e.start_time = slot.1;
            e
        })
        .collect();
    starts.retain(|p, _| seen.contains(p.as_str()));
    out
}

/// cAdvisor's `cpu.weight` → shares (the OCI/runc mapping, inverse of
/// `1 + (shares - 2) * 9999 / 262142`): weight 100 reads as 2597, where
/// cgdash's own `knob::weight_to_shares` says 1024.
fn cadvisor_shares(weight: u64) -> u64 {
    2 + (weight.saturating_sub(1)) * 262_142 / 9_999
}

fn mem_stat(text: &str, version: Version, e: &mut Extra) {
    let key = |v1: &str, v2: &str| -> Option<u64> {
        let want = if version == Version::V1 { v1 } else { v2 };
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == want).then(|| v.trim().parse().ok()).flatten()
        })
    };
    e.cache = key("total_cache", "file");
    e.rss = key("total_rss", "anon");
    e.mapped_file = key("total_mapped_file", "file_mapped");
    e.inactive_file = key("total_inactive_file", "inactive_file");
    e.active_file = key("total_active_file", "active_file");
}

/// cAdvisor's creation time: the earlier of the directory's mtime and that
/// of a file rarely modified after creation (`cgroup.events` on v2,
/// `cgroup.clone_children` on v1); the directory's own mtime moves when a
/// child group is made.
fn start_time(dir: &Path, version: Version) -> Option<f64> {
    let file = if version == Version::V2 {
        "cgroup.events"
    } else {
        "cgroup.clone_children"
    };
    let secs = |p: &Path| -> Option<f64> {
        let m = std::fs::metadata(p).ok()?.modified().ok()?;
        Some(m.duration_since(UNIX_EPOCH).ok()?.as_secs() as f64)
    };
    match (secs(dir), secs(&dir.join(file))) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn machine_labels() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut l = String::new();
    format::push_label(&mut l, "boot_id", &read("/proc/sys/kernel/random/boot_id"));
    format::push_label(&mut l, "machine_id", &read("/etc/machine-id"));
    // cAdvisor reads it from DMI (root-only, absent in VMs): not worth a read.
    format::push_label(&mut l, "system_uuid", "");
    l
}

fn index_page() -> String {
    let mut rows = String::new();
    for f in metrics::all_families() {
        let kind = match f.kind {
            format::Type::Counter => "counter",
            format::Type::Gauge => "gauge",
        };
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{kind}</td><td>{}</td></tr>\n",
            f.name,
            html_escape(f.help)
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>cgdash export</title></head><body>\n\
<h1>cgdash export</h1>\n\
<p>cgroup metrics with cAdvisor's names, for Prometheus: <a href=\"/metrics\">/metrics</a> \
(text format 0.0.4, or OpenMetrics 1.0 when asked). Health: <a href=\"/healthz\">/healthz</a>.</p>\n\
<p>Every group series has the labels <code>id</code> (the group path), <code>name</code>, \
<code>image</code>, <code>container</code>, <code>pod</code>, <code>namespace</code> (empty when unknown).</p>\n\
<table>\n<tr><th>metric</th><th>type</th><th>help</th></tr>\n{rows}</table>\n</body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Seconds since the epoch now (for tests comparing start times).
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_depth_and_kind() {
        let f = Filters {
            kinds: vec![],
            depth: Some(1),
        };
        assert!(f.keep("/", None));
        assert!(f.keep("a", None));
        assert!(!f.keep("a/b", None));
        let k = Filters {
            kinds: vec!["docker".into()],
            depth: None,
        };
        assert!(k.keep("a/b/c", Some("docker")));
        assert!(!k.keep("a", Some("podman")));
        assert!(!k.keep("a", None));
    }

    #[test]
    fn memory_stat_keys_per_version() {
        let mut e = Extra::default();
        mem_stat(
            "anon 10\nfile 20\nfile_mapped 3\ninactive_file 5\nactive_file 15\n",
            Version::V2,
            &mut e,
        );
        assert_eq!(
            (
                e.rss,
                e.cache,
                e.mapped_file,
                e.inactive_file,
                e.active_file
            ),
            (Some(10), Some(20), Some(3), Some(5), Some(15))
        );
        let mut e = Extra::default();
        mem_stat(
            "cache 1\nrss 2\ntotal_cache 20\ntotal_rss 10\ntotal_inactive_file 5\n",
            Version::V1,
            &mut e,
        );
        assert_eq!(
            (e.rss, e.cache, e.inactive_file),
            (Some(10), Some(20), Some(5))
        );
    }

    #[test]
    fn weight_to_cadvisor_shares() {
        assert_eq!(cadvisor_shares(1), 2);
        assert_eq!(cadvisor_shares(100), 2597);
        assert_eq!(cadvisor_shares(10_000), 262_144);
    }
}
