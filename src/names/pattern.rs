//! Group path patterns: what a cgroup's own name says about who made it.
//! Pure string work, no I/O; the engines' metadata is joined in by the
//! other files of this module.
//!
//! Both cgroup drivers are covered: systemd's (`docker-<id>.scope`,
//! `libpod-<id>.scope`, `kubepods-burstable-pod<uid>.slice`, …) and
//! cgroupfs' (`docker/<id>`, `libpod_parent/libpod-<id>`,
//! `kubepods/burstable/pod<uid>/<id>`, …).

/// What one path component is, given its parent's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// `docker-<id>.scope` (systemd driver) or `docker/<id>` (cgroupfs).
    Docker(String),
    /// `libpod-<id>.scope` (systemd) or `libpod_parent/libpod-<id>` (cgroupfs).
    Podman(String),
    /// `libpod-conmon-<id>.scope`: podman's monitor of one container.
    /// `None`: `libpod_parent/conmon`, where the cgroupfs manager puts the
    /// monitors of every container together.
    PodmanConmon(Option<String>),
    /// `machine-libpod_pod_<id>.slice` or `libpod_parent/<id>`: a podman pod.
    PodmanPod(String),
    /// `cri-containerd-<id>.scope`.
    Containerd(String),
    /// `crio-<id>.scope`.
    Crio(String),
    /// `crio-conmon-<id>.scope`.
    CrioConmon(String),
    /// A bare 64-hex-digit container id (cgroupfs drivers: under a pod, or
    /// under a containerd namespace): the engine is found from the metadata.
    BareId(String),
    /// `kubepods-…-pod<uid>.slice` or `kubepods/…/pod<uid>`: the uid in its
    /// usual form (dashes; the systemd driver writes underscores).
    K8sPod(String),
    /// `lxc.payload.<name>`, `lxc.payload/<name>`, or `lxc/<name>` (LXC < 4).
    Lxc(String),
    /// `lxc.monitor.<name>`: LXC's monitor of one container.
    LxcMonitor(String),
    /// `machine-<name>.scope` (systemd-machined: nspawn, libvirt) or
    /// `systemd-nspawn@<name>.service`; the name unescaped.
    Machine(String),
    /// A systemd unit: `kind` is systemd-unit, systemd-slice or systemd-scope.
    Unit(&'static str),
    /// `cgdash/<name>`: a workload cgdash launched.
    Cgdash(String),
}

/// Whether `s` is a full container id: 64 lowercase hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn id_between(comp: &str, prefix: &str, suffix: &str) -> Option<String> {
    let id = comp.strip_prefix(prefix)?.strip_suffix(suffix)?;
    is_id(id).then(|| id.to_string())
}

/// systemd's unit-name escaping undone: `\x2d` → `-` (machine names).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1] == b'x'
            && b[i + 2].is_ascii_hexdigit()
            && b[i + 3].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(b[i + 2]) * 16 + hex(b[i + 3]));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last component of `parent` (`""` for the root).
fn last(parent: &str) -> &str {
    parent.rsplit('/').next().unwrap_or("")
}

