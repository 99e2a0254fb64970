//! What `cgdash export` exposes: cAdvisor's metric names, types and units
//! for what cgdash reads, then `cgdash_*` for what cAdvisor has no name for.
//!
//! Names, help texts, types and the quota condition follow cAdvisor's
//! `lib/metrics/prometheus.go`; labels are kubelet's set (cAdvisor's `id`,
//! `name`, `image` plus the `container`, `pod`, `namespace` kubelet adds),
//! always present, empty when unknown, so dashboards' selectors match.

use crate::model::{GroupSnapshot, Identity, NetInterfaceView};

use super::format::{push_label, Encoder, Family, Type};

/// Per-group readings the snapshot doesn't carry (read by the exporter
/// from group files only, see `Collector::extras`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extra {
    /// `memory.stat` values cAdvisor exports (v1: the `total_*` keys).
    pub cache: Option<u64>,
    pub rss: Option<u64>,
    pub mapped_file: Option<u64>,
    pub inactive_file: Option<u64>,
    pub active_file: Option<u64>,
    /// v1 `cpu.shares` as written; on v2 derived from `cpu.weight`.
    pub shares: Option<u64>,
    /// When the group was created, s since the epoch (the directory's
    /// mtime, as cAdvisor takes it), fixed at the first read of the group.
    pub start_time: Option<f64>,
}

/// One exported group: its formatted labels and its readings.
pub struct Row<'a> {
    pub labels: String,
    pub group: &'a GroupSnapshot,
    pub extra: &'a Extra,
}

/// The label set of a group, in the order Prometheus's client sorts them.
///
/// Identity → labels (issue 13's `model::Identity`):
/// - `id`: the group path from `/` (cAdvisor's container name);
/// - `name`: `identity.name` (cAdvisor: the first alias, a container's name);
/// - `image`: `identity.image`;
/// - `container`: `identity.name` for a container inside a Kubernetes pod
///   (kubelet sets it from the `io.kubernetes.container.name` label; the
///   pod's own group and everything outside Kubernetes get `""`);
/// - `pod`, `namespace`: `identity.pod`, `identity.namespace`.
pub fn labels(path: &str, id: &Identity) -> String {
    let s = |v: &Option<std::sync::Arc<str>>| v.as_deref().unwrap_or("").to_string();
    let in_pod = id.pod.is_some() && id.kind.as_deref() != Some("k8s-pod");
    let container = if in_pod { s(&id.name) } else { String::new() };
    let internal = path.trim_matches('/');
    let mut out = String::with_capacity(64 + path.len());
    push_label(&mut out, "container", &container);
    push_label(&mut out, "id", &format!("/{internal}"));
    push_label(&mut out, "image", &s(&id.image));
    push_label(&mut out, "name", &s(&id.name));
    push_label(&mut out, "namespace", &s(&id.namespace));
    push_label(&mut out, "pod", &s(&id.pod));
    out
}

type Get = fn(&GroupSnapshot, &Extra) -> Option<f64>;

/// A per-group metric: its family, an extra label (cAdvisor's `cpu="total"`)
/// and how to read it (`None`: the group gets no sample).
pub struct Metric {
    pub family: Family,
    pub extra_label: Option<(&'static str, &'static str)>,
    pub get: Get,
}

const fn counter(name: &'static str, help: &'static str, unit: Option<&'static str>) -> Family {
    Family {
        name,
        help,
        kind: Type::Counter,
        unit,
    }
}

const fn gauge(name: &'static str, help: &'static str, unit: Option<&'static str>) -> Family {
    Family {
        name,
        help,
        kind: Type::Gauge,
        unit,
    }
}

const S: Option<&str> = Some("seconds");
const B: Option<&str> = Some("bytes");

fn n(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}
fn ns_s(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64 / 1e9)
}
fn us_s(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64 / 1e6)
}
/// cAdvisor emits the CFS counters only for groups with a quota.
fn quota(g: &GroupSnapshot) -> bool {
    g.cpu.quota_us.is_some()
}
fn has_memory(g: &GroupSnapshot) -> bool {
    g.memory.current_bytes.is_some()
}
fn psi(
    g: &GroupSnapshot,
    pick: fn(&crate::cgroup::Pressure) -> Option<crate::cgroup::Psi>,
    full: bool,
) -> Option<f64> {
    let p = pick(g.pressure.as_deref()?)?;
    let line = if full { p.full } else { p.some }?;
    Some(line.total_us as f64 / 1e6)
}

