"""One running gtm: store, registry, probers, controller, DNS responder and API, wired.

``Runtime`` is what ``gtm run``, ``gtm demo``, the end-to-end tests and the benchmarks
start, so all of them exercise the same assembly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import signal
import time
from typing import Any

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import ApiServer, start_api
from gtm.api.tokens import tokens_from_config
from gtm.config.listen import Listen
from gtm.config.models import Config
from gtm.config.preflight import preflight
from gtm.controller.controller import Controller
from gtm.controller.plans import plan_checks, plan_services, store_for
from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook.runbooks import Runbooks
from gtm.dns.answers import ZoneAnswers
from gtm.dns.notify import Notifier
from gtm.dns.server import DnsServer
from gtm.dns.transfer import ZoneTransfers, transfer_key
from gtm.dns.versions import ZoneVersions
from gtm.errors import ConfigError, ListenError
from gtm.metrics import Metrics
from gtm.providers import build_provider
from gtm.registry.registry import Registry
from gtm.registry.store import Store
from gtm.registry.stores.sqlite import SqliteStore
from healthchecks.clock import Clock, LoopClock
from healthchecks.http import HttpClient
from healthchecks.lag import LagMonitor, descriptor_limit, descriptors_in_use
from healthchecks.result import Result
from healthchecks.scheduler import Check, Scheduler

log = logging.getLogger(__name__)

TICK = 1.0
"""Seconds between periodic re-decisions (intent expiry, fail-back dwell) and counts of
open descriptors."""

_raised: list[int] = []
"""The descriptor limit once raised: the process raises it only once."""


def raise_descriptor_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit, once per process.

    A prober that cannot open a socket judges nothing, so gtm starts with every
    descriptor the system lets it have (the common soft limit of 1,024 is easily taken
    by idle clients). The figure is logged with the line that says gtm is serving.

    Returns:
        The soft limit now in force.
    """
    if _raised:
        return _raised[0]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    _raised.append(soft)
    return soft


def describe_limit(limit: int) -> str:
    """A descriptor limit for the log: the number, or ``unlimited``."""
    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)


