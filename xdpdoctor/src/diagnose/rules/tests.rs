//! Offline tests of every rule (filled below).
