//! Live (root): `cgdash run --net veth,nat` — outbound NAT through an
//! nf_tables masquerade rule, made through netlink, gone with the workload.
//!
//! Everything happens inside network namespaces this test makes, never on
//! the host's own network: namespace A stands in for "the host" (cgdash
//! runs there, makes its bridge, veth and NAT table there, and IPv4
//! forwarding is switched on there only), namespace B for "outside" (a
//! server at 10.214.90.2, on a veth pair `netvm-up` ↔ `netvm-out` between
//! them, with no route back to the workloads' subnet). Without NAT the
//! workload's connections reach B, but B's answers have nowhere to go; with
//! it they come from A's address, and the load gets its answers.

mod common;
mod launch_util;

use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cgdash::net::nl::Socket;
use launch_util::{run_cmd, wait_for, Cleanup};

/// A process in a network namespace of its own (made with unshare(2)
/// before exec), killed on drop: the namespace lives as long as it does.
struct NsProc(Child);

impl NsProc {
    fn spawn(prog: &str, args: &[&str]) -> NsProc {
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: unshare(2) only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn a process in a new netns");
        let p = NsProc(child);
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || std::fs::read_link(p.ns())
                .is_ok_and(|n| n != mine)),
            "{prog} never got its own network namespace"
        );
        p
    }
    fn ns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.0.id()))
    }
}

