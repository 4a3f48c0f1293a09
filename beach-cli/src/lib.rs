//! The `beach` command-line client: one-shot commands with `--json` output for scripts, and an
//! interactive shell.
//!
//! This crate is filled in by the CLI issue; today it is an empty library.
