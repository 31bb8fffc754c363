"""Writes deploy/k8s/docmesh.yaml: one Deployment per service, KEDA autoscaling.

The manifests are generated so that the six Deployments cannot drift apart;
the YAML is committed for ``kubectl apply -f deploy/k8s/docmesh.yaml`` and a
test checks that it is what this script writes.

    python deploy/k8s/generate.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.stages import Stage, stages
from shared.streams import stream_key

IMAGE = "docmesh:0.1.0"
CONFIG = {
    "DOCMESH_S3_BUCKET": "documents",
    "DOCMESH_EMBEDDINGS_MODEL": "text-embedding-3-small",
    "DOCMESH_EMBEDDINGS_DIMENSIONS": "1536",
    "DOCMESH_EMBEDDINGS_CONCURRENCY": "4",
    "DOCMESH_EMBEDDINGS_BATCH_INPUTS": "512",
    "DOCMESH_LOG_FORMAT": "json",
    "DOCMESH_HEARTBEAT_FILE": "/tmp/docmesh-heartbeat",
}
SECRET_KEYS = [
    "DOCMESH_REDIS_URL",
    "DOCMESH_DATABASE_URL",
    "DOCMESH_S3_ACCESS_KEY_ID",
    "DOCMESH_S3_SECRET_ACCESS_KEY",
    "DOCMESH_EMBEDDINGS_API_KEY",
    "DOCMESH_ADMIN_KEY",
    "DOCMESH_ARCHIVE_KEY",
    "REDIS_PASSWORD",
]
"""Keys of the ``docmesh-secrets`` Secret, which is not shipped: no default secret
exists, and pods do not start until the operator creates it."""
SECRET_HELP = f"""# Create the Secret first (no default is shipped; pods wait for it):
#   kubectl create secret generic docmesh-secrets \\
#     {" ".join(f"--from-literal={k}=..." for k in SECRET_KEYS)}
# DOCMESH_REDIS_URL carries the password (redis://:PASSWORD@redis:6379/0); REDIS_PASSWORD
# is the same password for KEDA's scaler. Label your Redis pods app.kubernetes.io/name=redis
# and the NetworkPolicies below let only docmesh (and KEDA) reach it.
"""
LABELS = {"app.kubernetes.io/part-of": "docmesh"}


def _labels(service: str) -> dict[str, str]:
    return {**LABELS, "app.kubernetes.io/name": service}


def _container(service: str) -> dict[str, Any]:
    """The service's container: its command, configuration and liveness check."""
    return {
        "name": service,
        "image": IMAGE,
        "args": [service],
        "envFrom": [
            {"configMapRef": {"name": "docmesh-config"}},
            {"secretRef": {"name": "docmesh-secrets"}},
        ],
        # One consumer per pod, named after the pod.
        "env": [
            {
                "name": "DOCMESH_CONSUMER_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            }
        ],
        "livenessProbe": {
            "exec": {"command": ["docmesh", "healthcheck", service]},
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False},
    }


def _migrate() -> dict[str, Any]:
    return {
        "name": "migrate",
        "image": IMAGE,
        "command": ["docmesh", "migrate"],
        "envFrom": [
            {"configMapRef": {"name": "docmesh-config"}},
            {"secretRef": {"name": "docmesh-secrets"}},
        ],
        "securityContext": {"allowPrivilegeEscalation": False},
    }


def _expose(container: dict[str, Any], service: str) -> int:
    """Open the container's HTTP port (the gateway's API, a worker's metrics); the port."""
    if service == "gateway":
        container["env"].append({"name": "DOCMESH_GATEWAY_HOST", "value": "0.0.0.0"})
        container["ports"] = [{"containerPort": 8000, "name": "http"}]
        return 8000
    container["env"] += [
        {"name": "DOCMESH_METRICS_PORT", "value": "9100"},
        {"name": "DOCMESH_METRICS_HOST", "value": "0.0.0.0"},
    ]
    container["ports"] = [{"containerPort": 9100, "name": "metrics"}]
    # Ready once the worker serves its metrics (it does before it reads a stream).
    container["readinessProbe"] = {
        "httpGet": {"path": "/metrics", "port": "metrics"},
        "periodSeconds": 10,
    }
    return 9100


EXTRACT_USER = "docmesh-extract"
"""The image's unprivileged user (uid 10002) that reads documents."""


def _separate_privileges(container: dict[str, Any]) -> None:
    """The extractor starts as root with only the capabilities it needs to hand each
    document to ``EXTRACT_USER`` (switch users, give it the files, read its result,
    kill it); the child that parses the hostile file runs as that user, with no
    credential in its environment."""
    container["env"].append({"name": "DOCMESH_EXTRACT_USER", "value": EXTRACT_USER})
    container["securityContext"] = {
        **container["securityContext"],
        "runAsUser": 0,
        "runAsNonRoot": False,
        "capabilities": {
            "drop": ["ALL"],
            "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"],
        },
    }


