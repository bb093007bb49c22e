"""What a binary file looks like, from its first bytes (magic numbers), so a
skipped file's reason names it ("PNG image", "ZIP archive") instead of only
saying it is not text.

Hand-written rather than python-magic/libmagic: that needs a system library
the app's Space may lack, and a few dozen signatures cover what people drop
into a folder of writing.
"""

from __future__ import annotations

# (offset, signature, what it is). A few signatures are also the first
# letters of real text now and then ("MZ", "ID3"), so those count only when
# the first block also holds a NUL byte (`_WEAK`).
_SIGNATURES: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "PNG image"),
    (0, b"\xff\xd8\xff", "JPEG image"),
    (0, b"GIF87a", "GIF image"),
    (0, b"GIF89a", "GIF image"),
    (0, b"II*\x00", "TIFF image"),
    (0, b"MM\x00*", "TIFF image"),
    (0, b"\x00\x00\x01\x00", "icon image"),
    (8, b"WEBP", "WebP image"),
    (8, b"WAVE", "WAV audio"),
    (8, b"AVI ", "AVI video"),
    (4, b"ftyp", "MP4/QuickTime media"),
    (0, b"ID3", "MP3 audio"),
    (0, b"OggS", "Ogg media"),
    (0, b"fLaC", "FLAC audio"),
    (0, b"\x1aE\xdf\xa3", "Matroska/WebM video"),
    (0, b"PK\x03\x04", "ZIP archive"),
    (0, b"PK\x05\x06", "ZIP archive (empty)"),
    (0, b"\x1f\x8b", "gzip archive"),
    (0, b"BZh", "bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "xz archive"),
    (0, b"(\xb5/\xfd", "zstd archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (0, b"Rar!\x1a\x07", "RAR archive"),
    (257, b"ustar", "tar archive"),
    (0, b"%PDF", "PDF document"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Office document (.doc/.xls/.ppt)"),
    (0, b"{\\rtf", "RTF document"),
    (0, b"\x7fELF", "executable (ELF)"),
    (0, b"MZ", "executable (Windows)"),
    (0, b"\xcf\xfa\xed\xfe", "executable (Mach-O)"),
    (0, b"\xca\xfe\xba\xbe", "Java class or Mach-O binary"),
    (0, b"\x00asm", "WebAssembly module"),
    (0, b"SQLite format 3\x00", "SQLite database"),
    (0, b"\x93NUMPY", "NumPy array"),
    (0, b"GGUF", "GGUF model weights"),
    (0, b"\x89HDF\r\n\x1a\n", "HDF5 data (e.g. Keras weights)"),
    (0, b"ARROW1", "Arrow data"),
    (0, b"PAR1", "Parquet data"),
    (0, b"wOFF", "WOFF font"),
    (0, b"wOF2", "WOFF2 font"),
    (0, b"\x00\x01\x00\x00\x00", "TrueType font"),
    (0, b"OTTO", "OpenType font"),
]
_WEAK = {b"MZ", b"BZh", b"ID3"}
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _safetensors(head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    if len(head) < 10 or not head[8:9] == b"{":
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length < 100_000_000


def binary_kind(head: bytes) -> str | None:
    """What the file starting with `head` is, when it is a known binary format."""
    has_nul = b"\x00" in head[:8192]
    for offset, signature, kind in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if signature in _WEAK and not has_nul:
                continue
            return kind
    if _safetensors(head):
        return "safetensors model weights"
    if head.startswith(_PICKLE_PROTOCOLS):  # \x80 never starts UTF-8 text
        return "Python pickle (e.g. PyTorch weights)"
    return None
