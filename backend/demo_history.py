"""Six months of the demo's past, so the console has something to show on first open (issue 16).

Every case is a small story told through the real services — ``events.submit_event``,
``events.route_event``, ``events.quick_record`` and ``actions.perform`` — each step under
``clock.frozen`` at the time it would have happened, so the history is exactly what the
workflow would have produced: steps, holders, deadlines, reopen counts, ratings, revisits,
outbox rows. A story is a timeline; a step that would fall after "now" does not happen, so the
last days' cases are still open at whatever stage they reached (some of them overdue).

Deterministic: one ``random.Random(seed)`` decides everything. Quiet: written under
``outbox.quiet()`` and its outbox rows marked processed at their own time, so nobody is told
about the past — the sandbox is not flooded when the workers start.
"""
from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass, field

from PIL import Image

from backend import clock, config, outbox
from backend.crypto import FieldCipher
from backend.db import db
from backend.models import Area, Department, Event, OutboxMessage, Resident, Revisit, Staff
from backend.services import actions, events, feedback, sla_sweep
from backend.services.context import resident_actor, staff_actor
from backend.services.follow import resident_for_openid
from backend.services.personal_data import RESIDENT_PHONE_CONTEXT

SEED = 16
DAYS = 183
CASES_PER_DAY = 3.0
RESIDENTS = 60
MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)

# What residents say, by category (小类): the words of the chat, not of a form.
SAYINGS = {
    "0501": ["小区门口垃圾桶满了，好几天没人清", "菜市场后面垃圾堆成山，臭得很", "楼下垃圾站的垃圾溢出来了"],
    "0502": ["路边堆了好多建筑材料，占了人行道", "巷子里有人堆了一堆旧家具"],
    "0503": ["下水道堵了，污水流到路上", "小区里污水冒出来了，味道很大"],
    "0504": ["路面上都是泥，下雨天很滑"],
    "0301": ["楼道里堆满了纸箱，过不去", "3楼楼道放了好几辆自行车和杂物"],
    "0302": ["邻居把电动车推到家里充电", "有人在楼道里给电动车充电"],
    "0303": ["有人从窗户拉电线下来给三轮车充电"],
    "0601": ["楼顶有人在搭铁皮房", "一楼住户把院子围起来盖了房子"],
    "0701": ["学校门口小摊占了半条路", "早上菜贩子在路中间摆摊"],
    "0702": ["小区消防通道被车堵住了", "有车停在盲道上"],
    "0703": ["电线杆上贴满了小广告"],
    "0801": ["巷子里的路灯坏了，晚上很黑", "公园旁边路灯一直不亮"],
    "0802": ["路口井盖没了，很危险"],
    "0803": ["路面有个大坑，电动车容易摔"],
    "0101": ["楼上装修太吵，晚上十点还在敲", "邻居家狗天天叫，说了也不听"],
    "0103": ["物业不修电梯，老人上下楼很难"],
    "0201": ["最近小区里电动车电瓶老被偷"],
    "0901": ["想问一下怎么办理灵活就业社保"],
    "1001": ["楼下独居的陈阿婆好几天没出门了，担心她"],
    "0904": ["隔壁一家生活很困难，孩子交不起学费"],
    "9999": ["小区公告栏玻璃碎了"],
}
WEIGHTS = {"0501": 14, "0502": 6, "0503": 6, "0504": 3, "0301": 8, "0302": 5, "0303": 3, "0601": 3, "0701": 6,
           "0702": 6, "0703": 3, "0801": 7, "0802": 2, "0803": 4, "0101": 5, "0103": 3, "0201": 2, "0901": 2,
           "1001": 2, "0904": 1, "9999": 2}
EMERGENCIES = ["楼下电动车着火了，冒了好多烟", "闻到很浓的煤气味，好像漏气了", "路口出车祸了，有人躺在地上"]
STORIES = {"own": 32, "quick": 10, "dispatch": 10, "centre": 9, "slow": 8, "verify": 7, "return": 4, "reopen": 3,
           "complain": 2, "urge": 4, "reject": 2, "withdraw": 2, "merge": 2, "emergency": 2, "late": 4}