/// Classifies component `comp` of a group whose parent is `parent`
/// (internal form: no slashes at the ends, `""` = the root).
pub fn classify(parent: &str, comp: &str) -> Option<Part> {
    let up = last(parent);
    if let Some(id) = id_between(comp, "docker-", ".scope") {
        return Some(Part::Docker(id));
    }
    if let Some(id) = id_between(comp, "libpod-conmon-", ".scope") {
        return Some(Part::PodmanConmon(Some(id)));
    }
    if let Some(id) =
        id_between(comp, "libpod-", ".scope").or_else(|| id_between(comp, "libpod-", ""))
    {
        return Some(Part::Podman(id));
    }
    if comp == "conmon" && up == "libpod_parent" {
        return Some(Part::PodmanConmon(None));
    }
    if let Some(id) = comp
        .strip_prefix("machine-libpod_pod_")
        .and_then(|r| r.strip_suffix(".slice"))
    {
        return Some(Part::PodmanPod(id.to_string()));
    }
    if let Some(id) = id_between(comp, "cri-containerd-", ".scope") {
        return Some(Part::Containerd(id));
    }
    if let Some(id) = id_between(comp, "crio-conmon-", ".scope") {
        return Some(Part::CrioConmon(id));
    }
    if let Some(id) = id_between(comp, "crio-", ".scope") {
        return Some(Part::Crio(id));
    }
    if is_id(comp) {
        return Some(if up == "docker" {
            Part::Docker(comp.to_string())
        } else if up == "libpod_parent" {
            // podman's cgroupfs manager: a pod's group, its containers inside.
            Part::PodmanPod(comp.to_string())
        } else {
            Part::BareId(comp.to_string())
        });
    }
    if let Some(uid) = pod_uid(parent, comp) {
        return Some(Part::K8sPod(uid));
    }
    if let Some(n) = comp.strip_prefix("lxc.payload.") {
        return Some(Part::Lxc(n.to_string()));
    }
    if let Some(n) = comp.strip_prefix("lxc.monitor.") {
        return Some(Part::LxcMonitor(n.to_string()));
    }
    if (up == "lxc" || up == "lxc.payload") && parent == up {
        return Some(Part::Lxc(comp.to_string()));
    }
    if let Some(n) = comp
        .strip_prefix("machine-")
        .and_then(|r| r.strip_suffix(".scope"))
    {
        return Some(Part::Machine(unescape(n)));
    }
    if let Some(n) = comp
        .strip_prefix("systemd-nspawn@")
        .and_then(|r| r.strip_suffix(".service"))
    {
        return Some(Part::Machine(unescape(n)));
    }
    if parent == "cgdash" {
        return Some(Part::Cgdash(comp.to_string()));
    }
    let unit = [
        (".service", "systemd-unit"),
        (".socket", "systemd-unit"),
        (".mount", "systemd-unit"),
        (".swap", "systemd-unit"),
        (".slice", "systemd-slice"),
        (".scope", "systemd-scope"),
    ];
    for (suffix, kind) in unit {
        if comp.len() > suffix.len() && comp.ends_with(suffix) {
            return Some(Part::Unit(kind));
        }
    }
    None
}