impl Drop for NsProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `f` on a thread that entered the network namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = std::fs::File::open(ns).unwrap();
    std::thread::spawn(move || {
        // SAFETY: a namespace fd; affects this thread only.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
    .join()
    .unwrap()
}

/// `cgdash ARGS` run in the network namespace `ns` (setns before exec).
fn cgdash_in(ns: &Path, args: &[&str]) -> launch_util::Out {
    let f = std::fs::File::open(ns).unwrap();
    let fd = f.as_raw_fd();
    let mut cmd = Command::new(common::cgdash_bin());
    cmd.args(args);
    // SAFETY: setns(2) only, between fork and exec; `f` outlives the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_cmd(cmd, Duration::from_secs(60));
    drop(f);
    out
}

/// The names of the `ip` nf_tables tables in the namespace `ns`.
fn tables(ns: &Path) -> Vec<String> {
    let mut s = Socket::in_netns_with(ns, Socket::open_netfilter).unwrap();
    cgdash::net::nft::tables_on(&mut s).unwrap()
}

fn json_u64(out: &str, key: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn nat_reaches_outside_only_when_asked_and_leaves_nothing() {
    let Some(layout) = common::live("nat_reaches_outside_only_when_asked_and_leaves_nothing")
    else {
        return;
    };
    if let Err(why) = cgdash::net::kernel_support() {
        // A kernel without veth/bridge/tbf: tests/net_veth.rs checks the refusal.
        assert!(!common::expect_veth(), "{why}");
        eprintln!("SKIP: {why}");
        return;
    }
    // A: "the host"; B: "outside", serving HTTP on 0.0.0.0:9000.
    let a = NsProc::spawn("sleep", &["120"]);
    let b = NsProc::spawn(
        common::cgdash_bin(),
        &[
            "stress",
            "serve",
            "--listen",
            "0.0.0.0:9000",
            "--work",
            "0",
            "--bytes",
            "1K",
            "--duration",
            "120s",
        ],
    );
    let (a_ns, b_ns) = (a.ns(), b.ns());
    let b_file = std::fs::File::open(&b_ns).unwrap();
    in_ns(&a_ns, move || {
        let mut s = Socket::open().unwrap();
        let lo = s.link("lo").unwrap().unwrap();
        s.set_up(lo.index, None).unwrap();
        s.add_veth("netvm-up", "netvm-out", &b_file).unwrap();
        let up = s.link("netvm-up").unwrap().unwrap();
        s.add_addr(up.index, [10, 214, 90, 1].into(), 24).unwrap();
        s.set_up(up.index, None).unwrap();
    });
    in_ns(&b_ns, || {
        let mut s = Socket::open().unwrap();
        let lo = s.link("lo").unwrap().unwrap();
        s.set_up(lo.index, None).unwrap();
        let out = s.link("netvm-out").unwrap().unwrap();
        s.add_addr(out.index, [10, 214, 90, 2].into(), 24).unwrap();
        s.set_up(out.index, None).unwrap();
    });
    // Forwarding off in A: refused, nothing made (cgdash changes no sysctl).
    let net = ["--net-bridge", "netvm-b3", "--net-subnet", "10.214.83.0/24"];
    let name = format!("netvm-{}-nat", std::process::id());
    let _c = Cleanup::new(&layout, &name);
    let load = |mode: &str| -> launch_util::Out {
        let mut args = vec!["run", "--name", &name, "--net", mode];
        args.extend(net);
        args.extend([
            "--",
            common::cgdash_bin(),
            "stress",
            "load",
            "--target",
            "10.214.90.2:9000",
            "--rate",
            "10/s",
            "--duration",
            "2s",
            "--json",
        ]);
        cgdash_in(&a_ns, &args)
    };
    in_ns(&a_ns, || {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
    });
    let out = load("veth,nat");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("needs IPv4 forwarding"), "{out:?}");
    assert!(tables(&a_ns).is_empty(), "{:?}", tables(&a_ns));
    // Forwarding on in A (A only: the test's namespace).
    in_ns(&a_ns, || {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    });
    // Without NAT: the SYNs reach B, its answers have no way back.
    let out = load("veth");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json_u64(&out.stdout, "ok"), 0, "{out:?}");
    // With NAT: every request answered (the rule is made before the
    // workload starts).
    let out = load("veth,nat");
    assert_eq!(out.code, 0, "{out:?}");
    let (requests, ok) = (
        json_u64(&out.stdout, "requests"),
        json_u64(&out.stdout, "ok"),
    );
    assert!(requests >= 10 && ok == requests, "{out:?}");
    // Gone with the workload: the table, its marker, the veth.
    assert!(tables(&a_ns).is_empty(), "{:?}", tables(&a_ns));
    let markers: Vec<String> = std::fs::read_dir(cgdash::launch::state_dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with("nat-cgv0ad653"))
        .collect();
    assert!(markers.is_empty(), "{markers:?}");

    // SIGKILL of the launcher: the workload dies with it (its lifeline), the
    // table stays behind — until the next cgdash start sweeps it (by the
    // state file the launch left).
    let f = std::fs::File::open(&a_ns).unwrap();
    let fd = f.as_raw_fd();
    let mut cmd = Command::new(common::cgdash_bin());
    let mut args = vec!["run", "--name", &name, "--net", "veth,nat"];
    args.extend(net);
    args.extend(["--", "sleep", "30"]);
    cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: setns(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut launcher = cmd.spawn().unwrap();
    let made = wait_for(Duration::from_secs(20), || {
        tables(&a_ns)
            .iter()
            .any(|t| t.starts_with("cgdash-cgv0ad653"))
    });
    let _ = launcher.kill();
    let _ = launcher.wait();
    assert!(made, "the NAT table never appeared: {:?}", tables(&a_ns));
    assert!(!tables(&a_ns).is_empty());
    // The workload dies with its launcher (its helper watches the
    // lifeline), its namespace and veth with it — asynchronously: the next
    // start cleans up once it is gone (as for the bridge), so wait for that
    // first (a slow VM took more than the cleanup's 3 s grace).
    let group = format!("cgdash/{name}");
    let a2 = a_ns.clone();
    let veth_in_a = move || {
        let mut s = Socket::in_netns(&a2).unwrap();
        s.links()
            .unwrap()
            .iter()
            .any(|l| l.name.starts_with("cgv0ad653"))
    };
    assert!(
        wait_for(Duration::from_secs(60), || layout.procs(&group).is_empty()
            && !veth_in_a()),
        "the workload outlived its SIGKILLed launcher: {:?}",
        layout.procs(&group)
    );
    assert!(
        !tables(&a_ns).is_empty(),
        "the table went with the workload?"
    );
    let out = cgdash_in(
        &a_ns,
        &["run", "--name", &format!("{name}-next"), "--", "true"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        wait_for(Duration::from_secs(10), || tables(&a_ns).is_empty()),
        "left after SIGKILL and the next start: {:?}",
        tables(&a_ns)
    );
}
