//! Evaluation: AP against a hand-computed fixture, the matching rules, bad input, tuning,
//! threshold profiles, and `tinyssd eval` / `tinyssd tune` end to end on tiny data sets.

mod common;

use common::{GOLDEN, assert_fails_saying, class_names, stderr, stdout, tinyssd};
use tinyssd::files::RunInputs;

use std::path::{Path, PathBuf};
use tinyssd::detect::{DetectConfig, Detection, ThresholdProfile};
use tinyssd::eval::ap::{ap_11_point, ap_all_point};
use tinyssd::eval::data::parse_json_lines;
use tinyssd::eval::tune::{choose_threshold, stats_at};
use tinyssd::eval::{
    DataOptions, Dataset, GroundTruthBox, PrCurve, ProblemKind, Problems, Protocol, ScoredBox,
    TuneGoal, TuneOutcome, evaluate, match_detections,
};
use tinyssd::model::Corners;

const CAT: usize = 8;
const DOG: usize = 12;

fn gt(bbox: Corners, difficult: bool) -> GroundTruthBox {
    GroundTruthBox { bbox, difficult }
}

fn det(image: usize, score: f32, bbox: Corners) -> ScoredBox {
    ScoredBox { image, score, bbox }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-12
}

/// The fixture's detections, grouped by image in the order of `ids`.
fn fixture_detections(ids: &[&str]) -> Vec<Vec<Detection>> {
    let text = std::fs::read_to_string(common::repo_path("tests/fixtures/eval/detections.json"))
        .expect("the fixture is committed");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("fixture JSON");
    let mut per_image = vec![Vec::new(); ids.len()];
    for row in rows {
        let image = ids
            .iter()
            .position(|id| row["image"] == *id)
            .expect("fixture image id");
        let label = row["label"].as_str().expect("label");
        let b: Vec<f32> = serde_json::from_value(row["bbox"].clone()).expect("bbox");
        per_image[image].push(Detection {
            class_id: class_names()
                .iter()
                .position(|c| c == label)
                .expect("class"),
            label: label.into(),
            score: row["score"].as_f64().expect("score") as f32,
            bbox: Corners::new(b[0], b[1], b[2], b[3]),
        });
    }
    per_image
}

