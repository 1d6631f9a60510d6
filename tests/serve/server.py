"""A real server for the tests that need one (a client that disconnects, a browser): uvicorn
in a background thread on a free loopback port, stopped at teardown."""

import contextlib
import socket
import threading
import time

import pytest

STARTUP_SECONDS = 20


@contextlib.contextmanager
def running(app):
    """Serve ``app`` on 127.0.0.1 at a free port; yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the test server did not start on port {port} within "
                        f"{STARTUP_SECONDS} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
