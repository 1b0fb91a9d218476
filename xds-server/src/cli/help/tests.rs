use clap::{Arg, Command};

use super::kubectl_style;

/// A small kubeplex: grouped and ungrouped commands, an alias, a hidden
/// one, a command group, examples and a positional.
fn sample() -> Command {
    Command::new("kubeplex")
        .about("One front door for many clusters")
        .subcommand(
            Command::new("login")
                .about("Sign in to a gateway. More words here.")
                .after_help("Examples:\n  # Sign in\n  kubeplex login --gateway https://gw")
                .arg(Arg::new("gateway").long("gateway").help("The gateway")),
        )
        .subcommand(
            Command::new("kubectl")
                .about("Run kubectl")
                .visible_alias("k"),
        )
        .subcommand(Command::new("up").about("Run a local gateway"))
        .subcommand(Command::new("new-thing").about("Something not grouped yet"))
        .subcommand(Command::new("credential").about("For kubectl").hide(true))
        .subcommand(
            Command::new("clusters")
                .about("List or pick clusters")
                .subcommand(
                    Command::new("use")
                        .about("Pick one")
                        .arg(Arg::new("name").required(true).help("The cluster")),
                ),
        )
}

/// `kubeplex ARGS… --help` of the sample.
fn help(args: &[&str]) -> String {
    let mut cmd = kubectl_style(sample());
    cmd.build();
    let mut target = &mut cmd;
    for name in args {
        target = target.find_subcommand_mut(name).unwrap();
    }
    target.render_long_help().to_string()
}

#[test]
fn the_top_level_groups_commands_by_who_runs_them() {
    let text = help(&[]);
    let users = text.find("Sign in and use clusters:").expect(&text);
    let admins = text.find("Run a gateway (administrators):").expect(&text);
    let others = text.find("Other Commands:").expect(&text);
    assert!(users < admins && admins < others, "{text}");
    // The first sentence, aligned three spaces after the longest name.
    assert!(
        text.contains("  login         Sign in to a gateway\n"),
        "{text}"
    );
    assert!(text.contains("  kubectl (k)   Run kubectl\n"), "{text}");
    assert!(
        text.contains("  new-thing     Something not grouped yet\n"),
        "{text}"
    );
    assert!(!text.contains("credential"), "hidden stays hidden: {text}");
    assert!(
        text.trim_end().ends_with(
            "Usage:\n  kubeplex [command] [options]\n\n\
             Use \"kubeplex <command> --help\" for more information about a given command."
        ),
        "{text}"
    );
}

#[test]
fn a_command_shows_examples_then_options_then_usage() {
    let text = help(&["login"]);
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} in {text}"));
    assert!(at("Sign in to a gateway") < at("Examples:"));
    assert!(at("  # Sign in\n  kubeplex login --gateway https://gw") < at("Options:"));
    assert!(at("--gateway <gateway>") > at("Options:"));
    assert!(at("Usage:\n  kubeplex login") > at("--gateway <gateway>"));
}

#[test]
fn a_command_group_lists_its_commands_and_a_leaf_its_arguments() {
    let text = help(&["clusters"]);
    assert!(text.contains("Available Commands:\n"), "{text}");
    assert!(text.contains("use"), "{text}");
    assert!(
        text.contains("Use \"kubeplex clusters <command> --help\""),
        "{text}"
    );
    let text = help(&["clusters", "use"]);
    assert!(text.contains("Arguments:\n"), "{text}");
    assert!(text.contains("The cluster"), "{text}");
    assert!(
        text.contains("Usage:\n  kubeplex clusters use <name>"),
        "{text}"
    );
}
