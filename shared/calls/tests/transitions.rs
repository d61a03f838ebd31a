//! Every transition of the call and invitation state diagrams, every
//! refusal, and the multi-device, busy and deadline cases, with injected
//! time.

use serde_json::{json, Value};
use switchboard_calls::*;
use switchboard_protocol::downstream::{CancelReason, EndReason, LeftReason};
use switchboard_protocol::upstream::RejectReason;
use switchboard_protocol::*;

const T0: i64 = 1_763_769_600_000;

struct FakeMinter;

impl Minter for FakeMinter {
    fn mint(&self, call: &CallId, user: &UserId, device: &ClientId) -> Result<Value, Refusal> {
        Ok(json!({"provider": "test", "channel": call, "user_id": user, "device": device}))
    }
}

fn config() -> Config {
    Config::from_lookup(|name| {
        Some(
            match name {
                "rtc_app_id" => "app",
                "rtc_app_key" => "key",
                "broker_api_url" => "http://127.0.0.1:1",
                "broker_api_key" => "k",
                "broker_api_secret" => "s",
                "webhook_token" => "w",
                "admin_token" => "a",
                "max_invitees" => "3",
                _ => return None,
            }
            .to_string(),
        )
    })
    .unwrap()
}

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn dev(s: &str) -> ClientId {
    ClientId::parse(&format!("GID_test@@@{s}")).unwrap()
}

fn sender(u: &str, d: &str) -> Sender {
    Sender {
        client: dev(d),
        user: user(u),
    }
}

fn invitee(u: &str, devices: &[&str]) -> Invitee {
    Invitee {
        user: user(u),
        devices: devices.iter().map(|d| dev(d)).collect(),
        busy: false,
        replaced_by: None,
    }
}

fn msg(id: &str, op: Op) -> Upstream {
    Upstream {
        id: MessageId::parse(id).unwrap(),
        ts: T0,
        op,
    }
}

fn new_call(invitees: Vec<Invitee>) -> NewCall {
    let s = sender("alice", "alice1");
    NewCall {
        id: call_id_for_invite(&s.client, &MessageId::parse("m-invite").unwrap()),
        sender: s,
        message: MessageId::parse("m-invite").unwrap(),
        message_ts: T0,
        media: Media::Video,
        meta: Some(json!({"topic": "standup"}).as_object().unwrap().clone()),
        invitees,
    }
}

/// (device, event name) pairs, in order.
fn summary(out: &[OutboundMessage]) -> Vec<(String, &'static str)> {
    out.iter()
        .map(|m| (m.to.device().to_string(), m.message.event.name()))
        .collect()
}

fn pairs(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    items.iter().map(|(d, e)| (d.to_string(), *e)).collect()
}

/// alice calls bob (bob1, bob2) and carol (carol1).
fn ringing_call() -> Call {
    let (call, _) = create(
        new_call(vec![
            invitee("bob", &["bob1", "bob2"]),
            invitee("carol", &["carol1"]),
        ]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    call
}

fn act(
    call: &Call,
    who: (&str, &str),
    id: &str,
    op: Op,
    now: i64,
) -> Result<(Call, Vec<OutboundMessage>), Refusal> {
    apply(
        call,
        &sender(who.0, who.1),
        &msg(id, op),
        &[],
        &config(),
        &FakeMinter,
        now,
    )
}

fn ok(call: &Call, who: (&str, &str), id: &str, op: Op) -> (Call, Vec<OutboundMessage>) {
    act(call, who, id, op, T0 + 1000).unwrap()
}

fn refused(call: &Call, who: (&str, &str), id: &str, op: Op) -> ErrorCode {
    act(call, who, id, op, T0 + 1000).unwrap_err().code
}

fn state(call: &Call, u: &str) -> &'static str {
    call.participant(&user(u)).unwrap().state.name()
}

#[test]
fn invite_rings_every_device_of_every_invitee_with_its_own_token() {
    let (call, out) = create(
        new_call(vec![
            invitee("bob", &["bob1", "bob2"]),
            invitee("carol", &["carol1"]),
        ]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.created"),
            ("bob1", "call.invitation"),
            ("bob2", "call.invitation"),
            ("carol1", "call.invitation"),
        ])
    );
    let Event::Created { to, rtc, .. } = &out[0].message.event else {
        panic!()
    };
    assert_eq!(to, &vec![user("bob"), user("carol")]);
    assert_eq!(rtc["user_id"], "alice");
    for m in &out[1..] {
        let Event::Invitation {
            from,
            participants,
            rtc,
            meta,
            ..
        } = &m.message.event
        else {
            panic!()
        };
        assert_eq!(from, &user("alice"));
        assert_eq!(
            participants,
            &vec![user("alice"), user("bob"), user("carol")]
        );
        assert_eq!(rtc["device"], json!(m.to));
        assert_eq!(rtc["channel"], json!(call.id));
        assert_eq!(meta.as_ref().unwrap()["topic"], "standup");
        assert_eq!(
            m.message.expires_at,
            T0 + 30_000,
            "an invitation expires at its ring deadline"
        );
        assert_eq!(m.message.in_reply_to.as_ref().unwrap().as_str(), "m-invite");
    }
    let ids: std::collections::HashSet<_> = out.iter().map(|m| &m.message.id).collect();
    assert_eq!(ids.len(), out.len(), "every message has its own ID");
    assert_eq!(state(&call, "alice"), "joined");
    assert_eq!(state(&call, "bob"), "invited");
    assert!(call.has_applied(&dev("alice1"), &MessageId::parse("m-invite").unwrap()));
}

