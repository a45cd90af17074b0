//! Builds the preset dictionary thread states are compressed against in DynamoDB
//! (`src/correlate/state.dict`; see `src/correlate/codec.rs` and the README, "Footprint").
//!
//! ```sh
//! cargo run --release --example state_dict -- OUT tests/fixtures/scenarios/*.jsonl tests/fixtures/*.json
//! ```
//!
//! Replays the given files (the corpus's real events and scenarios) on the in-process store and
//! writes the JSON of one thread of each kind (the median-sized one), the kinds seen most last
//! (DEFLATE reaches nearer text with shorter codes). Made once: items written with a dictionary
//! need that very dictionary to be read, so the committed file never changes (a new one would
//! take a new tag): OUT must not exist. `src/correlate/state.dict` was made by this command.

use herald::cli::replay::{replay_files, runner, ReplayOptions, DEFAULT_DRAIN_SECS};
use herald::store::memory::MemoryStore;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The most the dictionary holds (DEFLATE looks back 32 KiB; every write compresses it again).
const MAX_DICT: usize = 12 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: state_dict OUT FILES...")?;
    if std::path::Path::new(&out).exists() {
        // The committed dictionary is fixed for good (see above): write elsewhere to compare.
        return Err(format!("{out} exists: the dictionary is never made again over it").into());
    }
    let files: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let r = runner(&ReplayOptions {
        jsonl: Some(PathBuf::from("/dev/null")),
        config: None,
        store: Arc::new(MemoryStore::new()),
    })?;
    replay_files(&r, &files, DEFAULT_DRAIN_SECS).await?;
    let mut kinds: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (key, thread) in r.engine.scan("").await? {
        let kind = key.split('#').next().unwrap_or_default().to_owned();
        kinds
            .entry(kind)
            .or_default()
            .push(serde_json::to_vec(&thread)?);
    }
    let mut order: Vec<(String, Vec<Vec<u8>>)> = kinds.into_iter().collect();
    order.sort_by_key(|(k, states)| (states.len(), k.clone()));
    let mut dict = Vec::new();
    for (kind, mut states) in order {
        states.sort_by_key(Vec::len);
        let median = &states[states.len() / 2];
        eprintln!(
            "{kind}: {} threads, median {} bytes",
            states.len(),
            median.len()
        );
        dict.extend_from_slice(median);
    }
    let keep = dict.len().saturating_sub(MAX_DICT);
    std::fs::write(&out, &dict[keep..])?;
    eprintln!("{} bytes written to {out}", dict.len() - keep);
    Ok(())
}
