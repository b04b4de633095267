"""engine.templates (render) and engine.tokenize (labels, truncation, token view) on the tiny tokenizer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import DataError
from engine.templates import (
    Rendered,
    Segment,
    render,
    resolve_template,
    stop_strings,
    template_fields,
    validate_template,
)
from engine.tokenize import IGNORE_INDEX, prompt_ids, tokenize_rendered

EOS = "<|endoftext|>"

STANFORD_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
STANFORD_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


@pytest.fixture(scope="module")
def tok():
    from engine.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture(scope="module")
def bos_tok():
    """The tiny tokenizer plus a <s> BOS that tokenizer("a") adds by default (like Llama's)."""
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    from engine.tiny import build_tiny_tokenizer

    backend = Tokenizer.from_str(build_tiny_tokenizer().backend_tokenizer.to_str())
    backend.add_special_tokens(["<s>"])
    bos_id = backend.token_to_id("<s>")
    backend.post_processor = TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token=EOS, pad_token="<pad>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    assert fast("a")["input_ids"][0] == bos_id
    return fast


def inst(instruction="Name the capital of France.", input="", output="Paris.", system=""):
    return {"kind": "instruction", "system": system, "instruction": instruction, "input": input, "output": output}


def chat(*turns):
    return {"kind": "chat", "messages": [{"role": r, "content": c} for r, c in turns]}


MULTI = chat(("system", "Be brief."), ("user", "Hi there"), ("assistant", "Hello!"),
             ("user", "2+2?"), ("tool", "calc: 4"), ("assistant", "4"), ("user", "thanks"))


def dec(tok, ids):
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def split_decode(tok, sample):
    trained = [i for i, lab in zip(sample.input_ids, sample.labels, strict=False) if lab != IGNORE_INDEX]
    masked = [i for i, lab in zip(sample.input_ids, sample.labels, strict=False) if lab == IGNORE_INDEX]
    return dec(tok, trained), dec(tok, masked)


def check_split(tok, rendered: Rendered, max_length=4096):
    """Trained tokens decode to exactly the completion segments, masked ones to the prompt segments."""
    sample = tokenize_rendered(rendered, tok, max_length)
    trained, masked = split_decode(tok, sample)
    assert trained == "".join(s.text for s in rendered.segments if s.trained)
    assert masked == "".join(s.text for s in rendered.segments if not s.trained)
    assert dec(tok, sample.input_ids) == rendered.text
    assert sample.labels == [i if lab != IGNORE_INDEX else IGNORE_INDEX for i, lab in zip(sample.input_ids, sample.labels, strict=False)]
    assert not sample.truncated and sample.full_length == len(sample.input_ids)
    return sample


# --- alpaca -----------------------------------------------------------------------------------------


def test_alpaca_with_input_is_stanford_byte_for_byte(tok):
    r = render(inst("Translate.", "Bonjour {x}", "Hello"), "alpaca", eos_token=EOS)
    prompt = STANFORD_INPUT.replace("{instruction}", "Translate.").replace("{input}", "Bonjour {x}")
    assert r.template == "alpaca"
    assert r.segments == [Segment(prompt + "\n", False), Segment("Hello" + EOS, True)]
    assert r.prompt == prompt + "\n" and r.text == prompt + "\nHello" + EOS
    sample = check_split(tok, r)
    assert sample.input_ids[-1] == tok.eos_token_id and sample.labels[-1] == tok.eos_token_id


def test_alpaca_without_input_is_stanford_byte_for_byte(tok):
    r = render(inst(), "alpaca", eos_token=EOS)
    prompt = STANFORD_NO_INPUT.replace("{instruction}", "Name the capital of France.")
    assert r.text == prompt + "\nParis." + EOS
    assert r.prompt == prompt + "\n"
    check_split(tok, r)


def test_alpaca_system_replaces_the_preamble():
    r = render(inst(system="You are a pirate."), "alpaca", eos_token=EOS)
    assert r.prompt == "You are a pirate.\n\n### Instruction:\nName the capital of France.\n\n### Response:\n"


def test_alpaca_single_turn_chat_renders_like_an_instruction_row():
    a = render(chat(("system", "S"), ("user", "Q"), ("assistant", "A")), "alpaca", eos_token=EOS)
    b = render(inst("Q", output="A", system="S"), "alpaca", eos_token=EOS)
    assert a.segments == b.segments


def test_alpaca_and_qa_refuse_multi_turn_chat():
    for template in ("alpaca", "qa", "text"):
        with pytest.raises(DataError, match="chatml or tokenizer"):
            render(MULTI, template, eos_token=EOS)


# --- qa / text ---------------------------------------------------------------------------------------


def test_qa(tok):
    r = render(inst("What is 2+2?", output="4"), "qa", eos_token=EOS)
    assert r.segments == [Segment("### Question:\nWhat is 2+2?\n\n### Answer:\n", False), Segment("4" + EOS, True)]
    check_split(tok, r)
    r = render(inst("Sum these.", "2 and 2", "4"), "qa", eos_token=EOS)
    assert r.prompt == "### Question:\nSum these.\n\n2 and 2\n\n### Answer:\n"
    check_split(tok, r)


def test_text_record_is_one_trained_segment(tok):
    r = render({"kind": "text", "text": "The quick brown fox."}, "text", eos_token=EOS)
    assert r.segments == [Segment("The quick brown fox." + EOS, True)] and r.prompt == ""
    sample = check_split(tok, r)
    assert sample.num_trained == len(sample.input_ids)


def test_text_template_on_instruction_rows(tok):
    r = render(inst("Question", "more", "Answer"), "text", eos_token=EOS)
    assert r.segments == [Segment("Question\nmore\n", False), Segment("Answer" + EOS, True)]
    check_split(tok, r)


def test_plain_text_rows_need_the_text_template():
    for template in ("alpaca", "qa", "chatml", "tokenizer", "Q: {text}"):
        with pytest.raises(DataError, match="text"):
            render({"kind": "text", "text": "x"}, template, eos_token=EOS)


# --- chatml ------------------------------------------------------------------------------------------


def test_chatml_single_turn(tok):
    r = render(inst("Hi", "there", "Hello"), "chatml", eos_token=EOS, system_prompt="Be kind.")
    assert r.text == ("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi\n\nthere<|im_end|>\n"
                      "<|im_start|>assistant\nHello<|im_end|>\n")
    assert r.prompt == "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi\n\nthere<|im_end|>\n<|im_start|>assistant\n"
    assert [s.text for s in r.segments if s.trained] == ["Hello<|im_end|>"]
    assert EOS not in r.text
    sample = check_split(tok, r)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert sample.input_ids.count(im_end) == 3 and sample.labels.count(im_end) == 1  # one id each, only the reply's trained
    assert tok.convert_tokens_to_ids("<|im_start|>") in sample.input_ids


def test_chatml_record_system_wins_over_system_prompt():
    r = render(inst(system="Mine."), "chatml", eos_token=EOS, system_prompt="Default.")
    assert r.text.startswith("<|im_start|>system\nMine.<|im_end|>\n") and "Default." not in r.text
    r = render(inst(), "chatml", eos_token=EOS)
    assert r.text.startswith("<|im_start|>user\n")


def test_chatml_multi_turn_trains_every_assistant_turn(tok):
    r = render(MULTI, "chatml", eos_token=EOS, system_prompt="unused")
    assert r.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>tool\ncalc: 4<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nthanks<|im_end|>\n"
    )
    assert [s.text for s in r.segments if s.trained] == ["Hello!<|im_end|>", "4<|im_end|>"]
    untrained = "".join(s.text for s in r.segments if not s.trained)
    for content in ("Be brief.", "Hi there", "2+2?", "calc: 4", "thanks"):
        assert content in untrained
    sample = check_split(tok, r)
    trained, masked = split_decode(tok, sample)
    assert trained == "Hello!<|im_end|>4<|im_end|>"
    assert "Hello!" not in masked and "thanks" in masked


