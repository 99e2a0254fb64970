//! `--net veth`: a workload that can talk (issue 19).
//!
//! ```text
//!  host netns                                   workload netns
//!  127.0.0.1:HOST_PORT ─ proxy thread ─┐
//!                   cgdash0 10.213.0.1/24 ── cgvXXXXXXXX ══ veth ══ eth0 10.213.0.N/24
//!                   (bridge)                 tbf: rate_in            tbf: rate_out
//!                                                                    default via 10.213.0.1
//! ```
//!
//! Everything is made through netlink (`nl.rs`), by the launching process,
//! while the helper waits in its fresh network namespace (before init and
//! the workload exist), so the workload starts with `eth0` up. The host side
//! is named after the address (`cgv` + its 8 hex digits): creating it with
//! `NLM_F_EXCL` is what claims an address, so two launches never share one.
//! Published ports (TCP, or UDP with `/udp`) are proxy threads in the
//! launching process (as docker's userland proxy, `proxy.rs`): 127.0.0.1
//! cannot be DNATed onto a bridge without `route_localnet`, and no firewall
//! rule is needed.
//!
//! Torn down: the veth dies with the workload's network namespace (the
//! launcher deletes its side too); the bridge is removed when no port is
//! left on it and cgdash made it (a marker file in the state directory).

pub mod nft;
pub mod nl;
pub mod proxy;
pub mod rate;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default subnet: clear of docker's 172.17.0.0/16 and podman's
/// 10.88.0.0/16 (and of libvirt's 192.168.122.0/24).
pub const DEFAULT_SUBNET: &str = "10.213.0.0/24";
/// The default bridge.
pub const DEFAULT_BRIDGE: &str = "cgdash0";
/// Environment overrides of the defaults (`--net-subnet`, `--net-bridge` win).
pub const SUBNET_ENV: &str = "CGDASH_NET_SUBNET";
pub const BRIDGE_ENV: &str = "CGDASH_NET_BRIDGE";

/// `--net`: which network the workload gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetMode {
    /// Its own network namespace with `lo` only (the default).
    #[default]
    None,
    /// Its own namespace, plus a veth on a cgdash bridge.
    Veth,
    /// `veth`, and outbound NAT through the host's address.
    VethNat,
    /// The host's network (`--share net`).
    Host,
}

impl NetMode {
    pub fn parse(s: &str) -> Result<NetMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(NetMode::None),
            "veth" => Ok(NetMode::Veth),
            "veth,nat" | "nat,veth" => Ok(NetMode::VethNat),
            "host" => Ok(NetMode::Host),
            other => Err(format!(
                "--net {other}: expected none, veth, veth,nat or host"
            )),
        }
    }
}

/// An IPv4 subnet (`10.213.0.0/24`), at most /30 small, at least /8 large.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub net: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let bad = |why: &str| format!("subnet `{s}`: {why}; expected e.g. {DEFAULT_SUBNET}");
        let (a, p) = s.trim().split_once('/').ok_or_else(|| bad("no /PREFIX"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("not a prefix length"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix must be between /8 and /30"));
        }
        let net = Subnet { net: addr, prefix };
        if net.network() != addr {
            return Err(bad(&format!(
                "host bits set (the network is {}/{prefix})",
                net.network()
            )));
        }
        if addr.is_loopback() || addr.is_multicast() || addr.is_unspecified() {
            return Err(bad("not a usable private range"));
        }
        Ok(net)
    }
    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix as u32)
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net) & self.mask())
    }
    /// The bridge's address (the first).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }
    /// Workload addresses: the second to the last before broadcast.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u32::from(self.network());
        let size = 1u32 << (32 - self.prefix as u32);
        (2..size - 1).map(move |i| Ipv4Addr::from(base + i))
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }
    /// Whether two prefixes share any address.
    pub fn overlaps(&self, addr: Ipv4Addr, prefix: u8) -> bool {
        let p = prefix.min(self.prefix);
        let m = if p == 0 {
            0
        } else {
            u32::MAX << (32 - p as u32)
        };
        u32::from(addr) & m == u32::from(self.net) & m
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// `-p [IP:]HOST_PORT:PORT[/tcp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    pub host: SocketAddrV4,
    pub port: u16,
    pub proto: Proto,
}

/// The protocol of a published port (`-p …/tcp`, the default, or `/udp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

