//! Cost of group names (issue 13): 200 docker containers' worth of
//! metadata (`config.v2.json` as docker writes it, ~2.4 KiB each) and their
//! 200 groups (`docker/<id>`, cgroupfs driver) in a temporary tree laid out
//! like a cgroup v2 mount; the sampler over it with names and without,
//! interleaved round by round.
//!
//! Printed: the first sample (every group appears: all 200 files are read)
//! and the steady per-refresh cost (median thread CPU time per
//! `Sampler::sample`) with and without the resolver, and how many
//! metadata reads the steady rounds did (0: names are read on appearance).
//! Needs no root: nothing outside the temporary directory is touched.
//!
//! Run: `cargo bench --bench names` (env: BENCH_GROUPS, BENCH_ROUNDS).

use std::path::Path;
use std::time::Duration;

use cgdash::cgroup::Layout;
use cgdash::names::{Resolver, Roots};
use cgdash::sampler::Sampler;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn cpu_of(f: impl FnOnce()) -> Duration {
    let t = thread_cpu();
    f();
    thread_cpu() - t
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(file), text).expect("write");
}

/// The cgroup tree and docker's data root for `n` containers.
fn build(root: &Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let cg = root.join("cgroup");
    let data = root.join("docker");
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/names_fixtures/docker/containers/d412238661bb45bc362074403cd99444dbe398250d03bfb4ad550a08f9ec7044/config.v2.json",
        ),
    )
    .expect("fixture");
    write(&cg, "cgroup.controllers", "cpuset cpu io memory pids\n");
    write(&cg, "cgroup.procs", "1\n");
    write(&cg.join("docker"), "cgroup.procs", "");
    for i in 0..n {
        let id = format!(
            "{i:08x}{}",
            &"d412238661bb45bc362074403cd99444dbe398250d03bfb4ad550a08f9ec7044"[8..]
        );
        let g = cg.join("docker").join(&id);
        write(&g, "cgroup.procs", "");
        write(
            &g,
            "cpu.stat",
            "usage_usec 100\nuser_usec 50\nsystem_usec 50\n",
        );
        write(&g, "cpu.max", "20000 100000\n");
        write(&g, "memory.current", "1048576\n");
        write(&g, "memory.max", "67108864\n");
        write(&g, "pids.current", "1\n");
        let config = template
            .replace(
                "d412238661bb45bc362074403cd99444dbe398250d03bfb4ad550a08f9ec7044",
                &id,
            )
            .replace("\"/names-web\"", &format!("\"/web-{i}\""));
        write(
            &data.join("containers").join(&id),
            "config.v2.json",
            &config,
        );
    }
    (cg, data)
}

fn main() {
    let n = env("BENCH_GROUPS", 200);
    let rounds = env("BENCH_ROUNDS", 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let (cg, data) = build(dir.path(), n);
    let layout = Layout::from_root(&cg).expect("layout");
    let roots = Roots {
        docker: data,
        ..Roots::default()
    };
    let mut plain = Sampler::cgroups_only(layout.clone());
    plain.set_names(None);
    let mut named = Sampler::cgroups_only(layout);
    named.set_names(Some(Resolver::new(roots)));

    let first_plain = cpu_of(|| {
        plain.sample();
    });
    let mut first_snap = None;
    let first_named = cpu_of(|| {
        first_snap = Some(named.sample());
    });
    let named_groups = first_snap
        .map(|s| {
            s.groups
                .iter()
                .filter(|g| g.identity.name.is_some())
                .count()
        })
        .unwrap_or(0);
    let reads_after_first = named.names().map_or(0, |r| r.resolutions());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(cpu_of(|| {
            plain.sample();
        }));
        b.push(cpu_of(|| {
            named.sample();
        }));
    }
    let steady_reads = named.names().map_or(0, |r| r.resolutions()) - reads_after_first;
    let (ma, mb) = (median(&mut a), median(&mut b));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{n} docker groups + config.v2.json, {rounds} rounds, thread CPU per sample:");
    println!("  first sample (all appear): without names {:.2} ms, with names {:.2} ms ({named_groups} named, {reads_after_first} metadata reads)", ms(first_plain), ms(first_named));
    println!(
        "  steady, median: without names {:.3} ms, with names {:.3} ms ({:+.1} %), metadata reads in {rounds} rounds: {steady_reads}",
        ms(ma),
        ms(mb),
        (ms(mb) / ms(ma) - 1.0) * 100.0
    );
}
