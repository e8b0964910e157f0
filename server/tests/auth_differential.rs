//! memcached's text-protocol authentication (`-Y FILE`), differentially:
//! the same bytes go to Debian's memcached 1.6.18 and to a ringcache node,
//! both started with the same auth file, and the replies must match byte
//! for byte (quirks included: of the replies to one batch of pipelined
//! input before success only the last is sent).
//!
//! No `mn` barrier here: before authentication it would itself be answered
//! (and overwrite the reply under test). Each case states how its reply
//! ends (`until`) or that the server closes.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod common;
mod ports;

use common::diff::{case, run_table, Case, Split};

/// An auth file for the whole test binary, in a temp dir, leaked as
/// `&'static str` for `server_args`.
fn auth_file() -> &'static str {
    static PATH: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ringcache-auth-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("auth");
        std::fs::write(&path, "alice:secret\nbob:pa:ss\r\n").unwrap();
        Box::leak(path.display().to_string().into_boxed_str())
    })
}

fn auth(name: &str, request: &str, last: &str) -> Case {
    let args: &'static [&'static str] = Box::leak(Box::new(["-Y", auth_file()]));
    case(name, request).until(last).server_args(args)
}

const UNAUTH: &str = "CLIENT_ERROR unauthenticated\r\n";
const FAILURE: &str = "CLIENT_ERROR authentication failure\r\n";
const FORMAT: &str = "CLIENT_ERROR bad authentication token format\r\n";
const TERMINATION: &str = "CLIENT_ERROR bad command line termination\r\n";

#[test]
fn text_authentication() {
    let cases = vec![
        auth("any_command_refused", "get a\r\n", UNAUTH),
        auth("version_refused", "version\r\n", UNAUTH),
        auth("quit_refused_not_closing", "quit\r\n", UNAUTH),
        auth("set_too_few_tokens", "set x 0 0\r\n", UNAUTH),
        auth("set_negative_length", "set x 0 0 -1\r\n", UNAUTH),
        auth("upper_case_set", "SET x 0 0 12\r\nalice secret\r\n", UNAUTH),
        auth("empty_line", "\r\n", UNAUTH),
        // One batch, two refusals: memcached sends only the last reply.
        auth(
            "pipelined_refusals_one_reply",
            "get a\r\nget b\r\nget c\r\n",
            UNAUTH,
        ),
        auth(
            "success",
            "set x 0 0 12\r\nalice secret\r\nget a\r\nversion\r\n",
            "VERSION 1.6.18\r\n",
        ),
        auth(
            "success_noreply_still_replies",
            "set k 1 2 12 noreply\r\nalice secret\r\nset a 0 0 1\r\nx\r\nget a\r\n",
            "END\r\n",
        ),
        auth(
            "password_with_colon",
            "set x 0 0 9\r\nbob pa:ss\r\nversion\r\n",
            "VERSION 1.6.18\r\n",
        ),
        auth(
            "extra_spaces_and_words",
            "set x 0 0 20\r\n  alice  secret more\r\nversion\r\n",
            "VERSION 1.6.18\r\n",
        ),
        auth(
            "plus_sign_length",
            "set x 0 0 +12\r\nalice secret\r\nversion\r\n",
            "VERSION 1.6.18\r\n",
        ),
        auth(
            "bare_newline",
            "set x 0 0 12\nalice secret\r\nversion\r\n",
            "VERSION 1.6.18\r\n",
        ),
        auth("wrong_password", "set x 0 0 11\r\nalice wrong\r\n", FAILURE),
        auth("wrong_user", "set x 0 0 12\r\nmallory secret\r\n", FAILURE),
        auth("password_prefix", "set x 0 0 10\r\nalice secr\r\n", FAILURE),
        auth("one_word", "set x 0 0 5\r\nalice\r\n", FORMAT),
        auth("colon_form", "set x 0 0 12\r\nalice:secret\r\n", FORMAT),
        auth("bad_termination", "set x 0 0 3\r\nabcd\r\n", TERMINATION),
        // The data block's missing \r\n, then the rest read as a line: the
        // later reply replaces the earlier one.
        auth(
            "bad_termination_then_line",
            "set x 0 0 3\r\nabcde\r\n",
            UNAUTH,
        ),
        auth(
            "failure_then_command",
            "set x 0 0 11\r\nalice wrong\r\nversion\r\n",
            UNAUTH,
        ),
        auth(
            "failure_then_success",
            "set x 0 0 11\r\nalice wrong\r\nset x 0 0 12\r\nalice secret\r\nversion\r\n",
            "VERSION 1.6.18\r\n",
        ),
        auth(
            "length_wraps_32_bits",
            "set x 0 0 4294967310\r\nalice secret\r\n",
            UNAUTH,
        ),
        // Split across writes: each completed step answers on its own.
        auth(
            "split_data_block",
            "set x 0 0 12\r\nalice secret\r\n",
            "STORED\r\n",
        )
        .split(Split::At(20)),
        auth(
            "bytewise_success",
            "set x 0 0 12\r\nalice secret\r\n",
            "STORED\r\n",
        )
        .split(Split::Bytewise),
        auth(
            "failure_then_retry",
            "set x 0 0 11\r\nalice wrong\r\n",
            FAILURE,
        )
        .then("set x 0 0 12\r\nalice secret\r\nversion\r\n"),
        // Over 2048 bytes without a newline: closed, no reply.
        auth("long_line_closes", &"a".repeat(2100), "").closes(),
        auth(
            "quit_after_success_closes",
            "set x 0 0 12\r\nalice secret\r\nquit\r\n",
            "",
        )
        .closes(),
    ];
    run_table("auth", cases);
}
