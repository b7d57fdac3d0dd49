"""Centralized logs: Loki, and Grafana Alloy on every node shipping the pods' logs to it.

Loki runs as a single binary (``deploymentMode: SingleBinary``). On AWS it keeps chunks and index
in an S3 bucket created here (KMS-encrypted with its own key, public access blocked, versioned, a
lifecycle that expires objects after the retention) and reaches it through an IAM role bound to its
service account by EKS Pod Identity: no access key exists anywhere. Locally it keeps everything on
its persistent volume. The compactor deletes logs older than ``retentionDays`` in both cases.

Alloy runs as a DaemonSet: each pod tails the container log files of the pods on its own node
(``/var/log/pods``), labels them with namespace, pod, container and app, and pushes them to Loki.
Grafana gets Loki as a datasource (see ``components.monitoring``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components import charts
from components.observability_settings import LoggingSettings

LOKI_RELEASE = "loki"
COLLECTOR_RELEASE = "alloy"
LOKI_SERVICE_ACCOUNT = "loki"
# TSDB index, schema v13: what Loki 3 requires for structured metadata and retention.
SCHEMA_START = "2024-04-01"


def loki_gateway(namespace: str) -> str:
    """In-cluster base URL of Loki (its gateway): Grafana's datasource URL."""
    return f"http://{LOKI_RELEASE}-gateway.{namespace}.svc.cluster.local"


def loki_push_url(namespace: str) -> str:
    return f"{loki_gateway(namespace)}/loki/api/v1/push"


@dataclass(frozen=True)
class S3Storage:
    """Where Loki keeps its data on AWS."""

    bucket: pulumi.Input[str]
    region: str


# --------------------------------------------------------------------------------------------
# Pure renders
# --------------------------------------------------------------------------------------------


