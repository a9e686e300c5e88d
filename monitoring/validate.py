"""Checks the definitions in monitoring/ (metrics, alert policies, dashboards) against the Cloud Logging and Cloud Monitoring message
types of the installed Google Cloud SDK, offline: every field name and enum value must be one that
`gcloud logging metrics create --config-from-file` and
`gcloud alpha monitoring policies create --policy-from-file` and
`gcloud monitoring dashboards create --config-from-file` understand, read the way those commands
read the files (JSON into LogMetric / AlertPolicy / Dashboard messages). A dashboard may chart
only the log-based metrics defined beside it.

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
from googlecloudsdk.generated_clients.apis.monitoring.v1 import monitoring_v1_messages as monitoring_v1
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


def metric_types(widget_dict):
    """Every metric.type a dashboard's widgets chart, read from its filters."""
    found = []
    if isinstance(widget_dict, dict):
        for key, value in widget_dict.items():
            if key == "filter" and isinstance(value, str) and "metric.type=" in value:
                found.append(value.split('metric.type="', 1)[1].split('"', 1)[0])
            else:
                found.extend(metric_types(value))
    elif isinstance(widget_dict, list):
        for item in widget_dict:
            found.extend(metric_types(item))
    return found


def check_dashboard(path, root):
    name = os.path.basename(path)
    with open(path) as handle:
        data = json.load(handle)
    dashboard = encoding.PyValueToMessage(monitoring_v1.Dashboard, data)
    problems = unrecognized(dashboard, name)
    if not dashboard.displayName:
        problems.append("%s: no displayName" % name)
    if "etag" in data or "name" in data:
        problems.append("%s: name and etag are the server's; leave them out" % name)
    # Each chart reads a log-based metric this folder defines.
    defined = {os.path.splitext(e)[0] for e in os.listdir(os.path.join(root, "metrics"))}
    for metric in metric_types(data):
        prefix = "logging.googleapis.com/user/"
        if not metric.startswith(prefix) or metric[len(prefix):] not in defined:
            problems.append("%s: charts %s, which monitoring/metrics/ does not define" % (name, metric))
    return problems


def main(root):
    problems = []
    checks = (
        ("metrics", check_metric),
        ("policies", check_policy),
        ("dashboards", lambda path: check_dashboard(path, root)),
    )
    for folder, check in checks:
        directory = os.path.join(root, folder)
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".json"):
                problems.extend(check(os.path.join(directory, entry)))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))
