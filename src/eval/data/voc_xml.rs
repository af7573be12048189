//! The VOCdevkit layout: one XML annotation per image in `Annotations/`.

use super::voc_box::RawObject;
use super::{ProblemKind, Problems, Sample};
use crate::files::read_text_capped;
use std::path::{Path, PathBuf};

/// Largest VOCdevkit XML annotation of one image read (they are about 1 KB).
const MAX_XML_BYTES: u64 = 1024 * 1024;

pub(super) fn read_voc_xml(
    year_dir: &Path,
    ids: &[String],
    class_names: &[String],
    problems: &mut Problems,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(ids.len());
    for id in ids {
        if !super::is_plain_id(id) {
            let list = year_dir.join("ImageSets").display().to_string();
            problems.push(
                ProblemKind::MalformedRecord,
                super::id_reaches_out(&list, id),
            );
            continue;
        }
        let xml = year_dir.join("Annotations").join(format!("{id}.xml"));
        let text = match read_text_capped(&xml, MAX_XML_BYTES, "a VOC annotation") {
            Ok(text) => text,
            Err(error) => {
                problems.push(
                    ProblemKind::UnknownId,
                    format!(
                        "{}: cannot read the annotation of {id}: {error}",
                        xml.display()
                    ),
                );
                continue;
            }
        };
        let image_path = year_dir.join("JPEGImages").join(format!("{id}.jpg"));
        if let Some(sample) = parse_voc_xml(&text, &xml, id, image_path, class_names, problems) {
            samples.push(sample);
        }
    }
    samples
}

/// Parses one VOCdevkit annotation. A file that cannot be read as one is recorded in
/// `problems` and gives None; bad objects are dropped (and recorded).
pub fn parse_voc_xml(
    text: &str,
    file: &Path,
    id: &str,
    image_path: PathBuf,
    class_names: &[String],
    problems: &mut Problems,
) -> Option<Sample> {
    let place = file.display().to_string();
    match parse_voc_xml_inner(text) {
        Ok((width, height, raw)) => {
            let objects = raw
                .iter()
                .filter_map(|(name, bbox, difficult)| {
                    let raw = RawObject {
                        name,
                        bbox: *bbox,
                        difficult: *difficult,
                    };
                    raw.convert(width, height, class_names, &place, problems)
                })
                .collect();
            Some(Sample {
                id: id.to_owned(),
                image_path,
                width,
                height,
                image_present: true,
                objects,
            })
        }
        Err(message) => {
            problems.push(ProblemKind::MalformedRecord, format!("{place}: {message}"));
            None
        }
    }
}

type RawXmlObject = (String, [f32; 4], bool);

fn parse_voc_xml_inner(text: &str) -> Result<(u32, u32, Vec<RawXmlObject>), String> {
    let document = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let root = document.root_element();
    if !root.has_tag_name("annotation") {
        return Err(format!(
            "the root element is <{}>, not <annotation>",
            root.tag_name().name()
        ));
    }
    let size = child(root, "size").ok_or("no <size>")?;
    let dimension = |tag: &str| -> Result<u32, String> {
        let text = child_text(size, tag).ok_or(format!("no <size><{tag}>"))?;
        match text.parse::<f32>() {
            Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f32 => Ok(v as u32),
            _ => Err(format!("<{tag}>{text}</{tag}> is not an image size")),
        }
    };
    let (width, height) = (dimension("width")?, dimension("height")?);
    let mut objects = Vec::new();
    for object in root.children().filter(|n| n.has_tag_name("object")) {
        let name = child_text(object, "name").ok_or("an <object> without <name>")?;
        let difficult = match child_text(object, "difficult") {
            None | Some("0") | Some("") => false,
            Some("1") => true,
            Some(other) => return Err(format!("<difficult>{other}</difficult> is not 0 or 1")),
        };
        let bndbox = child(object, "bndbox").ok_or(format!("the {name} has no <bndbox>"))?;
        let mut bbox = [0.0; 4];
        for (value, tag) in bbox.iter_mut().zip(["xmin", "ymin", "xmax", "ymax"]) {
            let text =
                child_text(bndbox, tag).ok_or(format!("the {name} has no <bndbox><{tag}>"))?;
            *value = text
                .parse()
                .map_err(|_| format!("the {name}'s <{tag}>{text}</{tag}> is not a number"))?;
        }
        objects.push((name.to_owned(), bbox, difficult));
    }
    Ok((width, height, objects))
}

fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    tag: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(node, tag).map(|n| n.text().unwrap_or("").trim())
}

/// One image's annotation in the VOCdevkit format [`parse_voc_xml`] reads: the size and,
/// per object, its class name, difficult flag and box. The boxes are given in our
/// continuous pixels and written in VOC's 1-based inclusive ones ([`super::voc_box`]).
pub fn write_voc_xml(
    id: &str,
    width: u32,
    height: u32,
    objects: &[super::Object],
    class_names: &[String],
) -> String {
    let mut xml = format!(
        "<annotation>\n  <filename>{}.jpg</filename>\n  <size>\n    <width>{width}</width>\n    \
         <height>{height}</height>\n    <depth>3</depth>\n  </size>\n",
        escape(id)
    );
    for object in objects {
        let name = class_names.get(object.class_id).map_or("", String::as_str);
        let b = &object.bbox;
        xml.push_str(&format!(
            "  <object>\n    <name>{}</name>\n    <difficult>{}</difficult>\n    <bndbox>\n      \
             <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      <ymax>{}</ymax>\n    \
             </bndbox>\n  </object>\n",
            escape(name),
            u8::from(object.difficult),
            b.x_min + 1.0,
            b.y_min + 1.0,
            b.x_max,
            b.y_max
        ));
    }
    xml.push_str("</annotation>\n");
    xml
}

/// Text made safe for an XML element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Object, Problems};
    use crate::model::Corners;

    #[test]
    fn a_written_annotation_parses_back_to_the_same_objects() {
        let names: Vec<String> = ["background", "cat", "dog & co"].map(String::from).to_vec();
        let objects = vec![
            Object {
                class_id: 1,
                bbox: Corners {
                    x_min: 0.0,
                    y_min: 12.25,
                    x_max: 99.5,
                    y_max: 240.0,
                },
                difficult: false,
            },
            Object {
                class_id: 2,
                bbox: Corners {
                    x_min: 30.0,
                    y_min: 40.0,
                    x_max: 31.5,
                    y_max: 41.0,
                },
                difficult: true,
            },
        ];
        let xml = write_voc_xml("frame<1>", 320, 240, &objects, &names);
        let mut problems = Problems::default();
        let sample = parse_voc_xml(
            &xml,
            Path::new("frame.xml"),
            "frame<1>",
            PathBuf::from("frame.jpg"),
            &names,
            &mut problems,
        )
        .expect("parses");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!((sample.width, sample.height), (320, 240));
        assert_eq!(sample.objects, objects);
    }
}
