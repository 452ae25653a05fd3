//! Checking and transforming uploaded media: type sniffing, name sanitizing, image limits, thumbnails. Written by issue #4.
//!
//! Everything here is a pure function over bytes the caller already holds: no I/O, no database,
//! no actix. The type of a file is decided from its content only (never from its name or a
//! declared `Content-Type`), against an allow-list; images are measured from their header before
//! anything is decoded, so a "decompression bomb" is refused without allocating its pixels.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

/// Broad class of an allowed file, for limits and previews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MediaKind {
    /// PNG, JPEG, GIF or WebP: decoded for dimensions and thumbnails.
    Image,
    /// PDF and office documents: stored and downloaded as is.
    Document,
    /// Zip archives: stored and downloaded as is.
    Archive,
    /// Audio a browser or phone can play.
    Audio,
    /// Video a browser or phone can play.
    Video,
}

/// What the bytes say the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sniffed {
    /// The MIME type stored and served for the file (from its content, never from the client).
    pub mime: &'static str,
    /// The canonical extension (without dot) a download of this type should carry.
    pub extension: &'static str,
    /// The broad class, which picks the size limit and whether previews are made.
    pub kind: MediaKind,
}

/// Why a file is refused. Messages are shown to API users, so they must be precise and human.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    /// The content is of a type outside the allow-list (`detected` names it when known).
    #[error("{}", disallowed_message(.detected.as_deref()))]
    Disallowed {
        /// The MIME type the content was recognised as, or `None` if it was not recognised.
        detected: Option<String>,
    },
    /// The file has no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The image is wider or taller than allowed, or would not fit the decoding memory limit.
    #[error("{}", too_large_message(*.width, *.height, *.max))]
    ImageTooLarge {
        /// Width after EXIF orientation, in pixels.
        width: u32,
        /// Height after EXIF orientation, in pixels.
        height: u32,
        /// The largest width or height accepted, in pixels.
        max: u32,
    },
    /// The file claims to be an image but its data cannot be decoded.
    #[error("the image could not be read: {0}")]
    CorruptImage(String),
}

/// The allow-list in words, repeated in every refusal so the user knows what would be accepted.
const ALLOWED_SUMMARY: &str =
    "images (PNG, JPEG, GIF, WebP), PDF, office documents, zip, audio, video";

fn disallowed_message(detected: Option<&str>) -> String {
    match detected {
        Some(mime) => format!("files of type {mime} are not allowed (allowed: {ALLOWED_SUMMARY})"),
        None => format!(
            "the file type could not be recognised from its content (allowed: {ALLOWED_SUMMARY})"
        ),
    }
}

fn too_large_message(width: u32, height: u32, max: u32) -> String {
    if width > max || height > max {
        format!(
            "the image is {width}x{height} pixels; images may be at most {max} pixels wide and {max} pixels tall"
        )
    } else {
        format!(
            "the image is {width}x{height} pixels, which is too large to process (it would not fit the memory limit for decoding images)"
        )
    }
}

/// How many leading bytes `sniff` needs to see (office formats are zip files whose first entries must be read).
pub(crate) const SNIFF_BYTES: usize = 64 * 1024;

/// One allowed type: what is stored and served, and which extensions a download may keep.
struct FileType {
    mime: &'static str,
    extension: &'static str,
    kind: MediaKind,
    /// Extensions (lowercase, without dot) that are correct for this type; the first is canonical.
    extensions: &'static [&'static str],
}

impl FileType {
    const fn sniffed(&self) -> Sniffed {
        Sniffed {
            mime: self.mime,
            extension: self.extension,
            kind: self.kind,
        }
    }
}

macro_rules! file_types {
    ($($name:ident = $mime:literal, $kind:ident, [$first:literal $(, $ext:literal)*];)*) => {
        $(const $name: FileType = FileType {
            mime: $mime,
            extension: $first,
            kind: MediaKind::$kind,
            extensions: &[$first $(, $ext)*],
        };)*
        /// Every allowed type, for looking up the known extensions of a `Sniffed`.
        const FILE_TYPES: &[FileType] = &[$($name),*];
    };
}

file_types! {
    PNG = "image/png", Image, ["png"];
    JPEG = "image/jpeg", Image, ["jpg", "jpeg"];
    GIF = "image/gif", Image, ["gif"];
    WEBP = "image/webp", Image, ["webp"];
    PDF = "application/pdf", Document, ["pdf"];
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Document, ["docx"];
    XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Document, ["xlsx"];
    PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation", Document, ["pptx"];
    ODT = "application/vnd.oasis.opendocument.text", Document, ["odt"];
    ODS = "application/vnd.oasis.opendocument.spreadsheet", Document, ["ods"];
    ODP = "application/vnd.oasis.opendocument.presentation", Document, ["odp"];
    DOC = "application/msword", Document, ["doc", "dot"];
    XLS = "application/vnd.ms-excel", Document, ["xls", "xlt"];
    PPT = "application/vnd.ms-powerpoint", Document, ["ppt", "pps", "pot"];
    MS_OFFICE = "application/vnd.ms-office", Document,
        ["doc", "dot", "xls", "xlt", "ppt", "pps", "pot", "msg", "vsd", "pub"];
    ZIP = "application/zip", Archive, ["zip"];
    MP3 = "audio/mpeg", Audio, ["mp3"];
    OGG = "audio/ogg", Audio, ["ogg", "oga", "opus"];
    WAV = "audio/wav", Audio, ["wav"];
    M4A = "audio/mp4", Audio, ["m4a", "m4b"];
    AAC = "audio/aac", Audio, ["aac"];
    AMR = "audio/amr", Audio, ["amr"];
    AMR_WB = "audio/amr-wb", Audio, ["awb", "amr"];
    FLAC = "audio/flac", Audio, ["flac"];
    MP4 = "video/mp4", Video, ["mp4", "m4v"];
    WEBM = "video/webm", Video, ["webm", "weba"];
    MOV = "video/quicktime", Video, ["mov", "qt"];
    THREE_GP = "video/3gpp", Video, ["3gp", "3gpp"];
    THREE_G2 = "video/3gpp2", Video, ["3g2"];
}

fn allowed(file_type: &FileType) -> Result<Sniffed, MediaError> {
    Ok(file_type.sniffed())
}

fn disallowed(mime: &str) -> Result<Sniffed, MediaError> {
    Err(MediaError::Disallowed {
        detected: Some(mime.to_owned()),
    })
}

fn unrecognised() -> Result<Sniffed, MediaError> {
    Err(MediaError::Disallowed { detected: None })
}

/// Type from content only (never from the name or a declared header).
///
/// Allowed: images (png, jpeg, gif, webp), PDF, office documents (OOXML, OpenDocument, legacy
/// OLE/CFB files), zip, audio (mp3, ogg/opus, wav, m4a, aac, amr, flac) and video (mp4, webm,
/// quicktime, 3gp). Everything else (executables, scripts, HTML, SVG, which can carry scripts,
/// unknown text...) is `Disallowed`, naming the detected type when it is known. Give it the
/// first [`SNIFF_BYTES`] of the file (or the whole file if shorter).
pub(crate) fn sniff(head: &[u8]) -> Result<Sniffed, MediaError> {
    if head.is_empty() {
        return Err(MediaError::Empty);
    }
    // Strict signatures first: each is checked at offset 0 and they are mutually exclusive, so
    // the order below only matters for the looser checks at the end.
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return allowed(&PNG);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return allowed(&JPEG);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return allowed(&GIF);
    }
    if head.starts_with(b"RIFF") && head.len() >= 12 {
        match &head[8..12] {
            b"WEBP" => return allowed(&WEBP),
            b"WAVE" => return allowed(&WAV),
            _ => {}
        }
    }
    if head.starts_with(b"%PDF-") {
        return allowed(&PDF);
    }
    if head.starts_with(&CFB_MAGIC) {
        return sniff_cfb(head);
    }
    if head.starts_with(b"PK\x03\x04") {
        return sniff_zip(head);
    }
    if head.starts_with(b"PK\x05\x06") || head.starts_with(b"PK\x07\x08") {
        // An empty zip, or one written in streaming mode: nothing inside to classify.
        return allowed(&ZIP);
    }
    if let Some(result) = sniff_iso_media(head) {
        return result;
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return sniff_ebml(head);
    }
    if head.starts_with(b"OggS\0") {
        return allowed(&OGG);
    }
    if head.starts_with(b"fLaC") {
        return allowed(&FLAC);
    }
    // Checked before anything else starting with "#!" (shell scripts).
    if head.starts_with(b"#!AMR-WB\n") {
        return allowed(&AMR_WB);
    }
    if head.starts_with(b"#!AMR\n") {
        return allowed(&AMR);
    }
    if head.starts_with(b"ID3") && head.len() > 3 && (2..=4).contains(&head[3]) {
        return allowed(&MP3);
    }
    if let Some(file_type) = mpeg_audio_frame(head) {
        return allowed(file_type);
    }
    if looks_like_svg(head) {
        return disallowed("image/svg+xml");
    }
    // Not allowed: name what it is when `infer` knows, so the refusal is precise. Its looser
    // checks for types we allow (e.g. "WEBP" at offset 8 without "RIFF") failed the strict ones
    // above, so such content is unrecognised rather than "not allowed".
    match infer::get(head) {
        Some(found) if !INFER_ALLOWED_LOOKALIKES.contains(&found.mime_type()) => {
            disallowed(found.mime_type())
        }
        _ => unrecognised(),
    }
}

