//! Sample summaries (median with spread, tail percentiles), human-readable durations, and the
//! process's CPU time (getrusage).
use std::time::{Duration, Instant};

/// Order statistics of a set of timed samples, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        let mut nanos: Vec<f64> = samples.iter().map(|d| d.as_nanos() as f64).collect();
        nanos.sort_by(f64::total_cmp);
        let at = |q: f64| -> f64 {
            if nanos.is_empty() {
                return f64::NAN;
            }
            // Nearest rank on the sorted samples.
            let rank = (q * (nanos.len() - 1) as f64).round() as usize;
            nanos[rank.min(nanos.len() - 1)]
        };
        Summary {
            n: nanos.len(),
            p25: at(0.25),
            p50: at(0.50),
            p75: at(0.75),
            p99: at(0.99),
            max: nanos.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// `median (p25–p75)`.
    pub fn median_iqr(&self) -> String {
        format!(
            "{} ({}–{})",
            nanos(self.p50),
            nanos(self.p25),
            nanos(self.p75)
        )
    }

    /// `median (p25–p75), p99 …, n = …`.
    pub fn latency(&self) -> String {
        format!(
            "p50 {} (p25–p75 {}–{}), p99 {}, n = {}",
            nanos(self.p50),
            nanos(self.p25),
            nanos(self.p75),
            nanos(self.p99),
            self.n
        )
    }
}

/// A duration in nanoseconds as text with a fitting unit.
pub fn nanos(value: f64) -> String {
    if !value.is_finite() {
        "n/a".to_owned()
    } else if value < 1e3 {
        format!("{value:.0} ns")
    } else if value < 1e6 {
        format!("{:.2} µs", value / 1e3)
    } else if value < 1e9 {
        format!("{:.2} ms", value / 1e6)
    } else {
        format!("{:.2} s", value / 1e9)
    }
}

pub fn duration(value: Duration) -> String {
    nanos(value.as_nanos() as f64)
}

/// A ratio as `1,234×`.
pub fn times(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "n/a".to_owned();
    }
    if ratio >= 100.0 {
        format!("{}×", thousands(ratio.round() as u64))
    } else {
        format!("{ratio:.2}×")
    }
}

pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// User + system CPU time this process has used so far (every thread).
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass; a zeroed rusage is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// User + system CPU time of the calling thread so far (for CPU-bound work on one core).
pub fn thread_cpu_time() -> Duration {
    // SAFETY: as in `cpu_time`; RUSAGE_THREAD reports the calling thread only (Linux).
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Wall-clock and CPU time of a stretch of work.
pub struct Meter {
    wall: Instant,
    cpu: Duration,
}

impl Meter {
    pub fn start() -> Meter {
        Meter {
            wall: Instant::now(),
            cpu: cpu_time(),
        }
    }

    /// (wall, cpu) since `start`.
    pub fn stop(&self) -> (Duration, Duration) {
        (self.wall.elapsed(), cpu_time().saturating_sub(self.cpu))
    }
}
