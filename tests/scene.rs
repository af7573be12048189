//! Marks on the user's own scene, kept as a VOC folder: they come back as they were when
//! the folder is reopened, `tinyssd tune` on the folder chooses the thresholds *Suggest*
//! chooses, and a folder holding anything else is refused.

mod common;

use common::{repo_path, stdout, tinyssd};
use tinyssd::detect::Detector;
use tinyssd::eval::TuneGoal;
use tinyssd::files::RunInputs;
use tinyssd::model::Corners;
use tinyssd::scene::{MARKS_FILE, SceneError, SceneFolder, Verdict, suggest};

fn shipped_detector() -> Detector {
    Detector::from_file(&repo_path("models/tinyssd_voc.safetensors"), 1).expect("the shipped model")
}

fn photo(name: &str) -> image::RgbImage {
    image::open(repo_path(&format!("assets/{name}")))
        .expect("a bundled photo")
        .to_rgb8()
}

/// A folder with the three bundled photos marked by a scripted judge: every candidate
/// of its frame scoring at least 0.05 judged (right from 0.3 up), one box drawn per frame.
fn marked_folder(dir: &std::path::Path, detector: &mut Detector) -> SceneFolder {
    let names = detector.class_names().to_vec();
    let mut folder =
        SceneFolder::open(dir, &names, detector, RunInputs::default()).expect("a new folder");
    for name in ["chelsea.png", "astronaut.png", "coffee.png"] {
        let index = folder
            .add_frame(&photo(name), detector)
            .expect("frame saved");
        let frame = folder.frame(index).expect("the frame").clone();
        let judged: Vec<_> = frame
            .candidates
            .iter()
            .filter(|c| c.score >= 0.05)
            .take(12)
            .map(|c| (c.class_id, c.bbox, c.score >= 0.3))
            .collect();
        for (class_id, bbox, right) in judged {
            folder
                .edit(index, |f| f.judge(class_id, bbox, right))
                .expect("written");
        }
        let corner = Corners {
            x_min: 1.0,
            y_min: 1.0,
            x_max: 60.0,
            y_max: 80.0,
        };
        let class_id = frame.candidates.first().map_or(15, |c| c.class_id);
        folder
            .edit(index, |f| f.draw(class_id, corner))
            .expect("written");
    }
    folder
}

#[test]
fn marks_come_back_as_they_were_when_the_folder_is_reopened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scene = dir.path().join("desk");
    let mut detector = shipped_detector();
    let folder = marked_folder(&scene, &mut detector);
    let names = detector.class_names().to_vec();
    let reopened =
        SceneFolder::open(&scene, &names, &mut detector, RunInputs::default()).expect("reopens");
    let frames = |f: &SceneFolder| f.marked_frames().cloned().collect::<Vec<_>>();
    assert_eq!(frames(&reopened).len(), 3);
    // The candidates are found again in the saved JPEGs: the same boxes and scores.
    assert_eq!(frames(&reopened), frames(&folder));
    let verdicts: Vec<Verdict> = reopened
        .marked_frames()
        .flat_map(|f| f.marks.iter().map(|m| m.verdict))
        .collect();
    for verdict in [Verdict::Right, Verdict::Wrong, Verdict::Missed] {
        assert!(verdicts.contains(&verdict), "{verdict:?} in {verdicts:?}");
    }
    for file in [
        MARKS_FILE,
        "ImageSets/Main/trainval.txt",
        "JPEGImages/frame-0001.jpg",
        "Annotations/frame-0003.xml",
    ] {
        assert!(scene.join(file).is_file(), "{file}");
    }
}

#[test]
fn tune_on_the_folder_chooses_the_thresholds_suggest_chooses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scene = dir.path().join("desk");
    let mut detector = shipped_detector();
    let folder = marked_folder(&scene, &mut detector);
    let names = detector.class_names().to_vec();
    let current = detector.default_config().thresholds;
    let suggestions = suggest(folder.marked_frames(), &names, TuneGoal::MaxF1, &current);
    let suggested: Vec<(String, f32)> = suggestions
        .iter()
        .filter_map(|s| s.suggested.as_ref())
        .map(|t| (t.name.clone(), t.threshold))
        .collect();
    assert!(
        !suggested.is_empty(),
        "no class has enough marks: {suggestions:?}"
    );

    let profile = dir.path().join("profile.json");
    let out = tinyssd(&[
        "tune",
        "--data",
        scene.to_str().expect("utf-8"),
        "--out",
        profile.to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["images"], 3);
    for (name, threshold) in &suggested {
        let tuned = report["classes"]
            .as_array()
            .expect("classes")
            .iter()
            .find(|c| c["name"] == name.as_str())
            .expect("the class is tuned");
        assert_eq!(
            tuned["threshold"].as_f64().expect("a number") as f32,
            *threshold,
            "{name}"
        );
    }
}

#[test]
fn undo_takes_back_a_mark_and_the_frame_it_brought() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scene = dir.path().join("desk");
    let mut detector = shipped_detector();
    let names = detector.class_names().to_vec();
    let mut folder =
        SceneFolder::open(&scene, &names, &mut detector, RunInputs::default()).expect("new");
    let index = folder
        .add_frame(&photo("chelsea.png"), &mut detector)
        .expect("frame");
    assert!(!scene.exists(), "nothing is written before the first mark");
    let bbox = Corners {
        x_min: 10.0,
        y_min: 10.0,
        x_max: 100.0,
        y_max: 100.0,
    };
    folder.edit(index, |f| f.draw(8, bbox)).expect("written");
    assert!(scene.join("JPEGImages/frame-0001.jpg").is_file());
    assert!(folder.undo().expect("undone"));
    assert_eq!(folder.mark_count(), 0);
    assert!(!scene.join("JPEGImages/frame-0001.jpg").exists());
    assert!(!scene.join("Annotations/frame-0001.xml").exists());
    let list = std::fs::read_to_string(scene.join("ImageSets/Main/trainval.txt")).expect("list");
    assert_eq!(list, "");
    assert!(!folder.undo().expect("nothing left"), "one edit, one undo");
}

#[test]
fn a_folder_of_other_files_or_damaged_marks_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut detector = shipped_detector();
    let names = detector.class_names().to_vec();
    let photos = dir.path().join("holiday");
    std::fs::create_dir(&photos).expect("folder");
    std::fs::write(photos.join("beach.jpg"), b"mine").expect("file");
    let open = |dir: &std::path::Path, detector: &mut Detector| {
        SceneFolder::open(dir, &names, detector, RunInputs::default()).err()
    };
    assert!(matches!(
        open(&photos, &mut detector),
        Some(SceneError::Foreign(_))
    ));
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).expect("folder");
    std::fs::write(
        damaged.join(MARKS_FILE),
        b"{\"tinyssd_marks\": 1, \"frames\": [",
    )
    .expect("file");
    let error = open(&damaged, &mut detector).expect("refused");
    assert!(matches!(error, SceneError::Damaged { .. }), "{error}");
    assert_eq!(
        std::fs::read(photos.join("beach.jpg")).expect("kept"),
        b"mine"
    );
}