/// `infer`'s names for the types of the allow-list.
const INFER_ALLOWED_LOOKALIKES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/zip",
    "audio/mpeg",
    "audio/m4a",
    "audio/ogg",
    "audio/opus",
    "audio/x-flac",
    "audio/x-wav",
    "audio/amr",
    "audio/aac",
    "video/mp4",
    "video/x-m4v",
    "video/webm",
    "video/quicktime",
];

/// The signature of an OLE2 compound file (legacy .doc/.xls/.ppt, but also .msi installers).
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// A CLSID as stored on disk (first three fields little endian).
const fn clsid(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> [u8; 16] {
    let a = data1.to_le_bytes();
    let b = data2.to_le_bytes();
    let c = data3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], data4[0], data4[1], data4[2], data4[3],
        data4[4], data4[5], data4[6], data4[7],
    ]
}

const OLE_TAIL: [u8; 8] = [0xC0, 0, 0, 0, 0, 0, 0, 0x46];
const CLSID_WORD: [u8; 16] = clsid(0x0002_0906, 0, 0, OLE_TAIL);
const CLSID_EXCEL_5: [u8; 16] = clsid(0x0002_0810, 0, 0, OLE_TAIL);
const CLSID_EXCEL_97: [u8; 16] = clsid(0x0002_0820, 0, 0, OLE_TAIL);
const CLSID_POWERPOINT: [u8; 16] = clsid(
    0x6481_8D10,
    0x4F9B,
    0x11CF,
    [0x86, 0xEA, 0x00, 0xAA, 0x00, 0xB9, 0x29, 0xE8],
);
/// Windows Installer package, patch and transform: executables in an OLE container.
const CLSID_MSI: [[u8; 16]; 3] = [
    clsid(0x000C_1084, 0, 0, OLE_TAIL),
    clsid(0x000C_1086, 0, 0, OLE_TAIL),
    clsid(0x000C_1082, 0, 0, OLE_TAIL),
];

/// Legacy office files are OLE2 compound files. The root storage's CLSID says which application
/// wrote it; it is read here directly (instead of through `infer`, which would parse the whole
/// container and needs more than the head of the file). Installers (.msi) share the container and
/// are refused; a CLSID that cannot be read from the head is a generic office document.
fn sniff_cfb(head: &[u8]) -> Result<Sniffed, MediaError> {
    match cfb_root_clsid(head) {
        Some(id) if CLSID_MSI.contains(&id) => disallowed("application/x-msi"),
        Some(id) if id == CLSID_WORD => allowed(&DOC),
        Some(id) if id == CLSID_EXCEL_5 || id == CLSID_EXCEL_97 => allowed(&XLS),
        Some(id) if id == CLSID_POWERPOINT => allowed(&PPT),
        _ => allowed(&MS_OFFICE),
    }
}

fn cfb_root_clsid(head: &[u8]) -> Option<[u8; 16]> {
    let sector_shift = u16::from_le_bytes(head.get(0x1E..0x20)?.try_into().ok()?);
    if sector_shift != 9 && sector_shift != 12 {
        return None;
    }
    let first_directory_sector = u32::from_le_bytes(head.get(0x30..0x34)?.try_into().ok()?);
    if first_directory_sector >= 0xFFFF_FFFA {
        return None;
    }
    // Sector n starts at (n + 1) << shift: the header occupies the first sector's place.
    let offset = (u64::from(first_directory_sector) + 1) << sector_shift;
    let offset = usize::try_from(offset).ok()?;
    let root_entry = head.get(offset..offset.checked_add(128)?)?;
    // Object type 5 is the root storage.
    if root_entry[0x42] != 5 {
        return None;
    }
    root_entry[0x50..0x60].try_into().ok()
}

/// Zip archives, of which office documents (OOXML, OpenDocument) are special cases.
///
/// OOXML is recognised by its entry names (a `[Content_Types].xml` part plus `word/`, `xl/` or
/// `ppt/` parts, in any order, among the entries whose headers lie in the head); `infer` alone
/// only looks at the third and fourth entries and misses files written in another order.
/// OpenDocument and EPUB store their `mimetype` first and uncompressed, as their spec requires.
fn sniff_zip(head: &[u8]) -> Result<Sniffed, MediaError> {
    if infer::odf::is_odt(head) {
        return allowed(&ODT);
    }
    if infer::odf::is_ods(head) {
        return allowed(&ODS);
    }
    if infer::odf::is_odp(head) {
        return allowed(&ODP);
    }
    if infer::book::is_epub(head) {
        return disallowed("application/epub+zip");
    }
    let names = zip_entry_names(head);
    if names.iter().any(|name| *name == b"[Content_Types].xml") {
        for name in &names {
            if name.starts_with(b"word/") {
                return allowed(&DOCX);
            }
            if name.starts_with(b"xl/") {
                return allowed(&XLSX);
            }
            if name.starts_with(b"ppt/") {
                return allowed(&PPTX);
            }
        }
    }
    allowed(&ZIP)
}

/// Names of the zip entries whose local headers lie within `head` (at most 256 of them).
fn zip_entry_names(head: &[u8]) -> Vec<&[u8]> {
    const LOCAL_HEADER: &[u8] = b"PK\x03\x04";
    let read_u16 = |at: usize| -> Option<usize> {
        let bytes = head.get(at..at.checked_add(2)?)?;
        Some(usize::from(u16::from_le_bytes([bytes[0], bytes[1]])))
    };
    let mut names = Vec::new();
    let mut offset = 0;
    while names.len() < 256
        && head
            .get(offset..)
            .is_some_and(|h| h.starts_with(LOCAL_HEADER))
    {
        let (Some(flags), Some(name_len), Some(extra_len)) = (
            read_u16(offset + 6),
            read_u16(offset + 26),
            read_u16(offset + 28),
        ) else {
            break;
        };
        let Some(compressed) = head
            .get(offset + 18..offset + 22)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
        else {
            break;
        };
        let name_start = offset + 30;
        let Some(name) = head.get(name_start..name_start + name_len) else {
            break;
        };
        names.push(name);
        let data_start = name_start + name_len + extra_len;
        offset = if flags & 0x08 != 0 {
            // Sizes follow the data (streamed archive): find the next header instead.
            match head
                .get(data_start..)
                .and_then(|rest| rest.windows(4).position(|w| w == LOCAL_HEADER))
            {
                Some(found) => data_start + found,
                None => break,
            }
        } else {
            data_start.saturating_add(compressed as usize)
        };
    }
    names
}

/// ISO base media files (mp4, m4a, mov, 3gp, but also HEIC/AVIF images): the `ftyp` box names
/// the brand. Returns `None` when the head is not such a file.
fn sniff_iso_media(head: &[u8]) -> Option<Result<Sniffed, MediaError>> {
    let box_type = head.get(4..8)?;
    if box_type == b"ftyp" {
        let major = head.get(8..12)?;
        if let Some(result) = classify_brand(major) {
            return Some(result);
        }
        // Unknown major brand: the compatible brands (after the minor version) may still say.
        let declared = head.get(0..4).and_then(|b| b.try_into().ok());
        let box_len = declared.map_or(0, |b| u32::from_be_bytes(b) as usize);
        let end = box_len.min(head.len()).min(256);
        let compatible = head.get(16..end).unwrap_or_default();
        return Some(
            compatible
                .chunks_exact(4)
                .find_map(classify_brand)
                .unwrap_or_else(unrecognised),
        );
    }
    // QuickTime files written without an `ftyp` box start with one of these atoms.
    let quicktime_atoms: [&[u8]; 4] = [b"moov", b"mdat", b"wide", b"pnot"];
    if quicktime_atoms.contains(&box_type) || head.get(12..16) == Some(b"mdat") {
        return Some(allowed(&MOV));
    }
    None
}

