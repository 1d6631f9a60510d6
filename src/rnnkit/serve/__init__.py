"""``rnnkit serve``: trained models behind a versioned JSON API (FastAPI), with dynamic
batching per model. :func:`rnnkit.serve.app.create_app` builds the application from loaded
pipelines and :class:`ServeSettings`; this package's root imports neither FastAPI nor torch,
so the command line can read the settings' defaults without them."""

from rnnkit.serve.settings import ServeSettings

__all__ = ["ServeSettings"]
