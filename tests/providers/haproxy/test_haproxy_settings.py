"""The pure half of the HAProxy provider: settings, names, commands, replies, dumps."""

from __future__ import annotations

import pytest

from gtm.config.providers import HaproxyProvider
from gtm.core.changes import Change, ChangeKind, diff
from gtm.core.model import NEVER, Action, Locator, Mapping, State
from gtm.errors import ConfigError
from gtm.providers.haproxy import Haproxy
from gtm.providers.haproxy_settings import (
    ServerSetting,
    parse_servers_state,
    render_commands,
    replies,
    script,
    server_names,
    settings,
)

HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port"
)
DUMP = (
    # HAProxy 2.6.12 after ``set server billing/a weight 5``, ``.../b-1 state drain`` and
    # ``.../b-2 state maint``.
    f"1\n{HEADER}\n"
    "3 billing 1 a 127.0.1.1 2 0 5 1 1 1 0 2 0 0 0 0 - 18001 - 0 0 - - 0\n"
    "3 billing 2 b-1 127.0.2.1 2 8 1 1 0 1 0 2 0 0 0 0 - 18001 - 0 0 - - 0\n"
    "3 billing 3 b-2 127.0.2.1 0 1 1 1 0 1 0 0 0 0 0 0 - 18002 - 0 0 - - 0\n"
)


def loc(
    site: str, n: int = 1, *, priority: int = 1, weight: int = 100, state: State = State.UP
) -> Locator:
    return Locator(f"billing@{site}/lb-{n}", site, f"192.0.2.{n}", 8080, priority, weight, state)


def mapping(*locators: Locator, action: Action = Action.NONE) -> Mapping:
    return Mapping("billing", 4, 2, 30, locators[0].site, locators, action)


def table(m: Mapping, template: str = "{service}") -> dict[str, str]:
    return {s.key: s.describe() for s in settings(m, template)}


def provider(**config: object) -> Haproxy:
    return Haproxy("lb-main", HaproxyProvider.model_validate({"type": "haproxy", **config}))


class TestNames:
    def test_a_site_with_one_locator_names_the_server(self) -> None:
        m = mapping(loc("aws-use1"), loc("gcp-euw1", priority=2))
        assert server_names(m) == {
            "billing@aws-use1/lb-1": "aws-use1",
            "billing@gcp-euw1/lb-1": "gcp-euw1",
        }

    def test_several_locators_in_a_site_are_numbered_in_mapping_order(self) -> None:
        m = mapping(loc("aws-use1", 2), loc("gcp-euw1", priority=2), loc("aws-use1", 1))
        assert server_names(m) == {
            "billing@aws-use1/lb-2": "aws-use1-1",
            "billing@gcp-euw1/lb-1": "gcp-euw1",
            "billing@aws-use1/lb-1": "aws-use1-2",
        }

    def test_the_backend_template_names_the_backend(self) -> None:
        m = mapping(loc("aws-use1"))
        assert table(m, "be_{service}_https") == {"be_billing_https/aws-use1": "weight 100 ready"}


