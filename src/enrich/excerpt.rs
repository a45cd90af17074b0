//! Which lines of a failed log explain the failure (pure): the region around the first error
//! marker of the failing CodeBuild phase, with a little context and the command's exit line,
//! or the log's tail when no marker is found. ANSI codes and CodeBuild's `[Container] <time>`
//! prefixes are stripped; lines reporting passed tests are left out of an error region.

use super::TailLimits;
use crate::notification::LogRegion;

/// Lines kept above the first marker (what the tool printed just before it failed).
const CONTEXT_BEFORE: usize = 2;

/// Substrings that start the explanation of a failure in the common toolchains' output:
/// compilers (`error:`, `error[E`), test runners (jest's `FAIL`, go's `--- FAIL`, pytest's
/// `FAILURES`, dotnet's `Failed `), npm, Python, Rust panics, Maven and Gradle, Docker
/// (`ERROR [`, `ERROR:`), and JVM exceptions. CodeBuild's own `[Container]` lines never count.
const MARKERS: &[&str] = &[
    "error:",
    "error[E",
    "FAIL",
    "Error:",
    "npm ERR!",
    "Traceback",
    "panicked at",
    "BUILD FAILURE",
    "Exception",
    "[ERROR]",
    "ERROR:",
    "ERROR [",
];

/// A line that is CodeBuild's, not the build's.
fn container(line: &str) -> Option<&str> {
    line.strip_prefix("[Container] ")
}

/// `[Container] 2024/05/02 10:15:03.123456 Running command npm test` → `Running command npm test`.
fn clean(line: &str) -> &str {
    let Some(rest) = container(line) else {
        return line;
    };
    // Date and time, when present (`YYYY/MM/DD HH:MM:SS[.ffffff] `).
    let b = rest.as_bytes();
    let dated = b.len() > 20
        && b[..19].is_ascii()
        && b[4] == b'/'
        && b[7] == b'/'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[..4].iter().all(u8::is_ascii_digit);
    // `get`: a line from the build is any text, and byte 19 need not be a char boundary.
    match rest.get(19..).filter(|_| dated) {
        Some(after) => match after.find(' ') {
            Some(i) => &after[i + 1..],
            None => "",
        },
        None => rest,
    }
}

/// A line that reports a test that passed (jest's `PASS`, go's `--- PASS` and `ok`): noise in
/// an error region, however near the error it is.
fn passed(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("PASS ") || t.starts_with("--- PASS") || t.starts_with("ok  ")
}

fn is_marker(line: &str) -> bool {
    if container(line).is_some() {
        return false;
    }
    let t = line.trim_start();
    t.starts_with("Failed ") || MARKERS.iter().any(|m| line.contains(m))
}

/// The lines of `chunks` (log events, each one or more lines) with ANSI codes removed, one
/// trailing newline per event dropped.
fn split(chunks: &[&str]) -> Vec<String> {
    chunks
        .iter()
        .flat_map(|c| c.strip_suffix('\n').unwrap_or(c).split('\n'))
        .map(|l| crate::notification::enrichment::strip_ansi(l.trim_end_matches(['\r', ' ', '\t'])))
        .collect()
}

