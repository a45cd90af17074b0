//! The error region of real toolchains' CodeBuild logs (tests/fixtures/logs/: npm/jest, Maven,
//! Gradle, pytest, cargo, go test, dotnet, docker build), each with the line its region must
//! start at: the first error marker of the failing phase, with two lines of context, the lines
//! that explain the failure, and the command's exit line; never the passing noise far from it.

use herald::enrich::{excerpt::excerpt, TailLimits};
use std::path::Path;

const LIMITS: TailLimits = TailLimits {
    lines: 40,
    line_chars: 300,
    total_chars: 3_000,
};

#[test]
fn each_toolchain_log_yields_the_region_of_its_first_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let mut seen = 0;
    for stem in [
        "npm-jest",
        "maven",
        "gradle",
        "pytest",
        "cargo",
        "go-test",
        "dotnet",
        "docker-build",
    ] {
        let raw = std::fs::read_to_string(dir.join(format!("{stem}.log"))).expect("log");
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{stem}.expect.json"))).expect("expect"),
        )
        .expect("expect json");
        // One CloudWatch event per line, as CodeBuild writes them.
        let events: Vec<&str> = raw.lines().collect();
        let (lines, region) = excerpt(&events, &LIMITS);
        let region = region.unwrap_or_else(|| panic!("{stem}: no region"));
        let marker = want["marker_line"].as_u64().expect("marker_line") as usize;
        assert_eq!(region.kind, "error", "{stem}: {lines:#?}");
        assert_eq!(region.of_lines, events.len(), "{stem}");
        // Two lines of context above the marker (fewer where the phase starts closer).
        assert!(
            region.from_line <= marker && marker - region.from_line <= 2,
            "{stem}: region from line {}, marker at {marker}",
            region.from_line
        );
        let text = lines.join("\n");
        let marker_text = want["marker_text"].as_str().expect("marker_text");
        assert!(text.contains(marker_text), "{stem}: {text}");
        for s in want["must_include"].as_array().expect("must_include") {
            let s = s.as_str().expect("str");
            assert!(text.contains(s), "{stem}: no {s:?} in\n{text}");
        }
        for s in want["must_exclude"].as_array().expect("must_exclude") {
            let s = s.as_str().expect("str");
            assert!(!text.contains(s), "{stem}: {s:?} in\n{text}");
        }
        let exit = want["exit_line_contains"].as_str().expect("exit line");
        assert!(
            lines.last().is_some_and(|l| l.contains(exit)),
            "{stem}: the last line is not the exit line: {text}"
        );
        assert!(!text.contains('\u{1b}'), "{stem}: ANSI codes left");
        assert!(
            !text.contains("[Container]"),
            "{stem}: CodeBuild prefixes left"
        );
        assert!(lines.len() <= LIMITS.lines, "{stem}");
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn the_jest_failure_1500_lines_above_the_end_is_found() {
    let raw = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs/npm-jest.log"),
    )
    .expect("log");
    let events: Vec<&str> = raw.lines().collect();
    let (lines, region) = excerpt(&events, &LIMITS);
    let region = region.expect("a region");
    assert!(region.of_lines - region.from_line > 1_400, "{region:?}");
    assert!(
        lines.iter().any(|l| l.contains("Expected: \"¥1,980\"")),
        "{lines:#?}"
    );
}
