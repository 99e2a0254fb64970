//! The resolver against the fixture trees in tests/names_fixtures (metadata
//! as docker, podman, containerd, CRI-O and the kubelet write it).

use super::lookup::{find_group, label, LookupError, Spec};
use super::owner::{owner_hint, render, Context, Form};
use super::*;
use crate::cgroup::knob::{parse_settings_on, Host};
use crate::cgroup::Layout;

#[path = "../../tests/names_fixtures/tree.rs"]
mod tree;

fn roots() -> Roots {
    let f = tree::fixtures();
    Roots {
        docker: f.join("docker"),
        storage: vec![f.join("storage"), f.join("storage-run")],
        containerd: f.join("containerd"),
        pod_logs: f.join("pods"),
    }
}

/// Every group of the tree, resolved as the sampler does, tick `n`.
fn ticks(r: &mut Resolver, n: usize) -> Vec<(String, Identity)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.clear();
        r.begin_tick();
        for (p, _, _) in tree::groups() {
            let i = r.identity(&p, Some(7));
            out.push((p, Identity::clone(&i)));
        }
        r.end_tick();
    }
    out
}

fn find<'a>(got: &'a [(String, Identity)], path: &str) -> &'a Identity {
    &got.iter().find(|(p, _)| p == path).expect(path).1
}

#[test]
fn every_fixture_group_gets_its_kind_and_name() {
    let mut r = Resolver::new(roots());
    let got = ticks(&mut r, 2);
    for ((path, kind, name), (_, i)) in tree::groups().iter().zip(&got) {
        assert_eq!(i.kind.as_deref(), *kind, "kind of {path}: {i:?}");
        assert_eq!(i.name.as_deref(), *name, "name of {path}: {i:?}");
    }
}

#[test]
fn images_pods_namespaces_ids_units() {
    let mut r = Resolver::new(roots());
    let got = ticks(&mut r, 2);
    let web = find(&got, &format!("docker/{}", tree::DOCKER_CGROUPFS));
    assert_eq!(web.image.as_deref(), Some("names-bb:1"));
    assert_eq!(
        web.container_id.as_deref(),
        Some("d41223866 1bb".replace(' ', "").as_str())
    );
    assert_eq!(web.unit, None, "cgroupfs driver: no unit");
    let api = find(
        &got,
        &format!("system.slice/docker-{}.scope", tree::DOCKER_SYSTEMD),
    );
    assert_eq!(api.image.as_deref(), Some("nginx:1.27"));
    assert_eq!(
        api.unit.as_deref(),
        Some(format!("docker-{}.scope", tree::DOCKER_SYSTEMD).as_str())
    );
    let pm = find(&got, &format!("libpod_parent/libpod-{}", tree::PODMAN_VFS));
    assert_eq!(
        pm.image.as_deref(),
        Some("localhost/names-bb:1"),
        "vfs store"
    );
    let vol = find(
        &got,
        &format!("machine.slice/libpod-{}.scope", tree::PODMAN_VOLATILE),
    );
    assert_eq!(
        vol.image.as_deref(),
        Some("localhost/api:2"),
        "volatile store"
    );
    let ngx = find(
        &got,
        &format!("{}/cri-containerd-{}.scope", tree::POD1, tree::CONTAINERD),
    );
    assert_eq!(
        (
            ngx.pod.as_deref(),
            ngx.namespace.as_deref(),
            ngx.image.as_deref()
        ),
        (
            Some("web-7d9f"),
            Some("prod"),
            Some("docker.io/library/nginx:1.27")
        )
    );
    let pod = find(&got, tree::POD1);
    assert_eq!(
        (pod.pod.as_deref(), pod.namespace.as_deref()),
        (Some("web-7d9f"), Some("prod"))
    );
    let redis = find(&got, &format!("{}/crio-{}.scope", tree::POD2, tree::CRIO));
    assert_eq!(
        (
            redis.pod.as_deref(),
            redis.namespace.as_deref(),
            redis.image.as_deref()
        ),
        (
            Some("cache-0"),
            Some("data"),
            Some("docker.io/library/redis:7")
        )
    );
    let php = find(
        &got,
        &format!("{}/docker-{}.scope", tree::POD4, tree::DOCKER_K8S),
    );
    assert_eq!(
        (php.pod.as_deref(), php.namespace.as_deref()),
        (Some("shop-0"), Some("web"))
    );
    let worker = find(
        &got,
        &format!("{}/{}", tree::POD3, tree::CONTAINERD_CGROUPFS),
    );
    assert_eq!(worker.namespace.as_deref(), Some("jobs"));
    // Not in the kubelet's directories: named from its container (2nd tick).
    assert_eq!(find(&got, tree::POD3).namespace.as_deref(), Some("jobs"));
    let nspawn = find(&got, r"machine.slice/machine-deb\x2dbox.scope");
    assert_eq!(nspawn.unit.as_deref(), Some(r"machine-deb\x2dbox.scope"));
}