class Runtime:
    """Starts and stops every part of one gtm instance in the right order.

    Args:
        config: the validated configuration (store paths already resolved).
        clock: the one clock the scheduler, controller and runbooks read; the event
            loop's unless given.
    """

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self._clock: Clock = clock if clock is not None else LoopClock()
        self.started_at = 0.0
        self._store: Store | None = None
        self._registry: Registry | None = None
        self._controller: Controller | None = None
        self._scheduler: Scheduler | None = None
        self._http: HttpClient | None = None
        self._dns: DnsServer | None = None
        self._notifier: Notifier | None = None
        self._api: ApiServer | None = None
        self._reconciler: Reconciler | None = None
        self._runbooks: Runbooks | None = None
        self._checks: dict[str, Check] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._lag: LagMonitor | None = None
        self._locators_of: dict[str, list[str]] = {}
        self.metrics = Metrics()
        """This instance's metrics, served on ``/metrics``."""

    @property
    def registry(self) -> Registry:
        """The registry (after start)."""
        assert self._registry is not None, "Runtime.start() first"
        return self._registry

    @property
    def controller(self) -> Controller:
        """The controller (after start)."""
        assert self._controller is not None, "Runtime.start() first"
        return self._controller

    @property
    def reconciler(self) -> Reconciler:
        """The provider reconciler (after start)."""
        assert self._reconciler is not None, "Runtime.start() first"
        return self._reconciler

    @property
    def runbooks(self) -> Runbooks:
        """Planned-failover runs (after start)."""
        assert self._runbooks is not None, "Runtime.start() first"
        return self._runbooks

    @property
    def dns_port(self) -> int:
        """The DNS responder's bound port (useful when the config says port 0)."""
        assert self._dns is not None, "Runtime.start() first"
        return self._dns.port

    @property
    def api_port(self) -> int:
        """The API's bound port."""
        assert self._api is not None, "Runtime.start() first"
        return self._api.port

    async def start(self) -> None:
        """Check the secrets, claim the store, serve the API and DNS, then start probing.

        Whatever fails, the parts already started are stopped again before the error
        is raised, so a failed start holds no port and no claim on the store.

        Raises:
            ConfigError: A secret cannot be read or is unusable; ``problems`` lists every
                one, before anything is started.
            StoreInUse: Another running gtm holds the store.
            ListenError: ``dns.listen`` or ``api.listen`` cannot be listened on.
            GtmError: Another part could not start.
        """
        config = self.config
        self.started_at = time.time()
        preflight(config)
        descriptors = raise_descriptor_limit()
        try:
            self._store = store_for(config, exclusive=True)
            if isinstance(self._store, SqliteStore):
                self._store.on_write = self.metrics.record_store_write
            self._registry = await Registry.open(self._store, config.instance)
            plans = plan_services(config)
            self._controller = Controller(
                plans,
                self._registry,
                clock=self._clock,
                writer=config.instance,
                metrics=self.metrics,
            )
            self._reconciler = Reconciler(
                [
                    build_provider(name, spec, config.zone)
                    for name, spec in config.providers.items()
                ],
                self._registry,
                services=tuple(config.services),
                resync_interval=config.reconcile.resync_interval,
                retry_max=config.reconcile.retry_max,
                metrics=self.metrics,
            )
            self._runbooks = Runbooks(
                self._registry,
                self._controller,
                self._reconciler,
                self._probe_now,
                clock=self._clock,
            )
            # The API first: it starts silently, so when the DNS port is the one taken,
            # the refusal is the only line printed, as when the API's is.
            deps = ApiDeps(
                registry=self._registry,
                services=tuple(config.services),
                sites=tuple(config.sites),
                tokens=tokens_from_config(config.api),
                status=self.status,
                providers=self._reconciler.status,
                runbooks=self._runbooks,
                locators=self._controller.locators,
                metrics=self.metrics,
                serve_metrics=config.api.metrics,
            )
            try:
                self._api = await start_api(
                    make_app(deps),
                    config.api.listen.host,
                    config.api.listen.port,
                    limits=config.api.limits,
                )
            except ConfigError as exc:
                if not isinstance(exc.__cause__, OSError):
                    raise
                raise listen_error("api.listen", config.api.listen, exc.__cause__) from exc
            transfer = config.dns.transfer
            key = transfer_key(transfer.tsig)
            versions = (
                ZoneVersions(config.zone, self._registry.mappings(), limit=transfer.versions)
                if transfer.allow
                else None
            )
            answers = ZoneAnswers(
                config.zone,
                self._registry,
                ns=tuple(config.dns.ns),
                negative_ttl=config.dns.negative_ttl,
                keyring=key,
                versions=versions,
            )
            self._dns = DnsServer(
                answers,
                limits=config.dns.limits,
                rate_limit=config.dns.rate_limit,
                counts=self.metrics.dns,
                transfers=None
                if versions is None
                else ZoneTransfers(answers, versions, allow=transfer.allow, key=key),
            )
            try:
                await self._dns.start(config.dns.listen.host, config.dns.listen.port)
            except OSError as exc:
                raise listen_error("dns.listen", config.dns.listen, exc) from exc
            if transfer.notify:
                self._notifier = Notifier(answers, self._registry, transfer.notify, key=key)
                await self._notifier.start()
            self._http = HttpClient()
            self._scheduler = Scheduler(self._on_result, clock=self._clock)
            for locator_ids, check in plan_checks(config, self._http):
                self._locators_of[check.key] = locator_ids
                self._checks.update(dict.fromkeys(locator_ids, check))
                self._scheduler.add(check)
            await self._controller.start()
            # Measured before the first probe, so a stall is known when its results come.
            self._lag = LagMonitor(self._on_lag, clock=self._clock)
            await self._lag.start()
            await self._reconciler.start()
            await self._scheduler.start()
            await self._runbooks.start()
            self._ticker = asyncio.create_task(self._tick(), name="gtm-tick")
        except BaseException:
            await self.stop()
            raise
        log.info(
            "gtm %s serving zone %s: DNS on %s:%d, API on %s:%d, %d checks, open-file limit %s",
            config.instance,
            config.zone,
            config.dns.listen.host,
            self.dns_port,
            config.api.listen.host,
            self.api_port,
            len(self._locators_of),
            describe_limit(descriptors),
        )

    async def stop(self) -> None:
        """Stop probing first, then the controller, servers and store; safe to repeat."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runbooks is not None:
            await self._runbooks.stop()
        if self._scheduler is not None:
            await self._scheduler.stop()
            self._scheduler = None
        if self._lag is not None:
            await self._lag.stop()
            self._lag = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._controller is not None:
            await self._controller.stop()
        if self._reconciler is not None:
            await self._reconciler.stop()
        if self._api is not None:
            await self._api.close()
            self._api = None
        if self._notifier is not None:
            await self._notifier.close()
            self._notifier = None
        if self._dns is not None:
            await self._dns.close()
            self._dns = None
        if self._registry is not None:
            await self._registry.close()  # closes the store, giving up the claim
        elif self._store is not None:
            await self._store.close()  # claimed, but the registry did not open
        self._store = None

    def status(self) -> dict[str, Any]:
        """Controller facts for ``/healthz``."""
        controller = self._controller
        services = self.config.services
        known = [name for name in services if controller is not None and controller.known(name)]
        doc: dict[str, Any] = {
            "instance": self.config.instance,
            "uptime_s": round(time.time() - self.started_at, 3),
            "health_known": len(known),
            "checks": len(self._locators_of),
        }
        if controller is not None:
            doc["vantage"] = controller.vantage_status()
            doc["damping"] = controller.damping()
        return doc

    async def _probe_now(self, locator_id: str) -> tuple[bool, str]:
        check = self._checks[locator_id]
        result = await check.prober.probe(check.timeout)
        return result.ok, result.reason

    def _on_result(self, check: Check, result: Result) -> float | None:
        # The core's recheck rule (via the controller) is the only one: the scheduler
        # re-probes quickly exactly when it is told to here.
        if self._lag is not None:
            # A stall the lag monitor has not woken up to measure yet still counts.
            self.controller.observe_lag(self._lag.overdue())
        delays = [
            self.controller.observe(
                locator_id,
                result.ok,
                result.reason,
                result.started_at,
                late=result.late,
                fault=result.fault,
                latency=result.latency,
            )
            for locator_id in self._locators_of[check.key]
        ]
        # A check shared by several locators re-probes as soon as any of them wants it.
        wanted = [delay for delay in delays if delay is not None]
        return min(wanted) if wanted else None

    def _on_lag(self, lag: float) -> None:
        self.metrics.record_lag(lag)
        self.controller.observe_lag(lag)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.controller.observe_descriptors(descriptors_in_use(), descriptor_limit())
            if self._store is not None:
                self.controller.observe_store(self._store.busy_for())
            self.controller.refresh()


def listen_error(field: str, listen: Listen, exc: OSError) -> ListenError:
    """``exc``, raised binding ``listen``, as one line naming ``field`` and what to do.

    Args:
        field: The config field that names the address (``dns.listen``).
        listen: The address as configured.
        exc: What binding it raised.
    """
    code = exc.errno
    if code == errno.EADDRINUSE:
        why = f"address already in use (is another gtm running? stop it or change {field})"
    elif code == errno.EADDRNOTAVAIL:
        why = (
            f"address not available: {listen.host} is not an address of this host (change {field})"
        )
    elif code == errno.EACCES and 0 < listen.port < 1024:
        why = (
            f"permission denied: port {listen.port} is below 1024, which needs root or "
            f"CAP_NET_BIND_SERVICE (change {field}, or grant the capability)"
        )
    else:
        reason = os.strerror(code) if code else str(exc)
        why = f"{reason[:1].lower()}{reason[1:]} (change {field})"
    return ListenError(f"{field} {listen}: {why}", field=field, address=str(listen), errno=code)


async def run_forever(config: Config) -> None:
    """Run gtm until SIGINT or SIGTERM, then stop cleanly.

    Raises:
        ConfigError: A secret cannot be read or is unusable (every one is listed).
        StoreInUse: Another running gtm holds the store.
        ListenError: ``dns.listen`` or ``api.listen`` cannot be listened on.
    """
    runtime = Runtime(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
