//! Man pages: `xe.1` (synopsis, connection options, configuration, exit
//! status, environment, files) and one `xe-<family>.1` per command family
//! (`vm`, `vdi`, ...) listing each command with its parameters and our
//! description. Built on `clap_mangen` from a `clap::Command` made from the
//! command table; the sections clap has no notion of (xe's `key=value`
//! grammar, configuration, exit status) are written with its `roff` builder.

use crate::commands::help;
use crate::facts;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Command names grouped by the text before their first `-`, in name order.
pub fn families() -> Vec<(String, Vec<String>)> {
    let mut names = help::all_command_names();
    names.push("help".to_string());
    names.sort();
    names.dedup();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for n in names {
        let family = n.split('-').next().unwrap_or(&n).to_string();
        match out.iter_mut().find(|(f, _)| *f == family) {
            Some((_, members)) => members.push(n),
            None => out.push((family, vec![n])),
        }
    }
    out
}

/// The one-line summary of a family.
fn family_about(family: &str, members: &[String]) -> String {
    match facts::class(family) {
        Some(c) => format!("xe commands for {} objects", c.api),
        None if members.len() == 1 => format!("the xe {} command", members[0]),
        None => format!("the xe {family}-* commands"),
    }
}

/// Every man page as (file name, roff text).
pub fn pages() -> Vec<(String, String)> {
    let families = families();
    let mut out = vec![("xe.1".to_string(), main_page(&families))];
    for (family, members) in &families {
        out.push((format!("xe-{family}.1"), family_page(family, members)));
    }
    out
}

fn man(cmd: clap::Command) -> Man {
    Man::new(cmd).section("1")
}

/// The `.TH` line, written by hand: `roff` drops an empty date argument,
/// which would shift the source and manual into its place.
fn title(name: &str) -> impl Fn(&mut Vec<u8>) -> std::io::Result<()> {
    let line = format!(".TH {} 1 \"\" \"xe {VERSION}\" \"xe manual\"\n", name.to_uppercase().replace('-', "\\-"));
    move |w: &mut Vec<u8>| {
        // The apostrophe preamble first, as every roff part starts with it.
        Roff::new().to_writer(w)?;
        w.extend_from_slice(line.as_bytes());
        Ok(())
    }
}

/// Concatenates rendered parts; roff's apostrophe preamble, which every part
/// starts with, is kept once.
/// Something that writes part of a page.
type Part<'a> = &'a dyn Fn(&mut Vec<u8>) -> std::io::Result<()>;

fn render(parts: &[Part]) -> String {
    const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        let mut buf = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = p(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        out.push_str(if i == 0 { &text } else { text.strip_prefix(PREAMBLE).unwrap_or(&text) });
    }
    out
}

fn section(roff: &mut Roff, title: &str) {
    roff.control("SH", [title]);
}

/// `.nh` and `.ad l`: command and parameter names must not be hyphenated,
/// and long lists of them are easier to read ragged than stretched.
fn no_hyphenation(w: &mut Vec<u8>) -> std::io::Result<()> {
    let mut roff = Roff::new();
    roff.control("nh", []);
    roff.control("ad", ["l"]);
    roff.to_writer(w)
}

fn para(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.text([roman(text)]);
}

/// A `.TP` item: a tag line, then its body.
fn item(roff: &mut Roff, tag: Vec<Inline>, body: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text([roman(body)]);
}

/// An indented example line.
fn example(roff: &mut Roff, line: &str) {
    roff.control("RS", []);
    roff.control("nf", []);
    roff.text([roman(line)]);
    roff.control("fi", []);
    roff.control("RE", []);
}

