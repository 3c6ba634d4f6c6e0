"""The pam_google_authenticator secret file: replay and guessing limits, and the role rewrites it
only when the seed or the options change (never PAM's own state)."""

from __future__ import annotations

from bangka_ops.access import totp

SECRET = totp.new_secret()


def test_the_file_refuses_a_code_twice_and_more_than_3_tries_per_30_seconds() -> None:
    lines = totp.pam_file(SECRET).splitlines()
    assert lines[0] == SECRET
    assert set(lines[1:]) == {
        '" TOTP_AUTH',
        '" WINDOW_SIZE 3',
        '" RATE_LIMIT 3 30',
        '" DISALLOW_REUSE',
    }


def test_the_installed_file_is_current_whatever_state_pam_wrote_into_it() -> None:
    assert totp.pam_file_is_current(totp.pam_file(SECRET), SECRET)
    # As pam_google_authenticator leaves it after a few logins: tries, used steps, clock skew.
    after_logins = (
        f"{SECRET}\n"
        '" TOTP_AUTH\n'
        '" WINDOW_SIZE 3\n'
        '" RATE_LIMIT 3 30 1764650000 1764650011 1764650015\n'
        '" DISALLOW_REUSE 58821666 58821667\n'
        '" RESETTING_TIME_SKEW 58821670+1 58821671+1\n'
        '" TIME_SKEW 1\n'
    )
    assert totp.pam_file_is_current(after_logins, SECRET)
    assert totp.pam_file_is_current(after_logins, SECRET + "\n")  # as a vault file reads


def test_a_new_seed_or_other_options_make_the_file_stale() -> None:
    assert not totp.pam_file_is_current(totp.pam_file(SECRET), totp.new_secret())
    assert not totp.pam_file_is_current("", SECRET)
    assert not totp.pam_file_is_current(f'{SECRET}\n" TOTP_AUTH\n" WINDOW_SIZE 3\n', SECRET)
    weaker = totp.pam_file(SECRET).replace("RATE_LIMIT 3 30", "RATE_LIMIT 10 30")
    assert not totp.pam_file_is_current(weaker, SECRET)
    assert not totp.pam_file_is_current(totp.pam_file(SECRET) + "12345678\n", SECRET)
    assert not totp.pam_file_is_current(totp.pam_file(SECRET) + '" STEP_SIZE 60\n', SECRET)
