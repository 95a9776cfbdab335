//! Unit tests of the pure coordinator: a [`Harness`] feeds requests and ticks with a fake clock and
//! collects the replies addressed to each token. No sockets, no real time.

#![allow(clippy::unwrap_used)]

mod errors;
mod join;
mod legacy_offsets;
mod membership;
mod offsets;
mod records;
mod static_members;

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{
    CoordinatorConfig, GroupState, GroupStateMachine, HeartbeatRequest, JoinOutcome, JoinRequest,
    LeavingMember, Reply, SyncOutcome, SyncRequest, Token,
};

pub const GROUP: &str = "orders";
pub const INITIAL_DELAY_MS: i64 = 100;
pub const SESSION_MS: i32 = 10_000;
pub const REBALANCE_MS: i32 = 30_000;
pub const RETENTION_MS: i64 = 60_000;

/// A state machine, a fake clock, and the replies received so far.
pub struct Harness {
    pub machine: GroupStateMachine,
    pub now_ms: i64,
    next_token: Token,
    replies: HashMap<Token, Reply>,
}

/// A member of a Stable group built by [`Harness::stable_group`].
#[derive(Debug, Clone)]
pub struct Joined {
    pub member_id: String,
    pub generation_id: i32,
}

/// Consumer-protocol metadata subscribing to `topics` (version 0).
pub fn subscription(topics: &[&str]) -> Bytes {
    let body = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string((*t).to_owned()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    body.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

/// A JoinGroup of a new dynamic member (v3 style: no MEMBER_ID_REQUIRED round trip).
pub fn join_request(member_id: &str) -> JoinRequest {
    JoinRequest {
        group_id: GROUP.to_owned(),
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "rdkafka".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), subscription(&["events"]))],
        require_known_member_id: false,
    }
}

impl Harness {
    pub fn new() -> Self {
        let config = CoordinatorConfig {
            initial_rebalance_delay_ms: INITIAL_DELAY_MS,
            offsets_retention_ms: RETENTION_MS,
        };
        Self {
            machine: GroupStateMachine::new(config, 7),
            now_ms: 1_000_000,
            next_token: 0,
            replies: HashMap::new(),
        }
    }

    fn collect(&mut self, replies: Vec<Reply>) {
        for reply in replies {
            let previous = self.replies.insert(reply.token(), reply);
            assert!(previous.is_none(), "a token was answered twice");
        }
    }

    pub fn join(&mut self, request: JoinRequest) -> Token {
        self.next_token += 1;
        let token = self.next_token;
        let replies = self.machine.join_group(token, request, self.now_ms);
        self.collect(replies);
        token
    }

    pub fn sync(&mut self, request: SyncRequest) -> Token {
        self.next_token += 1;
        let token = self.next_token;
        let replies = self.machine.sync_group(token, request, self.now_ms);
        self.collect(replies);
        token
    }

    pub fn leave(&mut self, members: &[LeavingMember]) -> super::LeaveOutcome {
        let (outcome, replies) = self.machine.leave_group(GROUP, members, self.now_ms);
        self.collect(replies);
        outcome
    }

    pub fn heartbeat(&mut self, member: &Joined) -> super::ErrorCode {
        let request = HeartbeatRequest {
            group_id: GROUP.to_owned(),
            generation_id: member.generation_id,
            member_id: member.member_id.clone(),
            group_instance_id: None,
        };
        self.machine.heartbeat(&request, self.now_ms)
    }

    /// Moves the clock and ticks.
    pub fn advance(&mut self, ms: i64) {
        self.now_ms += ms;
        let replies = self.machine.tick(self.now_ms);
        self.collect(replies);
    }

    /// Ticks one initial delay at a time until the first barrier of the group is done (every member
    /// that joined during the delay extends it by one more delay).
    pub fn finish_initial_delay(&mut self) {
        for _ in 0..1_000 {
            self.advance(INITIAL_DELAY_MS);
            if self.state() != GroupState::PreparingRebalance {
                return;
            }
        }
        panic!("the initial delay never ended");
    }

    /// The JoinGroup answer for `token`, if one came.
    pub fn join_answer(&mut self, token: Token) -> Option<JoinOutcome> {
        match self.replies.remove(&token)? {
            Reply::Join(_, outcome) => Some(outcome),
            Reply::Sync(..) => panic!("token {token} got a SyncGroup answer"),
        }
    }

    /// The SyncGroup answer for `token`, if one came.
    pub fn sync_answer(&mut self, token: Token) -> Option<SyncOutcome> {
        match self.replies.remove(&token)? {
            Reply::Sync(_, outcome) => Some(outcome),
            Reply::Join(..) => panic!("token {token} got a JoinGroup answer"),
        }
    }

    pub fn state(&self) -> GroupState {
        self.machine
            .group(GROUP)
            .map(|g| g.state)
            .unwrap_or(GroupState::Dead)
    }

    /// Joins `count` members and completes one generation: every member synced, group Stable.
    pub fn stable_group(&mut self, count: usize) -> Vec<Joined> {
        let tokens: Vec<Token> = (0..count).map(|_| self.join(join_request(""))).collect();
        self.finish_initial_delay();
        let answers: Vec<JoinOutcome> = tokens
            .iter()
            .map(|t| self.join_answer(*t).unwrap())
            .collect();
        let members: Vec<Joined> = answers
            .iter()
            .map(|a| Joined {
                member_id: a.member_id.clone(),
                generation_id: a.generation_id,
            })
            .collect();
        self.sync_all(&answers);
        assert_eq!(self.state(), GroupState::Stable);
        members
    }

    /// Every member syncs; the leader assigns `"assignment-of-{member}"` to each.
    pub fn sync_all(&mut self, answers: &[JoinOutcome]) {
        let mut tokens = Vec::new();
        for answer in answers {
            let assignments = answer
                .members
                .iter()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        Bytes::from(format!("assignment-of-{}", m.member_id)),
                    )
                })
                .collect();
            tokens.push(self.sync(sync_request(
                &answer.member_id,
                answer.generation_id,
                assignments,
            )));
        }
        for (token, answer) in tokens.into_iter().zip(answers) {
            let outcome = self.sync_answer(token).unwrap();
            assert_eq!(outcome.error, None);
            assert_eq!(
                outcome.assignment,
                Bytes::from(format!("assignment-of-{}", answer.member_id))
            );
        }
    }
}

pub fn sync_request(
    member_id: &str,
    generation_id: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncRequest {
    SyncRequest {
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments,
    }
}

pub fn rejoin_request(member: &Joined) -> JoinRequest {
    join_request(&member.member_id)
}
