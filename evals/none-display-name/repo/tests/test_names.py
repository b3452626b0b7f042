from profiles.api import account_header
from profiles.names import display_name

ANA = {"first_name": "Ana", "last_name": "Lima", "email": "ana@example.com"}


def test_the_nickname_wins():
    assert display_name({**ANA, "nickname": "  Ace "}) == "Ace"


def test_an_empty_nickname_falls_back_to_the_full_name():
    assert display_name({**ANA, "nickname": ""}) == "Ana Lima"


def test_the_header_greets_by_display_name():
    assert account_header({**ANA, "nickname": "Ace"})["greeting"] == "Hello, Ace"
