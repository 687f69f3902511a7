//! Plain data the pipeline's stages hand to each other, at the bottom so every stage can
//! name them without depending on the stage that makes or uses them: where on the packet path
//! a problem bites ([`PathStage`]) and a change to the system as data ([`Action`], [`Fix`]):
//! rules propose actions, `fix` performs them, reports print them. Nothing here touches the
//! kernel. (Namespaces are named by `netns::NsRef`, the one namespace identity.)

pub mod action;
pub mod stage;

pub use action::{Action, Fix, PeerFix};
pub use stage::PathStage;
