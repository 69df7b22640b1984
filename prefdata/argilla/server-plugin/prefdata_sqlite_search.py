"""An SQLite-backed search engine for argilla-server 2.8 (runs INSIDE the server's virtualenv).

    ARGILLA_SEARCH_ENGINE=prefdata-sqlite PREFDATA_ARGILLA_SEARCH_DB=/tmp/a/search.sqlite \
    PYTHONPATH=DIR_WITH_THIS_FILE python -c \
      "import prefdata_sqlite_search; from argilla_server.cli import app; app()" start

`prefdata argilla serve` copies this file into `HOME/plugin/prefdata_sqlite_search.py` and
starts the server and its rq worker that way. It must not import prefdata: the server's
virtualenv pins its own pydantic/fastapi and does not have prefdata installed.

argilla-server talks to Elasticsearch/OpenSearch through `BaseElasticAndOpenSearchEngine`,
which builds ES query DSL and hands it to a few low-level calls. This module keeps all of the
server's own query building and replaces only those calls: documents live as JSON rows in
one SQLite file (shared by the server and the worker processes, WAL mode), and searches are
answered by evaluating the subset of the DSL the server generates (bool, term(s), range,
exists, ids, nested, simple_query_string, function_score random_score; terms, value_count
and stats aggregations; field/nested sorts; brute-force cosine kNN) over those documents.
Fine for the few-thousand-record datasets of a local annotation round.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
import os
import re
import sqlite3
import uuid
from typing import Any, Dict, List, Optional

from argilla_server.models import Response, Suggestion, VectorSettings
from argilla_server.search_engine import SearchEngine
from argilla_server.search_engine.commons import (
    BaseElasticAndOpenSearchEngine,
    es_field_for_vector_settings,
    es_index_name_for_dataset,
)

ENGINE_NAME = "prefdata-sqlite"
DB_ENV = "PREFDATA_ARGILLA_SEARCH_DB"
_MISSING = object()
_WORD = re.compile(r"\w+", re.UNICODE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indices (name TEXT PRIMARY KEY, mappings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    idx TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (idx, id)
);
"""


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot index value of type {type(value).__name__}")


def _dumps(doc: dict) -> str:
    return json.dumps(doc, default=_json_default)


# ---------------------------------------------------------------- field access


def field_values(doc: Any, path: str) -> List[Any]:
    """All leaf values at a dotted path; lists are flattened like ES multi-valued fields."""
    nodes = [doc]
    for part in path.split("."):
        nxt = []
        for node in nodes:
            if isinstance(node, list):
                node_items = node
            else:
                node_items = [node]
            for item in node_items:
                if isinstance(item, dict) and part in item and item[part] is not None:
                    nxt.append(item[part])
        nodes = nxt
    out: List[Any] = []
    for node in nodes:
        out.extend(_flatten(node))
    return out


def _flatten(node: Any) -> List[Any]:
    if isinstance(node, list):
        return [v for item in node for v in _flatten(item)]
    if isinstance(node, dict):  # e.g. a ranking value [{"value":..,"rank":..}]: keep as is
        return [node]
    return [node]


def _texts_under(doc: Any, pattern: str) -> List[str]:
    """Strings under `fields.prompt`, `fields.*` or `fields.chat.*` (any depth)."""
    path = pattern.rstrip("*").rstrip(".")
    roots = field_values(doc, path) if path else [doc]
    out: List[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for root in roots:
        walk(root)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, float(value))
    return (1, str(value))


# ---------------------------------------------------------------- query evaluation


def _as_list(x: Any) -> List[Any]:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def score(doc: dict, query: Optional[dict]) -> Optional[float]:
    """None when `doc` does not match `query`, else an ES-like relevance score (>= 0)."""
    if not query:
        return 1.0
    (kind, body), = query.items()
    if kind == "match_all":
        return 1.0
    if kind == "bool":
        return _bool_score(doc, body)
    if kind == "term":
        (field, value), = body.items()
        value = value.get("value") if isinstance(value, dict) else value
        return 1.0 if any(_same(v, value) for v in field_values(doc, field)) else None
    if kind == "terms":
        (field, values), = body.items()
        return 1.0 if any(_same(v, w) for v in field_values(doc, field) for w in values) else None
    if kind == "range":
        (field, bounds), = body.items()
        return 1.0 if any(_in_range(v, bounds) for v in field_values(doc, field)) else None
    if kind == "exists":
        return 1.0 if field_values(doc, body["field"]) else None
    if kind == "ids":
        return 1.0 if str(doc.get("id")) in {str(v) for v in body["values"]} else None
    if kind == "nested":
        return _nested_score(doc, body)
    if kind == "simple_query_string":
        return _text_score(doc, body)
    if kind == "function_score":
        return score(doc, body.get("query"))
    raise ValueError(f"prefdata-sqlite search engine: unsupported query {kind!r}")


