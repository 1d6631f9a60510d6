"""Server-sent events from a pipeline's text iterator (``generate_stream``), one token at a
time, with the model off the event loop.

The iterator runs on a thread of its own and hands each text to the event loop, then waits
until the loop has sent it and seen the client still there: a client that disconnects stops
its generation at the next token, and the iterator is closed (its model stops where it is).

Events (each ``data`` a JSON object, UTF-8 as it is, not ``\\u`` escapes):

- ``token``: ``{"text": the text so far, "piece": what it adds to the previous text}``;
  a detokenizer may rewrite the end of the previous text (a word level's spacing), so
  ``text`` is the one to show and ``piece`` the suffix after the part both texts share;
- ``done``: ``{"model", "text", "tokens"}`` after the last token;
- ``error``: ``{"error": {"type", "message"}}`` if the model fails mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

log = logging.getLogger("rnnkit.serve")


def event(kind: str, data: dict[str, Any]) -> str:
    """One server-sent event: its name and its data as one line of JSON."""
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def new_piece(previous: str, text: str) -> str:
    """What ``text`` adds after the start it shares with ``previous``."""
    return text[len(os.path.commonprefix([previous, text])):]


class _Relay:
    """The thread that takes texts from the iterator, one each time the loop asks."""

    def __init__(self, texts: Iterator[str], loop: asyncio.AbstractEventLoop) -> None:
        self.texts, self.loop = texts, loop
        self.arrived: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.more, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self.run, name="rnnkit-stream", daemon=True)

    def deliver(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.arrived.put_nowait, (kind, value))
        except RuntimeError:  # the loop has closed: nobody is listening any more
            self.stop.set()

    def run(self) -> None:
        try:
            for text in self.texts:
                self.deliver("text", text)
                self.more.wait()
                self.more.clear()
                if self.stop.is_set():
                    return
        except Exception as error:  # noqa: BLE001 (handed to the client as an error event)
            self.deliver("error", error)
        finally:
            self.texts.close()
            self.deliver("end", None)

    def ask(self) -> None:
        self.more.set()

    def cancel(self) -> None:
        self.stop.set()
        self.more.set()


async def stream_events(model: str, texts: Iterator[str],
                        is_disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """The events of one stream; ``is_disconnected`` is asked after each token, and the
    iterator's thread stops at the first True (or when this generator is closed)."""
    relay = _Relay(texts, asyncio.get_running_loop())
    relay.thread.start()
    text, tokens = "", 0
    try:
        while True:
            kind, value = await relay.arrived.get()
            if kind == "end":
                yield event("done", {"model": model, "text": text, "tokens": tokens})
                return
            if kind == "error":
                log.error("model %r failed while streaming", model, exc_info=value)
                yield event("error", {"error": {
                    "type": "internal_error",
                    "message": f"model {model!r} failed on this request; the server's log "
                               "has the details"}})
                return
            if await is_disconnected():
                return
            piece, text, tokens = new_piece(text, value), value, tokens + 1
            yield event("token", {"text": text, "piece": piece})
            relay.ask()
    finally:
        relay.cancel()
