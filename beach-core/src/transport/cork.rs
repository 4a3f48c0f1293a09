//! Corking: while a thread runs a corked scope, the envelopes it sends all queue for their
//! connections' writers instead of being written directly (see `link::Outbox`), so that many
//! sent at once, as the requests of a fan-out, leave in one write per connection rather than
//! the first alone and the rest in a second.

use std::cell::Cell;

thread_local! {
    static CORKED: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` corked.
pub(crate) fn corked<R>(f: impl FnOnce() -> R) -> R {
    struct Uncork;
    impl Drop for Uncork {
        fn drop(&mut self) {
            CORKED.with(|c| c.set(c.get() - 1));
        }
    }
    CORKED.with(|c| c.set(c.get() + 1));
    let _uncork = Uncork;
    f()
}

/// Whether this thread runs a corked scope.
pub(crate) fn is_corked() -> bool {
    CORKED.with(|c| c.get() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cork_holds_for_its_scope_and_nests() {
        assert!(!is_corked());
        corked(|| {
            assert!(is_corked());
            corked(|| assert!(is_corked()));
            assert!(is_corked(), "the inner scope's end leaves the outer one corked");
        });
        assert!(!is_corked());
        let _ = std::panic::catch_unwind(|| corked(|| panic!("unwinds")));
        assert!(!is_corked(), "a panic uncorks too");
    }
}