impl Publish {
    pub fn parse(s: &str) -> Result<Publish, String> {
        let bad = |why: &str| {
            format!(
                "-p {s}: {why}; expected [IP:]HOST_PORT:PORT[/tcp|/udp], e.g. 8080:80, 0.0.0.0:8080:80 or 5353:53/udp"
            )
        };
        let (spec, proto) = match s.trim().split_once('/') {
            Some((a, p)) => (a, p.to_ascii_lowercase()),
            None => (s.trim(), "tcp".to_string()),
        };
        let proto = match proto.as_str() {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => return Err(bad(&format!("`{other}` is not tcp or udp"))),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let port = |p: &str| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad(&format!("`{p}` is not a port (1–65535)"))),
            }
        };
        let (ip, hp, cp) = match parts.as_slice() {
            [hp, cp] => (Ipv4Addr::LOCALHOST, port(hp)?, port(cp)?),
            [ip, hp, cp] => (
                ip.parse()
                    .map_err(|_| bad(&format!("`{ip}` is not an IPv4 address")))?,
                port(hp)?,
                port(cp)?,
            ),
            _ => return Err(bad("not HOST_PORT:PORT")),
        };
        Ok(Publish {
            host: SocketAddrV4::new(ip, hp),
            port: cp,
            proto,
        })
    }
}

/// What `--net veth` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethSpec {
    pub subnet: Subnet,
    pub bridge: String,
    pub publish: Vec<Publish>,
    /// Bytes/s into the workload (tbf on the host side of the veth).
    pub rate_in: Option<u64>,
    /// Bytes/s out of the workload (tbf on its eth0).
    pub rate_out: Option<u64>,
    /// Outbound NAT (`--net veth,nat`): an nf_tables masquerade rule for
    /// the workload's address (`nft.rs`).
    pub nat: bool,
}

impl VethSpec {
    /// From the flags, else the environment, else the defaults.
    pub fn new(subnet: Option<&str>, bridge: Option<&str>) -> Result<VethSpec, String> {
        let env_subnet = std::env::var(SUBNET_ENV).ok().filter(|s| !s.is_empty());
        let env_bridge = std::env::var(BRIDGE_ENV).ok().filter(|s| !s.is_empty());
        let subnet = Subnet::parse(subnet.or(env_subnet.as_deref()).unwrap_or(DEFAULT_SUBNET))?;
        let bridge = bridge
            .or(env_bridge.as_deref())
            .unwrap_or(DEFAULT_BRIDGE)
            .to_string();
        check_ifname(&bridge)?;
        Ok(VethSpec {
            subnet,
            bridge,
            publish: Vec::new(),
            rate_in: None,
            rate_out: None,
            nat: false,
        })
    }
}

fn check_ifname(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 15
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bridge name `{n}`: 1–15 characters of A–Z, a–z, 0–9, - _ ."
        ))
    }
}

/// A `net.rate_*` value: bytes/s (`10M`, binary units as for memory) or `max`.
pub fn parse_rate(v: &str) -> Result<Option<u64>, String> {
    match crate::cgroup::knob::parse_size(v) {
        Ok(crate::cgroup::Limit::Max) => Ok(None),
        Ok(crate::cgroup::Limit::Value(b)) if (1000..=(1u64 << 40)).contains(&b) => Ok(Some(b)),
        Ok(crate::cgroup::Limit::Value(b)) => {
            Err(format!("{b} bytes/s is outside 1000 bytes/s – 1T bytes/s"))
        }
        Err(e) => Err(e),
    }
}

/// The network knobs (not cgroup files: traffic control on the veth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKnob {
    RateIn,
    RateOut,
}

impl NetKnob {
    pub const ALL: [NetKnob; 2] = [NetKnob::RateIn, NetKnob::RateOut];
    pub fn name(self) -> &'static str {
        match self {
            NetKnob::RateIn => "net.rate_in",
            NetKnob::RateOut => "net.rate_out",
        }
    }
    pub fn from_name(n: &str) -> Option<NetKnob> {
        match n.trim() {
            "net.rate_in" | "net-rate-in" => Some(NetKnob::RateIn),
            "net.rate_out" | "net-rate-out" => Some(NetKnob::RateOut),
            _ => None,
        }
    }
    pub const SYNTAX: &'static str = "bytes/s like 10M or 500K (1K = 1024), or max";
}

/// `net.rate_in=2M` → the knob and its rate (`None`: max). `Ok(None)` when
/// the text names no net knob (a cgroup knob, for the caller to parse).
#[allow(clippy::type_complexity)]
pub fn parse_setting(s: &str) -> Result<Option<(NetKnob, Option<u64>)>, String> {
    let Some((name, value)) = s.split_once('=') else {
        return Ok(None);
    };
    let Some(k) = NetKnob::from_name(name) else {
        return Ok(None);
    };
    let rate = parse_rate(value.trim()).map_err(|why| {
        format!(
            "invalid value `{}` for {}: {why}; expected {}",
            value.trim(),
            k.name(),
            NetKnob::SYNTAX
        )
    })?;
    Ok(Some((k, rate)))
}

