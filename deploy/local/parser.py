"""The ``docmesh`` command line's arguments (the commands are in ``cli``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

STATE_DIR = Path(".docmesh")


def _mesh(cmd: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A command that talks to the servers: which ``docmesh up`` it talks to."""
    cmd.add_argument(
        "--state-dir",
        type=Path,
        default=STATE_DIR,
        help="the state dir of the docmesh up to talk to, when no DOCMESH_* variable names"
        " a server (default: ./.docmesh)",
    )
    return cmd


def _up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser("up", help="start the whole mesh on embedded servers")
    cmd.add_argument(
        "--state-dir",
        type=Path,
        default=STATE_DIR,
        help="where the servers keep their data (default: ./.docmesh)",
    )
    cmd.add_argument("--port", type=int, default=None, help="gateway port (default 8000)")
    cmd.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N replicas of a worker, e.g. --scale embedder=2",
    )
    cmd.add_argument("--verbose", action="store_true", help="service logs on the terminal")
    cmd.add_argument(
        "--redis-cluster",
        action="store_true",
        help="run Redis as a cluster of three masters (how a large deployment runs it)",
    )


def _keys(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = _mesh(commands.add_parser("keys", help="create, list or revoke API keys"))
    actions = cmd.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new key; it is printed only once")
    create.add_argument("--tenant", required=True, help="whose documents the key reaches")
    create.add_argument("--name", default="", help="a note on who holds the key")
    create.add_argument(
        "--admin", action="store_true", help="may also read queue state and dead letters"
    )
    actions.add_parser("list", help="every key, without its secret")
    revoke = actions.add_parser("revoke", help="stop a key working (within 5 s)")
    revoke.add_argument("id", help="the key's id, or enough of its start")


def _tenant(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = _mesh(commands.add_parser("tenant", help="delete a tenant and everything stored of it"))
    actions = cmd.add_subparsers(dest="action", required=True)
    delete = actions.add_parser(
        "delete", help="its documents (as DELETE /documents/{id} does), keys and webhooks"
    )
    delete.add_argument("tenant")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _archive(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = _mesh(
        commands.add_parser(
            "export", help="write a tenant's documents, pages, chunks and vectors to an archive"
        )
    )
    export.add_argument("--tenant", required=True)
    export.add_argument("--out", type=Path, help="the archive (default: TENANT.docmesh.tar.gz)")
    export.add_argument(
        "--collection",
        action="append",
        default=[],
        help="only the documents of this collection (its id or name; may be repeated)",
    )
    restore = _mesh(commands.add_parser("import", help="restore an archive of docmesh export"))
    restore.add_argument("archive", type=Path)
    into = restore.add_mutually_exclusive_group(required=True)
    into.add_argument("--tenant", help="restore into this tenant")
    into.add_argument(
        "--keep-tenant", action="store_true", help="restore into the tenant the archive names"
    )
    restore.add_argument(
        "--trust-unsigned",
        action="store_true",
        help="take an archive this deployment did not sign: its documents' text only,"
        " indexed again as uploads are (chunks, vectors and hashes are not taken)",
    )


def _reindex(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = _mesh(
        commands.add_parser(
            "reindex", help="build a new index version (chunking, model), follow, cancel, roll back"
        )
    )
    actions = cmd.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="build a version; unset options keep the active's")
    start.add_argument("--chunk-tokens", type=int)
    start.add_argument("--chunk-overlap-tokens", type=int)
    start.add_argument("--embeddings-model")
    start.add_argument("--embeddings-dimensions", type=int)
    start.add_argument("--embeddings-input-mode", choices=["none", "input_type", "prefix"])
    start.add_argument(
        "--guard-margin",
        type=float,
        help="hold the build if an evaluation set does worse on it by more than this "
        "(default: DOCMESH_REINDEX_GUARD)",
    )
    actions.add_parser("status", help="the active version and the build's progress")
    actions.add_parser("cancel", help="stop the build; the active version stays")
    actions.add_parser("activate", help="let a build the reindex guard holds switch anyway")
    actions.add_parser("rollback", help="switch back to the previous version while it is kept")


def _operations(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = _mesh(commands.add_parser("dlq", help="list, retry or purge dead letters"))
    dlq.add_argument("action", choices=["list", "retry", "purge"])
    dlq.add_argument("ids", nargs="*", help="entry ids (default: all)")
    cleanup = _mesh(commands.add_parser("cleanup", help="run the janitor's sweeps now"))
    cleanup.add_argument("--s3", action="store_true", help="only orphan temporary uploads")
    cleanup.add_argument("--all", action="store_true", help="every sweep (the default)")
    _mesh(commands.add_parser("migrate", help="bring the database schema up to date"))
    _mesh(
        commands.add_parser(
            "queue-info", help="length, groups and consumers of every stream (XINFO, no redis-cli)"
        )
    )
    pipeline = commands.add_parser("pipeline", help="print the stages of the pipeline")
    only = pipeline.add_mutually_exclusive_group()
    only.add_argument("--workers", action="store_true", help="only the worker services")
    only.add_argument("--streams", action="store_true", help="only the stream keys")
    # Listed for --help; ``cli.main`` hands its arguments to the benchmark untouched.
    commands.add_parser("bench", help="benchmark a mesh of its own: docmesh bench --help")
    commands.add_parser("settings", help="print every setting as a Markdown table")
    env = commands.add_parser("secrets", help="write a compose .env with random secrets")
    env.add_argument("--env-file", type=Path, default=Path(".env"))
    env.add_argument("--example", type=Path, default=Path(".env.example"))


def _client(cmd: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A command that calls the API with the key in DOCMESH_API_KEY."""
    _mesh(cmd).add_argument(
        "--url",
        help="the gateway (default: DOCMESH_URL, else the local mesh's); the key is "
        "DOCMESH_API_KEY",
    )
    return cmd


def _evaluate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = _client(
        commands.add_parser(
            "eval", help="run an evaluation set from a JSON Lines file (one question a line)"
        )
    )
    cmd.add_argument("file", type=Path, help='lines of {"question", "documents", "page", "quote"}')
    cmd.add_argument("--name", help="the set's name (default: the file's name); replaced if kept")
    cmd.add_argument(
        "--k", type=int, help="results looked at per question (default: the kept set's, else 5)"
    )
    cmd.add_argument("--index-version", type=int, help="default: the active version")
    cmd.add_argument("--details", action="store_true", help="print every question's result")
    cmd.add_argument(
        "--no-rerank",
        dest="rerank",
        action="store_false",
        help="keep the fused order even when the gateway has a reranker (to measure its gain)",
    )


def parser(services: Sequence[str], workers: Sequence[str]) -> argparse.ArgumentParser:
    """The whole command line, for these services and workers."""
    root = argparse.ArgumentParser(prog="docmesh", description="docmesh: the mesh and its tools")
    commands = root.add_subparsers(dest="command", required=True)
    _up(commands)
    run = commands.add_parser("run", help="run one service against configured servers")
    run.add_argument("service", choices=services)
    scale = commands.add_parser("scale", help="set the replicas of a worker of docmesh up")
    scale.add_argument("service", choices=workers)
    scale.add_argument("replicas", type=int)
    _mesh(scale)
    _operations(commands)
    _keys(commands)
    _tenant(commands)
    _archive(commands)
    _reindex(commands)
    _client(commands.add_parser("mcp", help="serve docmesh's MCP tools over stdio (agents)"))
    _evaluate(commands)
    health = commands.add_parser("healthcheck", help="exit 0 if a service is alive")
    health.add_argument("service", choices=services)
    return root
