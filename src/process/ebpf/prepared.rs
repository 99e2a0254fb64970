//! The object as the kernel is handed it: its maps' definitions and each
//! program's instructions, CO-RE- and call-relocated, with the places
//! where a map's descriptor goes (issue 18, startup).
//!
//! Parsing the object and relocating it against the kernel's BTF with
//! aya-obj cost ~0.25 ms of each start's ~1.4 ms load (measured with the
//! thread's CPU clock around it, 200 processes, 6.18) and gives the same
//! result every time on one boot: the object and the kernel's BTF don't
//! change. So what it gives is kept (`cache`, keyed by both) and the next
//! start only makes the maps, writes their descriptors into the
//! instructions at [`ProgCode::sites`] and loads the programs.
//!
//! The descriptors aren't known when the object is relocated (the maps of
//! a later start are other descriptors), so it is relocated with stand-ins
//! ([`stand_in`]: numbers no descriptor has) and the sites are the
//! 64-bit loads that took one: the only instructions aya-obj's map
//! relocation writes (`BPF_LD | BPF_IMM | BPF_DW` with `src_reg`
//! `BPF_PSEUDO_MAP_FD`, or `BPF_PSEUDO_MAP_VALUE` for global data).

use aya_obj::generated::bpf_insn;

/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 64-bit immediate load.
const LD_IMM64: u8 = 0x18;
/// `src_reg` of a load of a map's descriptor, and of an address in a
/// map's value (global data: `.bss`).
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;

