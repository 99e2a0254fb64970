//! The io controller (v1 `blkio`): bytes and operations per device, the
//! throttle limits (bytes/s, IOPS per device) and the proportional weight.
//!
//! | reading | v1 (`blkio`) | v2 (`io`) |
//! |---|---|---|
//! | bytes | `blkio.throttle.io_service_bytes_recursive` `MAJ:MIN Read/Write/Discard N` | `io.stat` `rbytes wbytes dbytes` |
//! | operations | `blkio.throttle.io_serviced_recursive` | `io.stat` `rios wios dios` |
//! | limits | `blkio.throttle.{read,write}_{bps,iops}_device` `MAJ:MIN N` | `io.max` `MAJ:MIN rbps= wbps= riops= wiops=` |
//! | weight | `blkio.bfq.weight` / `blkio.weight` (CFQ, gone in 5.0) | `io.weight` / `io.bfq.weight` `default N` |
//!
//! Both versions count I/O per group including its descendants (v1 through
//! the `_recursive` files), so the two read the same way.
//!
//! A limit is per whole disk: the kernel refuses a partition's `MAJ:MIN`,
//! so a device or path is resolved to its disk ([`resolve_device`]). v1
//! throttles only I/O that reaches the block layer in the group's name:
//! direct I/O. Buffered writes are written back by the kernel's flusher
//! threads, charged to no group, and pass unthrottled ([`note`] says so).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::{mismatch, no_explanation, At, Controller, Flag, KnobDef, Read};
use crate::cgroup::error::CgroupError;
use crate::cgroup::knob::{self, Knob, Refusal, Setting, Value};
use crate::cgroup::layout::{Layout, Version};
use crate::cgroup::stats::Limit;
use crate::cgroup::write::{require_file, Applied, FileWrite};
use crate::model::GroupSnapshot;

// ---- readings ---------------------------------------------------------------

/// Cumulative I/O of a group on one device (`MAJ:MIN`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoDevice {
    pub dev: String,
    pub rbytes: Option<u64>,
    pub wbytes: Option<u64>,
    pub rios: Option<u64>,
    pub wios: Option<u64>,
    pub dbytes: Option<u64>,
    pub dios: Option<u64>,
}

/// A group's throttle on one device; `None` = no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoLimit {
    pub dev: String,
    pub rbps: Option<u64>,
    pub wbps: Option<u64>,
    pub riops: Option<u64>,
    pub wiops: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoStats {
    /// Devices the group did I/O on (`None`: the counter files are missing).
    pub devices: Option<Vec<IoDevice>>,
    /// Devices with a limit.
    pub limits: Vec<IoLimit>,
    /// The default weight (1–10000 on v2's scale; v1 BFQ 1–1000).
    pub weight: Option<u64>,
}

type DevField = fn(&mut IoDevice) -> &mut Option<u64>;
type LimField = fn(&mut IoLimit) -> &mut Option<u64>;

