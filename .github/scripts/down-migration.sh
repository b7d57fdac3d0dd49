#!/usr/bin/env bash
# Run a held schema rollback. With `platform:api.migrations.downImage` set on a stack released by Argo
# Rollouts, `pulumi up` applies the down migration as a suspended CronJob that only holds its Job:
# nothing in `pulumi up` can tell when the older release serves alone again. Run this after
# wait-rollout.sh has seen that release stable: it creates the Job from each held CronJob
# (`kubectl create job --from=cronjob/...`, named like the CronJob, so a second run finds it and
# never downgrades twice) and waits until the Job completes, or fails with its log.
# Usage: down-migration.sh <pulumi stack> [timeout seconds per Job]; needs kubectl, the AWS CLI and
# credentials that the stack's `cluster.adminRoleArns` admit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"

stack=$1
timeout=${2:-1800}
namespace=platform-api
selector=app.kubernetes.io/component=migration

use_cluster "$stack"

# Forward migrations are plain Jobs: the only CronJobs with the migration label are held rollbacks.
held='' state=''
kubectl_read held "the held down migrations" get cronjobs -n "$namespace" -l "$selector" \
  -o 'jsonpath={.items[*].metadata.name}'
if [ -z "$held" ]; then
  echo "no held down migration in $namespace"
  exit 0
fi

for job in $held; do
  if out=$(kubectl create job "$job" --from="cronjob/$job" -n "$namespace" 2>&1); then
    echo "started the down migration $job"
  elif [[ $out == *"already exists"* ]]; then  # kubectl: failed to create job: … already exists
    echo "the down migration $job was started before: not starting it again"
  else
    echo "::error::cannot start the down migration $job: $out"
    exit 1
  fi
  deadline=$((SECONDS + timeout))
  conditions='{.status.conditions[?(@.type=="Complete")].status}|{.status.conditions[?(@.type=="Failed")].status}'
  while :; do
    kubectl_read state "the Job $job" get "job/$job" -n "$namespace" -o "jsonpath=$conditions"
    IFS='|' read -r complete failed <<<"$state"
    if [ "$complete" = "True" ]; then
      echo "the down migration $job completed"
      break
    fi
    if [ "$failed" = "True" ]; then
      echo "::error::the down migration $job failed: restore from the snapshot taken before it (docs/runbooks/schema-migration-rollback.md)"
      kubectl logs -n "$namespace" "job/$job" --tail=100 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "::error::the down migration $job did not finish within ${timeout}s"
      exit 1
    fi
    sleep 10
  done
done
