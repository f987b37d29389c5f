#!/usr/bin/env python3
"""A loopback stand-in for an LLM provider speaking the OpenAI chat-completions protocol.

    mock_model.py --port-file FILE [--host 127.0.0.1] [--log FILE]

It plays the model behind a real OpenClaw gateway so that one chat request runs OpenClaw's real
agent turn, exec tool included, with no network. What it answers is decided by the last message
of the conversation it is sent:

  - a user message with `RUN: <command>` on a line: a tool call of the `exec` tool with
    {"command": "<command>"} (the tool's name is taken from the request's tool list);
  - a user message with `CALL: <tool> <JSON arguments>` on a line: a call of that tool with
    those arguments (a model a prompt injection steers: OpenClaw's `read`, `write`, ...);
  - a tool result: plain text, `tool said: ` and the first 200 characters of the result;
  - anything else: plain text, `hello from the mock model`.

Streaming (SSE, "stream": true) and plain JSON answers are both served. The port it listens on
(0: any free one) is written to --port-file once it listens. Every request is logged as one JSON
line to --log (the last message's role and the answer given), never the request's bodies whole.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ID = "mock-model"
INTERNAL_CONTEXT = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"
RUN_MARK = "RUN:"
CALL_MARK = "CALL:"


def last_text(message):
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def exec_tool_name(tools):
    names = [t.get("function", {}).get("name", "") for t in tools or []]
    for preferred in ("exec", "bash", "shell"):
        if preferred in names:
            return preferred
    return names[0] if names else "exec"


def decide(body):
    """What to answer: ("tool", name, arguments) or ("text", text)."""
    # OpenClaw appends context of its own as user messages after the real one: the newest
    # message that is not such context decides.
    for message in reversed(body.get("messages") or []):
        role = message.get("role")
        text = last_text(message)
        if role == "user" and text.lstrip().startswith(INTERNAL_CONTEXT):
            continue
        if role == "tool":
            return ("text", "tool said: " + text[:200])
        if role == "user":
            # OpenClaw puts a timestamp before the user's first line
            for line in text.splitlines():
                at = line.find(CALL_MARK)
                if at >= 0:
                    name, _, arguments = line[at + len(CALL_MARK):].strip().partition(" ")
                    return ("tool", name, json.loads(arguments or "{}"))
                at = line.find(RUN_MARK)
                if at >= 0:
                    command = line[at + len(RUN_MARK):].strip()
                    return ("tool", exec_tool_name(body.get("tools")), {"command": command})
        break
    return ("text", "hello from the mock model")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_file = None
    lock = threading.Lock()
    counter = 0

    def log_message(self, fmt, *args):  # quiet: the JSON log says what matters
        pass

    def record(self, what):
        if not Handler.log_file:
            return
        with Handler.lock, open(Handler.log_file, "a") as f:
            f.write(json.dumps(what) + "\n")

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_json(400, {"error": {"message": "bad json"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "not found"}})
            return
        with Handler.lock:
            Handler.counter += 1
            n = Handler.counter
        answer = decide(body)
        self.record({"n": n,
                     "stream": bool(body.get("stream")), "answer": answer[0],
                     "tool": answer[1] if answer[0] == "tool" else None})
        cid = "chatcmpl-mock-%d" % n
        created = int(time.time())
        if answer[0] == "tool":
            call = {"index": 0, "id": "call_mock_%d" % n, "type": "function",
                    "function": {"name": answer[1], "arguments": json.dumps(answer[2])}}
            finish = "tool_calls"
            delta = {"role": "assistant", "content": None, "tool_calls": [call]}
            message = {"role": "assistant", "content": None,
                       "tool_calls": [{k: v for k, v in call.items() if k != "index"}]}
        else:
            finish = "stop"
            delta = {"role": "assistant", "content": answer[1]}
            message = {"role": "assistant", "content": answer[1]}
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if not body.get("stream"):
            self.send_json(200, {"id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
                                 "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                 "usage": usage})
            return
        chunks = [
            {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
             "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage},
        ]
        payload = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    args = ap.parse_args()
    if not (args.host.startswith("127.") or args.host == "::1"):
        sys.exit("mock_model: loopback only")
    Handler.log_file = args.log
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
