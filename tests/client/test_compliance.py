"""The compliance gate in the client: screening, approvals, script, extra checks."""

import attrs
import pytest

import govmedia as gm
import govmedia.content
from govmedia.content.checks import Checks
from govmedia.testing import Sandbox

POST = gm.Post(title="央企人事调整", text="关于张三同志任职的通知")


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["webhook"])


def test_a_screened_term_refuses_before_any_request(sandbox, tmp_path):
    screen = gm.Screen(["任职"])
    ch = sandbox.channel("webhook", "cms")
    with gm.Client(http=sandbox.client(), screen=screen, journal=tmp_path / "j.db") as client:
        problems = client.check(POST, ch)
        assert [p.code for p in problems] == ["screened_term"]
        assert problems[0].field == "text"
        with pytest.raises(gm.ValidationError) as info:
            client.publish(POST, ch)
        trail = client.journal.audit_trail(POST.key)
    assert "任职" in str(info.value)
    assert sandbox["webhook"].log == []
    assert trail[0]["kind"] == "refusal" and "screened_term" in trail[0]["detail"]


def test_screening_catches_evasions_in_a_fan_out(sandbox):
    post = gm.Post(text="内容含敏-感词", tags=("正常",))
    chs = [sandbox.channel("webhook", f"m{i}") for i in range(3)]
    with gm.Client(http=sandbox.client(), screen=gm.Screen(["敏感词"])) as client:
        report = client.fan_out(post, chs)
    assert report.summary() == {"invalid": 3}
    hit = report.deliveries[0].problems[0]
    assert hit.code == "screened_term" and "敏-感词" in hit.message
    assert sandbox["webhook"].log == []


def test_approvals_gate_and_audit_in_a_fan_out(sandbox, tmp_path):
    chs = [sandbox.channel("webhook", f"m{i}") for i in range(2)]
    approved = POST.approve("张三").approve("李四")
    edited = attrs.evolve(approved, text="改动后的通知")
    with gm.Client(http=sandbox.client(), require_approvals=2, journal=tmp_path / "j.db") as client:
        refused = client.fan_out(edited, chs)
        accepted = client.fan_out(approved, chs)
        trail = client.journal.audit_trail(approved.key)
    assert edited.key == approved.key  # evolve keeps the key: one audit trail per post
    assert refused.summary() == {"invalid": 2}
    assert "void" in refused.deliveries[0].problems[0].message
    assert accepted.summary() == {"published": 2}
    kinds = [(r["kind"], r["actor"]) for r in trail]
    assert kinds[:2] == [("approval_void", "张三"), ("approval_void", "李四")]
    assert [k for k, _ in kinds[2:4]] == ["refusal", "refusal"]
    assert kinds[4:] == [("approval", "张三"), ("approval", "李四")]
    assert trail[0]["content_hash"] != edited.content_hash


def test_script_option_converts_on_the_way_out(sandbox):
    ch = sandbox.channel("webhook", "hk", script="traditional")
    post = gm.Post(title="国资小新", text="央企发布 https://example.org/国").approve("张三")
    with gm.Client(http=sandbox.client(), require_approvals=1) as client:
        assert client.check(post, ch) == []  # approvals bind the content as written
        client.publish(post, ch)
    data = sandbox["webhook"].posts()[0]["data"]
    assert data["title"] == "國資小新" and data["text"].startswith("央企發佈")
    assert data["text"].endswith("https://example.org/国")  # links are left alone


def test_screen_matches_across_scripts(sandbox):
    ch = sandbox.channel("webhook", "cms")
    with gm.Client(http=sandbox.client(), screen=gm.Screen(["国资"])) as client:
        assert [p.code for p in client.check(gm.Post(text="國資小新"), ch)] == ["screened_term"]


def test_bad_script_value_is_a_config_error(sandbox):
    ch = sandbox.channel("webhook", "cms", script="klingon")
    with gm.Client(http=sandbox.client()) as client, pytest.raises(gm.ConfigError, match="script"):
        client.check(POST, ch)


def test_extra_checks_run_on_what_is_sent(sandbox):
    def no_names(post, channel):
        if "张三" in (post.text or ""):
            return [gm.Problem(code="personal_name", message="names need HR sign-off", field="text")]
        return []

    ch = sandbox.channel("webhook", "cms")
    with gm.Client(http=sandbox.client()) as client:
        client._checks = Checks({"hr": no_names})
        assert [p.code for p in client.check(POST, ch)] == ["personal_name"]


def test_screen_option_must_be_a_screen():
    with pytest.raises(gm.ConfigError, match="Screen"):
        gm.Client(screen=["敏感词"])


def test_fit_option_shortens_instead_of_refusing():
    sandbox = Sandbox(platforms=["mastodon"])
    post = gm.Post(text="国资委召开中央企业负责人会议，部署下一阶段重点工作。" * 30,
                   link="https://www.sasac.gov.cn/n1/c2.html", tags=("国资委",))
    strict = sandbox.channel("mastodon", "strict")
    fitting = sandbox.channel("mastodon", "fitting", fit=True)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        assert [p.code for p in client.check(post, strict)] == ["too_long"]
        assert client.check(post, fitting) == []
        client.publish(post, fitting)
    [status] = sandbox["mastodon"].posts("fitting")  # the strict fake took it: it fits
    assert "国资委</span></a></p>" in status["content"]  # the tag survived at the end
    fitted = gm.content.fit_post(post, "mastodon").text
    assert gm.content.count_mastodon(fitted) <= 500
    assert fitted.endswith("… #国资委")  # Post.text is sent as written: no link added