QUICK_SAYINGS = ["巡查发现垃圾桶倒了，已扶正清理", "楼道小广告已清除", "路边占道的纸箱已劝离", "共享单车乱停已摆放整齐"]
NOTES = {"resolve": ["已清理干净", "已处理完毕，现场已恢复", "已联系相关人员整改到位", "已更换维修"],
         "escalate": ["需要社区协调", "涉及多个部门，请中心派遣"], "reject": ["属于民事纠纷，已告知走法律途径"],
         "complain": ["没修好，还是老样子"], "reopen": ["回访不满意，请重新处理"],
         "comment": ["已电话联系反映人", "明天上午到现场查看"]}
FEEDBACK = [("希望能在消息里直接看到处理照片", "accepted"), ("语音上报识别方言不太准", "open"),
            ("进度查询能不能按时间排", "fixed"), ("网格员的电话能不能显示", "declined"),
            ("二维码贴的位置太高了老人扫不到", "open")]



@dataclass
class Cast:
    grids: list[Area]
    workers: dict[int, list[Staff]]  # grid id → its grid workers
    heads: dict[int, Staff]  # community id → head
    centres: dict[int, Staff]  # street id → centre operator
    departments: dict[tuple[int, str], Department]  # (street id, kind) → department
    department_staff: dict[int, Staff]
    streets: dict[int, int]  # grid id → street id
    residents: list[Resident]
    photo: int


@dataclass
class Tally:
    cases: int = 0
    steps: int = 0
    stories: dict[str, int] = field(default_factory=dict)


def seed_history(seed: int = SEED, days: int = DAYS, now: dt.datetime | None = None) -> dict:
    """Write the history once (a database that already has events is left alone)."""
    if Event.select().exists():
        return {"cases": Event.select().count(), "written": False}
    rng = random.Random(seed)
    now = now or clock.now().replace(minute=0, second=0, microsecond=0)
    last_outbox = OutboxMessage.select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).scalar() or 0
    tally = Tally()
    with outbox.quiet(), db.atomic():  # one transaction: fast on SQLite, and all or nothing
        cast = _cast(rng, now - dt.timedelta(days=days + 1))
        story = Story(rng, cast, now, tally)
        for created in _times(rng, now, days):
            story.tell(created)
        with clock.frozen(now):
            sla_sweep.sample_revisits()  # what the scheduler does every ten minutes
            latest = (Event.select(Event.closed_at).where((Event.status == "closed") & (Event.quick_record == False)  # noqa: E712
                                                          & Event.reporter_resident.is_null(False))
                      .order_by(Event.closed_at.desc()).limit(4))
            if latest:  # the centre means to call the last few back: its revisit queue is not empty
                sla_sweep.sample_revisits(since=min(e.closed_at for e in latest), percent=100)
        story.feedback(now - dt.timedelta(days=days))
        (OutboxMessage.update(enqueued_at=OutboxMessage.created_at, processed_at=OutboxMessage.created_at)
         .where(OutboxMessage.id > last_outbox).execute())
    return {"cases": tally.cases, "steps": tally.steps, "stories": tally.stories, "written": True}


def _times(rng: random.Random, now: dt.datetime, days: int) -> list[dt.datetime]:
    """Report times: more on weekdays, mostly 7:00–21:00 local, none in the last hour."""
    times = []
    start_day = clock.to_local(now).date() - dt.timedelta(days=days)
    for offset in range(days + 1):
        day = start_day + dt.timedelta(days=offset)
        expected = CASES_PER_DAY * (0.6 if day.weekday() >= 5 else 1.15)
        for _ in range(_poisson(rng, expected)):
            local = dt.datetime.combine(day, dt.time(rng.choice([7, 8, 8, 9, 9, 10, 10, 11, 14, 15, 15, 16, 17, 19, 20]),
                                                     rng.randrange(60)))
            at = clock.from_local(local)
            if at < now - HOUR:
                times.append(at)
    return sorted(times)