/// Every per-group metric, in exposition order.
pub const METRICS: &[Metric] = &[
    // --- cAdvisor: CPU
    Metric {
        family: counter(
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            S,
        ),
        extra_label: Some(("cpu", "total")),
        get: |g, _| ns_s(g.cpu.usage_total_ns),
    },
    Metric {
        family: counter(
            "container_cpu_cfs_periods_total",
            "Number of elapsed enforcement period intervals.",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.cpu.nr_periods).filter(|_| quota(g)),
    },
    Metric {
        family: counter(
            "container_cpu_cfs_throttled_periods_total",
            "Number of throttled period intervals.",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.cpu.nr_throttled).filter(|_| quota(g)),
    },
    Metric {
        family: counter(
            "container_cpu_cfs_throttled_seconds_total",
            "Total time duration the container has been throttled.",
            S,
        ),
        extra_label: None,
        get: |g, _| ns_s(g.cpu.throttled_total_ns).filter(|_| quota(g)),
    },
    Metric {
        family: counter(
            "container_cpu_cfs_burst_periods_total",
            "Number of periods when burst occurs.",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.cpu.nr_bursts).filter(|_| quota(g)),
    },
    Metric {
        family: counter(
            "container_cpu_cfs_burst_seconds_total",
            "Total time duration the container has been bursted.",
            S,
        ),
        extra_label: None,
        get: |g, _| ns_s(g.cpu.burst_total_ns).filter(|_| quota(g)),
    },
    // --- cAdvisor: memory
    Metric {
        family: gauge("container_memory_cache", "Number of bytes of page cache memory.", None),
        extra_label: None,
        get: |_, e| n(e.cache),
    },
    Metric {
        family: gauge("container_memory_rss", "Size of RSS in bytes.", None),
        extra_label: None,
        get: |_, e| n(e.rss),
    },
    Metric {
        family: gauge(
            "container_memory_mapped_file",
            "Size of memory mapped files in bytes.",
            None,
        ),
        extra_label: None,
        get: |_, e| n(e.mapped_file),
    },
    Metric {
        family: counter(
            "container_memory_failcnt",
            "Number of memory usage hits limits",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.memory.max_events),
    },
    Metric {
        family: gauge(
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            B,
        ),
        extra_label: None,
        get: |g, _| n(g.memory.current_bytes),
    },
    Metric {
        family: gauge(
            "container_memory_max_usage_bytes",
            "Maximum memory usage recorded in bytes",
            B,
        ),
        extra_label: None,
        get: |g, _| n(g.memory.peak_bytes),
    },
    Metric {
        family: gauge(
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            B,
        ),
        extra_label: None,
        // cAdvisor: usage minus inactive file pages, never below zero.
        get: |g, e| {
            let usage = g.memory.current_bytes?;
            Some(usage.saturating_sub(e.inactive_file.unwrap_or(0)) as f64)
        },
    },
    Metric {
        family: gauge(
            "container_memory_total_active_file_bytes",
            "Current total active file in bytes.",
            B,
        ),
        extra_label: None,
        get: |_, e| n(e.active_file),
    },
    Metric {
        family: gauge(
            "container_memory_total_inactive_file_bytes",
            "Current total inactive file in bytes.",
            B,
        ),
        extra_label: None,
        get: |_, e| n(e.inactive_file),
    },
    Metric {
        family: counter(
            "container_memory_events_high_total",
            "Cumulative count of memory.high throttle events for the container",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.memory.high_events),
    },
    Metric {
        family: counter(
            "container_memory_events_max_total",
            "Cumulative count of memory.max limit hit events for the container",
            None,
        ),
        extra_label: None,
        // v2 `memory.events` only (where `high` is there too).
        get: |g, _| n(g.memory.max_events).filter(|_| g.memory.high_events.is_some()),
    },
    Metric {
        family: counter(
            "container_oom_events_total",
            "Count of out of memory events observed for the container",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.memory.oom_kills),
    },
    // --- cAdvisor: pressure (PSI totals)
    Metric {
        family: counter(
            "container_pressure_cpu_stalled_seconds_total",
            "Total time duration no tasks in the container could make progress due to CPU congestion.",
            S,
        ),
        extra_label: None,
        get: |g, _| psi(g, |p| p.cpu, true),
    },
    Metric {
        family: counter(
            "container_pressure_cpu_waiting_seconds_total",
            "Total time duration tasks in the container have waited due to CPU congestion.",
            S,
        ),
        extra_label: None,
        get: |g, _| psi(g, |p| p.cpu, false),
    },
    Metric {
        family: counter(
            "container_pressure_memory_stalled_seconds_total",
            "Total time duration no tasks in the container could make progress due to memory congestion.",
            S,
        ),
        extra_label: None,
        get: |g, _| psi(g, |p| p.memory, true),
    },
    Metric {
        family: counter(
            "container_pressure_memory_waiting_seconds_total",
            "Total time duration tasks in the container have waited due to memory congestion.",
            S,
        ),
        extra_label: None,
        get: |g, _| psi(g, |p| p.memory, false),
    },
    Metric {
        family: counter(
            "container_pressure_io_stalled_seconds_total",
            "Total time duration no tasks in the container could make progress due to IO congestion.",
            S,
        ),
        extra_label: None,
        get: |g, _| psi(g, |p| p.io, true),
    },
    Metric {
        family: counter(
            "container_pressure_io_waiting_seconds_total",
            "Total time duration tasks in the container have waited due to IO congestion.",
            S,
        ),
        extra_label: None,
        get: |g, _| psi(g, |p| p.io, false),
    },
    // --- cAdvisor: processes (from group files: cgroup.procs, pids.*)
    Metric {
        family: gauge(
            "container_processes",
            "Number of processes running inside the container.",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.nprocs),
    },
    Metric {
        family: gauge(
            "container_threads",
            "Number of threads running inside the container",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.pids.current),
    },
    Metric {
        family: gauge(
            "container_threads_max",
            "Maximum number of threads allowed inside the container, infinity if value is zero",
            None,
        ),
        extra_label: None,
        get: |g, _| g.pids.current.map(|_| g.pids.max.unwrap_or(0) as f64),
    },
    // --- cAdvisor: spec
    Metric {
        family: gauge(
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds.",
            S,
        ),
        extra_label: None,
        get: |_, e| e.start_time,
    },
    Metric {
        family: gauge("container_spec_cpu_period", "CPU period of the container.", None),
        extra_label: None,
        get: |g, _| n(g.cpu.period_us),
    },
    Metric {
        family: gauge("container_spec_cpu_quota", "CPU quota of the container.", None),
        extra_label: None,
        get: |g, _| n(g.cpu.quota_us),
    },
    Metric {
        family: gauge("container_spec_cpu_shares", "CPU share of the container.", None),
        extra_label: None,
        get: |_, e| n(e.shares),
    },
    Metric {
        family: gauge(
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
            B,
        ),
        extra_label: None,
        get: |g, _| has_memory(g).then(|| g.memory.max_bytes.unwrap_or(0) as f64),
    },
    Metric {
        family: gauge(
            "container_spec_memory_swap_limit_bytes",
            "Memory swap limit for the container.",
            B,
        ),
        extra_label: None,
        get: |g, _| has_memory(g).then(|| g.memory.swap_max_bytes.unwrap_or(0) as f64),
    },
    // --- cgdash: what cAdvisor has no name for
    Metric {
        family: counter(
            "cgdash_pids_refused_forks_total",
            "Forks and clones refused because the group reached pids.max (pids.events max).",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.pids.max_events),
    },
    Metric {
        family: gauge(
            "cgdash_spec_memory_high_bytes",
            "memory.high, the throttling threshold below memory.max (cgroup v2); 0 when unlimited.",
            B,
        ),
        extra_label: None,
        get: |g, _| {
            // `high_events`: the group has v2 memory.events, hence memory.high.
            g.memory
                .high_events
                .map(|_| g.memory.high_bytes.unwrap_or(0) as f64)
        },
    },
    Metric {
        family: gauge(
            "cgdash_spec_cpu_burst_seconds",
            "CPU burst allowance: time the group may run beyond its quota from unused quota.",
            S,
        ),
        extra_label: None,
        get: |g, _| us_s(g.cpu.burst_us).filter(|_| quota(g)),
    },
    Metric {
        family: gauge(
            "cgdash_frozen",
            "1 when the group is frozen (cgroup.freeze / freezer.state), 0 otherwise.",
            None,
        ),
        extra_label: None,
        get: |g, _| g.frozen.map(|f| if f { 1.0 } else { 0.0 }),
    },
    Metric {
        family: gauge(
            "cgdash_cpu_throttled_periods_ratio",
            "Share of the CFS periods between the exporter's last two reads (cgdash_sample_interval_seconds) in which the group was throttled, 0-1.",
            None,
        ),
        extra_label: None,
        get: |g, _| {
            g.cpu
                .throttled_periods_percent
                .map(|p| p / 100.0)
                .filter(|_| quota(g))
        },
    },
    Metric {
        family: gauge(
            "cgdash_group_inode",
            "Inode of the group's directory: changes when a group is removed and recreated under the same path (its counters then restart from zero).",
            None,
        ),
        extra_label: None,
        get: |g, _| n(g.id),
    },
];

