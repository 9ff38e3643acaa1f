//! What a console request that cannot be served answers: a redirect to sign-in, or an
//! HTML page with the status and a message for people (the API's messages, which
//! never carry internals, a token or a key).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::layout;
use crate::error::ApiError;

/// A console request's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiError {
    /// No live session, on a page load: 303 to the sign-in page.
    SignIn,
    /// A page saying what went wrong, with this status.
    Page {
        /// The status.
        status: StatusCode,
        /// For people.
        message: String,
    },
}

impl UiError {
    /// A page with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError::Page {
            status,
            message: message.into(),
        }
    }

    /// 403: the session's principal lacks a permission, or the form is not genuine.
    pub fn forbidden(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 422: a form that cannot be acted on.
    pub fn invalid(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::SignIn => StatusCode::SEE_OTHER,
            UiError::Page { status, .. } => *status,
        }
    }

    /// The message, if it is a page.
    pub fn message(&self) -> &str {
        match self {
            UiError::SignIn => "sign in first",
            UiError::Page { message, .. } => message,
        }
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> UiError {
        UiError::new(error.status(), error.message())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn => Redirect::to(super::paths::SIGN_IN).into_response(),
            UiError::Page { status, message } => {
                (status, Html(layout::error_page(status, &message).into_string())).into_response()
            }
        }
    }
}
