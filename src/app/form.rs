//! Forms shown over the dashboard: the limit editor (`e`) and the launch
//! dialog (`n`). Both are a list of text fields validated in place: an invalid
//! field is marked with the reason and nothing is submitted.

use crate::cgroup::controllers::launch_knobs;
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
    /// The network knobs' fields, after the knobs' (issue 19): only for a
    /// `cgdash/…` group in a network namespace of its own.
    pub net_knobs: Vec<crate::net::NetKnob>,
    pub fields: Fields,
}

/// What a valid editor submission writes, and how to undo it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditSubmission {
    pub settings: Vec<Setting>,
    pub undo: Vec<Setting>,
    /// Changed network knobs (`None`: max), written apart (not cgroup files).
    pub net: Vec<(crate::net::NetKnob, Option<u64>)>,
    /// The values they had (as shown when the editor opened), to undo them.
    pub net_undo: Vec<(crate::net::NetKnob, Option<u64>)>,
}

impl EditForm {
    pub fn new(g: &GroupSnapshot) -> EditForm {
        let knobs: Vec<Knob> = Knob::all().collect();
        let mut fields: Vec<Field> = knobs
            .iter()
            .map(|&k| {
                Field::new(
                    k.name(),
                    current_value(g, k).unwrap_or_default(),
                    k.syntax(),
                )
            })
            .collect();
        let mut net_knobs = Vec::new();
        if let Some(n) = g
            .net
            .as_ref()
            .filter(|_| crate::cgroup::normalize_path(&g.path).starts_with("cgdash/"))
        {
            for k in crate::net::NetKnob::ALL {
                let v = match k {
                    crate::net::NetKnob::RateIn => n.rate_in,
                    crate::net::NetKnob::RateOut => n.rate_out,
                };
                let v = v.map_or("max".to_string(), crate::cgroup::knob::format_size);
                fields.push(Field::new(
                    k.name(),
                    v,
                    "bytes/s like 10M, or max (--net veth workloads only)",
                ));
                net_knobs.push(k);
            }
        }
        EditForm {
            group: g.path.clone(),
            knobs,
            net_knobs,
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
        let mut net = Vec::new();
        let mut net_undo = Vec::new();
        let first_net = self.knobs.len();
        for (i, &k) in self.net_knobs.iter().enumerate() {
            let f = &mut self.fields.fields[first_net + i];
            f.error = None;
            if !f.changed() {
                continue;
            }
            match crate::net::parse_rate(f.input.trim()) {
                Ok(r) => {
                    net.push((k, r));
                    if let Ok(old) = crate::net::parse_rate(f.original.trim()) {
                        net_undo.push((k, old));
                    }
                }
                Err(e) => f.error = Some(e),
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
        Ok(EditSubmission {
            settings,
            undo,
            net,
            net_undo,
        })
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

/// The launch dialog (`n`): command and name, one field per knob whose
/// controller declares it for launching (`KnobDef::launch`), then the
/// isolation fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchForm {
    pub fields: Fields,
    /// The knobs of the fields from [`L_KNOBS`] on, in order.
    pub knobs: Vec<Knob>,
}

const L_COMMAND: usize = 0;
const L_NAME: usize = 1;
/// The first knob field.
const L_KNOBS: usize = 2;

const SHAREABLE: [&str; 7] = ["net", "ipc", "uts", "pid", "mount", "cgroup", "user"];

impl Default for LaunchForm {
    fn default() -> Self {
        Self::new()
    }
}

impl LaunchForm {
    pub fn new() -> LaunchForm {
        let knobs: Vec<Knob> = launch_knobs().collect();
        let mut fields = vec![
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
        ];
        fields.extend(
            knobs
                .iter()
                .map(|k| Field::new(k.name(), String::new(), k.syntax())),
        );
        fields.extend([
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
            Field::new(
                "net",
                String::new(),
                "none (lo only), veth (eth0 on the cgdash bridge), veth,nat (and out) or host (--net)",
            ),
        ]);
        LaunchForm {
            fields: Fields {
                fields,
                selected: 0,
            },
            knobs,
        }
    }

    fn share(&self) -> usize {
        L_KNOBS + self.knobs.len()
    }

    fn hostname(&self) -> usize {
        self.share() + 1
    }

    fn keep(&self) -> usize {
        self.share() + 2
    }

    /// Last, so the fields above keep their places (issue 17).
    fn image(&self) -> usize {
        self.share() + 3
    }

    /// After the image (issue 19), for the same reason.
    fn net(&self) -> usize {
        self.share() + 4
    }

    /// The index of `field`'s text field, if the form has one.
    pub fn index(&self, field: LaunchField) -> Option<usize> {
        match field {
            LaunchField::Command => Some(L_COMMAND),
            LaunchField::Name => Some(L_NAME),
            LaunchField::Knob(k) => self.knobs.iter().position(|&o| o == k).map(|i| L_KNOBS + i),
            LaunchField::Share => Some(self.share()),
            LaunchField::Hostname => Some(self.hostname()),
            LaunchField::Image => Some(self.image()),
            LaunchField::Net => Some(self.net()),
        }
    }

    /// Marks `field` with `why` (a failed launch) and selects it.
    pub fn mark(&mut self, field: LaunchField, why: &str) {
        if let Some(i) = self.index(field) {
            self.fields.fields[i].error = Some(why.to_string());
            self.fields.selected = i;
        }
    }

    pub fn submit(&mut self) -> Result<LaunchRequest, usize> {
        for f in &mut self.fields.fields {
            f.error = None;
        }
        let get = |i: usize| self.fields.fields[i].input.trim().to_string();
        let mut errors: Vec<(usize, String)> = Vec::new();
        let image = Some(get(self.image())).filter(|i| !i.is_empty());
        if let Some(i) = &image {
            if let Err(e) = std::fs::metadata(i) {
                errors.push((self.image(), e.to_string()));
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
        for (i, &knob) in self.knobs.iter().enumerate() {
            let v = get(L_KNOBS + i);
            if v.is_empty() {
                continue;
            }
            match Setting::parse_value(knob, &v) {
                Ok(s) => settings.push(s),
                Err(e) => errors.push((L_KNOBS + i, short_error(&e.to_string()))),
            }
        }
        let share: Vec<String> = get(self.share())
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = share.iter().find(|s| !SHAREABLE.contains(&s.as_str())) {
            errors.push((self.share(), format!("unknown namespace `{bad}`")));
        }
        let hostname = Some(get(self.hostname())).filter(|h| !h.is_empty());
        let keep = match get(self.keep()).to_lowercase().as_str() {
            "" | "no" | "n" | "false" => false,
            "yes" | "y" | "true" => true,
            _ => {
                errors.push((self.keep(), "yes or no".into()));
                false
            }
        };
        let net = match crate::net::NetMode::parse(&get(self.net())) {
            Ok(crate::net::NetMode::None) => None,
            Ok(m) if m == crate::net::NetMode::Host || !share.iter().any(|s| s == "net") => {
                Some(get(self.net()).to_lowercase())
            }
            Ok(_) => {
                errors.push((self.net(), "veth needs net not shared".into()));
                None
            }
            Err(e) => {
                errors.push((self.net(), short_error(&e)));
                None
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
            net,
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

    /// issue 19: a `cgdash/…` group in a namespace of its own gets the two
    /// network fields (prefilled from the readings: `max` when unlimited);
    /// a changed valid one is submitted apart from the cgroup knobs, a bad
    /// one is marked; other groups get none.
    #[test]
    fn net_fields_for_cgdash_groups_with_a_namespace() {
        let mut g = GroupSnapshot {
            path: "cgdash/web".into(),
            ..Default::default()
        };
        let plain = EditForm::new(&g);
        assert!(plain.net_knobs.is_empty());
        assert_eq!(plain.fields.fields.len(), plain.knobs.len());
        g.net = Some(Box::new(crate::sampler::net::NetView {
            rate_out: Some(2 << 20),
            ..Default::default()
        }));
        let mut f = EditForm::new(&g);
        let n = f.knobs.len();
        assert_eq!(f.fields.fields[n].label, "net.rate_in");
        assert_eq!(f.fields.fields[n].input, "max");
        assert_eq!(f.fields.fields[n + 1].input, "2M");
        assert_eq!(f.submit().unwrap().net, vec![]);
        f.fields.fields[n + 1].input = "lots".into();
        assert_eq!(f.submit(), Err(1));
        assert!(f.fields.fields[n + 1].error.is_some());
        f.fields.fields[n + 1].input = "4M".into();
        let sub = f.submit().unwrap();
        assert!(sub.settings.is_empty());
        assert_eq!(sub.net, vec![(crate::net::NetKnob::RateOut, Some(4 << 20))]);
        // Undone to what the field showed when the editor opened.
        assert_eq!(
            sub.net_undo,
            vec![(crate::net::NetKnob::RateOut, Some(2 << 20))]
        );
        // Not under cgdash/: no veth of ours, no fields.
        g.path = "docker/abc".into();
        assert!(EditForm::new(&g).net_knobs.is_empty());
    }

    #[test]
    fn split() {
        assert_eq!(
            split_command(r#"sh -c 'echo "hi there"' a\ b"#).unwrap(),
            vec!["sh", "-c", "echo \"hi there\"", "a b"]
        );
        assert!(split_command("echo 'oops").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    /// issue 12: the launch dialog's limit fields are the knobs declared
    /// `launch: true`, in order; what is typed there becomes their settings,
    /// and a refused knob marks its own field or its controller's.
    #[test]
    fn hc_launch_fields_are_the_declared_ones() {
        use crate::cgroup::controllers::{all_defs, launch_field};
        let declared: Vec<Knob> = all_defs().filter(|d| d.launch).map(|d| d.knob).collect();
        assert_eq!(declared, [Knob::Cpu, Knob::Memory, Knob::Pids]);
        let mut f = LaunchForm::new();
        assert_eq!(f.knobs, declared);
        let labels: Vec<&str> = f.fields.fields.iter().map(|x| x.label).collect();
        assert_eq!(
            labels,
            [
                "command", "name", "cpu", "memory", "pids", "share", "hostname", "keep", "image",
                "net"
            ]
        );
        f.fields.fields[L_COMMAND].input = "true".into();
        for (i, k) in declared.iter().enumerate() {
            let value = match *k {
                Knob::Cpu => "20%",
                Knob::Memory => "64M",
                _ => "7",
            };
            f.fields.fields[L_KNOBS + i].input = value.into();
            assert_eq!(f.fields.fields[L_KNOBS + i].hint, k.syntax());
        }
        let (share, keep) = (f.share(), f.keep());
        f.fields.fields[share].input = "net".into();
        f.fields.fields[keep].input = "yes".into();
        let req = f.submit().expect("valid");
        let knobs: Vec<Knob> = req.settings.iter().map(|s| s.knob).collect();
        assert_eq!(knobs, declared);
        assert_eq!(req.settings[0].to_string(), "cpu=20%");
        assert_eq!((req.share, req.keep), (vec!["net".to_string()], true));
        // A bad value is marked on its knob's field.
        f.fields.fields[L_KNOBS + 1].input = "12Q".into();
        assert_eq!(f.submit(), Err(1));
        assert_eq!(f.fields.selected, L_KNOBS + 1);
        // Failed launches: a knob's own field, else its controller's first.
        assert_eq!(launch_field(Knob::Pids), Some(Knob::Pids));
        assert_eq!(launch_field(Knob::CpuPeriod), Some(Knob::Cpu));
        assert_eq!(launch_field(Knob::CpuBurst), Some(Knob::Cpu));
        assert_eq!(launch_field(Knob::MemorySwap), Some(Knob::Memory));
        assert_eq!(launch_field(Knob::CpusetCpus), None);
        assert_eq!(launch_field(Knob::Freeze), None);
        let mut f = LaunchForm::new();
        f.mark(LaunchField::Knob(Knob::Memory), "refused");
        assert_eq!(f.fields.selected, L_KNOBS + 1);
        f.mark(LaunchField::Hostname, "bad");
        assert_eq!(f.fields.fields[f.hostname()].label, "hostname");
        f.mark(LaunchField::Knob(Knob::Freeze), "no field: nothing marked");
        assert_eq!(f.fields.selected, f.hostname());
    }

    #[test]
    fn short_errors() {
        let e = Setting::parse_value(Knob::Memory, "12Q").unwrap_err();
        assert_eq!(short_error(&e.to_string()), "unknown unit `q`");
    }
}
