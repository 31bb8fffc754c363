# docmesh recipes. `just` comes with the dev extra (the rust-just wheel).

set dotenv-load := false

venv := ".venv/bin/"
state := ".docmesh"
mesh_env := state + "/mesh.env"

# List the recipes
default:
    @just --list

# Run the whole mesh on embedded servers (Redis, PostgreSQL+pgvector, S3, embeddings)
up *ARGS:
    {{venv}}docmesh up --state-dir {{state}} {{ARGS}}

# Gateway only, restarted when the code changes (against the running local mesh's servers)
dev:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; DOCMESH_CONSUMER_NAME=gateway-dev DOCMESH_GATEWAY_PORT=8001 DOCMESH_LOG_FORMAT=console {{venv}}watchfiles --filter python "{{venv}}docmesh run gateway" services shared

# Run one service against the servers of the running local mesh (or DOCMESH_* settings)
worker SERVICE:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; DOCMESH_CONSUMER_NAME={{SERVICE}}-manual-$$ {{venv}}docmesh run {{SERVICE}}

# Run one service with debug logs on the console
worker-verbose SERVICE:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; DOCMESH_CONSUMER_NAME={{SERVICE}}-manual-$$ DOCMESH_LOG_LEVEL=DEBUG DOCMESH_LOG_FORMAT=console {{venv}}docmesh run {{SERVICE}}

# One more replica of every worker against the running local mesh's servers
worker-all:
    #!/usr/bin/env bash
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a
    trap 'kill 0' INT TERM EXIT
    for s in $({{venv}}docmesh pipeline --workers); do
        DOCMESH_CONSUMER_NAME=$s-manual-$$ {{venv}}docmesh run $s &
    done
    wait

# Set the replicas of a worker: TARGET=local (the running docmesh up) or compose
scale SERVICE N TARGET="local":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{TARGET}}" = compose ]; then
        docker compose up -d --no-recreate --scale {{SERVICE}}={{N}}
    else
        {{venv}}docmesh scale {{SERVICE}} {{N}} --state-dir {{state}}
    fi

# Follow the log of one process of the local mesh (a service or a server)
logs SERVICE:
    tail -F {{state}}/logs/{{SERVICE}}.log

# Length, groups, consumers and pending entries of every stream (XINFO; no redis-cli needed)
queue-info:
    set -a; . "{{mesh_env}}"; set +a; {{venv}}docmesh queue-info

# Health of Redis, PostgreSQL, S3 and every stage, from the gateway
queue-health:
    #!/usr/bin/env bash
    set -a; . "{{mesh_env}}"; set +a
    curl -s "http://$DOCMESH_GATEWAY_HOST:$DOCMESH_GATEWAY_PORT/api/v1/queue/health"; echo

# Dead letters: list, retry or purge them (ACTION=list|retry|purge)
dlq ACTION="list" *ARGS:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; {{venv}}docmesh dlq {{ACTION}} {{ARGS}}

# API keys of the local mesh: create --tenant T [--admin], list, revoke ID
keys *ARGS:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; {{venv}}docmesh keys {{ARGS}}

# Index versions: reindex start [--chunk-tokens N ...], status, cancel, rollback
reindex *ARGS:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; {{venv}}docmesh reindex {{ARGS}}

# Delete orphan temporary uploads now (objects under temp/ with no live job)
cleanup-s3:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; {{venv}}docmesh cleanup --s3

# Run the janitor's whole sweep now (orphans, expired uploads, stalled jobs, stream trimming)
cleanup-daily:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; {{venv}}docmesh cleanup --all

# Benchmarks of the mesh on embedded servers (ARGS: --quick, --out FILE)
bench *ARGS:
    {{venv}}python -m tests.bench {{ARGS}}

# Bring the database schema of the running local mesh (or DOCMESH_* settings) up to date
migrate:
    set -a; [ -f {{mesh_env}} ] && . "{{mesh_env}}"; set +a; {{venv}}docmesh migrate

# The pipeline's stages: service, stream, input event, status, progress range
pipeline:
    {{venv}}docmesh pipeline

# Run the whole test suite in two processes (starts its own servers; a mesh's tests
# stay together in one process)
test *ARGS:
    {{venv}}pytest {{ARGS}}

# The whole suite in one process (its output in order, for a test that fails only beside others)
test-serial *ARGS:
    {{venv}}pytest -n 0 {{ARGS}}

# The quick lane while coding: unit tests and in-process integration tests, no mesh
test-fast *ARGS:
    {{venv}}pytest tests/unit tests/integration -m "not slow" {{ARGS}}

# Lint with ruff
lint:
    {{venv}}ruff check .
    {{venv}}ruff format --check .

# Type-check with mypy (strict for services/ and shared/)
typecheck:
    {{venv}}mypy

# Format the code
fmt:
    {{venv}}ruff format .
    {{venv}}ruff check --fix .

# Refresh deploy/constraints.txt: the newest versions docmesh[dev] resolves to, pinned
lock:
    #!/usr/bin/env bash
    set -euo pipefail
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/pip" install -q -e '.[dev]'
    { head -2 deploy/constraints.txt; "$tmp/venv/bin/pip" freeze --exclude-editable; } > "$tmp/constraints.txt"
    mv "$tmp/constraints.txt" deploy/constraints.txt

# Write .env for docker compose with fresh random secrets (never overwrites one)
init:
    {{venv}}docmesh secrets --env-file .env --example .env.example

# Start the whole mesh with docker compose (run `just init` once first)
compose-up *ARGS:
    docker compose up -d {{ARGS}}

# Stop the docker compose mesh
compose-down *ARGS:
    docker compose down {{ARGS}}
