//! Section 7, the first metered request of a fresh data process, measured (spawn → first
//! response, with a key the process has not cached: init, the key read, bcrypt at cost 10, the
//! meter), and what it costs on Lambda at each memory size, by calculation.
use harmonic_shared::apikey;
use std::path::Path;
use std::time::{Duration, Instant};

use super::dynamo_proxy::{DynamoProxy, Seen};
use super::function_process::FunctionProcess;
use super::lambda_cost::{self, Measured, BCRYPT_BUDGET, PRICE_PER_REQUEST};
use super::lambda_events::{data_event, CURIOSITY_BODY};
use super::report::Section;
use super::round_trips::{invoke_ok, QUOTA};
use super::runtime_stub::RuntimeStub;
use super::stats::{duration, nanos, thread_cpu_time, Summary};
use super::world::{self, World};

pub const TITLE: &str = "7. First metered request on a fresh process; memory size";
const FRESH_PROCESSES: usize = 8;
const WARM_PER_PROCESS: usize = 50;
const BCRYPT_SAMPLES: usize = 10;

#[derive(Default)]
struct Taken {
    spawn_to_response: Vec<Duration>,
    runtime_init: Vec<Duration>,
    init_done: Vec<Duration>,
    first_invocation: Vec<Duration>,
    first_billed: Vec<Duration>,
    warm_billed: Vec<Duration>,
    warm_cpu: Vec<Duration>,
    first_operations: String,
    /// The proxy's log length when the warm requests of the last process began.
    warm_mark: usize,
}

pub async fn run(endpoint: &str, binaries: &Path) -> Section {
    let mut section = Section::new(
        TITLE,
        "8 fresh data processes (`target/release/data` under the runtime stub, DynamoDB through \
the proxy of section 6 at D = 0, BCRYPT_COST=10 as in production), each sent a metered `POST \
/api/v1/data` (Pro key, the curiosity body of section 6) with a key it has not cached: init, the \
key's GetItem, one bcrypt verification at cost 10, the meter. Spawn → first response is what the \
first client of a new container waits for after Lambda has started the sandbox; it splits into \
init (spawn → the runtime's first `next`; init ends when extensions are ready too) and the first \
invocation (handed → response). Each process then serves 50 warm requests (the warm billed \
duration and the function's CPU per request, /proc). bcrypt CPU = getrusage(RUSAGE_THREAD) of \
one cost-10 verification on one core of this machine, 10 samples.",
    );
    println!("\n== {TITLE}");
    let world = World::new(endpoint, "first", &[QUOTA]).await;
    let bcrypt = bcrypt_cpu(&world).await;
    section.row(
        "bcrypt verify at cost 10, CPU on one core here",
        bcrypt.latency(),
    );
    match measure(&world, endpoint, binaries).await {
        Ok(taken) => report(
            &mut section,
            &taken,
            Duration::from_nanos(bcrypt.p50 as u64),
        ),
        Err(why) => section.row("first metered request", format!("failed: {why}")),
    }
    world.drop_table().await;
    section
}

