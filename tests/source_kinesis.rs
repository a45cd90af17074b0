//! The Kinesis source against kinesalite (the AWS SDK over HTTP) with shard leases in DynamoDB
//! Local: a stream with 2 shards, two workers, a split during the run and a hand-over when one
//! worker stops. Every record processed; parents finished before any child record starts; no
//! record in the hands of two workers at once; checkpoints advance to each shard's last record
//! and a finished parent is checkpointed SHARD_END.

mod support;
mod worker;

use herald::source::kinesis::{KinesisOptions, KinesisSource};
use herald::source::lease::{seq_cmp, LeaseTable, SHARD_END};
use herald::source::{Outcome, Source};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Rec {
    worker: usize,
    shard: String,
    data: String,
    start: Instant,
    end: Instant,
}

async fn put(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    range: std::ops::Range<usize>,
    last_seq: &mut BTreeMap<String, String>,
) {
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(50) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|i| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .data(aws_sdk_kinesis::primitives::Blob::new(format!("rec-{i}")))
                    .partition_key(format!("key-{i}"))
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        assert_eq!(out.failed_record_count(), Some(0));
        for r in out.records() {
            if let (Some(shard), Some(seq)) = (r.shard_id(), r.sequence_number()) {
                let e = last_seq.entry(shard.to_owned()).or_default();
                if seq_cmp(e, seq) == std::cmp::Ordering::Less {
                    *e = seq.to_owned();
                }
            }
        }
    }
}

