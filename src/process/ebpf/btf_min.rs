//! A minimal target BTF for the object's CO-RE relocations (issue 18: no
//! full parse of the kernel's ~130,000 types at load).
//!
//! [`build`] walks the kernel's raw BTF blob and keeps only what aya-obj's
//! relocation (`Object::relocate_btf`) looks at, with the same values:
//!
//! - the **candidates**: every kernel type whose name, without its
//!   `___flavor`, and kind are those of a relocation's root type in the
//!   object's own BTF (`.BTF` + `.BTF.ext`'s CO-RE records; no list here);
//! - their **members**, all of them, at their indices and bit offsets (aya
//!   compares a member's index with the member count for a flexible array
//!   and stops at the first member of the wanted name): a member whose name
//!   is a string of the object's BTF or that is anonymous keeps its type,
//!   followed through typedef / const / volatile / restrict / type_tag /
//!   array / int / enum / float / embedded struct-union; any other member
//!   gets type 0 (aya never looks at it: it matches members by name and
//!   recurses only into anonymous ones);
//! - every **pointer** becomes a `void *`: aya's `fields_are_compatible`
//!   accepts a pointer for a pointer field without looking at what it
//!   points to, and a pointer's size is the machine's.
//!
//! Relocation kinds other than field, enum and local type id ones (a
//! target type id would be an id of the kernel's BTF, a type's existence
//! or size may follow pointers) are refused: the caller then parses the
//! kernel's BTF in full, as before.
//!
//! The same walk finds the ids of the programs' attach types
//! ([`super::ATTACH`]) in the kernel's BTF. They are not in the blob: its
//! ids are its own, from 1, so that aya parses a few hundred types, not
//! the ~64,000 up to the attach ids; the iterator is loaded with its id
//! directly (`super::iter`).

use std::collections::{HashMap, HashSet};

use super::{BTF_KIND_PTR, BTF_MAGIC};

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FLOAT: u32 = 16;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A raw BTF blob, indexed: where each type's record starts.
pub(super) struct Raw<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Offset in `types` of type id `i` (id 0, void, has none: `offs[0]`
    /// is unused).
    offs: Vec<u32>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
}

/// Bytes after a type's 12-byte header.
pub(super) fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
        3 => 12,                      // ARRAY
        4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
        6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
        2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
        _ => return None,
    })
}

impl<'a> Raw<'a> {
    pub(super) fn parse(blob: &'a [u8]) -> Result<Raw<'a>, String> {
        if blob.len() < 24 || u16::from_le_bytes([blob[0], blob[1]]) != BTF_MAGIC {
            return Err("not little-endian BTF".into());
        }
        let field = |i: usize| u32_at(blob, 4 + 4 * i).unwrap_or(0) as usize;
        let (hdr, type_off, type_len, str_off, str_len) =
            (field(0), field(1), field(2), field(3), field(4));
        let types = blob
            .get(hdr + type_off..hdr + type_off + type_len)
            .ok_or("type section out of bounds")?;
        let strings = blob
            .get(hdr + str_off..hdr + str_off + str_len)
            .ok_or("string section out of bounds")?;
        let mut offs = vec![0u32];
        let mut at = 0usize;
        while at < types.len() {
            let id = offs.len();
            let info = u32_at(types, at + 4).ok_or_else(|| format!("type {id} cut short"))?;
            let kind = (info >> 24) & 0x1f;
            let extra = extra_len(kind, (info & 0xffff) as usize)
                .ok_or_else(|| format!("type {id}: unknown kind {kind}"))?;
            if at + 12 + extra > types.len() {
                return Err(format!("type {id} cut short"));
            }
            offs.push(at as u32);
            at += 12 + extra;
        }
        Ok(Raw {
            types,
            strings,
            offs,
        })
    }

    /// One past the highest type id.
    #[cfg(test)]
    pub(super) fn ids_end(&self) -> u32 {
        self.offs.len() as u32
    }

    /// Whether the string at `off` starts with `prefix`.
    fn starts_with(&self, off: u32, prefix: &[u8]) -> bool {
        let at = off as usize;
        self.strings.get(at..at + prefix.len()) == Some(prefix)
    }

    /// Whether the string at `off` is `s`.
    fn is_string(&self, off: u32, s: &[u8]) -> bool {
        self.starts_with(off, s) && self.strings.get(off as usize + s.len()) == Some(&0)
    }

    pub(super) fn string(&self, off: u32) -> &'a [u8] {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
    }

