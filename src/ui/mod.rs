//! Drawing only: every panel is an `impl Widget` that reads [`App`] state.
//! No I/O here, and nothing is computed that the app could keep (rows are
//! built by the app when data or view change; only the visible ones are drawn).

pub mod charts;
pub mod dialog;
pub mod form;
pub mod format;
pub mod groups;
pub mod header;
pub mod help;
pub mod io_micro;
pub mod microscope;
pub mod processes;
pub mod screen;
pub mod status;
pub mod table;
mod theme;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Widget;

use crate::app::{Action, App, Overlay, Panel};

/// The whole screen.
pub struct Dashboard<'a>(pub &'a App);

/// Where each part of the screen goes (also used to map mouse clicks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub title: Option<Rect>,
    pub groups: Option<Rect>,
    pub charts: Option<Rect>,
    pub processes: Option<Rect>,
    /// The throttling microscope or the I/O one, while open: the charts'
    /// place (wide), or the charts' and processes' (narrow).
    pub microscope: Option<Rect>,
    pub status: Rect,
}

impl Areas {
    pub fn new(area: Rect, app: &App) -> Areas {
        let title_h = u16::from(app.title.is_some());
        let status_h = status::StatusLine::height(app, area.width, area.height);
        let [header, title, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(title_h),
            Constraint::Fill(1),
            Constraint::Length(status_h),
        ])
        .areas(area);
        let mut a = Areas {
            header,
            title: (title_h > 0).then_some(title),
            status,
            ..Areas::default()
        };
        match app.zoom {
            None if app.microscope.is_some() || app.io_microscope => {
                if body.width >= 140 {
                    // The I/O microscope leaves the lists their usual
                    // width (the groups' IO columns need ~110 columns).
                    let left_w = if app.io_microscope { 58 } else { 50 };
                    let [left, right] =
                        Layout::horizontal([Constraint::Percentage(left_w), Constraint::Fill(1)])
                            .areas(body);
                    let [g, p] =
                        Layout::vertical([Constraint::Percentage(50), Constraint::Fill(1)])
                            .areas(left);
                    a.groups = Some(g);
                    a.processes = Some(p);
                    a.microscope = Some(right);
                } else {
                    let [g, m] =
                        Layout::vertical([Constraint::Percentage(30), Constraint::Fill(1)])
                            .areas(body);
                    a.groups = Some(g);
                    a.microscope = Some(m);
                }
            }
            Some(Panel::Groups) => a.groups = Some(body),
            Some(Panel::Processes) => a.processes = Some(body),
            None if body.width >= 140 => {
                let [left, right] =
                    Layout::horizontal([Constraint::Percentage(58), Constraint::Fill(1)])
                        .areas(body);
                let [g, p] =
                    Layout::vertical([Constraint::Percentage(50), Constraint::Fill(1)]).areas(left);
                a.groups = Some(g);
                a.processes = Some(p);
                a.charts = Some(right);
            }
            None => {
                let charts_h = (body.height * 7 / 20).clamp(6, 18);
                let [g, c, p] = Layout::vertical([
                    Constraint::Percentage(35),
                    Constraint::Length(charts_h),
                    Constraint::Fill(1),
                ])
                .areas(body);
                a.groups = Some(g);
                a.charts = Some(c);
                a.processes = Some(p);
            }
        }
        a
    }
}

/// The first row shown so that `selected` is visible in `height` rows.
pub fn scroll_offset(selected: usize, height: usize, len: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    // Keep the selection a little off the bottom edge, as top does.
    selected.saturating_sub(height - 1).min(len - height)
}

/// A `w`×`h` rectangle in the middle of `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    Rect {
        x: area.x + area.width.saturating_sub(w) / 2,
        y: area.y + area.height.saturating_sub(h) / 2,
        width: w.min(area.width),
        height: h.min(area.height),
    }
}

/// What a mouse click at (x, y) or a wheel turn there means.
pub fn mouse_action(screen: Rect, app: &App, x: u16, y: u16, wheel: Option<i32>) -> Option<Action> {
    let a = Areas::new(screen, app);
    let hit = |r: Option<Rect>| r.filter(|r| r.contains(ratatui::layout::Position { x, y }));
    let (panel, rect, selected, len) = if let Some(r) = hit(a.groups) {
        (Panel::Groups, r, app.groups.selected, app.groups.rows.len())
    } else if let Some(r) = hit(a.processes) {
        (
            Panel::Processes,
            r,
            app.procs.selected,
            app.procs.rows.len(),
        )
    } else {
        return None;
    };
    if let Some(delta) = wheel {
        return Some(Action::Scroll { panel, delta });
    }
    let body = table::body(rect);
    if y < body.y || y >= body.y + body.height {
        // The border or the header line: focus, keep the selection.
        return Some(Action::Click {
            panel,
            row: selected,
        });
    }
    table::row_at(rect, y, selected, len).map(|row| Action::Click { panel, row })
}

impl Widget for Dashboard<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        if area.width < 20 || area.height < 6 {
            ratatui::text::Line::from("cgdash: window too small").render(area, buf);
            return;
        }
        let a = Areas::new(area, app);
        header::Header(app).render(a.header, buf);
        if let (Some(r), Some(t)) = (a.title, &app.title) {
            header::TitleBar(t).render(r, buf);
        }
        if let Some(r) = a.groups {
            groups::GroupsPanel(app).render(r, buf);
        }
        if let Some(r) = a.charts {
            charts::ChartsPanel(app).render(r, buf);
        }
        if let Some(r) = a.processes {
            processes::ProcessesPanel(app).render(r, buf);
        }
        if let Some(r) = a.microscope {
            if app.io_microscope {
                io_micro::IoMicroscopePanel(app).render(r, buf);
            } else {
                microscope::MicroscopePanel(app).render(r, buf);
            }
        }
        status::StatusLine(app).render(a.status, buf);
        match &app.overlay {
            Overlay::Help => help::HelpOverlay {
                scroll: app.help_scroll,
            }
            .render(area, buf),
            Overlay::Edit(f) => form::FormPopup {
                title: format!("Limits of {}", f.group),
                fields: &f.fields,
                footer: " Enter: write changed values · Esc: cancel · Tab/↑↓: field ",
                show_was: true,
            }
            .render(area, buf),
            Overlay::Launch(f) => form::FormPopup {
                title: "Launch a command in its own namespaces and cgroup".into(),
                fields: &f.fields,
                footer: " Enter: launch · Esc: cancel · Tab/↑↓: field ",
                show_was: false,
            }
            .render(area, buf),
            Overlay::Signal(d) => dialog::SignalPopup(d).render(area, buf),
            Overlay::ConfirmQuit => {
                dialog::ConfirmQuitPopup(app.running_to_ask()).render(area, buf)
            }
            Overlay::ConfirmWrite(c) => dialog::ConfirmWritePopup(c).render(area, buf),
            Overlay::Output(o) => dialog::OutputPopup(o).render(area, buf),
            Overlay::Filter | Overlay::None => {}
        }
    }
}
