//! Throughput benchmark (ignored by default; run it alone, it takes minutes):
//!
//! ```sh
//! bash scripts/test.sh   # or start the emulators and export HERALD_TEST_MOTO/HERALD_TEST_DYNAMODB
//! cargo test --test run_bench_sqs -- --ignored --nocapture
//! ```
//!
//! Measures events/s through a real queue on the emulator into `herald run` (memory store,
//! jsonl sink) with 1, 4 and 16 pollers, the worker's CPU seconds per 10,000 events (from
//! `/proc/PID/stat`), and next to it the emulator's own ceiling: a plain send / receive /
//! delete loop against the same emulator with the same number of receivers. The worker is not
//! the bottleneck when its rate is close to the ceiling while its CPU stays low.

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

/// A plain loop: `receivers` tasks receive (long poll 1 s) and batch-delete until `n` are gone.
async fn ceiling(sqs: &aws_sdk_sqs::Client, receivers: usize, bodies: &[String]) -> f64 {
    let (url, _) = queue_with_dlq(sqs, "bench-plain", 30, 5).await;
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
    bodies.len() as f64 / started.elapsed().as_secs_f64()
}

async fn through_herald(
    sqs: &aws_sdk_sqs::Client,
    pollers: usize,
    bodies: &[String],
) -> (f64, f64) {
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
    h.sigterm();
    let _ = h.wait_exit(Duration::from_secs(30)).await;
    (n / secs, cpu / n * 10_000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: minutes long; run with --ignored --nocapture"]
async fn sqs_throughput_with_1_4_16_pollers() {
    let sqs = sqs().await;
    let execs = synthetic::executions(EVENTS / 10);
    let bodies = synthetic::interleaved(&execs);
    println!("| pollers | emulator ceiling (events/s) | herald run (events/s) | herald CPU s per 10,000 events |");
    println!("|---|---|---|---|");
    for pollers in [1usize, 4, 16] {
        let plain = ceiling(&sqs, pollers, &bodies).await;
        let (rate, cpu) = through_herald(&sqs, pollers, &bodies).await;
        println!("| {pollers} | {plain:.0} | {rate:.0} | {cpu:.2} |");
    }
}
