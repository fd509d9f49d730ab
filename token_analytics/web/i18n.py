"""The language a page is drawn in: the session's (Streamlit), its first value and the sidebar's switch.

The catalogue and `t()` are in token_analytics/strings.py (below every concern, no Streamlit); this module
tells it where a session keeps its language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from token_analytics.strings import (
    LANGUAGES,
    LOCALES,
    STRINGS,
    current_language,
    language,
    language_of_locale,
    t,
    use_session_language,
)

__all__ = ["LANGUAGES", "LOCALES", "STRINGS", "current_language", "language", "language_of_locale", "t"]

# The session's language; set by the sidebar switch, the user's stored choice or the browser.
SESSION_KEY = "ui_language"
# Whose stored choice was last applied to this session (read once per sign-in, not per page run).
APPLIED_KEY = "ui_language_user"
SWITCH_KEY = "nav_language"

log = logging.getLogger("token_analytics.i18n")


def _session_language() -> str | None:
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    return st.session_state.get(SESSION_KEY)


use_session_language(_session_language)


# --- the session's language (Streamlit) -------------------------------------------------------


def start_session_language(browser_locale: str | None) -> str:
    """The session's language; on its first run, the browser's (`st.context.locale`)."""
    if st.session_state.get(SESSION_KEY) not in LANGUAGES:
        st.session_state[SESSION_KEY] = language_of_locale(browser_locale)
    return st.session_state[SESSION_KEY]


def apply_stored_language(username: str, load: Callable[[str], str | None]) -> None:
    """Once per sign-in: the language `username` chose before (`load` reads it), if any, wins over the browser's."""
    if st.session_state.get(APPLIED_KEY) == username:
        return
    st.session_state[APPLIED_KEY] = username
    try:
        stored = load(username)
    except Exception:  # a preference is not worth a broken page: keep the browser's language
        log.exception("could not read the language of %s", username)
        return
    if stored in LANGUAGES:
        st.session_state[SESSION_KEY] = stored


def language_switch(username: str, save: Callable[[str, str], None]) -> None:
    """The sidebar's language picker; a change applies at once and is stored for `username` by `save`."""

    def chosen() -> None:
        lang = st.session_state[SWITCH_KEY]
        st.session_state[SESSION_KEY] = lang
        try:
            save(username, lang)
        except Exception:
            log.exception("could not store the language of %s", username)
            st.session_state["ui_language_not_saved"] = True

    if st.session_state.get(SWITCH_KEY) != current_language():
        st.session_state[SWITCH_KEY] = current_language()  # before the widget exists, so no value clash
    st.sidebar.selectbox(
        t("sidebar.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, key=SWITCH_KEY, on_change=chosen
    )
    if st.session_state.pop("ui_language_not_saved", False):
        st.sidebar.warning(t("sidebar.language_not_saved"))