def _poisson(rng: random.Random, mean: float) -> int:
    count, limit, product = 0, 2.718281828 ** -mean, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _cast(rng: random.Random, before: dt.datetime) -> Cast:
    grids = list(Area.select().where((Area.level == "grid") & Area.boundary.is_null(False)).order_by(Area.path))
    staff = list(Staff.select().where(Staff.active == True).order_by(Staff.id))  # noqa: E712
    areas = {a.id: a for a in Area.select()}
    workers: dict[int, list[Staff]] = {}
    heads, centres, department_staff = {}, {}, {}
    for person in staff:
        if person.role == "grid_worker":
            workers.setdefault(person.area_id, []).append(person)
        elif person.role == "community_head":
            heads[person.area_id] = person
        elif person.role == "centre_operator" and areas[person.area_id].level == "street":
            centres[person.area_id] = person
        elif person.role == "department_staff":
            department_staff[person.department_id] = person
    departments = {(d.area_id, d.kind): d for d in Department.select()}
    streets = {g.id: areas[g.parent_id].parent_id for g in grids}
    cipher = FieldCipher.from_key(config.current().field_key)
    residents = []
    with clock.frozen(before):
        for n in range(RESIDENTS):
            resident = resident_for_openid(f"demo-resident-{n + 1:03d}")
            if n % 3 == 0:  # a third left a phone (revisit calls, SMS when WeChat cannot reach them)
                phone = f"1390000{n + 1:04d}"
                Resident.update(phone_enc=cipher.encrypt(phone, RESIDENT_PHONE_CONTEXT),
                                phone_index=cipher.blind_index(phone, RESIDENT_PHONE_CONTEXT),
                                oa_following=True).where(Resident.id == resident.id).execute()
            residents.append(resident)
    return Cast(grids=[g for g in grids if workers.get(g.id)], workers=workers, heads=heads, centres=centres,
                departments=departments, department_staff=department_staff, streets=streets, residents=residents,
                photo=_photo().id)


def _photo():
    """One small picture stands for every 处置 photo (content-addressed: stored once)."""
    from backend.media import store_bytes

    image = Image.new("RGB", (320, 240), (86, 140, 92))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return store_bytes(out.getvalue(), "image/jpeg")


