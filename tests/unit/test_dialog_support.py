"""A pure chat harness for the dialog engine, and tests of its plain-data pieces (state, intents).

``Chat`` plays one person: each ``send`` builds an ``Incoming``, calls ``engine.handle`` with
the facts given (the shell's job in production), concludes every command with a canned
``Result`` (the executor's job) and keeps the state — after a JSON round trip, as Redis would.
"""
from __future__ import annotations

import itertools
import json

import pytest

from wechat.dialog import engine, texts
from wechat.dialog.commands import (
    AddToReport,
    AnswerRevisit,
    BindStaff,
    KeepPhone,
    FollowEvent,
    QuickRecord,
    RememberLocation,
    ResidentAction,
    SetFollowing,
    Result,
    StaffAction,
    SubmitReport,
)
from wechat.dialog.facts import CategoryFact, EventFact, Facts, NearbyFact, PlaceFact, StaffFact, TaskFact
from wechat.dialog.intents import TEXT_LIMIT, clip, meaningful, normalise_ref, parse
from wechat.dialog.state import State
from wechat.messages import Incoming

NOW = 1_800_000_000
GARBAGE = CategoryFact("0501", "垃圾没人清", "05")
CORRIDOR = CategoryFact("0301", "楼道里堆了东西", "03")
CATALOGUE = (CategoryFact("03", "有着火的危险"), CORRIDOR, CategoryFact("05", "垃圾、脏乱、污水"), GARBAGE,
             CategoryFact("0503", "下水道堵了", "05"), CategoryFact("99", "其他事情"),
             CategoryFact("9999", "其他事情", "99"))
PLACE_A = PlaceFact(source="location", label="金源路1号", grid_id=5, grid_name="金源第一网格",
                    community_name="金源社区", lat=24.502, lng=117.649, datum="gcj02")
PLACE_B = PlaceFact(source="address", label="金源社区3号楼", grid_id=6, grid_name="金源第二网格",
                    community_name="金源社区", lat=24.506, lng=117.656, datum="wgs84")
PLACE_QR = PlaceFact(source="qr", label="金源社区3号楼 2单元", grid_id=6, grid_name="金源第二网格",
                     community_name="金源社区", building_unit_id=42)
OUTSIDE = PlaceFact(source="location", lat=29.997, lng=110.005, datum="gcj02", outside=True)
NEARBY = NearbyFact("20261126-0001", "0501", "垃圾没人清", "处置中", 34, "楼下垃圾")
PLACE_WITH_DUP = PlaceFact(**{**PLACE_A.__dict__, "nearby": (NEARBY,)})
WORKER = StaffFact(7, "张三", "grid_worker", "网格员", "金源第一网格")
GIBBERISH = "asdf😀"

DEFAULT_RESULTS = {
    SubmitReport: Result.done(number="20261126-0007", grid_name="金源第一网格", created=True),
    FollowEvent: Result.done(number="20261126-0001"),
    ResidentAction: Result.done(number="20261126-0003", status="closed"),
    StaffAction: Result.done(number="20261126-0003", status="closed", short=3),
    QuickRecord: Result.done(number="20261126-0009"),
    BindStaff: Result.done(role="网格员", name="张三", area="金源第一网格"),
    RememberLocation: Result.done(),
    AddToReport: Result.done(number="20261126-0007", grid_name="金源第一网格"),
    SetFollowing: Result.done(),
    AnswerRevisit: Result.done(number="20261126-0003", status="closed"),
    KeepPhone: Result.done(phone="139****5678"),
}


class Chat:
    _ids = itertools.count(1)

    def __init__(self, openid: str = "o-resident", staff: StaffFact | None = None, state: State | None = None):
        self.openid, self.staff = openid, staff
        self.state = state or State()
        self.now = NOW
        self.sent = 0
        self.commands: list = []  # every command the engine issued, in order
        self.last_commands: list = []
        self.results = dict(DEFAULT_RESULTS)

    def facts(self, **facts) -> Facts:
        facts.setdefault("staff", self.staff)
        return Facts(now=self.now, ttl=1800, **facts)

    def send(self, kind: str = "text", text: str | None = None, facts: dict | None = None, **fields) -> str | None:
        self.sent += 1
        self.now += 5
        n = next(self._ids)
        msg = Incoming(openid=self.openid, kind=kind, create_time=self.now, msg_id=0 if kind == "event" else n,
                       text=text, **fields)
        outcome = engine.handle(self.state, msg, self.facts(**(facts or {})))
        for command in outcome.commands:
            outcome = engine.conclude(outcome, command, self.results[type(command)])
        self.last_commands = list(outcome.commands)
        self.commands += outcome.commands
        self.state = State.from_dict(json.loads(json.dumps(outcome.state.to_dict(), ensure_ascii=False)))
        return outcome.reply

    def text(self, text: str, **facts) -> str | None:
        return self.send("text", text, facts=facts)

    def photo(self, media_id: str = "m-photo") -> str | None:
        return self.send("image", media_id=media_id)

    def photo_with(self, media_id: str = "m-photo", **facts) -> str | None:
        return self.send("image", media_id=media_id, facts=facts)

    def location(self, place: PlaceFact | None = PLACE_A, error: str | None = None, **facts) -> str | None:
        facts.update(message_place=place, place_error=error)
        return self.send("location", lat=24.502, lng=117.649, facts=facts)

    def voice(self, media_id: str = "m-voice", recognition: str | None = None, **facts) -> str | None:
        return self.send("voice", recognition, media_id=media_id, facts=facts)

    def event(self, event: str, key: str | None = None, text: str | None = None, **facts) -> str | None:
        return self.send("event", text, facts=facts, event=event, key=key)

    def submitted(self) -> list[SubmitReport]:
        return [c for c in self.commands if isinstance(c, SubmitReport)]


