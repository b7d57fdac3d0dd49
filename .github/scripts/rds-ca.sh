#!/usr/bin/env bash
# The region's RDS CA bundle at the path `platform:roles.sslRootCert` names (/tmp/rds-ca/<region>-bundle.pem):
# pulumi-postgresql (roles mode `provider`) checks Aurora's certificate against it, and RDS's CAs are
# not in the system trust store. Needs AWS_REGION (set by aws-actions/configure-aws-credentials).
set -euo pipefail
mkdir -p /tmp/rds-ca
curl -fsSL -o "/tmp/rds-ca/${AWS_REGION}-bundle.pem" \
  "https://truststore.pki.rds.amazonaws.com/${AWS_REGION}/${AWS_REGION}-bundle.pem"
