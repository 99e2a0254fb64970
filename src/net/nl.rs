//! A small rtnetlink client: the dozen requests `--net veth` needs (links,
//! addresses, routes, a tbf qdisc), built by hand on a `NETLINK_ROUTE`
//! socket. No crate: `rtnetlink` brings an async stack (futures, tokio's
//! net driver) and the `netlink-packet-*` family for what is here ~400
//! lines of byte layout that the kernel's uapi headers fix for good.
//!
//! Every request asks for an ACK and waits for it, so an error comes back as
//! the kernel's errno for that request, named in the message.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

// Message types (linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_GETQDISC: u16 = 38;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// Set on the messages of a dump during which the list changed: it may
/// have skipped entries (a link added or removed shifts the rest).
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_ROOT: u16 = 0x100;
const NLM_F_MATCH: u16 = 0x200;
const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

// Link attributes (linux/if_link.h).
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_GROUP: u16 = 27;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFF_UP: u32 = 1;

// Address and route attributes.
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

// Traffic control (linux/pkt_sched.h).
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
const TC_LINKLAYER_ETHERNET: u8 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// A link as a dump shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub master: Option<i32>,
    pub kind: Option<String>,
    pub up: bool,
    /// The device group (`ip link set ... group N`; 0 by default).
    pub group: u32,
}

/// An IPv4 address on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: i32,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// An IPv4 route of the main table (destination, prefix, out link).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub oif: Option<i32>,
}

/// A token bucket: `rate` bytes/s, `burst` bytes, `limit` bytes queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tbf {
    pub rate: u64,
    pub burst: u32,
    pub limit: u32,
}

impl Tbf {
    /// The bucket cgdash uses for `rate`: 20 ms of traffic (at least two
    /// full-size frames), and a queue of 100 ms beyond it — what `tc … tbf
    /// rate R burst B latency 100ms` sets —, but at least 256 KiB: a veth
    /// hands tbf 64 KiB GSO packets, which it splits, and a queue smaller
    /// than a few of them drops segments of every one at low rates, which
    /// stalled TCP for seconds (measured: 0 B/s at 256K with a 31 KB queue).
    pub fn for_rate(rate: u64) -> Tbf {
        let burst = (rate / 50).clamp(2 * 1514, 16 << 20) as u32;
        let limit = (rate / 10 + burst as u64).clamp(256 << 10, u32::MAX as u64) as u32;
        Tbf { rate, burst, limit }
    }
}

/// Builds one message: header, fixed part, attributes (nests by offset).
pub(super) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

pub(super) fn align(n: usize) -> usize {
    (n + 3) & !3
}

impl Msg {
    pub(super) fn new(ty: u16, flags: u16, fixed: &[u8]) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(fixed);
        buf.resize(align(buf.len()), 0);
        Msg {
            buf,
            nests: Vec::new(),
        }
    }
    pub(super) fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }
    pub(super) fn str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d)
    }
    fn u32(&mut self, ty: u16, v: u32) -> &mut Msg {
        self.attr(ty, &v.to_ne_bytes())
    }
    pub(super) fn begin(&mut self, ty: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.attr(ty | NLA_F_NESTED, &[])
    }
    /// Raw bytes inside a nest (veth's peer: an ifinfomsg before its attributes).
    fn raw(&mut self, data: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }
    pub(super) fn end(&mut self) -> &mut Msg {
        let start = self.nests.pop().expect("end without begin");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }
    pub(super) fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn ifaddrmsg(index: i32, prefix: u8) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = libc::AF_INET as u8;
    b[1] = prefix;
    b[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
    b
}

fn tcmsg(index: i32, handle: u32, parent: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&handle.to_ne_bytes());
    b[12..16].copy_from_slice(&parent.to_ne_bytes());
    b
}

/// Attributes of a message body: `(type without flags, data)`.
pub(super) fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
}

pub(super) fn cstr(d: &[u8]) -> String {
    let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
    String::from_utf8_lossy(&d[..end]).into_owned()
}