fn classify_brand(brand: &[u8]) -> Option<Result<Sniffed, MediaError>> {
    const MP4_BRANDS: [&[u8]; 22] = [
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41",
        b"mp42", b"mp71", b"avc1", b"dash", b"mmp4", b"MSNV", b"F4V ", b"F4P ", b"XAVC", b"M4V ",
        b"M4VH", b"M4VP",
    ];
    const HEIF_BRANDS: [&[u8]; 10] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
    ];
    let result = match brand {
        b"qt  " => allowed(&MOV),
        b"M4A " | b"M4B " => allowed(&M4A),
        b"avif" | b"avis" => disallowed("image/avif"),
        b"crx " => disallowed("image/x-canon-cr3"),
        _ if brand.starts_with(b"3g2") => allowed(&THREE_G2),
        _ if brand.starts_with(b"3g") => allowed(&THREE_GP),
        // Sony/Nero brands "NDAS", "NDSC", "NDXH"...
        _ if brand.starts_with(b"ND") || MP4_BRANDS.contains(&brand) => allowed(&MP4),
        _ if HEIF_BRANDS.contains(&brand) => disallowed("image/heic"),
        _ => return None,
    };
    Some(result)
}

/// Matroska family: WebM is allowed, other Matroska files (.mkv) are not.
fn sniff_ebml(head: &[u8]) -> Result<Sniffed, MediaError> {
    let header = &head[..head.len().min(64)];
    if contains(header, b"webm") {
        allowed(&WEBM)
    } else if contains(header, b"matroska") {
        disallowed("video/x-matroska")
    } else {
        unrecognised()
    }
}

/// A raw MPEG audio frame header (mp3 without ID3 tag) or an ADTS AAC header.
fn mpeg_audio_frame(head: &[u8]) -> Option<&'static FileType> {
    let [0xFF, b1, b2, ..] = *head else {
        return None;
    };
    if b1 & 0xF6 == 0xF0 {
        // 12 sync bits and layer 00: ADTS (AAC).
        return Some(&AAC);
    }
    let version = (b1 >> 3) & 0b11;
    let layer = (b1 >> 1) & 0b11;
    let bitrate = b2 >> 4;
    let sample_rate = (b2 >> 2) & 0b11;
    let is_layer_3 = b1 & 0xE0 == 0xE0 && version != 0b01 && layer == 0b01;
    (is_layer_3 && bitrate != 0b1111 && sample_rate != 0b11).then_some(&MP3)
}

/// SVG is XML and may carry scripts, so it is named precisely when refused.
fn looks_like_svg(head: &[u8]) -> bool {
    let start = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = start.trim_ascii_start();
    if !start.starts_with(b"<") {
        return false;
    }
    let window = &start[..start.len().min(4096)];
    window.windows(4).any(|w| w.eq_ignore_ascii_case(b"<svg"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Longest file name handed out, in characters (extension included).
const MAX_FILE_NAME_CHARS: usize = 120;

/// A safe display/download file name: keep the base name only (strip any path with / or \), drop
/// control chars and characters unsafe in Content-Disposition or on filesystems
/// (" * / : < > ? \ | and NUL), collapse whitespace, no leading dots, limit to 120 chars (keep the
/// extension if possible, char-boundary safe), and make the extension match the sniffed type (e.g.
/// "evil.png" that is really a PDF becomes "evil.pdf"; "photo" with a JPEG becomes "photo.jpg";
/// jpeg accepts .jpg/.jpeg, office docs keep their extension if it's one of the type's known ones).
/// Empty result -> "file.<ext>".
///
/// Invisible formatting characters (bidirectional overrides such as U+202E, zero-width characters)
/// are dropped too: they are used to disguise "invoice\u{202E}fdp.exe" as "invoiceexe.pdf".
pub(crate) fn sanitize_file_name(name: Option<&str>, sniffed: &Sniffed) -> String {
    let raw = name.unwrap_or_default();
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();

    let mut cleaned = String::with_capacity(base.len());
    let mut pending_space = false;
    for c in base.chars() {
        if c.is_whitespace() {
            pending_space = !cleaned.is_empty();
        } else if !is_unsafe_name_char(c) {
            if pending_space {
                cleaned.push(' ');
                pending_space = false;
            }
            cleaned.push(c);
        }
    }
    // No hidden files, no "..", and no trailing dots or spaces (Windows drops them silently).
    let cleaned = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);

    let known = FILE_TYPES
        .iter()
        .find(|t| t.mime == sniffed.mime)
        .map_or(std::slice::from_ref(&sniffed.extension), |t| t.extensions);

    let (stem, extension) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && looks_like_extension(ext) => {
            if known.iter().any(|k| k.eq_ignore_ascii_case(ext)) {
                (stem, ext)
            } else {
                (stem, sniffed.extension)
            }
        }
        _ => (cleaned, sniffed.extension),
    };

    let stem = if stem.is_empty() { "file" } else { stem };
    // "CON.txt" and friends cannot be saved on Windows: prefix them.
    let prefix = if is_windows_reserved(stem.split('.').next().unwrap_or_default().trim()) {
        "_"
    } else {
        ""
    };

    let stem_budget =
        MAX_FILE_NAME_CHARS.saturating_sub(prefix.len() + extension.chars().count() + 1);
    let stem = match stem.char_indices().nth(stem_budget) {
        Some((cut, _)) => stem[..cut].trim_end_matches(['.', ' ']),
        None => stem,
    };
    format!("{prefix}{stem}.{extension}")
}

fn is_unsafe_name_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '"' | '*' | '/' | ':' | '<' | '>' | '?' | '\\' | '|')
        // Zero-width and bidirectional formatting characters, and the byte order mark.
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether the text after the last dot is an extension (rather than part of "v1.2" or "Mr. X").
fn looks_like_extension(ext: &str) -> bool {
    (1..=8).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && ext.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Device names Windows will not create a file under, whatever the extension.
fn is_windows_reserved(stem: &str) -> bool {
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit()
            && upper.as_bytes()[3] != b'0')
}

/// Limits for decoding untrusted images.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Largest width or height accepted, in pixels (after EXIF orientation).
    pub max_dimension: u32,
    /// Largest decoded pixel buffer accepted, in bytes (e.g. 4 bytes per pixel for RGBA).
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    /// 10 000 pixels per side and 256 MiB of decoded pixels: any phone photo, no bombs.
    fn default() -> Self {
        Self {
            max_dimension: 10_000,
            max_alloc_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What the header of an accepted image says.
struct ImageHeader {
    /// Stored (undecoded) width and height.
    stored: (u32, u32),
    orientation: Orientation,
}

impl ImageHeader {
    fn swaps_sides(&self) -> bool {
        matches!(
            self.orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        )
    }

    /// Width and height as the image is meant to be seen.
    fn oriented(&self) -> (u32, u32) {
        let (w, h) = self.stored;
        if self.swaps_sides() { (h, w) } else { (w, h) }
    }

    /// Converts an oriented size back to stored (pre-rotation) axes.
    fn to_stored(&self, (w, h): (u32, u32)) -> (u32, u32) {
        if self.swaps_sides() { (h, w) } else { (w, h) }
    }

    fn too_large(&self, limits: ImageLimits) -> MediaError {
        let (width, height) = self.oriented();
        MediaError::ImageTooLarge {
            width,
            height,
            max: limits.max_dimension,
        }
    }
}

fn corrupt(error: impl std::fmt::Display) -> MediaError {
    MediaError::CorruptImage(error.to_string())
}

/// Runs image code on untrusted bytes; a panic inside a decoder becomes `CorruptImage` instead of
/// taking the worker down.
fn guarded<T>(work: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(MediaError::CorruptImage(
            "the image decoder failed on this data".to_owned(),
        ))
    })
}