def _bool_score(doc: dict, body: dict) -> Optional[float]:
    total = 0.0
    for clause in _as_list(body.get("must")):
        s = score(doc, clause)
        if s is None:
            return None
        total += s
    for clause in _as_list(body.get("filter")):
        if score(doc, clause) is None:
            return None
    for clause in _as_list(body.get("must_not")):
        if score(doc, clause) is not None:
            return None
    should = _as_list(body.get("should"))
    if should:
        scores = [s for s in (score(doc, c) for c in should) if s is not None]
        default_min = 0 if (body.get("must") or body.get("filter")) else 1
        if len(scores) < int(body.get("minimum_should_match") or default_min):
            return None
        total += sum(scores)
    return total


def _in_range(value: Any, bounds: dict) -> bool:
    v = _comparable(value)
    checks = {"gte": lambda b: v >= b, "gt": lambda b: v > b, "lte": lambda b: v <= b, "lt": lambda b: v < b}
    return all(check(_comparable(bounds[op])) for op, check in checks.items() if bounds.get(op) is not None)


def _nested_score(doc: dict, body: dict) -> Optional[float]:
    path = body["path"]
    scores = []
    for item in _as_list(doc.get(path)):
        s = score({path: item}, body["query"])  # fields `path.x` resolve inside one element
        if s is not None:
            scores.append(s)
    return sum(scores) / len(scores) if scores else None


def _text_score(doc: dict, body: dict) -> Optional[float]:
    words = [w.lower() for w in _WORD.findall(str(body["query"]))]
    texts = [t for pattern in body.get("fields", ["*"]) for t in _texts_under(doc, pattern)]
    tokens = [w.lower() for t in texts for w in _WORD.findall(t)]
    if not words:
        return 1.0
    counts = [tokens.count(w) for w in words]
    if body.get("default_operator", "OR").upper() == "AND" and not all(counts):
        return None
    if not any(counts):
        return None
    return float(sum(math.log1p(c) for c in counts))


