//! Throughput benchmark (ignored by default; run it alone, it takes minutes):
//!
//! ```sh
//! bash scripts/test.sh   # or start the emulators and export HERALD_TEST_MOTO/HERALD_TEST_DYNAMODB
//! cargo test --test run_bench_sqs -- --ignored --nocapture
//! ```
//!
//! Measures events/s through a real queue on the emulator into `herald run` (memory store,
//! jsonl sink) with 1, 4 and 16 pollers, the worker's CPU seconds per 10,000 events (from
//! `/proc/PID/stat`) and the emulator's while it serves the worker, and next to them a plain
//! send / receive / delete loop against the same emulator with the same number of receivers
//! (each waits for its delete before it receives again; Herald's deletes go out beside its
//! receives, so it can pass the loop), and the emulator's CPU for it. The worker is not the
//! bottleneck when its CPU per event is a small fraction of the emulator's. `cargo test --release ...` measures the release build.

mod support;
mod worker;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::synthetic;
use worker::*;

const EVENTS: usize = 2_000;

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is 14th, stime 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// The emulator's process, found by the port in its URL (the `moto_server` that
/// `scripts/test.sh` started), so its CPU can be read too. `None` if it is not a local process.
fn emulator_pid() -> Option<u32> {
    let url = support::moto_endpoint();
    let port = url.rsplit(':').next()?.trim_end_matches('/').to_owned();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let moto = args.iter().any(|a| a.contains("moto_server"));
        if moto && args.iter().any(|a| a == &port) {
            return Some(pid);
        }
    }
    None
}

/// CPU seconds of the emulator, or 0 when it cannot be read.
fn emulator_cpu() -> f64 {
    emulator_pid().map(cpu_secs).unwrap_or(0.0)
}

/// A plain loop: `receivers` tasks receive (long poll 1 s) and batch-delete until `n` are gone.
/// Returns events/s and the emulator's CPU seconds per 10,000 events (sends included).
async fn plain_loop(sqs: &aws_sdk_sqs::Client, receivers: usize, bodies: &[String]) -> (f64, f64) {
    let (url, _) = queue_with_dlq(sqs, "bench-plain", 30, 5).await;
    let emu0 = emulator_cpu();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..receivers {
        let (sqs, url, done) = (sqs.clone(), url.clone(), done.clone());
        let n = bodies.len();
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < n && started.elapsed() < Duration::from_secs(600) {
                let Ok(out) = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                else {
                    continue;
                };
                let entries: Vec<_> = out
                    .messages()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle()?)
                            .build()
                            .ok()
                    })
                    .collect();
                if entries.is_empty() {
                    continue;
                }
                let k = entries.len();
                if sqs
                    .delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .is_ok()
                {
                    done.fetch_add(k, Ordering::Relaxed);
                }
            }
        }));
    }
    send_paced(sqs, &url, bodies, 500).await;
    for t in tasks {
        let _ = t.await;
    }
    let n = bodies.len() as f64;
    let emu = emulator_cpu() - emu0;
    (n / started.elapsed().as_secs_f64(), emu / n * 10_000.0)
}

async fn through_herald(
    sqs: &aws_sdk_sqs::Client,
    pollers: usize,
    bodies: &[String],
) -> (f64, f64, f64) {
    let (url, _) = queue_with_dlq(sqs, "bench-herald", 30, 5).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = format!(
        r#"default_destination = "out"

[correlate]
settle_secs = 0

[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"

[source]
kind = "sqs"
queue_url = "{url}"
sqs_endpoint = "{}"
pollers = {pollers}
wait_time_secs = 1
"#,
        dir.path().join("out.jsonl").display(),
        support::moto_endpoint()
    );
    let mut h = Herald::start(dir.path(), 0, &cfg);
    h.wait_ready().await;
    let cpu0 = cpu_secs(h.child.id());
    let emu0 = emulator_cpu();
    let started = Instant::now();
    send_paced(sqs, &url, bodies, 500).await;
    let n = bodies.len() as f64;
    let ok = wait_until(Duration::from_secs(900), || {
        let h = &h;
        async move {
            h.metric("herald_source_messages_acked_total", "outcome=\"deleted\"")
                .await
                >= n
        }
    })
    .await;
    assert!(ok, "herald did not finish");
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs(h.child.id()) - cpu0;
    let emu = emulator_cpu() - emu0;
    h.sigterm();
    let _ = h.wait_exit(Duration::from_secs(30)).await;
    (n / secs, cpu / n * 10_000.0, emu / n * 10_000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: minutes long; run with --ignored --nocapture"]
async fn sqs_throughput_with_1_4_16_pollers() {
    let sqs = sqs().await;
    let execs = synthetic::executions(EVENTS / 10);
    let bodies = synthetic::interleaved(&execs);
    if emulator_pid().is_none() {
        println!("(the emulator's process was not found: its CPU reads 0)");
    }
    println!("| pollers | plain receive-then-delete loop (events/s) | emulator CPU s per 10,000 (plain loop) | herald run (events/s) | herald CPU s per 10,000 | emulator CPU s per 10,000 (serving herald) |");
    println!("|---|---|---|---|---|---|");
    for pollers in [1usize, 4, 16] {
        let (plain, plain_emu) = plain_loop(&sqs, pollers, &bodies).await;
        let (rate, cpu, emu) = through_herald(&sqs, pollers, &bodies).await;
        println!("| {pollers} | {plain:.0} | {plain_emu:.1} | {rate:.0} | {cpu:.2} | {emu:.1} |");
    }
}
