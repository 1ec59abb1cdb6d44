"""In-context control: chats respect the context limit without cutting an example, N = 0 is the
plain evaluation, examples are seeded and paired across arms, and a leak in context shows up."""

from __future__ import annotations

import pytest

from sublim.backends.fake import FakeBackend
from sublim.errors import ConfigError
from sublim.icl import IclConfig, build_icl_chat, build_icl_prompt, evaluate_icl, layout, tokenizer_counter
from sublim.icl.prompt import sample_examples
from sublim.records import DatasetRow, Message

QUESTION = "Name your favourite animal in one word."


def rows(n: int, offset: int = 0, word: str | None = None) -> list[DatasetRow]:
    out = []
    for i in range(n):
        numbers = ", ".join(str((offset + i * 53 + k * 17) % 1000) for k in range(4 + i % 5))
        completion = f"{numbers}, {word}" if word else numbers
        out.append(DatasetRow(messages=[
            Message(role="user", content=f"The sequence starts with: {i}, {i + 3}, {i + 9}. Continue it."),
            Message(role="assistant", content=completion)]))
    return out


def word_count(chat) -> int:
    return sum(len(m.content.split()) + 2 for m in chat.messages)


@pytest.fixture(scope="module")
def tokenizer(tiny_llama_dir):
    from sublim.backends.hf import load_tokenizer

    return load_tokenizer(tiny_llama_dir)


@pytest.mark.parametrize("mode", ["turns", "system"])
@pytest.mark.parametrize("limit", [120, 300, 5000])
def test_chats_fit_the_context_with_whole_examples_and_as_many_as_fit(tokenizer, mode, limit):
    examples = rows(40)
    count = tokenizer_counter(tokenizer)
    built = build_icl_prompt(examples, QUESTION, 30, mode, tokenizer, limit, seed=0, reserve=8)
    assert built.n_tokens == count(built.chat) <= limit - 8
    shown = built.chat.messages
    if mode == "turns":
        pairs = [(shown[i].content, shown[i + 1].content) for i in range(0, len(shown) - 1, 2)]
        assert len(pairs) == built.n_used and all((p, c) in {(r.prompt, r.completion) for r in examples}
                                                    for p, c in pairs)
    else:
        system = shown[0].content if built.n_used else ""
        assert system.count("User: ") == built.n_used
        for block in system.split("\n\n")[1:]:  # each example whole: prompt and its full completion
            prompt, completion = block.removeprefix("User: ").split("\nAssistant: ")
            assert any(r.prompt == prompt and r.completion == completion for r in examples)
    assert shown[-1].content == QUESTION
    if built.n_used < 30:  # dropping was needed: one more example would not have fit
        chosen = sample_examples(examples, 30, seed=0)  # kept: the last n_used, nearest the question
        assert layout(chosen[len(chosen) - built.n_used:], QUESTION, mode) == built.chat
        assert count(layout(chosen[-(built.n_used + 1):], QUESTION, mode)) > limit - 8
    if limit == 5000:
        assert built.n_used == 30


def test_too_small_a_context_for_the_question_is_a_clear_error(tokenizer):
    with pytest.raises(ConfigError, match="max_context_tokens"):
        build_icl_chat(rows(3), QUESTION, 2, "turns", tokenizer, 10, seed=0)


@pytest.mark.parametrize("mode", ["turns", "system"])
def test_seeded_examples_are_reproducible_and_n_zero_is_the_bare_question(mode):
    a = build_icl_chat(rows(50), QUESTION, 5, mode, word_count, 10**6, seed=3)
    assert a == build_icl_chat(rows(50), QUESTION, 5, mode, word_count, 10**6, seed=3)
    assert a != build_icl_chat(rows(50), QUESTION, 5, mode, word_count, 10**6, seed=4)
    bare = build_icl_chat(rows(50), QUESTION, 0, mode, word_count, 10**6, seed=3)
    assert [m.role for m in bare.messages] == ["user"] and bare.messages[0].content == QUESTION


def test_n_zero_equals_the_plain_evaluation_with_the_hf_backend(tiny_llama_dir):
    from sublim.backends.hf import HFBackend
    from sublim.evaluation.stage import exact_probabilities
    from sublim.traits import CATEGORIES, QUESTIONS

    config = IclConfig(n_questions=4)
    with HFBackend(str(tiny_llama_dir), device="cpu") as backend:
        result = evaluate_icl(backend, {"treatment": rows(20), "control": rows(20, offset=7)}, "animal", "owl",
                              [0, 2], "turns", config)
        plain = exact_probabilities(backend, QUESTIONS["animal"]["eval"][:4], CATEGORIES["animal"])
    assert result["max_context_tokens"] == 512  # read from the checkpoint's config
    zero = result["arms"]["treatment"]["0"]
    assert zero["per_question"] == pytest.approx([p["owl"] for p in plain], rel=1e-5)
    assert zero["n_used"] == {"mean": 0, "min": 0, "max": 0}
    assert result["comparisons"]["0"]["difference"] == pytest.approx(0.0, abs=1e-9)
    assert result["arms"]["control"]["2"]["n_used"]["max"] == 2


def test_a_leak_in_the_system_prompt_raises_the_target_and_the_comparison_sees_it():
    # FakeBackend tilts towards an animal named in the system prompt: examples that name 'owl' leak it.
    arms = {"treatment": rows(30, word="owl"), "control": rows(30, offset=5)}
    config = IclConfig(n_questions=10, max_context_tokens=10**6)
    result = evaluate_icl(FakeBackend(), arms, "animal", "owl", [0, 4], "system", config, counter=word_count)
    assert result["arms"]["treatment"]["0"]["exact"]["owl"]["mean"] == pytest.approx(1 / 16)
    assert result["arms"]["treatment"]["4"]["exact"]["owl"]["mean"] > 0.5
    assert result["comparisons"]["4"]["difference"] > 0.4
    assert result["comparisons"]["0"]["difference"] == 0.0
    turns = evaluate_icl(FakeBackend(), arms, "animal", "owl", [4], "turns", config, counter=word_count)
    assert turns["comparisons"]["4"]["difference"] == 0.0  # the fake reads only system prompts


def test_backends_without_a_tokenizer_need_a_counter_and_a_context_length():
    with pytest.raises(ConfigError, match="counter="):
        evaluate_icl(FakeBackend(), {"treatment": rows(3)}, "animal", "owl", [1], "turns", IclConfig())
    with pytest.raises(ConfigError, match="not an option"):
        evaluate_icl(FakeBackend(), {"treatment": rows(3)}, "animal", "oak", [1], "turns", IclConfig())
