//! One HTTP/1 connection: the two side streams and the queue that pairs
//! responses with requests, first in, first out.

use std::collections::VecDeque;

use super::framing::RequestMethodKind;
use super::stream::{MessageSink, MessageStream};
use super::{Exchange, Http1Counters, Http1Limits, Request, Response, Side};

/// A request waiting for its response, or whose body is still arriving.
#[derive(Debug)]
struct PendingExchange {
    method: RequestMethodKind,
    /// `None` while the request body is still arriving.
    request: Option<Request>,
    /// A response can finish before its request does, when a server responds
    /// early (for example 413 to a large upload).
    response: Option<Response>,
}

/// The pending-request queue, and exchanges completed in request order.
#[derive(Debug)]
struct Pairing {
    pending: VecDeque<PendingExchange>,
    ready: Vec<Exchange>,
    max_pending_requests: usize,
    unanswered_requests: u64,
    orphan_responses: u64,
    protocol_switched: bool,
}

impl Pairing {
    /// Moves exchanges at the front of the queue that have both messages to
    /// the ready list. Stopping at the first incomplete entry keeps request
    /// order.
    fn move_completed_to_ready(&mut self) {
        while let Some(front) = self.pending.front() {
            if front.request.is_none() || front.response.is_none() {
                break;
            }
            let Some(PendingExchange {
                request: Some(request),
                response,
                ..
            }) = self.pending.pop_front()
            else {
                break;
            };
            self.ready.push(Exchange { request, response });
        }
    }

    /// Emits the oldest request still waiting for a response, without one,
    /// while more requests wait than the limit allows.
    fn enforce_pending_limit(&mut self) {
        // The newest entry may still be receiving its body, so at least one
        // entry always stays.
        let limit = self.max_pending_requests.max(1);

        while self
            .pending
            .iter()
            .filter(|entry| entry.response.is_none())
            .count()
            > limit
        {
            let Some(oldest) = self
                .pending
                .iter()
                .position(|entry| entry.response.is_none())
            else {
                break;
            };
            let Some(evicted) = self.pending.remove(oldest) else {
                break;
            };
            // NOTE: if the response was only slow, it will pair with the
            // next request instead.
            tracing::debug!(limit, "HTTP/1 pending-request limit reached; emitting the oldest request without a response");
            if let Some(request) = evicted.request {
                self.emit_unanswered(request);
            }
        }
        self.move_completed_to_ready();
    }

    fn emit_unanswered(&mut self, request: Request) {
        self.unanswered_requests += 1;
        self.ready.push(Exchange {
            request,
            response: None,
        });
    }

    /// Emits every remaining request, with its response if it has one.
    fn drain_at_close(&mut self) {
        self.move_completed_to_ready();
        while let Some(entry) = self.pending.pop_front() {
            // Both streams are closed by now, so every request is finished.
            let Some(request) = entry.request else {
                continue;
            };
            match entry.response {
                Some(response) => self.ready.push(Exchange {
                    request,
                    response: Some(response),
                }),
                None => self.emit_unanswered(request),
            }
        }
    }
}

impl MessageSink for Pairing {
    fn method_awaiting_response(&self) -> Option<RequestMethodKind> {
        self.pending
            .iter()
            .find(|entry| entry.response.is_none())
            .map(|entry| entry.method)
    }

    fn request_started(&mut self, method: RequestMethodKind) {
        self.pending.push_back(PendingExchange {
            method,
            request: None,
            response: None,
        });
        self.enforce_pending_limit();
    }

    fn request_finished(&mut self, request: Request) {
        // Requests arrive one after another on their stream, so the one
        // finishing is the newest entry.
        match self.pending.back_mut() {
            Some(entry) if entry.request.is_none() => entry.request = Some(request),
            _ => self.emit_unanswered(request),
        }
        self.move_completed_to_ready();
    }

