//! `cargo xtask env-vars`: the configuration variables a local run (`make run`, the end-to-end
//! stacks) forwards to the functions, one per line, for scripts/env.sh's env file.
//!
//! The one list is the README's configuration table: every variable it names, except the ones
//! only `make run` reads (their meaning starts with "`make run`") and `ADMIN_TOKEN` (the
//! functions get its SHA-256, as in AWS, because cargo lambda watch logs their environment).
//! The test below fails when the table and the variables the Rust code reads drift apart.

const README: &str = include_str!("../../README.md");

/// Never forwarded: scripts/env.sh hands the functions `ADMIN_TOKEN_SHA256` instead.
const NOT_FORWARDED: [&str; 1] = ["ADMIN_TOKEN"];

pub fn print() -> Result<(), Box<dyn std::error::Error>> {
    let forwarded = forwarded(README);
    if forwarded.is_empty() {
        return Err("README.md has no configuration table under `## Configuration`".into());
    }
    for name in forwarded {
        println!("{name}");
    }
    Ok(())
}

/// The variables the functions get in a local run.
fn forwarded(readme: &str) -> Vec<String> {
    documented(readme)
        .into_iter()
        .filter(|row| !row.make_run_only)
        .flat_map(|row| row.names)
        .filter(|name| !NOT_FORWARDED.contains(&name.as_str()))
        .collect()
}

/// One row of the configuration table: the variables of its first cell.
struct Row {
    names: Vec<String>,
    make_run_only: bool,
}

/// The rows of the table under `## Configuration` (until the first line that is not a row).
fn documented(readme: &str) -> Vec<Row> {
    readme
        .lines()
        .skip_while(|line| line.trim() != "## Configuration")
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (first, meaning) = (cells.get(1)?, cells.get(3)?);
            let names: Vec<String> = first
                .split('`')
                .skip(1)
                .step_by(2)
                .flat_map(expand_braces)
                .filter(|name| is_variable_name(name))
                .collect();
            (!names.is_empty()).then(|| Row {
                names,
                make_run_only: meaning.starts_with("`make run"),
            })
        })
        .collect()
}

/// `CACHE_TTL_{WIKI,NEWS}_SECONDS` → `CACHE_TTL_WIKI_SECONDS`, `CACHE_TTL_NEWS_SECONDS`.
fn expand_braces(text: &str) -> Vec<String> {
    match (text.find('{'), text.find('}')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close]
            .split(',')
            .map(|part| format!("{}{}{}", &text[..open], part, &text[close + 1..]))
            .collect(),
        _ => vec![text.to_owned()],
    }
}

fn is_variable_name(text: &str) -> bool {
    text.len() > 2
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::Mutex;

    /// Read by a library, not by a literal in our code: `tracing_subscriber`'s default filter.
    const READ_BY_LIBRARIES: [&str; 1] = ["RUST_LOG"];

    /// Every variable the product's Rust code reads: the names the configuration readers ask
    /// their lookup for, and every `env::var("…")` literal under shared/ and functions/.
    fn read_by_the_code() -> BTreeSet<String> {
        let asked = Mutex::new(BTreeSet::new());
        let asked_names = &asked;
        // A local endpoint: the readers then need nothing else. Some variables are read only
        // with another news provider, so the settings are read once per provider.
        let record = |given: &[(&str, &str)]| {
            let given: Vec<(String, String)> = given
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            move |name: &str| {
                asked_names.lock().expect("lock").insert(name.to_owned());
                given
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let local = [("DYNAMODB_ENDPOINT", "http://127.0.0.1:1")];
        harmonic_shared::config::Config::from_lookup(record(&local))
            .expect("the local configuration");
        for provider in ["gdelt", "hackernews", "newsapi"] {
            let given = [("NEWS_PROVIDER", provider), ("NEWSAPI_KEY", "a-test-key")];
            harmonic_data::sources::SourceSettings::from_lookup(record(&given))
                .expect("the settings of each news provider");
        }
        let mut names = asked.into_inner().expect("lock");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["shared/src", "functions"] {
            collect_rust_files(&root.join(dir), &mut files);
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for part in text.split("env::var(\"").skip(1) {
                if let Some(name) = part.split('"').next().filter(|n| is_variable_name(n)) {
                    names.insert(name.to_owned());
                }
            }
        }
        names
    }

    fn collect_rust_files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                collect_rust_files(&path, into);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                into.push(path);
            }
        }
    }

    #[test]
    fn the_readme_table_names_every_variable_the_code_reads_and_no_other() {
        let read = read_by_the_code();
        let for_the_functions: BTreeSet<String> = documented(README)
            .into_iter()
            .filter(|row| !row.make_run_only)
            .flat_map(|row| row.names)
            .collect();
        let undocumented: Vec<&String> = read.difference(&for_the_functions).collect();
        assert!(
            undocumented.is_empty(),
            "read by the code but missing from README.md's configuration table (so a local run would not forward them): {undocumented:?}"
        );
        let unread: Vec<&String> = for_the_functions
            .iter()
            .filter(|name| !read.contains(*name) && !READ_BY_LIBRARIES.contains(&name.as_str()))
            .collect();
        assert!(
            unread.is_empty(),
            "in README.md's configuration table but read by no code: {unread:?}"
        );
    }

    #[test]
    fn the_forwarded_list_expands_rows_and_leaves_out_make_runs_own_and_the_admin_token() {
        let names = forwarded(README);
        for expected in ["TABLE_NAME", "NEWSAPI_KEY", "CACHE_TTL_CURIOSITY_SECONDS"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} is forwarded"
            );
        }
        for left_out in [
            "ADMIN_TOKEN",
            "PORT",
            "DYNAMODB_PORT",
            "OFFLINE",
            "WATCH_RUST_LOG",
        ] {
            assert!(
                !names.iter().any(|n| n == left_out),
                "{left_out} is not forwarded"
            );
        }
    }
}
