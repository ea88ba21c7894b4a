"""A loopback HTTP server written on raw sockets, for answers no real server gives.

Each connection's request is read whole, then a scenario function writes
whatever it likes and the connection is closed (answers say so, so that no
client reuses it); the server counts requests and the bytes it managed to
send before the client went away.
"""

import socket
import threading
import time


class RawServer:
    def __init__(self, answer, *, max_seconds=10.0):
        self.answer = answer
        self.max_seconds = max_seconds
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.sent = 0
        self._stop = False
        self._threads = []
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path="/p"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._one, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _one(self, conn):
        conn.settimeout(self.max_seconds)
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    got = conn.recv(65536)
                    if not got:
                        return
                    data += got
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                self.answer(self, conn, time.monotonic() + self.max_seconds)
            except OSError:
                pass  # the client hung up: what a bounded client does

    def send(self, conn, data):
        conn.sendall(data)
        self.sent += len(data)

    def close(self):
        self._stop = True
        self.sock.close()
        for thread in self._threads:
            thread.join(timeout=self.max_seconds)


# ------------------------------------------------------------------ scenarios

CHUNK = b"x" * 65536


def endless_chunked(server, conn, until):
    server.send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    frame = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
    while time.monotonic() < until and server.sent < 512 * 2**20:
        server.send(conn, frame)


def endless_to_close(server, conn, until):
    server.send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    while time.monotonic() < until and server.sent < 512 * 2**20:
        server.send(conn, CHUNK)


def gigabyte_declared(server, conn, until):
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
    while time.monotonic() < until and server.sent < 512 * 2**20:
        server.send(conn, CHUNK)


def body_of(size, *, headers=b""):
    def answer(server, conn, until):
        server.send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n%s\r\n"
                    % (size, headers)
                    + b"y" * size)
    return answer


def encoded(body, encoding):
    def answer(server, conn, until):
        server.send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: %s\r\n"
                    b"Content-Length: %d\r\n\r\n" % (encoding, len(body)) + body)
    return answer


def drip(*, every, in_headers, total=10_000):
    """One byte every *every* seconds: in the headers, or in a declared body."""
    def answer(server, conn, until):
        if in_headers:
            server.send(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ")
        else:
            server.send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                        % total)
        for _ in range(total):
            if time.monotonic() > until:
                return
            time.sleep(every)
            server.send(conn, b"a")
    return answer
