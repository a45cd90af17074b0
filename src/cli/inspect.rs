//! `herald inspect`: decode files and print one JSON object per event.

use super::input::{decode_text, read_path};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf]) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in files {
        let name = path.display();
        let text = match read_path(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        for doc in decode_text(&text) {
            match doc.result {
                Ok(events) => {
                    for event in events {
                        let line = event.to_inspect_json();
                        if writeln!(out, "{line}").is_err() {
                            return ExitCode::from(1);
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{name}:{}: {e}", doc.line);
                    failed = true;
                }
            }
        }
    }
    let _ = out.flush();
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
