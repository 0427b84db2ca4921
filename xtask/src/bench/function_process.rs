//! A release function binary started as Lambda starts it (only the Lambda variables and the
//! function's configuration in its environment), against the runtime stub; its memory and CPU
//! time read from /proc.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::world::ADMIN_TOKEN;

/// Killed when dropped (a panicking section leaves no process behind).
pub struct FunctionProcess {
    child: Option<Child>,
    pid: u32,
    /// Drains stderr (a full pipe would stall the function); returns its last lines.
    stderr: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts `binary` for `function` with the runtime API at `runtime_port`, the table and
    /// endpoint given, and `extra` variables on top (e.g. quotas).
    pub fn spawn(
        binary: &Path,
        function: &str,
        runtime_port: u16,
        table: &str,
        endpoint: &str,
        extra: &[(&str, &str)],
    ) -> FunctionProcess {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("127.0.0.1:{runtime_port}"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("harmonic-{function}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("TABLE_NAME", table)
            .env("DYNAMODB_ENDPOINT", endpoint)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            // The production default, stated: the first request's bcrypt is at cost 10.
            .env("BCRYPT_COST", "10")
            .env("RUST_LOG", "warn");
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {}: {error}", binary.display()));
        let stderr = child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let mut last = std::collections::VecDeque::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if last.len() == 3 {
                        last.pop_front();
                    }
                    last.push_back(line);
                }
                Vec::from(last)
            })
        });
        FunctionProcess {
            pid: child.id(),
            child: Some(child),
            stderr,
        }
    }

    /// Peak and current resident set, in bytes.
    pub fn memory(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
                .map(|kib| kib * 1024)
        };
        Some((field("VmHWM:")?, field("VmRSS:")?))
    }

    /// User + system CPU time the process has used (clock-tick resolution, usually 10 ms).
    pub fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after_name = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_second as f64))
    }

    /// Kills the process; returns the last lines of its stderr (for failure messages).
    pub fn stop(mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let _ = child.kill();
        let _ = child.wait();
        let lines = self
            .stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        lines.join(" / ")
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
