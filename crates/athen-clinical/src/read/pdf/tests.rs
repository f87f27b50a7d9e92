use super::*;
use proptest::prelude::*;
use std::io::Write;

/// A PDF file from object bodies (object 1 is the catalog), with a
/// correct cross-reference table.
fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One A4 page drawing `content` with fonts F1 (Helvetica, WinAnsi, no
/// widths) and F2 (given), and form X1 (given).
fn one_page(content: &[u8], f2: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
/Resources << /Font << /F1 5 0 R {f2} >> /XObject << /X1 6 0 R >> >> >>"
        )
        .into_bytes(),
        stream("", content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        stream("/Type /XObject /Subtype /Form /BBox [0 0 595 842]", b""),
    ];
    objects.extend_from_slice(extra);
    pdf(&objects)
}

fn lines(body: &Body) -> Vec<String> {
    body.lines()
}

#[test]
fn a_simple_letter_reads_as_lines_and_paragraphs() {
    let content = b"BT /F1 11 Tf 72 770 Td 14 TL (Northside Medical Centre) Tj T* (24 November 2026) Tj \
0 -28 Td (Dear Dr M\xfcller,) Tj 0 -28 Td (Re: Mr Se\xe1n O'BRIEN) Tj T* (DOB:) Tj 60 0 Td (01/02/1960) Tj \
-60 -14 Td [(Thank)-250(you for seeing him.)] TJ ET";
    let body = read(&one_page(content, "", &[])).unwrap();
    assert_eq!(
        lines(&body),
        [
            "Northside Medical Centre",
            "24 November 2026",
            "",
            "Dear Dr Müller,",
            "",
            "Re: Mr Seán O'BRIEN",
            "",
            "DOB:\t01/02/1960",
            "",
            "Thank you for seeing him."
        ]
    );
    // The line with a column gap is a table row, as other readers give it.
    assert_eq!(
        body.blocks[3],
        Block::Table {
            rows: vec![vec!["DOB:".into(), "01/02/1960".into()]]
        }
    );
}

#[test]
fn content_order_does_not_matter_position_does() {
    // Drawn bottom line first, and a word pair out of order.
    let content = b"BT /F1 12 Tf 1 0 0 1 72 700 Tm (second line) Tj ET \
BT /F1 12 Tf 1 0 0 1 150 714 Tm (world) Tj 1 0 0 1 72 714 Tm (hello) Tj ET";
    let body = read(&one_page(content, "", &[])).unwrap();
    assert_eq!(lines(&body), ["hello\tworld", "", "second line"]);
}

#[test]
fn widths_kerning_and_fake_bold() {
    // F2 has widths: 'A'..'Z' 600 each, space 250; TJ kerning below a
    // space's width joins, a big adjustment separates.
    let widths: Vec<String> = (32..=122)
        .map(|c| {
            if c == 32 {
                "250".into()
            } else {
                "600".to_string()
            }
        })
        .collect();
    let f2 = format!(
        "<< /Type /Font /Subtype /TrueType /BaseFont /ABCDEF+Arial-BoldMT /FirstChar 32 /LastChar 122 \
/Widths [{}] /Encoding /WinAnsiEncoding >>",
        widths.join(" ")
    );
    let content = b"BT /F2 10 Tf 72 700 Td [(KER)30(NED)-400(GAP)] TJ ET \
BT /F2 10 Tf 72 680 Td (BOLD) Tj ET BT /F2 10 Tf 72.4 680 Td (BOLD) Tj ET";
    let pdf_bytes = one_page(content, "/F2 7 0 R", &[f2.into_bytes()]);
    let body = read(&pdf_bytes).unwrap();
    assert_eq!(lines(&body), ["KERNED GAP", "", "BOLD"]);
    let Block::Paragraph { content } = &body.blocks[0] else {
        panic!("{body:?}")
    };
    assert!(
        matches!(&content[0], Inline::Text { style, .. } if style.bold),
        "Arial-BoldMT is bold"
    );
}

#[test]
fn composite_fonts_with_to_unicode_and_compressed_content() {
    // Identity-H: two bytes a glyph, ToUnicode gives the text (Nguyễn).
    let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
/CMapName /Test def 1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
5 beginbfchar <0001> <004E> <0002> <1EC5> <0003> <0075> <0004> <0079> <0005> <006E> endbfchar\n\
1 beginbfrange <0010> <0015> <0067> endbfrange\n\
endcmap CMapName currentdict /CMap defineresource pop end end";
    let text = b"BT /F2 12 Tf 72 700 Td <000100100003000400020005> Tj 0 -14 Td <00100014> Tj ET";
    let f2 = b"<< /Type /Font /Subtype /Type0 /BaseFont /XYZABC+DejaVuSans /Encoding /Identity-H \
/DescendantFonts [8 0 R] /ToUnicode 9 0 R >>"
        .to_vec();
    let descendant = b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /XYZABC+DejaVuSans \
/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 600 /W [1 [700 650] 16 21 550] >>"
        .to_vec();
    let compressed = deflate(text);
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
/Resources << /Font << /F2 7 0 R >> >> >>"
            .to_vec(),
        stream("/Filter /FlateDecode", &compressed),
        b"<< >>".to_vec(),
        b"<< >>".to_vec(),
    ];
    objects.push(f2);
    objects.push(descendant);
    objects.push(stream("", cmap));
    let body = read(&pdf(&objects)).unwrap();
    // <0014> is 'k' (0x67 + 4): the ToUnicode range is honoured.
    assert_eq!(lines(&body), ["Nguyễn", "gk"]);
}