#[test]
fn the_same_invite_yields_the_same_ids() {
    let a = create(
        new_call(vec![invitee("bob", &["bob1"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    let b = create(
        new_call(vec![invitee("bob", &["bob1"])]),
        &config(),
        &FakeMinter,
        T0 + 5,
    )
    .unwrap();
    assert_eq!(a.0.id, b.0.id);
    let ids =
        |out: &[OutboundMessage]| out.iter().map(|m| m.message.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a.1), ids(&b.1));
}

#[test]
fn invitee_without_devices_is_reported_unreachable() {
    let (call, out) = create(
        new_call(vec![invitee("bob", &["bob1"]), invitee("ghost", &[])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    let Event::Created {
        to, unreachable, ..
    } = &out[0].message.event
    else {
        panic!()
    };
    assert_eq!(to, &vec![user("bob")]);
    assert_eq!(unreachable, &vec![user("ghost")]);
    assert!(call.participant(&user("ghost")).is_none());
}

#[test]
fn invite_refusals() {
    let err = create(
        new_call(vec![invitee("ghost", &[])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownUser);
    let four = ["b", "c", "d", "e"]
        .iter()
        .map(|u| invitee(u, &["x"]))
        .collect();
    assert_eq!(
        create(new_call(four), &config(), &FakeMinter, T0)
            .unwrap_err()
            .code,
        ErrorCode::TooManyInvitees
    );
    let err = create(
        new_call(vec![invitee("alice", &["alice2"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidMessage);
}

#[test]
fn busy_invitee_is_rejected_at_once() {
    let mut bob = invitee("bob", &["bob1"]);
    bob.busy = true;
    let (call, out) = create(
        new_call(vec![bob, invitee("carol", &["carol1"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.created"),
            ("carol1", "call.invitation"),
            ("alice1", "call.rejected")
        ])
    );
    assert!(matches!(
        out[2].message.event,
        Event::Rejected {
            reason: RejectReason::Busy,
            ..
        }
    ));
    assert!(!call.is_ended());
}

#[test]
fn call_with_only_busy_invitees_ends_rejected() {
    let mut bob = invitee("bob", &["bob1"]);
    bob.busy = true;
    bob.replaced_by = Some(CallId::parse("c-winner").unwrap());
    let (call, out) = create(new_call(vec![bob]), &config(), &FakeMinter, T0).unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.created"),
            ("alice1", "call.rejected"),
            ("alice1", "call.ended")
        ])
    );
    assert_eq!(call.ended.as_ref().unwrap().reason, EndReason::Rejected);
    let Event::Ended { replaced_by, .. } = &out[2].message.event else {
        panic!()
    };
    assert_eq!(replaced_by.as_ref().unwrap().as_str(), "c-winner");
}

#[test]
fn first_accept_wins_and_other_devices_stop_ringing() {
    let call = ringing_call();
    let (call, out) = ok(
        &call,
        ("bob", "bob2"),
        "m-acc",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.accepted"),
            ("bob2", "call.accepted"),
            ("bob1", "call.answered_elsewhere")
        ])
    );
    assert_eq!(
        call.participant(&user("bob")).unwrap().joined_device(),
        Some(&dev("bob2"))
    );
    assert_eq!(
        refused(
            &call,
            ("bob", "bob1"),
            "m-acc2",
            Op::Accept {
                call: call.id.clone()
            }
        ),
        ErrorCode::InvalidState
    );
    assert_eq!(switchboard_calls::call_view(&call)["state"], "active");
}

#[test]
fn reject_stops_ringing_on_all_devices_and_last_rejection_ends_the_call() {
    let call = ringing_call();
    let reject = |c: &Call| Op::Reject {
        call: c.id.clone(),
        reason: RejectReason::Decline,
    };
    let (call, out) = ok(&call, ("bob", "bob1"), "m-r1", reject(&call));
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.rejected"),
            ("bob2", "call.declined_elsewhere")
        ])
    );
    assert_eq!(state(&call, "bob"), "declined");
    assert!(!call.is_ended(), "carol still rings");
    let (call, out) = ok(&call, ("carol", "carol1"), "m-r2", reject(&call));
    assert_eq!(
        summary(&out),
        pairs(&[("alice1", "call.rejected"), ("alice1", "call.ended")])
    );
    assert_eq!(call.ended.unwrap().reason, EndReason::Rejected);
}

#[test]
fn ringing_tells_the_inviter_once() {
    let call = ringing_call();
    let (call, out) = ok(
        &call,
        ("bob", "bob1"),
        "m-ring",
        Op::Ringing {
            call: call.id.clone(),
        },
    );
    assert_eq!(summary(&out), pairs(&[("alice1", "call.ringing")]));
    let (_, out) = ok(
        &call,
        ("bob", "bob2"),
        "m-ring2",
        Op::Ringing {
            call: call.id.clone(),
        },
    );
    assert!(out.is_empty());
}

#[test]
fn cancel_withdraws_unanswered_invitations() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "m-acc",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "m-can",
        Op::Cancel {
            call: call.id.clone(),
            to: None,
        },
    );
    assert_eq!(summary(&out), pairs(&[("carol1", "call.cancelled")]));
    assert!(matches!(
        out[0].message.event,
        Event::Cancelled {
            reason: CancelReason::Cancelled
        }
    ));
    assert_eq!(state(&call, "carol"), "cancelled");
    assert!(!call.is_ended(), "alice and bob are still talking");
}

#[test]
fn cancel_before_anyone_answers_ends_the_call() {
    let call = ringing_call();
    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "m-can",
        Op::Cancel {
            call: call.id.clone(),
            to: None,
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("bob1", "call.cancelled"),
            ("bob2", "call.cancelled"),
            ("carol1", "call.cancelled"),
            ("alice1", "call.ended")
        ])
    );
    assert_eq!(call.ended.unwrap().reason, EndReason::Cancelled);
}

#[test]
fn cancel_refusals() {
    let call = ringing_call();
    let id = call.id.clone();
    assert_eq!(
        refused(
            &call,
            ("bob", "bob1"),
            "m",
            Op::Cancel {
                call: id.clone(),
                to: None
            }
        ),
        ErrorCode::InvalidState
    );
    assert_eq!(
        refused(
            &call,
            ("mallory", "m1"),
            "m",
            Op::Cancel {
                call: id.clone(),
                to: None
            }
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refused(
            &call,
            ("alice", "alice1"),
            "m",
            Op::Cancel {
                call: id,
                to: Some(vec![user("zed")])
            }
        ),
        ErrorCode::Forbidden
    );
}

#[test]
fn leave_notifies_others_and_the_last_two_end_the_call() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a1",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let (call, _) = ok(
        &call,
        ("carol", "carol1"),
        "a2",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let (call, out) = ok(
        &call,
        ("carol", "carol1"),
        "l1",
        Op::Leave {
            call: call.id.clone(),
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.participant_left"),
            ("bob1", "call.participant_left")
        ])
    );
    assert!(matches!(
        out[0].message.event,
        Event::ParticipantLeft {
            reason: LeftReason::Left,
            ..
        }
    ));
    let (call, out) = ok(
        &call,
        ("bob", "bob1"),
        "l2",
        Op::Leave {
            call: call.id.clone(),
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.participant_left"),
            ("alice1", "call.ended")
        ])
    );
    assert_eq!(call.ended.as_ref().unwrap().reason, EndReason::AllLeft);
    assert_eq!(
        refused(
            &call,
            ("alice", "alice1"),
            "l3",
            Op::Leave {
                call: call.id.clone()
            }
        ),
        ErrorCode::InvalidState
    );
}

#[test]
fn leave_needs_the_joined_device() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a1",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    assert_eq!(
        refused(
            &call,
            ("bob", "bob2"),
            "l",
            Op::Leave {
                call: call.id.clone()
            }
        ),
        ErrorCode::InvalidState
    );
    assert_eq!(
        refused(
            &call,
            ("carol", "carol1"),
            "l",
            Op::Leave {
                call: call.id.clone()
            }
        ),
        ErrorCode::InvalidState
    );
}

