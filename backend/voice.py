"""A resident's voice note, made playable in a browser.

Residents who cannot type well speak to the official account; the chat files a voice note
without recognition as "（居民发来语音，请听附件）", so staff must be able to hear it. WeChat hands
voice notes over as AMR, which browsers do not play (Chromium refuses it, tests/browser; Safari
and iOS have no AMR either). ``listen`` decodes AMR (NB and WB) to a WAV file — plain 16-bit PCM, which every browser
plays — with the AMR decoders of the FFmpeg that PyAV bundles; MP3, M4A and Ogg play as they are.
SILK (some WeChat clients) has no decoder there: the pages offer it for download instead.

Nothing is stored: a minute of speech is ≈ 96 KB of AMR and decodes to ≈ 1 MB of WAV in ≈ 0.2 s
(2 × AMD EPYC vCPU, while a test suite ran), so it is decoded when someone presses play (the
answer carries an ETag; the players load nothing before that, ``preload="none"``). A note cut
short plays as far as it goes.
"""
from __future__ import annotations

import io
import wave

from backend.media import read_bytes
from backend.models import Media

AS_IS = frozenset({"audio/mpeg", "audio/ogg", "audio/mp4"})  # browsers play these themselves
DECODED = frozenset({"audio/amr"})
MAX_SECONDS = 300  # WeChat allows 60 s; a longer "voice note" is not one we made


class NotPlayable(ValueError):
    """Bytes that claim to be a voice note we can play but do not decode."""


def playable(media: Media) -> bool:
    """Whether a browser can play this voice note (as it is, or decoded by ``listen``)."""
    return media.kind == "voice" and media.mime in AS_IS | DECODED


def etag(media: Media) -> str:
    """The played form's ETag: its own, beside the original's (the sha256), for every adapter."""
    return f"{media.sha256}-play"


def listen(media: Media) -> tuple[bytes, str]:
    """(bytes, mime) a browser plays: MP3, M4A and Ogg as they are, AMR as WAV; NotPlayable
    otherwise (MediaMissing / MediaUnavailable from the store, as for any read)."""
    if not playable(media):
        raise NotPlayable(f"{media.mime} cannot be played in a browser")
    data = read_bytes(media)  # at most 2 MB (workers/media.py, miniprogram_api/media.py)
    if media.mime in AS_IS:
        return data, media.mime
    return amr_to_wav(data), "audio/wav"


def amr_to_wav(data: bytes) -> bytes:
    import av  # PyAV: imported on first use (it loads FFmpeg's libraries)

    pcm = bytearray()
    try:
        with av.open(io.BytesIO(data), format="amr") as container:
            if not container.streams.audio:
                raise NotPlayable("no audio stream in the AMR file")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or 8000  # AMR-NB 8 kHz, AMR-WB 16 kHz
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pcm += bytes(out.planes[0])[:out.samples * 2]
                if len(pcm) > MAX_SECONDS * rate * 2:
                    raise NotPlayable(f"longer than {MAX_SECONDS} s")
            for out in resampler.resample(None):
                pcm += bytes(out.planes[0])[:out.samples * 2]
    except NotPlayable:
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:  # what FFmpeg makes of bytes that are not AMR
        if not pcm:
            raise NotPlayable(f"AMR does not decode: {exc}") from exc
        # A note cut short or damaged further on: what came before still plays.
    if not pcm:
        raise NotPlayable("AMR holds no sound")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(pcm))
    return out.getvalue()
