"""Service bot speed: WeChat replies per second over real loopback HTTP, and the bot's own cost.

    python benchmarks/bot_replies.py                 # ~1 minute
    python benchmarks/bot_replies.py --seconds 10 --connections 32

Needs the bot extra (cryptography, uvicorn, httptools, uvloop). Two parts:

1. Throughput. Each app runs in its own uvicorn process (one worker, httptools,
   uvloop) on 127.0.0.1; a load generator in this process (raw asyncio
   sockets, keep-alive, N connections, every request a distinct message with a
   valid signature, every answer checked) sends WeChat text callbacks for a
   fixed time. Apps: the bot (`gm.Bot` + `bot.asgi`, a trivial sync skill and
   the same as an async skill) in plain and safe (AES) mode, and next to it
   the same WeChat handler written directly on the ASGI server: signature,
   expat, AES, the passive reply, nothing else (no dedupe, limits, state,
   skills or threads).
2. The bot's own work per message, no network: the ASGI app called in-process
   with pre-built requests, timed over many messages (signature, parsing, AES,
   claim, limit, state, skill dispatch, reply, encryption).

The 2-core machine is shared by server and load generator: the figures are a
floor for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
TOKEN = "bench-token"

BOT_MODULE = textwrap.dedent(f"""
    import govmedia as gm

    bot = gm.Bot(per_user=None)

    @bot.skill(r"^天气")
    def weather(msg):
        return "北京：晴，12°C"

    abot = gm.Bot(per_user=None)

    @abot.skill(r"^天气")
    async def aweather(msg):
        return "北京：晴，12°C"

    creds = {{"app_id": "{APP_ID}", "callback_token": "{TOKEN}"}}
    plain = gm.Channel(platform="wechat_oa", account="gh_plain", credentials=creds)
    safe = gm.Channel(platform="wechat_oa", account="gh_safe", credentials={{**creds, "encoding_aes_key": "{KEY}"}})
    app = bot.asgi({{"/plain": plain, "/aes": safe}})
    async_app = abot.asgi({{"/plain": plain, "/aes": safe}})
""")

# The same WeChat handler written directly on the ASGI server: what any
# hand-written endpoint must do at least. No framework, no bot.
DIRECT_MODULE = textwrap.dedent(f"""
    import hashlib, hmac, time
    from urllib.parse import parse_qsl
    from govmedia._bot.wxcrypto import WeChatCipher, signature
    from govmedia._bot.wxxml import parse, reply_xml, wrap_encrypted

    TOKEN = "{TOKEN}"
    cipher = WeChatCipher("{KEY}", "{APP_ID}")

    async def app(scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while True:
                    m = await receive()
                    if m["type"] == "lifespan.startup":
                        await send({{"type": "lifespan.startup.complete"}})
                    else:
                        await send({{"type": "lifespan.shutdown.complete"}})
                        return
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        q = dict(parse_qsl(scope["query_string"].decode()))
        ts, nonce = q["timestamp"], q["nonce"]
        if scope["path"] == "/aes":
            enc = parse(body)["Encrypt"]
            if not hmac.compare_digest(q["msg_signature"], signature(TOKEN, ts, nonce, enc)):
                status, out = 403, b"forbidden"
            else:
                f = parse(cipher.decrypt(enc))
                xml = reply_xml(f["FromUserName"], f["ToUserName"], text="北京：晴，12°C")
                sealed = cipher.encrypt(xml.encode())
                now = str(int(time.time()))
                out = wrap_encrypted(sealed, signature(TOKEN, now, nonce, sealed), now, nonce).encode()
                status = 200
        else:
            if not hmac.compare_digest(q["signature"], signature(TOKEN, ts, nonce)):
                status, out = 403, b"forbidden"
            else:
                f = parse(body)
                out = reply_xml(f["FromUserName"], f["ToUserName"], text="北京：晴，12°C").encode()
                status = 200
        await send({{"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/xml"),
                                (b"content-length", str(len(out)).encode())]}})
        await send({{"type": "http.response.body", "body": out}})
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests(path: str, count: int, *, safe: bool, port: int) -> list[bytes]:
    """*count* distinct signed callbacks as raw HTTP/1.1 requests."""
    sys.path.insert(0, str(ROOT / "src"))
    import govmedia as gm
    from govmedia.testing.follower import wechat_callback

    creds = {"app_id": APP_ID, "callback_token": TOKEN}
    if safe:
        creds["encoding_aes_key"] = KEY
    channel = gm.Channel(platform="wechat_oa", account="gh_bench", credentials=creds)
    out = []
    from urllib.parse import urlencode

    for i in range(count):
        query, body = wechat_callback(channel, text="天气", user=f"o_user{i % 1000}", msg_id=str(10**9 + i))
        head = (f"POST {path}?{urlencode(query)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


async def _connection(port: int, requests: list[bytes], start: int, step: int, stop_at: float,
                      counts: list[int], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while time.perf_counter() < stop_at and i < len(requests):
            writer.write(requests[i])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if status != 200 or b"<xml>" not in body:
                errors.append(f"{status} {body[:80]!r}")
            counts[0] += 1
            i += step
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], seconds: float, connections: int) -> tuple[float, int, list[str]]:
    counts, errors = [0], []
    began = time.perf_counter()
    stop_at = began + seconds
    await asyncio.gather(*(_connection(port, requests, c, connections, stop_at, counts, errors)
                           for c in range(connections)))
    elapsed = time.perf_counter() - began
    return counts[0] / elapsed, counts[0], errors


