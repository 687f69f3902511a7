//! Every fix, by its action: the one place an [`Action`] is matched to the file that performs
//! it (`impl Step for` its struct in that file). A new fix is its file, its struct in
//! `model/action.rs` and its line here; the compiler refuses an action without one.

use super::step::Journaled;
use crate::model::Action;

/// The fix that performs `a`.
pub(super) fn step(a: &Action) -> &dyn Journaled {
    match a {
        Action::AttachXdpPass(s) => s,
        Action::SetGro(s) => s,
        Action::SetTxCsum(s) => s,
        Action::SetForwarding(s) => s,
        Action::AddAddress(s) => s,
        Action::DevmapAdd(s) => s,
        Action::SnatAdd(s) => s,
        Action::RetargetEntry(s) => s,
        Action::SetForwarderFullCsum(s) => s,
    }
}
