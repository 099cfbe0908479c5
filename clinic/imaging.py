"""Turn an uploaded clinical photo into the safe renditions that are stored, and clean stills.

``process_photo`` makes a photo's three JPEG renditions. ``clean_still`` re-encodes an image
that is kept at its own size and format (a scanned regulatory document, a drawn consent
signature) by the same rules: pixels only, nothing else of the upload survives.

This module is pure: bytes in, bytes out, no models, storage or settings, so it can run in a
request or a Celery task and be tested without a database. The caller stores the renditions
under server-chosen names, records the SHA-256 of each, and throws the upload away.

What "safe" means here (issue 7):

* Only JPEG, PNG, WebP and HEIC/HEIF are ever decoded, chosen by content (``formats=`` on
  ``Image.open``), never by the file name, so HTML, SVG, PHP or GIF files are refused.
* The size limit is enforced by reading at most ``max_bytes + 1`` bytes, before any decoder
  runs; the pixel count is checked from the header before the pixels are decoded, and Pillow's
  decompression-bomb warning is an error.
* Truncated and corrupt files are refused (``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay
  False; the full decode happens here, inside the error handling).
* Every rendition is encoded from pixel data alone: no EXIF (GPS above all), XMP, ICC profile,
  JPEG comment or PNG text survives. The EXIF orientation is applied to the pixels and
  colours are converted to sRGB, so the stripped files still look right everywhere.

Memory (issue 7, part 3), peak resident size of a fresh process including Python and Pillow
(``benchmarks/photo_bench.py``); Pillow holds RGB in 4 bytes a pixel:

* JPEG is decoded at the scale the full rendition needs (draft mode: 1/2, 1/4 or 1/8), and the
  upload is read by the decoder from its file rather than copied: a 59 MP camera JPEG peaks at
  ~130 MB. A *progressive* JPEG costs more whatever the scale, ~250 MB at 59 MP, because libjpeg
  keeps every DCT coefficient of the whole image until the last scan; cameras write baseline.
* PNG, WebP and HEIC cannot be decoded at reduced scale: they decode whole, and ``MAX_PIXELS``,
  checked from the header before decoding, is what bounds them. At 60 MP: an RGB PNG ~310 MB, an
  RGBA PNG ~490 MB (alpha flattened at full size), HEIC ~450 MB (libheif's buffer and Pillow's
  copy, 7 bytes a pixel; 250 MB measured at 32 MP). WebP has its own cap, ``MAX_WEBP_PIXELS``
  (20 MP, ~320 MB): Pillow decodes every WebP through libwebp's animation decoder, which keeps
  two RGBA canvases besides Pillow's copy (~950 MB at 60 MP).
* How many run at once is not decided here: the photo services pass every upload through a
  per-process gate (``clinic.imaging_gate``).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Final

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps

# HEIC is what iPhones produce by default. Registering is idempotent, and only makes the
# format *available*; each call below still names the formats it accepts.
pillow_heif.register_heif_opener()

#: Default per-file limit from the issue; views may pass a smaller one.
MAX_UPLOAD_BYTES: Final = 25 * 1024 * 1024

#: Pixel limit checked from the header before decoding. 50 MP phone sensors (8160×6120 ≈ 50 MP,
#: 8660×5773 for 3:2) must pass with some headroom; 60 MP of RGB is 240 MB of pixels in Pillow,
#: the most we let a PNG, WebP or HEIC upload decode at once (see "Memory" above). Pillow's own
#: limit (~89 MP warn, ~179 MP error) is too generous for a web worker, so this one is stricter
#: and explicit.
MAX_PIXELS: Final = 60_000_000
#: WebP decodes through libwebp's animation decoder at ~16 bytes a pixel (two RGBA canvases
#: and Pillow's copy): 60 MP would peak near 950 MB. Cameras do not write WebP; 20 MP covers
#: every exported or messaged WebP photo and keeps its peak near the JPEG pipeline's bound.
MAX_WEBP_PIXELS: Final = 20_000_000

#: Long-edge caps of the renditions, in pixels. ``full`` is capped rather than kept at the
#: sensor's size: 4096 px still shows pores and hair at 100 % zoom on a 4K screen, covers every
#: 12 MP camera untouched (4032×3024), and stops 50 MP "high resolution" modes, whose extra pixels
#: are mostly interpolation and noise, from costing ~4× the storage and every later read.
FULL_MAX_EDGE: Final = 4096
DISPLAY_MAX_EDGE: Final = 1600
THUMB_MAX_EDGE: Final = 320

#: JPEG rather than WebP for the renditions: every browser, PDF export and clinic laptop's
#: image viewer opens it, and libjpeg-turbo encodes a 12 MP image several times faster than
#: libwebp at comparable quality. 85 is visually lossless for skin photos at a third of q=95.
JPEG_QUALITY: Final = 85
CONTENT_TYPE: Final = "image/jpeg"

# Pillow format ids we decode, and the name recorded for each. Camera JPEGs with a
# multi-picture (MPO) segment open as "MPO" through the JPEG opener; they are JPEGs.
_ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
_FORMAT_NAMES: Final = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "HEIF"}

_WHITE: Final = 255


class PhotoRejected(ValueError):
    """The upload is not a photo we will store; ``message`` can be shown to the user as-is.

    ``code`` is a stable machine-readable reason ("empty", "too_large", "unsupported",
    "too_many_pixels", "unreadable"; the services' gate adds "busy") for forms
    (``ValidationError(code=...)``) and logs.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Rendition:
    """One stored file: encoded bytes plus what the model needs to record about them."""

    content: bytes
    width: int
    height: int
    sha256: str
    content_type: str = CONTENT_TYPE

    @property
    def size(self) -> int:
        """Length of ``content`` in bytes."""
        return len(self.content)

    @property
    def extension(self) -> str:
        """File-name extension matching ``content_type``, for server-chosen names."""
        return ".jpg"


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """The renditions of one accepted photo, all JPEG, sRGB, upright and metadata-free."""

    full: Rendition
    display: Rendition
    thumb: Rendition
    #: What the upload really was, detected from its content: "JPEG", "PNG", "WEBP" or "HEIF".
    source_format: str
    #: Pixel size of the upload itself, upright (after orientation, before any downscaling).
    source_width: int
    source_height: int

    @property
    def renditions(self) -> dict[str, Rendition]:
        """The renditions by name, in storage order (largest first)."""
        return {"full": self.full, "display": self.display, "thumb": self.thumb}


def process_photo(upload: IO[bytes] | bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> ProcessedPhoto:
    """Validate an uploaded photo and return its stored renditions.

    ``upload`` is the raw content or a binary file object (a Django ``UploadedFile`` works; it
    is rewound first when seekable). Raises :class:`PhotoRejected` with a user-facing message
    for anything that is not an acceptable photo; in that case nothing should be stored.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A global switch another module could flip; with it on, half-uploaded photos would be
        # stored with a grey bottom. Fail loudly rather than silently accept them.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must be False for photo uploads")

    source = _open_limited(upload, max_bytes)
    try:
        with warnings.catch_warnings():
            # Belt and braces with MAX_PIXELS below. catch_warnings is process-global on
            # Python 3.11, so under threads it may briefly miss a warning; the explicit pixel
            # check does not depend on it.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _process(source)
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels() from exc
    except Image.UnidentifiedImageError as exc:
        raise PhotoRejected(
            "This file is not a JPEG, PNG, WebP or HEIC photo. Please choose a photo file.",
            code="unsupported",
        ) from exc
    except Exception as exc:
        # Decoders signal damage with many types (OSError "image file is truncated",
        # SyntaxError "broken PNG file", ValueError, struct.error, EOFError, libheif errors...).
        # Whatever it is, this upload cannot be turned into a trustworthy photo.
        raise PhotoRejected(
            "This photo could not be read: the file is damaged or was not uploaded completely. "
            "Please try uploading it again.",
            code="unreadable",
        ) from exc


def _open_limited(upload: IO[bytes] | bytes, max_bytes: int) -> IO[bytes]:
    """A stream over the upload, positioned at its start; refused if it holds over ``max_bytes``.

    At most ``max_bytes + 1`` bytes are read to decide, before any decoder runs, so an oversized
    or endless stream costs no more memory than the limit. Nothing is copied that need not be:

    * ``bytes`` are wrapped as they are (``BytesIO`` shares an immutable buffer until written to);
    * a seekable file, which is what Django passes for every upload over 5 MB (a temporary file on
      disk), is handed to the decoder itself, which reads it in 64 KB blocks: holding a 25 MB
      upload in memory, as a joined copy of its chunks, cost twice that at the moment of joining;
    * only a stream that cannot seek is read into memory, into one growing buffer.
    """
    if isinstance(upload, bytes | bytearray | memoryview):
        size = memoryview(upload).nbytes
        _check_size(size, max_bytes)
        return io.BytesIO(upload)
    if upload.seekable():
        # One byte just past the limit says whether there are more than ``max_bytes``, whatever
        # the object claims its size is.
        upload.seek(max_bytes)
        too_large = bool(upload.read(1))
        if too_large:
            _check_size(max_bytes + 1, max_bytes)
        upload.seek(0)
        _check_size(len(upload.read(1)), max_bytes)
        upload.seek(0)
        return upload
    buffer = io.BytesIO()
    remaining = max_bytes + 1
    # read(n) may legally return fewer bytes than asked without being at the end.
    while remaining > 0:
        chunk = upload.read(min(remaining, 1024 * 1024))
        if not chunk:
            break
        buffer.write(chunk)
        remaining -= len(chunk)
    _check_size(buffer.tell(), max_bytes)
    buffer.seek(0)
    return buffer


def _check_size(size: int, max_bytes: int) -> None:
    if not size:
        raise PhotoRejected("The file is empty. Please choose a photo.", code="empty")
    if size > max_bytes:
        raise PhotoRejected(
            f"The file is larger than {_megabytes(max_bytes)}. Please upload a smaller photo.",
            code="too_large",
        )


def _process(source: IO[bytes]) -> ProcessedPhoto:
    """Decode ``source`` once, at the smallest scale the full rendition allows, into three renditions.

    The order of the steps is what bounds memory. Each step is its own statement rebinding
    ``image``, so its input is freed as soon as its output exists and no more than two large
    images are alive at any moment; the orientation is applied only once the image is no larger
    than the full rendition. For a 59 MP JPEG the peak is the draft-decoded 4704×3136 image
    (Pillow keeps RGB in 4 bytes a pixel: 59 MB) plus the first resize pass (51 MB).
    """
    # Not closed with ``with``: closing would destroy the decoded pixels we keep working on,
    # and ``source`` belongs to the caller or is an in-memory buffer; it goes when ``image`` does.
    image: Image.Image = Image.open(source, formats=_ALLOWED_FORMATS)
    source_format = _FORMAT_NAMES.get(image.format or "")
    if source_format is None:  # pragma: no cover - formats= already guarantees this
        raise Image.UnidentifiedImageError(f"unexpected format {image.format!r}")
    width, height = image.size
    limit = MAX_WEBP_PIXELS if source_format == "WEBP" else MAX_PIXELS
    if width * height > limit:
        raise _too_many_pixels(limit)

    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the full rendition is that much
        # smaller anyway (50 MP phone photos): about 4× less work and memory per halving.
        # The box must keep the aspect ratio, because draft() only scales when *both*
        # sides fit; it never goes below the requested size, so no detail we keep is lost.
        # PNG, WebP and HEIC have no such mode: they decode whole, which MAX_PIXELS bounds.
        image.draft(None, _fit((width, height), FULL_MAX_EDGE))
    icc_profile = image.info.get("icc_profile")
    # Read from the header now, applied at the full rendition's size below: turning the decoded
    # image itself would make a second copy of the largest image we ever hold.
    turn = _upright_transpose(image)
    # The decode happens here, inside the caller's error handling: this is where truncated or
    # corrupt data fails.
    image.load()
    # Record the upload's own size (not the draft-reduced one), turned upright.
    source_width, source_height = (height, width) if turn in _SWAPS_SIDES else (width, height)

    # Palette and 16-bit images are widened and alpha flattened before shrinking: Pillow
    # resizes palette images with nearest-neighbour only, and resizing RGBA makes a
    # premultiplied copy of the whole image. The colour transform comes after shrinking, so
    # that it touches at most 4096² pixels rather than up to 60 MP.
    image = _widen_mode(image)
    image = _flatten_alpha(image)
    for step in _shrink_steps(image.size, FULL_MAX_EDGE):
        image = step(image)
    if turn is not None:
        image = image.transpose(turn)
    image = _to_srgb(image, icc_profile)
    # The pixels are all we keep. Dropping ``info`` matters because Pillow copies it into
    # every derived image and some encoders read from it (the JPEG comment does).
    image.info.clear()

    # Each smaller rendition is made from the previous one's pixels, never from the upload:
    # cheaper than starting from the full image every time, and only one large image is alive.
    full = _encode(image, progressive=False)
    for step in _shrink_steps(image.size, DISPLAY_MAX_EDGE):
        image = step(image)
    display = full if image.size == (full.width, full.height) else _encode(image, progressive=True)
    for step in _shrink_steps(image.size, THUMB_MAX_EDGE):
        image = step(image)
    thumb = display if image.size == (display.width, display.height) else _encode(image, progressive=True)

    return ProcessedPhoto(
        full=full,
        display=display,
        thumb=thumb,
        source_format=source_format,
        source_width=source_width,
        source_height=source_height,
    )


# --- Stills: document images and signatures ---------------------------------------------------

#: What a still (a scanned certificate, a drawn signature) may be. Each keeps its format when
#: cleaned: a PNG scan of text or a signature stays lossless, a JPEG stays a JPEG.
STILL_FORMATS: Final = ("JPEG", "PNG", "WEBP")
#: Higher than the photos' 85, and without chroma subsampling: small print and red stamps on a
#: scanned certificate must stay legible after the re-encoding.
STILL_JPEG_QUALITY: Final = 92
_STILL_OUTPUT: Final = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}


def clean_still(
    upload: IO[bytes] | bytes,
    *,
    formats: tuple[str, ...] = STILL_FORMATS,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> bytes:
    """The image re-encoded from its pixels alone, in its own format, at its own size.

    For images kept as they are rather than as photo renditions: regulatory documents and
    consent signatures. Nothing of the upload but its pixels survives: no EXIF (GPS), XMP,
    ICC profile, JPEG comment, PNG text chunk or timestamp, no second frame, and nothing after
    the image's end (a trailing ``<?php`` or HTML). The EXIF orientation is applied and colours
    are converted to sRGB, as for photos; transparency is kept in PNG and WebP (a signature is
    ink on nothing) and laid on white for JPEG; greyscale stays greyscale.

    Raises :class:`PhotoRejected` ("unsupported", "too_many_pixels", "unreadable", and the
    size codes of ``process_photo``) for anything that is not such an image; ``formats`` names
    the Pillow formats accepted (a subset of ``STILL_FORMATS``).
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must be False for uploads")
    unknown = set(formats) - set(STILL_FORMATS)
    if unknown:
        raise ValueError(f"not still formats: {sorted(unknown)}")
    source = _open_limited(upload, max_bytes)
    limit = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(source, formats=formats)
            output = _STILL_OUTPUT[image.format or ""]
            if output == "WEBP":
                limit = min(max_pixels, MAX_WEBP_PIXELS)
            if image.width * image.height > limit:
                raise _too_many_pixels(limit)
            return _clean_still(image, output)
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(limit) from exc
    except Image.UnidentifiedImageError as exc:
        names = ", ".join(sorted({_STILL_OUTPUT[f] for f in formats}))
        raise PhotoRejected(f"This file is not a {names} image.", code="unsupported") from exc
    except Exception as exc:
        # As for photos: decoders signal damage with many types; none is a trustworthy image.
        raise PhotoRejected(
            "This image could not be read: the file is damaged or was not uploaded completely.",
            code="unreadable",
        ) from exc


def _clean_still(image: Image.Image, output: str) -> bytes:
    icc_profile = image.info.get("icc_profile")
    turn = _upright_transpose(image)
    # The one full decode, inside the caller's error handling (truncated data fails here). Only
    # the first frame of an animated PNG or WebP is decoded and kept.
    image.load()
    image = _widen_mode(image)
    alpha = None
    if image.mode in ("LA", "RGBA"):
        if output == "JPEG":
            image = _flatten_alpha(image)
        else:
            alpha = image.getchannel("A")
            image = image.convert(image.mode[:-1])
    if icc_profile:
        image = _apply_icc(image, icc_profile) or image
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")  # CMYK whose profile was missing or unusable
    if alpha is not None:
        image.putalpha(alpha)
        del alpha
    if turn is not None:
        image = image.transpose(turn)
    # As for photos: the encoders fall back to ``info`` for some metadata (JPEG comment, PNG
    # ICC profile and transparency), so the pixels go out with none.
    image.info.clear()
    buffer = io.BytesIO()
    if output == "JPEG":
        image.save(
            buffer,
            format="JPEG",
            quality=STILL_JPEG_QUALITY,
            subsampling=0,
            optimize=True,
            exif=b"",
            comment=b"",
            icc_profile=None,
            xmp=b"",
        )
    elif output == "PNG":
        # No pnginfo, exif or dpi: IHDR, IDAT and IEND (and PLTE never: no palette mode is left).
        image.save(buffer, format="PNG", compress_level=6)
    else:
        image.save(buffer, format="WEBP", quality=STILL_JPEG_QUALITY, exif=b"", xmp=b"", icc_profile=None)
    return buffer.getvalue()


# What ImageOps.exif_transpose does for each EXIF orientation, and which of those swap the sides.
_EXIF_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES: Final = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
}


def _upright_transpose(image: Image.Image) -> Image.Transpose | None:
    """The transpose that turns ``image`` upright, read from its EXIF as ``exif_transpose`` reads it.

    HEIC needs none: pillow_heif applies the container's rotation while decoding and reports
    orientation 1.
    """
    return _EXIF_TRANSPOSE.get(image.getexif().get(ExifTags.Base.Orientation, 1))


def _widen_mode(image: Image.Image) -> Image.Image:
    """Return ``image`` in one of L, LA, RGB, RGBA or CMYK, the modes the rest works on."""
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I"):
        # 16-bit greyscale PNGs: convert("L") would clip everything above 255 to white,
        # so scale the 0–65535 range down instead.
        return image.point(lambda value: value / 256).convert("L")
    if image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image.convert("RGBA" if "A" in image.mode or "a" in image.mode else "RGB")
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Return an LA or RGBA ``image`` as L or RGB laid on white; other modes unchanged.

    JPEG has no alpha. Clinics photograph on white backgrounds, and white is white in every
    colour space, so this may happen before the ICC transform. The white is painted into the
    image in place (through the inverted alpha) to avoid a second full-size image on top of
    the one convert() makes: for a 60 MP upload that is the difference of 240 MB.
    """
    if image.mode not in ("LA", "RGBA"):
        return image
    transparency = ImageOps.invert(image.getchannel("A"))
    image.paste((_WHITE,) * len(image.mode), mask=transparency)
    del transparency
    return image.convert(image.mode[:-1])


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Return an L, RGB or CMYK ``image`` as RGB in sRGB."""
    if icc_profile:
        converted = _apply_icc(image, icc_profile)
        if converted is not None:
            return converted
    # No (usable) profile: the web's convention is that untagged pixels are already sRGB.
    return image if image.mode == "RGB" else image.convert("RGB")


def _apply_icc(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    """Convert ``image`` from its embedded profile to sRGB; None if the profile is unusable.

    Always converts, even when the profile claims to be sRGB: the name proves nothing, and
    phone photos (Display P3) would otherwise look washed out once the profile is stripped.
    """
    try:
        source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        expected_space = {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK"}[image.mode]
        if source_profile.profile.xcolor_space.strip() != expected_space:
            return None
        if image.mode == "RGB":
            # In place: RGB to RGB needs no second full-size image.
            ImageCms.profileToProfile(
                image,
                source_profile,
                _srgb_profile(),
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
                outputMode="RGB",
                inPlace=True,
            )
            return image
        return ImageCms.profileToProfile(
            image,
            source_profile,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, KeyError, ValueError, TypeError):
        # A broken or mismatched profile in an otherwise good photo: keep the photo and
        # treat its pixels as sRGB rather than refuse a clinical record over colour accuracy.
        return None


_SRGB_PROFILE: ImageCms.ImageCmsProfile | None = None


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    """The built-in sRGB profile, created once (it is read-only after creation)."""
    global _SRGB_PROFILE
    if _SRGB_PROFILE is None:
        _SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB_PROFILE


def _fit(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its long edge is at most ``max_edge``."""
    width, height = size
    scale = min(1.0, max_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shrink_steps(size: tuple[int, int], max_edge: int) -> list[Callable[[Image.Image], Image.Image]]:
    """The resizes that bring an image of ``size`` within ``max_edge``, each making one new image.

    The result of ``resize(target, LANCZOS, reducing_gap=1.0)``: box-average by the whole
    factor first whenever it is at least 2 (the shortcut thumbnail() and JPEG draft mode take;
    measured on a 12 MP photo it halves the cost of the 4000→1600 step with no visible
    difference at display size), then Lanczos. But as separate steps, vertical pass then
    horizontal, because that single call keeps its input, the reduced copy, the pass between
    and its output alive at once: for the draft of a 59 MP JPEG that is 59 + 51 + 45 MB, where
    with the caller rebinding its variable after each step it is never more than 59 + 51.
    """
    target_width, target_height = _fit(size, max_edge)
    width, height = size
    if (target_width, target_height) == size:
        return []
    steps: list[Callable[[Image.Image], Image.Image]] = []
    factor = (max(1, width // target_width), max(1, height // target_height))
    # The area of the original that the reduced image covers, in its own pixels: its last column
    # or row averages fewer pixels when the factor does not divide the side, and the Lanczos
    # passes must map exactly that area (as Pillow's reducing_gap does) to keep the geometry.
    box_width, box_height = width / factor[0], height / factor[1]
    if factor != (1, 1):
        steps.append(lambda image: image.reduce(factor))
    if box_height != target_height:
        steps.append(
            lambda image: image.resize(
                (image.width, target_height), Image.Resampling.LANCZOS, box=(0, 0, image.width, box_height)
            )
        )
    if box_width != target_width:
        steps.append(
            lambda image: image.resize(
                (target_width, image.height), Image.Resampling.LANCZOS, box=(0, 0, box_width, image.height)
            )
        )
    return steps


def _encode(image: Image.Image, *, progressive: bool) -> Rendition:
    """Encode ``image`` as a metadata-free JPEG.

    ``exif``, ``comment``, ``icc_profile`` and ``xmp`` are passed empty explicitly, because the
    JPEG encoder falls back to ``image.info`` for some of them. ``optimize`` (Huffman tables
    fitted to the image) costs ~50 ms on 12 MP and saves ~15 %; ``progressive`` costs twice as
    much again for ~2 %, so only the small renditions, which browsers show while loading, use
    it.
    """
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        quality=JPEG_QUALITY,
        optimize=True,
        progressive=progressive,
        exif=b"",
        comment=b"",
        icc_profile=None,
        xmp=b"",
    )
    content = buffer.getvalue()
    return Rendition(
        content=content,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _too_many_pixels(limit: int = MAX_PIXELS) -> PhotoRejected:
    return PhotoRejected(
        f"This image has too many pixels (the limit is {limit // 1_000_000} megapixels). "
        "Please upload a smaller photo.",
        code="too_many_pixels",
    )


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size} bytes"
    return f"{size / (1024 * 1024):g} MB"
