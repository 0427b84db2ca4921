//! End-to-end suite: real HTTP through `cargo lambda watch` and its router, started by
//! `scripts/e2e.sh` (part of `make test`), which sets API_URL, E2E_ADMIN_TOKEN and
//! E2E_LOG_FILE. The tests are `#[ignore]`d so that a plain `cargo test` does not need the stack.
//! They run in one thread, in file order within each module; each uses its own user ids.
mod abuse;
mod charging;
mod concurrency;
mod flows;
mod idempotency;
mod operations;
mod secrets;

pub fn api_url() -> String {
    std::env::var("API_URL").expect("API_URL: run through `make test` (scripts/e2e.sh)")
}

pub fn admin_token() -> String {
    std::env::var("E2E_ADMIN_TOKEN").expect("E2E_ADMIN_TOKEN: run through `make test`")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Every key and token the suite saw, so the secrets test can look for them in the logs.
pub fn remember_secret(secret: &str) {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!(
        "harmonic-e2e-secrets-{}",
        api_url().replace([':', '/'], "_")
    ));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{secret}");
    }
}

pub fn remembered_secrets() -> Vec<String> {
    let path = std::env::temp_dir().join(format!(
        "harmonic-e2e-secrets-{}",
        api_url().replace([':', '/'], "_")
    ));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
