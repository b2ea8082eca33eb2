"""ZoneAnswers without sockets: every rule of the zone, the cache and malformed input."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.update
import pytest
from dns.rdatatype import RdataType

from gtm.core.model import NEVER, Action, Locator, Mapping, State
from gtm.dns import ZoneAnswers
from gtm.dns.cache import AnswerCache
from gtm.dns.records import LazyNode, service_builders, service_nodes
from gtm.errors import StoreUnavailable

if TYPE_CHECKING:
    from conftest import FakeSource

ZONE = "gtm.example.test."
SERIAL = 170_000_000_000 % 2**32  # the conftest clock, in hundredths of a second
MakeAnswers = Callable[..., ZoneAnswers]


def ask(
    answers: ZoneAnswers,
    name: str,
    rdtype: str = "A",
    *,
    max_udp: int | None = 1232,
    **query_options: object,
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **query_options)  # type: ignore[arg-type]
    wire = answers.respond(query.to_wire(), max_udp=max_udp)
    assert wire is not None
    response = dns.message.from_wire(wire)
    assert query.is_response(response)
    return response


def texts(response: dns.message.Message, section: str = "answer") -> set[str]:
    return {rd.to_text() for rrset in getattr(response, section) for rd in rrset}


def many_locators(count: int) -> Mapping:
    return Mapping(
        service="big",
        version=1,
        epoch=1,
        ttl=30,
        active_site="aws-use1",
        locators=tuple(
            Locator(
                f"big@aws-use1/{i}",
                "aws-use1",
                f"10.0.{i // 250}.{i % 250 + 1}",
                443,
                1,
                1,
                State.UP,
            )
            for i in range(count)
        ),
    )


def all_down(mapping: Mapping, action: Action) -> Mapping:
    return dataclasses.replace(
        mapping,
        locators=tuple(
            dataclasses.replace(loc, state=State.DOWN) if loc.priority < NEVER else loc
            for loc in mapping.locators
        ),
        action=action,
    )


class TestServiceNames:
    def test_a_holds_the_best_ipv4_locators(self, answers: ZoneAnswers) -> None:
        response = ask(answers, "billing." + ZONE)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.flags & dns.flags.AA
        assert texts(response) == {"192.0.2.10"}
        assert response.answer[0].ttl == 30

    def test_aaaa_holds_the_best_ipv6_locators(self, answers: ZoneAnswers) -> None:
        assert texts(ask(answers, "billing." + ZONE, "AAAA")) == {"2001:db8::10"}

    def test_srv_lists_every_usable_locator_with_a_per_site_target(
        self, answers: ZoneAnswers
    ) -> None:
        assert texts(ask(answers, "billing." + ZONE, "SRV")) == {
            "1 100 443 aws-use1.billing.gtm.example.test.",
            "2 50 8443 gcp-euw1.billing.gtm.example.test.",
        }

    def test_srv_targets_hold_their_sites_usable_addresses(self, answers: ZoneAnswers) -> None:
        assert texts(ask(answers, "aws-use1.billing." + ZONE)) == {"192.0.2.10"}
        assert texts(ask(answers, "aws-use1.billing." + ZONE, "AAAA")) == {"2001:db8::10"}
        assert texts(ask(answers, "gcp-euw1.billing." + ZONE)) == {"198.51.100.20"}

    def test_sites_without_usable_locators_have_no_name(self, answers: ZoneAnswers) -> None:
        for site in ("dc-paris", "lab"):
            response = ask(answers, f"{site}.billing.{ZONE}")
            assert response.rcode() == dns.rcode.NXDOMAIN

    def test_txt_gives_version_epoch_and_active_site(self, answers: ZoneAnswers) -> None:
        (rrset,) = ask(answers, "billing." + ZONE, "TXT").answer
        (rdata,) = rrset
        assert rdata.strings == (b"version=7", b"epoch=3", b"active=aws-use1")

    def test_txt_says_dash_without_an_active_site(
        self, make_answers: MakeAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        answers = make_answers()
        source.publish(dataclasses.replace(billing, active_site=None))
        (rrset,) = ask(answers, "billing." + ZONE, "TXT").answer
        assert next(iter(rrset)).strings[-1] == b"active=-"

    def test_names_match_whatever_their_case(self, answers: ZoneAnswers) -> None:
        response = ask(answers, "BiLLinG.GTM.Example.TEST.")
        assert texts(response) == {"192.0.2.10"}
        assert response.question[0].name.to_text() == "BiLLinG.GTM.Example.TEST."
        assert texts(ask(answers, "AWS-USE1.billing." + ZONE.upper(), "AAAA")) == {"2001:db8::10"}

    def test_a_type_without_data_is_nodata_with_soa(self, answers: ZoneAnswers) -> None:
        response = ask(answers, "billing." + ZONE, "MX")
        assert response.rcode() == dns.rcode.NOERROR
        assert response.flags & dns.flags.AA
        assert response.answer == []
        (soa,) = response.authority
        assert soa.rdtype == RdataType.SOA
        assert soa.ttl == 5

    def test_any_gets_the_txt_alone(self, answers: ZoneAnswers) -> None:
        response = ask(answers, "billing." + ZONE, "ANY")
        assert [rrset.rdtype for rrset in response.answer] == [RdataType.TXT]

    def test_host_name_locators_are_srv_targets_but_not_addresses(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        elb = Locator(
            "billing@aws-usw2/elb", "aws-usw2", "lb.aws.example.net", 443, 1, 100, State.UP
        )
        source.publish(dataclasses.replace(billing, locators=(elb,)))
        assert texts(ask(answers, "billing." + ZONE, "SRV")) == {"1 100 443 lb.aws.example.net."}
        assert ask(answers, "billing." + ZONE).answer == []
        assert ask(answers, "aws-usw2.billing." + ZONE).rcode() == dns.rcode.NXDOMAIN

    def test_locators_that_cannot_be_named_stay_out_of_srv(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        odd = (
            Locator("billing@pärïs/lb-1", "pärïs", "192.0.2.50", 443, 1, 100, State.UP),
            Locator("billing@x/lb-1", "x", "bad..host", 443, 1, 100, State.UP),
        )
        source.publish(dataclasses.replace(billing, locators=billing.locators + odd))
        assert texts(ask(answers, "billing." + ZONE, "SRV")) == {
            "1 100 443 aws-use1.billing.gtm.example.test.",
            "2 50 8443 gcp-euw1.billing.gtm.example.test.",
        }
        assert texts(ask(answers, "billing." + ZONE)) == {"192.0.2.10", "192.0.2.50"}


class TestApex:
    def test_soa(self, answers: ZoneAnswers) -> None:
        response = ask(answers, ZONE, "SOA")
        (rrset,) = response.answer
        (soa,) = rrset
        assert response.flags & dns.flags.AA
        assert soa.mname.to_text() == "ns1." + ZONE
        assert soa.rname.to_text() == "hostmaster." + ZONE
        assert soa.serial == SERIAL
        assert soa.minimum == 5

    def test_ns_lists_every_name_server_under_the_zone(self, answers: ZoneAnswers) -> None:
        assert texts(ask(answers, ZONE, "NS")) == {"ns1." + ZONE, "ns2." + ZONE}

    def test_any_at_the_apex_gets_the_soa_alone(self, answers: ZoneAnswers) -> None:
        response = ask(answers, ZONE, "ANY")
        assert [rrset.rdtype for rrset in response.answer] == [RdataType.SOA]

    def test_a_zone_needs_a_name_server(self, source: FakeSource) -> None:
        with pytest.raises(ValueError, match="name server"):
            ZoneAnswers(ZONE, source, ns=())

    @pytest.mark.parametrize("zone", [".", ""])
    def test_the_root_is_not_a_zone_we_serve(self, source: FakeSource, zone: str) -> None:
        with pytest.raises(ValueError, match="root"):
            ZoneAnswers(zone, source)


class TestNegativeAnswers:
    @pytest.mark.parametrize(
        "name", ["payroll." + ZONE, "a.b.billing." + ZONE, "x.aws-use1.billing." + ZONE]
    )
    def test_unknown_names_are_nxdomain_with_soa(self, answers: ZoneAnswers, name: str) -> None:
        response = ask(answers, name)
        assert response.rcode() == dns.rcode.NXDOMAIN
        assert response.flags & dns.flags.AA
        (soa,) = response.authority
        assert soa.rdtype == RdataType.SOA
        assert soa.ttl == 5
        assert next(iter(soa)).serial == SERIAL

    @pytest.mark.parametrize(
        ("name", "rdtype", "rdclass"),
        [
            ("example.com.", "A", "IN"),
            ("example.test.", "SOA", "IN"),
            ("billing." + ZONE, "TXT", "CH"),
            (ZONE, "AXFR", "IN"),
        ],
    )
    def test_outside_the_zone_is_refused(
        self, answers: ZoneAnswers, name: str, rdtype: str, rdclass: str
    ) -> None:
        response = ask(answers, name, rdtype, rdclass=rdclass)
        assert response.rcode() == dns.rcode.REFUSED
        assert not response.flags & dns.flags.AA
        assert response.answer == response.authority == []


class TestAllDownActions:
    def test_stay_answers_with_the_active_site(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        source.publish(all_down(billing, Action.STAY))
        assert texts(ask(answers, "billing." + ZONE)) == {"192.0.2.10"}
        assert texts(ask(answers, "billing." + ZONE, "SRV")) == {
            "1 100 443 aws-use1.billing.gtm.example.test."
        }

    def test_open_answers_with_every_locator_below_never(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        source.publish(all_down(billing, Action.OPEN))
        assert texts(ask(answers, "billing." + ZONE)) == {
            "192.0.2.10",
            "198.51.100.20",
            "203.0.113.30",
        }

    def test_nxdomain_hides_the_service(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        source.publish(all_down(billing, Action.NXDOMAIN))
        for rdtype in ("A", "TXT", "SRV"):
            response = ask(answers, "billing." + ZONE, rdtype)
            assert response.rcode() == dns.rcode.NXDOMAIN
            assert [rrset.rdtype for rrset in response.authority] == [RdataType.SOA]

    def test_nxdomain_action_waits_until_nothing_is_usable(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        source.publish(dataclasses.replace(billing, action=Action.NXDOMAIN))
        assert texts(ask(answers, "billing." + ZONE)) == {"192.0.2.10"}

    def test_none_leaves_the_name_without_addresses(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        source.publish(all_down(billing, Action.NONE))
        response = ask(answers, "billing." + ZONE)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.answer == []
        assert texts(ask(answers, "billing." + ZONE, "TXT")) == {
            '"version=7" "epoch=3" "active=aws-use1"'
        }


class TestProtocol:
    def test_garbage_gets_formerr_with_its_id(self, answers: ZoneAnswers) -> None:
        wire = b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07truncat"
        reply = answers.respond(wire, max_udp=1232)
        assert reply is not None
        response = dns.message.from_wire(reply)
        assert response.id == 0xBEEF
        assert response.flags & dns.flags.QR
        assert response.flags & dns.flags.RD
        assert response.rcode() == dns.rcode.FORMERR

    def test_two_questions_are_formerr(self, answers: ZoneAnswers) -> None:
        query = dns.message.make_query("billing." + ZONE, "A")
        query.question.append(dns.message.make_query("billing." + ZONE, "AAAA").question[0])
        reply = answers.respond(query.to_wire(), max_udp=1232)
        assert reply is not None
        assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR

    @pytest.mark.parametrize(
        "wire", [b"", b"\x00", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"]
    )
    def test_less_than_a_header_gets_nothing(self, answers: ZoneAnswers, wire: bytes) -> None:
        assert answers.respond(wire, max_udp=1232) is None

    def test_responses_are_never_answered(self, answers: ZoneAnswers) -> None:
        query = dns.message.make_query("billing." + ZONE, "A")
        reply = answers.respond(query.to_wire(), max_udp=1232)
        assert reply is not None
        assert answers.respond(reply, max_udp=1232) is None
        assert answers.respond(b"\x00\x01\x80\x00" + bytes(8), max_udp=1232) is None

    @pytest.mark.parametrize("opcode", [dns.opcode.UPDATE, dns.opcode.NOTIFY, dns.opcode.STATUS])
    def test_other_opcodes_are_not_implemented(
        self, answers: ZoneAnswers, opcode: dns.opcode.Opcode
    ) -> None:
        query = dns.message.make_query(ZONE, "SOA")
        query.set_opcode(opcode)
        reply = answers.respond(query.to_wire(), max_udp=1232)
        assert reply is not None
        response = dns.message.from_wire(reply)
        assert query.is_response(response)
        assert response.rcode() == dns.rcode.NOTIMP

    def test_update_is_not_implemented(self, answers: ZoneAnswers) -> None:
        update = dns.update.UpdateMessage(ZONE)
        update.replace("billing", 30, "A", "192.0.2.99")
        reply = answers.respond(update.to_wire(), max_udp=1232)
        assert reply is not None
        response = dns.message.from_wire(reply)
        assert update.is_response(response)
        assert response.rcode() == dns.rcode.NOTIMP

    def test_edns_is_answered_with_edns(self, answers: ZoneAnswers) -> None:
        assert ask(answers, "billing." + ZONE, use_edns=0, payload=4096).edns == 0
        assert ask(answers, "billing." + ZONE).edns == -1

    def test_unknown_edns_version_is_badvers(self, answers: ZoneAnswers) -> None:
        response = ask(answers, "billing." + ZONE, use_edns=1)
        assert response.rcode() == dns.rcode.BADVERS
        assert response.edns == 0
        assert response.answer == []


class TestTruncation:
    def test_without_edns_udp_answers_stop_at_512_bytes(
        self, answers: ZoneAnswers, source: FakeSource
    ) -> None:
        source.publish(many_locators(60))
        query = dns.message.make_query("big." + ZONE, "A")
        reply = answers.respond(query.to_wire(), max_udp=1232)
        assert reply is not None
        assert len(reply) <= 512
        assert dns.message.from_wire(reply).flags & dns.flags.TC

    def test_edns_payload_lets_a_bigger_answer_through(
        self, answers: ZoneAnswers, source: FakeSource
    ) -> None:
        source.publish(many_locators(60))
        response = ask(answers, "big." + ZONE, use_edns=0, payload=1232)
        assert not response.flags & dns.flags.TC
        assert len(texts(response)) == 60

    def test_our_udp_ceiling_wins_over_the_clients_payload(
        self, answers: ZoneAnswers, source: FakeSource
    ) -> None:
        source.publish(many_locators(100))
        query = dns.message.make_query("big." + ZONE, "A", use_edns=0, payload=4096)
        reply = answers.respond(query.to_wire(), max_udp=1232)
        assert reply is not None
        assert len(reply) <= 1232
        response = dns.message.from_wire(reply)
        assert response.flags & dns.flags.TC
        assert response.edns == 0

    def test_tcp_gets_everything(self, answers: ZoneAnswers, source: FakeSource) -> None:
        source.publish(many_locators(500))
        response = ask(answers, "big." + ZONE, max_udp=None)
        assert not response.flags & dns.flags.TC
        assert len(texts(response)) == 500


QUERIES = [
    pytest.param(("billing." + ZONE, "A", {}), id="A"),
    pytest.param(("billing." + ZONE, "AAAA", {}), id="AAAA"),
    pytest.param(("billing." + ZONE, "SRV", {"use_edns": 0}), id="SRV-edns"),
    pytest.param(("billing." + ZONE, "TXT", {}), id="TXT"),
    pytest.param(("BILLING." + ZONE, "A", {}), id="upper-case"),
    pytest.param(("billing." + ZONE, "ANY", {}), id="ANY"),
    pytest.param(("billing." + ZONE, "MX", {}), id="NODATA"),
    pytest.param(("nope." + ZONE, "A", {}), id="NXDOMAIN"),
    pytest.param((ZONE, "SOA", {}), id="SOA"),
    pytest.param((ZONE, "NS", {"use_edns": 0, "payload": 4096}), id="NS-edns"),
    pytest.param(("example.com.", "A", {}), id="REFUSED"),
    pytest.param(("billing." + ZONE, "A", {"use_edns": 1}), id="BADVERS"),
]


class TestCache:
    @pytest.mark.parametrize("max_udp", [512, 1232, None])
    @pytest.mark.parametrize("question", QUERIES)
    def test_a_cached_answer_equals_a_fresh_one_but_for_the_id(
        self,
        make_answers: MakeAnswers,
        monkeypatch: pytest.MonkeyPatch,
        question: tuple[str, str, dict[str, object]],
        max_udp: int | None,
    ) -> None:
        name, rdtype, options = question
        warm, cold = make_answers(), make_answers()
        first = dns.message.make_query(name, rdtype, **options)  # type: ignore[arg-type]
        assert warm.respond(first.to_wire(), max_udp=max_udp) is not None
        assert warm.cached_answers == 1

        query = dns.message.make_query(name, rdtype, **options)  # type: ignore[arg-type]
        query.id = (first.id + 1) % 65536
        with monkeypatch.context() as patch:
            # A cache hit must not parse the query at all.
            patch.setattr(dns.message, "from_wire", pytest.fail)
            cached = warm.respond(query.to_wire(), max_udp=max_udp)
        fresh = cold.respond(query.to_wire(), max_udp=max_udp)

        assert cached is not None
        assert cached == fresh
        assert cached[:2] == query.id.to_bytes(2, "big")

    def test_truncated_answers_are_cached_faithfully(
        self, make_answers: MakeAnswers, source: FakeSource
    ) -> None:
        source.publish(many_locators(100))
        warm, cold = make_answers(), make_answers()
        wire = dns.message.make_query("big." + ZONE, "A").to_wire()
        warm.respond(wire, max_udp=1232)
        again = b"\x00\x07" + wire[2:]
        assert warm.respond(again, max_udp=1232) == cold.respond(again, max_udp=1232)

    def test_recursion_desired_is_echoed_from_each_query(self, answers: ZoneAnswers) -> None:
        with_rd = dns.message.make_query("billing." + ZONE, "A")
        without_rd = dns.message.make_query("billing." + ZONE, "A")
        without_rd.flags &= ~dns.flags.RD
        for query in (with_rd, without_rd, with_rd, without_rd):
            reply = answers.respond(query.to_wire(), max_udp=1232)
            assert reply is not None
            rd = dns.message.from_wire(reply).flags & dns.flags.RD
            assert rd == query.flags & dns.flags.RD

    def test_a_change_empties_the_cache_and_moves_the_serial(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        assert texts(ask(answers, "billing." + ZONE)) == {"192.0.2.10"}
        moved = dataclasses.replace(
            billing,
            version=8,
            epoch=4,
            active_site="gcp-euw1",
            locators=tuple(
                dataclasses.replace(loc, state=State.DOWN) if loc.site == "aws-use1" else loc
                for loc in billing.locators
            ),
        )
        source.publish(moved)
        assert texts(ask(answers, "billing." + ZONE)) == {"198.51.100.20"}
        assert next(iter(ask(answers, ZONE, "SOA").answer[0])).serial == SERIAL + 1
        assert answers.serial == SERIAL + 1

    def test_the_serial_catches_up_with_the_clock(
        self, source: FakeSource, billing: Mapping
    ) -> None:
        now = [1000.0]
        answers = ZoneAnswers(ZONE, source, clock=lambda: now[0])
        try:
            source.publish(billing)
            assert answers.serial == 100_001
            source.publish(billing)
            assert answers.serial == 100_002
            now[0] = 5000.0
            source.publish(billing)
            assert answers.serial == 500_000
        finally:
            answers.close()

    def test_changes_no_one_read_a_serial_between_share_one(
        self, source: FakeSource, billing: Mapping
    ) -> None:
        answers = ZoneAnswers(ZONE, source, clock=lambda: 1000.0)
        try:
            for _ in range(1000):  # a site lost: a thousand changes in a burst
                source.publish(billing)
            assert answers.serial == 100_001
            source.publish(billing)  # after the serial was read: the next version
            soa = next(iter(ask(answers, ZONE, "SOA").answer[0]))
            assert soa.serial == answers.serial == 100_002
        finally:
            answers.close()

    def test_queries_with_edns_options_are_answered_but_not_cached(
        self, answers: ZoneAnswers
    ) -> None:
        cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"clientck")
        response = ask(answers, "billing." + ZONE, use_edns=0, options=[cookie])
        assert texts(response) == {"192.0.2.10"}
        assert answers.cached_answers == 0
        ask(answers, "billing." + ZONE, use_edns=0)
        assert answers.cached_answers == 1

    def test_malformed_and_other_opcode_queries_are_not_cached(self, answers: ZoneAnswers) -> None:
        update = dns.update.UpdateMessage(ZONE)
        for wire in (b"\x00\x01\x01\x00" + bytes(8) + b"\xff", update.to_wire()):
            assert answers.respond(wire, max_udp=1232) is not None
        assert answers.cached_answers == 0

    def test_service_data_is_read_once_per_change(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        for rdtype in ("A", "AAAA", "SRV", "TXT"):
            ask(answers, "billing." + ZONE, rdtype)
        assert source.gets == 1
        source.publish(billing)
        ask(answers, "billing." + ZONE, "A")
        assert source.gets == 2

    def test_a_change_of_one_service_keeps_the_others_answers(
        self, answers: ZoneAnswers, source: FakeSource, billing: Mapping
    ) -> None:
        search = dataclasses.replace(billing, service="search")
        source.publish(search)
        ask(answers, "billing." + ZONE, "A")
        ask(answers, "search." + ZONE, "A")
        ask(answers, "search." + ZONE, "MX")  # NODATA: carries the SOA, so the serial
        gets = source.gets
        source.publish(dataclasses.replace(billing, version=8))
        assert answers.cached_answers == 1  # search's A alone
        ask(answers, "search." + ZONE, "A")
        assert source.gets == gets  # neither its answer nor its names were rebuilt
        soa = ask(answers, "search." + ZONE, "MX").authority[0]
        assert next(iter(soa)).serial == answers.serial

    def test_an_unavailable_source_gets_servfail_and_is_asked_again(
        self, make_answers: MakeAnswers, billing: Mapping
    ) -> None:
        class FlakySource:
            down = True

            def get(self, service: str) -> Mapping | None:
                if self.down:
                    raise StoreUnavailable("registry: store did not answer")
                return billing

            def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
                return lambda: None

        flaky = FlakySource()
        answers = make_answers(flaky)
        assert ask(answers, "billing." + ZONE).rcode() == dns.rcode.SERVFAIL
        flaky.down = False
        assert texts(ask(answers, "billing." + ZONE)) == {"192.0.2.10"}

    def test_close_stops_following_the_source(self, source: FakeSource) -> None:
        answers = ZoneAnswers(ZONE, source)
        assert source.subscribers == 1
        answers.close()
        assert source.subscribers == 0


class TestAnswerCache:
    def test_an_answer_built_before_an_invalidation_is_not_kept(self) -> None:
        cache = AnswerCache()
        generation = cache.generation
        cache.invalidate()
        cache.store((512, b"question"), b"stale answer", generation)
        assert cache.lookup((512, b"question")) is None

    def test_the_budget_bounds_what_is_kept(self) -> None:
        cache = AnswerCache(budget=100)
        for i in range(10):
            cache.store((512, f"q{i}".encode()), bytes(30), cache.generation)
        assert 0 < len(cache) <= 100 // (30 + 2)
        assert cache.lookup((512, b"q9")) == bytes(30)
        cache.store((512, b"huge"), bytes(200), cache.generation)
        assert cache.lookup((512, b"huge")) is None

    def test_invalidating_a_service_forgets_its_answers_and_the_zones(self) -> None:
        cache = AnswerCache()
        cache.store((512, b"a"), b"billing", cache.generation, "billing")
        cache.store((512, b"b"), b"search", cache.generation, "search")
        cache.store((512, b"soa"), b"apex", cache.generation)
        cache.invalidate("billing")
        assert cache.lookup((512, b"a")) is None
        assert cache.lookup((512, b"soa")) is None
        assert cache.lookup((512, b"b")) == b"search"
        cache.invalidate()
        assert len(cache) == 0

    def test_the_transport_is_part_of_the_key(self) -> None:
        cache = AnswerCache()
        cache.store((512, b"q"), b"udp", cache.generation)
        cache.store((None, b"q"), b"tcp", cache.generation)
        assert cache.lookup((512, b"q")) == b"udp"
        assert cache.lookup((None, b"q")) == b"tcp"


class TestLazyNode:
    def test_an_rrset_is_built_once_and_only_when_read(self, billing: Mapping) -> None:
        origin = dns.name.from_text(ZONE)
        calls: list[RdataType] = []
        builders = service_builders(billing, origin)
        owner = dns.name.from_text("billing." + ZONE)
        counted = {
            rdtype: (lambda rdtype=rdtype, build=build: calls.append(rdtype) or build())
            for rdtype, build in builders[owner].items()
        }
        node = LazyNode(counted)
        assert RdataType.SRV in node and RdataType.MX not in node
        assert calls == []
        assert (
            node[RdataType.A]
            == node[RdataType.A]
            == service_nodes(billing, origin)[owner][RdataType.A]
        )
        assert calls == [RdataType.A]
        assert set(node) == set(builders[owner]) and len(node) == len(builders[owner])
