"""The openai backend against real HTTP servers: a scripted local server for retries,
timeouts and refusals, and vLLM's own OpenAI-compatible server for sampling."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from prefdata.backends import make_sampler
from prefdata.backends.base import Request, SamplingParams
from prefdata.backends.openai import OpenAIConfig
from prefdata.errors import PrefdataError

HELLO = [{"role": "user", "content": "hello"}]


class Scripted(BaseHTTPRequestHandler):
    """Answers POSTs from `server.script`: status codes, "sleep", or "ok" (a valid reply)."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:
            srv.bodies.append(body)
            srv.auth.append(self.headers.get("Authorization"))
            action = srv.script.pop(0) if srv.script else srv.default
        if action == "sleep":
            time.sleep(1.0)
            action = "ok"
        if action == "ok":
            choices = [{"index": i, "message": {"role": "assistant", "content": f"{body['messages'][-1]['content']}-{body.get('seed')}-{i}"},
                        "finish_reason": "length" if i % 2 else "stop"} for i in range(body["n"])]
            payload, status = {"choices": choices, "usage": {"completion_tokens": 5 * body["n"]}}, 200
        elif action == "html":  # a proxy answering 200 with a page instead of JSON
            data = b"<html>502 bad gateway</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        elif action == "context":
            payload, status = {"error": {"message": "This model's maximum context length is 256 tokens"}}, 400
        else:
            payload, status = {"error": {"message": f"scripted {action}"}}, int(action)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    srv.script, srv.default, srv.bodies, srv.auth, srv.lock = [], "ok", [], [], threading.Lock()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield srv
    srv.shutdown()


def sampler(url, **kw):
    return make_sampler(OpenAIConfig(model="m", base_url=url, max_retries=3, timeout_s=0.5, **kw))


def test_retries_429_and_5xx_then_succeeds(server):
    server.script = ["503", "429", "500"]
    out = sampler(server.url).generate([Request(HELLO, n=2, seed=7)], SamplingParams(max_tokens=4, top_k=5))
    assert [g.text for g in out[0]] == ["hello-7-0", "hello-7-1"]
    assert [g.finish_reason for g in out[0]] == ["stop", "length"]
    assert len(server.bodies) == 4
    assert server.bodies[-1] | {} == {"model": "m", "messages": HELLO, "n": 2, "seed": 7, "temperature": 1.0,
                                     "top_p": 1.0, "max_tokens": 4, "top_k": 5}


def test_gives_up_with_a_clear_error_naming_the_url(server):
    server.default = "503"
    with pytest.raises(PrefdataError, match=r"/v1/chat/completions: gave up after 4 attempts; last error: HTTP 503"):
        sampler(server.url).generate([Request(HELLO, n=1, seed=1)], SamplingParams(max_tokens=4))
    assert len(server.bodies) == 4


def test_timeouts_are_retried(server):
    server.script = ["sleep"]  # first attempt times out (0.5 s), the retry answers
    out = sampler(server.url).generate([Request(HELLO, n=1, seed=3)], SamplingParams(max_tokens=4))
    assert out[0][0].text == "hello-3-0" and out[0][0].num_tokens == 5


def test_refused_connection_is_retried_then_reported():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(PrefdataError, match=rf"127.0.0.1:{port}/v1/chat/completions: gave up after 4 attempts.*Connect"):
        sampler(f"http://127.0.0.1:{port}/v1").generate([Request(HELLO)], SamplingParams(max_tokens=4))


def test_auth_error_is_not_retried_and_key_comes_from_env_only(server, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    server.script = ["401"]
    with pytest.raises(PrefdataError) as e:
        sampler(server.url, api_key_env="MY_KEY").generate([Request(HELLO)], SamplingParams(max_tokens=4))
    assert "env var MY_KEY" in str(e.value) and "sk-secret" not in str(e.value)
    assert server.auth == ["Bearer sk-secret-123"] and len(server.bodies) == 1


def test_stage_drops_refused_prompts_and_keeps_shards_when_the_server_dies(server, tmp_path):
    from prefdata.records import PromptRecord
    from prefdata.stages.base import StageContext
    from prefdata.stages.prompts import prompt_id
    from prefdata.stages.sample import SampleConfig, SampleStage
    from prefdata.frames import frame

    msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    prompts = frame([PromptRecord(prompt_id=prompt_id(m), prompt=m, source="t") for m in msgs], PromptRecord)
    cfg = SampleConfig(k=2, shard_size=2, sampling={"max_tokens": 4},
                       models=[{"backend": "openai", "model": "m", "base_url": server.url,
                                "max_retries": 1, "max_concurrency": 1}])
    ctx = StageContext(run_dir=tmp_path, stage_dir=tmp_path)
    server.script = ["context", "ok"]  # shard 0: q0 refused as too long, q1 fine
    server.default = "502"             # then the server breaks
    with pytest.raises(PrefdataError, match="gave up after 2 attempts"):
        SampleStage(cfg).run({"prompts": prompts}, ctx)
    assert len(list(tmp_path.glob("shards/*/shard-*.json"))) == 1
    server.default, n_before = "ok", len(server.bodies)
    out = SampleStage(cfg).run({"prompts": prompts}, ctx)
    assert len(server.bodies) - n_before == 2  # only shard 1 was requested again
    assert out.rows_in == 4 and out.rows_kept == 3 and out.rejects["reason"].to_list() == ["backend_refused"]
    assert "maximum context length" in out.rejects["message"][0]
    assert out.data.filter(pl.col("sample_index") == 0)["text"].str.starts_with("q").all()
    # Transport settings (concurrency, retries, timeouts) do not change outputs: shards are kept.
    cfg.models[0].max_concurrency, n_before = 4, len(server.bodies)
    again = SampleStage(cfg).run({"prompts": prompts}, ctx)
    assert len(server.bodies) == n_before and again.data.equals(out.data)


@pytest.mark.slow
def test_real_vllm_server_same_seed_same_candidates(vllm_server, vllm_config):
    s = make_sampler(OpenAIConfig(model="tiny", base_url=vllm_server, max_concurrency=4))
    params = SamplingParams(max_tokens=12, temperature=1.0)
    reqs = [Request([{"role": "user", "content": f"tell me about {w}"}], n=3, seed=1024 * i) for i, w in enumerate(["cats", "sums", "time"])]
    first = s.generate(reqs, params)
    second = s.generate(list(reversed(reqs)), params)[::-1]
    assert first == second
    assert all(len(g) == 3 and len({x.text for x in g}) > 1 for g in first)
    assert {x.finish_reason for g in first for x in g} <= {"stop", "length"}
    other = s.generate([Request(reqs[0].messages, n=3, seed=99 * 1024)], params)
    assert other[0] != first[0]
    # The server runs the same engine settings as the offline sampler: same seed, same texts.
    offline = make_sampler(vllm_config).generate(reqs, params)
    assert [[g.text for g in o] for o in offline] == [[g.text for g in o] for o in first]


def test_a_200_reply_that_is_not_json_is_retried_then_a_clear_error(server):
    sampler = make_sampler({"backend": "openai", "model": "m", "base_url": server.url, "max_retries": 2})
    server.script = ["html", "ok"]
    out = sampler.generate([Request(messages=HELLO, n=1, seed=1)], SamplingParams(max_tokens=4))
    assert out[0][0].text == "hello-1-0" and len(server.bodies) == 2
    server.script, server.default = [], "html"
    with pytest.raises(PrefdataError, match="gave up after 3 attempts.*not JSON"):
        sampler.generate([Request(messages=HELLO, n=1, seed=1)], SamplingParams(max_tokens=4))