/// Host-wide metrics and the exporter's own.
pub struct Machine {
    /// `boot_id`, `machine_id`, `system_uuid` labels (cAdvisor's machine labels).
    pub labels: String,
    pub cpus: u32,
    pub memory_bytes: Option<u64>,
}

pub const MACHINE_CPU_CORES: Family =
    gauge("machine_cpu_cores", "Number of logical CPU cores.", None);
pub const MACHINE_MEMORY_BYTES: Family = gauge(
    "machine_memory_bytes",
    "Amount of memory installed on the machine.",
    B,
);
pub const SCRAPE_ERROR: Family = gauge(
    "container_scrape_error",
    "1 if there was an error while getting container metrics, 0 otherwise",
    None,
);
pub const SAMPLE_INTERVAL: Family = gauge(
    "cgdash_sample_interval_seconds",
    "Time between the exporter's last two reads of the groups (the window of the cgdash_*_ratio gauges).",
    S,
);
pub const GROUPS: Family = gauge(
    "cgdash_exported_groups",
    "Groups in this exposition (after --group, --kind and --depth).",
    None,
);

/// A per-interface network counter (cAdvisor's `interface` label).
pub struct NetMetric {
    pub family: Family,
    pub get: fn(&NetInterfaceView) -> u64,
}

/// cAdvisor's network counters, for groups in a network namespace of their
/// own (`groups[].net`): one sample per interface, `lo` left out as
/// cAdvisor leaves it out, and a namespace shared by several groups (a
/// pod's containers) on the one group that carries it (`shared_with`).
pub const NET_METRICS: &[NetMetric] = &[
    NetMetric {
        family: counter(
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received.",
            B,
        ),
        get: |i| i.rx_bytes,
    },
    NetMetric {
        family: counter(
            "container_network_receive_packets_total",
            "Cumulative count of packets received.",
            None,
        ),
        get: |i| i.rx_packets,
    },
    NetMetric {
        family: counter(
            "container_network_receive_packets_dropped_total",
            "Cumulative count of packets dropped while receiving.",
            None,
        ),
        get: |i| i.rx_drops,
    },
    NetMetric {
        family: counter(
            "container_network_receive_errors_total",
            "Cumulative count of errors encountered while receiving.",
            None,
        ),
        get: |i| i.rx_errors,
    },
    NetMetric {
        family: counter(
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted.",
            B,
        ),
        get: |i| i.tx_bytes,
    },
    NetMetric {
        family: counter(
            "container_network_transmit_packets_total",
            "Cumulative count of packets transmitted.",
            None,
        ),
        get: |i| i.tx_packets,
    },
    NetMetric {
        family: counter(
            "container_network_transmit_packets_dropped_total",
            "Cumulative count of packets dropped while transmitting.",
            None,
        ),
        get: |i| i.tx_drops,
    },
    NetMetric {
        family: counter(
            "container_network_transmit_errors_total",
            "Cumulative count of errors encountered while transmitting.",
            None,
        ),
        get: |i| i.tx_errors,
    },
];

