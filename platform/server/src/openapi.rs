//! The OpenAPI document, built from the route table so that it covers every route.

use utoipa::OpenApi as _;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, Schema, Type,
};

use crate::routes::{Access, Body, Route};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Multi-tenant contact center: configuration, identity and operations."
    ),
    components(schemas(
        switchboard_api_types::ErrorBody,
        switchboard_api_types::ErrorDetail,
        switchboard_api_types::ErrorCode,
        switchboard_api_types::FieldError,
        switchboard_api_types::SignupRequest,
        switchboard_api_types::SignupResponse,
        switchboard_api_types::PlanView,
        switchboard_api_types::MeterView,
        switchboard_api_types::PlanList,
        switchboard_api_types::UsageView,
        switchboard_api_types::UsageReportView,
        switchboard_api_types::InvoiceView,
        switchboard_api_types::BillingView,
        switchboard_api_types::CheckoutInput,
        switchboard_api_types::RedirectView,
        switchboard_api_types::LoginRequest,
        switchboard_api_types::RefreshRequest,
        switchboard_api_types::AcceptInviteRequest,
        switchboard_api_types::TokenPair,
        switchboard_api_types::MeView,
        switchboard_api_types::TenantView,
        switchboard_api_types::TenantUpdate,
        switchboard_api_types::Role,
        switchboard_api_types::Channel,
        switchboard_api_types::UserView,
        switchboard_api_types::UserInvite,
        switchboard_api_types::UserInvited,
        switchboard_api_types::UserUpdate,
        switchboard_api_types::SkillLevel,
        switchboard_api_types::ApiKeyInput,
        switchboard_api_types::ApiKeyView,
        switchboard_api_types::ApiKeyCreated,
        switchboard_api_types::SkillInput,
        switchboard_api_types::SkillView,
        switchboard_api_types::SkillRequirement,
        switchboard_api_types::QueueInput,
        switchboard_api_types::QueueView,
        switchboard_api_types::Overflow,
        switchboard_api_types::OverflowKind,
        switchboard_api_types::AgentSelection,
        switchboard_api_types::RelaxStep,
        switchboard_api_types::EndpointInput,
        switchboard_api_types::EndpointView,
        switchboard_api_types::IvrFlowInput,
        switchboard_api_types::IvrFlowView,
        switchboard_api_types::EndpointKind,
        switchboard_api_types::BusinessHoursInput,
        switchboard_api_types::BusinessHoursView,
        switchboard_api_types::OpenSpan,
        switchboard_api_types::DayOfWeek,
        crate::api::health::Readiness,
        switchboard_api_types::ContactInput,
        switchboard_api_types::ContactView,
        switchboard_api_types::ContactEventView,
        switchboard_api_types::QueueStateView,
        switchboard_api_types::PresenceInput,
        switchboard_api_types::PresenceStatus,
        switchboard_api_types::AgentStatusView,
        switchboard_api_types::AgentStatusList,
        switchboard_api_types::CompleteInput,
        switchboard_api_types::TransferInput,
        switchboard_api_types::QueueStatsView,
        switchboard_api_types::QueueStatsList,
        switchboard_api_types::RoutingRulesView,
        switchboard_api_types::WebhookInput,
        switchboard_api_types::WebhookView,
        switchboard_api_types::WebhookDeliveryView,
        switchboard_api_types::SmsProviderInput,
        switchboard_api_types::SipAccountInput,
        switchboard_api_types::SipAccountView,
        switchboard_api_types::PromptView,
        switchboard_api_types::PluginCapabilitiesView,
        switchboard_api_types::PluginVersionView,
        switchboard_api_types::PluginView,
        switchboard_api_types::PluginActivateInput,
        switchboard_api_types::PluginCallView,
        switchboard_api_types::PluginReplayInput,
        switchboard_api_types::PluginReplayEntry,
        switchboard_api_types::PluginReplayView,
        switchboard_api_types::PluginSecretInput,
        switchboard_api_types::PluginSecretView,
        switchboard_api_types::SmsProviderView,
        switchboard_api_types::MessageView,
        switchboard_api_types::AttachmentView,
        switchboard_api_types::MessageList,
        switchboard_api_types::MessageInput,
        switchboard_api_types::HistoryEntry,
        switchboard_api_types::CustomerHistory,
        switchboard_api_types::WhisperInput,
        switchboard_api_types::IntervalView,
        switchboard_api_types::IntervalStats,
        switchboard_api_types::ColleagueView,
        switchboard_api_types::ColleagueList,
        crate::chat::SessionInput,
        crate::chat::SessionView,
        crate::chat::OfflineMessageInput,
        crate::chat::TranscriptInput,
    ))
)]
struct Components;

