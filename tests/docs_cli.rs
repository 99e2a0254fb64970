//! `cgdash completions SHELL` and `cgdash man` (issue 11, item 23), checked
//! against the real binary: the list of commands comes from `cgdash --help`,
//! so a command added later must show up in both or this fails.
//!
//! The page is rendered by the host's groff (and man, if installed) with every
//! warning on. Without groff the page tests skip with a message — unless
//! `CGDASH_LIVE_TESTS=required` (CI installs groff-base and man-db).

use std::io::Write;
use std::process::{Command, Output, Stdio};

const CGDASH: &str = env!("CARGO_BIN_EXE_cgdash");

fn cgdash(args: &[&str]) -> Output {
    let out = Command::new(CGDASH)
        .args(args)
        .output()
        .expect("run cgdash");
    assert!(
        out.status.success(),
        "cgdash {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(cgdash(args).stdout).expect("UTF-8 output")
}

/// The commands `cgdash --help` lists (clap's `help` aside).
fn commands() -> Vec<String> {
    let help = stdout(&["--help"]);
    let list: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    // The parse must not come back (nearly) empty and pass vacuously.
    for known in [
        "demo",
        "run",
        "snapshot",
        "set",
        "stress",
        "completions",
        "man",
    ] {
        assert!(
            list.iter().any(|c| c == known),
            "`{known}` not in --help's commands {list:?}:\n{help}"
        );
    }
    list
}

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let required = std::env::var("CGDASH_LIVE_TESTS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "{name} is not installed but CGDASH_LIVE_TESTS=required"
        );
        eprintln!("SKIP: {name} is not installed");
    }
    found
}

#[test]
fn every_shell_gets_every_command_and_no_hidden_one() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&["completions", shell]);
        for c in &commands {
            assert!(script.contains(c.as_str()), "{shell}: no `{c}`");
        }
        // The launcher's internal re-exec entry point is not for users.
        assert!(!script.contains("__launch"), "{shell} offers `__launch`");
    }
    let out = Command::new(CGDASH)
        .args(["completions", "tcsh"])
        .output()
        .expect("run cgdash");
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad input");
}

/// What bash itself completes after `cgdash ` with the script loaded, and
/// after `cgdash stress ` / `cgdash run --cpu`.
#[test]
fn bash_completes_the_commands() {
    let script = stdout(&["completions", "bash"]);
    let complete = |words: &[&str]| -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let cur = words.last().copied().unwrap_or("");
        let prev = words[words.len() - 2];
        let probe = format!(
            "COMP_WORDS=({}); COMP_CWORD={}; _cgdash cgdash '{cur}' '{prev}'; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            quoted.join(" "),
            words.len() - 1
        );
        let mut child = Command::new("bash")
            .args(["--norc", "--noprofile", "-s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bash");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(script.as_bytes()).expect("feed bash");
        stdin.write_all(b"\n").expect("feed bash");
        stdin.write_all(probe.as_bytes()).expect("feed bash");
        drop(stdin);
        let out = child.wait_with_output().expect("bash");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "bash: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let top = complete(&["cgdash", ""]);
    for c in commands() {
        assert!(top.contains(&c), "`cgdash <Tab>` lacks {c}: {top:?}");
    }
    assert!(!top.iter().any(|w| w == "__launch"), "{top:?}");
    let stress = complete(&["cgdash", "stress", ""]);
    for c in ["cpu", "memory", "fork"] {
        assert!(stress.contains(&c.to_owned()), "{stress:?}");
    }
    let run = complete(&["cgdash", "run", "--cpu"]);
    assert!(run.contains(&"--cpu-period".to_owned()), "{run:?}");
}

#[test]
fn man_page_is_clean_roff_with_every_command() {
    let page = stdout(&["man"]);
    assert!(page.is_ascii(), "non-ASCII left in the page");
    let title = page
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH line");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        title,
        format!(".TH CGDASH 1 \"\" \"cgdash {version}\" \"User Commands\"")
    );
    for c in commands() {
        assert!(
            page.contains(&format!(".SS \"cgdash {c}\"")),
            "no section for `cgdash {c}`"
        );
    }
    for nested in ["stress cpu", "stress memory", "stress fork"] {
        assert!(page.contains(&format!(".SS \"cgdash {nested}\"")));
    }
    assert!(page.contains(".SH \"EXIT STATUS\""));
    assert!(!page.contains("__launch"));

    if !tool("groff") {
        return;
    }
    // -ww: every warning; -z: no output, only the diagnostics.
    let groff = |args: &[&str]| -> Output {
        let mut child = Command::new("groff")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run groff");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(page.as_bytes())
            .expect("feed groff");
        child.wait_with_output().expect("groff")
    };
    let check = groff(&["-man", "-Tutf8", "-ww", "-z"]);
    assert!(
        check.status.success() && check.stderr.is_empty(),
        "groff warns: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let text = plain(&String::from_utf8_lossy(&groff(&["-man", "-Tutf8"]).stdout));
    for c in commands() {
        assert!(text.contains(&format!("cgdash {c}")), "rendered: no {c}");
    }
    assert!(text.contains("1\u{2013}10000"), "the en dash, rendered");
    // The footer: source (name and version) left, the page's name right.
    let footer = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("a footer");
    assert!(
        footer.starts_with(&format!("cgdash {version}")) && footer.ends_with("CGDASH(1)"),
        "footer: {footer:?}"
    );

    if !tool("man") {
        return;
    }
    let mut child = Command::new("man")
        .args(["-l", "-"])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run man");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("feed man");
    let man = child.wait_with_output().expect("man");
    assert!(
        man.status.success() && man.stderr.is_empty(),
        "man -l -: {:?}\n{}",
        man.status,
        String::from_utf8_lossy(&man.stderr)
    );
    assert!(plain(&String::from_utf8_lossy(&man.stdout)).contains("EXIT STATUS"));
}

/// Terminal output without its overstrikes (`c\bc` bold, `_\bc` underline).
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

/// `cgdash man | head` ends quietly; a full disk is an error that says so.
#[test]
fn closed_pipe_is_quiet_and_full_disk_is_an_error() {
    for args in [&["man"][..], &["completions", "bash"][..]] {
        // The reader is gone before cgdash writes: the write gets EPIPE
        // whatever the timing (a pipe opened by the test, read end closed).
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(CGDASH)
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run cgdash");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} into a closed pipe: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{args:?}: quiet");

        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(CGDASH)
            .args(args)
            .stdout(full)
            .stderr(Stdio::piped())
            .output()
            .expect("run cgdash");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} >/dev/full: {err}");
        assert!(err.contains("standard output"), "{err}");
    }
}