#[test]
fn bad_metadata_gives_no_name_and_no_error() {
    let mut r = Resolver::new(roots());
    for id in [tree::TRUNCATED, tree::NOT_JSON, tree::REMOVED] {
        let i = r.identity(&format!("docker/{id}"), Some(1));
        assert_eq!(i.name, None, "{id}");
        assert_eq!(i.container_id.as_deref(), Some(&id[..12]), "short id stays");
    }
    // Huge: a valid config over the cap is not read.
    let d = tempfile::tempdir().unwrap();
    let id = tree::REMOVED;
    let dir = d.path().join("containers").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let pad = " ".repeat(meta::FILE_CAP as usize);
    std::fs::write(
        dir.join("config.v2.json"),
        format!(r#"{{"Name":"/big"}}{pad}"#),
    )
    .unwrap();
    let mut r = Resolver::new(Roots {
        docker: d.path().into(),
        ..roots()
    });
    assert_eq!(
        r.identity(&format!("docker/{id}"), Some(1)).name,
        None,
        "over the cap"
    );
    std::fs::write(
        dir.join("config.v2.json"),
        format!(r#"{{"Name":"/big"}}{}"#, &pad[..1000]),
    )
    .unwrap();
    let mut r = Resolver::new(Roots {
        docker: d.path().into(),
        ..roots()
    });
    assert_eq!(
        r.identity(&format!("docker/{id}"), Some(1)).name.as_deref(),
        Some("big")
    );
}

#[test]
fn names_are_read_when_a_group_appears_not_every_tick() {
    let mut r = Resolver::new(roots());
    ticks(&mut r, 1);
    let first = r.resolutions();
    assert!(first > 10, "{first}");
    let got = ticks(&mut r, 20);
    // Only the three broken docker groups are retried (1, 2, 4, 8, 16
    // ticks apart): nothing else is read again.
    let again = r.resolutions() - first;
    assert!(again <= 3 * 5, "{again} resolutions in 20 ticks");
    assert_eq!(
        find(&got, &format!("docker/{}", tree::DOCKER_CGROUPFS))
            .name
            .as_deref(),
        Some("names-web")
    );
    // A group recreated under the same path (new inode) is read again.
    let path = format!("docker/{}", tree::DOCKER_CGROUPFS);
    let before = r.resolutions();
    r.begin_tick();
    r.identity(&path, Some(8));
    r.end_tick();
    assert_eq!(r.resolutions(), before + 1);
    // One that left and came back, too.
    r.begin_tick();
    r.end_tick();
    r.begin_tick();
    r.identity(&path, Some(8));
    r.end_tick();
    assert_eq!(r.resolutions(), before + 2);
}

#[test]
fn a_container_named_late_is_named_on_a_retry() {
    let d = tempfile::tempdir().unwrap();
    let id = tree::REMOVED;
    let mut r = Resolver::new(Roots {
        docker: d.path().into(),
        ..roots()
    });
    let path = format!("docker/{id}");
    let tick = |r: &mut Resolver| {
        r.begin_tick();
        let i = r.identity(&path, Some(3));
        r.end_tick();
        i
    };
    assert_eq!(tick(&mut r).name, None);
    let dir = d.path().join("containers").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.v2.json"),
        r#"{"Name":"/late","Config":{"Image":"x"}}"#,
    )
    .unwrap();
    let named = (0..4)
        .map(|_| tick(&mut r))
        .any(|i| i.name.as_deref() == Some("late"));
    assert!(named, "named within 4 ticks");
    // Given up after RETRIES tries: no reads forever for a nameless one.
    let mut r = Resolver::new(Roots {
        docker: d.path().join("none"),
        ..roots()
    });
    for _ in 0..200 {
        tick(&mut r);
    }
    assert_eq!(r.resolutions(), 1 + u64::from(RETRIES));
}

#[test]
fn roots_come_from_flags_then_env_then_defaults() {
    let env = |k: &str| (k == "CGDASH_DOCKER_ROOT").then(|| "/env/docker".into());
    let r = Roots::from_flags_env(&RootFlags::default(), &env);
    assert_eq!(r.docker, PathBuf::from("/env/docker"));
    assert_eq!(r.containerd, PathBuf::from("/run/containerd"));
    let flags = RootFlags {
        docker: Some("/flag".into()),
        podman_runroot: Some("/run2".into()),
        ..RootFlags::default()
    };
    let r = Roots::from_flags_env(&flags, &env);
    assert_eq!(r.docker, PathBuf::from("/flag"));
    assert_eq!(r.storage[1], PathBuf::from("/run2"));
    assert_eq!(r.storage[0], PathBuf::from("/var/lib/containers/storage"));
}

fn layout() -> (tempfile::TempDir, Layout) {
    let d = tempfile::tempdir().unwrap();
    tree::build(d.path());
    let l = Layout::from_root(d.path()).unwrap();
    (d, l)
}

fn lookup(l: &Layout, s: &str) -> Result<String, LookupError> {
    find_group(l, &roots(), &Spec::parse(s).expect(s))
}

#[test]
fn kind_name_finds_one_group() {
    let (_d, l) = layout();
    let cases = [
        (
            "docker:names-web",
            format!("docker/{}", tree::DOCKER_CGROUPFS),
        ),
        (
            "docker:api",
            format!("system.slice/docker-{}.scope", tree::DOCKER_SYSTEMD),
        ),
        (
            "docker:d4122386",
            format!("docker/{}", tree::DOCKER_CGROUPFS),
        ),
        (
            "podman:names-web",
            format!("libpod_parent/libpod-{}", tree::PODMAN_VFS),
        ),
        // Not its `container` sub-group, not its conmon.
        (
            "podman:api",
            format!("machine.slice/libpod-{}.scope", tree::PODMAN_VOLATILE),
        ),
        ("pod:prod/web-7d9f", tree::POD1.to_string()),
        ("pod:jobs/batch-x1", tree::POD3.to_string()),
        ("k8s:data/cache-0", tree::POD2.to_string()),
        (
            "containerd:nginx",
            format!("{}/cri-containerd-{}.scope", tree::POD1, tree::CONTAINERD),
        ),
        (
            "containerd:prod/web-7d9f/nginx",
            format!("{}/cri-containerd-{}.scope", tree::POD1, tree::CONTAINERD),
        ),
        (
            "crio:redis",
            format!("{}/crio-{}.scope", tree::POD2, tree::CRIO),
        ),
        ("unit:cron.service", "system.slice/cron.service".into()),
        ("unit:cron", "system.slice/cron.service".into()),
        ("lxc:web1", "lxc.payload.web1".into()),
        (
            "nspawn:deb-box",
            r"machine.slice/machine-deb\x2dbox.scope".into(),
        ),
        ("cgdash:demo", "cgdash/demo".into()),
    ];
    for (spec, want) in cases {
        assert_eq!(lookup(&l, spec), Ok(want), "{spec}");
    }
}

#[test]
fn unknown_and_ambiguous_names_list_the_candidates() {
    let (_d, l) = layout();
    match lookup(&l, "docker:nope") {
        Err(e @ LookupError::Unknown { .. }) => {
            let text = e.to_string();
            for c in ["docker:names-web", "docker:api", "docker:web/shop-0/php"] {
                assert!(text.contains(c), "{text}");
            }
            assert!(!text.contains("podman"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    match lookup(&l, "unit:nginx.service") {
        Err(e @ LookupError::Ambiguous { .. }) => {
            let text = e.to_string();
            assert!(text.contains("system.slice/nginx.service"), "{text}");
            assert!(
                text.contains("lxc.payload.web1/system.slice/nginx.service"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let e = lookup(&l, "lxc:none").unwrap_err().to_string();
    assert!(e.contains("lxc:web1"), "{e}");
}

#[test]
fn specs_parse_only_known_kinds() {
    assert_eq!(
        Spec::parse("docker:web"),
        Some(Spec {
            kind: "docker",
            name: "web".into()
        })
    );
    assert_eq!(Spec::parse("CRIO:x").map(|s| s.kind), Some("cri-o"));
    assert_eq!(Spec::parse("machine:x").map(|s| s.kind), Some("nspawn"));
    assert_eq!(Spec::parse("docker:"), None);
    assert_eq!(Spec::parse("cgdash/demo"), None);
    assert_eq!(Spec::parse("weird:thing"), None);
    // A leading slash is a path.
    let (_d, l) = layout();
    assert_eq!(
        resolve_group_arg(&l, &roots(), "/docker:web"),
        Ok("docker:web".to_string())
    );
}

#[test]
fn labels_are_what_the_command_line_takes() {
    let mut r = Resolver::new(roots());
    let got = ticks(&mut r, 2);
    let l = |p: &str| label(find(&got, p));
    assert_eq!(
        l(&format!("docker/{}", tree::DOCKER_CGROUPFS)).as_deref(),
        Some("docker:names-web")
    );
    assert_eq!(l(tree::POD1).as_deref(), Some("pod:prod/web-7d9f"));
    assert_eq!(
        l("system.slice/cron.service").as_deref(),
        Some("unit:cron.service")
    );
    assert_eq!(
        l(&format!(
            "{}/cri-containerd-{}.scope",
            tree::POD1,
            tree::CONTAINERD
        ))
        .as_deref(),
        Some("containerd:prod/web-7d9f/nginx")
    );
    assert_eq!(l("plain/group"), None);
}

fn settings(s: &[&str]) -> Vec<crate::cgroup::knob::Setting> {
    parse_settings_on(s, Host { cpus: 4 }).unwrap()
}

fn docker_web() -> Identity {
    Identity {
        kind: Some("docker".into()),
        name: Some("web".into()),
        container_id: Some("d412238661bb".into()),
        ..Identity::default()
    }
}

#[test]
fn limits_as_each_owner_form() {
    let (_d, l) = layout();
    let all = settings(&[
        "cpu=50%",
        "cpu.weight=200",
        "memory=256M",
        "memory.high=200M",
        "memory.swap=64M",
        "pids=100",
        "cpuset.cpus=0-1",
        "cpu.burst=10ms",
    ]);
    let group = format!("docker/{}", tree::DOCKER_CGROUPFS);
    let cx = Context {
        cpu_v2: true,
        memory_now: None,
        ..Context::default()
    };
    let r = render(Form::Docker, &l, &group, &docker_web(), &all, cx);
    assert_eq!(
        r.lines,
        vec!["docker update --cpus 0.5 --cpu-shares 5220 --memory 256m --memory-swap 320m --pids-limit 100 --cpuset-cpus 0-1 web"]
    );
    // runc on v2: weight = 1 + (shares - 2) * 9999 / 262142.
    assert_eq!(1 + (5220 - 2) * 9999 / 262_142, 200);
    assert_eq!(
        1 + (5219 - 2) * 9999 / 262_142,
        199,
        "the smallest such shares"
    );
    let missing = r.missing.join("\n");
    assert!(missing.contains("memory.high=200M"), "{missing}");
    assert!(missing.contains("cpu.burst=10ms"), "{missing}");
    let r = render(Form::Podman, &l, &group, &docker_web(), &all, cx);
    assert!(
        r.lines[0].starts_with("podman update --cpus 0.5 "),
        "{:?}",
        r.lines
    );
    assert!(!r.lines[0].contains("--pids-limit"), "podman 4 has none");
    assert!(r.missing.join("\n").contains("pids=100"));
    let unit = Identity {
        kind: Some("systemd-unit".into()),
        name: Some("nginx.service".into()),
        unit: Some("nginx.service".into()),
        ..Identity::default()
    };
    let r = render(
        Form::Systemctl,
        &l,
        "system.slice/nginx.service",
        &unit,
        &all,
        cx,
    );
    assert_eq!(
        r.lines,
        vec!["systemctl set-property --runtime nginx.service CPUQuota=50% CPUWeight=200 MemoryMax=268435456 MemoryHigh=209715200 MemorySwapMax=67108864 TasksMax=100 AllowedCPUs=0-1"]
    );
    assert!(r.missing.join("\n").contains("cpu.burst"));
    // The fixture group with the cpu and memory files.
    let group = format!("libpod_parent/libpod-{}", tree::PODMAN_VFS);
    let r = render(
        Form::Cgset,
        &l,
        &group,
        &docker_web(),
        &settings(&["cpu=50%", "memory=256M"]),
        cx,
    );
    assert_eq!(
        r.lines,
        vec![
            format!("cgset -r 'cpu.max=50000 100000' {group}"),
            format!("cgset -r memory.max=268435456 {group}"),
        ]
    );
    let r = render(
        Form::Run,
        &l,
        &group,
        &docker_web(),
        &settings(&["cpu=50%", "memory=256M"]),
        cx,
    );
    assert_eq!(
        r.lines,
        vec!["cgdash run --name web --cpu 50% --memory 256M -- CMD"]
    );
    let r = render(
        Form::Set,
        &l,
        &group,
        &docker_web(),
        &settings(&["cpu=50%", "pids=10"]),
        cx,
    );
    assert_eq!(r.lines, vec!["cgdash set docker:web cpu=50% pids=10"]);
}

#[test]
fn docker_swap_is_memory_plus_swap_and_period_switches_to_quota() {
    let (_d, l) = layout();
    let cx = Context {
        cpu_v2: false,
        memory_now: Some(128 << 20),
        ..Context::default()
    };
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["memory.swap=64M"]),
        cx,
    );
    assert_eq!(
        r.lines,
        vec!["docker update --memory 128m --memory-swap 192m web"]
    );
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["cpu=150%", "cpu.period=50ms"]),
        cx,
    );
    assert_eq!(
        r.lines,
        vec!["docker update --cpu-quota 75000 --cpu-period 50000 web"]
    );
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["cpu.weight=200"]),
        cx,
    );
    assert_eq!(
        r.lines,
        vec!["docker update --cpu-shares 2048 web"],
        "v1: shares as written"
    );
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["memory.swap=max", "pids=max", "freeze=true"]),
        cx,
    );
    assert_eq!(
        r.lines,
        vec![
            "docker update --memory-swap -1 --pids-limit -1 web",
            "docker pause web"
        ]
    );
    // cpu=max: the flag that works in the kernel, and its catch.
    let cx = Context {
        docker_cpu: super::owner::CpuStyle::Cpus,
        ..cx
    };
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["cpu=max"]),
        cx,
    );
    assert_eq!(r.lines, vec!["docker update --cpu-quota -1 web"]);
    assert!(r.missing[0].contains("NanoCpus"), "{:?}", r.missing);
}

