"""The ACLs docs/security.md tells operators to create, read from the doc
itself (the sh block between `<!-- acls:begin` and `<!-- acls:end -->`), so
the tests that run Weir through them and the doc cannot drift apart.

    bindings = documented_acls(cluster, pipeline)   # AclBindings, names substituted
    cluster.add_acls(bindings)

The block's variable lines (NAME=value) are its defaults; `pipeline_vars`
maps a tests/integration/pipeline.Pipeline's names onto them.  Every
`kafka-acls.sh ... --add` command becomes the AclBindings kafka-acls would
create: each --allow-principal x each --operation x each resource
(--topic, --group, --transactional-id, --cluster), with the command's
--resource-pattern-type (literal unless given), host "*".
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def acl_block(doc: Path = DOC) -> str:
    text = doc.read_text()
    m = re.search(r"<!-- acls:begin.*?-->\s*```sh\n(.*?)```\s*<!-- acls:end -->", text, re.S)
    if not m:
        raise AssertionError(f"{doc}: no ```sh block between <!-- acls:begin --> and "
                             f"<!-- acls:end -->")
    return m.group(1)


def pipeline_vars(p) -> dict:
    """The block's variables for a tests/integration/pipeline.Pipeline."""
    t = p.topics
    return {"PIPELINE": p.name, "COMPUTE_GROUP": f"weir-compute-{p.name}",
            "ENRICHMENT_GROUP": f"weir-enrichment-{p.name}", "SINK_GROUP": f"weir-sink-{p.name}",
            "INPUT": t["readings"], "AGGREGATES": t["agg"],
            "ALERTS": t["alerts"], "COMPUTE_DLQ": t["cdlq"],
            "CHANGELOG": p.spec["compute"]["output"]["changelog"],
            "ENRICHED_AGGREGATES": t["eagg"], "ENRICHED_ALERTS": t["ealerts"],
            "ENRICHMENT_DLQ": t["edlq"], "SINK_DLQ": t["sdlq"],
            "BOOTSTRAP": p.kafka.bootstrap}


def commands(values: dict, doc: Path = DOC) -> list[list[str]]:
    """The block's kafka-acls.sh commands as argv lists, variables expanded
    (values over the block's own defaults; an unknown variable is an error)."""
    text = acl_block(doc).replace("\\\n", " ")
    env, cmds = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(\S*)", line)
        if m:
            env[m.group(1)] = m.group(2)
            continue
        env.update(values)

        def sub(mm):
            name = mm.group(1) or mm.group(2)
            if name not in env:
                raise AssertionError(f"{DOC}: ${name} is not set in the ACL block")
            return env[name]
        argv = shlex.split(re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, line))
        if not argv or argv[0] != "kafka-acls.sh":
            raise AssertionError(f"{DOC}: unexpected line in the ACL block: {line}")
        cmds.append(argv)
    return cmds


def to_rules(argv: list[str]) -> list[tuple[str, list]]:
    """[(principal, [(resource, name, pattern, [operations])])] of one
    kafka-acls.sh --add command."""
    principals, ops, res, pattern = [], [], [], "literal"
    i, add = 1, False
    while i < len(argv):
        a = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else None
        if a == "--add":
            add, i = True, i + 1
            continue
        if a == "--cluster":
            res.append(("cluster", "kafka-cluster"))
            i += 1
            continue
        if a in ("--bootstrap-server", "--command-config"):
            pass
        elif a == "--allow-principal":
            principals.append(val)
        elif a == "--operation":
            ops.append(val)
        elif a == "--topic":
            res.append(("topic", val))
        elif a == "--group":
            res.append(("group", val))
        elif a == "--transactional-id":
            res.append(("transactional_id", val))
        elif a == "--resource-pattern-type":
            pattern = val
        else:
            raise AssertionError(f"kafka-acls.sh option {a} not understood by {__file__}")
        i += 2
    if not (add and principals and ops and res):
        raise AssertionError(f"incomplete kafka-acls.sh command: {' '.join(argv)}")
    return [(pr, [(r, name, pattern, ops) for r, name in res]) for pr in principals]


def documented_acls(cluster, p) -> list:
    """AclBindings of every documented command, for pipeline `p`."""
    out = []
    for argv in commands(pipeline_vars(p)):
        for principal, rules in to_rules(argv):
            out += cluster.acl_bindings(principal, rules)
    return out
