"""Checks the definitions in monitoring/ against the Cloud Logging and Cloud Monitoring message
types of the installed Google Cloud SDK, offline: every field name and enum value must be one that
`gcloud logging metrics create --config-from-file` and
`gcloud alpha monitoring policies create --policy-from-file` understand, read the way those
commands read the files (YAML/JSON into LogMetric / AlertPolicy messages).

Run with gcloud's own Python and libraries (apply.sh does this first):
  PYTHONPATH="$SDK/lib:$SDK/lib/third_party" "$GCLOUD_PYTHON" monitoring/validate.py monitoring
Prints one line per problem; exit status 1 when there is any.
"""

import json
import os
import sys

from apitools.base.protorpclite import messages as protorpc
from apitools.base.py import encoding
from googlecloudsdk.generated_clients.apis.logging.v2 import logging_v2_messages as logging_v2
from googlecloudsdk.generated_clients.apis.monitoring.v3 import monitoring_v3_messages as monitoring_v3


def unrecognized(message, path):
    """Field names (and enum values, which apitools also leaves unrecognized) it did not know."""
    problems = ["%s.%s: unknown field or value" % (path, name) for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        if not isinstance(field, protorpc.MessageField):
            continue
        value = getattr(message, field.name)
        values = value if field.repeated else [value]
        for index, item in enumerate(values):
            if item is None:
                continue
            where = "%s.%s" % (path, field.name) + ("[%d]" % index if field.repeated else "")
            problems.extend(unrecognized(item, where))
    return problems


def check_metric(path):
    name = os.path.splitext(os.path.basename(path))[0]
    with open(path) as handle:
        data = json.load(handle)
    metric = encoding.DictToMessage(data, logging_v2.LogMetric)
    problems = unrecognized(metric, name)
    if not metric.filter:
        problems.append("%s: no filter" % name)
    if metric.name and metric.name != name:
        problems.append("%s: name %r differs from the file name" % (name, metric.name))
    return problems


def check_policy(path):
    name = os.path.basename(path)
    with open(path) as handle:
        data = json.load(handle)
    policy = encoding.PyValueToMessage(monitoring_v3.AlertPolicy, data)
    problems = unrecognized(policy, name)
    if not policy.displayName:
        problems.append("%s: no displayName" % name)
    if not policy.conditions:
        problems.append("%s: no conditions" % name)
    for index, condition in enumerate(policy.conditions):
        kinds = [
            kind
            for kind in ("conditionThreshold", "conditionAbsent", "conditionPrometheusQueryLanguage")
            if getattr(condition, kind) is not None
        ]
        if len(kinds) != 1:
            problems.append("%s: condition %d must have exactly one kind, has %s" % (name, index, kinds))
        threshold = condition.conditionThreshold or condition.conditionAbsent
        if threshold is not None and "resource.type" not in (threshold.filter or ""):
            problems.append("%s: condition %d: the filter must name the resource type" % (name, index))
    return problems


def main(root):
    problems = []
    for folder, check in (("metrics", check_metric), ("policies", check_policy)):
        directory = os.path.join(root, folder)
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".json"):
                problems.extend(check(os.path.join(directory, entry)))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))