    /// The record of type `id` (header and what follows), `None` for void
    /// or an id out of range.
    fn record(&self, id: u32) -> Option<&'a [u8]> {
        if id == 0 {
            return None;
        }
        let at = *self.offs.get(id as usize)? as usize;
        let info = u32_at(self.types, at + 4)?;
        let extra = extra_len((info >> 24) & 0x1f, (info & 0xffff) as usize)?;
        self.types.get(at..at + 12 + extra)
    }

    pub(super) fn kind(&self, id: u32) -> Option<u32> {
        self.record(id)
            .and_then(|r| u32_at(r, 4))
            .map(|i| (i >> 24) & 0x1f)
    }

    pub(super) fn name(&self, id: u32) -> &'a [u8] {
        self.record(id)
            .and_then(|r| u32_at(r, 0))
            .map_or(&[], |n| self.string(n))
    }
}

fn flavorless(name: &[u8]) -> &[u8] {
    name.windows(3)
        .position(|w| w == b"___")
        .map_or(name, |at| &name[..at])
}

/// Kinds aya takes one for the other when it looks for candidates
/// (enum ↔ enum64).
fn kind_class(kind: u32) -> u32 {
    if kind == KIND_ENUM64 {
        KIND_ENUM
    } else {
        kind
    }
}

/// A section of an ELF64 little-endian object by name.
pub(super) fn elf_section<'a>(elf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|x| u16::from_le_bytes([x[0], x[1]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8])) as usize)
    };
    if elf.get(..4)? != b"\x7fELF" || elf.get(4)? != &2 || elf.get(5)? != &1 {
        return None;
    }
    let (shoff, shentsize) = (u64_at(0x28)?, u16_at(0x3a)? as usize);
    let (shnum, shstrndx) = (u16_at(0x3c)? as usize, u16_at(0x3e)? as usize);
    let header = |i: usize| -> Option<(u32, &'a [u8])> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let (off, size) = (u64_at(at + 24)?, u64_at(at + 32)?);
        Some((u32_at(elf, at)?, elf.get(off..off.checked_add(size)?)?))
    };
    let (_, names) = header(shstrndx)?;
    (0..shnum).find_map(|i| {
        let (n, data) = header(i)?;
        let s = names.get(n as usize..)?;
        let s = &s[..s.iter().position(|&c| c == 0)?];
        (s == name.as_bytes()).then_some(data)
    })
}

/// The object's CO-RE relocations: (kind, local root type id) of each.
pub(super) fn core_relocations(btf_ext: &[u8]) -> Result<Vec<(u32, u32)>, String> {
    if btf_ext.len() < 8 || u16::from_le_bytes([btf_ext[0], btf_ext[1]]) != BTF_MAGIC {
        return Err("bad .BTF.ext header".into());
    }
    let hdr_len = u32_at(btf_ext, 4).unwrap_or(0) as usize;
    if hdr_len < 32 {
        return Ok(Vec::new()); // no CO-RE section
    }
    let (off, len) = (
        u32_at(btf_ext, 24).unwrap_or(0) as usize,
        u32_at(btf_ext, 28).unwrap_or(0) as usize,
    );
    let sec = btf_ext
        .get(hdr_len + off..hdr_len + off + len)
        .ok_or(".BTF.ext CO-RE section out of bounds")?;
    if sec.is_empty() {
        return Ok(Vec::new());
    }
    let rec = u32_at(sec, 0).ok_or("no CO-RE record size")? as usize;
    if rec < 16 {
        return Err(format!("CO-RE record size {rec}"));
    }
    let mut out = Vec::new();
    let mut at = 4;
    while at < sec.len() {
        let n = u32_at(sec, at + 4).ok_or("CO-RE section cut short")? as usize;
        at += 8;
        for _ in 0..n {
            let type_id = u32_at(sec, at + 4).ok_or("CO-RE record cut short")?;
            let kind = u32_at(sec, at + 12).ok_or("CO-RE record cut short")?;
            out.push((kind, type_id));
            at += rec;
        }
    }
    Ok(out)
}

/// What one id of the output holds.
#[derive(Clone, Copy)]
enum Slot {
    /// An anonymous `void *` (also every kernel pointer).
    VoidPtr,
    /// A kernel type, rewritten.
    Kernel(u32),
}

/// What [`build`] found.
pub(super) struct Minimal {
    /// The relocation types' BTF (its ids are its own, not the kernel's).
    pub blob: Vec<u8>,
    /// The kernel's ids of the attach types, in the order asked.
    pub attach_ids: Vec<u32>,
}

