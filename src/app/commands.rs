//! Command lines of the rows the dashboard shows, read when shown (issue
//! 18). The dashboard's sampler leaves command lines unread
//! (`ProcessScanner::set_lazy_commands`): at 10,000 processes reading them
//! all is a third of the first sample's per-process reads, for a table
//! that shows a screenful. A pending row (`ProcessSnapshot::command_pending`)
//! carries only the process's name; its command line is read here the first
//! time the row is drawn, and kept while the process lives.
//!
//! A filter or a sort by command needs every command line: then the
//! sampler reads them all again (`App::needs_all_commands`), and rows come
//! complete.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::model::ProcessSnapshot;

/// Read command lines at most this many are kept; past it they are
/// forgotten all at once (a screenful is re-read on the next draw).
const KEEP: usize = 4096;

#[derive(Debug)]
pub struct CommandLines {
    proc_root: PathBuf,
    /// (pid, start time, name) → command line: another start time or name
    /// (pid reused, exec) is another process's.
    known: HashMap<(i32, u64, Arc<str>), Arc<str>>,
    /// Command lines read (for tests and the curious).
    reads: u64,
}

impl Default for CommandLines {
    fn default() -> Self {
        CommandLines::new(PathBuf::from("/proc"))
    }
}

impl CommandLines {
    pub fn new(proc_root: PathBuf) -> CommandLines {
        CommandLines {
            proc_root,
            known: HashMap::new(),
            reads: 0,
        }
    }

    /// `p`'s command line: its own unless pending, else read now (once).
    /// A process gone before it could be read keeps its name.
    pub fn of(&mut self, p: &ProcessSnapshot) -> Arc<str> {
        if !p.command_pending {
            return p.command.clone();
        }
        let key = (p.pid, p.start_time, p.command.clone());
        if let Some(c) = self.known.get(&key) {
            return c.clone();
        }
        if self.known.len() >= KEEP {
            self.known.clear();
        }
        self.reads += 1;
        let text = crate::process::read_command_line(&self.proc_root, p.pid, &p.command);
        let c: Arc<str> = text.map_or_else(|| p.command.clone(), Arc::from);
        self.known.insert(key, c.clone());
        c
    }

    /// Command lines read so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: i32, name: &str, pending: bool) -> ProcessSnapshot {
        ProcessSnapshot {
            pid,
            start_time: 7,
            command: name.into(),
            command_pending: pending,
            ..Default::default()
        }
    }

    /// A fixture /proc with `pid`'s cmdline.
    fn proc_with(cmdlines: &[(i32, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (pid, raw) in cmdlines {
            let p = d.path().join(pid.to_string());
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("cmdline"), raw).unwrap();
        }
        d
    }

    #[test]
    fn a_pending_row_is_read_once_and_shown_as_the_scanner_would() {
        let d = proc_with(&[(10, b"/bin/sleep\x0030\x00"), (11, b"")]);
        let mut c = CommandLines::new(d.path().into());
        assert_eq!(&*c.of(&row(10, "sleep", true)), "/bin/sleep 30");
        // Kept: the file changing (or going) does not matter any more.
        std::fs::write(d.path().join("10/cmdline"), b"other").unwrap();
        assert_eq!(&*c.of(&row(10, "sleep", true)), "/bin/sleep 30");
        assert_eq!(c.reads(), 1);
        // An empty command line (a zombie) is the bracketed name.
        assert_eq!(&*c.of(&row(11, "zed", true)), "[zed]");
        // Another name (exec) is read again.
        assert_eq!(&*c.of(&row(10, "other", true)), "other");
        assert_eq!(c.reads(), 3);
    }

    #[test]
    fn a_complete_row_is_never_read_and_a_gone_one_keeps_its_name() {
        let d = proc_with(&[]);
        let mut c = CommandLines::new(d.path().into());
        assert_eq!(&*c.of(&row(10, "/usr/bin/x --y", false)), "/usr/bin/x --y");
        assert_eq!(c.reads(), 0);
        assert_eq!(&*c.of(&row(12, "gone", true)), "gone");
    }
}
