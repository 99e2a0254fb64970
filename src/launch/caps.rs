//! The capabilities a workload keeps. A root workload with every capability
//! could undo its own limits: mount a fresh cgroupfs (`mount -t cgroup -o
//! cpu none /mnt`, or `cgroup2`) and write `-1` to `cpu.cfs_quota_us`, or
//! remount the read-only one; a fresh mount, umount and remount all need
//! `CAP_SYS_ADMIN`. Other capabilities reach the same place by other roads
//! (ptrace our init, which still has them; load a kernel module; raw I/O;
//! open_by_handle_at out of a rootfs; mknod a disk), so the workload gets
//! docker's default set — the one container images are written for —
//! minus `CAP_MKNOD`, which docker can keep only because its devices cgroup
//! makes new device nodes useless (cgdash has none). `no_new_privs` keeps
//! set-uid and file-capability programs from giving any of it back.
//!
//! The cgroup files themselves are root-owned, mode 0644: a uid-0 workload
//! passes their permission check as owner, so `CAP_DAC_OVERRIDE` plays no
//! part; what keeps the limits is that it cannot see them writable (the
//! mounts inside are read-only and it cannot make new ones).
//!
//! Runs in the forked workload process just before exec (single-threaded).

use nix::errno::Errno;

/// Docker's default capability set without `CAP_MKNOD` (see above). Numbers
/// from linux/capability.h.
pub const KEPT: [(u32, &str); 13] = [
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (10, "CAP_NET_BIND_SERVICE"),
    (13, "CAP_NET_RAW"),
    (18, "CAP_SYS_CHROOT"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
];

/// The kept set as a 64-bit mask (bit N = capability N).
pub fn kept_mask() -> u64 {
    KEPT.iter().fold(0, |m, (c, _)| m | (1u64 << c))
}

/// Highest capability number the kernel knows; 63 when unreadable (the loop
/// below stops at the first EINVAL anyway).
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

fn capget() -> Result<[CapData; 2], Errno> {
    let mut h = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: header and a 2-element data array, as capget(2) wants for v3.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    Errno::result(r).map(|_| d)
}

fn capset(d: &[CapData; 2]) -> Result<(), Errno> {
    let mut h = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    // SAFETY: header and a 2-element data array, as capset(2) wants for v3.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) };
    Errno::result(r).map(|_| ())
}

/// Drops every capability outside [`KEPT`] from the bounding, ambient,
/// effective, permitted and inheritable sets, and sets `no_new_privs`. On
/// error names the step that failed; the caller must not exec then.
pub fn restrict() -> Result<(), String> {
    let keep = kept_mask();
    let have = capget().map_err(|e| format!("capget: {}", e.desc()))?;
    let permitted = u64::from(have[0].permitted) | (u64::from(have[1].permitted) << 32);
    // Bounding set: what an exec can ever give back (for uid 0 the new
    // permitted set is the bounding set). Dropping needs CAP_SETPCAP; a
    // process without it (not root, no user namespace) has no capabilities
    // to lose, and no_new_privs below stops set-uid programs from adding any.
    let can_drop = permitted & (1 << 8) != 0;
    if can_drop {
        for cap in 0..=last_cap().min(63) {
            if keep & (1u64 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            match Errno::result(r) {
                Ok(_) => {}
                Err(Errno::EINVAL) => break, // beyond what this kernel knows
                Err(e) => return Err(format!("dropping capability {cap}: {}", e.desc())),
            }
        }
    }
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // EINVAL: a kernel without ambient capabilities (before 4.3).
    if let Err(e) = Errno::result(r) {
        if e != Errno::EINVAL {
            return Err(format!("clearing ambient capabilities: {}", e.desc()));
        }
    }
    let mut d = have;
    for (i, half) in d.iter_mut().enumerate() {
        let k = (keep >> (32 * i)) as u32;
        half.effective &= k;
        half.permitted &= k;
        half.inheritable &= k;
    }
    capset(&d).map_err(|e| format!("capset: {}", e.desc()))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {}", e.desc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_set_has_none_of_the_escapes() {
        let m = kept_mask();
        // SYS_ADMIN (mount), SYS_MODULE, SYS_RAWIO, SYS_PTRACE, SYS_BOOT,
        // SYS_TIME, MKNOD, DAC_READ_SEARCH (open_by_handle_at), NET_ADMIN,
        // SYS_RESOURCE, BPF, PERFMON.
        for cap in [21, 16, 17, 19, 22, 25, 27, 2, 12, 24, 39, 38] {
            assert_eq!(m & (1 << cap), 0, "capability {cap} kept");
        }
        assert_eq!(m.count_ones(), 13);
    }
}
