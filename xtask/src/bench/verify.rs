//! Section 1, key verification: bcrypt (cold) vs the verified-key cache (warm), and the old design's
//! scan (bcrypt against every stored hash in turn) as a baseline in the same run.
use harmonic_shared::apikey::{self, PresentedKey};
use std::time::{Duration, Instant};

use super::report::Section;
use super::stats::{duration, nanos, times, Summary};
use super::world::{self, World};

const COLD_SAMPLES: usize = 20;
const WARM_SAMPLES: usize = 20_000;
const SCAN_10_SAMPLES: usize = 5;
const SCAN_100_SAMPLES: usize = 3;
/// Distinct decoy hashes; the N = 100 list cycles through them (same work per hash).
const DECOYS: usize = 10;

pub async fn run(endpoint: &str) -> Section {
    let mut section = Section::new(
        "1. Key verification",
        "Cold: `harmonic_shared::apikey::verify` (bcrypt) of a presented key against its stored \
hash at cost 10, the production default. Warm: `app.auth.verify_key(&key)` on an `App` whose cache \
already holds the key (SHA-256 of the presented key, constant-time compare, moka lookup; no I/O — \
the round-trip counter is checked). Baseline: the old design, which verified a presented key by \
running bcrypt against each stored hash in turn; here N stored cost-10 hashes with the matching one \
last (worst case). Only the bcrypt work of the scan is timed, not the scan's reads, which favours \
the baseline.",
    );
    println!("\n== {}", section.title);
    let world = World::new(endpoint, "verify", &[]).await;
    let cost = world.config.bcrypt_cost;

    // Cold: one bcrypt verification per request.
    let key = apikey::generate(&world.config.key_check);
    let stored = hash(&key, cost).await;
    let mut cold = Vec::with_capacity(COLD_SAMPLES);
    for _ in 0..COLD_SAMPLES {
        cold.push(timed_blocking_verify(&key, vec![stored.clone()]).await);
    }
    let cold = Summary::of(&cold);
    section.row(format!("cold: bcrypt verify, cost {cost}"), cold.latency());

    // Warm: the cache hit, as a request sees it.
    let app = world.container();
    let text = world::create_key(&app, "bench-verify", "free").await;
    let presented =
        PresentedKey::parse(&text, &world.config.key_check).expect("a key we issued parses");
    let fresh = world.container();
    fresh
        .auth
        .verify_key(&presented)
        .await
        .expect("the key verifies");
    let trips_before = world.counter.count();
    let mut warm = Vec::with_capacity(WARM_SAMPLES);
    for _ in 0..WARM_SAMPLES {
        let started = Instant::now();
        let verified = fresh.auth.verify_key(&presented).await;
        warm.push(started.elapsed());
        assert!(verified.is_ok(), "warm verification failed");
    }
    let warm_trips = world.counter.count() - trips_before;
    let warm = Summary::of(&warm);
    section.row("warm: verify_key cache hit", warm.latency());
    section.row(
        format!("warm: DynamoDB round trips over {WARM_SAMPLES} verifications"),
        warm_trips.to_string(),
    );
    section.row("cold / warm (medians)", times(cold.p50 / warm.p50));

    // Baseline: the scan.
    let decoys: Vec<String> = {
        let mut decoys = Vec::with_capacity(DECOYS);
        for _ in 0..DECOYS {
            decoys.push(hash(&apikey::generate(&world.config.key_check), cost).await);
        }
        decoys
    };
    let mut verdict_ratio = f64::NAN;
    for (n, samples) in [(10, SCAN_10_SAMPLES), (100, SCAN_100_SAMPLES)] {
        let mut hashes: Vec<String> = decoys.iter().cycle().take(n - 1).cloned().collect();
        hashes.push(stored.clone());
        let mut scans = Vec::with_capacity(samples);
        for _ in 0..samples {
            scans.push(timed_blocking_verify(&key, hashes.clone()).await);
        }
        let scan = Summary::of(&scans);
        let ratio = scan.p50 / warm.p50;
        section.row(
            format!("baseline: scan of N = {n} hashes, match last"),
            format!("{}, n = {samples}", scan.median_iqr()),
        );
        section.row(
            format!("baseline N = {n} / warm (medians)"),
            format!(
                "{} (at warm p99 {}: {})",
                times(ratio),
                nanos(warm.p99),
                times(scan.p50 / warm.p99)
            ),
        );
        if n == 100 {
            verdict_ratio = scan.p50 / warm.p99;
        }
    }
    section.verdict(
        "warm ≥ 1,000× faster than the N = 100 scan",
        format!("{} (scan median / warm p99)", times(verdict_ratio)),
        verdict_ratio >= 1_000.0,
        "A warm request never runs bcrypt: the key id locates the one cached entry and a SHA-256 \
digest is compared in constant time, so the cost does not grow with the number of stored keys; \
the scan runs N bcrypts. Checked against the warm p99, not only the median.",
    );
    section.note(format!(
        "The N = 100 list cycles through {DECOYS} distinct decoy hashes (bcrypt does the same work \
for any hash of the same cost; generating 99 would only lengthen the run)."
    ));
    section.note(format!(
        "A cold verification ({} median here) happens once per key per container \
(KEY_CACHE_TTL_SECONDS, default 900 s); a wrong secret for a real key id is remembered for a minute.",
        duration(Duration::from_nanos(cold.p50 as u64))
    ));
    world.drop_table().await;
    section
}

async fn hash(key: &PresentedKey, cost: u32) -> String {
    let key = key.clone();
    tokio::task::spawn_blocking(move || apikey::hash(&key, cost).expect("bcrypt hash"))
        .await
        .expect("bcrypt task")
}

/// Time of verifying `key` against `hashes` in turn until one matches (on a blocking thread,
/// as the product runs bcrypt).
async fn timed_blocking_verify(key: &PresentedKey, hashes: Vec<String>) -> Duration {
    let key = key.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let found = hashes.iter().any(|stored| apikey::verify(&key, stored));
        let elapsed = started.elapsed();
        assert!(found, "the matching hash is in the list");
        elapsed
    })
    .await
    .expect("bcrypt task")
}
