//! Text output that can't be turned against the reader, and can't crash.
//!
//! Process command lines and group names are chosen by any user: printed
//! raw, an ESC or CSI (U+009B) in them drives root's terminal (clear the
//! screen, set the title, fake output). Every text output escapes them with
//! [`escape_controls`] (the dashboard drops them: ratatui skips control
//! characters). JSON output goes through [`escape_json`]: serde escapes only
//! C0 controls, not DEL or C1 (CSI U+009B).
//!
//! Writing to stdout with `println!` panics on a closed pipe
//! (`cgdash snapshot | head`): Rust ignores SIGPIPE, so the write fails with
//! EPIPE instead of killing the process. [`print_stdout`] reports that as an
//! error kind the caller can turn into a quiet exit, like `ls | head`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::ExitCode;

/// Exit status after a broken pipe on stdout: 128 + SIGPIPE, what a program
/// killed by SIGPIPE reports to the shell (`ls | head` under `pipefail`).
pub const BROKEN_PIPE_EXIT: u8 = 141;

/// Whether `c` must not reach a terminal as it is: C0 controls, DEL, C1
/// controls (U+0080–U+009F, CSI U+009B among them), and the bidirectional
/// overrides / isolates and line separators that reorder or split what is
/// shown (a name that displays as another).
pub fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every dangerous character written as an escape: `\x1b` for
/// ASCII ones, `\u{9b}` for the others (newline and tab included: a name is
/// one line). Borrows when there is nothing to escape (the usual case).
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_where(s, is_dangerous)
}

/// For multi-line messages (errors): as [`escape_controls`], but newlines
/// and tabs are kept (the messages' own layout uses them).
pub fn escape_message(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && c != '\t' && is_dangerous(c))
}

fn escape_where(s: &str, bad: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// JSON text from serde, with the dangerous characters serde leaves raw
/// (DEL, C1 controls such as CSI U+009B, bidi overrides: it escapes only
/// those below U+0020) written as `\uXXXX` escapes. They can only occur
/// inside string literals (JSON's own syntax is ASCII), where the escape
/// means the same character: the parsed value is unchanged. Raw newlines,
/// tabs and CRs are JSON's whitespace (serde escapes them inside strings).
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let bad = |c: char| !matches!(c, '\n' | '\t' | '\r') && is_dangerous(c);
    if !json.chars().any(bad) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if bad(c) {
            // All of them are in the Basic Multilingual Plane: one \uXXXX.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `text` to stdout and flushes; errors are returned (never a panic).
pub fn print_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The exit status for the result of writing a command's output: success;
/// a closed pipe is a quiet [`BROKEN_PIPE_EXIT`] (the reader stopped
/// reading, as `head` does: not an error worth a message); anything else
/// (a full disk, EIO) is an error naming standard output.
pub fn stdout_status(written: io::Result<()>) -> anyhow::Result<ExitCode> {
    match written {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::from(BROKEN_PIPE_EXIT)),
        Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
    }
}

/// Writes one message line to stderr, escaped with [`escape_message`];
/// a failed write (stderr closed or a broken pipe) is ignored, never a panic.
pub fn eprint_message(msg: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}", escape_message(msg));
}

/// `eprintln!` for cgdash's messages: escaped (group names and commands in
/// them can hold terminal escapes), and no panic when stderr is gone.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::eprint_message(&format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_text_is_not() {
        assert!(matches!(
            escape_controls("cgdash/demo é ✓"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\u{1b}]0;owned\u{7}b\u{9b}2J\u{7f}\n"),
            "a\\x1b]0;owned\\x07b\\u{9b}2J\\x7f\\x0a"
        );
        assert_eq!(escape_controls("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(escape_message("one\n\ttwo\u{1b}[2J"), "one\n\ttwo\\x1b[2J");
    }

    #[test]
    fn json_keeps_its_value_without_raw_controls() {
        let v = serde_json::json!({"command": "a\u{1b}[2J\u{9b}31m\u{7f}\u{202e}z é"});
        let raw = serde_json::to_string_pretty(&v).unwrap();
        let safe = escape_json(&raw);
        assert!(
            !safe.chars().any(|c| c != '\n' && is_dangerous(c)),
            "{safe}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }
}
