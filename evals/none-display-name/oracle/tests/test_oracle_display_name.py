"""Hidden oracle: never in the repository the model sees."""

import pytest
from profiles.api import account_header
from profiles.names import display_name

ANA = {"first_name": "Ana", "last_name": "Lima", "email": "ana@example.com"}


@pytest.mark.parametrize("nickname", [None, "", "   ", "\t"])
def test_no_usable_nickname_means_the_full_name(nickname):
    assert display_name({**ANA, "nickname": nickname}) == "Ana Lima"


def test_a_missing_nickname_key_means_the_full_name():
    assert display_name(ANA) == "Ana Lima"


def test_a_real_nickname_still_wins():
    assert display_name({**ANA, "nickname": " Ace "}) == "Ace"


def test_an_sso_customer_is_greeted_by_name():
    assert account_header({**ANA, "nickname": None})["greeting"] == "Hello, Ana Lima"
