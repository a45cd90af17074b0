//! Reading event files: one JSON document, a JSON array, or JSON Lines, with the line number of
//! every document so errors read `file:line: what is wrong`.

use crate::event::{decode, DecodeError, Event};
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
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

/// Opens a path (`-` is stdin) for reading line by line.
pub fn open_path(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(std::io::BufReader::new(std::io::stdin())))
    } else {
        Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path)?,
        )))
    }
}

/// The documents of a reader, decoded one at a time: a JSON Lines file line by line (its text
/// never held whole), anything else (one document, possibly pretty-printed, or an array) read
/// whole and split by [`decode_text`]. The same documents, lines and errors as [`decode_text`]
/// on the whole text.
pub struct Lines<'r> {
    reader: &'r mut dyn BufRead,
    /// Bytes, not a `String`: the decoder checks the text itself, so checking each line's
    /// UTF-8 first would be done twice.
    line: Vec<u8>,
    at: usize,
    /// `None` until the first non-empty line says which kind of file this is.
    jsonl: Option<bool>,
    queued: VecDeque<Decoded>,
}

impl<'r> Lines<'r> {
    pub fn new(reader: &'r mut dyn BufRead) -> Self {
        Self {
            reader,
            line: Vec::new(),
            at: 0,
            jsonl: None,
            queued: VecDeque::new(),
        }
    }

    /// The next document's events appended to `out`, with the line it starts on; `None` at the
    /// end. A document that does not decode appends nothing.
    pub fn next_into(
        &mut self,
        out: &mut Vec<Event>,
    ) -> std::io::Result<Option<(usize, Result<(), DecodeError>)>> {
        let mut queued = |d: Option<Decoded>| {
            d.map(|d| {
                (
                    d.line,
                    d.result.map(|mut evs| {
                        out.append(&mut evs);
                    }),
                )
            })
        };
        if let Some(d) = self.queued.pop_front() {
            return Ok(queued(Some(d)));
        }
        if self.jsonl == Some(false) {
            return Ok(None);
        }
        let mut skipped = String::new();
        loop {
            self.line.clear();
            if self.reader.read_until(b'\n', &mut self.line)? == 0 {
                if self.jsonl.is_none() {
                    self.queued.extend(decode_text(&skipped));
                    self.jsonl = Some(false);
                    return Ok(queued(self.queued.pop_front()));
                }
                return Ok(None);
            }
            self.at += 1;
            let l = self.line.trim_ascii();
            if l.is_empty() {
                if self.jsonl.is_none() {
                    skipped.push_str(&String::from_utf8_lossy(&self.line));
                }
                continue;
            }
            if self.jsonl.is_none() {
                let whole_line =
                    !l.starts_with(b"[") && serde_json::from_slice::<&RawValue>(l).is_ok();
                if !whole_line {
                    // Not JSON Lines: the whole text, as it was, to decode_text.
                    self.jsonl = Some(false);
                    let mut bytes = skipped.into_bytes();
                    bytes.extend_from_slice(&self.line);
                    self.reader.read_to_end(&mut bytes)?;
                    let text = String::from_utf8(bytes).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())
                    })?;
                    self.queued.extend(decode_text(&text));
                    return Ok(queued(self.queued.pop_front()));
                }
                self.jsonl = Some(true);
            }
            return Ok(Some((self.at, crate::event::decode_append(l, out))));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, events or the error's text) of every document, read by [`Lines`].
    fn streamed(text: &str) -> Vec<(usize, Result<Vec<Event>, String>)> {
        let mut reader = std::io::Cursor::new(text.as_bytes().to_vec());
        let mut lines = Lines::new(&mut reader);
        let mut out = Vec::new();
        loop {
            let mut evs = Vec::new();
            match lines.next_into(&mut evs).expect("read") {
                Some((line, r)) => out.push((line, r.map(|()| evs).map_err(|e| e.to_string()))),
                None => return out,
            }
        }
    }

    fn whole(text: &str) -> Vec<(usize, Result<Vec<Event>, String>)> {
        decode_text(text)
            .into_iter()
            .map(|d| (d.line, d.result.map_err(|e| e.to_string())))
            .collect()
    }

    #[test]
    fn streamed_documents_are_those_of_the_whole_text() {
        let event = include_str!(
            "../../tests/fixtures/codepipeline-pipeline-execution-state-change-started-v2-doc.json"
        );
        let one_line: serde_json::Value = serde_json::from_str(event).expect("fixture");
        let one_line = one_line.to_string();
        let cases = [
            // JSON Lines, a blank line, a bad line, an event that is not JSON at all.
            format!("{one_line}\n\n{{\"detail-type\": 3}}\n{one_line}\nnot json\n"),
            // One pretty-printed document, after blank lines.
            format!("\n\n{event}"),
            // An array on one line and pretty-printed.
            format!("[{one_line}, {one_line}]"),
            format!("[\n{event},\n{event}\n]\n"),
            // Nothing, or only blank lines.
            String::new(),
            "\n  \n".to_owned(),
        ];
        for text in &cases {
            assert_eq!(streamed(text), whole(text), "{text:?}");
        }
        assert_eq!(streamed(&cases[0]).len(), 4);
    }
}
