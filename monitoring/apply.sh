#!/usr/bin/env bash
# Creates, or updates when they exist, the OfficeRnD backup's log-based metrics, alert policies
# and Cloud Monitoring dashboard in a Google Cloud project (see monitoring/README.md).
#
#   monitoring/apply.sh PROJECT_ID [NOTIFICATION_CHANNEL]
#
# NOTIFICATION_CHANNEL: a channel id or projects/PROJECT_ID/notificationChannels/ID
# (`gcloud beta monitoring channels list --project PROJECT_ID`). Without it, new policies get no
# channel and existing policies keep the channels they have.
#
# Safe to run again: metrics are matched by name (metrics/<name>.json), policies by their user
# label officernd_alert (policies/<officernd_alert>.json), dashboards by display name. DRY_RUN=1
# prints the gcloud commands instead of running those that change anything.
set -euo pipefail

usage() {
  echo "usage: $0 PROJECT_ID [NOTIFICATION_CHANNEL]" >&2
  exit 2
}
[[ $# -ge 1 && $# -le 2 && -n "$1" && "$1" != -* ]] || usage
project="$1"
channel="${2:-}"
if [[ -n "$channel" && "$channel" != projects/* ]]; then
  channel="projects/$project/notificationChannels/$channel"
fi
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v gcloud >/dev/null 2>&1; then
  echo "apply.sh: gcloud not found; install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)" >&2
  exit 2
fi

change() {
  if [[ "${DRY_RUN:-}" == "1" ]]; then
    printf 'DRY_RUN:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# 1. The definitions must read as gcloud reads them (field names, enum values), before anything
#    is sent.
sdk_root="$(gcloud info --format='value(installation.sdk_root)')"
sdk_python="$(gcloud info --format='value(basic.python_location)')"
PYTHONPATH="$sdk_root/lib:$sdk_root/lib/third_party" "$sdk_python" "$here/validate.py" "$here" || {
  echo "apply.sh: the definitions above do not match the Cloud Logging / Monitoring API; nothing applied" >&2
  exit 1
}

# 2. Log-based metrics on the backup_summary entry.
for file in "$here"/metrics/*.json; do
  name="$(basename "$file" .json)"
  if gcloud logging metrics describe "$name" --project "$project" --format='value(name)' >/dev/null 2>&1; then
    echo "metric $name: updating"
    change gcloud logging metrics update "$name" --project "$project" --config-from-file "$file"
  else
    echo "metric $name: creating"
    change gcloud logging metrics create "$name" --project "$project" --config-from-file "$file"
  fi
done

# 3. Alert policies (they need the metrics above; `gcloud alpha` asks to install the alpha
#    component the first time).
existing_policies="$(gcloud alpha monitoring policies list --project "$project" \
  --format='value(name,userLabels.officernd_alert)')"
for file in "$here"/policies/*.json; do
  key="$(basename "$file" .json)"
  matches="$(awk -F'\t' -v key="$key" '$2 == key { print $1 }' <<<"$existing_policies")"
  count="$(grep -c . <<<"$matches" || true)"
  if [[ "$count" -gt 1 ]]; then
    echo "apply.sh: $count policies carry the label officernd_alert=$key; delete the extra ones:" >&2
    echo "$matches" >&2
    exit 1
  fi
  if [[ "$count" -eq 0 ]]; then
    echo "policy $key: creating"
    args=(--policy-from-file "$file")
    [[ -n "$channel" ]] && args+=(--notification-channels "$channel")
    change gcloud alpha monitoring policies create --project "$project" "${args[@]}"
  else
    echo "policy $key: updating $matches"
    args=(--policy-from-file "$file")
    if [[ -n "$channel" ]]; then
      args+=(--set-notification-channels "$channel")
    else
      # The file has no channels: keep the ones the policy has (set in the console, say).
      current="$(gcloud alpha monitoring policies describe "$matches" --project "$project" \
        --format='value(notificationChannels.join(","))')"
      [[ -n "$current" ]] && args+=(--set-notification-channels "$current")
    fi
    change gcloud alpha monitoring policies update "$matches" --project "$project" "${args[@]}"
  fi
done

# 4. Dashboards (dashboards/*.json), matched by display name. An update carries the current etag,
#    so a dashboard changed meanwhile in the console is not overwritten blindly.
existing_dashboards="$(gcloud monitoring dashboards list --project "$project" \
  --format='value(name,displayName)')"
for file in "$here"/dashboards/*.json; do
  title="$("$sdk_python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["displayName"])' "$file")"
  matches="$(awk -F'\t' -v title="$title" '$2 == title { print $1 }' <<<"$existing_dashboards")"
  count="$(grep -c . <<<"$matches" || true)"
  if [[ "$count" -gt 1 ]]; then
    echo "apply.sh: $count dashboards are named \"$title\"; delete the extra ones:" >&2
    echo "$matches" >&2
    exit 1
  fi
  if [[ "$count" -eq 0 ]]; then
    echo "dashboard $title: creating"
    change gcloud monitoring dashboards create --project "$project" --config-from-file "$file"
  else
    echo "dashboard $title: updating $matches"
    etag="$(gcloud monitoring dashboards describe "$matches" --project "$project" --format='value(etag)')"
    with_etag="$(mktemp)"
    "$sdk_python" -c 'import json, sys; d = json.load(open(sys.argv[1])); d["etag"] = sys.argv[2]; json.dump(d, open(sys.argv[3], "w"))' \
      "$file" "$etag" "$with_etag"
    change gcloud monitoring dashboards update "$matches" --project "$project" --config-from-file "$with_etag"
    rm -f "$with_etag"
  fi
done

echo "Done: $(ls "$here"/metrics/*.json | wc -l | tr -d ' ') metric(s), $(ls "$here"/policies/*.json | wc -l | tr -d ' ') polic(ies), $(ls "$here"/dashboards/*.json | wc -l | tr -d ' ') dashboard(s) in $project."
