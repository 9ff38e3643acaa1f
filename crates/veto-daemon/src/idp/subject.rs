//! Subject identifiers for security event tokens (RFC 9493), and the `complex` subject
//! of the Shared Signals Framework (SSF 1.0 §3.2), as far as veto can act on them.
//!
//! A rule matches a claim of the services' tokens, so a subject is useful only when it
//! names a `sub` or a `sid` of some issuer's tokens:
//!
//! - `iss_sub`: the `sub` of tokens issued by its `iss`: exactly a scoped `sub` rule.
//! - `opaque`: an identifier the transmitter and veto agree on, in tokens of the
//!   transmitter's configured `subject_issuer`: a session's `sid` when it is a complex
//!   subject's `session`, or the whole subject of a session event (as in CAEP's own
//!   `session-revoked` example); otherwise the user's `sub`.
//! - `email`: only when the transmitter's `email_claim = "sub"` says that issuer's
//!   `sub` is the e-mail address (compared exactly as sent).
//! - `complex`: its `user` and `session` members, each one of the above.
//!
//! Anything else (`phone_number`, `account`, `did`, `uri`, `aliases`, …) is valid and
//! acknowledged, but names nothing veto can match: it is counted, not acted on.
//!
//! Google's RISC transmitter names the format `subject_type` (and spells `iss-sub`);
//! the RISC profile asks receivers to cope, so both are read.

use serde_json::{Map, Value};

/// One simple subject identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectId {
    /// `iss_sub`: the `sub` of tokens issued by `iss`.
    IssSub {
        /// The issuer.
        iss: String,
        /// The subject at that issuer.
        sub: String,
    },
    /// `opaque`: an identifier agreed between transmitter and receiver.
    Opaque {
        /// The identifier.
        id: String,
    },
    /// `email`: an e-mail address.
    Email {
        /// The address.
        email: String,
    },
    /// A format veto does not act on.
    Other {
        /// Its `format`.
        format: String,
    },
}

/// A subject: simple, or SSF's `complex` with the members veto uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One identifier (taken to be the user).
    Simple(SubjectId),
    /// `complex`: a user and/or a session (other members, such as `tenant`, are ignored).
    Complex {
        /// The `user` member.
        user: Option<SubjectId>,
        /// The `session` member.
        session: Option<SubjectId>,
    },
}

/// How a transmitter's subjects map to the services' tokens.
#[derive(Clone, Debug)]
pub struct SubjectMapping {
    /// The issuer of the tokens that `opaque` and `email` subjects are matched in.
    pub subject_issuer: String,
    /// Whether an `email` subject is that issuer's `sub`.
    pub email_is_sub: bool,
}

/// A claim value of some issuer's tokens that a rule can match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The claim's value.
    pub value: String,
    /// The issuer of the tokens (the rule's scope).
    pub iss: String,
}

fn text<'a>(object: &'a Map<String, Value>, member: &str, format: &str) -> Result<&'a str, String> {
    object
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("a subject of format {format} needs the string member {member}"))
}

fn simple(object: &Map<String, Value>, format: &str) -> Result<SubjectId, String> {
    Ok(match format {
        "iss_sub" => SubjectId::IssSub {
            iss: text(object, "iss", format)?.to_owned(),
            sub: text(object, "sub", format)?.to_owned(),
        },
        "opaque" => SubjectId::Opaque {
            id: text(object, "id", format)?.to_owned(),
        },
        "email" => SubjectId::Email {
            email: text(object, "email", format)?.to_owned(),
        },
        other => SubjectId::Other {
            format: other.to_owned(),
        },
    })
}

fn format_of(value: &Value) -> Result<(&Map<String, Value>, &str), String> {
    let object = value
        .as_object()
        .ok_or_else(|| "a subject identifier is a JSON object".to_owned())?;
    let format = object
        .get("format")
        .or_else(|| object.get("subject_type"))
        .and_then(Value::as_str)
        .ok_or_else(|| "a subject identifier needs a string member format".to_owned())?;
    Ok((object, if format == "iss-sub" { "iss_sub" } else { format }))
}

impl Subject {
    /// Reads a subject identifier; the error says what is malformed.
    pub fn parse(value: &Value) -> Result<Subject, String> {
        let (object, format) = format_of(value)?;
        if format != "complex" {
            return simple(object, format).map(Subject::Simple);
        }
        let member = |name: &str| -> Result<Option<SubjectId>, String> {
            let Some(value) = object.get(name) else {
                return Ok(None);
            };
            let (inner, format) = format_of(value)?;
            if format == "complex" {
                return Err("a complex subject's members are simple identifiers".to_owned());
            }
            simple(inner, format).map(Some)
        };
        Ok(Subject::Complex {
            user: member("user")?,
            session: member("session")?,
        })
    }

