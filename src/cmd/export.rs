//! `cgdash export`: serve the groups as a Prometheus scrape target
//! (`cgdash::export`). Loopback only unless `--allow-remote`: the metrics
//! name every group, container and image on the host, and the endpoint has
//! no authentication (put a proxy with TLS and auth in front of it, or let
//! Prometheus scrape it over a private network, when it must be remote).

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use cgdash::cgroup::{self, Layout};
use cgdash::export::{http, Exporter, Filters};
use cgdash::sampler::Sampler;

use crate::cli::ExportArgs;

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let bad = |msg: String| {
        cgdash::errln!("cgdash: {msg}");
        Ok(ExitCode::from(2))
    };
    let addr: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(_) => {
            return bad(format!(
                "--listen `{}` is not IP:PORT (e.g. 127.0.0.1:9789 or [::1]:9789)",
                args.listen
            ))
        }
    };
    if !addr.ip().is_loopback() && !args.allow_remote {
        return bad(format!(
            "--listen {addr} is not a loopback address: the metrics name every group, \
             container and image on this host and have no authentication; add \
             --allow-remote to serve them on {addr} anyway"
        ));
    }
    for k in &args.kind {
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad(format!(
                "--kind `{}`: kinds are lowercase words like docker, podman, k8s-pod, systemd-unit",
                cgdash::output::escape_controls(k)
            ));
        }
    }
    let mut sampler = match &args.root {
        Some(root) => Sampler::cgroups_only(
            Layout::from_root(root).with_context(|| format!("--root {}", root.display()))?,
        ),
        // Groups only: no series is per process, so no /proc/PID file is read.
        None => {
            // The host's groups: their members' `/proc/PID/net/dev` too
            // (container_network_*); a --root tree's pids are not ours.
            let mut s = Sampler::cgroups_only(Layout::detect()?);
            s.set_net(Some("/proc".into()));
            s
        }
    };
    // Labels from the engines' files under the flags' / environment's roots.
    sampler.set_names(Some(cgdash::names::Resolver::new(super::limits::roots(
        &args.names,
    ))));
    if let Some(g) = &args.group {
        let g = match cgroup::validate_group_name(g) {
            Ok(g) => g,
            Err(e) => return bad(format!("--group: {e}")),
        };
        // A prefix for groups that may appear later (e.g. cgdash/ before
        // the first `cgdash run`): a note, not an error.
        if !sampler.layout().group_exists(&g) {
            cgdash::errln!(
                "cgdash: note: group `{}` does not exist (yet); exporting it when it appears",
                cgroup::display_path(&g)
            );
        }
        sampler.set_group_filter(Some(&g));
    }
    let listener = TcpListener::bind(addr).with_context(|| format!("--listen {addr}"))?;
    let local = listener.local_addr().context("listening socket")?;
    let exporter = Arc::new(Exporter::new(
        sampler,
        args.min_interval,
        Filters {
            kinds: args.kind,
            depth: args.depth,
        },
    ));
    // One line on stdout, the address actually bound (port 0 picks one):
    // scripts and tests read it.
    let _ =
        cgdash::output::print_stdout(&format!("cgdash export: serving http://{local}/metrics\n"));
    http::serve(listener, exporter.handler(), http::Limits::default()).context("serving HTTP")?;
    Ok(ExitCode::SUCCESS)
}
