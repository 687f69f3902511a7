//! Plain data the pipeline's stages hand to each other, at the bottom so every stage can
//! name them without depending on the stage that makes or uses them: where on the packet path
//! a problem bites ([`PathStage`]), a namespace as a finding or fix names it ([`NsRef`]), and
//! a change to the system as data ([`Action`], [`Fix`]): rules propose actions, `fix`
//! performs them, reports print them. Nothing here touches the kernel.

pub mod action;
pub mod netns_ref;
pub mod stage;

pub use action::{Action, Fix, PeerFix};
pub use netns_ref::NsRef;
pub use stage::PathStage;