pub const CONTROLLER: Controller = Controller {
    name: "io",
    v1_names: &["blkio"],
    v2_enable: true,
    knobs: KNOBS,
    explain: no_explanation,
    note,
    restore: &[
        ("io.max", restore_keyed),
        ("io.weight", restore_keyed),
        ("io.bfq.weight", restore_keyed),
        ("blkio.bfq.weight", restore_keyed),
        ("blkio.throttle.read_bps_device", restore_keyed),
        ("blkio.throttle.write_bps_device", restore_keyed),
        ("blkio.throttle.read_iops_device", restore_keyed),
        ("blkio.throttle.write_iops_device", restore_keyed),
    ],
    reads: &[
        Read {
            at: At::V2("io"),
            file: "io.stat",
            slow: false,
            apply: |t, s| s.io.devices = t.map(parse_io_stat),
        },
        // v1: two files fill one device list (bytes first, then counts).
        Read {
            at: At::V1("blkio"),
            file: "blkio.throttle.io_service_bytes_recursive",
            slow: false,
            apply: |t, s| {
                s.io.devices = t.map(|t| {
                    let mut d = Vec::new();
                    merge_v1(
                        &mut d,
                        t,
                        [|d| &mut d.rbytes, |d| &mut d.wbytes, |d| &mut d.dbytes],
                    );
                    d
                })
            },
        },
        Read {
            at: At::V1("blkio"),
            file: "blkio.throttle.io_serviced_recursive",
            slow: false,
            apply: |t, s| match (t, s.io.devices.as_mut()) {
                (Some(t), Some(d)) => {
                    merge_v1(d, t, [|d| &mut d.rios, |d| &mut d.wios, |d| &mut d.dios])
                }
                (Some(t), None) => {
                    let mut d = Vec::new();
                    merge_v1(
                        &mut d,
                        t,
                        [|d| &mut d.rios, |d| &mut d.wios, |d| &mut d.dios],
                    );
                    s.io.devices = Some(d);
                }
                (None, _) => {}
            },
        },
        Read {
            at: At::V2("io"),
            file: "io.max",
            slow: true,
            apply: |t, s| s.io.limits = t.map(parse_io_max).unwrap_or_default(),
        },
        // v1: one file per limit, the first one starts the list afresh.
        Read {
            at: At::V1("blkio"),
            file: "blkio.throttle.read_bps_device",
            slow: true,
            apply: |t, s| {
                s.io.limits.clear();
                merge_v1_limit(&mut s.io.limits, t, |l| &mut l.rbps)
            },
        },
        Read {
            at: At::V1("blkio"),
            file: "blkio.throttle.write_bps_device",
            slow: true,
            apply: |t, s| merge_v1_limit(&mut s.io.limits, t, |l| &mut l.wbps),
        },
        Read {
            at: At::V1("blkio"),
            file: "blkio.throttle.read_iops_device",
            slow: true,
            apply: |t, s| merge_v1_limit(&mut s.io.limits, t, |l| &mut l.riops),
        },
        Read {
            at: At::V1("blkio"),
            file: "blkio.throttle.write_iops_device",
            slow: true,
            apply: |t, s| merge_v1_limit(&mut s.io.limits, t, |l| &mut l.wiops),
        },
        Read {
            at: At::V2("io"),
            file: "io.weight",
            slow: true,
            apply: |t, s| s.io.weight = t.and_then(parse_weight),
        },
        Read {
            at: At::V1("blkio"),
            file: "blkio.bfq.weight",
            slow: true,
            apply: |t, s| s.io.weight = t.and_then(parse_weight),
        },
    ],
};

/// v2 `io.stat`: `MAJ:MIN rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`
/// (newer kernels append more `key=value`s: ignored).
pub fn parse_io_stat(text: &str) -> Vec<IoDevice> {
    keyed_device_lines(text)
        .map(|(dev, kvs)| {
            let mut d = IoDevice {
                dev: dev.to_string(),
                ..Default::default()
            };
            for (k, v) in kvs {
                match k {
                    "rbytes" => d.rbytes = v,
                    "wbytes" => d.wbytes = v,
                    "rios" => d.rios = v,
                    "wios" => d.wios = v,
                    "dbytes" => d.dbytes = v,
                    "dios" => d.dios = v,
                    _ => {}
                }
            }
            d
        })
        .collect()
}

/// The v2 per-device files' lines (`io.stat`, `io.max`): `MAJ:MIN k=v k=v…`,
/// each value a number or `None` (`max`, or unparsable). Lines that don't
/// start with a device are skipped.
fn keyed_device_lines(
    text: &str,
) -> impl Iterator<Item = (&str, impl Iterator<Item = (&str, Option<u64>)>)> {
    text.lines().filter_map(|l| {
        let mut it = l.split_ascii_whitespace();
        let dev = it.next().filter(|d| is_majmin(d))?;
        let kvs = it.filter_map(|kv| kv.split_once('=').map(|(k, v)| (k, v.parse().ok())));
        Some((dev, kvs))
    })
}

/// The entry for `dev` in a per-device list, added (default) when missing:
/// v1 spreads one device over several lines and files.
fn entry_for<'a, T>(
    list: &'a mut Vec<T>,
    dev: &str,
    dev_of: fn(&T) -> &str,
    with_dev: fn(String) -> T,
) -> &'a mut T {
    let i = match list.iter().position(|x| dev_of(x) == dev) {
        Some(i) => i,
        None => {
            list.push(with_dev(dev.to_string()));
            list.len() - 1
        }
    };
    &mut list[i]
}

