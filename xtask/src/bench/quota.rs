//! Section 5, quota under load: one container, the quota nearly used up, many concurrent charges.
use harmonic_shared::domain::Period;
use harmonic_shared::metering::MeteredCaller;
use harmonic_shared::ApiError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::report::Section;
use super::stats::{duration, thousands, Meter};
use super::world::{self, World};

const QUOTA: u64 = 1_000;
const PRE_CHARGED: u64 = 900;
const ATTEMPTS: usize = 2_000;
const CONCURRENCY: usize = 32;

#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    refused_quota: AtomicUsize,
    other: AtomicUsize,
}

pub async fn run(endpoint: &str) -> Section {
    let mut section = Section::new(
        "5. Quota under load",
        "One container (one `App`) against dynalite, Free quota 1,000: 900 requests charged \
sequentially, then 2,000 `charge` calls from 32 concurrent tokio tasks. Exactly 100 may be \
accepted. The stored count is read back afterwards (`store.get_user(..).used_in(this month)`).",
    );
    println!("\n== {}", section.title);
    let world = World::new(
        endpoint,
        "quota",
        &[("FREE_MONTHLY_QUOTA", &QUOTA.to_string())],
    )
    .await;
    let app = Arc::new(world.container());
    let key = world::create_key(&app, "bench-quota", "free").await;
    let headers = world::key_headers(&key);
    let caller = app
        .identify_metered(&headers, None)
        .await
        .expect("the key is accepted");
    let MeteredCaller::Key(verified) = &caller else {
        panic!("a key holder was expected");
    };
    let user_id = verified.user_id.clone();
    for _ in 0..PRE_CHARGED {
        if let Err(refusal) = app.charge(&caller).await {
            panic!("pre-charge refused: {:?}", refusal.error);
        }
    }

    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(0));
    let trips_before = world.counter.count();
    let meter = Meter::start();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (app, caller, tally, next) =
                (app.clone(), caller.clone(), tally.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < ATTEMPTS {
                    match app.charge(&caller).await {
                        Ok(_) => tally.accepted.fetch_add(1, Ordering::Relaxed),
                        Err(refusal) => match refusal.error {
                            ApiError::QuotaExceeded { .. } => {
                                tally.refused_quota.fetch_add(1, Ordering::Relaxed)
                            }
                            _ => tally.other.fetch_add(1, Ordering::Relaxed),
                        },
                    };
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker task");
    }
    let (wall, cpu) = meter.stop();
    let trips = world.counter.count() - trips_before;
    let accepted = tally.accepted.load(Ordering::Relaxed) as u64;
    let refused = tally.refused_quota.load(Ordering::Relaxed);
    let other = tally.other.load(Ordering::Relaxed);
    let stored = world
        .store
        .get_user(&user_id)
        .await
        .expect("read the user back")
        .expect("the user exists")
        .used_in(Period::containing(chrono::Utc::now()));
    let over_admissions = (PRE_CHARGED + accepted).saturating_sub(QUOTA);
    let per_second = ATTEMPTS as f64 / wall.as_secs_f64();

    section.row(
        format!("requests/s sustained ({ATTEMPTS} charges, concurrency {CONCURRENCY})"),
        format!("{per_second:.0} /s ({} wall)", duration(wall)),
    );
    section.row(
        "accepted (must be exactly 100)",
        format!("{accepted} (refused 429: {refused}, other errors: {other})"),
    );
    section.row("over-admissions", over_admissions.to_string());
    section.row("stored count read back", thousands(stored));
    section.row(
        "DynamoDB round trips per charge",
        format!(
            "{:.2} (accepted: 1 UpdateItem; refused: the failed UpdateItem + 1 GetItem that explains it)",
            trips as f64 / ATTEMPTS as f64
        ),
    );
    section.row(
        "CPU per charge (this process)",
        duration(cpu / ATTEMPTS as u32),
    );
    section.verdict(
        "0 over-admissions",
        format!("{over_admissions} (accepted {accepted} of 100 left; stored {stored})"),
        over_admissions == 0 && accepted == QUOTA - PRE_CHARGED && stored == QUOTA,
        "The count, the limit check, the liveness and the tier check are one conditional \
UpdateItem, so concurrent requests cannot both pass the last unit of quota; none was lost either \
(exactly 100 accepted, stored count = quota).",
    );
    section.note(
        "Requests/s is bounded by dynalite on this 2-core machine (a single Node.js process handling \
writes), not by the function; most of the 2,000 are refusals, which cost two round trips. On \
DynamoDB one item takes about 1,000 writes/s (see README, Scale).",
    );
    world.drop_table().await;
    section
}
