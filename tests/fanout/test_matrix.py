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


# ------------------------------------------------------------ checked on load (issue 14, item 4)

BAD = """
[hub]
platform = "webhook"
account = "hub"
options = { url = "https://hub.example/h" }

[[members]]
platform = "mastadon"
account = "cnpc@social.example"
credentials = { access_token = "tok" }

[[members]]
platform = "mastodon"
account = "sinopec@social.example"
credentials = { acces_token = "tok" }
options = { base_url = "https://social.example" }

[[members]]
platform = "webhook"
account = "ok"
options = { url = "https://ok.example/h" }

[[members]]
platform = "mastodon"
account = "crrc@social.example"
credentials = { access_token = "${CRRC_TOKEN}" }
options = { base_url = "https://social.example" }
"""


def test_every_bad_channel_is_named_in_one_error(tmp_path):
    f = tmp_path / "matrix.toml"
    f.write_text(BAD, encoding="utf-8")
    with pytest.raises(gm.ConfigError) as info:
        gm.Matrix.from_file(f, env={})
    message = str(info.value)
    assert message.startswith(f"{f}: 3 of 5 channel(s) cannot be used")
    assert ("members[0] mastadon:cnpc@social.example: unknown platform 'mastadon' "
            "(did you mean 'mastodon'?)") in message
    assert "members[1] mastodon:sinopec@social.example: missing credential(s) access_token" in message
    assert "members[3].credentials.access_token: environment variable CRRC_TOKEN is not set" in message
    assert "members[2]" not in message and "hub" not in message.split(":", 1)[1]


def test_a_matrix_made_in_code_is_checked_too():
    good = gm.Channel(platform="webhook", account="a", options={"url": "https://a.example/h"})
    with pytest.raises(gm.ConfigError) as info:
        gm.Matrix(hub=gm.Channel(platform="wechat_oa", account="gh_a", credentials={"app_id": "wx1"}),
                  members=[good, gm.Channel(platform="webhook", account="b", options={"colour": "red"})])
    message = str(info.value)
    assert "2 of 3 channel(s)" in message
    assert "hub wechat_oa:gh_a: missing credential(s) app_secret" in message
    assert "members[1] webhook:b: unknown option(s) colour" in message


class _Notice(gm.BasePlatform):
    name = "notice"
    credential_keys = ("api_key",)
    option_keys = ("base_url",)


def test_plugin_platforms_are_checked_like_the_built_ins():
    gm.platforms.register("notice", f"{__name__}:_Notice")  # lazy, as an entry point is
    gm.platforms.register("broken_plugin", "govmedia_no_such_module:Broken")
    try:
        with pytest.raises(gm.ConfigError) as info:
            gm.Matrix(members=[
                gm.Channel(platform="notice", account="a", credentials={"api_key": "k"}),
                gm.Channel(platform="notice", account="b", credentials={"apikey": "k"}),
                gm.Channel(platform="broken_plugin", account="c"),
            ])
        ok = gm.Matrix(members=[gm.Channel(platform="notice", account="a", credentials={"api_key": "k"})])
    finally:
        gm.platforms.unregister("notice")
        gm.platforms.unregister("broken_plugin")
    message = str(info.value)
    assert "members[1] notice:b: missing credential(s) api_key; notice takes api_key" in message
    assert "members[2] broken_plugin:c: platform 'broken_plugin' failed to load" in message
    assert "members[0]" not in message
    assert len(ok) == 1


def test_select_with_a_label_nobody_carries_names_the_labels():
    members = [gm.Channel(platform="webhook", account=f"m{i}", labels=(label,),
                          options={"url": f"https://m{i}.example/h"})
               for i, label in enumerate(["energy", "central", "energy"])]
    matrix = gm.Matrix(hub=gm.Channel(platform="webhook", account="hub", options={"url": "https://h.example/h"}),
                       members=members)
    assert len(matrix.select("energy")) == 3
    with pytest.raises(gm.ConfigError, match=r"no member carries the label 'enrgy' \(did you mean 'energy'\?\); "
                                             r"the labels there are: central, energy"):
        matrix.select("enrgy")
    with pytest.raises(gm.ConfigError, match="no member has a label"):
        gm.Matrix(members=[members[0].__class__(platform="webhook", account="x",
                                                 options={"url": "https://x.example/h"})]).select("energy")


def test_a_channel_its_matrix_checked_under_another_platform_class_is_checked_again():
    # The fan-out trusts its Matrix's check only when the same platform class
    # made it: a plugin replaced in between judges the channel itself.
    class Board(gm.BasePlatform):
        name = "pinboard"
        option_keys = ("room",)

    class StrictBoard(Board):
        required_options = ("room",)

    gm.platforms.register("pinboard", Board)
    try:
        matrix = gm.Matrix(members=[gm.Channel(platform="pinboard", account="a")])
        gm.platforms.register("pinboard", StrictBoard, replace=True)
        with gm.Client(journal=False) as client:
            report = client.fan_out(gm.Post(text="hi"), matrix)
    finally:
        gm.platforms.unregister("pinboard")
    [delivery] = report.deliveries
    assert delivery.state == "invalid"
    assert "room" in str(delivery.error)