/// Reads the header, checks it against the limits, and returns the decoder ready to decode.
fn open_image(
    bytes: &[u8],
    limits: ImageLimits,
) -> Result<(impl ImageDecoder + '_, ImageHeader), MediaError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(corrupt)?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {}
        _ => {
            return Err(MediaError::CorruptImage(
                "the data is not a PNG, JPEG, GIF or WebP image".to_owned(),
            ));
        }
    }
    // Header reading gets no dimension limit so the real size can be reported; the memory limit
    // still bounds what the decoder may allocate while reading metadata.
    let mut header_limits = image::Limits::no_limits();
    header_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::CorruptImage(format!(
            "the image header declares {width}x{height} pixels"
        )));
    }
    // Unreadable EXIF data should not refuse a photo that otherwise decodes.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let header = ImageHeader {
        stored: (width, height),
        orientation,
    };
    if width > limits.max_dimension
        || height > limits.max_dimension
        || decoder.total_bytes() > limits.max_alloc_bytes
    {
        return Err(header.too_large(limits));
    }

    let mut decode_limits = image::Limits::no_limits();
    decode_limits.max_image_width = Some(limits.max_dimension);
    decode_limits.max_image_height = Some(limits.max_dimension);
    decode_limits.max_alloc = Some(limits.max_alloc_bytes);
    decoder
        .set_limits(decode_limits)
        .map_err(|e| image_error(e, &header, limits))?;
    Ok((decoder, header))
}

fn image_error(error: ImageError, header: &ImageHeader, limits: ImageLimits) -> MediaError {
    match error {
        ImageError::Limits(_) => header.too_large(limits),
        other => corrupt(other),
    }
}

/// Width and height after EXIF orientation, from the header only (cheap, on the request path): refuses dimension bombs (either side > max_dimension -> ImageTooLarge) and files whose header can't be read (CorruptImage).
///
/// An image whose decoded pixels would exceed `max_alloc_bytes` is refused here as well
/// (`ImageTooLarge` with both sides within `max`), so that nothing accepted on upload fails
/// later in [`thumbnails`].
pub(crate) fn image_dimensions(
    bytes: &[u8],
    limits: ImageLimits,
) -> Result<(u32, u32), MediaError> {
    guarded(|| open_image(bytes, limits).map(|(_, header)| header.oriented()))
}

/// Thumbnails made off the request path.
///
/// `small` fits a 200x200 box and `large` an 800x800 box, keeping the aspect ratio (the shorter
/// side is rounded to the nearest pixel, at least 1) and never upscaling; both are JPEG (quality
/// 80) with EXIF orientation applied and transparency flattened onto white; `width` and `height`
/// are the oriented size of the original.
pub(crate) struct Thumbnails {
    /// Width of the original image after EXIF orientation.
    pub width: u32,
    /// Height of the original image after EXIF orientation.
    pub height: u32,
    /// JPEG fitting in 200x200, for message lists.
    pub small: Vec<u8>,
    /// JPEG fitting in 800x800, for previews.
    pub large: Vec<u8>,
}

/// The MIME type of both thumbnails, for storing and serving them.
pub(crate) const THUMB_MIME: &str = "image/jpeg";

/// Box sizes and JPEG quality of the thumbnails.
const SMALL_BOX: u32 = 200;
const LARGE_BOX: u32 = 800;
const THUMB_QUALITY: u8 = 80;

/// Decodes the image (within `limits`) and makes both thumbnails; GIF and WebP animations give
/// their first frame. Slow for big photos: call it from a background task.
pub(crate) fn thumbnails(bytes: &[u8], limits: ImageLimits) -> Result<Thumbnails, MediaError> {
    guarded(|| {
        let (decoder, header) = open_image(bytes, limits)?;
        let image =
            DynamicImage::from_decoder(decoder).map_err(|e| image_error(e, &header, limits))?;
        let (width, height) = header.oriented();

        // Resize before rotating: rotating the thumbnail is cheaper than rotating the original.
        let large_size = header.to_stored(fit_within((width, height), LARGE_BOX));
        let large = resize(image, large_size);
        let small_size = header.to_stored(fit_within((width, height), SMALL_BOX));
        let small = resize(large.clone(), small_size);

        Ok(Thumbnails {
            width,
            height,
            small: encode_thumbnail(small, header.orientation)?,
            large: encode_thumbnail(large, header.orientation)?,
        })
    })
}

/// The largest size with the same aspect ratio that fits a `side`x`side` box, never larger than
/// the original. The scaled side is rounded half up and is at least 1 pixel.
fn fit_within((width, height): (u32, u32), side: u32) -> (u32, u32) {
    if width <= side && height <= side {
        return (width, height);
    }
    let scale = |short: u32, long: u32| -> u32 {
        let (short, long, side) = (u64::from(short), u64::from(long), u64::from(side));
        let scaled = (short * side + long / 2) / long;
        // `scaled <= side` because `short <= long`, so the conversion cannot fail.
        u32::try_from(scaled.clamp(1, side)).unwrap_or(1)
    };
    if width >= height {
        (side, scale(height, width))
    } else {
        (scale(width, height), side)
    }
}

fn resize(image: DynamicImage, (width, height): (u32, u32)) -> DynamicImage {
    if (image.width(), image.height()) == (width, height) {
        image
    } else {
        // Area averaging: fast, and good for downscaling.
        image.thumbnail_exact(width, height)
    }
}

fn encode_thumbnail(
    mut image: DynamicImage,
    orientation: Orientation,
) -> Result<Vec<u8>, MediaError> {
    image.apply_orientation(orientation);
    let rgb = flatten_onto_white(&image);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, THUMB_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| {
            MediaError::CorruptImage(format!("the thumbnail could not be encoded: {e}"))
        })?;
    Ok(out)
}

