//! Computes the dashboard page's Content-Security-Policy at build time: the page's one inline
//! `<style>` and one inline `<script>` are allowed by their SHA-256, so the policy never needs
//! `'unsafe-inline'` and a change to the page cannot drift from its hashes.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

const PAGE: &str = "assets/dashboard.html";

/// The text between the one `<{tag}>` and its closing tag (exactly one, without attributes).
fn only_block<'a>(page: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let count = page.matches(&format!("<{tag}")).count();
    assert_eq!(
        count, 1,
        "{PAGE} must have exactly one <{tag}> block, found {count}"
    );
    let start = page
        .find(&open)
        .unwrap_or_else(|| panic!("{PAGE}: no plain {open}"))
        + open.len();
    let end = start
        + page[start..]
            .find(&close)
            .unwrap_or_else(|| panic!("{PAGE}: no {close}"));
    &page[start..end]
}

fn hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

fn main() {
    println!("cargo:rerun-if-changed={PAGE}");
    let page = std::fs::read_to_string(PAGE).unwrap_or_else(|e| panic!("{PAGE}: {e}"));
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(only_block(&page, "script")),
        hash(only_block(&page, "style")),
    );
    println!("cargo:rustc-env=DASHBOARD_CSP={policy}");
}