pub(super) fn ne_i32(d: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(d.get(..4)?.try_into().ok()?))
}

fn ipv4(d: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = d.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// A `NETLINK_ROUTE` socket, in the network namespace of the thread that
/// opened it (it stays there: see [`Socket::in_netns`]).
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

/// An error of one request, with the request in words.
#[derive(Debug)]
pub struct NlError {
    pub what: String,
    pub errno: Errno,
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.errno.desc())
    }
}

impl std::error::Error for NlError {}

type R<T> = Result<T, NlError>;

impl Socket {
    pub fn open() -> R<Socket> {
        Socket::open_proto(libc::NETLINK_ROUTE)
    }

    /// A `NETLINK_NETFILTER` socket (nf_tables: `nft.rs`).
    pub fn open_netfilter() -> R<Socket> {
        Socket::open_proto(libc::NETLINK_NETFILTER)
    }

    fn open_proto(proto: i32) -> R<Socket> {
        let err = |errno| NlError {
            what: "opening a netlink socket".into(),
            errno,
        };
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw =
            unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
        if raw < 0 {
            return Err(err(Errno::last()));
        }
        // SAFETY: a fresh fd nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Replies are bounded by a receive timeout: a request never hangs.
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: valid fd and option buffer.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(Socket { fd, seq: 1 })
    }

    /// A socket in the network namespace `ns` (e.g. `/proc/PID/ns/net`):
    /// opened on a short-lived thread that entered it (setns applies to the
    /// calling thread only; the socket keeps the namespace it was made in).
    pub fn in_netns(ns: &std::path::Path) -> R<Socket> {
        Socket::in_netns_with(ns, Socket::open)
    }

