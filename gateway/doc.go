// Package gateway is the guest gateway (`coffer guest-gateway`): the only door from a
// guest to the control plane. Guests speak Temporal's WorkflowService to it, as an SDK
// worker speaks to a Temporal frontend, and it relays to Temporal, through
// go.temporal.io/api/proxy, only what an activity worker on the guest's own task queue
// needs:
//
//   - Enroll: a guest exchanges the single-use bootstrap secret of its user_data for its
//     credential and its instance's payload key (guestauth).
//   - Every WorkflowService call carries "authorization: Bearer <id>.<credential>"; the
//     gateway checks the credential's hash against the catalog (cached for a few seconds)
//     and refuses a revoked one. The authorization never reaches Temporal.
//   - It allows polling guest.TaskQueue(id) in Coffer's namespace, and heartbeating and
//     answering the tasks that poll handed out; everything else is PermissionDenied.
//     Temporal's task tokens are not signed, so the gateway seals each one it hands out
//     with a key derived from the master key and the instance ID, and opens it on every
//     heartbeat and answer: a guest cannot answer another instance's task. Sealing is
//     stateless, so any replica opens any replica's tokens.
//   - Temporal holds payloads encrypted with the master key; a guest holds only its
//     instance key. The gateway re-keys every payload that passes: from the master key to
//     the instance key towards the guest, the other way towards Temporal, and refuses a
//     payload from a guest that its instance key did not encrypt.
//
// A guest's SDK client dials the gateway as it would Temporal, with
// client.NewAPIKeyStaticCredentials(guestauth.APIKey(id, credential)) (and TLS with the
// gateway's CA, or ConnectionOptions.TLSDisabled on the dev stack's loopback), the codec's
// DataConverter with its instance key, and codec.FailureConverter over it (the SDK's
// default failure converter leaves failure details unencrypted, which the gateway refuses).
// Its worker sets worker.Options.DisableWorkflowWorker: a guest may not poll workflow tasks.
//
// The gateway keeps no state of its own: run as many replicas as the guests need.
package gateway
