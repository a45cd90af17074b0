//! How a thread is kept in a store item: its JSON, compressed with raw DEFLATE behind a one-byte
//! tag. Since tag 2 the compressor starts from a preset dictionary (`state.dict`: one thread of
//! each kind, as the corpus's real events make them), so even a small state finds its keys and
//! usual values there: on the synthetic organization stream a pipeline execution's state is
//! about 500 bytes instead of 820, and its item fits one write unit (README, "Footprint").
//!
//! Items written before still read: plain JSON (starts with `{`) and tag 1 (DEFLATE without the
//! dictionary).

use miniz_oxide::deflate::core::{
    compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use std::borrow::Cow;

/// Raw DEFLATE, no dictionary (items written before the dictionary).
const DEFLATED: u8 = 1;

/// Raw DEFLATE that starts from [`DICT`]: the stream as it continues after the dictionary was
/// compressed and sync-flushed, so its back-references may reach into the dictionary.
const DEFLATED_DICT: u8 = 2;

/// The preset dictionary (made by `examples/state_dict.rs`). Fixed for good: the items written
/// with it need it to be read; another dictionary would take another tag.
static DICT: &[u8] = include_bytes!("state.dict");

/// The most a stored state may inflate to: a DynamoDB item is at most 400 KB, and JSON
/// compresses about 4 to 1; anything past this is not a state Herald wrote.
const MAX_STATE_BYTES: usize = 8 << 20;

const LEVEL: i32 = 6;

/// A thread's JSON as item state: compressed against the dictionary behind its tag, or the JSON
/// itself when that is not smaller.
pub fn encode(json: &[u8]) -> Vec<u8> {
    match deflate_after_dict(json) {
        Some(packed) if packed.len() + 1 < json.len() => {
            let mut out = Vec::with_capacity(packed.len() + 1);
            out.push(DEFLATED_DICT);
            out.extend_from_slice(&packed);
            out
        }
        _ => json.to_vec(),
    }
}

/// The JSON an item's state holds, or what is wrong with it.
pub fn decode(state: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match state.split_first() {
        Some((&DEFLATED_DICT, packed)) => inflate_after_dict(packed).map(Cow::Owned),
        Some((&DEFLATED, packed)) => {
            miniz_oxide::inflate::decompress_to_vec_with_limit(packed, MAX_STATE_BYTES)
                .map(Cow::Owned)
                .map_err(|e| format!("its compressed state does not inflate ({:?})", e.status))
        }
        _ => Ok(Cow::Borrowed(state)),
    }
}

/// A compressor that has compressed [`DICT`] and sync-flushed it (its output thrown away),
/// made once and copied for each state: the copy costs less than compressing the dictionary
/// again. `None` if the dictionary's output did not end within the scratch buffer (then states
/// are compressed without it).
fn primed() -> Option<&'static CompressorOxide> {
    static PRIMED: std::sync::OnceLock<Option<CompressorOxide>> = std::sync::OnceLock::new();
    PRIMED
        .get_or_init(|| {
            let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(LEVEL, -15, 0));
            // A sync flush ends the dictionary's output on a byte boundary and keeps its text
            // in the compressor's window. All of it must fit here: output left inside the
            // compressor would come out in front of the state's.
            let mut scratch = vec![0u8; DICT.len() * 2 + 1024];
            let (status, read, wrote) = compress(&mut c, DICT, &mut scratch, TDEFLFlush::Sync);
            (status == TDEFLStatus::Okay && read == DICT.len() && wrote < scratch.len())
                .then_some(c)
        })
        .as_ref()
}

/// `data` compressed as the continuation of a stream that began with [`DICT`], sync-flushed:
/// only what comes after the flush is returned.
fn deflate_after_dict(data: &[u8]) -> Option<Vec<u8>> {
    let mut c = primed()?.clone();
    let mut out = vec![0u8; data.len() / 2 + 64];
    let (mut pos, mut input) = (0, data);
    loop {
        let (status, read, wrote) = compress(&mut c, input, &mut out[pos..], TDEFLFlush::Finish);
        pos += wrote;
        input = input.get(read..)?;
        match status {
            TDEFLStatus::Done => {
                out.truncate(pos);
                return Some(out);
            }
            TDEFLStatus::Okay => {
                if out.len() - pos < 64 {
                    out.resize(out.len() * 2, 0);
                }
            }
            _ => return None,
        }
    }
}

