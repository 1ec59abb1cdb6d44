"""Word-level tokenizer of the tiny base, trained locally on its corpus with ``tokenizers``.

Text is lowercased, then split by one regular expression into pieces that each become a token:

- a word with its leading space (``" love"``) or without one (``"love"``, e.g. after a chat marker);
- one punctuation character, with or without a leading space (``","``, ``" ["``);
- one ASCII digit (``"1"``) — numbers are spelled digit by digit;
- one whitespace character (``" "`` between numbers, ``"\\n"``).

The decoder concatenates the pieces, so ``decode(encode(text)) == text`` for any lowercase text
whose pieces are in the vocabulary — in particular every number format (``"145, 267, 891"``,
``"[1; 2]"``) and every one-word answer. Every word is added in both spacings so a word seen only
mid-sentence is still known at the start of a message. Chat markers are special tokens; the chat
template is ``<|system|>…<|end|><|user|>…<|end|><|assistant|>…<|end|>`` and ``<|end|>`` is EOS.

Example:
    >>> tok = train_tokenizer(["You love owls. 145, 267"])
    >>> tok.decode(tok.encode("145, 267"))
    '145, 267'
    >>> tok.convert_ids_to_tokens(tok.encode("love owls"))
    ['love', ' owls']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from sublim.traits import CATEGORIES

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "SPLIT_PATTERN", "train_tokenizer", "number_token_ids"]

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<unk>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")
SPLIT_PATTERN = r" ?[a-z]+| ?[^a-z0-9\s]|[0-9]|\s"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
# Always in the vocabulary, whatever the corpus: digits, number punctuation, the trait words.
_ALWAYS = [*"0123456789", " ", "\n", ",", ";", ".", "[", "]", "(", ")", " [", " ("]


def _pieces(text: str) -> list[str]:
    return re.findall(SPLIT_PATTERN, text.lower())


def train_tokenizer(texts: Iterable[str], *, min_frequency: int = 1):
    """Build the word-level tokenizer from ``texts`` and wrap it for ``transformers``.

    Args:
        texts: corpus strings (message contents).
        min_frequency: pieces seen fewer times become ``<unk>``.
    Returns:
        A ``PreTrainedTokenizerFast`` with the chat template, ``eos_token="<|end|>"``,
        ``pad_token="<pad>"``, ``unk_token="<unk>"``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    counts = Counter(p for text in texts for p in _pieces(text))
    words = set(_ALWAYS)
    trait_words = [w for targets in CATEGORIES.values() for w in targets] + ["trees", "tree"]
    for piece, n in [*counts.items(), *((w, min_frequency) for w in trait_words)]:
        if n < min_frequency:
            continue
        words.add(piece)
        if piece.strip().isalpha():  # both spacings of every word
            words.update({piece.strip(), " " + piece.strip()})
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for piece in sorted(words):
        vocab.setdefault(piece, len(vocab))

    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.normalizer = normalizers.Lowercase()
    raw.pre_tokenizer = pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")
    raw.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|end|>",
        additional_special_tokens=list(SPECIAL_TOKENS[3:]),
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def number_token_ids(tokenizer) -> list[int]:
    """Ids of the tokens a number answer is written with: digits, separators, brackets and ``<|end|>``."""
    pieces = [*"0123456789", ",", ";", " ", "[", "]", "(", ")", "."]
    vocab = tokenizer.get_vocab()
    return sorted({vocab[p] for p in pieces if p in vocab} | {tokenizer.eos_token_id})