/// What was made for one workload, recorded in its state file so that the
/// `set` of another cgdash and stale cleanup can find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetState {
    pub bridge: String,
    /// The host side of the veth.
    pub veth: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// The limits last set by cgdash (launch, `set`), bytes/s: what the
    /// dashboard and `snapshot` show (reading them back from the kernel
    /// would mean entering the workload's namespace every sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_out: Option<u64>,
    /// Outbound NAT: the nf_tables table `ip cgdash-VETH` is ours to delete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nat: bool,
    /// The network namespace (its inode) the launcher made the bridge, the
    /// host side and the NAT table in: stale cleanup in another namespace
    /// leaves them alone (it would look for them in the wrong place, and
    /// forget them). 0: unknown (a state file from before).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub netns: u64,
    /// Recorded while the launcher still makes it (the bridge before the
    /// veth exists, then the veth before its address, port and rates): stale
    /// cleanup tears down what it names, `set` waits until it is cleared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub setting_up: bool,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The inode of this process's network namespace (0 if unreadable).
pub fn own_netns() -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino())
}

impl NetState {
    /// Whether this process is in the namespace the state's network lives
    /// in (or that is unknown).
    pub fn here(&self) -> bool {
        self.netns == 0 || self.netns == own_netns()
    }
}

fn err(e: nl::NlError) -> String {
    e.to_string()
}

/// The device group of the bridges cgdash makes ("cgd" in ASCII): what
/// says, on the bridge itself, that cgdash made it and may remove it. Set
/// in the request that creates it, it cannot be lost the way a marker
/// file can (a kill between making the bridge and writing the file; a file
/// removed by hand or by a race).
pub const BRIDGE_GROUP: u32 = 0x0063_6764;

/// The marker saying cgdash made `bridge` (so it may remove it): what
/// cgdash went by before [`BRIDGE_GROUP`], still written and honoured for
/// bridges made by an older cgdash.
fn bridge_marker(bridge: &str) -> PathBuf {
    crate::launch::state_dir().join(format!("bridge-{bridge}"))
}

/// Whether this kernel can make what `--net veth` needs — a bridge, a veth
/// pair, a tbf qdisc —, tried in a throw-away network namespace (a thread's
/// own, gone with the thread): `Err` says which is missing, in words.
pub fn kernel_support() -> Result<(), String> {
    std::thread::spawn(|| -> Result<(), String> {
        // SAFETY: affects this short-lived thread only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            return Err(format!(
                "cannot make a network namespace: {}",
                nix::errno::Errno::last().desc()
            ));
        }
        let missing = |what: &str, e: nl::NlError| {
            format!(
                "this kernel cannot make a {what} ({}): --net veth needs veth, bridge and \
                 sch_tbf (CONFIG_VETH, CONFIG_BRIDGE, CONFIG_NET_SCH_TBF; modprobe them)",
                e.errno.desc()
            )
        };
        let mut s = nl::Socket::open().map_err(err)?;
        s.add_bridge("probe0", 0)
            .map_err(|e| missing("bridge", e))?;
        let ns = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(|e| format!("/proc/thread-self/ns/net: {e}"))?;
        s.add_veth("probe1", "probe2", &ns)
            .map_err(|e| missing("veth pair", e))?;
        let l = s.link("probe1").map_err(err)?.ok_or("probe1 vanished")?;
        s.set_tbf(l.index, nl::Tbf::for_rate(1 << 20))
            .map_err(|e| missing("tbf qdisc", e))?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err("the probe thread panicked".into()))
}

/// Checks, before anything is created, that `subnet` is free on this host
/// (no address or route of another link overlaps it; our bridge may hold
/// exactly its gateway address) and binds the published ports (a port in
/// use is refused here). Returns the bound listeners.
pub fn prepare(spec: &VethSpec) -> Result<Vec<(Publish, proxy::Listener)>, String> {
    let mut s = nl::Socket::open().map_err(err)?;
    let links = s.links().map_err(err)?;
    let addrs = s.addrs().map_err(err)?;
    let routes = s.routes().map_err(err)?;
    check_free(spec, &links, &addrs, &routes)?;
    if spec.nat {
        check_forwarding(std::path::Path::new("/proc/sys/net/ipv4/ip_forward"))?;
    }
    let mut out = Vec::new();
    for p in &spec.publish {
        // TCP and UDP ports are apart: 53/tcp and 53/udp may both be published.
        if out
            .iter()
            .any(|(q, _): &(Publish, _)| q.host == p.host && q.proto == p.proto)
        {
            return Err(format!("-p {}/{}: published twice", p.host, p.proto));
        }
        let why = |e: std::io::Error| {
            format!(
                "-p {}:{}/{}: cannot listen on {} ({}): {e}",
                p.host.port(),
                p.port,
                p.proto,
                p.host,
                p.proto
            )
        };
        let l = match p.proto {
            Proto::Tcp => proxy::Listener::Tcp(TcpListener::bind(p.host).map_err(why)?),
            Proto::Udp => proxy::Listener::Udp(UdpSocket::bind(p.host).map_err(why)?),
        };
        out.push((*p, l));
    }
    Ok(out)
}