#[test]
fn ap_fixture_matches_the_hand_computed_values() {
    let file = common::repo_path("tests/fixtures/eval/ground_truth.jsonl");
    let text = std::fs::read_to_string(&file).expect("the fixture is committed");
    let mut problems = Problems::default();
    let samples = parse_json_lines(&text, &file, &class_names(), &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let ids: Vec<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    // VOC's 1-based [11, 11, 50, 50] is [10, 10, 50, 50] in continuous pixels.
    assert_eq!(
        samples[0].objects[0].bbox,
        Corners::new(10.0, 10.0, 50.0, 50.0)
    );

    let evaluation = evaluate(
        &class_names(),
        &samples,
        &fixture_detections(&ids),
        Protocol::voc2007().match_iou,
    );
    let cat = &evaluation.classes[CAT - 1];
    let dog = &evaluation.classes[DOG - 1];
    assert_eq!((cat.name.as_str(), dog.name.as_str()), ("cat", "dog"));

    // Cat: 4 non-difficult objects (a's second cat is difficult). Detections by score:
    //   0.95 a exact on cat 1                      TP  tp 1 fp 0  P 1    R 0.25
    //   0.90 a on the difficult cat                ignored (neither TP nor FP)
    //   0.85 a on cat 1 again (IoU 0.95)           FP (duplicate)  P 1/2  R 0.25
    //   0.80 b on nothing                          FP  P 1/3  R 0.25
    //   0.70 b exact on cat 3                      TP  P 2/4  R 0.50
    //   0.60 c half of cat 5: IoU 800/1600 = 0.5   TP (>= 0.5)  P 3/5  R 0.75
    //   0.50 b third of cat 4: IoU 300/900         FP  P 3/6  R 0.75
    //   0.40 b exact on cat 4                      TP  P 4/7  R 1
    //   0.30 c on the dog (a cat detection)        FP  P 4/8  R 1
    assert_eq!(cat.num_gt, 4);
    assert_eq!(cat.num_detections, 9);
    assert_eq!(
        cat.curve.true_positive,
        [true, false, false, true, true, false, true, false]
    );
    // 11-point: the best precision at recall >= t for t = 0, 0.1, ..., 1:
    //   t = 0, 0.1, 0.2           -> 1     (3 levels)
    //   t = 0.3, 0.4, 0.5, 0.6, 0.7 -> 3/5 (5 levels)
    //   t = 0.8, 0.9, 1           -> 4/7   (3 levels)
    //   AP11 = (3 + 5 * 3/5 + 3 * 4/7) / 11 = (6 + 12/7) / 11 = 54/77
    assert!(close(cat.ap11, 54.0 / 77.0), "{}", cat.ap11);
    // All-point: the precision envelope (best precision at any higher recall) times each
    // recall step: 0.25 * 1 + 0.25 * 3/5 + 0.25 * 3/5 + 0.25 * 4/7
    //   = 0.25 + 0.15 + 0.15 + 1/7 = 97/140
    assert!(close(cat.ap_all, 97.0 / 140.0), "{}", cat.ap_all);

    // Dog: 1 object (c). 0.99 on a's cat: FP (P 0, R 0); 0.80 exact on the dog: TP
    // (P 1/2, R 1). AP11 = 11 * 1/2 / 11 = 1/2; all-point = 1 * 1/2 = 1/2.
    assert!(close(dog.ap11, 0.5) && close(dog.ap_all, 0.5));

    // The other 18 classes have no object and score 0; the mean is over all 20, as in
    // training/evaluate.py.
    assert!(close(evaluation.map11, (54.0 / 77.0 + 0.5) / 20.0));
    assert!(close(evaluation.map_all, (97.0 / 140.0 + 0.5) / 20.0));
}

#[test]
fn difficult_objects_are_neither_true_nor_false_positives() {
    let objects = vec![vec![
        gt(Corners::new(0.0, 0.0, 10.0, 10.0), true),
        gt(Corners::new(20.0, 0.0, 30.0, 10.0), false),
    ]];
    let detections = [
        det(0, 0.9, Corners::new(0.0, 0.0, 10.0, 10.0)), // on the difficult one: ignored
        det(0, 0.8, Corners::new(0.0, 0.0, 10.0, 10.0)), // again: still ignored, not a duplicate
        det(0, 0.7, Corners::new(20.0, 0.0, 30.0, 10.0)), // the other one: TP
    ];
    let curve = match_detections(&detections, &objects, Protocol::voc2007().match_iou);
    assert_eq!(curve.num_positives, 1, "difficult objects are not counted");
    assert_eq!(curve.scores, [0.7]);
    assert_eq!(curve.true_positive, [true]);
    assert_eq!((curve.ap_11_point(), curve.ap_all_point()), (1.0, 1.0));
}

#[test]
fn duplicate_detections_are_false_positives() {
    let objects = vec![vec![gt(Corners::new(0.0, 0.0, 10.0, 10.0), false)]];
    let detections = [
        det(0, 0.6, Corners::new(0.0, 0.0, 10.0, 9.0)),
        det(0, 0.9, Corners::new(0.0, 0.0, 10.0, 10.0)),
    ];
    let curve = match_detections(&detections, &objects, Protocol::voc2007().match_iou);
    // Sorted by score: the better one takes the object, the other is a duplicate.
    assert_eq!(curve.scores, [0.9, 0.6]);
    assert_eq!(curve.true_positive, [true, false]);
    assert!(close(curve.ap_all_point(), 1.0));
}

#[test]
fn a_detection_is_judged_on_its_best_overlap_only() {
    // VOC devkit rule (and training/evaluate.py's): the second detection overlaps the
    // taken object most, so it is a false positive even though it also overlaps the
    // free one at IoU >= 0.5.
    let objects = vec![vec![
        gt(Corners::new(0.0, 0.0, 10.0, 10.0), false),
        gt(Corners::new(2.0, 0.0, 12.0, 10.0), false),
    ]];
    let detections = [
        det(0, 0.9, Corners::new(0.0, 0.0, 10.0, 10.0)),
        det(0, 0.8, Corners::new(0.5, 0.0, 10.5, 10.0)),
    ];
    let curve = match_detections(&detections, &objects, Protocol::voc2007().match_iou);
    assert_eq!(curve.true_positive, [true, false]);
}

#[test]
fn detections_in_other_images_do_not_match() {
    let objects = vec![vec![gt(Corners::new(0.0, 0.0, 10.0, 10.0), false)], vec![]];
    let detections = [det(1, 0.9, Corners::new(0.0, 0.0, 10.0, 10.0))];
    let curve = match_detections(&detections, &objects, Protocol::voc2007().match_iou);
    assert_eq!(curve.true_positive, [false]);
    assert_eq!(curve.ap_11_point(), 0.0);
}

#[test]
fn eleven_point_levels_are_numpys() {
    // Levels are i * 0.1 as numpy makes them: 3 * 0.1 = 0.30000000000000004, so a recall
    // of exactly 0.3 reaches t = 0, 0.1, 0.2 only: AP11 = 3/11.
    assert!(close(ap_11_point(&[0.3], &[1.0]), 3.0 / 11.0));
    assert!(close(ap_11_point(&[0.5], &[1.0]), 6.0 / 11.0));
    assert!(close(ap_all_point(&[0.3], &[1.0]), 0.3));
}

/// A VOC root in a temp dir: `VOC2007/JPEGImages/<id>.jpg` from the assets, downscaled.
struct TinyVoc {
    dir: tempfile::TempDir,
}

impl TinyVoc {
    fn new() -> TinyVoc {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("VOC2007/JPEGImages")).expect("mkdir");
        TinyVoc { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn year(&self) -> PathBuf {
        self.root().join("VOC2007")
    }

    /// Writes the asset as `<id>.jpg` (a real JPEG), 160 px wide; returns its size.
    fn image(&self, id: &str, asset: &str) -> (u32, u32) {
        let image = image::open(common::repo_path(&format!("assets/{asset}.png")))
            .expect("asset")
            .resize(160, 160, image::imageops::FilterType::Triangle)
            .to_rgb8();
        image
            .save(self.year().join(format!("JPEGImages/{id}.jpg")))
            .expect("write JPEG");
        image.dimensions()
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.root().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }
}

fn json_line(id: &str, (w, h): (u32, u32), objects: &str) -> String {
    format!(
        r#"{{"id": "{id}", "width": {w}, "height": {h}, "image_present": true, "objects": [{objects}]}}"#
    )
}

/// Six lines: one good image, a missing image, a malformed line, a box outside its image,
/// an unknown class, an image the data marks absent, and an undecodable image.
fn bad_input_voc() -> TinyVoc {
    let voc = TinyVoc::new();
    let good = voc.image("000001", "chelsea");
    let outside = voc.image("000003", "coffee");
    let unknown = voc.image("000004", "astronaut");
    std::fs::write(voc.year().join("JPEGImages/000006.jpg"), b"not a jpeg").expect("write");
    let cat = r#"{"name": "cat", "bbox": [20, 10, 120, 90], "difficult": 0}"#;
    let lines = [
        json_line("000001", good, cat),
        json_line("000002", good, cat),
        r#"{"id": "000007", "width": 10, "#.to_owned(),
        json_line(
            "000003",
            outside,
            r#"{"name": "cup", "bbox": [1, 1, 10, 10]}, {"name": "person", "bbox": [10, 10, 500, 50]}"#,
        ),
        json_line(
            "000004",
            unknown,
            r#"{"name": "unicorn", "bbox": [1, 1, 10, 10]}, {"name": "person", "bbox": [30, 10, 90, 150], "difficult": 1}"#,
        ),
        r#"{"id": "000005", "width": 160, "height": 120, "image_present": false, "objects": []}"#
            .to_owned(),
        json_line("000006", good, cat),
    ];
    voc.write("VOC2007/trainval.jsonl", &(lines.join("\n") + "\n"));
    voc
}

#[test]
fn bad_input_is_counted_and_the_rest_is_read() {
    let voc = bad_input_voc();
    let dataset = Dataset::load(voc.root(), &DataOptions::default(), &class_names())
        .expect("the data set loads");
    let ids: Vec<&str> = dataset.samples.iter().map(|s| s.id.as_str()).collect();
    // 000006 is only found unreadable when the detector runs.
    assert_eq!(ids, ["000001", "000003", "000004", "000006"]);
    assert_eq!(dataset.absent, 1);
    let p = &dataset.problems;
    assert_eq!(p.count(ProblemKind::MissingImage), 1, "{p:?}");
    assert_eq!(p.count(ProblemKind::MalformedRecord), 1, "{p:?}");
    assert_eq!(p.count(ProblemKind::BoxOutsideImage), 1, "{p:?}");
    assert_eq!(
        p.count(ProblemKind::UnknownClass),
        2,
        "cup and unicorn: {p:?}"
    );
    assert!(
        p.iter().any(|m| m.message.contains("trainval.jsonl:3")),
        "line numbers: {p:?}"
    );
    // The box outside is clipped to the image and kept.
    let clipped = &dataset.samples[1].objects;
    assert_eq!(clipped.len(), 1);
    assert_eq!(clipped[0].bbox.x_max, 160.0);
    assert!(dataset.samples[2].objects[0].difficult);
    assert_eq!(
        p.summary().as_deref(),
        Some("1 missing image, 1 malformed record, 1 box outside its image, 2 unknown class names")
    );
}

#[test]
fn a_split_file_selects_ids_and_reports_unknown_ones() {
    let voc = bad_input_voc();
    let split = voc.write("split.txt", "# validation\n000001\n\n000004\n999999\n");
    let options = DataOptions {
        split: Some(split),
        ..DataOptions::default()
    };
    let dataset = Dataset::load(voc.root(), &options, &class_names()).expect("loads");
    let ids: Vec<&str> = dataset.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["000001", "000004"]);
    assert_eq!(dataset.problems.count(ProblemKind::UnknownId), 1);
}

#[test]
fn a_wrong_data_path_names_the_path_and_what_was_expected() {
    let voc = TinyVoc::new();
    for path in [voc.root().join("nowhere"), voc.root().to_path_buf()] {
        let error = Dataset::load(&path, &DataOptions::default(), &class_names())
            .expect_err("no annotations there");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("VOC2007/trainval.jsonl"), "{message}");
        assert!(message.contains("ImageSets/Main/trainval.txt"), "{message}");
    }
    let out = run_golden("eval", &voc.root().join("nowhere"), &[]);
    assert_fails_saying(&out, "does not exist");
}

