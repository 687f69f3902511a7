//! The files a user names on the command line: what xdpdoctor writes there and how it reads
//! them. xdpdoctor runs as root, often into directories others can write (`/tmp`,
//! node_exporter's textfile directory), so every output goes through one writer
//! ([`write`], [`Output`]) and every input through one reader ([`read`]):
//!
//! - **Writes never go through a link or into someone else's file.** The final component is
//!   looked at without following it: a symbolic link, a device, a FIFO, a socket or a
//!   directory there is refused, and so is a regular file owned by another user. The content
//!   goes into a new file in the same directory, created with `O_EXCL | O_NOFOLLOW` under a
//!   random name (`.NAME.<16 hex digits>.tmp`, hidden from collectors that glob `*.prom`),
//!   synced, then renamed over the target. A reader sees the old file or the new one, never
//!   half of one, and a failed write leaves the old file as it was.
//! - **Replacing is a policy of each output** ([`Replace`]): reports that are regenerated
//!   (`--prometheus`, `--junit`, `snapshot --output`, `object --output`, `bench --json FILE`,
//!   manual pages) replace the caller's own regular file; evidence (`--pcap`) refuses an
//!   existing file unless the user says `--force`.
//! - **A stream cut short stays valid** ([`Output`]): a record-oriented file (pcapng) is
//!   written through a buffer that knows where records end; when the disk fills, the file is
//!   cut back to its last complete record and kept, and the caller is told why.
//! - **Reads are bounded and interruptible** ([`read`]): at most [`READ_LIMIT`] bytes, opened
//!   with `O_NONBLOCK` so a FIFO without a writer does not block the open, and waiting for
//!   data polls the stop flag (SIGINT, SIGTERM, SIGHUP, SIGQUIT, ...: `cancel::SIGNALS`).

mod read;
mod write;

pub use read::{read, read_to_string, READ_LIMIT};
pub use write::{check_dir, check_target, write, Output, Replace};