class TestDesired:
    def test_the_active_site_gets_its_weights_and_the_others_none(self) -> None:
        m = mapping(
            loc("aws-use1", 1, weight=70),
            loc("aws-use1", 2, weight=30),
            loc("gcp-euw1", priority=2),
            loc("dc-paris", priority=3, state=State.DOWN),
        )
        assert table(m) == {
            "billing/aws-use1-1": "weight 70 ready",
            "billing/aws-use1-2": "weight 30 ready",
            "billing/gcp-euw1": "weight 0 ready",
            "billing/dc-paris": "weight 0 ready",
        }

    def test_a_down_active_site_hands_traffic_to_the_next_priority(self) -> None:
        m = mapping(loc("aws-use1", state=State.DOWN), loc("gcp-euw1", priority=2, weight=40))
        assert table(m) == {
            "billing/aws-use1": "weight 0 ready",
            "billing/gcp-euw1": "weight 40 ready",
        }

    def test_a_drained_site_is_set_to_drain(self) -> None:
        m = mapping(loc("aws-use1"), loc("gcp-euw1", priority=NEVER, weight=0))
        assert table(m)["billing/gcp-euw1"] == "weight 0 drain"

    def test_priority_255_with_a_weight_is_never_used_but_not_drained(self) -> None:
        m = mapping(loc("aws-use1"), loc("lab", priority=NEVER, weight=100))
        assert table(m)["billing/lab"] == "weight 0 ready"

    def test_the_weighted_policy_splits_between_sites_at_priority_1(self) -> None:
        m = mapping(
            loc("aws-use1", weight=75), loc("gcp-euw1", weight=25), loc("dc-paris", priority=2)
        )
        assert table(m) == {
            "billing/aws-use1": "weight 75 ready",
            "billing/gcp-euw1": "weight 25 ready",
            "billing/dc-paris": "weight 0 ready",
        }

    def test_all_zero_weights_share_equally(self) -> None:
        m = mapping(
            loc("aws-use1", weight=0), loc("gcp-euw1", weight=0), loc("dc-paris", priority=2)
        )
        assert table(m) == {
            "billing/aws-use1": "weight 1 ready",
            "billing/gcp-euw1": "weight 1 ready",
            "billing/dc-paris": "weight 0 ready",
        }

    def test_all_down_with_stay_keeps_the_active_site(self) -> None:
        m = mapping(
            loc("aws-use1", state=State.DOWN),
            loc("gcp-euw1", priority=2, state=State.DOWN),
            action=Action.STAY,
        )
        assert table(m) == {
            "billing/aws-use1": "weight 100 ready",
            "billing/gcp-euw1": "weight 0 ready",
        }

    def test_all_down_closed_empties_the_backend(self) -> None:
        m = mapping(loc("aws-use1", state=State.DOWN), action=Action.NXDOMAIN)
        assert table(m) == {"billing/aws-use1": "weight 0 ready"}

    def test_only_managed_services_are_desired(self) -> None:
        search = Mapping("search", 1, 1, 30, "aws-use1", (loc("aws-use1"),))
        items = provider(socket="unix:/run/haproxy.sock", services=["billing"]).desired(
            [mapping(loc("aws-use1")), search]
        )
        assert list(items) == ["billing/aws-use1"]
        assert items["billing/aws-use1"].service == "billing"

    def test_a_weight_beyond_haproxy_range_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"weight 300 of billing/a is outside 0\.\.256"):
            ServerSetting("billing", "a", 300, "ready")


class TestCommands:
    def test_a_move_gives_traffic_before_taking_it_away(self) -> None:
        old = mapping(loc("aws-use1"), loc("gcp-euw1", priority=2))
        new = mapping(loc("aws-use1", priority=2), loc("gcp-euw1"))
        before = {s.key: s for s in settings(old, "{service}")}
        after = {s.key: s for s in settings(new, "{service}")}
        changes = [
            Change(ChangeKind.UPDATE, key, "billing", before[key], after[key])
            for key in sorted(after)
        ]
        assert render_commands(changes) == [
            "set server billing/gcp-euw1 weight 100",
            "set server billing/aws-use1 weight 0",
        ]

    def test_state_changes_are_rendered_and_ready_comes_first(self) -> None:
        a_before, a_after = (
            ServerSetting("b", "a", 0, "maint"),
            ServerSetting("b", "a", 50, "ready"),
        )
        c_before, c_after = (
            ServerSetting("b", "c", 10, "ready"),
            ServerSetting("b", "c", 0, "drain"),
        )
        changes = [
            Change(ChangeKind.UPDATE, "b/c", "billing", c_before, c_after),
            Change(ChangeKind.UPDATE, "b/a", "billing", a_before, a_after),
        ]
        assert render_commands(changes) == [
            "set server b/a weight 50",
            "set server b/a state ready",
            "set server b/c weight 0",
            "set server b/c state drain",
        ]

    def test_a_created_item_gets_both_commands_and_a_deleted_one_weight_0(self) -> None:
        new, stray = ServerSetting("b", "new", 3, "ready"), ServerSetting("b", "old", 7, "ready")
        changes = [
            Change(ChangeKind.CREATE, "b/new", "billing", None, new),
            Change(ChangeKind.DELETE, "b/old", "billing", stray, None),
        ]
        assert render_commands(changes) == [
            "set server b/new weight 3",
            "set server b/new state ready",
            "set server b/old weight 0",
        ]

    def test_unchanged_items_render_nothing(self) -> None:
        same = ServerSetting("b", "a", 1, "ready")
        assert render_commands(diff({}, {})) == []
        assert render_commands([Change(ChangeKind.UPDATE, "b/a", "billing", same, same)]) == []

    def test_the_script_uses_interactive_mode_one_command_per_line(self) -> None:
        assert script(["show servers state billing", "set server billing/a weight 1"]) == (
            b"prompt\nshow servers state billing\nset server billing/a weight 1\nquit\n"
        )