    /// The user it names, as the `sub` of some issuer's tokens.
    pub fn user(&self, mapping: &SubjectMapping) -> Option<Target> {
        let user = match self {
            Subject::Simple(id) => id,
            Subject::Complex { user, .. } => user.as_ref()?,
        };
        match user {
            SubjectId::IssSub { iss, sub } => Some(Target {
                value: sub.clone(),
                iss: iss.clone(),
            }),
            SubjectId::Opaque { id } => Some(Target {
                value: id.clone(),
                iss: mapping.subject_issuer.clone(),
            }),
            SubjectId::Email { email } if mapping.email_is_sub => Some(Target {
                value: email.clone(),
                iss: mapping.subject_issuer.clone(),
            }),
            SubjectId::Email { .. } | SubjectId::Other { .. } => None,
        }
    }

    /// The session it names when it is the subject of a session event, as the `sid` of
    /// the subject issuer's tokens: a complex subject's `opaque` session, or a simple
    /// `opaque` subject.
    pub fn session(&self, mapping: &SubjectMapping) -> Option<Target> {
        match self {
            Subject::Complex {
                session: Some(SubjectId::Opaque { id }),
                ..
            }
            | Subject::Simple(SubjectId::Opaque { id }) => Some(Target {
                value: id.clone(),
                iss: mapping.subject_issuer.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping(email_is_sub: bool) -> SubjectMapping {
        SubjectMapping {
            subject_issuer: "https://idp.example.com/123456789/".into(),
            email_is_sub,
        }
    }

    #[test]
    fn the_rfc_9493_examples_name_users() {
        let iss_sub = Subject::parse(&json!({
            "format": "iss_sub", "iss": "https://issuer.example.com/", "sub": "145234573"
        }))
        .unwrap();
        assert_eq!(
            iss_sub.user(&mapping(false)),
            Some(Target {
                value: "145234573".into(),
                iss: "https://issuer.example.com/".into()
            })
        );
        let opaque = Subject::parse(&json!({"format": "opaque", "id": "11112222333344445555"})).unwrap();
        assert_eq!(
            opaque.user(&mapping(false)).unwrap().iss,
            "https://idp.example.com/123456789/"
        );
        assert_eq!(
            opaque.session(&mapping(false)).unwrap().value,
            "11112222333344445555",
            "in a session event, an opaque subject is the session"
        );
        let email = Subject::parse(&json!({"format": "email", "email": "user@example.com"})).unwrap();
        assert_eq!(email.user(&mapping(false)), None, "without a mapping");
        assert_eq!(email.user(&mapping(true)).unwrap().value, "user@example.com");
        let phone =
            Subject::parse(&json!({"format": "phone_number", "phone_number": "+12065550100"})).unwrap();
        assert_eq!(phone.user(&mapping(true)), None);
    }

    #[test]
    fn the_ssf_complex_example_names_a_session_and_a_user() {
        let subject = Subject::parse(&json!({
            "format": "complex",
            "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "jane.smith@example.com"},
            "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
            "tenant": {"format": "opaque", "id": "123456789"},
        }))
        .unwrap();
        assert_eq!(
            subject.session(&mapping(false)).unwrap().value,
            "dMTlD|1600802906337.16|16008.16"
        );
        assert_eq!(
            subject.user(&mapping(false)).unwrap().value,
            "jane.smith@example.com"
        );
    }

    #[test]
    fn googles_risc_subject_type_is_read_as_the_format() {
        let subject = Subject::parse(&json!({
            "subject_type": "iss-sub", "iss": "https://accounts.google.com/", "sub": "7375626A656374"
        }))
        .unwrap();
        assert_eq!(subject.user(&mapping(false)).unwrap().value, "7375626A656374");
    }

    #[test]
    fn malformed_subjects_say_what_is_wrong() {
        for (value, says) in [
            (json!("alice"), "JSON object"),
            (json!({"id": "x"}), "format"),
            (json!({"format": "iss_sub", "sub": "x"}), "iss"),
            (json!({"format": "opaque", "id": 7}), "id"),
            (
                json!({"format": "complex", "user": {"format": "complex"}}),
                "simple",
            ),
        ] {
            let error = Subject::parse(&value).unwrap_err();
            assert!(error.contains(says), "{value}: {error}");
        }
    }
}
