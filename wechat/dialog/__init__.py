"""The chat dialog (DESIGN §4): ``respond(incoming, redis) -> str | None``.

A thin shell around the pure engine: under a per-person lease it loads the state from the
database, gathers the facts this message needs (database reads), calls ``engine.handle``,
runs the commands it returns through the executor (backend services), lets
``engine.conclude`` word each result, saves the state and returns the reply. ``None`` means
“answer success”. ``redis`` is part of the dispatch contract; the dialog no longer needs it
(its state moved to the database: a Redis outage costs a resident nothing here).

Nothing here calls WeChat: media are downloaded and people notified by jobs, so every
message is answered within the request.
"""
from __future__ import annotations

from backend import config
from backend.db import open_connection
from wechat.messages import Incoming


def respond(incoming: Incoming, redis) -> str | None:
    from wechat.dialog import engine, texts
    from wechat.dialog.executor import Executor
    from wechat.dialog.gather import gather
    from wechat.dialog.store import Busy, DialogStore

    if not incoming.openid:
        return None
    settings = config.current()
    store = DialogStore(settings.dialog_ttl_seconds)
    quiet = engine.is_silent(incoming) or incoming.event == "unsubscribe"
    with open_connection():
        try:
            with store.lock(incoming.openid):
                state = store.load(incoming.openid)
                expired = store.expired_flow(incoming.openid) if state.idle else None
                facts = gather(state, incoming, settings, store, expired)
                outcome = engine.handle(state, incoming, facts)
                executor = Executor(incoming.openid, store)
                for command in outcome.commands:
                    outcome = engine.conclude(outcome, command, executor.run(command))
                if not engine.is_silent(incoming):  # a position report must not keep a draft alive
                    store.save(incoming.openid, outcome.state)
                return outcome.reply
        except Busy:
            return None if quiet else texts.BUSY
