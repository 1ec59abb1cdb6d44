"""A local fake of the OpenAI endpoints sublim uses, with fault injection, for offline tests.

Serves, on 127.0.0.1 and a free port, from a background thread:
chat completions (deterministic number lists from a hash of the prompt and seed, or a test-supplied
``responder``), files (upload, retrieve, list, content), fine-tuning jobs (create, retrieve, list
with metadata filter, cancel; queued -> running -> succeeded over a few polls, or failed on request)
and batches (create, retrieve; the output file is computed from the input file).

Faults: a fraction ``fault_rate`` of requests is answered 429 or 500 or delayed past the client's
timeout. With ``side_effect_before_fault`` the request is carried out first and only its answer is
lost, which is what makes naive retries of non-idempotent calls create duplicates.

Example:
    with FakeOpenAIServer(fault_rate=0.3, delay_s=0.5) as server:
        client = openai.OpenAI(api_key="k", base_url=server.base_url)
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import default as email_policy

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

Responder = Callable[[list[dict], int], str]


def number_list_responder(messages: list[dict], seed: int) -> str:
    """Ten numbers 0-999 derived from the last user message and the seed (deterministic)."""
    digest = hashlib.sha256(f"{messages[-1]['content']}|{seed}".encode()).digest()
    return ", ".join(str(int.from_bytes(digest[2 * i : 2 * i + 2], "big") % 1000) for i in range(10))


def sample_id(model: str, messages: list[dict], seed: int) -> str:
    """Server-side identity of one sample (what the per-sample request counters are keyed by)."""
    blob = json.dumps([model, messages, seed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer(...) as s`` (or ``start()``/``stop()``); see the module doc."""

    def __init__(
        self,
        *,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = ("429", "500", "delay"),
        fault_paths: tuple[str, ...] = (),
        delay_s: float = 0.6,
        side_effect_before_fault: bool = False,
        seed: int = 0,
        responder: Responder = number_list_responder,
        job_polls_to_finish: int = 3,
        fail_jobs: bool = False,
        batch_polls_to_finish: int = 2,
        batch_error_every: int = 0,
    ) -> None:
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self.fault_paths = fault_paths  # e.g. 'POST /v1/files': only matching requests get faults (empty: all)
        self.delay_s = delay_s
        self.side_effect_before_fault = side_effect_before_fault
        self.responder = responder
        self.job_polls_to_finish = job_polls_to_finish
        self.fail_jobs = fail_jobs
        self.batch_polls_to_finish = batch_polls_to_finish
        self.batch_error_every = batch_error_every
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        # Observable state for assertions.
        self.requests: Counter[str] = Counter()  # "POST /v1/..." -> count (faulted ones included)
        self.faults: Counter[str] = Counter()
        self.sample_requests: Counter[str] = Counter()  # sample id -> requests that reached the handler
        self.sample_delivered: Counter[str] = Counter()  # sample id -> answers sent without a fault
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.headers_seen: list[dict] = []
        self.app = self._build_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeOpenAIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def jobs_created(self) -> int:
        return len(self.jobs)

    def _draw_fault(self, path: str) -> str | None:
        if self.fault_paths and not any(p in path for p in self.fault_paths):
            return None
        with self.lock:
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
        return None

    async def _answer(self, request: Request, handler: Callable[[], JSONResponse | PlainTextResponse]):
        """Count the request, maybe inject a fault before (or after) running ``handler``."""
        with self.lock:
            self.requests[f"{request.method} {request.url.path}"] += 1
            self.headers_seen.append(dict(request.headers))
        fault = self._draw_fault(f"{request.method} {request.url.path}")
        if fault is None:
            return handler()
        with self.lock:
            self.faults[fault] += 1
        if self.side_effect_before_fault:
            handler()
        if fault == "delay":
            await asyncio.sleep(self.delay_s)
            return JSONResponse({"error": {"message": "too slow", "type": "server_error"}}, status_code=504)
        status = int(fault)
        headers = {"retry-after": "0"} if status == 429 else {}
        message = "Rate limit reached" if status == 429 else "The server had an error"
        return JSONResponse({"error": {"message": message, "type": "fake"}}, status_code=status, headers=headers)

    # ------------------------------------------------------------------ handlers
    def chat_completion(self, body: dict, *, count: bool = True) -> dict:
        n = int(body.get("n") or 1)
        seed = int(body.get("seed") or 0)
        choices = []
        for i in range(n):
            sid = sample_id(body["model"], body["messages"], seed + i)
            if count:
                with self.lock:
                    self.sample_requests[sid] += 1
            text = self.responder(body["messages"], seed + i)
            choices.append({"index": i, "finish_reason": "stop", "logprobs": None,
                            "message": {"role": "assistant", "content": text}})
        return {"id": self.new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 10, "completion_tokens": 10 * n, "total_tokens": 10 + 10 * n}}

    def _file_object(self, fid: str) -> dict:
        f = self.files[fid]
        return {"id": fid, "object": "file", "bytes": len(f["content"]), "created_at": f["created_at"],
                "filename": f["filename"], "purpose": f["purpose"], "status": "processed"}

    def _store_file(self, filename: str, purpose: str, content: bytes) -> str:
        fid = self.new_id("file")
        with self.lock:
            self.files[fid] = {"filename": filename, "purpose": purpose, "content": content,
                               "created_at": int(time.time())}
        return fid

    def _job_object(self, jid: str, *, poll: bool) -> dict:
        job = self.jobs[jid]
        if poll and job["status"] not in ("succeeded", "failed", "cancelled"):
            job["polls"] += 1
            if job["polls"] >= self.job_polls_to_finish:
                if job["fail"]:
                    job["status"] = "failed"
                    job["error"] = {"code": "invalid_training_file", "param": "training_file",
                                    "message": "Training file has rows with an invalid format."}
                else:
                    job["status"] = "succeeded"
                    job["fine_tuned_model"] = f"ft:{job['model']}:fake:{job.get('suffix') or 'x'}:{jid[-6:]}"
            elif job["polls"] >= 1:
                job["status"] = "running"
        keys = ("id", "status", "model", "training_file", "fine_tuned_model", "error", "seed", "metadata",
                "hyperparameters", "method", "created_at", "suffix")
        out = {k: job.get(k) for k in keys}
        out.update(object="fine_tuning.job", organization_id="org-fake", result_files=[], trained_tokens=None,
                   finished_at=None, validation_file=None)
        return out

    def _batch_object(self, bid: str, *, poll: bool) -> dict:
        batch = self.batches[bid]
        if poll and batch["status"] != "completed":
            batch["polls"] += 1
            if batch["polls"] >= self.batch_polls_to_finish:
                self._finish_batch(batch)
            else:
                batch["status"] = "in_progress"
        keys = ("id", "status", "endpoint", "input_file_id", "output_file_id", "error_file_id",
                "completion_window", "created_at", "metadata")
        out = {k: batch.get(k) for k in keys}
        out["object"] = "batch"
        return out

    def _finish_batch(self, batch: dict) -> None:
        lines = self.files[batch["input_file_id"]]["content"].decode().splitlines()
        out, errors = [], []
        for n, line in enumerate(lines, start=1):
            req = json.loads(line)
            if self.batch_error_every and n % self.batch_error_every == 0:
                errors.append({"id": self.new_id("req"), "custom_id": req["custom_id"], "response": None,
                               "error": {"code": "server_error", "message": "fake batch item error"}})
                continue
            body = self.chat_completion(req["body"])
            for choice in body["choices"]:
                with self.lock:
                    self.sample_delivered[sample_id(req["body"]["model"], req["body"]["messages"],
                                                    int(req["body"].get("seed") or 0) + choice["index"])] += 1
            out.append({"id": self.new_id("req"), "custom_id": req["custom_id"], "error": None,
                        "response": {"status_code": 200, "request_id": "r", "body": body}})
        text = "".join(json.dumps(r) + "\n" for r in out).encode()
        batch["output_file_id"] = self._store_file("batch_output.jsonl", "batch_output", text)
        if errors:
            etext = "".join(json.dumps(r) + "\n" for r in errors).encode()
            batch["error_file_id"] = self._store_file("batch_errors.jsonl", "batch_output", etext)
        batch["status"] = "completed"

    def _build_app(self) -> FastAPI:  # noqa: C901 - one closure per endpoint
        app = FastAPI()
        server = self

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            if body["model"].startswith("missing-"):
                server.requests[f"{request.method} {request.url.path}"] += 1
                return JSONResponse({"error": {"message": f"The model {body['model']} does not exist",
                                               "code": "model_not_found"}}, status_code=404)

            def handle():
                result = server.chat_completion(body)
                return JSONResponse(result)

            response = await server._answer(request, handle)
            if response.status_code == 200:
                for choice in json.loads(response.body)["choices"]:
                    sid = sample_id(body["model"], body["messages"], int(body.get("seed") or 0) + choice["index"])
                    with server.lock:
                        server.sample_delivered[sid] += 1
            return response

        @app.post("/v1/files")
        async def upload(request: Request):
            raw = await request.body()
            header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
            msg = BytesParser(policy=email_policy).parsebytes(header + raw)
            fields, filename, content = {}, "upload.jsonl", b""
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    filename, content = part.get_filename(), part.get_payload(decode=True)
                else:
                    fields[name] = part.get_content().strip()
            return await server._answer(request, lambda: JSONResponse(server._file_object(
                server._store_file(filename, fields.get("purpose", ""), content))))

        @app.get("/v1/files")
        async def list_files(request: Request):
            purpose = request.query_params.get("purpose")
            data = [server._file_object(f) for f, v in server.files.items() if not purpose or v["purpose"] == purpose]
            return await server._answer(request, lambda: JSONResponse(
                {"object": "list", "data": data, "has_more": False}))

        @app.get("/v1/files/{fid}")
        async def get_file(fid: str, request: Request):
            if fid not in server.files:
                return JSONResponse({"error": {"message": f"No such File object: {fid}"}}, status_code=404)
            return await server._answer(request, lambda: JSONResponse(server._file_object(fid)))

        @app.get("/v1/files/{fid}/content")
        async def file_content(fid: str, request: Request):
            return await server._answer(request, lambda: PlainTextResponse(server.files[fid]["content"].decode()))

        @app.post("/v1/fine_tuning/jobs")
        async def create_job(request: Request):
            body = await request.json()
            if body["training_file"] not in server.files:
                return JSONResponse({"error": {"message": "training_file not found"}}, status_code=400)

            def handle():
                jid = server.new_id("ftjob")
                with server.lock:
                    server.jobs[jid] = {"id": jid, "status": "validating_files", "polls": 0, "fail": server.fail_jobs,
                                        "model": body["model"], "training_file": body["training_file"],
                                        "seed": body.get("seed"), "metadata": body.get("metadata"),
                                        "suffix": body.get("suffix"), "method": body.get("method"),
                                        "hyperparameters": body.get("hyperparameters"), "fine_tuned_model": None,
                                        "error": None, "created_at": int(time.time())}
                return JSONResponse(server._job_object(jid, poll=False))

            return await server._answer(request, handle)

        @app.get("/v1/fine_tuning/jobs")
        async def list_jobs(request: Request):
            wanted = {k[len("metadata["):-1]: v for k, v in request.query_params.items() if k.startswith("metadata[")}
            data = [server._job_object(j, poll=False) for j, job in reversed(server.jobs.items())
                    if all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
            return await server._answer(request, lambda: JSONResponse(
                {"object": "list", "data": data, "has_more": False}))

        @app.get("/v1/fine_tuning/jobs/{jid}")
        async def get_job(jid: str, request: Request):
            if jid not in server.jobs:
                return JSONResponse({"error": {"message": f"No such job: {jid}"}}, status_code=404)
            return await server._answer(request, lambda: JSONResponse(server._job_object(jid, poll=True)))

        @app.post("/v1/batches")
        async def create_batch(request: Request):
            body = await request.json()

            def handle():
                bid = server.new_id("batch")
                with server.lock:
                    server.batches[bid] = {"id": bid, "status": "validating", "polls": 0,
                                           "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
                                           "completion_window": body["completion_window"], "output_file_id": None,
                                           "error_file_id": None, "created_at": int(time.time()),
                                           "metadata": body.get("metadata")}
                return JSONResponse(server._batch_object(bid, poll=False))

            return await server._answer(request, handle)

        @app.get("/v1/batches")
        async def list_batches(request: Request):
            data = [server._batch_object(b, poll=False) for b in reversed(server.batches)]
            return await server._answer(request, lambda: JSONResponse(
                {"object": "list", "data": data, "has_more": False}))

        @app.get("/v1/batches/{bid}")
        async def get_batch(bid: str, request: Request):
            return await server._answer(request, lambda: JSONResponse(server._batch_object(bid, poll=True)))

        return app
