"""Tiny causal LMs and tokenizers built locally, for tests, benchmarks and the offline demo.

    from prefdata.tiny import build_tiny_model
    path = build_tiny_model("/tmp/tiny", seed=0)   # Llama config + ChatML BPE tokenizer
    AutoModelForCausalLM.from_pretrained(path)      # the real loading code, no hub

The model is randomly initialised (or trained by the caller): head_dim is 64 because
vLLM's CPU attention rejects smaller heads. The tokenizer is a byte-level BPE trained on
the given corpus, wrapped in `PreTrainedTokenizerFast` with a ChatML template, so that it
round-trips any text and renders conversations as Qwen-style models do.
"""

from __future__ import annotations

import random
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_WORDS = (
    "the a an is are was be to of and in that have it for not on with as you do at this but "
    "by from they we say her she or will my one all would there their what so up out if "
    "about who get which go me when make can like time no just him know take people into "
    "year your good some could them see other than then now look only come its over think "
    "also back after use two how our work first well way even new want because any these "
    "give day most us answer question help please thanks sure sorry cannot number sum plus "
    "minus times equals reverse word letter human assistant explain write short story list"
).split()


def default_corpus(n_lines: int = 600, seed: int = 0) -> list[str]:
    """Synthetic English-like lines with digits and arithmetic: enough to train a BPE."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        words = rng.choices(_WORDS, k=rng.randint(4, 14))
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        lines.append(" ".join(words).capitalize() + f". {a} + {b} = {a + b}. {a} * {b}?")
    return lines


def build_tokenizer(corpus: list[str], vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus + ["<|im_start|>user\n<|im_end|>\n"], trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=1024,
    )
    wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def build_tiny_model(
    out_dir: str | Path,
    *,
    corpus: list[str] | None = None,
    seed: int = 0,
    vocab_size: int = 512,
    hidden_size: int = 128,
    num_layers: int = 2,
    max_position_embeddings: int = 512,
) -> Path:
    """Write a randomly initialised Llama-architecture model + tokenizer to `out_dir`."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = build_tokenizer(corpus or default_corpus(seed=seed), vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=hidden_size // 64,
        num_key_value_heads=hidden_size // 64,
        head_dim=64,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_reward_model(out_dir: str | Path, *, seed: int = 0, num_labels: int = 1, hidden_size: int = 64,
                            num_layers: int = 1) -> Path:
    """A tiny `LlamaForSequenceClassification` (random head) with the same tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    out = Path(out_dir)
    tokenizer = build_tokenizer(default_corpus(seed=seed))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=hidden_size // 64, num_key_value_heads=hidden_size // 64,
        head_dim=64, num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    LlamaForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