#[test]
fn vocdevkit_xml_reads_like_json_lines() {
    let voc = TinyVoc::new();
    let size = voc.image("000001", "chelsea");
    voc.write("VOC2007/ImageSets/Main/trainval.txt", "000001\n000002\n");
    voc.write(
        "VOC2007/Annotations/000001.xml",
        &format!(
            "<annotation><folder>VOC2007</folder><filename>000001.jpg</filename>\
             <size><width>{}</width><height>{}</height><depth>3</depth></size>\
             <object><name>cat</name><difficult>0</difficult>\
             <bndbox><xmin>20</xmin><ymin>10</ymin><xmax>120</xmax><ymax>90</ymax></bndbox></object>\
             <object><name>dog</name><difficult>1</difficult>\
             <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>\
             </annotation>",
            size.0, size.1
        ),
    );
    voc.write("VOC2007/Annotations/000002.xml", "<annotation><size>");
    let dataset = Dataset::load(voc.root(), &DataOptions::default(), &class_names()).expect("XML");
    assert_eq!(dataset.samples.len(), 1);
    assert_eq!(dataset.problems.count(ProblemKind::MalformedRecord), 1);
    let objects = &dataset.samples[0].objects;
    assert_eq!(objects.len(), 2);
    assert_eq!(
        (objects[0].class_id, objects[0].bbox),
        (CAT, Corners::new(19.0, 9.0, 120.0, 90.0))
    );
    assert!(objects[1].difficult);

    // The same object as a JSON line gives the same sample.
    voc.write(
        "other/trainval.jsonl",
        &json_line(
            "000001",
            size,
            r#"{"name": "cat", "bbox": [20, 10, 120, 90]}, {"name": "dog", "bbox": [1, 1, 30, 40], "difficult": 1}"#,
        ),
    );
    let mut problems = Problems::default();
    let from_json = parse_json_lines(
        &std::fs::read_to_string(voc.root().join("other/trainval.jsonl")).expect("read"),
        &voc.root().join("other/trainval.jsonl"),
        &class_names(),
        &mut problems,
    );
    assert_eq!(from_json[0].objects, *objects);
}