    /// [`Socket::in_netns`] with another opener ([`Socket::open_netfilter`]).
    pub fn in_netns_with(ns: &std::path::Path, open: fn() -> R<Socket>) -> R<Socket> {
        let ns = ns.to_path_buf();
        std::thread::spawn(move || -> R<Socket> {
            let what = format!("entering the network namespace {}", ns.display());
            let f = std::fs::File::open(&ns).map_err(|e| NlError {
                what: what.clone(),
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
            // SAFETY: a valid namespace fd; affects this thread only.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                return Err(NlError {
                    what,
                    errno: Errno::last(),
                });
            }
            open()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NlError {
                what: "netns thread panicked".into(),
                errno: Errno::EIO,
            })
        })
    }

    fn send(&mut self, m: Msg) -> R<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let buf = m.finish(seq);
        self.send_raw(&buf)?;
        Ok(seq)
    }

    /// Sends `msgs` in one datagram (an nfnetlink batch), numbered in
    /// order; returns their sequence numbers.
    pub(super) fn send_all(&mut self, msgs: Vec<Msg>) -> R<Vec<u32>> {
        let mut buf = Vec::new();
        let mut seqs = Vec::new();
        for m in msgs {
            self.seq = self.seq.wrapping_add(1);
            seqs.push(self.seq);
            buf.extend_from_slice(&m.finish(self.seq));
        }
        self.send_raw(&buf)?;
        Ok(seqs)
    }

    fn send_raw(&mut self, buf: &[u8]) -> R<()> {
        // SAFETY: sockaddr_nl zeroed = the kernel (pid 0).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: valid buffer and address.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(NlError {
                what: "sending a netlink request".into(),
                errno: Errno::last(),
            });
        }
        Ok(())
    }

    /// Reads replies to `seq` until its ACK/error (or DONE of a dump);
    /// returns the data messages `(type, body)`.
    pub(super) fn replies(&mut self, seq: u32, what: &str) -> R<Vec<(u16, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut interrupted = false;
        loop {
            // SAFETY: reading into our buffer.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = Errno::last();
                if e == Errno::EINTR {
                    continue;
                }
                return Err(NlError {
                    what: format!("{what} (reading the reply)"),
                    errno: e,
                });
            }
            let mut b = &buf[..n as usize];
            while b.len() >= 16 {
                let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes([b[4], b[5]]);
                let flags = u16::from_ne_bytes([b[6], b[7]]);
                let mseq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
                if len < 16 || len > b.len() {
                    break;
                }
                let body = &b[16..len];
                if mseq == seq {
                    interrupted |= flags & NLM_F_DUMP_INTR != 0;
                    match ty {
                        NLMSG_DONE if interrupted => {
                            return Err(NlError {
                                what: format!("{what}: the list changed while it was read"),
                                errno: Errno::EAGAIN,
                            })
                        }
                        NLMSG_DONE => return Ok(out),
                        NLMSG_ERROR => {
                            let code = ne_i32(body).unwrap_or(-libc::EIO);
                            if code == 0 {
                                return Ok(out);
                            }
                            return Err(NlError {
                                what: what.to_string(),
                                errno: Errno::from_raw(-code),
                            });
                        }
                        _ => out.push((ty, body.to_vec())),
                    }
                }
                b = &b[align(len).min(b.len())..];
            }
        }
    }

    pub(super) fn request(&mut self, m: Msg, what: &str) -> R<Vec<(u16, Vec<u8>)>> {
        let seq = self.send(m)?;
        self.replies(seq, what)
    }

    /// A dump (`make` builds its request), read again while the kernel says
    /// the list changed under it: an interrupted dump can leave out entries
    /// that exist (cgdash once took a bridge for gone that way, and
    /// forgot it was its own, with other workloads' veths coming and going).
    fn dump(&mut self, make: impl Fn() -> Msg, what: &str) -> R<Vec<(u16, Vec<u8>)>> {
        let mut tries = 0;
        loop {
            match self.request(make(), what) {
                Err(e) if e.errno == Errno::EAGAIN && tries < 32 => tries += 1,
                r => return r,
            }
        }
    }

    /// Every link of this namespace.
    pub fn links(&mut self) -> R<Vec<Link>> {
        let msgs = self.dump(
            || Msg::new(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0)),
            "listing links",
        )?;
        Ok(msgs
            .iter()
            .filter(|(t, b)| *t == RTM_NEWLINK && b.len() >= 16)
            .map(|(_, b)| parse_link(b))
            .collect())
    }

    /// The link named `name`, if any: asked for by name, not found in a
    /// dump of them all.
    pub fn link(&mut self, name: &str) -> R<Option<Link>> {
        let mut m = Msg::new(RTM_GETLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0));
        m.str(IFLA_IFNAME, name);
        match self.request(m, &format!("looking up the link {name}")) {
            Ok(msgs) => Ok(msgs
                .iter()
                .filter(|(t, b)| *t == RTM_NEWLINK && b.len() >= 16)
                .map(|(_, b)| parse_link(b))
                .find(|l| l.name == name)),
            Err(e) if e.errno == Errno::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every IPv4 address of this namespace.
    pub fn addrs(&mut self) -> R<Vec<Addr>> {
        let msgs = self.dump(
            || Msg::new(RTM_GETADDR, NLM_F_DUMP, &ifaddrmsg(0, 0)),
            "listing addresses",
        )?;
        let mut out = Vec::new();
        for (t, b) in &msgs {
            if *t != RTM_NEWADDR || b.len() < 8 || b[0] != libc::AF_INET as u8 {
                continue;
            }
            let index = u32::from_ne_bytes(b[4..8].try_into().unwrap()) as i32;
            let a = attrs(&b[8..]);
            let addr = a
                .iter()
                .find(|(t, _)| *t == IFA_LOCAL)
                .or_else(|| a.iter().find(|(t, _)| *t == IFA_ADDRESS))
                .and_then(|(_, d)| ipv4(d));
            if let Some(addr) = addr {
                out.push(Addr {
                    index,
                    addr,
                    prefix: b[1],
                });
            }
        }
        Ok(out)
    }

    /// The IPv4 routes of the main table.
    pub fn routes(&mut self) -> R<Vec<Route>> {
        let mut fixed = [0u8; 12];
        fixed[0] = libc::AF_INET as u8;
        let msgs = self.dump(
            || Msg::new(RTM_GETROUTE, NLM_F_DUMP, &fixed),
            "listing routes",
        )?;
        let mut out = Vec::new();
        for (t, b) in &msgs {
            if *t != RTM_NEWROUTE || b.len() < 12 || b[0] != libc::AF_INET as u8 {
                continue;
            }
            let a = attrs(&b[12..]);
            let table = a
                .iter()
                .find(|(t, _)| *t == RTA_TABLE)
                .and_then(|(_, d)| ne_i32(d))
                .unwrap_or(b[4] as i32);
            if table != RT_TABLE_MAIN as i32 {
                continue;
            }
            out.push(Route {
                dst: a
                    .iter()
                    .find(|(t, _)| *t == RTA_DST)
                    .and_then(|(_, d)| ipv4(d))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                prefix: b[1],
                oif: a
                    .iter()
                    .find(|(t, _)| *t == RTA_OIF)
                    .and_then(|(_, d)| ne_i32(d)),
            });
        }
        Ok(out)
    }

    /// Creates a bridge (fails with EEXIST if the name is taken).
    /// Creates a bridge in device group `group` (set by the same request:
    /// a bridge never exists without it).
    pub fn add_bridge(&mut self, name: &str, group: u32) -> R<()> {
        let mut m = Msg::new(
            RTM_NEWLINK,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(0, 0, 0),
        );
        m.str(IFLA_IFNAME, name);
        m.u32(IFLA_GROUP, group);
        m.begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "bridge").end();
        self.request(m, &format!("creating the bridge {name}"))
            .map(drop)
    }

    /// Creates a veth pair: `host` here, `peer` in the network namespace
    /// `peer_ns` (an open `/proc/PID/ns/net`), both down.
    pub fn add_veth(&mut self, host: &str, peer: &str, peer_ns: &std::fs::File) -> R<()> {
        let mut m = Msg::new(
            RTM_NEWLINK,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(0, 0, 0),
        );
        m.str(IFLA_IFNAME, host);
        m.begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "veth");
        m.begin(IFLA_INFO_DATA).begin(VETH_INFO_PEER);
        m.raw(&ifinfomsg(0, 0, 0));
        m.str(IFLA_IFNAME, peer);
        m.u32(IFLA_NET_NS_FD, peer_ns.as_raw_fd() as u32);
        m.end().end().end();
        self.request(m, &format!("creating the veth pair {host} / {peer}"))
            .map(drop)
    }

    /// Deletes a link by name (a veth takes its peer along).
    pub fn del_link(&mut self, name: &str) -> R<()> {
        let mut m = Msg::new(RTM_DELLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0));
        m.str(IFLA_IFNAME, name);
        self.request(m, &format!("deleting the link {name}"))
            .map(drop)
    }

    /// Sets a link up, and its master (a bridge's index) if given.
    pub fn set_up(&mut self, index: i32, master: Option<i32>) -> R<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, IFF_UP, IFF_UP));
        if let Some(mi) = master {
            m.u32(IFLA_MASTER, mi as u32);
        }
        self.request(m, &format!("setting link {index} up"))
            .map(drop)
    }

    /// Adds `addr/prefix` to a link.
    pub fn add_addr(&mut self, index: i32, addr: Ipv4Addr, prefix: u8) -> R<()> {
        let mut m = Msg::new(
            RTM_NEWADDR,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &ifaddrmsg(index, prefix),
        );
        m.attr(IFA_LOCAL, &addr.octets());
        m.attr(IFA_ADDRESS, &addr.octets());
        self.request(m, &format!("adding {addr}/{prefix} to link {index}"))
            .map(drop)
    }

    /// Adds the default route via `gw`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr, index: i32) -> R<()> {
        let mut fixed = [0u8; 12];
        fixed[0] = libc::AF_INET as u8;
        fixed[4] = RT_TABLE_MAIN;
        fixed[5] = RTPROT_BOOT;
        fixed[6] = RT_SCOPE_UNIVERSE;
        fixed[7] = RTN_UNICAST;
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &fixed);
        m.attr(RTA_GATEWAY, &gw.octets());
        m.u32(RTA_OIF, index as u32);
        self.request(m, &format!("adding the default route via {gw}"))
            .map(drop)
    }

    /// Sets (creates or replaces) a root tbf qdisc on a link.
    pub fn set_tbf(&mut self, index: i32, t: Tbf) -> R<()> {
        // struct tc_tbf_qopt: rate, peakrate (tc_ratespec, 12 bytes each),
        // limit, buffer, mtu. The rate is given as a 64-bit attribute when
        // it does not fit; the bucket size as TCA_TBF_BURST (bytes), so the
        // kernel computes `buffer` itself. With an Ethernet link layer the
        // kernel needs no rate table.
        let mut q = [0u8; 36];
        q[1] = TC_LINKLAYER_ETHERNET;
        q[8..12].copy_from_slice(&(t.rate.min(u32::MAX as u64) as u32).to_ne_bytes());
        q[24..28].copy_from_slice(&t.limit.to_ne_bytes());
        let mut m = Msg::new(
            RTM_NEWQDISC,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            &tcmsg(index, 0, TC_H_ROOT),
        );
        m.str(TCA_KIND, "tbf");
        m.begin(TCA_OPTIONS);
        m.attr(TCA_TBF_PARMS, &q);
        if t.rate > u32::MAX as u64 {
            m.attr(TCA_TBF_RATE64, &t.rate.to_ne_bytes());
        }
        m.u32(TCA_TBF_BURST, t.burst);
        m.end();
        self.request(m, &format!("setting a tbf qdisc on link {index}"))
            .map(drop)
    }

    /// Removes the root qdisc of a link (`Ok` if there was none of ours).
    pub fn del_root_qdisc(&mut self, index: i32) -> R<()> {
        let m = Msg::new(RTM_DELQDISC, NLM_F_ACK, &tcmsg(index, 0, TC_H_ROOT));
        match self.request(m, &format!("removing the qdisc of link {index}")) {
            Ok(_) => Ok(()),
            // No qdisc of its own (veth's default: noqueue).
            Err(e) if matches!(e.errno, Errno::ENOENT | Errno::EINVAL) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The kind of the root qdisc of a link, and the tbf rate if it is one.
    pub fn root_qdisc(&mut self, index: i32) -> R<Option<(String, Option<u64>)>> {
        let msgs = self.dump(
            || Msg::new(RTM_GETQDISC, NLM_F_DUMP, &tcmsg(0, 0, 0)),
            "listing qdiscs",
        )?;
        for (t, b) in &msgs {
            if *t != RTM_NEWQDISC || b.len() < 20 {
                continue;
            }
            let ifi = ne_i32(&b[4..8]).unwrap_or(0);
            let parent = u32::from_ne_bytes(b[12..16].try_into().unwrap());
            if ifi != index || parent != TC_H_ROOT {
                continue;
            }
            let a = attrs(&b[20..]);
            let kind = a
                .iter()
                .find(|(t, _)| *t == TCA_KIND)
                .map(|(_, d)| cstr(d))
                .unwrap_or_default();
            let mut rate = None;
            if kind == "tbf" {
                if let Some((_, opts)) = a.iter().find(|(t, _)| *t == TCA_OPTIONS) {
                    for (t, d) in attrs(opts) {
                        if t == TCA_TBF_PARMS && d.len() >= 12 {
                            rate = Some(u32::from_ne_bytes(d[8..12].try_into().unwrap()) as u64);
                        }
                        if t == TCA_TBF_RATE64 && d.len() >= 8 {
                            rate = Some(u64::from_ne_bytes(d[..8].try_into().unwrap()));
                        }
                    }
                }
            }
            return Ok(Some((kind, rate)));
        }
        Ok(None)
    }
}

fn parse_link(b: &[u8]) -> Link {
    let index = ne_i32(&b[4..8]).unwrap_or(0);
    let flags = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    let mut l = Link {
        index,
        name: String::new(),
        master: None,
        kind: None,
        up: flags & IFF_UP != 0,
        group: 0,
    };
    for (t, d) in attrs(&b[16..]) {
        match t {
            IFLA_IFNAME => l.name = cstr(d),
            IFLA_MASTER => l.master = ne_i32(d),
            IFLA_GROUP => l.group = ne_i32(d).unwrap_or(0) as u32,
            IFLA_LINKINFO => {
                for (t, d) in attrs(d) {
                    if t == IFLA_INFO_KIND {
                        l.kind = Some(cstr(d));
                    }
                }
            }
            _ => {}
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as the kernel sends it: header (with `flags`) and body.
    fn reply(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m.resize(align(m.len()), 0);
        m
    }

    /// A dump the kernel marks interrupted (the list changed while it was
    /// read: entries may be missing) is refused with EAGAIN, for `dump` to
    /// read it again; an unmarked one is taken whole.
    #[test]
    fn an_interrupted_dump_is_refused() {
        let (ours, kernel) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let mut s = Socket {
            fd: OwnedFd::from(ours),
            seq: 1,
        };
        let link = ifinfomsg(0, 0, 0);
        let mut d = reply(RTM_NEWLINK, NLM_F_DUMP_INTR, 5, &link);
        d.extend(reply(NLMSG_DONE, NLM_F_DUMP_INTR, 5, &[0; 4]));
        kernel.send(&d).unwrap();
        let e = s.replies(5, "listing links").unwrap_err();
        assert_eq!(e.errno, Errno::EAGAIN);
        assert!(e.to_string().contains("changed while it was read"), "{e}");
        let mut d = reply(RTM_NEWLINK, 0, 6, &link);
        d.extend(reply(RTM_NEWLINK, 0, 6, &link));
        d.extend(reply(NLMSG_DONE, 0, 6, &[0; 4]));
        kernel.send(&d).unwrap();
        assert_eq!(s.replies(6, "listing links").unwrap().len(), 2);
    }

    /// A link asked for by name (no privileges needed): `lo` is there,
    /// a name nobody has is `None`, not an error.
    #[test]
    fn a_link_by_name() {
        let mut s = Socket::open().unwrap();
        let lo = s.link("lo").unwrap().expect("lo");
        assert_eq!(lo.name, "lo");
        assert!(lo.index > 0);
        assert_eq!(s.link("cgdt-nobody0").unwrap(), None);
        assert_eq!(s.link("").unwrap(), None);
    }

    /// The byte layout of a nested request, checked against what
    /// `ip link add h type veth peer name p` sends (lengths, padding, nests).
    #[test]
    fn nested_attributes_are_laid_out_like_iproute2() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0));
        m.str(IFLA_IFNAME, "h");
        m.begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "veth");
        m.begin(IFLA_INFO_DATA).begin(VETH_INFO_PEER);
        m.raw(&ifinfomsg(0, 0, 0));
        m.str(IFLA_IFNAME, "p");
        m.end().end().end();
        let b = m.finish(7);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(b.len() % 4, 0);
        let top = attrs(&b[32..]);
        assert_eq!(top[0], (IFLA_IFNAME, &b"h\0"[..]));
        assert_eq!(top[1].0, IFLA_LINKINFO);
        let li = attrs(top[1].1);
        assert_eq!(li[0], (IFLA_INFO_KIND, &b"veth\0"[..]));
        let data = attrs(li[1].1);
        assert_eq!(data[0].0, VETH_INFO_PEER);
        let peer = data[0].1;
        assert_eq!(peer.len(), 16 + 8);
        assert_eq!(attrs(&peer[16..])[0], (IFLA_IFNAME, &b"p\0"[..]));
    }

    #[test]
    fn token_bucket_sizes() {
        let t = Tbf::for_rate(4 << 20);
        assert_eq!(t.burst, (4 << 20) / 50);
        assert_eq!(t.limit, (4 << 20) / 10 + t.burst);
        // A tiny rate still holds two full frames, and a few GSO packets.
        assert_eq!(Tbf::for_rate(1000).burst, 3028);
        assert_eq!(Tbf::for_rate(256 << 10).limit, 256 << 10);
    }
}
