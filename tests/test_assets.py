import csv
import hashlib
import re
import socket
from pathlib import Path

import pytest

from whisper_claims import downloads
from whisper_claims.downloads import download_verified
from whisper_claims.errors import AssetUnavailable, ChecksumMismatch, DownloadError, ManifestError
from whisper_claims.files import sha256_file, verify_file
from whisper_claims.stimuli.assets import (DEFAULT_MANIFEST, Asset, AssetLocations, check_assets, default_locations,
                                           load_manifest, resolve_asset)

SHARED_ASSETS = Path(__file__).parents[1].parent / "shared" / "assets"
HOT_ONES_SHA = "7ed4c4d590f666c8f15d3b0c76a22945913bbcd1260eb67b56fa436e341e5691"
HEADER = "name\turl\tsha256\tbytes\tlicence\tpurpose\n"

needs_shared_assets = pytest.mark.skipif(
    not SHARED_ASSETS.is_dir(), reason=f"local asset folder {SHARED_ASSETS} is absent"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_asset(name: str, data: bytes, url: str = "") -> Asset:
    return Asset(name, url, sha(data), len(data), "test licence", "test purpose")


def write_manifest(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


# -- manifest ---------------------------------------------------------------------------


def test_manifest_loads_with_valid_entries():
    manifest = load_manifest()
    assert len(manifest) > 100
    for name, asset in manifest.items():
        assert asset.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", asset.sha256), name
        assert asset.size > 0, name
        assert asset.licence and asset.purpose, name
    assert manifest["blog/encoder/Hot_ones.wav"].sha256 == HOT_ONES_SHA
    assert manifest["blog/encoder/Hot_ones.wav"].size == 384058


def test_manifest_names_are_unique_in_the_file():
    lines = DEFAULT_MANIFEST.read_text().splitlines()[1:]
    names = [line.split("\t")[0] for line in lines if line.strip()]
    assert len(names) == len(set(names))


def test_manifest_urls():
    blog = "https://er537.github.io/blog/assets/images/whisper_interpretability/"
    raw = re.compile(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+")
    for name, asset in load_manifest().items():
        if name.startswith("blog/"):
            assert asset.url == blog + name.removeprefix("blog/")
        elif "derived" in asset.purpose:
            assert asset.url == "", name
        else:
            assert raw.fullmatch(asset.url), name


@needs_shared_assets
def test_manifest_agrees_with_the_asset_folder_manifests():
    manifest = load_manifest()
    for part in ("blog", "speech"):
        with open(SHARED_ASSETS / part / "MANIFEST.tsv", newline="") as f:
            theirs = {f"{part}/{r['path']}": r for r in csv.DictReader(f, delimiter="\t")}
        ours = {n: a for n, a in manifest.items() if n.startswith(part + "/")}
        assert ours and set(ours) <= set(theirs)
        for name, asset in ours.items():
            row = theirs[name]
            assert (asset.sha256, asset.size) == (row["sha256"], int(row["bytes"]))
        if part == "blog":
            assert set(ours) == set(theirs)


NEW_SPEECH = ("berkeley_phonlab", "ljspeech_mfa", "mfa_test_corpus", "timit_nltk_sample")  # issue #32
RECORDING_FILES = (".wav", ".flac", ".TextGrid", ".phn", ".wrd")


def new_speech_rows() -> dict[str, Asset]:
    return {n: a for n, a in load_manifest().items() if n.startswith(tuple(f"speech/{f}/" for f in NEW_SPEECH))}


@needs_shared_assets
def test_new_speech_rows_list_every_recording_with_its_alignments_at_its_source():
    with open(SHARED_ASSETS / "speech" / "MANIFEST.tsv", newline="") as f:
        theirs = {f"speech/{r['path']}": r for r in csv.DictReader(f, delimiter="\t")}
    ours = new_speech_rows()
    expected = {n for n in theirs if n.split("/")[1] in NEW_SPEECH and (
        n.endswith(RECORDING_FILES) or (n.endswith(".txt") and n.count("/") == 3))}  # TIMIT's transcripts
    assert set(ours) == expected and len(ours) == 719  # 160 x 4 + 34 x 2 + 4 x 2 + 1 + 1 x 2
    for name, asset in ours.items():
        repo_commit, path = theirs[name]["source_repo@commit:path"].split(":", 1)
        repo, commit = repo_commit.split("@")
        assert asset.url == f"https://raw.githubusercontent.com/{repo}/{commit}/{path.replace(' ', '%20')}", name
        assert theirs[name]["status"] == "verbatim" and "derived" not in asset.purpose
        if "/timit_nltk_sample/" in name:
            assert "CC BY-NC-SA" in asset.licence and "non-commercial" in asset.licence, name
            assert "never redistributed" in asset.licence, name
    counts = {folder: sum(n.split("/")[1] == folder for n in ours) for folder in NEW_SPEECH}
    assert counts == {"berkeley_phonlab": 2, "ljspeech_mfa": 68, "mfa_test_corpus": 9, "timit_nltk_sample": 640}


def test_new_speech_rows_verify_against_the_asset_folder(tmp_path):
    """Every new row against ``$WHISPER_CLAIMS_ASSETS`` (sha256 and all): the folder the suite is run with."""
    locations = default_locations(cache=tmp_path / "cache", allow_download=False)
    if locations.folder is None or not (locations.folder / "speech" / "timit_nltk_sample").is_dir():
        pytest.skip("$WHISPER_CLAIMS_ASSETS is unset or holds no speech/timit_nltk_sample")
    results = check_assets(locations, new_speech_rows())
    assert len(results) == 719
    assert [msg for _, _, msg in results if msg != "ok"] == []
    assert all(path == locations.folder / asset.name for asset, path, _ in results)


@pytest.mark.parametrize(
    "row, problem",
    [
        ("a.wav\t\tnot-a-sha\t10\tl\tp", "sha256"),
        ("a.wav\t\t" + "0" * 64 + "\t10\tl", "fields"),
        ("a.wav\t\t" + "0" * 64 + "\tten\tl\tp", "bytes"),
        ("../a.wav\t\t" + "0" * 64 + "\t10\tl\tp", "relative path"),
        ("a.wav\tftp://x/a.wav\t" + "0" * 64 + "\t10\tl\tp", "url"),
    ],
)
def test_malformed_manifest_names_file_and_line(tmp_path, row, problem):
    good = "ok.wav\t\t" + "1" * 64 + "\t5\tl\tp"
    path = write_manifest(tmp_path / "assets.tsv", [good, row])
    with pytest.raises(ManifestError, match=problem) as info:
        load_manifest(path)
    assert f"{path}:3:" in str(info.value)


def test_duplicate_manifest_entry_names_both_lines(tmp_path):
    row = "a.wav\t\t" + "1" * 64 + "\t5\tl\tp"
    path = write_manifest(tmp_path / "assets.tsv", [row, row])
    with pytest.raises(ManifestError, match=r"duplicate asset 'a.wav'.*line 2") as info:
        load_manifest(path)
    assert f"{path}:3:" in str(info.value)


def test_bad_header_and_missing_manifest(tmp_path):
    path = tmp_path / "assets.tsv"
    path.write_text("name\tsha256\n")
    with pytest.raises(ManifestError, match=rf"{re.escape(str(path))}:1: header"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="missing.tsv"):
        load_manifest(tmp_path / "missing.tsv")


# -- resolving from folder and cache ---------------------------------------------------


@needs_shared_assets
def test_every_manifest_entry_resolves_from_the_asset_folder(tmp_path):
    locations = AssetLocations(SHARED_ASSETS, tmp_path / "cache", allow_download=False)
    results = check_assets(locations)
    assert [msg for _, _, msg in results if msg != "ok"] == []
    for asset, path, _ in results:
        assert path == SHARED_ASSETS / asset.name
    assert not (tmp_path / "cache").exists()


def test_local_folder_hit(tmp_path):
    data = b"local bytes"
    asset = make_asset("blog/a.wav", data)
    (tmp_path / "assets" / "blog").mkdir(parents=True)
    (tmp_path / "assets" / "blog" / "a.wav").write_bytes(data)
    locations = AssetLocations(tmp_path / "assets", tmp_path / "cache", False)
    path = resolve_asset("blog/a.wav", locations, {asset.name: asset})
    assert path == tmp_path / "assets" / "blog" / "a.wav"


def test_local_checksum_mismatch_is_an_error_and_leaves_the_file(tmp_path):
    asset = make_asset("a.wav", b"expected bytes")
    local = tmp_path / "assets" / "a.wav"
    local.parent.mkdir()
    local.write_bytes(b"other bytes")
    # a good cached copy must not be used instead of the bad local one
    cached = tmp_path / "cache" / "assets" / "a.wav"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"expected bytes")
    locations = AssetLocations(tmp_path / "assets", tmp_path / "cache", False)
    with pytest.raises(ChecksumMismatch) as info:
        resolve_asset("a.wav", locations, {asset.name: asset})
    message = str(info.value)
    assert str(local) in message
    assert asset.sha256 in message and sha(b"other bytes") in message
    assert local.read_bytes() == b"other bytes"


def test_cache_hit(tmp_path):
    data = b"cached bytes"
    asset = make_asset("speech/x/b.wav", data)
    cached = tmp_path / "cache" / "assets" / "speech" / "x" / "b.wav"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    locations = AssetLocations(tmp_path / "empty", tmp_path / "cache", False)
    assert resolve_asset(asset.name, locations, {asset.name: asset}) == cached


def test_missing_everywhere_without_download(tmp_path):
    asset = make_asset("blog/a.wav", b"x", url="https://example.invalid/a.wav")
    locations = AssetLocations(tmp_path / "assets", tmp_path / "cache", False)
    with pytest.raises(AssetUnavailable) as info:
        resolve_asset(asset.name, locations, {asset.name: asset})
    message = str(info.value)
    for expected in (
        "blog/a.wav",
        str(tmp_path / "assets" / "blog" / "a.wav"),
        str(tmp_path / "cache" / "assets" / "blog" / "a.wav"),
        "WHISPER_CLAIMS_ASSETS",
        "--assets",
        "WHISPER_CLAIMS_CACHE",
        "WHISPER_CLAIMS_DOWNLOAD=1",
        "https://example.invalid/a.wav",
    ):
        assert expected in message
    assert leftovers(tmp_path) == []


def test_derived_asset_without_url_is_never_downloaded(tmp_path):
    asset = Asset("speech/p.phones.tsv", "", "2" * 64, 3, "l", "derived, see the README")
    locations = AssetLocations(None, tmp_path / "cache", allow_download=True)
    with pytest.raises(AssetUnavailable, match="no public URL") as info:
        resolve_asset(asset.name, locations, {asset.name: asset})
    assert "none set" in str(info.value)


def test_unknown_name_suggests_close_matches(tmp_path):
    locations = AssetLocations(None, tmp_path, False)
    with pytest.raises(AssetUnavailable, match="blog/encoder/Hot_ones.wav"):
        resolve_asset("Hot_ones.wav", locations)
    with pytest.raises(AssetUnavailable, match="did you mean blog/encoder/Hot_ones.wav"):
        resolve_asset("blog/encoder/Hot_one.wav", locations)


# -- downloads ------------------------------------------------------------------------------


def test_download_into_cache(tmp_path, server):
    root, base = server
    data = b"served audio bytes" * 1000
    (root / "a.wav").write_bytes(data)
    asset = make_asset("blog/a.wav", data, url=f"{base}/a.wav")
    locations = AssetLocations(tmp_path / "assets", tmp_path / "cache", allow_download=True)
    path = resolve_asset(asset.name, locations, {asset.name: asset})
    assert path == tmp_path / "cache" / "assets" / "blog" / "a.wav"
    assert sha256_file(path) == asset.sha256
    assert leftovers(path.parent) == [path]
    # a second resolve is a cache hit
    (root / "a.wav").unlink()
    assert resolve_asset(asset.name, locations, {asset.name: asset}) == path


def test_download_wrong_digest_leaves_nothing(tmp_path, server):
    root, base = server
    (root / "a.wav").write_bytes(b"what the upstream now sent")
    asset = make_asset("a.wav", b"what the manifest promised", url=f"{base}/a.wav")
    locations = AssetLocations(None, tmp_path / "cache", allow_download=True)
    with pytest.raises(ChecksumMismatch) as info:
        resolve_asset(asset.name, locations, {asset.name: asset})
    message = str(info.value)
    assert asset.url in message and asset.sha256 in message
    assert sha(b"what the upstream now sent") in message
    assert str(tmp_path / "cache" / "assets" / "a.wav") in message
    assert leftovers(tmp_path / "cache" / "assets") == []


def test_failed_download_keeps_an_existing_destination(tmp_path, server):
    root, base = server
    (root / "a.wav").write_bytes(b"new")
    dest = tmp_path / "out" / "a.wav"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    with pytest.raises(ChecksumMismatch):
        download_verified(f"{base}/a.wav", dest, sha(b"something else"))
    assert dest.read_bytes() == b"old"
    assert leftovers(dest.parent) == [dest]


def test_interrupted_download(tmp_path, server):
    _, base = server
    dest = tmp_path / "cache" / "a.wav"
    with pytest.raises(DownloadError, match=r"interrupted after 21 of 1000 bytes"):
        download_verified(f"{base}/interrupted/a.wav", dest, "3" * 64)
    assert leftovers(dest.parent) == []


def test_stalled_download_times_out(tmp_path, server):
    _, base = server
    dest = tmp_path / "cache" / "a.wav"
    with pytest.raises(DownloadError, match=f"could not download {base}/stalled/a.wav"):
        download_verified(f"{base}/stalled/a.wav", dest, "3" * 64, timeout=0.3)
    assert leftovers(dest.parent) == []


def test_http_404(tmp_path, server):
    _, base = server
    dest = tmp_path / "cache" / "a.wav"
    with pytest.raises(DownloadError, match=f"{base}/missing.wav: HTTP 404"):
        download_verified(f"{base}/missing.wav", dest, "3" * 64)
    assert leftovers(dest.parent) == []


def test_offline(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.wav"
    dest = tmp_path / "cache" / "a.wav"
    with pytest.raises(DownloadError, match=f"could not download {re.escape(url)}"):
        download_verified(url, dest, "3" * 64, timeout=5)
    assert leftovers(dest.parent) == []


def test_size_mismatch(tmp_path, server):
    root, base = server
    (root / "a.wav").write_bytes(b"12345")
    dest = tmp_path / "a.wav"
    with pytest.raises(DownloadError, match="5 bytes, expected 6"):
        download_verified(f"{base}/a.wav", dest, sha(b"12345"), size=6)
    assert not dest.exists() and list(tmp_path.glob("*.part")) == []


def test_keyboard_interrupt_removes_the_partial_file(tmp_path, monkeypatch):
    class Response:
        headers = {}

        def __init__(self):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt
            return b"partial"

    monkeypatch.setattr(downloads.urllib.request, "urlopen", lambda url, timeout: Response())
    with pytest.raises(KeyboardInterrupt):
        download_verified("https://example.invalid/a.wav", tmp_path / "a.wav", "3" * 64)
    assert leftovers(tmp_path) == []


def test_file_url_and_rejected_scheme(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"file url")
    dest = download_verified(src.as_uri(), tmp_path / "d" / "dest.bin", sha(b"file url"))
    assert dest.read_bytes() == b"file url"
    with pytest.raises(ValueError, match="ftp://x/a.wav"):
        download_verified("ftp://x/a.wav", tmp_path / "e.bin", sha(b""))
    assert not (tmp_path / "e.bin").exists()


def test_verify_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    verify_file(path, sha(b"abc").upper())
    with pytest.raises(ChecksumMismatch) as info:
        verify_file(path, sha(b"abd"))
    assert str(path) in str(info.value)
    assert sha(b"abc") in str(info.value) and sha(b"abd") in str(info.value)


# -- locations ----------------------------------------------------------------------------


def test_default_locations_from_environment(monkeypatch, tmp_path):
    for var in ("WHISPER_CLAIMS_ASSETS", "WHISPER_CLAIMS_CACHE", "WHISPER_CLAIMS_DOWNLOAD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    locations = default_locations()
    assert locations == AssetLocations(None, tmp_path / "xdg" / "whisper-claims", False)

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_locations().cache == tmp_path / "home" / ".cache" / "whisper-claims"

    monkeypatch.setenv("WHISPER_CLAIMS_ASSETS", str(tmp_path / "assets"))
    monkeypatch.setenv("WHISPER_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WHISPER_CLAIMS_DOWNLOAD", "Yes")
    assert default_locations() == AssetLocations(tmp_path / "assets", tmp_path / "cache", True)
    assert default_locations(cache=tmp_path / "c2").cache_path("blog/a.wav") == (
        tmp_path / "c2" / "assets" / "blog" / "a.wav"
    )

    # explicit options win over the environment
    explicit = default_locations(folder=tmp_path / "f", allow_download=False)
    assert explicit.folder == tmp_path / "f" and explicit.allow_download is False

    monkeypatch.setenv("WHISPER_CLAIMS_DOWNLOAD", "0")
    assert default_locations().allow_download is False
    monkeypatch.setenv("WHISPER_CLAIMS_DOWNLOAD", "maybe")
    with pytest.raises(ValueError, match="WHISPER_CLAIMS_DOWNLOAD='maybe'"):
        default_locations()


def test_bundled_files_resolve_from_the_project_and_are_verified(tmp_path, monkeypatch):
    from whisper_claims.stimuli import assets

    locations = assets.default_locations(folder=tmp_path / "none", cache=tmp_path / "cache", allow_download=False)
    manifest = assets.all_assets()
    path = assets.resolve_asset("micro/clips/chop-mid.wav", locations, manifest)
    assert path == assets.FIXTURES / "micro/clips/chop-mid.wav"
    copy = tmp_path / "fixtures"
    (copy / "micro/clips").mkdir(parents=True)
    (copy / "micro/clips/chop-mid.wav").write_bytes(path.read_bytes()[:-2] + b"\0\1")
    monkeypatch.setattr(assets, "FIXTURES", copy)
    with pytest.raises(assets.ChecksumMismatch, match="chop-mid.wav: sha256 is .*project's fixtures folder"):
        assets.resolve_asset("micro/clips/chop-mid.wav", locations, manifest)
