//! What the pre-flight check at `/check` shows: each step's state and its plain-language
//! reason, the microphone's level, the devices, and the connection's details to read.

use leptos::prelude::*;

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Camera,
    Microphone,
    Devices,
    Signaling,
    Ice,
    Media,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Camera,
        Step::Microphone,
        Step::Devices,
        Step::Signaling,
        Step::Ice,
        Step::Media,
    ];

    /// Its `data-step`.
    pub fn id(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Microphone => "microphone",
            Self::Devices => "devices",
            Self::Signaling => "signaling",
            Self::Ice => "ice",
            Self::Media => "media",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Camera => "Camera",
            Self::Microphone => "Microphone",
            Self::Devices => "Devices",
            Self::Signaling => "Connection to the server",
            Self::Ice => "Network paths (ICE candidates)",
            Self::Media => "Media to the server and back",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A step's outcome, as `data-state` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Ok,
    /// Works, with something to know.
    Warn,
    Fail,
    /// Not needed here (said why).
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skipped => "skipped",
        }
    }

    pub fn mark(self) -> &'static str {
        match self {
            Self::Pending => "·",
            Self::Running => "…",
            Self::Ok => "✓",
            Self::Warn => "!",
            Self::Fail => "✗",
            Self::Skipped => "–",
        }
    }
}

#[derive(Clone, Copy)]
pub struct CheckUi {
    steps: [RwSignal<(StepState, String)>; 6],
    /// The microphone's level now, 0-100.
    pub level: RwSignal<u32>,
    /// "camera: Integrated Webcam", one line per device.
    pub devices: RwSignal<Vec<String>>,
    /// The ICE candidates gathered, as the SDP has them.
    pub candidates: RwSignal<Vec<String>>,
    /// The test connection's offer, for whoever diagnoses.
    pub sdp: RwSignal<String>,
    /// All steps have run.
    pub done: RwSignal<bool>,
}

impl Default for CheckUi {
    /// As the server renders the page: nothing run yet.
    fn default() -> Self {
        Self {
            steps: std::array::from_fn(|_| RwSignal::new((StepState::Pending, String::new()))),
            level: RwSignal::new(0),
            devices: RwSignal::new(Vec::new()),
            candidates: RwSignal::new(Vec::new()),
            sdp: RwSignal::new(String::new()),
            done: RwSignal::new(false),
        }
    }
}

impl CheckUi {
    pub fn step(&self, step: Step) -> RwSignal<(StepState, String)> {
        self.steps[step.index()]
    }

    pub fn set(&self, step: Step, state: StepState, detail: impl Into<String>) {
        self.step(step).set((state, detail.into()));
    }

    pub fn state(&self, step: Step) -> StepState {
        self.step(step).get_untracked().0
    }

    /// The whole check: failed if a step failed, else ok once all ran.
    pub fn verdict(&self) -> &'static str {
        let states: Vec<StepState> = self.steps.iter().map(|s| s.get().0).collect();
        if states.contains(&StepState::Fail) {
            "fail"
        } else if self.done.get() {
            "ok"
        } else {
            "running"
        }
    }
}
