"""Real servers for integration tests: SEKMET (a FHIR R4 server on SQLite), a flaky proxy, a fault proxy, a silent
socket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[2]
SEKMET = ROOT / ".venv-sekmet" / "bin" / "sekmet"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {seconds} s")


@contextlib.contextmanager
def sekmet(workdir: Path, extra_settings: str = "") -> Iterator[str]:
    """SEKMET in passive mode (no simulator, no inbound validation) on a free loopback port."""
    if not SEKMET.exists():
        subprocess.run([str(ROOT / "scripts" / "install-sekmet")], check=True)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    config = workdir / "settings.yaml"
    config.write_text(
        f"base_url: {base}\nhost: 127.0.0.1\nport: {port}\ndata_dir: {workdir / 'data'}\n"
        'simulator: {enabled: false}\nvalidation: {inbound: "off"}\nlog_inbound: false\n' + extra_settings,
        encoding="utf-8",
    )
    log = (workdir / "sekmet.log").open("wb")
    process = subprocess.Popen(
        [str(SEKMET), "serve", "--config", str(config)], cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until_up(f"{base}/metadata", process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not in the main thread
        pass


@contextlib.contextmanager
def serve_app(app: Starlette) -> Iterator[str]:
    port = free_port()
    server = ThreadedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def flaky_proxy(
    upstream: str, *, fail_every: int = 0, statuses: tuple[int, ...] = (429, 503), delay: float = 0.0
) -> Starlette:
    """Forwards to `upstream`, answering every `fail_every`-th request with 429 or 503 (Retry-After: 0),
    and every request `delay` seconds late (a slow server)."""
    counter = itertools.count(1)
    failing = itertools.cycle(statuses)
    origin = upstream.rsplit("/fhir", 1)[0]
    clients: list[httpx.AsyncClient] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=30) as client:
            clients.append(client)
            yield

    async def health(request: Request) -> Response:
        return Response("ok")

    async def forward(request: Request) -> Response:
        if delay:
            await asyncio.sleep(delay)
        if fail_every and next(counter) % fail_every == 0:
            return Response(status_code=next(failing), headers={"Retry-After": "0"})
        url = f"{origin}{request.url.path}"
        answer = await clients[0].get(url, params=request.query_params, headers={"accept": "application/fhir+json"})
        # the upstream's own links point at the upstream: rewrite them to stay behind the proxy
        body = answer.content.replace(origin.encode(), str(request.base_url).rstrip("/").encode())
        return Response(body, status_code=answer.status_code, media_type=answer.headers.get("content-type"))

    return Starlette(routes=[Route("/health", health), Route("/{path:path}", forward)], lifespan=lifespan)


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        listener.close()


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: run scripts/install-postgres")
    return found[-1].parent


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: commands run as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields a server URL without a database."""
    bindir = _pg_bin()
    data = workdir / "pgdata"
    sockets = workdir / "sockets"
    sockets.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(workdir / "postgres.log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )


def create_database(server: str, name: str) -> str:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


#: the faults `fault_proxy` can play, one at a time
FAULTS = ("latency", "429", "503", "reset", "truncated", "loop", "endless", "silent")


@dataclasses.dataclass
class Faults:
    """What `fault_proxy` does now: `kind` (one of FAULTS, None to forward faithfully) to the requests whose URL
    contains `target`; `times` limits how many requests get it (0: all of them). `hits` counts the faulted ones."""

    kind: str | None = None
    target: str = ""
    times: int = 0
    latency: float = 0.3
    retry_after: int = 1
    #: how long the silent fault holds a request before it lets go (bounded, so the proxy itself never hangs)
    silence: float = 10.0
    hits: int = 0

    def set(self, kind: str | None, target: str = "", times: int = 0) -> None:
        self.kind, self.target, self.times, self.hits = kind, target, times, 0

    def applies(self, request: Request) -> str | None:
        if self.kind is None or self.target not in str(request.url):
            return None
        if self.times and self.hits >= self.times:
            return None
        self.hits += 1
        return self.kind


def fault_proxy(upstream: str, faults: Faults) -> Starlette:
    """A real HTTP proxy in front of `upstream` that plays `faults`: a slow answer, 503 or 429 with Retry-After,
    a connection dropped mid-body, a 200 whose JSON is cut short, a Bundle whose `next` link points back at
    itself or on to a new page forever, and no answer at all."""
    origin = upstream.rsplit("/fhir", 1)[0]
    clients: list[httpx.AsyncClient] = []
    pages = itertools.count(1)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=30) as client:
            clients.append(client)
            yield

    async def health(request: Request) -> Response:
        return Response("ok")

    async def forward(request: Request) -> Response:
        kind = faults.applies(request)
        if kind == "latency":
            await asyncio.sleep(faults.latency)
        elif kind in ("429", "503"):
            return Response(status_code=int(kind), headers={"Retry-After": str(faults.retry_after)})
        elif kind == "silent":
            give_up = time.monotonic() + faults.silence
            while faults.kind == "silent" and time.monotonic() < give_up:
                await asyncio.sleep(0.05)
            return Response(status_code=503)
        params = httpx.QueryParams(str(request.query_params)).remove("_fault_page")
        answer = await clients[0].get(
            f"{origin}{request.url.path}", params=params, headers={"accept": "application/fhir+json"}
        )
        here = str(request.base_url).rstrip("/")
        body = answer.content.replace(origin.encode(), here.encode())
        media_type = answer.headers.get("content-type")
        if kind in ("loop", "endless") and answer.status_code == 200:
            bundle = json.loads(body)
            if bundle.get("resourceType") == "Bundle":
                url = str(request.url)
                if kind == "endless":
                    url = str(request.url.include_query_params(_fault_page=next(pages)))
                links = [link for link in bundle.get("link", []) if link.get("relation") != "next"]
                bundle["link"] = [*links, {"relation": "next", "url": url}]
                body = json.dumps(bundle).encode()
        elif kind == "truncated":
            body = body[: len(body) // 2]
        elif kind == "reset":
            whole = len(body)

            async def cut_short() -> AsyncIterator[bytes]:
                yield body[: whole // 2]
                raise ConnectionResetError("the fault proxy drops the connection mid-body")

            return StreamingResponse(
                cut_short(),
                status_code=answer.status_code,
                media_type=media_type,
                headers={"content-length": str(whole)},
            )
        return Response(body, status_code=answer.status_code, media_type=media_type)

    return Starlette(routes=[Route("/health", health), Route("/{path:path}", forward)], lifespan=lifespan)
