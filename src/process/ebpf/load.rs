//! The object's maps made and its programs loaded and attached with bpf(2),
//! the object parsed and relocated once with aya-obj (the crate aya itself
//! parses and relocates with) — not through aya's `EbpfLoader` (session 21;
//! issue 18, startup).
//!
//! `EbpfLoader::load` probes the kernel for its features first, once per
//! process (13 bpf(2) calls of small programs, maps and BTF blobs), and
//! `EbpfLoader::new` parses the kernel's whole BTF unless it can't see it
//! (cgdash made the loader in a thread of its own mount namespace with
//! /dev/null over the BTF file). The iterator was already loaded here with
//! its attach id (`iter`), from a second parse and relocation of the
//! object. Measured here: a first `Tasks::load` in a process took ~2.45 ms
//! of CPU with aya's loader, a second ~2.0 (the probes are made once per
//! process); `snapshot --json` cost 1.9–2.5 ms more CPU on the eBPF path
//! than on `/proc` with aya's loader, 0.8 with this one (medians of 40
//! interleaved runs). This loader assumes what the programs need anyway
//! (BPF ring buffer and task iterator: Linux 5.8, which has
//! `bpf_probe_read_kernel` and global data) instead of probing.
//!
//! Made here: the object's three maps without BTF (none of them needs it:
//! a hash, the ring buffer, `.bss`'s array), the iterator linked, the
//! other programs attached to their raw tracepoints by name. The ring
//! buffer is read with aya's `RingBuf`, over the descriptor made here.
//! The parse and relocation ([`prepare`]) give what the load takes
//! (`prepared`), which a start keeps for the next (`cache`).

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use aya::Btf;
use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_insn};

use super::prepared::{self, MapDef, Prepared, ProgCode};

use super::iter::{bpf, prog_load, ProgKind};

/// The kernel features the programs rely on, as aya-obj's sanitizer asks
/// (only `bpf_probe_read_kernel` matters to it here: Linux 5.5; the ring
/// buffer needs 5.8).
const FEATURES: aya_obj::Features =
    aya_obj::Features::new(true, true, true, true, true, false, false, None);

/// The loaded object: its maps and programs, held until dropped (which
/// detaches the programs and frees the maps).
pub(super) struct Loaded {
    /// The relocated instructions of the task iterator.
    pub iter_insns: Vec<bpf_insn>,
    /// The ring buffer of exits, and `.bss` (the `lost_exits` and `pass`
    /// counters).
    pub exits: OwnedFd,
    pub bss: OwnedFd,
    /// The other maps, programs and raw tracepoint links.
    pub _held: Vec<OwnedFd>,
}

/// A raw tracepoint program of the object and the tracepoints it is
/// attached to (the same program may serve several).
pub(super) struct Attach<'a> {
    pub program: &'a str,
    pub points: &'a [&'a str],
}

