use clap::error::ErrorKind;
use clap::{Command, CommandFactory, Parser};

use super::Cli;

/// Every `kubeplex …` line of every command's examples, with the path of
/// the command it documents.
fn examples(cmd: &Command, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(help) = cmd.get_after_help() {
        for line in help.to_string().lines().map(str::trim) {
            if line.starts_with("kubeplex ") {
                out.push((path.to_string(), line.to_string()));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        examples(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// A shell line's words: double quotes group, and the line ends at a
/// pipe, a continuation or a comment (the part before them is checked).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut started) = (String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => (quoted, started) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            '|' | '\\' | '#' if !quoted && !started => return words,
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[test]
fn every_example_in_the_help_is_a_command_kubeplex_accepts() {
    let mut found = Vec::new();
    examples(&Cli::command(), "kubeplex", &mut found);
    assert!(found.len() >= 20, "examples: {found:?}");
    for (path, line) in found {
        let result = Cli::try_parse_from(shell_words(&line));
        if let Err(e) = result {
            // Files the examples name do not exist here, and a shortened
            // fingerprint is no fingerprint: the values are refused, not
            // the command line.
            assert!(
                matches!(e.kind(), ErrorKind::ValueValidation),
                "{path}: `{line}` does not parse: {e}"
            );
        }
    }
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn status_lists_every_context_only_when_asked_and_only_of_the_control_plane() {
    let status = |line: &[&str]| match Cli::try_parse_from(line) {
        Ok(Cli {
            command: super::Command::Status(args),
        }) => Ok((args.control_plane_addr(), args.all_contexts)),
        Ok(other) => panic!("not status: {other:?}"),
        Err(e) => Err(e.kind()),
    };
    let default_admin = super::DEFAULT_ADMIN_ADDR.parse().ok();
    assert_eq!(
        status(&["kubeplex", "status", "--control-plane"]),
        Ok((default_admin, false))
    );
    assert_eq!(
        status(&["kubeplex", "status", "--control-plane", "--all-contexts"]),
        Ok((default_admin, true))
    );
    assert_eq!(
        status(&[
            "kubeplex",
            "status",
            "--admin-addr",
            "127.0.0.1:1",
            "--all-contexts"
        ]),
        Ok(("127.0.0.1:1".parse().ok(), true))
    );
    assert_eq!(
        status(&["kubeplex", "status", "--all-contexts"]),
        Err(ErrorKind::MissingRequiredArgument)
    );
    assert_eq!(
        status(&[
            "kubeplex",
            "status",
            "--control-plane",
            "--admin-addr",
            "127.0.0.1:1"
        ]),
        Err(ErrorKind::ArgumentConflict)
    );
}

/// `up` takes `serve`'s `--probe-addr` and `--admin-token-file`: the same
/// names and help, parsed into the same [`AdminAccessArgs`] that both hand
/// to the listeners.
///
/// [`AdminAccessArgs`]: crate::cli::serve::AdminAccessArgs
#[test]
fn up_takes_the_probe_port_and_admin_token_of_serve() {
    let cli = Cli::command();
    let flags = |command: &str| -> Vec<(String, String)> {
        let command = cli.find_subcommand(command).unwrap();
        command
            .get_arguments()
            .filter_map(|a| Some((a.get_long()?.to_string(), a.get_help()?.to_string())))
            .filter(|(long, _)| long == "probe-addr" || long == "admin-token-file")
            .collect()
    };
    assert_eq!(flags("up").len(), 2, "{:?}", flags("up"));
    assert_eq!(flags("up"), flags("serve"));

    let token = tempfile::NamedTempFile::new().unwrap();
    let token_path = token.path().to_str().unwrap();
    let line = [
        "kubeplex",
        "up",
        "--probe-addr",
        "127.0.0.1:18002",
        "--admin-token-file",
        token_path,
    ];
    match Cli::try_parse_from(line) {
        Ok(Cli {
            command: super::Command::Up(args),
        }) => {
            assert_eq!(
                args.admin_access.probe_addr,
                Some("127.0.0.1:18002".parse().unwrap())
            );
            assert_eq!(
                args.admin_access.admin_token_file.as_deref(),
                Some(token.path())
            );
        }
        other => panic!("not up: {other:?}"),
    }
    let missing = ["kubeplex", "up", "--admin-token-file", "/no/such/token"];
    assert_eq!(
        Cli::try_parse_from(missing).unwrap_err().kind(),
        ErrorKind::ValueValidation
    );
}
