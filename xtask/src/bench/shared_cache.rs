//! Section 8, shared-cache hit (target < 5 ms on dynalite).
//!
//! TO BE COMPLETED WHEN THE SHARED CACHE LANDS (issue 12; another engineer builds it). Measure
//! here: a second container (`DataApp`, empty in-process caches) answering a request that a
//! first container already stored in the shared (DynamoDB) cache, p50 and p99 of the gather,
//! with the DynamoDB requests it makes (counted as in section 2). Until then this reports no
//! figure: it says so, and fails the run only when BENCH_REQUIRE_SHARED_CACHE=1.
use super::report::Section;

pub const TITLE: &str = "8. Shared-cache hit";

pub fn shared_cache_hit(_endpoint: &str) -> Section {
    let mut section = Section::new(
        TITLE,
        "A request answered from the shared cache by a container that has not seen it.",
    );
    println!("\n== {TITLE}");
    section.row("shared-cache hit", "not built on this branch");
    if std::env::var("BENCH_REQUIRE_SHARED_CACHE").is_ok_and(|value| value == "1") {
        section.verdict(
            "shared-cache hit < 5 ms on dynalite",
            "not measured",
            false,
            "BENCH_REQUIRE_SHARED_CACHE=1, but the shared cache is not built on this branch.",
        );
    } else {
        section.note(
            "No figure: the shared cache is not built on this branch (set \
BENCH_REQUIRE_SHARED_CACHE=1 to make its absence fail the run).",
        );
    }
    section
}