/// Parses `object` and relocates it against `btf`, its maps stood in for
/// (`prepared`): every program's instructions and the maps' definitions,
/// as [`load`] takes them. The same for the same object and BTF.
pub(super) fn prepare(object: &[u8], btf: &Btf) -> Result<Prepared, String> {
    let mut obj = aya_obj::Object::parse(object).map_err(|e| format!("object: {e}"))?;
    obj.relocate_btf(btf)
        .map_err(|e| format!("CO-RE relocation: {e}"))?;
    // By name (the object's maps are a hash map): a second preparation
    // is the first, byte for byte.
    let mut names: Vec<String> = obj.maps.keys().cloned().collect();
    names.sort();
    let text: HashSet<usize> = obj.functions.keys().map(|(section, _)| *section).collect();
    let maps = obj.maps.clone();
    obj.relocate_maps(
        names.iter().enumerate().map(|(i, name)| {
            let m = &maps[name];
            (name.as_str(), prepared::stand_in(i), m)
        }),
        &text,
    )
    .map_err(|e| format!("map relocation: {e}"))?;
    obj.relocate_calls(&text)
        .map_err(|e| format!("call relocation: {e}"))?;
    obj.sanitize_functions(&FEATURES);
    let mut programs: Vec<&String> = obj.programs.keys().collect();
    programs.sort();
    let programs = programs
        .into_iter()
        .map(|name| {
            let program = &obj.programs[name];
            let code = obj
                .functions
                .get(&program.function_key())
                .ok_or_else(|| format!("no code for `{name}`"))?;
            ProgCode::new(name, &code.instructions, names.len())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let maps = names
        .iter()
        .map(|name| {
            let m = &maps[name];
            // Global data starts as the object says (`.bss`: zeros, as a
            // new array is: nothing to write then).
            let data = m.data();
            MapDef {
                name: name.clone(),
                map_type: m.map_type(),
                key_size: m.key_size(),
                value_size: m.value_size(),
                max_entries: m.max_entries(),
                map_flags: m.map_flags(),
                map_extra: m.map_extra(),
                data: if data.iter().any(|&b| b != 0) {
                    data.to_vec()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    Ok(Prepared { maps, programs })
}

/// Makes the maps of `prepared` (`max_entries` overrides by name), loads
/// the raw tracepoint programs `attach` names and attaches them. The
/// iterator program is returned with the maps' descriptors in it, for
/// `iter` to load with its attach id.
pub(super) fn load(
    prepared: &Prepared,
    iterator: &str,
    max_entries: &[(&str, u32)],
    attach: &[Attach<'_>],
) -> Result<Loaded, String> {
    let mut fds: Vec<OwnedFd> = Vec::with_capacity(prepared.maps.len());
    for map in &prepared.maps {
        let n = max_entries
            .iter()
            .find(|(m, _)| *m == map.name)
            .map_or(map.max_entries, |&(_, n)| n);
        let fd = map_create(map, n).map_err(|e| format!("map `{}` refused: {e}", map.name))?;
        fds.push(fd);
    }
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let insns = |name: &str| prepared.program(name)?.with_fds(&raw);
    let iter_insns = insns(iterator)?;
    let mut held = Vec::new();
    for a in attach {
        let what = a.points.first().copied().unwrap_or(a.program);
        let prog = prog_load(a.program, &insns(a.program)?, ProgKind::RawTracepoint)
            .map_err(|e| format!("{what} refused: {e}"))?;
        for point in a.points {
            let link = raw_tracepoint_open(point, prog.as_raw_fd())
                .map_err(|e| format!("{point} not attached: {e}"))?;
            held.push(link);
        }
        held.push(prog);
    }
    let mut fds: HashMap<&str, OwnedFd> = prepared
        .maps
        .iter()
        .map(|m| m.name.as_str())
        .zip(fds)
        .collect();
    let mut take = |name: &str| {
        fds.remove(name)
            .ok_or_else(|| format!("no `{name}` map in the object"))
    };
    let exits = take("exits")?;
    let bss = take(".bss")?;
    held.extend(fds.into_values());
    Ok(Loaded {
        iter_insns,
        exits,
        bss,
        _held: held,
    })
}

/// `BPF_MAP_CREATE` of one of the object's maps, named as in the object
/// (`bpftool map` shows it), without BTF, with `max_entries`.
fn map_create(def: &MapDef, max_entries: u32) -> io::Result<OwnedFd> {
    // SAFETY: a zeroed bpf_attr is a valid one; the union member set is the
    // one BPF_MAP_CREATE reads.
    let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
    let u = unsafe { &mut attr.__bindgen_anon_1 };
    u.map_type = def.map_type;
    u.key_size = def.key_size;
    u.value_size = def.value_size;
    u.max_entries = max_entries;
    u.map_flags = def.map_flags;
    u.map_extra = def.map_extra;
    // The kernel takes [A-Za-z0-9_.] names of up to 15 bytes.
    for (to, from) in u.map_name.iter_mut().take(15).zip(def.name.bytes()) {
        *to = from as _;
    }
    let fd = bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    if !def.data.is_empty() {
        map_update(&fd, 0, &def.data)?;
    }
    Ok(fd)
}

/// `BPF_MAP_UPDATE_ELEM` of an array's element `key`.
fn map_update(map: &OwnedFd, key: u32, value: &[u8]) -> io::Result<()> {
    // SAFETY: as in `map_create`; the key and value outlive the call.
    let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = map.as_raw_fd() as u32;
    u.key = &key as *const u32 as u64;
    u.__bindgen_anon_1.value = value.as_ptr() as u64;
    bpf_status(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr)
}

/// The value of an array map's element `key` (`BPF_MAP_LOOKUP_ELEM`) as
/// `N` native 8-byte words: `N * 8` must be the map's value size.
pub(super) fn lookup_u64s<const N: usize>(map: &OwnedFd, key: u32) -> io::Result<[u64; N]> {
    let mut value = [0u64; N];
    // SAFETY: as in `map_create`; the key and value outlive the call, and
    // the value is the map's value size (the caller's word: `.bss` holds
    // two u64).
    let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = map.as_raw_fd() as u32;
    u.key = &key as *const u32 as u64;
    u.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    bpf_status(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    Ok(value)
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches `prog` to the tracepoint `point`
/// until the returned descriptor is closed.
fn raw_tracepoint_open(point: &str, prog: RawFd) -> io::Result<OwnedFd> {
    let name = CString::new(point).map_err(io::Error::other)?;
    // SAFETY: as in `map_create`; the name outlives the call.
    let mut attr = unsafe { std::mem::zeroed::<bpf_attr>() };
    attr.raw_tracepoint.name = name.as_ptr() as u64;
    attr.raw_tracepoint.prog_fd = prog as u32;
    bpf(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut attr)
}

/// One bpf(2) command that returns 0 on success.
fn bpf_status(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<()> {
    super::iter::sys_bpf(cmd, attr).map(|_| ())
}
