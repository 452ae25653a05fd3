//! Diesel's description of the schema, shared by both backends.
//!
//! Written by hand (not `diesel print-schema`) because it must describe the SQLite and the
//! PostgreSQL migrations at once: every integer is `BigInt`, times are `Timestamp` (UTC),
//! JSON documents are `Text`. A test checks both migrations against it.

diesel::table! {
    agents (id) {
        id -> BigInt,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        availability -> Text,
        capacity -> Nullable<BigInt>,
        active -> Bool,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        agent_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        agent_id -> BigInt,
        name -> Text,
        token_prefix -> Text,
        token_hash -> Text,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    teams (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, agent_id) {
        team_id -> BigInt,
        agent_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    inboxes (id) {
        id -> BigInt,
        name -> Text,
        channel_type -> Text,
        settings -> Text,
        secrets -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        assign_on_reply -> Bool,
    }
}

diesel::table! {
    inbox_members (inbox_id, agent_id) {
        inbox_id -> BigInt,
        agent_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        language -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        attributes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contact_identities (id) {
        id -> BigInt,
        contact_id -> BigInt,
        inbox_id -> BigInt,
        channel_type -> Text,
        identifier -> Text,
        verification -> Text,
        profile -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        blocked_at -> Nullable<Timestamp>,
        last_inbound_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    conversations (id) {
        id -> BigInt,
        kind -> Text,
        inbox_id -> Nullable<BigInt>,
        contact_id -> Nullable<BigInt>,
        subject -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        assignee_id -> Nullable<BigInt>,
        team_id -> Nullable<BigInt>,
        snoozed_until -> Nullable<Timestamp>,
        first_response_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        ticket_number -> Nullable<BigInt>,
        linked_conversation_id -> Nullable<BigInt>,
        last_seq -> BigInt,
        last_activity_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        waiting_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    labels (id) {
        id -> BigInt,
        name -> Text,
        color -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    conversation_labels (conversation_id, label_id) {
        conversation_id -> BigInt,
        label_id -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        conversation_id -> BigInt,
        inbox_id -> Nullable<BigInt>,
        seq -> BigInt,
        direction -> Text,
        sender_type -> Text,
        sender_id -> Nullable<BigInt>,
        content -> Text,
        content_type -> Text,
        private -> Bool,
        reply_to_id -> Nullable<BigInt>,
        idempotency_key -> Nullable<Text>,
        external_id -> Nullable<Text>,
        delivery_status -> Nullable<Text>,
        error_code -> Nullable<Text>,
        error_reason -> Nullable<Text>,
        provider_at -> Nullable<Timestamp>,
        edited_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        attachments -> Text,
        provider_message_id -> Nullable<Text>,
        author -> Nullable<Text>,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    canned_responses (id) {
        id -> BigInt,
        short_code -> Text,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    channel_cursors (inbox_id) {
        inbox_id -> BigInt,
        position -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    channel_templates (inbox_id) {
        inbox_id -> BigInt,
        templates -> Text,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    unreadable_events (id) {
        id -> BigInt,
        inbox_id -> BigInt,
        reason -> Text,
        payload -> Text,
        received_at -> Timestamp,
        replayed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    message_edits (id) {
        id -> BigInt,
        message_id -> BigInt,
        previous_content -> Text,
        edited_at -> Timestamp,
    }
}

diesel::table! {
    attachments (id) {
        id -> BigInt,
        conversation_id -> BigInt,
        message_id -> Nullable<BigInt>,
        file_name -> Text,
        content_type -> Text,
        byte_size -> BigInt,
        sha256 -> Text,
        storage_key -> Text,
        width -> Nullable<BigInt>,
        height -> Nullable<BigInt>,
        thumb_small_key -> Nullable<Text>,
        thumb_large_key -> Nullable<Text>,
        created_at -> Timestamp,
        thumbnail_error -> Nullable<Text>,
        visitor_inbox_id -> Nullable<BigInt>,
        visitor_id -> Nullable<Text>,
    }
}

diesel::table! {
    conversation_participants (conversation_id, agent_id) {
        conversation_id -> BigInt,
        agent_id -> BigInt,
        last_read_seq -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        message_id -> BigInt,
        inbox_id -> BigInt,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    provider_status_events (id) {
        id -> BigInt,
        inbox_id -> BigInt,
        message_id -> Nullable<BigInt>,
        external_id -> Text,
        status -> Text,
        payload -> Text,
        received_at -> Timestamp,
        error_code -> Nullable<Text>,
        error_reason -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        actor_type -> Text,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<BigInt>,
        details -> Text,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
    }
}
diesel::joinable!(sessions -> agents (agent_id));
diesel::joinable!(api_tokens -> agents (agent_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> agents (agent_id));
diesel::joinable!(inbox_members -> inboxes (inbox_id));
diesel::joinable!(inbox_members -> agents (agent_id));
diesel::joinable!(contact_identities -> contacts (contact_id));
diesel::joinable!(contact_identities -> inboxes (inbox_id));
diesel::joinable!(conversations -> inboxes (inbox_id));
diesel::joinable!(conversations -> contacts (contact_id));
diesel::joinable!(conversations -> agents (assignee_id));
diesel::joinable!(conversations -> teams (team_id));
diesel::joinable!(conversation_labels -> conversations (conversation_id));
diesel::joinable!(conversation_labels -> labels (label_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(messages -> inboxes (inbox_id));
diesel::joinable!(message_edits -> messages (message_id));
diesel::joinable!(channel_cursors -> inboxes (inbox_id));
diesel::joinable!(unreadable_events -> inboxes (inbox_id));
diesel::joinable!(channel_templates -> inboxes (inbox_id));
diesel::joinable!(attachments -> conversations (conversation_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(conversation_participants -> conversations (conversation_id));
diesel::joinable!(conversation_participants -> agents (agent_id));
diesel::joinable!(outbox -> messages (message_id));
diesel::joinable!(outbox -> inboxes (inbox_id));
diesel::joinable!(provider_status_events -> inboxes (inbox_id));
diesel::joinable!(provider_status_events -> messages (message_id));

diesel::table! {
    business_schedules (id) {
        id -> BigInt,
        name -> Text,
        time_zone -> Text,
        hours -> Text,
        closed_dates -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    inbox_schedules (inbox_id) {
        inbox_id -> BigInt,
        schedule_id -> BigInt,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> BigInt,
        name -> Text,
        position -> BigInt,
        enabled -> Bool,
        inbox_id -> Nullable<BigInt>,
        priority -> Nullable<Text>,
        team_id -> Nullable<BigInt>,
        label -> Nullable<Text>,
        first_response_secs -> Nullable<BigInt>,
        next_response_secs -> Nullable<BigInt>,
        resolution_secs -> Nullable<BigInt>,
        warn_percent -> BigInt,
        actions -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_states (conversation_id) {
        conversation_id -> BigInt,
        policy_id -> Nullable<BigInt>,
        synced_seq -> BigInt,
        synced_at -> Timestamp,
        updated_at -> Timestamp,
        due_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sla_clocks (id) {
        id -> BigInt,
        conversation_id -> BigInt,
        policy_id -> Nullable<BigInt>,
        target -> Text,
        target_secs -> BigInt,
        warn_percent -> BigInt,
        consumed_secs -> BigInt,
        started_at -> Timestamp,
        resumed_at -> Nullable<Timestamp>,
        warn_at -> Nullable<Timestamp>,
        due_at -> Nullable<Timestamp>,
        fire_at -> Nullable<Timestamp>,
        warned_at -> Nullable<Timestamp>,
        breached_at -> Nullable<Timestamp>,
        met_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        agent_id -> BigInt,
        kind -> Text,
        conversation_id -> Nullable<BigInt>,
        actor_id -> Nullable<BigInt>,
        body -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
        emailed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inbox_watchers (agent_id, inbox_id) {
        agent_id -> BigInt,
        inbox_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notification_settings (agent_id) {
        agent_id -> BigInt,
        email_enabled -> Bool,
        email_kinds -> Text,
        quiet_start_minute -> Nullable<BigInt>,
        quiet_end_minute -> Nullable<BigInt>,
        time_zone -> Text,
        last_emailed_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    saved_views (id) {
        id -> BigInt,
        agent_id -> BigInt,
        name -> Text,
        filters -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contact_notes (id) {
        id -> BigInt,
        contact_id -> BigInt,
        author_id -> Nullable<BigInt>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    contact_attributes (id) {
        id -> BigInt,
        key -> Text,
        label -> Text,
        kind -> Text,
        options -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    csat_surveys (id) {
        id -> BigInt,
        conversation_id -> BigInt,
        inbox_id -> BigInt,
        resolved_at -> Timestamp,
        due_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        question -> Text,
        scale -> Text,
        rating -> Nullable<BigInt>,
        comment -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
        given_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_rollups (dim, bucket_start, dim_id) {
        dim -> Text,
        dim_id -> BigInt,
        bucket_start -> Timestamp,
        messages_in -> BigInt,
        messages_out -> BigInt,
        opened -> BigInt,
        reopened -> BigInt,
        resolved -> BigInt,
        first_responses -> BigInt,
        first_response_secs -> BigInt,
        resolution_secs -> BigInt,
        replies -> BigInt,
        csat_sent -> BigInt,
        csat_answers -> BigInt,
        csat_satisfied -> BigInt,
        csat_rated -> BigInt,
        csat_rating_sum -> BigInt,
        sla_met -> BigInt,
        sla_breached -> BigInt,
    }
}

diesel::table! {
    report_daily (dim, day, dim_id) {
        dim -> Text,
        dim_id -> BigInt,
        day -> Timestamp,
        messages_in -> BigInt,
        messages_out -> BigInt,
        opened -> BigInt,
        reopened -> BigInt,
        resolved -> BigInt,
        first_responses -> BigInt,
        first_response_secs -> BigInt,
        resolution_secs -> BigInt,
        replies -> BigInt,
        csat_sent -> BigInt,
        csat_answers -> BigInt,
        csat_satisfied -> BigInt,
        csat_rated -> BigInt,
        csat_rating_sum -> BigInt,
        sla_met -> BigInt,
        sla_breached -> BigInt,
    }
}

diesel::table! {
    report_state (id) {
        id -> BigInt,
        covered_until -> Timestamp,
        refreshed_at -> Timestamp,
    }
}

diesel::joinable!(csat_surveys -> conversations (conversation_id));
diesel::joinable!(contact_notes -> contacts (contact_id));
diesel::joinable!(saved_views -> agents (agent_id));
diesel::joinable!(inbox_schedules -> business_schedules (schedule_id));
diesel::joinable!(inbox_watchers -> agents (agent_id));
diesel::joinable!(inbox_watchers -> inboxes (inbox_id));
diesel::joinable!(sla_states -> conversations (conversation_id));
diesel::joinable!(sla_clocks -> conversations (conversation_id));

diesel::allow_tables_to_appear_in_same_query!(
    agents,
    sessions,
    api_tokens,
    teams,
    team_members,
    inboxes,
    inbox_members,
    contacts,
    contact_identities,
    conversations,
    labels,
    conversation_labels,
    messages,
    message_edits,
    attachments,
    conversation_participants,
    outbox,
    provider_status_events,
    audit_log,
    channel_cursors,
    unreadable_events,
    channel_templates,
    canned_responses,
    business_schedules,
    inbox_schedules,
    sla_policies,
    sla_states,
    sla_clocks,
    notifications,
    inbox_watchers,
    notification_settings,
    saved_views,
    contact_notes,
    contact_attributes,
    csat_surveys,
    report_rollups,
    report_daily,
    report_state,
);

diesel::table! {
    /// Diesel's own bookkeeping table, read by `/ready` to check migrations.
    __diesel_schema_migrations (version) {
        version -> Text,
        run_on -> Timestamp,
    }
}
