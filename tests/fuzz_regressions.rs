//! The fuzz targets' properties (`fuzz/fuzz_targets/props.rs`: no panic; a routing expression
//! prints as text that parses back the same and matches the same; a config error names its
//! origin) on every input kept in `tests/fixtures/fuzz/<target>/` (what a fuzz run once found,
//! and hand-picked edge cases) and on the seeds `scripts/fuzz.sh` starts from: the event
//! fixtures, the scenario lines, the README's routing expressions and config examples. The
//! bounded fuzz runs themselves are `scripts/fuzz.sh`, which `scripts/test.sh` runs.

#[path = "../fuzz/fuzz_targets/props.rs"]
mod props;

use std::path::Path;

fn inputs(dir: &Path, ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| ext.is_empty() || p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read input");
            (p.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    out
}

fn run(target: &str, check: fn(&[u8]), inputs: &[(String, Vec<u8>)]) {
    for (name, bytes) in inputs {
        if std::panic::catch_unwind(|| check(bytes)).is_err() {
            panic!("fuzz target {target} fails on {name}");
        }
    }
}

#[test]
fn inputs_kept_from_fuzzing_pass_every_target() {
    let root = Path::new("tests/fixtures/fuzz");
    for (target, check) in [
        ("decode", props::decode as fn(&[u8])),
        ("route_expr", props::route_expr),
        ("config", props::config),
    ] {
        let kept = inputs(&root.join(target), "");
        assert!(!kept.is_empty(), "no input kept for {target}");
        run(target, check, &kept);
    }
}

#[test]
fn the_fuzz_seeds_pass_every_target() {
    let fixtures = inputs(Path::new("tests/fixtures"), "json");
    assert!(fixtures.len() > 50, "{} event fixtures", fixtures.len());
    run("decode", props::decode, &fixtures);
    let mut lines = Vec::new();
    for (name, text) in inputs(Path::new("tests/fixtures/scenarios"), "jsonl") {
        for (i, l) in String::from_utf8_lossy(&text).lines().enumerate() {
            lines.push((format!("{name}:{}", i + 1), l.as_bytes().to_vec()));
        }
    }
    run("decode", props::decode, &lines);

    let readme = std::fs::read_to_string("README.md").expect("README");
    let mut blocks = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap_or(body.len());
        blocks.push(body[..end].to_owned());
        rest = &body[end..];
    }
    assert!(
        blocks.len() >= 3,
        "{} toml blocks in the README",
        blocks.len()
    );
    let configs: Vec<(String, Vec<u8>)> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("README toml block {i}"), b.as_bytes().to_vec()))
        .collect();
    run("config", props::config, &configs);
    let exprs: Vec<(String, Vec<u8>)> = blocks
        .iter()
        .flat_map(|b| b.lines())
        .filter_map(|l| l.trim().strip_prefix("match = "))
        .map(|v| {
            let v = v.split("   #").next().unwrap_or(v).trim();
            let v = v.trim_matches(|c| c == '\'' || c == '"');
            (format!("README match {v}"), v.as_bytes().to_vec())
        })
        .collect();
    assert!(
        exprs.len() >= 3,
        "{} routing expressions in the README",
        exprs.len()
    );
    let parsed = exprs
        .iter()
        .filter(|(_, v)| {
            std::str::from_utf8(v)
                .ok()
                .is_some_and(|s| herald::route::expr::Expr::parse(s).is_ok())
        })
        .count();
    assert!(parsed >= 2, "only {parsed} README expressions parse");
    run("route_expr", props::route_expr, &exprs);
}
