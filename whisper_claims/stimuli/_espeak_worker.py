"""Fork server for espeak-ng: every request is synthesised in a fresh fork of a pristine library state.

libespeak-ng keeps state across syntheses that no API call resets (the pitch-flutter index in
``wavegen.c``, the automatic gain control, the cycle counter), so the n-th synthesis in a process
differs from the first by a few samples, and ``espeak_Terminate`` plus ``espeak_Initialize`` does
not help. This process loads and initialises the library once, never synthesises itself, and
forks a child per request: every child starts from the same state. ``espeak_ng_Initialize`` also
seeds espeak-ng's random generator (breath noise of variants such as f2, f5) with the time, so
each child seeds it with `RAND_SEED` before it speaks. The same request then gives the same
samples in any process.

Run by `whisper_claims.stimuli.espeak` as ``python -I -S _espeak_worker.py LIBRARY DATA_FOLDER``; it uses
the standard library only, so that it starts quickly and never imports torch. Protocol, over
stdin/stdout: the parent writes one JSON object per line; for each, the worker writes one JSON
header line, then ``header["n_bytes"]`` bytes of little-endian int16 samples (0 unless the
request was a synthesis). The first header, sent unasked, is ``{"ok": true, "ready": ...}``.
"""

import ctypes
import json
import os
import sys

# speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
POS_CHARACTER = 1
PARAM_RATE = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_PHONEME = 7
PHONEMES_SEPARATOR_SPACE = ord(" ") << 8  # phonememode bits 8-23: separator between phonemes
RAND_SEED = 0


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def _load(library, data):
    lib = ctypes.CDLL(library)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    if not hasattr(lib, "espeak_ng_SetRandSeed"):
        raise RuntimeError(
            f"{library} has no espeak_ng_SetRandSeed (espeak-ng 1.52 or later), so the breath noise of "
            "some voices could not be made reproducible"
        )
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    sample_rate = lib.espeak_Initialize(
        AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        raise RuntimeError(f"espeak_Initialize failed ({sample_rate}) with data folder {data}")
    version = lib.espeak_Info(None).decode()
    return lib, sample_rate, version


def _set_voice(lib, voice):
    status = lib.espeak_SetVoiceByName(voice.encode())
    if status != 0:
        raise ValueError(f"voice {voice!r} not found (espeak_SetVoiceByName returned {status})")


def _synthesize(lib, request):
    _set_voice(lib, request["voice"])
    status = lib.espeak_SetParameter(PARAM_RATE, int(request["rate"]), 0)
    if status != 0:
        raise ValueError(f"rate {request['rate']!r} refused (espeak_SetParameter returned {status})")
    lib.espeak_ng_SetRandSeed(RAND_SEED)  # espeak_ng_Initialize seeded it with time(NULL)
    chunks, phonemes, words = [], [], []

    def collect(wav, n_samples, events):
        if n_samples > 0:
            chunks.append(ctypes.string_at(wav, 2 * n_samples))
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_PHONEME:
                phonemes.append([event.sample, bytes(event.id.string).split(b"\0")[0].decode("utf-8")])
            elif event.type == EVENT_WORD:
                words.append([event.sample, event.text_position, event.length])
            i += 1
        return 0

    callback = _CALLBACK(collect)  # kept referenced until the synthesis returns
    lib.espeak_SetSynthCallback(callback)
    text = request["text"].encode("utf-8") + b"\0"
    status = lib.espeak_Synth(text, len(text), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
    if status != 0:
        raise RuntimeError(f"espeak_Synth returned {status}")
    audio = b"".join(chunks)
    return {"ok": True, "n_bytes": len(audio), "phonemes": phonemes, "words": words}, audio


def _phonemize(lib, request):
    _set_voice(lib, request["voice"])
    buffer = ctypes.create_string_buffer(request["text"].encode("utf-8"))
    pointer = ctypes.c_void_p(ctypes.addressof(buffer))
    clauses = []
    while pointer.value:  # one clause per call; the pointer is set to NULL after the last
        result = lib.espeak_TextToPhonemes(ctypes.byref(pointer), CHARS_UTF8, PHONEMES_SEPARATOR_SPACE)
        clauses.append(result.decode("utf-8") if result else "")
    return {"ok": True, "n_bytes": 0, "clauses": clauses}, b""


def _run_child(lib, request, out_fd):
    try:
        if request.get("op") == "synthesize":
            header, audio = _synthesize(lib, request)
        elif request.get("op") == "phonemize":
            header, audio = _phonemize(lib, request)
        else:
            header, audio = {"ok": False, "n_bytes": 0, "error": f"unknown op {request.get('op')!r}"}, b""
    except Exception as e:  # reported to the parent, which raises it with the request named
        header, audio = {"ok": False, "n_bytes": 0, "error": f"{type(e).__name__}: {e}"}, b""
    _write_all(out_fd, json.dumps(header).encode() + b"\n" + audio)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd):
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _serve_one(lib, request, out_fd):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        status = 1
        try:
            _run_child(lib, request, write_fd)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    reply = _read_all(read_fd)
    os.close(read_fd)
    _, wait_status = os.waitpid(pid, 0)
    header_line, _, audio = reply.partition(b"\n")
    try:
        header = json.loads(header_line)
        complete = os.waitstatus_to_exitcode(wait_status) == 0 and header["n_bytes"] == len(audio)
    except (ValueError, KeyError, TypeError):
        complete = False
    if not complete:
        reply = json.dumps({
            "ok": False, "n_bytes": 0,
            "error": f"the synthesis process ended with status {os.waitstatus_to_exitcode(wait_status)} "
                     f"after {len(reply)} bytes of reply",
        }).encode() + b"\n"
    _write_all(out_fd, reply)


def main(argv):
    library, data = argv[1], argv[2]
    # the protocol owns the original stdin/stdout; anything the library prints goes to stderr
    in_fd, out_fd = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        lib, sample_rate, version = _load(library, data)
    except (OSError, RuntimeError) as e:
        failure = {"ok": False, "n_bytes": 0, "error": f"{type(e).__name__}: {e}"}
        _write_all(out_fd, json.dumps(failure).encode() + b"\n")
        return 1
    _write_all(out_fd, json.dumps({
        "ok": True, "n_bytes": 0, "ready": True, "sample_rate": sample_rate, "version": version,
    }).encode() + b"\n")
    with os.fdopen(in_fd, "rb") as requests:
        for line in requests:
            _serve_one(lib, json.loads(line), out_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