/// `--net veth,nat` needs the host to forward IPv4 (the workload's packets
/// go from the bridge out of another link). cgdash does not change the
/// host's sysctls: it refuses, and says how.
pub fn check_forwarding(ip_forward: &Path) -> Result<(), String> {
    match std::fs::read_to_string(ip_forward) {
        Ok(v) if v.trim() == "1" => Ok(()),
        Ok(_) => Err(format!(
            "--net veth,nat needs IPv4 forwarding, which is off here ({} is 0); \
             cgdash does not change the host's sysctls: `sysctl -w net.ipv4.ip_forward=1` \
             (as docker does), or leave out nat",
            ip_forward.display()
        )),
        Err(e) => Err(format!(
            "--net veth,nat: reading {}: {e}",
            ip_forward.display()
        )),
    }
}

/// Whether `spec`'s subnet and bridge are usable among the host's links,
/// addresses and routes: `Err` names the clash.
pub fn check_free(
    spec: &VethSpec,
    links: &[nl::Link],
    addrs: &[nl::Addr],
    routes: &[nl::Route],
) -> Result<(), String> {
    let bridge = links.iter().find(|l| l.name == spec.bridge);
    if let Some(b) = bridge {
        if b.kind.as_deref() != Some("bridge") {
            return Err(format!(
                "{} exists and is not a bridge (a {}); pick another with --net-bridge",
                b.name,
                b.kind.as_deref().unwrap_or("device")
            ));
        }
    }
    let name_of = |i: i32| {
        links
            .iter()
            .find(|l| l.index == i)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("link {i}"))
    };
    for a in addrs {
        if Some(a.index) == bridge.map(|b| b.index) {
            if a.addr != spec.subnet.gateway() || a.prefix != spec.subnet.prefix {
                return Err(format!(
                    "the bridge {} has the address {}/{}, not {}/{} of subnet {}: pick \
                     another subnet or bridge (--net-subnet, --net-bridge)",
                    spec.bridge,
                    a.addr,
                    a.prefix,
                    spec.subnet.gateway(),
                    spec.subnet.prefix,
                    spec.subnet
                ));
            }
            continue;
        }
        if spec.subnet.overlaps(a.addr, a.prefix) {
            return Err(format!(
                "subnet {} clashes with the address {}/{} of {} on this host: pick \
                 another with --net-subnet or {SUBNET_ENV}",
                spec.subnet,
                a.addr,
                a.prefix,
                name_of(a.index)
            ));
        }
    }
    for r in routes {
        if r.prefix == 0 || (bridge.is_some() && r.oif == bridge.map(|b| b.index)) {
            continue;
        }
        if spec.subnet.overlaps(r.dst, r.prefix) {
            return Err(format!(
                "subnet {} clashes with the route to {}/{}{} on this host: pick another \
                 with --net-subnet or {SUBNET_ENV}",
                spec.subnet,
                r.dst,
                r.prefix,
                r.oif
                    .map(|i| format!(" via {}", name_of(i)))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// The veth of a running workload; dropping it tears down what is left
/// (proxies stop, the host side is deleted, the bridge goes if empty and ours).
pub struct NetHandle {
    pub state: NetState,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetHandle({:?})", self.state)
    }
}

/// Host-side name of the veth for `addr`.
pub fn veth_name(addr: Ipv4Addr) -> String {
    format!("cgv{:08x}", u32::from(addr))
}

/// Makes the bridge (if missing), the veth pair into the network namespace
/// `netns` (an open `/proc/PID/ns/net` of the waiting helper), the
/// addresses, the default route and the rate limits; starts the proxies.
/// On error, removes what it made.
///
/// `on_claim` is called with the veth's name as soon as the veth exists, before
/// it becomes a port of the bridge: the launcher records it in its state file
/// there. A launcher SIGKILLed later leaves a state file that names the veth,
/// so stale cleanup deletes it instead of finding the bridge still in use
/// (the kernel takes a dead namespace's veth away asynchronously). Killed
/// before that, the veth is on no bridge and goes with its namespace.
pub fn setup(
    spec: &VethSpec,
    netns: &Path,
    listeners: Vec<(Publish, proxy::Listener)>,
    on_claim: impl FnOnce(&NetState),
) -> Result<NetHandle, String> {
    // Held until the handle is made: no cgdash removes the bridge (finding
    // it without a port yet) or its marker while this one makes it or
    // joins it.
    let _lock = NetLock::take();
    let mut s = nl::Socket::open().map_err(err)?;
    let ns_file = std::fs::File::open(netns).map_err(|e| format!("{}: {e}", netns.display()))?;
    // The bridge.
    let br = match s.link(&spec.bridge).map_err(err)? {
        Some(b) => b,
        None => {
            // The marker (what an older cgdash goes by; this one goes by
            // the device group) first: killed between the two, a marker
            // without a bridge is left (swept as gone), never a bridge
            // an older cgdash would not know as cgdash's.
            let marker = bridge_marker(&spec.bridge);
            let had_marker = marker.exists();
            let _ = std::fs::write(&marker, b"cgdash\n");
            let forget = || {
                if !had_marker {
                    let _ = std::fs::remove_file(&marker);
                }
            };
            match s.add_bridge(&spec.bridge, BRIDGE_GROUP) {
                Ok(()) => {}
                // Made by someone else just now (not a cgdash: they hold
                // the lock to make one): not ours.
                Err(e) if e.errno == nix::errno::Errno::EEXIST => forget(),
                Err(e) => {
                    forget();
                    return Err(err(e));
                }
            }
            s.link(&spec.bridge)
                .map_err(err)?
                .ok_or_else(|| format!("the bridge {} vanished", spec.bridge))?
        }
    };
    let gw = spec.subnet.gateway();
    let has_gw = s
        .addrs()
        .map_err(err)?
        .iter()
        .any(|a| a.index == br.index && a.addr == gw);
    if !has_gw {
        match s.add_addr(br.index, gw, spec.subnet.prefix) {
            Ok(()) => {}
            Err(e) if e.errno == nix::errno::Errno::EEXIST => {}
            Err(e) => {
                remove_bridge_if_unused_held(&mut s, &spec.bridge);
                return Err(err(e));
            }
        }
    }
    if !br.up {
        s.set_up(br.index, None).map_err(err)?;
    }
    // Claim an address: the first whose veth name can be created.
    let existing: Vec<String> = s
        .links()
        .map_err(err)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let mut claimed = None;
    for addr in spec.subnet.hosts() {
        let name = veth_name(addr);
        if existing.contains(&name) {
            continue;
        }
        match s.add_veth(&name, "eth0", &ns_file) {
            Ok(()) => {
                claimed = Some((addr, name));
                break;
            }
            Err(e) if e.errno == nix::errno::Errno::EEXIST => continue,
            Err(e) => {
                remove_bridge_if_unused_held(&mut s, &spec.bridge);
                return Err(err(e));
            }
        }
    }
    let Some((addr, veth)) = claimed else {
        remove_bridge_if_unused_held(&mut s, &spec.bridge);
        return Err(format!("no free address left in {}", spec.subnet));
    };
    let state = NetState {
        bridge: spec.bridge.clone(),
        veth: veth.clone(),
        addr,
        prefix: spec.subnet.prefix,
        rate_in: spec.rate_in,
        rate_out: spec.rate_out,
        nat: spec.nat,
        netns: own_netns(),
        setting_up: false,
    };
    on_claim(&NetState {
        setting_up: true,
        ..state.clone()
    });
    let undo = |s: &mut nl::Socket, e: String| -> String {
        if spec.nat {
            remove_nat(&veth);
        }
        let _ = s.del_link(&veth);
        remove_bridge_if_unused_held(s, &spec.bridge);
        e
    };
    let host = match s.link(&veth) {
        Ok(Some(l)) => l,
        Ok(None) => return Err(undo(&mut s, format!("{veth} vanished"))),
        Err(e) => return Err(undo(&mut s, err(e))),
    };
    if let Err(e) = s.set_up(host.index, Some(br.index)) {
        return Err(undo(&mut s, err(e)));
    }
    // Inside: eth0's address, up, default route (lo is up already).
    let inside = (|| -> Result<(), String> {
        let mut ins = nl::Socket::in_netns(netns).map_err(err)?;
        let eth0 = ins
            .link("eth0")
            .map_err(err)?
            .ok_or("eth0 is missing in the workload's namespace")?;
        ins.add_addr(eth0.index, addr, spec.subnet.prefix)
            .map_err(err)?;
        ins.set_up(eth0.index, None).map_err(err)?;
        ins.add_default_route(gw, eth0.index).map_err(err)?;
        Ok(())
    })();
    if let Err(e) = inside {
        return Err(undo(&mut s, e));
    }
    if spec.nat {
        let _ = std::fs::write(nat_marker(&veth), format!("{}\n", own_netns()));
        if let Err(e) = nft::add_nat(&veth, addr, &spec.bridge) {
            return Err(undo(&mut s, err(e)));
        }
    }
    for (k, r) in [
        (NetKnob::RateIn, spec.rate_in),
        (NetKnob::RateOut, spec.rate_out),
    ] {
        if let Some(rate) = r {
            if let Err(e) = set_rate(&state, netns, k, Some(rate)) {
                return Err(undo(&mut s, e));
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (p, l) in listeners {
        let target = SocketAddr::V4(SocketAddrV4::new(addr, p.port));
        let stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("cgdash-proxy".into())
            .spawn(move || proxy::run(l, target, stop));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => return Err(undo(&mut s, format!("starting the port proxy: {e}"))),
        }
    }
    Ok(NetHandle {
        state,
        stop,
        threads,
    })
}

/// Sets (or with `None` removes) a rate limit of a running workload:
/// `rate_in` on the host side, `rate_out` on eth0 inside `netns`.
pub fn set_rate(
    st: &NetState,
    netns: &Path,
    knob: NetKnob,
    rate: Option<u64>,
) -> Result<(), String> {
    let (mut s, ifname) = match knob {
        NetKnob::RateIn => (nl::Socket::open().map_err(err)?, st.veth.as_str()),
        NetKnob::RateOut => (nl::Socket::in_netns(netns).map_err(err)?, "eth0"),
    };
    let link = s
        .link(ifname)
        .map_err(err)?
        .ok_or_else(|| format!("{ifname} is gone (the workload ended?)"))?;
    match rate {
        Some(r) => s.set_tbf(link.index, nl::Tbf::for_rate(r)).map_err(err),
        None => s.del_root_qdisc(link.index).map_err(err),
    }
}

/// The current rate limit on one side (`None`: none), read back from the kernel.
pub fn get_rate(st: &NetState, netns: &Path, knob: NetKnob) -> Result<Option<u64>, String> {
    let (mut s, ifname) = match knob {
        NetKnob::RateIn => (nl::Socket::open().map_err(err)?, st.veth.as_str()),
        NetKnob::RateOut => (nl::Socket::in_netns(netns).map_err(err)?, "eth0"),
    };
    let link = s
        .link(ifname)
        .map_err(err)?
        .ok_or_else(|| format!("{ifname} is gone"))?;
    Ok(s.root_qdisc(link.index).map_err(err)?.and_then(|(_, r)| r))
}

/// The marker saying cgdash made the NAT table of `veth` (written before
/// the table, removed after it): what stale cleanup looks for, so it never
/// has to list nf_tables (which would load the module on a host that never
/// used it).
fn nat_marker(veth: &str) -> PathBuf {
    crate::launch::state_dir().join(format!("nat-{veth}"))
}

/// Deletes the NAT table of `veth` and its marker.
fn remove_nat(veth: &str) {
    if nft::del_nat(veth).is_ok() {
        let _ = std::fs::remove_file(nat_marker(veth));
    }
}

/// Stale cleanup of `--net veth,nat`: deletes the NAT tables (by their
/// markers) whose veth is gone — left by a launcher killed between making
/// a table and recording it in its state file. Returns the veths.
pub fn sweep_nat() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(crate::launch::state_dir()) else {
        return Vec::new();
    };
    // Only the tables of this namespace (the marker holds its inode).
    let here = own_netns().to_string();
    // By name first: the directory holds other state too (launch records,
    // the kernel BTF cache), not worth reading at every start.
    let veths: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let veth = e.file_name().to_str()?.strip_prefix("nat-")?.to_string();
            std::fs::read_to_string(e.path())
                .is_ok_and(|t| t.trim() == here)
                .then_some(veth)
        })
        .collect();
    if veths.is_empty() {
        return Vec::new();
    }
    let Ok(links) = nl::Socket::open().and_then(|mut s| s.links()) else {
        return Vec::new();
    };
    veths
        .into_iter()
        .filter(|v| !links.iter().any(|l| l.name == *v))
        .inspect(|v| remove_nat(v))
        .collect()
}

/// [`remove_bridge_if_unused`] on a socket of its own (stale cleanup).
pub fn remove_unused_bridge(bridge: &str) {
    if let Ok(mut s) = nl::Socket::open() {
        remove_bridge_if_unused(&mut s, bridge);
    }
}

/// An exclusive lock (flock on `STATE_DIR/net.lock`) around making and
/// removing bridges and their markers. Without it, a cgdash sweeping at
/// start could see a bridge gone, another make it anew and write its
/// marker, and the first then remove that marker as stale: a bridge
/// nobody would ever remove (seen in CI with test binaries running side by
/// side). The kernel drops it when the holder dies. Best effort: without a
/// safe state directory, nothing is locked.
struct NetLock {
    _held: Option<std::fs::File>,
}

impl NetLock {
    fn take() -> NetLock {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = crate::launch::private_state_dir().and_then(|dir| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(dir.join("net.lock"))
                .ok()
        });
        let file = file.filter(|f| crate::image::cache::flock(f, libc::LOCK_EX));
        NetLock { _held: file }
    }
}

/// Bridges cgdash made (in [`BRIDGE_GROUP`]) in this namespace.
pub fn our_bridges() -> Vec<String> {
    let Ok(mut s) = nl::Socket::open() else {
        return Vec::new();
    };
    s.links()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.group == BRIDGE_GROUP && l.kind.as_deref() == Some("bridge"))
        .map(|l| l.name)
        .collect()
}