/// v1 `blkio.throttle.io_service_bytes(_recursive)` / `io_serviced`:
/// `MAJ:MIN Read N`, `… Write N`, `… Discard N` (and Sync/Async/Total, and
/// a last `Total N`): fills the `[read, write, discard]` fields.
fn merge_v1(devs: &mut Vec<IoDevice>, text: &str, fields: [DevField; 3]) {
    for l in text.lines() {
        let mut it = l.split_ascii_whitespace();
        let (Some(dev), Some(op), Some(n)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let f = match op {
            "Read" => fields[0],
            "Write" => fields[1],
            "Discard" => fields[2],
            _ => continue,
        };
        if !is_majmin(dev) {
            continue;
        }
        let d = entry_for(
            devs,
            dev,
            |d| &d.dev,
            |dev| IoDevice {
                dev,
                ..Default::default()
            },
        );
        *f(d) = n.parse().ok();
    }
}

/// v2 `io.max`: `MAJ:MIN rbps=max wbps=5242880 riops=max wiops=max`.
pub fn parse_io_max(text: &str) -> Vec<IoLimit> {
    keyed_device_lines(text)
        .map(|(dev, kvs)| {
            let mut lim = IoLimit {
                dev: dev.to_string(),
                ..Default::default()
            };
            for (k, v) in kvs {
                match k {
                    "rbps" => lim.rbps = v,
                    "wbps" => lim.wbps = v,
                    "riops" => lim.riops = v,
                    "wiops" => lim.wiops = v,
                    _ => {}
                }
            }
            lim
        })
        .collect()
}

/// v1 `blkio.throttle.*_device`: `MAJ:MIN N` lines, one per limited device.
fn merge_v1_limit(limits: &mut Vec<IoLimit>, text: Option<&str>, f: LimField) {
    for l in text.unwrap_or("").lines() {
        let mut it = l.split_ascii_whitespace();
        let (Some(dev), Some(n)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        if !is_majmin(dev) || n == 0 {
            continue;
        }
        let lim = entry_for(
            limits,
            dev,
            |l| &l.dev,
            |dev| IoLimit {
                dev,
                ..Default::default()
            },
        );
        *f(lim) = Some(n);
    }
}

/// `default 100` (v2 `io.weight`, BFQ's files) or a bare number (v1 CFQ).
fn parse_weight(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_ascii_whitespace();
        match (it.next()?, it.next()) {
            ("default", Some(n)) => n.parse().ok(),
            (n, None) => n.parse().ok(),
            _ => None,
        }
    })
}

fn is_majmin(s: &str) -> bool {
    s.split_once(':').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

// ---- the published view -----------------------------------------------------

/// One device of a group in the published snapshot.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IoDeviceView {
    /// `MAJ:MIN`.
    pub device: String,
    /// Its kernel name (`vda`), when `/sys/dev/block` has it.
    pub name: Option<String>,
    pub read_bytes_per_s: Option<f64>,
    pub write_bytes_per_s: Option<f64>,
    pub read_iops: Option<f64>,
    pub write_iops: Option<f64>,
    /// Cumulative.
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    pub reads: Option<u64>,
    pub writes: Option<u64>,
    pub discard_bytes: Option<u64>,
}

/// A limit on one device; null = no limit of that kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IoLimitView {
    pub device: String,
    pub name: Option<String>,
    pub read_bps: Option<u64>,
    pub write_bps: Option<u64>,
    pub read_iops: Option<u64>,
    pub write_iops: Option<u64>,
}

/// The published io part of a group (`groups[].io` in the JSON: add fields
/// only). Rates are over the sampling interval, totals over every device.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IoView {
    pub read_bytes_per_s: Option<f64>,
    pub write_bytes_per_s: Option<f64>,
    pub read_iops: Option<f64>,
    pub write_iops: Option<f64>,
    pub read_bytes_total: Option<u64>,
    pub write_bytes_total: Option<u64>,
    pub devices: Vec<IoDeviceView>,
    pub limits: Vec<IoLimitView>,
    /// The default weight (`io.weight`/BFQ's); null where there is none.
    pub weight: Option<u64>,
}

