"""Kubernetes manifests: generated, valid against the API schemas, KEDA wired to each group."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.events import Stream
from shared.streams import stream_key

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
DOCS = list(yaml.safe_load_all((K8S / "docmesh.yaml").read_text()))
KUBERNETES_VERSION = "1.30"


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_manifests_are_what_the_generator_writes() -> None:
    assert (K8S / "docmesh.yaml").read_text() == generator().render()


@pytest.mark.parametrize(
    "doc",
    [d for d in DOCS if not d["apiVersion"].startswith("keda")],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_catches_a_typo() -> None:
    bad = copy.deepcopy(next(d for d in DOCS if d["kind"] == "Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_every_service_has_a_deployment_and_every_worker_scales_on_its_group() -> None:
    deployments = {d["metadata"]["name"] for d in DOCS if d["kind"] == "Deployment"}
    assert deployments == {
        f"docmesh-{s}"
        for s in ("gateway", "extractor", "deduplicator", "chunker", "embedder", "janitor")
    }
    streams = {
        "extractor": Stream.EXTRACT,
        "deduplicator": Stream.DEDUP,
        "chunker": Stream.CHUNK,
        "embedder": Stream.EMBED,
        "janitor": Stream.FINALIZE,
    }
    scaled = [d for d in DOCS if d["kind"] == "ScaledObject"]
    assert {d["spec"]["scaleTargetRef"]["name"] for d in scaled} == {
        f"docmesh-{s}" for s in streams
    }
    for obj in scaled:
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        service = obj["spec"]["scaleTargetRef"]["name"].removeprefix("docmesh-")
        spec = obj["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "redis-streams"
            assert meta["address"] and meta["consumerGroup"] == service
            assert meta["stream"] == stream_key("docmesh", streams[service])
            thresholds = {"pendingEntriesCount", "lagCount", "streamLength"} & set(meta)
            assert len(thresholds) == 1 and all(meta[t].isdigit() for t in thresholds)
            assert meta["passwordFromEnv"] == "REDIS_PASSWORD"
            assert set(meta) <= {
                "address",
                "passwordFromEnv",
                "stream",
                "consumerGroup",
                "pendingEntriesCount",
                "lagCount",
                "streamLength",
                "activationLagCount",
                "databaseIndex",
                "enableTLS",
            }


def test_every_probe_targets_a_declared_port_or_runs_a_command() -> None:
    for doc in DOCS:
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"] for p in container.get("ports", [])}
            ports |= {p["containerPort"] for p in container.get("ports", [])}
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(kind)
                if probe is None:
                    continue
                if "httpGet" in probe:
                    assert probe["httpGet"]["port"] in ports, (doc["metadata"]["name"], kind)
                else:
                    assert probe["exec"]["command"], (doc["metadata"]["name"], kind)


def test_no_secret_is_shipped_and_every_pod_reads_the_operators() -> None:
    assert not [d for d in DOCS if d["kind"] == "Secret"]
    config = next(d for d in DOCS if d["kind"] == "ConfigMap")["data"]
    assert not [k for k in config if any(w in k for w in ("URL", "KEY", "PASSWORD", "SECRET"))]
    for d in DOCS:
        if d["kind"] == "Deployment":
            (container,) = d["spec"]["template"]["spec"]["containers"]
            refs = [e.get("secretRef", {}).get("name") for e in container["envFrom"]]
            assert "docmesh-secrets" in refs


def test_network_policies_close_every_pod_but_the_api_and_keep_the_extractor_in() -> None:
    policies = {d["metadata"]["name"]: d["spec"] for d in DOCS if d["kind"] == "NetworkPolicy"}
    ingress = policies["docmesh-ingress"]
    assert ingress["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "docmesh"}
    assert [p["port"] for rule in ingress["ingress"] for p in rule["ports"]] == [9100]
    gateway = policies["docmesh-gateway"]
    assert gateway["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "gateway"
    assert [p["port"] for p in gateway["ingress"][0]["ports"]] == [8000]
    redis = policies["docmesh-redis"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "docmesh"}}} in redis
    egress = policies["docmesh-extractor-egress"]
    assert egress["policyTypes"] == ["Egress"]
    ports = {p["port"] for rule in egress["egress"] for p in rule["ports"]}
    assert ports == {53, 6379, 5432, 443, 9000}
