use std::time::Duration;

use super::*;

/// This project's VM (kernel 6.1), the host's namespace.
const HOST: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 149222489   37414    0    0    0     0          0         0 149222489   37414    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 751293938   23367    0    0    0     0          0         0  1136928   14116    0    0    0     0       0          0
";

/// A docker container's namespace (eth0 is its end of a veth pair), with
/// drops and errors, and an old kernel's line where the name touches the
/// first number.
const CONTAINER: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1200      12    0    0    0     0          0         0     1200      12    0    0    0     0       0          0
  eth0:12345678901  9876543  3    7    0     0          0         0 98765432  123456    1    2    0     0       0          0
";

fn row(name: &str, rx: u64, tx: u64) -> NetDev {
    NetDev {
        name: name.into(),
        rx_bytes: rx,
        tx_bytes: tx,
        rx_packets: rx / 100,
        tx_packets: tx / 100,
        ..NetDev::default()
    }
}

#[test]
fn parses_real_net_dev() {
    let d = parse_net_dev(HOST).unwrap();
    assert_eq!(
        d.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        ["lo", "ifb0", "eth0"]
    );
    assert_eq!(
        d[2],
        NetDev {
            name: "eth0".into(),
            rx_bytes: 751293938,
            rx_packets: 23367,
            tx_bytes: 1136928,
            tx_packets: 14116,
            ..NetDev::default()
        }
    );
    let c = parse_net_dev(CONTAINER).unwrap();
    assert_eq!(
        c[1],
        NetDev {
            name: "eth0".into(),
            rx_bytes: 12345678901,
            rx_packets: 9876543,
            rx_errors: 3,
            rx_drops: 7,
            tx_bytes: 98765432,
            tx_packets: 123456,
            tx_errors: 1,
            tx_drops: 2,
        }
    );
    // Headers only: no interface (a namespace being torn down).
    assert_eq!(
        parse_net_dev(&HOST.lines().take(2).collect::<Vec<_>>().join("\n")),
        Ok(vec![])
    );
}

#[test]
fn a_malformed_line_untrusts_the_file() {
    let head = "h1\nh2\n";
    for bad in [
        "  eth0: 1 2 3\n",
        "  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
        "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
        "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n",
    ] {
        let e = parse_net_dev(&format!("{head}{bad}")).unwrap_err();
        assert!(e.contains("eth0"), "{bad}: {e}");
    }
}

#[test]
fn rates_totals_without_lo_and_honest_gaps() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(2);
    let old = [row("lo", 1000, 1000), row("eth0", 10_000, 20_000)];
    let new = [row("lo", 9000, 9000), row("eth0", 30_000, 60_000)];
    let v = view(&new, Some((&old, t0)), t1, 7, 42);
    // eth0 only: lo's 4000/s is not in the totals.
    assert_eq!(v.rx_bytes_per_s, Some(10_000.0));
    assert_eq!(v.tx_bytes_per_s, Some(20_000.0));
    assert_eq!(v.rx_packets_per_s, Some(100.0));
    assert_eq!((v.rx_bytes, v.tx_bytes), (Some(30_000), Some(60_000)));
    assert_eq!(v.interfaces[0].name, "lo");
    assert_eq!(v.interfaces[0].rx_bytes_per_s, Some(4000.0));
    assert_eq!((v.netns, v.pid, v.shared_with.as_deref()), (7, 42, None));
    assert_eq!((v.rate_in, v.rate_out), (None, None));
    // First reading: counters, no rates.
    let v = view(&new, None, t1, 7, 42);
    assert_eq!((v.rx_bytes_per_s, v.rx_bytes), (None, Some(30_000)));
    assert_eq!(v.interfaces[1].tx_bytes_per_s, None);
    // An interface that appeared since: its own rate is unknown, and so is
    // the total's (its whole count would land in one interval).
    let more = [new[0].clone(), new[1].clone(), row("eth1", 5000, 5000)];
    let v = view(&more, Some((&old, t0)), t1, 7, 42);
    assert_eq!(v.rx_bytes_per_s, None);
    assert_eq!(v.interfaces[1].rx_bytes_per_s, Some(10_000.0));
    assert_eq!(v.interfaces[2].rx_bytes_per_s, None);
    // A counter that went back (interface recreated): no rate.
    let back = [row("lo", 0, 0), row("eth0", 5, 5)];
    let v = view(&back, Some((&old, t0)), t1, 7, 42);
    assert_eq!(
        (v.rx_bytes_per_s, v.interfaces[1].tx_bytes_per_s),
        (None, None)
    );
}

fn group(path: &str, kind: Option<&str>) -> GroupSnapshot {
    let mut g = GroupSnapshot {
        path: path.into(),
        ..GroupSnapshot::default()
    };
    std::sync::Arc::make_mut(&mut g.identity).kind = kind.map(Into::into);
    g
}

/// A fake /proc: a namespace is a `net/dev` file, and pids in the same
/// namespace share it (hard links: the same inode, as procfs gives them).
struct FakeProc {
    dir: tempfile::TempDir,
}

