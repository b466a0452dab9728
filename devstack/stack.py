"""Start and stop the local stack: Azurite, hub stand-in, issuer and functions host.

Each stand-in gives way to the real thing through settings alone. A hub
connection string and hub name, in the environment or local.settings.json,
replace the hub stand-in. A storage setting replaces Azurite, and AUTH_ISSUER
replaces the local issuer. Whatever this module starts, `stop` ends, also after
a failure.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.azurite import Azurite
from devstack.host import REPO_ROOT, FunctionsHost, load_local_settings
from devstack.hubstandin import HubStandIn
from devstack.issuer import LocalIssuer
from shared import settings
from shared.hub import reset_hub_client
from shared.store import reset_stores

logger = logging.getLogger("devstack.stack")

STATE_FILE = REPO_ROOT / ".devstack" / "stack.json"
# The stand-in's keys for runs on fixed ports, kept so that a connection string
# copied into local.settings.json still works after a restart.
HUB_KEYS_FILE = REPO_ROOT / ".devstack" / "hub-keys.json"
STORAGE_SETTINGS = (
    "PAYLOAD_STORAGE_CONNECTION_STRING",
    "PAYLOAD_STORAGE_ACCOUNT_URL",
    "AzureWebJobsStorage",
)
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
HUB_NAME = "securepush"


@dataclass
class Ports:
    """Ports on 127.0.0.1; 0 picks a free one."""

    host: int = 7071
    hub: int = 0
    issuer: int = 0
    azurite: int = 0


@dataclass
class LocalStack:
    """The running parts, and which of them this process started."""

    ports: Ports = field(default_factory=Ports)
    # False starts every local part whatever the settings contain (the demo needs
    # the stand-in's record of deliveries).
    honour_settings: bool = True
    # False starts only the parts, for `func start` to serve the functions.
    serve_functions: bool = True
    # True keeps the stand-in's keys in HUB_KEYS_FILE across runs.
    keep_hub_keys: bool = False
    # True records the parts in STATE_FILE for `make token` and the tests.
    publish_state: bool = False
    _owns_state: bool = False
    hub: HubStandIn | None = None
    issuer: LocalIssuer | None = None
    azurite: Azurite | None = None
    host: FunctionsHost | None = None
    _exit: ExitStack = field(default_factory=ExitStack)

    def start(self) -> LocalStack:
        """Start every part that the settings do not replace, then the host."""
        if self.honour_settings:
            load_local_settings(REPO_ROOT)
        try:
            self._start_storage()
            self._start_hub()
            self._start_issuer()
            forget_clients()
            if self.serve_functions:
                self.host = FunctionsHost(REPO_ROOT, self.ports.host)
                self.host.start()
                self._exit.callback(self.host.stop)
            if self.publish_state:
                self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what was started, newest first; safe to call twice."""
        self._exit.close()
        if self._owns_state:
            STATE_FILE.unlink(missing_ok=True)
            self._owns_state = False

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self.host is not None, "start() the stack first"
        return self.host.base_url

    def _start_storage(self) -> None:
        configured = [name for name in STORAGE_SETTINGS if os.environ.get(name)]
        if not self.honour_settings:
            for name in configured:
                del os.environ[name]
        elif configured and os.environ.get(configured[0]) != DEVELOPMENT_STORAGE:
            logger.info("storage: using %s from the settings", configured[0])
            return
        self.azurite = Azurite(port=self.ports.azurite)
        self.azurite.start()
        self._exit.callback(self.azurite.stop)
        os.environ["PAYLOAD_STORAGE_CONNECTION_STRING"] = self.azurite.connection_string
        logger.info("storage: Azurite on 127.0.0.1:%d", self.azurite.port)

    def _start_hub(self) -> None:
        if (
            self.honour_settings
            and os.environ.get("NOTIFICATION_HUB_CONNECTION_STRING")
            and os.environ.get("NOTIFICATION_HUB_NAME")
        ):
            logger.info(
                "hub: using NOTIFICATION_HUB_CONNECTION_STRING from the settings"
            )
            return
        keys = _load_hub_keys() if self.keep_hub_keys else None
        self.hub = HubStandIn(hub_name=HUB_NAME, port=self.ports.hub, keys=keys)
        if self.keep_hub_keys:
            _save_hub_keys(self.hub)
        self.hub.start()
        self._exit.callback(self.hub.stop)
        os.environ["NOTIFICATION_HUB_CONNECTION_STRING"] = self.hub.connection_string()
        os.environ["NOTIFICATION_HUB_NAME"] = HUB_NAME
        logger.info("hub: stand-in at %s", self.hub.base_url)

    def _start_issuer(self) -> None:
        if self.honour_settings and os.environ.get("AUTH_ISSUER"):
            logger.info("identity: using AUTH_ISSUER from the settings")
            return
        self.issuer = LocalIssuer(port=self.ports.issuer)
        self.issuer.start()
        self._exit.callback(self.issuer.stop)
        os.environ.update(self.issuer.auth_environment())
        logger.info("identity: local issuer at %s", self.issuer.issuer_url)

    def _write_state(self) -> None:
        owner = _state_owner()
        if owner is not None and owner != os.getpid():
            logger.warning(
                "%s belongs to the stack in process %d; make token keeps using it",
                STATE_FILE,
                owner,
            )
            return
        state: dict[str, Any] = {"pid": os.getpid()}
        if self.host is not None:
            state["functions"] = self.host.base_url
        if self.issuer is not None:
            state["issuer"] = self.issuer.issuer_url
        if self.hub is not None:
            state["hub"] = self.hub.base_url
        STATE_FILE.parent.mkdir(exist_ok=True)
        STATE_FILE.write_text(json.dumps(state, indent=2), encoding="utf-8")
        self._owns_state = True


