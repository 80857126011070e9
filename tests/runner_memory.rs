//! A step printing 256 MiB streams through the runner with bounded memory. Alone in its own test
//! binary, so no other test's allocations disturb the measurement of this process's memory.

mod common;

use common::bash;
use rb::exec::runner::{ProcessEnd, ProcessRunner, Runner};

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn output_of_256_mib_streams_with_bounded_memory() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let mut runner = ProcessRunner::new().unwrap();
    // Reset the high-water mark where the kernel allows it, so VmHWM measures this run only;
    // either way the growth is measured against the resident size before the run.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let mut total = 0u64;
    let mut largest = 0usize;
    let outcome = runner
        .run(
            &bash(&format!("head -c {SIZE} /dev/zero")),
            &mut |_, bytes| {
                total += bytes.len() as u64;
                largest = largest.max(bytes.len());
            },
        )
        .unwrap();
    let hwm_after = status_kib("VmHWM:");
    let growth_mib = hwm_after.saturating_sub(rss_before) as f64 / 1024.0;
    eprintln!(
        "256 MiB in {:?}: RSS before {rss_before} KiB, peak after {hwm_after} KiB, growth {growth_mib:.1} MiB, largest chunk {largest} B",
        outcome.duration
    );
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    assert_eq!(total, SIZE);
    assert!(largest <= 256 * 1024, "chunks are at most 256 KiB");
    assert!(growth_mib < 32.0, "memory grew by {growth_mib:.1} MiB");
}
