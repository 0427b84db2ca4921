//! What a request costs on Lambda, by calculation from figures measured here: Lambda gives a
//! function CPU in proportion to its memory (1 vCPU at 1,769 MB), so CPU-bound work measured on
//! one core here takes `cpu / share` there, while waiting (DynamoDB) does not scale.
use std::time::Duration;

/// Lambda duration price, arm64, us-east-1, first pricing tier (USD per GB-second).
pub const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda request price, every architecture, us-east-1 (USD per request: $0.20 per million).
pub const PRICE_PER_REQUEST: f64 = 0.20 / 1e6;
/// The memory size at which a function has one full vCPU.
pub const FULL_VCPU_MB: f64 = 1769.0;
pub const SIZES_MB: [u32; 5] = [128, 256, 512, 1024, 1769];
/// The recommendation rule: the smallest size at which a cold key's bcrypt (the CPU-bound part
/// of a first request, the part memory buys down) fits in this budget. Judged on bcrypt alone
/// because it is measured as CPU time, which a busy machine distorts far less than wall time.
pub const BCRYPT_BUDGET: Duration = Duration::from_millis(250);
/// The rule judges bcrypt at this multiple of the CPU time measured here, because Lambda's
/// Graviton core is not measured here and x86_64 cores differ: cost-10 bcrypt took 80 ms on the
/// AMD EPYC bench machine (2026-12-02) and 52 ms on the Intel Xeon one (2026-12-03), a 1.54×
/// spread. Without it the recommendation would follow whichever machine ran the bench.
pub const CORE_MARGIN: f64 = 1.5;

/// What was measured here, on one core of this machine.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// CPU time of one bcrypt verification at the production cost.
    pub bcrypt_cpu: Duration,
    /// First metered invocation of a fresh process (handed → response), bcrypt included.
    pub first_invocation: Duration,
    /// A warm request's billed duration and the function's CPU time in it.
    pub warm_billed: Duration,
    pub warm_cpu: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    pub memory_mb: u32,
    pub vcpu: f64,
    pub bcrypt: Duration,
    pub first_request: Duration,
    /// Rounded up to Lambda's 1 ms billing granularity.
    pub warm_billed_ms: u64,
    /// Duration charge of one million warm requests (USD), without the request charge.
    pub warm_duration_cost_per_million: f64,
}

pub fn vcpu_share(memory_mb: u32) -> f64 {
    (f64::from(memory_mb) / FULL_VCPU_MB).min(1.0)
}

pub fn estimate(memory_mb: u32, measured: &Measured) -> Estimate {
    let vcpu = vcpu_share(memory_mb);
    let scale = |cpu: Duration| cpu.div_f64(vcpu);
    let bcrypt = scale(measured.bcrypt_cpu);
    let first_request = measured
        .first_invocation
        .saturating_sub(measured.bcrypt_cpu)
        + bcrypt;
    let warm = measured.warm_billed.saturating_sub(measured.warm_cpu) + scale(measured.warm_cpu);
    let warm_billed_ms = (warm.as_secs_f64() * 1e3).ceil().max(1.0) as u64;
    let gigabytes = f64::from(memory_mb) / 1024.0;
    Estimate {
        memory_mb,
        vcpu,
        bcrypt,
        first_request,
        warm_billed_ms,
        warm_duration_cost_per_million: gigabytes
            * (warm_billed_ms as f64 / 1e3)
            * PRICE_PER_GB_SECOND
            * 1e6,
    }
}

/// The smallest listed size whose bcrypt, with [`CORE_MARGIN`], fits the budget (the largest if
/// none does).
pub fn recommend(estimates: &[Estimate]) -> Option<Estimate> {
    estimates
        .iter()
        .find(|e| e.bcrypt.mul_f64(CORE_MARGIN) <= BCRYPT_BUDGET)
        .or(estimates.last())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measured {
        Measured {
            bcrypt_cpu: Duration::from_millis(80),
            first_invocation: Duration::from_millis(90),
            warm_billed: Duration::from_millis(5),
            warm_cpu: Duration::from_millis(1),
        }
    }

    #[test]
    fn cpu_bound_work_scales_with_the_vcpu_share_and_waiting_does_not() {
        let at_256 = estimate(256, &measured());
        assert!((at_256.vcpu - 256.0 / 1769.0).abs() < 1e-12);
        assert_eq!(
            at_256.bcrypt,
            Duration::from_millis(80).div_f64(256.0 / 1769.0)
        );
        // 4 ms of waiting + 1 ms of CPU at 0.1447 vCPU = 10.91 ms, billed as 11 ms.
        assert_eq!(at_256.warm_billed_ms, 11);
        let full = estimate(1769, &measured());
        assert_eq!(full.bcrypt, Duration::from_millis(80));
        assert_eq!(full.first_request, Duration::from_millis(90));
        assert_eq!(full.warm_billed_ms, 5);
    }

    #[test]
    fn the_duration_charge_is_memory_times_billed_time_times_the_price() {
        let at_1024 = estimate(1024, &measured());
        let expected = 1.0 * (at_1024.warm_billed_ms as f64 / 1e3) * PRICE_PER_GB_SECOND * 1e6;
        assert!((at_1024.warm_duration_cost_per_million - expected).abs() < 1e-12);
    }

    #[test]
    fn the_recommendation_is_the_smallest_size_within_the_bcrypt_budget() {
        let estimates: Vec<Estimate> = SIZES_MB
            .iter()
            .map(|&mb| estimate(mb, &measured()))
            .collect();
        let chosen = recommend(&estimates).expect("a size");
        // 80 ms of bcrypt: 512 MB → 276 ms (× 1.5 = 415 ms, over 250 ms), 1024 MB → 138 ms (207 ms).
        assert_eq!(chosen.memory_mb, 1024);
    }

    #[test]
    fn a_faster_bench_core_does_not_shrink_the_recommendation_within_the_margin() {
        let faster = Measured {
            bcrypt_cpu: Duration::from_millis(52),
            ..measured()
        };
        let estimates: Vec<Estimate> = SIZES_MB.iter().map(|&mb| estimate(mb, &faster)).collect();
        // 52 ms: 512 MB → 180 ms, within 250 ms alone but 270 ms with the margin.
        assert!(estimates[2].bcrypt <= BCRYPT_BUDGET);
        assert_eq!(recommend(&estimates).expect("a size").memory_mb, 1024);
        let slower = Measured {
            bcrypt_cpu: Duration::from_millis(160),
            ..measured()
        };
        let estimates: Vec<Estimate> = SIZES_MB.iter().map(|&mb| estimate(mb, &slower)).collect();
        // 160 ms: 1024 MB → 276 ms; only a full vCPU (240 ms with the margin) fits.
        assert_eq!(recommend(&estimates).expect("a size").memory_mb, 1769);
    }
}
