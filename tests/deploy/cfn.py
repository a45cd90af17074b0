"""Reads Herald's CloudFormation templates and resolves them for a set of parameters.

CloudFormation itself resolves `Fn::If`, conditions and `AWS::NoValue`; moto 5.2.5 does not
inside lists (it fails with HTTP 500), so the deploy tests hand moto a template already
resolved for its parameters: conditions evaluated, `Fn::If` branches picked, `AWS::NoValue`
dropped, resources and outputs whose condition is false removed, and every intrinsic whose
arguments are known (parameters, pseudo parameters, literals) evaluated. What depends on a
resource (`Ref` to a resource, `Fn::GetAtt`, `Fn::Sub` naming one) is left for the stack.

As CloudFormation does, `Fn::Select` is checked in both branches of an `Fn::If`: an index past
the end of a known list fails the template even in the branch not taken.
"""

import copy
import json
import re
import sys

import yaml

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class TemplateError(Exception):
    pass


class _Loader(yaml.SafeLoader):
    pass


def _tag(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short in [
    "Ref",
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "Join",
    "Base64",
    "GetAZs",
    "ImportValue",
    "FindInMap",
    "Condition",
]:
    _Loader.add_constructor(
        "!" + _short, _tag(_short if _short in ("Ref", "Condition") else "Fn::" + _short)
    )


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


_NOVALUE = object()


class _Unknown:
    """A value only the stack knows (a resource's Ref or attribute)."""


def _known(v):
    if isinstance(v, dict):
        return False
    if isinstance(v, list):
        return all(_known(x) for x in v)
    return True


class Resolver:
    def __init__(self, template, params, account="123456789012", region="us-east-1",
                 stack="herald"):
        self.t = template
        self.values = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if name in params:
                v = params[name]
            elif "Default" in spec:
                v = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no value and no default")
            kind = spec.get("Type", "String")
            if kind in ("CommaDelimitedList",) or kind.startswith("List<"):
                if isinstance(v, str):
                    v = [] if v == "" else v.split(",")
                v = list(v)
            elif kind == "Number":
                v = float(v) if "." in str(v) else int(v)
            else:
                v = str(v)
            if "AllowedValues" in spec and v not in spec["AllowedValues"]:
                raise TemplateError(f"parameter {name}={v!r} is not one of {spec['AllowedValues']}")
            if "MinValue" in spec and kind == "Number" and v < spec["MinValue"]:
                raise TemplateError(f"parameter {name}={v} is below {spec['MinValue']}")
            if "AllowedPattern" in spec and isinstance(v, str) and not re.fullmatch(spec["AllowedPattern"], v):
                raise TemplateError(f"parameter {name}={v!r} does not match {spec['AllowedPattern']}")
            self.values[name] = v
        unknown = set(params) - set(self.values)
        if unknown:
            raise TemplateError(f"unknown parameters: {sorted(unknown)}")
        self.values.update(PSEUDO)
        self.values.update({"AWS::AccountId": account, "AWS::Region": region,
                            "AWS::StackName": stack})
        self.resources = set((template.get("Resources") or {}).keys())
        self.conditions = {}
        for name in (template.get("Conditions") or {}):
            self.condition(name)

    def condition(self, name):
        if name not in self.conditions:
            expr = (self.t.get("Conditions") or {}).get(name)
            if expr is None:
                raise TemplateError(f"no condition {name}")
            v = self.eval(expr)
            if not isinstance(v, bool):
                raise TemplateError(f"condition {name} is not a boolean: {v!r}")
            self.conditions[name] = v
        return self.conditions[name]

    def eval(self, node):
        if isinstance(node, list):
            out = [self.eval(x) for x in node]
            return [x for x in out if x is not _NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (k, a), = node.items()
            f = getattr(self, "_" + k.replace("Fn::", "fn_").replace("::", "_"), None)
            if f is not None:
                return f(a)
        out = {}
        for k, v in node.items():
            v = self.eval(v)
            if v is not _NOVALUE:
                out[k] = v
        return out

    # Intrinsics -------------------------------------------------------------------------

    def _Ref(self, name):
        if name == "AWS::NoValue":
            return _NOVALUE
        if name in self.values:
            return copy.deepcopy(self.values[name])
        if name in self.resources:
            return {"Ref": name}
        raise TemplateError(f"Ref to unknown name {name}")

    def _Condition(self, name):
        return self.condition(name)

    def _fn_GetAtt(self, a):
        if a[0] not in self.resources:
            raise TemplateError(f"GetAtt of unknown resource {a[0]}")
        return {"Fn::GetAtt": a}

    def _fn_If(self, a):
        name, yes, no = a
        # Both branches are evaluated (so a bad Select fails either way), one is kept.
        y, n = self.eval(yes), self.eval(no)
        return y if self.condition(name) else n

    def _fn_Equals(self, a):
        x, y = self.eval(a[0]), self.eval(a[1])
        if not (_known(x) and _known(y)):
            raise TemplateError(f"Fn::Equals on values only the stack knows: {a}")
        return x == y

    def _fn_Not(self, a):
        return not self.eval(a[0])

    def _fn_And(self, a):
        return all(self.eval(x) for x in a)

    def _fn_Or(self, a):
        return any(self.eval(x) for x in a)

    def _fn_Select(self, a):
        i, lst = self.eval(a[0]), self.eval(a[1])
        if isinstance(lst, list) and _known(lst):
            i = int(i)
            if i >= len(lst):
                raise TemplateError(
                    f"Fn::Select cannot select nonexistent value at index {i} of {lst}")
            return lst[i]
        return {"Fn::Select": [i, lst]}

    def _fn_Split(self, a):
        sep, s = self.eval(a[0]), self.eval(a[1])
        if isinstance(s, str):
            return s.split(sep)
        return {"Fn::Split": [sep, s]}

    def _fn_Join(self, a):
        sep, lst = self.eval(a[0]), self.eval(a[1])
        if isinstance(lst, list) and _known(lst):
            return sep.join(str(x) for x in lst)
        return {"Fn::Join": [sep, lst]}

    def _fn_Sub(self, a):
        if isinstance(a, str):
            text, extra = a, {}
        else:
            text, extra = a[0], {k: self.eval(v) for k, v in a[1].items()}

        def sub(m):
            name = m.group(1)
            if name.startswith("!"):
                return m.group(0)
            if name in extra and _known(extra[name]):
                return str(extra[name])
            if name in self.values and name not in extra:
                v = self.values[name]
                return ",".join(v) if isinstance(v, list) else str(v)
            return m.group(0)

        out = re.sub(r"\$\{([^}]+)\}", sub, text)
        left = [n for n in re.findall(r"\$\{([^}!]+)\}", out)]
        if not left:
            return out
        rest = {k: v for k, v in extra.items() if k in left}
        return {"Fn::Sub": [out, rest]} if rest else {"Fn::Sub": out}

    # The template -----------------------------------------------------------------------

    def template(self):
        t = self.t
        out = {"AWSTemplateFormatVersion": t.get("AWSTemplateFormatVersion", "2010-09-09")}
        res = {}
        for name, r in (t.get("Resources") or {}).items():
            if "Condition" in r and not self.condition(r["Condition"]):
                continue
            r = {k: v for k, v in r.items() if k != "Condition"}
            res[name] = self.eval(r)
        out["Resources"] = res
        outs = {}
        for name, o in (t.get("Outputs") or {}).items():
            if "Condition" in o and not self.condition(o["Condition"]):
                continue
            outs[name] = self.eval({k: v for k, v in o.items() if k != "Condition"})
        if outs:
            out["Outputs"] = outs
        return out


def resolve(path, params, **kw):
    return Resolver(load(path), params, **kw).template()


if __name__ == "__main__":
    # python3 cfn.py TEMPLATE [Name=value ...]: prints the resolved template as JSON.
    args = dict(p.split("=", 1) for p in sys.argv[2:])
    try:
        print(json.dumps(resolve(sys.argv[1], args), indent=2))
    except TemplateError as e:
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)
