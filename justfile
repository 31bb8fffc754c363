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

# Run one service against the servers of the running local mesh (or DOCMESH_* settings)
worker SERVICE:
    set -a; [ -f {{mesh_env}} ] && . ./{{mesh_env}}; set +a; DOCMESH_CONSUMER_NAME={{SERVICE}}-manual-$$ {{venv}}docmesh run {{SERVICE}}

# Run one service with debug logs on the console
worker-verbose SERVICE:
    set -a; [ -f {{mesh_env}} ] && . ./{{mesh_env}}; set +a; DOCMESH_CONSUMER_NAME={{SERVICE}}-manual-$$ DOCMESH_LOG_LEVEL=DEBUG DOCMESH_LOG_FORMAT=console {{venv}}docmesh run {{SERVICE}}

# Follow the log of one process of the local mesh (a service or a server)
logs SERVICE:
    tail -F {{state}}/logs/{{SERVICE}}.log

# Length, groups, consumers and pending entries of every stream (redis-cli XINFO)
queue-info:
    #!/usr/bin/env bash
    set -euo pipefail
    set -a; . ./{{mesh_env}}; set +a
    for s in extract dedup chunk embed finalize progress dead; do
        key="{${DOCMESH_STREAM_PREFIX}}:$s"
        echo "== $key  length $(redis-cli -u "$DOCMESH_REDIS_URL" XLEN "$key")"
        redis-cli -u "$DOCMESH_REDIS_URL" XINFO GROUPS "$key" 2>/dev/null | paste - - | sed 's/^/   /' || true
        for g in $(redis-cli -u "$DOCMESH_REDIS_URL" XINFO GROUPS "$key" 2>/dev/null | awk 'prev=="name"{print} {prev=$0}'); do
            echo "   consumers of $g:"
            redis-cli -u "$DOCMESH_REDIS_URL" XINFO CONSUMERS "$key" "$g" | paste - - | sed 's/^/      /'
        done
    done

# Health of Redis, PostgreSQL, S3 and every stage, from the gateway
queue-health:
    #!/usr/bin/env bash
    set -a; . ./{{mesh_env}}; set +a
    curl -s "http://$DOCMESH_GATEWAY_HOST:$DOCMESH_GATEWAY_PORT/api/v1/queue/health"; echo

# Run the whole test suite (starts its own servers)
test *ARGS:
    {{venv}}pytest {{ARGS}}

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

# Start the whole mesh with docker compose
compose-up *ARGS:
    docker compose up -d {{ARGS}}

# Stop the docker compose mesh
compose-down *ARGS:
    docker compose down {{ARGS}}
