"""Every built-in platform's fake implements the contract declared on `FakePlatform`.

The contract suite (test_contract.py) uses only `create_path`, `channel`,
`posts` and the base's `inject`; here each fake is checked to fill them in.
"""

import inspect
import re

import pytest

import govmedia as gm
from govmedia.testing import FakePlatform
from govmedia.testing.sandbox import fake_class

BUILTINS = [name for name in gm.platforms.available() if gm.platforms.get(name).__module__.startswith("govmedia.")]


def test_the_contract_is_declared_on_the_base():
    assert FakePlatform.__abstractmethods__ == {"channel", "create_path", "posts"}
    for member in ("channel", "create_path", "posts"):
        assert inspect.getdoc(getattr(FakePlatform, member))


@pytest.mark.parametrize("name", BUILTINS)
def test_each_fake_implements_the_contract(name):
    cls = fake_class(name)
    assert issubclass(cls, FakePlatform) and not inspect.isabstract(cls)
    assert isinstance(cls.create_path, str)
    re.compile(cls.create_path)
    for member in ("channel", "posts"):
        assert getattr(cls, member) is not getattr(FakePlatform, member)
    fake = cls()
    channel = fake.channel("contract-acct")
    assert isinstance(channel, gm.Channel)
    assert (channel.platform, channel.account) == (name, "contract-acct")
    assert fake.posts() == [] and fake.posts("contract-acct") == []