#[test]
fn the_owner_note_names_the_owner_and_its_command() {
    let s = settings(&["cpu=50%"]);
    let note = owner_hint(&docker_web(), &s).unwrap();
    assert!(note.contains("docker inspect"), "{note}");
    assert!(note.ends_with("\n  docker update --cpus 0.5 web"), "{note}");
    let unit = Identity {
        kind: Some("systemd-unit".into()),
        name: Some("nginx.service".into()),
        unit: Some("nginx.service".into()),
        ..Identity::default()
    };
    let note = owner_hint(&unit, &s).unwrap();
    assert!(
        note.contains("systemctl set-property --runtime nginx.service CPUQuota=50%"),
        "{note}"
    );
    let pod = Identity {
        kind: Some("containerd".into()),
        name: Some("nginx".into()),
        pod: Some("web".into()),
        namespace: Some("prod".into()),
        ..Identity::default()
    };
    assert!(owner_hint(&pod, &s).unwrap().contains("Kubernetes"));
    let cg = Identity {
        kind: Some("cgdash".into()),
        name: Some("demo".into()),
        ..Identity::default()
    };
    assert_eq!(owner_hint(&cg, &s), None, "cgdash's own group");
    assert_eq!(owner_hint(&Identity::default(), &s), None);
    let conmon = Identity {
        kind: Some("conmon".into()),
        name: Some("api".into()),
        ..Identity::default()
    };
    assert!(owner_hint(&conmon, &s).unwrap().contains("helper"));
}