#[test]
fn only_the_host_ends_mutes_and_removes() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a1",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let id = call.id.clone();
    let mute = Op::Mute {
        call: id.clone(),
        user: user("alice"),
        media: Media::Audio,
    };
    assert_eq!(
        refused(&call, ("bob", "bob1"), "x", mute),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refused(&call, ("bob", "bob1"), "x", Op::End { call: id.clone() }),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refused(
            &call,
            ("bob", "bob1"),
            "x",
            Op::Remove {
                call: id.clone(),
                user: user("alice")
            }
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refused(
            &call,
            ("alice", "alice2"),
            "x",
            Op::End { call: id.clone() }
        ),
        ErrorCode::Forbidden,
        "host's other device is not in the call"
    );

    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "mu",
        Op::Mute {
            call: id.clone(),
            user: user("bob"),
            media: Media::Video,
        },
    );
    assert_eq!(summary(&out), pairs(&[("bob1", "call.muted")]));
    assert_eq!(
        call.participant(&user("bob")).unwrap().muted,
        vec![Media::Video]
    );
    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "un",
        Op::Unmute {
            call: id.clone(),
            user: user("bob"),
            media: Media::Video,
        },
    );
    assert_eq!(summary(&out), pairs(&[("bob1", "call.unmuted")]));
    assert!(call.participant(&user("bob")).unwrap().muted.is_empty());
    assert_eq!(
        refused(
            &call,
            ("alice", "alice1"),
            "mu2",
            Op::Mute {
                call: id.clone(),
                user: user("carol"),
                media: Media::Audio
            }
        ),
        ErrorCode::InvalidState,
        "carol has not joined"
    );

    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "rm",
        Op::Remove {
            call: id.clone(),
            user: user("carol"),
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("carol1", "call.removed"),
            ("alice1", "call.participant_left"),
            ("bob1", "call.participant_left")
        ])
    );
    assert_eq!(state(&call, "carol"), "removed");
    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "end",
        Op::End { call: id.clone() },
    );
    assert_eq!(
        summary(&out),
        pairs(&[("alice1", "call.ended"), ("bob1", "call.ended")])
    );
    assert_eq!(call.ended.unwrap().reason, EndReason::EndedByHost);
}

