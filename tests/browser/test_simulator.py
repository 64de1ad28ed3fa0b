"""The chat simulator in headless Chromium against the real /wechat (issue 3).

Screenshots land in test-output/ (simulator-*.png).
"""
from __future__ import annotations

import requests

from tests.factories import make_world


def png() -> bytes:
    import io

    import qrcode
    from qrcode.image.pure import PyPNGImage

    out = io.BytesIO()
    qrcode.make("a picture of a broken street lamp", image_factory=PyPNGImage).save(out)
    return out.getvalue()


def open_simulator(page, sandbox, live_app):
    sandbox.configure(callback_url=f"{live_app.url}/wechat")
    external = []
    page.on("request", lambda r: None if r.url.startswith(sandbox.url) else external.append(r.url))
    page.goto(f"{sandbox.url}/_sandbox/chat")
    page.wait_for_function("document.querySelectorAll('#menu button').length > 0")
    return external


def test_send_text_and_see_the_reply(page, sandbox, live_app, screenshot):
    world = make_world()
    external = open_simulator(page, sandbox, live_app)
    assert page.locator("#callback-url").inner_text() == f"{live_app.url}/wechat"
    assert page.locator(f"#identity option[value='{world.worker_a.oa_openid}']").count() == 1
    page.fill("#openid", "sandbox-browser-resident")
    page.fill("#text", "你好")
    page.press("#text", "Enter")
    reply = page.locator("#transcript li.in .bubble").first
    reply.wait_for(timeout=10000)
    assert reply.inner_text().strip()
    assert page.locator("#transcript li.out .bubble").first.inner_text() == "你好"
    assert page.locator("#transcript .problem").count() == 0
    assert "HTTP 200" in page.locator("#transcript li.out .meta").first.inner_text()
    screenshot("simulator-text")
    assert external == []  # everything the page loads is served by the sandbox (no CDN)


def test_location_click_menu_and_customer_message(page, sandbox, live_app, screenshot):
    make_world()
    open_simulator(page, sandbox, live_app)
    page.fill("#openid", "sandbox-browser-map")
    page.dispatch_event("#openid", "change")
    page.locator("#menu button[data-key='HELP']").click()
    page.locator("#transcript li.out .meta", has_text="HTTP").first.wait_for(timeout=10000)
    grid = page.locator("#map path.leaflet-interactive").first  # a seeded grid polygon
    grid.wait_for(timeout=5000)
    grid.click()
    assert page.locator("#send-location").is_enabled()
    page.click("#send-location")
    page.locator("#transcript li.out .meta", has_text="HTTP").nth(1).wait_for(timeout=10000)
    page.set_input_files("#picture", files=[{"name": "road.png", "mimeType": "image/png", "buffer": png()}])
    page.click("#send-picture")
    page.locator("#transcript li.out .meta", has_text="HTTP").nth(2).wait_for(timeout=10000)
    assert page.locator("#transcript li.out img").count() == 1
    assert page.locator("#transcript .problem").count() == 0
    # A customer-service message the sandbox receives shows up in the chat and in the side panel.
    token = requests.post(f"{sandbox.url}/cgi-bin/stable_token", timeout=5, json={
        "grant_type": "client_credential", "appid": sandbox.settings.wechat_app_id,
        "secret": sandbox.settings.wechat_app_secret}).json()["access_token"]
    requests.post(f"{sandbox.url}/cgi-bin/message/custom/send", params={"access_token": token}, timeout=5,
                  json={"touser": "sandbox-browser-map", "msgtype": "text", "text": {"content": "您的事件已受理"}})
    page.locator("#transcript li.in .bubble", has_text="您的事件已受理").wait_for(timeout=5000)
    page.locator("#calls li", has_text="您的事件已受理").wait_for(timeout=5000)
    screenshot("simulator-map")
