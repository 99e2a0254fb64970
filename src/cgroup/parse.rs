//! Parsers for cgroupfs and procfs file contents. Pure functions on `&str`,
//! table-tested on real file contents from v1 and v2 kernels.

use std::path::PathBuf;

use super::stats::{Limit, MemoryEvents, Psi, PsiLine};

/// One cgroup-relevant line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub super_options: String,
}

/// Parses mountinfo, returning `cgroup` and `cgroup2` mounts in order.
/// Format: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTS`.
pub fn mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut l = left.split(' ');
            let root = l.nth(3)?;
            let mount_point = l.next()?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let _source = r.next()?;
            let super_options = r.next().unwrap_or("");
            Some(Mount {
                root: unescape_octal(root),
                mount_point: PathBuf::from(unescape_octal(mount_point)),
                fstype: fstype.to_string(),
                super_options: super_options.to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\040` etc.
fn unescape_octal(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Looks up `key` in a flat-keyed file (`cpu.stat`, `memory.stat`,
/// `memory.events`, `pids.events`, `memory.oom_control`): lines of `key value`.
pub fn flat_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_ascii_whitespace();
        if it.next()? == key {
            it.next()?.parse().ok()
        } else {
            None
        }
    })
}

/// A single number (`cpuacct.usage`, `memory.current`, `pids.current`).
pub fn single_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A v2 limit file (`memory.max`, `pids.max`): `max` or a number.
pub fn v2_limit(text: &str) -> Option<Limit> {
    let t = text.trim();
    if t == "max" {
        Some(Limit::Max)
    } else {
        t.parse().ok().map(Limit::Value)
    }
}

/// v1 memory limits: "unlimited" is PAGE_COUNTER_MAX × page size, i.e. a
/// number near 2^63 (9223372036854771712 on 4K pages). Anything ≥ 2^62 is
/// treated as no limit — no machine has 4 EiB of memory.
pub fn v1_memory_limit(text: &str) -> Option<Limit> {
    let v: u64 = text.trim().parse().ok()?;
    Some(if v >= 1 << 62 {
        Limit::Max
    } else {
        Limit::Value(v)
    })
}

/// v2 `cpu.max`: `"QUOTA PERIOD"` or `"max PERIOD"` (µs).
pub fn cpu_max(text: &str) -> Option<(Limit, u64)> {
    let mut it = text.split_ascii_whitespace();
    let q = it.next()?;
    let period: u64 = it.next()?.parse().ok()?;
    let quota = if q == "max" {
        Limit::Max
    } else {
        Limit::Value(q.parse().ok()?)
    };
    Some((quota, period))
}

/// v1 `cpu.cfs_quota_us`: `-1` is no limit.
pub fn v1_quota(text: &str) -> Option<Limit> {
    let v: i64 = text.trim().parse().ok()?;
    Some(if v < 0 {
        Limit::Max
    } else {
        Limit::Value(v as u64)
    })
}

/// v2 `memory.events` (also `memory.events.local`).
pub fn memory_events(text: &str) -> MemoryEvents {
    MemoryEvents {
        low: flat_key(text, "low"),
        high: flat_key(text, "high"),
        max: flat_key(text, "max"),
        oom: flat_key(text, "oom"),
        oom_kill: flat_key(text, "oom_kill"),
    }
}

/// PSI (`/proc/pressure/cpu`, `cpu.pressure`):
/// `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and optionally `full …`.
pub fn pressure(text: &str) -> Psi {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        let kind = it.next();
        let mut p = PsiLine::default();
        let mut seen = 0;
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => p.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => p.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => p.avg300 = v.parse().unwrap_or(0.0),
                "total" => p.total_us = v.parse().unwrap_or(0),
                _ => continue,
            }
            seen += 1;
        }
        if seen < 4 {
            continue;
        }
        match kind {
            Some("some") => psi.some = Some(p),
            Some("full") => psi.full = Some(p),
            _ => {}
        }
    }
    psi
}

/// v1 `freezer.state` (`THAWED`, `FREEZING`, `FROZEN`) → frozen?
/// FREEZING counts as frozen: the user asked for it and it is on its way.
pub fn v1_freezer_state(text: &str) -> Option<bool> {
    match text.trim() {
        "FROZEN" | "FREEZING" => Some(true),
        "THAWED" => Some(false),
        _ => None,
    }
}

/// `/proc/PID/cgroup`: the path of the hierarchy whose controller list
/// contains `controller` (v1), or the `0::` line when `controller` is `None`
/// or not found in a v1 line (v2).
pub fn proc_cgroup_path<'a>(text: &'a str, controller: Option<&str>) -> Option<&'a str> {
    let mut v2 = None;
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            v2 = Some(path);
        } else if let Some(c) = controller {
            if ctrls.split(',').any(|x| x == c) {
                return Some(path);
            }
        }
    }
    v2
}

