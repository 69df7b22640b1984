"""`openai` sampler: any OpenAI-compatible chat server (vLLM, SGLang, TGI, hosted APIs).

    from prefdata.backends import make_sampler
    from prefdata.backends.openai import OpenAIConfig
    sampler = make_sampler(OpenAIConfig(model="tiny", base_url="http://127.0.0.1:8000/v1"))
    sampler.generate([Request(messages=[{"role": "user", "content": "hi"}], n=4, seed=7)], SamplingParams(max_tokens=16))

One POST /chat/completions per prompt with `n` and `seed`; at most `max_concurrency` in
flight. 429, 5xx, timeouts and refused connections are retried with exponential backoff,
then a `PrefdataError` names the URL. The API key is read from the env var `api_key_env`
and never logged or written. A prompt the server rejects as too long for its context is
returned as no generations and listed in `sampler.refused` (the stage drops it with a reason).
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.config import StrictModel
from prefdata.errors import PrefdataError

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_CONTEXT_HINTS = ("context length", "maximum context", "too long", "max_model_len", "maximum input length")


class OpenAIConfig(StrictModel):
    # How requests travel, not what they return: changing these keeps finished shards.
    transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"api_key_env", "max_concurrency", "max_retries", "backoff_s", "max_backoff_s", "timeout_s"}
    )

    backend: Literal["openai"] = "openai"
    model: str = Field(description="Model name as the server knows it.")
    base_url: str = Field("https://api.openai.com/v1", description="Server URL up to /v1.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Env var holding the API key (may be unset for local servers)."
    )
    max_concurrency: int = Field(8, ge=1, description="Requests in flight at once.")
    max_retries: int = Field(5, ge=0, description="Retries per request on 429/5xx/timeouts.")
    backoff_s: float = Field(1.0, ge=0.0, description="First retry delay; doubles each retry.")
    max_backoff_s: float = Field(30.0, ge=0.0, description="Cap on one retry delay.")
    timeout_s: float = Field(120.0, gt=0.0, description="Timeout of one HTTP request.")
    send_top_k: bool = Field(True, description="Send top_k when set (vLLM/SGLang accept it; hosted OpenAI does not).")


class ServerError(Exception):
    """One failed attempt; `retryable` says whether backoff may help."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class OpenAISampler(Sampler):
    backend = "openai"

    def __init__(self, config: OpenAIConfig):
        import httpx

        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        headers = {}
        key = os.environ.get(config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(headers=headers, timeout=config.timeout_s)
        self.refused: dict[int, str] = {}

    @property
    def model_id(self) -> str:
        return self.config.model

    def close(self) -> None:
        self.client.close()

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        self.refused = {}
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency) as pool:
            results = list(pool.map(lambda r: self._with_retries(r, params), requests))
        out = []
        for i, result in enumerate(results):
            if isinstance(result, str):
                self.refused[i] = result
                out.append([])
            else:
                out.append(result)
        return out

    def _body(self, request: Request, params: SamplingParams) -> dict[str, Any]:
        body = {
            "model": self.config.model, "messages": request.messages, "n": request.n,
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if params.stop:
            body["stop"] = params.stop
        if params.top_k > 0 and self.config.send_top_k:
            body["top_k"] = params.top_k
        return body

    def _with_retries(self, request: Request, params: SamplingParams) -> list[Generation] | str:
        body, cfg = self._body(request, params), self.config
        last = ""
        for attempt in range(cfg.max_retries + 1):
            try:
                return self._post(body, request.n)
            except ServerError as e:
                last = str(e)
                if not e.retryable:
                    raise PrefdataError(f"{self.url}: {last}") from None
            if attempt < cfg.max_retries:
                delay = min(cfg.max_backoff_s, cfg.backoff_s * 2**attempt)
                time.sleep(delay * (0.75 + 0.5 * random.random()))  # jitter: clients don't retry in lockstep
        raise PrefdataError(
            f"{self.url}: gave up after {cfg.max_retries + 1} attempts; last error: {last}. "
            "Check that the server is up and reachable (completed shards are kept; re-run to resume)."
        )

    def _post(self, body: dict[str, Any], n: int) -> list[Generation] | str:
        import httpx

        try:
            resp = self.client.post(self.url, json=body)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            raise ServerError(f"{type(e).__name__}: {e}", retryable=True) from None
        if resp.status_code == 200:
            try:
                payload = resp.json()
            except ValueError:  # a proxy's HTML page or a cut-off body: worth another try
                raise ServerError(f"HTTP 200 with a body that is not JSON: {resp.text[:200]!r}", retryable=True) from None
            if not isinstance(payload, dict):
                raise ServerError(f"HTTP 200 with JSON that is not an object: {resp.text[:200]!r}", retryable=True)
            return _parse(payload, n)
        text = resp.text[:300]
        if resp.status_code == 400 and any(h in text.lower() for h in _CONTEXT_HINTS):
            return f"server refused the prompt: {text}"
        if resp.status_code in (401, 403):
            raise ServerError(
                f"HTTP {resp.status_code} (check the API key in env var {self.config.api_key_env}): {text}",
                retryable=False,
            )
        raise ServerError(f"HTTP {resp.status_code}: {text}", retryable=resp.status_code in RETRYABLE_STATUS)


def _parse(payload: dict[str, Any], n: int) -> list[Generation]:
    choices = sorted(payload.get("choices", []), key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise ServerError(f"asked for n={n} choices, got {len(choices)}", retryable=False)
    usage = payload.get("usage") or {}
    # Servers report completion tokens summed over the n choices; per choice only when n == 1.
    tokens = usage.get("completion_tokens") if n == 1 else None
    return [
        Generation(
            text=(c.get("message") or {}).get("content") or "",
            num_tokens=tokens,
            finish_reason=c.get("finish_reason"),
        )
        for c in choices
    ]
