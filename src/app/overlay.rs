//! Keys while an overlay is open: the filter, the forms, the signal and
//! quit confirmations.

use std::sync::Arc;

use super::form;
use super::{Action, App, Effect, Overlay, Panel, SignalKind, StatusKind};

impl App {
    /// Actions while an overlay is open (it was taken out of `self.overlay`;
    /// put it back unless the action closes it).
    pub(super) fn in_overlay(&mut self, overlay: Overlay, action: Action) -> Vec<Effect> {
        let snap = Arc::clone(&self.snapshot);
        match overlay {
            Overlay::Filter => {
                let target = match self.focus {
                    Panel::Groups => &mut self.groups.filter,
                    Panel::Processes => &mut self.procs.filter,
                };
                let mut keep_open = true;
                match action {
                    Action::Input(c) => target.push(c),
                    Action::Backspace => {
                        target.pop();
                    }
                    Action::ClearInput => target.clear(),
                    Action::Submit => keep_open = false,
                    Action::Cancel => {
                        target.clear();
                        keep_open = false;
                    }
                    _ => {}
                }
                self.groups.rebuild(&snap);
                self.procs.rebuild(&snap, &self.groups);
                if keep_open {
                    self.overlay = Overlay::Filter;
                }
            }
            Overlay::Edit(mut form) => match action {
                Action::Cancel => {
                    self.set_status(StatusKind::Info, "edit cancelled, nothing written")
                }
                Action::Submit => match form.submit() {
                    Ok(sub) if sub.settings.is_empty() && sub.net.is_empty() => {
                        self.set_status(StatusKind::Info, "nothing changed, nothing written")
                    }
                    Ok(sub) => {
                        let group = form.group.clone();
                        let label = sub
                            .settings
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(" ");
                        // Network knobs: their own effect (traffic control,
                        // only on cgdash's --net veth workloads), asked for,
                        // confirmed and undone with the cgroup knobs.
                        let net = super::limits::NetChange::new(sub.net, sub.net_undo, "");
                        return self.apply_labelled(
                            &group,
                            sub.settings,
                            Some(sub.undo),
                            label,
                            Some(form),
                            net,
                        );
                    }
                    Err(n) => {
                        self.set_status(
                            StatusKind::Error,
                            format!("{n} invalid value(s), nothing written"),
                        );
                        self.overlay = Overlay::Edit(form);
                    }
                },
                other => {
                    form_input(&mut form.fields, other);
                    self.overlay = Overlay::Edit(form);
                }
            },
            Overlay::Launch(mut form) => match action {
                Action::Cancel => {}
                Action::Submit => match form.submit() {
                    Ok(req) => {
                        self.set_status(
                            StatusKind::Info,
                            format!("launching {}…", req.command.join(" ")),
                        );
                        // Reopened as typed if the launch fails.
                        self.launch_stash = Some(form);
                        return vec![Effect::Launch(req)];
                    }
                    Err(n) => {
                        self.set_status(
                            StatusKind::Error,
                            format!("{n} invalid field(s), nothing launched"),
                        );
                        self.overlay = Overlay::Launch(form);
                    }
                },
                other => {
                    form_input(&mut form.fields, other);
                    self.overlay = Overlay::Launch(form);
                }
            },
            Overlay::Signal(mut d) => match action {
                Action::Cancel => {}
                Action::Submit => {
                    return vec![Effect::Signal {
                        pid: d.pid,
                        signal: d.signal,
                    }]
                }
                Action::NextField | Action::PrevField | Action::Input(_) => {
                    let i = SignalKind::ALL
                        .iter()
                        .position(|s| *s == d.signal)
                        .unwrap_or(0);
                    d.signal = match action {
                        Action::NextField => SignalKind::ALL[(i + 1) % 4],
                        Action::PrevField => SignalKind::ALL[(i + 3) % 4],
                        Action::Input('k') => SignalKind::Kill,
                        Action::Input('s') => SignalKind::Stop,
                        Action::Input('c') => SignalKind::Cont,
                        _ => SignalKind::Term,
                    };
                    self.overlay = Overlay::Signal(d);
                }
                _ => self.overlay = Overlay::Signal(d),
            },
            Overlay::ConfirmQuit => match action {
                Action::Submit => return vec![Effect::Quit],
                Action::Cancel => {}
                _ => self.overlay = Overlay::ConfirmQuit,
            },
            Overlay::Help => {
                let last = crate::ui::help::line_count().saturating_sub(1) as i64;
                let by: i64 = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -10,
                    Action::PageDown => 10,
                    Action::Home => -last,
                    Action::End => last,
                    _ => 0,
                };
                self.help_scroll = (self.help_scroll as i64 + by).clamp(0, last) as usize;
                self.overlay = overlay;
            }
            Overlay::ConfirmWrite(c) => match action {
                Action::Submit => return self.confirm_write(*c),
                Action::Cancel => {
                    let text = format!("{}: {} not written (cancelled)", c.group, c.label);
                    self.set_status(StatusKind::Info, text);
                    if let Some(form) = c.form {
                        self.overlay = Overlay::Edit(form);
                    }
                }
                _ => self.overlay = Overlay::ConfirmWrite(c),
            },
            Overlay::Output(_) | Overlay::None => self.overlay = overlay,
        }
        Vec::new()
    }
}

fn form_input(fields: &mut form::Fields, action: Action) {
    match action {
        Action::Input(c) => fields.input(c),
        Action::Backspace => fields.backspace(),
        Action::ClearInput => fields.clear(),
        Action::NextField => fields.next(),
        Action::PrevField => fields.prev(),
        _ => {}
    }
}
