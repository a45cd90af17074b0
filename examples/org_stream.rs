//! The footprint stream of issue 19 and its floor (see README, "Footprint").
//!
//! `org_stream gen N FILE` writes the synthetic organization stream of N pipeline executions
//! (`tests/support/org_stream.rs`) as JSON Lines.
//!
//! `org_stream floor FILE` parses each line into a `serde_json::Value` and prints the seconds it
//! took: the floor `herald replay` is compared with.

use serde_json::Value;
use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

#[path = "../tests/support/org_stream.rs"]
mod org_stream;

fn generate(n: u64, path: &str) -> std::io::Result<()> {
    let lines = org_stream::lines(n);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for l in &lines {
        out.write_all(l.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!("{} events of {n} executions written to {path}", lines.len());
    Ok(())
}

fn floor(path: &str) -> std::io::Result<()> {
    let t = Instant::now();
    let mut n = 0u64;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    for line in file.lines() {
        let line = line?;
        if serde_json::from_str::<Value>(&line).is_ok() {
            n += 1;
        }
    }
    println!("{:.3} s for {n} lines", t.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let res = match args.get(1).map(String::as_str) {
        Some("gen") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
            generate(n, args.get(3).map_or("org-stream.jsonl", String::as_str))
        }
        Some("floor") => floor(args.get(2).map_or("org-stream.jsonl", String::as_str)),
        _ => {
            eprintln!("usage: org_stream gen N FILE | org_stream floor FILE");
            std::process::exit(2);
        }
    };
    if let Err(e) = res {
        eprintln!("org_stream: {e}");
        std::process::exit(1);
    }
}
