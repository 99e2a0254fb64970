//! Generates the shell completion scripts and the manual page from the
//! command-line definitions (src/cli.rs) at build time, into OUT_DIR, where
//! `cgdash completions` and `cgdash man` (src/cmd/completions.rs) embed them.
//! The generators, clap_complete and clap_mangen, so stay out of the binary:
//! linked in, they added 189 KiB to it and, through the kernel's
//! fault-around, ~0.19 MiB to the dashboard's resident memory; their output
//! embedded adds 86 KiB and 72 kB (README, "Dependencies").

use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

// The binary's own definitions, compiled once more here (only clap and std).
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

use cli::{Cli, CliKnob};

/// The knobs for cli.rs (`run`'s flags, `set`'s help), read from the
/// controllers' declarations by [`read_declarations`] before any command is built.
static KNOBS: std::sync::OnceLock<Vec<CliKnob>> = std::sync::OnceLock::new();

fn declared_knobs() -> &'static [CliKnob] {
    KNOBS.get().map_or(&[], Vec::as_slice)
}

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("OUT_DIR unset"))?;
    let out = Path::new(&out);
    let knobs = read_declarations(Path::new(CONTROLLERS_DIR))?;
    // What was read, for the test that it equals the compiled declarations
    // (src/cli.rs, `hc_build_reads_the_declarations`).
    let listing: String = knobs
        .iter()
        .map(|k| {
            let (flag, help) = k.flag.unwrap_or(("", ""));
            format!("{}\t{flag}\t{help}\n", k.name)
        })
        .collect();
    std::fs::write(out.join("declared_knobs.tsv"), listing)?;
    let _ = KNOBS.set(knobs);
    // The names match cli::CompletionShell's values.
    for (name, shell) in [
        ("bash", Shell::Bash),
        ("elvish", Shell::Elvish),
        ("fish", Shell::Fish),
        ("powershell", Shell::PowerShell),
        ("zsh", Shell::Zsh),
    ] {
        let mut cmd = without_hidden(Cli::command());
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "cgdash", &mut script);
        std::fs::write(out.join(format!("completions.{name}")), script)?;
    }
    std::fs::write(out.join("cgdash.1"), render_man()?)
}

const CONTROLLERS_DIR: &str = "src/cgroup/controllers";

/// The knobs the controllers declare, in their order, read from their
/// source: build.rs can't compile the controllers (they are the library's,
/// and a build script runs before the library exists), and a copy of their
/// names and flags here would have to be kept in step by hand. So it parses
/// them (syn, the parser derive macros use): the order of `CONTROLLERS` in
/// mod.rs, then in each controller's file every `KnobDef { knob: Knob::X,
/// flag: None | Some(Flag { name: "…", help: "…" }), … }` in source order,
/// with X's name from that file's `impl Knob { const X: Knob = Knob("…"); }`.
/// Anything else in those fields stops the build with the file named.
fn read_declarations(dir: &Path) -> io::Result<Vec<CliKnob>> {
    let parse = |file: &Path| -> io::Result<syn::File> {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = std::fs::read_to_string(file)?;
        syn::parse_file(&text).map_err(|e| bad(file, &e.to_string()))
    };
    let mod_rs = dir.join("mod.rs");
    let mut modules = Vec::new();
    for item in parse(&mod_rs)?.items {
        let syn::Item::Const(c) = item else { continue };
        if c.ident != "CONTROLLERS" {
            continue;
        }
        let syn::Expr::Array(a) = *c.expr else {
            return Err(bad(&mod_rs, "CONTROLLERS is not an array"));
        };
        for e in a.elems {
            match e {
                syn::Expr::Reference(r) => match *r.expr {
                    syn::Expr::Path(p) if p.path.segments.len() == 2 => {
                        modules.push(p.path.segments[0].ident.to_string())
                    }
                    _ => return Err(bad(&mod_rs, "CONTROLLERS: expected &module::CONTROLLER")),
                },
                _ => return Err(bad(&mod_rs, "CONTROLLERS: expected &module::CONTROLLER")),
            }
        }
    }
    if modules.is_empty() {
        return Err(bad(&mod_rs, "no CONTROLLERS"));
    }
    let mut knobs = Vec::new();
    for m in modules {
        let file = dir.join(format!("{m}.rs"));
        let ast = parse(&file)?;
        let mut v = KnobDefs::default();
        syn::visit::visit_file(&mut v, &ast);
        for (konst, flag) in v.defs {
            let name = v
                .names
                .iter()
                .find(|(c, _)| *c == konst)
                .map(|(_, n)| leak(n.clone()))
                .ok_or_else(|| bad(&file, &format!("no `const {konst}: Knob = Knob(\"…\")`")))?;
            let flag = match flag {
                Ok(f) => f.map(|(f, h)| (leak(f), leak(h))),
                Err(why) => return Err(bad(&file, &format!("Knob::{konst}: {why}"))),
            };
            knobs.push(CliKnob { name, flag });
        }
    }
    Ok(knobs)
}