def _serve(workdir: Path, target: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{workdir}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--loop", "uvloop", "--http", "httptools", "--no-server-header"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def throughput(seconds: float, connections: int) -> list[dict[str, object]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bench_bot.py").write_text(BOT_MODULE, encoding="utf-8")
        (workdir / "bench_direct.py").write_text(DIRECT_MODULE, encoding="utf-8")
        for label, target in (("bot, sync skill", "bench_bot:app"),
                              ("bot, async skill", "bench_bot:async_app"),
                              ("direct ASGI handler", "bench_direct:app")):
            for mode, path in (("plain", "/plain"), ("aes", "/aes")):
                port = _free_port()
                requests = _requests(path, 60_000, safe=mode == "aes", port=port)
                server = _serve(workdir, target, port)
                try:
                    asyncio.run(_load(port, requests[:2000], 1.0, connections))  # warm up
                    rate, done, errors = asyncio.run(_load(port, requests[2000:], seconds, connections))
                finally:
                    server.terminate()
                    server.wait(10)
                rows.append({"app": label, "mode": mode, "replies_per_s": round(rate), "replies": done,
                             "errors": len(errors), "first_error": errors[0] if errors else None})
                print(f"{label:<22} {mode:<6} {rate:8.0f} replies/s  ({done} replies, {len(errors)} errors)",
                      flush=True)
    return rows


def own_work(count: int) -> list[dict[str, object]]:
    """Microseconds per message inside the ASGI app, no network."""
    sys.path.insert(0, str(ROOT / "src"))
    bots: dict[str, object] = {}
    direct: dict[str, object] = {}
    exec(compile(BOT_MODULE, "bench_bot", "exec"), bots)
    exec(compile(DIRECT_MODULE, "bench_direct", "exec"), direct)
    rows = []
    for label, app in (("bot, sync skill", bots["app"]), ("bot, async skill", bots["async_app"]),
                       ("direct ASGI handler", direct["app"])):
        for mode, path in (("plain", "/plain"), ("aes", "/aes")):
            raw = _requests(path, count + 200, safe=mode == "aes", port=1)
            scopes = []
            for request in raw:
                head, _, body = request.partition(b"\r\n\r\n")
                target = head.split(b" ")[1]
                p, _, q = target.partition(b"?")
                scopes.append(({"type": "http", "method": "POST", "path": p.decode(), "query_string": q,
                                "headers": [(b"content-length", str(len(body)).encode())]}, body))

            async def run(app=app, scopes=scopes) -> float:
                sent: list[object] = []

                async def send(message: object) -> None:
                    sent.append(message)

                for scope, body in scopes[:200]:  # warm up (threads, caches)
                    await app(scope, _receiver(body), send)
                began = time.perf_counter()
                for scope, body in scopes[200:]:
                    await app(scope, _receiver(body), send)
                return (time.perf_counter() - began) / count

            try:
                import uvloop

                per = uvloop.run(run())
            except ImportError:
                per = asyncio.run(run())
            rows.append({"app": label, "mode": mode, "us_per_message": round(per * 1e6, 1)})
            print(f"{label:<22} {mode:<6} {per * 1e6:8.1f} µs per message (in-process)", flush=True)
    return rows


def _receiver(body: bytes):
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--messages", type=int, default=5000, help="in-process messages per case")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bot.json"))
    args = parser.parse_args()
    result = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
              "own_work": own_work(args.messages),
              "throughput": throughput(args.seconds, args.connections)}
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
