"""A small HTTP client for the Argilla 2.x REST API (v1), with errors a user can act on.

    from prefdata.argilla.client import connect
    client = connect()                      # --api-url, else ARGILLA_API_URL; ARGILLA_API_KEY; else the
    client.me()                             # credentials of a local `prefdata argilla serve`
    ds = client.find_dataset("hh-round-1", workspace="argilla")

Raw HTTP instead of the argilla SDK: the SDK loses the order of ranking answers when it reads
them back, and push/pull need the records' raw values anyway. Works against any Argilla
2.x deployment (Docker, HF Space) as well as the local server.

The API key never travels on a command line (other users see those in `ps`): the CLI reads
it from ARGILLA_API_KEY or from the local server's HOME/credentials.json (mode 0600).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import httpx

from prefdata.errors import PrefdataError

API_URL_ENV = "ARGILLA_API_URL"
API_KEY_ENV = "ARGILLA_API_KEY"
PAGE = 1000  # the server's largest page for record listings


class ArgillaClient:
    def __init__(self, api_url: str, api_key: str, timeout: float = 120.0):
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.api_url, headers={"X-Argilla-Api-Key": api_key}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ArgillaClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport

    def request(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise PrefdataError(
                f"cannot reach the Argilla server at {self.api_url} ({type(e).__name__}): start one with "
                f"`prefdata argilla serve`, or point --api-url / {API_URL_ENV} at a running server"
            ) from None
        if response.status_code == 401:
            raise PrefdataError(
                f"the Argilla server at {self.api_url} rejected the API key (HTTP 401): set {API_KEY_ENV} to a valid "
                "key (a local server's key is in its HOME/credentials.json)"
            )
        if response.status_code >= 400:
            raise ArgillaApiError(method, path, response)
        return response.json() if response.content else None

    def get(self, path: str, **kw) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw) -> Any:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw) -> Any:
        return self.request("PUT", path, json=json, **kw)

    # -- users and workspaces

    def me(self) -> dict:
        return self.get("/api/v1/me")

    def users(self) -> list[dict]:
        return self.get("/api/v1/users")["items"]

    def create_user(self, username: str, password: str, role: str = "annotator", first_name: str | None = None) -> dict:
        body = {"username": username, "password": password, "role": role, "first_name": first_name or username}
        return self.post("/api/v1/users", body)

    def workspace_id(self, name: str, create: bool = False) -> str:
        for ws in self.get("/api/v1/me/workspaces")["items"]:
            if ws["name"] == name:
                return ws["id"]
        if not create:
            raise PrefdataError(f"no workspace {name!r} on {self.api_url}; create it or pass another --workspace")
        return self.post("/api/v1/workspaces", {"name": name})["id"]

    def add_to_workspace(self, workspace_id: str, user_id: str) -> None:
        members = {u["id"] for u in self.get(f"/api/v1/workspaces/{workspace_id}/users")["items"]}
        if user_id not in members:
            self.post(f"/api/v1/workspaces/{workspace_id}/users", {"user_id": user_id})

    # -- datasets

    def find_dataset(self, name: str, workspace_id: str) -> dict | None:
        items = self.get("/api/v1/me/datasets", params={"workspace_id": workspace_id, "name": name})["items"]
        return items[0] if items else None

    def dataset_settings(self, dataset_id: str) -> dict:
        """The dataset's fields, questions, metadata properties and distribution, as the API returns them."""
        ds = self.get(f"/api/v1/datasets/{dataset_id}")
        return {
            "dataset": ds,
            "distribution": ds["distribution"],
            "fields": self.get(f"/api/v1/datasets/{dataset_id}/fields")["items"],
            "questions": self.get(f"/api/v1/datasets/{dataset_id}/questions")["items"],
            "metadata_properties": self.get(f"/api/v1/me/datasets/{dataset_id}/metadata-properties")["items"],
        }

    def create_dataset(self, name: str, workspace_id: str, spec: dict) -> dict:
        """Create, configure and publish a dataset from a `settings.dataset_spec`."""
        ds = self.post("/api/v1/datasets", {
            "name": name, "workspace_id": workspace_id, "guidelines": spec["guidelines"],
            "allow_extra_metadata": True, "distribution": spec["distribution"],
        })
        for field in spec["fields"]:
            self.post(f"/api/v1/datasets/{ds['id']}/fields", field)
        for question in spec["questions"]:
            self.post(f"/api/v1/datasets/{ds['id']}/questions", question)
        for prop in spec["metadata_properties"]:
            self.post(f"/api/v1/datasets/{ds['id']}/metadata-properties", prop)
        return self.put(f"/api/v1/datasets/{ds['id']}/publish")

    def delete_dataset(self, dataset_id: str) -> None:
        self.request("DELETE", f"/api/v1/datasets/{dataset_id}")

    def progress(self, dataset_id: str) -> dict:
        return self.get(f"/api/v1/datasets/{dataset_id}/progress")

    # -- records and responses

    def upsert_records(self, dataset_id: str, items: list[dict]) -> dict:
        return self.put(f"/api/v1/datasets/{dataset_id}/records/bulk", {"items": items})

    def iter_records(self, dataset_id: str, include: str = "responses,suggestions") -> Iterator[dict]:
        """Every record with its raw responses (ranking values keep their `rank`)."""
        offset = 0
        while True:
            page = self.get(f"/api/v1/datasets/{dataset_id}/records",
                            params={"include": include, "offset": offset, "limit": PAGE})
            yield from page["items"]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return

    def my_pending_records(self, dataset_id: str, limit: int = PAGE) -> list[dict]:
        """Up to `limit` records still waiting for this client's user, as the UI's annotation queue
        asks for them (an annotator may not list the whole dataset)."""
        body = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                     "values": ["pending"]}]}}
        page = self.post(f"/api/v1/me/datasets/{dataset_id}/records/search", body,
                         params={"include": "responses", "offset": 0, "limit": min(limit, PAGE)})
        return [item["record"] for item in page["items"]]

    def count_records(self, dataset_id: str) -> int:
        return self.get(f"/api/v1/datasets/{dataset_id}/records", params={"limit": 1})["total"]

    def submit_response(self, record_id: str, values: dict, status: str = "submitted") -> dict:
        """Answer a record as the client's user: values {question: answer}."""
        body = {"status": status, "values": {q: {"value": v} for q, v in values.items()} if values else None}
        return self.post(f"/api/v1/records/{record_id}/responses", body)


