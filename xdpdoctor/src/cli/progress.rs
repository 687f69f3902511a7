//! Progress on stderr for long work (the observe window, `lab up fleet`, `bench`): a spinner,
//! a countdown or a step counter redrawn in place on one line, only when stderr is a terminal
//! and the command is not asked for `--json`; silent otherwise. The library reports
//! [`Update`]s through a [`Progress`] callback; a drawing thread owned by [`Bar`] redraws
//! the latest state every 100 ms and clears the line when the bar is dropped.
#![allow(clippy::print_stderr)] // the CLI draws progress on stderr

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xdpdoctor::progress::{Progress, Update};

/// What is drawn now.
#[derive(Debug, Clone, Default)]
enum State {
    #[default]
    Idle,
    Busy(String, Instant),
    Countdown(String, Instant, Duration),
    Steps(String, u64, u64),
}

/// A progress line on stderr; dropping it stops the drawing thread and clears the line.
pub struct Bar {
    progress: Progress,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    /// A bar that draws only when stderr is a terminal and `json` is off.
    pub fn new(json: bool) -> Bar {
        if json || !std::io::stderr().is_terminal() {
            return Bar {
                progress: Progress::none(),
                stop: Arc::new(AtomicBool::new(true)),
                thread: None,
            };
        }
        let state = Arc::new(Mutex::new(State::Idle));
        let s = state.clone();
        let progress = Progress::new(move |u| {
            let next = match *u {
                Update::Busy { what } => State::Busy(what.to_string(), Instant::now()),
                Update::Countdown { what, total } => {
                    State::Countdown(what.to_string(), Instant::now(), total)
                }
                Update::Steps { what, done, total } => State::Steps(what.to_string(), done, total),
                Update::Done => State::Idle,
            };
            *s.lock().unwrap_or_else(|e| e.into_inner()) = next;
        });
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || draw_loop(&state, &st));
        Bar {
            progress,
            stop,
            thread: Some(thread),
        }
    }

    /// The callback to hand to the library.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const SPIN: [char; 4] = ['|', '/', '-', '\\'];

fn draw_loop(state: &Mutex<State>, stop: &AtomicBool) {
    let mut tick = 0usize;
    let mut drawn = false;
    let mut err = std::io::stderr();
    while !stop.load(Ordering::SeqCst) {
        let s = state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let line = render(&s, SPIN[tick % SPIN.len()]);
        tick += 1;
        match line {
            Some(l) => {
                let l = xdpdoctor::report::escape::text(&l);
                let _ = write!(err, "\r\x1b[2K{l}");
                drawn = true;
            }
            None if drawn => {
                let _ = write!(err, "\r\x1b[2K");
                drawn = false;
            }
            None => {}
        }
        let _ = err.flush();
        std::thread::sleep(Duration::from_millis(100));
    }
    if drawn {
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// The line for `s` (None: nothing to show).
fn render(s: &State, spin: char) -> Option<String> {
    match s {
        State::Idle => None,
        State::Busy(what, t0) => Some(format!(
            "{spin} {what} ({:.0} s)",
            t0.elapsed().as_secs_f64().floor()
        )),
        State::Countdown(what, t0, total) => {
            let left = total.saturating_sub(t0.elapsed());
            let frac = if total.is_zero() {
                1.0
            } else {
                1.0 - left.as_secs_f64() / total.as_secs_f64()
            };
            Some(format!(
                "{spin} {what} [{}] {:.1} s left",
                bar(frac, 20),
                left.as_secs_f64()
            ))
        }
        State::Steps(what, done, total) => {
            let frac = if *total == 0 {
                1.0
            } else {
                *done as f64 / *total as f64
            };
            Some(format!("{spin} {what} [{}] {done}/{total}", bar(frac, 20)))
        }
    }
}

fn bar(frac: f64, width: usize) -> String {
    let full = ((frac.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("{}{}", "#".repeat(full), ".".repeat(width - full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_and_how_far() {
        assert_eq!(render(&State::Idle, '|'), None);
        let s = render(&State::Steps("namespaces".into(), 5, 10), '|').unwrap();
        assert_eq!(s, "| namespaces [##########..........] 5/10");
        let c = render(
            &State::Countdown("observing".into(), Instant::now(), Duration::from_secs(3)),
            '/',
        )
        .unwrap();
        assert!(
            c.starts_with("/ observing [") && c.ends_with("s left"),
            "{c}"
        );
    }

    #[test]
    fn a_bar_off_a_terminal_draws_nothing() {
        // `cargo test` captures stderr: not a terminal, so no thread and a silent callback.
        let b = Bar::new(false);
        assert!(b.thread.is_none() || std::io::stderr().is_terminal());
        let b = Bar::new(true);
        assert!(b.thread.is_none());
        b.progress().report(Update::Done);
    }
}
