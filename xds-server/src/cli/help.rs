//! Help laid out the way kubectl lays out its own, since kubeplex users
//! live in kubectl: commands grouped by who runs them, then per command
//! what it does, examples (`# why` above each), options, usage.

use clap::Command;

/// Who runs which command, in the order people meet them.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Sign in and use clusters",
        &["login", "clusters", "kubectl", "status", "logout"],
    ),
    (
        "Run a gateway (administrators)",
        &[
            "up",
            "serve",
            "check",
            "kubeconfig",
            "token",
            "revoke",
            "audit",
            "inject",
            "webhook",
            "demo",
        ],
    ),
    (
        "Run next to a cluster (agents, injected pods)",
        &["agent", "sidecar-init"],
    ),
];

/// `root` with kubectl's help layout on it and on every command under it.
pub fn kubectl_style(root: Command) -> Command {
    let name = root.get_name().to_string();
    let template = root_template(&root);
    root.help_template(template)
        .mut_subcommands(|sub| styled(sub, &name))
}

/// The top level: what kubeplex is, its commands by group, usage.
fn root_template(root: &Command) -> String {
    let visible: Vec<&Command> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .collect();
    let label = |c: &Command| match c.get_visible_aliases().collect::<Vec<_>>() {
        aliases if aliases.is_empty() => c.get_name().to_string(),
        aliases => format!("{} ({})", c.get_name(), aliases.join(", ")),
    };
    let width = visible.iter().map(|c| label(c).len()).max().unwrap_or(0) + 3;
    let line = |c: &Command| {
        let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
        let about = about
            .split(". ")
            .next()
            .unwrap_or_default()
            .trim_end_matches('.');
        format!("  {:width$}{about}\n", label(c))
    };
    let mut text = String::from("{about-with-newline}\n");
    let grouped: Vec<&str> = GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    for (heading, names) in GROUPS {
        let members: Vec<&&Command> = names
            .iter()
            .filter_map(|n| visible.iter().find(|c| c.get_name() == *n))
            .collect();
        if members.is_empty() {
            continue;
        }
        text.push_str(&format!("{heading}:\n"));
        members.iter().for_each(|c| text.push_str(&line(c)));
        text.push('\n');
    }
    let others: Vec<&&Command> = visible
        .iter()
        .filter(|c| !grouped.contains(&c.get_name()))
        .collect();
    if !others.is_empty() {
        text.push_str("Other Commands:\n");
        others.iter().for_each(|c| text.push_str(&line(c)));
        text.push('\n');
    }
    let name = root.get_name();
    text.push_str(&format!(
        "Usage:\n  {name} [command] [options]\n\n\
         Use \"{name} <command> --help\" for more information about a given command.\n"
    ));
    text
}

/// A command (and those under it): description, examples, then the
/// options or the commands, then usage.
fn styled(cmd: Command, parent: &str) -> Command {
    let path = format!("{parent} {}", cmd.get_name());
    // `{after-help}` brings its own blank line.
    let mut template = String::from("{about}");
    if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
        template.push_str("{after-help}");
    }
    template.push('\n');
    if cmd.has_subcommands() {
        template.push_str(&format!(
            "\nAvailable Commands:\n{{subcommands}}\n\nUsage:\n  {{usage}}\n\n\
             Use \"{path} <command> --help\" for more information about a given command.\n"
        ));
        return cmd
            .help_template(template)
            .mut_subcommands(|sub| styled(sub, &path));
    }
    template.push_str("\nOptions:\n{options}\n");
    if cmd.get_positionals().any(|a| !a.is_hide_set()) {
        template.push_str("\nArguments:\n{positionals}\n");
    }
    template.push_str("\nUsage:\n  {usage}\n");
    cmd.help_template(template)
}

#[cfg(test)]
mod tests;