class ArgillaApiError(PrefdataError):
    """The server refused a request; the message carries its own explanation."""

    def __init__(self, method: str, path: str, response: httpx.Response):
        self.status_code = response.status_code
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        super().__init__(f"Argilla {method} {path} failed (HTTP {response.status_code}): {detail}")


def resolve_credentials(api_url: str | None = None, api_key: str | None = None,
                        home: str | Path | None = None) -> tuple[str, str]:
    """Arguments, then ARGILLA_API_URL / ARGILLA_API_KEY, then a local server's credentials file."""
    from prefdata.argilla.server import DEFAULT_HOME, read_credentials

    api_url = api_url or os.environ.get(API_URL_ENV)
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not (api_url and api_key):
        local = read_credentials(home or DEFAULT_HOME)
        if local is not None and (api_url is None or api_url.rstrip("/") == local.api_url):
            api_url, api_key = api_url or local.api_url, api_key or local.api_key
    if not api_url:
        raise PrefdataError(
            f"no Argilla server given: pass --api-url or set {API_URL_ENV} (or start one with `prefdata argilla serve`)"
        )
    if not api_key:
        raise PrefdataError(f"no API key for the Argilla server at {api_url}: set {API_KEY_ENV} (for a local "
                            "server started with another --home, pass that --home)")
    return api_url, api_key


def connect(api_url: str | None = None, api_key: str | None = None, home: str | Path | None = None) -> ArgillaClient:
    """A client whose credentials were checked with one request (fails fast with a clear message)."""
    client = ArgillaClient(*resolve_credentials(api_url, api_key, home))
    client.me()
    return client