/// The failing phase's lines, `(first, end)` as indexes into `lines` (end exclusive): from
/// `Entering phase X` to the first `Phase complete: X State: FAILED` (CodeBuild runs later
/// phases after a failure, and UPLOAD_ARTIFACTS may fail too, for want of what the failed
/// build did not make). The whole log when it has no such phase (a CodeDeploy script's output,
/// a log cut before its end).
fn failing_phase(lines: &[String]) -> (usize, usize) {
    let end = lines.iter().position(|l| {
        container(l).is_some() && l.contains("Phase complete:") && l.contains("State: FAILED")
    });
    let Some(end) = end else {
        return (0, lines.len());
    };
    let name = clean(&lines[end])
        .strip_prefix("Phase complete: ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    let entering = format!("Entering phase {name}");
    let start = lines[..end]
        .iter()
        .rposition(|l| container(l).is_some() && clean(l) == entering)
        .map_or(0, |i| i + 1);
    (start, end + 1)
}

/// The lines that explain the failure, and where they are in the log. Each line cut to
/// `limits.line_chars`; at most `limits.lines` lines and `limits.total_chars` characters.
pub fn excerpt(chunks: &[&str], limits: &TailLimits) -> (Vec<String>, Option<LogRegion>) {
    let lines = split(chunks);
    let of_lines = lines.len();
    if lines.iter().all(|l| l.trim().is_empty()) || limits.lines == 0 {
        return (Vec::new(), None);
    }
    let (start, end) = failing_phase(&lines);
    let marker = (start..end).find(|&i| is_marker(&lines[i]));
    let keep = |i: &usize| !clean(&lines[*i]).trim().is_empty();
    // `keeps_last`: the region ends with the command's exit line, which a cut must keep.
    let (picked, error, keeps_last) = match marker {
        Some(m) => {
            let exit = (m..end).find(|&i| {
                container(&lines[i]).is_some()
                    && clean(&lines[i]).starts_with("Command did not exit successfully")
            });
            let first = m.saturating_sub(CONTEXT_BEFORE).max(start);
            // The exit line is one of the `lines`; with room for one line only, the error's.
            let exit = exit.filter(|_| limits.lines >= 2);
            let budget = limits.lines - usize::from(exit.is_some());
            let mut picked: Vec<usize> = (first..end)
                .filter(keep)
                .filter(|&i| container(&lines[i]).is_none() || Some(i) == exit)
                .filter(|&i| !passed(&lines[i]))
                .take(budget)
                .collect();
            if let Some(x) = exit {
                if !picked.contains(&x) {
                    picked.push(x);
                }
            }
            (picked, true, exit.is_some())
        }
        None => {
            let all: Vec<usize> = (0..lines.len()).filter(keep).collect();
            let from = all.len().saturating_sub(limits.lines);
            (all[from..].to_vec(), false, false)
        }
    };
    let mut out: Vec<String> = picked
        .iter()
        .map(|&i| crate::render::truncate(clean(&lines[i]), limits.line_chars).into_owned())
        .collect();
    // Within the total: an error region keeps its first lines (and its exit line), a tail its
    // last ones.
    let size = |v: &[String]| v.iter().map(|l| l.chars().count() + 1).sum::<usize>();
    let mut from = picked.first().copied().unwrap_or(0);
    while out.len() > 1 && size(&out) > limits.total_chars {
        if error {
            // The exit line stays, when there is one; otherwise the region loses its end.
            let at = out.len() - if keeps_last && out.len() > 2 { 2 } else { 1 };
            out.remove(at);
        } else {
            out.remove(0);
            from = picked[picked.len() - out.len()];
        }
    }
    let region = LogRegion {
        from_line: from + 1,
        of_lines,
        kind: if error { "error" } else { "tail" }.to_owned(),
    };
    (out, Some(region))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(lines: usize) -> TailLimits {
        TailLimits {
            lines,
            line_chars: 200,
            total_chars: 10_000,
        }
    }

    #[test]
    fn container_timestamps_go_and_other_lines_stay() {
        assert_eq!(
            clean("[Container] 2024/05/02 10:15:03.123456 Running command npm test"),
            "Running command npm test"
        );
        assert_eq!(
            clean("[Container] Phase is DOWNLOAD_SOURCE"),
            "Phase is DOWNLOAD_SOURCE"
        );
        assert_eq!(clean("  at Object.<anonymous>"), "  at Object.<anonymous>");
    }

    #[test]
    fn the_first_marker_of_the_failing_phase_not_of_an_earlier_one() {
        let log = [
            "[Container] 2024/05/02 10:00:00.000000 Entering phase INSTALL",
            "warning: Error: this one is in a phase that succeeded",
            "[Container] 2024/05/02 10:00:01.000000 Phase complete: INSTALL State: SUCCEEDED",
            "[Container] 2024/05/02 10:00:02.000000 Entering phase BUILD",
            "[Container] 2024/05/02 10:00:02.000000 Running command make",
            "compiling a",
            "compiling b",
            "compiling c",
            "src/c.c:3: error: expected ';'",
            "1 error generated.",
            "make: *** [c.o] Error 1",
            "",
            "[Container] 2024/05/02 10:00:05.000000 Command did not exit successfully make exit status 2",
            "[Container] 2024/05/02 10:00:05.000000 Phase complete: BUILD State: FAILED",
            "[Container] 2024/05/02 10:00:05.000000 Entering phase POST_BUILD",
            "tail noise",
        ];
        let (lines, region) = excerpt(&log, &limits(40));
        assert_eq!(
            lines,
            [
                "compiling b",
                "compiling c",
                "src/c.c:3: error: expected ';'",
                "1 error generated.",
                "make: *** [c.o] Error 1",
                "Command did not exit successfully make exit status 2",
            ]
        );
        let region = region.expect("a region");
        assert_eq!(
            (region.from_line, region.of_lines, region.kind.as_str()),
            (7, 16, "error")
        );
    }

    #[test]
    fn the_exit_line_stays_when_the_region_is_cut() {
        let mut log =
            vec!["[Container] 2024/05/02 10:00:02.000000 Entering phase BUILD".to_owned()];
        log.push("FAIL src/a.test.ts".to_owned());
        log.extend((0..100).map(|i| format!("  detail {i}")));
        log.push("[Container] 2024/05/02 10:00:05.000000 Command did not exit successfully npm test exit status 1".to_owned());
        log.push(
            "[Container] 2024/05/02 10:00:05.000000 Phase complete: BUILD State: FAILED".to_owned(),
        );
        let chunks: Vec<&str> = log.iter().map(String::as_str).collect();
        let (lines, region) = excerpt(&chunks, &limits(5));
        assert_eq!(
            lines,
            [
                "FAIL src/a.test.ts",
                "  detail 0",
                "  detail 1",
                "  detail 2",
                "Command did not exit successfully npm test exit status 1"
            ]
        );
        assert_eq!(region.map(|r| r.from_line), Some(2));
    }

    #[test]
    fn no_marker_means_the_tail_and_says_so() {
        let log: Vec<String> = (1..=50).map(|i| format!("line {i}")).collect();
        let chunks: Vec<&str> = log.iter().map(String::as_str).collect();
        let (lines, region) = excerpt(&chunks, &limits(3));
        assert_eq!(lines, ["line 48", "line 49", "line 50"]);
        let region = region.expect("a region");
        assert_eq!(
            (region.from_line, region.of_lines, region.kind.as_str()),
            (48, 50, "tail")
        );
    }

    #[test]
    fn colour_codes_are_stripped_and_events_may_hold_several_lines() {
        let (lines, region) = excerpt(
            &[
                "ok\n",
                "\u{1b}[31mFAIL\u{1b}[39m src/x.test.ts\n  expected 1\n",
            ],
            &limits(10),
        );
        assert_eq!(lines, ["ok", "FAIL src/x.test.ts", "  expected 1"]);
        assert_eq!(region.map(|r| r.kind), Some("error".to_owned()));
    }

    #[test]
    fn a_build_line_that_looks_half_like_a_timestamp_is_kept_whole() {
        // Byte 19 inside a multi-byte character: no panic, the line as it is.
        let odd = "[Container] 2024/05/02 10:15:0€ x";
        assert_eq!(clean(odd), "2024/05/02 10:15:0€ x");
        let (lines, _) = excerpt(&[odd, "[Container] 2024/05/02 1€"], &limits(5));
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn the_first_failed_phase_is_searched_not_a_later_one() {
        let log = [
            "[Container] 2024/05/02 10:00:02.000000 Entering phase BUILD",
            "error: expected one of `;` or `}`",
            "[Container] 2024/05/02 10:00:05.000000 Command did not exit successfully cargo build exit status 101",
            "[Container] 2024/05/02 10:00:05.000000 Phase complete: BUILD State: FAILED",
            "[Container] 2024/05/02 10:00:06.000000 Entering phase UPLOAD_ARTIFACTS",
            "[Container] 2024/05/02 10:00:06.000000 Expanding target/release/app",
            "[Container] 2024/05/02 10:00:06.000000 Phase complete: UPLOAD_ARTIFACTS State: FAILED",
        ];
        let (lines, region) = excerpt(&log, &limits(10));
        assert_eq!(lines[0], "error: expected one of `;` or `}`");
        assert_eq!(region.map(|r| r.kind), Some("error".to_owned()));
    }

    #[test]
    fn one_line_of_room_is_the_error_line() {
        let log = [
            "FAIL src/a.test.ts",
            "[Container] 2024/05/02 10:00:05.000000 Command did not exit successfully npm test exit status 1",
        ];
        assert_eq!(excerpt(&log, &limits(1)).0, ["FAIL src/a.test.ts"]);
        assert_eq!(excerpt(&log, &limits(2)).0.len(), 2);
    }

    #[test]
    fn the_tail_cuts_long_lines_and_keeps_the_end_within_the_total() {
        let long = "x".repeat(1000);
        let cut = |total| TailLimits {
            lines: 20,
            line_chars: 50,
            total_chars: total,
        };
        let (t, _) = excerpt(&[&long, "a", "b", "c"], &cut(120));
        assert_eq!(t[0].chars().count(), 50);
        assert!(t[0].ends_with('…'));
        assert_eq!(&t[1..], ["a", "b", "c"]);
        let (t, region) = excerpt(&[&long, "a", "b", "c"], &cut(50));
        assert_eq!(t, ["a", "b", "c"]);
        assert_eq!(region.map(|r| r.from_line), Some(2));
    }

    #[test]
    fn an_empty_log_has_no_region() {
        assert_eq!(excerpt(&["", "\n"], &limits(10)), (Vec::new(), None));
    }
}