/// A build script's strings live as long as it does.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn bad(file: &Path, why: &str) -> io::Error {
    io::Error::other(format!(
        "{}: {why} (see build.rs, read_declarations)",
        file.display()
    ))
}

/// What one controller file declares: its knob constants' names, and each
/// `KnobDef`'s knob constant and flag (or why the flag can't be read).
#[derive(Default)]
struct KnobDefs {
    names: Vec<(String, String)>,
    defs: Vec<(String, Result<Option<FlagText>, String>)>,
}

/// A flag's name and help, as written in the declaration.
type FlagText = (String, String);

impl<'a> syn::visit::Visit<'a> for KnobDefs {
    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        let is_knob = matches!(&*i.self_ty, syn::Type::Path(p) if p.path.is_ident("Knob"));
        if is_knob {
            for item in &i.items {
                let syn::ImplItem::Const(c) = item else {
                    continue;
                };
                if let syn::Expr::Call(call) = &c.expr {
                    if let (true, Some(name)) = (
                        matches!(&*call.func, syn::Expr::Path(p) if p.path.is_ident("Knob")),
                        call.args.first().and_then(lit_str),
                    ) {
                        self.names.push((c.ident.to_string(), name));
                    }
                }
            }
        }
        syn::visit::visit_item_impl(self, i);
    }

    fn visit_expr_struct(&mut self, s: &'a syn::ExprStruct) {
        if s.path.is_ident("KnobDef") {
            let knob = field(s, "knob").and_then(|e| match e {
                syn::Expr::Path(p) => p.path.segments.last().map(|l| l.ident.to_string()),
                _ => None,
            });
            if let Some(knob) = knob {
                let flag = field(s, "flag").map_or(Err("no `flag:` field".into()), flag);
                self.defs.push((knob, flag));
            }
        }
        syn::visit::visit_expr_struct(self, s);
    }
}

fn field<'a>(s: &'a syn::ExprStruct, name: &str) -> Option<&'a syn::Expr> {
    s.fields
        .iter()
        .find(|f| matches!(&f.member, syn::Member::Named(n) if n == name))
        .map(|f| &f.expr)
}

/// `None` or `Some(Flag { name: "…", help: "…" })`.
fn flag(e: &syn::Expr) -> Result<Option<FlagText>, String> {
    const SHAPE: &str = "write `flag:` as None or Some(Flag { name: \"…\", help: \"…\" })";
    match e {
        syn::Expr::Path(p) if p.path.is_ident("None") => Ok(None),
        syn::Expr::Call(c) if matches!(&*c.func, syn::Expr::Path(p) if p.path.is_ident("Some")) => {
            let Some(syn::Expr::Struct(s)) = c.args.first() else {
                return Err(SHAPE.into());
            };
            match (
                field(s, "name").and_then(lit_str),
                field(s, "help").and_then(lit_str),
            ) {
                (Some(n), Some(h)) => Ok(Some((n, h))),
                _ => Err(SHAPE.into()),
            }
        }
        _ => Err(SHAPE.into()),
    }
}

fn lit_str(e: &syn::Expr) -> Option<String> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    }
}

