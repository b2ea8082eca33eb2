"""One running gtm: store, registry, probers, controller, DNS responder and API, wired.

``Runtime`` is what ``gtm run``, ``gtm demo``, the end-to-end tests and the benchmarks
start, so all of them exercise the same assembly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import ApiServer, start_api
from gtm.api.tokens import tokens_from_config
from gtm.config.models import Config
from gtm.controller.controller import Controller
from gtm.controller.plans import plan_checks, plan_services, store_for
from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook import Runbooks
from gtm.dns.answers import ZoneAnswers
from gtm.dns.server import DnsServer
from gtm.providers import build_provider
from gtm.registry.registry import Registry
from healthchecks.http import HttpClient
from healthchecks.result import Result
from healthchecks.scheduler import Check, Scheduler

log = logging.getLogger(__name__)

TICK = 1.0
"""Seconds between periodic re-decisions (intent expiry, fail-back dwell)."""


class Runtime:
    """Starts and stops every part of one gtm instance in the right order.

    Args:
        config: the validated configuration (store paths already resolved).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_at = 0.0
        self._registry: Registry | None = None
        self._controller: Controller | None = None
        self._scheduler: Scheduler | None = None
        self._http: HttpClient | None = None
        self._dns: DnsServer | None = None
        self._api: ApiServer | None = None
        self._reconciler: Reconciler | None = None
        self._runbooks: Runbooks | None = None
        self._checks: dict[str, Check] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._locators_of: dict[str, list[str]] = {}

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
        """Open the store, then serve DNS and the API, then start probing."""
        config = self.config
        self.started_at = time.time()
        try:
            store = store_for(config)
            self._registry = await Registry.open(store, config.instance)
            plans = plan_services(config)
            self._controller = Controller(plans, self._registry, writer=config.instance)
            self._reconciler = Reconciler(
                [
                    build_provider(name, spec, config.zone)
                    for name, spec in config.providers.items()
                ],
                self._registry,
                services=tuple(config.services),
                resync_interval=config.reconcile.resync_interval,
                retry_max=config.reconcile.retry_max,
            )
            self._runbooks = Runbooks(
                self._registry, self._controller, self._reconciler, self._probe_now
            )
            answers = ZoneAnswers(
                config.zone,
                self._registry,
                ns=tuple(config.dns.ns),
                negative_ttl=config.dns.negative_ttl,
            )
            self._dns = DnsServer(answers)
            await self._dns.start(config.dns.listen.host, config.dns.listen.port)
            deps = ApiDeps(
                registry=self._registry,
                services=tuple(config.services),
                sites=tuple(config.sites),
                tokens=tokens_from_config(config.api),
                status=self.status,
                providers=self._reconciler.status,
                runbooks=self._runbooks,
            )
            self._api = await start_api(
                make_app(deps), config.api.listen.host, config.api.listen.port
            )
            self._http = HttpClient()
            self._scheduler = Scheduler(self._on_result)
            for locator_ids, check in plan_checks(config, self._http):
                self._locators_of[check.key] = locator_ids
                self._checks.update(dict.fromkeys(locator_ids, check))
                self._scheduler.add(check)
            await self._controller.start()
            await self._reconciler.start()
            await self._scheduler.start()
            await self._runbooks.start()
            self._ticker = asyncio.create_task(self._tick(), name="gtm-tick")
        except BaseException:
            await self.stop()
            raise
        log.info(
            "gtm %s serving zone %s: DNS on %s:%d, API on %s:%d, %d checks",
            config.instance,
            config.zone,
            config.dns.listen.host,
            self.dns_port,
            config.api.listen.host,
            self.api_port,
            len(self._locators_of),
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
        if self._dns is not None:
            await self._dns.close()
            self._dns = None
        if self._registry is not None:
            await self._registry.close()

    def status(self) -> dict[str, Any]:
        """Controller facts for ``/healthz``."""
        controller = self._controller
        services = self.config.services
        known = [name for name in services if controller is not None and controller.known(name)]
        return {
            "instance": self.config.instance,
            "uptime_s": round(time.time() - self.started_at, 3),
            "health_known": len(known),
            "checks": len(self._locators_of),
        }

    async def _probe_now(self, locator_id: str) -> tuple[bool, str]:
        check = self._checks[locator_id]
        result = await check.prober.probe(check.timeout)
        return result.ok, result.reason

    def _on_result(self, check: Check, result: Result) -> float | None:
        delays = [
            self.controller.observe(locator_id, result.ok, result.reason, result.started_at)
            for locator_id in self._locators_of[check.key]
        ]
        # A check shared by several locators re-probes as soon as any of them wants it.
        wanted = [delay for delay in delays if delay is not None]
        return min(wanted) if wanted else None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.controller.refresh()


async def run_forever(config: Config) -> None:
    """Run gtm until SIGINT or SIGTERM, then stop cleanly."""
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
