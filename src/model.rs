//! The `Snapshot`: what the sampler publishes and everything downstream reads
//! (the dashboard, `snapshot --json`). Its serde form *is* the documented JSON
//! schema (README, "JSON schema"); change it only by adding fields.
//!
//! Conventions: 100 % = one full CPU; `null` = unknown (file missing) or, for
//! limits, unlimited; counters are cumulative since the group was created,
//! rates are over the sampling interval.

use std::sync::Arc;

use serde::Serialize;

use crate::cgroup::{CpusetStats, Mode, Pressure};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub schema: u32,
    /// Wall clock of the second read, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Measured time between the two reads the rates come from, ms.
    pub interval_ms: u64,
    pub host: String,
    pub mode: Option<Mode>,
    /// Number of CPUs online (the ceiling of meaningful CPU %).
    pub cpus: u32,
    pub memory_total_bytes: Option<u64>,
    /// How the process rows were read (issue 18): `ebpf` (the kernel's task
    /// iterator named the processes that ran; only those were read),
    /// `proc-skip` (processes in
    /// groups whose CPU counter did not move were not read: their cached
    /// rows, exact), `proc` (every process's files), `none` (groups only);
    /// empty in snapshots not made by a sampler.
    pub sampler: &'static str,
    pub groups: Vec<GroupSnapshot>,
    pub processes: Vec<ProcessSnapshot>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupSnapshot {
    /// Relative to the hierarchy root, `/` for the root itself.
    pub path: String,
    /// Identity of the group's directory (inode in the primary hierarchy): a
    /// group removed and recreated under the same path gets a new id.
    pub id: Option<u64>,
    pub cpu: CpuView,
    pub memory: MemoryView,
    pub pids: PidsView,
    pub cpuset: CpusetStats,
    pub frozen: Option<bool>,
    /// No CPU quota, and the period, burst and v1's throttling counters
    /// left unread for that (`CpuStats::unread_without_quota`, the
    /// dashboard's reader): `cpu.period_us` (v1), `cpu.burst_us` and the
    /// throttling fields (v1) are null for that, not for a kernel or
    /// group without them. Here, not in `cpu`, where it would add 8
    /// bytes to every group. Never in the JSON (`snapshot` and the
    /// exporter read them).
    #[serde(skip)]
    pub cpu_unread_without_quota: bool,
    pub pressure: Option<Box<Pressure>>,
    /// Disk I/O: rates, per device, limits (declared with its controller:
    /// `controllers/io.rs`).
    pub io: IoView,
    /// Network of the group's own network namespace (`sampler/net.rs`):
    /// `null` when its processes are in the host's. Boxed: 288 bytes that
    /// most groups don't have, in each of the two snapshots alive at once.
    pub net: Option<Box<NetView>>,
    /// Processes directly in this group, in the primary hierarchy (the one
    /// `ProcessSnapshot::cgroup` names): null when the group is not there
    /// (v1: a group made only under another controller).
    pub nprocs: Option<u64>,
    /// Who runs this group and under what name (docker, podman, k8s-pod,
    /// systemd unit, …), resolved from the path and the engines' metadata
    /// on disk when the group appears. Flattened: the JSON has `kind`,
    /// `name`, `image`, `container_id`, `pod`, `namespace`, `unit` on the
    /// group itself, null when unknown. Shared with the name resolver's
    /// cache: one copy per group, not one per group per snapshot.
    #[serde(flatten)]
    pub identity: Arc<Identity>,
}

/// A group's identity (issue 13). Every field is optional: a group with no
/// recognised owner keeps only its path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// docker, podman, containerd, cri-o, k8s-pod, systemd-unit,
    /// systemd-slice, systemd-scope, lxc, nspawn, cgdash.
    pub kind: Option<Arc<str>>,
    /// The name people use: container name, pod name, unit name, …
    pub name: Option<Arc<str>>,
    pub image: Option<Arc<str>>,
    /// Short (12 hex digits) container id.
    pub container_id: Option<Arc<str>>,
    pub pod: Option<Arc<str>>,
    pub namespace: Option<Arc<str>>,
    pub unit: Option<Arc<str>>,
}

impl Identity {
    /// A group with no recognised owner (one shared copy).
    pub fn none() -> Arc<Identity> {
        static NONE: std::sync::LazyLock<Arc<Identity>> =
            std::sync::LazyLock::new(|| Arc::new(Identity::default()));
        Arc::clone(&NONE)
    }
}

/// The cpu part of a group (declared with its controller: `controllers/cpu.rs`).
pub use crate::cgroup::controllers::cpu::CpuView;

