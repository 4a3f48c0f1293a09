//! The fixed errors of beach, as one enum: what callers match on and what the retry policy
//! decides on, with their strings as the wire form (the strings py-beach used, so other
//! languages and the CLI read them unchanged).

use std::fmt;

/// A fixed error of beach. Its [`ErrorCode::as_str`] is how it travels and prints; an error
/// message that is a code, or starts with a code and a colon (`wrong dest: no actor 3 on node
/// ...`), carries that code ([`ErrorCode::of_message`]). Every other message is a handler's own.
///
/// ```
/// use beach_core::ErrorCode;
///
/// assert_eq!(ErrorCode::QueueFull.as_str(), "queue full");
/// assert_eq!(ErrorCode::of_message("wrong dest: no actor 7"), Some(ErrorCode::WrongDest));
/// assert_eq!(ErrorCode::of_message("the cache is cold"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No reply before the deadline. Retried only when the caller opts in (the attempt may
    /// have run).
    Timeout,
    /// The actor's queue is full: the request was not handled; retried on another actor.
    QueueFull,
    /// The actor is not (or no longer) on the node the request reached: not handled;
    /// retried elsewhere.
    WrongDest,
    /// The caller's ident is not among the actor's trusted idents.
    Unauthorized,
    /// An admin call without the right admin token.
    Unprivileged,
    /// The actor has no handler for the request type.
    Unsupported,
    /// The handler panicked or failed unexpectedly (its reply could not be encoded, ...).
    Exception,
    /// The actor's node could not be reached, or the connection failed before the reply.
    Unreachable,
    /// No actor matches the category.
    NoActors,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::Timeout,
        ErrorCode::QueueFull,
        ErrorCode::WrongDest,
        ErrorCode::Unauthorized,
        ErrorCode::Unprivileged,
        ErrorCode::Unsupported,
        ErrorCode::Exception,
        ErrorCode::Unreachable,
        ErrorCode::NoActors,
    ];

    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::QueueFull => "queue full",
            ErrorCode::WrongDest => "wrong dest",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Unprivileged => "unprivileged",
            ErrorCode::Unsupported => "request type not supported by actor",
            ErrorCode::Exception => "exception",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::NoActors => "no actors",
        }
    }

    /// The code an error message carries: the message is the code, or starts with the code
    /// and a colon.
    pub fn of_message(message: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|code| {
            let code = code.as_str();
            message.strip_prefix(code).is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
        })
    }

    /// Whether the request surely did not run, so another attempt is safe: `queue full`,
    /// `wrong dest`, an unreachable node.
    pub const fn surely_not_handled(self) -> bool {
        matches!(self, ErrorCode::QueueFull | ErrorCode::WrongDest | ErrorCode::Unreachable)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_wire_form_alone_or_with_detail() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::of_message(code.as_str()), Some(code));
            assert_eq!(ErrorCode::of_message(&format!("{code}: detail")), Some(code));
            assert_eq!(ErrorCode::of_message(&format!("{code}s")), None, "{code}");
            assert_eq!(ErrorCode::of_message(&format!("not {code}")), None);
        }
    }
}
