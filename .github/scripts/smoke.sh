#!/usr/bin/env bash
# Smoke test of a deployed environment: the API answers its health and readiness probes over TLS,
# serves its OpenAPI document, and the frontend's entry page loads over TLS.
#   API_URL=https://api.staging.example.com FRONTEND_URL=https://staging.example.com bash .github/scripts/smoke.sh
set -euo pipefail
: "${API_URL:?set API_URL to the API base URL of the environment}"
: "${FRONTEND_URL:?set FRONTEND_URL to the frontend URL of the environment}"

check() { # check NAME URL EXPECTED_STATUS
  local status
  status=$(curl --silent --show-error --output /dev/null --write-out '%{http_code}' \
    --proto '=https' --tlsv1.2 --max-time 10 --retry 5 --retry-delay 5 --retry-all-errors "$2" || true)
  if [ "$status" != "$3" ]; then
    echo "FAIL $1: $2 answered ${status:-nothing}, expected $3" >&2
    return 1
  fi
  echo "ok   $1: $2 ($status)"
}

failures=0
check "api liveness" "$API_URL/healthz" 200 || failures=$((failures + 1))
check "api readiness" "$API_URL/readyz" 200 || failures=$((failures + 1))
check "api openapi" "$API_URL/openapi.json" 200 || failures=$((failures + 1))
check "frontend" "$FRONTEND_URL/" 200 || failures=$((failures + 1))
# Plain HTTP must only redirect to HTTPS (CloudFront / Cloudflare answer 301).
plain=$(curl --silent --output /dev/null --write-out '%{http_code} %{redirect_url}' --max-time 10 \
  "${FRONTEND_URL/https:/http:}/" || true)
case "$plain" in
  30[178]\ https://*) echo "ok   plain http redirects to https ($plain)" ;;
  *) echo "FAIL plain http: answered '$plain', expected a redirect to https" >&2; failures=$((failures + 1)) ;;
esac
if [ "$failures" -gt 0 ]; then
  echo "$failures smoke check(s) failed" >&2
  exit 1
fi
echo "smoke test passed"
