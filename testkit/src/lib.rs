//! What both the test suites (harmonic-tests) and the tools (xtask) need, so that neither depends
//! on the other: [`requests`] builds Lambda HTTP requests as API Gateway delivers them and reads
//! answers back; [`stubs`] runs local stand-ins of the upstream services (used by the suites,
//! `make run OFFLINE=1` and the benchmarks), whose canned answers are in [`fixtures`].
pub mod fixtures;
pub mod requests;
pub mod stubs;
