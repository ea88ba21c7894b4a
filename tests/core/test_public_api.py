"""The public surface: a sorted __all__, every name importable and documented."""

import govmedia as gm


def test_all_is_sorted_and_importable():
    assert list(gm.__all__) == sorted(gm.__all__)
    for name in gm.__all__:
        assert getattr(gm, name) is not None


def test_every_public_name_has_a_docstring_with_an_example():
    missing = []
    for name in gm.__all__:
        obj = getattr(gm, name)
        doc = getattr(obj, "__doc__", "") or ""
        if name != "platforms" and "Example" not in doc and not name.endswith("Error") and name not in {
            "AuthError", "RateLimited", "TransientError", "ContentRejected", "DeliveryUnknown"
        }:
            missing.append(name)
    assert missing == []


def test_version_is_lazy_and_a_string():
    assert isinstance(gm.__version__, str)


def test_py_typed_ships():
    import pathlib

    assert (pathlib.Path(gm.__file__).parent / "py.typed").exists()


def test_client_options_are_typed_keywords_and_a_typo_names_the_client():
    """`gm.Client(jounral=...)` passed mypy and the error named a private base (issue 14)."""
    import inspect

    import pytest

    for cls in (gm.Client, gm.AsyncClient):
        params = inspect.signature(cls).parameters
        assert {"journal", "retry", "rate_limits", "concurrency", "timeout", "screen",
                "require_approvals", "tokens", "max_response_bytes", "http"} <= set(params)
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
        with pytest.raises(TypeError, match=rf"{cls.__name__}\.__init__\(\) got an unexpected keyword argument 'jounral'"):
            cls(jounral="typo.db")
