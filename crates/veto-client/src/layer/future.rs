//! The response future: authorize, then call the inner service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use pin_project_lite::pin_project;
use tower::Service;
use tracing::debug;

use super::AuthRejection;
use crate::jwt::Claims;

pin_project! {
    /// Resolves to the inner service's response, or to the rejection's.
    pub struct ResponseFuture<S, B, C>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B, C>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, B, C>
    where
        S: Service<Request<B>>,
    {
        Authorizing {
            check: BoxFuture<'static, Result<Claims<C>, AuthRejection>>,
            inner: Option<(S, Request<B>)>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S, B, C> ResponseFuture<S, B, C>
where
    S: Service<Request<B>>,
{
    pub(crate) fn new(
        check: BoxFuture<'static, Result<Claims<C>, AuthRejection>>,
        inner: S,
        request: Request<B>,
    ) -> Self {
        ResponseFuture {
            state: State::Authorizing {
                check,
                inner: Some((inner, request)),
            },
        }
    }
}

impl<S, B, C> Future for ResponseFuture<S, B, C>
where
    S: Service<Request<B>, Response = Response>,
    C: Clone + Send + Sync + 'static,
{
    type Output = Result<Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProjection::Authorizing { check, inner } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let Some((mut service, mut request)) = inner.take() else {
                        // Polled again after completing: nothing sensible left to do.
                        return Poll::Ready(Ok(AuthRejection::NotReady.into_response()));
                    };
                    match outcome {
                        Ok(claims) => {
                            request.extensions_mut().insert(claims);
                            let future = service.call(request);
                            this.state.set(State::Calling { future });
                        }
                        Err(rejection) => {
                            debug!(reason = rejection.reason(), "request refused");
                            return Poll::Ready(Ok(rejection.into_response()));
                        }
                    }
                }
                StateProjection::Calling { future } => return future.poll(cx),
            }
        }
    }
}
