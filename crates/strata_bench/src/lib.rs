//! Strata's performance report harness.
//!
//! Every metric is printed as one line:
//! `metric=<name> value=<number> unit=<unit> [peer=<name> peer_value=<number> ratio=<value/peer_value>]`.
//! Timings with a peer are measured side by side: ours and the peer's alternate batch by batch
//! (A B A B …) on the same inputs, and each side reports the median of its batches, so drift in
//! machine speed hits both alike.
#![forbid(unsafe_code)]

pub mod block_mesh_peer;
pub mod core_metrics;
pub mod geo_metrics;
pub mod index_metrics;
pub mod mesh_metrics;
pub mod net_metrics;
pub mod planet_route;
pub mod play_metrics;
pub mod ray_agreement;
pub mod redis_metrics;
pub mod scale_metrics;
pub mod stream_metrics;

use std::hint::black_box;
use std::time::Instant;

/// One area of the report: measures its metrics within a budget.
pub type Area = fn(Budget) -> Vec<Metric>;

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Batches per side (≥ 9).
    pub batches: usize,
    /// Scale factor for iteration counts (1.0 normal, smaller with `--quick`).
    pub scale: f64,
}

impl Budget {
    /// From the command line: `--quick` shortens every measurement.
    pub fn from_args() -> Self {
        if std::env::args().any(|a| a == "--quick") {
            Self { batches: 9, scale: 0.2 }
        } else {
            Self { batches: 15, scale: 1.0 }
        }
    }

    /// `n` scaled by the budget, at least 1.
    pub fn iters(&self, n: usize) -> usize {
        ((n as f64 * self.scale) as usize).max(1)
    }
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Name, exactly as the issue names it.
    pub name: String,
    /// Our value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// Peer name and value, if measured side by side.
    pub peer: Option<(String, f64)>,
}

impl Metric {
    /// A metric without peer.
    pub fn new(name: &str, value: f64, unit: &str) -> Self {
        Self { name: name.into(), value, unit: unit.into(), peer: None }
    }

    /// A metric with a peer measured in the same run.
    pub fn with_peer(name: &str, value: f64, unit: &str, peer: &str, peer_value: f64) -> Self {
        Self { name: name.into(), value, unit: unit.into(), peer: Some((peer.into(), peer_value)) }
    }

    /// The report line.
    pub fn line(&self) -> String {
        let mut s = format!("metric={} value={} unit={}", self.name, fmt_num(self.value), self.unit);
        if let Some((peer, pv)) = &self.peer {
            let ratio = if *pv != 0.0 { self.value / pv } else { f64::NAN };
            s.push_str(&format!(" peer={peer} peer_value={} ratio={}", fmt_num(*pv), fmt_num(ratio)));
        }
        s
    }

    /// Prints the line to stdout.
    pub fn print(&self) {
        println!("{}", self.line());
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-3..9).contains(&mag) { format!("{v:.4e}") } else { format!("{:.*}", (4 - mag).clamp(0, 6) as usize, v) }
}

/// Median of a slice (sorted copy).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Nanoseconds per call of `f`, median over `batches` batches of `iters` calls.
pub fn time_ns(batches: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let mut samples = Vec::with_capacity(batches);
    f(); // warm-up
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    median(&samples)
}

/// Nanoseconds per call of `ours` and of `peer`, interleaved batch by batch, medians of each.
pub fn side_by_side_ns(batches: usize, iters: usize, mut ours: impl FnMut(), mut peer: impl FnMut()) -> (f64, f64) {
    ours();
    peer();
    let (mut a, mut b) = (Vec::with_capacity(batches), Vec::with_capacity(batches));
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..iters {
            ours();
        }
        a.push(t.elapsed().as_nanos() as f64 / iters as f64);
        let t = Instant::now();
        for _ in 0..iters {
            peer();
        }
        b.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    (median(&a), median(&b))
}

/// CPU time this process has used (user + system, all threads), seconds, from
/// `/proc/self/stat` (`utime` + `stime`, in the kernel's fixed 100 ticks per second); `None`
/// where procfs is missing.
pub fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command (which may hold spaces) and its closing parenthesis: state
    // is field 3, utime 14, stime 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Re-exported so metric modules keep results alive.
pub fn keep<T>(v: T) -> T {
    black_box(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let m = Metric::with_peer("codec.decode_dense_32", 12.5, "us", "lz4_flex_raw_overhead", 10.0);
        assert_eq!(
            m.line(),
            "metric=codec.decode_dense_32 value=12.500 unit=us peer=lz4_flex_raw_overhead peer_value=10.000 ratio=1.2500"
        );
        assert_eq!(Metric::new("x", 5e7, "writes_per_s").line(), "metric=x value=50000000 unit=writes_per_s");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn process_cpu_counts_the_work_of_every_thread() {
        let before = process_cpu_s().expect("procfs");
        // 0.3 s of work on each of two other threads.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let t = Instant::now();
                    let mut x = 0u64;
                    while t.elapsed() < std::time::Duration::from_millis(300) {
                        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                    }
                });
            }
        });
        let used = process_cpu_s().unwrap() - before;
        assert!(used >= 0.4, "{used} CPU seconds for 0.6 of work");
    }
}
