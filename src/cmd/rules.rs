//! `trailwatch rules list`: the rules that would run, with their language and pattern.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{CmdError, RuleArgs};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules that would run: name, severity, language, state, title and pattern.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// One JSON object per rule instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(c: RulesCommand) -> Result<ExitCode, CmdError> {
    let RulesCommand::List(a) = c;
    let set = a.rules.load()?;
    let mut out = String::new();
    if a.json {
        for r in set.all() {
            let v = serde_json::json!({
                "name": r.name, "title": r.title, "severity": r.severity.to_string(), "subject": r.subject,
                "enabled": r.enabled, "language": r.pattern.language(), "pattern": r.pattern.as_str(),
                "exclude": r.exclude.iter().map(|x| x.as_str()).collect::<Vec<_>>(), "origin": r.origin,
            });
            out.push_str(&v.to_string());
            out.push('\n');
        }
    } else {
        let w = set
            .all()
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "{:w$}  {:8}  {:13}  {:8}  TITLE\n",
            "NAME", "SEVERITY", "LANGUAGE", "STATE"
        ));
        for r in set.all() {
            let state = if r.enabled { "enabled" } else { "disabled" };
            out.push_str(&format!(
                "{:w$}  {:8}  {:13}  {:8}  {}\n",
                r.name,
                r.severity.to_string(),
                r.pattern.language(),
                state,
                r.title
            ));
            out.push_str(&format!("{:w$}  {}\n", "", r.pattern.as_str()));
            for x in &r.exclude {
                out.push_str(&format!("{:w$}  except {}\n", "", x.as_str()));
            }
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
