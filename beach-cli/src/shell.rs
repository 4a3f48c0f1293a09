//! The interactive shell: `beach` without a command.
//!
//! Every command takes the same arguments as on the command line; `realm NAME` switches realm,
//! `help` and `help CMD` explain, py-beach's command names work as aliases, Tab completes
//! commands, categories and actor types, history is kept in the user's data folder. An error is
//! printed and the shell goes on; Ctrl-D (or `exit`) leaves.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use beach_core::client::Beach;
use beach_core::model::Realm;
use clap::{CommandFactory, Parser};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::args::{Cli, Command, Global};
use crate::cmd;
use crate::outcome::Failure;
use crate::output::report;

/// py-beach's command names, for people moving over, and what they stand for.
pub const ALIASES: [(&str, &str); 9] = [
    ("get_dir", "dir"),
    ("add_actor", "spawn"),
    ("stop_actor", "stop"),
    ("get_cluster_health", "health"),
    ("get_load_info", "load"),
    ("get_mtd", "metadata"),
    ("add_to_category", "categorize"),
    ("remove_from_category", "uncategorize"),
    ("gen_key", "gen-key"),
];

/// The shell's own words, besides the commands.
const BUILTINS: [&str; 4] = ["help", "realm", "exit", "quit"];

/// What Tab completes: command names first, then categories and actor types.
#[derive(Default)]
struct Completions {
    commands: Vec<String>,
    words: Arc<Mutex<BTreeSet<String>>>,
}

impl Completer for Completions {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let partial = &line[start..pos];
        let first = line[..start].trim().is_empty();
        let pool: Vec<String> = if first {
            self.commands.clone()
        } else {
            self.words.lock().expect("completion lock").iter().cloned().collect()
        };
        let found = pool
            .into_iter()
            .filter(|w| w.starts_with(partial))
            .map(|w| Pair { display: w.clone(), replacement: w })
            .collect();
        Ok((start, found))
    }
}

impl Hinter for Completions {
    type Hint = String;
}
impl Highlighter for Completions {}
impl Validator for Completions {}
impl Helper for Completions {}

/// Whether a command is offered in the shell (not the hidden ones, not `demo`, which starts
/// its own cluster).
fn in_shell(command: &clap::Command) -> bool {
    !command.is_hide_set() && !matches!(command.get_name(), "demo" | "bench")
}

/// Where the history lives: `$XDG_DATA_HOME/beach/history`, else `~/.local/share/beach/history`.
fn history_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let dir = base.join("beach");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

/// Runs the shell until Ctrl-D or `exit`; the exit code is 0, or 2 when the cluster cannot be
/// reached at all.
pub fn run(global: Global) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            return report(Err(Failure::usage(format!("cannot start the runtime: {e}"))), false);
        }
    };
    let client = match runtime.block_on(cmd::connect(&global)) {
        Ok(c) => c,
        Err(f) => return report(Err(f), false),
    };
    let mut commands: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| in_shell(c))
        .map(|c| c.get_name().to_owned())
        .collect();
    commands.extend(ALIASES.iter().map(|(a, _)| (*a).to_owned()));
    commands.extend(BUILTINS.iter().map(|b| (*b).to_owned()));
    commands.sort();
    let completions = Completions { commands, words: Arc::default() };
    let words = completions.words.clone();
    let mut editor: Editor<Completions, DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            return report(Err(Failure::usage(format!("cannot open the terminal: {e}"))), false);
        }
    };
    editor.set_helper(Some(completions));
    let history = history_file();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut client = client;
    runtime.block_on(refresh_words(&client, &words));
    loop {
        let line = match editor.readline(&format!("(beach/{}) ", client.realm())) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let _ = editor.add_history_entry(line);
        let mut args = match shell_words::split(line) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                continue;
            }
        };
        if let Some((_, name)) = ALIASES.iter().find(|(alias, _)| *alias == args[0]) {
            args[0] = (*name).to_owned();
        }
        match args[0].as_str() {
            "exit" | "quit" => break,
            "help" => {
                help(args.get(1).map(String::as_str));
                continue;
            }
            "realm" => {
                match args.get(1) {
                    None => println!("{}", client.realm()),
                    Some(name) => match Realm::new(name) {
                        Ok(r) => client = client.with_realm(r),
                        Err(e) => eprintln!("error: {e}"),
                    },
                }
                continue;
            }
            _ => {}
        }
        let parsed = match Cli::try_parse_from(std::iter::once("beach".to_owned()).chain(args)) {
            Ok(p) => p,
            Err(e) => {
                // clap's message, without its own "Usage" trailer noise for the shell.
                eprint!("{}", e.render());
                continue;
            }
        };
        let json = parsed.global.json || global.json;
        let global =
            Global { timeout: parsed.global.timeout.or(global.timeout), json, ..global.clone() };
        let result = match parsed.command {
            None => {
                help(None);
                continue;
            }
            Some(
                Command::Demo(_) | Command::Node(_) | Command::BenchEcho | Command::BenchClient(_),
            ) => Err(Failure::usage("not available in the shell")),
            Some(c @ Command::GenKey { .. }) => cmd::gen_key_command(&c, &global),
            Some(command) => runtime.block_on(cmd::run(&client, command, &global)),
        };
        report(result, json);
        runtime.block_on(refresh_words(&client, &words));
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    client.close();
    0
}