#[test]
fn differences_name_the_glyphs() {
    let f2 = b"<< /Type /Font /Subtype /Type1 /BaseFont /Custom \
/Encoding << /BaseEncoding /WinAnsiEncoding /Differences [65 /Udieresis /eacute 200 /g17 /quoteright] >> >>"
        .to_vec();
    let content = b"BT /F2 12 Tf 72 700 Td (ABCD\xc9) Tj ET";
    let body = read(&one_page(content, "/F2 7 0 R", &[f2])).unwrap();
    assert_eq!(lines(&body), ["ÜéCD’"]);
}

#[test]
fn forms_bullets_and_rotated_text() {
    let form = stream(
        "/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Matrix [1 0 0 1 0 -100]",
        b"BT /F1 12 Tf 72 700 Td (\x95 frusemide 40 mg mane) Tj 0 -14 Td (\x95 ramipril 5 mg) Tj \
12 -14 Td (daily) Tj ET /X1 Do",
    );
    let content = b"BT /F1 12 Tf 72 700 Td (Medicines) Tj ET \
BT /F1 9 Tf 0 1 -1 0 30 400 Tm (Printed by a clinical program) Tj ET /X1 Do";
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
/Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>"
            .to_vec(),
        stream("", content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    // The form draws itself again: nesting stops at the depth limit.
    objects.push(form);
    let body = read(&pdf(&objects)).unwrap();
    let l = lines(&body);
    assert_eq!(l[0], "Medicines");
    assert!(!l.iter().any(|x| x.contains("Printed by")), "{l:?}");
    assert!(
        body.blocks.iter().any(|b| matches!(b, Block::ListItem { .. })
            && b.plain_text() == "ramipril 5 mg daily"),
        "{:#?}",
        body.blocks
    );
    assert!(
        body.blocks
            .iter()
            .any(|b| b.plain_text() == "frusemide 40 mg mane")
    );
}

#[test]
fn what_cannot_be_read_says_why() {
    let err = |data: &[u8]| read(data).unwrap_err();
    assert!(err(b"hello").contains("not a PDF"));
    assert!(err(b"%PDF-1.4\ngarbage").contains("damaged"));
    // A page with no text (a scan would draw only an image).
    let blank = one_page(b"0 0 m 100 100 l S", "", &[]);
    assert!(err(&blank).contains("no text layer"));
    // Text in a font whose codes mean nothing.
    let f2 = b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H \
/DescendantFonts [8 0 R] >>"
        .to_vec();
    let d = b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X >>".to_vec();
    let unmapped = one_page(
        b"BT /F2 12 Tf 72 700 Td <00010002000300040005> Tj ET",
        "/F2 7 0 R",
        &[f2, d],
    );
    assert!(err(&unmapped).contains("do not say which letters"));
    // Encrypted with object streams.
    let mut enc = one_page(b"", "", &[]);
    enc.extend_from_slice(b"\n<< /Type /Obj#53tm >>\ntrailer << /#45ncrypt 9 0 R >>\n");
    assert!(err(&enc).contains("encrypted"));
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(MAX_PDF + 1, b' ');
    assert!(err(&big).contains("larger than 32 MB"));
}

#[test]
fn a_compression_bomb_is_refused_before_parsing() {
    let zeros = vec![0u8; (MAX_STREAM + 1024) as usize];
    let bomb = deflate(&zeros);
    assert!(bomb.len() < 200_000);
    let objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [] /Count 0 >>".to_vec(),
        stream("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", &bomb),
    ];
    assert!(
        read(&pdf(&objects))
            .unwrap_err()
            .contains("expands to more than 64 MB")
    );
    // Many smaller ones add up.
    let part = deflate(&vec![0u8; 40 * 1024 * 1024]);
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [] /Count 0 >>".to_vec(),
    ];
    for _ in 0..7 {
        objects.push(stream("/Filter /FlateDecode", &part));
    }
    assert!(
        read(&pdf(&objects))
            .unwrap_err()
            .contains("expands to more than 256 MB")
    );
}

#[test]
fn names_are_found_escaped_or_plain() {
    assert!(mentions_name(b"<< /Encrypt 5 0 R >>", b"Encrypt"));
    assert!(mentions_name(b"<</#45ncrypt 5 0 R>>", b"Encrypt"));
    assert!(!mentions_name(b"<< /Encrypted 5 0 R >>", b"Encrypt"));
    assert!(!mentions_name(b"(/Encrypt#) /#4", b"Encryp"));
    assert_eq!(unescape_name(b"A#42"), Some(b"AB".to_vec()));
    assert_eq!(unescape_name(b"A#4"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_are_read_or_refused_without_panic(tail in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut data = b"%PDF-1.4\n".to_vec();
        data.extend_from_slice(&tail);
        let _ = read(&data);
    }

    #[test]
    fn any_content_stream_is_followed_without_panic(content in "[ -~\\n]{0,400}") {
        let _ = read(&one_page(content.as_bytes(), "", &[]));
    }

    #[test]
    fn shown_ascii_text_reads_back(words in proptest::collection::vec("[A-Za-z0-9,.:/]{1,12}", 1..12)) {
        let shown = words.join(" ");
        let content = format!("BT /F1 11 Tf 72 700 Td ({shown}) Tj ET");
        let body = read(&one_page(content.as_bytes(), "", &[])).unwrap();
        prop_assert_eq!(lines(&body), vec![shown]);
    }
}
