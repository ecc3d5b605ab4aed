"""Serving: an HTTP server with dynamic batching, and scale-out on Ray (Serve for requests, Data for folders).

Heavy dependencies live behind extras (``yolopt[serve]``, ``yolopt[ray]``) and are imported only when used,
so ``import yolopt.serve`` itself costs nothing.
"""

from __future__ import annotations
