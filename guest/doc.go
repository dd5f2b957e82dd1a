// Package guest is the contract between Coffer's control plane and the guest agent inside
// each instance: the names of the activities a guest serves on its task queue
// (TaskQueue(instance ID)), their input and output types, the error types a guest fails
// with, the configuration a guest boots with (Config, in the server's user_data), and the
// typed Client through which workflows call a guest.
//
// Both sides import it and neither owns it: the control plane (workflows, activities,
// api) calls what is listed here, the agent (guestagent) serves exactly Activities(), and
// the guest gateway allows a guest to answer nothing else. It depends only on the
// standard library, Coffer's domain types and Temporal's SDK, so that every new engine
// and the gateway can read it without pulling in either side.
package guest
