//! Progress of long work (the observe window, `lab up` of a large scenario, the bench) as a
//! callback the caller gives. The library never prints: it reports [`Update`]s to a
//! [`Progress`], and the CLI draws them on stderr when stderr is a terminal (a countdown, a
//! step counter, a spinner), or not at all. The default [`Progress`] ignores every update.

use std::sync::Arc;
use std::time::Duration;

/// One step of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update<'a> {
    /// Work of unknown length started (attaching probes, a measurement run).
    Busy {
        /// What is being done, in a few words.
        what: &'a str,
    },
    /// Work of a known duration started now (the observe window).
    Countdown {
        /// What is being done.
        what: &'a str,
        /// How long it takes.
        total: Duration,
    },
    /// `done` of `total` steps of `what` are finished.
    Steps {
        /// What is being counted.
        what: &'a str,
        /// Steps finished.
        done: u64,
        /// Steps in all.
        total: u64,
    },
    /// The work is over: whatever was drawn can go.
    Done,
}

type Callback = dyn Fn(&Update<'_>) + Send + Sync;

/// Where updates go; cheap to clone (shared callback).
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Callback>>);

impl Progress {
    /// Updates go to `f` (called on the thread doing the work: keep it quick).
    pub fn new(f: impl Fn(&Update<'_>) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(f)))
    }

    /// Updates go nowhere.
    pub fn none() -> Self {
        Progress(None)
    }

    /// Reports `u`.
    pub fn report(&self, u: Update<'_>) {
        if let Some(f) = &self.0 {
            f(&u);
        }
    }

    /// Reports [`Update::Steps`].
    pub fn steps(&self, what: &str, done: u64, total: u64) {
        self.report(Update::Steps { what, done, total });
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(callback)"
        } else {
            "Progress(none)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn updates_reach_the_callback_and_none_ignores_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let p = Progress::new(move |u| s.lock().unwrap().push(format!("{u:?}")));
        p.steps("namespaces", 1, 3);
        p.report(Update::Done);
        assert_eq!(seen.lock().unwrap().len(), 2);
        Progress::none().report(Update::Done);
        assert_eq!(format!("{:?}", Progress::default()), "Progress(none)");
    }
}