/// The minimal BTF for `object`'s relocations against the kernel BTF
/// `kernel`, and the ids of the `attach` types (name, kind) in it. See
/// the module's comment for what is kept.
pub(super) fn build<'k>(
    kernel: &'k [u8],
    object: &[u8],
    attach: &[(&'static str, u32)],
) -> Result<Minimal, String> {
    let local_blob = elf_section(object, ".BTF").ok_or("no .BTF in the object")?;
    let local = Raw::parse(local_blob).map_err(|e| format!("object's .BTF: {e}"))?;
    let ext = elf_section(object, ".BTF.ext").ok_or("no .BTF.ext in the object")?;
    // Roots: (flavorless name, kind class) of each relocation's local type.
    let mut roots: Vec<(&[u8], u32)> = Vec::new();
    for (kind, type_id) in core_relocations(ext)? {
        match kind {
            0..=5 | 10 | 11 => {} // field, enum value
            6 => continue,        // local type id: the target is not looked at
            k => return Err(format!("CO-RE relocation kind {k} not covered")),
        }
        let name = flavorless(local.name(type_id));
        let lkind = local
            .kind(type_id)
            .ok_or_else(|| format!("relocation on unknown local type {type_id}"))?;
        if name.is_empty() {
            return Err(format!("relocation on anonymous local type {type_id}"));
        }
        if !roots.contains(&(name, kind_class(lkind))) {
            roots.push((name, kind_class(lkind)));
        }
    }
    // Member names the relocations can ask for: every string of the
    // object's BTF (a superset).
    let wanted: HashSet<&[u8]> = local.strings.split(|&c| c == 0).collect();

    let k: Raw<'k> = Raw::parse(kernel)?;
    // One walk: the candidates and the attach types.
    let mut candidates = Vec::new();
    let mut attach_ids: Vec<Option<u32>> = vec![None; attach.len()];
    // Names are looked at only for the kinds wanted (a third of the
    // kernel's types are pointers, functions, prototypes…).
    let mut kinds = 0u32;
    for &(_, class) in &roots {
        kinds |= 1 << class;
        if class == KIND_ENUM {
            kinds |= 1 << KIND_ENUM64;
        }
    }
    for &(_, kind) in attach {
        kinds |= 1 << kind;
    }
    for (id, &at) in k.offs.iter().enumerate().skip(1) {
        let at = at as usize;
        let kind = (u32_at(k.types, at + 4).unwrap_or(0) >> 24) & 0x1f;
        if kinds & (1 << kind) == 0 {
            continue;
        }
        let name_off = u32_at(k.types, at).unwrap_or(0);
        if name_off == 0 {
            continue;
        }
        // Compared in place: most names differ in their first bytes, and
        // finding where each of ~60,000 ends cost more than the compares.
        let id = id as u32;
        for (slot, &(n, kd)) in attach_ids.iter_mut().zip(attach) {
            if slot.is_none() && kd == kind && k.is_string(name_off, n.as_bytes()) {
                *slot = Some(id);
            }
        }
        let class = kind_class(kind);
        if roots.iter().any(|&(n, c)| {
            c == class && k.starts_with(name_off, n) && {
                // `flavorless` only on a root's prefix: a few names.
                flavorless(k.string(name_off)).len() == n.len()
            }
        }) {
            candidates.push(id);
        }
    }
    let attach_ids = attach
        .iter()
        .zip(attach_ids)
        .map(|(&(name, _), id)| id.ok_or_else(|| format!("no {name} in the kernel's BTF")))
        .collect::<Result<Vec<u32>, String>>()?;
    // Output ids from 1, in the order found (none is the kernel's).
    let mut slots: Vec<Slot> = Vec::new();
    let alloc = |slots: &mut Vec<Slot>, s: Slot| -> u32 {
        slots.push(s);
        slots.len() as u32
    };
    let void_ptr = alloc(&mut slots, Slot::VoidPtr);
    let mut map: HashMap<u32, u32> = HashMap::new(); // kernel id → output id
    let mut queue: Vec<u32> = Vec::new();
    for id in candidates {
        map.insert(id, alloc(&mut slots, Slot::Kernel(id)));
        queue.push(id);
    }
    // The types the kept ones refer to.
    let keep_member = |name_off: u32| {
        let n = k.string(name_off);
        n.is_empty() || wanted.contains(n)
    };
    while let Some(id) = queue.pop() {
        for r in refs(&k, id, &keep_member)? {
            if r == 0 || map.contains_key(&r) {
                continue;
            }
            let out = if k.kind(r) == Some(BTF_KIND_PTR) {
                void_ptr
            } else {
                queue.push(r);
                alloc(&mut slots, Slot::Kernel(r))
            };
            map.insert(r, out);
        }
    }

    // The blob.
    let mut strings = vec![0u8];
    let mut string_ids: HashMap<&'k [u8], u32> = HashMap::new();
    let mut add = |s: &'k [u8]| -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&at) = string_ids.get(s) {
            return at;
        }
        let at = strings.len() as u32;
        strings.extend_from_slice(s);
        strings.push(0);
        string_ids.insert(s, at);
        at
    };
    let mut tys: Vec<u8> = Vec::with_capacity(12 * slots.len());
    let put = |tys: &mut Vec<u8>, words: &[u32]| {
        for w in words {
            tys.extend_from_slice(&w.to_le_bytes());
        }
    };
    let to = |id: u32| -> u32 {
        if id == 0 {
            0
        } else {
            map.get(&id).copied().unwrap_or(0)
        }
    };
    for slot in &slots {
        match *slot {
            Slot::VoidPtr => put(&mut tys, &[0, BTF_KIND_PTR << 24, 0]),
            Slot::Kernel(id) => {
                let rec = k
                    .record(id)
                    .ok_or_else(|| format!("kernel type {id} gone"))?;
                let w = |i: usize| u32_at(rec, 4 * i).unwrap_or(0);
                let (name, info) = (add(k.string(w(0))), w(1));
                let kind = (info >> 24) & 0x1f;
                let vlen = (info & 0xffff) as usize;
                match kind {
                    KIND_INT => put(&mut tys, &[name, info, w(2), w(3)]),
                    KIND_FWD | KIND_FLOAT => put(&mut tys, &[name, info, w(2)]),
                    KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                        put(&mut tys, &[name, info, to(w(2))])
                    }
                    KIND_ARRAY => put(&mut tys, &[name, info, w(2), to(w(3)), to(w(4)), w(5)]),
                    KIND_STRUCT | KIND_UNION => {
                        put(&mut tys, &[name, info, w(2)]);
                        for m in 0..vlen {
                            let (mn, mt, mo) = (w(3 + 3 * m), w(4 + 3 * m), w(5 + 3 * m));
                            let t = if keep_member(mn) { to(mt) } else { 0 };
                            put(&mut tys, &[add(k.string(mn)), t, mo]);
                        }
                    }
                    KIND_ENUM => {
                        put(&mut tys, &[name, info, w(2)]);
                        for v in 0..vlen {
                            put(&mut tys, &[add(k.string(w(3 + 2 * v))), w(4 + 2 * v)]);
                        }
                    }
                    KIND_ENUM64 => {
                        put(&mut tys, &[name, info, w(2)]);
                        for v in 0..vlen {
                            let (vn, lo, hi) = (w(3 + 3 * v), w(4 + 3 * v), w(5 + 3 * v));
                            put(&mut tys, &[add(k.string(vn)), lo, hi]);
                        }
                    }
                    other => return Err(format!("kernel type {id}: kind {other} not covered")),
                }
            }
        }
    }
    Ok(Minimal {
        blob: blob(&tys, &strings),
        attach_ids,
    })
}

