//! FNV-1a, the hash used where a 64-bit key stands in for bytes that are not
//! kept (a process's `comm`, a terminal cell). Two inputs of the same shape
//! that differ in one byte (or one number) never collide: each step is a
//! bijection of the state. Not for hash tables fed by others (no seed).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(OFFSET)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.step(u64::from(b));
        }
    }

    // Whole numbers are one step each, not one per byte: a terminal cell's
    // fingerprint hashes a dozen of them (enum discriminants, colours).
    // Each step is still a bijection of the state and of the value.
    fn write_u8(&mut self, n: u8) {
        self.step(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.step(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.step(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.step(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.step(n as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.step(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fnv {
    fn step(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(PRIME);
    }
}

/// A `HashMap` keyed by pids: looked up several times per process per tick,
/// where SipHash's DoS resistance buys nothing (the kernel picks pids).
pub type PidMap<V> = HashMap<i32, V, BuildHasherDefault<Fnv>>;

/// FNV-1a of `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(bytes);
    h.finish()
}
