"""A TCP server on the loopback that stands where Redis should be, for the faults of a Redis
that is away: real sockets and real timeouts, no mock of the client.

Silent, it accepts connections and never answers (a hung Redis, or one behind a dead
network path). ``relay_to(url)`` makes it pipe the connections it accepts from then on
to a real Redis: Redis is back. ``accepted`` counts the connections it took, i.e. the
times Tollgate tried Redis.
"""

import socket
import threading
from urllib.parse import urlsplit


class StandInRedis:
    def __init__(self):
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.url = f"redis://127.0.0.1:{self._server.getsockname()[1]}/0"
        self.accepted = 0
        self._target = None
        self._sockets = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stopped.set()
        self._thread.join()
        self._server.close()
        for sock in self._sockets:
            sock.close()

    def relay_to(self, url: str) -> None:
        parts = urlsplit(url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)

    def _serve(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            self.accepted += 1
            self._sockets.append(conn)
            if self._target is not None:
                upstream = socket.create_connection(self._target)
                self._sockets.append(upstream)
                for src, dst in ((conn, upstream), (upstream, conn)):
                    threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the other side closed: the test is over