fn main_page(families: &[(String, Vec<String>)]) -> String {
    let mut cmd = clap::Command::new("xe")
        .about("manage XenServer and XCP-ng pools from the command line")
        .long_about(
            "xe runs one command against a XenServer or XCP-ng pool over the XenAPI \
             (JSON-RPC, with XML-RPC as a fall-back). It is a client-side reimplementation \
             of the xe command line: commands, parameters, output and exit status follow \
             the real xe, so scripts written for it keep working.",
        )
        .override_usage(
            "xe <command> [-s server] [-p port] [-u user] [-pw password | -pwf file] [--nossl] [name=value ...]\n\
             xe help [--all | <command>]",
        )
        .subcommand_help_heading("COMMAND FAMILIES");
    for (family, members) in families {
        cmd = cmd.subcommand(clap::Command::new(family.clone()).about(family_about(family, members)));
    }
    let page = man(cmd.disable_help_subcommand(true));
    let head = title("xe");
    let mut roff = Roff::new();
    section(&mut roff, "GLOBAL OPTIONS");
    para(&mut roff, "Connection options may appear anywhere on the line, in either form:");
    let opts: &[(&str, &str, &str)] = &[
        ("-s", "server=", "Server host name or address (also -h). Default 127.0.0.1, which xe reaches over plain HTTP. A server of the form sim://NAME runs a simulated pool (see FILES)."),
        ("-p", "port=", "Server port. Default 443, or 80 with --nossl."),
        ("-u", "username=", "User name. Default root."),
        ("-pw", "password=", "Password. Without one, xe asks on a terminal, and otherwise sends the literal null as the real xe does."),
        ("-pwf", "passwordfile=", "A file holding the user name on its first line and the password on its second; it overrides every other source of both."),
        ("--nossl", "nossl=true", "Plain HTTP instead of HTTPS."),
        ("--insecure", "", "Accept any server certificate. By default a certificate must be valid under the system trust store or pinned in the known-hosts file; an unknown self-signed certificate is pinned on first use, with a notice on standard error."),
        ("--debug", "debug=true", "Client debug output on standard error."),
        ("--debug-on-fail", "debugonfail=true", "Debug output only when the command fails."),
        ("--traceparent", "traceparent=", "W3C trace context sent with every call."),
        ("--timeout", "", "Seconds to wait for the server to accept the connection and for each answer (defaults 10 and 600); also XE_TIMEOUT. Calls that wait on purpose (for a task, event-wait) are given their wait on top. Only this spelling: timeout= is a parameter of some commands."),
    ];
    for (short, long, text) in opts {
        let mut tag = vec![bold(*short)];
        if !long.is_empty() {
            tag.push(roman(", "));
            tag.push(bold(*long));
        }
        item(&mut roff, tag, text);
    }
    section(&mut roff, "PARAMETERS");
    para(&mut roff, "After the command come its parameters: name=value; map entries as name:key=value (e.g. other-config:owner=ops); --name is name=true. A value may contain = and spaces (quote it for the shell). The first occurrence of a name wins.");
    para(&mut roff, "Commands that act on VMs, hosts or SRs take selectors: vm= (host=, sr=) matches a uuid or a name-label, and any field of the object's record is a filter (e.g. power-state=running). Without --multiple, a selector must match exactly one object.");
    para(&mut roff, "Output options: --minimal prints the first field of each record (or each value), comma-separated on one line; params=a,b picks the fields of records (params=all for every field); --json and --table are additions of this xe.");
    section(&mut roff, "CONFIGURATION");
    para(&mut roff, "Settings come from, in order of precedence: the command line, the XE_EXTRA_ARGS environment variable, the file ~/.xe, then the defaults. A password file given with -pwf is read last and sets both the user name and the password.");
    para(&mut roff, "~/.xe holds one name=value per line; blank lines are skipped. The names server, port, username, password, passwordfile, nossl, debug, debugonfail and traceparent set connection options; any other name is added to every command's parameters (e.g. a default sr-uuid=), after those on the command line. A line without = makes xe ignore the whole file, with a warning. xe warns when the file holds a password and can be read by other users.");
    para(&mut roff, "XE_EXTRA_ARGS holds comma-separated words that are read like command-line words; \\, keeps a literal comma. For example:");
    example(&mut roff, "XE_EXTRA_ARGS=server=pool1.example.com,username=root,password=secret");
    para(&mut roff, "A password file keeps the password out of the command line and the environment:");
    example(&mut roff, "printf 'root\\nsecret\\n' > ~/.xe-pw && chmod 600 ~/.xe-pw && xe vm-list -pwf ~/.xe-pw");

    let mut tail = Roff::new();
    section(&mut tail, "SHELL COMPLETION");
    para(&mut tail, "xe completion bash (zsh, fish) prints a completion script. It completes command names, parameters and, from the server named on the line (or in XE_EXTRA_ARGS and ~/.xe), uuids and names of objects, enumeration values and field names. When the server cannot be reached, completion offers no values and prints nothing.");
    example(&mut tail, "xe completion bash > ~/.local/share/bash-completion/completions/xe");
    section(&mut tail, "EXIT STATUS");
    item(&mut tail, vec![bold("0")], "Success; also for usage and --help.");
    item(&mut tail, vec![bold("1")], "Any failure: an unknown command, a missing or bad parameter, an error from the server, a connection or authentication failure, or, with --multiple, a failure on any object.");
    item(&mut tail, vec![bold("124")], "event-wait gave up after its timeout= (seconds); this xe only.");
    section(&mut tail, "ENVIRONMENT");
    let env: &[(&str, &str)] = &[
        ("XE_EXTRA_ARGS", "Extra command-line words, comma-separated (see CONFIGURATION)."),
        ("TRACEPARENT", "Trace context, as --traceparent."),
        ("XE_KNOWN_HOSTS", "The known-hosts file of pinned certificates, instead of the default (see FILES)."),
        ("XE_DATA_DIR", "Where simulated pools (sim://NAME) keep their state, instead of the default (see FILES)."),
        ("XE_TIMEOUT", "Seconds to wait for the server, as --timeout (which wins)."),
        ("XE_MAX_VALUE", "The most memory one answer may take, in bytes or with KiB, MiB or GiB (default 64MiB). A JSON-RPC answer is decoded as it arrives and counts only what xe keeps of it (a listing that shows a few fields of 100,000 VMs fits); an XML-RPC answer is read whole first and counts whole. A larger answer is refused with an error, without reading the rest."),
        ("XE_MULTIPLE_CONCURRENCY", "Operations in flight at once under --multiple (default 8)."),
        ("HOME", "Where ~/.xe is found."),
    ];
    for (name, text) in env {
        item(&mut tail, vec![bold(*name)], text);
    }
    section(&mut tail, "FILES");
    item(&mut tail, vec![italic("~/.xe")], "Default settings and parameters (see CONFIGURATION).");
    item(&mut tail, vec![italic("~/.config/xe-rs/known_hosts")], "Pinned server certificates, one host:port SHA-256 fingerprint per line, appended on first use; a changed certificate is refused until its line is removed. XE_KNOWN_HOSTS overrides the path.");
    item(&mut tail, vec![italic("~/.local/share/xe-rs/sims/NAME/")], "State, log and credentials of the simulated pool that -s sim://NAME starts on first use and reuses afterwards; xe sim-list lists them and xe sim-stop name=NAME stops one. XE_DATA_DIR replaces ~/.local/share/xe-rs.");
    section(&mut tail, "EXAMPLES");
    example(&mut tail, "xe -s pool1 -u root -pw secret vm-list power-state=running params=name-label --minimal");
    example(&mut tail, "xe vm-start vm=web01");
    example(&mut tail, "xe -s sim://demo vm-list");
    section(&mut tail, "SEE ALSO");
    para(&mut tail, "xe help --all lists every command; xe help <command> shows its parameters. The pages listed under COMMAND FAMILIES describe each command.");

    render(&[
        &head,
        &no_hyphenation,
        &|w| page.render_name_section(w),
        &|w| page.render_synopsis_section(w),
        &|w| page.render_description_section(w),
        &|w| roff.to_writer(w),
        &|w| page.render_subcommands_section(w),
        &|w| tail.to_writer(w),
    ])
}

