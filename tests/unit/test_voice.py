"""backend/voice.py: WeChat's AMR voice notes decoded to WAV for browsers; anything else refused."""
from __future__ import annotations

import io
import wave

import pytest

from backend import voice
from backend.models import Media


def amr(frames: int, mode_byte: int = 0x3C, size: int = 31, magic: bytes = b"#!AMR\n") -> bytes:
    return magic + (bytes([mode_byte]) + bytes(size)) * frames


@pytest.mark.parametrize("frames", [1, 50, 3000])
def test_amr_becomes_a_wav_of_the_same_length(frames):
    with wave.open(io.BytesIO(voice.amr_to_wav(amr(frames)))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == frames * 160  # 20 ms a frame


def test_amr_wb_keeps_its_16_khz():
    with wave.open(io.BytesIO(voice.amr_to_wav(amr(50, 0x44, 60, b"#!AMR-WB\n")))) as wav:  # mode 8, 23.85 kbit/s
        assert (wav.getframerate(), wav.getnframes()) == (16000, 50 * 320)


@pytest.mark.parametrize("data", [
    b"", b"#!AMR\n", b"#!AMR\n" + b"\xff" * 100, b"#!AMR\n" + b"system($_GET['c']);" * 3,
    b"RIFF....WAVEfmt ", b"\x00" * 64,
])
def test_bytes_that_are_not_amr_are_not_playable(data):
    with pytest.raises(voice.NotPlayable):
        voice.amr_to_wav(data)


def test_a_note_longer_than_five_minutes_is_not_played():
    with pytest.raises(voice.NotPlayable, match="longer than"):
        voice.amr_to_wav(amr(voice.MAX_SECONDS * 50 + 100))


def test_what_a_browser_can_play():
    def media(kind, mime):
        return Media(sha256="0" * 64, mime=mime, size=1, kind=kind)

    assert voice.playable(media("voice", "audio/amr")) and voice.playable(media("voice", "audio/mpeg"))
    assert voice.playable(media("voice", "audio/mp4"))
    assert not voice.playable(media("voice", "audio/silk")) and not voice.playable(media("image", "image/png"))
    with pytest.raises(voice.NotPlayable):
        voice.listen(media("voice", "audio/silk"))


def test_a_note_cut_short_plays_what_came_before():
    whole = amr(50)
    with wave.open(io.BytesIO(voice.amr_to_wav(whole[:-10]))) as wav:  # the last frame torn
        assert 40 * 160 <= wav.getnframes() < 50 * 160
    with wave.open(io.BytesIO(voice.amr_to_wav(amr(20) + b"\xff" * 64))) as wav:  # garbage after good frames
        assert wav.getnframes() >= 19 * 160