/// Scores best first; four objects.
fn hand_made_curve() -> PrCurve {
    PrCurve {
        scores: vec![0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        true_positive: vec![true, true, false, true, false, false],
        num_positives: 4,
    }
}

#[test]
fn tune_picks_the_f1_maximising_threshold() {
    // Cutting after each detection:
    //   0.9: P 1/1 R 1/4 F1 0.400    0.6: P 3/4 R 3/4 F1 0.750  <- best
    //   0.8: P 2/2 R 2/4 F1 0.667    0.5: P 3/5 R 3/4 F1 0.667
    //   0.7: P 2/3 R 2/4 F1 0.571    0.4: P 3/6 R 3/4 F1 0.600
    // The threshold lies between the last kept (0.6) and the first dropped (0.5), so the
    // detector's `score > threshold` keeps exactly those four.
    let curve = hand_made_curve();
    let (threshold, outcome) = choose_threshold(&curve, TuneGoal::MaxF1, 0.01, 0.5);
    assert_eq!(outcome, TuneOutcome::Tuned);
    assert!((threshold - 0.55).abs() < 1e-6, "{threshold}");
    let (precision, recall, f1, kept) = stats_at(&curve, threshold);
    assert_eq!(kept, 4);
    assert!(close(precision, 0.75) && close(recall, 0.75) && close(f1, 0.75));
}

#[test]
fn tune_target_precision_takes_the_lowest_threshold_reaching_it() {
    let curve = hand_made_curve();
    // Precision >= 0.8 holds after 0.9 and 0.8: the lower cut, between 0.8 and 0.7.
    let (threshold, outcome) = choose_threshold(&curve, TuneGoal::MinPrecision(0.8), 0.01, 0.5);
    assert_eq!(outcome, TuneOutcome::Tuned);
    assert!((threshold - 0.75).abs() < 1e-6, "{threshold}");
    // 0.75 is reached again after 0.6: that cut is lower.
    let (threshold, _) = choose_threshold(&curve, TuneGoal::MinPrecision(0.75), 0.01, 0.5);
    assert!((threshold - 0.55).abs() < 1e-6, "{threshold}");
    // Keeping everything is allowed: the threshold is the floor the detections were made at.
    let (threshold, _) = choose_threshold(&curve, TuneGoal::MinPrecision(0.5), 0.01, 0.5);
    assert_eq!(threshold, 0.01);
}

#[test]
fn tune_never_cuts_between_equal_scores_and_falls_back_without_data() {
    let tied = PrCurve {
        scores: vec![0.9, 0.7, 0.7],
        true_positive: vec![false, true, false],
        num_positives: 1,
    };
    // Keeping one of the two 0.7s would be F1 1/1.5 = 0.667, but no threshold does that:
    // both go (F1 0) or both stay (P 1/3, R 1, F1 0.5).
    let (threshold, _) = choose_threshold(&tied, TuneGoal::MaxF1, 0.01, 0.5);
    assert_eq!(threshold, 0.01);
    let (threshold, outcome) = choose_threshold(&tied, TuneGoal::MinPrecision(0.9), 0.01, 0.5);
    assert_eq!(outcome, TuneOutcome::PrecisionNotReached);
    assert_eq!(threshold, 0.01);

    let no_objects = PrCurve {
        scores: vec![0.9],
        true_positive: vec![false],
        num_positives: 0,
    };
    assert_eq!(
        choose_threshold(&no_objects, TuneGoal::MaxF1, 0.01, 0.5),
        (0.5, TuneOutcome::NoGroundTruth)
    );
    let never_found = PrCurve {
        num_positives: 2,
        ..no_objects
    };
    assert_eq!(
        choose_threshold(&never_found, TuneGoal::MaxF1, 0.01, 0.5),
        (0.5, TuneOutcome::NoTruePositives)
    );
}

#[test]
fn threshold_profile_round_trips() {
    let names = class_names();
    let mut config = DetectConfig::uniform(names.len(), 0.5);
    config.thresholds[CAT] = 0.37;
    config.thresholds[DOG] = 0.625;
    config.nms_iou = 0.4;
    let profile = ThresholdProfile::from_config("best F1", &config, &names);
    assert_eq!(profile.thresholds.len(), 20, "background is left out");
    assert_eq!(profile.thresholds["cat"], 0.37);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("profiles/voc.json");
    profile.save(&path, false, &RunInputs::NONE).expect("save");
    let loaded = ThresholdProfile::load(&path).expect("load");
    assert_eq!(loaded, profile);
    let applied = loaded.apply(&DetectConfig::uniform(names.len(), 0.5), &names);
    assert_eq!(applied, config);

    // A hand-edited profile: unknown classes are reported, out-of-range values refused.
    std::fs::write(
        &path,
        r#"{"name": "hand", "thresholds": {"cat": 0.2, "unicorn": 0.3}}"#,
    )
    .expect("write");
    let hand = ThresholdProfile::load(&path).expect("nms_iou defaults");
    assert_eq!(hand.nms_iou, DetectConfig::DEFAULT_NMS_IOU);
    assert_eq!(hand.unknown_classes(&names), ["unicorn"]);
    std::fs::write(&path, r#"{"name": "bad", "thresholds": {"cat": 1.5}}"#).expect("write");
    let error = ThresholdProfile::load(&path).expect_err("1.5 is no threshold");
    assert!(error.to_string().contains("cat"), "{error}");
    let twice = r#"{"name": "twice", "thresholds": {"cat": 0.2, "dog": 0.3, "cat": 0.9}}"#;
    std::fs::write(&path, twice).expect("write");
    let error = ThresholdProfile::load(&path).expect_err("which cat?");
    assert!(
        error.to_string().contains("the class 'cat' is given twice"),
        "{error}"
    );
}

/// The fixture's ground truth scored against its detections.
fn fixture_evaluation() -> tinyssd::eval::Evaluation {
    let file = common::repo_path("tests/fixtures/eval/ground_truth.jsonl");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let samples = parse_json_lines(&text, &file, &class_names(), &mut Problems::default());
    let ids: Vec<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    evaluate(
        &class_names(),
        &samples,
        &fixture_detections(&ids),
        Protocol::voc2007().match_iou,
    )
}

#[test]
fn plots_are_written_as_png() {
    let evaluation = fixture_evaluation();
    let dir = tempfile::tempdir().expect("temp dir");
    let written =
        tinyssd::eval::plot::write_all(dir.path(), &evaluation, "fixture", false, &RunInputs::NONE)
            .expect("plots");
    assert_eq!(written.len(), 21);
    let cat = image::open(dir.path().join("pr_cat.png")).expect("a PNG");
    assert_eq!((cat.width(), cat.height()), (480, 480));
    let summary = image::open(dir.path().join("summary.png"))
        .expect("a PNG")
        .to_rgb8();
    // Some bar is drawn in the bar colour.
    assert!(summary.pixels().any(|p| p.0 == [70, 130, 180]));
}

#[test]
fn plots_replace_charts_only_when_asked() {
    let evaluation = fixture_evaluation();
    let dir = tempfile::tempdir().expect("temp dir");
    let mine = dir.path().join("summary.png");
    std::fs::write(&mine, "the user's own file").expect("write");
    let refused =
        tinyssd::eval::plot::write_all(dir.path(), &evaluation, "fixture", false, &RunInputs::NONE);
    assert!(
        matches!(&refused, Err(tinyssd::eval::EvalError::Exists(path)) if *path == mine),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&mine).expect("kept"),
        "the user's own file"
    );
    // Nothing is written when one chart would replace a file.
    assert!(!dir.path().join("pr_cat.png").exists());
    tinyssd::eval::plot::write_all(dir.path(), &evaluation, "fixture", true, &RunInputs::NONE)
        .expect("replaced");
    assert!(image::open(&mine).is_ok());
}

/// Runs `tinyssd COMMAND --data DATA --model GOLDEN EXTRA...`: how every end-to-end test here
/// starts the binary.
fn run_golden(command: &str, data: &Path, extra: &[&str]) -> std::process::Output {
    let data = data.display().to_string();
    let args = [&[command, "--data", &data, "--model", GOLDEN][..], extra].concat();
    tinyssd(&args)
}

fn good_voc() -> TinyVoc {
    let voc = TinyVoc::new();
    let a = voc.image("000001", "chelsea");
    let b = voc.image("000002", "astronaut");
    let c = voc.image("000003", "coffee");
    let lines = [
        json_line(
            "000001",
            a,
            r#"{"name": "cat", "bbox": [20, 10, 120, 90], "difficult": 0}"#,
        ),
        json_line(
            "000002",
            b,
            r#"{"name": "person", "bbox": [30, 10, 120, 160], "difficult": 0}"#,
        ),
        json_line(
            "000003",
            c,
            r#"{"name": "bottle", "bbox": [50, 20, 90, 80], "difficult": 1}"#,
        ),
    ];
    voc.write("VOC2007/trainval.jsonl", &lines.join("\n"));
    voc
}

#[test]
fn eval_runs_end_to_end_and_prints_a_table() {
    let voc = good_voc();
    let plots = voc.root().join("plots");
    let out = run_golden(
        "eval",
        voc.root(),
        &["--threads", "2", "--plots", &plots.display().to_string()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("3 images"), "{text}");
    assert!(text.contains("images/s"), "{text}");
    let cat = text
        .lines()
        .find(|l| l.starts_with("cat "))
        .expect("a cat row");
    // AP11 and AP all in percent with 2 decimals, then the object count.
    let fields: Vec<&str> = cat.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "{cat}");
    assert!(
        fields[1].parse::<f64>().is_ok() && fields[1].contains('.'),
        "{cat}"
    );
    assert_eq!(fields[3], "1", "{cat}");
    assert!(text.lines().any(|l| l.starts_with("mAP ")), "{text}");
    assert!(plots.join("summary.png").is_file());
    assert!(plots.join("pr_person.png").is_file());

    let out = run_golden("eval", &voc.year().join("trainval.jsonl"), &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["images"], 3);
    assert_eq!(report["classes"].as_array().map(Vec::len), Some(20));
    assert_eq!(report["classes"][14]["name"], "person");
    assert_eq!(report["classes"][14]["num_gt"], 1);
    assert_eq!(report["classes"][4]["num_gt"], 0, "the bottle is difficult");
    assert!(report["map11"].is_number() && report["images_per_second"].is_number());
    assert_eq!(report["problems"]["missing_image"], 0);
    assert_eq!(
        report["cross_class_iou"],
        serde_json::Value::Null,
        "off by default"
    );

    let out = run_golden("eval", voc.root(), &["--cross-class-iou", "0.2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("another class (IoU above 0.2) dropped"),
        "{text}"
    );
}

#[test]
fn eval_reports_bad_input_and_goes_on() {
    let voc = bad_input_voc();
    let out = run_golden("eval", voc.root(), &[]);
    // Like `detect` with an unreadable file: every problem reported, exit code 2.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(": 3 images"),
        "the three readable images ran: {text}"
    );
    assert!(text.lines().any(|l| l.starts_with("mAP ")), "{text}");
    let summary = text.lines().last().expect("a summary line");
    assert!(
        summary.starts_with(
            "problems: 1 missing image, 1 unreadable image, 1 malformed record, \
             1 box outside its image, 2 unknown class names"
        ),
        "{summary}"
    );
    let errors = stderr(&out);
    assert!(
        errors.contains("000002.jpg: image file not found"),
        "{errors}"
    );
    assert!(errors.contains("unknown class name 'unicorn'"), "{errors}");
    assert!(errors.contains("000006.jpg"), "{errors}");
}

#[test]
fn tune_writes_a_profile_the_app_can_load() {
    let voc = good_voc();
    let profile_path = voc.root().join("tuned.json");
    let out = run_golden(
        "tune",
        voc.root(),
        &[
            "--target-precision",
            "0.9",
            "--out",
            &profile_path.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("threshold") && text.contains("F1"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("person ")), "{text}");
    let profile = ThresholdProfile::load(&profile_path).expect("a valid profile");
    assert_eq!(profile.thresholds.len(), 20);
    assert_eq!(profile.name, "precision 0.9");
    assert!(profile.thresholds.values().all(|t| (0.0..=1.0).contains(t)));
}

#[test]
fn track_eval_films_the_photos_with_objects_and_scores_both_views() {
    let voc = good_voc();
    let run = |extra: &[&str]| run_golden("track-eval", voc.root(), extra);
    let out = run(&["--photos", "5", "--frames", "4", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    // coffee's only object is difficult: two photos are filmed, four frames each
    assert_eq!(
        (report["photos"].as_u64(), report["frames"].as_u64()),
        (Some(2), Some(8))
    );
    for view in ["raw", "tracked"] {
        let score = &report[view];
        let count = |key: &str| score[key].as_u64().expect("a count");
        assert_eq!(count("frames"), 8, "{view}");
        assert!(
            count("object_frames") > 0 && count("object_frames") <= 8,
            "{view}"
        );
        assert_eq!(
            count("true_positives") + count("misses"),
            count("object_frames"),
            "{view}: every true object is found or missed"
        );
        assert!(
            count("steady_pairs") <= count("true_positives"),
            "{view}: a steady pair is an object found in two frames running"
        );
        let jitter = score["jitter_total"].as_f64().expect("a sum");
        assert!(jitter.is_finite() && jitter >= 0.0, "{view}: {jitter}");
    }
    assert_eq!(
        report["raw"]["object_frames"],
        report["tracked"]["object_frames"]
    );
    assert!(
        report["raw"]["identity"].is_null(),
        "raw boxes carry no IDs"
    );
    assert!(report["cross_class_iou"].is_null(), "off unless asked");
    let identity = &report["tracked"]["identity"];
    if !identity.is_null() {
        let count = |key: &str| identity[key].as_u64().expect("a count");
        assert_eq!(
            count("true_positives") + count("misses"),
            report["tracked"]["object_frames"]
                .as_u64()
                .expect("a count"),
            "IDF1's parts: every true object is on its matched track or not"
        );
    }

    let one_class = run(&[
        "--photos",
        "1",
        "--frames",
        "2",
        "--cross-class-iou",
        "0.85",
        "--json",
    ]);
    assert!(one_class.status.success(), "{}", stderr(&one_class));
    let report: serde_json::Value = serde_json::from_str(&stdout(&one_class)).expect("valid JSON");
    assert!((report["cross_class_iou"].as_f64().expect("set") - 0.85).abs() < 1e-6);

    let table = run(&["--photos", "1", "--frames", "3"]);
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(stdout(&table).contains("| tracks |"), "{}", stdout(&table));

    let bad = run(&["--frames", "0"]);
    assert_fails_saying(&bad, "at least 1");
    for (flag, value, says) in [
        (
            "--match-iou",
            "1.5",
            "--match-iou must be above 0, at most 1, not 1.5",
        ),
        (
            "--score-smoothing",
            "0",
            "--score-smoothing must be above 0",
        ),
        (
            "--hysteresis",
            "-0.1",
            "--hysteresis must be 0 to 1, not -0.1",
        ),
        ("--hysteresis", "NaN", "--hysteresis must be 0 to 1"),
        (
            "--new-track-odds",
            "0",
            "--new-track-odds must be a positive number",
        ),
    ] {
        assert_fails_saying(&run(&[&format!("{flag}={value}")]), says);
    }
}
