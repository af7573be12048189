//! The one [`App`]: starts the pipeline, takes its results each frame without
//! blocking, lays out the panels and applies the [`Command`]s they return.

use super::command::Command;
use super::dialog::{FilePicker, NOTHING_CHOSEN, NativeDialog};
use super::panels;
use super::settings::SettingsStore;
use super::state::{AppState, ProfileSaved};
use crate::detect::{DetectConfig, Detector, DetectorError};
use crate::engine::PrecisionChoice;
use crate::files::RunInputs;
use crate::model::Model;
use crate::pipeline::{
    DetectionLog, Pipeline, SHUTDOWN_DEADLINE, ShutdownReport, SourceControl, SourceSpec,
    is_exact_rgb,
};
use egui::{ColorImage, TextureHandle, TextureOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the live numbers go to the log (at `info` level).
const LOG_STATS_EVERY: Duration = Duration::from_secs(5);

/// How the app starts.
#[derive(Debug, Default)]
pub struct Launch {
    /// `None`: the first camera, or the demo when there is none.
    pub source: Option<SourceSpec>,
    /// Frames per second for image and demo sources.
    pub fps: Option<f32>,
    /// Where every processed frame's detections are written (`--log`).
    pub log: Option<DetectionLog>,
    /// Set from outside (Ctrl-C, SIGTERM) to close the app as Quit does.
    pub quit_signal: Option<Arc<AtomicBool>>,
    /// What this run reads (the model, the source's files): never a profile's target.
    pub inputs: RunInputs,
    /// The precision asked for, for models loaded later too.
    pub precision: PrecisionChoice,
}

/// The frame on screen as a texture, updated in place.
#[derive(Default)]
struct VideoTexture {
    handle: Option<TextureHandle>,
    seq: u64,
}

impl VideoTexture {
    fn show(&mut self, ctx: &egui::Context, state: &AppState) {
        let Some(frame) = &state.current else { return };
        // (A frame that is not exactly its pixels would make egui assert.)
        if self.handle.is_some() && frame.seq == self.seq || !is_exact_rgb(&frame.image) {
            return;
        }
        let size = [frame.image.width() as usize, frame.image.height() as usize];
        let image = ColorImage::from_rgb(size, frame.image.as_raw());
        match &mut self.handle {
            Some(handle) => handle.set(image, TextureOptions::LINEAR),
            None => {
                self.handle = Some(ctx.load_texture("video", image, TextureOptions::LINEAR));
            }
        }
        self.seq = frame.seq;
    }
}

pub struct App {
    state: AppState,
    pipeline: Option<Pipeline>,
    /// The playing video's seeks, or the image list's steps.
    control: Option<SourceControl>,
    /// The threads the worker's detector runs on, kept for a model loaded later.
    inference_threads: usize,
    /// The precision asked for, for models loaded later.
    precision: PrecisionChoice,
    video: VideoTexture,
    /// The settings the worker has, to send only changes.
    sent_config: Option<DetectConfig>,
    fps: Option<f32>,
    last_stats_log: Instant,
    quit_requested: bool,
    /// When set, the next UI pass quits (see [`Launch::quit_signal`]).
    quit_signal: Option<Arc<AtomicBool>>,
    /// Asks for the files the Open buttons open.
    picker: Box<dyn FilePicker>,
    /// Whether egui's memory (panel widths, open sections) is kept between runs: not
    /// when the settings are not either (`--no-persist`).
    remembers: bool,
}

impl App {
    /// The real app: restores the settings, picks the source and starts the threads.
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        detector: Detector,
        launch: Launch,
        store: SettingsStore,
    ) -> App {
        let remembers = store.path().is_some();
        let mut state = AppState::new(
            detector.class_names().to_vec(),
            detector.default_config(),
            store,
        );
        state.inputs = launch.inputs.clone();
        match marking_detector(&detector) {
            Ok(marker) => state.set_marking_detector(marker),
            Err(error) => log::warn!("marking is off: {error}"),
        }
        state.source.refresh_cameras();
        let source = launch
            .source
            .clone()
            .unwrap_or_else(|| match state.source.cameras.first() {
                Some(camera) => {
                    SourceSpec::Camera(crate::pipeline::CameraSelector::Index(camera.index))
                }
                None => {
                    state.source.note = Some(
                        "No camera found: showing the demo. Pick a camera in the side panel \
                         once one is connected (Refresh lists them again)."
                            .to_string(),
                    );
                    SourceSpec::Demo
                }
            });
        let ctx = cc.egui_ctx.clone();
        let wake = Arc::new(move || ctx.request_repaint());
        state.source.camera = source.camera_index();
        let mut app = App::headless(state).quit_on(launch.quit_signal);
        app.remembers = remembers;
        app.fps = launch.fps;
        app.inference_threads = detector.engine().threads();
        app.precision = launch.precision;
        app.state.precision = detector.engine().packed().precision();
        let (opener, control) = source.opener_with_control(launch.fps);
        app.control = control;
        match Pipeline::start_logged(
            opener,
            Box::new(detector),
            app.state.worker_config(),
            wake,
            launch.log,
        ) {
            Ok(pipeline) => {
                app.sent_config = Some(app.state.worker_config());
                app.pipeline = Some(pipeline);
            }
            Err(error) => app
                .state
                .notify_error(format!("cannot start the capture threads: {error}")),
        }
        app
    }

    /// The app without threads: tests feed [`AppState`] directly.
    pub fn headless(state: AppState) -> App {
        App {
            state,
            pipeline: None,
            control: None,
            inference_threads: 1,
            precision: PrecisionChoice::Fp32,
            video: VideoTexture::default(),
            sent_config: None,
            fps: None,
            last_stats_log: Instant::now(),
            quit_requested: false,
            quit_signal: None,
            picker: Box::new(NativeDialog::new()),
            remembers: false,
        }
    }

    /// The Open buttons ask `picker` instead of the system's dialog (tests answer as it
    /// would).
    pub fn with_picker(mut self, picker: Box<dyn FilePicker>) -> App {
        self.picker = picker;
        self
    }

    /// The app quits, as with Quit, once `signal` is set.
    pub fn quit_on(mut self, signal: Option<Arc<AtomicBool>>) -> App {
        self.quit_signal = signal;
        self
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// Whether Quit (Q, Esc, the button, a quit signal) was asked for; the window then closes.
    pub fn quit_requested(&self) -> bool {
        self.quit_requested
    }

    /// Whether the texture shows the current frame.
    pub fn texture_seq(&self) -> Option<u64> {
        self.video.handle.as_ref().map(|_| self.video.seq)
    }

    /// One UI pass: take what the threads sent, draw, apply the commands.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        let mut commands = panels::shortcuts(ui, &self.state, self.image_cursor().is_some());
        commands.extend(panels::dropped_files(ui));
        let signalled = self
            .quit_signal
            .as_ref()
            .is_some_and(|signal| signal.load(Ordering::Relaxed));
        if signalled && !self.quit_requested {
            commands.push(Command::Quit);
        }
        self.poll(now);
        self.video.show(ui.ctx(), &self.state);
        self.state
            .stats
            .on_ui_frame(now, self.pipeline.as_ref().map(Pipeline::stats));

        if !self.state.presenting {
            panels::top_bar(ui, &mut self.state, self.control.as_ref(), &mut commands);
            panels::status_bar(ui, &self.state, self.image_cursor().is_some());
            panels::side_panel(ui, &mut self.state, &mut commands);
        }
        panels::video(ui, &mut self.state, self.video.handle.as_ref());
        panels::drop_hint(ui.ctx());

        for command in commands {
            self.run(command, ui.ctx());
        }
        self.sync_config();
        if self.state.suggestions_stale() {
            self.state.refresh_suggestions();
        }
        if self.state.apply_thresholds_to_tracks() {
            ui.ctx().request_repaint();
        }
        if now.duration_since(self.last_stats_log) >= LOG_STATS_EVERY {
            self.last_stats_log = now;
            log::info!("{}", self.state.stats.summary());
        }
        // Keep the numbers and notices fresh while no frames arrive (paused, failing).
        ui.ctx().request_repaint_after(Duration::from_millis(250));
    }

    /// Takes events and the newest result; never blocks.
    fn poll(&mut self, now: Instant) {
        let Some(pipeline) = &self.pipeline else {
            return;
        };
        for event in pipeline.events() {
            self.state.on_event(event);
        }
        if let Some(result) = pipeline.try_recv() {
            // A frame means the source works, whatever the last event said.
            self.state.source.error = None;
            if let Some(shown) = self.state.on_result(result, now) {
                pipeline.recycle(shown);
            }
        }
    }

    fn sync_config(&mut self) {
        let config = self.state.worker_config();
        if self.sent_config.as_ref() != Some(&config) {
            if let Some(pipeline) = &self.pipeline {
                pipeline.set_config(config.clone());
            }
            self.sent_config = Some(config);
        }
    }

    /// Applies one app-wide action.
    pub fn run(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::TogglePause => {
                self.state.set_paused(!self.state.paused, Instant::now());
                if let Some(pipeline) = &self.pipeline {
                    pipeline.set_paused(self.state.paused);
                }
            }
            Command::TogglePresenting => self.state.presenting = !self.state.presenting,
            Command::ToggleNearMisses => {
                self.state.show_near_misses = !self.state.show_near_misses;
            }
            Command::ToggleTracks => self.state.show_tracks = !self.state.show_tracks,
            Command::NudgeThreshold(steps) => self.state.nudge_selected(steps),
            Command::Judge(right) => self.state.judge(right),
            Command::UndoMark => self.state.undo_mark(),
            Command::ToggleFullscreen => {
                let fullscreen = ctx.input(|input| input.viewport().fullscreen);
                ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(
                    !fullscreen.unwrap_or(false),
                ));
            }
            Command::Snapshot => match self.state.save_snapshot() {
                Ok(path) => self.state.notify(format!("saved {}", path.display())),
                Err(error) => self.state.notify_error(format!("snapshot: {error}")),
            },
            Command::Quit => {
                self.quit_requested = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            Command::SaveProfile => match self.state.save_profile() {
                Ok(ProfileSaved::Saved(path)) => {
                    self.state.notify(format!("saved {}", path.display()));
                }
                Ok(ProfileSaved::AskToReplace(path)) => self.state.notify_error(format!(
                    "{} exists already: press Save again to replace it, or type another file name",
                    path.display()
                )),
                Err(error) => self.state.notify_error(error.to_string()),
            },
            Command::LoadProfile => self.state.load_profile(),
            Command::ResetDefaults => {
                self.state.reset_to_defaults();
                self.state.notify("the model's default thresholds");
            }
            Command::UseCamera(index) => self.switch_source(SourceSpec::Camera(
                crate::pipeline::CameraSelector::Index(index),
            )),
            Command::UseDemo => self.switch_source(SourceSpec::Demo),
            Command::StepImage(steps) => {
                if let Some(cursor) = self.image_cursor() {
                    // Another photo: its objects are not the last one's (told before
                    // the step, so that its first frame starts the new scene).
                    if let Some(pipeline) = &self.pipeline {
                        pipeline.new_scene();
                    }
                    cursor.step(steps);
                    self.state.forget_tracks();
                }
            }
            Command::Open(paths) => self.open(&paths),
            Command::Browse(kind) => match self.picker.pick(kind) {
                Ok(Some(path)) => self.open(&[path]),
                Ok(None) => self.state.notify(NOTHING_CHOSEN),
                Err(error) => self.state.notify_error(error.to_string()),
            },
            Command::RefreshCameras => {
                self.state.source.refresh_cameras();
                let found = self.state.source.cameras.len();
                self.state.notify(format!(
                    "{found} camera{} found",
                    if found == 1 { "" } else { "s" }
                ));
            }
        }
    }

    /// The image list's steps, when the source is several images.
    fn image_cursor(&self) -> Option<&crate::pipeline::ImageCursor> {
        match &self.control {
            Some(SourceControl::Images(cursor)) if cursor.can_step() => Some(cursor),
            _ => None,
        }
    }

    /// Plays files by what they are, or uses a model file, once they are known to be
    /// readable; otherwise says why and keeps the source (or model) there was.
    fn open(&mut self, paths: &[PathBuf]) {
        if let Some(model) = paths
            .first()
            .filter(|path| crate::model::is_model_file(path))
        {
            return self.load_model(model);
        }
        let named = paths
            .first()
            .map_or_else(String::new, |path| path.display().to_string());
        let Some(source) = SourceSpec::from_paths(paths) else {
            return self.state.notify_error(format!(
                "cannot open {named}: there is no such file or folder"
            ));
        };
        if let Err(error) = source.check() {
            return self
                .state
                .notify_error(format!("cannot play {named}: {error}"));
        }
        self.state.inputs.add(source.files());
        self.switch_source(source);
    }

    fn switch_source(&mut self, source: SourceSpec) {
        let Some(pipeline) = &mut self.pipeline else {
            return;
        };
        self.state.source.error = None;
        self.state.source.note = None;
        let (opener, control) = source.opener_with_control(self.fps);
        self.control = control;
        if let Err(error) = pipeline.switch_source(opener) {
            self.state
                .notify_error(format!("cannot start reading {source}: {error}"));
        }
        self.state.source.name = source.to_string();
        self.state.source.camera = source.camera_index();
    }

    /// Replaces the model with the one in `path`, or says why it cannot and keeps the one
    /// there is. The panel takes the new model's classes and suggested thresholds, the
    /// marks folder (made with the old one) is closed and the frame on screen is detected
    /// again (paused, no other would come).
    fn load_model(&mut self, path: &Path) {
        let precision = self.precision;
        let loaded = Model::load(path)
            .map_err(DetectorError::from)
            .and_then(|model| {
                let precision = precision.resolve(&model);
                Detector::with_precision(model, self.inference_threads, precision)
            })
            .and_then(|detector| Ok((marking_detector(&detector)?, detector)));
        let (marker, detector) = match loaded {
            Ok(detectors) => detectors,
            Err(error) => {
                return self.state.notify_error(format!(
                    "cannot use the model {}: {error}; the current one goes on",
                    path.display()
                ));
            }
        };
        let classes = detector.class_names().len().saturating_sub(1);
        self.state.precision = detector.engine().packed().precision();
        self.state
            .use_model(detector.class_names().to_vec(), detector.default_config());
        self.state.set_marking_detector(marker);
        self.state.inputs.add(&[path.to_path_buf()]);
        if let Some(pipeline) = &mut self.pipeline {
            let config = self.state.worker_config();
            pipeline.set_processor(Box::new(detector), config.clone());
            self.sent_config = Some(config);
            if let Some(frame) = &self.state.current {
                pipeline.detect_again(frame.image.clone(), &self.state.source.name);
            }
        }
        self.state.notify(format!(
            "model {}: {classes} classes, at its suggested thresholds",
            path.display()
        ));
    }

    /// Stops the threads (also done on drop); saves the settings.
    pub fn shutdown(&mut self) -> Option<ShutdownReport> {
        if let Err(error) = self.state.save_settings() {
            log::warn!("cannot save the settings: {error}");
        }
        let report = self.pipeline.as_mut()?.shutdown(SHUTDOWN_DEADLINE);
        log::info!("{}", self.state.stats.summary());
        log::info!(
            "threads stopped in {:.0} ms{}",
            report.elapsed.as_secs_f32() * 1000.0,
            if report.joined {
                ""
            } else {
                " (some left running)"
            }
        );
        Some(report)
    }
}

/// The detector marked frames run on: the app's model on one thread of its own, sharing
/// the packed weights.
fn marking_detector(detector: &Detector) -> Result<Detector, DetectorError> {
    Detector::from_packed(detector.engine().packed().clone(), 1)
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if let Some(seconds) = frame
            .info()
            .cpu_usage
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            self.state
                .stats
                .ui_frame
                .push(Duration::from_secs_f32(seconds));
        }
        self.show(ui);
    }

    fn persist_egui_memory(&self) -> bool {
        self.remembers
    }

    fn save(&mut self, _storage: &mut dyn eframe::Storage) {
        if let Err(error) = self.state.save_settings() {
            log::warn!("cannot save the settings: {error}");
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}