/// Rootless engines: containers under `user@<uid>.service`, metadata in
/// that user's home (`~/.local/share/containers/storage`, `~/.local/share/docker`).
#[test]
fn rootless_containers_are_named_from_the_users_home() {
    let mut r = Resolver::new(roots())
        .with_home_lookup(|uid| (uid == 1000).then(|| tree::fixtures().join("home")));
    let base = "user.slice/user-1000.slice/user@1000.service/user.slice";
    let pm = "f0f0f0f0e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let dk = "f1f1f1f1e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let i = r.identity(&format!("{base}/libpod-{pm}.scope"), Some(1));
    assert_eq!(
        (i.kind.as_deref(), i.name.as_deref(), i.image.as_deref()),
        (
            Some("podman"),
            Some("toolbox-42"),
            Some("registry.fedoraproject.org/fedora-toolbox:42")
        )
    );
    let i = r.identity(&format!("{base}/docker-{dk}.scope"), Some(1));
    assert_eq!(i.name.as_deref(), Some("rootless-web"));
    // Another user's: not in uid 1000's home, and not in root's store.
    let other = "user.slice/user-1001.slice/user@1001.service/user.slice";
    let i = r.identity(&format!("{other}/libpod-{pm}.scope"), Some(1));
    assert_eq!((i.kind.as_deref(), i.name.clone()), (Some("podman"), None));
    // Root's containers are not looked for in a user's store.
    let i = r.identity(
        &format!("{base}/libpod-{}.scope", tree::PODMAN_VFS),
        Some(1),
    );
    assert_eq!(i.name, None);
}