impl IoView {
    /// The view of `cur`, with rates against `prev` over `wall_ns` (0: no
    /// rates). A device missing from `prev` has no rate yet.
    pub fn new(cur: &IoStats, prev: Option<&[IoDevice]>, wall_ns: u64) -> IoView {
        use crate::sampler::rates::per_second;
        let Some(devs) = cur.devices.as_ref() else {
            return IoView {
                limits: limit_views(&cur.limits),
                weight: cur.weight,
                ..Default::default()
            };
        };
        let prev_devs = prev;
        let mut v = IoView {
            limits: limit_views(&cur.limits),
            weight: cur.weight,
            ..Default::default()
        };
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, None) => a,
            (None, b) => b,
        };
        let usum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, None) => a,
            (None, b) => b,
        };
        let rated = wall_ns > 0 && prev_devs.is_some();
        for d in devs {
            let p = prev_devs.and_then(|p| p.iter().find(|x| x.dev == d.dev));
            let rate = |f: fn(&IoDevice) -> Option<u64>| match p {
                Some(p) => per_second(f(p), f(d), wall_ns),
                // New since the last reading: it was 0 before (the kernel
                // lists a device once the group did I/O on it).
                None if rated => per_second(Some(0), f(d), wall_ns),
                None => None,
            };
            let dv = IoDeviceView {
                device: d.dev.clone(),
                name: device_name(&d.dev),
                read_bytes_per_s: rate(|d| d.rbytes),
                write_bytes_per_s: rate(|d| d.wbytes),
                read_iops: rate(|d| d.rios),
                write_iops: rate(|d| d.wios),
                read_bytes: d.rbytes,
                write_bytes: d.wbytes,
                reads: d.rios,
                writes: d.wios,
                discard_bytes: d.dbytes,
            };
            v.read_bytes_total = usum(v.read_bytes_total, d.rbytes);
            v.write_bytes_total = usum(v.write_bytes_total, d.wbytes);
            v.read_bytes_per_s = sum(v.read_bytes_per_s, dv.read_bytes_per_s);
            v.write_bytes_per_s = sum(v.write_bytes_per_s, dv.write_bytes_per_s);
            v.read_iops = sum(v.read_iops, dv.read_iops);
            v.write_iops = sum(v.write_iops, dv.write_iops);
            v.devices.push(dv);
        }
        // Counters known but no device listed: no I/O at all (a rate of 0
        // once there is an interval).
        if devs.is_empty() {
            v.read_bytes_total = Some(0);
            v.write_bytes_total = Some(0);
        }
        if rated {
            for r in [
                &mut v.read_bytes_per_s,
                &mut v.write_bytes_per_s,
                &mut v.read_iops,
                &mut v.write_iops,
            ] {
                r.get_or_insert(0.0);
            }
        }
        v
    }
}

fn limit_views(limits: &[IoLimit]) -> Vec<IoLimitView> {
    limits
        .iter()
        .filter(|l| l.rbps.or(l.wbps).or(l.riops).or(l.wiops).is_some())
        .map(|l| IoLimitView {
            device: l.dev.clone(),
            name: device_name(&l.dev),
            read_bps: l.rbps,
            write_bps: l.wbps,
            read_iops: l.riops,
            write_iops: l.wiops,
        })
        .collect()
}

/// `254:0` → `vda` (the last part of `/sys/dev/block/254:0`'s target),
/// looked up once per device.
fn device_name(dev: &str) -> Option<String> {
    static NAMES: Mutex<Option<HashMap<String, Option<String>>>> = Mutex::new(None);
    let mut names = NAMES.lock().ok()?;
    let names = names.get_or_insert_with(HashMap::new);
    if let Some(n) = names.get(dev) {
        return n.clone();
    }
    let n = fs::read_link(Path::new("/sys/dev/block").join(dev))
        .ok()
        .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()));
    names.insert(dev.to_string(), n.clone());
    n
}

// ---- devices ------------------------------------------------------------------