class Story:
    """One case at a time, along its timeline; steps that would fall after ``now`` are not taken."""

    def __init__(self, rng: random.Random, cast: Cast, now: dt.datetime, tally: Tally):
        self.rng, self.cast, self.now, self.tally = rng, cast, now, tally
        self.recent: dict[int, list[str]] = {}  # grid id → open case numbers (for merges)

    # ------------------------------------------------------------ helpers
    def later(self, at: dt.datetime, low: dt.timedelta, high: dt.timedelta) -> dt.datetime:
        return at + low + (high - low) * self.rng.random()

    def act(self, at: dt.datetime, number: str, staff: Staff, action: str, **params) -> bool:
        """Take one step at ``at``; False (and nothing done) when that is still in the future."""
        return self._step(at, number, staff_actor(staff), action, params)

    def resident_act(self, at: dt.datetime, number: str, resident: Resident, action: str, **params) -> bool:
        return self._step(at, number, resident_actor(resident), action, params)

    def _step(self, at: dt.datetime, number: str, actor, action: str, params: dict) -> bool:
        if at >= self.now:
            return False
        with clock.frozen(at):
            actions.perform(number, actor, action, params)
        self.tally.steps += 1
        return True

    def photo(self) -> dict:
        return {"media_ids": [self.cast.photo], "photo_count": 1}

    def note(self, kind: str) -> str:
        return self.rng.choice(NOTES[kind])

    # ------------------------------------------------------------ a case
    def tell(self, created: dt.datetime) -> None:
        kind = self.rng.choices(list(STORIES), weights=list(STORIES.values()))[0]
        if created > self.now - 6 * DAY and self.rng.random() < 0.2:
            kind = "centre"  # some of the last days' cases still wait at the centre: its queue has work
        self.tally.stories[kind] = self.tally.stories.get(kind, 0) + 1
        self.tally.cases += 1
        grid = self.rng.choice(self.cast.grids)
        if kind == "quick":
            worker = self.rng.choice(self.cast.workers[grid.id])
            lat, lng = self.point(grid)
            with clock.frozen(created):
                events.quick_record(worker, self.rng.choice(QUICK_SAYINGS), lat=lat, lng=lng, category_code="0501",
                                    media_ids=[self.cast.photo])
            return
        resident = self.rng.choice(self.cast.residents)
        code = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        text = self.rng.choice(SAYINGS[code])
        if kind == "emergency":
            text, code = self.rng.choice(EMERGENCIES), None
        lat, lng = self.point(grid)
        anonymous = code in ("0101", "0904") and self.rng.random() < 0.3
        with clock.frozen(created):
            event = events.submit_event(events.Submission(
                description=text, reporter=resident_actor(resident), source="miniprogram" if anonymous else "wechat",
                category_code=code, lat=lat, lng=lng, location_confirmed=True, anonymous=anonymous)).event
        with clock.frozen(self.later(created, MINUTE, 3 * MINUTE)):
            event = events.route_event(event.id)
        self.tally.steps += 2
        getattr(self, f"_{kind}")(event, grid, resident, self.later(created, 10 * MINUTE, 3 * HOUR))

    def point(self, grid: Area) -> tuple[float, float]:
        """A point well inside the grid's bounding box (the demo grids are rectangles)."""
        ring = grid.boundary["coordinates"][0]
        (west, east), (south, north) = ((min(v), max(v)) for v in zip(*ring))
        return (round(self.rng.uniform(south + (north - south) * 0.05, north - (north - south) * 0.05), 6),
                round(self.rng.uniform(west + (east - west) * 0.05, east - (east - west) * 0.05), 6))

    def holder(self, number: str) -> Staff | None:
        event = Event.get(Event.number == number)
        return Staff.get_by_id(event.holder_staff_id) if event.holder_staff_id else None

    def grid_worker(self, grid: Area, number: str) -> Staff:
        return self.holder(number) or self.cast.workers[grid.id][0]

    def head_of(self, grid: Area) -> Staff:
        return self.cast.heads[grid.parent_id]

    def centre_of(self, grid: Area) -> Staff:
        return self.cast.centres[self.cast.streets[grid.id]]

    def close(self, event, grid, resident, at, worker: Staff) -> dt.datetime | None:
        """Accept and resolve (in the worker's own grid that closes it; elsewhere a grid worker of the
        case's grid verifies); the time it closed, or None if that is still to come."""
        number = event.number
        if not self.act(at, number, worker, "accept"):
            return None
        done = self.later(at, 2 * HOUR, 2 * DAY)
        if not self.act(done, number, worker, "resolve", note=self.note("resolve"), **self.photo()):
            return None
        case = Event.get(Event.number == number)
        if case.status == "resolved":
            return self.check(number, case.grid_id, done, worker)
        return done

    def check(self, number: str, grid_id: int, solved: dt.datetime, resolver: Staff) -> dt.datetime | None:
        """核查 by a grid worker of the case's grid — now and then sent back first (返工)."""
        verifier = self.rng.choice(self.cast.workers[grid_id])
        checked = self.later(solved, 2 * HOUR, 2 * DAY)
        if self.rng.random() < 0.15:
            if not self.act(checked, number, verifier, "reopen", note="现场还没处理完，请返工"):
                return None
            solved = self.later(checked, 3 * HOUR, 2 * DAY)
            if not self.act(solved, number, resolver, "resolve", note="已返工处理完毕", **self.photo()):
                return None
            checked = self.later(solved, 2 * HOUR, 2 * DAY)
        return checked if self.act(checked, number, verifier, "verify") else None

    def after_closing(self, event, grid, resident, closed: dt.datetime | None, low_rating: float = 0.08) -> None:
        """The reporter rates (most do), and the centre may call back (回访)."""
        if closed is None:
            return
        number = event.number
        if self.rng.random() < 0.82:
            score = self.rng.choices([5, 4, 3, 2, 1], weights=[58, 24, 10, 5, 3])[0] \
                if self.rng.random() > low_rating else self.rng.choice([1, 2])
            comment = {5: "很快就处理好了，谢谢", 4: "处理得不错", 2: "拖了好几天", 1: "没解决"}.get(score)
            self.resident_act(self.later(closed, HOUR, 20 * HOUR), number, resident, "rate", score=score,
                              **({"comment": comment} if comment else {}))
        queued = self.later(closed, 10 * MINUTE, 2 * HOUR)  # the scheduler's ten-minute revisit sampling
        if queued < self.now and sla_sweep.sampled(number, config.current().revisit_sample_percent):
            with clock.frozen(queued):
                sla_sweep.sample_revisits(since=closed - MINUTE)
        asked = self.later(closed, 12 * HOUR, 3 * DAY)
        if Revisit.select().where((Revisit.event == event.id) & (Revisit.status == "pending")).exists():
            outcome = self.rng.choices(["satisfied", "unreachable", "unsatisfied"], weights=[82, 12, 6])[0]
            if self.act(asked, number, self.centre_of(grid), "revisit", outcome=outcome,
                        note={"satisfied": "电话回访，群众满意", "unreachable": "电话无人接听",
                              "unsatisfied": "群众说问题又出现了"}[outcome]) and outcome == "unsatisfied":
                worker = self.holder(number) or self.cast.workers[grid.id][0]
                self.act(self.later(asked, 2 * HOUR, DAY), number, worker, "resolve",
                         note="回访后重新处理，已整改", **self.photo())

    # ------------------------------------------------------------ stories
    def _own(self, event, grid, resident, at):
        closed = self.close(event, grid, resident, at, self.grid_worker(grid, event.number))
        self.after_closing(event, grid, resident, closed)

    def _late(self, event, grid, resident, at):
        """Taken on days late (the SLA sweep would have urged it): on-time rates are not 100 %."""
        closed = self.close(event, grid, resident, self.later(at, 2 * DAY, 6 * DAY), self.grid_worker(grid, event.number))
        self.after_closing(event, grid, resident, closed, low_rating=0.3)

    def _slow(self, event, grid, resident, at):
        """A busy grid: taken on a day or three later, solved within the week."""
        number, worker = event.number, self.grid_worker(grid, event.number)
        taken = self.later(at, DAY, 3 * DAY)
        if not self.act(taken, number, worker, "accept"):
            return
        solved = self.later(taken, 2 * DAY, 6 * DAY)
        if self.act(solved, number, worker, "resolve", note=self.note("resolve"), **self.photo()):
            self.after_closing(event, grid, resident, solved)

    def _centre(self, event, grid, resident, at):
        """Up the ladder to the street centre, which takes its time to find the department."""
        self._dispatch(event, grid, resident, at, centre_delay=(DAY, 6 * DAY))

    def _urge(self, event, grid, resident, at):
        number = event.number
        if not self.act(self.later(at, 6 * HOUR, DAY), number, self.centre_of(grid), "urge"):
            return
        self._own(event, grid, resident, self.later(at, DAY, 2 * DAY))

    def _emergency(self, event, grid, resident, at):
        worker = self.grid_worker(grid, event.number)
        closed = self.close(event, grid, resident, event.created_at + 5 * MINUTE, worker)
        self.after_closing(event, grid, resident, closed)

    def _verify(self, event, grid, resident, at):
        number, head = event.number, self.head_of(grid)
        worker = self.grid_worker(grid, number)
        if not (self.act(at, number, worker, "accept")
                and self.act(self.later(at, HOUR, 6 * HOUR), number, worker, "escalate", note=self.note("escalate"))):
            return
        taken = self.later(at, 6 * HOUR, DAY)
        solved = self.later(taken, 4 * HOUR, 2 * DAY)
        if not (self.act(taken, number, head, "accept")
                and self.act(solved, number, head, "resolve", note=self.note("resolve"), **self.photo())):
            return
        self.after_closing(event, grid, resident, self.check(number, grid.id, solved, head))

    def _dispatch(self, event, grid, resident, at, centre_delay=(HOUR, 16 * HOUR)):
        number, head, centre = event.number, self.head_of(grid), self.centre_of(grid)
        worker = self.grid_worker(grid, number)
        category = Event.get(Event.number == number).category
        kind = category.default_department_kind or "cgb"
        department = self.cast.departments.get((self.cast.streets[grid.id], kind))
        steps = [(at, worker, "escalate", {"note": self.note("escalate")}),
                 (self.later(at, 2 * HOUR, 8 * HOUR), head, "escalate", {"note": "社区解决不了，请中心派遣"}),
                 (self.later(at, 8 * HOUR + centre_delay[0], 8 * HOUR + centre_delay[1]), centre, "dispatch",
                  {"department_id": department.id})]
        for when, who, action, params in steps:
            if not self.act(when, number, who, action, **params):
                return
        if self.rng.random() < 0.3:
            self.act(self.later(steps[-1][0], HOUR, 3 * HOUR), number, centre, "comment", note=self.note("comment"),
                     internal=True)
        staff = self.cast.department_staff[department.id]
        taken = self.later(steps[-1][0], 2 * HOUR, DAY)
        solved = self.later(taken, 6 * HOUR, 3 * DAY)
        if not (self.act(taken, number, staff, "accept")
                and self.act(solved, number, staff, "resolve", note=self.note("resolve"), **self.photo())):
            return
        self.after_closing(event, grid, resident, self.check(number, grid.id, solved, staff))

    def _return(self, event, grid, resident, at):
        number = event.number
        siblings = [g for g in self.cast.grids if g.parent_id == grid.parent_id and g.id != grid.id]
        right = self.rng.choice(siblings)
        worker = self.grid_worker(grid, number)
        if not self.act(at, number, worker, "return", note=f"位置在{right.name}，不归我们网格", suggested_grid_id=right.id):
            return
        with clock.frozen(at + 2 * MINUTE):
            events.route_event(event.id)
        closed = self.close(event, right, resident, self.later(at, HOUR, 6 * HOUR), self.grid_worker(right, number))
        self.after_closing(event, right, resident, closed)

    def _reopen(self, event, grid, resident, at):
        number, (worker, closed) = event.number, self.closed_once(event, grid, resident, at)
        if closed is None:
            return
        rated = self.later(closed, HOUR, 8 * HOUR)
        if not self.resident_act(rated, number, resident, "rate", score=self.rng.choice([1, 2]), comment="根本没处理"):
            return
        asked = self.later(rated, 6 * HOUR, 2 * DAY)
        if self.act(asked, number, self.centre_of(grid), "revisit", outcome="unsatisfied", note="回访不满意，重新处理"):
            self.act(self.later(asked, 3 * HOUR, DAY), number, worker, "resolve", note="已重新清理，并请物业每天巡查",
                     **self.photo())

    def closed_once(self, event, grid, resident, at) -> tuple[Staff, dt.datetime | None]:
        """The first round, before the resident has their say: the grid worker and when it closed."""
        worker = self.grid_worker(grid, event.number)
        return worker, self.close(event, grid, resident, at, worker)

    def _complain(self, event, grid, resident, at):
        number, (worker, closed) = event.number, self.closed_once(event, grid, resident, at)
        if closed is None:
            return
        back = self.later(closed, 4 * HOUR, 2 * DAY)
        if self.resident_act(back, number, resident, "complain", note=self.note("complain")):
            fixed = self.later(back, 2 * HOUR, DAY)
            if self.act(fixed, number, worker, "resolve", note="再次到现场处理，已彻底解决", **self.photo()):
                self.after_closing(event, grid, resident, fixed)

    def _reject(self, event, grid, resident, at):
        number = event.number
        worker = self.grid_worker(grid, number)
        if self.act(at, number, worker, "escalate", note="不属于网格处理范围"):
            self.act(self.later(at, 2 * HOUR, DAY), number, self.head_of(grid), "reject", note=self.note("reject"))

    def _withdraw(self, event, grid, resident, at):
        self.resident_act(self.later(event.created_at, 5 * MINUTE, 30 * MINUTE), event.number, resident, "withdraw")

    def _merge(self, event, grid, resident, at):
        """A neighbour reports the same thing; the grid worker merges the second into the first."""
        number = event.number
        neighbour = self.rng.choice([r for r in self.cast.residents if r.id != resident.id])
        again = self.later(event.created_at, 5 * MINUTE, 40 * MINUTE)
        if again >= self.now:
            return
        lat, lng = event.lat, event.lng
        with clock.frozen(again):
            duplicate = events.submit_event(events.Submission(
                description=event.description, reporter=resident_actor(neighbour), category_code=event.category.code,
                lat=lat, lng=lng, location_confirmed=True)).event
        with clock.frozen(again + MINUTE):
            duplicate = events.route_event(duplicate.id)
        self.tally.steps += 2
        merged = max(at, again + 5 * MINUTE)
        if self.act(merged, duplicate.number, self.grid_worker(grid, duplicate.number), "merge", duplicate_of=number):
            self._own(event, grid, resident, merged + 2 * MINUTE)

    def feedback(self, start: dt.datetime) -> None:
        """意见反馈 about the app, some answered."""
        step = (self.now - start) / (len(FEEDBACK) + 1)
        for n, (text, status) in enumerate(FEEDBACK, start=1):
            at = start + step * n
            with clock.frozen(at):
                row = feedback.submit_feedback(text, resident_id=self.cast.residents[n * 7 % len(self.cast.residents)].id)
            if status != "open":
                with clock.frozen(at + 2 * DAY):
                    feedback.answer_feedback(row.id, status, {"accepted": "谢谢，下个版本加上", "fixed": "已经改好了",
                                                              "declined": "为保护工作人员隐私，暂不显示"}[status])
