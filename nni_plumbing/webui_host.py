"""Which interfaces an experiment's NNI manager (REST server and web UI) listens on.

NNI 3.0's REST server listens on every interface with no authentication, so anyone who reaches the port can
stop an experiment or change it. Local experiments listen on 127.0.0.1 only, as Jupyter does: the manager is
started with ``NODE_OPTIONS=--require nni_plumbing/loopback.js``, a preload that binds a bare-port listen to
loopback. Remote training services need their trials to call back, so experiments that use one listen on
every interface. ``NAS_TOOLKIT_WEBUI_HOST`` (or ``run_experiment``'s ``webui_host``) overrides either way.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

ENV = "NAS_TOOLKIT_WEBUI_HOST"
LOOPBACK_JS = Path(__file__).resolve().with_name("loopback.js")
# Not about the host, but loaded the same way: NNI's 10 s for the tuner to connect, made 60 (see the file).
TUNER_PATIENCE_JS = Path(__file__).resolve().with_name("tuner_patience.js")
LOOPBACK = ("127.0.0.1", "localhost")
EVERYWHERE = ("0.0.0.0", "::")


def _platforms(config) -> list[str]:
    services = config.training_service
    services = services if isinstance(services, list) else [services]
    return [getattr(s, "platform", "local") for s in services]


def choose_host(config, host: str | None = None) -> str:
    """``host`` if given, else ``$NAS_TOOLKIT_WEBUI_HOST``, else every interface for a non-local training
    service and loopback for a local one. Only loopback or every interface: NNI's own client and the
    tuner reach the manager through ``localhost``."""
    from .experiments import ConfigError

    source = "webui_host"
    if host is None and os.environ.get(ENV):
        host, source = os.environ[ENV], ENV
    if host is None:
        return EVERYWHERE[0] if any(p != "local" for p in _platforms(config)) else LOOPBACK[0]
    if host not in LOOPBACK + EVERYWHERE:
        raise ConfigError(f"{source} must be 127.0.0.1 (loopback only) or 0.0.0.0 (every interface, for remote "
                          f"training services), got {host!r}")
    return host


def _require(path: Path) -> str:
    return f'--require "{path}"' if " " in str(path) else f"--require {path}"


def node_options(host: str, current: str = "") -> str:
    """``NODE_OPTIONS`` for the manager: ``current`` plus the loopback preload when ``host`` is loopback,
    and the tuner-patience preload always."""
    preloads = ([LOOPBACK_JS] if host in LOOPBACK else []) + [TUNER_PATIENCE_JS]
    for path in preloads:
        if str(path) not in current:
            current = f"{current} {_require(path)}".strip()
    return current


@contextlib.contextmanager
def manager_environment(host: str):
    """Within the block, processes started (NNI's manager) listen on ``host`` and wait up to 60 s for their
    tuner; the environment is restored after, since the manager keeps the copy it started with."""
    saved = {key: os.environ.get(key) for key in ("NODE_OPTIONS", ENV)}
    os.environ[ENV] = "127.0.0.1" if host in LOOPBACK else "0.0.0.0"
    options = node_options(host, os.environ.get("NODE_OPTIONS", ""))
    if options:
        os.environ["NODE_OPTIONS"] = options
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
