"""Matrix: TOML, environment secrets, identity, labels."""

import pytest

import govmedia as gm

TOML = """
[hub]
platform = "webhook"
account = "hub"
options = { url = "https://hub.example/h" }
credentials = { secret = "${HUB_SECRET}" }

[[members]]
platform = "mastodon"
account = "cnpc@social.example"
labels = ["energy", "central"]
credentials = { access_token = "${CNPC_TOKEN}" }
options = { base_url = "https://social.example" }

[[members]]
platform = "webhook"
account = "sinopec"
labels = ["energy"]
options = { url = "https://sinopec.example/h" }
"""


def test_from_file_reads_secrets_from_the_environment(tmp_path):
    f = tmp_path / "matrix.toml"
    f.write_text(TOML, encoding="utf-8")
    env = {"HUB_SECRET": "whsec_AAAA", "CNPC_TOKEN": "tok-cnpc-secret"}
    m = gm.Matrix.from_file(f, env=env)
    assert [c.id for c in m] == ["webhook:hub", "mastodon:cnpc@social.example", "webhook:sinopec"]
    assert m.members[0].credentials["access_token"] == "tok-cnpc-secret"
    assert "tok-cnpc-secret" not in repr(m) and "tok-cnpc-secret" not in repr(list(m))
    assert len(m.select("central")) == 2 and m.labels == ["central", "energy"]


def test_missing_variable_is_named(tmp_path):
    f = tmp_path / "matrix.toml"
    f.write_text(TOML, encoding="utf-8")
    with pytest.raises(gm.ConfigError, match="CNPC_TOKEN"):
        gm.Matrix.from_file(f, env={"HUB_SECRET": "x"})


def test_bad_files_are_config_errors(tmp_path):
    with pytest.raises(gm.ConfigError, match="cannot read"):
        gm.Matrix.from_file(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[hub\n", encoding="utf-8")
    with pytest.raises(gm.ConfigError, match="TOML"):
        gm.Matrix.from_file(bad)
    bad.write_text('[[members]]\nplatform = "x"\naccount = "a"\ntoken = "t"\n', encoding="utf-8")
    with pytest.raises(gm.ConfigError, match="token"):
        gm.Matrix.from_file(bad)


def test_duplicate_identity_is_refused():
    a = gm.Channel(platform="webhook", account="same", labels=("x",))
    b = gm.Channel(platform="webhook", account="same")
    with pytest.raises(gm.ConfigError, match="webhook:same"):
        gm.Matrix(members=[a, b])
