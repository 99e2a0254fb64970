//! Forms shown over the dashboard: the limit editor (`e`) and the launch
//! dialog (`n`). Both are a list of text fields validated in place: an invalid
//! field is marked with the reason and nothing is submitted.

use crate::cgroup::knob::{Knob, Setting};
use crate::model::GroupSnapshot;

use super::action::{LaunchField, LaunchRequest};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    /// What was there when the form opened (the editor writes only changes).
    pub original: String,
    pub input: String,
    /// One-line hint shown next to the selected field.
    pub hint: String,
    /// Why the current input is invalid (set on submit).
    pub error: Option<String>,
}

impl Field {
    fn new(label: &'static str, value: String, hint: impl Into<String>) -> Field {
        Field {
            label,
            original: value.clone(),
            input: value,
            hint: hint.into(),
            error: None,
        }
    }

    pub fn changed(&self) -> bool {
        self.input.trim() != self.original.trim()
    }
}

/// A list of fields with one selected; shared by both forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields {
    pub fields: Vec<Field>,
    pub selected: usize,
}

impl Fields {
    pub fn next(&mut self) {
        self.selected = (self.selected + 1) % self.fields.len().max(1);
    }

    pub fn prev(&mut self) {
        let n = self.fields.len().max(1);
        self.selected = (self.selected + n - 1) % n;
    }

    pub fn input(&mut self, c: char) {
        if let Some(f) = self.fields.get_mut(self.selected) {
            f.input.push(c);
            f.error = None;
        }
    }

    pub fn backspace(&mut self) {
        if let Some(f) = self.fields.get_mut(self.selected) {
            f.input.pop();
            f.error = None;
        }
    }

    pub fn clear(&mut self) {
        if let Some(f) = self.fields.get_mut(self.selected) {
            f.input.clear();
            f.error = None;
        }
    }

    pub fn has_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }

    /// Selects the first field with an error.
    fn select_first_error(&mut self) {
        if let Some(i) = self.fields.iter().position(|f| f.error.is_some()) {
            self.selected = i;
        }
    }
}

/// The current value of a knob in the user's syntax, `None` when unknown.
pub fn current_value(g: &GroupSnapshot, knob: Knob) -> Option<String> {
    let v = (knob.def().current)(g)?;
    Some(v.to_string())
}

/// The limit editor of one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditForm {
    /// Display path of the group.
    pub group: String,
    pub knobs: Vec<Knob>,
    pub fields: Fields,
}

/// What a valid editor submission writes, and how to undo it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditSubmission {
    pub settings: Vec<Setting>,
    pub undo: Vec<Setting>,
}

impl EditForm {
    pub fn new(g: &GroupSnapshot) -> EditForm {
        let knobs: Vec<Knob> = Knob::all().collect();
        let fields = knobs
            .iter()
            .map(|&k| {
                Field::new(
                    k.name(),
                    current_value(g, k).unwrap_or_default(),
                    k.syntax(),
                )
            })
            .collect();
        EditForm {
            group: g.path.clone(),
            knobs,
            fields: Fields {
                fields,
                selected: 0,
            },
        }
    }

    /// Validates every changed field; marks errors in place. `Ok` holds only
    /// the changed knobs (possibly none).
    pub fn submit(&mut self) -> Result<EditSubmission, usize> {
        let mut settings = Vec::new();
        let mut undo = Vec::new();
        for (f, &knob) in self.fields.fields.iter_mut().zip(&self.knobs) {
            f.error = None;
            if !f.changed() {
                continue;
            }
            match Setting::parse_value(knob, &f.input) {
                Ok(s) => {
                    settings.push(s);
                    if let Ok(old) = Setting::parse_current(knob, &f.original) {
                        undo.push(old);
                    }
                }
                Err(e) => f.error = Some(short_error(&e.to_string())),
            }
        }
        let errors = self
            .fields
            .fields
            .iter()
            .filter(|f| f.error.is_some())
            .count();
        if errors > 0 {
            self.fields.select_first_error();
            return Err(errors);
        }
        Ok(EditSubmission { settings, undo })
    }
}

impl EditForm {
    /// Marks the field of `knob` as refused by the kernel (the form was
    /// reopened after a failed write) and selects it.
    pub fn mark_refused(&mut self, knob: Knob) {
        if let Some(i) = self.knobs.iter().position(|k| *k == knob) {
            self.fields.fields[i].error =
                Some("refused by the kernel (see the status line)".into());
            self.fields.selected = i;
        }
    }
}

/// `invalid value `x` for memory: unknown unit `q`; expected …` → the reason only.
fn short_error(e: &str) -> String {
    let e = e.split("; expected").next().unwrap_or(e);
    match e.split_once(": ") {
        Some((_, why)) if e.starts_with("invalid value") => why.to_string(),
        _ => e.to_string(),
    }
}

/// The launch dialog (`n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchForm {
    pub fields: Fields,
}

const L_COMMAND: usize = 0;
const L_NAME: usize = 1;
const L_CPU: usize = 2;
const L_MEMORY: usize = 3;
const L_PIDS: usize = 4;
const L_SHARE: usize = 5;
const L_HOSTNAME: usize = 6;
const L_KEEP: usize = 7;
/// Last, so the fields above keep their places (issue 17).
const L_IMAGE: usize = 8;