fn consume(
    source: Arc<KinesisSource>,
    worker: usize,
    log: Arc<Mutex<Vec<Rec>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(batch) = source.next_batch().await {
            for env in batch {
                let start = Instant::now();
                tokio::time::sleep(Duration::from_millis(2)).await;
                let shard = env.id.split('/').next().unwrap_or("").to_owned();
                let data = String::from_utf8_lossy(&env.body).into_owned();
                env.ack.finish(Outcome::Done);
                log.lock().expect("log").push(Rec {
                    worker,
                    shard,
                    data,
                    start,
                    end: Instant::now(),
                });
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_split_and_hand_over_process_every_record_parents_first() {
    herald::telemetry::init_logging();
    let kin = aws_sdk_kinesis::Client::new(&support::sdk_config(&worker::kinesis_endpoint()).await);
    let ddb =
        aws_sdk_dynamodb::Client::new(&support::sdk_config(&support::dynamodb_endpoint()).await);
    let stream = support::unique("herald-kin");
    let table = support::unique("herald-leases");
    worker::create_stream(&kin, &stream, 2).await;
    let arn = format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}");
    let opts = |owner: &str| KinesisOptions {
        stream_arn: arn.clone(),
        lease_table: table.clone(),
        owner: owner.into(),
        failover: Duration::from_secs(3),
        max_in_flight: 200,
        initial_position: "TRIM_HORIZON".into(),
    };
    let log: Arc<Mutex<Vec<Rec>>> = Arc::default();
    let w1 = KinesisSource::start(kin.clone(), ddb.clone(), opts("w1"))
        .await
        .expect("w1");
    let w2 = KinesisSource::start(kin.clone(), ddb.clone(), opts("w2"))
        .await
        .expect("w2");
    let c1 = consume(w1.clone(), 1, log.clone());
    let c2 = consume(w2.clone(), 2, log.clone());

    // Let the two workers settle on one shard each before any record exists (a worker that
    // starts alone takes every shard; the second then takes one for balance).
    let leases = LeaseTable::new(ddb.clone(), &table, &stream);
    let settled = Instant::now();
    loop {
        let ls = leases.list().await.expect("leases");
        let owners: BTreeSet<String> = ls.iter().map(|l| l.owner.clone()).collect();
        if ls.len() == 2 && owners.contains("w1") && owners.contains("w2") {
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(60),
            "no balance: {ls:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut last_seq = BTreeMap::new();
    put(&kin, &stream, 0..400, &mut last_seq).await;
    let seen = |log: &Arc<Mutex<Vec<Rec>>>| {
        log.lock()
            .expect("log")
            .iter()
            .map(|r| r.data.clone())
            .collect::<BTreeSet<_>>()
    };
    let wait_for = |n: usize| {
        let log = log.clone();
        async move {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(90) {
                if seen(&log).len() >= n {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        }
    };
    assert!(
        wait_for(400).await,
        "first 400 records: {} seen",
        seen(&log).len()
    );
    // Both workers hold a shard (balance), and checkpoints are written.
    let started = Instant::now();
    let before = loop {
        let ls = leases.list().await.expect("leases");
        if ls.iter().all(|l| !l.checkpoint.is_empty())
            || started.elapsed() > Duration::from_secs(20)
        {
            break ls;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let owners: BTreeSet<&str> = before.iter().map(|l| l.owner.as_str()).collect();
    assert!(owners.contains("w1") && owners.contains("w2"), "{before:?}");
    assert!(
        before.iter().all(|l| !l.checkpoint.is_empty()),
        "{before:?}"
    );

    // Split shard 0 at the middle of its hash range, then write more.
    let shards = kin
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .expect("shards");
    let parent = shards.shards()[0].clone();
    let range = parent.hash_key_range().expect("range");
    let lo: u128 = range.starting_hash_key().parse().expect("lo");
    let hi: u128 = range.ending_hash_key().parse().expect("hi");
    kin.split_shard()
        .stream_name(&stream)
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
        .send()
        .await
        .expect("split");
    worker::wait_active(&kin, &stream).await;
    put(&kin, &stream, 400..800, &mut last_seq).await;
    assert!(
        wait_for(800).await,
        "800 records: {} seen",
        seen(&log).len()
    );

    // Hand-over: w1 stops (finishes its records, checkpoints, releases its leases); w2 takes
    // everything and reads what comes next.
    w1.stop();
    w1.drain().await;
    let _ = c1.await;
    put(&kin, &stream, 800..1000, &mut last_seq).await;
    assert!(
        wait_for(1000).await,
        "1000 records: {} seen",
        seen(&log).len()
    );

    // Checkpoints reach each shard's last record; the parent is finished.
    let started = Instant::now();
    let done = loop {
        let ls = leases.list().await.expect("leases");
        let ok = ls.iter().all(|l| {
            if l.shard == parent.shard_id() {
                l.checkpoint == SHARD_END
            } else {
                match last_seq.get(&l.shard) {
                    Some(s) => l.checkpoint == *s || l.checkpoint == SHARD_END,
                    None => true,
                }
            }
        });
        if ok || started.elapsed() > Duration::from_secs(30) {
            break ls;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    w2.stop();
    w2.drain().await;
    let _ = c2.await;
    let recs = log.lock().expect("log").clone();

    for l in &done {
        if l.shard == parent.shard_id() {
            assert_eq!(l.checkpoint, SHARD_END, "parent {l:?}");
        } else if let Some(s) = last_seq.get(&l.shard) {
            assert_eq!(&l.checkpoint, s, "checkpoint of {l:?}");
        }
        // Each checkpoint only moved forward.
        if let Some(b) = before.iter().find(|b| b.shard == l.shard) {
            assert!(
                l.checkpoint == SHARD_END
                    || seq_cmp(&b.checkpoint, &l.checkpoint) != std::cmp::Ordering::Greater,
                "{b:?} -> {l:?}"
            );
        }
    }
    // Every record processed.
    let all: BTreeSet<String> = (0..1000).map(|i| format!("rec-{i}")).collect();
    assert_eq!(seen(&log), all);
    // Parents before children: no child record started before the parent's last one ended.
    let children: BTreeSet<String> = done
        .iter()
        .filter(|l| l.parents.iter().any(|p| p == parent.shard_id()))
        .map(|l| l.shard.clone())
        .collect();
    assert_eq!(children.len(), 2, "{done:?}");
    let parent_end = recs
        .iter()
        .filter(|r| r.shard == parent.shard_id())
        .map(|r| r.end)
        .max()
        .expect("parent records");
    let first_child = recs
        .iter()
        .filter(|r| children.contains(&r.shard))
        .map(|r| r.start)
        .min()
        .expect("child records");
    assert!(
        first_child >= parent_end,
        "a child record started before the parent finished"
    );
    // No record in two workers' hands at once.
    let mut by_data: BTreeMap<&str, Vec<&Rec>> = BTreeMap::new();
    for r in &recs {
        by_data.entry(r.data.as_str()).or_default().push(r);
    }
    // A record is read again only across a lease hand-over (the new owner resumes from the
    // checkpoint, below records the old owner had read): never twice by the same worker.
    let mut repeats = 0;
    for (data, rs) in &by_data {
        repeats += rs.len() - 1;
        let workers: BTreeSet<usize> = rs.iter().map(|r| r.worker).collect();
        assert_eq!(
            workers.len(),
            rs.len(),
            "{data} processed twice by one worker"
        );
        for a in rs {
            for b in rs {
                if a.worker != b.worker {
                    assert!(
                        a.end <= b.start || b.end <= a.start,
                        "{data} processed by two workers at once"
                    );
                }
            }
        }
    }
    eprintln!("records read again after a lease hand-over: {repeats}");
    let _ = kin.delete_stream().stream_name(&stream).send().await;
    let w1n = recs.iter().filter(|r| r.worker == 1).count();
    let w2n = recs.iter().filter(|r| r.worker == 2).count();
    assert!(w1n > 0 && w2n > 0, "both workers took part: {w1n} / {w2n}");
}
