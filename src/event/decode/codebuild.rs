//! CodeBuild: build state and phase changes, the build id and the failed phase's context.

use super::*;

/// `arn:aws:codebuild:region:account:build/project:uuid` -> `project:uuid`.
pub(super) fn build_id(raw: &str) -> String {
    match raw.split_once(":build/") {
        Some((_, id)) => id.to_owned(),
        None => raw.to_owned(),
    }
}

/// CodeBuild phase context comes as a list (`["COMMAND_EXECUTION_ERROR: ..."]`), a bracketed
/// string (`"[COMMAND_EXECUTION_ERROR: ...]"`), or filler (`": "`, `"[: ]"`).
pub(super) fn phase_context(items: &[String]) -> Option<String> {
    let joined = items
        .iter()
        .map(|s| clean_context(s))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    (!joined.is_empty()).then_some(joined)
}

pub(super) fn clean_context(s: &str) -> &str {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
        .trim();
    if s.trim_matches(|c: char| c == ':' || c.is_whitespace())
        .is_empty()
    {
        ""
    } else {
        s
    }
}

pub(super) fn decode_codebuild(
    detail_type: &str,
    meta: Meta,
    mut d: CodeBuildDetail,
    resource: Option<&str>,
) -> Result<Event, DecodeError> {
    let phase_change = detail_type == "CodeBuild Build Phase Change";
    let kind = if phase_change {
        "build_phase"
    } else {
        "build_state"
    };
    let raw_id = d.build_id.take().or_else(|| resource.map(str::to_owned));
    let build_id = build_id(&required(raw_id, kind, "build-id")?);
    let project = d
        .project
        .take()
        .or_else(|| build_id.split_once(':').map(|(p, _)| p.to_owned()));
    let project = required(project, kind, "project-name")?;
    let log_link = d.info.logs.deep_link.take();
    let initiator = d.info.initiator.take();
    let start_time = d.info.build_start_time.get().and_then(parse_time);
    if phase_change {
        let context = d
            .completed_phase_context
            .get()
            .map(clean_context)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        return Ok(Event::BuildPhase(BuildPhase {
            meta,
            project,
            build_id,
            phase: required(upper(d.completed_phase.take()), kind, "completed-phase")?,
            phase_status: required(
                upper(d.completed_phase_status.take()),
                kind,
                "completed-phase-status",
            )?,
            context,
            initiator,
            // The build's start, not the phase's: it is what joins a build to its action.
            start_time: start_time.or_else(|| d.completed_phase_start.get().and_then(parse_time)),
            log_link,
        }));
    }
    let failed_phase = d.info.phases.0.iter_mut().find_map(|p| {
        let status = p.phase_status.get()?;
        if status.eq_ignore_ascii_case("SUCCEEDED") {
            return None;
        }
        Some(PhaseOutcome {
            phase: p.phase_type.take().unwrap_or_default(),
            status: status.to_ascii_uppercase(),
            context: phase_context(&p.phase_context.0),
        })
    });
    Ok(Event::BuildState(BuildState {
        meta,
        project,
        build_id,
        state: required(upper(d.build_status.take()), kind, "build-status")?,
        initiator,
        current_phase: upper(d.current_phase.take()),
        start_time,
        log_link,
        log_group: d.info.logs.group.take(),
        log_stream: d.info.logs.stream.take(),
        failed_phase,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn its_fixtures_decode_to_its_kinds_and_round_trip() {
        let files =
            super::super::round_trip_fixtures(&["codebuild-"], &["build_state", "build_phase"]);
        assert!(files > 0);
    }
}
