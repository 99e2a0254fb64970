//! cgdash: see, launch and change what cgroups and namespaces do to a workload.
//!
//! Data flows one way: `cgroup` + `process` (OS readers on injected roots) →
//! `sampler` (rates, history) → `model::Snapshot` → `app` (pure state) → `ui`
//! (draw only). Writes go back as effects through `cgroup` and `launch`.

pub mod app;
pub mod cgroup;
pub mod event_loop;
pub mod export;
pub mod fds;
pub mod fnv;
pub mod image;
pub mod launch;
pub mod model;
pub mod names;
pub mod net;
pub mod output;
pub mod process;
pub mod sampler;
pub mod stress;
pub mod stress_io;
pub mod stress_net;
pub mod ui;
