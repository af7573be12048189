//! Decoding, thresholds, NMS and the top-k cut on hand-made network outputs.

use tinyssd::detect::{DetectConfig, Detection, Postprocessor};
use tinyssd::model::CenterBox;

const CLASSES: usize = 3; // background, "a", "b"

fn postprocessor(priors: &[(f32, f32, f32, f32)]) -> Postprocessor {
    let priors = priors
        .iter()
        .map(|&(cx, cy, w, h)| CenterBox { cx, cy, w, h })
        .collect();
    let names = ["background", "a", "b"].map(String::from).to_vec();
    Postprocessor::with_priors(priors, [0.1, 0.1, 0.2, 0.2], names)
}

/// The detections of one frame `width` x `height` pixels.
fn detections(
    post: &mut Postprocessor,
    loc: &[f32],
    conf: &[f32],
    config: &DetectConfig,
    (width, height): (u32, u32),
) -> Vec<Detection> {
    let mut found = Vec::new();
    post.run_into(loc, conf, config, width, height, &mut found);
    found
}

/// Logits whose softmax gives `probability` to `class` and splits the rest evenly.
fn logits_for(class: usize, probability: f32) -> [f32; CLASSES] {
    let rest = (1.0 - probability) / (CLASSES - 1) as f32;
    let mut out = [rest.ln(); CLASSES];
    out[class] = probability.ln();
    out
}

fn run(
    post: &mut Postprocessor,
    scores: &[(usize, f32)],
    config: &DetectConfig,
) -> Vec<(usize, f32, f32)> {
    let conf: Vec<f32> = scores.iter().flat_map(|&(c, p)| logits_for(c, p)).collect();
    let loc = vec![0.0; scores.len() * 4];
    detections(post, &loc, &conf, config, (100, 100))
        .into_iter()
        .map(|d| (d.class_id, d.score, d.bbox.x_min))
        .collect()
}

fn config(threshold: f32) -> DetectConfig {
    DetectConfig::uniform(CLASSES, threshold)
}

#[test]
fn overlapping_boxes_of_one_class_are_suppressed() {
    let mut post = postprocessor(&[
        (0.5, 0.5, 0.4, 0.4),
        (0.52, 0.5, 0.4, 0.4),
        (0.2, 0.2, 0.1, 0.1),
    ]);
    let found = run(&mut post, &[(1, 0.8), (1, 0.9), (1, 0.7)], &config(0.5));
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0, 1);
    assert!(
        (found[0].1 - 0.9).abs() < 1e-5,
        "the better of the overlapping pair survives"
    );
    assert!(
        (found[1].2 - 15.0).abs() < 1e-3,
        "the distant box survives, in pixels"
    );
}

#[test]
fn overlapping_boxes_of_different_classes_are_kept() {
    let mut post = postprocessor(&[(0.5, 0.5, 0.4, 0.4), (0.5, 0.5, 0.4, 0.4)]);
    let found = run(&mut post, &[(1, 0.8), (2, 0.9)], &config(0.5));
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![2, 1]);
}

#[test]
fn cross_class_suppression_keeps_the_better_class_and_refills_the_top_k() {
    // Box 0 (x_min 30 px): "b" 0.6 and "a" 0.35 on one object; box 1 (x_min 5 px),
    // far away: "a" 0.3 ("b" 0.2 misses the threshold).
    let mut post = postprocessor(&[(0.5, 0.5, 0.4, 0.4), (0.1, 0.1, 0.1, 0.1)]);
    let conf: Vec<f32> = [0.05f32, 0.35, 0.6, 0.5, 0.3, 0.2]
        .iter()
        .map(|p| p.ln())
        .collect();
    let mut cfg = config(0.25);
    cfg.top_k = 2;
    let found = |post: &mut Postprocessor, cfg: &DetectConfig| -> Vec<(usize, f32)> {
        detections(post, &[0.0; 8], &conf, cfg, (100, 100))
            .iter()
            .map(|d| (d.class_id, d.bbox.x_min.round()))
            .collect()
    };
    assert_eq!(found(&mut post, &cfg), vec![(2, 30.0), (1, 30.0)]);
    cfg.cross_class_iou = Some(0.85);
    assert_eq!(
        found(&mut post, &cfg),
        vec![(2, 30.0), (1, 5.0)],
        "box 0's 'a' lay under its 'b'; the distant 'a' takes its place"
    );
}

