from nightfix.autonomy import notify
from nightfix.policy import NotifyPolicy

NOTE = notify.Notification(
    "pull_request_opened",
    "r1",
    "PR #1 fixes ConnectionPoolExhausted",
    fields={"Issue": "#7", "Cost": "$0.00"},
    details="```diff\n+x\n```",
)


async def test_notification_received_by_a_local_webhook(webhook):
    ok = await notify.send(NotifyPolicy(webhook_url=webhook.url), NOTE)
    assert ok
    [payload] = webhook.received
    assert payload["text"].startswith(":wrench: nightfix opened a pull request — run r1")
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "section", "section", "section", "context"]
    assert payload["blocks"][2]["fields"][0]["text"] == "*Issue*\n#7"


async def test_refused_or_unreachable_webhook_is_not_fatal(webhook):
    webhook.status = 500
    assert not await notify.send(NotifyPolicy(webhook_url=webhook.url), NOTE)
    dead = NotifyPolicy(webhook_url="http://127.0.0.1:9/hook", timeout_s=2)
    assert not await notify.send(dead, NOTE)


async def test_without_a_webhook_it_is_printed(capsys):
    assert await notify.send(NotifyPolicy(), NOTE)
    out = capsys.readouterr().out
    assert "nightfix opened a pull request — run r1" in out and "Cost: $0.00" in out


def test_long_details_are_cut_visibly():
    note = notify.Notification("stopped", "r1", "x", details="y" * 10_000)
    section = note.payload()["blocks"][-2]["text"]["text"]
    assert len(section) <= 3000 and section.endswith("[cut by nightfix]")


async def test_secret_values_never_leave_in_a_notification(webhook, monkeypatch):
    secret = "ghp_" + "s3cr3t" * 6
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    note = notify.Notification(
        "stopped", "r1", f"failed with {secret}", fields={"Why": secret}, details=f"token={secret}"
    )
    assert await notify.send(NotifyPolicy(webhook_url=webhook.url), note)
    sent = str(webhook.received)
    assert secret not in sent and "[REDACTED:GITHUB_TOKEN]" in sent