/// The io part of a group (declared with its controller: `controllers/io.rs`).
pub use crate::cgroup::controllers::io::{IoDeviceView, IoLimitView, IoView};

/// The network part of a group (`sampler/net.rs`).
pub use crate::sampler::net::{NetInterfaceView, NetView};

/// The memory part of a group (`controllers/memory.rs`).
pub use crate::cgroup::controllers::memory::MemoryView;

/// The I/O of a process (`process/pio.rs`).
pub use crate::process::ProcIoView;

/// The pids part of a group (`controllers/pids.rs`).
pub use crate::cgroup::controllers::pids::PidsView;

#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessSnapshot {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    /// Shared with the scanner's cache (and between ticks): the strings of
    /// thousands of rows are not copied every second.
    pub user: Arc<str>,
    /// One letter, as in top: R S D Z T I …
    pub state: char,
    pub cpu_percent: Option<f64>,
    /// utime+stime since the process started, ns (TIME+).
    pub cpu_time_ns: u64,
    pub rss_bytes: u64,
    pub mem_percent: Option<f64>,
    pub threads: u64,
    /// Seconds since the Unix epoch.
    pub start_time: u64,
    /// Primary cgroup path (the `cpu` hierarchy on v1, the unified one on v2).
    pub cgroup: Arc<str>,
    /// Command line (or `[comm]` for kernel threads).
    pub command: Arc<str>,
    /// `command` is only the process's name: the dashboard leaves command
    /// lines unread until a row is shown (`ProcessScanner::set_lazy_commands`,
    /// `app::CommandLines`). Never set in `snapshot` or the exporter.
    #[serde(skip)]
    pub command_pending: bool,
    /// Storage I/O from `/proc/PID/io` (`process/pio.rs`): null when not read
    /// (the dashboard reads it only while its process panel shows it).
    pub io: Option<ProcIoView>,
}

impl Snapshot {
    pub fn group(&self, path: &str) -> Option<&GroupSnapshot> {
        let p = crate::cgroup::display_path(path.trim_matches('/'));
        self.groups.iter().find(|g| g.path == p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two copies of every group are alive at once (the snapshot shown and
    /// the one being built): the network view most groups lack is boxed
    /// and the identity shared (issue 18; 1,280 bytes before).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_group_stays_small() {
        let size = std::mem::size_of::<GroupSnapshot>();
        assert!(size <= 900, "GroupSnapshot is {size} bytes");
    }

    /// Shared behind an `Arc`, the identity still serializes flat on the
    /// group, as the schema says.
    #[test]
    fn a_groups_identity_serializes_flat() {
        let g = GroupSnapshot {
            path: "system.slice/docker-1.scope".into(),
            identity: Arc::new(Identity {
                kind: Some("docker".into()),
                name: Some("web".into()),
                ..Identity::default()
            }),
            ..GroupSnapshot::default()
        };
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["name"].as_str()),
            (Some("docker"), Some("web"))
        );
        assert!(v["image"].is_null() && v.get("identity").is_none(), "{v}");
        let none = serde_json::to_value(GroupSnapshot {
            identity: Identity::none(),
            ..GroupSnapshot::default()
        })
        .unwrap();
        assert!(none["kind"].is_null() && none["unit"].is_null(), "{none}");
    }

    /// The documented schema: every field, flat, in this order.
    #[test]
    fn a_process_serializes_as_documented() {
        let p = ProcessSnapshot {
            pid: 42,
            ppid: 1,
            uid: 0,
            user: "root".into(),
            state: 'R',
            cpu_percent: Some(20.5),
            cpu_time_ns: 7,
            rss_bytes: 4096,
            mem_percent: None,
            threads: 2,
            start_time: 1_764_399_000,
            cgroup: "cgdash/demo".into(),
            command: "burn --cpu".into(),
            // Internal (never serialized): the JSON below has no such field.
            command_pending: true,
            io: Some(ProcIoView {
                read_bytes: Some(0),
                write_bytes: None,
                read_bytes_per_s: Some(0.5),
                write_bytes_per_s: None,
            }),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"pid":42,"ppid":1,"uid":0,"user":"root","state":"R","cpu_percent":20.5,"cpu_time_ns":7,"rss_bytes":4096,"mem_percent":null,"threads":2,"start_time":1764399000,"cgroup":"cgdash/demo","command":"burn --cpu","io":{"read_bytes":0,"write_bytes":null,"read_bytes_per_s":0.5,"write_bytes_per_s":null}}"#
        );
    }
}
