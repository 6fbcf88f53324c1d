"""Serve a published zoo folder over the Hugging Face Hub's HTTP API, read-only, for offline use.

    python -m iqlzoo.serve_zoo zoo/ [--port 8765] [--host 127.0.0.1]

Then, in another shell or process (``huggingface_hub`` reads the variable when it is first imported)::

    export HF_ENDPOINT=http://127.0.0.1:8765
    python -c 'from iqlzoo import IQL; print(IQL.load_from_hub("iqlzoo/IQL-antmaze-umaze-v0"))'

Every ``zoo/{org}/{name}/`` folder (as written by ``python -m benchmarks.publish``) is served as the repo
``{org}/{name}``; uploads are refused. ``--port 0`` picks a free port; the first line printed is the endpoint.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from iqlzoo.hub_server import ZooServer
from iqlzoo.zoo import DEFAULT_HOST, DEFAULT_PORT


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (Ctrl-C); 2 when the folder holds no repos or the port is taken."""
    parser = argparse.ArgumentParser(prog="python -m iqlzoo.serve_zoo", description=__doc__.strip().splitlines()[0])
    parser.add_argument("zoo", type=Path, help="folder of {org}/{name}/ repos, e.g. zoo/")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s; 0: a free one)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s: this machine only)")
    args = parser.parse_args(argv)
    try:
        server = ZooServer(args.zoo, host=args.host, port=args.port, record_requests=False).start()
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    endpoint = server.endpoint
    print(endpoint, flush=True)
    print(f"Serving {len(server.repos)} repos from {args.zoo.resolve()} read-only. Use them with:\n"
          f"    export HF_ENDPOINT={endpoint}\n"
          f"    python -c 'from iqlzoo import IQL; IQL.load_from_hub(\"{next(iter(sorted(server.repos)))}\")'\n"
          f"Repos: {', '.join(sorted(server.repos))}\nCtrl-C stops the server.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
