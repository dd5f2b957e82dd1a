// Package telemetry is what operators watch a Coffer process through: its Prometheus
// metrics (the Temporal SDK's own, HTTP requests, operations, instances), its OpenTelemetry
// traces (exported over OTLP, none by default) and its JSON logs, which carry the trace and
// span IDs of the request or task they are written in.
//
// One Telemetry per process: New builds it from the role's configuration, ClientOptions
// hooks it into the Temporal client (and so into every worker made from that client), and
// Serve exposes /metrics on its own listener, apart from the API's.
package telemetry