/// JPEG has no transparency: composite onto white so transparent areas don't turn black.
fn flatten_onto_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u16::from(px[3]);
        for (target, &source) in out.0.iter_mut().zip(&px.0[..3]) {
            let value = u16::from(source) * alpha + 255 * (255 - alpha);
            // (v + 127) / 255 rounds to nearest; the result is at most 255.
            *target = u8::try_from((value + 127) / 255).unwrap_or(u8::MAX);
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba, RgbaImage};

    // ----- fixtures ---------------------------------------------------------------------------

    fn crc32(parts: &[&[u8]]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for part in parts {
            for &byte in *part {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
        }
        !crc
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn gradient(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        encode(&gradient(width, height), ImageFormat::Png)
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        encode(&gradient(width, height), ImageFormat::Jpeg)
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
        chunk
    }

    /// A well-formed PNG header declaring any size (colour type 6 = RGBA, 2 = RGB), followed by a
    /// tiny IDAT: only a few dozen bytes however large the declared image.
    fn png_header(width: u32, height: u32, color_type: u8) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, color_type, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(png_chunk(b"IHDR", &ihdr));
        // zlib stream of a single empty stored block.
        out.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1],
        ));
        out.extend(png_chunk(b"IEND", &[]));
        out
    }

    /// Splices an EXIF APP1 segment with the given orientation right after the SOI marker.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let mut tiff = b"MM\0\x2A\0\0\0\x08".to_vec(); // big endian, IFD0 at offset 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]); // value padding
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend(tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    /// A complete zip file with stored (uncompressed) entries, in the given order.
    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            let crc = crc32(&[data]);
            let mut fields = Vec::new();
            fields.extend_from_slice(&20u16.to_le_bytes()); // version needed
            fields.extend_from_slice(&0u16.to_le_bytes()); // flags
            fields.extend_from_slice(&0u16.to_le_bytes()); // stored
            fields.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
            fields.extend_from_slice(&crc.to_le_bytes());
            fields.extend_from_slice(&(data.len() as u32).to_le_bytes());
            fields.extend_from_slice(&(data.len() as u32).to_le_bytes());
            fields.extend_from_slice(&(name.len() as u16).to_le_bytes());
            fields.extend_from_slice(&0u16.to_le_bytes()); // extra length
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&fields);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);

            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&20u16.to_le_bytes()); // version made by
            central.extend_from_slice(&fields);
            central.extend_from_slice(&[0; 8]); // comment len, disk, attributes
            central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let central_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&central_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    const CONTENT_TYPES: &[u8] = b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
    const RELS: &[u8] = b"<?xml version=\"1.0\"?><Relationships/>";

    fn ooxml(part: &str) -> Vec<u8> {
        zip(&[
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            (part, b"<?xml version=\"1.0\"?><document/>"),
        ])
    }

    /// An OLE2 compound file header plus its first directory sector holding the root entry.
    fn cfb(root_clsid: [u8; 16]) -> Vec<u8> {
        let mut out = vec![0u8; 1024];
        out[..8].copy_from_slice(&CFB_MAGIC);
        out[0x18..0x1A].copy_from_slice(&0x3Eu16.to_le_bytes()); // minor version
        out[0x1A..0x1C].copy_from_slice(&3u16.to_le_bytes()); // major version 3
        out[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes()); // byte order
        out[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes()); // 512-byte sectors
        out[0x20..0x22].copy_from_slice(&6u16.to_le_bytes()); // mini sectors
        out[0x30..0x34].copy_from_slice(&0u32.to_le_bytes()); // directory at sector 0
        let root = &mut out[512..640];
        for (i, unit) in "Root Entry".encode_utf16().enumerate() {
            root[i * 2..i * 2 + 2].copy_from_slice(&unit.to_le_bytes());
        }
        root[0x40..0x42].copy_from_slice(&22u16.to_le_bytes()); // name length in bytes
        root[0x42] = 5; // root storage
        root[0x50..0x60].copy_from_slice(&root_clsid);
        out
    }

    fn sniffed(head: &[u8]) -> (&'static str, &'static str, MediaKind) {
        let s = sniff(head).unwrap_or_else(|e| panic!("sniff refused: {e}"));
        (s.mime, s.extension, s.kind)
    }

    fn refused(head: &[u8]) -> Option<String> {
        match sniff(head) {
            Err(MediaError::Disallowed { detected }) => detected,
            other => panic!("expected Disallowed, got {other:?}"),
        }
    }

    fn decode(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory_with_format(bytes, ImageFormat::Jpeg).unwrap()
    }

    // ----- sniff ------------------------------------------------------------------------------

    #[test]
    fn sniff_recognises_images_from_real_encoders() {
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_pixel(8, 8, Rgba([1, 2, 3, 255])));
        assert_eq!(sniffed(&png(8, 8)), ("image/png", "png", MediaKind::Image));
        assert_eq!(
            sniffed(&jpeg(8, 8)),
            ("image/jpeg", "jpg", MediaKind::Image)
        );
        let gif = encode(&rgba, ImageFormat::Gif);
        assert_eq!(sniffed(&gif), ("image/gif", "gif", MediaKind::Image));
        let webp = encode(&rgba, ImageFormat::WebP);
        assert_eq!(sniffed(&webp), ("image/webp", "webp", MediaKind::Image));
    }

    #[test]
    fn sniff_recognises_documents_and_archives() {
        let pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
        assert_eq!(
            sniffed(pdf),
            ("application/pdf", "pdf", MediaKind::Document)
        );

        let docx = ooxml("word/document.xml");
        assert_eq!(sniffed(&docx).0, DOCX.mime);
        assert_eq!(sniffed(&docx).1, "docx");
        assert_eq!(sniffed(&docx).2, MediaKind::Document);
        // Another writer's entry order: the office parts come before the content types.
        let reordered = zip(&[
            ("docProps/app.xml", b"<Properties/>"),
            ("word/document.xml", b"<document/>"),
            ("[Content_Types].xml", CONTENT_TYPES),
        ]);
        assert_eq!(sniffed(&reordered).0, DOCX.mime);
        // Written in streaming mode: sizes are zero in the headers and follow the data.
        let mut streamed = Vec::new();
        for (name, data) in [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("ppt/presentation.xml", b"<p/>".as_slice()),
        ] {
            streamed.extend_from_slice(b"PK\x03\x04\x14\0\x08\0\0\0\0\0\x21\0");
            streamed.extend_from_slice(&[0; 12]); // crc and sizes: unknown yet
            streamed.extend_from_slice(&(name.len() as u16).to_le_bytes());
            streamed.extend_from_slice(&0u16.to_le_bytes());
            streamed.extend_from_slice(name.as_bytes());
            streamed.extend_from_slice(data);
            streamed.extend_from_slice(b"PK\x07\x08");
            streamed.extend_from_slice(&crc32(&[data]).to_le_bytes());
            streamed.extend_from_slice(&(data.len() as u32).to_le_bytes());
            streamed.extend_from_slice(&(data.len() as u32).to_le_bytes());
        }
        assert_eq!(sniffed(&streamed).0, PPTX.mime);
        // word/ entries without content types are just a zip.
        assert_eq!(sniffed(&zip(&[("word/a.txt", b"x")])).0, "application/zip");
        assert_eq!(sniffed(&ooxml("xl/workbook.xml")).0, XLSX.mime);
        assert_eq!(sniffed(&ooxml("ppt/presentation.xml")).0, PPTX.mime);

        let odt = zip(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<office:document-content/>"),
        ]);
        assert_eq!(sniffed(&odt), (ODT.mime, "odt", MediaKind::Document));

        let plain = zip(&[("notes/readme.txt", b"hello"), ("a.csv", b"1,2")]);
        assert_eq!(
            sniffed(&plain),
            ("application/zip", "zip", MediaKind::Archive)
        );
        // An empty archive is only an end-of-central-directory record.
        assert_eq!(sniffed(&zip(&[])).0, "application/zip");
    }

    #[test]
    fn sniff_reads_legacy_office_clsids_and_refuses_installers() {
        assert_eq!(
            sniffed(&cfb(CLSID_WORD)),
            ("application/msword", "doc", MediaKind::Document)
        );
        assert_eq!(sniffed(&cfb(CLSID_EXCEL_97)).0, "application/vnd.ms-excel");
        assert_eq!(
            sniffed(&cfb(CLSID_POWERPOINT)).0,
            "application/vnd.ms-powerpoint"
        );
        // Unknown CLSID, or a directory beyond the head: still an office document.
        assert_eq!(sniffed(&cfb([7; 16])).0, "application/vnd.ms-office");
        assert_eq!(
            sniffed(&cfb(CLSID_WORD)[..512]).0,
            "application/vnd.ms-office"
        );
        assert_eq!(
            refused(&cfb(CLSID_MSI[0])).as_deref(),
            Some("application/x-msi")
        );
        // The CLSID byte layout matches the textual GUID.
        assert_eq!(
            CLSID_POWERPOINT,
            [
                0x10, 0x8D, 0x81, 0x64, 0x9B, 0x4F, 0xCF, 0x11, 0x86, 0xEA, 0, 0xAA, 0, 0xB9, 0x29,
                0xE8
            ]
        );
    }

    #[test]
    fn sniff_recognises_audio() {
        let id3 = b"ID3\x03\0\0\0\0\0\x0a\0\0\0\0\0\0\0\0\0\0\xFF\xFB\x90\x64";
        assert_eq!(sniffed(id3), ("audio/mpeg", "mp3", MediaKind::Audio));
        // A raw MPEG-1 layer III frame (no tag), and an MPEG-2 one.
        assert_eq!(sniffed(b"\xFF\xFB\x90\x64\0\0\0\0").0, "audio/mpeg");
        assert_eq!(sniffed(b"\xFF\xF3\x48\xC4\0\0\0\0").0, "audio/mpeg");
        assert_eq!(sniffed(b"\xFF\xF1\x50\x80\x02\x1F\xFC").0, "audio/aac");

        let mut ogg =
            b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\x02\x03\x04\0\0\0\0\0\0\0\0\x01\x13".to_vec();
        ogg.extend_from_slice(b"OpusHead\x01\x02\x38\x01\x80\xBB\0\0\0\0\0");
        assert_eq!(sniffed(&ogg), ("audio/ogg", "ogg", MediaKind::Audio));

        let mut wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        wav.extend_from_slice(b"\x44\xAC\0\0\x88\x58\x01\0\x02\0\x10\0data\0\0\0\0");
        assert_eq!(sniffed(&wav), ("audio/wav", "wav", MediaKind::Audio));

        let m4a = b"\0\0\0\x20ftypM4A \0\0\0\0M4A mp42isom\0\0\0\0";
        assert_eq!(sniffed(m4a), ("audio/mp4", "m4a", MediaKind::Audio));
        assert_eq!(sniffed(b"fLaC\0\0\0\x22\x10\0\x10\0").0, "audio/flac");
        assert_eq!(sniffed(b"#!AMR\n\x3c\x48\xf5\x1f").0, "audio/amr");
    }

    #[test]
    fn sniff_recognises_video() {
        let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2\0\0\0\x08free";
        assert_eq!(sniffed(mp4), ("video/mp4", "mp4", MediaKind::Video));
        let mp42 = b"\0\0\0\x1cftypmp42\0\0\0\0mp42mp41isomavc1";
        assert_eq!(sniffed(mp42).0, "video/mp4");
        // Unknown major brand, known compatible brand.
        let compat = b"\0\0\0\x18ftypzzzz\0\0\0\0zzzziso6";
        assert_eq!(sniffed(compat).0, "video/mp4");
        let mov = b"\0\0\0\x14ftypqt  \0\0\x02\0qt  \0\0\0\x08wide";
        assert_eq!(sniffed(mov), ("video/quicktime", "mov", MediaKind::Video));
        assert_eq!(
            sniffed(b"\0\0\0\x08wide\0\x10\0\0mdat").0,
            "video/quicktime"
        );
        let three_gp = b"\0\0\0\x18ftyp3gp4\0\0\x02\0isom3gp4";
        assert_eq!(sniffed(three_gp), ("video/3gpp", "3gp", MediaKind::Video));

        let webm = b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\xF7\x81\x01\x42\xF2\x81\x04\x42\xF3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04";
        assert_eq!(sniffed(webm), ("video/webm", "webm", MediaKind::Video));
        let mkv = b"\x1A\x45\xDF\xA3\xA3\x42\x86\x81\x01\x42\xF7\x81\x01\x42\xF2\x81\x04\x42\xF3\x81\x08\x42\x82\x88matroska\x42\x87\x81\x04";
        assert_eq!(refused(mkv).as_deref(), Some("video/x-matroska"));
    }

    #[test]
    fn sniff_refuses_executables_scripts_and_markup() {
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
        elf.resize(64, 0);
        assert_eq!(refused(&elf).as_deref(), Some("application/x-executable"));

        let mut pe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
        pe.resize(128, 0);
        pe.extend_from_slice(b"PE\0\0\x4c\x01");
        assert_eq!(
            refused(&pe).as_deref(),
            Some("application/vnd.microsoft.portable-executable")
        );

        let macho = b"\xcf\xfa\xed\xfe\x07\0\0\x01\x03\0\0\0\x02\0\0\0";
        assert_eq!(refused(macho).as_deref(), Some("application/x-mach-binary"));

        let script = b"#!/bin/sh\ncurl http://example.com/x | sh\n";
        assert_eq!(refused(script).as_deref(), Some("text/x-shellscript"));

        let html = b"<!DOCTYPE html>\n<html><script>alert(1)</script></html>";
        assert_eq!(refused(html).as_deref(), Some("text/html"));

        let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";
        assert_eq!(refused(svg).as_deref(), Some("image/svg+xml"));
        let bare_svg = b"\xEF\xBB\xBF  <SVG width=\"10\" height=\"10\"><script>x()</script></SVG>";
        assert_eq!(refused(bare_svg).as_deref(), Some("image/svg+xml"));

        assert_eq!(refused(b"just some plain text, nothing to see\n"), None);
        assert_eq!(refused(&[0u8; 32]), None);
        // Not a valid frame header (bitrate index 15) and not anything else either.
        assert_eq!(refused(b"\xFF\xFB\xF0\x00"), None);
        let epub = zip(&[("mimetype", b"application/epub+zip"), ("a", b"b")]);
        assert_eq!(refused(&epub).as_deref(), Some("application/epub+zip"));
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        assert_eq!(refused(heic).as_deref(), Some("image/heic"));
        let avi = b"RIFF\x24\0\0\0AVI LIST\0\0\0\0";
        assert_eq!(refused(avi).as_deref(), Some("video/x-msvideo"));
    }

    #[test]
    fn sniff_refuses_empty_input() {
        assert_eq!(sniff(b""), Err(MediaError::Empty));
    }

    #[test]
    fn sniff_ignores_the_name_an_executable_is_renamed_to() {
        // sniff never sees a name; an "image.png" that is an ELF is refused by content.
        let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        elf.resize(128, 0);
        assert!(matches!(sniff(&elf), Err(MediaError::Disallowed { .. })));
        // And a PNG stays a PNG whatever it was called.
        assert_eq!(sniff(&png(2, 2)).unwrap().mime, "image/png");
    }

    #[test]
    fn refusal_messages_are_precise() {
        let known = MediaError::Disallowed {
            detected: Some("application/x-executable".into()),
        };
        assert_eq!(
            known.to_string(),
            "files of type application/x-executable are not allowed (allowed: images (PNG, JPEG, GIF, WebP), PDF, office documents, zip, audio, video)"
        );
        let unknown = MediaError::Disallowed { detected: None }.to_string();
        assert!(
            unknown.starts_with("the file type could not be recognised"),
            "{unknown}"
        );
        assert!(unknown.contains("allowed: images"), "{unknown}");
        assert_eq!(MediaError::Empty.to_string(), "the file is empty");
        let too_big = MediaError::ImageTooLarge {
            width: 20000,
            height: 300,
            max: 10000,
        };
        assert_eq!(
            too_big.to_string(),
            "the image is 20000x300 pixels; images may be at most 10000 pixels wide and 10000 pixels tall"
        );
        let memory = MediaError::ImageTooLarge {
            width: 9000,
            height: 9000,
            max: 10000,
        };
        assert!(memory.to_string().contains("memory limit"), "{memory}");
        assert_eq!(
            MediaError::CorruptImage("bad IDAT".into()).to_string(),
            "the image could not be read: bad IDAT"
        );
    }

    #[test]
    fn media_kind_serializes_lowercase() {
        let json = serde_json::to_string(&[MediaKind::Image, MediaKind::Archive]).unwrap();
        assert_eq!(json, r#"["image","archive"]"#);
    }

    // ----- sanitize_file_name -----------------------------------------------------------------

    fn name(input: Option<&str>, file_type: &FileType) -> String {
        sanitize_file_name(input, &file_type.sniffed())
    }

    #[test]
    fn file_names_lose_their_path() {
        assert_eq!(name(Some("../../etc/passwd.png"), &PNG), "passwd.png");
        assert_eq!(
            name(Some("C:\\Users\\eve\\Desktop\\scan.pdf"), &PDF),
            "scan.pdf"
        );
        assert_eq!(name(Some("..\\..\\boot.ini/..\\x.png"), &PNG), "x.png");
        assert_eq!(name(Some("dir/"), &PNG), "file.png");
    }

    #[test]
    fn file_names_lose_unsafe_characters() {
        assert_eq!(name(Some("\"quoted\" name.pdf"), &PDF), "quoted name.pdf");
        assert_eq!(name(Some("a*b:c<d>e?f|g.png"), &PNG), "abcdefg.png");
        assert_eq!(
            name(Some("my\r\nreport\t2024.pdf"), &PDF),
            "my report 2024.pdf"
        );
        assert_eq!(name(Some("nul\0byte.png"), &PNG), "nulbyte.png");
        assert_eq!(
            name(Some("  lots   of    space  .pdf"), &PDF),
            "lots of space .pdf"
        );
        assert_eq!(name(Some(".htaccess"), &PDF), "htaccess.pdf");
        assert_eq!(name(Some("...hidden.png"), &PNG), "hidden.png");
        assert_eq!(name(Some("trailing.pdf. . "), &PDF), "trailing.pdf");
        // A right-to-left override would display "invoice\u{202E}fdp.exe" as "invoiceexe.pdf".
        assert_eq!(name(Some("invoice\u{202E}fdp.exe"), &PDF), "invoicefdp.pdf");
        assert_eq!(name(Some("zero\u{200B}width.png"), &PNG), "zerowidth.png");
        assert_eq!(name(Some("CON.png"), &PNG), "_CON.png");
        assert_eq!(name(Some("lpt1.tar.pdf"), &PDF), "_lpt1.tar.pdf");
        assert_eq!(name(Some("console.png"), &PNG), "console.png");
    }

    #[test]
    fn file_names_get_the_extension_of_their_content() {
        assert_eq!(name(Some("evil.png"), &PDF), "evil.pdf");
        assert_eq!(name(Some("photo"), &JPEG), "photo.jpg");
        assert_eq!(name(Some("photo.jpeg"), &JPEG), "photo.jpeg");
        assert_eq!(name(Some("PHOTO.JPG"), &JPEG), "PHOTO.JPG");
        assert_eq!(name(Some("photo.png"), &JPEG), "photo.jpg");
        assert_eq!(name(Some("Budget.XLSX"), &XLSX), "Budget.XLSX");
        assert_eq!(name(Some("budget.txt"), &DOCX), "budget.docx");
        assert_eq!(name(Some("macro.docm"), &DOCX), "macro.docx");
        assert_eq!(name(Some("old.xls"), &MS_OFFICE), "old.xls");
        assert_eq!(name(Some("old.ppt"), &MS_OFFICE), "old.ppt");
        assert_eq!(name(Some("voice.opus"), &OGG), "voice.opus");
        assert_eq!(name(Some("clip.m4v"), &MP4), "clip.m4v");
        assert_eq!(name(Some("setup.exe"), &ZIP), "setup.zip");
        assert_eq!(name(Some("evil.png.exe"), &PNG), "evil.png.png");
        // Not extensions: a version number, or a dot inside words.
        assert_eq!(name(Some("release v1.2"), &PDF), "release v1.2.pdf");
        assert_eq!(name(Some("Mr. Smith letter"), &PDF), "Mr. Smith letter.pdf");
        // A Sniffed that is not in the table still gets its own extension.
        let odd = Sniffed {
            mime: "application/x-test",
            extension: "tst",
            kind: MediaKind::Document,
        };
        assert_eq!(sanitize_file_name(Some("a.bin"), &odd), "a.tst");
        assert_eq!(sanitize_file_name(Some("a.TST"), &odd), "a.TST");
    }

    #[test]
    fn empty_file_names_become_file() {
        assert_eq!(name(None, &PDF), "file.pdf");
        assert_eq!(name(Some(""), &PNG), "file.png");
        assert_eq!(name(Some("   "), &PNG), "file.png");
        assert_eq!(name(Some("..."), &PNG), "file.png");
        assert_eq!(name(Some("\"*?|"), &JPEG), "file.jpg");
        assert_eq!(name(Some("../.."), &ZIP), "file.zip");
    }

    #[test]
    fn file_names_keep_unicode() {
        assert_eq!(name(Some("Отчёт за май.pdf"), &PDF), "Отчёт за май.pdf");
        assert_eq!(name(Some("写真 1.jpg"), &JPEG), "写真 1.jpg");
        assert_eq!(name(Some("résumé 😀.docx"), &DOCX), "résumé 😀.docx");
    }

    #[test]
    fn long_file_names_are_cut_keeping_the_extension() {
        let long = format!("{}.pdf", "a".repeat(300));
        let cut = name(Some(&long), &PDF);
        assert_eq!(cut.chars().count(), 120);
        assert_eq!(cut, format!("{}.pdf", "a".repeat(116)));

        // Multi-byte characters: counted and cut as characters, never mid-character.
        let long = format!("{}.jpeg", "é".repeat(200));
        let cut = name(Some(&long), &JPEG);
        assert_eq!(cut.chars().count(), 120);
        assert!(cut.ends_with(".jpeg"));
        assert!(cut.starts_with("éé"));

        // A wrong extension is replaced before cutting, and the cut drops a trailing space.
        let long = format!("{} b.exe", "x".repeat(115));
        assert_eq!(name(Some(&long), &PNG), format!("{}.png", "x".repeat(115)));

        let exactly = format!("{}.png", "z".repeat(116));
        assert_eq!(name(Some(&exactly), &PNG), exactly);
    }

    // ----- image_dimensions -------------------------------------------------------------------

    #[test]
    fn dimensions_come_from_the_header() {
        let limits = ImageLimits::default();
        assert_eq!(image_dimensions(&png(37, 21), limits), Ok((37, 21)));
        assert_eq!(image_dimensions(&jpeg(64, 48), limits), Ok((64, 48)));
        let rgba = DynamicImage::ImageRgba8(RgbaImage::new(30, 10));
        let gif = encode(&rgba, ImageFormat::Gif);
        assert_eq!(image_dimensions(&gif, limits), Ok((30, 10)));
        let webp = encode(&rgba, ImageFormat::WebP);
        assert_eq!(image_dimensions(&webp, limits), Ok((30, 10)));
        // Only the header is read: a huge-but-allowed declared size costs nothing.
        assert_eq!(
            image_dimensions(&png_header(9_000, 100, 2), limits),
            Ok((9_000, 100))
        );
    }

    #[test]
    fn dimensions_follow_exif_orientation() {
        let limits = ImageLimits::default();
        let base = jpeg(300, 100);
        assert_eq!(
            image_dimensions(&with_exif_orientation(&base, 1), limits),
            Ok((300, 100))
        );
        assert_eq!(
            image_dimensions(&with_exif_orientation(&base, 3), limits),
            Ok((300, 100))
        );
        for rotated in [5, 6, 7, 8] {
            let bytes = with_exif_orientation(&base, rotated);
            assert_eq!(
                image_dimensions(&bytes, limits),
                Ok((100, 300)),
                "orientation {rotated}"
            );
        }
    }

    #[test]
    fn dimension_bombs_are_refused_from_the_header() {
        let bomb = png_header(20_000, 20_000, 6);
        assert!(
            bomb.len() < 100,
            "the fixture is tiny: {} bytes",
            bomb.len()
        );
        assert_eq!(
            image_dimensions(&bomb, ImageLimits::default()),
            Err(MediaError::ImageTooLarge {
                width: 20_000,
                height: 20_000,
                max: 10_000
            })
        );
        // One side is enough.
        assert!(matches!(
            image_dimensions(&png_header(10_001, 1, 2), ImageLimits::default()),
            Err(MediaError::ImageTooLarge {
                width: 10_001,
                height: 1,
                ..
            })
        ));
        // The limit is inclusive, and configurable.
        let small = ImageLimits {
            max_dimension: 50,
            ..ImageLimits::default()
        };
        assert_eq!(image_dimensions(&png(50, 50), small), Ok((50, 50)));
        assert_eq!(
            image_dimensions(&png(51, 10), small),
            Err(MediaError::ImageTooLarge {
                width: 51,
                height: 10,
                max: 50
            })
        );
        // The reported size is the oriented one.
        let rotated = with_exif_orientation(&jpeg(60, 20), 6);
        assert_eq!(
            image_dimensions(&rotated, small),
            Err(MediaError::ImageTooLarge {
                width: 20,
                height: 60,
                max: 50
            })
        );
    }

    #[test]
    fn images_beyond_the_memory_limit_are_refused_from_the_header() {
        let limits = ImageLimits {
            max_dimension: 10_000,
            max_alloc_bytes: 1024 * 1024,
        };
        // 1000x1000 RGBA needs 4 MB once decoded.
        let err = image_dimensions(&png_header(1000, 1000, 6), limits).unwrap_err();
        assert_eq!(
            err,
            MediaError::ImageTooLarge {
                width: 1000,
                height: 1000,
                max: 10_000
            }
        );
        assert!(err.to_string().contains("memory limit"), "{err}");
        // 500x500 RGB (750 kB) fits.
        assert_eq!(
            image_dimensions(&png_header(500, 500, 2), limits),
            Ok((500, 500))
        );
    }

    #[test]
    fn unreadable_headers_are_corrupt() {
        let limits = ImageLimits::default();
        let mut bad_png = b"\x89PNG\r\n\x1a\n".to_vec();
        bad_png.extend_from_slice(b"this is not an IHDR chunk at all");
        assert!(matches!(
            image_dimensions(&bad_png, limits),
            Err(MediaError::CorruptImage(_))
        ));
        let bad_jpeg = b"\xFF\xD8\xFF\xE0 garbage garbage garbage";
        assert!(matches!(
            image_dimensions(bad_jpeg, limits),
            Err(MediaError::CorruptImage(_))
        ));
        assert!(matches!(
            image_dimensions(b"GIF89a", limits),
            Err(MediaError::CorruptImage(_))
        ));
        assert!(matches!(
            image_dimensions(b"", limits),
            Err(MediaError::CorruptImage(_))
        ));
        // Not an image format at all.
        let pdf = b"%PDF-1.4 not an image";
        assert_eq!(
            image_dimensions(pdf, limits),
            Err(MediaError::CorruptImage(
                "the data is not a PNG, JPEG, GIF or WebP image".into()
            ))
        );
        // A header with a zero side.
        assert!(matches!(
            image_dimensions(&png_header(0, 10, 2), limits),
            Err(MediaError::CorruptImage(_))
        ));
    }

    // ----- thumbnails -------------------------------------------------------------------------

    fn size(jpeg: &[u8]) -> (u32, u32) {
        let image = decode(jpeg);
        (image.width(), image.height())
    }

    #[test]
    fn fit_rounds_the_short_side_half_up() {
        assert_eq!(fit_within((1600, 900), 200), (200, 113)); // 112.5
        assert_eq!(fit_within((1600, 900), 800), (800, 450));
        assert_eq!(fit_within((900, 1600), 200), (113, 200));
        assert_eq!(fit_within((300, 100), 200), (200, 67)); // 66.67
        assert_eq!(fit_within((1000, 1000), 200), (200, 200));
        assert_eq!(fit_within((10_000, 1), 200), (200, 1)); // never 0
        assert_eq!(fit_within((100, 50), 200), (100, 50)); // never upscaled
        assert_eq!(fit_within((200, 200), 200), (200, 200));
    }

    #[test]
    fn thumbnails_fit_their_boxes() {
        let thumbs = thumbnails(&png(1600, 900), ImageLimits::default()).unwrap();
        assert_eq!((thumbs.width, thumbs.height), (1600, 900));
        assert_eq!(size(&thumbs.small), (200, 113));
        assert_eq!(size(&thumbs.large), (800, 450));
        assert!(thumbs.small.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert_eq!(sniff(&thumbs.large).unwrap().mime, THUMB_MIME);

        let portrait = thumbnails(&jpeg(900, 1600), ImageLimits::default()).unwrap();
        assert_eq!(size(&portrait.small), (113, 200));
        assert_eq!(size(&portrait.large), (450, 800));
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let thumbs = thumbnails(&png(100, 50), ImageLimits::default()).unwrap();
        assert_eq!((thumbs.width, thumbs.height), (100, 50));
        assert_eq!(size(&thumbs.small), (100, 50));
        assert_eq!(size(&thumbs.large), (100, 50));

        let medium = thumbnails(&png(400, 300), ImageLimits::default()).unwrap();
        assert_eq!(size(&medium.small), (200, 150));
        assert_eq!(size(&medium.large), (400, 300));
    }

    #[test]
    fn thumbnails_apply_exif_orientation() {
        // Stored 300x100: left half red, right half blue.
        let stored = DynamicImage::ImageRgb8(ImageBuffer::from_fn(300, 100, |x, _| {
            if x < 150 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        }));
        let bytes = with_exif_orientation(&encode(&stored, ImageFormat::Jpeg), 6);
        let thumbs = thumbnails(&bytes, ImageLimits::default()).unwrap();
        assert_eq!((thumbs.width, thumbs.height), (100, 300));
        for (jpeg, expected) in [(&thumbs.small, (67, 200)), (&thumbs.large, (100, 300))] {
            let image = decode(jpeg).to_rgb8();
            assert_eq!(image.dimensions(), expected);
            // Rotating 90° clockwise puts the stored left edge at the top.
            let (w, h) = image.dimensions();
            let top = image.get_pixel(w / 2, h / 8);
            let bottom = image.get_pixel(w / 2, h - h / 8);
            assert!(top[0] > 180 && top[2] < 80, "top should be red: {top:?}");
            assert!(
                bottom[2] > 180 && bottom[0] < 80,
                "bottom should be blue: {bottom:?}"
            );
        }

        // Orientation 8 rotates the other way: blue on top.
        let bytes = with_exif_orientation(&encode(&stored, ImageFormat::Jpeg), 8);
        let large = decode(&thumbnails(&bytes, ImageLimits::default()).unwrap().large).to_rgb8();
        assert_eq!(large.dimensions(), (100, 300));
        assert!(large.get_pixel(50, 20)[2] > 180);
        assert!(large.get_pixel(50, 280)[0] > 180);
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        // Left half transparent, right half opaque green, and one half-transparent black column.
        let image = DynamicImage::ImageRgba8(ImageBuffer::from_fn(64, 32, |x, _| match x {
            0..=31 => Rgba([0, 0, 0, 0]),
            _ => Rgba([0, 200, 0, 255]),
        }));
        let thumbs = thumbnails(&encode(&image, ImageFormat::Png), ImageLimits::default()).unwrap();
        let out = decode(&thumbs.small).to_rgb8();
        assert_eq!(out.dimensions(), (64, 32));
        let transparent = out.get_pixel(8, 16);
        assert!(
            transparent.0.iter().all(|&c| c > 240),
            "should be white: {transparent:?}"
        );
        let green = out.get_pixel(56, 16);
        assert!(
            green[1] > 170 && green[0] < 60 && green[2] < 60,
            "should be green: {green:?}"
        );

        let half = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 2, Rgba([0, 0, 0, 128])));
        assert_eq!(flatten_onto_white(&half).get_pixel(0, 0).0, [127, 127, 127]);
        let opaque = DynamicImage::ImageRgba8(RgbaImage::from_pixel(1, 1, Rgba([10, 20, 30, 255])));
        assert_eq!(flatten_onto_white(&opaque).get_pixel(0, 0).0, [10, 20, 30]);
    }

    #[test]
    fn thumbnails_of_gif_and_webp() {
        let image =
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(400, 200, Rgba([0, 0, 255, 255])));
        for format in [ImageFormat::Gif, ImageFormat::WebP] {
            let thumbs = thumbnails(&encode(&image, format), ImageLimits::default()).unwrap();
            assert_eq!((thumbs.width, thumbs.height), (400, 200), "{format:?}");
            assert_eq!(size(&thumbs.small), (200, 100), "{format:?}");
            assert_eq!(size(&thumbs.large), (400, 200), "{format:?}");
        }
    }

    #[test]
    fn thumbnails_refuse_bombs_and_corrupt_data() {
        assert_eq!(
            thumbnails(&png_header(20_000, 20_000, 6), ImageLimits::default()).err(),
            Some(MediaError::ImageTooLarge {
                width: 20_000,
                height: 20_000,
                max: 10_000
            })
        );
        let tight = ImageLimits {
            max_dimension: 10_000,
            max_alloc_bytes: 100_000,
        };
        assert!(matches!(
            thumbnails(&png(400, 400), tight),
            Err(MediaError::ImageTooLarge {
                width: 400,
                height: 400,
                ..
            })
        ));
        // The header is fine, the pixel data is not there.
        assert!(matches!(
            thumbnails(&png_header(64, 64, 2), ImageLimits::default()),
            Err(MediaError::CorruptImage(_))
        ));
        // Valid signature, garbage after it.
        let mut garbage = png(40, 40);
        let len = garbage.len();
        for byte in &mut garbage[33..len - 12] {
            *byte = 0xA5;
        }
        assert!(matches!(
            thumbnails(&garbage, ImageLimits::default()),
            Err(MediaError::CorruptImage(_))
        ));
        assert!(matches!(
            thumbnails(
                b"\xFF\xD8\xFF\xDB\0\x43\0 definitely not a jpeg",
                ImageLimits::default()
            ),
            Err(MediaError::CorruptImage(_))
        ));
    }

    #[test]
    fn damaged_images_never_panic() {
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(24, 16, |x, y| {
            Rgba([(x * 10) as u8, (y * 15) as u8, 90, 200])
        }));
        let samples = [
            encode(&rgba, ImageFormat::Png),
            encode(&DynamicImage::ImageRgb8(rgba.to_rgb8()), ImageFormat::Jpeg),
            encode(&rgba, ImageFormat::Gif),
            encode(&rgba, ImageFormat::WebP),
        ];
        // A fixed pseudo-random sequence, so failures are reproducible.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for sample in &samples {
            for round in 0..150 {
                let mut damaged = sample.clone();
                if round % 3 == 0 {
                    let cut = (next() as usize) % damaged.len();
                    damaged.truncate(cut.max(1));
                } else {
                    for _ in 0..1 + round % 4 {
                        let at = (next() as usize) % damaged.len();
                        damaged[at] = next() as u8;
                    }
                }
                let limits = ImageLimits::default();
                // Either outcome is fine; what matters is getting one.
                let _ = image_dimensions(&damaged, limits);
                let _ = thumbnails(&damaged, limits);
                let _ = sniff(&damaged);
            }
        }
    }
}