#[test]
fn removing_the_only_other_participant_ends_the_call() {
    let (call, _) = create(
        new_call(vec![invitee("bob", &["bob1"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let (call, out) = ok(
        &call,
        ("alice", "alice1"),
        "rm",
        Op::Remove {
            call: call.id.clone(),
            user: user("bob"),
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("bob1", "call.removed"),
            ("alice1", "call.participant_left"),
            ("alice1", "call.ended")
        ])
    );
    assert!(call.is_ended());
    let (call2, _) = create(
        new_call(vec![invitee("bob", &["bob1"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    assert_eq!(
        refused(
            &call2,
            ("alice", "alice1"),
            "rm",
            Op::Remove {
                call: call2.id.clone(),
                user: user("alice")
            }
        ),
        ErrorCode::InvalidMessage
    );
}

#[test]
fn end_cancels_ringing_devices() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a1",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let (_, out) = ok(
        &call,
        ("alice", "alice1"),
        "end",
        Op::End {
            call: call.id.clone(),
        },
    );
    assert_eq!(
        summary(&out),
        pairs(&[
            ("carol1", "call.cancelled"),
            ("alice1", "call.ended"),
            ("bob1", "call.ended")
        ])
    );
    assert!(matches!(
        out[0].message.event,
        Event::Cancelled {
            reason: CancelReason::Ended
        }
    ));
}

#[test]
fn renew_only_for_invited_or_joined_devices() {
    let call = ringing_call();
    let id = call.id.clone();
    let (_, out) = ok(&call, ("bob", "bob2"), "rn", Op::Renew { call: id.clone() });
    assert_eq!(summary(&out), pairs(&[("bob2", "call.token")]));
    let Event::Token { rtc } = &out[0].message.event else {
        panic!()
    };
    assert_eq!(rtc["user_id"], "bob");
    assert_eq!(
        refused(
            &call,
            ("mallory", "mal1"),
            "rn",
            Op::Renew { call: id.clone() }
        ),
        ErrorCode::Forbidden
    );
    let (call, _) = ok(&call, ("bob", "bob1"), "a", Op::Accept { call: id.clone() });
    assert_eq!(
        refused(
            &call,
            ("bob", "bob2"),
            "rn2",
            Op::Renew { call: id.clone() }
        ),
        ErrorCode::Forbidden
    );
    let (_, out) = ok(&call, ("bob", "bob1"), "rn3", Op::Renew { call: id });
    assert_eq!(summary(&out), pairs(&[("bob1", "call.token")]));
}

#[test]
fn mid_call_invite_by_a_joined_participant() {
    let (call, _) = create(
        new_call(vec![invitee("bob", &["bob1"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let op = Op::Invite {
        call: Some(call.id.clone()),
        to: vec![user("dave")],
        media: None,
        meta: None,
    };
    let (call, out) = apply(
        &call,
        &sender("bob", "bob1"),
        &msg("inv2", op.clone()),
        &[invitee("dave", &["dave1", "dave2"])],
        &config(),
        &FakeMinter,
        T0 + 2000,
    )
    .unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[("dave1", "call.invitation"), ("dave2", "call.invitation")])
    );
    let Event::Invitation {
        from, participants, ..
    } = &out[0].message.event
    else {
        panic!()
    };
    assert_eq!(from, &user("bob"));
    assert_eq!(
        participants,
        &vec![user("alice"), user("bob"), user("dave")]
    );
    assert_eq!(
        call.participant(&user("dave")).unwrap().invited_by,
        user("bob")
    );
    // Only bob, who invited dave, may cancel dave's invitation.
    assert_eq!(
        refused(
            &call,
            ("alice", "alice1"),
            "c",
            Op::Cancel {
                call: call.id.clone(),
                to: Some(vec![user("dave")])
            }
        ),
        ErrorCode::Forbidden
    );
    // Someone not in the call may not invite into it.
    let err = apply(
        &call,
        &sender("eve", "eve1"),
        &msg("inv3", op.clone()),
        &[invitee("dave", &["dave1"])],
        &config(),
        &FakeMinter,
        T0 + 2000,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::Forbidden);
    // Inviting someone already ringing changes nothing.
    let err = apply(
        &call,
        &sender("bob", "bob1"),
        &msg("inv4", op),
        &[invitee("dave", &["dave1"])],
        &config(),
        &FakeMinter,
        T0 + 2000,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidState);
}

#[test]
fn mid_call_invite_of_a_busy_user() {
    let (call, _) = create(
        new_call(vec![invitee("bob", &["bob1"])]),
        &config(),
        &FakeMinter,
        T0,
    )
    .unwrap();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let mut dave = invitee("dave", &["dave1"]);
    dave.busy = true;
    let op = Op::Invite {
        call: Some(call.id.clone()),
        to: vec![user("dave")],
        media: None,
        meta: None,
    };
    let (call, out) = apply(
        &call,
        &sender("alice", "alice1"),
        &msg("inv2", op),
        &[dave],
        &config(),
        &FakeMinter,
        T0 + 2000,
    )
    .unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[("alice1", "call.rejected"), ("bob1", "call.rejected")])
    );
    assert_eq!(state(&call, "dave"), "declined");
}

#[test]
fn deadlines_expire_invitations_and_end_unanswered_calls() {
    let call = ringing_call();
    assert!(expire(&call, T0 + 29_999).is_none(), "not yet");
    let (expired, out) = expire(&call, T0 + 30_000).unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[
            ("alice1", "call.missed"),
            ("bob1", "call.cancelled"),
            ("bob2", "call.cancelled"),
            ("alice1", "call.missed"),
            ("carol1", "call.cancelled"),
            ("alice1", "call.ended"),
        ])
    );
    assert!(matches!(
        out[1].message.event,
        Event::Cancelled {
            reason: CancelReason::Timeout
        }
    ));
    assert_eq!(expired.ended.as_ref().unwrap().reason, EndReason::Timeout);
    assert_eq!(state(&expired, "bob"), "missed");
    // Whoever applies the same deadline produces the same messages.
    let (_, again) = expire(&call, T0 + 45_000).unwrap();
    let ids =
        |out: &[OutboundMessage]| out.iter().map(|m| m.message.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&out), ids(&again));
    assert!(
        expire(&expired, T0 + 60_000).is_none(),
        "nothing left to expire"
    );
}

#[test]
fn a_missed_invitee_does_not_end_an_active_call() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    let (call, out) = expire(&call, T0 + 31_000).unwrap();
    assert_eq!(
        summary(&out),
        pairs(&[("alice1", "call.missed"), ("carol1", "call.cancelled")])
    );
    assert!(!call.is_ended());
    assert_eq!(
        refused(
            &call,
            ("carol", "carol1"),
            "late",
            Op::Accept {
                call: call.id.clone()
            }
        ),
        ErrorCode::InvalidState
    );
}

#[test]
fn ended_calls_refuse_everything() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("alice", "alice1"),
        "end",
        Op::End {
            call: call.id.clone(),
        },
    );
    for op in [
        Op::Accept {
            call: call.id.clone(),
        },
        Op::Renew {
            call: call.id.clone(),
        },
        Op::End {
            call: call.id.clone(),
        },
    ] {
        assert_eq!(
            refused(&call, ("bob", "bob1"), "x", op),
            ErrorCode::InvalidState
        );
    }
    let err = end_call(&call, EndReason::EndedByHost, None, "admin", T0).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidState);
}

#[test]
fn end_call_from_outside_for_glare() {
    let call = ringing_call();
    let winner = CallId::parse("c-winner").unwrap();
    let (ended, out) = end_call(
        &call,
        EndReason::Cancelled,
        Some(winner.clone()),
        "glare/x",
        T0 + 10,
    )
    .unwrap();
    assert_eq!(
        ended.ended.as_ref().unwrap().replaced_by.as_ref(),
        Some(&winner)
    );
    assert_eq!(out.last().unwrap().to, dev("alice1"));
    assert!(
        matches!(&out.last().unwrap().message.event, Event::Ended { reason: EndReason::Cancelled, replaced_by: Some(w) } if w == &winner)
    );
}

#[test]
fn dedup_memory_expires_after_the_window() {
    let call = ringing_call();
    let (call, _) = ok(
        &call,
        ("bob", "bob1"),
        "a",
        Op::Accept {
            call: call.id.clone(),
        },
    );
    assert!(call.has_applied(&dev("bob1"), &MessageId::parse("a").unwrap()));
    // Applied at T0 + 1000: remembered for the dedup window after that.
    let later = T0 + 1000 + config().dedup_window_ms() + 1;
    let (call, _) = act(
        &call,
        ("alice", "alice1"),
        "mute",
        Op::Mute {
            call: call.id.clone(),
            user: user("bob"),
            media: Media::Audio,
        },
        later,
    )
    .unwrap();
    assert!(!call.has_applied(&dev("bob1"), &MessageId::parse("a").unwrap()));
    assert!(call.has_applied(&dev("alice1"), &MessageId::parse("mute").unwrap()));
}

#[test]
fn a_passed_deadline_cannot_be_answered_even_before_expiry_runs() {
    let call = ringing_call();
    let err = act(
        &call,
        ("bob", "bob1"),
        "late",
        Op::Accept {
            call: call.id.clone(),
        },
        T0 + 30_000,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidState);
}