/// A device resolved for a limit: the whole disk's `MAJ:MIN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// `spec` (a block device, any path on a filesystem, or `MAJ:MIN`) → the
/// whole disk holding it, with `sys` the sysfs root (`/sys`). A partition
/// becomes its disk: the kernel refuses a partition's `MAJ:MIN` (limits
/// are per request queue, which belongs to the disk).
pub fn resolve_device(spec: &str, sys: &Path) -> Result<Disk, String> {
    let (major, minor) = if is_majmin(spec) {
        let (a, b) = spec.split_once(':').unwrap_or_default();
        (
            a.parse()
                .map_err(|_| format!("`{spec}`: major number too large"))?,
            b.parse()
                .map_err(|_| format!("`{spec}`: minor number too large"))?,
        )
    } else {
        if !spec.starts_with('/') {
            return Err(format!(
                "`{spec}` is not a device: give /dev/NAME, MAJ:MIN or an absolute path on the filesystem to limit"
            ));
        }
        let m = fs::metadata(spec).map_err(|e| format!("`{spec}`: {e}"))?;
        let dev = if m.file_type().is_block_device() {
            m.rdev()
        } else if m.file_type().is_char_device() {
            return Err(format!(
                "`{spec}` is a character device, not a block device"
            ));
        } else {
            m.dev()
        };
        (libc::major(dev), libc::minor(dev))
    };
    let node = sys.join(format!("dev/block/{major}:{minor}"));
    if !node.exists() {
        return Err(if is_majmin(spec) {
            format!(
                "{major}:{minor} is no block device on this host (no {})",
                node.display()
            )
        } else {
            format!(
                "`{spec}` is on device {major}:{minor}, which is no block device (tmpfs, overlay, a network filesystem?): nothing to throttle there"
            )
        });
    }
    if !node.join("partition").exists() {
        return Ok(Disk { major, minor });
    }
    // A partition's directory sits in its disk's: …/vda/vda1.
    let disk_dev = fs::canonicalize(&node)
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("dev")))
        .and_then(|f| fs::read_to_string(f).ok())
        .ok_or_else(|| {
            format!("{major}:{minor} is a partition whose disk is not found in sysfs")
        })?;
    let (a, b) = disk_dev
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("unreadable disk number `{}`", disk_dev.trim()))?;
    match (a.parse(), b.parse()) {
        (Ok(major), Ok(minor)) => Ok(Disk { major, minor }),
        _ => Err(format!("unreadable disk number `{}`", disk_dev.trim())),
    }
}

/// Why a limit on `disk` may do nothing: md and device-mapper devices pass
/// I/O on to their member disks, where the block layer may not charge it
/// to the group.
pub fn stacked_warning(disk: &str, sys: &Path) -> Option<String> {
    let node = sys.join(format!("dev/block/{disk}"));
    let kind = if node.join("dm").exists() {
        "a device-mapper device (LVM, dm-crypt)"
    } else if node.join("md").exists() {
        "an md RAID device"
    } else {
        return None;
    };
    Some(format!(
        "{disk} is {kind}: its I/O goes on to the member disks, and a limit on it may do nothing; limit the member disks if it doesn't hold"
    ))
}

// ---- knobs --------------------------------------------------------------------

#[allow(non_upper_case_globals)]
impl Knob {
    pub const IoReadBps: Knob = Knob("io.read_bps");
    pub const IoWriteBps: Knob = Knob("io.write_bps");
    pub const IoReadIops: Knob = Knob("io.read_iops");
    pub const IoWriteIops: Knob = Knob("io.write_iops");
    pub const IoWeight: Knob = Knob("io.weight");
}

const DEVICE_RATES: &str = "DEVICE:RATE[,DEVICE:RATE…] (DEVICE a block device, MAJ:MIN or a path on the filesystem to limit; RATE or max), or max to clear every device";

const THROTTLE_ERRORS: &[(i32, &str)] = &[
    (
        libc::ENODEV,
        "the kernel has no such block device (or it is a partition: limits are per disk)",
    ),
    (
        libc::EINVAL,
        "the kernel refused the device or rate (a partition, or a device the throttle does not handle)",
    ),
];

/// One of the four throttles: its v2 `io.max` key, v1 file, whether its
/// rate is bytes (else operations).
struct Throttle {
    v2_key: &'static str,
    v1_file: &'static str,
    bytes: bool,
}

fn throttle(k: Knob) -> Option<Throttle> {
    let (v2_key, v1_file, bytes) = match k {
        Knob::IoReadBps => ("rbps", "blkio.throttle.read_bps_device", true),
        Knob::IoWriteBps => ("wbps", "blkio.throttle.write_bps_device", true),
        Knob::IoReadIops => ("riops", "blkio.throttle.read_iops_device", false),
        Knob::IoWriteIops => ("wiops", "blkio.throttle.write_iops_device", false),
        _ => return None,
    };
    Some(Throttle {
        v2_key,
        v1_file,
        bytes,
    })
}