def _state_owner() -> int | None:
    """Return the process id that wrote STATE_FILE, if that process still runs."""
    try:
        pid = int(json.loads(STATE_FILE.read_text(encoding="utf-8"))["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid


def _load_hub_keys() -> dict[str, str] | None:
    if not HUB_KEYS_FILE.exists():
        return None
    keys: dict[str, str] = json.loads(HUB_KEYS_FILE.read_text(encoding="utf-8"))
    return keys


def _save_hub_keys(hub: HubStandIn) -> None:
    keys = {name: rule.key for name, rule in hub.rules.items()}
    HUB_KEYS_FILE.parent.mkdir(exist_ok=True)
    HUB_KEYS_FILE.write_text(json.dumps(keys, indent=2), encoding="utf-8")
    HUB_KEYS_FILE.chmod(0o600)


def local_settings(stack: LocalStack) -> dict[str, str]:
    """Return the settings that point an app at the stack's local parts."""
    values = {"FUNCTIONS_WORKER_RUNTIME": "python"}
    names = (
        "PAYLOAD_STORAGE_CONNECTION_STRING",
        "NOTIFICATION_HUB_CONNECTION_STRING",
        "NOTIFICATION_HUB_NAME",
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "AUTH_JWKS_URL",
    )
    values.update({name: os.environ[name] for name in names if name in os.environ})
    # The Functions host keeps its own state (timer leases) in blob storage,
    # which Azurite's blob service on its default port provides.
    values["AzureWebJobsStorage"] = DEVELOPMENT_STORAGE
    return values


def forget_clients() -> None:
    """Drop settings and clients cached in this process, which name old ports."""
    settings.clear_cache()
    reset_stores()
    reset_hub_client()


def read_state() -> dict[str, Any]:
    """Return what a running `make run` wrote, or raise with what to do."""
    if _state_owner() is None:
        raise SystemExit("No local stack is running: start one with `make run`.")
    data: dict[str, Any] = json.loads(Path(STATE_FILE).read_text(encoding="utf-8"))
    return data
