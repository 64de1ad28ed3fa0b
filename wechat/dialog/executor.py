"""Run the engine's commands against backend services; turn domain errors into ``Result``s.

Each handler is a thin call into one service. A ``DomainError`` is an answer for the person
(“这件事现在是‘处置中’，不能撤回”) and nothing was written; any other exception is a fault
and propagates, so the callback's error handling and logs see it.
"""
from __future__ import annotations

from backend.errors import DomainError
from backend.models import Staff
from backend.services import actions, events, follow, personal_data, revisits
from backend.services import staff as staff_service
from backend.services.context import resident_actor, staff_actor
from backend.workflow import LEVEL_NAMES
from wechat.dialog import lookups, texts
from wechat.dialog.facts import PlaceFact
from wechat.dialog.commands import (
    AddToReport,
    AnswerRevisit,
    BindStaff,
    EraseMyData,
    KeepPhone,
    SetFollowing,
    FollowEvent,
    QuickRecord,
    RememberLocation,
    ResidentAction,
    Result,
    StaffAction,
    SubmitReport,
)


class Executor:
    def __init__(self, openid: str, store):
        self.openid = openid
        self.store = store

    def run(self, command) -> Result:
        handler = {
            SubmitReport: self._submit, AddToReport: self._add, EraseMyData: self._erase, FollowEvent: self._follow, ResidentAction: self._resident_action,
            StaffAction: self._staff_action, QuickRecord: self._quick_record, BindStaff: self._bind,
            RememberLocation: self._remember, SetFollowing: self._following, AnswerRevisit: self._revisit,
            KeepPhone: self._phone,
        }[type(command)]
        try:
            return handler(command)
        except DomainError as err:
            return Result.refused(err.code, err.message)

    def _staff(self, staff_id: int) -> Staff:
        staff = staff_service.staff_for_openid(self.openid)
        if staff is None or staff.id != staff_id:
            raise DomainError("staff_only", "只有工作人员可以这样做")
        return staff

    def _submit(self, cmd: SubmitReport) -> Result:
        resident = follow.resident_for_openid(self.openid)
        result = events.submit_event(events.Submission(
            description=cmd.description, reporter=resident_actor(resident), source="wechat",
            category_code=cmd.category_code, lat=cmd.lat, lng=cmd.lng, datum=cmd.datum, address=cmd.address,
            building_unit_id=cmd.building_unit_id, grid_id=cmd.grid_id, location_confirmed=cmd.located,
            client_key=cmd.client_key,
            wechat_media_ids=list(cmd.wechat_media_ids),
        ))
        event = result.event
        offer = result.created and not cmd.emergency and personal_data.offer_phone_once(resident)  # once, never required
        return Result.done(number=event.number, grid_name=event.grid.name if event.grid_id else None,
                           created=result.created, offer_phone=offer)

    def _add(self, cmd: AddToReport) -> Result:
        """The place, words or photos that follow an emergency report (engine_emergency)."""
        actor = resident_actor(follow.resident_for_openid(self.openid))
        if cmd.place:
            place = PlaceFact.from_dict(cmd.place)
            event = events.add_place(
                cmd.number, actor, lat=place.lat, lng=place.lng, datum=place.datum, address=place.label or None,
                building_unit_id=place.building_unit_id,
                grid_id=place.grid_id if place.lat is None and not place.building_unit_id else None)
            return Result.done(number=event.number, grid_name=event.grid.name if event.grid_id else None)
        note = cmd.note or texts.PHOTO_ADDED_NOTE
        event = actions.perform(cmd.number, actor, "comment",
                                {"note": note, "wechat_media_ids": list(cmd.wechat_media_ids)})
        return Result.done(number=event.number)

    def _phone(self, cmd: KeepPhone) -> Result:
        return Result.done(phone=personal_data.keep_phone(follow.resident_for_openid(self.openid), cmd.raw))

    def _revisit(self, cmd: AnswerRevisit) -> Result:
        resident = follow.resident_for_openid(self.openid)
        event = revisits.answer(resident.id, cmd.words, cmd.number)
        return Result.done(number=event.number, status=event.status)

    def _following(self, cmd: SetFollowing) -> Result:
        follow.set_following(self.openid, cmd.following)
        return Result.done()

    def _erase(self, cmd: EraseMyData) -> Result:
        done = personal_data.erase_resident(follow.resident_for_openid(self.openid))
        return Result.done(anonymised=done.anonymised, waiting=done.waiting)

    def _follow(self, cmd: FollowEvent) -> Result:
        event = follow.follow_event(cmd.number, follow.resident_for_openid(self.openid))
        return Result.done(number=event.number)

    def _resident_action(self, cmd: ResidentAction) -> Result:
        actor = resident_actor(follow.resident_for_openid(self.openid))
        params = {"score": cmd.score, "comment": cmd.comment} if cmd.action == "rate" else {}
        if cmd.action == "complain":
            params = {"note": cmd.comment}
        event = actions.perform(cmd.number, actor, cmd.action, params)
        return Result.done(number=event.number, status=event.status)

    def _staff_action(self, cmd: StaffAction) -> Result:
        staff = self._staff(cmd.staff_id)
        params: dict = {}
        if cmd.note:
            params["note"] = cmd.note
        if cmd.action == "return" and cmd.note:
            grid = lookups.grid_named_in(cmd.note, exclude=staff.area_id)  # "退回 3 应该是金源第二网格的"
            if grid is not None:
                params["suggested_grid_id"] = grid.id
        if cmd.wechat_media_ids:
            params["wechat_media_ids"] = list(cmd.wechat_media_ids)
            params["photo_count"] = len(cmd.wechat_media_ids)
        event = actions.perform(cmd.number, staff_actor(staff), cmd.action, params)
        level = LEVEL_NAMES.get(event.holder_level or "", "")
        return Result.done(number=event.number, status=event.status, short=int(event.number.rsplit("-", 1)[1]),
                           holder=level)

    def _quick_record(self, cmd: QuickRecord) -> Result:
        staff = self._staff(cmd.staff_id)
        event = events.quick_record(staff, cmd.description, lat=cmd.lat, lng=cmd.lng, datum=cmd.datum,
                                    wechat_media_ids=list(cmd.wechat_media_ids), client_key=cmd.client_key)
        return Result.done(number=event.number)

    def _bind(self, cmd: BindStaff) -> Result:
        staff = staff_service.bind_openid(cmd.token, self.openid)
        area = staff.area.name if staff.area_id else ""
        return Result.done(role=lookups.role_name(staff.role), name=staff.name, area=area)

    def _remember(self, cmd: RememberLocation) -> Result:
        self.store.remember_location(self.openid, cmd.lat, cmd.lng, cmd.at)
        return Result.done()