const SHAREABLE: [&str; 7] = ["net", "ipc", "uts", "pid", "mount", "cgroup", "user"];

impl Default for LaunchForm {
    fn default() -> Self {
        Self::new()
    }
}

impl LaunchForm {
    pub fn new() -> LaunchForm {
        let fields = vec![
            Field::new(
                "command",
                String::new(),
                "program and arguments, e.g. cgdash stress cpu",
            ),
            Field::new(
                "name",
                String::new(),
                "group cgdash/NAME (default: from the command)",
            ),
            Field::new("cpu", String::new(), Knob::Cpu.syntax()),
            Field::new("memory", String::new(), Knob::Memory.syntax()),
            Field::new("pids", String::new(), Knob::Pids.syntax()),
            Field::new(
                "share",
                String::new(),
                "namespaces to share with the host: net,ipc,uts,pid,mount,cgroup",
            ),
            Field::new(
                "hostname",
                String::new(),
                "hostname in its own uts namespace",
            ),
            Field::new(
                "keep",
                "no".into(),
                "yes: keep its group after it exits (--keep)",
            ),
            Field::new(
                "image",
                String::new(),
                "docker save / OCI archive or layout dir (--image); a command replaces its Cmd",
            ),
        ];
        LaunchForm {
            fields: Fields {
                fields,
                selected: 0,
            },
        }
    }

    /// Marks `field` with `why` (a failed launch) and selects it.
    pub fn mark(&mut self, field: LaunchField, why: &str) {
        let i = match field {
            LaunchField::Command => L_COMMAND,
            LaunchField::Name => L_NAME,
            LaunchField::Cpu => L_CPU,
            LaunchField::Memory => L_MEMORY,
            LaunchField::Pids => L_PIDS,
            LaunchField::Share => L_SHARE,
            LaunchField::Hostname => L_HOSTNAME,
            LaunchField::Image => L_IMAGE,
        };
        self.fields.fields[i].error = Some(why.to_string());
        self.fields.selected = i;
    }

    pub fn submit(&mut self) -> Result<LaunchRequest, usize> {
        for f in &mut self.fields.fields {
            f.error = None;
        }
        let get = |i: usize| self.fields.fields[i].input.trim().to_string();
        let mut errors: Vec<(usize, String)> = Vec::new();
        let image = Some(get(L_IMAGE)).filter(|i| !i.is_empty());
        if let Some(i) = &image {
            if let Err(e) = std::fs::metadata(i) {
                errors.push((L_IMAGE, e.to_string()));
            }
        }
        let command = match split_command(&get(L_COMMAND)) {
            // With an image, its Entrypoint/Cmd is the default command.
            Ok(c) if c.is_empty() && image.is_none() => {
                errors.push((L_COMMAND, "a command is required".into()));
                c
            }
            Ok(c) => c,
            Err(e) => {
                errors.push((L_COMMAND, e));
                Vec::new()
            }
        };
        let name = Some(get(L_NAME)).filter(|n| !n.is_empty());
        if let Some(n) = &name {
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                errors.push((L_NAME, "letters, digits, - _ . only".into()));
            }
        }
        let mut settings = Vec::new();
        for (i, knob) in [
            (L_CPU, Knob::Cpu),
            (L_MEMORY, Knob::Memory),
            (L_PIDS, Knob::Pids),
        ] {
            let v = get(i);
            if v.is_empty() {
                continue;
            }
            match Setting::parse_value(knob, &v) {
                Ok(s) => settings.push(s),
                Err(e) => errors.push((i, short_error(&e.to_string()))),
            }
        }
        let share: Vec<String> = get(L_SHARE)
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = share.iter().find(|s| !SHAREABLE.contains(&s.as_str())) {
            errors.push((L_SHARE, format!("unknown namespace `{bad}`")));
        }
        let hostname = Some(get(L_HOSTNAME)).filter(|h| !h.is_empty());
        let keep = match get(L_KEEP).to_lowercase().as_str() {
            "" | "no" | "n" | "false" => false,
            "yes" | "y" | "true" => true,
            _ => {
                errors.push((L_KEEP, "yes or no".into()));
                false
            }
        };
        if !errors.is_empty() {
            let n = errors.len();
            for (i, e) in errors {
                self.fields.fields[i].error = Some(e);
            }
            self.fields.select_first_error();
            return Err(n);
        }
        Ok(LaunchRequest {
            name,
            command,
            settings,
            share,
            hostname,
            keep,
            image,
        })
    }
}

/// Splits a command line into words: whitespace separates, '…' and "…"
/// group, backslash escapes. No shell is involved.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(
            split_command(r#"sh -c 'echo "hi there"' a\ b"#).unwrap(),
            vec!["sh", "-c", "echo \"hi there\"", "a b"]
        );
        assert!(split_command("echo 'oops").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    #[test]
    fn short_errors() {
        let e = Setting::parse_value(Knob::Memory, "12Q").unwrap_err();
        assert_eq!(short_error(&e.to_string()), "unknown unit `q`");
    }
}
