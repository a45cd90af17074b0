"""Deploys Herald's central and member stacks on moto, as an operator would on AWS, and
prints what a task of the stack would run with. Driven by tests/deploy_stacks.rs.

    python stack.py MOTO_URL SLACK_API_BASE SLACK_TOKEN WEBHOOK_URL FIXTURES_DIR

Each run takes fresh account ids (moto's `x-moto-account-id`), so runs never collide. It:
1. stores the chat secrets where the README says (a Secrets Manager secret under the
   `herald/` name prefix, an SSM SecureString under the `/herald/` path prefix, and one
   secret passed as `ChatSecretArns`, injected by ECS) and the configuration in
   `/herald/config`, which references all three;
2. creates the central stack (sqs mode) from `deploy/cloudformation/central.yaml`, resolved
   by cfn.py for its parameters, with two `ChatSecretArns` (fewer than five);
3. reads back what was created: the queue's redrive policy to its dead-letter queue, the
   table's key schema and TTL, the task role's policies (each secret the config references
   must be readable, nothing outside the prefixes), the task definition's environment and
   secrets (resolved as the ECS agent would: from the `ValueFrom` ARNs);
4. creates the member stack in a second account, pointing at the central bus and task role;
5. puts a real CodePipeline event on the central bus, and another on the member account's
   default bus, for the stacks' own rules to route into the queue;
6. assumes the task role (so moto files the worker's calls under the central account) and
   prints a JSON object: the task's environment, those credentials, and what was checked.
"""

import ast
import fnmatch
import json
import os
import random
import sys
import time

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cfn  # noqa: E402

REGION = "us-east-1"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def fail(msg):
    print(f"stack.py: {msg}", file=sys.stderr)
    sys.exit(1)


def account_id():
    return "%012d" % random.randint(10**11, 10**12 - 1)


def clients(moto, account, creds=None):
    kw = dict(endpoint_url=moto, region_name=REGION)
    kw.update(creds or dict(aws_access_key_id="testing", aws_secret_access_key="testing"))

    def make(name):
        c = boto3.client(name, **kw)
        if creds is None:
            c.meta.events.register(
                "before-sign.*.*",
                lambda request, **_: request.headers.__setitem__("x-moto-account-id", account),
            )
        return c

    return make


