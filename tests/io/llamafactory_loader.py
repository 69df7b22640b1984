"""Load an exported LLaMA-Factory dataset with LLaMA-Factory's own DPO data path; print what it kept.

Run by tests/io/test_llamafactory_loader.py with the python of a separate virtualenv that has
`llamafactory` (it pins its own transformers/datasets, so it cannot share prefdata's):

    LF_PYTHON tests/io/llamafactory_loader.py MODEL_DIR DATASET_DIR DATASET_NAME OUT.json

OUT.json: {"rows": N, "examples": [{"prompt": text, "chosen": text, "rejected": text}, ...]}: the
rendered prompt and the label tokens (the trained completions) decoded back, to compare with
the source rows (LLaMA-Factory drops malformed rows with only a warning).
"""

import importlib.machinery
import json
import sys
import tempfile
import types

# LLaMA-Factory imports torchaudio for audio inputs only; its CUDA-linked wheel is removed.
_stub = types.ModuleType("torchaudio")
_stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
sys.modules.setdefault("torchaudio", _stub)

from llamafactory.data import get_dataset, get_template_and_fix_tokenizer  # noqa: E402
from llamafactory.hparams import get_train_args  # noqa: E402
from llamafactory.model import load_tokenizer  # noqa: E402


def main(model_dir: str, dataset_dir: str, name: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model_args, data_args, training_args, _, _ = get_train_args({
            "stage": "dpo", "do_train": True, "model_name_or_path": model_dir, "dataset": name,
            "dataset_dir": dataset_dir, "template": "chatml", "output_dir": tmp, "cutoff_len": 1_000_000,
            "overwrite_cache": True, "report_to": "none", "finetuning_type": "full", "use_cpu": True,
        })
        tokenizer_module = load_tokenizer(model_args)
        tokenizer = tokenizer_module["tokenizer"]
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        module = get_dataset(template, model_args, data_args, training_args, stage="rm", **tokenizer_module)
    train = module["train_dataset"]

    def labels(ids):
        return tokenizer.decode([t for t in ids if t != -100], skip_special_tokens=True)

    def prompt(row):  # the tokens LLaMA-Factory does not train on: the rendered prompt
        return tokenizer.decode([t for t, label in zip(row["chosen_input_ids"], row["chosen_labels"]) if label == -100])

    examples = [{"prompt": prompt(r), "chosen": labels(r["chosen_labels"]), "rejected": labels(r["rejected_labels"])}
                for r in train]
    with open(out, "w") as f:
        json.dump({"rows": len(train), "examples": examples}, f)


if __name__ == "__main__":
    main(*sys.argv[1:5])