def deployment(service: str) -> dict[str, Any]:
    container = _container(service)
    metrics_port = _expose(container, service)
    if service == "extractor":
        _separate_privileges(container)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"docmesh-{service}", "labels": _labels(service)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels(service)},
            "template": {
                "metadata": {
                    "labels": _labels(service),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(metrics_port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    # Longer than the handler grace period (DOCMESH_SHUTDOWN_GRACE_S).
                    "terminationGracePeriodSeconds": 45,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    # The schema is brought up to date before the service starts (under
                    # an advisory lock: pods starting together migrate once).
                    "initContainers": [_migrate()],
                    "containers": [container],
                },
            },
        },
    }


def scaled_object(stage: Stage) -> dict[str, Any]:
    """Scale a worker on its own group's backlog: entries not yet read, and unacked ones."""
    service = stage.service
    stream = stream_key("docmesh", stage.stream)
    common = {
        "address": "redis:6379",
        "passwordFromEnv": "REDIS_PASSWORD",
        "stream": stream,
        "consumerGroup": service,
    }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"docmesh-{service}", "labels": _labels(service)},
        "spec": {
            "scaleTargetRef": {"name": f"docmesh-{service}"},
            "minReplicaCount": 1,
            "maxReplicaCount": stage.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": [
                {"type": "redis-streams", "metadata": {**common, "lagCount": "5"}},
                {"type": "redis-streams", "metadata": {**common, "pendingEntriesCount": "5"}},
            ],
        },
    }


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "docmesh-config", "labels": LABELS},
            "data": CONFIG,
        },
        deployment("gateway"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "docmesh-gateway", "labels": _labels("gateway")},
            "spec": {
                "selector": _labels("gateway"),
                "ports": [{"name": "http", "port": 8000, "targetPort": "http"}],
            },
        },
    ]
    for stage in stages():
        docs += [deployment(stage.service), scaled_object(stage)]
    return docs + network_policies()


def _policy(name: str, selector: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"docmesh-{name}", "labels": LABELS},
        "spec": {"podSelector": {"matchLabels": selector}, **spec},
    }


def _from_namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def network_policies() -> list[dict[str, Any]]:
    """Nothing reaches a docmesh pod but the gateway's API and Prometheus; only docmesh
    and KEDA reach Redis; the extractor, which reads hostile files, talks only to
    DNS, Redis, PostgreSQL and S3."""
    dns = {"ports": [{"protocol": "UDP", "port": 53}, *_tcp(53)]}
    return [
        _policy(
            "ingress",
            LABELS,
            {
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_from_namespace("monitoring")], "ports": _tcp(9100)}],
            },
        ),
        _policy(
            "gateway",
            _labels("gateway"),
            {"policyTypes": ["Ingress"], "ingress": [{"ports": _tcp(8000)}]},
        ),
        _policy(
            "redis",
            {"app.kubernetes.io/name": "redis"},
            {
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": LABELS}}, _from_namespace("keda")]}
                ],
            },
        ),
        _policy(
            "extractor-egress",
            _labels("extractor"),
            {"policyTypes": ["Egress"], "egress": [dns, {"ports": _tcp(6379, 5432, 443, 9000)}]},
        ),
    ]


def render() -> str:
    header = "# Generated by deploy/k8s/generate.py; edit that script, not this file.\n"
    header += SECRET_HELP
    return header + yaml.safe_dump_all(manifests(), sort_keys=False)


if __name__ == "__main__":
    (Path(__file__).parent / "docmesh.yaml").write_text(render())