/// A little-endian BTF blob of these type records and strings (header,
/// types, strings).
pub(super) fn blob(tys: &[u8], strings: &[u8]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(24 + tys.len() + strings.len());
    blob.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    blob.extend_from_slice(&[1, 0]); // version 1, no flags
    for word in [
        24,
        0,
        tys.len() as u32,
        tys.len() as u32,
        strings.len() as u32,
    ] {
        blob.extend_from_slice(&word.to_le_bytes());
    }
    blob.extend_from_slice(tys);
    blob.extend_from_slice(strings);
    blob
}

/// The kernel types `id` refers to that the output keeps (pointers are
/// listed: the caller turns them into `void *` and does not follow them).
fn refs(k: &Raw<'_>, id: u32, keep_member: &dyn Fn(u32) -> bool) -> Result<Vec<u32>, String> {
    let rec = k
        .record(id)
        .ok_or_else(|| format!("kernel type {id} out of range"))?;
    let w = |i: usize| u32_at(rec, 4 * i).unwrap_or(0);
    let info = w(1);
    let kind = (info >> 24) & 0x1f;
    let vlen = (info & 0xffff) as usize;
    Ok(match kind {
        KIND_INT | KIND_FWD | KIND_FLOAT | KIND_ENUM | KIND_ENUM64 => Vec::new(),
        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => vec![w(2)],
        KIND_ARRAY => vec![w(3), w(4)],
        KIND_STRUCT | KIND_UNION => (0..vlen)
            .filter(|m| keep_member(w(3 + 3 * m)))
            .map(|m| w(4 + 3 * m))
            .collect(),
        other => return Err(format!("kernel type {id}: kind {other} not covered")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{find_type_ids, ATTACH, BTF_PATH, OBJECT};
    use super::*;

    #[test]
    fn the_objects_relocations_are_field_ones_on_named_structs() {
        let btf = Raw::parse(elf_section(&OBJECT.0, ".BTF").expect(".BTF")).expect("parses");
        let ext = elf_section(&OBJECT.0, ".BTF.ext").expect(".BTF.ext");
        let relos = core_relocations(ext).expect("CO-RE records");
        assert!(relos.len() >= 10, "{relos:?}");
        let mut roots: Vec<&[u8]> = relos.iter().map(|&(_, t)| btf.name(t)).collect();
        roots.sort();
        roots.dedup();
        for (kind, t) in &relos {
            assert!(*kind <= 5, "field relocations only: {kind}");
            assert_eq!(btf.kind(*t), Some(KIND_STRUCT));
        }
        assert!(roots.contains(&&b"task_struct"[..]), "{roots:?}");
        assert!(elf_section(b"not an elf", ".BTF").is_none());
        assert!(core_relocations(b"short").is_err());
    }

    #[test]
    fn names_compared_in_place_are_whole_names() {
        // The walk compares names without finding their ends first: a
        // longer name that starts with the one wanted is not it.
        let strings = b"\0bpf_iter_task_file\0bpf_iter_task\0";
        let ptr: Vec<u8> = [0u32, BTF_KIND_PTR << 24, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let blob = blob(&ptr, strings);
        let raw = Raw::parse(&blob).unwrap();
        assert!(raw.starts_with(1, b"bpf_iter_task"));
        assert!(!raw.is_string(1, b"bpf_iter_task"), "a longer name");
        assert!(raw.is_string(20, b"bpf_iter_task"));
        assert!(!raw.is_string(20, b"bpf_iter_tas"), "a shorter one");
        assert!(!raw.starts_with(30, b"bpf_iter_task"), "past the end");
    }

    #[test]
    fn the_minimal_btf_keeps_few_types_and_the_attach_ids() {
        // Where the kernel has BTF (this host, the v2 VM). Exactness against
        // aya's relocation is tests/ebpf_btf_live.rs.
        let Ok(kernel) = std::fs::read(BTF_PATH) else {
            eprintln!("no {BTF_PATH}: nothing to build from");
            return;
        };
        let Minimal { blob, attach_ids } = build(&kernel, &OBJECT.0, &ATTACH).expect("builds");
        let ids = find_type_ids(&kernel, &ATTACH).unwrap();
        assert_eq!(ids, attach_ids.iter().map(|&i| Some(i)).collect::<Vec<_>>());
        assert_eq!(
            find_type_ids(&blob, &ATTACH).unwrap(),
            vec![None],
            "not in the blob"
        );
        let min = Raw::parse(&blob).unwrap();
        assert!(
            min.ids_end() < 1_000,
            "{} ids: no placeholders",
            min.ids_end()
        );
        let mut kept = 0;
        for id in 1..min.offs.len() as u32 {
            let rec = min.record(id).unwrap();
            match min.kind(id).unwrap() {
                BTF_KIND_PTR => assert_eq!(u32_at(rec, 8), Some(0), "{id}: a void *"),
                KIND_STRUCT | KIND_UNION => {
                    kept += 1;
                    let name = min.name(id);
                    if name == b"task_struct" {
                        // All members, at their offsets; unasked ones typeless.
                        let vlen = (u32_at(rec, 4).unwrap() & 0xffff) as usize;
                        assert!(vlen > 50, "task_struct has {vlen} members");
                        let typed = (0..vlen)
                            .filter(|m| u32_at(rec, 12 + 12 * m + 4) != Some(0))
                            .count();
                        assert!(typed < 20, "{typed} typed members");
                    }
                }
                _ => {}
            }
        }
        eprintln!("{kept} structs and unions kept, {} bytes", blob.len());
        assert!((3..100).contains(&kept), "{kept} structs and unions kept");
        assert!(blob.len() < kernel.len() / 4);
    }
}
