"""`release`: a large request body is freed when its answer is read, not at the next full collection."""

import gc
import weakref

import httpx

from govmedia.platforms.steps import release


def _sent(http):
    request = http.build_request("POST", "https://upload.example/part", content=bytes(1 << 20))
    return weakref.ref(request), http.send(request)


def test_an_answer_released_lets_its_request_go_at_once():
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"result": 1})))
    gc.collect()
    gc.disable()
    try:
        kept, response = _sent(http)
        del response
        assert kept() is not None  # httpx's response <-> stream cycle holds it
        freed, response = _sent(http)
        assert release(response).json() == {"result": 1}
        del response
        assert freed() is None
    finally:
        gc.enable()


def test_a_response_still_streaming_is_left_alone():
    stream = httpx.ByteStream(b"{}")
    response = httpx.Response(200, stream=stream)
    assert release(response) is response and response.stream is stream
    assert response.read() == b"{}"
