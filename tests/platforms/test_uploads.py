"""`platforms.uploads`: a saved upload session resumes only for the very file it was for."""

import os
import time

import govmedia as gm
from govmedia.platforms.uploads import SavedUpload, refused

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(1000)


def saved_for(media, **session):
    return SavedUpload.of(media, "video").save("uploading", session).data


def test_the_same_file_finds_its_session_with_its_fields():
    media = gm.Media.from_bytes(MP4, filename="clip.mp4")
    saved = saved_for(media, upload_id="u1", offset=500, part_size=250)
    again = SavedUpload.of(gm.Media.from_bytes(MP4, filename="clip.mp4"), "video")
    assert again.recall(saved, part_size=250) == {
        "upload_id": "u1", "offset": 500, "part_size": 250, "source": again.source}


def test_another_slot_other_bytes_or_parts_cut_another_way_find_nothing():
    media = gm.Media.from_bytes(MP4, filename="clip.mp4")
    saved = saved_for(media, upload_id="u1", part_size=250)
    assert SavedUpload.of(media, "upload_0").recall(saved) is None
    other = gm.Media.from_bytes(MP4[:-1] + b"\x01", filename="clip.mp4")  # same name and size
    assert SavedUpload.of(other, "video").recall(saved) is None
    assert SavedUpload.of(media, "video").recall(saved, part_size=500) is None
    assert SavedUpload.of(media, "video").recall({}) is None
    assert SavedUpload.of(media, "video").recall(None) is None


def test_a_file_edited_in_place_or_gone_finds_nothing(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(MP4)
    saved = saved_for(gm.Media.from_path(path), upload_id="u1")
    assert SavedUpload.of(gm.Media.from_path(path), "video").recall(saved)["upload_id"] == "u1"
    path.write_bytes(MP4[:-1] + b"\x01")  # the same size
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert SavedUpload.of(gm.Media.from_path(path), "video").recall(saved) is None
    media = gm.Media.from_path(path)
    path.unlink()
    gone = SavedUpload.of(media, "video")
    assert gone.recall(gone.save("uploading", {"upload_id": "u2"}).data) is None


def test_forget_drops_the_slot_and_refusals_are_told_from_faults():
    step = SavedUpload.of(gm.Media.from_bytes(MP4, filename="clip.mp4"), "video").forget()
    assert (step.stage, dict(step.data), step.save) == ("uploaded", {"video": None}, True)
    assert refused(gm.ContentRejected("upload_id expired", code=400))
    assert refused(gm.PlatformError("unknown session", code=404))
    for fault in (gm.TransientError("502"), gm.RateLimited("slow down"), gm.AuthError("401"),
                  gm.DeliveryUnknown("lost")):
        assert not refused(fault)


def test_sent_reports_the_progress_then_saves_the_session():
    from govmedia.platforms.steps import Uploaded

    upload = SavedUpload.of(gm.Media.from_bytes(MP4, filename="clip.mp4"), "video")
    progress, saved = upload.sent("clip.mp4", {"offset": 500}, sent=500, total=1012)
    assert progress == Uploaded("clip.mp4", sent=500, total=1012)
    assert saved == upload.save("uploading", {"offset": 500})