def create_stack(cf, name, template, caps):
    cf.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=caps)
    for _ in range(120):
        s = cf.describe_stacks(StackName=name)["Stacks"][0]
        if not s["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.25)
    if s["StackStatus"] != "CREATE_COMPLETE":
        fail(f"stack {name}: {s['StackStatus']} {s.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}
    summaries = cf.list_stack_resources(StackName=name)["StackResourceSummaries"]
    if len(summaries) != len(template["Resources"]):
        fail(f"stack {name}: {len(summaries)} resources, the template has "
             f"{len(template['Resources'])}")
    return outputs, {r["LogicalResourceId"]: r for r in summaries}


# IAM, as far as these policies need it: Allow statements, wildcard actions and resources,
# StringEquals conditions on kms:ViaService (the only condition the granting statements use
# here). Anything else in a condition makes the statement not apply.
def allowed(policies, action, resource, context=None):
    context = context or {}
    for doc in policies:
        for st in doc.get("Statement", []):
            if st.get("Effect") != "Allow":
                continue
            actions = st.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
                continue
            res = st.get("Resource", [])
            res = [res] if isinstance(res, str) else res
            if not any(fnmatch.fnmatchcase(resource, r) for r in res):
                continue
            ok = True
            for op, conds in (st.get("Condition") or {}).items():
                for key, want in conds.items():
                    want = [want] if isinstance(want, str) else want
                    got = context.get(key)
                    if op != "StringEquals" or got not in want:
                        ok = False
            if ok:
                return True
    return False


def role_policies(iam, role):
    docs = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):
            # moto 5.2.5 returns a policy created by CloudFormation as Python's repr of it.
            try:
                doc = json.loads(doc)
            except ValueError:
                doc = ast.literal_eval(doc)
        docs.append(doc)
    return docs


def main():
    moto, slack_base, slack_token, hook_url, fixtures = sys.argv[1:6]
    central, member = account_id(), account_id()
    c = clients(moto, central)
    sm, ssm = c("secretsmanager"), c("ssm")

    # 1. Secrets and config, as the README tells an operator to store them.
    token = sm.create_secret(Name="herald/slack-bot-token", SecretString=slack_token)
    ssm.put_parameter(Name="/herald/audit/signing", Value="signing-" + central,
                      Type="SecureString")
    hook = sm.create_secret(Name="herald/audit-hook-url",
                            SecretString=hook_url)
    extra = ssm.put_parameter(Name="/herald/chat/extra", Value="unused-" + central,
                              Type="SecureString")
    extra_arn = f"arn:aws:ssm:{REGION}:{central}:parameter/herald/chat/extra"
    del extra
    config = f"""default_destination = "deploys"
[correlate]
settle_secs = 0
[[destinations]]
name = "deploys"
kind = "slack"
channel = "C0DEPLOYS"
token = {{ secrets_manager = "herald/slack-bot-token" }}
api_base = "{slack_base}"
[[destinations]]
name = "audit"
kind = "webhook"
url = {{ env = "HERALD_CHAT_SECRET_1" }}
signing_secret = {{ ssm = "/herald/audit/signing" }}
[[rules]]
name = "everything to both"
match = "kind:pipeline"
destinations = ["deploys", "audit"]
"""
    ssm.put_parameter(Name="/herald/config", Value=config, Type="String")

    # 2. The central stack.
    params = {
        "OrganizationId": "o-abcdefghij",
        "SourceType": "sqs",
        "ContainerImage": f"{central}.dkr.ecr.{REGION}.amazonaws.com/herald:1.0.0",
        "VpcSubnets": "subnet-0a1b2c3d",
        "SecurityGroups": "sg-0a1b2c3d",
        "ChatSecretArns": f"{hook['ARN']},{extra_arn}",
    }
    template = cfn.resolve(os.path.join(REPO, "deploy/cloudformation/central.yaml"), params,
                           account=central, region=REGION, stack="herald")
    outputs, resources = create_stack(c("cloudformation"), "herald", template,
                                      ["CAPABILITY_IAM"])
    checked = [f"central stack CREATE_COMPLETE ({len(template['Resources'])} resources)"]

    # 3. What was created.
    sqs = c("sqs")
    qurl, dlq_url = outputs["QueueUrl"], outputs["DeadLetterQueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    redrive = json.loads(attrs["RedrivePolicy"])
    if redrive["deadLetterTargetArn"] != dlq_arn or int(redrive["maxReceiveCount"]) != 5:
        fail(f"queue redrive policy {redrive}, want {dlq_arn} after 5 receives")
    checked.append(f"queue redrives to {dlq_arn.rsplit(':', 1)[1]} after 5 receives")

    ddb = c("dynamodb")
    table = outputs["TableName"]
    desc = ddb.describe_table(TableName=table)["Table"]
    if desc["KeySchema"] != [{"AttributeName": "pk", "KeyType": "HASH"}]:
        fail(f"table key schema {desc['KeySchema']}")
    spec = template["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]
    if spec != {"AttributeName": "expires_at", "Enabled": True}:
        fail(f"the template's table TTL is {spec}")
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") == "DISABLED":
        # moto's CloudFormation does not apply TimeToLiveSpecification (AWS does): apply the
        # template's own setting, so that the worker's start check sees what AWS would show.
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec)
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("AttributeName") != "expires_at" or ttl.get("TimeToLiveStatus") != "ENABLED":
        fail(f"table TTL {ttl}")
    checked.append("table: partition key pk (S), TTL on expires_at")

    iam = c("iam")
    task_role = resources["TaskRole"]["PhysicalResourceId"]
    policies = role_policies(iam, task_role)
    arn_of = lambda kind, name: f"arn:aws:{kind}:{REGION}:{central}:{name}"  # noqa: E731
    must = [
        ("ssm:GetParameter", arn_of("ssm", "parameter/herald/config"), {}),
        ("ssm:GetParameter", arn_of("ssm", "parameter/herald/audit/signing"), {}),
        ("secretsmanager:GetSecretValue", token["ARN"], {}),
        ("kms:Decrypt", arn_of("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
         {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}),
        ("kms:Decrypt", arn_of("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
         {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}),
    ]
    must_not = [
        ("ssm:GetParameter", arn_of("ssm", "parameter/other/token"), {}),
        ("secretsmanager:GetSecretValue", arn_of("secretsmanager", "secret:other/token-AbCdEf"),
         {}),
        ("kms:Decrypt", arn_of("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), {}),
        ("dynamodb:DeleteItem", arn_of("dynamodb", f"table/{table}"), {}),
    ]
    for action, res, ctx in must:
        if not allowed(policies, action, res, ctx):
            fail(f"task role {task_role} may not {action} on {res} {ctx or ''}")
    for action, res, ctx in must_not:
        if allowed(policies, action, res, ctx):
            fail(f"task role {task_role} may {action} on {res} {ctx or ''}: too broad")
    checked.append("task role reads the config and the secrets it references, nothing else")

    exec_role = resources["ExecutionRole"]["PhysicalResourceId"]
    exec_policies = role_policies(iam, exec_role)
    for res in (hook["ARN"], extra_arn):
        action = "ssm:GetParameters" if ":ssm:" in res else "secretsmanager:GetSecretValue"
        if not allowed(exec_policies, action, res):
            fail(f"execution role may not {action} on {res}")

    ecs = c("ecs")
    td_arn = resources["TaskDefinition"]["PhysicalResourceId"]
    container = ecs.describe_task_definition(taskDefinition=td_arn)["taskDefinition"][
        "containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
    if secrets != {"HERALD_CHAT_SECRET_1": hook["ARN"], "HERALD_CHAT_SECRET_2": extra_arn}:
        fail(f"task definition secrets {secrets}")
    for name, source in secrets.items():
        if ":secretsmanager:" in source:
            env[name] = sm.get_secret_value(SecretId=source)["SecretString"]
        else:
            env[name] = ssm.get_parameter(Name=source.split(":parameter", 1)[1],
                                          WithDecryption=True)["Parameter"]["Value"]
    checked.append(f"task definition: {len(env) - len(secrets)} variables, "
                   f"{len(secrets)} secrets from ChatSecretArns (fewer than 5)")

    # 4. The member stack, in another account, forwarding to the central bus.
    m = clients(moto, member)
    mtemplate = cfn.resolve(os.path.join(REPO, "deploy/cloudformation/member.yaml"), {
        "CentralEventBusArn": outputs["EventBusArn"],
        "CentralTaskRoleArn": outputs["TaskRoleArn"],
        "ReaderRoleRegion": REGION,
    }, account=member, region=REGION, stack="herald-member")
    _, mres = create_stack(m("cloudformation"), "herald-member", mtemplate,
                           ["CAPABILITY_NAMED_IAM"])
    reader = m("iam").get_role(RoleName="herald-reader")["Role"]
    trust = reader["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    principals = [s["Principal"]["AWS"] for s in trust["Statement"]]
    if principals != [outputs["TaskRoleArn"]]:
        fail(f"reader role trusts {principals}")
    checked.append(f"member stack CREATE_COMPLETE ({len(mtemplate['Resources'])} resources); herald-reader "
                   "trusts the central task role alone")

    # 5. Real events onto the buses.
    def entry(path, bus):
        e = json.load(open(os.path.join(fixtures, path)))
        return {"Source": e["source"], "DetailType": e["detail-type"],
                "Detail": json.dumps(e["detail"]), "Resources": e.get("resources", []),
                "EventBusName": bus}

    ev = entry("codepipeline-pipeline-execution-state-change-succeeded-doc.json", "herald")
    out = c("events").put_events(Entries=[ev])
    if out["FailedEntryCount"]:
        fail(f"PutEvents on the central bus: {out}")
    ev = entry("codepipeline-pipeline-execution-state-change-failed-doc.json", "default")
    out = m("events").put_events(Entries=[ev])
    if out["FailedEntryCount"]:
        fail(f"PutEvents on the member's default bus: {out}")
    # Who changed what: an ECS UpdateService CloudTrail recorded is forwarded; another
    # service's call (not in the member rule) is not.
    ev = entry("cloudtrail-ecs-updateservice-desired-count-iam-user-herald.json", "default")
    other = dict(ev, Source="aws.s3",
                 Detail=json.dumps({"eventSource": "s3.amazonaws.com", "eventName": "PutObject"}))
    out = m("events").put_events(Entries=[ev, other])
    if out["FailedEntryCount"]:
        fail(f"PutEvents of CloudTrail calls on the member's default bus: {out}")
    visible = int(sqs.get_queue_attributes(
        QueueUrl=qurl, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
        "ApproximateNumberOfMessages"])
    checked.append(f"{visible} events routed into the queue by the stacks' rules")

    # 6. The task role's credentials, as the task would have them.
    creds = c("sts").assume_role(RoleArn=outputs["TaskRoleArn"],
                                 RoleSessionName="herald-task")["Credentials"]
    print(json.dumps({
        "env": env,
        "credentials": {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        },
        "account": central,
        "member_account": member,
        "queue_url": qurl,
        "dlq_url": dlq_url,
        "queued": visible,
        "checked": checked,
    }))


def kinesis_mode(moto):
    """The central stack in kinesis mode: created, and its task definition names the stack's
    stream and lease table. (moto's EventBridge cannot target a Kinesis stream, so no event
    goes through this one.)"""
    account = account_id()
    c = clients(moto, account)
    template = cfn.resolve(os.path.join(REPO, "deploy/cloudformation/central.yaml"), {
        "OrganizationId": "o-abcdefghij",
        "SourceType": "kinesis",
        "ContainerImage": f"{account}.dkr.ecr.{REGION}.amazonaws.com/herald@sha256:" + "a" * 64,
        "VpcSubnets": "subnet-0a1b2c3d,subnet-0d3c2b1a",
        "SecurityGroups": "sg-0a1b2c3d",
    }, account=account, region=REGION, stack="herald")
    outputs, resources = create_stack(c("cloudformation"), "herald", template,
                                      ["CAPABILITY_IAM"])
    td = resources["TaskDefinition"]["PhysicalResourceId"]
    container = c("ecs").describe_task_definition(taskDefinition=td)["taskDefinition"][
        "containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    want = {"HERALD_SOURCE": "kinesis", "HERALD_KINESIS_STREAM_ARN": outputs["StreamArn"],
            "HERALD_LEASE_TABLE": outputs["LeaseTableName"]}
    for k, v in want.items():
        if env.get(k) != v:
            fail(f"kinesis mode: {k}={env.get(k)!r}, want {v!r}")
    if "HERALD_SQS_QUEUE_URL" in env or container.get("secrets"):
        fail(f"kinesis mode: unexpected {env} {container.get('secrets')}")
    stream = c("kinesis").describe_stream_summary(StreamARN=outputs["StreamArn"])
    print(json.dumps({"checked": [
        f"kinesis mode: CREATE_COMPLETE ({len(template['Resources'])} resources), stream "
        f"{stream['StreamDescriptionSummary']['StreamStatus']}, task definition names the "
        "stream and the lease table, no secrets with no ChatSecretArns"]}))


if __name__ == "__main__":
    try:
        if sys.argv[1] == "kinesis":
            kinesis_mode(sys.argv[2])
        else:
            main()
    except cfn.TemplateError as e:
        fail(str(e))