def _random_key(seed: str, doc_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# ---------------------------------------------------------------- sorting and aggregations


def _sort_value(doc: dict, field: str, spec: Any) -> Any:
    if isinstance(spec, dict) and "nested" in spec:
        nested = spec["nested"]
        path = nested["path"]
        values = []
        for item in _as_list(doc.get(path)):
            wrapped = {path: item}
            if nested.get("filter") and score(wrapped, nested["filter"]) is None:
                continue
            values.extend(v for v in field_values(wrapped, field) if isinstance(v, (int, float)))
        return sum(values) / len(values) if values else _MISSING
    values = field_values(doc, field)
    return values[0] if values else _MISSING


def sort_docs(docs: List[dict], sort: List[dict]) -> List[dict]:
    """Stable multi-key sort; missing values go last in both directions (ES default)."""
    for clause in reversed(sort):
        (field, spec), = clause.items()
        order = spec.get("order", "asc") if isinstance(spec, dict) else spec
        descending = str(getattr(order, "value", order)) == "desc"
        present = [d for d in docs if _sort_value(d, field, spec) is not _MISSING]
        missing = [d for d in docs if _sort_value(d, field, spec) is _MISSING]
        present.sort(key=lambda d: _comparable(_sort_value(d, field, spec)), reverse=descending)
        docs = present + missing
    return docs


def aggregate(docs: List[dict], aggregations: dict) -> dict:
    out = {}
    for name, spec in aggregations.items():
        (kind, body), = spec.items()
        field = body["field"]
        if kind == "terms":
            counts: Dict[Any, int] = {}
            for doc in docs:
                for value in {json.dumps(v, default=str): v for v in field_values(doc, field)}.values():
                    counts[value] = counts.get(value, 0) + 1
            buckets = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[: body.get("size", 10)]
            out[name] = {"buckets": [{"key": k, "doc_count": c} for k, c in buckets]}
        elif kind == "value_count":
            out[name] = {"value": sum(len(field_values(doc, field)) for doc in docs)}
        elif kind == "stats":
            nums = [float(v) for doc in docs for v in field_values(doc, field) if isinstance(v, (int, float))]
            out[name] = {
                "count": len(nums),
                "min": min(nums) if nums else None,
                "max": max(nums) if nums else None,
                "avg": sum(nums) / len(nums) if nums else None,
                "sum": sum(nums),
            }
        else:
            raise ValueError(f"prefdata-sqlite search engine: unsupported aggregation {kind!r}")
    return out


def _deep_merge(target: dict, update: dict) -> dict:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
    return target


def _cosine(a: List[float], b: List[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


# ---------------------------------------------------------------- the engine


@SearchEngine.register(engine_name=ENGINE_NAME)
@dataclasses.dataclass
class SQLiteSearchEngine(BaseElasticAndOpenSearchEngine):
    """The server's own ES engine with its storage and query execution swapped for SQLite."""

    path: str = ""

    def __post_init__(self):
        self.client = None  # no ES client: every low-level call below goes to SQLite
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    @classmethod
    async def new_instance(cls) -> "SQLiteSearchEngine":
        path = os.environ.get(DB_ENV) or os.path.join(os.path.expanduser("~"), ".argilla", "search.sqlite")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return cls(number_of_shards=1, number_of_replicas=0, path=path)

    async def close(self):
        self._conn.close()

    async def ping(self) -> bool:
        return self._conn.execute("SELECT 1").fetchone() == (1,)

    async def info(self) -> dict:
        return {"version": {"number": sqlite3.sqlite_version, "distribution": ENGINE_NAME}, "path": self.path}

    # -- storage helpers

    def _load(self, index: str, doc_id: str) -> Optional[dict]:
        row = self._conn.execute("SELECT doc FROM docs WHERE idx=? AND id=?", (index, doc_id)).fetchone()
        return json.loads(row[0]) if row else None

    def _save(self, index: str, doc_id: str, doc: dict) -> None:
        self._conn.execute(
            "INSERT INTO docs(idx, id, doc) VALUES (?, ?, ?) ON CONFLICT(idx, id) DO UPDATE SET doc=excluded.doc",
            (index, doc_id, _dumps(doc)),
        )

    def _all_docs(self, index: str) -> List[dict]:
        rows = self._conn.execute("SELECT doc FROM docs WHERE idx=? ORDER BY rowid", (index,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _modify(self, index: str, doc_id: str, change) -> None:
        """Read-modify-write one document inside a write transaction (server + worker share it)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            doc = self._load(index, doc_id)
            if doc is not None:
                change(doc)
                self._save(index, doc_id, doc)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # -- low-level calls of BaseElasticAndOpenSearchEngine

    async def _create_index_request(self, index_name: str, mappings: dict, settings: dict) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO indices(name, mappings) VALUES (?, ?)", (index_name, _dumps(mappings))
        )

    async def _delete_index_request(self, index_name: str):
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("DELETE FROM docs WHERE idx=?", (index_name,))
        self._conn.execute("DELETE FROM indices WHERE name=?", (index_name,))
        self._conn.execute("COMMIT")

    async def _index_exists_request(self, index_name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM indices WHERE name=?", (index_name,)).fetchone() is not None

    async def put_index_mapping_request(self, index: str, mappings: dict):
        row = self._conn.execute("SELECT mappings FROM indices WHERE name=?", (index,)).fetchone()
        current = json.loads(row[0]) if row else {}
        current.setdefault("properties", {}).update(json.loads(_dumps(mappings)))
        self._conn.execute("INSERT OR REPLACE INTO indices(name, mappings) VALUES (?, ?)", (index, _dumps(current)))

    async def _update_document_request(self, index_name: str, id: str, body: dict):
        if "doc" not in body:
            raise ValueError("prefdata-sqlite search engine: only partial `doc` updates are supported")
        update = json.loads(_dumps(body["doc"]))
        self._modify(index_name, str(id), lambda doc: _deep_merge(doc, update))

    async def _bulk_op_request(self, actions: List[Dict[str, Any]]):
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for action in actions:
                op, index, doc_id = action["_op_type"], action["_index"], str(action["_id"])
                if op == "delete":
                    self._conn.execute("DELETE FROM docs WHERE idx=? AND id=?", (index, doc_id))
                elif op == "index":
                    doc = {k: v for k, v in action.items() if not k.startswith("_")}
                    self._save(index, doc_id, doc)
                else:
                    raise ValueError(f"prefdata-sqlite search engine: unsupported bulk op {op!r}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    async def _index_search_request(
        self,
        index: str,
        query: dict,
        size: Optional[int] = None,
        from_: Optional[int] = None,
        sort: Optional[list] = None,
        aggregations: Optional[dict] = None,
    ) -> dict:
        docs = self._all_docs(index)
        seed = None
        if "function_score" in query:
            seed = next((f["random_score"]["seed"] for f in query["function_score"]["functions"]), None)
        scored = [(doc, s) for doc in docs if (s := score(doc, query)) is not None]
        if seed is not None:
            scored.sort(key=lambda ds: _random_key(str(seed), str(ds[0].get("id"))))
        else:
            scored.sort(key=lambda ds: -ds[1])  # stable: equal scores keep insertion order
        scores = {id(doc): s for doc, s in scored}
        matched = [doc for doc, _ in scored]
        if sort:
            matched = sort_docs(matched, sort)
        start = from_ or 0
        page = matched[start : start + (10 if size is None else size)]
        response = {
            "hits": {
                "total": {"value": len(matched), "relation": "eq"},
                "hits": [{"_id": str(d["id"]), "_score": scores[id(d)]} for d in page],
            }
        }
        if aggregations:
            response["aggregations"] = aggregate(matched, aggregations)
        return response

    def _mapping_for_vector_settings(self, vector_settings: VectorSettings) -> dict:
        return {es_field_for_vector_settings(vector_settings): {"type": "dense_vector", "dims": vector_settings.dimensions}}

    async def _request_similarity_search(
        self,
        index: str,
        vector_settings: VectorSettings,
        value: List[float],
        k: int,
        excluded_id=None,
        query_filters: Optional[List[dict]] = None,
    ) -> dict:
        field = es_field_for_vector_settings(vector_settings)
        hits = []
        for doc in self._all_docs(index):
            if excluded_id is not None and str(doc.get("id")) == str(excluded_id):
                continue
            if any(score(doc, q) is None for q in query_filters or []):
                continue
            vector = field_values(doc, field)
            if vector:
                hits.append({"_id": str(doc["id"]), "_score": _cosine(value, vector)})
        hits.sort(key=lambda h: -h["_score"])
        return {"hits": {"total": {"value": len(hits[:k]), "relation": "eq"}, "hits": hits[:k]}}

    @staticmethod
    def _map_record_response_to_es(response: Response) -> Dict[str, Any]:
        # Upstream iterates `response.values.items()` and crashes (HTTP 500) on a discarded
        # response sent without values, which the API accepts.
        return {
            "id": response.id,
            "status": response.status,
            "user_id": response.user_id,
            **{question: (value or {}).get("value") for question, value in (response.values or {}).items()},
        }

    # -- the three calls that send Painless scripts to ES: done in Python instead

    async def update_record_response(self, response: Response) -> None:
        record = response.record
        es_response = json.loads(_dumps(self._map_record_response_to_es(response)))

        def change(doc: dict) -> None:
            kept = [r for r in doc.get("responses") or [] if r.get("id") != es_response["id"]]
            doc["responses"] = kept + [es_response]

        self._modify(es_index_name_for_dataset(record.dataset), str(record.id), change)

    async def delete_record_response(self, response: Response) -> None:
        record = response.record
        response_id = str(response.id)

        def change(doc: dict) -> None:
            doc["responses"] = [r for r in doc.get("responses") or [] if r.get("id") != response_id]

        self._modify(es_index_name_for_dataset(record.dataset), str(record.id), change)

    async def delete_record_suggestion(self, suggestion: Suggestion):
        name = suggestion.question.name

        def change(doc: dict) -> None:
            (doc.get("suggestions") or {}).pop(name, None)

        self._modify(es_index_name_for_dataset(suggestion.record.dataset), str(suggestion.record_id), change)