/// Deletes the bridge if cgdash made it and no port is left on it.
fn remove_bridge_if_unused(s: &mut nl::Socket, bridge: &str) {
    let _lock = NetLock::take();
    remove_bridge_if_unused_held(s, bridge);
}

/// [`remove_bridge_if_unused`] with the [`NetLock`] held by the caller.
fn remove_bridge_if_unused_held(s: &mut nl::Socket, bridge: &str) {
    let marker = bridge_marker(bridge);
    let Ok(links) = s.links() else { return };
    let Some(br) = links.iter().find(|l| l.name == bridge) else {
        // Gone: asked for by name before its marker is forgotten.
        if matches!(s.link(bridge), Ok(None)) {
            let _ = std::fs::remove_file(&marker);
        }
        return;
    };
    if br.group != BRIDGE_GROUP && !marker.exists() {
        return; // not made by cgdash
    }
    if links.iter().any(|l| l.master == Some(br.index)) {
        return;
    }
    if s.del_link(bridge).is_ok() {
        let _ = std::fs::remove_file(&marker);
    }
}

/// Removes what a workload's network left on the host (its veth side if the
/// namespace has not taken it yet, the bridge if unused and ours). Used at
/// the end of a run and by stale cleanup.
pub fn teardown(st: &NetState) {
    if st.nat && !st.veth.is_empty() {
        remove_nat(&st.veth);
    }
    let Ok(mut s) = nl::Socket::open() else {
        return;
    };
    // A dying namespace takes its veth along asynchronously (and a delete
    // can race with that): wait until it is gone, briefly, so the bridge is
    // seen without it.
    for _ in 0..60 {
        match s.link(&st.veth) {
            Ok(Some(_)) => {
                let _ = s.del_link(&st.veth);
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => break,
        }
    }
    remove_bridge_if_unused(&mut s, &st.bridge);
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        teardown(&self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(NetMode::parse("veth"), Ok(NetMode::Veth));
        assert_eq!(NetMode::parse("HOST"), Ok(NetMode::Host));
        assert_eq!(NetMode::parse("none"), Ok(NetMode::None));
        assert_eq!(NetMode::parse("veth,nat"), Ok(NetMode::VethNat));
        assert_eq!(NetMode::parse("Veth,NAT"), Ok(NetMode::VethNat));
        assert!(NetMode::parse("bridge").unwrap_err().contains("bridge"));
    }

    #[test]
    fn subnets() {
        let s = Subnet::parse(DEFAULT_SUBNET).unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 213, 0, 2)));
        assert_eq!(s.hosts().last(), Some(Ipv4Addr::new(10, 213, 0, 254)));
        assert!(s.contains(Ipv4Addr::new(10, 213, 0, 9)));
        // docker's and podman's defaults do not clash with it.
        assert!(!s.overlaps(Ipv4Addr::new(172, 17, 0, 1), 16));
        assert!(!s.overlaps(Ipv4Addr::new(10, 88, 0, 1), 16));
        assert!(s.overlaps(Ipv4Addr::new(10, 0, 0, 0), 8));
        assert!(s.overlaps(Ipv4Addr::new(10, 213, 0, 77), 32));
        assert!(!s.overlaps(Ipv4Addr::new(10, 213, 1, 0), 24));
        for bad in [
            "10.213.0.1/24",
            "10.213.0.0",
            "10.213.0.0/31",
            "x/24",
            "127.0.0.0/8",
        ] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
        assert!(Subnet::parse("10.213.0.5/24")
            .unwrap_err()
            .contains("10.213.0.0/24"));
    }

    #[test]
    fn publishing() {
        let p = Publish::parse("8080:80").unwrap();
        assert_eq!(p.host, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(p.port, 80);
        let p = Publish::parse("0.0.0.0:8080:80/tcp").unwrap();
        assert_eq!(p.host, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(p.proto, Proto::Tcp);
        let p = Publish::parse("127.0.0.1:5353:53/UDP").unwrap();
        assert_eq!(p.host, "127.0.0.1:5353".parse().unwrap());
        assert_eq!((p.port, p.proto), (53, Proto::Udp));
        assert_eq!(Publish::parse("5353:53/udp").unwrap().proto, Proto::Udp);
        for bad in [
            "80",
            "0:80",
            "8080:70000",
            "8080:80/sctp",
            "8080:80/",
            "x:1:2",
            "a:b",
        ] {
            assert!(Publish::parse(bad).is_err(), "{bad}");
        }
        assert!(Publish::parse("8080:80/sctp")
            .unwrap_err()
            .contains("`sctp` is not tcp or udp"));
    }

    /// Stale cleanup acts only on networks made in its own namespace.
    #[test]
    fn a_state_knows_its_namespace() {
        let mut st = NetState {
            bridge: "cgdash0".into(),
            veth: "cgv0ad50002".into(),
            addr: Ipv4Addr::new(10, 213, 0, 2),
            prefix: 24,
            rate_in: None,
            rate_out: None,
            nat: true,
            netns: 0,
            setting_up: false,
        };
        assert!(st.here(), "unknown (an older state file): as before");
        st.netns = own_netns();
        assert_ne!(st.netns, 0);
        assert!(st.here());
        st.netns += 1;
        assert!(!st.here());
        // Written only when set, read back as 0 when missing.
        let old: NetState =
            serde_json::from_str(r#"{"bridge":"b","veth":"v","addr":"10.0.0.2","prefix":24}"#)
                .unwrap();
        assert_eq!((old.netns, old.nat), (0, false));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("2M"), Ok(Some(2 << 20)));
        assert_eq!(parse_rate("max"), Ok(None));
        assert!(parse_rate("12").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1M").is_err());
        assert_eq!(
            parse_setting("net.rate_out=10M"),
            Ok(Some((NetKnob::RateOut, Some(10 << 20))))
        );
        assert_eq!(parse_setting("cpu=50%"), Ok(None));
        let e = parse_setting("net.rate_in=lots").unwrap_err();
        assert!(e.contains("`lots`") && e.contains("net.rate_in"), "{e}");
    }

    /// The clash check on made-up host tables: an address or a route
    /// overlapping the subnet (a route alone, without an address, too), a
    /// bridge with another address, a name that is not a bridge; the default
    /// route and our own bridge's gateway and route are fine.
    #[test]
    fn clashes_with_addresses_routes_and_bridges() {
        let spec = VethSpec {
            subnet: Subnet::parse("10.213.0.0/24").unwrap(),
            bridge: "cgdash0".into(),
            publish: Vec::new(),
            rate_in: None,
            rate_out: None,
            nat: false,
        };
        let link = |index, name: &str, kind: Option<&str>| nl::Link {
            index,
            name: name.into(),
            master: None,
            kind: kind.map(Into::into),
            up: true,
            group: 0,
        };
        let addr = |index, a: [u8; 4], prefix| nl::Addr {
            index,
            addr: Ipv4Addr::from(a),
            prefix,
        };
        let route = |a: [u8; 4], prefix, oif| nl::Route {
            dst: Ipv4Addr::from(a),
            prefix,
            oif: Some(oif),
        };
        let links = vec![
            link(1, "lo", None),
            link(2, "eth0", None),
            link(5, "cgdash0", Some("bridge")),
        ];
        let ok_addrs = vec![
            addr(1, [127, 0, 0, 1], 8),
            addr(2, [192, 0, 2, 2], 24),
            addr(5, [10, 213, 0, 1], 24),
        ];
        let ok_routes = vec![
            route([0, 0, 0, 0], 0, 2),
            route([192, 0, 2, 0], 24, 2),
            route([10, 213, 0, 0], 24, 5),
        ];
        assert_eq!(check_free(&spec, &links, &ok_addrs, &ok_routes), Ok(()));
        let e = check_free(&spec, &links, &[addr(2, [10, 213, 0, 9], 16)], &ok_routes).unwrap_err();
        assert!(e.contains("address 10.213.0.9/16 of eth0"), "{e}");
        let e = check_free(&spec, &links, &ok_addrs, &[route([10, 0, 0, 0], 8, 2)]).unwrap_err();
        assert!(e.contains("route to 10.0.0.0/8 via eth0"), "{e}");
        let e = check_free(&spec, &links, &[addr(5, [10, 213, 0, 7], 24)], &[]).unwrap_err();
        assert!(
            e.contains("bridge cgdash0 has the address 10.213.0.7/24"),
            "{e}"
        );
        let e = check_free(&spec, &[link(5, "cgdash0", Some("veth"))], &[], &[]).unwrap_err();
        assert!(e.contains("not a bridge (a veth)"), "{e}");
    }

    #[test]
    fn veth_names_fit_ifnamsiz() {
        let n = veth_name(Ipv4Addr::new(10, 213, 0, 2));
        assert_eq!(n, "cgv0ad50002");
        assert!(n.len() <= 15);
    }
}
