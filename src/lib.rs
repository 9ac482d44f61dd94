//! `xe`: a client-side reimplementation of the XenServer / XCP-ng command line.
//!
//! [`run`] is the whole program: parse the line ([`argv`]), resolve settings
//! ([`config`]), run the command ([`commands`]) through a [`context::Context`]
//! that owns the session and the [`output::Printer`], then render any
//! [`error::CliError`] the way xe does.

pub mod argv;
pub mod commands;
pub mod completion;
pub mod config;
pub mod connect;
pub mod context;
pub mod docs;
pub mod error;
pub mod facts;
pub mod output;
pub mod records;
pub mod render;
pub mod shells;
pub mod sims;

use error::CliError;
use output::{Mode, Printer};
use std::process::ExitCode;

/// Runs a command line as the operating system gives it: an argument that
/// is not UTF-8 is refused with one line naming it (XenAPI strings are UTF-8).
pub fn run_os(args: Vec<std::ffi::OsString>) -> ExitCode {
    let mut text = Vec::with_capacity(args.len());
    for (i, a) in args.into_iter().enumerate() {
        match a.into_string() {
            Ok(s) => text.push(s),
            Err(bad) => {
                let shown = escape_invalid_utf8(bad.as_encoded_bytes());
                return fail(&CliError::failure(format!("argument {} is not valid UTF-8: '{shown}'", i + 1)));
            }
        }
    }
    run(text)
}

/// Text with each byte that is not UTF-8 shown as `\xNN`.
fn escape_invalid_utf8(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Runs one `xe` command line (without the program name) and returns the exit status.
pub fn run(args: Vec<String>) -> ExitCode {
    if let Some(req) = config::completion_request() {
        return complete(|| completion::dynamic::answer(&req.shell, req.index, &args));
    }
    if args.first().map(String::as_str) == Some("__complete") {
        return complete(|| completion::run(&args[1..]));
    }
    let _ = ctrlc::set_handler(|| {
        if let Some(note) = connect::logout_active() {
            Printer::new(Mode::Normal).err_always(&note);
        }
        // The one exit outside `run`'s return: the interrupted command's
        // thread is parked (see below), so the handler ends the process.
        #[allow(clippy::disallowed_methods)]
        std::process::exit(130);
    });
    let inv = match argv::parse(&args) {
        Ok(inv) => inv,
        Err(argv::ArgError::Syntax) => return fail(&CliError::Syntax),
        Err(argv::ArgError::BadPort(p)) => {
            // xe reports a bad port with the usage and still exits 0.
            Printer::new(Mode::Normal).err_always_raw(&format!("Invalid port: {p}\n{}", commands::help::usage()));
            return ExitCode::SUCCESS;
        }
    };
    if inv.version {
        Printer::new(Mode::Normal).raw("ThinCLI protocol: 0.2\n");
        return ExitCode::SUCCESS;
    }
    if inv.help || inv.command.is_none() {
        Printer::new(Mode::Normal).err_always_raw(&commands::help::usage());
        return ExitCode::SUCCESS;
    }
    let env = config::Environment::from_process();
    let resolved = match config::resolve(inv, &env) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let params = context::Params::new(resolved.invocation.params.clone());
    let mode = if params.flag("minimal") {
        Mode::Minimal
    } else if params.flag("json") {
        Mode::Json
    } else if params.flag("table") {
        Mode::Table
    } else {
        Mode::Normal
    };
    let mut printer = Printer::new(mode);
    for w in &resolved.warnings {
        printer.err_always(w);
    }
    let command = resolved.invocation.command.clone().unwrap_or_default();
    let mut ctx = context::Context::new(resolved.settings, printer, params, command);
    let result = commands::dispatch(&mut ctx);
    if connect::interrupted() {
        // The Ctrl-C handler is cancelling and logging out; it ends the process.
        loop {
            std::thread::park();
        }
    }
    ctx.finish();
    match result {
        Ok(()) => {
            ctx.printer.finish();
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Text already written (e.g. partial listings) stays; the minimal line does not.
            fail(&e)
        }
    }
}

fn fail(e: &CliError) -> ExitCode {
    let (err, out) = e.render();
    let mut printer = Printer::new(Mode::Normal);
    if !out.is_empty() {
        printer.raw(&out);
    }
    printer.err_always_raw(&err);
    // Our one addition to xe's text: clap's closest command name, if any.
    if let CliError::UnknownCommand(name) = e {
        if let Some(near) = commands::suggestion(name) {
            printer.err_always_raw(&format!("Did you mean '{near}'?\n"));
        }
    }
    ExitCode::from(e.exit_code())
}

/// Answers a shell's completion request; never prints errors, always exits 0.
fn complete(answer: impl FnOnce() -> String + std::panic::UnwindSafe) -> ExitCode {
    // A panic message would land in the middle of the user's prompt.
    std::panic::set_hook(Box::new(|_| {}));
    let text = std::panic::catch_unwind(answer).unwrap_or_default();
    let mut printer = Printer::new(Mode::Normal);
    printer.raw(&text);
    printer.finish();
    ExitCode::SUCCESS
}