/// The command line minus hidden subcommands (the launcher's internal
/// `__launch`): clap_complete offers hidden subcommands in every shell, and
/// clap has no way to remove one, so the top level is rebuilt from the rest.
fn without_hidden(full: clap::Command) -> clap::Command {
    clap::Command::new("cgdash")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// cgdash(1): clap_mangen's page for the top-level command, then one `.SS`
/// block per (visible) subcommand, nested ones included (`cgdash stress cpu`),
/// with its synopsis, description and options — one page instead of clap_mangen's
/// page per subcommand, so `cgdash man | man -l -` shows everything — then the
/// exit codes.
fn render_man() -> io::Result<String> {
    // No `help` subcommand in the page: it is clap's, not a cgdash command.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let top = Man::new(cmd.clone());
    // The title by hand: clap_mangen and roff drop an empty date, which
    // shifts the version into the date's place. No date: the page is
    // reproducible.
    let version = format!("cgdash {}", env!("CARGO_PKG_VERSION"));
    // An empty Roff renders as the preamble alone, which every page needs once.
    let mut page = Roff::new().render();
    page.push_str(&format!(
        ".TH CGDASH 1 \"\" \"{version}\" \"User Commands\"\n"
    ));
    page.push_str(&section(|w| top.render_name_section(w), false)?);
    page.push_str(&section(|w| top.render_synopsis_section(w), false)?);
    page.push_str(&section(|w| top.render_description_section(w), false)?);
    page.push_str(&section(|w| top.render_options_section(w), false)?);
    page.push_str(&body(Roff::new().control("SH", ["COMMANDS"])));
    for sub in visible_subcommands(&cmd) {
        subcommand(&mut page, sub)?;
    }
    page.push_str(&exit_status());
    page.push_str(&section(|w| top.render_version_section(w), false)?);
    Ok(ascii_only(&page))
}

/// Non-ASCII characters (the help texts' `–`) as groff's `\[uXXXX]`: a page
/// is read as Latin-1 unless a preprocessor converts it (man-db does,
/// `groff -man page.1` doesn't, and warns about every UTF-8 byte then).
fn ascii_only(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

fn man_has_options(sub: &clap::Command) -> bool {
    sub.get_arguments()
        .any(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

fn subcommand(page: &mut String, sub: &clap::Command) -> io::Result<()> {
    let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
    page.push_str(&body(Roff::new().control("SS", [name])));
    // The global options (--interval) and -h are under OPTIONS once, not in
    // every command's block.
    let mut shown = sub.clone();
    for arg in sub.get_arguments() {
        if arg.is_global_set() || arg.get_id() == "help" {
            shown = shown.mut_arg(arg.get_id(), |a| a.hide(true));
        }
    }
    let man = Man::new(shown);
    page.push_str(&section(|w| man.render_synopsis_section(w), true)?);
    page.push_str(&body(Roff::new().control("PP", [])));
    page.push_str(&section(|w| man.render_description_section(w), true)?);
    if man_has_options(sub) {
        page.push_str(&section(|w| man.render_options_section(w), true)?);
    }
    for nested in visible_subcommands(sub) {
        subcommand(page, nested)?;
    }
    Ok(())
}

/// One rendered part of a page, without the preamble every clap_mangen call
/// repeats (the page starts with it once) and, inside a subcommand's block,
/// without the part's own `.SH` heading.
fn section(
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    drop_heading: bool,
) -> io::Result<String> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    let text = String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(text
        .lines()
        .filter(|l| !is_preamble(l))
        .filter(|l| !(drop_heading && l.starts_with(".SH ")))
        .map(|l| format!("{l}\n"))
        .collect())
}

/// roff's preamble: how to typeset an apostrophe (`\*(Aq`).
fn is_preamble(line: &str) -> bool {
    line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq")
}

fn body(roff: &Roff) -> String {
    roff.render()
        .lines()
        .filter(|l| !is_preamble(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The exit codes (README, "cgdash run" and "cgdash set").
fn exit_status() -> String {
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "success"),
        (
            "1",
            "the kernel or the system refused (a limit, a write, a mount)",
        ),
        (
            "2",
            "invalid input (a value, a group name, an option); nothing was written",
        ),
        (
            "125",
            "cgdash run: setting up the workload failed; nothing is left behind",
        ),
        ("126", "cgdash run: the command is not executable"),
        ("127", "cgdash run: the command was not found"),
    ] {
        r.control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }
    r.control("PP", []).text([roman(
        "Otherwise cgdash run exits with the command's own status, or 128+N when the \
         command was killed by signal N (137 after an OOM kill).",
    )]);
    body(&r)
}