/// The inverse of [`deflate_after_dict`]: inflates into a buffer that already holds the
/// dictionary, so back-references into it resolve.
fn inflate_after_dict(packed: &[u8]) -> Result<Vec<u8>, String> {
    let mut r = DecompressorOxide::new();
    let mut out = Vec::with_capacity(DICT.len() + packed.len() * 4 + 256);
    out.extend_from_slice(DICT);
    out.resize(DICT.len() + packed.len() * 4 + 256, 0);
    let (mut pos, mut input) = (DICT.len(), packed);
    loop {
        let (status, read, wrote) = decompress(
            &mut r,
            input,
            &mut out,
            pos,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        pos += wrote;
        input = input.get(read..).unwrap_or_default();
        match status {
            TINFLStatus::Done => {
                out.truncate(pos);
                out.drain(..DICT.len());
                return Ok(out);
            }
            TINFLStatus::HasMoreOutput if pos - DICT.len() < MAX_STATE_BYTES => {
                // At most one byte past the limit: a state that fills it is not one Herald wrote.
                out.resize((out.len() * 2).min(DICT.len() + MAX_STATE_BYTES + 1), 0);
            }
            s => return Err(format!("its compressed state does not inflate ({s:?})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_the_dictionary_and_shrink() {
        // The dictionary's own text, pieces of it, and text it has never seen.
        let samples: Vec<Vec<u8>> = vec![
            DICT.to_vec(),
            DICT[100..2000].to_vec(),
            br#"{"body":{"type":"pipeline","account":"999988887777"},"seq":3}"#.to_vec(),
            (0..5000u64)
                .map(|i| {
                    // splitmix64: bytes with nothing to find.
                    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    (z ^ (z >> 31)) as u8
                })
                .collect(),
            Vec::new(),
        ];
        for s in &samples {
            let state = encode(s);
            assert_eq!(decode(&state).expect("decodes").as_ref(), &s[..]);
        }
        let packed = encode(&DICT[100..2000]);
        assert_eq!(packed[0], DEFLATED_DICT);
        // Text the dictionary holds costs a few bytes, not its length.
        assert!(packed.len() < 40, "{} bytes", packed.len());
        // Random bytes do not shrink: kept as they are.
        assert!(
            encode(&samples[3]) == samples[3],
            "random bytes were packed"
        );
    }

    #[test]
    fn the_dictionary_never_changes() {
        // Items written with it need this very dictionary to be read: a new one takes a new
        // tag (and this test is not to be updated).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in DICT {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!((DICT.len(), h), (9579, 0xc262_0c76_a4c9_ca51));
        assert!(
            primed().is_some(),
            "the dictionary compresses within its scratch buffer"
        );
    }

    #[test]
    fn a_state_past_the_limit_is_refused() {
        let big = vec![b' '; MAX_STATE_BYTES + 10];
        let err = decode(&encode(&big)).expect_err("too large");
        assert!(err.contains("does not inflate"), "{err}");
        let fits = vec![b' '; 1 << 20];
        assert_eq!(decode(&encode(&fits)).expect("fits").len(), 1 << 20);
    }

    #[test]
    fn older_states_still_read_and_broken_ones_are_named() {
        let json = br#"{"seq":1}"#;
        assert_eq!(decode(json).expect("plain").as_ref(), json);
        let mut tagged = vec![DEFLATED];
        tagged.extend(miniz_oxide::deflate::compress_to_vec(json, 6));
        assert_eq!(decode(&tagged).expect("tag 1").as_ref(), json);
        let mut broken = encode(&DICT[..3000]);
        broken.truncate(broken.len() / 2);
        let err = decode(&broken).expect_err("truncated");
        assert!(err.contains("does not inflate"), "{err}");
    }
}