def loki_values(settings: LoggingSettings, *, storage_class: str, s3: S3Storage | None) -> dict[str, Any]:
    """Values of the Loki chart: single binary, S3 (AWS) or filesystem storage, retention on."""
    if s3 is None and settings.replicas > 1:
        raise ValueError("Loki on a filesystem runs one replica: replicas > 1 need S3 storage")
    store = "s3" if s3 is not None else "filesystem"
    storage: dict[str, Any] = {"type": store}
    if s3 is not None:
        storage["bucketNames"] = {"chunks": s3.bucket, "ruler": s3.bucket, "admin": s3.bucket}
        storage["s3"] = {"region": s3.region}
    return {
        "deploymentMode": "SingleBinary",
        "fullnameOverride": LOKI_RELEASE,
        "loki": {
            # One tenant: the platform. Multi-tenancy would need a tenant header on every client.
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 3 if settings.replicas >= 3 else 1},
            "storage": storage,
            "schemaConfig": {
                "configs": [
                    {
                        "from": SCHEMA_START,
                        "store": "tsdb",
                        "object_store": store,
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": f"{settings.retention_days * 24}h"},
            "compactor": {"retention_enabled": True, "delete_request_store": store},
        },
        "serviceAccount": {"create": True, "name": LOKI_SERVICE_ACCOUNT},
        "singleBinary": {
            "replicas": settings.replicas,
            "persistence": {
                "enabled": True,
                "size": f"{settings.storage_gib}Gi",
                "storageClass": storage_class,
            },
        },
        # The scalable targets and caches are for much larger installations.
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "minio": {"enabled": False},
    }


def render_alloy_config(push_url: str) -> str:
    """Alloy's pipeline: this node's pods → their log files → CRI parsing → Loki."""
    return f"""// Pods scheduled on this node only: every node runs its own collector.
discovery.kubernetes "pods" {{
  role = "pod"
  selectors {{
    role  = "pod"
    field = "spec.nodeName=" + sys.env("NODE_NAME")
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]
    separator     = "/"
    target_label  = "__path__"
    replacement   = "/var/log/pods/*$1/*.log"
  }}
}}

local.file_match "pods" {{
  path_targets = discovery.relabel.pods.output
}}

loki.source.file "pods" {{
  targets    = local.file_match.pods.targets
  forward_to = [loki.process.pods.receiver]
}}

loki.process "pods" {{
  stage.cri {{}}
  forward_to = [loki.write.default.receiver]
}}

loki.write "default" {{
  endpoint {{
    url = "{push_url}"
  }}
}}
"""


ALLOY_DATA = "/var/lib/alloy"


def collector_values(*, push_url: str) -> dict[str, Any]:
    """Values of the Alloy chart: a DaemonSet reading the node's pod logs, pushing to Loki."""
    return {
        # Read positions on the node, not in the pod: a restarted collector resumes where it was
        # instead of sending every pod log of the node again.
        "controller": {
            "type": "daemonset",
            "volumes": {
                "extra": [
                    {"name": "alloy-data", "hostPath": {"path": ALLOY_DATA, "type": "DirectoryOrCreate"}}
                ]
            },
        },
        "alloy": {
            "configMap": {"create": True, "content": render_alloy_config(push_url)},
            "storagePath": ALLOY_DATA,
            "mounts": {"varlog": True, "extra": [{"name": "alloy-data", "mountPath": ALLOY_DATA}]},
            "enableReporting": False,
            "extraEnv": [
                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            ],
        },
    }


def loki_policy(bucket_arn: str, key_arn: str) -> str:
    """What Loki may do: read, write and delete objects of its bucket, with its key."""
    from components.iam import allow, document

    return document(
        allow(["s3:ListBucket"], bucket_arn),
        allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{bucket_arn}/*"),
        allow(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], key_arn),
    )


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsLogStorage:
    """What the AWS path needs: names, account, and the cluster whose service account gets the role."""

    name_prefix: str
    account_id: str
    region: str
    cluster_name: pulumi.Input[str]
    protect: bool


@dataclass(frozen=True)
class LogStackArgs:
    settings: LoggingSettings
    namespace: str
    storage_class: str
    aws: AwsLogStorage | None = None


class LogStack(pulumi.ComponentResource):
    """Loki (S3 on AWS, filesystem locally) and the Alloy node collector."""

    query_url: str
    """Loki's in-cluster URL, for Grafana."""
    bucket_name: pulumi.Output[str] | None
    """The log bucket (AWS stacks)."""

    def __init__(self, name: str, args: LogStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:observability:LogStack", name, None, opts)
        import pulumi_kubernetes as k8s

        s3: S3Storage | None = None
        depends: list[pulumi.Resource] = []
        self.bucket_name = None
        if args.aws is not None:
            bucket, association = self._aws_storage(name, args.aws, args)
            self.bucket_name = bucket
            s3 = S3Storage(bucket=bucket, region=args.aws.region)
            depends.append(association)

        def release(
            suffix: str, chart: charts.Chart, release_name: str, values: dict[str, Any], *deps: Any
        ) -> Any:
            return k8s.helm.v3.Release(
                f"{name}-{suffix}",
                name=release_name,
                chart=chart.name,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=args.namespace,
                values=values,
                atomic=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(deps)),
            )

        loki = release(
            "loki",
            charts.LOKI,
            LOKI_RELEASE,
            loki_values(args.settings, storage_class=args.storage_class, s3=s3),
            *depends,
        )
        release(
            "collector",
            charts.ALLOY,
            COLLECTOR_RELEASE,
            collector_values(push_url=loki_push_url(args.namespace)),
            loki,
        )
        self.query_url = loki_gateway(args.namespace)
        self.register_outputs({"query_url": self.query_url, "bucket_name": self.bucket_name})

    def _aws_storage(
        self, name: str, aws_args: AwsLogStorage, args: LogStackArgs
    ) -> tuple[pulumi.Output[str], pulumi.Resource]:
        import pulumi_aws as aws

        from components.buckets import lock_down, tls_only_policy
        from components.iam import customer_key, key_policy, pod_identity_trust_policy

        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=aws_args.protect)
        key = customer_key(
            f"{name}-logs-key",
            "Loki log chunks and index",
            key_policy(aws_args.account_id),
            stateful,
        )
        bucket = aws.s3.Bucket(
            f"{name}-logs",
            bucket=f"{aws_args.name_prefix}-logs-{aws_args.account_id}-{aws_args.region}",
            force_destroy=False,
            opts=stateful,
        )
        locked = lock_down(f"{name}-logs", bucket.id, child, kms_key_arn=key.arn)
        aws.s3.BucketPolicy(
            f"{name}-logs",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn), sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=locked),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-logs",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    # The compactor deletes first; this catches whatever it left behind.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.settings.retention_days + 1
                    ),
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=7
                        )
                    ),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=1
                        )
                    ),
                )
            ],
            opts=child,
        )
        role = aws.iam.Role(f"{name}-loki", assume_role_policy=pod_identity_trust_policy(), opts=child)
        aws.iam.RolePolicy(
            f"{name}-loki",
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(lambda arns: loki_policy(arns[0], arns[1])),
            opts=child,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-loki",
            cluster_name=aws_args.cluster_name,
            namespace=args.namespace,
            service_account=LOKI_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        return bucket.bucket, association