fn method(m: &axum::http::Method) -> HttpMethod {
    match m.as_str() {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

fn json_content(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn page_of(name: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property("items", ArrayBuilder::new().items(Ref::from_schema_name(name)))
        .required("items")
        .property("next_cursor", ObjectBuilder::new().schema_type(Type::String))
        .into()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", json_content(Ref::from_schema_name("ErrorBody").into()))
        .build()
}

/// The document for a route table.
pub fn document(routes: &[Route]) -> OpenApi {
    let mut doc = Components::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or API key").build(),
            ),
        );
    }
    for route in routes {
        let mut op = OperationBuilder::new().summary(Some(route.summary)).tag(route.tag).operation_id(Some(format!(
            "{}_{}",
            route.method.as_str().to_lowercase(),
            route.path.trim_start_matches('/').replace(['/', '{', '}', '-', '.'], "_")
        )));
        if route.path.contains("{id}") {
            op = op.parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        if let Body::Page(_) = route.response {
            for (name, description) in
                [("limit", "Items per page, 1 to 200 (default 50)"), ("after", "next_cursor of the previous page")]
            {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .description(Some(description))
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .schema(Some(ObjectBuilder::new().schema_type(if name == "limit" {
                            Type::Integer
                        } else {
                            Type::String
                        }))),
                );
            }
        }
        if route.request == Body::Form {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/x-www-form-urlencoded",
                        json_content(ObjectBuilder::new().schema_type(Type::Object).into()),
                    )
                    .build(),
            ));
        }
        if let Body::Json(name) = route.request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", json_content(Ref::from_schema_name(name).into()))
                    .build(),
            ));
        }
        let ok = match route.response {
            Body::None if route.status == 101 => ResponseBuilder::new()
                .description(
                    "Switching to the WebSocket protocol (token may be passed as ?access_token= on the upgrade)",
                )
                .build(),
            Body::None => ResponseBuilder::new().description("Done").build(),
            Body::Xml => ResponseBuilder::new()
                .description("TwiML")
                .content("text/xml", json_content(ObjectBuilder::new().schema_type(Type::String).into()))
                .build(),
            Body::Form => ResponseBuilder::new().description("Done").build(),
            Body::Text => ResponseBuilder::new()
                .description("Text")
                .content("text/plain", json_content(ObjectBuilder::new().schema_type(Type::String).into()))
                .build(),
            Body::Json("OpenApi") => ResponseBuilder::new()
                .description("OpenAPI 3.1 document")
                .content("application/json", json_content(ObjectBuilder::new().schema_type(Type::Object).into()))
                .build(),
            Body::Json(name) => ResponseBuilder::new()
                .description("Success")
                .content("application/json", json_content(Ref::from_schema_name(name).into()))
                .build(),
            Body::Page(name) => ResponseBuilder::new()
                .description("A page")
                .content("application/json", json_content(page_of(name)))
                .build(),
        };
        op = op.response(route.status.to_string(), ok);
        if route.request != Body::None || matches!(route.response, Body::Page(_)) {
            op = op.response("400", error_response("Malformed request"));
            op = op.response("422", error_response("Invalid fields (all listed)"));
        }
        if let Access::Role(role) = route.access {
            op = op
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .description(Some(format!("Requires role `{role}` or higher.")))
                .response("401", error_response("Missing or invalid credentials"))
                .response("403", error_response("Role too low"));
            if route.path.contains("{id}") {
                op = op.response("404", error_response("No such item in your tenant"));
            }
        }
        if route.request != Body::None && route.status != 200 {
            op = op.response("409", error_response("Conflicts with existing data"));
        }
        doc.paths.add_path_operation(route.path, vec![method(&route.method)], op.build());
    }
    doc
}
