"""``carenet view``: watch a scenario run in the browser, or look at finished results.

``carenet view [KEY=VALUE ...] [--port P] [--host H]`` serves a Mesa SolaraViz app
(:mod:`carenet.viz.app`) on 127.0.0.1 and prints its URL; ``carenet view DIR`` shows a
finished run or sweep folder (:mod:`carenet.viz.results`). Bad input (an override the
schema refuses, a port in use, a folder without results) ends with one line and exit 2
before the server starts.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

DEFAULT_PORT = 8765


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``view`` subcommand to the ``carenet`` parser."""
    v = sub.add_parser(
        "view",
        help="watch a scenario run in the browser, or view a results folder",
        description="Serve an interactive view on http://127.0.0.1:PORT/. Give Hydra "
        "overrides (structure=network population=small ...) for a live run, or the folder "
        "of a finished run or sweep to view its results.",
    )
    v.add_argument("args", nargs="*", help="overrides KEY=VALUE, or one results folder DIR")
    v.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    v.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; anything else is reachable by others)",
    )
    return v


def _fail(msg: str, code: int = 2) -> int:
    print(f"carenet: error: {msg}", file=sys.stderr)
    return code


def _check_port(host: str, port: int) -> str | None:
    """None if (host, port) can be bound now, else the reason in one line."""
    if not 0 < port < 65536:
        return f"--port: {port} is not allowed; expected a port from 1 to 65535"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"--host: {host!r} cannot be resolved ({exc.__class__.__name__}); give an address"
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(addr)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            return f"--port: {port} on {host} cannot be used ({why}); choose another with --port"
    return None


def cmd_view(args: argparse.Namespace) -> int:
    """``carenet view``: check the input, then serve the app until interrupted."""
    items = list(args.args)
    folder = None
    if len(items) == 1 and "=" not in items[0]:
        from .results import ResultsError, load

        try:
            load(items[0])
        except ResultsError as exc:
            return _fail(str(exc))
        folder = str(Path(items[0]).expanduser().resolve())
    else:
        bare = [x for x in items if "=" not in x]
        if bare:
            return _fail(
                f"view: {bare[0]!r} is neither KEY=VALUE nor the only argument; give "
                "overrides, or one results folder"
            )
        from carenet.sim.config import ConfigError

        from .app import model_params

        try:
            model_params(items)
        except ConfigError as exc:
            return _fail(str(exc))
    bad = _check_port(args.host, args.port)
    if bad:
        return _fail(bad)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"carenet: warning: binding {args.host}: anyone who can reach this machine can "
            "use the view",
            file=sys.stderr,
        )
    return serve(args.host, args.port, items if folder is None else [], folder)


def serve(host: str, port: int, overrides: list[str], folder: str | None) -> int:
    """Run the Solara server in this process until interrupted."""
    os.environ["SOLARA_APP"] = "carenet.viz.app"
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    os.environ["CARENET_VIEW_OVERRIDES"] = json.dumps(overrides)
    if folder:
        os.environ["CARENET_VIEW_DIR"] = folder
    else:
        os.environ.pop("CARENET_VIEW_DIR", None)
    import warnings

    import uvicorn
    from solara.server import settings

    # Solara warns on every page load that samesite=none cookies need https; the view
    # serves one local user over http, so that one warning is noise (nothing else hidden).
    warnings.filterwarnings(
        "ignore", message=r"Cookies with samesite=none require https", category=UserWarning
    )

    settings.main.mode = "production"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"carenet view: http://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(
        "solara.server.starlette:app", host=host, port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0 if server.started else _fail(f"--port: {port} on {host} could not be served", 2)
