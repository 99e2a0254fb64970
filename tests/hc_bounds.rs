//! issue 12 #4: every knob's limits, at and just past each boundary.

use cgdash::cgroup::knob::{parse_settings_on, Host, KnobError, Setting};
use cgdash::cgroup::{CpuQuota, Knob, Limit, Value};

const TWO: Host = Host { cpus: 2 };

fn ok(s: &str) -> Value {
    Setting::parse_on(s, TWO)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .value
}

fn err(s: &str) -> KnobError {
    match Setting::parse_on(s, TWO) {
        Ok(v) => panic!("{s} accepted as {v}"),
        Err(e) => e,
    }
}

#[test]
fn hc_pids_bounds() {
    assert_eq!(ok("pids=0"), Value::Count(Limit::Value(0)));
    assert_eq!(ok("pids=4194304"), Value::Count(Limit::Value(4_194_304)));
    for above in [
        "4194305",
        "2147483647",
        "2147483648",
        "18446744073709551615",
        "18446744073709551616",
    ] {
        let e = err(&format!("pids={above}")).to_string();
        assert!(e.contains("pids"), "{above}: {e}");
    }
    assert!(err("pids=4194305").to_string().contains("4194304"));
    assert_eq!(ok("pids=max"), Value::Count(Limit::Max));
    assert!(matches!(err("pids=-2"), KnobError::BadValue { .. }));
}

#[test]
fn hc_cpu_bounds() {
    // 1 % is the kernel's minimum quota (1 ms per 100 ms).
    assert_eq!(ok("cpu=1%"), Value::Cpu(CpuQuota::CentiPercent(100)));
    assert!(matches!(err("cpu=0.99%"), KnobError::BadValue { .. }));
    // The host's CPUs are the ceiling: 200 % on 2 CPUs, not 200.1 %.
    assert_eq!(ok("cpu=200%"), Value::Cpu(CpuQuota::CentiPercent(20_000)));
    assert_eq!(ok("cpu=2"), Value::Cpu(CpuQuota::CentiPercent(20_000)));
    assert!(matches!(err("cpu=200.1%"), KnobError::AboveHost { .. }));
    assert!(matches!(err("cpu=2.01"), KnobError::AboveHost { .. }));
    assert!(Setting::parse_on("cpu=100000%", Host { cpus: 1000 }).is_ok());
    assert!(matches!(
        Setting::parse_on("cpu=100001%", Host { cpus: 2000 }),
        Err(KnobError::BadValue { .. })
    ));
    assert!(matches!(
        Setting::parse_on("cpu=200.1%", Host { cpus: 3 }),
        Ok(Setting {
            knob: Knob::Cpu,
            ..
        })
    ));
}

#[test]
fn hc_period_and_weight_bounds() {
    assert_eq!(ok("cpu.period=1ms"), Value::CpuPeriod(1_000));
    assert_eq!(ok("cpu.period=1000us"), Value::CpuPeriod(1_000));
    assert_eq!(ok("cpu.period=1s"), Value::CpuPeriod(1_000_000));
    for bad in ["1us", "1", "999us", "0.9ms", "1000001us", "1.1s", "0"] {
        assert!(
            matches!(
                err(&format!("cpu.period={bad}")),
                KnobError::BadValue { .. }
            ),
            "{bad}"
        );
    }
    assert_eq!(ok("cpu.weight=1"), Value::CpuWeight(1));
    assert_eq!(ok("cpu.weight=10000"), Value::CpuWeight(10_000));
    for bad in ["0", "10001", "-1", "1.5"] {
        assert!(
            matches!(
                err(&format!("cpu.weight={bad}")),
                KnobError::BadValue { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn hc_burst_bounds() {
    assert_eq!(ok("cpu.burst=0"), Value::CpuPeriod(0));
    assert_eq!(ok("cpu.burst=1us"), Value::CpuPeriod(1));
    assert_eq!(ok("cpu.burst=1000s"), Value::CpuPeriod(1_000_000_000));
    assert!(matches!(
        err("cpu.burst=1000000001us"),
        KnobError::BadValue { .. }
    ));
    assert_eq!(
        ok("cpu.burst=100%"),
        Value::Cpu(CpuQuota::CentiPercent(10_000))
    );
    assert!(matches!(
        err("cpu.burst=100.01%"),
        KnobError::BadValue { .. }
    ));
}

#[test]
fn hc_size_bounds() {
    for k in ["memory", "memory.high", "memory.swap"] {
        assert_eq!(ok(&format!("{k}=0")), Value::Bytes(Limit::Value(0)));
        // 2^62 bytes is the cap; anything above is refused, not wrapped.
        assert_eq!(
            ok(&format!("{k}=4194304T")),
            Value::Bytes(Limit::Value(1 << 62))
        );
        assert_eq!(
            ok(&format!("{k}=4611686018427387904")),
            Value::Bytes(Limit::Value(1 << 62))
        );
        for bad in [
            "4194305T",
            "9223372036854775808",
            "1e30",
            "99999999999999999999G",
        ] {
            let e = err(&format!("{k}={bad}"));
            assert!(matches!(e, KnobError::BadValue { .. }), "{k}={bad}: {e}");
        }
        assert_eq!(ok(&format!("{k}=max")), Value::Bytes(Limit::Max));
    }
}

#[test]
fn hc_lists_and_freeze() {
    assert_eq!(ok("cpuset.cpus=0"), Value::List("0".into()));
    assert_eq!(
        ok("cpuset.cpus=4294967295"),
        Value::List("4294967295".into())
    );
    assert!(matches!(
        err("cpuset.cpus=4294967296"),
        KnobError::BadValue { .. }
    ));
    assert!(matches!(err("cpuset.mems=1-0"), KnobError::BadValue { .. }));
    assert!(matches!(
        err("cpuset.mems=0,,1"),
        KnobError::BadValue { .. }
    ));
    assert_eq!(ok("freeze=frozen"), Value::Bool(true));
    assert_eq!(ok("freeze=thawed"), Value::Bool(false));
    assert!(matches!(err("freeze=2"), KnobError::BadValue { .. }));
    // Every error lists all of them at once.
    let errs =
        parse_settings_on(&["pids=4194305", "cpu.period=1us", "memory=4194305T"], TWO).unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:?}");
}