impl FakeProc {
    fn new() -> FakeProc {
        FakeProc {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn ns(&self, pid: i32, text: &str) -> u64 {
        let d = self.dir.path().join(format!("{pid}/net"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("dev"), text).unwrap();
        std::fs::metadata(d.join("dev")).unwrap().ino()
    }

    fn join(&self, pid: i32, same_as: i32) {
        let d = self.dir.path().join(format!("{pid}/net"));
        std::fs::create_dir_all(&d).unwrap();
        let from = self.dir.path().join(format!("{same_as}/net/dev"));
        std::fs::hard_link(from, d.join("dev")).unwrap();
    }
}

#[test]
fn own_namespaces_only_each_read_once() {
    let p = FakeProc::new();
    let host = p.ns(1, HOST);
    p.join(100, 1); // a host process
    let c = p.ns(200, CONTAINER); // a container's first process
    p.join(201, 200);
    p.ns(300, CONTAINER); // a second container
    p.join(301, 300);
    p.join(302, 300);
    let mut r = NetReader::with_host(p.dir.path().to_path_buf(), vec![host]);
    let mut groups = vec![
        group("/", None),
        group("system.slice/docker-a.scope", Some("docker")),
        // A pod: the pause container holds the namespace, the app joins it.
        group("kubepods/pod1/app", Some("containerd")),
        group("kubepods/pod1/pause", Some("k8s-infra")),
        // A cgdash workload: its launch helper stays in the host's namespace.
        group("cgdash/web", Some("cgdash")),
    ];
    r.begin();
    r.observe(0, &[1, 100]);
    r.observe(1, &[201, 200]);
    r.observe(2, &[302]);
    r.observe(3, &[301]);
    r.observe(4, &[100, 999]); // 999: gone, unreadable
    r.finish(&mut groups);
    assert_eq!(groups[0].net, None);
    assert_eq!(groups[4].net, None);
    let docker = groups[1].net.as_ref().unwrap();
    assert_eq!((docker.netns, docker.pid), (c, 200), "the lowest pid");
    assert_eq!(docker.rx_bytes, Some(12345678901), "eth0, not lo");
    assert_eq!(docker.rx_drops, Some(7));
    assert_eq!(docker.tx_errors, Some(2 - 1));
    // The pod's namespace is counted once, on the sandbox.
    let pause = groups[3].net.as_ref().unwrap();
    assert_eq!(
        (pause.shared_with.as_deref(), pause.rx_bytes),
        (None, Some(12345678901))
    );
    let app = groups[2].net.as_ref().unwrap();
    assert_eq!(app.shared_with.as_deref(), Some("kubepods/pod1/pause"));
    assert_eq!((app.rx_bytes, app.interfaces.len()), (None, 0));
    assert_eq!(r.reads, 2, "one read per namespace");
    let stats = r.stats;
    assert_eq!(stats, 7, "one stat per pid");

    // Second sample, one second of traffic later: rates, and pids' namespaces
    // re-read only while young. The first sample's pids were there before
    // the reader (issue 18: 20,000 fewer `stat`s at startup at 10,000
    // processes): not re-read; a pid new since is, on its first three.
    std::thread::sleep(Duration::from_millis(50));
    let busier = CONTAINER.replace("12345678901", "12345778901");
    std::fs::write(p.dir.path().join("200/net/dev"), busier).unwrap();
    p.join(202, 200); // started after the first sample
    r.begin();
    r.observe(0, &[1, 100]);
    r.observe(1, &[201, 200, 202]);
    r.observe(2, &[302]);
    r.observe(3, &[301]);
    r.finish(&mut groups);
    let docker = groups[1].net.as_ref().unwrap();
    let rx = docker.rx_bytes_per_s.unwrap();
    assert!(rx > 0.0 && rx <= 100_000.0 / 0.05, "{rx}");
    assert_eq!(docker.tx_bytes_per_s, Some(0.0));
    assert_eq!(r.stats, stats + 1, "only the new pid");
    for n in 0..2 {
        r.begin();
        r.observe(1, &[201, 200, 202]);
        r.finish(&mut groups);
        assert_eq!(r.stats, stats + 2 + n, "the new pid, while young");
    }
    r.begin();
    r.observe(1, &[201, 200, 202]);
    r.finish(&mut groups);
    // Five samples on, only every RECHECK-th sample re-reads a pid's namespace.
    let before = r.stats;
    for _ in 0..RECHECK {
        r.begin();
        r.observe(1, &[201, 200]);
        r.finish(&mut groups);
    }
    assert_eq!(r.stats - before, 2, "each pid once in RECHECK samples");
}

#[test]
fn a_pid_settled_at_startup_is_still_rechecked() {
    // A process of the first sample that `setns`es later is found by the
    // RECHECK re-read, as any settled process.
    let p = FakeProc::new();
    let host = p.ns(1, HOST);
    p.join(100, 1);
    let mut r = NetReader::with_host(p.dir.path().to_path_buf(), vec![host]);
    let mut groups = vec![group("g", None)];
    r.begin();
    r.observe(0, &[100]);
    r.finish(&mut groups);
    assert_eq!(groups[0].net, None);
    std::fs::remove_file(p.dir.path().join("100/net/dev")).unwrap();
    let c = p.ns(100, CONTAINER);
    for _ in 0..RECHECK {
        r.begin();
        r.observe(0, &[100]);
        r.finish(&mut groups);
    }
    assert_eq!(groups[0].net.as_ref().map(|n| n.netns), Some(c));
}
#[test]
fn with_an_ebpf_pass_only_named_pids_are_rechecked() {
    // A process changes namespace only by running: the pass names it then.
    let p = FakeProc::new();
    let host = p.ns(1, HOST);
    p.join(100, 1);
    p.join(101, 1);
    let mut r = NetReader::with_host(p.dir.path().to_path_buf(), vec![host]);
    let mut groups = vec![group("g", None)];
    r.begin();
    r.observe(0, &[100, 101]);
    r.finish(&mut groups);
    // 101 `setns`es into a container (and so ran: named); 100 sleeps.
    std::fs::remove_file(p.dir.path().join("101/net/dev")).unwrap();
    let c = p.ns(101, CONTAINER);
    let before = r.stats;
    for _ in 0..RECHECK {
        r.begin();
        r.set_named(Some(&mut [(101, 0)].into_iter()));
        r.observe(0, &[100, 101]);
        r.finish(&mut groups);
    }
    assert_eq!(r.stats - before, 1, "only the named pid, at its re-check");
    assert_eq!(groups[0].net.as_ref().map(|n| n.netns), Some(c));
    // No pass: every pid at its re-check, as before.
    let before = r.stats;
    for _ in 0..RECHECK {
        r.begin();
        r.set_named(None);
        r.observe(0, &[100, 101]);
        r.finish(&mut groups);
    }
    assert_eq!(r.stats - before, 2);
}

#[test]
fn a_group_moving_namespace_restarts_its_rates() {
    let p = FakeProc::new();
    let host = p.ns(1, HOST);
    p.ns(10, CONTAINER);
    p.ns(20, CONTAINER);
    let mut r = NetReader::with_host(p.dir.path().to_path_buf(), vec![host]);
    let mut groups = vec![group("g", None)];
    r.begin();
    r.observe(0, &[10]);
    r.finish(&mut groups);
    r.begin();
    r.observe(0, &[20]);
    r.finish(&mut groups);
    let v = groups[0].net.as_ref().unwrap();
    assert_eq!((v.pid, v.rx_bytes_per_s), (20, None));
}

/// One entry per process (10,000 at scale): kept to 16 bytes (issue 18).
#[cfg(target_pointer_width = "64")]
#[test]
fn a_pids_namespace_entry_is_16_bytes() {
    assert_eq!(std::mem::size_of::<PidNs>(), 16);
}

#[test]
fn named_pids_with_a_namespace_number_cost_one_stat_per_namespace() {
    // The first sample of the eBPF path names every process, with its
    // namespace's number: one `stat` per namespace, not per process.
    let p = FakeProc::new();
    let host = p.ns(1, HOST);
    let c = p.ns(200, CONTAINER);
    for pid in 100..110 {
        p.join(pid, 1);
    }
    for pid in 201..210 {
        p.join(pid, 200);
    }
    let mut r = NetReader::with_host(p.dir.path().to_path_buf(), vec![host]);
    let mut groups = vec![
        group("/", None),
        group("system.slice/docker-a.scope", Some("docker")),
    ];
    let host_pids: Vec<i32> = (100..110).collect();
    let container_pids: Vec<i32> = (200..210).collect();
    let named = |pids: &[i32], inum: u32| pids.iter().map(move |&p| (p, inum)).collect::<Vec<_>>();
    let mut all = named(&host_pids, 7);
    all.extend(named(&container_pids, 9));
    r.begin();
    r.set_named(Some(&mut all.clone().into_iter()));
    r.observe(0, &host_pids);
    r.observe(1, &container_pids);
    r.finish(&mut groups);
    assert_eq!(r.stats, 2, "one stat per namespace");
    assert_eq!(groups[0].net, None, "the host's namespace");
    assert_eq!(
        groups[1].net.as_ref().map(|n| (n.netns, n.pid)),
        Some((c, 200))
    );
    // A number is this sample's only: the next sample's new process in a
    // namespace numbered 9 (reused: another namespace) is stat'ed again.
    let other = p.ns(300, HOST);
    r.begin();
    r.set_named(Some(&mut [(300, 9)].into_iter()));
    r.observe(1, &[300]);
    r.finish(&mut groups);
    assert_eq!(r.stats, 3);
    assert_eq!(groups[1].net.as_ref().map(|n| n.netns), Some(other));
    // Not given (0): each is stat'ed, as without a pass.
    let before = r.stats;
    for pid in 400..403 {
        p.join(pid, 200);
    }
    r.begin();
    r.set_named(Some(&mut [(400, 0), (401, 0), (402, 0)].into_iter()));
    r.observe(1, &[400, 401, 402]);
    r.finish(&mut groups);
    assert_eq!(r.stats - before, 3);
}