const KNOBS: &[KnobDef] = &[
    KnobDef {
        knob: Knob::IoReadBps,
        aliases: &["blkio.throttle.read_bps_device", "device-read-bps"],
        syntax: DEVICE_RATES,
        flag: Some(Flag {
            name: "io-read-bps",
            help: "Read limit per disk, bytes/s: DEVICE:RATE (/dev/vda:5M, /path:1M, several comma-separated)",
        }),
        launch: false,
        errors: THROTTLE_ERRORS,
        parse: |v, _| parse_rates(v, true),
        plan: plan_throttle,
        order: |_, _| 5,
        current: |g| current_rates(g, |l| l.read_bps, true),
    },
    KnobDef {
        knob: Knob::IoWriteBps,
        aliases: &["blkio.throttle.write_bps_device", "device-write-bps"],
        syntax: DEVICE_RATES,
        flag: Some(Flag {
            name: "io-write-bps",
            help: "Write limit per disk, bytes/s: DEVICE:RATE (/dev/vda:5M; v1 throttles direct I/O only)",
        }),
        launch: false,
        errors: THROTTLE_ERRORS,
        parse: |v, _| parse_rates(v, true),
        plan: plan_throttle,
        order: |_, _| 5,
        current: |g| current_rates(g, |l| l.write_bps, true),
    },
    KnobDef {
        knob: Knob::IoReadIops,
        aliases: &["blkio.throttle.read_iops_device", "device-read-iops"],
        syntax: DEVICE_RATES,
        flag: Some(Flag {
            name: "io-read-iops",
            help: "Read operations per second per disk: DEVICE:RATE (/dev/vda:100)",
        }),
        launch: false,
        errors: THROTTLE_ERRORS,
        parse: |v, _| parse_rates(v, false),
        plan: plan_throttle,
        order: |_, _| 5,
        current: |g| current_rates(g, |l| l.read_iops, false),
    },
    KnobDef {
        knob: Knob::IoWriteIops,
        aliases: &["blkio.throttle.write_iops_device", "device-write-iops"],
        syntax: DEVICE_RATES,
        flag: Some(Flag {
            name: "io-write-iops",
            help: "Write operations per second per disk: DEVICE:RATE (/dev/vda:100)",
        }),
        launch: false,
        errors: THROTTLE_ERRORS,
        parse: |v, _| parse_rates(v, false),
        plan: plan_throttle,
        order: |_, _| 5,
        current: |g| current_rates(g, |l| l.write_iops, false),
    },
    KnobDef {
        knob: Knob::IoWeight,
        aliases: &["io.bfq.weight", "blkio.weight", "blkio-weight"],
        syntax: "an integer from 1 to 10000 (default 100; v1 BFQ: 1 to 1000)",
        flag: Some(Flag {
            name: "io-weight",
            help: "I/O weight, 1–10000 (default 100): a share of the disk against siblings",
        }),
        launch: false,
        errors: &[(
            libc::ERANGE,
            "out of the scheduler's range (BFQ takes 1 to 1000)",
        )],
        parse: |v, _| {
            let w: u64 = v.parse().map_err(|_| "not a whole number")?;
            if !(1..=10_000).contains(&w) {
                return Err("out of range".into());
            }
            Ok(Value::Count(Limit::Value(w)))
        },
        plan: plan_weight,
        order: |_, _| 5,
        current: |g| Some(Value::Count(Limit::Value(g.io.weight?))),
    },
];

/// `DEVICE:RATE,…` or `max` → `Value::List` of `MAJ:MIN:RATE` (the device
/// resolved to its disk now, so the value says which disk is meant and
/// parses again as is), or `max`.
fn parse_rates(v: &str, bytes: bool) -> Result<Value, Refusal> {
    parse_rates_in(v, bytes, Path::new("/sys"))
}

