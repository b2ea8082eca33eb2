"""One running gtm: store, registry, probers, controller, DNS responder and API, wired.

``Runtime`` is what ``gtm run``, ``gtm demo``, the end-to-end tests and the benchmarks
start, so all of them exercise the same assembly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import resource
import signal
import time
from typing import Any

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import ApiServer, start_api
from gtm.api.tokens import tokens_from_config
from gtm.cluster.leadership import LEADER
from gtm.cluster.member import ClusterMember
from gtm.cluster.session import SessionParams
from gtm.cluster.verdicts import Voting
from gtm.config.listen import Listen
from gtm.config.models import Config
from gtm.config.preflight import preflight
from gtm.config.secrets import resolve_secret
from gtm.config.stores import ConsulStoreConfig
from gtm.controller.controller import Controller, ServicePlan
from gtm.controller.load_reading import LoadReaders
from gtm.controller.plans import load_sources, plan_checks, plan_services, store_for
from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook.runbooks import Runbooks
from gtm.controller.vantages import Vantages
from gtm.dns.answers import ZoneAnswers
from gtm.dns.notify import Notifier
from gtm.dns.server import DnsServer
from gtm.dns.transfer import ZoneTransfers, transfer_key
from gtm.dns.versions import ZoneVersions
from gtm.errors import ConfigError, GtmError, ListenError
from gtm.metrics import Metrics
from gtm.providers import build_provider
from gtm.registry.registry import MAPPINGS, Registry
from gtm.registry.store import Store
from gtm.registry.stores.consul import ConsulStore
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
        self._loads: LoadReaders | None = None
        self._lag: LagMonitor | None = None
        self._locators_of: dict[str, list[str]] = {}
        # The keys of the checks that probe each site's locators, for a sweep.
        self._checks_at: dict[str, dict[str, None]] = {}
        self._member: ClusterMember | None = None
        self._voting: Voting | None = None
        self._taking_over: asyncio.Task[None] | None = None
        self._stepping_down: asyncio.Task[None] | None = None
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
    def member(self) -> ClusterMember | None:
        """This instance's cluster membership; None for a lone instance."""
        return self._member

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
            # Instances of a cluster share the store; a lone one claims it.
            self._store = store_for(config, exclusive=config.cluster is None)
            if isinstance(self._store, SqliteStore):
                self._store.on_write = self.metrics.record_store_write
            member = self._member = self._join(self._store)
            self._registry = await Registry.open(self._store, config.instance)
            if member is not None:
                await member.start()
            plans = plan_services(config)
            vantages = self._vantages(member, plans)
            self._controller = Controller(
                plans,
                self._registry,
                clock=self._clock,
                writer=config.instance,
                metrics=self.metrics,
                acting_as=member.acting_as if member is not None else None,
                vantages=vantages,
                sweep=self._sweep,
            )
            if self._voting is not None and member is not None:
                await self._voting.start(self._controller.peers)
                member.vantages = self._controller.vantages_status
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
                acting=member.acting if member is not None else None,
            )
            self._runbooks = Runbooks(
                self._registry,
                self._controller,
                self._reconciler,
                self._probe_now,
                clock=self._clock,
                leading=member.acting if member is not None else None,
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
                releases=self._controller.releases,
                metrics=self.metrics,
                serve_metrics=config.api.metrics,
                cluster=member.describe if member is not None else None,
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
            source = config.cluster.probe_from if config.cluster is not None else None
            self._http = HttpClient(None if source is None else str(source))
            self._scheduler = Scheduler(self._on_result, clock=self._clock)
            for locator_ids, check in plan_checks(config, self._http):
                self._locators_of[check.key] = locator_ids
                self._checks.update(dict.fromkeys(locator_ids, check))
                self._scheduler.add(check)
            for name, service in config.services.items():
                for locator in service.locators:
                    check_key = self._checks[locator.id_in(name)].key
                    self._checks_at.setdefault(locator.site, {})[check_key] = None
            await self._controller.start()
            # Measured before the first probe, so a stall is known when its results come.
            self._lag = LagMonitor(self._on_lag, clock=self._clock)
            await self._lag.start()
            await self._reconciler.start()
            self._loads = LoadReaders(
                load_sources(config, self._reconciler.providers),
                self._registry,
                self._controller,
                self._clock,
            )
            await self._loads.start()
            await self._scheduler.start()
            if member is None:
                await self._runbooks.start()
            else:
                self._on_leadership()  # it may have led since member.start()
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
        """Give up the lead (so another instance takes over at once), stop probing, then
        the controller, servers and store; safe to repeat."""
        if self._voting is not None:
            await self._voting.stop()
            self._voting = None
        if self._member is not None:
            await self._member.stop()
        for task in (self._ticker, self._taking_over, self._stepping_down):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._ticker = self._taking_over = self._stepping_down = None
        if self._runbooks is not None:
            await self._runbooks.stop()
        if self._loads is not None:
            await self._loads.stop()
            self._loads = None
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
        if self._member is not None:
            found = self._member.leadership.authority()
            doc["cluster"] = {
                "acting": found.acting,
                "term": self._member.leadership.term or None,
                "why": found.why,
            }
        if controller is not None:
            doc["vantage"] = controller.vantage_status()
            doc["damping"] = controller.damping()
            doc["bursts"] = controller.bursts()
        return doc

    def _join(self, store: Store) -> ClusterMember | None:
        """This instance's membership of the cluster, when the config has one.

        Every mapping write becomes a transaction fenced by the leader lock.
        """
        cluster = self.config.cluster
        if cluster is None:
            return None
        if not isinstance(store, ConsulStore):
            raise ConfigError("cluster: needs a Consul store (store: {type: consul})")
        listen = self.config.api.listen
        member = ClusterMember(
            store,
            store.prefix,
            self.config.instance,
            cluster.advertise or f"{listen.host}:{listen.port}",
            SessionParams(cluster.check_ttl, cluster.pass_interval, cluster.lock_delay),
            confirm_interval=cluster.confirm_interval,
            margin=cluster.margin,
            clock=self._clock,
            on_change=self._on_leadership,
        )
        store.fence(MAPPINGS, LEADER, member.fencing_session)
        return member

    def _vantages(
        self, member: ClusterMember | None, plans: dict[str, ServicePlan]
    ) -> Vantages | None:
        """This instance's vantage among the cluster's, publishing through its session;
        None for a lone instance, whose own verdicts decide."""
        cluster, store = self.config.cluster, self.config.store
        if member is None or cluster is None or not isinstance(store, ConsulStoreConfig):
            return None
        token = None if store.token is None else resolve_secret(store.token).get_secret_value()
        self._voting = Voting(
            store.address,
            store.prefix,
            self.config.instance,
            member.session,
            token=token,
            datacenter=store.datacenter,
        )
        locators = [spec.id for plan in plans.values() for spec in plan.policy.locators]
        return Vantages(
            self.config.instance,
            locators,
            cluster.quorum,
            sink=self._voting.board,
            disagree_after=cluster.disagree_after,
        )

    def _on_leadership(self) -> None:
        """Start acting for the cluster, or stop: decisions, providers and runs follow."""
        member = self._member
        if member is None or self._controller is None or self._runbooks is None:
            return  # still starting: start() calls again once every part is there
        if member.acting():
            log.warning(
                "gtm %s leads (term %d): deciding, reconciling providers, carrying out runs",
                self.config.instance,
                member.leadership.term,
            )
            self._controller.refresh()
            self.reconciler.resume()
            self._take_over()
        elif self._stepping_down is None or self._stepping_down.done():
            log.warning("gtm %s does not lead: serving and probing only", self.config.instance)
            # Runs stop where they are; the next leader rolls them back.
            self._stepping_down = asyncio.create_task(self._runbooks.stop(), name="step-down")

    def _take_over(self) -> None:
        """Carry out or roll back the runs this leader inherits, once at a time."""
        if self._runbooks is not None and (self._taking_over is None or self._taking_over.done()):
            self._taking_over = asyncio.create_task(self._inherit(), name="take-over")

    async def _inherit(self) -> None:
        assert self._runbooks is not None
        try:
            await self._runbooks.take_over()
        except GtmError as exc:
            log.warning("runs not taken over yet: %s", exc)

    async def _probe_now(self, locator_id: str) -> tuple[bool, str]:
        check = self._checks[locator_id]
        result = await check.prober.probe(check.timeout)
        return result.ok, result.reason

    def _on_result(self, check: Check, result: Result) -> float | None:
        # The core's recheck rule (via the controller) is the only one: the scheduler
        # re-probes quickly exactly when it is told to here.
        if self._lag is not None:
            # A stall the lag monitor has not woken up to measure yet still counts (and
            # when its sleep is not over yet, there is nothing to measure).
            overdue = self._lag.overdue()
            if overdue:
                self.controller.observe_lag(overdue, self._lag.interval)
        delays = self.controller.observe_shared(
            self._locators_of[check.key],
            result.ok,
            result.reason,
            result.started_at,
            late=result.late,
            fault=result.fault,
            latency=result.latency,
            release=result.release,
            load=result.load,
        )
        # A check shared by several locators re-probes as soon as any of them wants it.
        wanted = [delay for delay in delays if delay is not None]
        return min(wanted) if wanted else None

    def _sweep(self, site: str) -> None:
        """Probe every check of ``site`` now: one of its locators just went down."""
        if self._scheduler is None:
            return
        keys = self._checks_at.get(site, {})
        log.info("a locator at %s went down: probing its %d check(s) now", site, len(keys))
        for key in keys:
            self._scheduler.expedite(key)

    def _on_lag(self, lag: float) -> None:
        self.metrics.record_lag(lag)
        self.controller.observe_lag(lag, self._lag.interval if self._lag is not None else 0.0)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.controller.observe_descriptors(descriptors_in_use(), descriptor_limit())
            if self._store is not None:
                self.controller.observe_store(self._store.busy_for())
            self.controller.tick()
            if self._member is not None and self._member.acting():
                self._take_over()  # runs posted to other instances since


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
    # What start-up built (the config, the plans, every service's state) lives as long as
    # the process: frozen, it is left out of the collector's full passes, which with ten
    # thousand services would otherwise walk it all again and again.
    gc.freeze()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