# --- tokenizer (the model's chat template) ------------------------------------------------------------


def test_tokenizer_template_single_turn(tok):
    r = render(inst("Hi", output="Hello"), "tokenizer", eos_token=EOS, tokenizer=tok, system_prompt="Sys")
    assert r.template == "tokenizer"
    assert r.text == tok.apply_chat_template(
        [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        tokenize=False)
    assert r.prompt == "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert [s.text for s in r.segments if s.trained] == ["Hello<|im_end|>\n"]
    check_split(tok, r)


def test_tokenizer_template_multi_turn(tok):
    r = render(MULTI, "tokenizer", eos_token=EOS, tokenizer=tok)
    assert r.text == render(MULTI, "chatml", eos_token=EOS).text  # the tiny tokenizer's template is ChatML
    assert [s.text for s in r.segments if s.trained] == ["Hello!<|im_end|>\n", "4<|im_end|>\n"]
    sample = check_split(tok, r)
    _, masked = split_decode(tok, sample)
    for content in ("Be brief.", "Hi there", "2+2?", "calc: 4", "thanks"):
        assert content in masked


def _tok_with_template(tok, template):
    import copy

    t = copy.deepcopy(tok)
    t.chat_template = template
    return t


def test_tokenizer_template_errors(tok):
    with pytest.raises(DataError, match="no chat template.*chatml"):
        render(inst(), "tokenizer", eos_token=EOS, tokenizer=_tok_with_template(tok, None))
    with pytest.raises(DataError, match="chatml"):
        render(inst(), "tokenizer", eos_token=EOS, tokenizer=None)
    # a template that writes the number of messages first: prefixes are not prefixes of the whole
    counting = "{{ messages|length }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    with pytest.raises(DataError, match="cannot be split.*chatml"):
        render(inst(), "tokenizer", eos_token=EOS, tokenizer=_tok_with_template(tok, counting))
    raising = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(DataError, match="roles must alternate"):
        render(inst(), "tokenizer", eos_token=EOS, tokenizer=_tok_with_template(tok, raising))


# --- custom templates and literal data ---------------------------------------------------------------


def test_custom_template(tok):
    row = {"question": "Why {x}?", "answer": "Because.", "ctx": "c{0}"}
    record = inst(row["question"], output=row["answer"])
    r = render(record, "Context: {ctx}\nQ: {question} {{literal}} }}\nA: ", eos_token=EOS, raw=row)
    assert r.template == "custom"
    assert r.segments == [Segment("Context: c{0}\nQ: Why {x}? {literal} }\nA: ", False), Segment("Because." + EOS, True)]
    check_split(tok, r)
    assert template_fields("Context: {ctx}\nQ: {question} {{literal}} {ctx}") == ["ctx", "question"]
    assert template_fields("alpaca") == []


def test_custom_template_unknown_field_lists_the_columns():
    with pytest.raises(DataError, match=r"\{questoin\}.*did you mean \{question\}.*columns are: question, answer"):
        validate_template("Q: {questoin}", ["question", "answer"], "qa")
    with pytest.raises(DataError, match="columns are: question, answer"):
        render(inst(), "Q: {nope}", eos_token=EOS, raw={"question": "q", "answer": "a"})
    validate_template("Q: {question}\nA:", ["question", "answer"], "qa")


def test_custom_template_refuses_chat():
    with pytest.raises(DataError, match="single-turn"):
        render(MULTI, "Q: {messages}", eos_token=EOS, raw={"messages": []})
    with pytest.raises(DataError, match="single-turn"):
        validate_template("Q: {messages}", ["messages"], "messages")


@pytest.mark.parametrize("template", ["alpaca", "qa", "chatml", "text", "tokenizer", "In: {instruction}\nOut: "])
def test_braces_in_data_render_literally(tok, template):
    nasty = "{x} {0} }} {{ {} {instruction} %s"
    record = inst(nasty, nasty, nasty, nasty)
    r = render(record, template, eos_token=EOS, tokenizer=tok, raw={"instruction": nasty})
    assert nasty in r.prompt
    assert r.completion in (nasty + EOS, nasty + "<|im_end|>", nasty + "<|im_end|>\n")
    check_split(tok, r)


# --- resolve / validate / stops ----------------------------------------------------------------------


def test_resolve_template():
    assert [resolve_template("auto", f) for f in ("alpaca", "qa", "messages", "sharegpt", "text")] == \
        ["alpaca", "qa", "chatml", "chatml", "text"]
    assert resolve_template("tokenizer", "messages") == "tokenizer"
    assert resolve_template("Q: {q}", "qa") == "Q: {q}"
    with pytest.raises(DataError, match="did you mean chatml"):
        resolve_template("chatm", "messages")


def test_validate_template_by_format():
    for template in ("alpaca", "qa", "chatml", "tokenizer"):
        with pytest.raises(DataError, match="plain text"):
            validate_template(template, ["text"], "text")
    for fmt in ("alpaca", "qa", "messages", "sharegpt"):
        for template in ("auto", "alpaca", "qa", "chatml", "tokenizer", "text"):
            validate_template(template, ["instruction", "output", "messages"], fmt)
    validate_template("text", ["text"], "text")
    validate_template("auto", ["text"], "text")


def test_stop_strings():
    assert stop_strings("chatml", EOS)[0] == "<|im_end|>" and EOS in stop_strings("chatml", EOS)
    assert stop_strings("alpaca", EOS) == [EOS, "### Instruction:"]
    assert stop_strings("qa", EOS) == [EOS, "### Question:"]
    assert stop_strings("text", EOS) == [EOS] and stop_strings("Q: {q}", "") == []


# --- tokenisation ------------------------------------------------------------------------------------


def test_truncation_counts(tok):
    r = render(inst(output="Paris is the capital of France."), "alpaca", eos_token=EOS)
    full = tokenize_rendered(r, tok, 4096)
    n_prompt = sum(1 for lab in full.labels if lab == IGNORE_INDEX)
    n_completion = full.full_length - n_prompt
    assert n_completion >= 3 and full.num_trained == n_completion and not full.truncated

    cut = tokenize_rendered(r, tok, n_prompt + 2)
    assert (cut.full_length, cut.truncated, cut.num_trained) == (full.full_length, True, 2)
    assert len(cut.input_ids) == len(cut.labels) == n_prompt + 2
    assert cut.full_input_ids == full.input_ids and cut.full_labels == full.labels
    assert cut.input_ids == full.input_ids[: n_prompt + 2]

    gone = tokenize_rendered(r, tok, n_prompt - 1)  # the completion lies wholly past max_length
    assert gone.truncated and gone.num_trained == 0 and all(lab == IGNORE_INDEX for lab in gone.labels)


def test_train_on_prompt_trains_everything(tok):
    r = render(MULTI, "chatml", eos_token=EOS)
    sample = tokenize_rendered(r, tok, 4096, train_on_prompt=True)
    assert sample.labels == sample.input_ids and sample.num_trained == sample.full_length


def test_token_view(tok):
    r = render(inst("Say é and 😀", output="ça va 😀 {x}"), "chatml", eos_token=EOS)
    full = tokenize_rendered(r, tok, 4096)
    sample = tokenize_rendered(r, tok, full.full_length - 5)
    view = sample.token_view(tok)
    assert len(view) == sample.full_length == full.full_length
    assert [t[1] for t in view] == [lab != IGNORE_INDEX for lab in sample.full_labels]
    assert [t[2] for t in view] == [i >= full.full_length - 5 for i in range(full.full_length)]
    texts = [t[0] for t in view]
    assert "".join(texts) == r.text  # readable: no Ġ/Ċ spelling, characters split over tokens rejoined
    assert "<|im_end|>" in texts and "\n" in texts and not any("Ċ" in t or "Ġ" in t for t in texts)


def test_bos_is_prepended_once_and_untrained(bos_tok):
    bos = bos_tok.bos_token_id
    r = render(inst(), "alpaca", eos_token=bos_tok.eos_token)
    sample = tokenize_rendered(r, bos_tok, 4096)
    assert sample.input_ids[0] == bos and sample.labels[0] == IGNORE_INDEX and sample.input_ids.count(bos) == 1
    assert dec(bos_tok, sample.input_ids[1:]) == r.text
    assert tokenize_rendered(r, bos_tok, 4096, train_on_prompt=True).labels[0] == IGNORE_INDEX
    already = Rendered("custom", [Segment("<s>Q:", False), Segment("A", True)])
    ids = tokenize_rendered(already, bos_tok, 4096).input_ids
    assert ids[0] == bos and ids.count(bos) == 1
    assert prompt_ids(r.prompt, bos_tok) == sample.input_ids[: len(prompt_ids(r.prompt, bos_tok))]
    assert prompt_ids("x", bos_tok)[0] == bos


def test_prompt_ids_match_training_tokens(tok):
    r = render(MULTI, "chatml", eos_token=EOS)
    sample = tokenize_rendered(r, tok, 4096)
    ids = prompt_ids(r.prompt, tok)
    assert sample.input_ids[: len(ids)] == ids and sample.labels[len(ids)] != IGNORE_INDEX


# --- property: any text round-trips ------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instruction=st.text(max_size=40), input=st.text(max_size=20), output=st.text(max_size=40),
       template=st.sampled_from(["alpaca", "qa", "chatml"]))