/// The interfaces a group's network series are about.
fn net_interfaces(g: &GroupSnapshot) -> impl Iterator<Item = &NetInterfaceView> {
    g.net
        .iter()
        .filter(|n| n.shared_with.is_none())
        .flat_map(|n| n.interfaces.iter())
        .filter(|i| i.name != "lo")
}

/// Everything exported, for the index page.
pub fn all_families() -> Vec<Family> {
    let mut v = vec![MACHINE_CPU_CORES, MACHINE_MEMORY_BYTES, SCRAPE_ERROR];
    v.extend(METRICS.iter().map(|m| m.family));
    v.extend(NET_METRICS.iter().map(|m| m.family));
    v.extend([SAMPLE_INTERVAL, GROUPS]);
    v
}

/// Writes a whole exposition.
pub fn render(
    enc: &mut Encoder,
    machine: &Machine,
    rows: &[Row],
    error: bool,
    interval_s: Option<f64>,
) {
    enc.family(&MACHINE_CPU_CORES);
    enc.sample(&machine.labels, machine.cpus as f64);
    if let Some(m) = machine.memory_bytes {
        enc.family(&MACHINE_MEMORY_BYTES);
        enc.sample(&machine.labels, m as f64);
    }
    enc.family(&SCRAPE_ERROR);
    enc.sample("", if error { 1.0 } else { 0.0 });
    let mut labels = String::new();
    for m in METRICS {
        let mut started = false;
        for r in rows {
            let Some(v) = (m.get)(r.group, r.extra) else {
                continue;
            };
            if !started {
                enc.family(&m.family);
                started = true;
            }
            match m.extra_label {
                Some((k, val)) => {
                    labels.clear();
                    labels.push_str(&r.labels);
                    push_label(&mut labels, k, val);
                    enc.sample(&labels, v);
                }
                None => enc.sample(&r.labels, v),
            }
        }
    }
    for m in NET_METRICS {
        let mut started = false;
        for r in rows {
            for i in net_interfaces(r.group) {
                if !started {
                    enc.family(&m.family);
                    started = true;
                }
                labels.clear();
                labels.push_str(&r.labels);
                push_label(&mut labels, "interface", &i.name);
                enc.sample(&labels, (m.get)(i) as f64);
            }
        }
    }
    if let Some(s) = interval_s {
        enc.family(&SAMPLE_INTERVAL);
        enc.sample("", s);
    }
    enc.family(&GROUPS);
    enc.sample("", rows.len() as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::format::Format;
    use std::sync::Arc;

    #[test]
    fn every_family_name_is_valid_and_unique_and_units_are_suffixes() {
        let fams = all_families();
        let mut seen = std::collections::HashSet::new();
        for f in &fams {
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !f.name.starts_with(|c: char| c.is_ascii_digit()),
                "{}",
                f.name
            );
            assert!(seen.insert(f.name), "duplicate {}", f.name);
            let om = f.name.strip_suffix("_total").unwrap_or(f.name);
            if let Some(u) = f.unit {
                assert!(om.ends_with(&format!("_{u}")), "{}: unit {u}", f.name);
            }
            // Counters end in _total, except cAdvisor's failcnt.
            if f.kind == Type::Counter && f.name != "container_memory_failcnt" {
                assert!(f.name.ends_with("_total"), "{}", f.name);
            }
            if f.kind == Type::Gauge {
                assert!(!f.name.ends_with("_total"), "{}", f.name);
            }
        }
    }

    /// A container's namespace: one series per interface but `lo`, with
    /// cAdvisor's names and `interface` label; a group sharing another's
    /// namespace exports none (a pod is not counted once per container).
    #[test]
    fn network_counters_per_interface_without_lo_or_shared() {
        use crate::model::{NetInterfaceView, NetView};
        let iface = |name: &str, b: u64| NetInterfaceView {
            name: name.into(),
            rx_bytes: b,
            tx_bytes: b + 1,
            rx_packets: 10,
            tx_packets: 11,
            rx_errors: 1,
            tx_errors: 2,
            rx_drops: 3,
            tx_drops: 4,
            ..Default::default()
        };
        let owner = GroupSnapshot {
            path: "/system.slice/docker-abc.scope".into(),
            net: Some(Box::new(NetView {
                interfaces: vec![iface("lo", 5), iface("eth0", 1000), iface("eth1", 7)],
                ..Default::default()
            })),
            ..Default::default()
        };
        let shared = GroupSnapshot {
            path: "/kubepods/pod1/app".into(),
            net: Some(Box::new(NetView {
                shared_with: Some("kubepods/pod1/pause".into()),
                interfaces: vec![iface("eth0", 99)],
                ..Default::default()
            })),
            ..Default::default()
        };
        let host = GroupSnapshot {
            path: "/".into(),
            ..Default::default()
        };
        let extra = Extra::default();
        let rows: Vec<Row> = [&host, &owner, &shared]
            .into_iter()
            .map(|g| Row {
                labels: labels(&g.path, &Identity::default()),
                group: g,
                extra: &extra,
            })
            .collect();
        let machine = Machine {
            labels: String::new(),
            cpus: 2,
            memory_bytes: None,
        };
        for format in [Format::Text, Format::OpenMetrics] {
            let mut enc = Encoder::new(format, 4096);
            render(&mut enc, &machine, &rows, false, None);
            let out = enc.finish();
            let l = r#"container="",id="/system.slice/docker-abc.scope",image="",name="",namespace="",pod="""#;
            for (name, eth0) in [
                ("container_network_receive_bytes_total", 1000),
                ("container_network_transmit_bytes_total", 1001),
                ("container_network_receive_packets_total", 10),
                ("container_network_transmit_packets_total", 11),
                ("container_network_receive_errors_total", 1),
                ("container_network_transmit_errors_total", 2),
                ("container_network_receive_packets_dropped_total", 3),
                ("container_network_transmit_packets_dropped_total", 4),
            ] {
                let line = format!("{name}{{{l},interface=\"eth0\"}} {eth0}\n");
                assert!(out.contains(&line), "{format:?}: no {line}\n{out}");
                assert_eq!(out.matches(&format!("\n{name}{{")).count(), 2, "{out}");
            }
            assert!(!out.contains("interface=\"lo\""), "{out}");
            assert!(!out.contains("pod1/app"), "{out}");
        }
        assert!(all_families()
            .iter()
            .any(|f| f.name == "container_network_transmit_packets_dropped_total"));
    }

    #[test]
    fn identity_maps_to_kubelet_labels() {
        let none = labels("/", &Identity::default());
        assert_eq!(
            none,
            r#"container="",id="/",image="",name="",namespace="",pod="""#
        );
        let docker = Identity {
            kind: Some(Arc::from("docker")),
            name: Some(Arc::from("web")),
            image: Some(Arc::from("nginx:1")),
            ..Default::default()
        };
        assert_eq!(
            labels("system.slice/docker-abc.scope", &docker),
            r#"container="",id="/system.slice/docker-abc.scope",image="nginx:1",name="web",namespace="",pod="""#
        );
        let k8s = Identity {
            kind: Some(Arc::from("containerd")),
            name: Some(Arc::from("app")),
            pod: Some(Arc::from("web-0")),
            namespace: Some(Arc::from("prod")),
            ..Default::default()
        };
        assert!(labels("kubepods/x", &k8s).starts_with(r#"container="app","#));
        let pod = Identity {
            kind: Some(Arc::from("k8s-pod")),
            name: Some(Arc::from("web-0")),
            pod: Some(Arc::from("web-0")),
            ..k8s
        };
        assert!(labels("kubepods/p", &pod).starts_with(r#"container="","#));
    }
}