/// docker refuses to switch a container between `--cpus` and
/// `--cpu-quota`: the note follows the container's `hostconfig.json`
/// (both files written by docker 28 here: one run with `--cpus`, one with
/// `--cpu-quota`).
#[test]
fn docker_cpu_flag_follows_how_the_container_was_made() {
    use super::owner::CpuStyle;
    let r = Resolver::new(roots());
    let style = |p: String| r.owner_context(&p).docker_cpu;
    assert_eq!(
        style(format!("docker/{}", tree::DOCKER_CGROUPFS)),
        CpuStyle::Cpus
    );
    assert_eq!(
        style(format!(
            "system.slice/docker-{}.scope",
            tree::DOCKER_SYSTEMD
        )),
        CpuStyle::Quota { period_us: 0 }
    );
    assert_eq!(
        style(format!("docker/{}", tree::DOCKER_K8S)),
        CpuStyle::Unset,
        "no hostconfig.json"
    );
    assert_eq!(style("system.slice/cron.service".into()), CpuStyle::Unset);
    let (_d, l) = layout();
    let s = settings(&["cpu=40%"]);
    let quota = Context {
        docker_cpu: CpuStyle::Quota { period_us: 50_000 },
        ..Context::default()
    };
    let r = render(Form::Docker, &l, "x", &docker_web(), &s, quota);
    assert_eq!(r.lines, vec!["docker update --cpu-quota 20000 web"]);
    let cpus = Context {
        docker_cpu: CpuStyle::Cpus,
        ..Context::default()
    };
    let r = render(Form::Docker, &l, "x", &docker_web(), &s, cpus);
    assert_eq!(r.lines, vec!["docker update --cpus 0.4 web"]);
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["cpu.period=50ms"]),
        cpus,
    );
    assert!(r.lines.is_empty(), "{:?}", r.lines);
    assert!(
        r.missing[0].contains("refuses --cpu-period"),
        "{:?}",
        r.missing
    );
    // The caveat of cpu=max only for a --cpus container.
    let r = render(
        Form::Docker,
        &l,
        "x",
        &docker_web(),
        &settings(&["cpu=max"]),
        quota,
    );
    assert_eq!((r.lines.len(), r.missing.len()), (1, 0));
    // podman's record is not read: --cpus.
    let r = render(Form::Podman, &l, "x", &docker_web(), &s, quota);
    assert_eq!(r.lines, vec!["podman update --cpus 0.4 web"]);
}