class TestReplies:
    def test_replies_are_split_at_the_prompts(self) -> None:
        # HAProxy 2.6.12's answer to script() of four commands: a refusal without its
        # closing empty line, one with it, a success, and a dump.
        text = "\n> Trailing garbage in weight string\n> No such server.\n\n> \n> " + DUMP + "\n> "
        answers = replies(text, 4)
        assert answers[:3] == ["Trailing garbage in weight string", "No such server.", ""]
        assert answers[3] == DUMP.rstrip("\n")

    def test_a_reply_cut_short_is_not_counted(self) -> None:
        assert replies("\n> \n> \n> Can't fi", 3) == ["", ""]
        assert replies("", 1) == []


class TestServersState:
    def test_a_real_dump_is_read_by_column_name(self) -> None:
        assert parse_servers_state(DUMP) == [
            ServerSetting("billing", "a", 5, "ready"),
            ServerSetting("billing", "b-1", 1, "drain"),
            ServerSetting("billing", "b-2", 1, "maint"),
        ]

    @pytest.mark.parametrize(
        ("admin", "state"),
        [
            ("0", "ready"),
            ("8", "drain"),
            ("16", "drain"),
            ("4", "maint"),
            ("9", "maint"),
            ("64", "ready"),
        ],
    )
    def test_admin_bits_decide_the_state(self, admin: str, state: str) -> None:
        line = f"3 billing 1 a 127.0.1.1 2 {admin} 7 1 1 1 0 2 0 0 0 0 - 18001 - 0 0 - - 0"
        assert parse_servers_state(f"1\n{HEADER}\n{line}\n")[0].state == state

    def test_an_empty_backend_has_no_servers(self) -> None:
        assert parse_servers_state(f"1\n{HEADER}\n") == []

    @pytest.mark.parametrize("text", ["Can't find backend.", "", "2\n# be_id\n"])
    def test_anything_else_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match="not a 'show servers state' dump"):
            parse_servers_state(text)

    def test_a_short_line_is_refused_naming_it(self) -> None:
        with pytest.raises(ValueError, match="unreadable 'show servers state' line '3 billing 1'"):
            parse_servers_state(f"1\n{HEADER}\n3 billing 1\n")


class TestConfig:
    def test_capabilities(self) -> None:
        haproxy = provider(socket="127.0.0.1:9999")
        assert (haproxy.kind, haproxy.capabilities.max_batch) == ("haproxy", 5000)

    def test_a_socket_that_is_neither_form_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match=r"socket '/run/haproxy.sock' is neither unix:/path"):
            provider(socket="/run/haproxy.sock")

    def test_a_template_without_service_needs_exactly_one_service(self) -> None:
        assert provider(socket="127.0.0.1:9999", backend="app", services=["billing"])
        with pytest.raises(ConfigError, match=r"backend 'app' has no \{service\}"):
            provider(socket="127.0.0.1:9999", backend="app")

    def test_a_template_haproxy_cannot_name_is_a_config_error(self) -> None:
        with pytest.raises(
            ConfigError, match=r"backend 'be {service}' is not a valid HAProxy name"
        ):
            provider(socket="127.0.0.1:9999", backend="be {service}")