/// Loads the categories and actor types that Tab completes.
async fn refresh_words(client: &Beach, words: &Arc<Mutex<BTreeSet<String>>>) {
    let mut found: BTreeSet<String> =
        beach_node::actors::builtin_registry().types().map(ToString::to_string).collect();
    if let Ok(dir) = client.directory("").await {
        found.extend(dir.keys().map(ToString::to_string));
    }
    if let Ok(meta) = client.node_metadata().await {
        found.extend(meta.iter().flat_map(|n| &n.actors).map(|a| a.actor_type.to_string()));
    }
    *words.lock().expect("completion lock") = found;
}

/// `help` (every command) or `help CMD` (one command's flags).
fn help(command: Option<&str>) {
    let mut cli = Cli::command();
    match command {
        None => {
            println!(
                "commands (each takes the same arguments as `beach CMD` on the command line):"
            );
            for sub in cli.get_subcommands().filter(|c| in_shell(c)) {
                println!(
                    "  {:<14} {}",
                    sub.get_name(),
                    sub.get_about().map(|a| a.to_string()).unwrap_or_default()
                );
            }
            println!(
                "  {:<14} switch to realm NAME (without NAME: show the current one)",
                "realm NAME"
            );
            println!("  {:<14} this list; `help CMD` for one command", "help");
            println!("  {:<14} leave (or Ctrl-D)", "exit");
            let aliases: Vec<String> = ALIASES.iter().map(|(a, c)| format!("{a} = {c}")).collect();
            println!("py-beach names work too: {}", aliases.join(", "));
        }
        Some(name) => {
            let name = ALIASES.iter().find(|(a, _)| *a == name).map_or(name, |(_, c)| c);
            match cli.find_subcommand_mut(name) {
                Some(sub) => {
                    let _ = sub.print_help();
                    println!();
                }
                None => eprintln!("error: no command {name:?}; `help` lists them"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_commands_first_then_categories_and_types() {
        let c = Completions {
            commands: vec!["dir".into(), "get_dir".into(), "request".into(), "realm".into()],
            words: Arc::new(Mutex::new(["pongers".into(), "pingers".into(), "Pong".into()].into())),
        };
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        let names = |(start, found): (usize, Vec<Pair>)| {
            (start, found.into_iter().map(|p| p.replacement).collect::<Vec<_>>())
        };
        assert_eq!(
            names(c.complete("re", 2, &ctx).unwrap()),
            (0, vec!["request".into(), "realm".into()])
        );
        assert_eq!(names(c.complete("request po", 10, &ctx).unwrap()), (8, vec!["pongers".into()]));
        assert_eq!(names(c.complete("spawn Po", 8, &ctx).unwrap()), (6, vec!["Pong".into()]));
        assert_eq!(names(c.complete("request p", 9, &ctx).unwrap()).1.len(), 2);
    }
}