/// The stand-in descriptor of the `i`th map while relocating: far above
/// any real descriptor (the kernel's limit is 2^30), distinct per map.
pub(super) fn stand_in(i: usize) -> i32 {
    i32::MAX - i as i32
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MapDef {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub map_extra: u64,
    /// Initial contents of global data (empty: none, or all zeros).
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ProgCode {
    pub name: String,
    pub insns: Vec<[u8; 8]>,
    /// (instruction, map): where the map's descriptor goes.
    pub sites: Vec<(u32, u16)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Prepared {
    pub maps: Vec<MapDef>,
    pub programs: Vec<ProgCode>,
}

/// An instruction as its 8 bytes (code, registers, offset, immediate), the
/// layout BPF_PROG_LOAD reads.
pub(super) fn to_bytes(i: &bpf_insn) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = i.code;
    b[1] = i.dst_reg() | (i.src_reg() << 4);
    b[2..4].copy_from_slice(&i.off.to_le_bytes());
    b[4..8].copy_from_slice(&i.imm.to_le_bytes());
    b
}

fn to_insn(b: &[u8; 8]) -> bpf_insn {
    bpf_insn {
        code: b[0],
        _bitfield_align_1: [],
        _bitfield_1: bpf_insn::new_bitfield_1(b[1] & 0xf, b[1] >> 4),
        off: i16::from_le_bytes([b[2], b[3]]),
        imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    }
}

impl ProgCode {
    /// `insns` relocated with the maps' stand-ins: finds the sites. A load
    /// of an unknown stand-in is an error (a map the object relocated
    /// against that was not made).
    pub(super) fn new(name: &str, insns: &[bpf_insn], maps: usize) -> Result<ProgCode, String> {
        let mut sites = Vec::new();
        for (at, i) in insns.iter().enumerate() {
            if i.code != LD_IMM64 || !matches!(i.src_reg(), PSEUDO_MAP_FD | PSEUDO_MAP_VALUE) {
                continue;
            }
            let map = (0..maps)
                .find(|&m| stand_in(m) == i.imm)
                .ok_or_else(|| format!("`{name}`: instruction {at} loads an unknown map"))?;
            sites.push((at as u32, map as u16));
        }
        Ok(ProgCode {
            name: name.to_string(),
            insns: insns.iter().map(to_bytes).collect(),
            sites,
        })
    }

    /// The instructions with each map's descriptor (`fds`, in
    /// [`Prepared::maps`] order) at its sites.
    pub(super) fn with_fds(&self, fds: &[i32]) -> Result<Vec<bpf_insn>, String> {
        let mut out: Vec<bpf_insn> = self.insns.iter().map(to_insn).collect();
        for &(at, map) in &self.sites {
            let fd = *fds
                .get(usize::from(map))
                .ok_or_else(|| format!("`{}`: no map {map}", self.name))?;
            let i = out
                .get_mut(at as usize)
                .ok_or_else(|| format!("`{}`: no instruction {at}", self.name))?;
            i.imm = fd;
        }
        Ok(out)
    }
}

impl Prepared {
    pub(super) fn program(&self, name: &str) -> Result<&ProgCode, String> {
        self.programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("no program `{name}` in the object"))
    }

    /// Little-endian: the maps (name, the six numbers, data), then the
    /// programs (name, instructions, sites).
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u32s = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        let bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        u32s(&mut out, self.maps.len() as u32);
        for m in &self.maps {
            bytes(&mut out, m.name.as_bytes());
            for v in [
                m.map_type,
                m.key_size,
                m.value_size,
                m.max_entries,
                m.map_flags,
            ] {
                u32s(&mut out, v);
            }
            out.extend_from_slice(&m.map_extra.to_le_bytes());
            bytes(&mut out, &m.data);
        }
        u32s(&mut out, self.programs.len() as u32);
        for p in &self.programs {
            bytes(&mut out, p.name.as_bytes());
            u32s(&mut out, p.insns.len() as u32);
            for i in &p.insns {
                out.extend_from_slice(i);
            }
            u32s(&mut out, p.sites.len() as u32);
            for &(at, map) in &p.sites {
                u32s(&mut out, at);
                out.extend_from_slice(&map.to_le_bytes());
            }
        }
        out
    }

    /// [`Prepared::encode`]'s bytes back, `None` for anything else (cut
    /// short, trailing bytes, a count past the bytes there are, a site
    /// outside its program or naming no map).
    pub(super) fn decode(mut rest: &[u8]) -> Option<Prepared> {
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let mut p = Prepared::default();
        let n = u32_at(take(4)?);
        for _ in 0..n.min(64) {
            let len = u32_at(take(4)?) as usize;
            let name = String::from_utf8(take(len)?.to_vec()).ok()?;
            let mut v = [0u32; 5];
            for x in &mut v {
                *x = u32_at(take(4)?);
            }
            let map_extra = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let len = u32_at(take(4)?) as usize;
            let data = take(len)?.to_vec();
            p.maps.push(MapDef {
                name,
                map_type: v[0],
                key_size: v[1],
                value_size: v[2],
                max_entries: v[3],
                map_flags: v[4],
                map_extra,
                data,
            });
        }
        if p.maps.len() != n as usize {
            return None;
        }
        let n = u32_at(take(4)?);
        for _ in 0..n.min(64) {
            let len = u32_at(take(4)?) as usize;
            let name = String::from_utf8(take(len)?.to_vec()).ok()?;
            let count = u32_at(take(4)?) as usize;
            let code = take(count.checked_mul(8)?)?;
            let insns = code
                .chunks_exact(8)
                .map(|c| c.try_into().ok())
                .collect::<Option<Vec<[u8; 8]>>>()?;
            let count = u32_at(take(4)?) as usize;
            let mut sites = Vec::new();
            for _ in 0..count.min(insns.len()) {
                let at = u32_at(take(4)?);
                let map = u16::from_le_bytes(take(2)?.try_into().ok()?);
                if at as usize >= insns.len() || usize::from(map) >= p.maps.len() {
                    return None;
                }
                sites.push((at, map));
            }
            if sites.len() != count {
                return None;
            }
            p.programs.push(ProgCode { name, insns, sites });
        }
        if p.programs.len() != n as usize || !rest.is_empty() {
            return None;
        }
        Some(p)
    }
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> bpf_insn {
        bpf_insn {
            code,
            _bitfield_align_1: [],
            _bitfield_1: bpf_insn::new_bitfield_1(dst, src),
            off,
            imm,
        }
    }

    fn sample() -> (Vec<bpf_insn>, Prepared) {
        let insns = vec![
            // r1 = map 1 (`exits`), two halves
            insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, stand_in(1)),
            insn(0, 0, 0, 0, 0),
            // r2 = 0x7fffffff: a constant, not a map
            insn(LD_IMM64, 2, 0, 0, stand_in(0)),
            insn(0, 0, 0, 0, 0),
            // r3 = &.bss + 8 (map 0's value)
            insn(LD_IMM64, 3, PSEUDO_MAP_VALUE, 0, stand_in(0)),
            insn(0, 0, 0, 0, 8),
            // exit
            insn(0x95, 0, 0, -3, 0),
        ];
        let prog = ProgCode::new("p", &insns, 2).unwrap();
        let maps = ["bss", "exits"]
            .iter()
            .enumerate()
            .map(|(i, n)| MapDef {
                name: n.to_string(),
                map_type: 2 + i as u32,
                key_size: 4,
                value_size: 16,
                max_entries: 1 << (10 + i),
                map_flags: i as u32,
                map_extra: 7,
                data: if i == 0 { vec![1, 2, 3] } else { vec![] },
            })
            .collect();
        (
            insns,
            Prepared {
                maps,
                programs: vec![prog],
            },
        )
    }

    #[test]
    fn the_sites_are_the_map_loads_and_take_the_descriptors() {
        let (insns, p) = sample();
        let prog = p.program("p").unwrap();
        assert_eq!(prog.sites, [(0, 1), (4, 0)], "not the constant at 2");
        let out = prog.with_fds(&[11, 12]).unwrap();
        assert_eq!(out.len(), insns.len());
        for (at, (a, b)) in insns.iter().zip(&out).enumerate() {
            let imm = match at {
                0 => 12,
                4 => 11,
                _ => a.imm,
            };
            assert_eq!(
                (b.code, b.dst_reg(), b.src_reg(), b.off, b.imm),
                (a.code, a.dst_reg(), a.src_reg(), a.off, imm),
                "instruction {at}"
            );
        }
        let unknown = [insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, 5), insn(0, 0, 0, 0, 0)];
        assert!(
            ProgCode::new("q", &unknown, 2).is_err(),
            "a load of no stand-in"
        );
    }

    #[test]
    fn what_is_encoded_decodes_and_nothing_else_does() {
        let (_, p) = sample();
        let bytes = p.encode();
        assert_eq!(Prepared::decode(&bytes), Some(p.clone()));
        for cut in [0, 1, 4, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(Prepared::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Prepared::decode(&longer), None, "trailing byte");
        // A site past its program's end.
        let mut bad = p.clone();
        bad.programs[0].sites[0].0 = 99;
        assert_eq!(Prepared::decode(&bad.encode()), None);
        // A site naming a map that is not there.
        let mut bad = p;
        bad.programs[0].sites[0].1 = 2;
        assert_eq!(Prepared::decode(&bad.encode()), None);
    }
}
