//! Reading event files: one JSON document, a JSON array, or JSON Lines, with the line number of
//! every document so errors read `file:line: what is wrong`.

use crate::event::{decode, DecodeError, Event};
use serde_json::value::RawValue;
use std::io::Read;
use std::path::Path;

/// One document of a file, decoded, with the line it starts on.
pub struct Decoded {
    pub line: usize,
    pub result: Result<Vec<Event>, DecodeError>,
}

/// Reads a path (`-` is stdin) into a string.
pub fn read_path(path: &Path) -> std::io::Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path)
    }
}

/// Splits a file's text into documents and decodes each.
pub fn decode_text(text: &str) -> Vec<Decoded> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    // A whole-file document first: a pretty-printed event or an array of events.
    if let Ok(raw) = serde_json::from_str::<&RawValue>(text) {
        let body = raw.get();
        if body.starts_with('[') {
            if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(body) {
                return items
                    .into_iter()
                    .map(|item| Decoded {
                        line: line_of(item.get().as_ptr() as usize - text.as_ptr() as usize),
                        result: decode(item.get().as_bytes()),
                    })
                    .collect();
            }
        }
        let offset = body.as_ptr() as usize - text.as_ptr() as usize;
        return vec![Decoded {
            line: line_of(offset),
            result: decode(body.as_bytes()),
        }];
    }
    // JSON Lines when the first document fits on its first line; otherwise one malformed
    // document, reported once where serde found the fault.
    let first = text.lines().find(|l| !l.trim().is_empty());
    let is_jsonl = first.is_some_and(|l| serde_json::from_str::<&RawValue>(l).is_ok());
    if !is_jsonl {
        let result = decode(text.as_bytes());
        let line = match &result {
            Err(DecodeError::Json(e)) => e.line().max(1),
            _ => 1,
        };
        return vec![Decoded { line, result }];
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Decoded {
            line: i + 1,
            result: decode(l.as_bytes()),
        })
        .collect()
}
