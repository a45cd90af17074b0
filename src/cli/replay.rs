//! `herald replay` and `herald demo`: files (or the bundled stream) through decode, correlate,
//! route and deliver on the embedded store, settle windows flushed at the end.

use super::input::{decode_text, read_path};
use crate::config::Config;
use crate::event::Event;
use crate::pipeline::Runner;
use crate::store::{memory::MemoryStore, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// The bundled demo stream: several accounts, successes, a build failure, a deploy failure, an
/// approval, an ECS rollback and an alarm episode.
pub const DEMO_STREAM: &str = include_str!("demo.jsonl");

/// Events are fed in batches of this size, like an SQS receive.
const BATCH: usize = 10;

pub struct ReplayOptions {
    pub jsonl: Option<PathBuf>,
    pub config: Option<Config>,
    pub store: Arc<dyn Store>,
}

/// Builds the runner: sinks from the config, or one default sink (`--jsonl PATH`, else text);
/// of `[enrich]` only the account aliases (a replay never calls AWS).
pub fn runner(opts: &ReplayOptions) -> Result<Runner, crate::app::AppError> {
    let cfg = opts.config.clone().unwrap_or_default();
    crate::app::replay_runner(
        &cfg,
        &crate::app::Build {
            store: opts.store.clone(),
            jsonl: opts.jsonl.clone(),
            owner: None,
            counted: false,
        },
    )
}

/// How far past its last input a replay runs its clock by default (`--drain`): a day, so
/// every stall timeout and settle window has passed.
pub const DEFAULT_DRAIN_SECS: i64 = 86_400;

/// A duration for `--drain`: whole seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 3600, 90s, 30m, 24h or 2d)"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use s, m, h or d)"
            ))
        }
    };
    n.checked_mul(unit_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Steps of one clock advance at most (each fires at least one timer or settles one thread;
/// a guard against a timer that would not move, never reached by a sane stream).
const MAX_STEPS: usize = 1_000_000;

/// Replays decoded events through a runner in arrival order on the events' own clock: "now" is
/// the newest event time seen (never the wall clock), and timers and settle windows due
/// between two batches fire in time order before the later batch. After the last input the
/// clock runs `drain_secs` further, firing every timer due on the way, and whatever still waits
/// is flushed. The same input gives the same output on any machine on any date.
pub fn replay_events<'a>(
    runner: &'a Runner,
    events: &'a [Event],
    drain_secs: i64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::pipeline::RunError>> + 'a>>
{
    // Boxed as a trait object, as `replay_files` is.
    Box::pin(async move {
        let mut r = Replayer::new(runner);
        for chunk in events.chunks(BATCH) {
            r.batch(chunk).await?;
        }
        r.finish(drain_secs).await
    })
}

/// A replay fed batch by batch, so a stream is replayed as it is read (see [`replay_files`]).
pub struct Replayer<'r> {
    runner: &'r Runner,
    now: Option<i64>,
    /// When (the events' clock) a shared store's `wake` index was last asked for due timers.
    looked: Option<i64>,
}

/// How often (seconds of the events' clock) a replay on a shared store asks its `wake` index
/// for due timers besides those of the threads it caches: a `Query` each time, and a stream
/// comes in batches a few seconds apart.
pub const REPLAY_TIMER_POLL_SECS: i64 = 60;

impl<'r> Replayer<'r> {
    pub fn new(runner: &'r Runner) -> Self {
        Self {
            runner,
            now: None,
            looked: None,
        }
    }

    /// One batch, as an SQS receive would hand it over.
    pub async fn batch(&mut self, chunk: &[Event]) -> Result<(), crate::pipeline::RunError> {
        let runner = self.runner;
        let newest = chunk
            .iter()
            .filter_map(|e| e.meta().time)
            .map(|t| t.timestamp())
            .max();
        self.now = match (self.now, newest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let at = self.now.unwrap_or(0);
        // Boxed: the futures of timers firing nest deep, and a caller that awaits a replay
        // inside its own future (the demo server) would otherwise hit the compiler's layout
        // depth limit.
        // Not boxed, and only run when there is work: its future is large (tens of KiB), and
        // moving one into a fresh box for every batch cost more than a tenth of the replay,
        // most of it in the cache misses of the copy.
        if next_step(runner, i64::MIN, at).is_some() {
            advance(runner, at).await?;
        }
        if !runner.engine.in_process()
            && self
                .looked
                .is_none_or(|l| at >= l.saturating_add(REPLAY_TIMER_POLL_SECS))
        {
            self.looked = Some(at);
            Box::pin(runner.fire_all_due(at)).await?;
        }
        runner.process(chunk, at).await?;
        runner.deliver_due(at).await?;
        Ok(())
    }

    /// Runs the clock `drain_secs` past the newest event, then flushes what still waits.
    pub async fn finish(self, drain_secs: i64) -> Result<(), crate::pipeline::RunError> {
        let runner = self.runner;
        let end = self.now.unwrap_or(0).saturating_add(drain_secs.max(0));
        Box::pin(advance(runner, end)).await?;
        // A shared store (`--store dynamodb`) cannot say when its next timer is: the timers
        // of threads the cache let go fire at the next look (at most
        // `REPLAY_TIMER_POLL_SECS` of the events' clock after they are due), and at the end
        // of the drain.
        Box::pin(runner.fire_all_due(end)).await?;
        runner.flush(end).await?;
        Ok(())
    }
}

/// Replays files as they are read: JSON Lines line by line, in batches of ten, so neither the
/// text nor the decoded events of a whole stream are held at once; a file holding one
/// document or a JSON array is read whole. Bad documents are reported as `file:line: ...` on
/// stderr and skipped. Returns whether anything failed to read or decode.
///
/// Boxed as a trait object: the replay's future nests deep, and a caller's crate computing
/// its layout would hit the compiler's depth limit.
pub fn replay_files<'a>(
    runner: &'a Runner,
    files: &'a [PathBuf],
    drain_secs: i64,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<bool, crate::pipeline::RunError>> + 'a>,
> {
    Box::pin(replay_files_inner(runner, files, drain_secs))
}

async fn replay_files_inner(
    runner: &Runner,
    files: &[PathBuf],
    drain_secs: i64,
) -> Result<bool, crate::pipeline::RunError> {
    let mut r = Replayer::new(runner);
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let mut reader = match super::input::open_path(path) {
            Ok(reader) => reader,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let mut lines = super::input::Lines::new(&mut *reader);
        loop {
            match lines.next_into(&mut batch) {
                Ok(Some((_, Ok(())))) => {}
                Ok(Some((line, Err(e)))) => {
                    eprintln!("{name}:{line}: {e}");
                    failed = true;
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("{name}: cannot read: {e}");
                    failed = true;
                    break;
                }
            }
            // Full batches of ten, as before; a document of several events may leave a few
            // over for the next.
            while batch.len() >= BATCH {
                r.batch(&batch[..BATCH]).await?;
                batch.drain(..BATCH);
            }
        }
    }
    if !batch.is_empty() {
        r.batch(&batch).await?;
    }
    r.finish(drain_secs).await?;
    Ok(failed)
}

/// The time of the next timer after `looked` or settle window, if it is due by `to`.
fn next_step(runner: &Runner, looked: i64, to: i64) -> Option<i64> {
    [runner.engine.next_wake_after(looked), runner.next_settle()]
        .into_iter()
        .flatten()
        .min()
        .filter(|at| *at <= to)
}

/// Runs the clock up to `to`: every timer and settle window due by then, in time order.
async fn advance(runner: &Runner, to: i64) -> Result<(), crate::pipeline::RunError> {
    // On a shared store, timers already looked for (a cached one may be spent): only later
    // ones are stepped to.
    let mut looked = i64::MIN;
    for _ in 0..MAX_STEPS {
        let Some(at) = next_step(runner, looked, to) else {
            return Ok(());
        };
        // Each only when it has work (the futures are large to build, and on a shared store
        // every look is a `Query`): a step that is a settle window fires no timer.
        if runner
            .engine
            .next_wake_after(looked)
            .is_some_and(|w| w <= at)
        {
            if runner.engine.in_process() {
                Box::pin(runner.fire_due(at)).await?;
            } else {
                // Every timer due, whatever the worker's poll interval.
                Box::pin(runner.fire_all_due(at)).await?;
            }
        }
        runner.deliver_due(at).await?;
        looked = looked.max(at);
    }
    tracing::warn!(
        to,
        "the replay's clock stopped after {MAX_STEPS} timer steps"
    );
    Ok(())
}

/// Decodes files, reporting bad documents as `file:line: ...`; returns the events and whether
/// anything failed.
pub fn read_events(files: &[PathBuf]) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    let mut failed = false;
    for path in files {
        let name = path.display();
        match read_path(path) {
            Ok(text) => {
                for doc in decode_text(&text) {
                    match doc.result {
                        Ok(mut evs) => events.append(&mut evs),
                        Err(e) => {
                            eprintln!("{name}:{}: {e}", doc.line);
                            failed = true;
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                failed = true;
            }
        }
    }
    (events, failed)
}

pub fn demo_events() -> Vec<Event> {
    decode_text(DEMO_STREAM)
        .into_iter()
        .filter_map(|d| d.result.ok())
        .flatten()
        .collect()
}

pub fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

pub use crate::app::mode_name;