fn parse_rates_in(v: &str, bytes: bool, sys: &Path) -> Result<Value, Refusal> {
    if knob::is_max(v) {
        return Ok(Value::List("max".into()));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for part in v.split(',').map(str::trim) {
        let (dev, rate) = part
            .rsplit_once(':')
            .ok_or_else(|| format!("`{part}` is not DEVICE:RATE (e.g. /dev/vda:5M)"))?;
        let (dev, rate) = (dev.trim(), rate.trim());
        if dev.is_empty() || rate.is_empty() || is_majmin(part) {
            return Err(format!("`{part}` is not DEVICE:RATE (e.g. /dev/vda:5M)").into());
        }
        let disk = resolve_device(dev, sys)?.to_string();
        let rate = parse_rate(rate, bytes)?;
        if out.iter().any(|(d, _)| *d == disk) {
            return Err(format!("disk {disk} is given twice (`{dev}`)").into());
        }
        out.push((disk, rate));
    }
    Ok(Value::List(
        out.iter()
            .map(|(d, r)| format!("{d}:{r}"))
            .collect::<Vec<_>>()
            .join(","),
    ))
}

/// A rate: `max`, bytes (`5M`, binary units as everywhere in cgdash) or a
/// count of operations; zero is refused (v1 reads it as "no limit", v2 as
/// "no I/O at all").
fn parse_rate(r: &str, bytes: bool) -> Result<String, String> {
    if knob::is_max(r) {
        return Ok("max".into());
    }
    let n = if bytes {
        match knob::parse_size(r)? {
            Limit::Value(n) => n,
            Limit::Max => return Ok("max".into()),
        }
    } else {
        r.parse::<u64>()
            .map_err(|_| format!("`{r}` is not a whole number of operations"))?
    };
    if n == 0 {
        return Err(
            "a rate of 0 would stop all I/O (v2) or mean no limit (v1): use max to clear a limit"
                .into(),
        );
    }
    Ok(if bytes {
        knob::format_size(n)
    } else {
        n.to_string()
    })
}

/// The `MAJ:MIN:RATE` items of a parsed value: (disk, rate as the kernel
/// takes it: `None` = max).
fn items(s: &Setting, bytes: bool) -> Result<Vec<(String, Option<u64>)>, CgroupError> {
    let Value::List(l) = &s.value else {
        return Err(mismatch(s));
    };
    l.split(',')
        .map(|it| {
            let (dev, rate) = it.rsplit_once(':').ok_or_else(|| mismatch(s))?;
            let rate = if rate == "max" {
                None
            } else if bytes {
                knob::parse_size(rate).ok().and_then(Limit::value)
            } else {
                rate.parse().ok()
            };
            Ok((dev.to_string(), rate))
        })
        .collect()
}

fn plan_throttle(
    layout: &Layout,
    group: &str,
    s: &Setting,
    _: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let t = throttle(s.knob).ok_or_else(|| mismatch(s))?;
    let (dir, v) = io_dir(layout, group, s.knob)?;
    let file = match v {
        Version::V2 => "io.max",
        Version::V1 => t.v1_file,
    };
    require_file(
        &dir,
        file,
        s.knob,
        &format!(
            "{file} is missing: this kernel has no block throttling (CONFIG_BLK_DEV_THROTTLING)"
        ),
    )?;
    let path = dir.join(file);
    // `max` alone: clear every device the group has a limit of this kind on.
    let items = if s.value == Value::List("max".into()) {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let mut limits = Vec::new();
        match v {
            Version::V2 => limits = parse_io_max(&text),
            Version::V1 => merge_v1_limit(&mut limits, Some(&text), |l| &mut l.rbps),
        }
        limits
            .iter()
            .filter(|l| match v {
                Version::V1 => l.rbps.is_some(),
                Version::V2 => match t.v2_key {
                    "rbps" => l.rbps.is_some(),
                    "wbps" => l.wbps.is_some(),
                    "riops" => l.riops.is_some(),
                    _ => l.wiops.is_some(),
                },
            })
            .map(|l| (l.dev.clone(), None))
            .collect()
    } else {
        items(s, t.bytes)?
    };
    Ok(items
        .into_iter()
        .map(|(dev, rate)| FileWrite {
            knob: s.knob,
            path: path.clone(),
            contents: match (v, rate) {
                (Version::V2, Some(r)) => format!("{dev} {}={r}", t.v2_key),
                (Version::V2, None) => format!("{dev} {}=max", t.v2_key),
                // v1: 0 removes the device's rule.
                (Version::V1, r) => format!("{dev} {}", r.unwrap_or(0)),
            },
        })
        .collect())
}

/// The group's io directory. On v2 the files exist only where the parent
/// enabled `+io`.
fn io_dir(layout: &Layout, group: &str, k: Knob) -> Result<(PathBuf, Version), CgroupError> {
    // v1 names it blkio; on hybrid hosts the v1 mount holds the processes.
    let controller = match layout.hierarchy("blkio") {
        Some(_) => "blkio",
        None => "io",
    };
    let (dir, v) = layout.knob_dir(group, controller, k)?;
    if v == Version::V2 {
        require_file(&dir, "io.stat", k, "the io controller is not enabled for this group (the parent's cgroup.subtree_control lacks +io: not delegated)")?;
    }
    Ok((dir, v))
}

fn plan_weight(
    layout: &Layout,
    group: &str,
    s: &Setting,
    _: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let Value::Count(Limit::Value(w)) = s.value else {
        return Err(mismatch(s));
    };
    let (dir, v) = io_dir(layout, group, s.knob)?;
    let files: &[&str] = match v {
        Version::V2 => &["io.weight", "io.bfq.weight"],
        Version::V1 => &["blkio.bfq.weight", "blkio.weight"],
    };
    let Some(file) = files.iter().find(|f| dir.join(f).exists()) else {
        return Err(CgroupError::Unsupported {
            knob: s.knob,
            why: match v {
                Version::V1 => "this kernel's v1 blkio has no weight file: blkio.weight was the CFQ scheduler's (removed in Linux 5.0), blkio.bfq.weight appears only while the BFQ scheduler is loaded, and acts only on disks using it".into(),
                Version::V2 => "no io.weight here: it needs the kernel's iocost (CONFIG_BLK_CGROUP_IOCOST) or the BFQ scheduler".into(),
            },
        });
    };
    if file.contains("bfq") && w > 1000 {
        return Err(CgroupError::Invalid {
            knob: s.knob,
            why: format!("{file} takes 1 to 1000 (BFQ's range); {w} is more"),
        });
    }
    Ok(vec![FileWrite {
        knob: s.knob,
        path: dir.join(file),
        // v1's files take the bare number; v2's a `default` line.
        contents: match v {
            Version::V1 => w.to_string(),
            Version::V2 => format!("default {w}"),
        },
    }])
}

/// The editor's prefill: the group's limits of this kind, or `max`.
fn current_rates(
    g: &GroupSnapshot,
    f: fn(&IoLimitView) -> Option<u64>,
    bytes: bool,
) -> Option<Value> {
    let l: Vec<String> =
        g.io.limits
            .iter()
            .filter_map(|l| {
                let r = f(l)?;
                Some(format!(
                    "{}:{}",
                    l.device,
                    if bytes {
                        knob::format_size(r)
                    } else {
                        r.to_string()
                    }
                ))
            })
            .collect();
    Some(Value::List(if l.is_empty() {
        "max".into()
    } else {
        l.join(",")
    }))
}

/// Old contents of a per-device (or `default`-keyed) file → the line the
/// kernel takes back for the key `new` writes: the old line of that device,
/// else the "no limit" form (v1 `MAJ:MIN 0`, v2 every key `max`).
fn restore_keyed(path: &Path, old: &str, new: &str) -> String {
    let key = new.split_ascii_whitespace().next().unwrap_or("");
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let line = old
        .lines()
        .map(str::trim)
        .find(|l| l.split_ascii_whitespace().next() == Some(key));
    match line {
        // v1 lists only limited devices; its no-limit form is `0`.
        Some(l) => l.to_string(),
        None if file == "io.max" => format!("{key} rbps=max wbps=max riops=max wiops=max"),
        None if file.starts_with("blkio.throttle.") => format!("{key} 0"),
        // A weight file: its default line is always there.
        None => old.trim().to_string(),
    }
}

/// What a user should know about an applied io setting: v1 throttles only
/// direct I/O; md/dm devices may ignore a limit.
fn note(a: &Applied) -> Option<String> {
    note_in(a, Path::new("/sys"))
}

fn note_in(a: &Applied, sys: &Path) -> Option<String> {
    let mut notes = Vec::new();
    if a.writes.iter().any(|w| {
        w.path.to_string_lossy().contains("blkio.throttle.") && !w.contents.ends_with(" 0")
    }) {
        notes.push("cgroup v1 throttles direct I/O only: buffered writes pass unthrottled (the kernel writes them back, charged to no group)".to_string());
    }
    for w in &a.writes {
        let dev = w.contents.split_ascii_whitespace().next().unwrap_or("");
        if let Some(warn) = stacked_warning(dev, sys) {
            notes.push(warn);
        }
    }
    if a.setting.knob == Knob::IoWeight {
        notes.push("a weight shares a disk among sibling groups only on disks whose scheduler is BFQ (or, for io.weight, with iocost enabled in io.cost.qos)".into());
    }
    if a.writes.is_empty() && a.setting.value == Value::List("max".into()) {
        notes.push("no device had a limit of this kind: nothing to clear".into());
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Reads as in [`CONTROLLER`], for a group's stats (used by tests).
#[cfg(test)]
fn read_into(s: &mut crate::cgroup::stats::GroupStats, file: &str, text: &str) {
    for r in CONTROLLER.reads.iter().filter(|r| r.file == file) {
        (r.apply)(Some(text), s);
    }
}

#[cfg(test)]
mod tests;
