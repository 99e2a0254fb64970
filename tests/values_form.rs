//! The dashboard's limit editor goes through the knob grammar: a CPU quota
//! above this host's CPUs is refused there too, and an undo entry keeps a
//! value the kernel already held, whatever it was.

use cgdash::app::form::EditForm;
use cgdash::cgroup::knob::Host;
use cgdash::cgroup::{CpuQuota, Knob, Setting, Value};
use cgdash::model::GroupSnapshot;

fn group(limit_percent: Option<f64>) -> GroupSnapshot {
    let mut g = GroupSnapshot {
        path: "cgdash/hv-form".into(),
        ..Default::default()
    };
    g.cpu.limit_percent = limit_percent;
    g.cpu.period_us = Some(100_000);
    g
}

fn cpu_field(f: &mut EditForm) -> &mut cgdash::app::form::Field {
    let i = f.knobs.iter().position(|&k| k == Knob::Cpu).unwrap();
    &mut f.fields.fields[i]
}

#[test]
fn hv_editor_refuses_a_quota_above_the_host() {
    let cpus = Host::this().cpus;
    let mut f = EditForm::new(&group(Some(20.0)));
    cpu_field(&mut f).input = format!("{}%", (cpus + 1) * 100);
    assert_eq!(f.submit(), Err(1));
    let e = cpu_field(&mut f).error.clone().unwrap();
    assert!(e.contains(&format!("{cpus} CPU")), "{e}");
    cpu_field(&mut f).input = (cpus * 10).to_string();
    assert_eq!(f.submit(), Err(1));
    let e = cpu_field(&mut f).error.clone().unwrap();
    assert!(
        e.contains(&format!("did you mean cpu={}%?", cpus * 10)),
        "{e}"
    );
}

#[test]
fn hv_editor_undo_keeps_a_quota_set_elsewhere() {
    // Someone else set more than every CPU; the editor's undo still holds it.
    let cpus = Host::this().cpus;
    let old = f64::from((cpus + 10) * 100);
    let mut f = EditForm::new(&group(Some(old)));
    cpu_field(&mut f).input = "50%".into();
    let sub = f.submit().expect("50% is valid");
    assert_eq!(
        sub.undo,
        vec![Setting {
            knob: Knob::Cpu,
            value: Value::Cpu(CpuQuota::from_percent(old)),
        }]
    );
}