async fn bcrypt_cpu(world: &World) -> Summary {
    let key = apikey::generate(&world.config.key_check);
    let samples = tokio::task::spawn_blocking(move || {
        let stored = apikey::hash(&key, 10).expect("bcrypt hash");
        (0..BCRYPT_SAMPLES)
            .map(|_| {
                let before = thread_cpu_time();
                assert!(apikey::verify(&key, &stored), "the key verifies");
                thread_cpu_time().saturating_sub(before)
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("bcrypt task");
    Summary::of(&samples)
}

async fn measure(world: &World, endpoint: &str, binaries: &Path) -> Result<Taken, String> {
    let key = world::create_key(&world.container(), "bench-first", "pro").await;
    let proxy = DynamoProxy::start(endpoint).await;
    let event = data_event(&key, CURIOSITY_BODY);
    let mut taken = Taken::default();
    let mut failure = None;
    for round in 0..FRESH_PROCESSES {
        let stub = RuntimeStub::start("data").await;
        let mark = proxy.len();
        let spawned = Instant::now();
        let process = FunctionProcess::spawn(
            &binaries.join("data"),
            "data",
            stub.port,
            world.store.table(),
            &proxy.endpoint,
            &[QUOTA],
        );
        let result = fresh_process(&stub, &proxy, &process, &event, spawned, &mut taken).await;
        if round == 0 {
            let operations: Vec<String> = taken_until(&proxy, mark, taken.warm_mark)
                .into_iter()
                .map(|seen| seen.operation)
                .collect();
            taken.first_operations = world::describe_operations(&operations);
        }
        let stderr = process.stop();
        if let Err(why) = result {
            failure = Some(format!("{why}; stderr: {stderr}"));
            break;
        }
    }
    failure.map_or(Ok(taken), Err)
}

/// The proxy's entries from mark `from` up to mark `to`.
fn taken_until(proxy: &DynamoProxy, from: usize, to: usize) -> Vec<Seen> {
    let mut seen = proxy.since(from);
    seen.truncate(to.saturating_sub(from));
    seen
}

async fn fresh_process(
    stub: &RuntimeStub,
    proxy: &DynamoProxy,
    process: &FunctionProcess,
    event: &str,
    spawned: Instant,
    taken: &mut Taken,
) -> Result<(), String> {
    let first = invoke_ok(stub, event).await?;
    taken.spawn_to_response.push(first.responded - spawned);
    taken.init_done.push(first.handed - spawned);
    if let Some(next) = stub.first_next() {
        taken.runtime_init.push(next - spawned);
    }
    taken.first_invocation.push(first.response_time());
    taken.first_billed.push(first.billed());
    tokio::time::sleep(Duration::from_millis(100)).await;
    taken.warm_mark = proxy.len();
    let cpu_before = process.cpu();
    for _ in 0..WARM_PER_PROCESS {
        taken
            .warm_billed
            .push(invoke_ok(stub, event).await?.billed());
    }
    if let (Some(before), Some(after)) = (cpu_before, process.cpu()) {
        taken
            .warm_cpu
            .push(after.saturating_sub(before) / WARM_PER_PROCESS as u32);
    }
    Ok(())
}

fn report(section: &mut Section, taken: &Taken, bcrypt_cpu: Duration) {
    let first = Summary::of(&taken.spawn_to_response);
    let first_invocation = Summary::of(&taken.first_invocation);
    let warm_billed = Summary::of(&taken.warm_billed);
    let warm_cpu = Summary::of(&taken.warm_cpu);
    section.row(
        "spawn → first response (metered, key not cached)",
        first.latency(),
    );
    section.row(
        "… spawn → the runtime's first `next` (init)",
        Summary::of(&taken.runtime_init).median_iqr(),
    );
    section.row(
        "… spawn → first invocation handed out (init incl. extensions)",
        Summary::of(&taken.init_done).median_iqr(),
    );
    section.row(
        "… first invocation, handed → response",
        first_invocation.median_iqr(),
    );
    section.row(
        "… first invocation, billed",
        Summary::of(&taken.first_billed).median_iqr(),
    );
    section.row(
        "DynamoDB requests of a first metered request (sent until 100 ms after its end)",
        taken.first_operations.clone(),
    );
    section.row("warm billed duration (D = 0)", warm_billed.latency());
    section.row(
        "CPU of the data process per warm request (/proc, per process)",
        warm_cpu.median_iqr(),
    );

    let measured = Measured {
        bcrypt_cpu,
        first_invocation: Duration::from_nanos(first_invocation.p50 as u64),
        warm_billed: Duration::from_nanos(warm_billed.p50 as u64),
        warm_cpu: Duration::from_nanos(warm_cpu.p50 as u64),
    };
    let estimates: Vec<_> = lambda_cost::SIZES_MB
        .iter()
        .map(|&mb| lambda_cost::estimate(mb, &measured))
        .collect();
    section.note(
        "Lambda rows, by calculation: CPU ∝ memory (1 vCPU at 1,769 MB), so bcrypt = the CPU \
measured here / vCPU share; first metered request = the first invocation measured here with its \
bcrypt so scaled (init and Lambda's sandbox start not included); warm billed = (warm billed − \
function CPU, both measured here) + function CPU / vCPU share, rounded up to Lambda's 1 ms; \
duration charge = GB × billed s × $0.0000133334 per GB-s (arm64, us-east-1, first tier), per \
million warm requests. The request charge ($0.20 per million) comes on top at every size.",
    );
    for e in &estimates {
        section.row(
            format!("Lambda {} MB (calc.)", e.memory_mb),
            format!(
                "{:.3} vCPU: bcrypt {}, first metered request {}, warm billed {} ms, duration \
${:.3} per million warm requests",
                e.vcpu,
                duration(e.bcrypt),
                duration(e.first_request),
                e.warm_billed_ms,
                e.warm_duration_cost_per_million
            ),
        );
    }
    if let Some(chosen) = lambda_cost::recommend(&estimates) {
        match deployed_data_memory() {
            Ok(deployed) => section.verdict(
                "infra/template.yaml deploys the data function at the recommended size",
                format!(
                    "MemorySize {deployed} MB, recommended {} MB",
                    chosen.memory_mb
                ),
                deployed == chosen.memory_mb,
                "DataFunction's MemorySize in the template, read by the bench, against the rule \
below.",
            ),
            Err(why) => section.row("data function's MemorySize in infra/template.yaml", why),
        }
        let smallest = estimates[0];
        let total =
            |e: &lambda_cost::Estimate| e.warm_duration_cost_per_million + PRICE_PER_REQUEST * 1e6;
        section.note(format!(
            "**Recommendation: {} MB for the data function.** Rule: the smallest size at which a \
cold key's bcrypt (once per key per container, KEY_CACHE_TTL_SECONDS), taken at {}× the CPU \
measured here for the unmeasured Graviton core, stays within {}: {} there ({} with the margin), \
for an estimated first metered request of {} (vs {} at {} MB). A warm request is mostly waiting, so its duration charge \
grows with memory, but it stays small beside the request charge: ${:.3} per million warm \
requests in all at {} MB vs ${:.3} at {} MB ({:+.0}%). Caveats: bcrypt was timed on this \
machine's x86_64 core ({}), not on Graviton; the warm figures are against local dynalite (DynamoDB \
adds the same few ms at every size, which widens the difference in duration charge in proportion \
to memory).",
            chosen.memory_mb,
            lambda_cost::CORE_MARGIN,
            duration(BCRYPT_BUDGET),
            duration(chosen.bcrypt),
            duration(chosen.bcrypt.mul_f64(lambda_cost::CORE_MARGIN)),
            duration(chosen.first_request),
            duration(smallest.first_request),
            smallest.memory_mb,
            total(&chosen),
            chosen.memory_mb,
            total(&smallest),
            smallest.memory_mb,
            (total(&chosen) / total(&smallest) - 1.0) * 100.0,
            nanos(bcrypt_cpu.as_nanos() as f64),
        ));
    }
    section.note(
        "Spawn → first response is measured on this machine against dynalite: it omits Lambda's \
sandbox start and DynamoDB's distance (every round trip the first response waits for: the key's \
GetItem and the meter; the usage batch follows the response), and bcrypt runs on a full core \
here.",
    );
}

/// DataFunction's `MemorySize` in infra/template.yaml (the first one after the resource's name).
fn deployed_data_memory() -> Result<u32, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    let template = std::fs::read_to_string(&path).map_err(|e| format!("not read: {e}"))?;
    memory_of("DataFunction", &template)
}

fn memory_of(resource: &str, template: &str) -> Result<u32, String> {
    let header = format!("  {resource}:");
    let mut lines = template.lines().skip_while(|line| *line != header);
    lines
        .next()
        .ok_or_else(|| format!("no {resource} resource"))?;
    lines
        .take_while(|line| line.is_empty() || line.starts_with("   "))
        .find_map(|line| line.trim().strip_prefix("MemorySize:"))
        .ok_or_else(|| format!("{resource} has no MemorySize"))?
        .trim()
        .parse()
        .map_err(|e| format!("{resource}'s MemorySize: {e}"))
}

#[cfg(test)]
mod tests {
    use super::memory_of;

    #[test]
    fn the_memory_size_is_read_from_the_named_resource_only() {
        let template = "Resources:\n  KeysFunction:\n    Type: X\n    Properties:\n      \
MemorySize: 256\n\n  DataFunction:\n    Type: X\n    Properties:\n      # a comment\n      \
MemorySize: 1024\n  Other:\n    MemorySize: 7\n";
        assert_eq!(memory_of("DataFunction", template), Ok(1024));
        assert_eq!(memory_of("KeysFunction", template), Ok(256));
        assert!(memory_of("Missing", template).is_err());
        assert!(memory_of(
            "DataFunction",
            "  DataFunction:\n    Type: X\n  Next:\n    MemorySize: 1\n"
        )
        .is_err());
    }

    #[test]
    fn the_real_template_names_a_data_memory_size() {
        assert!(super::deployed_data_memory().is_ok());
    }
}
