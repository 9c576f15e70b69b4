"""ChatTemplate::Apply against jinja2 rendering of real templates of each family.

Rendering mirrors transformers' apply_chat_template: a sandboxed jinja2 environment with
trim_blocks / lstrip_blocks, `raise_exception`, and bos_token / eos_token variables.
"""
import glob
import os
import subprocess

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from gguf import GGUFReader

MODEL = os.environ.get("HEARTH_DEFAULT_MODEL")
BINARY_DIR = os.environ.get("HEARTH_BINARY_DIR", "")

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif "
    "%}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
    "<|end_header_id|>\n\n' }}{% endif %}")
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
    "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != "
    "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif"
    " message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}")
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] "
    "' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}")
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% "
    "set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>'"
    " + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if "
    "add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
CHATML_QWEN = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>'"
    " + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
    "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
CHATML_PLAIN = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% endif %}")

S = {"role": "system", "content": "You are terse.\n"}
U1 = {"role": "user", "content": "  Hello there!  "}
A1 = {"role": "assistant", "content": "Hi. How can I help?\n"}
U2 = {"role": "user", "content": "Write 2+2 in 中文 😀\n\twith tabs"}
A2 = {"role": "assistant", "content": ""}
CONVERSATIONS = [
    [U1], [S, U1], [U1, A1, U2], [S, U1, A1, U2], [S, U1, A1, U2, A2], [U1, A1],
    [{"role": "system", "content": ""}, U1], [U1, U1], [S], [],
    [U1, {"role": "tool", "content": "42"}],
]


def tool_path():
    hits = [h for h in glob.glob(os.path.join(BINARY_DIR, "**", "tokenize_tool"), recursive=True)
            if os.path.isfile(h) and os.access(h, os.X_OK)]
    if not hits:
        pytest.fail(f"tokenize_tool not built under {BINARY_DIR}")
    return hits[0]


def jinja_render(source, messages, add_generation_prompt, bos, eos):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(source).render(messages=messages, bos_token=bos, eos_token=eos,
                                              add_generation_prompt=add_generation_prompt)
    except (jinja2.exceptions.TemplateError, IndexError):
        return None  # the template refuses this conversation (IndexError: messages[0] of [])


def ours(source, cases, bos, eos):
    h = lambda s: s.encode("utf-8").hex()  # noqa: E731
    reqs = []
    for messages, gen in cases:
        msgs = ";".join(f"{h(m['role'])}:{h(m['content'])}" for m in messages)
        reqs.append(f"chat\t{h(source)}\t{h(bos)}\t{h(eos)}\t{int(gen)}\t{msgs}")
    proc = subprocess.run([tool_path(), "-"], input="\n".join(reqs) + "\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = []
    for line in proc.stdout.split("\n")[:-1]:
        status, payload = line.split("\t", 1)
        out.append(bytes.fromhex(payload).decode("utf-8") if status == "ok" else None)
    return out


def default_model_template():
    r = GGUFReader(MODEL)
    return r.fields["tokenizer.chat_template"].contents()


@pytest.mark.parametrize("name,bos,eos", [
    ("smollm", "<|im_start|>", "<|im_end|>"), ("chatml_qwen", "", "<|endoftext|>"),
    ("chatml_plain", "", "<|im_end|>"), ("llama3", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama2", "<s>", "</s>"), ("mistral", "<s>", "</s>"), ("gemma", "<bos>", "<eos>")])
def test_apply_matches_jinja(name, bos, eos):
    source = default_model_template() if name == "smollm" else {
        "chatml_qwen": CHATML_QWEN, "chatml_plain": CHATML_PLAIN, "llama3": LLAMA3,
        "llama2": LLAMA2, "mistral": MISTRAL, "gemma": GEMMA}[name]
    cases = [(c, g) for c in CONVERSATIONS for g in (False, True)]
    got = ours(source, cases, bos, eos)
    rendered = 0
    for (messages, gen), mine in zip(cases, got):
        want = jinja_render(source, messages, gen, bos, eos)
        assert mine == want, (name, messages, gen, mine, want)
        rendered += want is not None
    assert rendered >= 8  # most conversations render; the rest are refused by both


def test_unrecognized_template_is_an_error():
    (got,) = ours("{% for m in messages %}{{ m['content'] }}{% endfor %}", [([U1], True)], "", "")
    assert got is None
