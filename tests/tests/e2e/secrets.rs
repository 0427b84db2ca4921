//! No API key, bcrypt hash or admin token in any log line of the run. Runs last (file order
//! `z_`), after the flows have created, used, rotated and revoked keys.
use crate::{admin_token, remembered_secrets};

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn z_no_secret_appears_in_any_log_line() {
    let path = std::env::var("E2E_LOG_FILE").expect("E2E_LOG_FILE: run through `make test`");
    let logs = std::fs::read_to_string(&path).expect("the functions' log");
    assert!(logs.lines().count() > 10, "the log holds the run's lines");
    let secrets = remembered_secrets();
    assert!(
        secrets.len() >= 4,
        "the flows issued keys before this test ran"
    );
    for secret in secrets.iter().chain(std::iter::once(&admin_token())) {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret appeared in the logs"
        );
        // The key's secret part alone must not leak either.
        if let Some(tail) = secret.strip_prefix("hm_") {
            assert!(
                !logs.contains(&tail[10..]),
                "a key's secret part appeared in the logs"
            );
        }
    }
    assert!(!logs.contains("$2b$"), "a bcrypt hash appeared in the logs");
}