def event_fact(number="20261126-0003", status="closed", **kw) -> EventFact:
    names = {"closed": "已办结", "assigned": "待受理", "processing": "处置中", "reported": "待分派"}
    return EventFact(number=number, status=status, status_name=names.get(status, status),
                     description=kw.pop("description", "楼下垃圾好几天没人清了"), **kw)


def task_fact(short=3, status="processing", **kw) -> TaskFact:
    names = {"assigned": "待受理", "processing": "处置中", "resolved": "待核查", "closed": "已办结"}
    return TaskFact(number=f"20261126-{short:04d}", short=short, status=status, status_name=names[status],
                    description=kw.pop("description", "楼下垃圾好几天没人清了"), **kw)


# ------------------------------------------------------------------ state and facts as plain data


def test_state_round_trips_json_and_bad_documents_become_a_fresh_state():
    state = State(flow="report", step="confirm", draft={"description": "楼道堆物🔥", "place": PLACE_A.to_dict()},
                  choices=[{"label": "x"}], updated_at=NOW)
    again = State.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert PlaceFact.from_dict(again.draft["place"]) == PLACE_A
    for bad in (None, [], "x", {"flow": "hacking"}, {"flow": "report", "draft": "nope"},
                {"flow": "report", "unknown": 1, "updated_at": "soon"}):
        state = State.from_dict(bad)
        assert state.idle or state.updated_at == 0


def test_place_with_nearby_events_round_trips():
    data = json.loads(json.dumps(PLACE_WITH_DUP.to_dict()))
    assert PlaceFact.from_dict(data).nearby == (NEARBY,)


# ------------------------------------------------------------------ reading what people type


@pytest.mark.parametrize("text, name, extra", [
    ("取消", "cancel", {}), ("算了。", "cancel", {}), ("帮助", "help", {}), ("？", "help", {}),
    ("进度", "progress", {}), ("查询", "progress", {}), ("待办", "todo", {}), ("我要上报", "report", {}),
    ("查 20261126-0003", "query", {"ref": "20261126-0003"}), ("查询202611260003", "query", {"ref": "20261126-0003"}),
    ("查３号", "query", {"ref": "3"}), ("撤回 20261126-3", "withdraw", {"ref": "20261126-0003"}),
    ("撤回", "withdraw", {"ref": None}), ("评价 3 5 很好", "rate", {"ref": "3", "number": 5, "arg": "很好"}),
    ("5", "choice", {"number": 5}), ("５分", "rate", {"number": 5}), ("4 处理得很快！", "rate", {"number": 4}),
    ("1。", "choice", {"number": 1}), ("确认", "yes", {}), ("是的", "yes", {}), ("跳过", "skip", {}),
    ("完成", "done", {}), ("你好", "greeting", {}),
    ("接单 3", "staff", {"action": "accept", "ref": "3"}),
    ("办结 3 已清理干净", "staff", {"action": "resolve", "ref": "3", "arg": "已清理干净"}),
    ("退回 20261126-0003 不在本网格", "staff", {"action": "return", "ref": "20261126-0003", "arg": "不在本网格"}),
    ("上报 3 需要城管", "staff", {"action": "escalate", "ref": "3", "arg": "需要城管"}),
    ("办结", "staff", {"action": "resolve", "ref": None}),
    ("即报即办 清理了楼道杂物", "quick", {"arg": "清理了楼道杂物"}),
    ("3号楼下垃圾没人清", "text", {}), ("楼道里堆满了纸箱", "text", {}),
])
def test_parse(text, name, extra):
    intent = parse(text)
    assert intent.name == name
    for key, value in extra.items():
        assert getattr(intent, key) == value


def test_refs_and_clipping_keep_emoji_and_mixed_scripts():
    assert normalise_ref("202611260003") == "20261126-0003" and normalise_ref("0003") == "3"
    text = "楼道堆物🔥 fire ありがとう" * 300
    clipped, cut = clip(text)
    assert cut and len(clipped) == TEXT_LIMIT and clipped == text[:TEXT_LIMIT]
    assert clip("短短的🔥")[0] == "短短的🔥" and not clip("短短的🔥")[1]
    assert meaningful("楼道堆物🔥") and not meaningful(GIBBERISH) and not meaningful("？？？")


def test_replies_are_kept_under_the_passive_reply_limit():
    long = "长" * 5000
    fitted = texts.fit(long)
    assert len(fitted.encode()) <= texts.MAX_REPLY_BYTES and fitted.endswith("…")
    assert texts.fit("短") == "短" and texts.fit(None) is None


def test_the_engine_never_mutates_the_state_it_is_given():
    import copy

    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    for kind, fields, facts in [("text", {"text": "帮助"}, {}), ("text", {"text": "进度"}, {}),
                                ("location", {"lat": 1.0, "lng": 2.0}, {"message_place": PLACE_A}),
                                ("image", {"media_id": "m"}, {})]:
        given = chat.state
        snapshot = copy.deepcopy(given)
        msg = Incoming(openid="o", kind=kind, create_time=1, msg_id=1, **fields)
        engine.handle(given, msg, Facts(now=NOW + 10, **facts))
        assert given == snapshot
