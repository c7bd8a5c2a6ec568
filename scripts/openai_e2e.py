#!/usr/bin/env python3
"""End-to-end check with OpenAI's official Python client against a running quill-server.

Usage: openai_e2e.py PORT MODEL_NAME. Prints one JSON line; exits non-zero (with the reason) on any mismatch.
QuillServiceTests runs it against a server it started (make test installs `openai` into a venv).
"""
import json
import sys

import openai

port, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="not-needed", max_retries=0, timeout=30)

models = client.models.list()
assert [m.id for m in models.data] == [model], models

done = client.completions.create(model=model, prompt="ROMEO:", max_tokens=12, temperature=0)
choice = done.choices[0]
assert choice.finish_reason == "length", choice
assert done.usage.completion_tokens == 12, done.usage
text = choice.text

streamed = ""
finish = None
for chunk in client.completions.create(model=model, prompt="ROMEO:", max_tokens=12, temperature=0, stream=True):
    streamed += chunk.choices[0].text
    finish = chunk.choices[0].finish_reason or finish
assert streamed == text, (streamed, text)
assert finish == "length", finish

many = client.completions.create(model=model, prompt="ROMEO:", max_tokens=4, n=3, seed=5, logprobs=2)
assert [c.index for c in many.choices] == [0, 1, 2], many.choices
assert len(many.choices[0].logprobs.tokens) == 4

try:
    client.completions.create(model=model, prompt="ROMEO:", temperature=-1)
    raise SystemExit("temperature -1 was accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "temperature", e.body

messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Romeo?"}]
chat = client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0)
reply = chat.choices[0].message
assert reply.role == "assistant", reply
assert chat.choices[0].finish_reason in ("length", "stop"), chat.choices[0]
assert chat.usage.completion_tokens >= 1, chat.usage

chat_streamed = ""
roles = []
usage = None
for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0, stream=True,
                                            stream_options={"include_usage": True}):
    if chunk.usage is not None:
        usage = chunk.usage
    for c in chunk.choices:
        if c.delta.role:
            roles.append(c.delta.role)
        chat_streamed += c.delta.content or ""
assert chat_streamed == reply.content, (chat_streamed, reply.content)
assert roles == ["assistant"], roles
assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens, usage

scored = client.chat.completions.create(model=model, messages=messages, max_tokens=3, logprobs=True, top_logprobs=2,
                                        seed=1)
assert len(scored.choices[0].logprobs.content[0].top_logprobs) == 2, scored.choices[0].logprobs

print(json.dumps({"text": text, "streamed": streamed, "choices": len(many.choices), "chat": reply.content}))
