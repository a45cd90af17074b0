//! Meerkat's field names and values, rewritten to Herald's at parse time (the table in
//! [`super`]'s docs): renames, fields refused with a hint, and values that expand to
//! predicates.

use super::{compile, plain, ErrorKind, ExprError, Node, Op};

/// Builds one predicate, resolving Meerkat aliases (see the table in the module docs).
pub(super) fn predicate(field: &str, op: Op, value: String, pos: usize) -> Result<Node, ExprError> {
    if let Some(&(_, herald)) = MEERKAT_RENAMES
        .iter()
        .find(|(meerkat, _)| *meerkat == field)
    {
        return plain(herald, op, value, pos);
    }
    if let Some(&(meerkat, hint)) = MEERKAT_UNMAPPED
        .iter()
        .find(|(meerkat, _)| *meerkat == field)
    {
        return Err(ExprError {
            pos,
            kind: ErrorKind::MeerkatUnmapped {
                field: meerkat,
                hint,
            },
        });
    }
    let domain = match field {
        "type" => &MEERKAT_TYPE,
        "successfull" | "successful" => &MEERKAT_SUCCESSFULL,
        "alert.type" => &MEERKAT_ALERT_TYPE,
        _ => return plain(field, op, value, pos),
    };
    let expansions: Vec<Node> = match op {
        Op::Eq => domain
            .values
            .iter()
            .filter(|(name, _)| *name == value)
            .map(|(_, expand)| expand())
            .collect(),
        Op::Re => {
            let re = compile(field, &value, pos)?;
            let mut nodes: Vec<Node> = Vec::new();
            for (name, expand) in domain.values {
                let node = expand();
                if re.is_match(name) && !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
            nodes
        }
    };
    if !expansions.is_empty() {
        return Ok(Node::or(expansions));
    }
    match domain.otherwise {
        Some(herald) => plain(herald, op, value, pos),
        None => Err(ExprError {
            pos,
            kind: ErrorKind::MeerkatValue {
                field: domain.field,
                allowed: domain.allowed,
                value,
            },
        }),
    }
}

/// Meerkat field paths that are only a different name for a Herald field.
pub(super) const MEERKAT_RENAMES: &[(&str, &str)] = &[
    ("name", "pipeline"),
    ("alert.name", "alarm_name"),
    ("alert.status", "status"),
    ("commit.summary", "commit.message"),
    ("commit.link", "commit.url"),
    ("failureDetail.type", "failure.actions.provider"),
    ("approvalAttributes.link", "approval.review_link"),
    ("approvalAttributes.comment", "approval.custom_data"),
];

pub(super) const MEERKAT_UNMAPPED: &[(&str, &str)] = &[
    (
        "commit.authorEmail",
        "Herald's commit has id, message, author, url and provider",
    ),
    ("alert.description", "match on alarm_name or title instead"),
    ("alert.reason", "match on alarm_name or status instead"),
    ("alert.date", "routing does not look at time"),
    (
        "failureDetail.logUrl",
        "match on failure.stage or failure.actions instead",
    ),
    ("failureDetail.id", "match on failure.actions instead"),
    (
        "failureDetail.summary",
        "match on failure.actions.reason instead",
    ),
    ("failureDetail.targets", "match on failure.actions instead"),
    (
        "subject",
        "Herald has no free-form notifications; match on title instead",
    ),
    (
        "message",
        "Herald has no free-form notifications; match on title instead",
    ),
];

/// Builds the Herald predicate that one Meerkat value stands for.
type Expansion = fn() -> Node;

/// A Meerkat field whose values, not just its name, map onto Herald predicates.
struct Domain {
    field: &'static str,
    allowed: &'static str,
    values: &'static [(&'static str, Expansion)],
    /// Where a value outside `values` goes; `None` makes it a parse error.
    otherwise: Option<&'static str>,
}

static MEERKAT_TYPE: Domain = Domain {
    field: "type",
    allowed:
        "PipelineNotification, ManualApprovalNotification, AlarmNotification or SimpleNotification",
    values: &[
        ("PipelineNotification", || Node::eq("kind", "pipeline")),
        ("ManualApprovalNotification", || {
            Node::and(vec![
                Node::eq("kind", "pipeline"),
                Node::eq("status", "WAITING_FOR_APPROVAL"),
            ])
        }),
        ("AlarmNotification", || Node::eq("kind", "alarm")),
        ("SimpleNotification", || {
            Node::and(vec![
                Node::not(Node::eq("kind", "pipeline")),
                Node::not(Node::eq("kind", "alarm")),
            ])
        }),
    ],
    // So `type:ecs_deployment` works; `kind` itself takes any value.
    otherwise: Some("kind"),
};

static MEERKAT_SUCCESSFULL: Domain = Domain {
    field: "successfull",
    allowed: "true or false",
    values: &[
        ("true", || {
            Node::and(vec![
                Node::eq("kind", "pipeline"),
                Node::eq("status", "SUCCEEDED"),
            ])
        }),
        ("false", || {
            Node::and(vec![
                Node::eq("kind", "pipeline"),
                Node::eq("status", "FAILED"),
            ])
        }),
    ],
    otherwise: None,
};

static MEERKAT_ALERT_TYPE: Domain = Domain {
    field: "alert.type",
    allowed: "alarm, nag, recovered or healthy",
    values: &[
        ("alarm", alarm_in_alarm),
        ("nag", alarm_in_alarm),
        ("recovered", alarm_ok),
        ("healthy", alarm_ok),
    ],
    otherwise: None,
};

fn alarm_in_alarm() -> Node {
    Node::and(vec![Node::eq("kind", "alarm"), Node::eq("status", "ALARM")])
}

fn alarm_ok() -> Node {
    Node::and(vec![Node::eq("kind", "alarm"), Node::eq("status", "OK")])
}
