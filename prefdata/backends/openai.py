"""`openai` sampler: any OpenAI-compatible chat server (vLLM, SGLang, TGI, hosted APIs).

    from prefdata.backends import make_sampler
    from prefdata.backends.openai import OpenAIConfig
    sampler = make_sampler(OpenAIConfig(model="tiny", base_url="http://127.0.0.1:8000/v1"))
    sampler.generate([Request(messages=[{"role": "user", "content": "hi"}], n=4, seed=7)], SamplingParams(max_tokens=16))

The official `openai` SDK (`AsyncOpenAI`) makes one chat completion per prompt with `n` and
`seed`, at most `max_concurrency` in flight; non-standard sampling arguments (`top_k`) go in
`extra_body`. The SDK retries 408/409/429/5xx, timeouts and refused connections with
exponential backoff (0.5 s doubling to 8 s, honouring Retry-After); a reply that is not a
chat completion (a proxy's HTML page under HTTP 200) is retried here. When retries run out a
`PrefdataError` names the URL. The API key is read from the env var `api_key_env` and never
logged or written. A prompt the server rejects as too long for its context is returned as
no generations and listed in `sampler.refused` (the stage drops it with a reason).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar, Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.config import StrictModel
from prefdata.errors import PrefdataError

_CONTEXT_HINTS = ("context length", "maximum context", "too long", "max_model_len", "maximum input length")


class OpenAIConfig(StrictModel):
    # How requests travel, not what they return: changing these keeps finished shards.
    transport_fields: ClassVar[frozenset[str]] = frozenset({"api_key_env", "max_concurrency", "max_retries", "timeout_s"})

    backend: Literal["openai"] = "openai"
    model: str = Field(description="Model name as the server knows it.")
    base_url: str = Field("https://api.openai.com/v1", description="Server URL up to /v1.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Env var holding the API key (may be unset for local servers)."
    )
    max_concurrency: int = Field(8, ge=1, description="Requests in flight at once.")
    max_retries: int = Field(5, ge=0, description="Retries per request on 429/5xx/timeouts/bad replies.")
    timeout_s: float = Field(120.0, gt=0.0, description="Timeout of one HTTP request.")
    send_top_k: bool = Field(True, description="Send top_k when set (vLLM/SGLang accept it; hosted OpenAI does not).")

    def build(self) -> "OpenAISampler":
        return OpenAISampler(self)


class OpenAISampler(Sampler):
    backend = "openai"

    def __init__(self, config: OpenAIConfig):
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.refused: dict[int, str] = {}

    @property
    def model_id(self) -> str:
        return self.config.model

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        self.refused = {}
        results = asyncio.run(self._generate_all(requests, params))
        out = []
        for i, result in enumerate(results):
            if isinstance(result, str):
                self.refused[i] = result
                out.append([])
            else:
                out.append(result)
        return out

    async def _generate_all(self, requests: list[Request], params: SamplingParams) -> list:
        from openai import AsyncOpenAI

        cfg = self.config
        # A local server needs no key, but the SDK insists on one: a placeholder is never a secret.
        key = os.environ.get(cfg.api_key_env) or "unused"
        gate = asyncio.Semaphore(cfg.max_concurrency)
        async with AsyncOpenAI(api_key=key, base_url=cfg.base_url, max_retries=cfg.max_retries,
                               timeout=cfg.timeout_s) as client:
            async def one(request: Request):
                async with gate:
                    result = await self._complete(client, request, params)
                    self.progress.advance(request.n)
                    return result

            return await asyncio.gather(*(one(r) for r in requests))

    async def _complete(self, client, request: Request, params: SamplingParams) -> list[Generation] | str:
        import openai

        cfg, args = self.config, self._arguments(request, params)
        problem = ""
        for _ in range(cfg.max_retries + 1):  # the SDK retries transport errors; this loop bad 200 replies
            try:
                reply = await client.chat.completions.create(**args)
            except openai.BadRequestError as e:
                text = str(e.message)[:300]
                if any(h in text.lower() for h in _CONTEXT_HINTS):
                    return f"server refused the prompt: {text}"
                raise PrefdataError(f"{self.url}: HTTP 400: {text}") from None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise PrefdataError(f"{self.url}: HTTP {e.status_code} (check the API key in env var "
                                    f"{cfg.api_key_env}): {str(e.message)[:300]}") from None
            except openai.APIStatusError as e:
                raise self._gave_up(f"HTTP {e.status_code}: {str(e.message)[:300]}", e.status_code) from None
            except openai.APIConnectionError as e:  # timeouts included
                cause = e.__cause__ or e
                raise self._gave_up(f"{type(cause).__name__}: {cause}", None) from None
            except openai.APIResponseValidationError as e:
                problem = f"HTTP 200 with a body that is not a chat completion: {str(e.message)[:200]}"
                continue
            if not hasattr(reply, "choices"):  # e.g. an HTML page with HTTP 200 comes back as text
                problem = f"HTTP 200 with a body that is not JSON: {str(reply)[:200]!r}"
                continue
            return _generations(reply, request.n, self.url)
        raise PrefdataError(f"{self.url}: gave up after {cfg.max_retries + 1} attempts; last error: {problem}. "
                            "Check that the URL is an OpenAI-compatible server (completed shards are kept).")

    def _gave_up(self, last: str, status: int | None) -> PrefdataError:
        attempts = self.config.max_retries + 1 if status is None or _retried(status) else 1
        return PrefdataError(
            f"{self.url}: gave up after {attempts} attempts; last error: {last}. "
            "Check that the server is up and reachable (completed shards are kept; re-run to resume)."
        )

    def _arguments(self, request: Request, params: SamplingParams) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.config.model, "messages": request.messages, "n": request.n,
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
        }
        if request.seed is not None:
            args["seed"] = request.seed
        if params.stop:
            args["stop"] = params.stop
        if params.top_k > 0 and self.config.send_top_k:
            args["extra_body"] = {"top_k": params.top_k}  # not an OpenAI parameter; vLLM/SGLang read it
        return args


def _retried(status: int) -> bool:
    """Statuses the SDK retries (its `_should_retry`)."""
    return status in (408, 409, 429) or status >= 500


def _generations(reply, n: int, url: str) -> list[Generation]:
    choices = sorted(reply.choices, key=lambda c: c.index or 0)
    if len(choices) != n:
        raise PrefdataError(f"{url}: asked for n={n} choices, got {len(choices)}")
    # Servers report completion tokens summed over the n choices; per choice only when n == 1.
    tokens = reply.usage.completion_tokens if n == 1 and reply.usage is not None else None
    return [Generation(text=c.message.content or "", num_tokens=tokens, finish_reason=c.finish_reason) for c in choices]
