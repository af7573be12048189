import json

import numpy as np
from PIL import Image

from training.data.voc import load_split

XML = """<annotation><size><width>200</width><height>100</height><depth>3</depth></size>
<object><name>dog</name><difficult>1</difficult><bndbox><xmin>11</xmin><ymin>21</ymin><xmax>50</xmax><ymax>80</ymax></bndbox></object>
<object><name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>200</xmax><ymax>100</ymax></bndbox></object>
</annotation>"""


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(path)


def test_vocdevkit_xml_layout(tmp_path):
    voc = tmp_path / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "Annotations" / "000001.xml").write_text(XML)
    (voc / "Annotations" / "000002.xml").write_text(XML)
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n000002\n")
    _image(voc / "JPEGImages" / "000001.jpg")  # 000002 has no image: skipped
    records = load_split(tmp_path, "VOC2007")
    assert [r.image_id for r in records] == ["000001"]
    r = records[0]
    assert (r.width, r.height) == (200, 100)
    np.testing.assert_allclose(r.boxes, [[10, 20, 50, 80], [0, 0, 200, 100]])  # 1-based -> continuous
    assert r.labels.tolist() == [12, 15] and r.difficult.tolist() == [True, False]


def test_json_lines_layout(tmp_path):
    voc = tmp_path / "VOC2012"
    voc.mkdir()
    line = {"id": "2008_000001", "width": 200, "height": 100, "image_present": True,
            "objects": [{"name": "cat", "bbox": [1.0, 1.0, 200.0, 100.0], "difficult": 0}]}
    (voc / "trainval.jsonl").write_text(json.dumps(line) + "\n")
    _image(voc / "JPEGImages" / "2008_000001.jpg")
    records = load_split(tmp_path, "VOC2012")
    np.testing.assert_allclose(records[0].boxes, [[0, 0, 200, 100]])
    assert records[0].labels.tolist() == [8]