def test_random_text_round_trips(tok, instruction, input, output, template):
    r = render(inst(instruction, input, output), template, eos_token=EOS)
    sample = tokenize_rendered(r, tok, 4096)
    trained, masked = split_decode(tok, sample)
    end = "<|im_end|>" if template == "chatml" else EOS
    assert trained == output + end == r.completion
    assert masked == "".join(s.text for s in r.segments if not s.trained)
    assert sample.num_trained == sum(1 for lab in sample.labels if lab != IGNORE_INDEX) > 0


# --- encode_row: the preview's and the trainer's single path ------------------------------------------


def test_encode_row(tok):
    data = pytest.importorskip("engine.data", reason="engine.data is not written yet")
    if not hasattr(data, "to_record") or not hasattr(data, "DatasetInfo"):
        pytest.skip("engine.data has no to_record/DatasetInfo yet")
    from engine.config import DataConfig
    from engine.tokenize import encode_row

    def info(fmt, columns, mapping):
        return data.DatasetInfo(path="mem", file_format="jsonl", format=fmt, columns=columns, num_rows=1,
                                mapping=mapping, detected=True)

    alpaca = info("alpaca", ["instruction", "input", "output"],
                  {"instruction": "instruction", "input": "input", "output": "output"})
    row = {"instruction": "Name {0}.", "input": "", "output": "Paris."}
    s = encode_row(row, alpaca, DataConfig(max_length=64), tok)
    assert s.rendered.template == "alpaca" and s.rendered.completion == "Paris." + EOS
    assert split_decode(tok, s)[0] == "Paris." + EOS and "Name {0}." in s.rendered.prompt

    s = encode_row(row, alpaca, DataConfig(template="Do: {instruction}\n", max_length=64), tok)
    assert s.rendered.prompt == "Do: Name {0}.\n" and split_decode(tok, s)[0] == "Paris." + EOS

    s = encode_row(row, alpaca, DataConfig(max_length=4, train_on_prompt=True), tok)
    assert s.truncated and len(s.input_ids) == 4 and s.num_trained == 4

    msgs = info("messages", ["messages"], {"messages": "messages"})
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    # auto on chat data: the tokenizer's own chat template (the tiny one is ChatML)
    assert encode_row(row, msgs, DataConfig(max_length=128), tok).rendered.template == "tokenizer"
    s = encode_row(row, msgs, DataConfig(template="chatml", system_prompt="Sys", max_length=128), tok)
    assert s.rendered.template == "chatml" and s.rendered.text.startswith("<|im_start|>system\nSys")
    assert split_decode(tok, s)[0] == "Yo<|im_end|>"