    fn response_finished(&mut self, response: Response) {
        match self
            .pending
            .iter_mut()
            .find(|entry| entry.response.is_none())
        {
            Some(entry) => entry.response = Some(response),
            None => {
                tracing::debug!(
                    status = response.status,
                    "HTTP/1 response with no waiting request; dropped"
                );
                self.orphan_responses += 1;
            }
        }
        self.move_completed_to_ready();
    }

    fn protocol_switched(&mut self) {
        self.protocol_switched = true;
    }
}

/// HTTP/1 parser state for one TCP connection.
///
/// Feed each side's bytes with [`push`](Self::push) in the order they were
/// captured, and collect finished exchanges with
/// [`take_exchanges`](Self::take_exchanges).
#[derive(Debug)]
pub struct Http1Connection {
    client: MessageStream,
    server: MessageStream,
    pairing: Pairing,
}

impl Http1Connection {
    /// Creates the parser for one new connection.
    pub fn new(limits: Http1Limits) -> Self {
        Self {
            client: MessageStream::new(Side::Client, limits),
            server: MessageStream::new(Side::Server, limits),
            pairing: Pairing {
                pending: VecDeque::new(),
                ready: Vec::new(),
                max_pending_requests: limits.max_pending_requests,
                unanswered_requests: 0,
                orphan_responses: 0,
                protocol_switched: false,
            },
        }
    }

    /// Parses bytes sent by `side`, captured at monotonic time
    /// `timestamp_ns`. A message may be split across pushes at any byte.
    pub fn push(&mut self, side: Side, data: &[u8], timestamp_ns: u64) {
        match side {
            Side::Client => self.client.push(data, timestamp_ns, &mut self.pairing),
            Side::Server => self.server.push(data, timestamp_ns, &mut self.pairing),
        }
        self.stop_after_protocol_switch(timestamp_ns);
    }

    /// Records that `len` bytes sent by `side` were lost (capture loss).
    /// A message with a hole is marked `gap`. When the hole hides where the
    /// next message starts, the parser resynchronises at the next message
    /// start it finds.
    pub fn push_gap(&mut self, side: Side, len: u64, timestamp_ns: u64) {
        match side {
            Side::Client => self.client.push_gap(len, timestamp_ns, &mut self.pairing),
            Side::Server => self.server.push_gap(len, timestamp_ns, &mut self.pairing),
        }
        self.stop_after_protocol_switch(timestamp_ns);
    }

    /// Ends the connection: finishes close-delimited response bodies, emits
    /// messages cut short as `gap`, and emits requests that got no response.
    /// Later pushes are counted as skipped bytes.
    pub fn close(&mut self, timestamp_ns: u64) {
        self.client.close(timestamp_ns, &mut self.pairing);
        self.server.close(timestamp_ns, &mut self.pairing);
        self.pairing.drain_at_close();
    }

    /// Returns the exchanges completed since the last call, in request order.
    pub fn take_exchanges(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.pairing.ready)
    }

    /// Returns the fault counters since the connection began, summed over
    /// both sides.
    pub fn counters(&self) -> Http1Counters {
        let client = self.client.counters();
        let server = self.server.counters();
        Http1Counters {
            parse_errors: client.parse_errors + server.parse_errors,
            resyncs: client.resyncs + server.resyncs,
            skipped_bytes: client.skipped_bytes + server.skipped_bytes,
            unanswered_requests: self.pairing.unanswered_requests,
            orphan_responses: self.pairing.orphan_responses,
        }
    }

    /// Returns the bytes received but not yet parsed, for the caller's
    /// memory accounting. Messages in progress and exchanges not yet taken
    /// hold more: decoded bodies up to `max_body_capture` and parsed headers.
    pub fn buffered_bytes(&self) -> usize {
        self.client.buffered_bytes() + self.server.buffered_bytes()
    }

    /// Stops both streams after `101 Switching Protocols` or a successful
    /// CONNECT, because both sides then carry another protocol.
    fn stop_after_protocol_switch(&mut self, timestamp_ns: u64) {
        if self.pairing.protocol_switched {
            self.client.close(timestamp_ns, &mut self.pairing);
            self.server.close(timestamp_ns, &mut self.pairing);
        }
    }
}