/// Number of lines (pids) in `cgroup.procs`.
pub fn count_lines(text: &str) -> u64 {
    text.lines().filter(|l| !l.trim().is_empty()).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real contents from this project's v1 hybrid host (kernel 6.18).
    const MOUNTINFO_SEPARATE_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    // A classic systemd v1 host (co-mounted cpu,cpuacct; optional fields present).
    const MOUNTINFO_COMOUNTED_V1: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
";
    const MOUNTINFO_V2: &str = "\
24 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
25 18 0:23 / /tmp/my\\040dir rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_layouts() {
        let m = mountinfo(MOUNTINFO_SEPARATE_V1);
        assert_eq!(m.len(), 10);
        assert_eq!(m[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(m[0].super_options, "rw,cpu");
        assert_eq!(m[9].fstype, "cgroup2");
        let m = mountinfo(MOUNTINFO_COMOUNTED_V1);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[2].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(m[2].super_options, "rw,cpu,cpuacct");
        let m = mountinfo(MOUNTINFO_V2);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].super_options, "rw,nsdelegate,memory_recursiveprot");
        assert_eq!(unescape_octal("/tmp/my\\040dir"), "/tmp/my dir");
    }

    #[test]
    fn cpu_stat_v1_and_v2() {
        let v1 = "nr_periods 1031\nnr_throttled 824\nthrottled_time 65420011482\nnr_bursts 0\nburst_time 0\n";
        assert_eq!(flat_key(v1, "nr_periods"), Some(1031));
        assert_eq!(flat_key(v1, "nr_throttled"), Some(824));
        assert_eq!(flat_key(v1, "throttled_time"), Some(65_420_011_482));
        assert_eq!(flat_key(v1, "throttled_usec"), None);
        let v2 = "usage_usec 2254035\nuser_usec 2198541\nsystem_usec 55494\ncore_sched.force_idle_usec 0\nnr_periods 232\nnr_throttled 184\nthrottled_usec 14683446\nnr_bursts 0\nburst_usec 0\n";
        assert_eq!(flat_key(v2, "usage_usec"), Some(2_254_035));
        assert_eq!(flat_key(v2, "throttled_usec"), Some(14_683_446));
        assert_eq!(flat_key(v2, "nr_throttled"), Some(184));
        // a key that is a prefix of another must not match it
        assert_eq!(flat_key(v2, "usage"), None);
    }

    #[test]
    fn memory_files() {
        let ev = "low 0\nhigh 12\nmax 340\noom 3\noom_kill 2\noom_group_kill 0\n";
        let e = memory_events(ev);
        assert_eq!(
            (e.low, e.high, e.max, e.oom, e.oom_kill),
            (Some(0), Some(12), Some(340), Some(3), Some(2))
        );
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(flat_key(oom_control, "oom_kill"), Some(1));
        let stat = "cache 0\nrss 1081344\nrss_huge 0\nshmem 0\nmapped_file 0\ntotal_rss 1081344\n";
        assert_eq!(flat_key(stat, "rss"), Some(1_081_344));
        assert_eq!(v1_memory_limit("9223372036854771712\n"), Some(Limit::Max));
        assert_eq!(
            v1_memory_limit("268435456\n"),
            Some(Limit::Value(268_435_456))
        );
        assert_eq!(v2_limit("max\n"), Some(Limit::Max));
        assert_eq!(v2_limit("67108864\n"), Some(Limit::Value(67_108_864)));
        assert_eq!(v2_limit("garbage"), None);
        assert_eq!(v2_limit(""), None);
    }

    #[test]
    fn cpu_limits() {
        assert_eq!(cpu_max("max 100000\n"), Some((Limit::Max, 100_000)));
        assert_eq!(
            cpu_max("20000 100000\n"),
            Some((Limit::Value(20_000), 100_000))
        );
        assert_eq!(cpu_max("20000"), None);
        assert_eq!(v1_quota("-1\n"), Some(Limit::Max));
        assert_eq!(v1_quota("50000\n"), Some(Limit::Value(50_000)));
    }

    #[test]
    fn psi() {
        let cpu = "some avg10=1.53 avg60=0.87 avg300=0.31 total=1612345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        let p = pressure(cpu);
        let some = p.some.unwrap();
        assert_eq!(
            (some.avg10, some.avg60, some.avg300, some.total_us),
            (1.53, 0.87, 0.31, 1_612_345)
        );
        assert_eq!(p.full.unwrap().total_us, 0);
        let only_some = "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n";
        assert!(pressure(only_some).full.is_none());
        assert_eq!(pressure("").some, None);
    }

    #[test]
    fn proc_cgroup() {
        let v1 =
            "9:name=systemd:/\n4:memory:/process_api/8b7a\n2:cpuacct:/\n1:cpu:/cgdash/demo\n0::/\n";
        assert_eq!(proc_cgroup_path(v1, Some("cpu")), Some("/cgdash/demo"));
        assert_eq!(
            proc_cgroup_path(v1, Some("memory")),
            Some("/process_api/8b7a")
        );
        let comounted = "4:cpu,cpuacct:/user.slice\n0::/user.slice/session-1.scope\n";
        assert_eq!(
            proc_cgroup_path(comounted, Some("cpu")),
            Some("/user.slice")
        );
        let v2 = "0::/system.slice/ssh.service\n";
        assert_eq!(
            proc_cgroup_path(v2, Some("cpu")),
            Some("/system.slice/ssh.service")
        );
        assert_eq!(
            proc_cgroup_path(v2, None),
            Some("/system.slice/ssh.service")
        );
    }

    #[test]
    fn freezer() {
        assert_eq!(v1_freezer_state("FROZEN\n"), Some(true));
        assert_eq!(v1_freezer_state("THAWED\n"), Some(false));
        assert_eq!(v1_freezer_state("?"), None);
    }
}