/// The pod uid of a kubelet pod group: `kubepods-besteffort-pod<uid>.slice`,
/// `kubepods-pod<uid>.slice` (systemd driver, `_` for `-`) or `pod<uid>`
/// under a `kubepods` group (cgroupfs).
fn pod_uid(parent: &str, comp: &str) -> Option<String> {
    let uid = if let Some(rest) = comp.strip_prefix("kubepods-") {
        let rest = rest.strip_suffix(".slice")?;
        let at = rest.rfind("pod")?;
        rest[at + 3..].replace('_', "-")
    } else {
        let under_kubepods = parent
            .split('/')
            .any(|c| c == "kubepods" || c.starts_with("kubepods.") || c.starts_with("kubepods-"));
        if !under_kubepods {
            return None;
        }
        comp.strip_prefix("pod")?.to_string()
    };
    let ok = uid.len() >= 8 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6099c411a64bf5d6ed91a6efb0f7e25088efc46ad06bd1c605bead257e9e2a1c";

    fn c(path: &str) -> Option<Part> {
        let (parent, comp) = path.rsplit_once('/').unwrap_or(("", path));
        classify(parent, comp)
    }

    #[test]
    fn container_engines_both_drivers() {
        let id = || ID.to_string();
        assert_eq!(
            c(&format!("system.slice/docker-{ID}.scope")),
            Some(Part::Docker(id()))
        );
        assert_eq!(c(&format!("docker/{ID}")), Some(Part::Docker(id())));
        assert_eq!(
            c(&format!("machine.slice/libpod-{ID}.scope")),
            Some(Part::Podman(id()))
        );
        assert_eq!(
            c(&format!("libpod_parent/libpod-{ID}")),
            Some(Part::Podman(id()))
        );
        assert_eq!(
            c(&format!("machine.slice/libpod-conmon-{ID}.scope")),
            Some(Part::PodmanConmon(Some(id())))
        );
        assert_eq!(c("libpod_parent/conmon"), Some(Part::PodmanConmon(None)));
        assert_eq!(c("conmon"), None, "only libpod_parent's conmon");
        assert_eq!(
            c("machine.slice/machine-libpod_pod_abc123.slice"),
            Some(Part::PodmanPod("abc123".into()))
        );
        let pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e3d4c_5b6a_4789_9abc_def012345678.slice";
        assert_eq!(
            c(pod),
            Some(Part::K8sPod("1f2e3d4c-5b6a-4789-9abc-def012345678".into()))
        );
        assert_eq!(
            c(&format!("{pod}/cri-containerd-{ID}.scope")),
            Some(Part::Containerd(id()))
        );
        assert_eq!(c(&format!("{pod}/crio-{ID}.scope")), Some(Part::Crio(id())));
        assert_eq!(
            c(&format!("{pod}/crio-conmon-{ID}.scope")),
            Some(Part::CrioConmon(id()))
        );
        assert_eq!(
            c("kubepods.slice/kubepods-podaaaabbbb_cccc_dddd_eeee_ffff00001111.slice"),
            Some(Part::K8sPod("aaaabbbb-cccc-dddd-eeee-ffff00001111".into())),
            "guaranteed pods sit right under kubepods.slice"
        );
        assert_eq!(
            c("kubepods/besteffort/pod1f2e3d4c-5b6a-4789-9abc-def012345678"),
            Some(Part::K8sPod("1f2e3d4c-5b6a-4789-9abc-def012345678".into()))
        );
        assert_eq!(
            c(&format!(
                "kubepods/besteffort/pod1f2e3d4c-5b6a-4789-9abc-def012345678/{ID}"
            )),
            Some(Part::BareId(id()))
        );
        assert_eq!(
            c("somewhere/pod1234abcd"),
            None,
            "pod<uid> only under kubepods"
        );
        assert_eq!(
            c("kubepods.slice/kubepods-burstable.slice"),
            Some(Part::Unit("systemd-slice"))
        );
    }

    #[test]
    fn ids_must_be_whole() {
        assert_eq!(
            c("system.slice/docker-abc.scope"),
            Some(Part::Unit("systemd-scope"))
        );
        assert_eq!(c(&format!("docker/{}", &ID[..63])), None);
        assert_eq!(c(&format!("docker/{}", ID.to_uppercase())), None);
    }

    #[test]
    fn lxc_nspawn_systemd_cgdash() {
        assert_eq!(c("lxc.payload.web1"), Some(Part::Lxc("web1".into())));
        assert_eq!(c("lxc.monitor.web1"), Some(Part::LxcMonitor("web1".into())));
        assert_eq!(c("lxc/old1"), Some(Part::Lxc("old1".into())));
        assert_eq!(c("lxc.payload/c2"), Some(Part::Lxc("c2".into())));
        assert_eq!(c("x/lxc/old1"), None);
        assert_eq!(
            c(r"machine.slice/machine-deb\x2dbox.scope"),
            Some(Part::Machine("deb-box".into()))
        );
        assert_eq!(
            c(r"machine.slice/systemd-nspawn@arch.service"),
            Some(Part::Machine("arch".into()))
        );
        assert_eq!(
            c("system.slice/nginx.service"),
            Some(Part::Unit("systemd-unit"))
        );
        assert_eq!(c("system.slice"), Some(Part::Unit("systemd-slice")));
        assert_eq!(
            c("user.slice/user-1000.slice/session-3.scope"),
            Some(Part::Unit("systemd-scope"))
        );
        assert_eq!(c("init.scope"), Some(Part::Unit("systemd-scope")));
        assert_eq!(c(".service"), None);
        assert_eq!(c("cgdash/demo"), Some(Part::Cgdash("demo".into())));
        assert_eq!(c("x/cgdash/demo"), None);
        assert_eq!(c("cgdash"), None);
    }

    #[test]
    fn unescape_is_systemds() {
        assert_eq!(unescape(r"a\x2db\x2dc"), "a-b-c");
        assert_eq!(unescape(r"trail\x2"), r"trail\x2");
        assert_eq!(unescape(r"bad\xzz"), r"bad\xzz");
        assert_eq!(unescape("plain"), "plain");
    }
}
