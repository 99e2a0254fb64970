//! The task iterator (`tasks` in tasks.bpf.c), loaded and linked here
//! rather than through aya's `Iter` (issue 18, startup).
//!
//! aya's `Iter::load` takes the attach point (`bpf_iter_task`, a FUNC of
//! the kernel's BTF) only as a type name looked up in a parsed `Btf`, by
//! its index there. The kernel's id of it is ~64,000 on 6.18, so the load
//! had to be handed a stand-in BTF of ~64,000 placeholder types: 3–4 ms to
//! make and ~1 ms to free, more than the verifier took, on every start.
//! The id is already known (`btf_min` finds it in the same walk of the
//! raw blob that builds the minimal BTF), so the program (relocated with
//! the rest of the object, `load`) is loaded with it directly.
//!
//! The link is made once; each pass only opens a reader on it
//! (`BPF_ITER_CREATE`). aya's `Iter::attach` made and dropped a link per
//! pass.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use aya_obj::generated::{bpf_attach_type, bpf_attr, bpf_cmd, bpf_insn, bpf_prog_type};

// BPF_PROG_LOAD reads `insn_cnt` instructions of 8 bytes each (code,
// registers, offset, immediate): aya-obj's `bpf_insn` is that layout.
const _: () = assert!(std::mem::size_of::<bpf_insn>() == 8);

/// The program's name in the object and, as the kernel shows it
/// (`bpftool prog`), its name once loaded.
pub(super) const PROGRAM: &str = "tasks";

/// The verifier's log kept for an error, bytes (it is asked for only
/// when a load failed, on a second try).
const LOG_BYTES: usize = 64 * 1024;

/// The loaded iterator program and its link.
pub(super) struct TaskIter {
    _prog: OwnedFd,
    link: OwnedFd,
}

impl TaskIter {
    /// Loads the relocated `tasks` program, attached to the kernel's BTF
    /// type `attach_id` (`bpf_iter_task`), and links it.
    pub(super) fn load(insns: &[bpf_insn], attach_id: u32) -> Result<TaskIter, String> {
        let prog = prog_load(PROGRAM, insns, ProgKind::Iterator(attach_id))?;
        let link = link_create(prog.as_fd().as_raw_fd())
            .map_err(|e| format!("task iterator not linked: {e}"))?;
        Ok(TaskIter { _prog: prog, link })
    }

    /// A reader of one pass: every task, once, as the program writes it.
    pub(super) fn open(&self) -> io::Result<File> {
        // SAFETY: a zeroed bpf_attr is a valid one; the union member set is
        // the one BPF_ITER_CREATE reads.
        let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
        attr.iter_create.link_fd = self.link.as_raw_fd() as u32;
        bpf(bpf_cmd::BPF_ITER_CREATE, &mut attr).map(File::from)
    }
}

/// What a program is loaded as.
pub(super) enum ProgKind {
    /// A task iterator attached to the kernel's BTF type of that id.
    Iterator(u32),
    /// A raw tracepoint program (attached by name once loaded).
    RawTracepoint,
}

/// `BPF_PROG_LOAD` of the object's program `name`. A refusal is tried once
/// more with the verifier's log, whose last lines say why.
pub(super) fn prog_load(name: &str, insns: &[bpf_insn], kind: ProgKind) -> Result<OwnedFd, String> {
    let license = CString::new("GPL").expect("no NUL");
    let load = |log: &mut [u8]| {
        // SAFETY: as in `TaskIter::open`; every pointer set here outlives
        // the call.
        let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
        let u = unsafe { &mut attr.__bindgen_anon_3 };
        match kind {
            ProgKind::Iterator(attach_id) => {
                u.prog_type = bpf_prog_type::BPF_PROG_TYPE_TRACING as u32;
                u.expected_attach_type = bpf_attach_type::BPF_TRACE_ITER as u32;
                u.attach_btf_id = attach_id;
            }
            ProgKind::RawTracepoint => {
                u.prog_type = bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT as u32;
            }
        }
        u.insns = insns.as_ptr() as u64;
        u.insn_cnt = insns.len() as u32;
        u.license = license.as_ptr() as u64;
        // The kernel keeps 15 bytes of a name (`bpftool prog` shows it).
        for (to, from) in u.prog_name.iter_mut().take(15).zip(name.bytes()) {
            *to = from as _;
        }
        if !log.is_empty() {
            u.log_level = 1;
            u.log_buf = log.as_mut_ptr() as u64;
            u.log_size = log.len() as u32;
        }
        bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr)
    };
    load(&mut []).or_else(|first| {
        let mut log = vec![0u8; LOG_BYTES];
        match load(&mut log) {
            Ok(fd) => Ok(fd),
            Err(e) => Err(format!(
                "{e}: {}",
                log_tail(&log).unwrap_or(first.to_string())
            )),
        }
    })
}

/// The last lines of a verifier log (where it says why), if any.
fn log_tail(log: &[u8]) -> Option<String> {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    (!tail.is_empty()).then_some(tail)
}

/// `BPF_LINK_CREATE` of an iterator (no target, no arguments).
fn link_create(prog: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: as in `TaskIter::open`.
    let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
    attr.link_create.__bindgen_anon_1.prog_fd = prog as u32;
    attr.link_create.attach_type = bpf_attach_type::BPF_TRACE_ITER as u32;
    bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)
}

/// One bpf(2) command, as the kernel answers it: its return value (a new
/// descriptor for some commands, 0 for others) or the error.
pub(super) fn sys_bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a whole bpf_attr, its size given; the kernel reads
    // (and for some commands writes, e.g. through a lookup's value pointer)
    // only what the command says.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

/// One bpf(2) command that returns a new descriptor.
pub(super) fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        tries += 1;
        match sys_bpf(cmd, attr) {
            // SAFETY: these commands return a new descriptor, ours alone.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            // A signal can interrupt the verifier (EINTR; EAGAIN on some
            // 5.x kernels): a few more tries, as libbpf makes.
            Err(e)
                if tries < 5
                    && matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN)) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_tail_is_its_last_lines() {
        let mut log =
            b"0: (b7) r0 = 0\n\n1: (95) exit\nR1 invalid mem access 'scalar'\nprocessed 2 insns\n"
                .to_vec();
        log.resize(200, 0);
        assert_eq!(
            log_tail(&log).unwrap(),
            "1: (95) exit / R1 invalid mem access 'scalar' / processed 2 insns"
        );
        assert_eq!(log_tail(&[0; 16]), None);
        assert_eq!(log_tail(b"one line, no NUL").unwrap(), "one line, no NUL");
    }
}