#[test]
fn equal_scores_keep_the_first_box() {
    let mut post = postprocessor(&[(0.3, 0.5, 0.4, 0.4), (0.32, 0.5, 0.4, 0.4)]);
    let found = run(&mut post, &[(1, 0.8), (1, 0.8)], &config(0.5));
    assert_eq!(found.len(), 1);
    assert!(
        (found[0].2 - 10.0).abs() < 1e-3,
        "box 0 (x_min 10 px) wins the tie"
    );
}

#[test]
fn no_candidates_give_no_detections() {
    let mut post = postprocessor(&[(0.5, 0.5, 0.4, 0.4)]);
    assert!(run(&mut post, &[(0, 0.99)], &config(0.5)).is_empty());
    let mut empty = postprocessor(&[]);
    assert!(run(&mut empty, &[], &config(0.5)).is_empty());
}

#[test]
fn top_k_keeps_the_best() {
    let priors: Vec<_> = (0..10)
        .map(|i| (0.05 + 0.1 * i as f32, 0.5, 0.05, 0.05))
        .collect();
    let mut post = postprocessor(&priors);
    let scores: Vec<_> = (0..10).map(|i| (1, 0.6 + 0.03 * i as f32)).collect();
    let mut cfg = config(0.5);
    cfg.top_k = 3;
    let found = run(&mut post, &scores, &cfg);
    assert_eq!(found.len(), 3);
    let best: Vec<f32> = found.iter().map(|f| f.1).collect();
    assert!(
        (best[0] - 0.87).abs() < 1e-5 && (best[2] - 0.81).abs() < 1e-5,
        "{best:?}"
    );
}

#[test]
fn thresholds_apply_per_class() {
    let mut post = postprocessor(&[(0.2, 0.2, 0.1, 0.1), (0.8, 0.8, 0.1, 0.1)]);
    let mut cfg = config(0.5);
    cfg.thresholds[2] = 0.95;
    let found = run(&mut post, &[(1, 0.7), (2, 0.9)], &cfg);
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1]);
    cfg.thresholds[1] = 0.75;
    cfg.thresholds[2] = 0.2; // above the 0.15 that box 0 gives class 2
    let found = run(&mut post, &[(1, 0.7), (2, 0.9)], &cfg);
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn boxes_are_clipped_to_the_image() {
    let mut post = postprocessor(&[(0.0, 0.0, 0.5, 0.5)]);
    let conf = logits_for(1, 0.9).to_vec();
    let found = detections(&mut post, &[0.0; 4], &conf, &config(0.5), (200, 100));
    let b = found[0].bbox;
    assert_eq!((b.x_min, b.y_min), (0.0, 0.0));
    assert!((b.x_max - 50.0).abs() < 1e-3 && (b.y_max - 25.0).abs() < 1e-3);
}

#[test]
fn skipping_hopeless_boxes_changes_nothing() {
    // 40 far-apart boxes (no NMS interplay) with pseudo-random logits: the detections
    // must be exactly the (box, class) pairs whose softmax probability passes.
    let priors: Vec<_> = (0..40)
        .map(|i| (0.025 + 0.025 * i as f32, 0.5, 0.01, 0.01))
        .collect();
    let mut post = postprocessor(&priors);
    let mut seed = 7u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1 << 24) as f32 * 8.0 - 4.0
    };
    let conf: Vec<f32> = (0..40 * CLASSES).map(|_| next()).collect();
    for threshold in [0.05, 0.3, 0.6] {
        let mut expected = Vec::new();
        for (prior, logits) in conf.chunks_exact(CLASSES).enumerate() {
            let sum: f32 = logits.iter().map(|l| l.exp()).sum();
            for (class, logit) in logits.iter().enumerate().skip(1) {
                if logit.exp() / sum > threshold {
                    expected.push((prior, class));
                }
            }
        }
        let found = detections(
            &mut post,
            &[0.0; 40 * 4],
            &conf,
            &config(threshold),
            (1000, 100),
        );
        let mut found: Vec<_> = found
            .iter()
            .map(|d| {
                (
                    ((d.bbox.x_min + 5.0) / 25.0).round() as usize - 1,
                    d.class_id,
                )
            })
            .collect();
        found.sort_unstable();
        expected.sort_unstable();
        assert!(!expected.is_empty() && expected.len() < 40 * (CLASSES - 1));
        assert_eq!(found, expected, "threshold {threshold}");
    }
}
