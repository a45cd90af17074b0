"""Least privilege, checked: every AWS operation Herald's code calls is granted to the role
that calls it, and every grant of those roles is used by the code. Driven by
tests/deploy_stacks.rs; prints what it found and exits non-zero on any mismatch.

    python grants.py

The operations are read from src/: a call on an SDK client is `.operation_name()`, with the
names taken from the SDK crates' own `src/operation/` folders (the versions in Cargo.lock,
under $CARGO_HOME), in files that name the crate (`aws_sdk_sqs`…). Which role makes a call follows from the client: the enrichment clients
(CodePipeline, CodeBuild, CloudWatch Logs, CodeDeploy) run on the reader role Herald assumes in
the event's account (src/enrich/accounts.rs), except in src/chatops/, whose calls (people's
actions from chat) run on the operator role; every other client on the task role. DynamoDB
calls in src/source/lease.rs are on the lease table, all others on the state table.

The grants are read from the templates, resolved by cfn.py for each mode and option (sqs and
kinesis, Amazon Q topic and Organizations names on), so a grant behind a condition counts.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cfn  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# SDK crate -> IAM service prefix.
SERVICES = {
    "cloudwatchlogs": "logs",
    "codebuild": "codebuild",
    "codedeploy": "codedeploy",
    "codepipeline": "codepipeline",
    "dynamodb": "dynamodb",
    "kinesis": "kinesis",
    "organizations": "organizations",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "sqs": "sqs",
    "ssm": "ssm",
    "sts": "sts",
}
READER_SERVICES = {"logs", "codebuild", "codedeploy", "codepipeline"}

# Batch APIs authorised by the single action's permission (the service authorization
# reference lists no action of their own).
ACTION_OF = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
}

# Called by the code, granted to no role on purpose.
NOT_GRANTED = {
    ("task", "dynamodb:CreateTable", "Table"):
        "only when the table does not exist (tests, local runs); the stack creates it",
    ("task", "dynamodb:UpdateTimeToLive", "Table"):
        "only when TTL is off (tests, local runs); the stack turns it on",
    ("task", "dynamodb:UpdateTable", "Table"):
        "only when the `wake` index is missing (a table made before timers); the stack "
        "creates it with the table",
    ("task", "dynamodb:CreateTable", "LeaseTable"):
        "only when the lease table does not exist; the stack creates it in kinesis mode",
}

# Granted, and used by AWS on Herald's behalf rather than called by the code.
USED_INDIRECTLY = {
    ("task", "kms:Decrypt"):
        "SSM and Secrets Manager decrypt a SecureString or a secret under a customer managed "
        "key with the caller's kms:Decrypt (kms:ViaService)",
}


def pascal(snake):
    return "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


def sdk_versions():
    lock = open(os.path.join(REPO, "Cargo.lock"), encoding="utf-8").read()
    out = {}
    for name, version in re.findall(r'name = "aws-sdk-([a-z0-9]+)"\nversion = "([^"]+)"', lock):
        out[name] = version
    return out


def sdk_operations():
    home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    src = os.path.join(home, "registry", "src")
    ops = {}
    for crate, version in sdk_versions().items():
        if crate not in SERVICES:
            continue
        found = None
        for index in os.listdir(src) if os.path.isdir(src) else []:
            d = os.path.join(src, index, f"aws-sdk-{crate}-{version}", "src", "operation")
            if os.path.isdir(d):
                found = d
        if found is None:
            sys.exit(f"grants.py: aws-sdk-{crate} {version} is not in {src}: build first")
        ops[crate] = {f[:-3] if f.endswith(".rs") else f for f in os.listdir(found)}
    return ops


def code_calls(ops):
    """(role, action, table) -> [file:line], for every SDK call in src/."""
    calls = {}
    by_name = {}
    for crate, names in ops.items():
        for n in names:
            by_name.setdefault(n, set()).add(crate)
    for root, _, files in os.walk(os.path.join(REPO, "src")):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, REPO)
            text = open(path, encoding="utf-8").read()
            # Unit tests build their own clients against emulators: not the worker's calls.
            text = text.split("#[cfg(test)]")[0]
            used = {c for c in ops if f"aws_sdk_{c}" in text}
            for m in re.finditer(r"(\w+)\s*\.\s*([a-z][a-z0-9_]*)\(\)", text):
                receiver, op = m.group(1), m.group(2)
                no = text.count("\n", 0, m.start(2)) + 1
                # A file that calls a client names its crate (the client's type, its
                # builders), or the client is a field named for its service
                # (`c.codebuild.batch_get_builds()`): `.subscribe()` on a channel is no SNS call.
                here = used | {c for c in ops if receiver in (c, SERVICES[c])}
                crates = by_name.get(op, set()) & here
                if not crates:
                    continue
                if len(crates) > 1:
                    sys.exit(f"grants.py: {rel}:{no}: `{op}` is an operation of "
                             f"{sorted(crates)}; say which client it is")
                (crate,) = crates
                service = SERVICES[crate]
                action = f"{service}:{pascal(op)}"
                action = ACTION_OF.get(action, action)
                role = "reader" if service in READER_SERVICES else "task"
                if rel.startswith("src/chatops/") and role == "reader":
                    role = "operator"
                table = None
                if service == "dynamodb":
                    table = "LeaseTable" if rel == "src/source/lease.rs" else "Table"
                calls.setdefault((role, action, table), []).append(f"{rel}:{no}")
    return calls


def statements(policy):
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Allow":
            continue
        actions = st["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        res = st["Resource"]
        res = res if isinstance(res, list) else [res]
        yield actions, res


def table_of(resources):
    # A table by `GetAtt`, or one of its indexes by `Sub` ("${Table.Arn}/index/wake").
    text = repr(resources)
    if "'LeaseTable'" in text or "${LeaseTable." in text:
        return "LeaseTable"
    if "'Table'" in text or "${Table." in text:
        return "Table"
    return None


def grants():
    """(role, action, table) -> Sids, over every mode and option of both templates."""
    out = {}
    base = {
        "OrganizationId": "o-abcdefghij",
        "ContainerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/herald:1.0.0",
        "VpcSubnets": "subnet-1",
        "SecurityGroups": "sg-1",
        "OrganizationsAliases": "true",
        "AmazonQTopicArn": "arn:aws:sns:us-east-1:123456789012:amazon-q",
    }
    for mode in ("sqs", "kinesis"):
        t = cfn.resolve(os.path.join(REPO, "deploy/cloudformation/central.yaml"),
                        dict(base, SourceType=mode))
        role = t["Resources"]["TaskRole"]["Properties"]
        for p in role["Policies"]:
            for actions, res in statements(p["PolicyDocument"]):
                for a in actions:
                    table = table_of(res) if a.startswith("dynamodb:") else None
                    out.setdefault(("task", a, table), set()).add(mode)
    m = cfn.resolve(os.path.join(REPO, "deploy/cloudformation/member.yaml"), {
        "CentralEventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/herald",
        "CentralTaskRoleArn": "arn:aws:iam::123456789012:role/herald-TaskRole-EXAMPLE",
        "CreateOperatorRole": "true",
    })
    for resource, role in (("ReaderRole", "reader"), ("OperatorRole", "operator")):
        for p in m["Resources"][resource]["Properties"]["Policies"]:
            for actions, res in statements(p["PolicyDocument"]):
                for a in actions:
                    out.setdefault((role, a, None), set()).add("member")
    return out


def main():
    calls = code_calls(sdk_operations())
    granted = grants()
    problems = []
    for key in sorted(calls, key=str):
        role, action, table = key
        where = ", ".join(calls[key])
        on = f" on the {table}" if table else ""
        if key in NOT_GRANTED:
            print(f"not granted   {role:6} {action}{on}: {NOT_GRANTED[key]} ({where})")
            if key in granted:
                problems.append(f"{action}{on} is granted to the {role} role, though the "
                                f"list of calls not granted names it")
            continue
        if key in granted:
            print(f"granted       {role:6} {action}{on} ({where})")
        else:
            problems.append(f"{where}: calls {action}{on}, not granted to the {role} role")
    for key in sorted(granted, key=str):
        role, action, table = key
        if key in calls:
            continue
        if (role, action) in USED_INDIRECTLY:
            print(f"used by AWS   {role:6} {action}: {USED_INDIRECTLY[(role, action)]}")
            continue
        on = f" on the {table}" if table else ""
        problems.append(f"the {role} role is granted {action}{on}, which no code calls")
    for key in NOT_GRANTED:
        if key not in calls:
            problems.append(f"{key} is listed as called but not granted, and no code calls it")
    for p in problems:
        print(f"PROBLEM: {p}")
    print(f"{len(calls)} operations called, {len(granted)} grants, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
