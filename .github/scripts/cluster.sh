#!/usr/bin/env bash
# Shared by the deploy scripts (sourced): reach a stack's cluster, and read from it patiently.

# use_cluster <pulumi stack>: point kubectl at the stack's EKS cluster.
use_cluster() {
  local cluster
  cluster=$(pulumi stack output clusterName --stack "$1")
  aws eks update-kubeconfig --name "$cluster" --alias "$cluster" >/dev/null
}

# kubectl_read <variable> <what> <kubectl arguments...>: sets <variable> to kubectl's output (stdout
# only: a successful kubectl still logs discovery errors and warnings to stderr), retried over an
# API server blip; after 3 failed reads in a row it reports <what> as unreadable and fails: a state
# nobody can read is not a state to wait on.
kubectl_read() {
  local variable=$1 what=$2 attempt out errors
  shift 2
  errors=$(mktemp)
  for attempt in 1 2 3; do
    if out=$(kubectl "$@" 2>"$errors"); then
      printf -v "$variable" '%s' "$out"
      rm -f "$errors"
      return 0
    fi
    echo "::warning::cannot read $what ($attempt/3): $(<"$errors")"
    if [ "$attempt" -lt 3 ]; then sleep 10; fi
  done
  rm -f "$errors"
  echo "::error::$what could not be read 3 times in a row; its state is unknown"
  return 1
}
