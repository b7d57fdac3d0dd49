#!/usr/bin/env bash
# Wait until the API's Argo Rollout has fully released the revision `pulumi up` just applied, and fail
# if it aborts. `pulumi up` alone does not prove that: a release promoted by hand (uat) is never
# awaited, and right after an update the Rollout still shows the previous revision's `Healthy`.
#
# Released means: the controller has seen this generation (status.observedGeneration), the phase is
# Healthy, and the stable ReplicaSet is the current pod template's (stableRS == currentPodHash).
# Usage: wait-rollout.sh <pulumi stack> [timeout seconds]; needs kubectl, the AWS CLI and credentials
# that the stack's `cluster.adminRoleArns` or `viewerRoleArns` admit, valid for the whole wait.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"

stack=$1
timeout=${2:-3600}
namespace=platform-api
name=api

use_cluster "$stack"

# Only a Rollout that does not exist (or a cluster without the Rollout kind) means "nothing to wait
# for"; any other failure (expired credentials, no access, no network) fails the deployment.
if ! found=$(kubectl get "rollouts.argoproj.io/$name" -n "$namespace" -o name 2>&1); then
  case "$found" in
    *NotFound* | *"doesn't have a resource type"*)
      echo "no Rollout $namespace/$name (a rolling Deployment): pulumi up already awaited it"
      exit 0
      ;;
    *)
      echo "::error::cannot read the Rollout $namespace/$name: $found"
      exit 1
      ;;
  esac
fi

deadline=$((SECONDS + timeout))
state=''
# '|'-separated: a field not set yet prints as nothing, and must not shift the others.
fields='{.metadata.generation}|{.status.observedGeneration}|{.status.phase}|{.status.stableRS}|{.status.currentPodHash}|{.status.abort}'
while :; do
  kubectl_read state "the Rollout" get "rollouts.argoproj.io/$name" -n "$namespace" -o "jsonpath=$fields"
  IFS='|' read -r generation observed phase stable current aborted <<<"$state"
  echo "generation ${generation} observed ${observed:-?} phase ${phase:-?} stable ${stable:-?} current ${current:-?}"
  if [ "${aborted:-}" = "true" ] || [ "${phase:-}" = "Degraded" ]; then
    echo "::error::the API release was aborted (phase ${phase:-?}): its analysis failed or it was aborted by hand"
    kubectl get "rollouts.argoproj.io/$name" -n "$namespace" -o jsonpath='{.status.message}{"\n"}' || true
    exit 1
  fi
  if [ "$observed" = "$generation" ] && [ "$phase" = "Healthy" ] && [ -n "$stable" ] && [ "$stable" = "$current" ]; then
    echo "released: $stable"
    exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "::error::the API release did not complete within ${timeout}s (phase ${phase:-?}); promote or abort it"
    exit 1
  fi
  sleep 15
done
