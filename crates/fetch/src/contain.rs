//! Containment of panics raised inside the `imap` crate.
//!
//! The crate's response parser asserts on some replies a conforming-enough server may send (an
//! untagged `NO` during `SELECT` reaches `unreachable!`). A reply from a server is input like
//! any other: it must end the account with a one-line error, never the process. Each command
//! runs under [`catch_panic`]; the standard report of a panic caught there ("thread 'main'
//! panicked at …", with a backtrace) is not printed, since the caller reports the error itself.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch_panic`]: its panics are reported by the caller.
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `call`; `None` if it panicked. The panic hook in place before the first call still
/// reports every other panic (other threads, or this one outside `call`).
pub(crate) fn catch_panic<R>(call: impl FnOnce() -> R) -> Option<R> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CONTAINED.with(|contained| contained.replace(true));
    // The session that panicked is only ever logged out after the error, so state it left
    // half-updated is never relied on.
    let result = panic::catch_unwind(AssertUnwindSafe(call));
    CONTAINED.with(|contained| contained.set(outer));
    result.ok()
}

#[cfg(test)]
mod tests {
    use super::catch_panic;

    #[test]
    fn a_panic_becomes_none_and_a_value_passes_through() {
        assert_eq!(catch_panic(|| 7), Some(7));
        let panicked: Option<()> = catch_panic(|| unreachable!("a parser assertion"));
        assert_eq!(panicked, None);
        // Nested use keeps the outer call contained.
        assert_eq!(
            catch_panic(|| catch_panic(|| 1).map(|one| one + 1)),
            Some(Some(2))
        );
    }
}