fn family_page(family: &str, members: &[String]) -> String {
    let name = format!("xe-{family}");
    let cmd = clap::Command::new(name.clone())
        .about(family_about(family, members))
        .long_about(
            "Each command below is run as xe <command> [name=value ...], with the connection \
             options of xe(1). Map parameters (shown with a trailing colon) take name:key=value. \
             <vm-selectors> (<host-selectors>, <sr-selectors>) stand for vm= (host=, sr=), which \
             matches a uuid or a name-label, and for filters on any field of the object's record \
             (e.g. power-state=running); --multiple lets a selector match several objects. \
             xe help <command> prints the same facts.",
        )
        .override_usage(if members.len() == 1 {
            format!("xe {} [name=value ...]", members[0])
        } else {
            format!("xe {family}-<command> [name=value ...]")
        });
    let page = man(cmd);
    let head = title(&name);
    let mut roff = Roff::new();
    section(&mut roff, "COMMANDS");
    for m in members {
        let (reqd, optn) = help::command_params(m).unwrap_or_default();
        roff.control("TP", []);
        roff.text([bold(m.as_str())]);
        roff.text([roman(help::description(m))]);
        for (label, params) in [("Required: ", &reqd), ("Optional: ", &optn)] {
            if !params.is_empty() {
                roff.control("br", []);
                roff.text([italic(label), roman(params.join(", "))]);
            }
        }
    }
    section(&mut roff, "SEE ALSO");
    para(&mut roff, "xe(1)");
    render(&[
        &head,
        &no_hyphenation,
        &|w| page.render_name_section(w),
        &|w| page.render_synopsis_section(w),
        &|w| page.render_description_section(w),
        &|w| roff.to_writer(w),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_is_on_a_family_page() {
        let pages = pages();
        let vm = &pages.iter().find(|(n, _)| n == "xe-vm.1").unwrap().1;
        assert!(vm.contains("vm\\-start"), "{}", &vm[..400.min(vm.len())]);
        let count: usize = families().iter().map(|(_, m)| m.len()).sum();
        assert_eq!(count, help::all_command_names().len() + 1);
        let main = &pages[0].1;
        assert!(main.contains(".SH \"COMMAND FAMILIES\"") || main.contains(".SH COMMAND FAMILIES"));
        assert!(main.contains("xe\\-vm(1)"));
    }
}
